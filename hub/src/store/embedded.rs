//! A private `clickhouse-server` process: the hub's default store when `[clickhouse] url` is
//! empty, and the real server behind the end-to-end tests.
//!
//! Everything lives under one data directory, which may be reused across restarts:
//!
//! | path | what |
//! |---|---|
//! | `config.xml`, `users.xml` | written at every start (ports change; the data does not) |
//! | `config.d/sme-clusters.xml` | the `remote_servers` of [`EmbeddedOptions::clusters`] or [`EmbeddedClickHouse::set_clusters`] (reloaded by the running server) |
//! | `data/`, `metadata/`, `tmp/`, `user_files/`, `format_schemas/`, `status` … | ClickHouse's own |
//! | `log/clickhouse-server.log`, `log/clickhouse-server.err.log` | server logs (10 MB × 3) |
//! | `log/stdout.log`, `log/stderr.log` | anything the process prints |
//!
//! The server listens on 127.0.0.1 only, on two free ports found by binding port 0 (retried if
//! another process wins the race), and lets user `default` in without a password from loopback.
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

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{ClickHouseConfig, StoreError};

/// Directories searched after `$PATH` (Debian puts the server in `/usr/sbin`, which is not on a
/// normal user's `PATH`).
const SYSTEM_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];
/// How often the start-up wait polls the process and `/ping`.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long one HTTP probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Fresh port pairs tried when another process takes a picked port first.
const MAX_PORT_ATTEMPTS: u32 = 8;
/// Pause before retrying while a previous server still holds the data directory's lock.
const LOCK_RETRY: Duration = Duration::from_millis(500);
/// First and longest pause between restarts of a crashed server.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server that ran this long before exiting is restarted after `MIN_BACKOFF` again.
const STABLE_UPTIME: Duration = Duration::from_secs(60);
/// Lines of the error log quoted in errors.
const TAIL_LINES: usize = 15;

/// Runs the server (`"$@"`) with the control pipe moved to fd 3, prints its pid, and forwards
/// `term`/`kill` lines — or the end of the pipe, when the owning process is gone — as signals.
/// Exits with the server's status.
const LAUNCHER: &str = r#"exec 3<&0 0</dev/null
"$@" 3<&- >>"$SME_CH_STDOUT" 2>>"$SME_CH_STDERR" &
server=$!
echo "$server"
(
    while read -r command; do
        if [ "$command" = kill ]; then kill -s KILL "$server"; else kill -s TERM "$server"; fi
    done
    kill -s TERM "$server"
) <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait "$server"
status=$?
kill "$watcher" 2>/dev/null
exit "$status"
"#;

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
}

/// One cluster of `remote_servers`: shards, each a list of replicas' native-protocol addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    /// Cluster name, as Distributed tables and `[clickhouse] cluster` name it.
    pub name: String,
    /// Per shard, its replicas as (host, native TCP port).
    pub shards: Vec<Vec<(String, u16)>>,
}

impl ClusterSpec {
    /// A cluster with one single-replica shard per server.
    pub fn one_replica_per_shard(name: &str, servers: &[&EmbeddedClickHouse]) -> Self {
        Self {
            name: name.to_owned(),
            shards: servers
                .iter()
                .map(|s| vec![("127.0.0.1".to_owned(), s.tcp_port())])
                .collect(),
        }
    }

    fn replicas(&self) -> usize {
        self.shards.iter().map(Vec::len).sum()
    }
}

/// The `config.d` file with `remote_servers`, or `None` for no clusters.
fn clusters_xml(clusters: &[ClusterSpec]) -> Option<String> {
    if clusters.is_empty() {
        return None;
    }
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<!-- Written by sme-hub; edits are overwritten. -->\n<yandex>\n    <remote_servers>\n",
    );
    for c in clusters {
        let _ = writeln!(xml, "        <{}>", xml_escape(&c.name));
        for shard in &c.shards {
            xml.push_str("            <shard>\n");
            for (host, port) in shard {
                let _ = writeln!(
                    xml,
                    "                <replica><host>{}</host><port>{port}</port></replica>",
                    xml_escape(host)
                );
            }
            xml.push_str("            </shard>\n");
        }
        let _ = writeln!(xml, "        </{}>", xml_escape(&c.name));
    }
    xml.push_str("    </remote_servers>\n</yandex>\n");
    Some(xml)
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

    /// Store settings for this server: user `default`, no password.
    pub fn client_config(&self, database: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            url: self.http_url(),
            database: database.to_owned(),
            user: "default".to_owned(),
            password: String::new(),
        }
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
            let seen = http_get(self.layout.http_port, &query)
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

