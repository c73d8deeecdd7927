//! `sme-agent`: the platform-side agent.
//!
//! Exit codes: 0 done; 1 the data needs attention (refused file, rejected or blocked report,
//! `status` with something to fix); 2 error (configuration, store, identity); 3 not delivered
//! now, retried later.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use sme_agent::cli::{Cli, Command};
use sme_agent::clock::SystemClock;
use sme_agent::config::AgentConfig;
use sme_agent::identity::{self, Identity};
use sme_agent::intake::{self, ImportError};
use sme_agent::service::Agent;
use sme_agent::shutdown::Shutdown;
use sme_agent::store::Store;
use sme_agent::submit::{self, SubmitOutcome};
use sme_agent::{status, template};
use sme_proto::period::Period;

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
    let default_log = if matches!(cli.command, Command::Run) {
        "info"
    } else {
        "warn"
    };
    // `Targets` understands the usual RUST_LOG forms (`info`, `sme_agent=debug,warn`) without
    // the regex engine of `EnvFilter`, which would add a megabyte to the agent's memory.
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| default_log.parse().expect("a valid level"));
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    // Colours only on a terminal: journald, rsyslog and files get plain lines.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(filter)
            .init();
    }
    if !matches!(
        cli.command,
        Command::Template { .. } | Command::ExampleReport { .. }
    ) {
        refuse_foreign_data_dir(&cfg.data_dir)?;
    }
    match cli.command {
        Command::Enroll {
            hub,
            platform,
            token,
            force,
        } => {
            let id = runtime()?.block_on(identity::enroll(
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
        Command::Run => run_service(cfg),
        Command::Import {
            files,
            allow_revert,
        } => import(&cfg, &files, allow_revert),
        Command::Void { record, file } => {
            let selector = match (record, file) {
                (Some(id), _) => sme_agent::store::VoidSelector::Record(id),
                (None, Some(name)) => sme_agent::store::VoidSelector::File(
                    // A path names its file.
                    Path::new(&name)
                        .file_name()
                        .map_or(name.clone(), |n| n.to_string_lossy().into_owned()),
                ),
                (None, None) => unreachable!("clap requires one of --record, --file"),
            };
            let summary = open_store(&cfg)?.void_records(&selector)?;
            println!(
                "voided {} record(s): {}; periods sent again as a new revision at the next run \
                 (or now with `sme-agent sync`): {}",
                summary.voided.len(),
                summary.voided.join(", "),
                summary.dirty_periods.join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Template { dir } => {
            for path in template::write_templates(&dir)? {
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            let s = status::collect(&cfg, time::OffsetDateTime::now_utc())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", status::render(&s));
            }
            let attention = !s.rejected.is_empty()
                || !s.blocked.is_empty()
                || s.identity_error.is_some()
                || s.certificate.as_ref().is_some_and(|c| c.state == "expired");
            Ok(if attention {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Explain { period, rule, text } => {
            let p = parse_period(&period)?;
            let rule = rule.trim().to_ascii_uppercase();
            anyhow::ensure!(
                rule.len() == 4 && rule[1..].bytes().all(|b| b.is_ascii_digit()),
                "--rule {rule:?}: expected a rule id such as W201"
            );
            anyhow::ensure!(!text.trim().is_empty(), "--text must not be empty");
            let mut store = open_store(&cfg)?;
            let changed = store.add_explanation(&p, &rule, text.trim())?;
            if changed {
                println!(
                    "explanation for {rule} saved; {p} is rebuilt and sent as a new revision at \
                     the next run (or now with `sme-agent sync`)"
                );
            } else {
                println!("the same explanation for {rule} was already saved for {p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rebuild { period } => {
            let p = parse_period(&period)?;
            open_store(&cfg)?.force_rebuild(&p)?;
            println!(
                "{p} is built as a new revision at the next run (or now with `sme-agent sync`)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync => sync(cfg),
        Command::ExampleReport { period, platform } => {
            parse_period(&period)?;
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
        Command::Send { file, skip_check } => send(&cfg, &file, skip_check),
    }
}

/// The service: a single-threaded runtime (the agent is I/O bound; one thread keeps it small),
/// stopped by SIGTERM or SIGINT.
fn run_service(cfg: AgentConfig) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // SQLite work runs on at most one blocking thread, which exits when idle.
        .max_blocking_threads(1)
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let agent = Agent::open(cfg, Arc::new(SystemClock))?;
        let (trigger, shutdown) = Shutdown::new();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("installing the SIGTERM handler")?;
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
            }
            trigger.trigger();
            // A second signal while winding down is not special: the grace period bounds it.
            std::future::pending::<()>().await;
        });
        agent.run(shutdown).await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn sync(cfg: AgentConfig) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async move {
        let mut agent = Agent::open(cfg, Arc::new(SystemClock))?;
        let r = agent.run_once(true, &Shutdown::never()).await;
        if let Some(Err(e)) = &r.heartbeat {
            println!("heartbeat failed: {e}");
        }
        if r.renewed {
            println!("certificate renewed");
        }
        for b in &r.built.enqueued {
            println!(
                "built {} revision {} (report {}){}",
                b.period,
                b.revision,
                b.report_id,
                if b.records_omitted {
                    ", service records left out for size"
                } else {
                    ""
                }
            );
        }
        for (p, errors) in &r.built.blocked {
            println!("held back {p}: the local check found:");
            print!("{}", sme_proto::status::describe(errors));
        }
        let d = &r.drained;
        println!(
            "delivered {}, rejected {}, to retry {}",
            d.delivered, d.rejected, d.retried
        );
        if let Some(e) = d.auth_error.as_ref().or(d.last_failure.as_ref()) {
            println!("not delivered now: {e}");
        }
        Ok(if d.rejected > 0 || !r.built.blocked.is_empty() {
            ExitCode::from(1)
        } else if d.retried > 0 {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        })
    })
}

fn import(cfg: &AgentConfig, files: &[PathBuf], allow_revert: bool) -> anyhow::Result<ExitCode> {
    let identity = Identity::load(&cfg.data_dir)?;
    let mut store = open_store(cfg)?;
    let mut code = ExitCode::SUCCESS;
    for file in files {
        match intake::import_file_with(
            file,
            &mut store,
            &identity.pseudonym_key,
            cfg.inbox.limits(),
            allow_revert,
        ) {
            Ok(done) => {
                let s = &done.summary;
                if s.already_imported {
                    println!("{}: already imported, nothing changed", file.display());
                } else {
                    println!(
                        "{}: {} rows imported ({} new, {} changed, {} unchanged){}",
                        file.display(),
                        s.rows,
                        s.inserted,
                        s.updated,
                        s.unchanged,
                        if s.dirty_periods.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; periods to rebuild at the next run: {}",
                                s.dirty_periods.join(", ")
                            )
                        }
                    );
                }
            }
            Err(ImportError::Intake(e)) => {
                eprintln!("{e}");
                code = ExitCode::from(1);
            }
            Err(e @ ImportError::Store(_)) => return Err(e.into()),
        }
    }
    Ok(code)
}

fn send(cfg: &AgentConfig, file: &Path, skip_check: bool) -> anyhow::Result<ExitCode> {
    let identity = Identity::load(&cfg.data_dir)?;
    let report = submit::load_report_file(file, Some(&identity))?;
    if !skip_check {
        let calendar = sme_proto::period::Calendar::default();
        let ctx = sme_proto::rules::CheckContext {
            now: time::OffsetDateTime::now_utc(),
            calendar: &calendar,
            certificate_platform_id: Some(&identity.info.platform_id),
            encoded_len: prost::Message::encoded_len(&report),
            max_report_bytes: cfg.delivery.max_report_bytes,
            platform_active: None,
            lock: None,
            previous_total_services: None,
        };
        let verdict = sme_proto::rules::check(&report, &ctx);
        if !verdict.is_accepted() {
            eprintln!(
                "the report breaks these rules; fix them, or pass --skip-check to let the hub judge:"
            );
            eprint!("{}", sme_proto::status::describe(&verdict.errors));
            return Ok(ExitCode::from(1));
        }
    }
    let url = if cfg.hub.url.is_empty() {
        identity.info.hub_url.clone()
    } else {
        cfg.hub.url.clone()
    };
    let store = sme_agent::store::SharedStore::new(open_store(cfg)?);
    let settings = sme_agent::delivery::DeliverySettings::from_config(&cfg.delivery);
    let (revision, outcome) = runtime()?.block_on(submit::send_through_outbox(
        &store,
        &identity,
        &url,
        &settings,
        &SystemClock,
        report,
    ))?;
    print!("{}", outcome.describe());
    if !matches!(outcome, SubmitOutcome::Accepted(_)) {
        println!("(sent as revision {revision}, the period's next revision in the outbox)");
    }
    Ok(match outcome {
        SubmitOutcome::Accepted(_) => ExitCode::SUCCESS,
        SubmitOutcome::Rejected { .. } => ExitCode::from(1),
        SubmitOutcome::Retry { .. } => ExitCode::from(3),
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn open_store(cfg: &AgentConfig) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating the data directory {}", cfg.data_dir.display()))?;
    Ok(Store::open(cfg.store_path())?)
}

fn parse_period(code: &str) -> anyhow::Result<Period> {
    code.parse::<Period>()
        .map_err(|e| anyhow::anyhow!("--period {code:?}: {e}"))
}

/// Root touching a data directory that belongs to the service's user would leave root-owned
/// files (SQLite's `-wal`/`-shm`, identity files) the service can no longer write.
fn refuse_foreign_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(data_dir) else {
        return Ok(());
    };
    let Some(euid) = effective_uid() else {
        return Ok(());
    };
    if euid == 0 && meta.uid() != 0 {
        let owner = user_name(meta.uid()).unwrap_or_else(|| meta.uid().to_string());
        anyhow::bail!(
            "{} belongs to user {owner}; run this command as that user so the service can still \
             write its files: sudo -u {owner} sme-agent …",
            data_dir.display()
        );
    }
    Ok(())
}

/// The effective uid, from /proc (no libc needed).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}
