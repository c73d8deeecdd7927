//! One platform's history (domain §7.7): per period of the filter's one kind, whether it was
//! expected and reported, the current revision, on time, its services, satisfaction rate, and
//! staff and finance where the kind has them (quarterly and annual reports).
//!
//! - The platform must lie inside the scope, decided from its registry region, or, for a code
//!   the registry does not know, from the region in the credit code (characters 3–8), so the
//!   answer does not tell whether another province's platform exists:
//!   [`ScopeError::OutsideScope`].
//! - Two queries, whatever the range: the reports (current revision chosen over every stored
//!   row, the scope predicate on the region stored with it) and the volume totals of those
//!   reports, each (report, function) counted once.
//! - On time: the first accepted revision arrived by the due time stored with it (the
//!   configured calendar for rows stored before the due time was kept), as in completeness.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sme_proto::period::{Calendar, Period};

use super::filter::Filter;
use super::scope::{Scope, ScopeError};
use super::sql::{self, Sql};
use super::ViewError;
use crate::registry;
use crate::store::migrations::CURRENT_REPORT_RANK;
use crate::store::Store;

/// Staff figures of a quarterly or annual report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StaffFigures {
    /// All staff.
    pub total_staff: u32,
    /// Professional staff.
    pub professional_staff: u32,
    /// Of them with a degree or mid-level title ÷ professional staff; `None` without any.
    pub degree_share: Option<f64>,
    /// Senior-title staff.
    pub senior_title_staff: u32,
}

/// Finance figures of a quarterly or annual report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FinanceFigures {
    /// Total revenue in fen.
    pub total_revenue_fen: i64,
    /// Service revenue in fen.
    pub service_revenue_fen: i64,
    /// Service ÷ total revenue; `None` without revenue.
    pub service_revenue_share: Option<f64>,
    /// Total assets in fen.
    pub total_assets_fen: i64,
}

/// The current report of one period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PeriodReport {
    /// Its id.
    pub report_id: String,
    /// Its revision (the highest accepted).
    pub revision: u32,
    /// Distinct revisions accepted.
    pub revisions: u64,
    /// Region stored with it at acceptance.
    pub region_code: String,
    /// When the first revision arrived (Unix seconds).
    pub first_received_at: i64,
    /// Whether that was by the due time in force then.
    pub on_time: bool,
    /// Σ services of its volume sections.
    pub services: u64,
    /// Σ free services.
    pub free_services: u64,
    /// Satisfaction answers.
    pub responses: u64,
    /// (very satisfied + satisfied) ÷ answers; `None` without a section or answers.
    pub satisfaction_rate: Option<f64>,
    /// Staff section (quarterly and annual).
    pub staff: Option<StaffFigures>,
    /// Finance section (quarterly and annual).
    pub finance: Option<FinanceFigures>,
    /// All five disclosures; `None` without a disclosure section.
    pub all_disclosures: Option<bool>,
}

/// One period of the history.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct HistoryRow {
    /// `2026-Q1`.
    pub period: String,
    /// Whether the registry expected a report (active at any time in the period).
    pub expected: bool,
    /// The current report; `None` = not reported (not zero).
    pub report: Option<PeriodReport>,
}

/// The platform history view.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlatformHistory {
    /// Credit code.
    pub credit_code: String,
    /// Registry name.
    pub name: String,
    /// Registry region.
    pub region_code: String,
    /// The one period kind read.
    pub period_kind: &'static str,
    /// Oldest first, one row per period of the filter.
    pub rows: Vec<HistoryRow>,
}

#[derive(Row, Deserialize)]
struct ReportRow {
    period: String,
    rid: String,
    rev: u32,
    revisions: u64,
    reg: String,
    first_ns: u64,
    first_due: u64,
    hsat: u8,
    vs: u64,
    s: u64,
    responses: u64,
    hs: u8,
    total_staff: u32,
    prof: u32,
    deg: u32,
    senior: u32,
    hf: u8,
    trev: i64,
    srev: i64,
    assets: i64,
    hd: u8,
    disc: u8,
}

#[derive(Row, Deserialize)]
struct VolumeRow {
    rid: String,
    services: u64,
    free_services: u64,
}

