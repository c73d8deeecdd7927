//! Layout and coverage (domain §7.1, §10): per region one level below the requested one
//! (provinces under the country, prefectures under a province), how many platforms there are
//! for the SMEs there, how many firms they reached, which service functions nobody provides,
//! and the ranked "where to build next" list with its formula.
//!
//! The window is the **12 months** ending with the last month of the filter's last period,
//! read from **monthly** reports only (domain §9: one period kind); "the last 4 quarters" of
//! a provider are these 12 months. The filter's region and level apply; its function,
//! industry and size do not (the view is about all services).
//!
//! - **Active platforms**: registry platforms active on the window's last day.
//! - **SMEs**: the `sme_counts` row of that exact region code, latest year ≤ the window's
//!   year (latest import of a year wins). The requested region's own row is its total, or,
//!   without one, the sum of the rows below.
//! - **Platforms per 10 000 SMEs** = active × 10 000 ÷ SMEs.
//! - **Reach** = distinct pseudonyms in the service records of the window's current reports ÷
//!   SMEs, with how many platforms sent record detail of how many reported.
//! - **Cross-region flows**: of the firms located in a region (the records' `enterprise_region`)
//!   and served by platforms of the requested region, the share served by a platform of
//!   another region one level below. Only the requested region's platforms count, for
//!   planners and coordinators alike (a coordinator's scope holds no other records), so the
//!   national view is the full picture and a province's shows flows between its prefectures.
//! - **Functions without provider**: of 1–7, those with no service (`services > 0`) in the
//!   window's current volume sections in the region.
//! - **Priority** ([`FORMULA`]): only regions with an SME count are ranked.

use std::collections::HashMap;

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sme_proto::period::Period;

use super::filter::Filter;
use super::scope::Scope;
use super::sql::{self, Sql};
use super::{Coverage, ViewError};
use crate::registry::{db as registry_db, region};
use crate::store::Store;

/// Weights of the priority components (sum 1).
pub const WEIGHT_DENSITY: f64 = 0.4;
/// Weight of the missing functions.
pub const WEIGHT_FUNCTIONS: f64 = 0.3;
/// Weight of the reach gap.
pub const WEIGHT_REACH: f64 = 0.3;

/// The "where to build next" formula, as shown with the list.
pub const FORMULA: &str = "priority = 100 × (0.4 × density_gap + 0.3 × missing_functions ÷ 7 \
    + 0.3 × reach_gap) ÷ (sum of the weights of the components known); density_gap = \
    max(0, 1 − platforms per 10 000 SMEs ÷ that of the whole requested region); reach_gap = \
    max(0, 1 − reach ÷ reach of the whole requested region), unknown when no platform of the \
    region sent record detail; regions without an SME count are not ranked";

/// One region of the layout.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LayoutRow {
    /// 6-digit code; for the total the requested region.
    pub region_code: String,
    /// Name from the division table (empty when unknown).
    pub region_name: String,
    /// Registry platforms active on the window's last day.
    pub active_platforms: u64,
    /// SMEs (latest year ≤ the window's year); `None` without a count.
    pub smes: Option<u64>,
    /// The year of that count.
    pub sme_year: Option<u16>,
    /// active × 10 000 ÷ SMEs.
    pub platforms_per_10k_smes: Option<f64>,
    /// Distinct firms in the service records of the window.
    pub enterprises_reached: u64,
    /// enterprises_reached ÷ SMEs; `None` without SMEs or without record detail.
    pub reach: Option<f64>,
    /// Platforms that reported in the window.
    pub platforms_reported: u64,
    /// Of them, platforms that sent record detail.
    pub platforms_with_records: u64,
    /// Functions 1–7 with no service in the window.
    pub functions_without_provider: Vec<u8>,
    /// Distinct firms located in this region (by the records' `enterprise_region`) served in
    /// the window by platforms of the requested region.
    pub firms_located: u64,
    /// Of them, firms served (also) by a platform of another region of this level.
    pub firms_served_from_elsewhere: u64,
    /// firms_served_from_elsewhere ÷ firms_located: the cross-region flow into this region;
    /// `None` without such firms (and for the total).
    pub inflow_share: Option<f64>,
    /// Monthly reports in the window (platform × month) and expected.
    pub coverage: Coverage,
}

