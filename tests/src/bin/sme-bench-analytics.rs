//! `sme-bench-analytics`: latency of every analytics endpoint of the web API over HTTPS on the
//! synthetic national data set (`sme_tests::seed`), in national and one-province scope, and
//! the freshness of an accepted report (receipt → visible in the API's answer).
//!
//! ```sh
//! sme-bench-analytics --data-dir /var/tmp/sme-bench --platforms 30000 --months 36
//! ```
//!
//! The data set is written into the embedded ClickHouse of a hub under `--data-dir` (a temp dir
//! when not given); a data dir that already holds reports is reused as it is, so reruns skip
//! the seeding. Prints Markdown: the row counts per table, p50/p95 per endpoint and scope, and
//! the freshness figures.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::Value;
use sme_hub::analytics::Role;
use sme_hub::config::HubConfig;
use sme_hub::pki::CertificateAuthority;
use sme_hub::registry::Platform;
use sme_hub::users::UserError;
use sme_proto::period::{Period, PeriodKind};
use sme_proto::{credit_code, fixtures, v1};
use sme_tests::seed::{self, SeedConfig};
use sme_tests::web::{WebClient, WebSession};

const PASSWORD: &str = "sme-bench-analytics password";

/// Analytics API latency and freshness on a synthetic national data set.
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
    /// Measured requests per endpoint and scope.
    #[arg(long, short = 'n', default_value_t = 50)]
    requests: usize,
    /// Unmeasured requests before them.
    #[arg(long, default_value_t = 3)]
    warmups: usize,
    /// The province of the one-province scope (a coordinator of it is created).
    #[arg(long, default_value = "440000")]
    province: String,
    /// Reports submitted for the freshness figure.
    #[arg(long, default_value_t = 5)]
    freshness_reports: u32,
}

struct Endpoint {
    name: String,
    path: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    anyhow::ensure!(cli.requests >= 1, "--requests must be at least 1");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
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
    // The freshness platforms are registered just before they report.
    config.registry.cache_seconds = 0;
    // `sme-hub ca init`'s job, done here for a fresh data dir.
    if CertificateAuthority::load(&config.ca_dir()).is_err() {
        CertificateAuthority::init(&config.ca_dir(), &config.pki.server_names, false)
            .context("creating the hub's CA")?;
    }
    let hub = sme_hub::server::start(&config)
        .await
        .with_context(|| format!("starting a hub on {}", data_dir.display()))?;
    let result = bench(&cli, &config, &hub).await;
    hub.shutdown().await.context("stopping the hub")?;
    result
}

