//! The store shared by the agent's async tasks: one connection behind a mutex, used from the
//! blocking thread pool so SQLite's `fsync`s never stall the runtime.

use std::sync::{Arc, Mutex};

use super::Store;

/// A cheaply cloned handle on one [`Store`].
#[derive(Debug, Clone)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    /// Shares `store`.
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Mutex::new(store)))
    }

    /// Runs `f` with the store on the blocking pool. A transaction `f` starts is committed or
    /// rolled back before this returns, and runs to its end even if the caller is dropped, so a
    /// shutdown never leaves a write half done.
    pub async fn run<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&mut Store) -> T + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut store)
        })
        .await
        .expect("store task panicked")
    }
}