/// One entry of the "where to build next" list, with every component.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Priority {
    /// 1 = build here first.
    pub rank: u32,
    /// Region code.
    pub region_code: String,
    /// 0–100.
    pub priority: f64,
    /// max(0, 1 − density ÷ reference density).
    pub density_gap: f64,
    /// Count of functions without provider (÷ 7 in the formula).
    pub missing_functions: u32,
    /// max(0, 1 − reach ÷ reference reach); `None` without record detail.
    pub reach_gap: Option<f64>,
}

/// The layout view.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LayoutView {
    /// Always `month`.
    pub period_kind: &'static str,
    /// First month of the window.
    pub from: String,
    /// Last month of the window.
    pub to: String,
    /// The requested region.
    pub region: String,
    /// One level below, by code; regions with platforms, SMEs or expected reports.
    pub rows: Vec<LayoutRow>,
    /// The whole requested region (firms reached counted distinct across its platforms).
    pub total: LayoutRow,
    /// [`FORMULA`].
    pub formula: &'static str,
    /// Highest priority first; ties by code.
    pub where_to_build_next: Vec<Priority>,
    /// Regions not ranked and why.
    pub not_ranked: Vec<String>,
}

#[derive(Row, Deserialize)]
struct Count {
    key: String,
    n: u64,
}

#[derive(Row, Deserialize)]
struct SmeRow {
    region_code: String,
    year: u16,
    n: u64,
}

#[derive(Row, Deserialize)]
struct FlowRow {
    key: String,
    located: u64,
    elsewhere: u64,
}

#[derive(Row, Deserialize)]
struct ReportsRow {
    key: String,
    reported: u64,
    platforms: u64,
    with_records: u64,
    functions: Vec<u8>,
}

/// The 12 months ending with the last month of `p`.
pub(crate) fn window(p: Period) -> (Period, Period) {
    let last = *p.months().last().expect("every period has months");
    let mut first = last;
    for _ in 0..11 {
        first = first.previous().unwrap_or(first);
    }
    (first, last)
}

