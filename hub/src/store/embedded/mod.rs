//! A private `clickhouse-server` process: the hub's default store when `[clickhouse] url` is
//! empty, and the real server behind the end-to-end tests.
//!
//! Everything lives under one data directory, which may be reused across restarts:
//!
//! | path | what |
//! |---|---|
//! | `config.xml`, `users.xml` | written at every start (ports change; the data does not); `users.xml` holds the accounts' SHA-256 only |
//! | `sme-accounts.toml` (0600) | the accounts' passwords, generated at the first start (see [`accounts`]) |
//! | `config.d/sme-clusters.xml` | the `remote_servers` of [`EmbeddedOptions::clusters`] or [`EmbeddedClickHouse::set_clusters`] (reloaded by the running server) |
//! | `data/`, `metadata/`, `tmp/`, `user_files/`, `format_schemas/`, `status` … | ClickHouse's own |
//! | `log/clickhouse-server.log`, `log/clickhouse-server.err.log` | server logs (10 MB × 3) |
//! | `log/stdout.log`, `log/stderr.log` | anything the process prints |
//!
//! The server listens on 127.0.0.1 only, on two free ports found by binding port 0 (retried if
//! another process wins the race). It has no `default` user: only the hub's three accounts
//! ([`crate::store::accounts`]) log in, each with its password, from loopback.
//!
//! The server is started through a small `/bin/sh` launcher that holds the read end of a pipe
//! whose write end only this process has. When this process exits — even by `SIGKILL`, even
//! with the handle in a `static` that is never dropped — the pipe closes and the launcher stops
//! the server, so no orphaned server keeps the data directory locked. The same pipe carries the
//! graceful `term` and forceful `kill` requests of [`EmbeddedClickHouse::stop`], which keeps this
//! crate free of `unsafe` signal calls.
//!
//! A supervisor task owns the process: it restarts the server (same ports, same data) with
//! exponential backoff if it exits unexpectedly, and stops it on [`EmbeddedClickHouse::stop`] or
//! drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Account, Accounts, ClickHouseConfig, StoreError};

pub mod accounts;
mod layout;
mod process;

use layout::Layout;
use process::{http_get, serves, start_once, supervisor, Running, StartFailure, POLL_INTERVAL};

/// Directories searched after `$PATH` (Debian puts the server in `/usr/sbin`, which is not on a
/// normal user's `PATH`).
const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];
/// Fresh port pairs tried when another process takes a picked port first.
const MAX_PORT_ATTEMPTS: u32 = 8;
/// Pause before retrying while a previous server still holds the data directory's lock.
const LOCK_RETRY: Duration = Duration::from_millis(500);

/// How to find and run the embedded server. `Default` suits the hub and tests.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The server binary. `None` searches `clickhouse-server`, then `clickhouse` (run as
    /// `clickhouse server`), in [`Self::search_dirs`].
    pub binary: Option<PathBuf>,
    /// Where to search when `binary` is `None`. `None`: `$PATH`, then `/usr/sbin`, `/usr/bin`,
    /// `/usr/local/sbin`, `/usr/local/bin`.
    pub search_dirs: Option<Vec<PathBuf>>,
    /// Restart the server when it exits unexpectedly.
    pub supervise: bool,
    /// How long a start (or restart) may take before it is abandoned.
    pub startup_timeout: Duration,
    /// How long a graceful stop may take before the server is killed.
    pub shutdown_timeout: Duration,
    /// Size of the mark cache and of the (per-query opt-in) uncompressed cache, in bytes. The
    /// server's defaults (5 GB, 8 GB) are sized for a dedicated machine.
    pub cache_bytes: u64,
    /// `max_memory_usage` of one query, in bytes.
    pub max_query_memory_bytes: u64,
    /// Clusters for `remote_servers` (Distributed tables), e.g. several embedded servers as the
    /// shards of one test cluster. See also [`EmbeddedClickHouse::set_clusters`].
    pub clusters: Vec<ClusterSpec>,
    /// The password file ([`accounts`]). `None`: `sme-accounts.toml` in the data directory.
    /// Servers of one cluster share one, so one set of accounts logs in on every node.
    pub accounts_file: Option<PathBuf>,
    /// Log every query in `system.query_log` (with the user who ran it), for tests.
    pub log_queries: bool,
}

/// One cluster of `remote_servers`: shards, each a list of replicas' native-protocol addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Cluster name, as Distributed tables and `[clickhouse] cluster` name it.
    pub name: String,
    /// Per shard, its replicas as (host, native TCP port).
    pub shards: Vec<Vec<(String, u16)>>,
    /// Who a Distributed table logs in as on the replicas.
    pub account: Account,
}

impl ClusterSpec {
    /// A cluster with one single-replica shard per server, reached as the ingest account of
    /// the first (the servers share their accounts: [`EmbeddedOptions::accounts_file`]).
    pub fn one_replica_per_shard(name: &str, servers: &[&EmbeddedClickHouse]) -> Self {
        Self {
            name: name.to_owned(),
            shards: servers
                .iter()
                .map(|s| vec![("127.0.0.1".to_owned(), s.tcp_port())])
                .collect(),
            account: servers
                .first()
                .map(|s| s.accounts().ingest.clone())
                .unwrap_or_default(),
        }
    }

