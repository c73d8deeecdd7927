//! Hub configuration: one TOML file (`deny_unknown_fields`), then `SME_HUB_*` environment
//! overrides, then [`HubConfig::validate`]. Parsing is a pure function over the file text and an
//! injectable environment, so it is tested without touching the process environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod clickhouse;
mod demo;
mod grpc;
mod web;
mod writer;

pub use clickhouse::{AccountSection, ClickHouseSection};
pub use demo::DemoConfig;
pub use grpc::GrpcConfig;
pub use web::WebConfig;
pub use writer::WriterConfig;

/// Errors in the hub's configuration; each names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: &'static str, message: String },
    #[error("config key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The whole hub configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubConfig {
    /// Where the hub keeps its CA, tokens and (embedded mode) ClickHouse data.
    pub data_dir: PathBuf,
    /// The gRPC port agents connect to.
    pub grpc: GrpcConfig,
    /// The HTTP port for metrics and health.
    pub http: HttpConfig,
    /// The web service (HTTPS): login and the JSON API.
    pub web: WebConfig,
    /// Where reports are stored.
    pub clickhouse: ClickHouseSection,
    /// Certificate authority settings.
    pub pki: PkiConfig,
    /// Size limits.
    pub limits: LimitsConfig,
    /// Reporting calendar (due dates, lock delay), UTC+8.
    pub calendar: sme_proto::period::Calendar,
    /// Group commit of reports into ClickHouse and the intake bound.
    pub writer: WriterConfig,
    /// The platform registry (E004).
    pub registry: RegistryConfig,
    /// Reopening locked periods.
    pub periods: PeriodsConfig,
    /// Gates and score weights of the demo-platform candidates.
    pub demo: DemoConfig,
    /// The hub's clock. Not read from the file: the system clock, which tests replace with a
    /// manual one (`sme_hub::clock::Clock::manual`).
    #[serde(skip)]
    pub clock: crate::clock::Clock,
}

/// `[registry]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Refuse reports of platforms not in the registry or not active in the period (E004).
    /// With `true` and an empty registry every report is refused: import the registry first.
    pub enforce: bool,
    /// Seconds each hub process trusts its copy of the registry for platforms found active
    /// (closures reach every process within this time); 0: ask ClickHouse for every report.
    pub cache_seconds: u32,
}

/// `[periods]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeriodsConfig {
    /// Days a reopening lasts when `sme-hub period reopen` has no `--until`.
    pub reopen_days: u32,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            enforce: true,
            cache_seconds: 60,
        }
    }
}

impl Default for PeriodsConfig {
    fn default() -> Self {
        Self { reopen_days: 30 }
    }
}

impl RegistryConfig {
    /// The services' registry settings.
    pub fn settings(&self) -> crate::registry::RegistrySettings {
        crate::registry::RegistrySettings {
            enforce: self.enforce,
            cache_ttl: std::time::Duration::from_secs(self.cache_seconds.into()),
        }
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the HTTP listener (metrics, dashboards, exports).
    pub listen: SocketAddr,
}

/// `[pki]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiConfig {
    /// CA directory; default `<data_dir>/ca`.
    pub ca_dir: Option<PathBuf>,
    /// DNS names and IP addresses agents use to reach the hub (the server certificate's names).
    pub server_names: Vec<String>,
    /// Validity of platform client certificates, in days.
    pub client_cert_days: u32,
    /// Validity of enrolment tokens, in hours.
    pub token_ttl_hours: u32,
    /// How often each hub process re-reads the revocation list, the certificate ledger and
    /// the server certificate files, in milliseconds: a revocation reaches every hub within it.
    pub refresh_ms: u64,
    /// Warn (log, and the expiry gauge in `/metrics`) when the server certificate expires
    /// within this many days.
    pub server_cert_warn_days: u32,
}