async fn bench(
    cli: &Cli,
    config: &HubConfig,
    hub: &sme_hub::server::RunningHub,
) -> anyhow::Result<()> {
    let store = &hub.store;
    let last_month = Period::containing(PeriodKind::Month, time::OffsetDateTime::now_utc())?
        .previous()
        .context("no previous month")?;
    let existing: u64 = store
        .client()
        .query("SELECT count() FROM reports")
        .fetch_one()
        .await
        .context("counting reports")?;
    if existing == 0 {
        let cfg = SeedConfig {
            platforms: cli.platforms,
            months: cli.months,
            records_per_report: 8,
            seed: 2026,
            last_month,
            calendar: config.calendar.clone(),
        };
        let started = Instant::now();
        let mut shown = Instant::now();
        let summary = seed::write(store, &cfg, |done, total| {
            if shown.elapsed().as_secs() >= 10 {
                shown = Instant::now();
                eprintln!(
                    "seeding: {done}/{total} platform-periods, {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        })
        .await?;
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
    // The window actually present (a reused data dir may be from another month).
    let last: String = store
        .client()
        .query("SELECT max(period) FROM reports WHERE period LIKE '%-M%'")
        .fetch_one()
        .await?;
    let last: Period = last
        .parse()
        .with_context(|| format!("latest monthly period {last:?}"))?;
    let mut first = last;
    for _ in 1..12 {
        first = first.previous().unwrap_or(first);
    }

    let now = time::OffsetDateTime::now_utc();
    for (name, role, region) in [
        ("bench-planner", Role::Planner, None),
        (
            "bench-coordinator",
            Role::Coordinator,
            Some(cli.province.as_str()),
        ),
    ] {
        match sme_hub::users::add(
            store,
            name,
            role,
            region,
            PASSWORD,
            "sme-bench-analytics",
            now,
        )
        .await
        {
            Ok(_) | Err(UserError::Exists(_)) => {}
            Err(e) => bail!("creating user {name}: {e}"),
        }
    }
    let ca = CertificateAuthority::load(&config.ca_dir()).context("the hub's CA")?;
    let web = WebClient::new(
        format!("https://127.0.0.1:{}", hub.web_addr.port()),
        ca.cert_der(),
    )?;
    let login = |name: &'static str| {
        let web = web.clone();
        async move {
            web.login(name, PASSWORD)
                .await?
                .map_err(|(s, b)| anyhow::anyhow!("login {name}: {s} {b}"))
        }
    };
    let planner = login("bench-planner").await?;
    let coordinator = login("bench-coordinator").await?;

    println!("## Data set\n");
    println!("| table | rows |\n|---|---:|");
    let tables: Vec<String> = store
        .client()
        .query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() \
             AND engine LIKE '%MergeTree' ORDER BY name",
        )
        .fetch_all()
        .await?;
    for t in &tables {
        let n: u64 = store
            .client()
            .query(&format!("SELECT count() FROM `{t}`"))
            .fetch_one()
            .await?;
        if n > 0 {
            println!("| {t} | {n} |");
        }
    }

    let range = format!("from={first}&to={last}");
    let mut endpoints: Vec<Endpoint> = [
        "function",
        "region",
        "period",
        "industry",
        "enterprise_size",
    ]
    .iter()
    .map(|by| Endpoint {
        name: format!("volume by={by}, 12 months"),
        path: format!("/api/v1/analytics/volume?by={by}&{range}"),
    })
    .collect();
    for by in ["region", "period"] {
        endpoints.push(Endpoint {
            name: format!("satisfaction by={by}, 12 months"),
            path: format!("/api/v1/analytics/satisfaction?by={by}&{range}"),
        });
    }
    endpoints.push(Endpoint {
        name: format!("completeness {last}"),
        path: format!("/api/v1/completeness?period={last}"),
    });
    endpoints.push(Endpoint {
        name: format!("layout, 12 months to {last}"),
        path: format!("/api/v1/analytics/layout?from={last}"),
    });
    // Staff reads quarterly reports: the last four whole quarters.
    let q_last = {
        let q = last.within(PeriodKind::Quarter).context("quarter")?;
        if q.months().last() == Some(&last) {
            q
        } else {
            q.previous().context("quarter")?
        }
    };
    let mut q_first = q_last;
    for _ in 0..3 {
        q_first = q_first.previous().context("quarter")?;
    }
    endpoints.push(Endpoint {
        name: format!("staff, {q_first}–{q_last}"),
        path: format!("/api/v1/analytics/staff?from={q_first}&to={q_last}"),
    });
    endpoints.push(Endpoint {
        name: format!("demo candidates, 12 months to {last}"),
        path: format!("/api/v1/analytics/demo-candidates?from={last}"),
    });
    let prefix = cli.province.get(..2).unwrap_or("44").to_owned();
    let platform: String = store
        .client()
        .query("SELECT platform_id FROM reports WHERE startsWith(region_code, ?) ORDER BY platform_id LIMIT 1")
        .bind(prefix)
        .fetch_one()
        .await
        .context("a platform of the province")?;
    endpoints.push(Endpoint {
        name: "one platform's history, 12 months".to_owned(),
        path: format!("/api/v1/analytics/platforms/{platform}/history?{range}"),
    });
    // Any other analytics route the hub serves, with the period range.
    let (_, doc) = web
        .call(reqwest::Method::GET, "/api/v1/openapi.json", None)
        .await?;
    if let Some(paths) = doc["paths"].as_object() {
        for path in paths.keys() {
            let known = endpoints
                .iter()
                .any(|e| e.path.split('?').next() == Some(path.as_str()));
            if path.starts_with("/api/v1/analytics/") && !known && !path.contains('{') {
                endpoints.push(Endpoint {
                    name: format!(
                        "{} (12 months)",
                        path.trim_start_matches("/api/v1/analytics/")
                    ),
                    path: format!("{path}?{range}"),
                });
            }
        }
    }

    println!(
        "\n## Latency ({} requests after {} warm-ups; ms)\n",
        cli.requests, cli.warmups
    );
    println!(
        "| endpoint | national p50 | national p95 | {p} p50 | {p} p95 |\n|---|---:|---:|---:|---:|",
        p = cli.province
    );
    for e in &endpoints {
        let national = measure(&web, &planner, &e.path, cli).await;
        let province = measure(&web, &coordinator, &e.path, cli).await;
        println!("| {} | {} | {} |", e.name, national, province);
    }

    println!(
        "\n## Freshness (SubmitReport acknowledged → visible in GET /api/v1/analytics/volume)\n"
    );
    let mut lags = Vec::new();
    for i in 0..cli.freshness_reports {
        lags.push(freshness(hub, &web, &coordinator, &ca, last, i).await?);
    }
    lags.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{} reports: median {:.0} ms, max {:.0} ms (each: {})",
        lags.len(),
        percentile(&lags, 0.5),
        lags.last().copied().unwrap_or(0.0),
        lags.iter()
            .map(|l| format!("{l:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// `p50 | p95` in ms, or what went wrong.
async fn measure(web: &WebClient, session: &WebSession, path: &str, cli: &Cli) -> String {
    let mut times = Vec::with_capacity(cli.requests);
    for i in 0..cli.warmups + cli.requests {
        let started = Instant::now();
        match web.get(path, session).await {
            Ok((status, _)) if status.is_success() => {}
            Ok((status, body)) => {
                let detail = body["detail"].as_str().unwrap_or_default().to_owned();
                return format!("{status}: {detail} | –");
            }
            Err(e) => return format!("failed: {e:#} | –"),
        }
        if i >= cli.warmups {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    format!(
        "{:.0} | {:.0}",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    )
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Registers and enrols a new platform in the province's first prefecture, submits a report
/// for `period` and polls the volume of its prefecture until the report counts; returns the
/// milliseconds from the acknowledgement to the first answer that includes it.
async fn freshness(
    hub: &sme_hub::server::RunningHub,
    web: &WebClient,
    session: &WebSession,
    ca: &CertificateAuthority,
    period: Period,
    i: u32,
) -> anyhow::Result<f64> {
    let prefecture = format!("{}0100", &scope_of(web, session).await?[..2]);
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp() % 10_000_000;
    let id = credit_code::make_valid(&format!(
        "91{prefecture}MB{:07}",
        (stamp + i as i64) % 10_000_000
    ));
    let since = time::Date::from_calendar_date(2020, time::Month::January, 1)?;
    sme_hub::registry::upsert_platforms(
        &hub.store,
        &[Platform::new(&id, &format!("基准测试平台{i}"), since)],
        "sme-bench-analytics",
        time::OffsetDateTime::now_utc(),
    )
    .await?;
    let agent_dir = tempfile::tempdir()?;
    let token = ca.tokens().issue(&id, time::Duration::hours(1))?;
    let hub_url = format!("https://127.0.0.1:{}", hub.grpc_addr.port());
    let identity = sme_agent::identity::enroll(agent_dir.path(), &hub_url, &id, &token, false)
        .await
        .with_context(|| format!("enrolling {id}"))?;
    let path = format!("/api/v1/analytics/volume?by=function&from={period}&region={prefecture}");
    let reported = |v: &Value| v["total"]["coverage"]["reported"].as_u64().unwrap_or(0);
    let before = reported(&web.get(&path, session).await?.1);
    let address = sme_agent::connect::HubAddress::parse(&hub_url)?;
    let mut client = v1::reporting_service_client::ReportingServiceClient::new(
        sme_agent::connect::channel(&address, &identity.trust())?,
    );
    client
        .submit_report(v1::SubmitReportRequest {
            report: Some(fixtures::sample_report(&id, &period.to_string())),
        })
        .await
        .with_context(|| format!("submitting {id} {period}"))?;
    let acked = Instant::now();
    let deadline = acked + Duration::from_secs(30);
    loop {
        let (status, body) = web.get(&path, session).await?;
        if status.is_success() && reported(&body) > before {
            return Ok(acked.elapsed().as_secs_f64() * 1000.0);
        }
        if Instant::now() > deadline {
            bail!("{id}'s report for {period} not visible 30 s after its receipt: {status} {body}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The coordinator's region (from `GET /api/v1/me`).
async fn scope_of(web: &WebClient, session: &WebSession) -> anyhow::Result<String> {
    let (_, me) = web.get("/api/v1/me", session).await?;
    me["user"]["scope"]
        .as_str()
        .map(str::to_owned)
        .context("GET /api/v1/me has no user.scope")
}
