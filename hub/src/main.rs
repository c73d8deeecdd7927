//! `sme-hub`: the ministry's aggregation hub.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sme_hub::admin::AdminStore;
use sme_hub::config::HubConfig;
use sme_hub::pki::CertificateAuthority;
use sme_hub::registry;
use sme_proto::period::PeriodKind;

/// SME Platform Reporting hub (中小企业公共服务平台数据直报 汇聚中心).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML). Without it, defaults and SME_HUB_* environment variables apply.
    #[arg(long, short, global = true, env = "SME_HUB_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub: gRPC for agents, ClickHouse (embedded unless [clickhouse] url is set).
    Serve,
    /// Manage the certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Manage platform certificates.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// Manage enrolment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The platform registry and reference data (平台名录): import files, list them.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Reporting periods: calendar, locks and reopenings (报告期、锁定与解锁).
    Period {
        #[command(subcommand)]
        command: PeriodCommand,
    },
    /// Reporting completeness and timeliness of a period by region, with the missing platforms.
    Completeness {
        /// Period: 2026-M05 (month), 2026-Q2 (quarter) or 2026-A (year).
        #[arg(long)]
        period: String,
        /// Region code (province PP0000, prefecture PPCC00); default the whole country.
        #[arg(long)]
        region: Option<String>,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Import a registry file (CSV or XLSX): platforms, divisions or sme-counts, told by its
    /// headers. Every row is checked; a file with any problem imports nothing.
    Import {
        /// The file (.csv in UTF-8 or GBK, or .xlsx).
        file: PathBuf,
        /// platforms, divisions or sme-counts (default: by the headers).
        #[arg(long)]
        kind: Option<registry::Kind>,
        /// Revision (year of the code list) for a divisions file without a revision column.
        #[arg(long)]
        revision: Option<u32>,
        /// Who imports (stored with the rows).
        #[arg(long, env = "USER", default_value = "unknown")]
        by: String,
        /// Check the file and show what would change, without writing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the platforms (current versions), optionally of one region.
    List {
        /// Region code (440000, 440300 …) or digit prefix (44, 4403).
        #[arg(long)]
        region: Option<String>,
        /// Show every stored version of this platform instead (its registry history).
        #[arg(long)]
        history: Option<String>,
    },
    /// List the division codes (newest name of every code, or one revision).
    Divisions {
        /// Only this revision.
        #[arg(long)]
        revision: Option<u32>,
        /// Only this province (code or two-digit prefix).
        #[arg(long)]
        province: Option<String>,
    },
    /// List SME counts per region and year.
    SmeCounts {
        /// Region code or digit prefix.
        #[arg(long)]
        region: Option<String>,
        /// Only this year.
        #[arg(long)]
        year: Option<u16>,
    },
}

#[derive(Subcommand)]
enum PeriodCommand {
    /// Recent periods with start, end, due and lock times (UTC+8) and their state.
    List {
        /// month, quarter or year.
        #[arg(long, default_value = "month", value_parser = parse_kind)]
        kind: PeriodKind,
        /// How many periods, the current one included.
        #[arg(long, default_value_t = 12)]
        count: usize,
    },
    /// Reopenings (who, when, why, until) and, for a platform and period, the lock in force.
    Locks {
        /// Only this period.
        #[arg(long)]
        period: Option<String>,
        /// Only reopenings covering this platform.
        #[arg(long)]
        platform: Option<String>,
        /// Only reopenings within this region.
        #[arg(long)]
        region: Option<String>,
    },
    /// Reopen a locked period for one platform or a whole region (a coordinator of that region).
    Reopen {
        /// The platform (unified social credit code).
        #[arg(long, required_unless_present = "region", conflicts_with = "region")]
        platform: Option<String>,
        /// Every platform registered in this region (6-digit code).
        #[arg(long)]
        region: Option<String>,
        /// The period, e.g. 2026-M05.
        #[arg(long)]
        period: String,
        /// The coordinator's name (recorded).
        #[arg(long)]
        by: String,
        /// The region the coordinator acts for (000000: national). Default: --region.
        #[arg(long)]
        scope: Option<String>,
        /// Why (recorded).
        #[arg(long)]
        reason: String,
        /// Last day reports are accepted, YYYY-MM-DD (UTC+8). Default: [periods] reopen_days.
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the ministry CA, the hub's server certificate and the pseudonymisation key.
    Init {
        /// Replace an existing CA (every platform must enrol again).
        #[arg(long)]
        force: bool,
    },
    /// Show the CA's location and fingerprint.
    Show,
}

#[derive(Subcommand)]
enum CertCommand {
    /// Revoke a platform's client certificate: its agent is refused (UNAUTHENTICATED, with the
    /// reason) until it enrols again with a new token.
    Revoke {
        /// Serial number, hex (logged by the hub at enrolment and renewal).
        #[arg(long)]
        serial: String,
        /// Why, shown to the agent and kept with the revocation.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a single-use enrolment token for one platform.
    Issue {
        /// The platform's unified social credit code (18 characters).
        #[arg(long)]
        platform: String,
        /// Validity in hours (default: [pki] token_ttl_hours).
        #[arg(long)]
        ttl_hours: Option<u32>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let cfg = HubConfig::load(cli.config.as_deref())?;
    // Operators' table commands print tables; their logs only when something is wrong.
    let quiet = matches!(
        cli.command,
        Command::Registry { .. } | Command::Period { .. } | Command::Completeness { .. }
    );
    let default_filter = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    // SME_HUB_LOG_FORMAT=json: one JSON object per event (fields, span, level) for a log
    // collector; otherwise readable lines.
    if std::env::var("SME_HUB_LOG_FORMAT").as_deref() == Ok("json") {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    match cli.command {
        Command::Serve => serve(cfg),
        Command::Registry { command } => run_admin(cfg, |cfg, store| {
            Box::pin(registry_command(cfg, store, command))
        }),
        Command::Period {
            command: PeriodCommand::List { kind, count },
        } => {
            // The calendar alone: no ClickHouse needed.
            let now = cfg.clock.now();
            print!(
                "{}",
                sme_hub::tables::periods(&cfg.calendar, kind, count, now)
            );
            Ok(())
        }
        Command::Period { command } => run_admin(cfg, |cfg, store| {
            Box::pin(period_command(cfg, store, command))
        }),
        Command::Completeness { period, region } => run_admin(cfg, |cfg, store| {
            Box::pin(async move {
                let period = period.parse().context("--period")?;
                if let Some(r) = &region {
                    anyhow::ensure!(
                        registry::region::is_region_code(r),
                        "--region {r:?} is not a 6-digit region code"
                    );
                }
                let c = sme_hub::completeness::completeness(
                    store,
                    &cfg.calendar,
                    &period,
                    region.as_deref(),
                )
                .await?;
                print!("{}", sme_hub::tables::completeness(&c));
                Ok(())
            })
        }),
        Command::Ca {
            command: CaCommand::Init { force },
        } => {
            let ca = CertificateAuthority::init(&cfg.ca_dir(), &cfg.pki.server_names, force)?;
            println!("CA created in {}", ca.dir().display());
            println!("fingerprint (sha256): {}", ca.fingerprint());
            println!(
                "server certificate names: {}",
                cfg.pki.server_names.join(", ")
            );
            Ok(())
        }
        Command::Ca {
            command: CaCommand::Show,
        } => {
            let ca = CertificateAuthority::load(&cfg.ca_dir())?;
            println!("CA directory: {}", ca.dir().display());
            println!("fingerprint (sha256): {}", ca.fingerprint());
            println!("pseudonym key id: {}", ca.pseudonym_key_id());
            Ok(())
        }
        Command::Cert {
            command: CertCommand::Revoke { serial, reason },
        } => {
            let ca = CertificateAuthority::load(&cfg.ca_dir())?;
            ca.revocations().revoke(&serial, &reason)?;
            println!("certificate {serial} revoked: {reason}");
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    platform,
                    ttl_hours,
                },
        } => {
            let ca = sme_hub::server::load_or_init_ca(&cfg)?;
            let hours = ttl_hours.unwrap_or(cfg.pki.token_ttl_hours);
            let token = ca
                .tokens()
                .issue(&platform, time::Duration::hours(hours.into()))
                .with_context(|| format!("issuing a token for {platform}"))?;
            println!("{token}");
            eprintln!(
                "single-use token for {platform}, valid {hours} h; on the platform run:\n  sme-agent enroll --hub https://{}:{} --platform {platform} --token {token}",
                cfg.pki.server_names.first().map(String::as_str).unwrap_or("localhost"),
                cfg.grpc.listen.port()
            );
            Ok(())
        }
    }
}

type AdminFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

/// Runs an operator's command against the hub's ClickHouse (see `sme_hub::admin`).
fn run_admin(
    cfg: HubConfig,
    command: impl for<'a> FnOnce(&'a HubConfig, &'a sme_hub::store::Store) -> AdminFuture<'a>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let admin = AdminStore::connect(&cfg)
            .await
            .context("connecting to the hub's ClickHouse")?;
        let result = command(&cfg, &admin.store).await;
        admin.close().await;
        result
    })
}

async fn registry_command(
    cfg: &HubConfig,
    store: &sme_hub::store::Store,
    command: RegistryCommand,
) -> anyhow::Result<()> {
    let now = cfg.clock.now();
    match command {
        RegistryCommand::Import {
            file,
            kind,
            revision,
            by,
            dry_run,
        } => {
            let options = registry::ImportOptions {
                kind,
                revision,
                by,
                dry_run,
            };
            let report = registry::import_file(store, &file, &options, now).await?;
            print!("{}", sme_hub::tables::import_report(&report));
        }
        RegistryCommand::List { region, history } => {
            let names = registry::division_names(store).await?;
            let list = match history {
                Some(id) => registry::platform_history(store, &id).await?,
                None => {
                    let prefix = region_prefix(region.as_deref())?;
                    registry::platforms(store, prefix.as_deref()).await?
                }
            };
            print!("{}", sme_hub::tables::platforms(&list, &names));
        }
        RegistryCommand::Divisions { revision, province } => {
            let prefix = region_prefix(province.as_deref())?.unwrap_or_default();
            let list: Vec<_> = registry::divisions(store, revision)
                .await?
                .into_iter()
                .filter(|d| d.code.starts_with(&prefix))
                .collect();
            print!("{}", sme_hub::tables::divisions(&list));
        }
        RegistryCommand::SmeCounts { region, year } => {
            let prefix = region_prefix(region.as_deref())?.unwrap_or_default();
            let names = registry::division_names(store).await?;
            let list = registry::sme_counts(store, &prefix, year).await?;
            print!("{}", sme_hub::tables::sme_counts(&list, &names));
        }
    }
    Ok(())
}

fn parse_kind(s: &str) -> Result<PeriodKind, String> {
    match s {
        "month" | "M" => Ok(PeriodKind::Month),
        "quarter" | "Q" => Ok(PeriodKind::Quarter),
        "year" | "A" => Ok(PeriodKind::Year),
        _ => Err(format!("{s:?} is not month, quarter or year")),
    }
}

fn region_prefix(filter: Option<&str>) -> anyhow::Result<Option<String>> {
    filter
        .map(|f| {
            registry::region::filter_prefix(f).with_context(|| {
                format!("region {f:?} is neither a 6-digit code nor a digit prefix like 44")
            })
        })
        .transpose()
}

async fn period_command(
    cfg: &HubConfig,
    store: &sme_hub::store::Store,
    command: PeriodCommand,
) -> anyhow::Result<()> {
    use sme_hub::periods::{self, Coordinator, ReopenRequest, ReopenTarget};
    let now = cfg.clock.now();
    match command {
        PeriodCommand::List { .. } => unreachable!("handled without ClickHouse in main"),
        PeriodCommand::Locks {
            period,
            platform,
            region,
        } => {
            let names = registry::division_names(store).await?;
            let platform = match platform {
                Some(id) => {
                    let region = registry::platform(store, &id)
                        .await?
                        .map(|p| p.region_code)
                        .unwrap_or_else(|| sme_proto::credit_code::region_code(&id).to_owned());
                    Some((id, region))
                }
                None => None,
            };
            let filter = periods::ReopeningFilter {
                period: period.clone(),
                platform: platform.clone(),
                region,
            };
            let list = periods::reopenings(store, &filter).await?;
            print!("{}", sme_hub::tables::reopenings(&list, &names, now));
            if let (Some((id, region)), Some(p)) = (platform, period) {
                let p = p.parse().context("--period")?;
                let lock =
                    periods::effective_lock(store, &cfg.calendar, &id, &region, &p, now).await?;
                print!(
                    "{}",
                    sme_hub::tables::lock_line(&id, &p, &cfg.calendar, lock, now)
                );
            }
        }
        PeriodCommand::Reopen {
            platform,
            region,
            period,
            by,
            scope,
            reason,
            until,
        } => {
            let target = match (platform, region.clone()) {
                (Some(id), _) => ReopenTarget::Platform(id),
                (None, Some(r)) => ReopenTarget::Region(r),
                (None, None) => anyhow::bail!("give --platform or --region"),
            };
            let scope = scope.or(region).context(
                "--scope: name the region you act for as a coordinator (000000 for national)",
            )?;
            let until = until
                .map(|d| {
                    time::Date::parse(
                        &d,
                        time::macros::format_description!("[year]-[month]-[day]"),
                    )
                    .with_context(|| format!("--until {d:?} is not a date like 2026-12-31"))
                })
                .transpose()?;
            let request = ReopenRequest {
                target,
                period: period.parse().context("--period")?,
                by: Coordinator {
                    name: by,
                    region: scope,
                },
                reason,
                until,
            };
            let r = periods::reopen(store, &cfg.calendar, &request, now, cfg.periods.reopen_days)
                .await?;
            println!(
                "reopened {} for {} until {} UTC+8 (reopening {}) / 已解锁，截止北京时间{}",
                r.period,
                match &r.target {
                    ReopenTarget::Platform(id) => id.clone(),
                    ReopenTarget::Region(code) => format!("region {code}"),
                },
                periods::format_cst(r.until),
                r.id,
                periods::format_cst(r.until)
            );
        }
    }
    Ok(())
}

fn serve(cfg: HubConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let hub = sme_hub::server::start(&cfg).await?;
        println!("sme-hub serving gRPC on {}", hub.grpc_addr);
        println!(
            "metrics and health (HTTP): http://{}/metrics",
            hub.http_addr
        );
        println!("ClickHouse (HTTP): {}", hub.clickhouse_url);
        hub.run_until(shutdown_signal()).await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
