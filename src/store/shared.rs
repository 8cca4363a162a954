//! A store shared by async code: every call runs on the blocking pool, so a
//! slow disk, a busy SQLite lock or a database round trip never stalls the
//! async runtime. With several connections (PostgreSQL), calls spread over
//! them; each connection serves one call at a time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{Store, StoreError};

type Connection = Mutex<Box<dyn Store + Send>>;

#[derive(Clone)]
pub struct SharedStore {
    connections: Arc<[Connection]>,
    next: Arc<AtomicUsize>,
}

impl SharedStore {
    pub fn new(store: impl Store + Send + 'static) -> SharedStore {
        SharedStore::pool(vec![Box::new(store)])
    }

    /// Spreads calls over `connections` (at least one).
    pub fn pool(connections: Vec<Box<dyn Store + Send>>) -> SharedStore {
        assert!(!connections.is_empty(), "a store needs a connection");
        SharedStore {
            connections: connections.into_iter().map(Mutex::new).collect(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Runs `call` with the store on the blocking pool.
    pub async fn call<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let connections = self.connections.clone();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // A free connection if there is one, else wait for our turn.
            let count = connections.len();
            let free = (0..count).find_map(|i| connections[(start + i) % count].try_lock().ok());
            // A panic in an earlier call poisons the lock; the connection
            // itself is still usable (every statement is atomic).
            let mut store = match free {
                Some(store) => store,
                None => connections[start % count]
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            };
            call(store.as_mut())
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }
}
