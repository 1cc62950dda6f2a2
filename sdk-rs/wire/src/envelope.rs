//! Service envelopes: the JSON messages of a call, a cast, a stream and a
//! callback, as specified in `docs/wire.md` and pinned by the vectors in
//! `vectors/`.
//!
//! ```
//! use rusm_wire::envelope::{Envelope, Json};
//! let call = Envelope::Call { id: 7, method: "add".into(), args: Json::encode(&(2, 3)).unwrap() };
//! let bytes = call.encode();
//! assert_eq!(bytes, br#"{"rusm":1,"kind":"call","id":7,"method":"add","args":[2,3]}"#);
//! assert_eq!(Envelope::decode(&bytes).unwrap(), call);
//! ```

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::value::RawValue;

/// The wire version this crate speaks (`"rusm": 1`).
pub const VERSION: u64 = 1;
/// The largest call id or callback sequence number: the largest integer a
/// JavaScript number holds exactly.
pub const MAX_ID: u64 = (1 << 53) - 1;
/// The longest method name, in bytes.
pub const MAX_METHOD_BYTES: usize = 128;

/// One message of a service conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// Run `method` with `args` (a JSON array) and answer quoting `id`.
    Call { id: u64, method: String, args: Json },
    /// Run `method` with `args`; no answer.
    Cast { method: String, args: Json },
    /// The result of call `id`.
    Reply { id: u64, value: Json },
    /// One item of streaming call `id`.
    Item { id: u64, value: Json },
    /// Streaming call `id` is complete.
    End { id: u64 },
    /// Run callback number `callback` of call `id` with `args`; answer
    /// quoting `seq`.
    Callback {
        id: u64,
        callback: u32,
        seq: u64,
        args: Json,
    },
    /// The result of callback invocation `seq` of call `id`.
    CallbackReply { id: u64, seq: u64, value: Json },
    /// Call `id` (or its callback invocation `seq`) failed.
    Error {
        id: u64,
        seq: Option<u64>,
        code: ErrorCode,
        message: String,
    },
}

/// Why a call failed (`docs/wire.md`, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    UnknownMethod,
    BadArguments,
    UnknownCallback,
    ServiceDied,
    Timeout,
    BadReply,
}

impl ErrorCode {
    const ALL: [ErrorCode; 6] = [
        ErrorCode::UnknownMethod,
        ErrorCode::BadArguments,
        ErrorCode::UnknownCallback,
        ErrorCode::ServiceDied,
        ErrorCode::Timeout,
        ErrorCode::BadReply,
    ];

    /// The code as it is written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::UnknownMethod => "unknown-method",
            ErrorCode::BadArguments => "bad-arguments",
            ErrorCode::UnknownCallback => "unknown-callback",
            ErrorCode::ServiceDied => "service-died",
            ErrorCode::Timeout => "timeout",
            ErrorCode::BadReply => "bad-reply",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON value kept as the exact text it arrived as (or was encoded to), so
/// it is decoded once, straight into the type the receiver wants.
#[derive(Debug, Clone)]
pub struct Json(Box<RawValue>);

impl Json {
    /// `value` encoded as compact JSON.
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Json, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Json)
    }

    /// The JSON `null` (the value of a call that returns nothing).
    pub fn null() -> Json {
        Json(RawValue::NULL.to_owned())
    }

    /// Decodes the value as a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// `raw` with the whitespace between its tokens dropped, so an envelope
    /// decoded from any layout encodes to the canonical bytes.
    fn compact(raw: &RawValue) -> Json {
        let text = raw.get();
        if !text.contains(|c: char| c.is_ascii_whitespace()) {
            return Json(raw.to_owned());
        }
        let mut out = String::with_capacity(text.len());
        let (mut in_string, mut escaped) = (false, false);
        for c in text.chars() {
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
            } else if c.is_ascii_whitespace() {
                continue;
            }
            out.push(c);
        }
        Json(
            RawValue::from_string(out)
                .expect("dropping whitespace between tokens keeps JSON valid"),
        )
    }
}

/// Equal when the texts are: values compare as they travel.
impl PartialEq for Json {
    fn eq(&self, other: &Json) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Json {}

/// Bytes that claim to be an envelope and are not (`docs/wire.md`,
/// "Rejected input").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    pub kind: EnvelopeErrorKind,
    /// What exactly, for a human.
    pub detail: String,
}

/// The class of an [`EnvelopeError`], as the vectors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeErrorKind {
    NotJson,
    NotAnEnvelope,
    UnsupportedVersion,
    UnknownKind,
    UnexpectedField,
    MissingField,
    BadField,
}

impl EnvelopeErrorKind {
    /// The name the spec and the vectors use.
    pub fn as_str(self) -> &'static str {
        match self {
            EnvelopeErrorKind::NotJson => "not-json",
            EnvelopeErrorKind::NotAnEnvelope => "not-an-envelope",
            EnvelopeErrorKind::UnsupportedVersion => "unsupported-version",
            EnvelopeErrorKind::UnknownKind => "unknown-kind",
            EnvelopeErrorKind::UnexpectedField => "unexpected-field",
            EnvelopeErrorKind::MissingField => "missing-field",
            EnvelopeErrorKind::BadField => "bad-field",
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.detail)
    }
}

