//! `[grpc]`: the agents' listener.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[grpc]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Address of the gRPC (TLS 1.3) listener.
    pub listen: SocketAddr,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7443".parse().expect("valid address"),
        }
    }
}
