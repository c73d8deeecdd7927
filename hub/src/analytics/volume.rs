//! Service volume (domain §7.2): services, free vs paid, revenue and person-times by service
//! function, region, period, industry or enterprise size.
//!
//! - Reads one period kind, the filter's (monthly for trends; the view says which).
//! - By function, region or period, and without an industry or size filter, the figures are
//!   the volume sections of the current reports (complete: every report has one).
//! - By industry or enterprise size, or filtered by either, they are counted from the service
//!   records of the current reports ([`Source::Records`]) and cover only the reports that sent
//!   record detail ([`RecordCoverage`]).
//! - `enterprises_served` is never summed: firms reached are distinct pseudonyms of the
//!   records ([`RecordCoverage::enterprises_reached`]).
//! - Every row carries `reported` and `expected` (platform × period reports; for one period,
//!   platforms); a key nobody reported is absent, not zero.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::filter::Filter;
use super::scope::Scope;
use super::sql::{self, Sql};
use super::Coverage;
use crate::store::{Store, StoreError};

/// What the rows are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VolumeBy {
    /// Service function 1–7 (key `"1"` … `"7"`).
    Function,
    /// Region one level below the filter's (key: 6-digit code).
    Region,
    /// Period (key: `2026-M05`).
    Period,
    /// Served enterprise's industry section (key `"A"` … `"T"`, `""` not given); from records.
    Industry,
    /// Served enterprise's size (key `micro`/`small`/`medium`, `""` not given); from records.
    EnterpriseSize,
}

/// Where the figures come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The volume sections (every current report).
    Volumes,
    /// The service records (only reports that sent them).
    Records,
}

/// One row of the volume view.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VolumeRow {
    /// The key (see [`VolumeBy`]); `"total"` for the total row.
    pub key: String,
    /// Services (服务次数).
    pub services: u64,
    /// Free services (公益/免费).
    pub free_services: u64,
    /// Paid services = services − free.
    pub paid_services: u64,
    /// Free ÷ services; `None` without services.
    pub free_share: Option<f64>,
    /// Revenue in fen.
    pub revenue_fen: i64,
    /// Person-times (人次).
    pub person_times: u64,
    /// Reports behind the row and reports expected.
    pub coverage: Coverage,
}

/// How far service records reach in the filter's reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RecordCoverage {
    /// Current reports.
    pub reports: u64,
    /// Of those, reports that carried service records.
    pub with_records: u64,
    /// Reports whose agent left the records out for the size limit.
    pub records_omitted: u64,
    /// Platforms that sent record detail in at least one period.
    pub platforms_with_records: u64,
    /// Distinct enterprises (pseudonyms) in those records, across platforms and periods.
    pub enterprises_reached: u64,
}

/// The volume view.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VolumeView {
    /// `month`, `quarter` or `year`: the one kind read.
    #[schema(value_type = String, example = "month")]
    pub period_kind: &'static str,
    /// First period.
    pub from: String,
    /// Last period.
    pub to: String,
    /// The region the figures cover.
    pub region: String,
    /// The key of the rows.
    pub by: VolumeBy,
    /// Volume sections or service records.
    pub source: Source,
    /// By key, ascending.
    pub rows: Vec<VolumeRow>,
    /// Everything in the filter.
    pub total: VolumeRow,
    /// Record detail behind the figures (and the firms reached).
    pub records: RecordCoverage,
}

#[derive(Row, Deserialize)]
struct SumRow {
    key: String,
    services: u64,
    free_services: u64,
    revenue_fen: i64,
    person_times: u64,
    reported: u64,
}

#[derive(Row, Deserialize)]
struct CountRow {
    key: String,
    n: u64,
}

#[derive(Row, Deserialize)]
struct CoverageRow {
    reports: u64,
    with_records: u64,
    records_omitted: u64,
    platforms_with_records: u64,
    enterprises_reached: u64,
}

