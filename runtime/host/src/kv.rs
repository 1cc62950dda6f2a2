//! The `rusm:runtime/kv` imports: the node's durable store, for processes
//! granted `storage`.
//!
//! redb blocks its thread (a write ends in an fsync), so each call runs as
//! blocking work through the seam; only the calling process waits.

use std::sync::Arc;

use rusm_config::Capability;
use rusm_store::Store;

use crate::imports::rusm::runtime::kv as wit;
use crate::process::ProcState;

impl ProcState {
    /// The node's store, once the caller is known to be allowed it.
    fn store(&self) -> Result<Arc<Store>, String> {
        self.require(Capability::Storage)?;
        let store = self.shared.store.lock().expect("store lock").clone();
        store.ok_or_else(|| {
            "this node has no kv store (it opens [storage] path when a component is granted storage)"
                .to_string()
        })
    }
}

/// Runs `operation` on `store` off the async threads.
async fn blocking<T: Send + 'static>(
    store: Result<Arc<Store>, String>,
    operation: impl FnOnce(&Store) -> Result<T, rusm_store::StoreError> + Send + 'static,
) -> Result<T, String> {
    let store = store?;
    rusm_rt::task::blocking(move || operation(&store))
        .await
        .map_err(|e| e.to_string())
}

impl wit::Host for ProcState {
    async fn get(&mut self, bucket: String, key: String) -> Result<Option<Vec<u8>>, String> {
        blocking(self.store(), move |s| s.get(&bucket, &key)).await
    }

    async fn set(&mut self, bucket: String, key: String, value: Vec<u8>) -> Result<(), String> {
        blocking(self.store(), move |s| s.set(&bucket, &key, &value)).await
    }

    async fn delete(&mut self, bucket: String, key: String) -> Result<bool, String> {
        blocking(self.store(), move |s| s.delete(&bucket, &key)).await
    }

    async fn exists(&mut self, bucket: String, key: String) -> Result<bool, String> {
        blocking(self.store(), move |s| s.exists(&bucket, &key)).await
    }

    async fn list(
        &mut self,
        bucket: String,
        prefix: String,
        limit: u32,
    ) -> Result<Vec<String>, String> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        blocking(self.store(), move |s| s.list(&bucket, &prefix, limit)).await
    }
}