/// Owns the server process for its whole life; see the module docs.
async fn supervisor(
    layout: Arc<Layout>,
    mut running: Running,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let status = tokio::select! {
            status = running.launcher.wait() => status,
            _ = shutdown.changed() => {
                pid.store(0, Ordering::SeqCst);
                match running.stop(layout.options.shutdown_timeout).await {
                    Some(status) => tracing::info!(%status, "embedded ClickHouse stopped"),
                    None => tracing::warn!("embedded ClickHouse had to be killed"),
                }
                return;
            }
        };
        pid.store(0, Ordering::SeqCst);
        // Normally the launcher exits because the server did, and nobody reads this any more.
        // If the launcher itself was killed, its watcher may still guard a live server that
        // would hold the ports and the data dir: have it killed before starting another.
        let _ = running.control.write_all(b"kill\n").await;
        let uptime = running.started.elapsed();
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        let tail = layout.log_tail(&LogMarks::default());
        if !layout.options.supervise {
            tracing::error!(%status, ?uptime, %tail, "embedded ClickHouse exited; supervision is off");
            return;
        }
        if uptime >= STABLE_UPTIME {
            backoff = MIN_BACKOFF;
        }
        tracing::warn!(%status, ?uptime, %tail, ?backoff, "embedded ClickHouse exited unexpectedly; restarting");
        running = loop {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            let deadline = Instant::now() + layout.options.startup_timeout;
            let attempt = tokio::select! {
                attempt = start_once(&layout, deadline) => attempt,
                _ = shutdown.changed() => return,
            };
            match attempt {
                Ok(running) => break running,
                Err(failure) => tracing::error!(
                    error = %failure.into_error(),
                    next_attempt_in = ?backoff,
                    "embedded ClickHouse did not come back"
                ),
            }
        };
        pid.store(running.pid, Ordering::SeqCst);
        restarts.fetch_add(1, Ordering::SeqCst);
        tracing::info!(
            pid = running.pid,
            port = layout.http_port,
            "embedded ClickHouse restarted"
        );
    }
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

// === Layout: files and ports of one server ===

#[derive(Debug)]
struct Layout {
    binary: ServerBinary,
    data_dir: PathBuf,
    http_port: u16,
    tcp_port: u16,
    options: EmbeddedOptions,
}

impl Layout {
    fn path(&self, name: &str) -> PathBuf {
        self.data_dir.join(name)
    }

    fn error_log(&self) -> PathBuf {
        self.path("log/clickhouse-server.err.log")
    }

    fn stderr_log(&self) -> PathBuf {
        self.path("log/stderr.log")
    }

    fn write_config(&self) -> Result<(), StoreError> {
        let dir = |name: &str| xml_escape(&format!("{}/", self.path(name).display()));
        let config = format!(
            r#"<?xml version="1.0"?>
<!-- Written by sme-hub at every start of its embedded ClickHouse; edits are overwritten. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>{log}</log>
        <errorlog>{errlog}</errorlog>
        <size>10M</size>
        <count>3</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <path>{path}</path>
    <tmp_path>{tmp}</tmp_path>
    <user_files_path>{user_files}</user_files_path>
    <format_schema_path>{format_schemas}</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>{cache}</mark_cache_size>
    <uncompressed_cache_size>{cache}</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <keep_alive_timeout>3</keep_alive_timeout>
    <mlock_executable>false</mlock_executable>
</yandex>
"#,
            log = xml_escape(&self.path("log/clickhouse-server.log").display().to_string()),
            errlog = xml_escape(&self.error_log().display().to_string()),
            http_port = self.http_port,
            tcp_port = self.tcp_port,
            path = xml_escape(&format!("{}/", self.data_dir.display())),
            tmp = dir("tmp"),
            user_files = dir("user_files"),
            format_schemas = dir("format_schemas"),
            users = xml_escape(&self.path("users.xml").display().to_string()),
            cache = self.options.cache_bytes,
        );
        let users = format!(
            r#"<?xml version="1.0"?>
<!-- Written by sme-hub at every start of its embedded ClickHouse; edits are overwritten. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>{memory}</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"#,
            memory = self.options.max_query_memory_bytes,
        );
        write_atomically(&self.path("users.xml"), &users)?;
        self.write_clusters(&self.options.clusters)?;
        write_atomically(&self.path("config.xml"), &config)
    }

