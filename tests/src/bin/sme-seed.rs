//! `sme-seed`: writes a synthetic national data set into a hub's ClickHouse through the store's
//! own insert paths, for the analytics benchmarks and the dashboards (see `sme_tests::seed`).
//!
//! ```sh
//! sme-seed --config hub.toml --platforms 30000 --months 36
//! ```
//!
//! With `[clickhouse] url` empty it uses the hub's embedded server (the running hub's, or one it
//! starts for its duration), like `sme-hub registry …`. Adds to what is there: run it on an
//! empty database.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use sme_hub::cli::admin::AdminStore;
use sme_hub::config::HubConfig;
use sme_proto::period::{Period, PeriodKind};
use sme_tests::seed::{self, SeedConfig};

/// Synthetic national data set (platforms, months of reports, service records, SME counts).
#[derive(Parser)]
#[command(about)]
struct Cli {
    /// The hub's configuration file (its ClickHouse is written to).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Platforms.
    #[arg(long, default_value_t = 30_000)]
    platforms: u32,
    /// Months back from the last ended month (whole quarters and years inside are reported too).
    #[arg(long, default_value_t = 36)]
    months: u32,
    /// Average service records per monthly report of a platform that sends them.
    #[arg(long, default_value_t = 8)]
    records_per_report: u32,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Last month of the window, e.g. 2026-M10 (default: the last ended month, UTC+8).
    #[arg(long)]
    last_month: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = HubConfig::load(cli.config.as_deref())?;
    let last_month: Period = match &cli.last_month {
        Some(p) => p.parse().context("--last-month")?,
        None => Period::containing(PeriodKind::Month, time::OffsetDateTime::now_utc())?
            .previous()
            .context("no previous month")?,
    };
    anyhow::ensure!(
        last_month.kind() == PeriodKind::Month,
        "--last-month {last_month} is not a month like 2026-M10"
    );
    anyhow::ensure!(cli.months >= 1, "--months must be at least 1");
    let seed_cfg = SeedConfig {
        platforms: cli.platforms,
        months: cli.months,
        records_per_report: cli.records_per_report,
        seed: cli.seed,
        last_month,
        calendar: cfg.calendar.clone(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let admin = AdminStore::connect(&cfg)
            .await
            .context("connecting to the hub's ClickHouse")?;
        let started = Instant::now();
        let mut last_shown = Instant::now();
        let result = seed::write(&admin.store, &seed_cfg, |done, total| {
            if last_shown.elapsed().as_secs() >= 2 || done == total {
                last_shown = Instant::now();
                let secs = started.elapsed().as_secs_f64();
                let left = if done > 0 {
                    secs * (total - done) as f64 / done as f64
                } else {
                    0.0
                };
                eprint!(
                    "\r{done}/{total} platform-periods ({:.0} %), {secs:.0} s, about {left:.0} s left   ",
                    100.0 * done as f64 / total.max(1) as f64
                );
                let _ = std::io::stderr().flush();
            }
        })
        .await;
        eprintln!();
        let summary = match result {
            Ok(s) => s,
            Err(e) => {
                admin.close().await;
                return Err(e);
            }
        };
        println!(
            "seeded in {:.1} s: {} platforms, reports {:?}, {} volume rows, {} service records, {} SME counts",
            started.elapsed().as_secs_f64(),
            summary.platforms,
            summary.reports,
            summary.volume_rows,
            summary.record_rows,
            summary.sme_counts
        );
        admin.close().await;
        Ok(())
    })
}
