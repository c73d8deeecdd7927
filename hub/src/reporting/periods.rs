//! Locks and reopenings (domain §6).
//!
//! A period locks for everyone at the calendar's `locks_at` (due time + `lock_after_days`). A
//! coordinator may then reopen it for one platform or for a whole region, until a new lock time;
//! every reopening is a row of `reopenings` (who, their region, when, why, until), kept forever.
//!
//! The lock of a (platform, period) is the latest of the calendar lock and the `until` of every
//! reopening that covers it — the platform itself, or a region containing the platform's
//! registry region. Reopenings only ever extend: two coordinators cannot undo each other, and a
//! reopening ending before the calendar lock is refused as meaningless. A reopened period
//! accepts reports (new revisions) until the new lock, then locks again by itself.
//!
//! `--until DATE` means: accepted through DATE, locked from DATE at the calendar's due time
//! (23:59:59 UTC+8 by default), like the calendar's own locks. Without it, the reopening lasts
//! `[periods] reopen_days` days from today (UTC+8).
//!
//! Coordinators are modelled minimally: a name and the region code they act for (`000000` for
//! the ministry). A coordinator may reopen a platform registered in their region or below, or a
//! region within theirs.

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sme_proto::period::{Calendar, Period, CST};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::registry::{self, db, region};
use crate::store::{Store, StoreError};

/// Who reopens: a coordinator's name and the region they act for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// Name as it goes into the audit row.
    pub name: String,
    /// 6-digit region code of their authority (`000000`: national).
    pub region: String,
}

/// What is reopened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReopenTarget {
    /// One platform (credit code).
    Platform(String),
    /// Every platform registered in a region (6-digit code; `000000` for all).
    Region(String),
}

/// A reopening to record.
#[derive(Debug, Clone)]
pub struct ReopenRequest {
    /// What.
    pub target: ReopenTarget,
    /// Which period.
    pub period: Period,
    /// Who.
    pub by: Coordinator,
    /// Why (free text, required).
    pub reason: String,
    /// Last day reports are accepted (UTC+8); `None`: `default_days` from today.
    pub until: Option<Date>,
}

/// A recorded reopening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reopening {
    /// Its id.
    pub id: Uuid,
    /// When it was recorded.
    pub reopened_at: OffsetDateTime,
    /// The period.
    pub period: String,
    /// What was reopened.
    pub target: ReopenTarget,
    /// The region of the target (a platform's registry region at the time).
    pub region_code: String,
    /// From when the period is locked again.
    pub until: OffsetDateTime,
    /// Coordinator's name.
    pub by_name: String,
    /// Coordinator's region.
    pub by_region: String,
    /// Why.
    pub reason: String,
}