impl std::error::Error for EnvelopeError {}

fn reject(kind: EnvelopeErrorKind, detail: impl Into<String>) -> EnvelopeError {
    EnvelopeError {
        kind,
        detail: detail.into(),
    }
}

/// The members an envelope may have, in canonical order.
const MEMBERS: [&str; 11] = [
    "rusm", "kind", "id", "method", "callback", "seq", "args", "value", "code", "message",
    // Not a member: where an unknown name is counted.
    "",
];

/// The members of each kind after `rusm` and `kind`: (name, required).
fn layout(kind: &str) -> Option<&'static [(&'static str, bool)]> {
    Some(match kind {
        "call" => &[("id", true), ("method", true), ("args", true)],
        "cast" => &[("method", true), ("args", true)],
        "reply" => &[("id", true), ("value", true)],
        "item" => &[("id", true), ("value", true)],
        "end" => &[("id", true)],
        "callback" => &[
            ("id", true),
            ("callback", true),
            ("seq", true),
            ("args", true),
        ],
        "callback-reply" => &[("id", true), ("seq", true), ("value", true)],
        "error" => &[
            ("id", true),
            ("seq", false),
            ("code", true),
            ("message", true),
        ],
        _ => return None,
    })
}

impl Envelope {
    /// The canonical bytes: compact JSON, members in the spec's order.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Writer::new(self.kind());
        match self {
            Envelope::Call { id, method, args } => out
                .int("id", *id)
                .string("method", method)
                .raw("args", args),
            Envelope::Cast { method, args } => out.string("method", method).raw("args", args),
            Envelope::Reply { id, value } | Envelope::Item { id, value } => {
                out.int("id", *id).raw("value", value)
            }
            Envelope::End { id } => out.int("id", *id),
            Envelope::Callback {
                id,
                callback,
                seq,
                args,
            } => out
                .int("id", *id)
                .int("callback", u64::from(*callback))
                .int("seq", *seq)
                .raw("args", args),
            Envelope::CallbackReply { id, seq, value } => {
                out.int("id", *id).int("seq", *seq).raw("value", value)
            }
            Envelope::Error {
                id,
                seq,
                code,
                message,
            } => {
                out.int("id", *id);
                if let Some(seq) = seq {
                    out.int("seq", *seq);
                }
                out.string("code", code.as_str()).string("message", message)
            }
        };
        out.finish()
    }

    /// The `kind` member.
    pub fn kind(&self) -> &'static str {
        match self {
            Envelope::Call { .. } => "call",
            Envelope::Cast { .. } => "cast",
            Envelope::Reply { .. } => "reply",
            Envelope::Item { .. } => "item",
            Envelope::End { .. } => "end",
            Envelope::Callback { .. } => "callback",
            Envelope::CallbackReply { .. } => "callback-reply",
            Envelope::Error { .. } => "error",
        }
    }

    /// Reads an envelope, checking everything the spec requires; never
    /// panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        use EnvelopeErrorKind::*;
        let members: Members = match serde_json::from_slice(bytes) {
            Ok(members) => members,
            Err(e) => {
                return Err(if serde_json::from_slice::<IgnoredAny>(bytes).is_ok() {
                    reject(NotAnEnvelope, "not a JSON object")
                } else {
                    reject(NotJson, e.to_string())
                });
            }
        };
        let Some(version) = members.get("rusm") else {
            return Err(reject(NotAnEnvelope, "no rusm member"));
        };
        if version.get() != VERSION.to_string() {
            return Err(reject(
                UnsupportedVersion,
                format!("rusm is {}, this reader speaks {VERSION}", version.get()),
            ));
        }
        let kind = members
            .get("kind")
            .and_then(|k| serde_json::from_str::<String>(k.get()).ok())
            .ok_or_else(|| reject(UnknownKind, "kind is missing or not a string"))?;
        let layout = layout(&kind).ok_or_else(|| reject(UnknownKind, format!("kind {kind:?}")))?;
        if let Some(extra) = members.unexpected(layout) {
            return Err(reject(
                UnexpectedField,
                format!("{extra} in a {kind} envelope"),
            ));
        }
        if let Some((missing, _)) = layout
            .iter()
            .find(|(name, required)| *required && members.get(name).is_none())
        {
            return Err(reject(
                MissingField,
                format!("{missing} in a {kind} envelope"),
            ));
        }
        let id = || members.id("id");
        let args = || members.args();
        let value = || members.value();
        Ok(match kind.as_str() {
            "call" => Envelope::Call {
                id: id()?,
                method: members.method()?,
                args: args()?,
            },
            "cast" => Envelope::Cast {
                method: members.method()?,
                args: args()?,
            },
            "reply" => Envelope::Reply {
                id: id()?,
                value: value()?,
            },
            "item" => Envelope::Item {
                id: id()?,
                value: value()?,
            },
            "end" => Envelope::End { id: id()? },
            "callback" => Envelope::Callback {
                id: id()?,
                callback: members.callback()?,
                seq: members.id("seq")?,
                args: args()?,
            },
            "callback-reply" => Envelope::CallbackReply {
                id: id()?,
                seq: members.id("seq")?,
                value: value()?,
            },
            "error" => Envelope::Error {
                id: id()?,
                seq: match members.get("seq") {
                    Some(_) => Some(members.id("seq")?),
                    None => None,
                },
                code: members.code()?,
                message: members.string("message")?,
            },
            _ => unreachable!("layout() knows only these kinds"),
        })
    }
}

