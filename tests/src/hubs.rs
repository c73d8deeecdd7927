//! Real `sme-hub serve` processes: several hubs sharing one CA directory and one ClickHouse
//! server, as the hub is deployed behind a load balancer, each with its own data dir and ports
//! (all 0); a hub to kill, restart on its data dir, or read the memory of from `/proc`. Also a
//! raw TLS handshake that reports the server certificate a new connection gets.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::{CertificateDer, ServerName};

use crate::binary;
use crate::process::{output_within, Service};

/// A running `sme-hub serve`.
pub struct HubProcess {
    /// The process (stopped with SIGTERM when dropped).
    pub service: Service,
    /// `https://127.0.0.1:<port>` of its gRPC listener.
    pub url: String,
    /// `http://127.0.0.1:<port>` of its metrics and health listener.
    pub http_url: String,
    /// Its configuration file.
    pub config: PathBuf,
    log: PathBuf,
}

/// The configuration of one hub: its own `data_dir`, the shared `ca_dir` and ClickHouse, ports
/// 0, and the PKI refresh interval.
pub fn hub_toml(
    data_dir: &Path,
    ca_dir: &Path,
    clickhouse: &sme_hub::store::EmbeddedClickHouse,
    refresh_ms: u64,
) -> String {
    // `[pki]` last: callers append keys of it.
    format!(
        "data_dir = {:?}\n\
         [grpc]\nlisten = \"127.0.0.1:0\"\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\
         [web]\nlisten = \"127.0.0.1:0\"\n\
         {}\
         [pki]\nca_dir = {:?}\nrefresh_ms = {refresh_ms}\n",
        data_dir.display().to_string(),
        crate::clickhouse_toml(&clickhouse.http_url(), clickhouse.accounts()),
        ca_dir.display().to_string(),
    )
}

