//! What the host and every guest agree on, byte for byte.
//!
//! This crate is compiled twice: into the host (`rusm-core`) and into guests
//! (`rusm-rs`, for `wasm32-wasip2`). It therefore depends on nothing but serde.
//!
//! ```
//! use rusm_wire::{decode, encode, ExitReason};
//! let bytes = encode(&("ping", 3)).unwrap();
//! assert_eq!(bytes, br#"["ping",3]"#);
//! let back: (String, u32) = decode(&bytes).unwrap();
//! assert_eq!(back, ("ping".to_string(), 3));
//! assert_eq!(ExitReason::Trap("boom".into()).to_string(), "trap: boom");
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a process ended. Delivered to monitors (`down`) and to linked
/// processes that trap exits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "reason", content = "message")]
pub enum ExitReason {
    /// The process body returned. Does not kill linked processes.
    Normal,
    /// Killed by an untrappable `exit(pid, Killed)`, or a linked process was.
    Killed,
    /// The guest trapped or panicked; the message says how.
    Trap(String),
    /// The process used up its total fuel budget.
    OutOfFuel,
    /// The process tried to grow its memory past its limit.
    OutOfMemory,
    /// The client connection the process served went away.
    Disconnect,
    /// The process did not exist when it was linked or monitored.
    Noproc,
    /// Its mailbox reached the node's length limit.
    MailboxOverflow,
    /// A reason chosen by the process that called `exit`.
    Custom(String),
}

impl ExitReason {
    /// `true` for [`ExitReason::Normal`], the one reason links ignore.
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Normal => f.write_str("normal"),
            ExitReason::Killed => f.write_str("killed"),
            ExitReason::Trap(message) => write!(f, "trap: {message}"),
            ExitReason::OutOfFuel => f.write_str("out-of-fuel"),
            ExitReason::OutOfMemory => f.write_str("out-of-memory"),
            ExitReason::Disconnect => f.write_str("disconnect"),
            ExitReason::Noproc => f.write_str("noproc"),
            ExitReason::MailboxOverflow => f.write_str("mailbox-overflow"),
            ExitReason::Custom(reason) => write!(f, "custom: {reason}"),
        }
    }
}

/// A typed message could not be encoded or decoded as JSON.
#[derive(Debug)]
pub struct WireError(serde_json::Error);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON message: {}", self.0)
    }
}

impl std::error::Error for WireError {}

/// Encodes a typed message as compact JSON.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WireError> {
    serde_json::to_vec(value).map_err(WireError)
}

/// Decodes a typed message from JSON, rejecting trailing bytes.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(WireError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_round_trip_as_json() {
        for reason in [
            ExitReason::Normal,
            ExitReason::Killed,
            ExitReason::Trap("unreachable".into()),
            ExitReason::OutOfFuel,
            ExitReason::OutOfMemory,
            ExitReason::Disconnect,
            ExitReason::Noproc,
            ExitReason::MailboxOverflow,
            ExitReason::Custom("shutdown".into()),
        ] {
            let bytes = encode(&reason).unwrap();
            assert_eq!(decode::<ExitReason>(&bytes).unwrap(), reason);
        }
        assert_eq!(
            encode(&ExitReason::Normal).unwrap(),
            br#"{"reason":"normal"}"#
        );
        assert_eq!(
            encode(&ExitReason::Trap("x".into())).unwrap(),
            br#"{"reason":"trap","message":"x"}"#
        );
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        assert!(decode::<u32>(b"{").is_err());
        assert!(decode::<u32>(b"1 2").is_err());
        assert!(decode::<u32>(&[0xff, 0xfe]).is_err());
        let err = decode::<u32>(b"\"x\"").unwrap_err();
        assert!(err.to_string().starts_with("invalid JSON message"));
    }
}
