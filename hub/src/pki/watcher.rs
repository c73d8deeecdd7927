//! The PKI watcher: one blocking thread per hub process that keeps the in-memory revocation
//! list and ledger (`revocations.rs`) and the TLS server identity (`server_identity.rs`) in
//! step with the CA directory, so no authenticated call and no handshake reads a file.
//!
//! Every `[pki] refresh_ms` it lists `revoked/` and `issued/` (reading only files it has not
//! seen) and compares the server certificate's and key's inode, size and modification time.
//! Between refreshes it handles the first use of each certificate (a renewed certificate
//! retires its predecessors). It also sets `sme_hub_server_certificate_expiry_seconds` and
//! warns in the log, at most hourly, while the server certificate expires within
//! `[pki] server_cert_warn_days`.
//!
//! The thread holds only weak references: it ends at the first tick after the CA it watches
//! is dropped.

use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::revocations::max_age;
use super::server_identity::ServerIdentity;
use super::{CertificateAuthority, PkiError};
use crate::web::Metrics;

/// First uses waiting for the watcher; beyond this they are retried at the next call.
const FIRST_USE_QUEUE: usize = 1024;

/// How often the watcher looks at the CA directory, and how early it warns of the server
/// certificate's expiry (`[pki] refresh_ms`, `server_cert_warn_days`).
#[derive(Debug, Clone)]
pub struct WatchSettings {
    pub interval: Duration,
    pub warn_before: time::Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            warn_before: time::Duration::days(30),
        }
    }
}

// === impl CertificateAuthority ===

impl CertificateAuthority {
    /// Loads the revocation list and the server identity now, then keeps both fresh on a
    /// thread of their own (see the module documentation).
    pub fn watch(&self, settings: &WatchSettings, metrics: Arc<Metrics>) -> Result<(), PkiError> {
        let revocations = self.revocations();
        if let Err(e) = revocations.refresh() {
            tracing::error!(error = %e, "cannot read the revocation list: every client certificate is refused until it can be read");
        }
        let (first_use, queue) = sync_channel(FIRST_USE_QUEUE);
        revocations.attach_watcher(first_use, max_age(settings.interval));
        let identity = self.server_identity()?.clone();
        let mut expiry = ExpiryWarning::new(settings.warn_before);
        expiry.observe(&identity, &metrics);

        let revocations = revocations.downgrade();
        let identity = identity.downgrade();
        let interval = settings.interval;
        std::thread::Builder::new()
            .name("sme-pki-watch".into())
            .spawn(move || {
                let mut next = Instant::now() + interval;
                let mut revocation_error: Option<String> = None;
                let mut identity_error: Option<String> = None;
                loop {
                    match queue.recv_timeout(next.saturating_duration_since(Instant::now())) {
                        Ok(used) => {
                            let Some(r) = revocations.upgrade() else { break };
                            let _ = r.settle(&used);
                            continue;
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    next = Instant::now() + interval;
                    let Some(r) = revocations.upgrade() else { break };
                    match r.refresh() {
                        Ok(()) => {
                            if revocation_error.take().is_some() {
                                tracing::info!("the revocation list is readable again");
                            }
                        }
                        Err(e) => {
                            let e = e.to_string();
                            if revocation_error.as_deref() != Some(e.as_str()) {
                                tracing::error!(error = %e, "cannot read the revocation list or the ledger: client certificates are refused while the revocation list is unreadable");
                            }
                            revocation_error = Some(e);
                        }
                    }
                    drop(r);
                    let Some(id) = identity.upgrade() else { break };
                    match id.reload_if_changed() {
                        Ok(true) => {
                            identity_error = None;
                            tracing::info!(not_after = %at(id.not_after()),
                                "new server certificate loaded; new connections get it");
                            expiry.reset();
                        }
                        Ok(false) => {}
                        Err(e) => {
                            let e = e.to_string();
                            if identity_error.as_deref() != Some(e.as_str()) {
                                tracing::warn!(error = %e, "the server certificate files changed but do not load; the previous certificate stays in use");
                            }
                            identity_error = Some(e);
                        }
                    }
                    expiry.observe(&id, &metrics);
                }
                tracing::debug!("PKI watcher stopped");
            })
            .map_err(PkiError::Thread)?;
        Ok(())
    }
}

fn at(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

// === impl ExpiryWarning ===

/// The expiry gauge, and a warning in the log at most once an hour while the certificate is
/// close to its end.
struct ExpiryWarning {
    warn_before: time::Duration,
    last: Option<Instant>,
}

impl ExpiryWarning {
    const REPEAT: Duration = Duration::from_secs(3600);

    fn new(warn_before: time::Duration) -> Self {
        Self {
            warn_before,
            last: None,
        }
    }

    fn reset(&mut self) {
        self.last = None;
    }

    fn observe(&mut self, identity: &ServerIdentity, metrics: &Metrics) {
        let not_after = identity.not_after();
        metrics.server_cert_not_after.set(not_after);
        let left = not_after - OffsetDateTime::now_utc().unix_timestamp();
        if left >= self.warn_before.whole_seconds() {
            return;
        }
        if self.last.is_some_and(|t| t.elapsed() < Self::REPEAT) {
            return;
        }
        self.last = Some(Instant::now());
        tracing::warn!(not_after = %at(not_after), days_left = left / 86_400,
            "the hub's server certificate expires soon: run `sme-hub cert server-renew` (running hubs load the new one without a restart)");
    }
}
