//! The service wire: any bytes decode to an envelope or to an error, never
//! a panic; an envelope that decodes encodes back to bytes that decode to
//! the same envelope.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rusm_wire::envelope::Envelope;

fuzz_target!(|bytes: &[u8]| {
    let _ = rusm_wire::decode::<serde_json::Value>(bytes);
    if let Ok(envelope) = Envelope::decode(bytes) {
        let again = Envelope::decode(&envelope.encode()).expect("an encoded envelope decodes");
        assert_eq!(again, envelope, "the envelope changed on a round trip");
    }
});
