//! The platform's identity: private key (generated here, never sent), client certificate, the
//! ministry CA and the pseudonymisation key, kept under `<data_dir>/identity/`.
//!
//! | file | what |
//! |---|---|
//! | `key.pem` (0600) | private key (ECDSA P-256) |
//! | `cert.pem` | client certificate signed by the ministry CA |
//! | `ca.pem` | the ministry CA certificate |
//! | `pseudonym.key` (0600) | HMAC key for enterprise pseudonyms (domain §8), hex |
//! | `identity.toml` | platform id, pseudonym key id, certificate validity |

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sme_proto::v1;
use sme_proto::v1::enrollment_service_client::EnrollmentServiceClient;

use crate::connect::{self, ConnectError, HubAddress, Trust};

/// Errors of enrolment and of the stored identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("this agent is not enrolled yet ({dir} has no identity): run `sme-agent enroll --hub URL --platform ID --token TOKEN`")]
    NotEnrolled { dir: PathBuf },
    #[error("already enrolled as {platform_id} (in {dir}); pass --force to enrol again")]
    AlreadyEnrolled { platform_id: String, dir: PathBuf },
    #[error("platform id {platform_id:?} is not a valid unified social credit code: {reason}")]
    BadPlatformId { platform_id: String, reason: String },
    #[error("enrolment token is malformed: expected SME1.<secret>.<ca fingerprint> as printed by `sme-hub token issue`")]
    BadToken,
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("key generation: {0}")]
    Key(String),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("the hub refused enrolment: {}", .0.message())]
    Refused(tonic::Status),
    #[error("the hub's answer is unusable: {0}")]
    BadAnswer(String),
}

/// What `identity.toml` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityInfo {
    pub platform_id: String,
    pub hub_url: String,
    pub pseudonym_key_id: String,
    /// Certificate validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// A loaded identity, ready for mutual TLS.
#[derive(Clone)]
pub struct Identity {
    pub info: IdentityInfo,
    pub ca: CertificateDer<'static>,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<PrivateKeyDer<'static>>,
    pub pseudonym_key: Vec<u8>,
}

impl Identity {
    /// The identity directory under a data dir.
    pub fn dir(data_dir: &Path) -> PathBuf {
        data_dir.join("identity")
    }

    /// Loads the identity from `data_dir`, first finishing a certificate swap a crash
    /// interrupted (see [`commit_pending`]).
    pub fn load(data_dir: &Path) -> Result<Self, IdentityError> {
        let dir = Self::dir(data_dir);
        if let Err(e) = recover_pending(data_dir) {
            tracing::warn!(error = %e, "could not finish an interrupted certificate renewal");
        }
        if !dir.join("identity.toml").exists() {
            return Err(IdentityError::NotEnrolled { dir });
        }
        load_files(&dir, &dir.join("pseudonym.key"))
    }

    /// Mutual-TLS trust for talking to the hub.
    pub fn trust(&self) -> Trust {
        Trust::Mutual {
            ca: self.ca.clone(),
            chain: self.chain.clone(),
            key: self.key.clone(),
        }
    }
}

/// Reads an identity from the files in `dir`.
fn load_files(dir: &Path, pseudonym_key_path: &Path) -> Result<Identity, IdentityError> {
    let info_path = dir.join("identity.toml");
    let info: IdentityInfo =
        toml::from_str(&read(&info_path)?).map_err(|e| file_err(&info_path, e))?;
    let ca_path = dir.join("ca.pem");
    let ca = CertificateDer::from_pem_file(&ca_path).map_err(|e| file_err(&ca_path, e))?;
    let cert_path = dir.join("cert.pem");
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| file_err(&cert_path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(&cert_path, e))?;
    let key_path = dir.join("key.pem");
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| file_err(&key_path, e))?;
    let pseudonym_key = hex::decode(read(pseudonym_key_path)?.trim())
        .map_err(|e| file_err(pseudonym_key_path, e))?;
    Ok(Identity {
        info,
        ca,
        chain,
        key: Arc::new(key),
        pseudonym_key,
    })
}

