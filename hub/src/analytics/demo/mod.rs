//! Demo-platform candidates (domain §7.6): every registry platform active at the end of the
//! 12-month window, with each gate of the two tiers and each component of the score, so a
//! planner can defend the ranking. Thresholds and weights: `[demo]` ([`DemoConfig`]).
//!
//! The window is the 12 months ending with the last month of the filter's last period; "the
//! 12 months before" are the ones just before it. Sources, one period kind each:
//! - **monthly** current reports (facts) of the window: months reported, satisfaction, services
//!   and free services, functions with a service; the 12 months before only for SMEs served;
//! - **quarterly** current reports of the window's last four whole quarters: the stock figures
//!   (staff, disclosures, total assets) of the latest of them, and the revenue mix summed over
//!   all four;
//! - the **annual** current report of the last whole year in the window (capacity is an annual
//!   section): floor area and partner institutions;
//! - **service records** of those monthly reports: SMEs served = distinct pseudonyms of the
//!   platform, given only when it sent record detail in the window;
//! - the registry (legal person, registration date) and the reports' receipts (on time = first
//!   accepted revision by the due time stored with it).
//!
//! A gate without data is `met: None` and fails its tier: "not known" is not "met". The one
//! exception is the revenue mix of a platform without revenue, not applicable (rule W102 does
//! not flag it either): `value: None, met: Some(true)`.
//!
//! Score = Σ weight × component (each 0–1; an unknown component earns 0 and says so):
//! SMEs served as a percentile among the province's platforms with a known count (share of
//! them serving no more), satisfaction rate, functions with a service ÷ 7, growth of SMEs
//! served on the 12 months before (capped at +100 %, none below 0), senior-title share of all
//! staff, monthly reports on time ÷ expected.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sme_proto::period::{Calendar, Period, PeriodKind};
use time::Date;

mod assess;

use assess::{assess, Facts};

use super::filter::Filter;
use super::scope::Scope;
use super::sql::{self, Sql};
use super::ViewError;
use crate::config::DemoConfig;
use crate::registry::db as registry_db;
use crate::store::Store;

/// The score's formula, as shown with the list.
pub const FORMULA: &str = "score = w_smes × percentile of SMEs served among the province's \
    platforms + w_satisfaction × satisfaction rate + w_functions × functions with a service ÷ 7 \
    + w_growth × min(1, max(0, SMEs served ÷ SMEs served in the 12 months before − 1)) \
    + w_senior × senior-title staff ÷ all staff + w_timeliness × monthly reports on time ÷ \
    expected; weights from [demo], summing to 100; an unknown component earns 0";

/// One gate of a tier.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Gate {
    /// `B1` … `B6` (basic conditions), `N1` … `N9` (national thresholds).
    pub id: &'static str,
    /// What it asks, in Chinese.
    pub label_zh: &'static str,
    /// What it asks, in English.
    pub label_en: &'static str,
    /// The platform's value; `None` when not known (or not applicable, see `met`).
    pub value: Option<f64>,
    /// The threshold `value` must reach (at least; `B2` more than).
    pub threshold: f64,
    /// `None`: no data, so the tier is not met.
    pub met: Option<bool>,
}

/// One component of the score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Component {
    /// `smes_served`, `satisfaction`, `functions`, `growth`, `senior_titles`, `timeliness`.
    pub id: &'static str,
    /// Its weight (of 100).
    pub weight: u32,
    /// 0–1; `None` when not known (earns 0).
    pub value: Option<f64>,
    /// weight × value.
    pub points: f64,
}

/// One platform.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    /// Credit code.
    pub credit_code: String,
    /// Registry name.
    pub name: String,
    /// Registry region.
    pub region_code: String,
    /// Registry level (`none`, `provincial_demo`, `national_demo`).
    pub level: String,
    /// `national` (both tiers met), `basic` (basic conditions met) or `none`.
    pub tier: &'static str,
    /// The basic conditions B1–B6.
    pub basic: Vec<Gate>,
    /// The national thresholds N1–N9.
    pub national: Vec<Gate>,
    /// The score's components.
    pub components: Vec<Component>,
    /// 0–100.
    pub score: f64,
}

