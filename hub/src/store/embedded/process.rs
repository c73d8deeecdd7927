//! One server process and its supervisor: the launcher shell, the start-up wait, restarts.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;
use tokio::time::Instant;

use super::layout::{Layout, LogMarks};
use crate::store::StoreError;

/// How often the start-up wait polls the process and `/ping`.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long one HTTP probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// First and longest pause between restarts of a crashed server.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A server that ran this long before exiting is restarted after `MIN_BACKOFF` again.
const STABLE_UPTIME: Duration = Duration::from_secs(60);

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

// === The supervisor ===

/// Owns the server process for its whole life; see the module docs.
pub(super) async fn supervisor(
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

// === Running: one server process ===

/// One launched server; see [`LAUNCHER`]. Dropping it kills the launcher and closes the control
/// pipe, which stops the server.
pub(super) struct Running {
    launcher: Child,
    control: ChildStdin,
    pub(super) pid: u32,
    started: Instant,
}

impl Running {
    pub(super) async fn spawn(layout: &Layout) -> Result<Self, StoreError> {
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

pub(super) enum StartFailure {
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
pub(super) async fn start_once(
    layout: &Layout,
    deadline: Instant,
) -> Result<Running, StartFailure> {
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
pub(super) async fn serves(layout: &Layout) -> bool {
    if http_get(layout, "/ping").await.as_deref() != Some("Ok.\n") {
        return false;
    }
    let query = "/?query=SELECT%20metadata_path%20FROM%20system.databases%20WHERE%20name%20%3D%20%27system%27";
    http_get(layout, query)
        .await
        .is_some_and(|path| Path::new(path.trim()).starts_with(&layout.data_dir))
}

/// A minimal HTTP/1.0 GET on loopback, as the analytics account (reading `system` tables is
/// all it is for); the body of a 200 answer, else `None`.
pub(super) async fn http_get(layout: &Layout, target: &str) -> Option<String> {
    let port = layout.http_port;
    let account = &layout.accounts.analytics;
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        // The passwords are hex, the user names plain: nothing to escape in a header.
        let request = format!(
            "GET {target} HTTP/1.0\r\nHost: 127.0.0.1\r\nX-ClickHouse-User: {}\r\n\
             X-ClickHouse-Key: {}\r\nConnection: close\r\n\r\n",
            account.user_name(),
            account.password
        );
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
