//! Hub configuration: one TOML file (`deny_unknown_fields`), then `SME_HUB_*` environment
//! overrides, then [`HubConfig::validate`]. Parsing is a pure function over the file text and an
//! injectable environment, so it is tested without touching the process environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// The HTTP port for metrics, dashboards and exports.
    pub http: HttpConfig,
    /// Where reports are stored.
    pub clickhouse: ClickHouseSection,
    /// Certificate authority settings.
    pub pki: PkiConfig,
    /// Size limits.
    pub limits: LimitsConfig,
    /// Reporting calendar (due dates, lock delay), UTC+8.
    pub calendar: sme_proto::period::Calendar,
}

/// `[grpc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Address of the gRPC (TLS 1.3) listener.
    pub listen: SocketAddr,
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of the HTTP listener (metrics, dashboards, exports).
    pub listen: SocketAddr,
}

/// `[clickhouse]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSection {
    /// HTTP URL of an existing ClickHouse server. Empty: the hub starts and supervises its own
    /// `clickhouse-server` with data under `<data_dir>/clickhouse`.
    pub url: String,
    /// Database name.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password (prefer the `SME_HUB_CLICKHOUSE_PASSWORD` environment variable).
    pub password: String,
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
            clickhouse: ClickHouseSection::default(),
            pki: PkiConfig::default(),
            limits: LimitsConfig::default(),
            calendar: Default::default(),
        }
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7443".parse().expect("valid address"),
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

impl Default for ClickHouseSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            database: "sme".into(),
            user: "default".into(),
            password: String::new(),
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
        if let Some(v) = env("SME_HUB_CLICKHOUSE_URL") {
            cfg.clickhouse.url = v;
        }
        if let Some(v) = env("SME_HUB_CLICKHOUSE_PASSWORD") {
            cfg.clickhouse.password = v;
        }
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
        self.calendar.validate().map_err(|e| ConfigError::Invalid {
            key: "calendar",
            message: e.to_string(),
        })?;
        if self.limits.max_report_bytes < 1024 {
            return invalid("limits.max_report_bytes", "must be at least 1024");
        }
        Ok(())
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
    fn invalid_values_name_their_key() {
        let err = HubConfig::from_sources(Some("[clickhouse]\nurl = \"tcp://x\"\n"), None, &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("clickhouse.url"), "{err}");
    }
}
