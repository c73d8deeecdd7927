//! Service volume (domain §7.2): services, free vs paid, revenue and person-times by service
//! function, region, period, industry or enterprise size.
//!
//! - Reads one period kind, the filter's (monthly for trends; the view says which).
//! - By function, region or period, and without an industry or size filter, the figures are
//!   the volume sections of the current reports (complete: every report has one).
//! - By industry or enterprise size, or filtered by either, they are counted from the service
//!   records of the current reports ([`Source::Records`]) and cover only the reports that sent
//!   record detail ([`RecordCoverage`]).
//! - `enterprises_served` is never summed, and firms reached (distinct pseudonyms across
//!   platforms) are the layout view's ([`super::layout`]), not this one's.
//! - Reads the facts of the current reports ([`crate::store::facts`]): one row per (platform,
//!   period), the volume sections as seven slots and the records summed per (function,
//!   industry, size), so nothing is deduplicated at query time.
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

/// Volume figures of one key.
#[derive(Row, Deserialize, Clone)]
pub(crate) struct SumRow {
    pub(crate) key: String,
    pub(crate) services: u64,
    pub(crate) free_services: u64,
    pub(crate) revenue_fen: i64,
    pub(crate) person_times: u64,
    pub(crate) reported: u64,
}

/// One key's function slots (see [`slots_sql`]).
#[derive(Row, Deserialize)]
pub(crate) struct SlotRow {
    pub(crate) key: String,
    present: Vec<u64>,
    services: Vec<u64>,
    free_services: Vec<u64>,
    revenue_fen: Vec<i64>,
    person_times: Vec<u64>,
    reports: u64,
    with_records: u64,
    records_omitted: u64,
    platforms_with_records: u64,
    matched: u64,
}

impl SlotRow {
    /// `(function 1–7, its figures)` of the functions with a section (only `only`, if
    /// given); the row's key is the slot row's.
    pub(crate) fn functions(&self, only: Option<u8>) -> Vec<(u8, SumRow)> {
        let mut out = Vec::new();
        for (i, &present) in self.present.iter().enumerate() {
            let function = (i + 1) as u8;
            if present == 0 || only.is_some_and(|f| f != function) {
                continue;
            }
            let at = |v: &[u64]| v.get(i).copied().unwrap_or(0);
            out.push((
                function,
                SumRow {
                    key: self.key.clone(),
                    services: at(&self.services),
                    free_services: at(&self.free_services),
                    revenue_fen: self.revenue_fen.get(i).copied().unwrap_or(0),
                    person_times: at(&self.person_times),
                    reported: present,
                },
            ));
        }
        out
    }
}

/// One key of [`groups_sql`].
#[derive(Row, Deserialize)]
pub(crate) struct GroupRow {
    pub(crate) key: String,
    pub(crate) services: u64,
    pub(crate) free_services: u64,
    pub(crate) revenue_fen: i64,
    pub(crate) person_times: u64,
    pub(crate) reported: u64,
    reports: u64,
    with_records: u64,
    records_omitted: u64,
    platforms_with_records: u64,
}

#[derive(Row, Deserialize)]
struct CountRow {
    key: String,
    n: u64,
}

#[derive(Row, Deserialize, Default)]
struct CoverageRow {
    reports: u64,
    with_records: u64,
    records_omitted: u64,
    platforms_with_records: u64,
    matched: u64,
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
    // Expected reports per key: by region and period from the registry; otherwise the total.
    let expected_key = match by {
        VolumeBy::Region => sql::child_region_expr(filter.region(), "cur_region"),
        VolumeBy::Period => "period".to_owned(),
        _ => "'total'".to_owned(),
    };
    let exp = sql::expected_by(scope, filter, &expected_key);
    // The figures (one pass over the facts for the volume sections) and the registry's
    // expected reports are independent: run them side by side.
    let ((sums, coverage), expected) = tokio::try_join!(
        figures(store, scope, filter, by, source),
        exp.fetch::<CountRow>(store, "volume expected"),
    )?;
    let expected: HashMap<String, u64> = expected.into_iter().map(|r| (r.key, r.n)).collect();
    let expected_total: u64 = expected.values().sum();

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
    // Every figure adds up over the keys; reports do only where each report has one key
    // (region, period), otherwise they are the reports with anything in the filter.
    let mut total = SumRow {
        key: "total".to_owned(),
        services: 0,
        free_services: 0,
        revenue_fen: 0,
        person_times: 0,
        reported: coverage.matched,
    };
    for r in &sums {
        total.services += r.services;
        total.free_services += r.free_services;
        total.revenue_fen += r.revenue_fen;
        total.person_times += r.person_times;
    }
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
    Ok(VolumeView {
        period_kind: filter.kind().as_str(),
        from: filter.from().to_string(),
        to: filter.to().to_string(),
        region: filter.region().to_owned(),
        by,
        source,
        rows,
        total: row(total, expected_total),
        records: RecordCoverage {
            reports: coverage.reports,
            with_records: coverage.with_records,
            records_omitted: coverage.records_omitted,
            platforms_with_records: coverage.platforms_with_records,
        },
    })
}

