//! Revoked client certificates (吊销), held in memory and refreshed off the async path.
//!
//! On disk: one file per serial under `<ca dir>/revoked/`, holding the time and the reason, so
//! a revocation by any process sharing the CA directory (`sme-hub cert revoke`, or a hub
//! revoking a renewed certificate's predecessor) reaches every hub. In memory: the set of
//! revoked serials and a copy of the ledger, refreshed by the PKI watcher thread
//! (`watcher.rs`) every `[pki] refresh_ms`; an authenticated call only looks at memory.
//!
//! Fail closed: when the directory cannot be listed, or the watcher has not refreshed for
//! [`max_age`], every certificate is refused until the list can be read again. A serial whose
//! file is present but unreadable counts as revoked (the file's presence is the revocation).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use super::ledger::{IssuedBy, Ledger, LedgerCache};
use super::tls::{AuthError, PlatformIdentity};
use super::{create_dir, normalise_serial, rfc3339, write_file, PkiError};

/// How long the in-memory list may go without a successful refresh while a watcher runs,
/// given its interval: ten intervals, at least 30 s.
pub fn max_age(interval: Duration) -> Duration {
    std::cmp::max(interval * 10, Duration::from_secs(30))
}

/// A certificate seen in use for the first time by this process; see [`Revocations::settle`].
#[derive(Debug, Clone)]
pub(crate) struct FirstUse {
    pub(crate) serial: String,
    pub(crate) platform_id: String,
}

/// What the process knows about revocations and the ledger.
#[derive(Debug)]
struct Snapshot {
    loaded: bool,
    revoked: HashMap<String, String>,
    ledger: LedgerCache,
    /// Why the last refresh of the revocation list failed.
    error: Option<String>,
    refreshed_at: Instant,
}

#[derive(Debug)]
struct Watch {
    first_use: SyncSender<FirstUse>,
    max_age: Duration,
}

#[derive(Debug)]
struct Shared {
    snapshot: RwLock<Snapshot>,
    /// Serials whose first use was handled (or is queued for the watcher).
    settled: Mutex<HashSet<String>>,
    watch: OnceLock<Watch>,
}

// === impl Revocations ===

/// The revocation list of one CA directory. Clones share the in-memory state.
#[derive(Debug, Clone)]
pub struct Revocations {
    dir: PathBuf,
    ledger: Ledger,
    shared: Arc<Shared>,
}

/// A [`Revocations`] that does not keep the state alive (held by the watcher thread).
#[derive(Debug, Clone)]
pub(crate) struct WeakRevocations {
    dir: PathBuf,
    ledger: Ledger,
    shared: Weak<Shared>,
}

impl WeakRevocations {
    pub(crate) fn upgrade(&self) -> Option<Revocations> {
        Some(Revocations {
            dir: self.dir.clone(),
            ledger: self.ledger.clone(),
            shared: self.shared.upgrade()?,
        })
    }
}