    fn replicas(&self) -> usize {
        self.shards.iter().map(Vec::len).sum()
    }
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            binary: None,
            search_dirs: None,
            supervise: true,
            startup_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            cache_bytes: 64 << 20,
            max_query_memory_bytes: 4 << 30,
            clusters: Vec::new(),
            accounts_file: None,
            log_queries: false,
        }
    }
}

/// A running private ClickHouse server. See the module docs.
///
/// Dropping it asks the supervisor to stop the server in the background; call
/// [`EmbeddedClickHouse::stop`] to wait until it is down (e.g. before restarting on the same
/// data directory).
pub struct EmbeddedClickHouse {
    layout: Arc<Layout>,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

// === impl EmbeddedClickHouse ===

impl EmbeddedClickHouse {
    /// Starts a supervised server with data in `data_dir` (created if missing) and waits until
    /// it answers `/ping`. Must run inside a tokio runtime, which then hosts the supervisor.
    pub async fn start(data_dir: &Path) -> Result<Self, StoreError> {
        Self::start_with(data_dir, EmbeddedOptions::default()).await
    }

    /// [`EmbeddedClickHouse::start`] with explicit options.
    pub async fn start_with(data_dir: &Path, options: EmbeddedOptions) -> Result<Self, StoreError> {
        let binary = find_server(&options)?;
        fs::create_dir_all(data_dir).map_err(|e| StoreError::io("create", data_dir, e))?;
        let data_dir =
            fs::canonicalize(data_dir).map_err(|e| StoreError::io("resolve", data_dir, e))?;
        let log_dir = data_dir.join("log");
        fs::create_dir_all(&log_dir).map_err(|e| StoreError::io("create", &log_dir, e))?;
        let accounts = accounts::load_or_create(&accounts_path(&data_dir, &options))?;

        let deadline = Instant::now() + options.startup_timeout;
        let mut port_attempts = 0;
        loop {
            let (http_port, tcp_port) = pick_ports()?;
            let layout = Layout {
                binary: binary.clone(),
                data_dir: data_dir.clone(),
                http_port,
                tcp_port,
                options: options.clone(),
                accounts: accounts.clone(),
            };
            layout.write_config()?;
            match start_once(&layout, deadline).await {
                Ok(running) => {
                    tracing::info!(
                        binary = %layout.binary.path.display(),
                        data_dir = %layout.data_dir.display(),
                        http_port,
                        tcp_port,
                        pid = running.pid,
                        "embedded ClickHouse is up"
                    );
                    return Ok(Self::supervise(layout, running));
                }
                Err(StartFailure::PortInUse(tail)) => {
                    port_attempts += 1;
                    if port_attempts >= MAX_PORT_ATTEMPTS {
                        return Err(StoreError::Embedded(format!(
                            "no free port pair found after {port_attempts} attempts; {tail}"
                        )));
                    }
                    tracing::debug!(http_port, tcp_port, "port taken meanwhile; picking others");
                }
                Err(StartFailure::Locked(tail)) => {
                    if Instant::now() + LOCK_RETRY >= deadline {
                        return Err(StoreError::Embedded(format!(
                            "another ClickHouse server is still running with data dir {}: stop \
                             it or use another data dir; {tail}",
                            data_dir.display()
                        )));
                    }
                    // Usually the previous instance on this directory is still shutting down.
                    tokio::time::sleep(LOCK_RETRY).await;
                }
                Err(StartFailure::Failed(e)) => return Err(e),
            }
        }
    }

    /// `http://127.0.0.1:<port>`, stable across supervised restarts.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.layout.http_port)
    }

    /// The native-protocol port, for `clickhouse-client --port`.
    pub fn tcp_port(&self) -> u16 {
        self.layout.tcp_port
    }

    /// The (canonical) data directory.
    pub fn data_dir(&self) -> &Path {
        &self.layout.data_dir
    }

