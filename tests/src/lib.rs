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
use sme_hub::store::{Accounts, ClickHouseConfig, Store};
use sme_proto::v1::reporting_service_client::ReportingServiceClient;
use tempfile::TempDir;
use tonic::transport::Channel;

pub use sme_proto::fixtures;

pub mod agent;
pub mod browser;
pub mod dashboard;
pub mod hubs;
pub mod load;
pub mod process;
pub mod proxy;
pub mod readme;
pub mod seed;
pub mod web;

/// Points `config` at the ClickHouse at `url` as an external server that has `accounts`, one
/// `[clickhouse.<job>]` section each (e.g. an [`sme_hub::store::EmbeddedClickHouse`] started by
/// the test, or a proxy in front of it).
pub fn external_clickhouse(config: &mut HubConfig, url: &str, accounts: &Accounts) {
    let section = |a: &sme_hub::store::Account| {
        Some(sme_hub::config::AccountSection {
            user: a.user.clone(),
            password: a.password.clone(),
            password_file: None,
        })
    };
    config.clickhouse.url = url.to_owned();
    config.clickhouse.owner = section(&accounts.owner);
    config.clickhouse.ingest = section(&accounts.ingest);
    config.clickhouse.analytics = section(&accounts.analytics);
}

/// `[clickhouse]` of a hub config file for the server at `url` with its three `accounts`.
pub fn clickhouse_toml(url: &str, accounts: &Accounts) -> String {
    let section = |job: &str, a: &sme_hub::store::Account| {
        format!(
            "[clickhouse.{job}]\nuser = {:?}\npassword = {:?}\n",
            a.user, a.password
        )
    };
    format!(
        "[clickhouse]\nurl = {url:?}\n{}{}{}",
        section("owner", &accounts.owner),
        section("ingest", &accounts.ingest),
        section("analytics", &accounts.analytics)
    )
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// The last month that has ended (UTC+8), e.g. `2026-11`.
pub fn last_month() -> String {
    use sme_proto::period::{Period, PeriodKind};
    Period::containing(PeriodKind::Month, time::OffsetDateTime::now_utc())
        .unwrap()
        .previous()
        .unwrap()
        .to_string()
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
        Self::start_with(|_| {}).await
    }

    /// [`TestHub::start`] with the configuration adjusted by `adjust` (after the test defaults:
    /// temp data dir, ports 0).
    pub async fn start_with(adjust: impl FnOnce(&mut HubConfig)) -> TestHub {
        init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = HubConfig {
            data_dir: dir.path().to_owned(),
            ..HubConfig::default()
        };
        config.grpc.listen = "127.0.0.1:0".parse().unwrap();
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        config.web.listen = "127.0.0.1:0".parse().unwrap();
        adjust(&mut config);
        // The hub never creates its CA itself (`sme-hub ca init` does): a test hub gets one.
        if sme_hub::pki::CertificateAuthority::load(&config.ca_dir()).is_err() {
            sme_hub::pki::CertificateAuthority::init(
                &config.ca_dir(),
                &config.pki.server_names,
                false,
            )
            .expect("test CA");
        }
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

    /// The running hub (addresses, metrics).
    pub fn running(&self) -> &RunningHub {
        self.hub.as_ref().expect("hub running")
    }

    /// `http://127.0.0.1:<port>` of the hub's HTTP server (metrics, health).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.running().http_addr)
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

    /// Starts a hub whose clock stands at `now` (move it with [`TestHub::clock`]) and whose
    /// registry copy is off (`[registry] cache_seconds = 0`), so registry changes a test makes
    /// (closing a platform) apply to the next report.
    pub async fn start_at(now: time::OffsetDateTime) -> TestHub {
        Self::start_with(|c| {
            c.clock = sme_hub::clock::Clock::manual(now);
            c.registry.cache_seconds = 0;
        })
        .await
    }

    /// The hub's clock; [`sme_hub::clock::Clock::set`] works when started with
    /// [`TestHub::start_at`].
    pub fn clock(&self) -> &sme_hub::clock::Clock {
        &self.config.clock
    }

    /// Registers `platform_id` in the hub's platform registry (rule E004): region from its
    /// credit code, operating since 2000-01-01, never closed.
    pub async fn register(&self, platform_id: &str) {
        let since = time::Date::from_calendar_date(2000, time::Month::January, 1).unwrap();
        self.register_platform(sme_hub::registry::Platform::new(
            platform_id,
            &format!("测试平台 {platform_id}"),
            since,
        ))
        .await;
    }

    /// Writes a registry version of `platform` (a later call supersedes an earlier one).
    pub async fn register_platform(&self, platform: sme_hub::registry::Platform) {
        // Versions are nanoseconds: two calls in a row must not share one.
        let at = std::cmp::max(
            time::OffsetDateTime::now_utc(),
            platform.updated_at + time::Duration::nanoseconds(1),
        );
        sme_hub::registry::upsert_platforms(self.store(), &[platform], "sme-tests", at)
            .await
            .expect("registry row written");
    }

    /// Registers (see [`TestHub::register`]) and enrols `platform_id` through the real
    /// `Enroll` RPC; returns the agent's data dir.
    pub async fn enroll(&self, platform_id: &str) -> (TempDir, Identity) {
        self.register(platform_id).await;
        self.enroll_unregistered(platform_id).await
    }

    /// Enrols without registering: the platform's reports fail rule E004.
    pub async fn enroll_unregistered(&self, platform_id: &str) -> (TempDir, Identity) {
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

    /// The hub's own CA certificate and key presented as a client certificate: trusted issuer,
    /// but a CA, not a platform's end-entity certificate.
    pub fn ca_as_client(&self) -> Trust {
        let ca_dir = self.config.ca_dir();
        let key_pem = std::fs::read_to_string(ca_dir.join("ca.key.pem")).unwrap();
        let key = KeyPair::from_pem(&key_pem).unwrap();
        let ca = self.ca();
        Trust::Mutual {
            ca: ca.cert_der().clone(),
            chain: vec![ca.cert_der().clone()],
            key: Arc::new(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                key.serialize_der(),
            ))),
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

    /// The audit trail's (report_id, outcome, rule ids) for `report_ids`, waiting up to 20 s for
    /// every id to appear (audit rows may be written in batches after the answer).
    pub async fn audit(&self, report_ids: &[String]) -> Vec<(String, String, Vec<String>)> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            #[derive(clickhouse::Row, serde::Deserialize)]
            struct AuditRow {
                report_id: String,
                outcome: String,
                rule_ids: Vec<String>,
            }
            let rows: Vec<AuditRow> = self
                .store()
                .client()
                .query(
                    "SELECT report_id, toString(outcome), rule_ids FROM audit \
                     WHERE has(?, report_id) ORDER BY received_at",
                )
                .bind(report_ids)
                .fetch_all()
                .await
                .expect("audit query");
            let rows: Vec<(String, String, Vec<String>)> = rows
                .into_iter()
                .map(|r| (r.report_id, r.outcome, r.rule_ids))
                .collect();
            let complete = report_ids.iter().all(|id| rows.iter().any(|r| &r.0 == id));
            if complete || std::time::Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Audit rows of calls refused for want of a valid client certificate (refused from their
    /// headers, so with empty report fields), once at least `expected` are there or after 20 s.
    pub async fn unauthenticated_audits(&self, expected: u64) -> u64 {
        unauthenticated_audits(self.store(), expected).await
    }

    /// The ClickHouse the hub uses, with its three accounts (the embedded server's, read from
    /// its password file, or the configured ones).
    pub fn clickhouse_config(&self) -> ClickHouseConfig {
        let accounts = if self.config.clickhouse.url.is_empty() {
            sme_hub::store::embedded::load_accounts(&self.config.data_dir.join("clickhouse"))
                .expect("the embedded server's password file")
        } else {
            self.config
                .clickhouse
                .accounts()
                .expect("configured accounts")
        };
        ClickHouseConfig {
            url: self.running().clickhouse_url.clone(),
            database: self.config.clickhouse.database.clone(),
            accounts,
        }
    }

    /// A client of the owner account (DDL, mutations), on the hub's database: for a test that
    /// does what the hub itself may not, such as deleting stored reports.
    pub fn owner_client(&self) -> clickhouse::Client {
        let cfg = self.clickhouse_config();
        cfg.accounts
            .owner
            .apply(clickhouse::Client::default().with_url(&cfg.url))
            .with_validation(false)
            .with_database(&cfg.database)
    }

    /// Path of the hub's data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Stops the hub (draining its writer) without panicking on errors; returns the result.
    pub async fn shutdown(mut self) -> Result<(), sme_hub::server::ServeError> {
        match self.hub.take() {
            Some(hub) => hub.shutdown().await,
            None => Ok(()),
        }
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

/// A plain HTTP/1.1 GET; returns the status code and body. For the hub's HTTP endpoints.
pub async fn http_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .unwrap_or_else(|e| panic!("connect {authority}: {e}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    // Bodies of this server are small: undo chunked encoding if used.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

// === impl CutProxy ===

/// A TCP forwarder in front of a server (e.g. ClickHouse) that a test can cut: while cut,
/// open connections are closed and new ones are dropped at once, as if the server were down.
pub struct CutProxy {
    /// The port to connect to instead of the server's.
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
}

impl CutProxy {
    /// Forwards 127.0.0.1:<port> to `target`.
    pub async fn start(target: std::net::SocketAddr) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *rx.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = rx.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        CutProxy { port, cut }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cuts (true) or restores (false) the connection to the server.
    pub fn set_cut(&self, cut: bool) {
        let _ = self.cut.send(cut);
    }
}

/// Resident set size of this process in bytes (`VmRSS` of /proc/self/status).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok())
            })
        })
        .map_or(0, |kb| kb * 1024)
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

/// [`TestHub::unauthenticated_audits`] for any store.
pub async fn unauthenticated_audits(store: &Store, expected: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let n: u64 = store
            .client()
            .query("SELECT count() FROM audit WHERE outcome = 'unauthenticated' AND report_id = ''")
            .fetch_one()
            .await
            .expect("audit query");
        if n >= expected || std::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