impl Revocations {
    /// The list of the CA in `ca_dir`; nothing is read until first needed.
    pub(super) fn new(ca_dir: &Path) -> Self {
        Self {
            dir: ca_dir.join("revoked"),
            ledger: Ledger::new(ca_dir),
            shared: Arc::new(Shared {
                snapshot: RwLock::new(Snapshot {
                    loaded: false,
                    revoked: HashMap::new(),
                    ledger: LedgerCache::default(),
                    error: None,
                    refreshed_at: Instant::now(),
                }),
                settled: Mutex::new(HashSet::new()),
                watch: OnceLock::new(),
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakRevocations {
        WeakRevocations {
            dir: self.dir.clone(),
            ledger: self.ledger.clone(),
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Hands first uses to the watcher thread and enables the age check.
    pub(crate) fn attach_watcher(&self, first_use: SyncSender<FirstUse>, max_age: Duration) {
        let _ = self.shared.watch.set(Watch { first_use, max_age });
    }

    /// Revokes certificate `serial_hex` (as printed at issue, hex, any case, colons allowed).
    pub fn revoke(&self, serial_hex: &str, reason: &str) -> Result<(), PkiError> {
        let serial = normalise_serial(serial_hex)
            .ok_or_else(|| PkiError::BadSerial(serial_hex.to_owned()))?;
        create_dir(&self.dir)?;
        let line = format!("{} {}", rfc3339(OffsetDateTime::now_utc()), reason.trim());
        write_file(&self.dir.join(&serial), format!("{line}\n").as_bytes())?;
        self.write().revoked.insert(serial, line);
        Ok(())
    }

    /// Revokes every certificate of `platform_id` in the ledger that is not revoked yet; the
    /// serials revoked now. An error if the ledger knows no certificate of the platform.
    pub fn revoke_platform(
        &self,
        platform_id: &str,
        reason: &str,
    ) -> Result<Vec<String>, PkiError> {
        let entries: Vec<_> = self
            .ledger
            .list()?
            .into_iter()
            .filter(|e| e.platform_id == platform_id)
            .collect();
        if entries.is_empty() {
            return Err(PkiError::NotInLedger {
                platform_id: platform_id.to_owned(),
            });
        }
        let mut revoked = Vec::new();
        for e in entries {
            if self.on_disk(&e.serial)?.is_none() {
                self.revoke(&e.serial, reason)?;
                revoked.push(e.serial);
            }
        }
        Ok(revoked)
    }

    /// Why `serial_hex` was revoked, if it was, as this process knows it.
    pub fn reason(&self, serial_hex: &str) -> Option<String> {
        let serial = normalise_serial(serial_hex)?;
        self.ensure_loaded();
        self.read().revoked.get(&serial).cloned()
    }

    /// The reason stored on disk now for `serial_hex` (a blocking read, for the renewal path).
    pub fn on_disk(&self, serial_hex: &str) -> Result<Option<String>, PkiError> {
        let serial = normalise_serial(serial_hex)
            .ok_or_else(|| PkiError::BadSerial(serial_hex.to_owned()))?;
        let path = self.dir.join(serial);
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) if path.exists() => Ok(Some(format!("reason unreadable: {e}"))),
            Err(source) => Err(PkiError::Io { path, source }),
        }
    }

    /// Reads the revocation list and the ledger written since the last refresh. On failure to
    /// list the revocations, authentication refuses until a refresh succeeds.
    pub fn refresh(&self) -> Result<(), PkiError> {
        let (known, mut ledger) = {
            let s = self.read();
            (s.revoked.clone(), s.ledger.clone())
        };
        let revoked = self.read_revoked(&known);
        let ledger_result = ledger.refresh(&self.ledger);
        let mut s = self.write();
        s.loaded = true;
        s.ledger = ledger;
        match revoked {
            Ok(revoked) => {
                s.revoked = revoked;
                s.error = None;
                s.refreshed_at = Instant::now();
                // A damaged ledger entry only stops renewals from revoking their predecessors.
                ledger_result
            }
            Err(e) => {
                s.error = Some(e.to_string());
                Err(e)
            }
        }
    }

    fn read_revoked(
        &self,
        known: &HashMap<String, String>,
    ) -> Result<HashMap<String, String>, PkiError> {
        let io = |source| PkiError::Io {
            path: self.dir.clone(),
            source,
        };
        let read = match fs::read_dir(&self.dir) {
            Ok(read) => read,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(io(e)),
        };
        let mut revoked = HashMap::new();
        for entry in read {
            let name = entry.map_err(io)?.file_name();
            let Some(serial) = name.to_str() else {
                continue;
            };
            if normalise_serial(serial).as_deref() != Some(serial) {
                continue; // temporary files of a write in progress
            }
            let reason = match known.get(serial) {
                Some(r) => r.clone(),
                None => match fs::read_to_string(self.dir.join(serial)) {
                    Ok(s) => s.trim().to_owned(),
                    Err(e) => format!("reason unreadable: {e}"),
                },
            };
            revoked.insert(serial.to_owned(), reason);
        }
        Ok(revoked)
    }

    /// Refuses a revoked certificate, and every certificate while the list is unreadable or
    /// stale. Memory only, except without a watcher (tools, tests), where the first call
    /// reads the list.
    pub(crate) fn check(&self, identity: &PlatformIdentity) -> Result<(), AuthError> {
        self.ensure_loaded();
        {
            let s = self.read();
            if let Some(e) = &s.error {
                return Err(AuthError::RevocationsUnavailable(e.clone()));
            }
            if let Some(w) = self.shared.watch.get() {
                let age = s.refreshed_at.elapsed();
                if age > w.max_age {
                    return Err(AuthError::RevocationsUnavailable(format!(
                        "not refreshed for {} s",
                        age.as_secs()
                    )));
                }
            }
            if let Some(reason) = s.revoked.get(&identity.serial_hex) {
                return Err(AuthError::Revoked {
                    serial: identity.serial_hex.clone(),
                    platform_id: identity.platform_id.clone(),
                    reason: reason.clone(),
                });
            }
        }
        self.note_use(identity);
        Ok(())
    }

    /// The first use of a certificate in this process goes to [`Revocations::settle`]: on the
    /// watcher thread when one runs, else here.
    fn note_use(&self, identity: &PlatformIdentity) {
        {
            let mut settled = self.shared.settled.lock().expect("settled set poisoned");
            if !settled.insert(identity.serial_hex.clone()) {
                return;
            }
        }
        let used = FirstUse {
            serial: identity.serial_hex.clone(),
            platform_id: identity.platform_id.clone(),
        };
        let handled = match self.shared.watch.get() {
            Some(w) => w.first_use.try_send(used).is_ok(),
            None => self.settle(&used).is_ok(),
        };
        if !handled {
            self.unsettle(&identity.serial_hex);
        }
    }

    fn unsettle(&self, serial: &str) {
        self.shared
            .settled
            .lock()
            .expect("settled set poisoned")
            .remove(serial);
    }

    /// A certificate was used: if the ledger says it came from a renewal, every older
    /// certificate of its platform that is not revoked yet is revoked now (renewal retires the
    /// predecessor once the successor has been used). Blocking: file reads and writes.
    pub(crate) fn settle(&self, used: &FirstUse) -> Result<(), PkiError> {
        let result = self.settle_inner(used);
        if let Err(e) = &result {
            tracing::warn!(serial = %used.serial, error = %e,
                "cannot retire the predecessors of a renewed certificate; retried at its next use");
            self.unsettle(&used.serial);
        }
        result
    }

    fn settle_inner(&self, used: &FirstUse) -> Result<(), PkiError> {
        let known = self.read().ledger.entries.get(&used.serial).cloned();
        let entry = match known {
            Some(e) => Some(e),
            None => self.ledger.get(&used.serial)?,
        };
        // A ledger entry that names another platform than the certificate is not trusted to
        // revoke anything.
        let Some(entry) =
            entry.filter(|e| e.issued_by == IssuedBy::Renewal && e.platform_id == used.platform_id)
        else {
            return Ok(());
        };
        // Every older entry, also those another hub process wrote since the last refresh.
        let mut ledger = self.read().ledger.clone();
        ledger.refresh(&self.ledger)?;
        let older: Vec<String> = ledger
            .older(&entry.platform_id, &entry.serial, entry.issued_at)
            .into_iter()
            .map(|e| e.serial.clone())
            .collect();
        let reason = format!(
            "superseded by the renewed certificate {}, in use since {}",
            entry.serial,
            rfc3339(OffsetDateTime::now_utc())
        );
        for serial in older {
            if self.read().revoked.contains_key(&serial) || self.on_disk(&serial)?.is_some() {
                continue;
            }
            self.revoke(&serial, &reason)?;
            tracing::info!(platform = %entry.platform_id, %serial, successor = %entry.serial,
                "renewed certificate in use; its predecessor is revoked");
        }
        self.write().ledger = ledger;
        Ok(())
    }

    fn ensure_loaded(&self) {
        if !self.read().loaded {
            let _ = self.refresh();
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        self.shared
            .snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        self.shared
            .snapshot
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use crate::pki::tests::platform;
    use crate::pki::{pem_to_der, CertificateAuthority, PkiError};
    use rcgen::{CertificateParams, KeyPair};
    use time::Duration;

    #[test]
    fn revoked_certificates_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let key = KeyPair::generate().unwrap();
        let csr = CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let issued = ca
            .sign_client(&csr, &platform(), Duration::days(30))
            .unwrap();
        let chain = vec![pem_to_der(&issued.certificate_pem).unwrap()];
        let auth = crate::pki::tls::Authenticator::new(ca.cert_der())
            .unwrap()
            .with_revocations(ca.revocations());
        assert_eq!(
            auth.authenticate(Some(&chain)).unwrap().serial_hex,
            issued.serial_hex
        );
        ca.revocations()
            .revoke(&issued.serial_hex.to_ascii_uppercase(), "key lost")
            .unwrap();
        let err = auth.authenticate(Some(&chain)).unwrap_err();
        assert!(
            matches!(err, crate::pki::tls::AuthError::Revoked { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("key lost"), "{err}");
        assert!(ca.revocations().revoke("not hex", "x").is_err());
    }

    fn csr() -> String {
        let key = KeyPair::generate().unwrap();
        CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap()
    }

    fn issue(
        ca: &CertificateAuthority,
        by: crate::pki::IssuedBy,
        predecessor: Option<&str>,
    ) -> (String, Vec<rustls_pki_types::CertificateDer<'static>>) {
        let issued = ca
            .issue_client(
                &csr(),
                &platform(),
                Duration::days(30),
                by,
                predecessor,
                "test",
            )
            .unwrap();
        (
            issued.serial_hex,
            vec![pem_to_der(&issued.certificate_pem).unwrap()],
        )
    }

    #[test]
    fn a_renewed_certificate_retires_its_predecessors_once_used() {
        use crate::pki::IssuedBy;
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let auth = crate::pki::tls::Authenticator::new(ca.cert_der())
            .unwrap()
            .with_revocations(ca.revocations());
        let (first, first_chain) = issue(&ca, IssuedBy::Enrolment, None);
        auth.authenticate(Some(&first_chain)).unwrap();
        let (second, second_chain) = issue(&ca, IssuedBy::Renewal, Some(&first));
        // Issued but not used yet: the old certificate still works (the agent may not have
        // received the new one).
        auth.authenticate(Some(&first_chain)).unwrap();
        auth.authenticate(Some(&second_chain)).unwrap();
        let err = auth.authenticate(Some(&first_chain)).unwrap_err();
        assert!(err.to_string().contains(&second), "{err}");
        assert!(auth.authenticate(Some(&second_chain)).is_ok());

        // Another process sees it on disk.
        let other = CertificateAuthority::load(dir.path()).unwrap();
        assert!(other.revocations().reason(&first).is_some());
        assert!(other.revocations().reason(&second).is_none());

        // Revoking the platform revokes what is left, and says so when nothing is.
        assert_eq!(
            other
                .revocations()
                .revoke_platform(&platform(), "closed")
                .unwrap(),
            vec![second.clone()]
        );
        assert!(other
            .revocations()
            .revoke_platform(&platform(), "closed")
            .unwrap()
            .is_empty());
        let stranger = sme_proto::credit_code::make_valid("91310000MA1FL0000");
        assert!(matches!(
            other.revocations().revoke_platform(&stranger, "x"),
            Err(PkiError::NotInLedger { .. })
        ));
        ca.revocations().refresh().unwrap();
        assert!(auth.authenticate(Some(&second_chain)).is_err());
    }

    #[test]
    fn an_unreadable_revocation_list_refuses_every_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let auth = crate::pki::tls::Authenticator::new(ca.cert_der())
            .unwrap()
            .with_revocations(ca.revocations());
        let (_, chain) = issue(&ca, crate::pki::IssuedBy::Enrolment, None);
        auth.authenticate(Some(&chain)).unwrap();
        // `revoked` is not a directory any more (as root, permissions would not stop a read).
        let revoked = dir.path().join("revoked");
        std::fs::write(&revoked, "not a directory").unwrap();
        assert!(ca.revocations().refresh().is_err());
        let err = auth.authenticate(Some(&chain)).unwrap_err();
        assert!(
            matches!(err, crate::pki::tls::AuthError::RevocationsUnavailable(_)),
            "{err}"
        );
        std::fs::remove_file(&revoked).unwrap();
        ca.revocations().refresh().unwrap();
        auth.authenticate(Some(&chain)).unwrap();
    }
}
