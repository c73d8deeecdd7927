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

pub mod tls;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// Prefix of the URI subject alternative name that carries the platform id in client
/// certificates, e.g. `urn:sme:platform:91110108MA01ABCD2H`.
pub const PLATFORM_URI_PREFIX: &str = "urn:sme:platform:";

/// Version prefix of enrolment tokens.
const TOKEN_PREFIX: &str = "SME1";

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

/// Why an enrolment token was refused. Each maps to PERMISSION_DENIED with this text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("enrolment token is malformed: expected SME1.<secret>.<ca fingerprint> as printed by `sme-hub token issue`")]
    Malformed,
    #[error("enrolment token is unknown to this hub: ask the hub operator for a new one")]
    Unknown,
    #[error("enrolment token has already been used: each token works once; ask the hub operator for a new one")]
    AlreadyUsed,
    #[error("enrolment token expired at {0}: ask the hub operator for a new one")]
    Expired(String),
    #[error("enrolment token was issued for platform {issued_for}, not {requested}")]
    WrongPlatform {
        issued_for: String,
        requested: String,
    },
    #[error("token store error: {0}")]
    Store(String),
}

/// A signed client certificate.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub certificate_pem: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub serial_hex: String,
}

// === impl CertificateAuthority ===

/// The loaded CA: signs platform certificates and knows the hub's server identity.
pub struct CertificateAuthority {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
    pseudonym_key: Vec<u8>,
}

impl CertificateAuthority {
    /// Creates a new CA, server certificate (for `server_names`: DNS names or IP addresses)
    /// and pseudonymisation key in `dir`.
    pub fn init(dir: &Path, server_names: &[String], force: bool) -> Result<Self, PkiError> {
        if dir.join("ca.cert.pem").exists() && !force {
            return Err(PkiError::AlreadyInitialised {
                dir: dir.to_owned(),
            });
        }
        create_dir(dir)?;
        let key = KeyPair::generate().map_err(|source| PkiError::Certificate {
            what: "generating the CA key",
            source,
        })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "CN");
        dn.push(DnType::OrganizationName, "SME Platform Reporting");
        dn.push(
            DnType::CommonName,
            "SME Platform Reporting CA (中小企业公共服务平台数据直报)",
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(|source| PkiError::Certificate {
                what: "self-signing the CA certificate",
                source,
            })?;
        write_secret(&dir.join("ca.key.pem"), key.serialize_pem().as_bytes())?;
        write_file(&dir.join("ca.cert.pem"), cert.pem().as_bytes())?;
        let mut pseudonym_key = vec![0u8; 32];
        rand::rng().fill_bytes(&mut pseudonym_key);
        write_secret(
            &dir.join("pseudonym.key"),
            hex::encode(&pseudonym_key).as_bytes(),
        )?;
        let ca = Self::load(dir)?;
        ca.issue_server_certificate(server_names)?;
        Ok(ca)
    }