impl PkiConfig {
    /// What the PKI watcher needs.
    pub fn watch_settings(&self) -> crate::pki::WatchSettings {
        crate::pki::WatchSettings {
            interval: std::time::Duration::from_millis(self.refresh_ms),
            warn_before: time::Duration::days(self.server_cert_warn_days.into()),
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest accepted encoded report (E013), bytes.
    pub max_report_bytes: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/sme-hub"),
            grpc: GrpcConfig::default(),
            http: HttpConfig::default(),
            web: WebConfig::default(),
            clickhouse: ClickHouseSection::default(),
            pki: PkiConfig::default(),
            limits: LimitsConfig::default(),
            calendar: Default::default(),
            writer: WriterConfig::default(),
            registry: RegistryConfig::default(),
            periods: PeriodsConfig::default(),
            demo: DemoConfig::default(),
            clock: crate::clock::Clock::system(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".parse().expect("valid address"),
        }
    }
}

impl Default for PkiConfig {
    fn default() -> Self {
        Self {
            ca_dir: None,
            server_names: vec!["localhost".into(), "127.0.0.1".into()],
            client_cert_days: 365,
            token_ttl_hours: 168,
            refresh_ms: 2000,
            server_cert_warn_days: 30,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_report_bytes: 4 * 1024 * 1024,
        }
    }
}

// === impl HubConfig ===

impl HubConfig {
    /// Reads `path` (if given), applies the process environment and validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => Some(
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?,
            ),
            None => None,
        };
        let origin = path.map(|p| p.display().to_string());
        Self::from_sources(text.as_deref(), origin.as_deref(), &|k| {
            std::env::var(k).ok()
        })
    }

    /// Pure parsing: file text, where it came from (for messages), and an environment lookup.
    pub fn from_sources(
        text: Option<&str>,
        origin: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cfg: HubConfig = match text {
            Some(t) => toml::from_str(t).map_err(|e| ConfigError::Parse {
                path: origin.unwrap_or("<config>").to_owned(),
                message: e.to_string(),
            })?,
            None => HubConfig::default(),
        };
        if let Some(v) = env("SME_HUB_DATA_DIR") {
            cfg.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("SME_HUB_GRPC_LISTEN") {
            cfg.grpc.listen = v.parse().map_err(|e| ConfigError::Env {
                var: "SME_HUB_GRPC_LISTEN",
                message: format!("{v:?} is not an address like 0.0.0.0:7443 ({e})"),
            })?;
        }
        if let Some(v) = env("SME_HUB_HTTP_LISTEN") {
            cfg.http.listen = v.parse().map_err(|e| ConfigError::Env {
                var: "SME_HUB_HTTP_LISTEN",
                message: format!("{v:?} is not an address like 0.0.0.0:8080 ({e})"),
            })?;
        }
        if let Some(v) = env("SME_HUB_WEB_LISTEN") {
            cfg.web.listen = v.parse().map_err(|e| ConfigError::Env {
                var: "SME_HUB_WEB_LISTEN",
                message: format!("{v:?} is not an address like 0.0.0.0:8443 ({e})"),
            })?;
        }
        cfg.clickhouse.apply_env(env)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "must not be empty");
        }
        let url = &self.clickhouse.url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return invalid(
                "clickhouse.url",
                "must be an HTTP URL like http://127.0.0.1:8123, or empty for the embedded server",
            );
        }
        let db = &self.clickhouse.database;
        if db.is_empty() || !db.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return invalid(
                "clickhouse.database",
                "must be a non-empty name of letters, digits and _",
            );
        }
        if self.pki.server_names.is_empty() {
            return invalid(
                "pki.server_names",
                "needs at least one DNS name or IP address agents use to reach the hub",
            );
        }
        if self.pki.client_cert_days == 0 || self.pki.client_cert_days > 3650 {
            return invalid("pki.client_cert_days", "must be between 1 and 3650");
        }
        if self.pki.token_ttl_hours == 0 {
            return invalid("pki.token_ttl_hours", "must be at least 1");
        }
        if !(10..=600_000).contains(&self.pki.refresh_ms) {
            return invalid(
                "pki.refresh_ms",
                "must be between 10 and 600000 (ten minutes): it bounds how long a revoked certificate is still accepted",
            );
        }
        self.calendar.validate().map_err(|e| ConfigError::Invalid {
            key: "calendar",
            message: e.to_string(),
        })?;
        if self.limits.max_report_bytes < 1024 {
            return invalid("limits.max_report_bytes", "must be at least 1024");
        }
        self.validate_writer()?;
        self.grpc.validate()?;
        self.web.validate()?;
        self.demo.validate()?;
        self.clickhouse.validate()?;
        if self.registry.cache_seconds > 3600 {
            return invalid(
                "registry.cache_seconds",
                "must be at most 3600 (a closed platform would report for that long)",
            );
        }
        if !(1..=3660).contains(&self.periods.reopen_days) {
            return invalid("periods.reopen_days", "must be between 1 and 3660");
        }
        Ok(())
    }

    fn validate_writer(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        let w = &self.writer;
        if !(1..=100_000).contains(&w.max_batch_reports) {
            return invalid(
                "writer.max_batch_reports",
                "must be between 1 and 100000".into(),
            );
        }
        if !(1..=100).contains(&w.max_platform_share_percent) {
            return invalid(
                "writer.max_platform_share_percent",
                "must be between 1 and 100 (percent of queue_capacity)".into(),
            );
        }
        if w.max_batch_bytes < 1024 {
            return invalid("writer.max_batch_bytes", "must be at least 1024".into());
        }
        if w.max_delay_ms > 10_000 {
            return invalid(
                "writer.max_delay_ms",
                "must be at most 10000 (agents wait this long for a receipt)".into(),
            );
        }
        if w.min_flush_interval_ms > 10_000 {
            return invalid(
                "writer.min_flush_interval_ms",
                "must be at most 10000 (agents wait this long for a receipt)".into(),
            );
        }
        if !(1..=16).contains(&w.flushes_in_flight) {
            return invalid(
                "writer.flushes_in_flight",
                "must be between 1 and 16".into(),
            );
        }
        if !(1..=10_000).contains(&w.stream_concurrency) {
            return invalid(
                "writer.stream_concurrency",
                format!("must be 1 to 10000, not {}", w.stream_concurrency),
            );
        }
        if w.queue_capacity == 0 {
            return invalid("writer.queue_capacity", "must be at least 1".into());
        }
        if w.queue_bytes < 2 * self.limits.max_report_bytes {
            return invalid(
                "writer.queue_bytes",
                format!(
                    "must be at least twice limits.max_report_bytes ({}), or the largest \
                     allowed report could never be admitted",
                    2 * self.limits.max_report_bytes
                ),
            );
        }
        Ok(())
    }

    /// The store's options: the cluster settings and timeouts.
    pub fn store_options(&self) -> crate::store::StoreOptions {
        self.clickhouse.store_options()
    }

    /// The CA directory.
    pub fn ca_dir(&self) -> PathBuf {
        self.pki
            .ca_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("ca"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn example_config_parses() {
        let text = include_str!("../hub.example.toml");
        let cfg = HubConfig::from_sources(Some(text), Some("hub.example.toml"), &no_env).unwrap();
        assert_eq!(cfg.clickhouse.database, "sme");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = HubConfig::from_sources(Some("[grpc]\nlisen = 1\n"), Some("x.toml"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn environment_overrides_file() {
        let env = |k: &str| (k == "SME_HUB_CLICKHOUSE_URL").then(|| "http://10.0.0.1:8123".into());
        let cfg = HubConfig::from_sources(Some("[clickhouse]\nurl = \"\"\n"), None, &env).unwrap();
        assert_eq!(cfg.clickhouse.url, "http://10.0.0.1:8123");
        let bad = |k: &str| (k == "SME_HUB_GRPC_LISTEN").then(|| "nowhere".into());
        let err = HubConfig::from_sources(None, None, &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SME_HUB_GRPC_LISTEN"), "{err}");
    }

    #[test]
    fn writer_and_cluster_settings_are_checked() {
        let cfg = HubConfig::from_sources(
            Some("[writer]\nmax_batch_reports = 500\nmax_delay_ms = 5\n"),
            None,
            &no_env,
        )
        .unwrap();
        let w = cfg.writer.settings();
        assert_eq!(w.max_batch_reports, 500);
        assert_eq!(w.max_delay, std::time::Duration::from_millis(5));
        for (text, key) in [
            ("[writer]\nqueue_capacity = 0\n", "writer.queue_capacity"),
            ("[writer]\nqueue_bytes = 1000\n", "writer.queue_bytes"),
            (
                "[writer]\nmax_batch_reports = 0\n",
                "writer.max_batch_reports",
            ),
            ("[clickhouse]\nreplicated = true\n", "clickhouse.cluster"),
            (
                "[clickhouse]\nurl = \"http://a:8123\"\ncluster = \"c\"\n",
                "clickhouse.cluster_nodes",
            ),
            (
                "[clickhouse]\ncluster = \"c\"\ndistributed_ddl = true\n",
                "clickhouse.url",
            ),
            (
                "[clickhouse]\nurl = \"http://a:8123\"\ncluster = \"c d\"\n",
                "clickhouse.cluster",
            ),
        ] {
            let err = HubConfig::from_sources(Some(text), None, &no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let cfg = HubConfig::from_sources(
            Some("[clickhouse]\nurl = \"http://a:8123\"\ncluster = \"c\"\ncluster_nodes = [\"http://a:8123\", \"http://b:8123\"]\n"),
            None,
            &no_env,
        )
        .unwrap();
        let cluster = cfg.store_options().cluster.unwrap();
        assert_eq!(cluster.name, "c");
        assert_eq!(cluster.nodes.len(), 2);
    }

    #[test]
    fn registry_and_periods_settings_are_read_and_checked() {
        let text = "[registry]\nenforce = false\ncache_seconds = 0\n[periods]\nreopen_days = 7\n";
        let cfg = HubConfig::from_sources(Some(text), None, &no_env).unwrap();
        assert!(!cfg.registry.enforce);
        assert!(cfg.registry.settings().cache_ttl.is_zero());
        assert_eq!(cfg.periods.reopen_days, 7);
        assert!(
            !cfg.clock.is_manual(),
            "the clock is never read from the file"
        );
        for (text, key) in [
            (
                "[registry]\ncache_seconds = 7200\n",
                "registry.cache_seconds",
            ),
            ("[periods]\nreopen_days = 0\n", "periods.reopen_days"),
            ("[registry]\nclock = 1\n", "clock"),
        ] {
            let err = HubConfig::from_sources(Some(text), None, &no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn web_settings_are_read_checked_and_overridden() {
        let text = "[web]\ntls = false\nsession_idle_minutes = 10\n";
        let cfg = HubConfig::from_sources(Some(text), None, &no_env).unwrap();
        assert!(!cfg.web.tls);
        assert_eq!(cfg.web.sessions().idle, std::time::Duration::from_secs(600));
        let env = |k: &str| (k == "SME_HUB_WEB_LISTEN").then(|| "0.0.0.0:9443".into());
        let cfg = HubConfig::from_sources(None, None, &env).unwrap();
        assert_eq!(cfg.web.listen.port(), 9443);
        for (text, key) in [
            (
                "[web]\nsession_idle_minutes = 0\n",
                "web.session_idle_minutes",
            ),
            (
                "[web]\nsession_idle_minutes = 600\nsession_absolute_hours = 1\n",
                "web.session_idle_minutes",
            ),
            (
                "[web]\nmax_login_failures_per_address = 1\n",
                "web.max_login_failures_per_address",
            ),
            (
                "[web]\nallowed_origins = [\"dash\"]\n",
                "web.allowed_origins",
            ),
            ("[web]\ntsl = true\n", "tsl"),
        ] {
            let err = HubConfig::from_sources(Some(text), None, &no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
        let bad = |k: &str| (k == "SME_HUB_WEB_LISTEN").then(|| "x".into());
        assert!(HubConfig::from_sources(None, None, &bad).is_err());
    }

    #[test]
    fn invalid_values_name_their_key() {
        let err = HubConfig::from_sources(Some("[clickhouse]\nurl = \"tcp://x\"\n"), None, &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("clickhouse.url"), "{err}");
    }
}
