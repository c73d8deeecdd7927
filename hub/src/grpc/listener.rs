//! The agents' TLS listener: accepts TCP connections, completes TLS handshakes off the accept
//! loop (one slow or hostile client cannot stall the others), and bounds what connections can
//! hold:
//!
//! - at most `max_connections` connections (handshaking or established) at once; beyond, a
//!   new TCP connection is closed at once, before any TLS work;
//! - a connection whose client presented no certificate (enrolment, health checks — or an
//!   anonymous flood) takes one of `max_anonymous_connections` places and lives at most
//!   `anonymous_connection_lifetime`, so anonymous callers can neither crowd out platforms nor
//!   hold connections open;
//! - TCP keep-alive, so connections of vanished peers are noticed.
//!
//! HTTP/2 limits (concurrent streams, request time, keep-alive pings, connection age) are
//! tonic's, set in `server.rs` from the same `[grpc]` section.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo, TlsConnectInfo};

use crate::web::Metrics;

/// A TLS handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the listener allows (`[grpc]` in the hub config).
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerLimits {
    pub max_connections: usize,
    pub max_anonymous_connections: usize,
    pub anonymous_connection_lifetime: Duration,
    /// Idle time before TCP keep-alive probes; `None` leaves the system's setting.
    pub tcp_keepalive: Option<Duration>,
}

/// An accepted connection: the TLS stream, its place among the connections, and (without a
/// client certificate) a deadline after which it fails.
pub struct Conn {
    stream: TlsStream<TcpStream>,
    _place: OwnedSemaphorePermit,
    _anonymous: Option<OwnedSemaphorePermit>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Conn {
    /// Fails reads and writes once the deadline has passed (polling registers the wake-up).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }
}

fn lifetime_over() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "connection without a client certificate reached its lifetime",
    )
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.expired(cx) {
            return Poll::Ready(Err(lifetime_over()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

impl Connected for Conn {
    // The TLS stream's own: `Request::peer_certs` and the gate read it.
    type ConnectInfo = TlsConnectInfo<TcpConnectInfo>;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

/// Accepts connections on `listener` within `limits`; the stream ends when its receiver is
/// dropped (the gRPC server stopped), releasing the port.
pub fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    limits: ListenerLimits,
    metrics: Arc<Metrics>,
) -> ReceiverStream<Result<Conn, io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(128);
    let places = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let anonymous = Arc::new(Semaphore::new(limits.max_anonymous_connections));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                // The server stopped: release the port now, not at the next connection attempt
                // (a restarted hub must be able to bind it again).
                () = tx.closed() => break,
            };
            let (tcp, addr) = match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(place) = places.clone().try_acquire_owned() else {
                metrics.grpc_refused.inc("connections");
                tracing::debug!(%addr, "connection limit reached; connection closed");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            if let Some(idle) = limits.tcp_keepalive {
                let keepalive = socket2::TcpKeepalive::new().with_time(idle);
                if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
                    tracing::debug!(%addr, error = %e, "cannot set TCP keep-alive");
                }
            }
            let acceptor = acceptor.clone();
            let handshake_tx = tx.clone();
            let (anonymous, metrics) = (anonymous.clone(), metrics.clone());
            let lifetime = limits.anonymous_connection_lifetime;
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                    .await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%addr, "TLS handshake timed out"),
                };
                let has_certificate = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty());
                let (anonymous_place, deadline) = if has_certificate {
                    (None, None)
                } else {
                    let Ok(p) = anonymous.try_acquire_owned() else {
                        metrics.grpc_refused.inc("anonymous_connections");
                        return tracing::debug!(%addr,
                            "limit of connections without a client certificate reached; closed");
                    };
                    (Some(p), Some(Box::pin(tokio::time::sleep(lifetime))))
                };
                let conn = Conn {
                    stream,
                    _place: place,
                    _anonymous: anonymous_place,
                    deadline,
                };
                let _ = handshake_tx.send(Ok(conn)).await;
            });
            if tx.is_closed() {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}
