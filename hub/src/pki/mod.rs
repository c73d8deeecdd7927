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
//! | `issued/<serial>.toml` | the ledger: every client certificate issued (platform, validity, enrolment or renewal) |
//! | `revoked/<serial>` | a revoked client certificate, holding the time and the reason |
//!
//! The parts: `authority.rs` (the CA and what it signs), `tokens.rs`, `ledger.rs`,
//! `revocations.rs`, `server_identity.rs` (the reloading TLS server certificate), `watcher.rs`
//! (the thread refreshing both), `events.rs` (the audit trail of enrolments and renewals) and
//! `tls.rs`.

mod authority;
pub mod events;
pub mod ledger;
mod revocations;
pub mod server_identity;
pub mod tls;
mod tokens;
mod watcher;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use rcgen::SerialNumber;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

pub use authority::CertificateAuthority;
pub use ledger::{IssuedBy, Ledger, LedgerEntry};
pub use revocations::Revocations;
pub use server_identity::ServerIdentity;
pub use tokens::{parse_token, TokenError, TokenStore};
pub use watcher::WatchSettings;

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
    #[error(
        "{0:?} is not a hexadecimal certificate serial number (as `sme-hub cert list` prints it)"
    )]
    BadSerial(String),
    #[error("the certificate ledger has no certificate of platform {platform_id}: check the id with `sme-hub cert list`; a certificate issued before the ledger existed is revoked with --serial")]
    NotInLedger { platform_id: String },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("cannot start the PKI watcher thread: {0}")]
    Thread(std::io::Error),
}

/// A signed client certificate.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub certificate_pem: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub serial_hex: String,
}

/// A serial number as the hub writes it: lower-case hex without colons.
fn normalise_serial(serial_hex: &str) -> Option<String> {
    let s = serial_hex.trim().replace(':', "").to_ascii_lowercase();
    (!s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
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

/// Writes through a temporary file and a rename, so a crash never leaves half a key. The
/// temporary name is the process's own, so two processes writing one file do not mix.
fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
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
