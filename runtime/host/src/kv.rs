//! The `rusm:runtime/kv` imports: the node's durable store, for processes
//! granted `storage`.
//!
//! redb blocks its thread (a write ends in an fsync), so every call runs as
//! blocking work through the seam, and only the calling process waits.
//! Writes are group-committed: whatever writes arrive while a commit is on
//! disk go together in the next one, so many writers share each fsync and
//! each still returns only once its write is durable.
//!
//! A value on its way counts against the memory budget for its process: a
//! write's until it is committed, a read's from the read until it is
//! handed to the guest (whose memory then counts it). One that does not fit
//! is refused with the budget's error.

use std::sync::{Arc, Mutex};

use rusm_config::Capability;
use rusm_rt::sync::oneshot;
use rusm_store::{Store, StoreError, Write};

use crate::imports::rusm::runtime::kv as wit;
use crate::process::ProcState;

/// The node's store and the writes waiting for its next commit.
pub(crate) struct Kv {
    store: Store,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(Write, oneshot::Sender<Result<bool, String>>)>,
    /// A commit task is running; it takes whatever waits when it is done.
    committing: bool,
}

impl Kv {
    pub(crate) fn new(store: Store) -> Kv {
        Kv {
            store,
            queue: Mutex::new(Queue::default()),
        }
    }

    /// Applies `write` durably, with the writes that wait beside it;
    /// whether its key was set before.
    async fn write(self: Arc<Self>, write: Write) -> Result<bool, String> {
        // A refused write must not fail the batch it would have joined.
        self.store.check(&write).map_err(|e| e.to_string())?;
        let (done, answer) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().expect("kv queue lock");
            queue.waiting.push((write, done));
            !std::mem::replace(&mut queue.committing, true)
        };
        if start {
            // A task of its own, not the caller's: a caller killed while it
            // waits must not strand the writes queued behind its own.
            rusm_rt::task::spawn(self.clone().commit());
        }
        answer
            .await
            .unwrap_or_else(|_| Err("the store closed before the write was committed".into()))
    }

    /// Commits batches until none waits.
    async fn commit(self: Arc<Self>) {
        // Should a panic in the store unwind this task, the next write
        // starts a committer again rather than queueing behind a dead one.
        struct Unwinding<'a>(&'a Kv);
        impl Drop for Unwinding<'_> {
            fn drop(&mut self) {
                if std::thread::panicking()
                    && let Ok(mut queue) = self.0.queue.lock()
                {
                    queue.committing = false;
                }
            }
        }
        let _unwinding = Unwinding(&self);
        loop {
            let batch = {
                let mut queue = self.queue.lock().expect("kv queue lock");
                if queue.waiting.is_empty() {
                    // Under the lock: a write queued after this check
                    // finds no committer and starts one.
                    queue.committing = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let (writes, answers): (Vec<Write>, Vec<_>) = batch.into_iter().unzip();
            let kv = self.clone();
            let outcome = rusm_rt::task::blocking(move || kv.store.apply(&writes)).await;
            match outcome {
                Ok(existed) => {
                    for (answer, existed) in answers.into_iter().zip(existed) {
                        // A caller that is gone no longer needs its answer.
                        let _ = answer.send(Ok(existed));
                    }
                }
                Err(e) => {
                    for answer in answers {
                        let _ = answer.send(Err(e.to_string()));
                    }
                }
            }
        }
    }
}

impl ProcState {
    /// The node's store, once the caller is known to be allowed it.
    fn kv(&self) -> Result<Arc<Kv>, String> {
        self.require(Capability::Storage)?;
        let kv = self.shared.store.lock().expect("store lock").clone();
        kv.ok_or_else(|| {
            "this node has no kv store (it opens [storage] path when a component is granted storage)"
                .to_string()
        })
    }

    /// `bytes` of a kv value held against the memory budget for this
    /// process while the guard lives.
    fn hold_value(&self, bytes: usize) -> Result<rusm_core::Held, String> {
        self.process
            .hold_buffer(bytes)
            .map_err(|e| format!("kv: {e}"))
    }
}

/// Runs a read on the store off the async threads.
async fn read<T: Send + 'static>(
    kv: Result<Arc<Kv>, String>,
    operation: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, String> {
    let kv = kv?;
    rusm_rt::task::blocking(move || operation(&kv.store))
        .await
        .map_err(|e| e.to_string())
}

impl wit::Host for ProcState {
    async fn get(&mut self, bucket: String, key: String) -> Result<Option<Vec<u8>>, String> {
        let value = read(self.kv(), move |s| s.get(&bucket, &key)).await?;
        // Given back as the value is handed to the guest (its memory
        // counts it from there).
        let _held = self.hold_value(value.as_ref().map_or(0, Vec::len))?;
        Ok(value)
    }

    async fn set(&mut self, bucket: String, key: String, value: Vec<u8>) -> Result<(), String> {
        let kv = self.kv()?;
        let _held = self.hold_value(value.len())?;
        kv.write(Write::Set { bucket, key, value }).await.map(drop)
    }

    async fn delete(&mut self, bucket: String, key: String) -> Result<bool, String> {
        let kv = self.kv()?;
        kv.write(Write::Delete { bucket, key }).await
    }

    async fn exists(&mut self, bucket: String, key: String) -> Result<bool, String> {
        read(self.kv(), move |s| s.exists(&bucket, &key)).await
    }

    async fn list(
        &mut self,
        bucket: String,
        prefix: String,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        read(self.kv(), move |s| s.list(&bucket, &prefix, limit)).await
    }
}