/// The candidates view.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DemoView {
    /// First month of the window.
    pub from: String,
    /// Last month of the window.
    pub to: String,
    /// The quarters of the staff, disclosure and finance figures.
    pub quarters: Vec<String>,
    /// The year of the capacity figures (floor area, partners).
    pub year: String,
    /// The requested region.
    pub region: String,
    /// Platforms assessed (active at the window's end).
    pub assessed: u64,
    /// Of them meeting the basic conditions.
    pub basic: u64,
    /// Of them meeting the national thresholds too.
    pub national: u64,
    /// The tier listed (`all`, `basic`, `national`).
    pub listed_tier: String,
    /// Highest tier first, then highest score, then credit code; at most the limit.
    pub candidates: Vec<Candidate>,
    /// Platforms of the listed tier left out by the limit.
    pub truncated: u64,
    /// The thresholds and weights used.
    pub config: DemoConfig,
    /// [`FORMULA`].
    pub formula: &'static str,
}

/// Which candidates to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierFilter {
    /// Every platform assessed.
    All,
    /// Basic conditions met (national included).
    Basic,
    /// National thresholds met.
    National,
}

#[derive(Row, Deserialize)]
struct RegistryRow {
    credit_code: String,
    name: String,
    region_code: String,
    level: String,
    legal_person: u8,
    #[serde(with = "clickhouse::serde::time::date")]
    registered: Date,
}

#[derive(Row, Deserialize, Default, Clone)]
struct MonthlyRow {
    platform_id: String,
    months_reported: u64,
    satisfied: u64,
    responses: u64,
    services: u64,
    free_services: u64,
    functions: Vec<u8>,
    months_with_records: u64,
    before_with_records: u64,
}

#[derive(Row, Deserialize)]
struct CountRow {
    platform_id: String,
    n: u64,
}

#[derive(Row, Deserialize, Default, Clone)]
struct StockRow {
    platform_id: String,
    has_staff: u8,
    total_staff: u32,
    professional: u32,
    qualified: u32,
    senior: u32,
    has_disclosures: u8,
    disclosures: u8,
    has_finance: u8,
    total_assets_fen: i64,
    service_revenue_fen: i64,
    total_revenue_fen: i64,
}

#[derive(Row, Deserialize, Default, Clone)]
struct CapacityRow {
    platform_id: String,
    has_capacity: u8,
    floor_area: f64,
    partners: u64,
}

#[derive(Row, Deserialize, Default, Clone, Copy)]
struct ServedRow {
    now: u64,
    before: u64,
}

#[derive(Row, Deserialize)]
struct ServedKeyed {
    platform_id: String,
    now: u64,
    before: u64,
}

