//! Agent configuration: one TOML file (`deny_unknown_fields`), then `SME_AGENT_*` environment
//! overrides, then [`AgentConfig::validate`]. Parsing is a pure function over the file text and
//! an injectable environment.

use std::path::{Path, PathBuf};

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
}

/// `[hub]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HubSection {
    /// Hub address, `https://host:port`. Empty: the address recorded at enrolment.
    pub url: String,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/sme-agent"),
            hub: HubSection::default(),
        }
    }
}

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
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                key: "data_dir",
                message: "must not be empty".into(),
            });
        }
        if !self.hub.url.is_empty() {
            crate::connect::HubAddress::parse(&self.hub.url).map_err(|e| ConfigError::Invalid {
                key: "hub.url",
                message: e.to_string(),
            })?;
        }
        Ok(())
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
        let text = include_str!("../agent.example.toml");
        let cfg =
            AgentConfig::from_sources(Some(text), Some("agent.example.toml"), &no_env).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/sme-agent"));
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
    }

    #[test]
    fn environment_overrides_file() {
        let env = |k: &str| (k == "SME_AGENT_DATA_DIR").then(|| "/tmp/a".to_string());
        let cfg = AgentConfig::from_sources(Some("data_dir = \"/x\"\n"), None, &env).unwrap();
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/a"));
    }
}