/// The service volume under `filter`, keyed `by`.
pub async fn volume(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    by: VolumeBy,
) -> Result<VolumeView, StoreError> {
    let source =
        if filter.needs_records() || matches!(by, VolumeBy::Industry | VolumeBy::EnterpriseSize) {
            Source::Records
        } else {
            Source::Volumes
        };
    let child = sql::child_region_expr(filter.region(), "reg");
    let key = |by: VolumeBy| match by {
        VolumeBy::Function => "toString(fn)".to_owned(),
        VolumeBy::Region => child.clone(),
        VolumeBy::Period => "per".to_owned(),
        VolumeBy::Industry => "industry".to_owned(),
        VolumeBy::EnterpriseSize => {
            "transform(size, [1, 2, 3], ['micro', 'small', 'medium'], '')".to_owned()
        }
    };
    let rows_sql = |key: &str| match source {
        Source::Volumes => volume_rows(scope, filter, key),
        Source::Records => record_rows(scope, filter, key),
    };
    let sums: Vec<SumRow> = rows_sql(&key(by)).fetch(store, "volume").await?;
    let totals: Vec<SumRow> = rows_sql("'total'").fetch(store, "volume total").await?;

    // Expected reports per key: by region and period from the registry; otherwise the total.
    let expected_key = match by {
        VolumeBy::Region => sql::child_region_expr(filter.region(), "cur_region"),
        VolumeBy::Period => "period".to_owned(),
        _ => "'total'".to_owned(),
    };
    let mut exp = Sql::new(&format!(
        "SELECT {expected_key} AS key, count() AS n FROM ("
    ));
    exp.append(sql::expected_platforms(scope, filter))
        .push(") AS e GROUP BY key");
    let expected: HashMap<String, u64> = exp
        .fetch::<CountRow>(store, "volume expected")
        .await?
        .into_iter()
        .map(|r| (r.key, r.n))
        .collect();
    let expected_total: u64 = expected.values().sum();
    let records = record_coverage(store, scope, filter).await?;

    let row = |r: SumRow, expected: u64| VolumeRow {
        paid_services: r.services.saturating_sub(r.free_services),
        free_share: sql::share(r.free_services, r.services),
        coverage: Coverage {
            reported: r.reported,
            expected,
        },
        key: r.key,
        services: r.services,
        free_services: r.free_services,
        revenue_fen: r.revenue_fen,
        person_times: r.person_times,
    };
    let rows = sums
        .into_iter()
        .map(|r| {
            let e = match by {
                VolumeBy::Region | VolumeBy::Period => expected.get(&r.key).copied().unwrap_or(0),
                _ => expected_total,
            };
            row(r, e)
        })
        .collect();
    let total = totals.into_iter().next().map_or_else(
        || VolumeRow {
            key: "total".to_owned(),
            services: 0,
            free_services: 0,
            paid_services: 0,
            free_share: None,
            revenue_fen: 0,
            person_times: 0,
            coverage: Coverage {
                reported: 0,
                expected: expected_total,
            },
        },
        |r| row(r, expected_total),
    );
    Ok(VolumeView {
        period_kind: filter.kind().as_str(),
        from: filter.from().to_string(),
        to: filter.to().to_string(),
        region: filter.region().to_owned(),
        by,
        source,
        rows,
        total,
        records,
    })
}

/// Sums of the volume sections of the current reports, one row per `key` (an expression over
/// `fn`, `reg`, `per`); each (report, function) counted once however often it was written.
fn volume_rows(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {key} AS key, sum(s) AS services, sum(f) AS free_services,
                sum(rev) AS revenue_fen, sum(pt) AS person_times,
                uniqExact(pid, per) AS reported
         FROM (
             SELECT report_id, function AS fn, any(platform_id) AS pid, any(period) AS per,
                    any(region_code) AS reg, any(services) AS s, any(free_services) AS f,
                    any(revenue_fen) AS rev, any(person_times) AS pt
             FROM service_volume
             WHERE "
    ));
    sql.append(sql::period_range(filter))
        .push(" AND ")
        .scope(scope, "region_code")
        .push(" AND report_id IN (SELECT cur_report_id FROM (")
        .append(sql::current_reports(scope, filter, &[]))
        .push(") AS cur)");
    if let Some(f) = filter.function() {
        sql.push(" AND function = ").u64(f.into());
    }
    sql.push(" GROUP BY report_id, function) AS v GROUP BY key ORDER BY key");
    sql
}