    /// Loads an existing CA from `dir`.
    pub fn load(dir: &Path) -> Result<Self, PkiError> {
        let cert_path = dir.join("ca.cert.pem");
        if !cert_path.exists() {
            return Err(PkiError::NoCa {
                dir: dir.to_owned(),
            });
        }
        let cert_pem = read_string(&cert_path)?;
        let key_path = dir.join("ca.key.pem");
        let key = KeyPair::from_pem(&read_string(&key_path)?).map_err(|e| PkiError::Damaged {
            path: key_path.clone(),
            reason: e.to_string(),
        })?;
        let cert_der = pem_to_der(&cert_pem).ok_or_else(|| PkiError::Damaged {
            path: cert_path.clone(),
            reason: "no PEM certificate inside".into(),
        })?;
        let pk_path = dir.join("pseudonym.key");
        let pseudonym_key =
            hex::decode(read_string(&pk_path)?.trim()).map_err(|e| PkiError::Damaged {
                path: pk_path.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            dir: dir.to_owned(),
            cert_pem,
            cert_der,
            key,
            pseudonym_key,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// SHA-256 of the CA certificate (hex): the pin an agent checks before it trusts the hub.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.cert_der.as_ref()))
    }

    /// The pseudonymisation key (domain §8).
    pub fn pseudonym_key(&self) -> &[u8] {
        &self.pseudonym_key
    }

    /// Identifier of the pseudonymisation key: first 8 hex digits of its SHA-256.
    pub fn pseudonym_key_id(&self) -> String {
        hex::encode(&Sha256::digest(&self.pseudonym_key)[..4])
    }

    /// The directory holding the CA.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Paths of the hub's server certificate and key.
    pub fn server_identity_paths(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.join("server.cert.pem"),
            self.dir.join("server.key.pem"),
        )
    }

    /// Issues (or re-issues) the hub's TLS server certificate for `names`.
    pub fn issue_server_certificate(&self, names: &[String]) -> Result<(), PkiError> {
        let key = KeyPair::generate().map_err(|source| PkiError::Certificate {
            what: "generating the server key",
            source,
        })?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "SME Platform Reporting");
        dn.push(DnType::CommonName, "sme-hub");
        params.distinguished_name = dn;
        for name in names {
            params.subject_alt_names.push(match name.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.clone().try_into().map_err(|source| {
                    PkiError::Certificate {
                        what: "server name in [tls] server_names",
                        source,
                    }
                })?),
            });
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(825);
        params.serial_number = Some(random_serial());
        let cert =
            params
                .signed_by(&key, &self.issuer())
                .map_err(|source| PkiError::Certificate {
                    what: "signing the server certificate",
                    source,
                })?;
        let (cert_path, key_path) = self.server_identity_paths();
        // Chain: server certificate, then the CA, so an enrolling agent can check its pin.
        write_file(
            &cert_path,
            format!("{}{}", cert.pem(), self.cert_pem).as_bytes(),
        )?;
        write_secret(&key_path, key.serialize_pem().as_bytes())?;
        Ok(())
    }

    /// Checks that `csr_pem` is a well-formed certificate signing request with a valid
    /// signature, as [`CertificateAuthority::sign_client`] needs; for checking before spending
    /// an enrolment token on it.
    pub fn check_csr(csr_pem: &str) -> Result<(), PkiError> {
        CertificateSigningRequestParams::from_pem(csr_pem)
            .map(drop)
            .map_err(|e| PkiError::BadCsr(e.to_string()))
    }

    /// Signs a client certificate for `platform_id` with the public key of `csr_pem`. Nothing
    /// but the public key is taken from the CSR: the subject and SAN are the hub's.
    pub fn sign_client(
        &self,
        csr_pem: &str,
        platform_id: &str,
        validity: Duration,
    ) -> Result<IssuedCertificate, PkiError> {
        sme_proto::credit_code::validate(platform_id).map_err(|e| PkiError::BadPlatformId {
            platform_id: platform_id.to_owned(),
            reason: e.to_string(),
        })?;
        let csr = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| PkiError::BadCsr(e.to_string()))?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "SME public service platform");
        dn.push(DnType::CommonName, platform_id);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![SanType::URI(
            format!("{PLATFORM_URI_PREFIX}{platform_id}")
                .try_into()
                .map_err(|source| PkiError::Certificate {
                    what: "platform URI",
                    source,
                })?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(OffsetDateTime::now_utc());
        // A little back-dating tolerates agents whose clocks run slightly behind.
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + validity;
        let serial = random_serial();
        let serial_hex = hex::encode(serial.to_bytes());
        params.serial_number = Some(serial);
        let cert = params
            .signed_by(&csr.public_key, &self.issuer())
            .map_err(|source| PkiError::Certificate {
                what: "signing the client certificate",
                source,
            })?;
        Ok(IssuedCertificate {
            certificate_pem: cert.pem(),
            not_before: params.not_before,
            not_after: params.not_after,
            serial_hex,
        })
    }

    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_ca_cert_der(&self.cert_der, &self.key)
            .expect("CA certificate was parsed at load time")
    }

    /// The revocation list kept beside the CA.
    pub fn revocations(&self) -> Revocations {
        Revocations {
            dir: self.dir.join("revoked"),
        }
    }

    /// The token store kept beside the CA.
    pub fn tokens(&self) -> TokenStore {
        TokenStore {
            dir: self.dir.join("tokens"),
            ca_fingerprint: self.fingerprint(),
        }
    }
}

// === impl TokenStore ===

/// Single-use enrolment tokens (注册令牌). Only a hash of each token is stored.
pub struct TokenStore {
    dir: PathBuf,
    ca_fingerprint: String,
}

/// What is stored for an unused token.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TokenRecord {
    platform_id: String,
    issued_at: String,
    expires_at: String,
}

impl TokenStore {
    /// Issues a token for `platform_id`, valid for `ttl`. The returned string carries the CA
    /// fingerprint, so the agent can check the hub before it sends anything.
    pub fn issue(&self, platform_id: &str, ttl: Duration) -> Result<String, PkiError> {
        sme_proto::credit_code::validate(platform_id).map_err(|e| PkiError::BadPlatformId {
            platform_id: platform_id.to_owned(),
            reason: e.to_string(),
        })?;
        create_dir(&self.dir)?;
        let mut secret = [0u8; 24];
        rand::rng().fill_bytes(&mut secret);
        let secret = hex::encode(secret);
        let now = OffsetDateTime::now_utc();
        let record = TokenRecord {
            platform_id: platform_id.to_owned(),
            issued_at: rfc3339(now),
            expires_at: rfc3339(now + ttl),
        };
        let body = toml::to_string(&record).expect("token record serialises");
        write_secret(&self.dir.join(token_file(&secret)), body.as_bytes())?;
        Ok(format!("{TOKEN_PREFIX}.{secret}.{}", self.ca_fingerprint))
    }