// === certificate swap ===
//
// A renewed key and certificate are written to `identity/pending/` and tried there; only a
// pair that works replaces the current one. The replacement is journalled: `pending/VERIFIED`
// is written (and synced) first, then each file is renamed into `identity/`, then the marker
// and the folder are removed. A crash in between leaves the marker, and the next
// `Identity::load` finishes the renames (roll forward); a `pending/` without the marker is an
// untried pair and is discarded. Either way the key and certificate in `identity/` match.

/// Files a renewal replaces, in the order they are moved.
const SWAPPED: [&str; 4] = ["key.pem", "cert.pem", "ca.pem", "identity.toml"];
const VERIFIED: &str = "VERIFIED";

/// Where a renewed identity waits until it has been tried.
pub fn pending_dir(data_dir: &Path) -> PathBuf {
    Identity::dir(data_dir).join("pending")
}

/// Writes a renewed key, certificate and CA as the pending identity and loads it for a trial.
pub fn write_pending(
    data_dir: &Path,
    key_pem: &str,
    cert_pem: &str,
    ca_pem: &str,
    info: &IdentityInfo,
) -> Result<Identity, IdentityError> {
    let dir = pending_dir(data_dir);
    discard_pending(data_dir)?;
    fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
    write(&dir.join("key.pem"), key_pem.as_bytes(), 0o600)?;
    write(&dir.join("cert.pem"), cert_pem.as_bytes(), 0o644)?;
    write(&dir.join("ca.pem"), ca_pem.as_bytes(), 0o644)?;
    let body = toml::to_string(info).expect("identity info serialises");
    write(&dir.join("identity.toml"), body.as_bytes(), 0o644)?;
    load_files(&dir, &Identity::dir(data_dir).join("pseudonym.key"))
}

/// Makes the tried pending identity the current one (see the swap notes above).
pub fn commit_pending(data_dir: &Path) -> Result<(), IdentityError> {
    let dir = pending_dir(data_dir);
    write(&dir.join(VERIFIED), b"verified\n", 0o644)?;
    sync_dir(&dir);
    roll_forward(data_dir)
}

/// Removes an untried pending identity, if any.
pub fn discard_pending(data_dir: &Path) -> Result<(), IdentityError> {
    let dir = pending_dir(data_dir);
    match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_err(&dir, e)),
    }
}

/// Finishes an interrupted swap, or discards an untried pending identity.
fn recover_pending(data_dir: &Path) -> Result<(), IdentityError> {
    let dir = pending_dir(data_dir);
    if !dir.exists() {
        return Ok(());
    }
    if dir.join(VERIFIED).exists() {
        tracing::info!("finishing a certificate renewal that was interrupted");
        roll_forward(data_dir)
    } else {
        discard_pending(data_dir)
    }
}

