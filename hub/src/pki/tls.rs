//! TLS for the hub's gRPC port: TLS 1.3 only, client certificates requested, and platform
//! identity taken from a verified client certificate.
//!
//! One port serves both `EnrollmentService` (a new agent has no certificate yet) and
//! `ReportingService` (certificate required). The handshake therefore asks for a client
//! certificate without insisting, and proves possession of the certificate's key (the TLS 1.3
//! CertificateVerify signature is always checked). Whether the certificate chains to the
//! ministry CA, is in date and names a platform is decided per call by [`Authenticator`], with
//! the same webpki verifier the handshake would use, so a missing, foreign or expired
//! certificate becomes a clear gRPC `UNAUTHENTICATED` instead of an opaque handshake failure.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::pki::{CertificateAuthority, PLATFORM_URI_PREFIX};

/// Errors building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client verifier: {0}")]
    Verifier(String),
}

/// Why a caller is not an authenticated platform. `Display` is the text the agent sees.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "no client certificate was presented: enrol this platform first with `sme-agent enroll`"
    )]
    NoCertificate,
    #[error("client certificate was not accepted ({0}): it must be issued by this hub's CA and be in date; renew it or enrol again")]
    NotTrusted(String),
    #[error("client certificate does not name a platform: {0}")]
    NoPlatform(String),
    #[error("client certificate {serial} of platform {platform_id} was revoked ({reason}): ask the hub operator for a new enrolment token and run `sme-agent enroll --force`")]
    Revoked {
        serial: String,
        platform_id: String,
        reason: String,
    },
    #[error("the hub cannot read its list of revoked certificates ({0}), so it accepts no client certificate until that is fixed: this is the hub's problem, not the platform's; the agent keeps its reports and retries")]
    RevocationsUnavailable(String),
}

/// Why the client certificate failed verification, in words (rustls' own text for some of
/// these is a Rust debug dump such as `Other(OtherError(CaUsedAsEndEntity))`).
fn certificate_problem(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(e) = error else {
        return error.to_string();
    };
    let text = match e {
        C::BadEncoding => "it is not a well-formed X.509 certificate",
        C::Expired | C::ExpiredContext { .. } => "it has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "it is not valid yet (check the agent machine's clock)"
        }
        C::Revoked => "it was revoked",
        C::UnknownIssuer => "it was not issued by this hub's CA",
        C::BadSignature => "its signature does not verify",
        C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
            "it is signed with an algorithm the hub does not accept"
        }
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "it is not meant for client authentication"
        }
        C::Other(other) => {
            // webpki's reasons, which rustls passes on by name only.
            let name = other.to_string();
            match name.as_str() {
                "CaUsedAsEndEntity" => {
                    "it is a CA certificate, not a platform's client certificate"
                }
                "EndEntityUsedAsCa" => "a platform certificate was used as an issuing CA",
                "RequiredEkuNotFound" => "it is not meant for client authentication",
                "PathLenConstraintViolated" | "MaximumPathDepthExceeded" => {
                    "its chain of issuers is longer than the hub allows"
                }
                _ => return format!("it could not be verified ({name})"),
            }
        }
        other => return format!("it could not be verified ({other})"),
    };
    text.to_owned()
}

/// The identity proven by a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformIdentity {
    /// Unified social credit code of the platform.
    pub platform_id: String,
    /// Certificate serial number, hex.
    pub serial_hex: String,
    /// Subject, for the audit trail.
    pub subject: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

/// The rustls verifier behind the handshake: asks for a certificate, checks the key-possession
/// signature, and leaves the trust decision to [`Authenticator`].
#[derive(Debug)]
struct DeferredClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Trust is decided per call by `Authenticator::authenticate`, which every
        // ReportingService and Renew call goes through.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

// === impl Authenticator ===

/// Decides whether a presented certificate chain is a platform of this hub.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<dyn ClientCertVerifier>,
    revocations: Option<crate::pki::Revocations>,
}

impl Authenticator {
    /// A verifier trusting exactly the CA certificate `ca`.
    pub fn new(ca: &CertificateDer<'static>) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone())
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| TlsError::Verifier(e.to_string()))?;
        Ok(Self {
            verifier,
            revocations: None,
        })
    }

    /// Also refuses certificates revoked in `revocations`.
    pub fn with_revocations(mut self, revocations: crate::pki::Revocations) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// Verifies the chain (signature, CA, validity, client-auth usage) and reads the platform id.
    pub fn authenticate(
        &self,
        chain: Option<&[CertificateDer<'static>]>,
    ) -> Result<PlatformIdentity, AuthError> {
        let chain = chain.unwrap_or_default();
        let (end_entity, intermediates) = chain.split_first().ok_or(AuthError::NoCertificate)?;
        self.verifier
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map_err(|e| AuthError::NotTrusted(certificate_problem(&e)))?;
        let identity = platform_identity(end_entity)?;
        if let Some(revocations) = &self.revocations {
            revocations.check(&identity)?;
        }
        Ok(identity)
    }
}

/// Reads the platform id from a client certificate: the subject common name and the
/// `urn:sme:platform:` URI SAN must both be present, agree, and be a valid credit code.
pub fn platform_identity(cert: &CertificateDer<'_>) -> Result<PlatformIdentity, AuthError> {
    let (_, x509) = X509Certificate::from_der(cert.as_ref())
        .map_err(|e| AuthError::NoPlatform(format!("unreadable certificate: {e}")))?;
    let cn = x509
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| AuthError::NoPlatform("no subject common name".into()))?;
    let san = x509
        .subject_alternative_name()
        .ok()
        .flatten()
        .and_then(|ext| {
            ext.value.general_names.iter().find_map(|n| match n {
                GeneralName::URI(uri) => uri.strip_prefix(PLATFORM_URI_PREFIX).map(str::to_owned),
                _ => None,
            })
        })
        .ok_or_else(|| {
            AuthError::NoPlatform(format!(
                "no {PLATFORM_URI_PREFIX}<id> subject alternative name"
            ))
        })?;
    if cn != san {
        return Err(AuthError::NoPlatform(format!(
            "subject names platform {cn} but the alternative name names {san}"
        )));
    }
    sme_proto::credit_code::validate(&cn)
        .map_err(|e| AuthError::NoPlatform(format!("{cn} is not a valid credit code: {e}")))?;
    Ok(PlatformIdentity {
        platform_id: cn,
        serial_hex: hex::encode(x509.raw_serial()),
        subject: x509.subject().to_string(),
        not_after: x509.validity().not_after.timestamp(),
    })
}

/// The crypto provider used everywhere: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The hub's rustls server configuration: TLS 1.3, ALPN h2, the CA's server certificate
/// (reloaded when renewed, see `server_identity.rs`), client certificates requested.
pub fn server_config(ca: &CertificateAuthority) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let identity = ca.server_identity()?;
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.cert_der().clone())
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::Verifier(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(DeferredClientVerifier { inner }))
        .with_cert_resolver(identity.resolver());
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The web service's rustls configuration: the same server certificate (reloaded the same
/// way), no client certificates (users log in with a password), TLS 1.2 and 1.3 for browsers,
/// ALPN h2 and HTTP/1.1.
pub fn web_server_config(ca: &CertificateAuthority) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let identity = ca.server_identity()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(identity.resolver());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