/// The candidates under `filter` (region and level), with the gates of `config`.
pub async fn candidates(
    store: &Store,
    calendar: &Calendar,
    config: &DemoConfig,
    scope: &Scope,
    filter: &Filter,
    tier: TierFilter,
    limit: usize,
) -> Result<DemoView, ViewError> {
    let (first, last) = super::layout::window(filter.to());
    let before_first = back(first, 12);
    let months = filter.over(first, last)?;
    let two_years = filter.over(before_first, last)?;
    let last_quarter = {
        let q = last
            .within(PeriodKind::Quarter)
            .expect("a month is in a quarter");
        if q.months().last() == Some(&last) {
            q
        } else {
            q.previous().expect("a quarter before")
        }
    };
    let quarters = filter.over(back(last_quarter, 3), last_quarter)?;
    let last_year = {
        let y = last.within(PeriodKind::Year).expect("a month is in a year");
        if y.months().last() == Some(&last) {
            y
        } else {
            y.previous().expect("a year before")
        }
    };
    let year = filter.over(last_year, last_year)?;
    let last_day = last.last_day().to_string();

    let mut reg = Sql::new(&format!(
        "SELECT credit_code, cur_name AS name, cur_region AS region_code,
                toString(cur_level) AS level, cur_legal_person AS legal_person,
                cur_registered AS registered
         FROM ({}) AS reg WHERE cur_registered <= toDate(",
        registry_db::current_platforms_sql()
    ));
    reg.str(last_day.clone())
        .push(") AND (cur_closed = toDate('1970-01-01') OR cur_closed > toDate(")
        .str(last_day)
        .push(")) AND ")
        .scope(scope, "cur_region")
        .push(" AND ")
        .region(filter.region(), "cur_region");
    if let Some(level) = filter.level() {
        reg.push(" AND cur_level = ").str(level.as_str());
    }
    reg.push(" ORDER BY credit_code");

    let window_start = first.first_day().to_string();
    let mut monthly = Sql::new(
        "SELECT platform_id, toUInt64(countIf(w)) AS months_reported,
                sumIf(sat_very_satisfied + sat_satisfied, w AND has_satisfaction = 1) AS satisfied,
                sumIf(sat_very_satisfied + sat_satisfied + sat_neutral + sat_dissatisfied
                      + sat_very_dissatisfied, w AND has_satisfaction = 1) AS responses,
                sumIf(arraySum(vol_services), w) AS services,
                sumIf(arraySum(vol_free), w) AS free_services,
                groupUniqArrayArray(if(w,
                    arrayFilter((f, s) -> s > 0, [1, 2, 3, 4, 5, 6, 7], vol_services),
                    emptyArrayUInt8())) AS functions,
                toUInt64(countIf(w AND service_record_count > 0)) AS months_with_records,
                toUInt64(countIf(NOT w AND service_record_count > 0)) AS before_with_records
         FROM (SELECT *, period_start >= toDate(",
    );
    monthly
        .str(window_start.clone())
        .push(") AS w FROM (")
        .append(sql::current_facts(scope, &two_years))
        .push(") AS cur) AS f GROUP BY platform_id");

    let mut expected = Sql::new("SELECT credit_code AS platform_id, toUInt64(count()) AS n FROM (");
    expected
        .append(sql::expected_platforms(scope, &months))
        .push(") AS e GROUP BY credit_code");

    // On time: the first accepted revision by the due time stored with it (the calendar's
    // for rows stored before due times were).
    let periods = months.periods();
    let mut on_time = Sql::new(
        "SELECT platform_id, toUInt64(countIf(intDiv(first_ns, 1000000000)
                    <= if(first_due > 0, first_due, transform(period, ",
    );
    on_time
        .strs(periods.iter().map(ToString::to_string).collect())
        .push(", ")
        .push(&format!(
            "[{}]",
            periods
                .iter()
                .map(|p| calendar.due_at(p).unix_timestamp().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .push(
            ", 0)))) AS n FROM (
             SELECT platform_id, period,
                    min(toUInt64(received_at) * 1000000000 + received_at_nanos) AS first_ns,
                    toUInt64(argMin(due_at, toUInt64(received_at) * 1000000000 + received_at_nanos))
                        AS first_due,
                    argMin(region_code, ",
        )
        .push(crate::store::migrations::CURRENT_REPORT_RANK)
        .push(") AS reg FROM reports WHERE ")
        .append(sql::period_range(&months))
        .push(" GROUP BY platform_id, period HAVING ")
        .scope(scope, "reg")
        .push(" AND ")
        .region(filter.region(), "reg")
        .push(") AS t GROUP BY platform_id");

    let mut stock = Sql::new(
        "SELECT platform_id,
                argMax(hs, cur_period_start) AS has_staff, argMax(ts, cur_period_start) AS total_staff,
                argMax(ps, cur_period_start) AS professional, argMax(qs, cur_period_start) AS qualified,
                argMax(ss, cur_period_start) AS senior,
                argMax(hd, cur_period_start) AS has_disclosures,
                argMax(dc, cur_period_start) AS disclosures,
                argMax(hf, cur_period_start) AS has_finance,
                argMax(ta, cur_period_start) AS total_assets_fen,
                sumIf(sr, hf = 1) AS service_revenue_fen, sumIf(tr, hf = 1) AS total_revenue_fen
         FROM (",
    );
    stock
        .append(sql::current_reports(
            scope,
            &quarters,
            &[
                ("has_staff", "hs"),
                ("total_staff", "ts"),
                ("professional_staff", "ps"),
                ("professional_with_degree_or_mid_title", "qs"),
                ("senior_title_staff", "ss"),
                ("has_disclosures", "hd"),
                (
                    "toUInt8(disclosure_content + disclosure_process + disclosure_standards \
                     + disclosure_fees + disclosure_time)",
                    "dc",
                ),
                ("has_finance", "hf"),
                ("total_assets_fen", "ta"),
                ("service_revenue_fen", "sr"),
                ("total_revenue_fen", "tr"),
            ],
        ))
        .push(") AS cur GROUP BY platform_id");

    let mut capacity =
        Sql::new("SELECT platform_id, hc AS has_capacity, fa AS floor_area, pa AS partners FROM (");
    capacity
        .append(sql::current_reports(
            scope,
            &year,
            &[
                ("has_capacity", "hc"),
                ("floor_area_m2", "fa"),
                (
                    "partner_universities + partner_research_institutes \
                     + partner_associations + partner_service_agencies",
                    "pa",
                ),
            ],
        ))
        .push(") AS cur");

    // Distinct pseudonyms do not change when a record was written twice.
    let mut served = Sql::new(
        "SELECT platform_id,
                toUInt64(uniqExactIf(enterprise, period_start >= toDate(",
    );
    served
        .str(window_start.clone())
        .push("))) AS now, toUInt64(uniqExactIf(enterprise, period_start < toDate(")
        .str(window_start)
        .push("))) AS before FROM service_records WHERE ")
        .append(sql::period_range(&two_years))
        .push(" AND ")
        .scope(scope, "region_code")
        .push(" AND report_id IN (SELECT report_id FROM (")
        .append(sql::current_facts(scope, &two_years))
        .push(") AS cur) GROUP BY platform_id");

    let (platforms, monthly, expected, on_time, stock, capacity, served) = tokio::try_join!(
        reg.fetch::<RegistryRow>(store, "demo registry"),
        monthly.fetch::<MonthlyRow>(store, "demo monthly"),
        expected.fetch::<CountRow>(store, "demo expected"),
        on_time.fetch::<CountRow>(store, "demo on time"),
        stock.fetch::<StockRow>(store, "demo quarterly"),
        capacity.fetch::<CapacityRow>(store, "demo annual"),
        served.fetch::<ServedKeyed>(store, "demo SMEs served"),
    )?;
    let capacity: HashMap<String, CapacityRow> = capacity
        .into_iter()
        .map(|r| (r.platform_id.clone(), r))
        .collect();
    let by_id = |rows: Vec<CountRow>| -> HashMap<String, u64> {
        rows.into_iter().map(|r| (r.platform_id, r.n)).collect()
    };
    let monthly: HashMap<String, MonthlyRow> = monthly
        .into_iter()
        .map(|r| (r.platform_id.clone(), r))
        .collect();
    let stock: HashMap<String, StockRow> = stock
        .into_iter()
        .map(|r| (r.platform_id.clone(), r))
        .collect();
    let served: HashMap<String, ServedRow> = served
        .into_iter()
        .map(|r| {
            (
                r.platform_id,
                ServedRow {
                    now: r.now,
                    before: r.before,
                },
            )
        })
        .collect();
    let (expected, on_time) = (by_id(expected), by_id(on_time));

    let facts: Vec<Facts> = platforms
        .into_iter()
        .map(|p| {
            let m = monthly.get(&p.credit_code).cloned().unwrap_or_default();
            let s = stock.get(&p.credit_code).cloned().unwrap_or_default();
            let c = capacity.get(&p.credit_code).cloned().unwrap_or_default();
            let served_now = (m.months_with_records > 0)
                .then(|| served.get(&p.credit_code).map_or(0, |s| s.now));
            let served_before = (m.before_with_records > 0)
                .then(|| served.get(&p.credit_code).map_or(0, |s| s.before));
            Facts {
                expected: expected.get(&p.credit_code).copied().unwrap_or(0),
                on_time: on_time.get(&p.credit_code).copied().unwrap_or(0),
                registry: p,
                monthly: m,
                stock: s,
                capacity: c,
                served_now,
                served_before,
            }
        })
        .collect();
    let mut all = assess(&facts, config, last.last_day());
    let assessed = all.len() as u64;
    let basic = all.iter().filter(|c| c.tier != "none").count() as u64;
    let national = all.iter().filter(|c| c.tier == "national").count() as u64;
    all.retain(|c| match tier {
        TierFilter::All => true,
        TierFilter::Basic => c.tier != "none",
        TierFilter::National => c.tier == "national",
    });
    let tier_rank = |t: &str| match t {
        "national" => 0,
        "basic" => 1,
        _ => 2,
    };
    all.sort_by(|a, b| {
        tier_rank(a.tier)
            .cmp(&tier_rank(b.tier))
            .then(b.score.total_cmp(&a.score))
            .then_with(|| a.credit_code.cmp(&b.credit_code))
    });
    let truncated = all.len().saturating_sub(limit) as u64;
    all.truncate(limit);
    Ok(DemoView {
        from: first.to_string(),
        to: last.to_string(),
        quarters: quarters.periods().iter().map(ToString::to_string).collect(),
        year: last_year.to_string(),
        region: filter.region().to_owned(),
        assessed,
        basic,
        national,
        listed_tier: match tier {
            TierFilter::All => "all",
            TierFilter::Basic => "basic",
            TierFilter::National => "national",
        }
        .to_owned(),
        candidates: all,
        truncated,
        config: config.clone(),
        formula: FORMULA,
    })
}

fn back(mut p: Period, n: usize) -> Period {
    for _ in 0..n {
        p = p.previous().unwrap_or(p);
    }
    p
}
