//! `sme-hub serve` as a separate process, for tests that must kill it, restart it on the same
//! data dir, or read its memory from `/proc`. Its ClickHouse is one the test started (so it
//! outlives the hub); its CA is made with the library before the first start.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sme_hub::pki::CertificateAuthority;
use sme_hub::store::{EmbeddedClickHouse, Store};

use crate::process::{signal, Service};

/// A running `sme-hub serve`.
pub struct HubProcess {
    service: Option<Service>,
    /// `https://127.0.0.1:<port>` of its gRPC listener.
    pub url: String,
    /// `http://127.0.0.1:<port>` of its metrics and health.
    pub http_url: String,
    /// Its data dir (config, CA, spill).
    pub data_dir: PathBuf,
}

impl HubProcess {
    /// Starts `sme-hub serve` with data in `data_dir` (a CA is made there if missing), the
    /// ClickHouse at `clickhouse_url` and free ports; `grpc` are more keys of `[grpc]`, `extra`
    /// more sections (not `[clickhouse]`, `[http]`, `[web]`, `[grpc]`).
    pub fn start(
        data_dir: &Path,
        clickhouse: &EmbeddedClickHouse,
        grpc: &str,
        extra: &str,
    ) -> HubProcess {
        std::fs::create_dir_all(data_dir).unwrap();
        let ca_dir = data_dir.join("ca");
        if CertificateAuthority::load(&ca_dir).is_err() {
            CertificateAuthority::init(&ca_dir, &["localhost".into(), "127.0.0.1".into()], false)
                .expect("test CA");
        }
        let config = data_dir.join("hub.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\n{extra}\n{}\
                 [http]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n\
                 [grpc]\nlisten = \"127.0.0.1:0\"\n{grpc}\n",
                data_dir.display().to_string(),
                crate::clickhouse_toml(&clickhouse.http_url(), clickhouse.accounts()),
            ),
        )
        .unwrap();
        let out = data_dir.join("hub.out");
        let child = Command::new(crate::binary("sme-hub"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(data_dir.join("hub.log")).unwrap())
            .spawn()
            .expect("sme-hub serve starts");
        let mut service = Service {
            child,
            name: "sme-hub serve".into(),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let printed = std::fs::read_to_string(&out).unwrap_or_default();
            if printed.contains("Web: ") {
                let find = |prefix: &str| {
                    printed
                        .lines()
                        .find_map(|l| l.strip_prefix(prefix))
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_else(|| panic!("serve prints {prefix:?}:\n{printed}"))
                };
                let grpc = find("sme-hub serving gRPC on ");
                let http = find("metrics and health (HTTP): ");
                return HubProcess {
                    service: Some(service),
                    url: format!("https://{grpc}"),
                    http_url: http.trim_end_matches("/metrics").to_owned(),
                    data_dir: data_dir.to_owned(),
                };
            }
            if let Some(status) = service.child.try_wait().unwrap() {
                panic!(
                    "sme-hub serve ended ({status}):\n{printed}{}",
                    std::fs::read_to_string(data_dir.join("hub.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sme-hub serve did not start within 120 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.service.as_ref().expect("running").child.id()
    }

    /// `VmRSS` and `VmHWM` (peak) of the process, KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/<pid>/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGKILL: no shutdown, nothing flushed.
    pub fn kill(mut self) {
        let mut service = self.service.take().expect("running");
        signal(service.child.id(), "KILL");
        let _ = service.child.wait();
    }

    /// SIGTERM and a clean stop.
    pub fn stop(mut self) {
        let mut service = self.service.take().expect("running");
        let status = service.stop(Duration::from_secs(60));
        assert!(status.success(), "sme-hub serve stopped with {status}");
    }

    /// The hub's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("hub.log")).unwrap_or_default()
    }

    /// The CA in its data dir.
    pub fn ca(&self) -> CertificateAuthority {
        CertificateAuthority::load(&self.data_dir.join("ca")).expect("CA exists")
    }
}

/// A store on `clickhouse` (database `sme`, its accounts), for a test's own queries.
pub async fn store(clickhouse: &EmbeddedClickHouse) -> Store {
    Store::connect(&clickhouse.client_config("sme"))
        .await
        .expect("ClickHouse reachable")
}
