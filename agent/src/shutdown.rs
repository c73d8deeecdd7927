//! The stop signal (SIGTERM, SIGINT) that long-running work of the service watches.

use std::sync::Arc;

use tokio::sync::watch;

/// Tells long-running work to stop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    /// For [`Shutdown::never`]: the sender, kept so the signal never reports "closed".
    _keep: Option<Arc<watch::Sender<bool>>>,
}

/// Triggers a [`Shutdown`].
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

impl Shutdown {
    /// A trigger and the signal it controls.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger(tx), Shutdown { rx, _keep: None })
    }

    /// A signal that never fires (one-shot commands).
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            rx,
            _keep: Some(Arc::new(tx)),
        }
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves when a stop is asked for (or its trigger is gone).
    pub async fn requested(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

impl ShutdownTrigger {
    /// Asks every holder of the signal to stop.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}