/// The history of `credit_code` over the periods of `filter` (its region, function and record
/// filters do not apply: this is one platform's whole report).
pub async fn history(
    store: &Store,
    calendar: &Calendar,
    scope: &Scope,
    credit_code: &str,
    filter: &Filter,
) -> Result<PlatformHistory, ViewError> {
    let platform = registry::platform(store, credit_code).await?;
    let region = match &platform {
        Some(p) => p.region_code.clone(),
        None if credit_code.len() == 18 && credit_code.is_ascii() => {
            sme_proto::credit_code::region_code(credit_code).to_owned()
        }
        None => String::new(),
    };
    if !scope.covers(&region) {
        return Err(ScopeError::OutsideScope {
            requested: format!("{region} (platform {credit_code})"),
            scope: scope.region().to_owned(),
        }
        .into());
    }
    let platform = platform.ok_or_else(|| ViewError::UnknownPlatform(credit_code.to_owned()))?;

    let receipt = "toUInt64(received_at) * 1000000000 + received_at_nanos";
    let cur = |expr: &str, alias: &str| format!("argMin({expr}, {CURRENT_REPORT_RANK}) AS {alias}");
    let mut q = Sql::new(&format!(
        "SELECT period, {rid}, {rev}, toUInt64(uniqExact(revision)) AS revisions, {reg},
                min({receipt}) AS first_ns, toUInt64(argMin(due_at, {receipt})) AS first_due,
                {hsat}, {vs}, {s}, {responses}, {hs}, {total_staff}, {prof}, {deg}, {senior},
                {hf}, {trev}, {srev}, {assets}, {hd}, {disc}
         FROM reports WHERE ",
        rid = cur("toString(report_id)", "rid"),
        rev = cur("revision", "rev"),
        reg = cur("region_code", "reg"),
        hsat = cur("has_satisfaction", "hsat"),
        vs = cur("satisfaction_very_satisfied", "vs"),
        s = cur("satisfaction_satisfied", "s"),
        responses = cur(
            "satisfaction_very_satisfied + satisfaction_satisfied + satisfaction_neutral \
             + satisfaction_dissatisfied + satisfaction_very_dissatisfied",
            "responses"
        ),
        hs = cur("has_staff", "hs"),
        total_staff = cur("total_staff", "total_staff"),
        prof = cur("professional_staff", "prof"),
        deg = cur("professional_with_degree_or_mid_title", "deg"),
        senior = cur("senior_title_staff", "senior"),
        hf = cur("has_finance", "hf"),
        trev = cur("total_revenue_fen", "trev"),
        srev = cur("service_revenue_fen", "srev"),
        assets = cur("total_assets_fen", "assets"),
        hd = cur("has_disclosures", "hd"),
        disc = cur(
            "toUInt8(disclosure_content + disclosure_process + disclosure_standards \
             + disclosure_fees + disclosure_time)",
            "disc"
        ),
    ));
    q.append(sql::period_range(filter))
        .push(" AND platform_id = ")
        .str(credit_code)
        .push(" GROUP BY period HAVING ")
        .scope(scope, "reg");
    let reports: Vec<ReportRow> = q.fetch(store, "platform history").await?;

    let mut v = Sql::new(
        "SELECT rid, sum(sv) AS services, sum(fv) AS free_services FROM (
             SELECT toString(report_id) AS rid, function, any(services) AS sv,
                    any(free_services) AS fv
             FROM service_volume WHERE ",
    );
    v.append(sql::period_range(filter))
        .push(" AND platform_id = ")
        .str(credit_code)
        .push(" AND ")
        .scope(scope, "region_code")
        .push(" GROUP BY report_id, function) AS v GROUP BY rid");
    let volumes: HashMap<String, VolumeRow> = v
        .fetch::<VolumeRow>(store, "platform history volumes")
        .await?
        .into_iter()
        .map(|r| (r.rid.clone(), r))
        .collect();

    let mut by_period: HashMap<String, ReportRow> =
        reports.into_iter().map(|r| (r.period.clone(), r)).collect();
    let rows = filter
        .periods()
        .into_iter()
        .map(|p| HistoryRow {
            period: p.to_string(),
            expected: platform.active_in(&p),
            report: by_period
                .remove(&p.to_string())
                .map(|r| period_report(r, &volumes, calendar, &p)),
        })
        .collect();
    Ok(PlatformHistory {
        credit_code: platform.credit_code,
        name: platform.name,
        region_code: platform.region_code,
        period_kind: filter.kind().as_str(),
        rows,
    })
}

fn period_report(
    r: ReportRow,
    volumes: &HashMap<String, VolumeRow>,
    calendar: &Calendar,
    period: &Period,
) -> PeriodReport {
    let first = (r.first_ns / 1_000_000_000) as i64;
    // The due time stored with the first revision; the calendar for rows from before it was.
    let due = if r.first_due > 0 {
        r.first_due as i64
    } else {
        calendar.due_at(period).unix_timestamp()
    };
    let vol = volumes.get(&r.rid);
    PeriodReport {
        revision: r.rev,
        revisions: r.revisions,
        region_code: r.reg,
        first_received_at: first,
        on_time: first <= due,
        services: vol.map_or(0, |v| v.services),
        free_services: vol.map_or(0, |v| v.free_services),
        responses: if r.hsat == 1 { r.responses } else { 0 },
        satisfaction_rate: (r.hsat == 1)
            .then(|| sql::share(r.vs + r.s, r.responses))
            .flatten(),
        staff: (r.hs == 1).then(|| StaffFigures {
            total_staff: r.total_staff,
            professional_staff: r.prof,
            degree_share: sql::share(r.deg.into(), r.prof.into()),
            senior_title_staff: r.senior,
        }),
        finance: (r.hf == 1).then(|| FinanceFigures {
            total_revenue_fen: r.trev,
            service_revenue_fen: r.srev,
            service_revenue_share: (r.trev > 0).then(|| r.srev as f64 / r.trev as f64),
            total_assets_fen: r.assets,
        }),
        all_disclosures: (r.hd == 1).then_some(r.disc == 5),
        report_id: r.rid,
    }
}
