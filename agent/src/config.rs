//! Agent configuration: one TOML file (`deny_unknown_fields`), then `SME_AGENT_*` environment
//! overrides, then [`AgentConfig::validate`]. Parsing is a pure function over the file text and
//! an injectable environment. `agent.example.toml` documents every key and is parsed by a test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Errors in the agent's configuration; each names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("config key {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The whole agent configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Where the agent keeps its identity, SQLite store, inbox and quarantine.
    pub data_dir: PathBuf,
    /// The hub.
    pub hub: HubSection,
    /// When the agent builds and sends reports.
    pub schedule: ScheduleSection,
    /// The watched inbox folder.
    pub inbox: InboxSection,
    /// Sending and retrying.
    pub delivery: DeliverySection,
}

/// `[hub]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubSection {
    /// Hub address, `https://host:port`. Empty: the address recorded at enrolment.
    pub url: String,
}

/// `[schedule]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSection {
    /// When to heartbeat, build and send: a tokio-cron-scheduler expression with seconds,
    /// `sec min hour day-of-month month day-of-week [year]`.
    pub cron: String,
    /// IANA time zone of `cron`.
    pub timezone: String,
    /// Each agent delays every scheduled run by its own offset in `[0, max]` seconds (derived
    /// from its platform id), so a fleet does not hit the hub in the same second.
    pub max_start_offset_secs: u64,
    /// Run once right after start (heartbeat, build, send what is waiting).
    pub run_at_start: bool,
    /// Build and send right after the inbox imported something, instead of at the next run.
    pub send_after_import: bool,
}

/// `[inbox]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InboxSection {
    /// Folder to watch. Empty: `<data_dir>/inbox`.
    pub dir: PathBuf,
    /// Refused files go here with `<name>.errors.txt`. Empty: `<data_dir>/quarantine`.
    pub quarantine_dir: PathBuf,
    /// Imported files go here. Empty: `<data_dir>/done`.
    pub done_dir: PathBuf,
    /// How often to look into the folder; 0 turns the inbox off.
    pub poll_secs: u64,
    /// Largest file imported (inbox and `sme-agent import`), in bytes; larger files are refused
    /// with the limit named.
    pub max_file_bytes: u64,
    /// Largest total a workbook (.xlsx) may unpack to, in bytes; beyond it the file is refused
    /// (a zip bomb costs no memory).
    pub max_unpacked_bytes: u64,
}

impl InboxSection {
    /// The size limits of intake.
    pub fn limits(&self) -> crate::intake::Limits {
        crate::intake::Limits {
            max_file_bytes: self.max_file_bytes,
            max_unpacked_bytes: self.max_unpacked_bytes,
        }
    }
}

/// `[delivery]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySection {
    /// Reports per `SyncReports` stream when a backlog drains.
    pub batch_size: usize,
    /// `SyncReports` streams at the same time while a large backlog drains.
    pub streams: usize,
    /// First retry delay; doubles with every failed attempt (full jitter).
    pub backoff_base_secs: u64,
    /// Longest retry delay.
    pub backoff_max_secs: u64,
    /// Give up on a stream that brings no receipt for this long (it is retried later).
    pub receipt_timeout_secs: u64,
    /// Largest report the hub accepts (its `limits.max_report_bytes`); larger reports are sent
    /// without their service-record detail.
    pub max_report_bytes: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/sme-agent"),
            hub: HubSection::default(),
            schedule: ScheduleSection::default(),
            inbox: InboxSection::default(),
            delivery: DeliverySection::default(),
        }
    }
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            cron: "0 0 2 * * *".into(),
            timezone: "Asia/Shanghai".into(),
            max_start_offset_secs: 1800,
            run_at_start: true,
            send_after_import: true,
        }
    }
}

impl Default for InboxSection {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            quarantine_dir: PathBuf::new(),
            done_dir: PathBuf::new(),
            poll_secs: 60,
            max_file_bytes: crate::intake::file::DEFAULT_MAX_FILE_BYTES,
            max_unpacked_bytes: crate::intake::file::DEFAULT_MAX_UNPACKED_BYTES,
        }
    }
}

impl Default for DeliverySection {
    fn default() -> Self {
        Self {
            batch_size: 500,
            streams: 4,
            backoff_base_secs: 10,
            backoff_max_secs: 3600,
            receipt_timeout_secs: 120,
            max_report_bytes: sme_proto::rules::DEFAULT_MAX_REPORT_BYTES,
        }
    }
}

// === impl AgentConfig ===

impl AgentConfig {
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

