//! Staff and basic conditions (domain §5, §7.3): the degree-share distribution, the share of
//! reports meeting each basic condition (W101–W103) and the service-revenue share, by region.
//!
//! - Reads **quarterly or annual** reports only (the staff, finance and disclosure sections are
//!   not part of monthly reports); a monthly filter is refused naming `from`.
//! - The unit is the current report of a (platform, period): with one period, platforms.
//! - **W101** degree-or-mid-title share of professional staff ≥ 50 %: assessed on every report
//!   with a staff section; no professional staff fails (as the rule flags it).
//! - **W102** service revenue ≥ 50 % of total revenue: assessed on reports with a finance
//!   section and total revenue > 0 (no revenue mix, not flagged by the rule, not counted).
//! - **W103** all five disclosures: assessed on reports with a disclosure section.
//! - Service-revenue share = Σ service revenue ÷ Σ total revenue of the assessed reports (a
//!   ratio of sums, so large platforms weigh by their revenue).

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sme_proto::period::PeriodKind;

use super::filter::{Filter, FilterError};
use super::scope::Scope;
use super::sql::{self, Sql};
use super::{Coverage, ViewError};
use crate::store::Store;

/// Degree-share buckets of the distribution, by their lower bound in percent.
pub const BUCKETS: [&str; 5] = ["none", "0-25", "25-50", "50-75", "75-100"];

/// Reports meeting one basic condition, of those it can be judged on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Condition {
    /// Reports that meet it.
    pub meeting: u64,
    /// Reports it was judged on (with the section it needs).
    pub assessed: u64,
    /// meeting ÷ assessed; `None` when nothing was assessed.
    pub share: Option<f64>,
}

/// One degree-share bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// `none` (no professional staff), `0-25`, `25-50`, `50-75`, `75-100` (percent; lower bound
    /// included, upper excluded but for 100).
    pub bucket: &'static str,
    /// Reports in it.
    pub reports: u64,
}

/// Staff and basic conditions of one key.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaffRow {
    /// Region code one level below the filter's; `"total"` for the total.
    pub key: String,
    /// Current reports behind the row and reports expected.
    pub coverage: Coverage,
    /// Of them, reports with a staff section.
    pub with_staff: u64,
    /// Σ professional staff of those reports.
    pub professional_staff: u64,
    /// Σ of them with a degree or mid-level title.
    pub with_degree_or_title: u64,
    /// with_degree_or_title ÷ professional_staff; `None` without professional staff.
    pub degree_share: Option<f64>,
    /// Reports by their own degree share.
    pub distribution: Vec<Bucket>,
    /// W101: degree share ≥ 50 %.
    pub w101_degree_share: Condition,
    /// W102: service revenue ≥ 50 % of total revenue.
    pub w102_service_revenue: Condition,
    /// W103: all five disclosures.
    pub w103_disclosures: Condition,
    /// Σ service revenue ÷ Σ total revenue over reports with total revenue > 0.
    pub service_revenue_share: Option<f64>,
}

/// The staff and basic-conditions view.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    /// `quarter` or `year`.
    pub period_kind: &'static str,
    /// First period.
    pub from: String,
    /// Last period.
    pub to: String,
    /// The region the figures cover.
    pub region: String,
    /// By region one level below, ascending; a region with expected platforms and no report is
    /// listed with `reported = 0` and `None` shares ("no data").
    pub rows: Vec<StaffRow>,
    /// The whole filter.
    pub total: StaffRow,
}

/// Staff and basic-condition counts of one key (see [`sums_sql`]).
#[derive(Row, Deserialize, Clone, Default, Debug)]
pub(crate) struct Sums {
    pub(crate) key: String,
    pub(crate) reported: u64,
    pub(crate) with_staff: u64,
    pub(crate) prof_total: u64,
    pub(crate) degree_total: u64,
    pub(crate) b_none: u64,
    pub(crate) b0: u64,
    pub(crate) b25: u64,
    pub(crate) b50: u64,
    pub(crate) b75: u64,
    pub(crate) w101: u64,
    pub(crate) fin_assessed: u64,
    pub(crate) w102: u64,
    pub(crate) disc_assessed: u64,
    pub(crate) w103: u64,
    pub(crate) service_rev: i64,
    pub(crate) total_rev: i64,
}

