//! `sme-hub period …`: locks and reopenings (the calendar alone is printed without ClickHouse).

use anyhow::Context;

use crate::cli::args::PeriodCommand;
use crate::config::HubConfig;
use crate::registry;
use crate::store::Store;

pub(crate) async fn period_command(
    cfg: &HubConfig,
    store: &Store,
    command: PeriodCommand,
) -> anyhow::Result<()> {
    use crate::reporting::periods::{self, Coordinator, ReopenRequest, ReopenTarget};
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
            print!("{}", crate::cli::tables::reopenings(&list, &names, now));
            if let (Some((id, region)), Some(p)) = (platform, period) {
                let p = p.parse().context("--period")?;
                let lock =
                    periods::effective_lock(store, &cfg.calendar, &id, &region, &p, now).await?;
                print!(
                    "{}",
                    crate::cli::tables::lock_line(&id, &p, &cfg.calendar, lock, now)
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