/// Layout and coverage below `filter`'s region, for the 12 months ending with its last period.
pub async fn layout(
    store: &Store,
    scope: &Scope,
    filter: &Filter,
) -> Result<LayoutView, ViewError> {
    let (first, last) = window(filter.to());
    let months = filter.over(first, last)?;
    let child = |col: &str| sql::child_region_expr(filter.region(), col);
    let last_day = last.last_day().to_string();

    // Active platforms on the last day.
    let mut active_q = Sql::new(&format!(
        "SELECT {} AS key, count() AS n FROM ({}) AS reg
         WHERE cur_registered <= toDate(",
        child("cur_region"),
        registry_db::current_platforms_sql()
    ));
    active_q
        .str(last_day.clone())
        .push(") AND (cur_closed = toDate('1970-01-01') OR cur_closed > toDate(")
        .str(last_day)
        .push(")) AND ")
        .scope(scope, "cur_region")
        .push(" AND ")
        .region(filter.region(), "cur_region");
    if let Some(level) = filter.level() {
        active_q.push(" AND cur_level = ").str(level.as_str());
    }
    active_q.push(" GROUP BY key");

    // SME counts: latest import per (region, year), then the latest year ≤ the window's.
    let mut sme_q = Sql::new(
        "SELECT region_code, toUInt16(max(y)) AS year, argMax(cnt, y) AS n FROM (
             SELECT region_code, year AS y, argMax(sme_count, version) AS cnt FROM sme_counts
             WHERE year <= ",
    );
    sme_q
        .u64(last.year() as u64)
        .push(" AND ")
        .scope(scope, "region_code")
        .push(" AND ")
        .region(filter.region(), "region_code")
        .push(" GROUP BY region_code, y) AS s GROUP BY region_code");

    // Per region and for the whole region ('total'), in one pass over the current reports'
    // facts: reports, platforms, platforms with record detail, functions with a service.
    let mut reports_q = Sql::new(
        "SELECT key, toUInt64(count()) AS reported,
                toUInt64(uniqExact(platform_id)) AS platforms,
                toUInt64(uniqExactIf(platform_id, service_record_count > 0)) AS with_records,
                groupUniqArrayArray(
                    arrayFilter((f, s) -> s > 0, [1, 2, 3, 4, 5, 6, 7], vol_services))
                    AS functions
         FROM (",
    );
    reports_q
        .append(sql::current_facts(scope, &months))
        .push(&format!(
            ") AS cur ARRAY JOIN [{}, 'total'] AS key GROUP BY key",
            child("region_code")
        ));

    // Firms reached, distinct per region and across the whole region. Distinct counts do not
    // change when a record was written twice, so the records need no deduplication.
    let mut reach_q = Sql::new(
        "SELECT key, toUInt64(uniqExact(enterprise)) AS n FROM service_records
         ARRAY JOIN [",
    );
    reach_q
        .push(&child("region_code"))
        .push(", 'total'] AS key WHERE ")
        .append(sql::period_range(&months))
        .push(" AND ")
        .scope(scope, "region_code")
        .push(" AND report_id IN (SELECT report_id FROM (")
        .append(sql::current_facts(scope, &months))
        .push(") AS cur) GROUP BY key");

    // Firms located in each region, and of them those served by another region's platform.
    let mut flows_q = Sql::new(&format!(
        "SELECT key, toUInt64(uniqExact(enterprise)) AS located,
                toUInt64(uniqExactIf(enterprise, platform_key != key)) AS elsewhere
         FROM (SELECT enterprise, {} AS key, {} AS platform_key FROM service_records WHERE ",
        child("enterprise_region"),
        child("region_code")
    ));
    flows_q
        .append(sql::period_range(&months))
        .push(" AND ")
        .scope(scope, "region_code")
        .push(" AND ")
        .region(filter.region(), "region_code")
        .push(" AND length(enterprise_region) = 6 AND ")
        .region(filter.region(), "enterprise_region")
        .push(" AND report_id IN (SELECT report_id FROM (")
        .append(sql::current_facts(scope, &months))
        .push(") AS cur)) AS r GROUP BY key");

    // Expected monthly reports.
    let mut expected_q = Sql::new(&format!(
        "SELECT {} AS key, count() AS n FROM (",
        child("cur_region")
    ));
    expected_q
        .append(sql::expected_platforms(scope, &months))
        .push(") AS e GROUP BY key");

    let (active, smes, reports, reached, flows, expected) = tokio::try_join!(
        active_q.fetch::<Count>(store, "layout platforms"),
        sme_q.fetch::<SmeRow>(store, "layout SME counts"),
        reports_q.fetch::<ReportsRow>(store, "layout reports"),
        reach_q.fetch::<Count>(store, "layout reach"),
        flows_q.fetch::<FlowRow>(store, "layout flows"),
        expected_q.fetch::<Count>(store, "layout expected"),
    )?;
    let flows: HashMap<String, (u64, u64)> = flows
        .into_iter()
        .map(|f| (f.key, (f.located, f.elsewhere)))
        .collect();
    let active = counts(active);
    let smes: HashMap<String, (u16, u64)> = smes
        .into_iter()
        .map(|r| (r.region_code, (r.year, r.n)))
        .collect();
    let mut by_region: HashMap<String, ReportsRow> =
        reports.into_iter().map(|r| (r.key.clone(), r)).collect();
    let total_reports = by_region.remove("total");
    let mut reached_by = counts(reached);
    let reached_total = reached_by.remove("total").unwrap_or(0);
    let expected = counts(expected);

    let names = crate::registry::division_names(store).await?;
    let mut keys: Vec<String> = active
        .keys()
        .chain(expected.keys())
        .chain(by_region.keys())
        .chain(flows.keys().filter(|k| child_of(filter.region(), k) == **k))
        .cloned()
        .chain(
            smes.keys()
                .filter(|c| *c != filter.region() && child_of(filter.region(), c) == **c)
                .cloned(),
        )
        .collect();
    keys.sort();
    keys.dedup();
    let mut rows: Vec<LayoutRow> = keys
        .iter()
        .map(|k| {
            build_row(
                k,
                names.get(k).cloned().unwrap_or_default(),
                active.get(k).copied().unwrap_or(0),
                smes.get(k).copied(),
                reached_by.get(k).copied().unwrap_or(0),
                by_region.get(k),
                expected.get(k).copied().unwrap_or(0),
            )
        })
        .collect();
    for r in &mut rows {
        if let Some(&(located, elsewhere)) = flows.get(&r.region_code) {
            r.firms_located = located;
            r.firms_served_from_elsewhere = elsewhere;
            r.inflow_share = sql::share(elsewhere, located);
        }
    }
    // The requested region's own count, or the sum of the rows below (with the latest year).
    let total_smes = smes.get(filter.region()).copied().or_else(|| {
        let known: Vec<(u16, u64)> = rows
            .iter()
            .filter_map(|r| r.smes.zip(r.sme_year).map(|(n, y)| (y, n)))
            .collect();
        (!known.is_empty()).then(|| {
            (
                known.iter().map(|k| k.0).max().unwrap_or(0),
                known.iter().map(|k| k.1).sum(),
            )
        })
    });
    let total = build_row(
        filter.region(),
        if filter.region() == region::NATIONAL {
            "全国".to_owned()
        } else {
            names.get(filter.region()).cloned().unwrap_or_default()
        },
        active.values().sum(),
        total_smes,
        reached_total,
        total_reports.as_ref(),
        expected.values().sum(),
    );
    let (where_to_build_next, not_ranked) = rank(&rows, &total);
    Ok(LayoutView {
        period_kind: "month",
        from: first.to_string(),
        to: last.to_string(),
        region: filter.region().to_owned(),
        rows,
        total,
        formula: FORMULA,
        where_to_build_next,
        not_ranked,
    })
}

fn child_of(region_code: &str, code: &str) -> String {
    region::child_within(region_code, code)
}

fn counts(rows: Vec<Count>) -> HashMap<String, u64> {
    rows.into_iter().map(|c| (c.key, c.n)).collect()
}

#[allow(clippy::too_many_arguments)]
fn build_row(
    code: &str,
    name: String,
    active: u64,
    smes: Option<(u16, u64)>,
    reached: u64,
    reports: Option<&ReportsRow>,
    expected: u64,
) -> LayoutRow {
    let sme = smes.map(|s| s.1).filter(|n| *n > 0);
    let with_records = reports.map_or(0, |r| r.with_records);
    LayoutRow {
        region_code: code.to_owned(),
        region_name: name,
        active_platforms: active,
        smes: smes.map(|s| s.1),
        sme_year: smes.map(|s| s.0),
        platforms_per_10k_smes: sme.map(|n| active as f64 * 10_000.0 / n as f64),
        enterprises_reached: reached,
        reach: sme
            .filter(|_| with_records > 0)
            .map(|n| reached as f64 / n as f64),
        platforms_reported: reports.map_or(0, |r| r.platforms),
        platforms_with_records: with_records,
        firms_located: 0,
        firms_served_from_elsewhere: 0,
        inflow_share: None,
        functions_without_provider: (1..=7u8)
            .filter(|f| !reports.is_some_and(|r| r.functions.contains(f)))
            .collect(),
        coverage: Coverage {
            reported: reports.map_or(0, |r| r.reported),
            expected,
        },
    }
}

/// The ranked list by [`FORMULA`]. Pure: the arithmetic of the view.
pub fn rank(rows: &[LayoutRow], total: &LayoutRow) -> (Vec<Priority>, Vec<String>) {
    let mut ranked = Vec::new();
    let mut not_ranked = Vec::new();
    for r in rows {
        let Some(density) = r.platforms_per_10k_smes else {
            not_ranked.push(format!(
                "{}: no SME count for {} (import one with sme-hub sme-counts import)",
                r.region_code, r.region_code
            ));
            continue;
        };
        let density_gap = match total.platforms_per_10k_smes {
            Some(reference) if reference > 0.0 => (1.0 - density / reference).max(0.0),
            _ => 0.0,
        };
        let missing = r.functions_without_provider.len() as u32;
        let reach_gap = match (r.reach, total.reach) {
            (Some(reach), Some(reference)) if reference > 0.0 => {
                Some((1.0 - reach / reference).max(0.0))
            }
            _ => None,
        };
        let mut sum = WEIGHT_DENSITY * density_gap + WEIGHT_FUNCTIONS * f64::from(missing) / 7.0;
        let mut weights = WEIGHT_DENSITY + WEIGHT_FUNCTIONS;
        if let Some(g) = reach_gap {
            sum += WEIGHT_REACH * g;
            weights += WEIGHT_REACH;
        }
        ranked.push(Priority {
            rank: 0,
            region_code: r.region_code.clone(),
            priority: 100.0 * sum / weights,
            density_gap,
            missing_functions: missing,
            reach_gap,
        });
    }
    ranked.sort_by(|a, b| {
        b.priority
            .total_cmp(&a.priority)
            .then_with(|| a.region_code.cmp(&b.region_code))
    });
    for (i, p) in ranked.iter_mut().enumerate() {
        p.rank = i as u32 + 1;
    }
    (ranked, not_ranked)
}