fn roll_forward(data_dir: &Path) -> Result<(), IdentityError> {
    let dir = pending_dir(data_dir);
    let main = Identity::dir(data_dir);
    for name in SWAPPED {
        let from = dir.join(name);
        if from.exists() {
            fs::rename(&from, main.join(name)).map_err(|e| file_err(&from, e))?;
        }
    }
    sync_dir(&main);
    discard_pending(data_dir)?;
    sync_dir(&main);
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Enrols this platform: generates a key, sends a CSR with the single-use `token`, stores the
/// certificate, CA and pseudonym key under `data_dir`.
pub async fn enroll(
    data_dir: &Path,
    hub_url: &str,
    platform_id: &str,
    token: &str,
    force: bool,
) -> Result<Identity, IdentityError> {
    sme_proto::credit_code::validate(platform_id).map_err(|e| IdentityError::BadPlatformId {
        platform_id: platform_id.to_owned(),
        reason: e.to_string(),
    })?;
    let ca_sha256 = token_ca_fingerprint(token)?;
    let dir = Identity::dir(data_dir);
    if let Ok(existing) = Identity::load(data_dir) {
        if !force {
            return Err(IdentityError::AlreadyEnrolled {
                platform_id: existing.info.platform_id,
                dir,
            });
        }
    }
    let address = HubAddress::parse(hub_url)?;
    let (key, csr_pem) = new_key_and_csr(platform_id)?;
    let channel = connect::channel(
        &address,
        &Trust::Pinned {
            ca_sha256: ca_sha256.clone(),
        },
    )?;
    let answer = EnrollmentServiceClient::new(channel)
        .enroll(v1::EnrollRequest {
            token: token.trim().to_owned(),
            platform_id: platform_id.to_owned(),
            csr_pem,
        })
        .await
        .map_err(IdentityError::Refused)?
        .into_inner();
    let ca = CertificateDer::from_pem_slice(answer.ca_chain_pem.as_bytes())
        .map_err(|e| IdentityError::BadAnswer(format!("CA certificate: {e}")))?;
    if hex::encode(Sha256::digest(ca.as_ref())) != ca_sha256.to_ascii_lowercase() {
        return Err(IdentityError::BadAnswer(
            "the CA the hub returned is not the one named in the token".into(),
        ));
    }
    let info = IdentityInfo {
        platform_id: platform_id.to_owned(),
        hub_url: hub_url.to_owned(),
        pseudonym_key_id: answer.pseudonym_key_id.clone(),
        not_before: answer.not_before.map(|t| t.seconds).unwrap_or_default(),
        not_after: answer.not_after.map(|t| t.seconds).unwrap_or_default(),
    };
    fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
    write(&dir.join("key.pem"), key.serialize_pem().as_bytes(), 0o600)?;
    write(
        &dir.join("cert.pem"),
        answer.certificate_pem.as_bytes(),
        0o644,
    )?;
    write(&dir.join("ca.pem"), answer.ca_chain_pem.as_bytes(), 0o644)?;
    write(
        &dir.join("pseudonym.key"),
        hex::encode(&answer.pseudonym_key).as_bytes(),
        0o600,
    )?;
    // identity.toml last: its presence means the rest is complete.
    let body = toml::to_string(&info).expect("identity info serialises");
    write(&dir.join("identity.toml"), body.as_bytes(), 0o644)?;
    Identity::load(data_dir)
}

/// A fresh key and a CSR naming the platform.
pub fn new_key_and_csr(platform_id: &str) -> Result<(KeyPair, String), IdentityError> {
    let key = KeyPair::generate().map_err(|e| IdentityError::Key(e.to_string()))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, platform_id);
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| IdentityError::Key(e.to_string()))?;
    Ok((key, csr))
}

/// The CA fingerprint carried in an enrolment token `SME1.<secret>.<sha256>`.
fn token_ca_fingerprint(token: &str) -> Result<String, IdentityError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    match parts.as_slice() {
        ["SME1", secret, pin]
            if secret.len() == 48
                && pin.len() == 64
                && pin.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(pin.to_ascii_lowercase())
        }
        _ => Err(IdentityError::BadToken),
    }
}

