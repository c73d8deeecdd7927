//! `sme-bench-agent`: the agent's footprint — idle memory and wake-ups, memory while draining a
//! backlog of 10 000 reports into a real hub, and the drain time.
//!
//! ```sh
//! cargo build --profile agent -p sme-agent          # the build that ships (size-optimised)
//! cargo run --release -p sme-tests --bin sme-bench-agent -- --agent-binary target/agent/sme-agent
//! ```
//!
//! 1. A hub (embedded ClickHouse) starts in this process; the agent is enrolled for real and run
//!    as its release binary, `sme-agent run` (found beside this benchmark's executable).
//! 2. **Idle**: the agent starts with nothing to do; after a settling time its RSS (`VmRSS`),
//!    peak RSS (`VmHWM`) and voluntary plus involuntary context switches over `--idle-secs` are
//!    read from `/proc/<pid>` (every wake-up of any of its threads is a context switch).
//! 3. **Drain**: the agent is stopped, `--reports` reports are written into its outbox (a
//!    synthetic backlog: sample reports with 42 service records each, ~5 KB, spread as
//!    revisions over every period from 2017 on, written with SQL because the outbox itself
//!    keeps only the newest pending revision of a period), and the agent is started again. The
//!    drain time runs from the start until the outbox has nothing pending; RSS is sampled every
//!    20 ms. Afterwards ClickHouse must hold every report exactly once.
//!
//! Prints a Markdown table for docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use clap::Parser;
use prost::Message;
use sme_proto::period::{Period, PeriodKind};
use sme_tests::agent::agent_toml;
use sme_tests::{fixtures, load, platform, TestHub};

/// Agent footprint benchmark.
#[derive(Parser)]
#[command(about)]
struct Cli {
    /// Reports in the backlog.
    #[arg(long, default_value_t = 10_000)]
    reports: usize,
    /// Seconds the idle agent is watched.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// `[delivery] batch_size` (reports per SyncReports stream).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// `[delivery] streams` (SyncReports streams at the same time).
    #[arg(long, default_value_t = 4)]
    streams: usize,
    /// The hub's `[writer] min_flush_interval_ms` (default: the hub's).
    #[arg(long)]
    min_flush_interval_ms: Option<u64>,
    /// The hub's `[writer] stream_concurrency` (default: the hub's).
    #[arg(long)]
    stream_concurrency: Option<usize>,
    /// The agent binary (default: `sme-agent` beside this executable). The shipped build is
    /// `cargo build --profile agent -p sme-agent` → target/agent/sme-agent.
    #[arg(long)]
    agent_binary: Option<PathBuf>,
    /// Keep the agent's data directory (logs, agent.db) and print where it is.
    #[arg(long)]
    keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let agent_bin = match &cli.agent_binary {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("executable directory")?
            .join("sme-agent"),
    };
    ensure!(
        agent_bin.exists(),
        "{} is missing: run `cargo build --profile agent -p sme-agent` and pass \
         --agent-binary target/agent/sme-agent (or build it with --release)",
        agent_bin.display()
    );
    let binary_size = std::fs::metadata(&agent_bin)?.len();
    // Every period from 2017 on is open for the backlog's revisions (the default locks a period
    // 90 days after its due date).
    let hub = TestHub::start_with(|c| {
        c.calendar.lock_after_days = 3660;
        if let Some(ms) = cli.min_flush_interval_ms {
            c.writer.min_flush_interval_ms = ms;
        }
        if let Some(n) = cli.stream_concurrency {
            c.writer.stream_concurrency = n;
        }
    })
    .await;
    let platform_id = platform(900);
    let (dir, _identity) = hub.enroll(&platform_id).await;
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        agent_toml(
            dir.path(),
            &hub.url,
            &format!(
                "batch_size = {}\nstreams = {}\n",
                cli.batch_size, cli.streams
            ),
        )
        // The production defaults for the idle part: inbox every 60 s, daily cron.
        .replace("poll_secs = 1", "poll_secs = 60")
        .replace("cron = \"0 0 0 1 1 *\"", "cron = \"0 0 2 * * *\""),
    )?;

    // === idle ===
    eprintln!("idle: watching the agent for {} s…", cli.idle_secs);
    let mut agent = spawn(&agent_bin, &config, dir.path())?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = agent.id();
    let switches_before = context_switches(pid);
    let threads = thread_count(pid);
    tokio::time::sleep(Duration::from_secs(cli.idle_secs)).await;
    let switches_after = context_switches(pid);
    // Threads that ended in between took their counts with them; new ones count in full.
    let switches: u64 = switches_after
        .iter()
        .map(|(tid, n)| n - switches_before.get(tid).copied().unwrap_or(0).min(*n))
        .sum();
    let idle_rss = proc_status_kb(pid, "VmRSS:");
    let idle_anon = proc_status_kb(pid, "RssAnon:");
    let idle_file = proc_status_kb(pid, "RssFile:");
    let idle_hwm = proc_status_kb(pid, "VmHWM:");
    terminate(&mut agent)?;

    // === drain ===
    let db = dir.path().join("agent.db");
    eprintln!("drain: writing {} reports into the outbox…", cli.reports);
    let bytes = fill_outbox(&db, &platform_id, cli.reports)?;
    eprintln!("drain: starting the agent…");
    let started = Instant::now();
    let mut agent = spawn(&agent_bin, &config, dir.path())?;
    let pid = agent.id();
    let check = rusqlite::Connection::open(&db)?;
    let mut peak_rss = 0;
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    let drain_time = loop {
        peak_rss = peak_rss.max(proc_status_kb(pid, "VmRSS:"));
        if last_poll.elapsed() >= Duration::from_millis(100) {
            last_poll = Instant::now();
            let pending: i64 = check.query_row(
                "SELECT count(*) FROM outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            if pending == 0 {
                break started.elapsed();
            }
            ensure!(
                started.elapsed() < Duration::from_secs(600),
                "{pending} reports still pending after 10 minutes"
            );
        }
        ensure!(
            agent.try_wait()?.is_none(),
            "the agent exited during the drain"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let drain_hwm = proc_status_kb(pid, "VmHWM:");
    let drain_cpu = cpu_seconds(pid);
    terminate(&mut agent)?;

    // Every report reached ClickHouse exactly once.
    let copies = sme_tests::agent::report_copies(hub.store(), &platform_id).await;
    let delivered: i64 = check.query_row(
        "SELECT count(*) FROM outbox WHERE state = 'delivered'",
        [],
        |r| r.get(0),
    )?;
    ensure!(
        copies.len() == cli.reports && copies.values().all(|&n| n == 1),
        "ClickHouse holds {} distinct reports ({} rows), expected {} once each",
        copies.len(),
        copies.values().sum::<u64>(),
        cli.reports
    );
    ensure!(delivered as usize == cli.reports, "{delivered} delivered");

    let mib = |kb: u64| kb as f64 / 1024.0;
    let per_min = switches as f64 * 60.0 / cli.idle_secs as f64;
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| agent binary | {} ({:.1} MB) |",
        agent_bin.display(),
        binary_size as f64 / 1e6
    );
    println!(
        "| idle RSS after {} s (VmRSS) | {:.1} MiB |",
        cli.idle_secs + 5,
        mib(idle_rss)
    );
    println!(
        "| … of which anonymous (heap, stacks) / file-backed (the binary's pages) | {:.1} MiB / {:.1} MiB |",
        mib(idle_anon),
        mib(idle_file)
    );
    println!(
        "| idle peak RSS since start (VmHWM) | {:.1} MiB |",
        mib(idle_hwm)
    );
    println!("| idle threads | {threads} |");
    println!(
        "| idle wake-ups (context switches, all threads) | {switches} in {} s ({per_min:.1}/min) |",
        cli.idle_secs
    );
    println!(
        "| backlog | {} reports, {:.1} MiB encoded; batch_size {}, streams {} |",
        cli.reports,
        bytes as f64 / 1048576.0,
        cli.batch_size,
        cli.streams
    );
    println!(
        "| drain time (start → nothing pending) | {:.1} s ({:.0} reports/s) |",
        drain_time.as_secs_f64(),
        cli.reports as f64 / drain_time.as_secs_f64()
    );
    println!(
        "| RSS while draining: peak sampled VmRSS / VmHWM | {:.1} MiB / {:.1} MiB |",
        mib(peak_rss),
        mib(drain_hwm)
    );
    println!("| agent CPU time for the drain (user + system) | {drain_cpu:.2} s |");
    println!("| hub | {} |", load::ingest_stages(&hub.running().metrics));
    println!(
        "| in ClickHouse afterwards | {} reports, each once |",
        copies.len()
    );
    hub.stop().await;
    if cli.keep {
        eprintln!("agent data and logs kept in {}", dir.keep().display());
    }
    Ok(())
}

