//! Reporting completeness and timeliness (domain §6, §7.5), by region, with the missing
//! platforms.
//!
//! - **Expected** for a period: platforms of the (current) registry that are active at any time
//!   in it — registered on or before its last day and not closed on or before its first day.
//! - **Received**: expected platforms with at least one accepted report for the period, each
//!   counted once whatever the number of revisions or duplicate writes. Reports of platforms
//!   that are not expected are not counted, so received ≤ expected and the rate never passes
//!   100 %.
//! - **On time**: received, and the first accepted report (the earliest receipt of any
//!   revision) arrived by the due time stored with it at acceptance (`reports.due_at`, the
//!   calendar in force then; the configured calendar for rows stored before it existed) — within the due second, so with the default 23:59:59
//!   anything up to 23:59:59.999 UTC+8 counts.
//!
//! Regions are the registry's (where a platform is counted), grouped one level below the scope
//! asked for: provinces for the country, prefectures for a province, counties for a prefecture.

use std::collections::{BTreeMap, HashMap};

use clickhouse::Row;
use serde::Deserialize;
use sme_proto::period::{Calendar, Period};
use time::OffsetDateTime;

use super::filter::Filter;
use super::scope::Scope;
#[cfg(doc)]
use super::scope::ScopeError;
use super::sql::{self, Sql};
use super::ViewError;
use crate::registry::{self, region};
use crate::store::Store;

/// One expected platform and what arrived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformStatus {
    /// Credit code.
    pub credit_code: String,
    /// Name.
    pub name: String,
    /// Registry region.
    pub region_code: String,
    /// Whether an accepted report exists.
    pub received: bool,
    /// When the first accepted report arrived.
    pub first_received_at: Option<OffsetDateTime>,
    /// Whether that was by the due time.
    pub on_time: bool,
    /// Distinct revisions accepted.
    pub revisions: u32,
}

/// A platform that has not reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPlatform {
    /// Credit code.
    pub credit_code: String,
    /// Name.
    pub name: String,
    /// Registry region.
    pub region_code: String,
}

/// Completeness of one region.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegionCompleteness {
    /// 6-digit code.
    pub region_code: String,
    /// Name from the division table (empty when unknown, e.g. counties).
    pub region_name: String,
    /// Expected reports.
    pub expected: u64,
    /// Received (≤ expected).
    pub received: u64,
    /// Received on time (≤ received).
    pub on_time: u64,
    /// Expected platforms without a report, by code.
    pub missing: Vec<MissingPlatform>,
}

/// Completeness of a period within a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completeness {
    /// The period.
    pub period: Period,
    /// Its due time.
    pub due_at: OffsetDateTime,
    /// The scope's code (`000000` for the country).
    pub scope: String,
    /// One row per region one level below the scope that has expected platforms, by code.
    pub regions: Vec<RegionCompleteness>,
    /// The whole scope.
    pub total: RegionCompleteness,
}

// === impl RegionCompleteness ===

impl RegionCompleteness {
    /// Received ÷ expected, 0 when nothing is expected.
    pub fn rate(&self) -> f64 {
        ratio(self.received, self.expected)
    }

    /// On time ÷ expected.
    pub fn on_time_rate(&self) -> f64 {
        ratio(self.on_time, self.expected)
    }