/// Writes the canonical form member by member.
struct Writer(String);

impl Writer {
    fn new(kind: &str) -> Writer {
        Writer(format!(r#"{{"rusm":{VERSION},"kind":"{kind}""#))
    }

    fn key(&mut self, name: &str) -> &mut Writer {
        self.0.push_str(",\"");
        self.0.push_str(name);
        self.0.push_str("\":");
        self
    }

    fn int(&mut self, name: &str, n: u64) -> &mut Writer {
        self.key(name).0.push_str(&n.to_string());
        self
    }

    fn string(&mut self, name: &str, s: &str) -> &mut Writer {
        let quoted = serde_json::to_string(s).expect("a string always encodes");
        self.key(name).0.push_str(&quoted);
        self
    }

    fn raw(&mut self, name: &str, json: &Json) -> &mut Writer {
        self.key(name).0.push_str(json.as_str());
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        self.0.push('}');
        std::mem::take(&mut self.0).into_bytes()
    }
}

/// An object's members as raw JSON, by name; an unknown or repeated name is
/// remembered (the first one) rather than failing the parse, so the error
/// can say which.
struct Members {
    found: [Option<Box<RawValue>>; MEMBERS.len()],
    odd: Option<String>,
}

impl Members {
    fn get(&self, name: &str) -> Option<&RawValue> {
        let slot = MEMBERS.iter().position(|m| *m == name)?;
        self.found[slot].as_deref()
    }

    /// The first member that is not `rusm`, `kind` or in `layout`.
    fn unexpected(&self, layout: &[(&str, bool)]) -> Option<String> {
        if let Some(odd) = &self.odd {
            return Some(odd.clone());
        }
        MEMBERS[2..MEMBERS.len() - 1]
            .iter()
            .find(|name| self.get(name).is_some() && !layout.iter().any(|(l, _)| l == *name))
            .map(|name| name.to_string())
    }

    fn field<T: DeserializeOwned>(&self, name: &str, what: &str) -> Result<T, EnvelopeError> {
        let raw = self.get(name).expect("checked present by the layout");
        serde_json::from_str(raw.get()).map_err(|_| {
            reject(
                EnvelopeErrorKind::BadField,
                format!("{name} is {}, not {what}", raw.get()),
            )
        })
    }

    fn id(&self, name: &str) -> Result<u64, EnvelopeError> {
        let id: u64 = self.field(name, "an integer")?;
        if id == 0 || id > MAX_ID {
            return Err(reject(
                EnvelopeErrorKind::BadField,
                format!("{name} {id} is outside 1..={MAX_ID}"),
            ));
        }
        Ok(id)
    }

    fn callback(&self) -> Result<u32, EnvelopeError> {
        self.field("callback", "an integer in 0..=4294967295")
    }

    fn string(&self, name: &str) -> Result<String, EnvelopeError> {
        self.field(name, "a string")
    }

    fn method(&self) -> Result<String, EnvelopeError> {
        let method = self.string("method")?;
        if method.is_empty() || method.len() > MAX_METHOD_BYTES {
            return Err(reject(
                EnvelopeErrorKind::BadField,
                format!("method must be 1 to {MAX_METHOD_BYTES} bytes"),
            ));
        }
        Ok(method)
    }

    fn args(&self) -> Result<Json, EnvelopeError> {
        let raw = self.get("args").expect("checked present by the layout");
        if !raw.get().starts_with('[') {
            return Err(reject(
                EnvelopeErrorKind::BadField,
                format!("args is {}, not an array", raw.get()),
            ));
        }
        Ok(Json::compact(raw))
    }

    fn value(&self) -> Result<Json, EnvelopeError> {
        let raw = self.get("value").expect("checked present by the layout");
        Ok(Json::compact(raw))
    }

    fn code(&self) -> Result<ErrorCode, EnvelopeError> {
        let code = self.string("code")?;
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == code)
            .ok_or_else(|| reject(EnvelopeErrorKind::BadField, format!("code {code:?}")))
    }
}

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Members, D::Error> {
        struct MembersVisitor;

        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Members {
                    found: Default::default(),
                    odd: None,
                };
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = MEMBERS[..MEMBERS.len() - 1].iter().position(|m| *m == name);
                    match slot {
                        Some(slot) if members.found[slot].is_none() => {
                            members.found[slot] = Some(map.next_value::<Box<RawValue>>()?);
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            let what = match slot {
                                Some(_) => format!("a second {name}"),
                                None => format!("member {name:?}"),
                            };
                            members.odd.get_or_insert(what);
                        }
                    }
                }
                Ok(members)
            }
        }

        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests;
