//! The ingestion thread.

// === impl IngestRuntime ===

/// A dedicated thread (one-worker tokio runtime) for the writer and the lookup collector.
pub struct IngestRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl IngestRuntime {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sme-ingest")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Where to spawn ingestion tasks.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("running until dropped")
            .handle()
            .clone()
    }
}

impl Drop for IngestRuntime {
    fn drop(&mut self) {
        // Safe in async contexts too; the writer has been drained by then.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
