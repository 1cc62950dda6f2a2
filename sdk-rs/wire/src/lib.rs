//! What the host and every guest agree on, byte for byte: pids, monitor
//! references, what a mailbox holds, exit reasons, and the JSON encoding of
//! typed messages.
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

pub mod envelope;

/// The tags that begin the messages between a process and the fetch
/// process carrying its request (the WIT file's `fetch` interface): one
/// definition for the host and rusm-rs (rusm-ts mirrors them).
pub mod fetch {
    /// From the fetch process to its owner.
    pub mod to_owner {
        /// JSON: status, status-text, headers, url, redirected.
        pub const HEAD: u8 = 0;
        /// The next piece of the body, sent for each `READ`.
        pub const CHUNK: u8 = 1;
        pub const END: u8 = 2;
        /// UTF-8 text; the last message.
        pub const ERROR: u8 = 3;
        /// A streamed request body's piece was taken.
        pub const SENT: u8 = 4;
    }

    /// From the owner to its fetch process.
    pub mod from_owner {
        /// The next piece of a streamed request body.
        pub const CHUNK: u8 = 0;
        pub const END: u8 = 1;
        pub const READ: u8 = 2;
        pub const ABORT: u8 = 3;
    }
}

/// A node-unique process id. Pids are issued in order from 1 and never
/// reused; in JSON a pid is a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(u64);

impl Pid {
    /// The node itself: the sender of messages injected from outside any
    /// process (the CLI, a test, a scenario step). Never a valid target.
    pub const NODE: Pid = Pid(0);

    /// The pid with this raw number (as carried over the host ABI).
    pub const fn from_raw(raw: u64) -> Pid {
        Pid(raw)
    }

    /// The raw number of this pid.
    pub const fn as_raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies one monitor; carried by the `down` message it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ref(u64);

impl Ref {
    /// The reference with this raw number (as carried over the host ABI).
    pub const fn from_raw(raw: u64) -> Ref {
        Ref(raw)
    }

    /// The raw number of this reference.
    pub const fn as_raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a mailbox holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Bytes sent by `from` (JSON for typed messages).
    Data { from: Pid, bytes: Vec<u8> },
    /// A monitored process ended (or did not exist: reason `noproc`).
    Down {
        monitor: Ref,
        pid: Pid,
        reason: ExitReason,
    },
    /// An exit signal, received as a message because the process traps exits.
    Exit { from: Pid, reason: ExitReason },
}

impl Message {
    /// Decodes a data message as JSON; a `Down` or `Exit` is an error too.
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, WireError> {
        match self {
            Message::Data { bytes, .. } => decode(bytes),
            other => Err(WireError::NotData(format!("{other:?}"))),
        }
    }
}

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
    /// Its mailbox reached the node's limit, of messages or of bytes.
    MailboxOverflow,
    /// It held the most of the node's memory budget when the budget was
    /// full: the node ended it to make room.
    MemoryBudget,
    /// It served a request and had not begun its answer within
    /// `[serve.limits] handler-timeout-ms`: the client got a 504.
    Timeout,
    /// The node is draining: residents get it as an exit signal they may
    /// trap, to save their state before they are stopped.
    Shutdown,
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
            ExitReason::MemoryBudget => f.write_str("memory-budget"),
            ExitReason::Timeout => f.write_str("timeout"),
            ExitReason::Shutdown => f.write_str("shutdown"),
            ExitReason::Custom(reason) => write!(f, "custom: {reason}"),
        }
    }
}

/// A typed message could not be encoded or decoded.
#[derive(Debug)]
pub enum WireError {
    /// Not valid JSON for the expected type.
    Json(serde_json::Error),
    /// A typed message was expected, but this was a `down` or an exit signal.
    NotData(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Json(e) => write!(f, "invalid JSON message: {e}"),
            WireError::NotData(message) => write!(f, "expected a data message, got {message}"),
        }
    }
}

impl std::error::Error for WireError {}

/// Encodes a typed message as compact JSON.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, WireError> {
    serde_json::to_vec(value).map_err(WireError::Json)
}

/// Decodes a typed message from JSON, rejecting trailing bytes.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    serde_json::from_slice(bytes).map_err(WireError::Json)
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
            ExitReason::MemoryBudget,
            ExitReason::Timeout,
            ExitReason::Shutdown,
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
    fn a_data_message_decodes_and_a_down_does_not() {
        let data = Message::Data {
            from: Pid::from_raw(7),
            bytes: br#"{"n":1}"#.to_vec(),
        };
        #[derive(Deserialize, Debug, PartialEq)]
        struct N {
            n: u32,
        }
        assert_eq!(data.decode::<N>().unwrap(), N { n: 1 });
        let down = Message::Down {
            monitor: Ref::from_raw(1),
            pid: Pid::from_raw(7),
            reason: ExitReason::Normal,
        };
        assert!(
            down.decode::<N>()
                .unwrap_err()
                .to_string()
                .starts_with("expected a data message")
        );
        assert_eq!(
            encode(&Pid::from_raw(7)).unwrap(),
            b"7",
            "a pid is a plain number in JSON"
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
