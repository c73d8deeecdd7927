//! `sme-hub export`: the export engine on the command line, with a progress bar and an
//! estimate; Ctrl-C removes the half-written `.part` file. Exit status 3 for a request outside
//! the user's scope (refused and audited), 2 for other bad parameters.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::ExportArgs;
use crate::analytics::Scope;
use crate::config::HubConfig;
use crate::export::output::Target;
use crate::export::{self, engine, Engine, ExportParams, ExportRequest, Requester};
use crate::store::Store;

struct Bar(ProgressBar, AtomicU64);

impl export::Progress for Bar {
    fn start(&self, units: u64) {
        self.0.set_length(units);
    }
    fn rows(&self, rows: u64) {
        let total = self.1.fetch_add(rows, Ordering::Relaxed) + rows;
        self.0.set_message(format!("{total} rows"));
    }
    fn step(&self) {
        self.0.inc(1);
    }
}

/// Runs the command.
pub(super) async fn export(cfg: &HubConfig, store: &Store, args: ExportArgs) -> anyhow::Result<()> {
    let host_user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let (scope, who) = match &args.as_user {
        None => (
            Scope::operator(),
            Requester {
                user: host_user.clone(),
                role: "operator".into(),
                channel: "cli",
                address: host_user.clone(),
                instance: "cli".into(),
            },
        ),
        Some(name) => {
            let user = crate::users::find(store, name)
                .await?
                .with_context(|| format!("--as-user {name}: no such web user"))?;
            anyhow::ensure!(!user.disabled, "--as-user {name}: the user is disabled");
            let scope = Scope::for_user(user.role, user.region.as_deref())
                .with_context(|| format!("--as-user {name}"))?;
            (
                scope,
                Requester {
                    user: user.name.clone(),
                    role: user.role.as_str().into(),
                    channel: "cli",
                    address: host_user.clone(),
                    instance: "cli".into(),
                },
            )
        }
    };
    if args.statistics.trim() == "sdmx-structure" {
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| "sme-sdmx-structure.xml".into());
        let names = crate::registry::db::divisions(store, None).await?;
        let areas: Vec<(String, String, String)> = names
            .into_iter()
            .map(|d| (d.code, d.name_en, d.name))
            .collect();
        let prepared = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        std::fs::write(&out, export::sdmx::structure_xml(&areas, &prepared))
            .with_context(|| format!("writing {}", out.display()))?;
        println!(
            "wrote {} ({} areas in CL_AREA)",
            out.display(),
            areas.len() + 1
        );
        return Ok(());
    }
    let params = ExportParams {
        statistics: Some(args.statistics.clone()),
        format: Some(args.format.clone()),
        from: args.from.clone(),
        to: args.to.clone(),
        region: args.region.clone(),
        area_level: args.level.clone(),
        breakdown: args.breakdown.clone(),
        function: args.function.clone(),
        industry: args.industry.clone(),
        enterprise_size: args.enterprise_size.clone(),
        demo_level: args.demo_level.clone(),
        lang: Some(args.lang.clone()),
    };
    let request = match ExportRequest::parse(&params, &scope, &cfg.calendar) {
        Ok(r) => r,
        Err(e) => {
            let row = engine::refused_row(&scope, &params, &who, &e.to_string());
            export::audit::record(store, &row)
                .await
                .context("auditing the refused export")?;
            let code = if e.is_scope() { 3 } else { 2 };
            eprintln!("sme-hub export: refused: {e}");
            std::process::exit(code);
        }
    };
    let out: PathBuf = args
        .out
        .clone()
        .unwrap_or_else(|| request.file_name().into());
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} periods · {msg} · ETA {eta}",
            )
            .expect("a valid template"),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    };
    let progress = Bar(bar.clone(), AtomicU64::new(0));
    let engine = Engine {
        store,
        calendar: &cfg.calendar,
        demo: &cfg.demo,
    };
    let run = engine.run(&scope, &request, Target::File(out.clone()), &who, &progress);
    let finished = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => {
            // Dropping the run drops its output; remove what it left.
            let _ = std::fs::remove_file(export::output::part_path(&out));
            bar.abandon_with_message("interrupted");
            anyhow::bail!("interrupted: no file was written ({} removed)", export::output::part_path(&out).display());
        }
    };
    let finished = finished.with_context(|| format!("exporting to {}", out.display()))?;
    bar.finish_and_clear();
    println!(
        "wrote {} ({} rows, {} bytes, sha256 {})",
        out.display(),
        finished.total_rows(),
        finished.written.bytes,
        finished.written.sha256
    );
    Ok(())
}
