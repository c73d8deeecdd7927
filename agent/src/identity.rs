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

    /// Loads the identity from `data_dir`.
    pub fn load(data_dir: &Path) -> Result<Self, IdentityError> {
        let dir = Self::dir(data_dir);
        let info_path = dir.join("identity.toml");
        if !info_path.exists() {
            return Err(IdentityError::NotEnrolled { dir });
        }
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
        let pk_path = dir.join("pseudonym.key");
        let pseudonym_key =
            hex::decode(read(&pk_path)?.trim()).map_err(|e| file_err(&pk_path, e))?;
        Ok(Self {
            info,
            ca,
            chain,
            key: Arc::new(key),
            pseudonym_key,
        })
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

    #[test]
    fn loading_without_enrolment_says_how_to_enrol() {
        let dir = tempfile::tempdir().unwrap();
        let err = Identity::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("sme-agent enroll"), "{err}");
    }
}
