//! `sme-loadgen`: simulates many platform agents reporting to a hub over mutual TLS, prints
//! throughput and latency percentiles, and checks what ClickHouse holds afterwards.
//!
//! ```sh
//! sme-loadgen --hub https://127.0.0.1:7443 --ca-dir /var/lib/sme-hub/ca \
//!     --clickhouse-url http://127.0.0.1:8123 --register --agents 30000 --concurrency 300
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sme_hub::store::{Account, ClickHouseConfig, Store};
use sme_tests::load::{self, LoadConfig};

/// Simulated agents for load tests (every agent its own client certificate).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The hub's gRPC address.
    #[arg(long, default_value = "https://127.0.0.1:7443")]
    hub: String,
    /// The hub's CA directory: client certificates are signed with its key directly.
    #[arg(long)]
    ca_dir: PathBuf,
    /// Simulated agents (platforms); every third also sends a quarterly report.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Agents sending at the same time, each on its own TLS connection.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Share of reports made invalid (each breaking one hard rule).
    #[arg(long, default_value_t = 0.05)]
    invalid_rate: f64,
    /// Number of the first simulated platform (use disjoint ranges for repeated runs).
    #[arg(long, default_value_t = 1)]
    first_platform: u32,
    /// Longest wait honoured from a retry hint, milliseconds.
    #[arg(long, default_value_t = 2000)]
    retry_cap_ms: u64,
    /// ClickHouse HTTP URL of the hub's store: to register the platforms and verify.
    #[arg(long)]
    clickhouse_url: Option<String>,
    /// ClickHouse user for `--clickhouse-url` (the hub's ingest account; the password comes from
    /// `SME_HUB_CLICKHOUSE_PASSWORD`). Empty: `default`.
    #[arg(long, default_value = "")]
    clickhouse_user: String,
    /// ClickHouse database of the hub.
    #[arg(long, default_value = "sme")]
    database: String,
    /// Register the simulated platforms in the hub's registry first (rule E004).
    #[arg(long)]
    register: bool,
    /// Register the platforms and stop (run again without it once the hub's registry copy
    /// has expired, `[registry] cache_seconds`, so the measured run has no registry misses).
    #[arg(long, requires = "register")]
    register_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = LoadConfig {
        agents: cli.agents,
        concurrency: cli.concurrency,
        invalid_rate: cli.invalid_rate,
        first_platform: cli.first_platform,
        retry_cap: Duration::from_millis(cli.retry_cap_ms),
        ..LoadConfig::default()
    };
    let store = match &cli.clickhouse_url {
        Some(url) => Some(
            Store::connect(&ClickHouseConfig::single(
                url.clone(),
                cli.database.clone(),
                Account::new(
                    cli.clickhouse_user.clone(),
                    std::env::var("SME_HUB_CLICKHOUSE_PASSWORD").unwrap_or_default(),
                ),
            ))
            .await
            .context("connecting to ClickHouse")?,
        ),
        None => None,
    };
    eprintln!(
        "preparing {} agents (keys, certificates, reports)…",
        cfg.agents
    );
    let agents = load::prepare_agents(&cli.ca_dir, &cfg).await?;
    if cli.register {
        let store = store
            .as_ref()
            .context("--register needs --clickhouse-url")?;
        load::register(store, &agents).await?;
        eprintln!("registered {} platforms", agents.len());
        if cli.register_only {
            return Ok(());
        }
    }
    eprintln!("sending ({} at a time)…", cfg.concurrency);
    let report = load::run(&cli.hub, agents, &cfg).await;
    print!("{}", report.summary());
    if let Some(store) = &store {
        let v = load::verify(store, &report, &cfg).await?;
        println!(
            "ClickHouse: {} report rows, {} volume rows, {} record rows, {} audit rows for this run",
            v.reports_rows, v.volume_rows, v.record_rows, v.audit_rows
        );
        if v.is_ok() {
            println!("verified: every accepted report stored exactly once; exactly the invalid ones rejected");
        } else {
            for p in &v.problems {
                println!("PROBLEM: {p}");
            }
            anyhow::bail!("verification failed");
        }
    }
    Ok(())
}
