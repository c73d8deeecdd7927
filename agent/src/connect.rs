//! Connections to the hub: gRPC over TLS 1.3 with rustls.
//!
//! Two trust modes. At enrolment the agent has no CA yet, only the CA fingerprint carried in the
//! enrolment token: the hub's chain must contain a CA certificate with that SHA-256, and the
//! server certificate must verify against it (the kubeadm "discovery token CA hash" pattern).
//! After enrolment the agent trusts exactly the stored ministry CA and presents its own client
//! certificate (mutual TLS).

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

/// Errors connecting to the hub.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "hub address {url:?} is not valid: {reason} (expected e.g. https://hub.example.cn:7443)"
    )]
    BadUrl { url: String, reason: String },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot connect to the hub at {url}: {source}")]
    Transport {
        url: String,
        source: tonic::transport::Error,
    },
}

/// How the agent authenticates the hub and itself.
#[derive(Clone)]
pub enum Trust {
    /// Enrolment: trust a CA whose certificate has this SHA-256 (hex); no client certificate.
    Pinned { ca_sha256: String },
    /// Trust `ca` but present no client certificate (reachability checks, tests).
    Anonymous { ca: CertificateDer<'static> },
    /// Normal operation: trust `ca`, present `chain` + `key`.
    Mutual {
        ca: CertificateDer<'static>,
        chain: Vec<CertificateDer<'static>>,
        key: Arc<PrivateKeyDer<'static>>,
    },
}

/// A parsed hub address.
#[derive(Debug, Clone)]
pub struct HubAddress {
    host: String,
    port: u16,
    url: String,
}

impl HubAddress {
    /// Parses `https://host:port` (port defaults to 7443).
    pub fn parse(url: &str) -> Result<Self, ConnectError> {
        let bad = |reason: &str| ConnectError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()))?;
        if uri.scheme_str() != Some("https") {
            return Err(bad("the scheme must be https"));
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Self {
            port: uri.port_u16().unwrap_or(7443),
            host,
            url: url.to_owned(),
        })
    }

    /// The address as given.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A lazily connecting channel: it (re)connects on use, so a hub outage at start-up or later
/// only fails the calls made meanwhile.
pub fn channel(address: &HubAddress, trust: &Trust) -> Result<Channel, ConnectError> {
    let config = Arc::new(client_config(trust)?);
    let server_name = ServerName::try_from(address.host.clone())
        .map_err(|e| ConnectError::Tls(format!("server name {}: {e}", address.host)))?;
    let target = format!("{}:{}", address.host, address.port);
    // The TLS is ours (below), so tonic sees plain http.
    let endpoint = Endpoint::from_shared(format!("http://{target}"))
        .map_err(|e| ConnectError::BadUrl {
            url: address.url.clone(),
            reason: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(false);
    let connector = tower::service_fn(move |_: Uri| {
        let config = config.clone();
        let server_name = server_name.clone();
        let target = target.clone();
        async move {
            let tcp = TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let tls = TlsConnector::from(config).connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// The rustls client configuration for `trust`.
pub fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
    let mut config = match trust {
        Trust::Pinned { ca_sha256 } => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCaVerifier {
                ca_sha256: ca_sha256.to_ascii_lowercase(),
                provider,
            }))
            .with_no_client_auth(),
        Trust::Anonymous { ca } => builder
            .with_root_certificates(roots(ca)?)
            .with_no_client_auth(),
        Trust::Mutual { ca, chain, key } => builder
            .with_root_certificates(roots(ca)?)
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| ConnectError::Tls(format!("client certificate: {e}")))?,
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn roots(ca: &CertificateDer<'static>) -> Result<RootCertStore, ConnectError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| ConnectError::Tls(format!("CA certificate: {e}")))?;
    Ok(roots)
}

/// Verifies the hub against a CA known only by its fingerprint.
#[derive(Debug)]
struct PinnedCaVerifier {
    ca_sha256: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| hex::encode(Sha256::digest(c.as_ref())) == self.ca_sha256)
            .ok_or_else(|| {
                rustls::Error::General(format!(
                    "the hub's certificate chain has no CA with fingerprint {} (the one in the enrolment token): wrong hub address or a man in the middle",
                    self.ca_sha256
                ))
            })?;
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(format!("pinned CA: {e}")))?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_address_requires_https_and_defaults_the_port() {
        let a = HubAddress::parse("https://hub.example.cn").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("hub.example.cn", 7443));
        let a = HubAddress::parse("https://127.0.0.1:9000").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", 9000));
        let err = HubAddress::parse("http://hub:7443")
            .unwrap_err()
            .to_string();
        assert!(err.contains("https"), "{err}");
        assert!(HubAddress::parse("not a url").is_err());
    }
}