    fn add(&mut self, status: &PlatformStatus) {
        self.expected += 1;
        if status.received {
            self.received += 1;
            if status.on_time {
                self.on_time += 1;
            }
        } else {
            self.missing.push(MissingPlatform {
                credit_code: status.credit_code.clone(),
                name: status.name.clone(),
                region_code: status.region_code.clone(),
            });
        }
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

#[derive(Row, Deserialize)]
struct StatusRow {
    credit_code: String,
    name: String,
    region_code: String,
    received: u8,
    first_ns: u64,
    revisions: u32,
    first_due: u64,
}

/// Every expected platform of `period` in `region` (already resolved through `scope`; the
/// scope's predicate is in the query as well), with what arrived, ordered by region and code.
pub async fn platform_statuses(
    store: &Store,
    calendar: &Calendar,
    scope: &Scope,
    period: &Period,
    region: &str,
) -> Result<Vec<PlatformStatus>, ViewError> {
    // The left side is the current registry; the right side one row per platform that has any
    // accepted report for the period (revisions and duplicate writes collapse in GROUP BY).
    // Both subqueries are aliased: current releases refuse a join of unaliased subqueries
    // (code 206), 18.16 accepts either.
    // Expected: the registry in force at the period's due time (see `expected_platforms`).
    let expected = Filter::new(scope, *period, *period)
        .and_then(|f| f.with_region(scope, region))?
        .with_calendar(calendar);
    let mut q = Sql::new(
        "SELECT credit_code, cur_name, cur_region, received, first_ns, revisions, first_due FROM (",
    );
    q.append(sql::expected_platforms(scope, &expected)).push(
        ") AS registry
         ANY LEFT JOIN (
             SELECT platform_id AS credit_code,
                    toUInt8(1) AS received,
                    min(toUInt64(received_at) * 1000000000 + received_at_nanos) AS first_ns,
                    toUInt32(uniqExact(revision)) AS revisions,
                    toUInt64(argMin(due_at, toUInt64(received_at) * 1000000000 + received_at_nanos)) AS first_due
             FROM reports
             WHERE period = ",
    );
    q.str(period.to_string())
        .push(
            "
             GROUP BY platform_id
         ) AS arrived USING credit_code
         WHERE ",
        )
        .scope(scope, "cur_region")
        .push(" ORDER BY cur_region, credit_code");
    let rows: Vec<StatusRow> = q.fetch(store, "completeness").await?;
    let due = calendar.due_at(period).unix_timestamp();
    Ok(rows
        .into_iter()
        .map(|r| {
            let received = r.received != 0;
            let first = received
                .then(|| OffsetDateTime::from_unix_timestamp_nanos(r.first_ns.into()).ok())
                .flatten();
            PlatformStatus {
                credit_code: r.credit_code,
                name: r.name,
                region_code: r.region_code,
                received,
                // The due time stored with the first accepted revision (in force at its
                // acceptance); rows from before it was stored fall back to the calendar.
                on_time: first.is_some_and(|t| {
                    let due = if r.first_due > 0 {
                        r.first_due as i64
                    } else {
                        due
                    };
                    t.unix_timestamp() <= due
                }),
                first_received_at: first,
                revisions: r.revisions,
            }
        })
        .collect())
}

/// Adds up statuses by region one level below `scope`. Pure: the arithmetic of the report.
pub fn summarize(
    period: Period,
    due_at: OffsetDateTime,
    scope: &str,
    statuses: &[PlatformStatus],
    names: &HashMap<String, String>,
) -> Completeness {
    let name = |code: &str| names.get(code).cloned().unwrap_or_default();
    let mut regions: BTreeMap<String, RegionCompleteness> = BTreeMap::new();
    let mut total = RegionCompleteness {
        region_code: scope.to_owned(),
        region_name: if scope == region::NATIONAL {
            "全国".to_owned()
        } else {
            name(scope)
        },
        ..Default::default()
    };
    for status in statuses
        .iter()
        .filter(|s| region::within(scope, &s.region_code))
    {
        let code = region::child_within(scope, &status.region_code);
        regions
            .entry(code.clone())
            .or_insert_with(|| RegionCompleteness {
                region_name: name(&code),
                region_code: code,
                ..Default::default()
            })
            .add(status);
        total.add(status);
    }
    Completeness {
        period,
        due_at,
        scope: scope.to_owned(),
        regions: regions.into_values().collect(),
        total,
    }
}

/// Completeness of `period` in `region` (default: the whole scope), which must lie inside
/// `scope` ([`ScopeError::OutsideScope`] otherwise, never an empty answer).
pub async fn completeness(
    store: &Store,
    calendar: &Calendar,
    scope: &Scope,
    period: &Period,
    region: Option<&str>,
) -> Result<Completeness, ViewError> {
    let region = scope.resolve(region)?;
    let statuses = platform_statuses(store, calendar, scope, period, &region).await?;
    let names = registry::division_names(store).await?;
    Ok(summarize(
        *period,
        calendar.due_at(period),
        &region,
        &statuses,
        &names,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn status(code: &str, region: &str, received: bool, on_time: bool) -> PlatformStatus {
        PlatformStatus {
            credit_code: code.into(),
            name: format!("平台{code}"),
            region_code: region.into(),
            received,
            first_received_at: received.then_some(datetime!(2026-06-10 12:00 +8)),
            on_time,
            revisions: u32::from(received),
        }
    }

    #[test]
    fn sums_by_the_level_below_the_scope_and_lists_the_missing() {
        let statuses = vec![
            status("A", "440305", true, true),
            status("B", "440306", true, false),
            status("C", "440106", false, false),
            status("D", "110108", true, true),
        ];
        let names: HashMap<String, String> = [
            ("440000", "广东省"),
            ("110000", "北京市"),
            ("440300", "深圳市"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
        let period: Period = "2026-M05".parse().unwrap();
        let due = datetime!(2026-06-10 23:59:59 +8);

        let national = summarize(period, due, region::NATIONAL, &statuses, &names);
        assert_eq!(national.total.expected, 4);
        assert_eq!(national.total.received, 3);
        assert_eq!(national.total.on_time, 2);
        assert_eq!(national.total.region_name, "全国");
        let codes: Vec<_> = national
            .regions
            .iter()
            .map(|r| r.region_code.as_str())
            .collect();
        assert_eq!(codes, ["110000", "440000"]);
        assert_eq!(national.regions[1].region_name, "广东省");
        assert_eq!(national.regions[1].missing[0].credit_code, "C");
        assert!((national.regions[1].rate() - 2.0 / 3.0).abs() < 1e-9);

        let guangdong = summarize(period, due, "440000", &statuses, &names);
        assert_eq!(guangdong.total.expected, 3);
        let codes: Vec<_> = guangdong
            .regions
            .iter()
            .map(|r| r.region_code.as_str())
            .collect();
        assert_eq!(codes, ["440100", "440300"]);
        assert_eq!(guangdong.regions[1].region_name, "深圳市");
        assert_eq!(
            guangdong.regions[0].region_name, "",
            "unknown names stay empty"
        );

        let shenzhen = summarize(period, due, "440300", &statuses, &names);
        let codes: Vec<_> = shenzhen
            .regions
            .iter()
            .map(|r| r.region_code.as_str())
            .collect();
        assert_eq!(codes, ["440305", "440306"]);
        assert_eq!(shenzhen.total.on_time_rate(), 0.5);
    }

    #[test]
    fn an_empty_scope_has_zero_rates() {
        let period: Period = "2026-M05".parse().unwrap();
        let c = summarize(
            period,
            datetime!(2026-06-10 23:59:59 +8),
            "650000",
            &[],
            &HashMap::new(),
        );
        assert_eq!(c.total.expected, 0);
        assert_eq!(c.total.rate(), 0.0);
        assert!(c.regions.is_empty());
    }
}
