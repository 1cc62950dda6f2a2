//! The envelope codec against the shared vectors (`vectors/envelopes.json`,
//! which the TypeScript package reads too) and against arbitrary input.

use proptest::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    #[allow(dead_code)]
    about: String,
    version: u64,
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Valid {
    name: String,
    bytes: String,
    members: Value,
    #[serde(default)]
    also: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invalid {
    name: String,
    bytes: String,
    error: String,
}

fn vectors() -> Vectors {
    let text = include_str!("../../vectors/envelopes.json");
    serde_json::from_str(text).expect("the vectors file is well formed")
}

/// An envelope's members as a JSON value, without `rusm` (how the vectors
/// describe them).
fn members(envelope: &Envelope) -> Value {
    let mut value: Value = serde_json::from_slice(&envelope.encode()).unwrap();
    value.as_object_mut().unwrap().remove("rusm");
    value
}

#[test]
fn every_valid_vector_decodes_to_its_members_and_encodes_to_its_bytes() {
    let vectors = vectors();
    assert_eq!(vectors.version, VERSION);
    assert!(vectors.valid.len() >= 8, "every kind has a vector");
    for vector in &vectors.valid {
        let envelope = Envelope::decode(vector.bytes.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", vector.name));
        assert_eq!(members(&envelope), vector.members, "{}", vector.name);
        assert_eq!(
            String::from_utf8(envelope.encode()).unwrap(),
            vector.bytes,
            "{}",
            vector.name
        );
        for other in &vector.also {
            let same = Envelope::decode(other.as_bytes())
                .unwrap_or_else(|e| panic!("{} (also {other:?}): {e}", vector.name));
            assert_eq!(same, envelope, "{} (also {other:?})", vector.name);
            assert_eq!(same.encode(), vector.bytes.as_bytes(), "{}", vector.name);
        }
    }
}

#[test]
fn every_kind_has_a_valid_vector() {
    let vectors = vectors();
    for kind in [
        "call",
        "cast",
        "reply",
        "item",
        "end",
        "callback",
        "callback-reply",
        "error",
    ] {
        assert!(
            vectors.valid.iter().any(|v| v.members["kind"] == kind),
            "no vector of kind {kind}"
        );
    }
}

#[test]
fn every_invalid_vector_is_rejected_with_its_error() {
    for vector in vectors().invalid {
        match Envelope::decode(vector.bytes.as_bytes()) {
            Ok(envelope) => panic!("{}: accepted as {envelope:?}", vector.name),
            Err(e) => assert_eq!(e.kind.as_str(), vector.error, "{}: {e}", vector.name),
        }
    }
}

/// Any JSON value (the data model every serde type maps to), kept small.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Whatever value a method takes or returns travels through a call and
    /// a reply unchanged.
    #[test]
    fn any_serde_value_round_trips_through_the_wire(
        args in prop::collection::vec(json(), 0..4),
        value in json(),
        id in 1..=MAX_ID,
        method in "[a-z_][a-z0-9_]{0,30}",
    ) {
        let call = Envelope::Call { id, method, args: Json::encode(&args).unwrap() };
        let decoded = Envelope::decode(&call.encode()).unwrap();
        prop_assert_eq!(&decoded, &call);
        let Envelope::Call { args: back, .. } = decoded else { unreachable!() };
        prop_assert_eq!(back.decode::<Vec<Value>>().unwrap(), args);

        let reply = Envelope::Reply { id, value: Json::encode(&value).unwrap() };
        let Envelope::Reply { value: back, .. } = Envelope::decode(&reply.encode()).unwrap() else {
            unreachable!()
        };
        prop_assert_eq!(back.decode::<Value>().unwrap(), value);
    }

    /// Typed values too: a struct, a tuple, an enum, unicode text.
    #[test]
    fn typed_arguments_decode_as_the_types_they_were(
        n in any::<i64>(),
        text in any::<String>(),
        flags in prop::collection::vec(any::<bool>(), 0..5),
        choice in prop::option::of(any::<u32>()),
    ) {
        let args = (n, text.clone(), flags.clone(), choice);
        let call = Envelope::Call { id: 1, method: "m".into(), args: Json::encode(&args).unwrap() };
        let Envelope::Call { args: back, .. } = Envelope::decode(&call.encode()).unwrap() else {
            unreachable!()
        };
        prop_assert_eq!(back.decode::<(i64, String, Vec<bool>, Option<u32>)>().unwrap(), args);
    }

    /// No input makes the decoder panic; whatever it accepts re-encodes to
    /// bytes that decode to the same envelope.
    #[test]
    fn arbitrary_bytes_are_rejected_or_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(envelope) = Envelope::decode(&bytes) {
            prop_assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
        }
    }

    /// Near-envelopes (valid JSON objects with envelope-like members) too.
    #[test]
    fn arbitrary_objects_are_rejected_or_round_trip(
        kind in prop::sample::select(vec!["call", "cast", "reply", "item", "end", "callback", "callback-reply", "error", "nope"]),
        extra in prop::collection::btree_map(
            prop::sample::select(vec!["id", "method", "callback", "seq", "args", "value", "code", "message", "other"]),
            json(),
            0..6,
        ),
    ) {
        let mut object = serde_json::Map::new();
        object.insert("rusm".into(), Value::from(1));
        object.insert("kind".into(), Value::from(kind));
        for (k, v) in extra {
            object.insert(k.into(), v);
        }
        let bytes = serde_json::to_vec(&object).unwrap();
        if let Ok(envelope) = Envelope::decode(&bytes) {
            prop_assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
        }
    }
}

#[test]
fn whitespace_inside_args_is_dropped_but_not_inside_strings() {
    let spaced = br#"{"rusm":1,"kind":"call","id":1,"method":"m","args":[ 1 , " a b\" c " , { "k" : [ ] } ]}"#;
    let envelope = Envelope::decode(spaced).unwrap();
    assert_eq!(
        envelope.encode(),
        br#"{"rusm":1,"kind":"call","id":1,"method":"m","args":[1," a b\" c ",{"k":[]}]}"#
    );
}

/// Found by the round-trip property: without serde_json's exact float
/// parsing a float came back one unit in the last place off.
#[test]
fn floats_come_back_exactly() {
    let value = -1.3619452904062895e-74_f64;
    let reply = Envelope::Reply {
        id: 1,
        value: Json::encode(&value).unwrap(),
    };
    let Envelope::Reply { value: back, .. } = Envelope::decode(&reply.encode()).unwrap() else {
        unreachable!()
    };
    assert_eq!(back.decode::<f64>().unwrap().to_bits(), value.to_bits());
}
