//! The CA itself: its key and certificate, the hub's server certificate, and client
//! certificates signed from platform CSRs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::events::CertificateEvents;
use super::ledger::{IssuedBy, Ledger, LedgerEntry};
use super::server_identity::{self, ServerIdentity};
use super::{
    create_dir, pem_to_der, random_serial, read_string, write_file, write_secret,
    IssuedCertificate, PkiError, Revocations, TokenStore, PLATFORM_URI_PREFIX,
};

// === impl CertificateAuthority ===

/// The loaded CA: signs platform certificates and knows the hub's server identity.
pub struct CertificateAuthority {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    key: KeyPair,
    pseudonym_key: Vec<u8>,
    /// Shared by every [`CertificateAuthority::revocations`] handle of this instance.
    revocations: Revocations,
    /// The TLS server identity, loaded on first use (`serve` only).
    server: OnceLock<ServerIdentity>,
    /// The audit trail of enrolments and renewals, started by the first event.
    events: OnceLock<CertificateEvents>,
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
            revocations: Revocations::new(dir),
            server: OnceLock::new(),
            events: OnceLock::new(),
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

    /// The hub's TLS server identity, reloaded by the watcher when the files change.
    pub fn server_identity(&self) -> Result<&ServerIdentity, super::tls::TlsError> {
        if let Some(s) = self.server.get() {
            return Ok(s);
        }
        let (cert, key) = self.server_identity_paths();
        let loaded = ServerIdentity::load(cert, key)?;
        Ok(self.server.get_or_init(|| loaded))
    }

    /// The audit trail of enrolments and renewals, writing to `store` (started on first use,
    /// inside the hub's runtime).
    pub fn events(&self, store: &crate::store::Store) -> &CertificateEvents {
        self.events
            .get_or_init(|| CertificateEvents::spawn(store.clone()))
    }

    /// Re-issues the hub's server certificate (`sme-hub cert server-renew`): for `names`, or
    /// when empty for the names of the current one. Running hubs load it at their next
    /// refresh. Returns the names and the new expiry.
    pub fn renew_server_certificate(
        &self,
        names: &[String],
    ) -> Result<(Vec<String>, OffsetDateTime), PkiError> {
        let names = if names.is_empty() {
            let (cert_path, _) = self.server_identity_paths();
            let pem = read_string(&cert_path)?;
            let der = pem_to_der(&pem).ok_or_else(|| PkiError::Damaged {
                path: cert_path.clone(),
                reason: "no PEM certificate inside".into(),
            })?;
            let names = server_identity::names(&der).map_err(|reason| PkiError::Damaged {
                path: cert_path.clone(),
                reason,
            })?;
            if names.is_empty() {
                return Err(PkiError::Damaged {
                    path: cert_path,
                    reason: "the certificate names no host: pass --name".into(),
                });
            }
            names
        } else {
            names.to_vec()
        };
        let not_after = self.issue_server_certificate(&names)?;
        Ok((names, not_after))
    }

    /// Issues (or re-issues) the hub's TLS server certificate for `names`; its expiry.
    pub fn issue_server_certificate(&self, names: &[String]) -> Result<OffsetDateTime, PkiError> {
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
        // Key first: a hub reloading between the two writes sees a pair that does not match
        // and keeps the old one until the next refresh (`server_identity.rs`).
        write_secret(&key_path, key.serialize_pem().as_bytes())?;
        // Chain: server certificate, then the CA, so an enrolling agent can check its pin.
        write_file(
            &cert_path,
            format!("{}{}", cert.pem(), self.cert_pem).as_bytes(),
        )?;
        Ok(params.not_after)
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

    /// Signs a client certificate (see [`CertificateAuthority::sign_client`]) and records it
    /// in the ledger before it is handed out.
    pub fn issue_client(
        &self,
        csr_pem: &str,
        platform_id: &str,
        validity: Duration,
        issued_by: IssuedBy,
        predecessor: Option<&str>,
        hub_instance: &str,
    ) -> Result<IssuedCertificate, PkiError> {
        let issued = self.sign_client(csr_pem, platform_id, validity)?;
        self.ledger().record(&LedgerEntry {
            serial: issued.serial_hex.clone(),
            platform_id: platform_id.to_owned(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            issued_at: OffsetDateTime::now_utc(),
            issued_by,
            predecessor: predecessor.map(str::to_owned),
            hub_instance: hub_instance.to_owned(),
        })?;
        Ok(issued)
    }

    /// The revocation list kept beside the CA; every handle of this instance shares one
    /// in-memory copy.
    pub fn revocations(&self) -> Revocations {
        self.revocations.clone()
    }

    /// The ledger of issued certificates kept beside the CA.
    pub fn ledger(&self) -> Ledger {
        Ledger::new(&self.dir)
    }

    /// The token store kept beside the CA.
    pub fn tokens(&self) -> TokenStore {
        TokenStore {
            dir: self.dir.join("tokens"),
            ca_fingerprint: self.fingerprint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::tests::platform;

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