impl HubProcess {
    /// Writes `toml` to `<dir>/hub.toml` and starts `sme-hub serve` with it, waiting until it
    /// prints its addresses (at most 120 s).
    pub fn start(dir: &Path, toml: &str) -> HubProcess {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("hub.toml");
        std::fs::write(&config, toml).unwrap();
        let out_path = dir.join("hub.out");
        let log = dir.join("hub.log");
        let child = Command::new(binary("sme-hub"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("sme-hub serve starts");
        let mut service = Service {
            child,
            name: format!("sme-hub serve ({})", dir.display()),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
            if printed.contains("ClickHouse (HTTP): ") {
                let field = |prefix: &str| {
                    printed
                        .lines()
                        .find_map(|l| l.strip_prefix(prefix))
                        .unwrap_or_else(|| panic!("serve printed no {prefix:?}: {printed}"))
                        .trim()
                        .to_owned()
                };
                let url = format!("https://{}", field("sme-hub serving gRPC on "));
                let http_url = field("metrics and health (HTTP): ")
                    .trim_end_matches("/metrics")
                    .to_owned();
                return HubProcess {
                    service,
                    url,
                    http_url,
                    config,
                    log,
                };
            }
            if let Some(status) = service.child.try_wait().unwrap() {
                panic!(
                    "sme-hub serve ended ({status}):\n{printed}{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sme-hub serve did not start within 120 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A hub with data (and a CA, made with the library if missing) in `data_dir`, the
    /// ClickHouse `clickhouse` with its accounts, free ports; `grpc` are more keys of `[grpc]`,
    /// `extra` more sections (not `[clickhouse]`, `[http]`, `[web]`, `[grpc]`).
    pub fn with_clickhouse(
        data_dir: &Path,
        clickhouse: &sme_hub::store::EmbeddedClickHouse,
        grpc: &str,
        extra: &str,
    ) -> HubProcess {
        let ca_dir = data_dir.join("ca");
        if sme_hub::pki::CertificateAuthority::load(&ca_dir).is_err() {
            sme_hub::pki::CertificateAuthority::init(
                &ca_dir,
                &["localhost".into(), "127.0.0.1".into()],
                false,
            )
            .expect("test CA");
        }
        let toml = format!(
            "data_dir = {:?}\n{extra}\n{}\
             [http]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
             [grpc]\nlisten = \"127.0.0.1:0\"\n{grpc}\n",
            data_dir.display().to_string(),
            crate::clickhouse_toml(&clickhouse.http_url(), clickhouse.accounts()),
        );
        Self::start(data_dir, &toml)
    }

    /// The CA of a hub made by [`HubProcess::with_clickhouse`].
    pub fn ca(&self) -> sme_hub::pki::CertificateAuthority {
        let dir = self
            .config
            .parent()
            .expect("config in the data dir")
            .join("ca");
        sme_hub::pki::CertificateAuthority::load(&dir).expect("CA exists")
    }

    /// `VmRSS` and `VmHWM` (peak) of the process, KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let pid = self.service.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGKILL: no shutdown, nothing flushed.
    pub fn kill(mut self) {
        crate::process::signal(self.service.child.id(), "KILL");
        let _ = self.service.child.wait();
    }

    /// What the hub logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `sme-hub --config <this hub's config> <args>` to its end (at most 60 s); exit
    /// code, stdout, stderr.
    pub fn command(&self, args: &[&str]) -> (i32, String, String) {
        sme_hub_command(&self.config, args)
    }

    /// SIGTERM, and waits for a clean stop.
    pub fn stop(mut self) {
        let status = self.service.stop(Duration::from_secs(60));
        assert!(
            status.success(),
            "{} stopped with {status}",
            self.service.name
        );
    }
}

/// Runs `sme-hub --config <config> <args>` to its end (at most 60 s); exit code, stdout,
/// stderr.
pub fn sme_hub_command(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = output_within(
        Command::new(binary("sme-hub"))
            .arg("--config")
            .arg(config)
            .args(args),
        Duration::from_secs(60),
        &format!("sme-hub {args:?}"),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The server certificate chain a new TLS connection to `url` (`https://127.0.0.1:<port>`)
/// gets, trusting `ca` and checking the name `127.0.0.1`.
pub fn server_chain(url: &str, ca: &CertificateDer<'static>) -> Vec<CertificateDer<'static>> {
    let authority = url.strip_prefix("https://").expect("https:// URL");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap())
            .unwrap();
    let mut tcp = std::net::TcpStream::connect(authority).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .unwrap_or_else(|e| panic!("TLS handshake with {url}: {e}"));
    }
    conn.peer_certificates()
        .expect("the server sent its certificate")
        .to_vec()
}

/// The hub's answer to a `Heartbeat` signed with `identity`, through a new connection to
/// `url`: `Ok` or the refusal's code and message.
pub async fn heartbeat(
    url: &str,
    identity: &sme_agent::identity::Identity,
) -> Result<(), (tonic::Code, String)> {
    let address = sme_agent::connect::HubAddress::parse(url).expect("hub url");
    let channel = sme_agent::connect::channel(&address, &identity.trust()).expect("channel");
    heartbeat_on(channel).await
}

/// A `Heartbeat` through an existing `channel` (an open connection stays open).
pub async fn heartbeat_on(channel: tonic::transport::Channel) -> Result<(), (tonic::Code, String)> {
    sme_proto::v1::reporting_service_client::ReportingServiceClient::new(channel)
        .heartbeat(sme_proto::v1::HeartbeatRequest {
            agent_version: "sme-tests".into(),
            ..Default::default()
        })
        .await
        .map(drop)
        .map_err(|s| (s.code(), s.message().to_owned()))
}

/// A fresh enrolment token for `platform_id`, from `sme-hub token issue` with `config`.
pub fn issue_token(config: &Path, platform_id: &str) -> String {
    let (code, out, err) = sme_hub_command(config, &["token", "issue", "--platform", platform_id]);
    assert_eq!(code, 0, "token issue: {err}");
    out.trim().to_owned()
}

/// A store on `clickhouse` (database `sme`, its accounts), for a test's own queries.
pub async fn store(clickhouse: &sme_hub::store::EmbeddedClickHouse) -> sme_hub::store::Store {
    sme_hub::store::Store::connect(&clickhouse.client_config("sme"))
        .await
        .expect("ClickHouse reachable")
}

/// Registers `platform_id` (operating since 2000-01-01, never closed) in the registry of
/// `store`'s ClickHouse.
pub async fn register(store: &sme_hub::store::Store, platform_id: &str) {
    let since = time::Date::from_calendar_date(2000, time::Month::January, 1).unwrap();
    sme_hub::registry::upsert_platforms(
        store,
        &[sme_hub::registry::Platform::new(
            platform_id,
            &format!("测试平台 {platform_id}"),
            since,
        )],
        "sme-tests",
        time::OffsetDateTime::now_utc(),
    )
    .await
    .expect("registry row written");
}

impl HubProcess {
    /// Registers `platform_id` and enrols it through this hub's `Enroll` RPC (a hub made by
    /// [`HubProcess::with_clickhouse`]); the agent's data dir and identity.
    pub async fn enroll(
        &self,
        store: &sme_hub::store::Store,
        platform_id: &str,
    ) -> (tempfile::TempDir, sme_agent::identity::Identity) {
        register(store, platform_id).await;
        let dir = tempfile::tempdir().unwrap();
        let token = self
            .ca()
            .tokens()
            .issue(platform_id, time::Duration::hours(1))
            .unwrap();
        let identity =
            sme_agent::identity::enroll(dir.path(), &self.url, platform_id, &token, false)
                .await
                .expect("enrolment succeeds");
        (dir, identity)
    }
}