fn spawn(bin: &Path, config: &Path, dir: &Path) -> anyhow::Result<Child> {
    let log = std::fs::File::create(dir.join(format!(
        "agent-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    )))?;
    Command::new(bin)
        .arg("--config")
        .arg(config)
        .arg("run")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("starting sme-agent")
}

fn terminate(child: &mut Child) -> anyhow::Result<()> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    let status = child.wait()?;
    ensure!(status.success(), "sme-agent exited with {status}");
    Ok(())
}

/// Writes `n` pending reports into the outbox; returns their total encoded size.
fn fill_outbox(db: &Path, platform_id: &str, n: usize) -> anyhow::Result<usize> {
    let now = time::OffsetDateTime::now_utc();
    let mut periods = Vec::new();
    for kind in [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year] {
        let mut p = Period::containing(kind, now)?;
        while let Some(prev) = p.previous() {
            if prev.year() < 2017 {
                break;
            }
            periods.push(prev);
            p = prev;
        }
    }
    let mut conn = rusqlite::Connection::open(db)?;
    let tx = conn.transaction()?;
    let mut total = 0;
    let now_ms = (now.unix_timestamp_nanos() / 1_000_000) as i64;
    {
        let mut insert = tx.prepare(
            "INSERT INTO outbox (report_id, period, revision, report, state, next_attempt_at,
                                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?5)",
        )?;
        for i in 0..n {
            let period = periods[i % periods.len()];
            let revision = (i / periods.len()) as u32;
            let mut report = fixtures::sample_report(platform_id, &period.to_string());
            report.revision = revision;
            let bytes = report.encode_to_vec();
            total += bytes.len();
            insert.execute(rusqlite::params![
                report.report_id,
                period.to_string(),
                revision,
                bytes,
                now_ms
            ])?;
        }
    }
    tx.commit()?;
    Ok(total)
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) of the process so far, seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

fn tasks(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

fn thread_count(pid: u32) -> usize {
    tasks(pid).len()
}

/// Voluntary + involuntary context switches per thread id.
fn context_switches(pid: u32) -> std::collections::HashMap<String, u64> {
    tasks(pid)
        .iter()
        .filter_map(|t| {
            let status = std::fs::read_to_string(t.join("status")).ok()?;
            let n = status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
            Some((t.file_name()?.to_string_lossy().into_owned(), n))
        })
        .collect()
}
