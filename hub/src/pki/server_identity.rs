//! The hub's TLS server certificate and key, reloaded without a restart.
//!
//! `sme-hub cert server-renew` (any process sharing the CA directory) replaces
//! `server.key.pem` and `server.cert.pem`; the PKI watcher (`watcher.rs`) notices the files
//! changed (inode, size, modification time) and loads the new pair, and the rustls resolver
//! hands it to every handshake from then on. Connections already open keep the certificate
//! they were made with. A pair that does not load or whose key does not match the certificate
//! (a renewal caught between its two writes) is skipped: the hub keeps serving the old one and
//! tries again at the next refresh.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::tls::{provider, TlsError};

/// What identifies one version of the two files.
type Stamp = [(u64, u64, i64, i64); 2];

#[derive(Debug)]
struct Inner {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    stamp: Mutex<Stamp>,
    /// Expiry of the current certificate, Unix seconds.
    not_after: AtomicI64,
}

// === impl ServerIdentity ===

/// The server certificate in use. Clones share it.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    inner: Arc<Inner>,
}

impl ServerIdentity {
    /// Loads the pair at `cert_path` and `key_path`.
    pub(super) fn load(cert_path: PathBuf, key_path: PathBuf) -> Result<Self, TlsError> {
        let stamp = stamp(&cert_path, &key_path)?;
        let (key, not_after) = load_pair(&cert_path, &key_path)?;
        Ok(Self {
            inner: Arc::new(Inner {
                cert_path,
                key_path,
                current: RwLock::new(key),
                stamp: Mutex::new(stamp),
                not_after: AtomicI64::new(not_after),
            }),
        })
    }

    /// Expiry of the certificate in use, Unix seconds.
    pub fn not_after(&self) -> i64 {
        self.inner.not_after.load(Ordering::Relaxed)
    }

    /// The certificate chain in use (server certificate first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current().cert.clone()
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Loads the files if they changed since the last load; whether a new pair is in use.
    /// Blocking (file reads): the watcher thread calls it.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamp(&self.inner.cert_path, &self.inner.key_path)?;
        let mut last = self.inner.stamp.lock().unwrap_or_else(|p| p.into_inner());
        if *last == now {
            return Ok(false);
        }
        let (key, not_after) = load_pair(&self.inner.cert_path, &self.inner.key_path)?;
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner()) = key;
        self.inner.not_after.store(not_after, Ordering::Relaxed);
        *last = now;
        Ok(true)
    }

    /// The rustls resolver serving this identity.
    pub fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        Arc::new(Resolver(self.clone()))
    }

    /// A handle that does not keep the identity alive (for the watcher thread).
    pub(crate) fn downgrade(&self) -> WeakServerIdentity {
        WeakServerIdentity(Arc::downgrade(&self.inner))
    }
}

/// See [`ServerIdentity::downgrade`].
#[derive(Debug, Clone)]
pub(crate) struct WeakServerIdentity(Weak<Inner>);

impl WeakServerIdentity {
    pub(crate) fn upgrade(&self) -> Option<ServerIdentity> {
        self.0.upgrade().map(|inner| ServerIdentity { inner })
    }
}

/// Hands the current pair to each handshake.
#[derive(Debug)]
struct Resolver(ServerIdentity);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn stamp(cert_path: &Path, key_path: &Path) -> Result<Stamp, TlsError> {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec()))
            .map_err(|e| file_error(p, e))
    };
    Ok([one(cert_path)?, one(key_path)?])
}

/// The pair as rustls uses it, and the certificate's expiry; an error if the key does not
/// belong to the certificate.
fn load_pair(cert_path: &Path, key_path: &Path) -> Result<(Arc<CertifiedKey>, i64), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| file_error(cert_path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert_path, e))?;
    let first = certs
        .first()
        .ok_or_else(|| file_error(cert_path, "no certificate inside"))?;
    let not_after = X509Certificate::from_der(first.as_ref())
        .map_err(|e| file_error(cert_path, e))?
        .1
        .validity()
        .not_after
        .timestamp();
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| file_error(key_path, e))?;
    let certified = CertifiedKey::from_der(certs, key, &provider()).map_err(|e| {
        file_error(
            key_path,
            format!("does not go with {}: {e}", cert_path.display()),
        )
    })?;
    Ok((Arc::new(certified), not_after))
}

/// The DNS names and IP addresses a server certificate is for.
pub fn names(cert: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let (_, x509) = X509Certificate::from_der(cert.as_ref()).map_err(|e| e.to_string())?;
    let Some(san) = x509.subject_alternative_name().map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some((*d).to_owned()),
            GeneralName::IPAddress(b) => match b.len() {
                4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::pki::CertificateAuthority;

    #[test]
    fn a_renewed_server_certificate_is_picked_up_with_the_same_names() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["hub.example.cn".to_string(), "127.0.0.1".to_string()];
        let ca = CertificateAuthority::init(dir.path(), &names, false).unwrap();
        let identity = ca.server_identity().unwrap().clone();
        let before = identity.chain();
        assert!(!identity.reload_if_changed().unwrap(), "nothing changed");

        // Another process (a second CA instance) renews.
        let other = CertificateAuthority::load(dir.path()).unwrap();
        let (renewed_names, not_after) = other.renew_server_certificate(&[]).unwrap();
        assert_eq!(renewed_names, names);
        assert!(identity.reload_if_changed().unwrap());
        let after = identity.chain();
        assert_ne!(before[0], after[0]);
        assert_eq!(super::names(&after[0]).unwrap(), names);
        assert_eq!(identity.not_after(), not_after.unix_timestamp());

        // A key that does not go with the certificate is refused; the old pair stays in use.
        let (_, key_path) = ca.server_identity_paths();
        let stray = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&key_path, stray.serialize_pem()).unwrap();
        let err = identity.reload_if_changed().unwrap_err();
        assert!(err.to_string().contains("does not go with"), "{err}");
        assert_eq!(identity.chain(), after);

        let (names, _) = other
            .renew_server_certificate(&["sme.example.cn".to_string()])
            .unwrap();
        assert_eq!(names, ["sme.example.cn"]);
        assert!(identity.reload_if_changed().unwrap());
        assert_eq!(super::names(&identity.chain()[0]).unwrap(), names);
    }
}
