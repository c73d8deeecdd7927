//! The gate in front of the gRPC services: a report RPC from a caller without a valid client
//! certificate is refused from its headers, before the hub reads, buffers or decodes its body
//! (up to 2 × the report limit) and before it takes any intake or audit room.
//!
//! The gate runs as a tower layer inside tonic's per-connection service, where the TLS
//! connection's certificates are in the request's extensions ([`TlsConnectInfo`]). It
//! authenticates once per call with the hub's [`Authenticator`] (revocations included) and
//! hands the [`PlatformIdentity`] to the handler in the request's extensions, so the handler
//! does not verify the chain a second time. Refused `SubmitReport` and `SyncReports` calls are
//! audited (outcome `unauthenticated`, empty report fields: the body is never read). When the
//! hub itself cannot check revocations (fail closed), the answer is `UNAVAILABLE` with a retry
//! hint instead: the hub's problem, so agents keep their reports and come back.
//! `EnrollmentService` (an agent enrols without a certificate) and health/reflection pass
//! through; connections without a certificate are limited in number and lifetime by the
//! listener (`server::listener`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::grpc::service::Hub;

/// Path prefix of the RPCs that need a platform's certificate.
pub const REPORTING_PREFIX: &str = "/sme.report.v1.ReportingService/";
/// The report RPCs whose refusals go into the audit trail.
const AUDITED: [&str; 2] = ["SubmitReport", "SyncReports"];

/// Builds [`Gate`]s around tonic's router.
#[derive(Clone)]
pub struct GateLayer {
    hub: Hub,
}

impl GateLayer {
    pub fn new(hub: Hub) -> Self {
        Self { hub }
    }
}

impl<S> tower::Layer<S> for GateLayer {
    type Service = Gate<S>;

    fn layer(&self, inner: S) -> Gate<S> {
        Gate {
            inner,
            hub: self.hub.clone(),
        }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    hub: Hub,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for Gate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<S::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        if let Some(method) = req.uri().path().strip_prefix(REPORTING_PREFIX) {
            let info = req
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .cloned();
            let certs = info.as_ref().and_then(|i| i.peer_certs());
            match self
                .hub
                .authenticate(certs.as_deref().map(|c| c.as_slice()))
            {
                Ok(identity) => {
                    req.extensions_mut().insert(identity);
                }
                Err(e) => {
                    let peer = info
                        .as_ref()
                        .and_then(|i| i.get_ref().remote_addr())
                        .map(|a| a.to_string())
                        .unwrap_or_default();
                    let status =
                        self.hub
                            .refuse_unauthenticated(AUDITED.contains(&method), peer, &e);
                    let refusal = status.into_http();
                    return Box::pin(async move { Ok(refusal) });
                }
            }
        }
        // The service that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(req))
    }
}
