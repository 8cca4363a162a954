//! A store shared by async code: every call runs on the blocking pool, so a
//! slow disk or a busy SQLite lock never stalls the async runtime.

use std::sync::{Arc, Mutex};

use super::{Store, StoreError};

#[derive(Clone)]
pub struct SharedStore {
    inner: Arc<Mutex<Box<dyn Store + Send>>>,
}

impl SharedStore {
    pub fn new(store: impl Store + Send + 'static) -> SharedStore {
        SharedStore {
            inner: Arc::new(Mutex::new(Box::new(store))),
        }
    }

    /// Runs `call` with the store on the blocking pool.
    pub async fn call<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier call poisons the lock; the connection
            // itself is still usable (every statement is atomic).
            let mut store = inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            call(store.as_mut())
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}
