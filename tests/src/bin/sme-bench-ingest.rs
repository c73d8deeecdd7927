//! `sme-bench-ingest`: hub ingestion throughput against its baselines, in one run on one machine.
//!
//! ```sh
//! cargo run --release -p sme-tests --bin sme-bench-ingest -- --agents 30000
//! ```
//!
//! 1. **hub**: a hub (embedded ClickHouse) receives every simulated agent's reports over mutual
//!    TLS (each agent its own certificate and connection), validating and group-committing them;
//!    verified afterwards (every accepted report once, exactly the invalid ones rejected).
//! 2. **raw bulk insert** (the practical limit): the identical rows of the valid reports written
//!    straight into the same ClickHouse with the store's RowBinary insert, `--raw-batch` reports
//!    per insert, one insert at a time.
//! 3. **naive**: one insert per report (`Store::insert_reports` of one report: one HTTP insert
//!    per table), `--naive-concurrency` at a time, over the first `--naive-reports` reports.
//!
//! Each baseline writes into its own database of the same server. Prints a Markdown table and
//! the machine description for docs/benchmarks.md.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use sme_hub::store::{AcceptedReport, ClickHouseConfig, Store};
use sme_tests::load::{self, LoadConfig};
use sme_tests::TestHub;

/// Hub ingestion benchmark (end to end, raw bulk insert, naive per-report insert).
#[derive(Parser)]
#[command(about)]
struct Cli {
    /// Simulated agents; every third sends a second (quarterly) report.
    #[arg(long, default_value_t = 30_000)]
    agents: usize,
    /// Agents sending at the same time.
    #[arg(long, default_value_t = 400)]
    concurrency: usize,
    /// Share of invalid reports.
    #[arg(long, default_value_t = 0.05)]
    invalid_rate: f64,
    /// Reports per insert of the raw baseline.
    #[arg(long, default_value_t = 10_000)]
    raw_batch: usize,
    /// Reports sent by the naive baseline.
    #[arg(long, default_value_t = 3_000)]
    naive_reports: usize,
    /// Inserts in flight in the naive baseline.
    #[arg(long, default_value_t = 16)]
    naive_concurrency: usize,
    /// `[writer] queue_capacity` of the hub.
    #[arg(long, default_value_t = 10_000)]
    queue_capacity: usize,
    /// `[writer] flushes_in_flight` of the hub (default: the hub's).
    #[arg(long)]
    flushes_in_flight: Option<usize>,
    /// `[writer] max_delay_ms` of the hub (default: the hub's).
    #[arg(long)]
    max_delay_ms: Option<u64>,
    /// `[writer] min_flush_interval_ms` of the hub (default: the hub's).
    #[arg(long)]
    min_flush_interval_ms: Option<u64>,
    /// Agents sent to a second hub configured as the naive design (one insert per report).
    #[arg(long, default_value_t = 1_000)]
    naive_hub_agents: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // A short registry TTL: the platforms are registered after the hub started, and the
    // hub's registry copy (loaded at start) must be reloaded once before the agents send, as
    // it would have been long before a real deadline.
    let hub = TestHub::start_with(|c| {
        c.writer.queue_capacity = cli.queue_capacity;
        if let Some(n) = cli.flushes_in_flight {
            c.writer.flushes_in_flight = n;
        }
        if let Some(ms) = cli.max_delay_ms {
            c.writer.max_delay_ms = ms;
        }
        if let Some(ms) = cli.min_flush_interval_ms {
            c.writer.min_flush_interval_ms = ms;
        }
        c.registry.cache_seconds = 5;
    })
    .await;
    let ch_url = hub.running().clickhouse_url.clone();
    eprintln!("ClickHouse at {ch_url}");
    let cfg = LoadConfig {
        agents: cli.agents,
        concurrency: cli.concurrency,
        invalid_rate: cli.invalid_rate,
        retry_cap: Duration::from_millis(500),
        ..LoadConfig::default()
    };
    eprintln!("preparing {} agents…", cfg.agents);
    let agents = load::prepare_agents(&hub.config.ca_dir(), &cfg).await?;
    load::register(hub.store(), &agents).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let raw_rows = load::accepted_rows_for(&agents, "bench-raw");
    let naive_rows: Vec<AcceptedReport> = load::accepted_rows_for(&agents, "bench-naive")
        .into_iter()
        .take(cli.naive_reports)
        .collect();

    // 1. The hub, end to end.
    eprintln!("hub: sending…");
    let report = load::run(&hub.url, agents, &cfg).await;
    eprint!("{}", report.summary());
    let v = load::verify(hub.store(), &report, &cfg).await?;
    anyhow::ensure!(v.is_ok(), "verification failed: {:#?}", v.problems);
    let metrics = hub.running().metrics.clone();
    let hub_secs = report.elapsed.as_secs_f64();
    let hub_accepted = report.accepted().count();
    let hub_rows = report.accepted_rows();
    tokio::time::sleep(Duration::from_secs(5)).await;

    // 2. Raw bulk insert of the identical rows.
    let raw_store = store(&hub, "bench_raw").await?;
    let rows_of = |r: &[AcceptedReport]| -> usize {
        r.iter()
            .map(|a| 1 + a.report.volumes.len() + a.report.service_records.len())
            .sum()
    };
    let started = Instant::now();
    for chunk in raw_rows.chunks(cli.raw_batch) {
        raw_store.insert_reports(chunk).await?;
    }
    let raw_secs = started.elapsed().as_secs_f64();
    let raw_total_rows = rows_of(&raw_rows);
    eprintln!(
        "raw: {} reports, {raw_total_rows} rows in {raw_secs:.2} s",
        raw_rows.len()
    );
    tokio::time::sleep(Duration::from_secs(5)).await;