    /// Pure parsing: file text, its origin (for messages), and an environment lookup.
    pub fn from_sources(
        text: Option<&str>,
        origin: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut cfg: AgentConfig = match text {
            Some(t) => toml::from_str(t).map_err(|e| ConfigError::Parse {
                path: origin.unwrap_or("<config>").to_owned(),
                message: e.to_string(),
            })?,
            None => AgentConfig::default(),
        };
        if let Some(v) = env("SME_AGENT_DATA_DIR") {
            cfg.data_dir = PathBuf::from(v);
        }
        if let Some(v) = env("SME_AGENT_HUB_URL") {
            cfg.hub.url = v;
        }
        if let Some(v) = env("SME_AGENT_INBOX") {
            cfg.inbox.dir = PathBuf::from(v);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "must not be empty".into());
        }
        if !self.hub.url.is_empty() {
            crate::connect::HubAddress::parse(&self.hub.url).map_err(|e| ConfigError::Invalid {
                key: "hub.url",
                message: e.to_string(),
            })?;
        }
        crate::schedule::Schedule::new(&self.schedule.cron, &self.schedule.timezone, 0).map_err(
            |e| ConfigError::Invalid {
                key: e.key(),
                message: e.to_string(),
            },
        )?;
        if self.schedule.max_start_offset_secs > 24 * 3600 {
            return invalid(
                "schedule.max_start_offset_secs",
                format!(
                    "{} is more than a day (86400)",
                    self.schedule.max_start_offset_secs
                ),
            );
        }
        if self.inbox.max_file_bytes == 0 {
            return invalid("inbox.max_file_bytes", "must be at least 1".into());
        }
        if self.inbox.max_unpacked_bytes == 0 {
            return invalid("inbox.max_unpacked_bytes", "must be at least 1".into());
        }
        let d = &self.delivery;
        if !(1..=10_000).contains(&d.batch_size) {
            return invalid(
                "delivery.batch_size",
                format!("{} must be 1-10000", d.batch_size),
            );
        }
        if !(1..=16).contains(&d.streams) {
            return invalid("delivery.streams", format!("{} must be 1-16", d.streams));
        }
        if d.backoff_base_secs == 0 || d.backoff_base_secs > d.backoff_max_secs {
            return invalid(
                "delivery.backoff_base_secs",
                format!(
                    "{} must be at least 1 and at most delivery.backoff_max_secs ({})",
                    d.backoff_base_secs, d.backoff_max_secs
                ),
            );
        }
        if d.receipt_timeout_secs == 0 {
            return invalid("delivery.receipt_timeout_secs", "must be at least 1".into());
        }
        if d.max_report_bytes < 1024 {
            return invalid(
                "delivery.max_report_bytes",
                format!("{} is below 1024", d.max_report_bytes),
            );
        }
        Ok(())
    }

    /// The SQLite store.
    pub fn store_path(&self) -> PathBuf {
        self.data_dir.join("agent.db")
    }

    /// The watched inbox.
    pub fn inbox_dir(&self) -> PathBuf {
        or_under(&self.inbox.dir, &self.data_dir, "inbox")
    }

    /// Where refused files go.
    pub fn quarantine_dir(&self) -> PathBuf {
        or_under(&self.inbox.quarantine_dir, &self.data_dir, "quarantine")
    }

    /// Where imported files go.
    pub fn done_dir(&self) -> PathBuf {
        or_under(&self.inbox.done_dir, &self.data_dir, "done")
    }

    /// Inbox poll interval; `None` when the inbox is off.
    pub fn inbox_poll(&self) -> Option<Duration> {
        (self.inbox.poll_secs > 0).then(|| Duration::from_secs(self.inbox.poll_secs))
    }
}

fn or_under(path: &Path, data_dir: &Path, name: &str) -> PathBuf {
    if path.as_os_str().is_empty() {
        data_dir.join(name)
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn example_config_parses_and_shows_the_defaults() {
        let text = include_str!("../agent.example.toml");
        let cfg =
            AgentConfig::from_sources(Some(text), Some("agent.example.toml"), &no_env).unwrap();
        let d = AgentConfig::default();
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/sme-agent"));
        assert_eq!(cfg.schedule.cron, d.schedule.cron);
        assert_eq!(cfg.schedule.timezone, d.schedule.timezone);
        assert_eq!(
            cfg.schedule.max_start_offset_secs,
            d.schedule.max_start_offset_secs
        );
        assert_eq!(cfg.inbox.poll_secs, d.inbox.poll_secs);
        assert_eq!(cfg.delivery.batch_size, d.delivery.batch_size);
        assert_eq!(cfg.delivery.streams, d.delivery.streams);
        assert_eq!(cfg.delivery.max_report_bytes, d.delivery.max_report_bytes);
        assert_eq!(cfg.inbox_dir(), PathBuf::from("/var/lib/sme-agent/inbox"));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let err = AgentConfig::from_sources(Some("[hub]\nulr = \"x\"\n"), None, &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("ulr"), "{err}");
        let err = AgentConfig::from_sources(Some("[hub]\nurl = \"http://x\"\n"), None, &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hub.url"), "{err}");
        for (toml, key) in [
            ("[schedule]\ncron = \"every day\"\n", "schedule.cron"),
            (
                "[schedule]\ntimezone = \"Mars/Olympus\"\n",
                "schedule.timezone",
            ),
            ("[delivery]\nbatch_size = 0\n", "delivery.batch_size"),
            (
                "[delivery]\nbackoff_base_secs = 0\n",
                "delivery.backoff_base_secs",
            ),
        ] {
            let err = AgentConfig::from_sources(Some(toml), None, &no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
    }

    #[test]
    fn environment_overrides_file() {
        let env = |k: &str| match k {
            "SME_AGENT_DATA_DIR" => Some("/tmp/a".to_string()),
            "SME_AGENT_INBOX" => Some("/srv/drop".to_string()),
            _ => None,
        };
        let cfg = AgentConfig::from_sources(Some("data_dir = \"/x\"\n"), None, &env).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/a"));
        assert_eq!(cfg.inbox_dir(), PathBuf::from("/srv/drop"));
        assert_eq!(cfg.quarantine_dir(), PathBuf::from("/tmp/a/quarantine"));
    }
}