    /// Uses up `token` for `platform_id`. Succeeds once per token.
    pub fn consume(&self, token: &str, platform_id: &str) -> Result<(), TokenError> {
        let secret = parse_token(token)?.0;
        let name = token_file(secret);
        let path = self.dir.join(&name);
        let used_dir = self.dir.join("used");
        let used = used_dir.join(&name);
        let body = match fs::read_to_string(&path) {
            Ok(body) => body,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if used.exists() {
                    TokenError::AlreadyUsed
                } else {
                    TokenError::Unknown
                });
            }
            Err(e) => return Err(TokenError::Store(format!("{}: {e}", path.display()))),
        };
        let record: TokenRecord = toml::from_str(&body)
            .map_err(|e| TokenError::Store(format!("{}: {e}", path.display())))?;
        if record.platform_id != platform_id {
            return Err(TokenError::WrongPlatform {
                issued_for: record.platform_id,
                requested: platform_id.to_owned(),
            });
        }
        let expires = OffsetDateTime::parse(
            &record.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|e| TokenError::Store(format!("{}: {e}", path.display())))?;
        if OffsetDateTime::now_utc() > expires {
            return Err(TokenError::Expired(record.expires_at));
        }
        fs::create_dir_all(&used_dir)
            .map_err(|e| TokenError::Store(format!("{}: {e}", used_dir.display())))?;
        // The rename is the single point of truth: of two concurrent enrolments with the same
        // token, exactly one rename succeeds.
        match fs::rename(&path, &used) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TokenError::AlreadyUsed),
            Err(e) => Err(TokenError::Store(format!("{}: {e}", path.display()))),
        }
    }
}

// === impl Revocations ===

/// Revoked client certificates: one file per serial number under `<ca dir>/revoked/`, holding
/// the reason. A file per serial keeps revocation visible to every hub process sharing the CA
/// directory without a reload step; the check is one `stat` per authenticated call.
#[derive(Debug, Clone)]
pub struct Revocations {
    dir: PathBuf,
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

/// Splits a token into its secret and CA fingerprint.
pub fn parse_token(token: &str) -> Result<(&str, &str), TokenError> {
    let mut parts = token.trim().split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(TOKEN_PREFIX), Some(secret), Some(pin), None)
            if secret.len() == 48
                && pin.len() == 64
                && secret.bytes().all(|b| b.is_ascii_hexdigit())
                && pin.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok((secret, pin))
        }
        _ => Err(TokenError::Malformed),
    }
}

fn token_file(secret: &str) -> String {
    format!("{}.toml", hex::encode(Sha256::digest(secret.as_bytes())))
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
mod tests {
    use super::*;

    fn platform() -> String {
        sme_proto::credit_code::make_valid("91110108MA01ABCD2")
    }

    #[test]
    fn token_works_once_and_only_for_its_platform() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let tokens = ca.tokens();
        let id = platform();
        let token = tokens.issue(&id, Duration::hours(1)).unwrap();
        let other = sme_proto::credit_code::make_valid("91310000MA1FL0000");
        assert!(matches!(
            tokens.consume(&token, &other),
            Err(TokenError::WrongPlatform { .. })
        ));
        tokens.consume(&token, &id).unwrap();
        assert_eq!(tokens.consume(&token, &id), Err(TokenError::AlreadyUsed));
        assert_eq!(tokens.consume("SME1.x.y", &id), Err(TokenError::Malformed));
        let forged = format!("SME1.{}.{}", "ab".repeat(24), ca.fingerprint());
        assert_eq!(tokens.consume(&forged, &id), Err(TokenError::Unknown));
    }

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

    #[test]
    fn expired_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let token = ca
            .tokens()
            .issue(&platform(), Duration::seconds(-1))
            .unwrap();
        assert!(matches!(
            ca.tokens().consume(&token, &platform()),
            Err(TokenError::Expired(_))
        ));
    }

    #[test]
    fn client_certificate_names_the_platform_in_subject_and_san() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["localhost".into()], false).unwrap();
        let key = KeyPair::generate().unwrap();
        // The CSR asks for another name; the hub ignores everything but the key.
        let mut params = CertificateParams::new(vec!["evil.example".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "someone else");
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        let issued = ca
            .sign_client(&csr, &platform(), Duration::days(30))
            .unwrap();
        let der = pem_to_der(&issued.certificate_pem).unwrap();
        let id = crate::pki::tls::platform_identity(&der).unwrap();
        assert_eq!(id.platform_id, platform());
        assert!(issued.not_after > OffsetDateTime::now_utc() + Duration::days(29));
    }

    #[test]
    fn init_refuses_to_overwrite_and_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::init(dir.path(), &["127.0.0.1".into()], false).unwrap();
        assert!(matches!(
            CertificateAuthority::init(dir.path(), &[], false),
            Err(PkiError::AlreadyInitialised { .. })
        ));
        let again = CertificateAuthority::load(dir.path()).unwrap();
        assert_eq!(again.fingerprint(), ca.fingerprint());
        assert_eq!(again.pseudonym_key(), ca.pseudonym_key());
        let missing = tempfile::tempdir().unwrap();
        assert!(matches!(
            CertificateAuthority::load(missing.path()),
            Err(PkiError::NoCa { .. })
        ));
    }
}
