//! The hub's HTTP server (`[http] listen`): operational endpoints now, dashboards and exports
//! later. Plain HTTP on purpose: bind it to a management network or put it behind the
//! ministry's reverse proxy.
//!
//! | route | what |
//! |---|---|
//! | `GET /metrics` | Prometheus text format, see [`metrics`] |
//! | `GET /healthz` | liveness: `200 ok` while the hub serves, `503 shutting down` once a shutdown began |
//! | `GET /readyz` | readiness: `200 ready` while ClickHouse answers within [`READY_PROBE_TIMEOUT`], else `503` with the reason (a load balancer then stops sending agents to a hub that could only answer UNAVAILABLE) |
//!
//! Add routes by merging another `Router<HttpState>` in [`router`]; [`HttpState`] carries what
//! handlers share (the store for queries, the metrics).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::store::Store;

pub mod api;
pub mod dashboards;
pub mod listener;
pub mod metrics;
pub mod site;

pub use metrics::Metrics;

/// What every HTTP handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    /// The hub's ClickHouse store, for dashboards and exports.
    pub store: Store,
    /// The hub's metrics.
    pub metrics: Arc<Metrics>,
    /// False once a shutdown began.
    pub serving: Arc<AtomicBool>,
}

/// Every route of the HTTP server.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics_text(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    if state.serving.load(Ordering::SeqCst) {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    }
}

/// How long `/readyz` waits for ClickHouse (load balancers probe every few seconds).
pub const READY_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    if !state.serving.load(Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down\n".to_owned(),
        );
    }
    match state.store.probe(READY_PROBE_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: ClickHouse cannot take reports now ({e})\n"),
        ),
    }
}

/// A running HTTP server.
pub struct HttpServer {
    /// Where it listens (useful with port 0).
    pub addr: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl HttpServer {
    /// Serves `router` on `listener` until [`HttpServer::stop`].
    pub fn spawn(listener: TcpListener, router: Router) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            addr,
            shutdown,
            task,
        })
    }

    /// Stops accepting, finishes requests in flight, and returns.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "HTTP server failed"),
            Err(e) => tracing::error!(error = %e, "HTTP server task panicked"),
        }
    }
}
