//! The ministry certificate authority (部委证书中心): the CA key and certificate, the hub's server
//! certificate, client certificates signed from platform CSRs, single-use enrolment tokens and the
//! pseudonymisation key of domain §8.
//!
//! Layout of the CA directory (default `<data_dir>/ca`):
//!
//! | file | what |
//! |---|---|
//! | `ca.key.pem` (0600) | CA private key (ECDSA P-256) |
//! | `ca.cert.pem` | CA certificate, self-signed |
//! | `server.key.pem` (0600), `server.cert.pem` | the hub's TLS server identity, signed by the CA |
//! | `pseudonym.key` (0600) | 32-byte HMAC key handed to agents at enrolment |
//! | `tokens/<sha256>.toml` | an unused enrolment token (only its hash is stored) |
//! | `tokens/used/<sha256>.toml` | a used token; moved there by an atomic rename, so a token works once even with several hub processes sharing the directory |
//! | `revoked/<serial>` | a revoked client certificate, holding the time and the reason |
//!
//! The parts: `authority.rs` (the CA and what it signs), `tokens.rs`, `revocations.rs`, `tls.rs`.

mod authority;
mod revocations;
pub mod tls;
mod tokens;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use rcgen::SerialNumber;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

pub use authority::CertificateAuthority;
pub use revocations::Revocations;
pub use tokens::{parse_token, TokenError, TokenStore};

/// Prefix of the URI subject alternative name that carries the platform id in client
/// certificates, e.g. `urn:sme:platform:91110108MA01ABCD2H`.
pub const PLATFORM_URI_PREFIX: &str = "urn:sme:platform:";

/// Errors of the certificate authority and the token store.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("CA directory {dir} has no CA yet: run `sme-hub ca init` first")]
    NoCa { dir: PathBuf },
    #[error("CA directory {dir} already holds a CA; pass --force to replace it (every enrolled agent would then need to enrol again)")]
    AlreadyInitialised { dir: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Certificate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("certificate signing request is not valid: {0}")]
    BadCsr(String),
    #[error("platform id {platform_id:?} is not a valid unified social credit code: {reason}")]
    BadPlatformId { platform_id: String, reason: String },
    #[error("{path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
}

/// A signed client certificate.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub certificate_pem: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub serial_hex: String,
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[0] &= 0x7f; // positive
    bytes[0] |= 0x01; // no leading zero byte
    SerialNumber::from_slice(&bytes)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

/// First certificate of a PEM bundle, as DER.
pub fn pem_to_der(pem: &str) -> Option<CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .and_then(|c| c.ok())
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(|source| PkiError::Io {
        path: dir.to_owned(),
        source,
    })
}

fn read_string(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_with_mode(path, bytes, 0o644)
}

fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), PkiError> {
    write_with_mode(path, bytes, 0o600)
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key.
fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) fn platform() -> String {
        sme_proto::credit_code::make_valid("91110108MA01ABCD2")
    }
}
