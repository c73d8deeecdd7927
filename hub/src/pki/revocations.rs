//! Revoked client certificates.

use std::fs;
use std::path::PathBuf;

use time::OffsetDateTime;

use super::{create_dir, rfc3339, write_file, PkiError};

// === impl Revocations ===

/// Revoked client certificates: one file per serial number under `<ca dir>/revoked/`, holding
/// the reason. A file per serial keeps revocation visible to every hub process sharing the CA
/// directory without a reload step; the check is one `stat` per authenticated call.
#[derive(Debug, Clone)]
pub struct Revocations {
    pub(super) dir: PathBuf,
}

impl Revocations {
    /// Revokes certificate `serial_hex` (as printed at issue, lower-case hex).
    pub fn revoke(&self, serial_hex: &str, reason: &str) -> Result<(), PkiError> {
        let serial = normalise_serial(serial_hex).ok_or_else(|| PkiError::Damaged {
            path: self.dir.clone(),
            reason: format!("{serial_hex:?} is not a hexadecimal serial number"),
        })?;
        create_dir(&self.dir)?;
        let line = format!("{} {}\n", rfc3339(OffsetDateTime::now_utc()), reason.trim());
        write_file(&self.dir.join(serial), line.as_bytes())
    }

    /// Why `serial_hex` was revoked, if it was.
    pub fn reason(&self, serial_hex: &str) -> Option<String> {
        let serial = normalise_serial(serial_hex)?;
        fs::read_to_string(self.dir.join(serial))
            .ok()
            .map(|s| s.trim().to_owned())
    }
}

fn normalise_serial(serial_hex: &str) -> Option<String> {
    let s = serial_hex.trim().replace(':', "").to_ascii_lowercase();
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
}

#[cfg(test)]
mod tests {
    use crate::pki::tests::platform;
    use crate::pki::{pem_to_der, CertificateAuthority};
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
}