impl Sums {
    /// Adds another key's counts (each report has one key, so the counts add up).
    pub(crate) fn add(&mut self, r: &Sums) {
        self.reported += r.reported;
        self.with_staff += r.with_staff;
        self.prof_total += r.prof_total;
        self.degree_total += r.degree_total;
        self.b_none += r.b_none;
        self.b0 += r.b0;
        self.b25 += r.b25;
        self.b50 += r.b50;
        self.b75 += r.b75;
        self.w101 += r.w101;
        self.fin_assessed += r.fin_assessed;
        self.w102 += r.w102;
        self.disc_assessed += r.disc_assessed;
        self.w103 += r.w103;
        self.service_rev += r.service_rev;
        self.total_rev += r.total_rev;
    }
}

#[derive(Row, Deserialize)]
struct Count {
    key: String,
    n: u64,
}

/// Staff and basic conditions under `filter` (quarterly or annual), by region.
pub async fn staff(store: &Store, scope: &Scope, filter: &Filter) -> Result<StaffView, ViewError> {
    check_kind(filter)?;
    let child = sql::child_region_expr(filter.region(), "cur_region");
    let (rows, expected) = tokio::try_join!(
        sums(store, scope, filter, &child),
        expected(store, scope, filter, &child)
    )?;
    let expected_total: u64 = expected.values().sum();
    // Each report has one region: the total adds the rows up.
    let mut total = empty("total");
    for r in &rows {
        total.add(r);
    }

    let mut out: Vec<StaffRow> = rows
        .into_iter()
        .map(|s| {
            let e = expected.get(&s.key).copied().unwrap_or(0);
            row(s, e)
        })
        .collect();
    for (key, n) in &expected {
        if !out.iter().any(|r| &r.key == key) {
            out.push(row(empty(key), *n));
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    let total = row(total, expected_total);
    Ok(StaffView {
        period_kind: filter.kind().as_str(),
        from: filter.from().to_string(),
        to: filter.to().to_string(),
        region: filter.region().to_owned(),
        rows: out,
        total,
    })
}

/// Refuses monthly filters, naming `from`: the sections are quarterly and annual.
pub(crate) fn check_kind(filter: &Filter) -> Result<(), FilterError> {
    if filter.kind() == PeriodKind::Month {
        return Err(FilterError::Invalid {
            parameter: "from",
            value: filter.from().to_string(),
            reason: "staff, finance and disclosures are in quarterly and annual reports only; \
                     use e.g. from=2026-Q1 or from=2026-A"
                .to_owned(),
        });
    }
    Ok(())
}

fn condition(meeting: u64, assessed: u64) -> Condition {
    Condition {
        meeting,
        assessed,
        share: sql::share(meeting, assessed),
    }
}

/// The published row of `s` with `expected` reports.
pub(crate) fn row(s: Sums, expected: u64) -> StaffRow {
    let counts = [s.b_none, s.b0, s.b25, s.b50, s.b75];
    StaffRow {
        coverage: Coverage {
            reported: s.reported,
            expected,
        },
        with_staff: s.with_staff,
        professional_staff: s.prof_total,
        with_degree_or_title: s.degree_total,
        degree_share: sql::share(s.degree_total, s.prof_total),
        distribution: BUCKETS
            .iter()
            .zip(counts)
            .map(|(bucket, reports)| Bucket { bucket, reports })
            .collect(),
        w101_degree_share: condition(s.w101, s.with_staff),
        w102_service_revenue: condition(s.w102, s.fin_assessed),
        w103_disclosures: condition(s.w103, s.disc_assessed),
        service_revenue_share: (s.total_rev > 0).then(|| s.service_rev as f64 / s.total_rev as f64),
        key: s.key,
    }
}

fn empty(key: &str) -> Sums {
    Sums {
        key: key.to_owned(),
        reported: 0,
        with_staff: 0,
        prof_total: 0,
        degree_total: 0,
        b_none: 0,
        b0: 0,
        b25: 0,
        b50: 0,
        b75: 0,
        w101: 0,
        fin_assessed: 0,
        w102: 0,
        disc_assessed: 0,
        w103: 0,
        service_rev: 0,
        total_rev: 0,
    }
}

/// One row per `key` over the current reports. Shares are compared in integers
/// (`2 · degree ≥ prof`), so 50 % exactly meets the condition without rounding.
async fn sums(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    key: &str,
) -> Result<Vec<Sums>, ViewError> {
    Ok(sums_sql(scope, filter, key)
        .fetch(store, "staff and basic conditions")
        .await?)
}

/// The staff, finance and disclosure sections of the current reports summed per `key` (an
/// expression over `cur_region`, `platform_id`, `period`), as [`Sums`] ordered by key: the
/// view and the exports by area.
pub(crate) fn sums_sql(scope: &Scope, filter: &Filter, key: &str) -> Sql {
    let mut q = Sql::new(&format!(
        "SELECT {key} AS key, toUInt64(count()) AS reported,
                toUInt64(countIf(hs = 1)) AS with_staff,
                toUInt64(sumIf(prof, hs = 1)) AS prof_total,
                toUInt64(sumIf(deg, hs = 1)) AS degree_total,
                toUInt64(countIf(hs = 1 AND prof = 0)) AS b_none,
                toUInt64(countIf(hs = 1 AND prof > 0 AND 4 * deg < prof)) AS b0,
                toUInt64(countIf(hs = 1 AND prof > 0 AND 4 * deg >= prof AND 2 * deg < prof)) AS b25,
                toUInt64(countIf(hs = 1 AND prof > 0 AND 2 * deg >= prof AND 4 * deg < 3 * prof)) AS b50,
                toUInt64(countIf(hs = 1 AND prof > 0 AND 4 * deg >= 3 * prof)) AS b75,
                toUInt64(countIf(hs = 1 AND prof > 0 AND 2 * deg >= prof)) AS w101,
                toUInt64(countIf(hf = 1 AND trev > 0)) AS fin_assessed,
                toUInt64(countIf(hf = 1 AND trev > 0 AND 2 * srev >= trev)) AS w102,
                toUInt64(countIf(hd = 1)) AS disc_assessed,
                toUInt64(countIf(hd = 1 AND dc + dp + ds + df + dt = 5)) AS w103,
                toInt64(sumIf(srev, hf = 1 AND trev > 0)) AS service_rev,
                toInt64(sumIf(trev, hf = 1 AND trev > 0)) AS total_rev
         FROM ("
    ));
    q.append(sql::current_reports(
        scope,
        filter,
        &[
            ("has_staff", "hs"),
            ("toUInt64(professional_staff)", "prof"),
            ("toUInt64(professional_with_degree_or_mid_title)", "deg"),
            ("has_finance", "hf"),
            ("total_revenue_fen", "trev"),
            ("service_revenue_fen", "srev"),
            ("has_disclosures", "hd"),
            ("disclosure_content", "dc"),
            ("disclosure_process", "dp"),
            ("disclosure_standards", "ds"),
            ("disclosure_fees", "df"),
            ("disclosure_time", "dt"),
        ],
    ))
    .push(") AS cur GROUP BY key ORDER BY key");
    q
}

async fn expected(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
    child: &str,
) -> Result<HashMap<String, u64>, ViewError> {
    let e = sql::expected_by(scope, filter, child);
    Ok(e.fetch::<Count>(store, "staff expected")
        .await?
        .into_iter()
        .map(|c| (c.key, c.n))
        .collect())
}