    /// Store settings for this server: its three accounts.
    pub fn client_config(&self, database: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.http_url(),
            database: database.to_owned(),
            accounts: self.layout.accounts.clone(),
        }
    }

    /// The accounts that log in on this server, passwords included.
    pub fn accounts(&self) -> &Accounts {
        &self.layout.accounts
    }

    /// Process id of the server, or `None` while it is down (between a crash and its restart).
    pub fn pid(&self) -> Option<u32> {
        match self.pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    /// How many times the supervisor has restarted the server.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// True when the server answers `/ping` and serves this data directory.
    pub async fn ping(&self) -> bool {
        serves(&self.layout).await
    }

    /// Replaces the server's `remote_servers` with `clusters` while it runs, and waits until
    /// `system.clusters` shows them (the server re-reads its configuration every few seconds).
    pub async fn set_clusters(&self, clusters: &[ClusterSpec]) -> Result<(), StoreError> {
        self.layout.write_clusters(clusters)?;
        let deadline = Instant::now() + self.layout.options.startup_timeout;
        let expected: usize = clusters.iter().map(ClusterSpec::replicas).sum();
        let names: Vec<String> = clusters
            .iter()
            .map(|c| format!("'{}'", c.name.replace(['\'', '\\'], "")))
            .collect();
        let query = format!(
            "/?query=SELECT%20count()%20FROM%20system.clusters%20WHERE%20cluster%20IN%20({})",
            names.join(",").replace('\'', "%27")
        );
        loop {
            let seen = http_get(&self.layout, &query)
                .await
                .and_then(|body| body.trim().parse::<usize>().ok());
            if seen == Some(expected) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StoreError::Embedded(format!(
                    "the server did not load the cluster configuration within {:?} (it shows {seen:?} of {expected} replicas)",
                    self.layout.options.startup_timeout
                )));
            }
            tokio::time::sleep(POLL_INTERVAL * 5).await;
        }
    }

    /// Stops the server gracefully (killing it after the shutdown timeout) and waits until it is
    /// down. Problems are logged; there is nothing a caller could do about them.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "embedded ClickHouse supervisor failed");
            }
        }
    }

    fn supervise(layout: Layout, running: Running) -> Self {
        let layout = Arc::new(layout);
        let pid = Arc::new(AtomicU32::new(running.pid));
        let restarts = Arc::new(AtomicU32::new(0));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(supervisor(
            layout.clone(),
            running,
            pid.clone(),
            restarts.clone(),
            shutdown_rx,
        ));
        Self {
            layout,
            pid,
            restarts,
            shutdown,
            task: Some(task),
        }
    }
}

impl Drop for EmbeddedClickHouse {
    fn drop(&mut self) {
        // The supervisor stops the server gracefully if the runtime lives on; if the runtime is
        // going away too, dropping the task closes the control pipe and the launcher stops it.
        let _ = self.shutdown.send(true);
    }
}

impl std::fmt::Debug for EmbeddedClickHouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedClickHouse")
            .field("url", &self.http_url())
            .field("data_dir", &self.layout.data_dir)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

/// The accounts of the embedded server with data in `data_dir` (created with fresh passwords if
/// it has none yet), for a process that connects to a server another process runs, such as an
/// admin command beside a running hub.
pub fn load_accounts(data_dir: &Path) -> Result<Accounts, StoreError> {
    fs::create_dir_all(data_dir).map_err(|e| StoreError::io("create", data_dir, e))?;
    accounts::load_or_create(&data_dir.join(accounts::ACCOUNTS_FILE))
}

fn accounts_path(data_dir: &Path, options: &EmbeddedOptions) -> PathBuf {
    options
        .accounts_file
        .clone()
        .unwrap_or_else(|| data_dir.join(accounts::ACCOUNTS_FILE))
}

// === Finding the binary ===

#[derive(Debug, Clone)]
struct ServerBinary {
    path: PathBuf,
    /// The multi-tool `clickhouse`, run as `clickhouse server`.
    subcommand: bool,
}

fn find_server(options: &EmbeddedOptions) -> Result<ServerBinary, StoreError> {
    let is_multitool = |p: &Path| p.file_name().is_some_and(|n| n == "clickhouse");
    if let Some(path) = &options.binary {
        return if is_executable(path) {
            Ok(ServerBinary {
                subcommand: is_multitool(path),
                path: path.clone(),
            })
        } else {
            Err(StoreError::ServerNotFound {
                searched: vec![path.clone()],
            })
        };
    }
    let dirs = match &options.search_dirs {
        Some(dirs) => dirs.clone(),
        None => {
            let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default();
            for dir in SYSTEM_DIRS.iter().map(PathBuf::from) {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
            dirs
        }
    };
    for name in ["clickhouse-server", "clickhouse"] {
        if let Some(path) = dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p)) {
            return Ok(ServerBinary {
                subcommand: is_multitool(&path),
                path,
            });
        }
    }
    Err(StoreError::ServerNotFound { searched: dirs })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pick_ports() -> Result<(u16, u16), StoreError> {
    let bind = || {
        std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| Ok((l.local_addr()?.port(), l)))
            .map_err(|e| StoreError::io("bind a free port on", "127.0.0.1", e))
    };
    // Both listeners are held at once so the two ports differ.
    let (http, _a) = bind()?;
    let (tcp, _b) = bind()?;
    Ok((http, tcp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nothing_in_empty_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let options = EmbeddedOptions {
            search_dirs: Some(vec![dir.path().to_owned()]),
            ..EmbeddedOptions::default()
        };
        let err = find_server(&options).unwrap_err();
        assert!(
            matches!(err, StoreError::ServerNotFound { ref searched } if searched == &[dir.path().to_owned()])
        );
    }

    #[test]
    fn multitool_runs_as_subcommand() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("clickhouse");
        fs::write(&tool, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        let options = EmbeddedOptions {
            search_dirs: Some(vec![dir.path().to_owned()]),
            ..EmbeddedOptions::default()
        };
        let found = find_server(&options).unwrap();
        assert_eq!(found.path, tool);
        assert!(found.subcommand);
    }
}