    // 3. Naive: one insert per report.
    let naive_store = store(&hub, "bench_naive").await?;
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(naive_rows.iter())
        .map(|r| {
            let s = naive_store.clone();
            async move {
                let t = Instant::now();
                s.insert_reports(std::slice::from_ref(r))
                    .await
                    .map(|_| t.elapsed())
            }
        })
        .buffer_unordered(cli.naive_concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let naive_secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let naive_total_rows = rows_of(&naive_rows);
    let pct = |l: &[Duration], p: f64| {
        l.get(((p / 100.0) * (l.len().max(1) - 1) as f64).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };

    // 4. The naive design end to end: the same hub, but every report is its own batch (one
    //    insert per table per report), up to 16 at once, on a fresh hub and ClickHouse.
    hub.stop().await;
    let naive_hub = TestHub::start_with(|c| {
        c.registry.cache_seconds = 5;
        c.writer.max_batch_reports = 1;
        c.writer.max_delay_ms = 0;
        c.writer.min_flush_interval_ms = 0;
        c.writer.flushes_in_flight = 16;
    })
    .await;
    let naive_cfg = LoadConfig {
        agents: cli.naive_hub_agents,
        first_platform: 1_000_000,
        ..cfg.clone()
    };
    let naive_agents = load::prepare_agents(&naive_hub.config.ca_dir(), &naive_cfg).await?;
    load::register(naive_hub.store(), &naive_agents).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    eprintln!("naive hub: sending…");
    let naive_report = load::run(&naive_hub.url, naive_agents, &naive_cfg).await;
    eprint!("{}", naive_report.summary());
    let nv = load::verify(naive_hub.store(), &naive_report, &naive_cfg).await?;
    anyhow::ensure!(
        nv.is_ok(),
        "naive hub verification failed: {:#?}",
        nv.problems
    );
    let naive_hub_secs = naive_report.elapsed.as_secs_f64();
    let naive_hub_accepted = naive_report.accepted().count();
    let naive_hub_rows = naive_report.accepted_rows();
    let naive_hub_rps = naive_hub_accepted as f64 / naive_hub_secs;

    let version: String = naive_hub
        .store()
        .client()
        .query("SELECT version()")
        .fetch_one()
        .await?;
    let hub_rps = hub_accepted as f64 / hub_secs;
    let raw_rps = raw_rows.len() as f64 / raw_secs;
    let naive_rps = naive_rows.len() as f64 / naive_secs;
    println!("### Machine\n");
    println!("```\n{}```\n", machine(&version));
    println!("### Results\n");
    println!("| design | reports | rows | seconds | reports/s | rows/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| hub end to end (mTLS, validation, group commit) | {hub_accepted} | {hub_rows} | {hub_secs:.1} | {hub_rps:.0} | {:.0} | {:.1} | {:.1} |",
        hub_rows as f64 / hub_secs,
        report.latency_percentile(50.0).as_secs_f64() * 1000.0,
        report.latency_percentile(99.0).as_secs_f64() * 1000.0,
    );
    println!(
        "| (a) raw bulk insert, {} reports per insert | {} | {raw_total_rows} | {raw_secs:.1} | {raw_rps:.0} | {:.0} | | |",
        cli.raw_batch,
        raw_rows.len(),
        raw_total_rows as f64 / raw_secs,
    );
    println!(
        "| (b) naive, one insert per report, {} in flight | {} | {naive_total_rows} | {naive_secs:.1} | {naive_rps:.0} | {:.0} | {:.1} | {:.1} |",
        cli.naive_concurrency,
        naive_rows.len(),
        naive_total_rows as f64 / naive_secs,
        pct(&latencies, 50.0),
        pct(&latencies, 99.0),
    );
    println!(
        "| (b') naive design end to end: the hub with one insert per report (`max_batch_reports = 1`, 16 flushes in flight) | {naive_hub_accepted} | {naive_hub_rows} | {naive_hub_secs:.1} | {naive_hub_rps:.0} | {:.0} | {:.1} | {:.1} |",
        naive_hub_rows as f64 / naive_hub_secs,
        naive_report.latency_percentile(50.0).as_secs_f64() * 1000.0,
        naive_report.latency_percentile(99.0).as_secs_f64() * 1000.0,
    );
    println!(
        "\nhub ÷ raw = {:.0} % (goal ≥ 50 %), hub ÷ naive inserts (b) = {:.1}×, hub ÷ naive hub (b') = {:.1}× (goal ≥ 10×)\n",
        100.0 * hub_rps / raw_rps,
        hub_rps / naive_rps,
        hub_rps / naive_hub_rps
    );
    println!(
        "hub run: {} reports answered ({} rejected as invalid), {} RESOURCE_EXHAUSTED retries; {}",
        report.sent.len(),
        report.sent.iter().filter(|s| s.outcome.is_err()).count(),
        report.sent.iter().map(|s| s.busy).sum::<u32>(),
        load::ingest_stages(&metrics),
    );
    naive_hub.stop().await;
    Ok(())
}

async fn store(hub: &TestHub, database: &str) -> anyhow::Result<Store> {
    Store::connect(&ClickHouseConfig {
        database: database.to_owned(),
        ..hub.clickhouse_config()
    })
    .await
    .with_context(|| format!("database {database}"))
}

fn machine(clickhouse_version: &str) -> String {
    let run = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("PRETTY_NAME="))
        .unwrap_or_default()
        .to_owned();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .unwrap_or_default()
        .to_owned();
    format!(
        "nproc: {}{cpu}\n{}{os}\nClickHouse {clickhouse_version}\n",
        run("nproc", &[]),
        run("free", &["-h"]),
    )
}
