//! Durable key-value storage for the node: buckets of keys over one
//! embedded redb file. A write is on disk when the call returns (redb
//! commits with an fsync), so a node killed right after an acknowledged
//! write still has it after a restart.
//!
//! Every name and value comes from a guest and is checked here: bucket
//! names are short and plain, keys are non-empty UTF-8 without control
//! characters, values are bounded.
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("rusm-store-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let store = rusm_store::Store::open(&dir.join("kv.redb"), rusm_store::Limits::default()).unwrap();
//! store.set("rooms", "lobby/1", b"hello").unwrap();
//! assert_eq!(store.get("rooms", "lobby/1").unwrap().as_deref(), Some(&b"hello"[..]));
//! assert_eq!(store.list("rooms", "lobby/", 10).unwrap(), ["lobby/1"]);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fmt;
use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};

/// Every bucket's keys in one table, as `<bucket> NUL <key>`: a bucket is
/// a key range, and listing a prefix is one range scan.
const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");

/// The bounds a store enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest value accepted.
    pub max_value_bytes: usize,
    /// The longest key accepted.
    pub max_key_bytes: usize,
    /// The most keys one `list` returns.
    pub max_list: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_value_bytes: 1 << 20,
            max_key_bytes: 1024,
            max_list: 1000,
        }
    }
}

/// Bucket names: 1 to this many bytes.
const MAX_BUCKET_BYTES: usize = 64;

/// A refused or failed storage operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A bucket name, key or value the store does not accept.
    Invalid(String),
    /// The file could not be opened, read or written.
    Io(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Invalid(why) => f.write_str(why),
            StoreError::Io(why) => write!(f, "storage failed: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

fn io(e: impl fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// The node's kv file.
pub struct Store {
    db: Database,
    limits: Limits,
}

impl Store {
    /// Opens the file at `path`, creating it (not its directory) if missing.
    pub fn open(path: &Path, limits: Limits) -> Result<Store, StoreError> {
        let db = Database::create(path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        // The table exists from the start, so reads never meet its absence.
        let txn = db.begin_write().map_err(io)?;
        txn.open_table(ENTRIES).map_err(io)?;
        txn.commit().map_err(io)?;
        Ok(Store { db, limits })
    }

    /// The value of `key` in `bucket`.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let entry = self.entry(bucket, key)?;
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ENTRIES).map_err(io)?;
        Ok(table
            .get(entry.as_str())
            .map_err(io)?
            .map(|v| v.value().to_vec()))
    }

    /// Whether `key` is in `bucket`.
    pub fn exists(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        self.get(bucket, key).map(|v| v.is_some())
    }

    /// Sets `key` in `bucket` to `value`, durably.
    pub fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let write = Write::Set {
            bucket: bucket.to_string(),
            key: key.to_string(),
            value: value.to_vec(),
        };
        self.apply(&[write]).map(drop)
    }

    /// Removes `key` from `bucket`, durably; whether it was there.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<bool, StoreError> {
        let write = Write::Delete {
            bucket: bucket.to_string(),
            key: key.to_string(),
        };
        Ok(self.apply(&[write])?[0])
    }

    /// Refuses a write `apply` would refuse for its names or size.
    pub fn check(&self, write: &Write) -> Result<(), StoreError> {
        match write {
            Write::Set { bucket, key, value } => {
                self.entry(bucket, key)?;
                if value.len() > self.limits.max_value_bytes {
                    return Err(StoreError::Invalid(format!(
                        "a value of {} bytes exceeds the limit of {} bytes",
                        value.len(),
                        self.limits.max_value_bytes
                    )));
                }
            }
            Write::Delete { bucket, key } => {
                self.entry(bucket, key)?;
            }
        }
        Ok(())
    }

    /// Applies `writes` in order in one transaction, durable when it
    /// returns: one commit (one fsync) for the lot, which is how many
    /// writers' writes share a disk flush. For each write, whether its key
    /// was set before. All or nothing: a refused write refuses the batch.
    pub fn apply(&self, writes: &[Write]) -> Result<Vec<bool>, StoreError> {
        for write in writes {
            self.check(write)?;
        }
        let txn = self.db.begin_write().map_err(io)?;
        let mut existed = Vec::with_capacity(writes.len());
        {
            let mut table = txn.open_table(ENTRIES).map_err(io)?;
            for write in writes {
                let before = match write {
                    Write::Set { bucket, key, value } => table
                        .insert(entry_key(bucket, key).as_str(), value.as_slice())
                        .map_err(io)?
                        .is_some(),
                    Write::Delete { bucket, key } => table
                        .remove(entry_key(bucket, key).as_str())
                        .map_err(io)?
                        .is_some(),
                };
                existed.push(before);
            }
        }
        txn.commit().map_err(io)?;
        Ok(existed)
    }

    /// The keys of `bucket` that start with `prefix`, in order, at most
    /// `limit` (and at most the store's `max_list`).
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        check_bucket(bucket)?;
        let start = format!("{bucket}\0{prefix}");
        let txn = self.db.begin_read().map_err(io)?;
        let table = txn.open_table(ENTRIES).map_err(io)?;
        let mut keys = Vec::new();
        for entry in table.range(start.as_str()..).map_err(io)? {
            if keys.len() >= limit.min(self.limits.max_list) {
                break;
            }
            let (entry, _) = entry.map_err(io)?;
            let Some(key) = entry.value().strip_prefix(&start[..bucket.len() + 1]) else {
                break;
            };
            if !key.starts_with(prefix) {
                break;
            }
            keys.push(key.to_string());
        }
        Ok(keys)
    }

    fn entry(&self, bucket: &str, key: &str) -> Result<String, StoreError> {
        check_bucket(bucket)?;
        if key.is_empty() || key.len() > self.limits.max_key_bytes {
            return Err(StoreError::Invalid(format!(
                "a key is 1 to {} bytes (this one is {})",
                self.limits.max_key_bytes,
                key.len()
            )));
        }
        if key.chars().any(char::is_control) {
            return Err(StoreError::Invalid(format!(
                "the key {key:?} holds a control character"
            )));
        }
        Ok(entry_key(bucket, key))
    }
}

/// A write [`Store::apply`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Set {
        bucket: String,
        key: String,
        value: Vec<u8>,
    },
    Delete {
        bucket: String,
        key: String,
    },
}

fn entry_key(bucket: &str, key: &str) -> String {
    format!("{bucket}\0{key}")
}

/// A bucket name: 1 to 64 of `a-z 0-9 _ - .`.
fn check_bucket(bucket: &str) -> Result<(), StoreError> {
    let plain =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.');
    if bucket.is_empty() || bucket.len() > MAX_BUCKET_BYTES || !bucket.chars().all(plain) {
        return Err(StoreError::Invalid(format!(
            "the bucket name {bucket:?} is not 1 to {MAX_BUCKET_BYTES} of a-z, 0-9, _, -, ."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
