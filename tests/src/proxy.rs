//! A stand-in for what sits between agents and the hub in real deployments: a TLS-terminating
//! load balancer or reverse proxy that answers every request with a fixed HTTP status (403 from
//! a web application firewall, 404 from a wrong route), as real ones do while misconfigured.
//! It holds the hub's own server certificate, as such a proxy does, so the agent's TLS checks
//! pass and only the HTTP answer is wrong.

use std::net::SocketAddr;

use axum::http::StatusCode;
use tokio::task::JoinHandle;

use crate::TestHub;

/// A proxy on 127.0.0.1 answering every request with one HTTP status.
pub struct FixedStatusProxy {
    /// `https://127.0.0.1:<port>`, for the agent's `[hub] url`.
    pub url: String,
    /// Requests answered so far.
    pub answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: JoinHandle<()>,
}

impl FixedStatusProxy {
    /// Starts a proxy in front of `hub` that answers `status` to everything.
    pub async fn start(hub: &TestHub, status: u16) -> FixedStatusProxy {
        // tonic's server takes the process-wide rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (cert, key) = hub.ca().server_identity_paths();
        let identity = tonic::transport::Identity::from_pem(
            std::fs::read(cert).expect("hub server certificate"),
            std::fs::read(key).expect("hub server key"),
        );
        let status = StatusCode::from_u16(status).expect("an HTTP status");
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = answered.clone();
        let router = axum::Router::new().fallback(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // No body: tonic then reads the HTTP status (403 → PERMISSION_DENIED,
                // 404 → UNIMPLEMENTED). (A body is read as a broken gRPC frame, INTERNAL.)
                status
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .expect("proxy TLS")
                .add_routes(tonic::service::Routes::from(router))
                .serve_with_incoming(incoming)
                .await;
        });
        FixedStatusProxy {
            url: format!("https://127.0.0.1:{}", addr.port()),
            answered,
            task,
        }
    }

    /// Requests answered so far.
    pub fn answered(&self) -> usize {
        self.answered.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FixedStatusProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
