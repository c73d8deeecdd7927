//! `[web]`: the HTTPS service of planners and coordinators (JSON API under `/api/v1/`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::users::sessions::SessionSettings;
use crate::users::throttle::ThrottleSettings;

/// `[web]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address of the web listener.
    pub listen: SocketAddr,
    /// HTTPS with the hub's server certificate (the CA's). `false` serves plain HTTP, only for
    /// a reverse proxy that terminates TLS in front of the hub; the session cookie then lacks
    /// `Secure`, so the proxy must be the only way in.
    pub tls: bool,
    /// Origins (`https://dash.example.gov.cn`) accepted besides the hub's own address, for a
    /// reverse proxy that rewrites the `Host` header.
    pub allowed_origins: Vec<String>,
    /// A session ends after this many minutes without a request.
    pub session_idle_minutes: u32,
    /// A session ends this many hours after login, whatever the activity.
    pub session_absolute_hours: u32,
    /// How far back failed logins count, minutes.
    pub login_window_minutes: u32,
    /// Failed logins of one account within the window before its logins are refused.
    pub max_login_failures_per_account: u32,
    /// Failed logins from one address within the window before its logins are refused.
    pub max_login_failures_per_address: u32,
    /// Largest registry file accepted by upload, bytes.
    pub max_upload_bytes: usize,
    /// Folder with the dashboards' `definitions/` and built `dist/`; empty: `dashboards/`
    /// beside the binary, else the source tree's (see `web::site`).
    pub dashboards: String,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".parse().expect("valid address"),
            tls: true,
            allowed_origins: Vec::new(),
            session_idle_minutes: 30,
            session_absolute_hours: 8,
            login_window_minutes: 15,
            max_login_failures_per_account: 5,
            max_login_failures_per_address: 20,
            max_upload_bytes: 20 * 1024 * 1024,
            dashboards: String::new(),
        }
    }
}

impl WebConfig {
    /// Session lifetimes.
    pub fn sessions(&self) -> SessionSettings {
        SessionSettings {
            idle: Duration::from_secs(u64::from(self.session_idle_minutes) * 60),
            absolute: Duration::from_secs(u64::from(self.session_absolute_hours) * 3600),
        }
    }

    /// Login throttling.
    pub fn throttle(&self) -> ThrottleSettings {
        ThrottleSettings {
            window: Duration::from_secs(u64::from(self.login_window_minutes) * 60),
            max_failures_per_account: self.max_login_failures_per_account,
            max_failures_per_address: self.max_login_failures_per_address,
        }
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: String| Err(ConfigError::Invalid { key, message });
        if !(1..=1440).contains(&self.session_idle_minutes) {
            return invalid(
                "web.session_idle_minutes",
                format!("must be 1 to 1440, not {}", self.session_idle_minutes),
            );
        }
        if !(1..=720).contains(&self.session_absolute_hours) {
            return invalid(
                "web.session_absolute_hours",
                format!("must be 1 to 720, not {}", self.session_absolute_hours),
            );
        }
        if u64::from(self.session_idle_minutes) > u64::from(self.session_absolute_hours) * 60 {
            return invalid(
                "web.session_idle_minutes",
                "must not exceed session_absolute_hours (a session could never be idle that long)"
                    .into(),
            );
        }
        if !(1..=1440).contains(&self.login_window_minutes) {
            return invalid(
                "web.login_window_minutes",
                format!("must be 1 to 1440, not {}", self.login_window_minutes),
            );
        }
        if !(1..=1000).contains(&self.max_login_failures_per_account) {
            return invalid(
                "web.max_login_failures_per_account",
                "must be 1 to 1000".into(),
            );
        }
        if self.max_login_failures_per_address < self.max_login_failures_per_account {
            return invalid(
                "web.max_login_failures_per_address",
                format!(
                    "must be at least max_login_failures_per_account ({})",
                    self.max_login_failures_per_account
                ),
            );
        }
        if self.max_upload_bytes < 1024 {
            return invalid("web.max_upload_bytes", "must be at least 1024".into());
        }
        if let Some(bad) = self
            .allowed_origins
            .iter()
            .find(|o| !(o.starts_with("https://") || o.starts_with("http://")) || o.ends_with('/'))
        {
            return invalid(
                "web.allowed_origins",
                format!("{bad:?} is not an origin like https://dash.example.gov.cn (scheme, host, optional port, no path)"),
            );
        }
        Ok(())
    }
}
