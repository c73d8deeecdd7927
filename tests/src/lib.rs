//! Shared support for the end-to-end tests: a real hub on port 0 with its own private
//! ClickHouse server in a temp dir, real enrolment, and certificates made with rcgen at test
//! time. Nothing here mocks ClickHouse or TLS.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sme_agent::connect::{self, HubAddress, Trust};
use sme_agent::identity::Identity;
use sme_hub::config::HubConfig;
use sme_hub::pki::CertificateAuthority;
use sme_hub::server::RunningHub;
use sme_hub::store::Store;
use sme_proto::v1::reporting_service_client::ReportingServiceClient;
use tempfile::TempDir;
use tonic::transport::Channel;

pub use sme_proto::fixtures;

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A valid unified social credit code for test platform `n`, registered in Beijing Haidian
/// (region 110108).
pub fn platform(n: u32) -> String {
    sme_proto::credit_code::make_valid(&format!("9111010800{n:07}"))
}

// === impl TestHub ===

/// A hub started in-process on 127.0.0.1:0 with an embedded ClickHouse under a temp dir.
pub struct TestHub {
    pub dir: TempDir,
    pub config: HubConfig,
    pub url: String,
    hub: Option<RunningHub>,
}

impl TestHub {
    /// Starts a hub (and its own ClickHouse) for one test.
    pub async fn start() -> TestHub {
        init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = HubConfig {
            data_dir: dir.path().to_owned(),
            ..HubConfig::default()
        };
        config.grpc.listen = "127.0.0.1:0".parse().unwrap();
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        let hub = sme_hub::server::start(&config)
            .await
            .expect("hub starts with its embedded ClickHouse");
        let url = format!("https://127.0.0.1:{}", hub.grpc_addr.port());
        TestHub {
            dir,
            config,
            url,
            hub: Some(hub),
        }
    }

    /// The hub's store (the same ClickHouse it writes to).
    pub fn store(&self) -> &Store {
        &self.hub.as_ref().expect("hub running").store
    }

    /// The hub's CA, loaded from its data dir.
    pub fn ca(&self) -> CertificateAuthority {
        CertificateAuthority::load(&self.config.ca_dir()).expect("CA exists")
    }

    /// A fresh single-use enrolment token for `platform_id`.
    pub fn token(&self, platform_id: &str) -> String {
        self.ca()
            .tokens()
            .issue(platform_id, time::Duration::hours(1))
            .expect("token issued")
    }

    /// Registers `platform_id` in the hub's platform registry (needed once the registry is
    /// enforced; until then a no-op).
    pub async fn register(&self, _platform_id: &str) {}

    /// Enrols `platform_id` through the real `Enroll` RPC; returns the agent's data dir.
    pub async fn enroll(&self, platform_id: &str) -> (TempDir, Identity) {
        let data = tempfile::tempdir().expect("temp dir");
        let token = self.token(platform_id);
        let identity =
            sme_agent::identity::enroll(data.path(), &self.url, platform_id, &token, false)
                .await
                .expect("enrolment succeeds");
        (data, identity)
    }

    /// A `ReportingService` client using `trust`.
    pub fn client(&self, trust: &Trust) -> ReportingServiceClient<Channel> {
        let address = HubAddress::parse(&self.url).expect("url");
        ReportingServiceClient::new(connect::channel(&address, trust).expect("channel"))
    }

    /// Trusts the hub's CA but presents no client certificate.
    pub fn anonymous(&self) -> Trust {
        Trust::Anonymous {
            ca: self.ca().cert_der().clone(),
        }
    }

    /// A client certificate signed by the hub's own CA with arbitrary subject CN and platform
    /// SAN — something `Enroll` never issues — for forgery tests.
    pub fn forged_identity(&self, cn: &str, san_platform: &str) -> Trust {
        let ca_dir = self.config.ca_dir();
        let ca_key =
            KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key.pem")).unwrap())
                .unwrap();
        let ca = self.ca();
        let issuer = Issuer::from_ca_cert_der(ca.cert_der(), ca_key).unwrap();
        let (chain, key) = client_cert(&issuer, cn, san_platform);
        Trust::Mutual {
            ca: ca.cert_der().clone(),
            chain,
            key: Arc::new(key),
        }
    }

    /// A correctly shaped client certificate for `platform_id` from a CA the hub never saw.
    pub fn foreign_identity(&self, platform_id: &str) -> Trust {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "Some Other CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = Issuer::new(params, key);
        let (chain, key) = client_cert(&issuer, platform_id, platform_id);
        Trust::Mutual {
            ca: self.ca().cert_der().clone(),
            chain,
            key: Arc::new(key),
        }
    }

    /// Path of the hub's data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Stops the hub and its ClickHouse.
    pub async fn stop(mut self) {
        if let Some(hub) = self.hub.take() {
            hub.shutdown().await.expect("clean shutdown");
        }
    }
}

fn client_cert(
    issuer: &Issuer<'_, KeyPair>,
    cn: &str,
    san_platform: &str,
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = vec![SanType::URI(
        format!("{}{san_platform}", sme_hub::pki::PLATFORM_URI_PREFIX)
            .try_into()
            .unwrap(),
    )];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, issuer).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (vec![cert.der().clone()], key)
}

/// Path of a workspace binary (`sme-agent`, `sme-hub`) built by `cargo build --workspace --bins`
/// into the same target directory as the running test.
pub fn binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<test-binary>
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

// === assertions ===

/// Asserts that `result` failed with `code` and that the status details carry a violation of
/// `rule_id` at `field`.
#[track_caller]
pub fn assert_violation<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    rule_id: &str,
    field: &str,
) {
    let status = result.expect_err("the hub should have refused this report");
    assert_eq!(status.code(), code, "status: {status:?}");
    let violations = sme_proto::status::violations(&status);
    assert!(
        violations
            .iter()
            .any(|v| v.rule_id == rule_id && v.field == field),
        "expected {rule_id} at {field}, got {violations:#?}"
    );
    for v in &violations {
        assert!(
            !v.message_zh.is_empty() && !v.message_en.is_empty(),
            "violation without both messages: {v:?}"
        );
    }
}

/// Asserts that `result` failed with `code`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: tonic::Code) {
    let status = result.expect_err("the hub should have refused this call");
    assert_eq!(status.code(), code, "status: {status:?}");
}