/// The figures per key, ascending (a key with no report in the filter is absent), and the
/// record coverage of the filter's reports.
async fn figures(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    by: VolumeBy,
    source: Source,
) -> Result<(Vec<SumRow>, CoverageRow), StoreError> {
    let report_key = match by {
        VolumeBy::Region => Some(sql::child_region_expr(filter.region(), "region_code")),
        VolumeBy::Period => Some("period".to_owned()),
        _ => None,
    };
    let records = match (source, report_key) {
        (Source::Volumes, None) => return function_slots(store, scope, filter).await,
        (Source::Volumes, Some(key)) => return volume_groups(store, scope, filter, &key).await,
        (Source::Records, key) => record_figures(store, scope, filter, by, key),
    };
    tokio::try_join!(records, coverage(store, scope, filter, source))
}

/// `(present, measure)`: whether a report has the filter's function(s), and the suffix that
/// picks its slot from a volume array (empty: all slots, summed).
fn volume_slot(filter: &Filter) -> (String, String) {
    match filter.function() {
        Some(f) => (format!("vol_present[{f}] = 1"), format!("[{f}]")),
        None => ("arraySum(vol_present) > 0".to_owned(), String::new()),
    }
}

/// The volume sections of the current reports summed per `key` (an expression over the facts'
/// columns: `region_code`, `platform_id`, `period`), plus a `'total'` row with the record
/// coverage: the one query behind the view by region or period and the exports by area.
/// Columns as [`GroupRow`], ordered by key.
pub(crate) fn groups_sql(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let (present, measure) = volume_slot(filter);
    let m = |col: &str| {
        if measure.is_empty() {
            format!("arraySum({col})")
        } else {
            format!("{col}{measure}")
        }
    };
    let mut q = Sql::new(&format!(
        "SELECT k AS key, sumIf(s, has) AS services, sumIf(f, has) AS free_services,
                sumIf(r, has) AS revenue_fen, sumIf(p, has) AS person_times,
                toUInt64(countIf(has)) AS reported, toUInt64(count()) AS reports,
                toUInt64(countIf(service_record_count > 0)) AS with_records,
                toUInt64(countIf(service_records_omitted = 1)) AS records_omitted,
                toUInt64(uniqExactIf(platform_id, service_record_count > 0 AND k = 'total'))
                    AS platforms_with_records
         FROM (
             SELECT {key} AS own_key, {s} AS s, {f} AS f, {r} AS r, {p} AS p,
                    {present} AS has, service_record_count, service_records_omitted, platform_id
             FROM (",
        s = m("vol_services"),
        f = m("vol_free"),
        r = m("vol_revenue_fen"),
        p = m("vol_person_times"),
    ));
    q.append(sql::current_facts(scope, filter)).push(
        ") AS cur
         ) AS v ARRAY JOIN [own_key, 'total'] AS k GROUP BY k ORDER BY k",
    );
    q
}

/// Volume sections by region or period, and the coverage from the same pass (`'total'`).
async fn volume_groups(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    key: &str,
) -> Result<(Vec<SumRow>, CoverageRow), StoreError> {
    let q = groups_sql(scope, filter, key);
    let rows: Vec<GroupRow> = q.fetch(store, "volume").await?;
    let mut coverage = CoverageRow::default();
    let mut sums = Vec::new();
    for g in rows {
        if g.key == "total" {
            coverage = CoverageRow {
                reports: g.reports,
                with_records: g.with_records,
                records_omitted: g.records_omitted,
                platforms_with_records: g.platforms_with_records,
                matched: g.reported,
            };
        } else if g.reported > 0 {
            sums.push(SumRow {
                key: g.key,
                services: g.services,
                free_services: g.free_services,
                revenue_fen: g.revenue_fen,
                person_times: g.person_times,
                reported: g.reported,
            });
        }
    }
    Ok((sums, coverage))
}

/// The figures counted from the service records, keyed by a report column (`key`) or by a
/// record sum's function, industry or size.
async fn record_figures(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    by: VolumeBy,
    report_key: Option<String>,
) -> Result<Vec<SumRow>, StoreError> {
    let dim = match (&report_key, by) {
        (Some(_), _) => None,
        (None, by) => Some(by),
    };
    records_sql(scope, filter, report_key.as_deref(), dim)
        .fetch(store, "volume from records")
        .await
}

/// The volume counted from the current reports' service records ([`SumRow`]s ordered by key):
/// per `area` (an expression over `region_code`, `platform_id`, `period`), per record key
/// `dim` (function, industry or size of the served enterprise), or per both (`area|dim`).
/// The view by industry or size and the exports by area share it.
pub(crate) fn records_sql(
    scope: &Scope,
    filter: &Filter,
    area: Option<&str>,
    dim: Option<VolumeBy>,
) -> Sql {
    let Some(dim) = dim else {
        let key = area.unwrap_or("'total'");
        let mut q = Sql::new(&format!(
            "SELECT {key} AS key, sum(arraySum(fs)) AS services,
                    sum(arraySum(ff)) AS free_services, sum(arraySum(fe)) AS revenue_fen,
                    sum(arraySum(fp)) AS person_times, toUInt64(count()) AS reported
             FROM ("
        ));
        q.append(filtered_records(scope, filter, "''"))
            .push(") AS r WHERE length(fs) > 0 GROUP BY key ORDER BY key");
        return q;
    };
    let record_key = match dim {
        VolumeBy::Function => "toString(fa)",
        VolumeBy::Industry => "ia",
        _ => "transform(za, [1, 2, 3], ['micro', 'small', 'medium'], '')",
    };
    let key = match area {
        Some(a) => format!("concat({a}, '|', k)"),
        None => "k".to_owned(),
    };
    // `occ = 1` marks the first entry of a key in a report: reports per key.
    let mut q = Sql::new(&format!(
        "SELECT {key} AS key, sum(s) AS services, sum(f) AS free_services,
                sum(e) AS revenue_fen, sum(p) AS person_times,
                toUInt64(countIf(occ = 1)) AS reported
         FROM ("
    ));
    q.append(filtered_records(scope, filter, record_key)).push(
        ") AS r
         ARRAY JOIN fs AS s, ff AS f, fe AS e, fp AS p, fk AS k,
                    arrayEnumerateUniq(fk) AS occ
         GROUP BY key ORDER BY key",
    );
    q
}

/// `SELECT sumForEach(…)` over the seven function slots, as rows `"1"` … `"7"` (only the
/// filter's function with one).
async fn function_slots(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
) -> Result<(Vec<SumRow>, CoverageRow), StoreError> {
    let Some(slots) = slots_sql(scope, filter, "'total'")
        .fetch::<SlotRow>(store, "volume by function")
        .await?
        .into_iter()
        .next()
    else {
        return Ok((Vec::new(), CoverageRow::default()));
    };
    let mut rows = Vec::new();
    for (function, row) in slots.functions(filter.function()) {
        rows.push(SumRow {
            key: function.to_string(),
            ..row
        });
    }
    let coverage = CoverageRow {
        reports: slots.reports,
        with_records: slots.with_records,
        records_omitted: slots.records_omitted,
        platforms_with_records: slots.platforms_with_records,
        matched: slots.matched,
    };
    Ok((rows, coverage))
}

/// The seven function slots of the volume sections summed per `key` (an expression over the
/// facts' columns; `'total'` for one row), as [`SlotRow`]s ordered by key: the view by
/// function and the exports by area and function.
pub(crate) fn slots_sql(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let (present, _) = volume_slot(filter);
    let mut q = Sql::new(&format!(
        "SELECT {key} AS key, sumForEach(vol_present) AS present, sumForEach(vol_services) AS services,
                sumForEach(vol_free) AS free_services, sumForEach(vol_revenue_fen) AS revenue_fen,
                sumForEach(vol_person_times) AS person_times,
                toUInt64(count()) AS reports,
                toUInt64(countIf(service_record_count > 0)) AS with_records,
                toUInt64(countIf(service_records_omitted = 1)) AS records_omitted,
                toUInt64(uniqExactIf(platform_id, service_record_count > 0))
                    AS platforms_with_records,
                toUInt64(countIf({present})) AS matched
         FROM ("
    ));
    q.append(sql::current_facts(scope, filter))
        .push(") AS cur GROUP BY key ORDER BY key");
    q
}

/// The current reports' service records under the filter's function, industry and size: per
/// report `region_code`, `period`, `platform_id` and, over the matching (function, industry,
/// size) sums of its facts, the arrays `fs` services, `ff` free, `fe` fees, `fp` person-times
/// and `fk` the key `key` (an expression over `fa` function, `ia` industry, `za` size).
fn filtered_records(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let mut q = Sql::new(&format!(
        "SELECT region_code, period, platform_id,
                arrayFilter((x, m) -> m = 1, rec_services, mask) AS fs,
                arrayFilter((x, m) -> m = 1, rec_free, mask) AS ff,
                arrayFilter((x, m) -> m = 1, rec_fee_fen, mask) AS fe,
                arrayFilter((x, m) -> m = 1, rec_person_times, mask) AS fp,
                arrayFilter((x, m) -> m = 1,
                    arrayMap((fa, ia, za) -> {key}, rec_function, rec_industry, rec_size),
                    mask) AS fk
         FROM (
             SELECT region_code, period, platform_id, rec_services, rec_free, rec_fee_fen,
                    rec_person_times, rec_function, rec_industry, rec_size,
                    arrayMap((fa, ia, za) -> toUInt8("
    ));
    record_condition(&mut q, filter);
    q.push("), rec_function, rec_industry, rec_size) AS mask FROM (")
        .append(sql::current_facts(scope, filter))
        .push(") AS cur) AS masked");
    q
}

/// The filter's function, industry and size over a record sum's `fa`, `ia`, `za`.
fn record_condition(q: &mut Sql, filter: &Filter) {
    q.push("1");
    if let Some(f) = filter.function() {
        q.push(" AND fa = ").u64(f.into());
    }
    if let Some(i) = filter.industry() {
        q.push(" AND ia = ").str(i);
    }
    if let Some(z) = filter.enterprise_size() {
        q.push(" AND za = ").u64(z.code().into());
    }
}

/// Record detail of the current reports, and `matched`: reports with anything in the filter
/// (a volume section of its function, or a matching record).
async fn coverage(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    source: Source,
) -> Result<CoverageRow, StoreError> {
    let mut q = Sql::new(
        "SELECT toUInt64(count()) AS reports,
                toUInt64(countIf(service_record_count > 0)) AS with_records,
                toUInt64(countIf(service_records_omitted = 1)) AS records_omitted,
                toUInt64(uniqExactIf(platform_id, service_record_count > 0))
                    AS platforms_with_records,
                toUInt64(countIf(",
    );
    match (source, filter.function()) {
        (Source::Volumes, Some(f)) => {
            q.push(&format!("vol_present[{f}] = 1"));
        }
        (Source::Volumes, None) => {
            q.push("arraySum(vol_present) > 0");
        }
        (Source::Records, _) => {
            q.push("arrayExists((fa, ia, za) -> ");
            record_condition(&mut q, filter);
            q.push(", rec_function, rec_industry, rec_size)");
        }
    }
    q.push(")) AS matched FROM (")
        .append(sql::current_facts(scope, filter))
        .push(") AS cur");
    Ok(q.fetch::<CoverageRow>(store, "volume coverage")
        .await?
        .into_iter()
        .next()
        .unwrap_or_default())
}
