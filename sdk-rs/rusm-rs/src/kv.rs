//! Durable storage: buckets of keys in the node's embedded store, shared by
//! every process of the node and kept across restarts. Needs the `storage`
//! capability (`[capabilities.<component>] storage = true`).
//!
//! ```ignore
//! use rusm_rs::kv;
//!
//! kv::set("rooms", "lobby/topic", b"say hello")?;   // on disk when it returns
//! let topic = kv::get("rooms", "lobby/topic")?;     // Some(b"say hello".to_vec())
//! kv::set_json("rooms", "lobby/seen", &42u64)?;
//! let seen: Option<u64> = kv::get_json("rooms", "lobby/seen")?;
//! for key in kv::list("rooms", "lobby/", 100)? { /* "lobby/seen", "lobby/topic" */ }
//! ```
//!
//! A bucket name is 1-64 of `a-z 0-9 _ - .`; a key is non-empty UTF-8
//! without control characters, at most 1024 bytes; a value is at most the
//! node's `[storage] max-value-bytes`. Breaking a rule is an [`Error`] that
//! names it, as is a denied capability.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::rusm::runtime::kv as host;

/// The value of `key` in `bucket`, if it is set.
pub fn get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
    host::get(bucket, key).map_err(Error)
}

/// Sets `key` in `bucket` to `value`; durable when it returns.
pub fn set(bucket: &str, key: &str, value: impl AsRef<[u8]>) -> Result<(), Error> {
    host::set(bucket, key, value.as_ref()).map_err(Error)
}

/// Removes `key` from `bucket`, durably; whether it was set.
pub fn delete(bucket: &str, key: &str) -> Result<bool, Error> {
    host::delete(bucket, key).map_err(Error)
}

/// Whether `key` is set in `bucket`.
pub fn exists(bucket: &str, key: &str) -> Result<bool, Error> {
    host::exists(bucket, key).map_err(Error)
}

/// The keys of `bucket` starting with `prefix`, in byte order, at most
/// `limit` (and at most 1000).
pub fn list(bucket: &str, prefix: &str, limit: u32) -> Result<Vec<String>, Error> {
    host::list(bucket, prefix, limit).map_err(Error)
}

/// The value of `key` decoded from JSON; a value that is not a `T` is an
/// error naming the key.
pub fn get_json<T: DeserializeOwned>(bucket: &str, key: &str) -> Result<Option<T>, Error> {
    let Some(bytes) = get(bucket, key)? else {
        return Ok(None);
    };
    rusm_wire::decode(&bytes).map(Some).map_err(|e| {
        Error(format!(
            "{bucket}/{key} does not hold a {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Sets `key` to `value` encoded as JSON; durable when it returns.
pub fn set_json<T: Serialize + ?Sized>(bucket: &str, key: &str, value: &T) -> Result<(), Error> {
    set(bucket, key, crate::encode(value))
}
