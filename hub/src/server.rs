//! Starting and stopping the hub: ClickHouse (embedded or configured), the CA, the TLS listener
//! and the gRPC services, the writer, and the HTTP server (metrics, health).
//!
//! Shutdown order ([`RunningHub::shutdown`]): report NOT_SERVING (gRPC health and `/healthz`),
//! stop accepting gRPC connections and let calls in flight finish (they wait for their batch),
//! drain the writer (flushes every queued report and audit entry), stop the HTTP server, and
//! only then stop the embedded ClickHouse.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use sme_proto::v1::enrollment_service_server::EnrollmentServiceServer;
use sme_proto::v1::reporting_service_server::ReportingServiceServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::HubConfig;
use crate::grpc::service::{Hub, Ingest, ServiceSettings};
use crate::ingest::lookup::Lookups;
use crate::ingest::writer::{IngestRuntime, Writer, WriterTask};
use crate::pki::CertificateAuthority;
use crate::store::{embedded::EmbeddedClickHouse, ClickHouseConfig, Store};
use crate::web::api::audit::{AuditTask, Auditor};
use crate::web::api::{ApiInner, ApiState};
use crate::web::listener::WebServer;
use crate::web::{HttpServer, HttpState, Metrics};

/// Errors starting the hub.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error(transparent)]
    Tls(#[from] crate::pki::tls::TlsError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("cannot start the ingestion thread: {0}")]
    Thread(std::io::Error),
    #[error(transparent)]
    Spill(#[from] crate::ingest::spill::SpillError),
    #[error(transparent)]
    Site(#[from] crate::web::site::SiteError),
}

/// A running hub. Dropping it does not stop it; call [`RunningHub::shutdown`].
pub struct RunningHub {
    /// Where the gRPC listener is bound (useful with port 0).
    pub grpc_addr: SocketAddr,
    /// Where the HTTP listener (metrics, health) is bound.
    pub http_addr: SocketAddr,
    /// Where the web service (login, JSON API) is bound.
    pub web_addr: SocketAddr,
    /// Its base URL, e.g. `https://localhost:8443/`.
    pub web_url: String,
    /// The hub's metrics (also served at `/metrics`).
    pub metrics: Arc<Metrics>,
    /// The store the hub writes to.
    pub store: Store,
    /// HTTP URL of the ClickHouse server in use (embedded or configured).
    pub clickhouse_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
    writer: WriterTask,
    ingest: IngestRuntime,
    http: HttpServer,
    web: WebServer,
    web_audit: AuditTask,
    serving: Arc<AtomicBool>,
    health: tonic_health::server::HealthReporter,
    embedded: Option<EmbeddedClickHouse>,
}

impl RunningHub {
    /// Stops accepting, lets calls in flight finish, drains the writer, then stops the
    /// embedded ClickHouse.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        let RunningHub {
            store,
            shutdown,
            task,
            writer,
            ingest,
            http,
            web,
            web_audit,
            serving,
            health,
            embedded,
            ..
        } = self;
        serving.store(false, Ordering::SeqCst);
        health
            .set_not_serving::<ReportingServiceServer<Hub>>()
            .await;
        health
            .set_not_serving::<EnrollmentServiceServer<Hub>>()
            .await;
        // Calls in flight should not wait out the batch delay.
        writer.hurry();
        if let Some(tx) = shutdown {
            let _ = tx.send(());
        }
        let result = match task.await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "gRPC server task panicked");
                Ok(())
            }
        };
        tracing::info!("gRPC calls finished; draining the writer");
        writer.drain().await;
        drop(ingest);
        http.stop().await;
        web.stop().await;
        web_audit.finish().await;
        // Idle keep-alive connections would make ClickHouse wait for them before it stops.
        drop(store);
        if let Some(ch) = embedded {
            ch.stop().await;
        }
        result
    }

    /// Runs until `signal` completes, then shuts down.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<(), ServeError> {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

/// Loads the CA. A missing CA is an error naming `sme-hub ca init`: the hub never creates one
/// by itself, so a wrong `data_dir` or a lost CA directory cannot silently become a new
/// ministry CA that no enrolled agent trusts (see `docs/decisions.md`, "Identity").
pub fn load_ca(cfg: &HubConfig) -> Result<CertificateAuthority, ServeError> {
    Ok(CertificateAuthority::load(&cfg.ca_dir())?)
}

