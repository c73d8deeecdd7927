//! `sme-agent`: the platform-side agent.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sme_agent::config::AgentConfig;
use sme_agent::identity::{self, Identity};
use sme_agent::submit::{self, SubmitOutcome};

/// SME Platform Reporting agent (中小企业公共服务平台数据直报 采集代理).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file (TOML). Without it, defaults and SME_AGENT_* environment variables apply.
    #[arg(long, short, global = true, env = "SME_AGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enrol this platform with the hub: generates a key here, sends a CSR with a single-use token.
    Enroll {
        /// Hub address, e.g. https://hub.example.cn:7443.
        #[arg(long)]
        hub: String,
        /// This platform's unified social credit code.
        #[arg(long)]
        platform: String,
        /// The single-use token from `sme-hub token issue`.
        #[arg(long, env = "SME_AGENT_TOKEN")]
        token: String,
        /// Replace an existing identity.
        #[arg(long)]
        force: bool,
    },
    /// Send one report from a JSON file and print the receipt or the hub's reasons.
    Send {
        /// Report file (JSON, field names as in sme.report.v1.Report).
        file: PathBuf,
        /// Send even if the local check finds errors (the hub will judge).
        #[arg(long)]
        skip_check: bool,
    },
    /// Print a complete, valid example report (JSON) for a period, to learn the format from.
    ExampleReport {
        /// Period code, e.g. 2026-M05, 2026-Q2 or 2026-A.
        #[arg(long)]
        period: String,
        /// Platform id to put in the report (default: this agent's, once enrolled).
        #[arg(long)]
        platform: Option<String>,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let cfg = AgentConfig::load(cli.config.as_deref())?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Enroll {
            hub,
            platform,
            token,
            force,
        } => {
            let id = runtime.block_on(identity::enroll(
                &cfg.data_dir,
                &hub,
                &platform,
                &token,
                force,
            ))?;
            println!(
                "enrolled platform {} with {}; certificate valid until {}",
                id.info.platform_id,
                hub,
                time::OffsetDateTime::from_unix_timestamp(id.info.not_after)
                    .map(|t| t.date().to_string())
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::ExampleReport { period, platform } => {
            period
                .parse::<sme_proto::period::Period>()
                .map_err(|e| anyhow::anyhow!("--period {period:?}: {e}"))?;
            let platform = match platform {
                Some(p) => p,
                None => Identity::load(&cfg.data_dir)
                    .map(|i| i.info.platform_id)
                    .unwrap_or_else(|_| sme_proto::fixtures::sample_platform_id()),
            };
            let report = sme_proto::fixtures::sample_report(&platform, &period);
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Send { file, skip_check } => {
            let identity = Identity::load(&cfg.data_dir)?;
            let report = submit::load_report_file(&file, Some(&identity))?;
            if !skip_check {
                let calendar = sme_proto::period::Calendar::default();
                let ctx = sme_proto::rules::CheckContext {
                    now: time::OffsetDateTime::now_utc(),
                    calendar: &calendar,
                    certificate_platform_id: Some(&identity.info.platform_id),
                    encoded_len: prost::Message::encoded_len(&report),
                    max_report_bytes: usize::MAX,
                    platform_active: None,
                    lock: None,
                    previous_total_services: None,
                };
                let verdict = sme_proto::rules::check(&report, &ctx);
                if !verdict.is_accepted() {
                    eprintln!("the report breaks these rules; fix them, or pass --skip-check to let the hub judge:");
                    eprint!("{}", sme_proto::status::describe(&verdict.errors));
                    return Ok(ExitCode::from(1));
                }
            }
            let url = if cfg.hub.url.is_empty() {
                identity.info.hub_url.clone()
            } else {
                cfg.hub.url.clone()
            };
            let outcome = runtime.block_on(submit::submit_once(&identity, &url, report))?;
            print!("{}", outcome.describe());
            Ok(match outcome {
                SubmitOutcome::Accepted(_) => ExitCode::SUCCESS,
                SubmitOutcome::Rejected { .. } => ExitCode::from(1),
                SubmitOutcome::Retry { .. } => ExitCode::from(3),
            })
        }
    }
}
