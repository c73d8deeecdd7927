//! `sme-bench-dashboard`: time from navigation to the national overview fully drawn (every
//! panel: headline figures, the map of China, freshness) in headless Chromium, as a planner,
//! against the synthetic national data set (`sme_tests::seed`), and the size of the bundle.
//!
//! ```sh
//! sme-bench-dashboard --data-dir /var/tmp/sme-bench-dash --platforms 30000 --months 36 -n 5
//! ```
//!
//! The data set is written into the embedded ClickHouse of a hub under `--data-dir` (a temp dir
//! when not given; reused without seeding when it already holds reports, as
//! `sme-bench-analytics` does). `--platforms 300 --months 13` is a short run. The front end must
//! be built (`scripts/dashboards.sh`). Each run opens a fresh page (`about:blank`, then the
//! overview's address): the first run loads the bundle and the map outline from the hub, later
//! runs have them in the browser's cache, as a planner's second visit would. Prints Markdown:
//! the data set, the bundle's size, and per run the page's own navigation → drawn time, the
//! wall time seen from the driver and the slowest API request.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use sme_hub::analytics::Role;
use sme_hub::config::HubConfig;
use sme_hub::pki::CertificateAuthority;
use sme_hub::users::UserError;
use sme_proto::period::{Period, PeriodKind};
use sme_tests::browser::{server_cert_der, spki_hash, Browser, Chromedriver};
use sme_tests::seed::{self, SeedConfig};

const PASSWORD: &str = "sme-bench-dashboard password";

/// Navigation → national overview drawn, in headless Chromium, on a synthetic national data set.
#[derive(Parser)]
#[command(about)]
struct Cli {
    /// Hub data dir (kept; reused without seeding when it already holds reports).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Platforms to seed.
    #[arg(long, default_value_t = 30_000)]
    platforms: u32,
    /// Months to seed, back from the last ended month.
    #[arg(long, default_value_t = 36)]
    months: u32,
    /// Measured page loads.
    #[arg(long, short = 'n', default_value_t = 5)]
    runs: usize,
    /// Longest wait for one page to draw, seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.runs >= 1, "--runs must be at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli))
}

fn file_sizes(dir: &Path, ext: &str) -> anyhow::Result<(u64, u64)> {
    let (mut raw, mut gz) = (0, 0);
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == ext) {
            raw += std::fs::metadata(&path)?.len();
            let out = std::process::Command::new("gzip")
                .args(["-9", "-c"])
                .arg(&path)
                .output()
                .context("gzip")?;
            gz += out.stdout.len() as u64;
        }
    }
    Ok((raw, gz))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/dist");
    if !dist.join("index.html").is_file() {
        bail!("{} is not built: run scripts/dashboards.sh", dist.display());
    }
    let temp;
    let data_dir = match &cli.data_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir().context("temp dir")?;
            temp.path().to_owned()
        }
    };
    let mut config = HubConfig {
        data_dir: data_dir.clone(),
        ..HubConfig::default()
    };
    config.grpc.listen = "127.0.0.1:0".parse()?;
    config.http.listen = "127.0.0.1:0".parse()?;
    config.web.listen = "127.0.0.1:0".parse()?;
    // `sme-hub ca init`'s job, done here for a fresh data dir.
    if CertificateAuthority::load(&config.ca_dir()).is_err() {
        CertificateAuthority::init(&config.ca_dir(), &config.pki.server_names, false)
            .context("creating the hub's CA")?;
    }
    let hub = sme_hub::server::start(&config)
        .await
        .with_context(|| format!("starting a hub on {}", data_dir.display()))?;
    let result = bench(&cli, &config, &hub, &dist).await;
    hub.shutdown().await.context("stopping the hub")?;
    result
}

