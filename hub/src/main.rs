//! `sme-hub`: the ministry's aggregation hub.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use sme_hub::config::HubConfig;
use sme_hub::pki::CertificateAuthority;

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
    /// Manage enrolment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Serve => serve(cfg),
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

fn serve(cfg: HubConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let hub = sme_hub::server::start(&cfg).await?;
        println!("sme-hub serving gRPC on {}", hub.grpc_addr);
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
