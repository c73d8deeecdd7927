//! `[grpc]`: the agents' listener and its limits.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::grpc::listener::ListenerLimits;

/// `[grpc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Address of the gRPC (TLS 1.3) listener.
    pub listen: SocketAddr,
    /// Most connections at once (handshaking or established); beyond, new ones are closed
    /// before any TLS work. Keep it below the process's file-descriptor limit.
    pub max_connections: usize,
    /// Most connections at once whose client presented no certificate (enrolment, health
    /// checks); beyond, such a connection is closed after its handshake.
    pub max_anonymous_connections: usize,
    /// Longest a connection without a client certificate stays open, seconds.
    pub anonymous_connection_seconds: u64,
    /// Most concurrent HTTP/2 streams (calls) per connection. An agent uses one stream per
    /// `SyncReports` (`[delivery] streams`, 4 by default) and a few unary calls.
    pub max_concurrent_streams: u32,
    /// Longest a call may take until its answer starts, seconds: a unary call (including
    /// the upload of its request) or the opening of a stream. A stream's reports are bounded
    /// by `max_connection_age_seconds` instead.
    pub request_timeout_seconds: u64,
    /// HTTP/2 keep-alive: a ping after this many idle seconds (0: none)…
    pub keepalive_interval_seconds: u64,
    /// …and the connection is closed when its answer takes longer than this.
    pub keepalive_timeout_seconds: u64,
    /// A connection is asked to go away (GOAWAY) after this many seconds, so no connection
    /// holds the hub for ever; agents reconnect (0: no limit).
    pub max_connection_age_seconds: u64,
    /// Calls in flight get this long to finish after the GOAWAY, seconds.
    pub max_connection_age_grace_seconds: u64,
    /// TCP keep-alive idle time, seconds (0: the system's setting).
    pub tcp_keepalive_seconds: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7443".parse().expect("valid address"),
            max_connections: 4096,
            max_anonymous_connections: 64,
            anonymous_connection_seconds: 30,
            max_concurrent_streams: 64,
            request_timeout_seconds: 120,
            keepalive_interval_seconds: 30,
            keepalive_timeout_seconds: 20,
            max_connection_age_seconds: 3600,
            max_connection_age_grace_seconds: 600,
            tcp_keepalive_seconds: 60,
        }
    }
}

impl GrpcConfig {
    /// The listener's limits.
    pub fn limits(&self) -> ListenerLimits {
        ListenerLimits {
            max_connections: self.max_connections,
            max_anonymous_connections: self.max_anonymous_connections,
            anonymous_connection_lifetime: Duration::from_secs(self.anonymous_connection_seconds),
            tcp_keepalive: seconds(self.tcp_keepalive_seconds),
        }
    }

    /// Tonic's server with the HTTP/2 limits of this section.
    pub fn server_builder(&self) -> tonic::transport::Server {
        let mut builder = tonic::transport::Server::builder()
            .max_concurrent_streams(self.max_concurrent_streams)
            .timeout(Duration::from_secs(self.request_timeout_seconds))
            .http2_keepalive_interval(seconds(self.keepalive_interval_seconds))
            .http2_keepalive_timeout(seconds(self.keepalive_timeout_seconds));
        if let Some(age) = seconds(self.max_connection_age_seconds) {
            builder =
                builder
                    .max_connection_age(age)
                    .max_connection_age_grace(Duration::from_secs(
                        self.max_connection_age_grace_seconds,
                    ));
        }
        builder
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| {
            Err(ConfigError::Invalid {
                key,
                message: message.to_owned(),
            })
        };
        if self.max_connections == 0 {
            return invalid("grpc.max_connections", "must be at least 1");
        }
        if self.max_anonymous_connections > self.max_connections {
            return invalid(
                "grpc.max_anonymous_connections",
                "must not exceed grpc.max_connections",
            );
        }
        if self.anonymous_connection_seconds == 0 {
            return invalid(
                "grpc.anonymous_connection_seconds",
                "must be at least 1 (an enrolment needs a few seconds)",
            );
        }
        if self.max_concurrent_streams == 0 {
            return invalid("grpc.max_concurrent_streams", "must be at least 1");
        }
        if self.request_timeout_seconds == 0 {
            return invalid("grpc.request_timeout_seconds", "must be at least 1");
        }
        if self.keepalive_interval_seconds > 0 && self.keepalive_timeout_seconds == 0 {
            return invalid(
                "grpc.keepalive_timeout_seconds",
                "must be at least 1 when keep-alive pings are on",
            );
        }
        Ok(())
    }
}

fn seconds(n: u64) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_and_named() {
        let ok = GrpcConfig::default();
        ok.validate().unwrap();
        let bad = GrpcConfig {
            max_anonymous_connections: 10,
            max_connections: 5,
            ..GrpcConfig::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("grpc.max_anonymous_connections"), "{err}");
        let limits = ok.limits();
        assert_eq!(
            limits.anonymous_connection_lifetime,
            Duration::from_secs(30)
        );
        assert_eq!(limits.tcp_keepalive, Some(Duration::from_secs(60)));
    }
}