/// Why a reopening was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReopenError {
    /// A required text is blank.
    #[error("{0} must not be blank")]
    Blank(&'static str),
    /// Not a 6-digit code of a known province.
    #[error("{what} {code:?} is not a region code: write 6 digits of GB/T 2260 (e.g. 440300, or 000000 for national)")]
    BadRegion {
        /// Which argument.
        what: &'static str,
        /// The value.
        code: String,
    },
    /// The platform is not in the registry.
    #[error("platform {0} is not in the registry; import it with `sme-hub registry import` first")]
    UnknownPlatform(String),
    /// The target lies outside the coordinator's region.
    #[error("{by} acts for region {scope}, which does not contain {target} (region {region}); a coordinator of {region} or above must reopen it")]
    OutOfScope {
        /// Coordinator.
        by: String,
        /// Their region.
        scope: String,
        /// The target as given.
        target: String,
        /// The target's region.
        region: String,
    },
    /// The period has not started.
    #[error("period {0} has not started yet; there is nothing to reopen")]
    FuturePeriod(String),
    /// The new lock time would change nothing.
    #[error("period {period} locks at {lock} UTC+8 anyway; reopening it until {until} UTC+8 would change nothing — give a later --until")]
    TooEarly {
        /// The period.
        period: String,
        /// The lock time it already has (calendar).
        lock: String,
        /// The requested lock time.
        until: String,
    },
    /// The new lock time is not in the future.
    #[error("--until {0} is not in the future; give a date after today (UTC+8)")]
    UntilPassed(String),
    /// ClickHouse failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Row, Serialize, Deserialize)]
struct ReopeningRow {
    #[serde(with = "clickhouse::serde::uuid")]
    reopening_id: Uuid,
    #[serde(with = "clickhouse::serde::time::datetime")]
    reopened_at: OffsetDateTime,
    period: String,
    target: i8,
    platform_id: String,
    region_code: String,
    region_prefix: String,
    #[serde(with = "clickhouse::serde::time::datetime")]
    until: OffsetDateTime,
    by_name: String,
    by_region: String,
    reason: String,
}

/// "2026-06-10 23:59:59" in UTC+8.
pub fn format_cst(t: OffsetDateTime) -> String {
    let t = t.to_offset(CST);
    format!(
        "{} {:02}:{:02}:{:02}",
        t.date(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The lock instant of a reopening: `until` (or `default_days` after today, UTC+8) at the
/// calendar's due time.
pub fn reopen_lock_time(
    calendar: &Calendar,
    until: Option<Date>,
    now: OffsetDateTime,
    default_days: u32,
) -> OffsetDateTime {
    let day = until
        .unwrap_or_else(|| now.to_offset(CST).date() + time::Duration::days(default_days.into()));
    day.with_time(calendar.due_time).assume_offset(CST)
}

/// Checks and records a reopening.
pub async fn reopen(
    store: &Store,
    calendar: &Calendar,
    request: &ReopenRequest,
    now: OffsetDateTime,
    default_days: u32,
) -> Result<Reopening, ReopenError> {
    let by = &request.by;
    if by.name.trim().is_empty() {
        return Err(ReopenError::Blank("--by (the coordinator's name)"));
    }
    if request.reason.trim().is_empty() {
        return Err(ReopenError::Blank("--reason"));
    }
    check_region("the coordinator's region", &by.region)?;
    let period = request.period;
    if period.starts_in_future(now) {
        return Err(ReopenError::FuturePeriod(period.to_string()));
    }
    let until = reopen_lock_time(calendar, request.until, now, default_days);
    if until <= now {
        return Err(ReopenError::UntilPassed(format_cst(until)));
    }
    let lock = calendar.locks_at(&period);
    if until <= lock {
        return Err(ReopenError::TooEarly {
            period: period.to_string(),
            lock: format_cst(lock),
            until: format_cst(until),
        });
    }
    let (target, platform_id, region_code, region_prefix, label) = match &request.target {
        ReopenTarget::Platform(id) => {
            let platform = registry::platform(store, id)
                .await?
                .ok_or_else(|| ReopenError::UnknownPlatform(id.clone()))?;
            (
                1,
                id.clone(),
                platform.region_code,
                String::new(),
                id.clone(),
            )
        }
        ReopenTarget::Region(code) => {
            check_region("--region", code)?;
            (
                2,
                String::new(),
                code.clone(),
                region::prefix(code).to_owned(),
                code.clone(),
            )
        }
    };
    if !region::within(&by.region, &region_code) {
        return Err(ReopenError::OutOfScope {
            by: by.name.clone(),
            scope: by.region.clone(),
            target: label,
            region: region_code,
        });
    }
    let row = ReopeningRow {
        reopening_id: Uuid::new_v4(),
        reopened_at: now,
        period: period.to_string(),
        target,
        platform_id,
        region_code,
        region_prefix,
        until,
        by_name: by.name.trim().to_owned(),
        by_region: by.region.clone(),
        reason: request.reason.trim().to_owned(),
    };
    registry_insert(store, &row).await?;
    tracing::info!(
        period = %row.period,
        target = %row.platform_id,
        region = %row.region_code,
        by = %row.by_name,
        until = %format_cst(until),
        "period reopened"
    );
    Ok(row.into_reopening())
}

fn check_region(what: &'static str, code: &str) -> Result<(), ReopenError> {
    if region::is_region_code(code)
        && (code == region::NATIONAL || region::province(code).is_some())
    {
        Ok(())
    } else {
        Err(ReopenError::BadRegion {
            what,
            code: code.to_owned(),
        })
    }
}

async fn registry_insert(store: &Store, row: &ReopeningRow) -> Result<(), StoreError> {
    db::insert::<ReopeningRow>(store, "reopenings", std::slice::from_ref(row)).await
}

/// Where `platform_id` (counted under `region_code`) is covered by a reopening of `period`.
const COVERS: &str = "((target = 'platform' AND platform_id = ?) \
     OR (target = 'region' AND substring(?, 1, length(region_prefix)) = region_prefix))";

/// When (platform, period) locks: the calendar's lock, extended by reopenings. ClickHouse is
/// asked only once the calendar lock has passed, so open periods cost no query.
pub async fn effective_lock(
    store: &Store,
    calendar: &Calendar,
    platform_id: &str,
    region_code: &str,
    period: &Period,
    now: OffsetDateTime,
) -> Result<OffsetDateTime, StoreError> {
    let lock = calendar.locks_at(period);
    if now < lock {
        return Ok(lock);
    }
    let sql = format!("SELECT toUInt32(max(until)) FROM reopenings WHERE period = ? AND {COVERS}");
    let query = store
        .client()
        .query(&sql)
        .bind(period.to_string())
        .bind(platform_id)
        .bind(region_code);
    let until: Vec<u32> = db::fetch_all(query, "reopenings of a period").await?;
    let reopened = until
        .first()
        .filter(|&&t| t > 0)
        .and_then(|&t| OffsetDateTime::from_unix_timestamp(t.into()).ok());
    Ok(reopened.map_or(lock, |r| r.max(lock)))
}

/// Periods reopened for a platform whose reopening has not yet run out at `now`, with the
/// latest `until` of each.
pub async fn reopened_periods(
    store: &Store,
    platform_id: &str,
    region_code: &str,
    now: OffsetDateTime,
) -> Result<Vec<(Period, OffsetDateTime)>, StoreError> {
    let sql = format!(
        "SELECT period, toUInt32(max(until)) FROM reopenings
         WHERE toUInt32(until) > ? AND {COVERS}
         GROUP BY period ORDER BY period"
    );
    let query = store
        .client()
        .query(&sql)
        .bind(unix(now))
        .bind(platform_id)
        .bind(region_code);
    let rows: Vec<(String, u32)> = db::fetch_all(query, "open reopenings").await?;
    Ok(rows
        .into_iter()
        .filter_map(|(p, t)| {
            Some((
                p.parse().ok()?,
                OffsetDateTime::from_unix_timestamp(t.into()).ok()?,
            ))
        })
        .collect())
}

/// Which reopenings to list.
#[derive(Debug, Clone, Default)]
pub struct ReopeningFilter {
    /// Only this period.
    pub period: Option<String>,
    /// Only those covering this platform (with its region).
    pub platform: Option<(String, String)>,
    /// Only those whose target region lies within this region.
    pub region: Option<String>,
}

/// The recorded reopenings, newest first.
pub async fn reopenings(
    store: &Store,
    filter: &ReopeningFilter,
) -> Result<Vec<Reopening>, StoreError> {
    let (platform_id, platform_region) = filter.platform.clone().unwrap_or_default();
    let prefix = filter
        .region
        .as_deref()
        .map(region::prefix)
        .unwrap_or("")
        .to_owned();
    let sql = format!(
        "SELECT reopening_id, reopened_at, period, target, platform_id, region_code,
                region_prefix, until, by_name, by_region, reason
         FROM reopenings FINAL
         WHERE (? = '' OR period = ?)
           AND (? = '' OR {COVERS})
           AND substring(region_code, 1, ?) = ?
         ORDER BY reopened_at DESC, reopening_id"
    );
    let period = filter.period.clone().unwrap_or_default();
    let query = store
        .client()
        .query(&sql)
        .bind(&period)
        .bind(&period)
        .bind(&platform_id)
        .bind(&platform_id)
        .bind(&platform_region)
        .bind(prefix.len() as u64)
        .bind(&prefix);
    let rows: Vec<ReopeningRow> = db::fetch_all(query, "list reopenings").await?;
    Ok(rows.into_iter().map(ReopeningRow::into_reopening).collect())
}

impl ReopeningRow {
    fn into_reopening(self) -> Reopening {
        Reopening {
            id: self.reopening_id,
            reopened_at: self.reopened_at,
            period: self.period,
            target: if self.target == 1 {
                ReopenTarget::Platform(self.platform_id)
            } else {
                ReopenTarget::Region(self.region_code.clone())
            },
            region_code: self.region_code,
            until: self.until,
            by_name: self.by_name,
            by_region: self.by_region,
            reason: self.reason,
        }
    }
}

fn unix(t: OffsetDateTime) -> u32 {
    u32::try_from(t.unix_timestamp()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn reopen_lock_time_is_the_due_time_of_the_until_day() {
        let cal = Calendar::default();
        let now = datetime!(2026-11-28 01:30 UTC);
        assert_eq!(
            reopen_lock_time(&cal, Some(date!(2026 - 12 - 31)), now, 30),
            datetime!(2026-12-31 23:59:59 +8)
        );
        // Default: 30 days after today in UTC+8 (which is already 28 Nov here).
        assert_eq!(
            reopen_lock_time(&cal, None, now, 30),
            datetime!(2026-12-28 23:59:59 +8)
        );
        // 16:00Z on 31 May is 1 June in UTC+8.
        assert_eq!(
            reopen_lock_time(&cal, None, datetime!(2026-05-31 16:00 UTC), 1),
            datetime!(2026-06-02 23:59:59 +8)
        );
    }
}