/// Starts the hub described by `cfg`.
pub async fn start(cfg: &HubConfig) -> Result<RunningHub, ServeError> {
    // The dashboard definitions are checked before anything starts: a wrong one stops the hub.
    let exe = std::env::current_exe().ok();
    let site_dir = crate::web::site::Site::locate(&cfg.web.dashboards, exe.as_deref())?;
    let site = crate::web::site::Site::load(site_dir.as_deref())?;
    if let Some(dir) = &site.dir {
        let (bytes, code) = site.sizes();
        tracing::info!(dir = %dir.display(), dashboards = site.dashboards.dashboards.len(),
            built = site.is_built(), bytes, code_bytes = code, "dashboards loaded");
    }
    let ca = load_ca(cfg)?;
    let (embedded, clickhouse) = if cfg.clickhouse.url.is_empty() {
        let dir = cfg.data_dir.join("clickhouse");
        let ch = EmbeddedClickHouse::start(&dir).await?;
        let settings = ch.client_config(&cfg.clickhouse.database);
        tracing::info!(url = %settings.url, dir = %dir.display(), "started embedded ClickHouse");
        (Some(ch), settings)
    } else {
        let settings = ClickHouseConfig {
            url: cfg.clickhouse.url.clone(),
            database: cfg.clickhouse.database.clone(),
            accounts: cfg.clickhouse.accounts()?,
        };
        (None, settings)
    };
    let clickhouse_url = clickhouse.url.clone();
    let store = Store::connect_with(&clickhouse, &cfg.store_options()).await?;
    crate::registry::prepare(&store, &cfg.registry.settings()).await?;
    let metrics = Arc::new(Metrics::default());
    ca.watch(&cfg.pki.watch_settings(), metrics.clone())?;
    let ingest_runtime = IngestRuntime::start().map_err(ServeError::Thread)?;
    let spill = crate::ingest::spill::AuditSpill::open(
        &cfg.data_dir.join("audit-spill"),
        cfg.writer.audit_spill_max_bytes,
        metrics.clone(),
    )?;
    let (writer, writer_task) = Writer::spawn(
        &ingest_runtime.handle(),
        store.clone(),
        cfg.writer.settings(),
        metrics.clone(),
        Arc::new(spill),
    );
    let ingest = Ingest {
        writer,
        lookups: Lookups::spawn(&ingest_runtime.handle(), store.clone(), metrics.clone()),
        metrics: metrics.clone(),
    };

    let tls = crate::pki::tls::server_config(&ca)?;
    let web_tls = if cfg.web.tls {
        Some(crate::pki::tls::web_server_config(&ca)?)
    } else {
        None
    };
    let settings = ServiceSettings {
        calendar: cfg.calendar.clone(),
        max_report_bytes: cfg.limits.max_report_bytes,
        client_cert_validity: time::Duration::days(cfg.pki.client_cert_days.into()),
        instance: format!("{}:{}", hostname(), std::process::id()),
        clock: cfg.clock.clone(),
        registry: cfg.registry.settings(),
        stream_concurrency: cfg.writer.stream_concurrency,
    };
    let hub = Hub::new(store.clone(), ca, settings, ingest)?;

    let listener = TcpListener::bind(cfg.grpc.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: cfg.grpc.listen,
            source,
        })?;
    let grpc_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: cfg.grpc.listen,
        source,
    })?;
    let incoming = crate::grpc::listener::accept(
        listener,
        TlsAcceptor::from(tls),
        cfg.grpc.limits(),
        metrics.clone(),
    );

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ReportingServiceServer<Hub>>()
        .await;
    health_reporter
        .set_serving::<EnrollmentServiceServer<Hub>>()
        .await;
    // Both reflection versions (many tools still ask v1alpha), each listing both.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(sme_proto::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
            .include_reflection_service(false)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the checked-in descriptor set is valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the checked-in descriptor set is valid");

    // Reports a little over the limit still decode, so rule E013 can name the limit.
    let decode_limit = cfg.limits.max_report_bytes.saturating_mul(2);
    // Report RPCs without a valid client certificate are refused from their headers, before
    // their bodies are read (`grpc::gate`).
    let router = cfg
        .grpc
        .server_builder()
        .layer(crate::grpc::gate::GateLayer::new(hub.clone()))
        .add_service(
            ReportingServiceServer::new(hub.clone()).max_decoding_message_size(decode_limit),
        )
        .add_service(EnrollmentServiceServer::new(hub))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(incoming, async {
                let _ = shutdown_rx.await;
            })
            .await
            .map_err(ServeError::from)
    });
    tracing::info!(%grpc_addr, "hub listening (gRPC over TLS 1.3)");
    let serving = Arc::new(AtomicBool::new(true));
    let http_listener =
        TcpListener::bind(cfg.http.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: cfg.http.listen,
                source,
            })?;
    let http = HttpServer::spawn(
        http_listener,
        crate::web::router(HttpState {
            store: store.clone(),
            metrics: metrics.clone(),
            serving: serving.clone(),
        }),
    )
    .map_err(|source| ServeError::Bind {
        addr: cfg.http.listen,
        source,
    })?;
    tracing::info!(http_addr = %http.addr, "HTTP listening (/metrics, /healthz)");
    let (audit, web_audit) = Auditor::spawn(store.clone());
    let api = ApiState(Arc::new(ApiInner {
        store: store.clone(),
        calendar: cfg.calendar.clone(),
        clock: cfg.clock.clone(),
        sessions: cfg.web.sessions(),
        throttle: cfg.web.throttle(),
        secure: cfg.web.tls,
        allowed_origins: cfg.web.allowed_origins.clone(),
        max_upload_bytes: cfg.web.max_upload_bytes,
        reopen_days: cfg.periods.reopen_days,
        dashboards: site.dashboards.clone(),
        demo: cfg.demo.clone(),
        audit,
        instance: format!("{}:{}", hostname(), std::process::id()),
    }));
    let bind_web = |source| ServeError::Bind {
        addr: cfg.web.listen,
        source,
    };
    let web_listener = TcpListener::bind(cfg.web.listen).await.map_err(bind_web)?;
    let web = WebServer::spawn(
        web_listener,
        web_tls,
        crate::web::api::router(api).merge(crate::web::site::router(site)),
    )
    .map_err(bind_web)?;
    let web_host = if cfg.web.listen.ip().is_unspecified() {
        cfg.pki
            .server_names
            .first()
            .cloned()
            .unwrap_or_else(|| "localhost".into())
    } else {
        cfg.web.listen.ip().to_string()
    };
    let web_url = format!("{}://{}:{}/", web.scheme, web_host, web.addr.port());
    tracing::info!(%web_url, "web service listening (/api/v1/)");
    Ok(RunningHub {
        grpc_addr,
        http_addr: http.addr,
        web_addr: web.addr,
        web_url,
        web,
        web_audit,
        metrics,
        writer: writer_task,
        ingest: ingest_runtime,
        http,
        serving,
        health: health_reporter,
        store,
        clickhouse_url,
        shutdown: Some(shutdown_tx),
        task,
        embedded,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "hub".into())
}
