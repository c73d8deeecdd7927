//! The operators' commands of `sme-hub`: [`args`] is the command line, the bodies live beside
//! it by subject (`registry`, `period`, `serve`); [`admin`] is the store they connect to and
//! [`tables`] the tables they print.

pub mod admin;
pub mod args;
mod cert;
mod export;
mod period;
mod registry;
mod serve;
pub mod tables;
mod user;

use anyhow::Context;

use admin::AdminStore;
pub use args::Cli;
use args::{CaCommand, Command, PeriodCommand, TokenCommand};

use crate::config::HubConfig;
use crate::pki::CertificateAuthority;

/// Runs one command with its loaded configuration.
pub fn run(cli: Cli, cfg: HubConfig) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve => serve::serve(cfg),
        Command::Registry { command } => run_admin(cfg, |cfg, store| {
            Box::pin(registry::registry_command(cfg, store, command))
        }),
        Command::User { command } => {
            // Passwords are asked for before connecting, so a prompt is not mixed with logs.
            let password = user::password_for(&command)?;
            run_admin(cfg, |cfg, store| {
                Box::pin(user::user_command(cfg, store, command, password))
            })
        }
        Command::Period {
            command: PeriodCommand::List { kind, count },
        } => {
            // The calendar alone: no ClickHouse needed.
            let now = cfg.clock.now();
            print!(
                "{}",
                crate::cli::tables::periods(&cfg.calendar, kind, count, now)
            );
            Ok(())
        }
        Command::Period { command } => run_admin(cfg, |cfg, store| {
            Box::pin(period::period_command(cfg, store, command))
        }),
        Command::Export(args) => run_admin(cfg, |cfg, store| {
            Box::pin(export::export(cfg, store, *args))
        }),
        Command::Completeness { period, region } => run_admin(cfg, |cfg, store| {
            Box::pin(async move {
                let period = period.parse().context("--period")?;
                if let Some(r) = &region {
                    anyhow::ensure!(
                        crate::registry::region::is_region_code(r),
                        "--region {r:?} is not a 6-digit region code"
                    );
                }
                // The CLI is the hub's operators on the hub machine: national scope.
                let c = crate::analytics::completeness::completeness(
                    store,
                    &cfg.calendar,
                    &crate::analytics::Scope::operator(),
                    &period,
                    region.as_deref(),
                )
                .await?;
                print!("{}", crate::cli::tables::completeness(&c));
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
        Command::Cert { command } => cert::cert_command(&cfg, command),
        Command::Token {
            command:
                TokenCommand::Issue {
                    platform,
                    ttl_hours,
                },
        } => {
            let ca = crate::server::load_ca(&cfg)?;
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

/// Runs an operator's command against the hub's ClickHouse (see `crate::cli::admin`).
fn run_admin(
    cfg: HubConfig,
    command: impl for<'a> FnOnce(&'a HubConfig, &'a crate::store::Store) -> AdminFuture<'a>,
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

pub(crate) fn region_prefix(filter: Option<&str>) -> anyhow::Result<Option<String>> {
    filter
        .map(|f| {
            crate::registry::region::filter_prefix(f).with_context(|| {
                format!("region {f:?} is neither a 6-digit code nor a digit prefix like 44")
            })
        })
        .transpose()
}