/// Counts over the service records of the current reports, one row per `key` (an expression
/// over `fn`, `reg`, `per`, `industry`, `size`); each (report, record) counted once.
fn record_rows(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT {key} AS key, count() AS services, countIf(fr = 1) AS free_services,
                sum(fee) AS revenue_fen, sum(pt) AS person_times,
                uniqExact(pid, per) AS reported
         FROM ("
    ));
    sql.append(current_records(scope, filter))
        .push(") AS r GROUP BY key ORDER BY key");
    sql
}

/// The service records of the current reports under `filter` (function, industry and size
/// applied), one row per (report, record) with `pid`, `per`, `reg`, `fn`, `industry`, `size`,
/// `ent`, `fee`, `fr`, `sat`, `pt`.
pub(crate) fn current_records(scope: &Scope, filter: &Filter) -> Sql {
    let mut sql = Sql::new(
        "SELECT report_id, record_index, any(platform_id) AS pid, any(period) AS per,
                any(region_code) AS reg, any(function) AS fn, any(industry) AS industry,
                any(enterprise_size) AS size, any(enterprise) AS ent, any(fee_fen) AS fee,
                any(free) AS fr, any(satisfaction) AS sat, any(person_times) AS pt,
                any(enterprise_region) AS ent_region
         FROM service_records WHERE ",
    );
    sql.append(sql::period_range(filter))
        .push(" AND ")
        .scope(scope, "region_code")
        .push(" AND report_id IN (SELECT cur_report_id FROM (")
        .append(sql::current_reports(scope, filter, &[]))
        .push(") AS cur)");
    if let Some(f) = filter.function() {
        sql.push(" AND function = ").u64(f.into());
    }
    if let Some(i) = filter.industry() {
        sql.push(" AND industry = ").str(i);
    }
    if let Some(s) = filter.enterprise_size() {
        sql.push(" AND enterprise_size = ").u64(s.code().into());
    }
    sql.push(" GROUP BY report_id, record_index");
    sql
}

/// Record detail of the current reports and the distinct firms in it.
pub(crate) async fn record_coverage(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
) -> Result<RecordCoverage, StoreError> {
    let mut sql = Sql::new(
        "SELECT toUInt64(count()) AS reports, toUInt64(countIf(cur_records > 0)) AS with_records,
                toUInt64(countIf(cur_omitted = 1)) AS records_omitted,
                toUInt64(uniqExactIf(platform_id, cur_records > 0)) AS platforms_with_records,
                toUInt64((SELECT uniqExact(ent) FROM (",
    );
    sql.append(current_records(scope, filter))
        .push(") AS rec)) AS enterprises_reached FROM (")
        .append(sql::current_reports(
            scope,
            filter,
            &[
                ("service_record_count", "cur_records"),
                ("service_records_omitted", "cur_omitted"),
            ],
        ))
        .push(") AS cur");
    let rows: Vec<CoverageRow> = sql.fetch(store, "record coverage").await?;
    let r = rows.into_iter().next().unwrap_or(CoverageRow {
        reports: 0,
        with_records: 0,
        records_omitted: 0,
        platforms_with_records: 0,
        enterprises_reached: 0,
    });
    Ok(RecordCoverage {
        reports: r.reports,
        with_records: r.with_records,
        records_omitted: r.records_omitted,
        platforms_with_records: r.platforms_with_records,
        enterprises_reached: r.enterprises_reached,
    })
}