    /// Writes (or, for none, removes) `config.d/sme-clusters.xml`.
    fn write_clusters(&self, clusters: &[ClusterSpec]) -> Result<(), StoreError> {
        let dir = self.path("config.d");
        let path = dir.join("sme-clusters.xml");
        match clusters_xml(clusters) {
            Some(xml) => {
                fs::create_dir_all(&dir).map_err(|e| StoreError::io("create", &dir, e))?;
                write_atomically(&path, &xml)
            }
            None => match fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(StoreError::io("remove", &path, e)),
            },
        }
    }

    /// The last lines the server wrote to its error log and stderr since `marks`.
    fn log_tail(&self, marks: &LogMarks) -> String {
        let mut out = String::new();
        for (path, from) in [
            (self.error_log(), marks.error_log),
            (self.stderr_log(), marks.stderr),
        ] {
            let tail = tail_lines(&path, from, TAIL_LINES);
            if !tail.is_empty() {
                let _ = write!(out, "last lines of {}:\n{tail}\n", path.display());
            }
        }
        if out.is_empty() {
            out = format!("nothing in {}", self.error_log().display());
        }
        out
    }
}

fn write_atomically(path: &Path, contents: &str) -> Result<(), StoreError> {
    let tmp = path.with_extension("xml.tmp");
    fs::write(&tmp, contents).map_err(|e| StoreError::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| StoreError::io("write", path, e))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sizes of the logs before a start, so errors quote only what that start wrote.
#[derive(Debug, Default)]
struct LogMarks {
    error_log: u64,
    stderr: u64,
}

impl LogMarks {
    fn take(layout: &Layout) -> Self {
        let len = |p: PathBuf| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Self {
            error_log: len(layout.error_log()),
            stderr: len(layout.stderr_log()),
        }
    }
}

/// The last `n` lines of `path` after byte `from` (from the start if the file was rotated).
fn tail_lines(path: &Path, from: u64, n: usize) -> String {
    const WINDOW: u64 = 16 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let from = if from > len { 0 } else { from };
    let start = from.max(len.saturating_sub(WINDOW));
    let mut buf = Vec::new();
    if file.seek(SeekFrom::Start(start)).is_err() || file.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// === Running: one server process ===

/// One launched server; see [`LAUNCHER`]. Dropping it kills the launcher and closes the control
/// pipe, which stops the server.
struct Running {
    launcher: Child,
    control: ChildStdin,
    pid: u32,
    started: Instant,
}

impl Running {
    async fn spawn(layout: &Layout) -> Result<Self, StoreError> {
        let stderr_path = layout.stderr_log();
        let stderr = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(|e| StoreError::io("open", &stderr_path, e))?;
        let mut config_arg = OsString::from("--config-file=");
        config_arg.push(layout.path("config.xml"));

        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(LAUNCHER)
            .arg("sme-clickhouse-launcher")
            .arg(&layout.binary.path);
        if layout.binary.subcommand {
            cmd.arg("server");
        }
        cmd.arg(config_arg)
            .env("SME_CH_STDOUT", layout.path("log/stdout.log"))
            .env("SME_CH_STDERR", &stderr_path)
            .current_dir(&layout.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true);
        let mut launcher = cmd
            .spawn()
            .map_err(|e| StoreError::io("run /bin/sh to launch", &layout.binary.path, e))?;
        let control = launcher.stdin.take().expect("stdin is piped");
        let stdout = launcher.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        let read = tokio::time::timeout(
            PROBE_TIMEOUT * 5,
            BufReader::new(stdout).read_line(&mut line),
        )
        .await;
        match (read, line.trim().parse::<u32>()) {
            (Ok(Ok(_)), Ok(pid)) => Ok(Self {
                launcher,
                control,
                pid,
                started: Instant::now(),
            }),
            _ => Err(StoreError::Embedded(format!(
                "the launcher shell did not start {} (it printed {line:?})",
                layout.binary.path.display()
            ))),
        }
    }

    /// Asks for a graceful shutdown, then kills after `timeout`. `None` if even that failed.
    async fn stop(mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = self.control.write_all(b"term\n").await;
        let _ = self.control.flush().await;
        match tokio::time::timeout(timeout, self.launcher.wait()).await {
            Ok(Ok(status)) => return Some(status),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot wait for embedded ClickHouse"),
            Err(_) => tracing::warn!(
                ?timeout,
                "embedded ClickHouse did not stop in time; killing it"
            ),
        }
        let _ = self.control.write_all(b"kill\n").await;
        let _ = self.control.flush().await;
        match tokio::time::timeout(Duration::from_secs(5), self.launcher.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = self.launcher.start_kill();
                None
            }
        }
    }
}

enum StartFailure {
    /// Another process took a picked port first.
    PortInUse(String),
    /// Another server holds the data directory's `status` lock.
    Locked(String),
    Failed(StoreError),
}

impl StartFailure {
    fn into_error(self) -> StoreError {
        match self {
            Self::PortInUse(tail) => StoreError::Embedded(format!("port already in use; {tail}")),
            Self::Locked(tail) => StoreError::Embedded(format!("data dir is locked; {tail}")),
            Self::Failed(e) => e,
        }
    }
}

/// Launches the server and waits until it serves, or fails, or `deadline` passes.
async fn start_once(layout: &Layout, deadline: Instant) -> Result<Running, StartFailure> {
    let marks = LogMarks::take(layout);
    let mut running = Running::spawn(layout).await.map_err(StartFailure::Failed)?;
    loop {
        match running.launcher.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => {
                let tail = layout.log_tail(&marks);
                return Err(if tail.contains("Address already in use") {
                    StartFailure::PortInUse(tail)
                } else if tail.contains("Another server instance in same directory") {
                    StartFailure::Locked(tail)
                } else {
                    StartFailure::Failed(StoreError::Embedded(format!(
                        "{} exited during start-up ({status}); {tail}",
                        layout.binary.path.display()
                    )))
                });
            }
            Err(e) => {
                return Err(StartFailure::Failed(StoreError::io(
                    "wait for",
                    &layout.binary.path,
                    e,
                )))
            }
        }
        if serves(layout).await {
            return Ok(running);
        }
        if Instant::now() >= deadline {
            running.stop(Duration::from_secs(5)).await;
            return Err(StartFailure::Failed(StoreError::Embedded(format!(
                "{} did not answer on port {} within {:?}; {}",
                layout.binary.path.display(),
                layout.http_port,
                layout.options.startup_timeout,
                layout.log_tail(&marks)
            ))));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// True when the server on `layout.http_port` answers `/ping` and keeps its metadata in this
/// data directory — a server of another process that took the port in a race does not count.
async fn serves(layout: &Layout) -> bool {
    if http_get(layout.http_port, "/ping").await.as_deref() != Some("Ok.\n") {
        return false;
    }
    let query = "/?query=SELECT%20metadata_path%20FROM%20system.databases%20WHERE%20name%20%3D%20%27system%27";
    http_get(layout.http_port, query)
        .await
        .is_some_and(|path| Path::new(path.trim()).starts_with(&layout.data_dir))
}

/// A minimal HTTP/1.0 GET on loopback; the body of a 200 answer, else `None`.
async fn http_get(port: u16, target: &str) -> Option<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let request =
            format!("GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.take(1 << 20).read_to_end(&mut response).await.ok()?;
        let response = String::from_utf8(response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        (head.split(' ').nth(1) == Some("200")).then(|| body.to_owned())
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
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

    #[test]
    fn cluster_config_lists_shards_and_replicas() {
        assert_eq!(clusters_xml(&[]), None);
        let xml = clusters_xml(&[ClusterSpec {
            name: "two".into(),
            shards: vec![
                vec![("127.0.0.1".into(), 9001)],
                vec![("127.0.0.1".into(), 9002), ("h<2>".into(), 9003)],
            ],
        }])
        .unwrap();
        assert!(xml.contains("<two>\n            <shard>\n                <replica><host>127.0.0.1</host><port>9001</port></replica>\n            </shard>"), "{xml}");
        assert!(
            xml.contains("<host>h&lt;2&gt;</host><port>9003</port>"),
            "{xml}"
        );
        assert!(xml.ends_with("</remote_servers>\n</yandex>\n"));
    }

    #[test]
    fn escapes_paths_for_xml() {
        assert_eq!(xml_escape("/a&b/<c>"), "/a&amp;b/&lt;c&gt;");
    }

    #[test]
    fn tails_only_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("err.log");
        fs::write(&log, "old 1\nold 2\n").unwrap();
        let mark = fs::metadata(&log).unwrap().len();
        fs::write(&log, "old 1\nold 2\nnew 1\n\nnew 2").unwrap();
        assert_eq!(tail_lines(&log, mark, 10), "new 1\nnew 2");
        assert_eq!(tail_lines(&log, 0, 1), "new 2");
        // Rotated (shorter than the mark): read from the start.
        fs::write(&log, "fresh\n").unwrap();
        assert_eq!(tail_lines(&log, mark, 10), "fresh");
    }
}