async fn bench(
    cli: &Cli,
    config: &HubConfig,
    hub: &sme_hub::server::RunningHub,
    dist: &Path,
) -> anyhow::Result<()> {
    let store = &hub.store;
    let existing: u64 = store
        .client()
        .query("SELECT count() FROM reports")
        .fetch_one()
        .await
        .context("counting reports")?;
    if existing == 0 {
        let last_month = Period::containing(PeriodKind::Month, time::OffsetDateTime::now_utc())?
            .previous()
            .context("no previous month")?;
        let cfg = SeedConfig {
            platforms: cli.platforms,
            months: cli.months,
            records_per_report: 8,
            seed: 2026,
            last_month,
            calendar: config.calendar.clone(),
        };
        let started = Instant::now();
        let summary = seed::write(store, &cfg, |_, _| {}).await?;
        eprintln!(
            "seeded {} platforms × {} months in {:.0} s",
            summary.platforms,
            cli.months,
            started.elapsed().as_secs_f64()
        );
    } else {
        eprintln!(
            "reusing {} ({existing} reports already there)",
            config.data_dir.display()
        );
    }
    let now = time::OffsetDateTime::now_utc();
    match sme_hub::users::add(
        store,
        "bench-dash-planner",
        Role::Planner,
        None,
        PASSWORD,
        "sme-bench-dashboard",
        now,
    )
    .await
    {
        Ok(_) | Err(UserError::Exists(_)) => {}
        Err(e) => bail!("creating the planner: {e}"),
    }
    let mut rows = Vec::new();
    for table in [
        "platforms",
        "reports",
        "service_volume",
        "service_records",
        "sme_counts",
    ] {
        let n: u64 = store
            .client()
            .query(&format!("SELECT count() FROM {table}"))
            .fetch_one()
            .await
            .with_context(|| format!("counting {table}"))?;
        rows.push((table, n));
    }

    let base = format!("https://127.0.0.1:{}", hub.web_addr.port());
    let spki = spki_hash(&server_cert_der(&config.ca_dir())?)?;
    let driver = Chromedriver::start()?;
    let b = Browser::start(&driver, &spki).await?;
    b.client.goto(&format!("{base}/")).await?;
    b.wait_for("#login-name", Duration::from_secs(30))
        .await?
        .send_keys("bench-dash-planner")
        .await?;
    b.client
        .find(fantoccini::Locator::Css("#login-password"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    b.client
        .find(fantoccini::Locator::Css("button[data-action='login']"))
        .await?
        .click()
        .await?;
    b.wait_for("main[data-dashboard]", Duration::from_secs(60))
        .await?;
    // The overview's own address, with the default range the page chose.
    let address = b.client.current_url().await?.to_string();
    let overview = match address.split_once('#') {
        Some((_, hash)) => format!(
            "{base}/#{}",
            hash.replacen(hash.split('?').next().unwrap_or(""), "/overview", 1,)
        ),
        None => format!("{base}/#/overview"),
    };

    let mut results = Vec::new();
    for run in 1..=cli.runs {
        b.client.goto("about:blank").await?;
        let started = Instant::now();
        b.client.goto(&overview).await?;
        let deadline = started + Duration::from_secs(cli.timeout_secs);
        let drawn_ms = loop {
            let v = b
                .client
                .execute(
                    "const m = document.querySelector('main[data-dashboard=\"overview\"]');\
                     return m && m.dataset.state === 'ready' ? Number(m.dataset.drawnMs) : null;",
                    vec![],
                )
                .await?;
            if let Some(ms) = v.as_f64() {
                break ms;
            }
            if Instant::now() > deadline {
                bail!(
                    "run {run}: the overview did not draw within {} s",
                    cli.timeout_secs
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let wall = started.elapsed();
        let errors = b
            .client
            .execute(
                "return [...document.querySelectorAll('section.panel[data-state=\"error\"]')].map(p => p.dataset.panel + ': ' + p.innerText.slice(0, 200))",
                vec![],
            )
            .await?;
        let slowest = b
            .client
            .execute(
                "const api = performance.getEntriesByType('resource').filter(e => e.name.includes('/api/v1/'));\
                 api.sort((a, b) => b.duration - a.duration);\
                 return api.length ? [new URL(api[0].name).pathname + new URL(api[0].name).search, Math.round(api[0].duration)] : null;",
                vec![],
            )
            .await?;
        eprintln!("run {run}: drawn at {drawn_ms:.0} ms (wall {:.0} ms), slowest API {slowest}, errors {errors}", wall.as_secs_f64() * 1000.0);
        results.push((drawn_ms, wall, slowest, errors));
    }

    let (js, js_gz) = file_sizes(&dist.join("assets"), "js")?;
    let (css, css_gz) = file_sizes(&dist.join("assets"), "css")?;
    let china = std::fs::metadata(dist.join("geo/100000.json"))?.len();
    let names = std::fs::metadata(dist.join("geo/names.json"))?.len();

    println!("Data set (`SELECT count()`):\n");
    println!("| table | rows |\n|---|---:|");
    for (t, n) in &rows {
        println!("| {t} | {n} |");
    }
    println!("\nBundle (`dashboards/dist/`, what the overview loads):\n");
    println!("| file | bytes | gzip -9 |\n|---|---:|---:|");
    println!("| JavaScript (`assets/app-*.js`) | {js} | {js_gz} |");
    println!("| CSS (`assets/app-*.css`) | {css} | {css_gz} |");
    println!("| map of China (`geo/100000.json`) | {china} | |");
    println!("| region names (`geo/names.json`) | {names} | |");
    println!("\nNavigation → national overview drawn (every panel), planner, 1366×768:\n");
    println!("| run | page: navigation → drawn (ms) | driver wall time (ms) | slowest API request (ms) | panels in error |");
    println!("|---:|---:|---:|---|---|");
    for (i, (drawn, wall, slowest, errors)) in results.iter().enumerate() {
        let slow = slowest
            .as_array()
            .map(|a| format!("{} {}", a[1], a[0].as_str().unwrap_or_default()))
            .unwrap_or_else(|| "—".into());
        let errs = errors
            .as_array()
            .map(|a| {
                if a.is_empty() {
                    "none".to_owned()
                } else {
                    format!("{a:?}")
                }
            })
            .unwrap_or_default();
        println!(
            "| {} | {drawn:.0} | {:.0} | {slow} | {errs} |",
            i + 1,
            wall.as_secs_f64() * 1000.0
        );
    }
    b.client.close().await?;
    Ok(())
}