fn read(path: &Path) -> Result<String, IdentityError> {
    fs::read_to_string(path).map_err(|e| file_err(path, e))
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> IdentityError {
    IdentityError::File {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Writes through a temporary file, fsync and rename: a crash leaves the old file or the new one.
pub(crate) fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| file_err(&tmp, e))?;
    f.write_all(bytes).map_err(|e| file_err(&tmp, e))?;
    f.sync_all().map_err(|e| file_err(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| file_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_fingerprint_is_checked_for_shape() {
        let pin = "ab".repeat(32);
        let token = format!("SME1.{}.{pin}", "0".repeat(48));
        assert_eq!(token_ca_fingerprint(&token).unwrap(), pin);
        assert!(matches!(
            token_ca_fingerprint("SME1.abc"),
            Err(IdentityError::BadToken)
        ));
        assert!(matches!(
            token_ca_fingerprint(&format!("SME2.{}.{pin}", "0".repeat(48))),
            Err(IdentityError::BadToken)
        ));
    }

    /// A self-signed key and certificate pair, PEM.
    fn pair(cn: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).unwrap();
        (key.serialize_pem(), cert.pem())
    }

    fn info(not_after: i64) -> IdentityInfo {
        IdentityInfo {
            platform_id: "91110108MA01C0DE8X".into(),
            hub_url: "https://127.0.0.1:7443".into(),
            pseudonym_key_id: "k1".into(),
            not_before: 0,
            not_after,
        }
    }

    /// An identity directory with an "old" pair; returns the old cert PEM.
    fn enrolled(data_dir: &Path) -> String {
        let dir = Identity::dir(data_dir);
        fs::create_dir_all(&dir).unwrap();
        let (key, cert) = pair("old");
        write(&dir.join("key.pem"), key.as_bytes(), 0o600).unwrap();
        write(&dir.join("cert.pem"), cert.as_bytes(), 0o644).unwrap();
        write(&dir.join("ca.pem"), cert.as_bytes(), 0o644).unwrap();
        write(&dir.join("pseudonym.key"), b"00ff", 0o600).unwrap();
        let body = toml::to_string(&info(1)).unwrap();
        write(&dir.join("identity.toml"), body.as_bytes(), 0o644).unwrap();
        cert
    }

    fn cert_pem(data_dir: &Path) -> String {
        fs::read_to_string(Identity::dir(data_dir).join("cert.pem")).unwrap()
    }

    #[test]
    fn a_tried_pending_identity_replaces_the_current_one() {
        let d = tempfile::tempdir().unwrap();
        enrolled(d.path());
        let (key, cert) = pair("new");
        let trial = write_pending(d.path(), &key, &cert, &cert, &info(2)).unwrap();
        assert_eq!(trial.info.not_after, 2);
        assert_eq!(trial.pseudonym_key, vec![0, 255]);
        commit_pending(d.path()).unwrap();
        assert!(!pending_dir(d.path()).exists());
        assert_eq!(cert_pem(d.path()), cert);
        assert_eq!(Identity::load(d.path()).unwrap().info.not_after, 2);
    }

    #[test]
    fn an_untried_pending_identity_is_discarded_on_load() {
        let d = tempfile::tempdir().unwrap();
        let old = enrolled(d.path());
        let (key, cert) = pair("new");
        write_pending(d.path(), &key, &cert, &cert, &info(2)).unwrap();
        // Crash before the trial succeeded.
        let id = Identity::load(d.path()).unwrap();
        assert_eq!(id.info.not_after, 1);
        assert_eq!(cert_pem(d.path()), old);
        assert!(!pending_dir(d.path()).exists());
    }

    #[test]
    fn a_swap_interrupted_half_way_is_finished_on_load() {
        let d = tempfile::tempdir().unwrap();
        enrolled(d.path());
        let (key, cert) = pair("new");
        write_pending(d.path(), &key, &cert, &cert, &info(2)).unwrap();
        let pending = pending_dir(d.path());
        write(&pending.join(VERIFIED), b"verified\n", 0o644).unwrap();
        // Crash after the key moved but before the certificate did.
        fs::rename(
            pending.join("key.pem"),
            Identity::dir(d.path()).join("key.pem"),
        )
        .unwrap();
        let id = Identity::load(d.path()).unwrap();
        assert_eq!(id.info.not_after, 2);
        assert_eq!(cert_pem(d.path()), cert);
        assert_eq!(
            fs::read_to_string(Identity::dir(d.path()).join("key.pem")).unwrap(),
            key
        );
        assert!(!pending.exists());
    }

    #[test]
    fn loading_without_enrolment_says_how_to_enrol() {
        let dir = tempfile::tempdir().unwrap();
        let err = Identity::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("sme-agent enroll"), "{err}");
    }
}
