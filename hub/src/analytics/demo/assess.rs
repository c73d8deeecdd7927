//! The arithmetic of the demo-platform candidates: every gate, component, tier and score from
//! what the queries of [`super::candidates`] found for each platform. Pure, no I/O.

use std::collections::HashMap;

use time::{Date, Month};

use super::{Candidate, CapacityRow, Component, Gate, MonthlyRow, RegistryRow, StockRow};
use crate::config::DemoConfig;
use crate::registry::region;

/// Everything known of one platform.
pub(super) struct Facts {
    pub(super) registry: RegistryRow,
    pub(super) monthly: MonthlyRow,
    pub(super) stock: StockRow,
    pub(super) capacity: CapacityRow,
    pub(super) expected: u64,
    pub(super) on_time: u64,
    pub(super) served_now: Option<u64>,
    pub(super) served_before: Option<u64>,
}

fn ratio(n: f64, d: f64) -> Option<f64> {
    (d > 0.0).then(|| n / d)
}

fn at_least(value: Option<f64>, threshold: f64) -> Option<bool> {
    value.map(|v| v >= threshold)
}

/// The gates, components and tier of every platform. Pure: the arithmetic of the view.
pub(super) fn assess(all: &[Facts], cfg: &DemoConfig, last_day: Date) -> Vec<Candidate> {
    // Percentile of SMEs served within each province, among platforms with a known count.
    let mut by_province: HashMap<String, Vec<u64>> = HashMap::new();
    for f in all {
        if let Some(n) = f.served_now {
            by_province
                .entry(region::province_of(&f.registry.region_code))
                .or_default()
                .push(n);
        }
    }
    for v in by_province.values_mut() {
        v.sort_unstable();
    }
    all.iter()
        .map(|f| {
            let (m, s) = (&f.monthly, &f.stock);
            let staff = s.has_staff == 1;
            let degree = if staff {
                Some(ratio(f64::from(s.qualified), f64::from(s.professional)).unwrap_or(0.0))
            } else {
                None
            };
            let revenue_share = (s.has_finance == 1)
                .then(|| ratio(s.service_revenue_fen as f64, s.total_revenue_fen as f64))
                .flatten();
            let revenue_not_applicable = s.has_finance == 1 && s.total_revenue_fen <= 0;
            let reports_share = ratio(m.months_reported as f64, f.expected as f64);
            let c = &f.capacity;
            let floor = (c.has_capacity == 1).then_some(c.floor_area);
            let gate = |id, label_zh, label_en, value: Option<f64>, threshold, met| Gate {
                id,
                label_zh,
                label_en,
                value,
                threshold,
                met,
            };
            let basic = vec![
                gate(
                    "B1",
                    "独立法人",
                    "independent legal person",
                    Some(f64::from(f.registry.legal_person)),
                    1.0,
                    Some(f.registry.legal_person == 1),
                ),
                gate(
                    "B2",
                    "服务场所面积大于0",
                    "floor area above 0 m²",
                    floor,
                    0.0,
                    floor.map(|a| a > 0.0),
                ),
                gate(
                    "B3",
                    "专业人员大专以上学历或中级以上职称占比",
                    "degree or mid-title share of professional staff",
                    degree,
                    cfg.basic_degree_share,
                    at_least(degree, cfg.basic_degree_share),
                ),
                gate(
                    "B4",
                    "五项服务公开齐全",
                    "all five disclosures",
                    (s.has_disclosures == 1).then_some(f64::from(s.disclosures)),
                    5.0,
                    (s.has_disclosures == 1).then_some(s.disclosures == 5),
                ),
                gate(
                    "B5",
                    "服务收入占营业额比例",
                    "service revenue share",
                    revenue_share,
                    cfg.basic_service_revenue_share,
                    if revenue_not_applicable {
                        Some(true)
                    } else {
                        at_least(revenue_share, cfg.basic_service_revenue_share)
                    },
                ),
                gate(
                    "B6",
                    "近12个月按月报送率",
                    "monthly reports received ÷ expected, 12 months",
                    reports_share,
                    cfg.basic_report_share,
                    at_least(reports_share, cfg.basic_report_share),
                ),
            ];
            let operating = years_between(f.registry.registered, last_day);
            let assets = (s.has_finance == 1).then(|| s.total_assets_fen as f64 / 100.0);
            let served = f.served_now.map(|n| n as f64);
            let satisfaction = ratio(m.satisfied as f64, m.responses as f64);
            let growth = match (f.served_now, f.served_before) {
                (Some(now), Some(before)) if before > 0 => Some(now as f64 / before as f64 - 1.0),
                _ => None,
            };
            let growing = match (f.served_now, f.served_before) {
                (Some(now), Some(before)) => Some(now > before),
                _ => None,
            };
            let free = ratio(m.free_services as f64, m.services as f64);
            let professional = staff.then_some(f64::from(s.professional));
            let partners = (c.has_capacity == 1).then_some(c.partners as f64);
            let national = vec![
                gate(
                    "N1",
                    "运营满年限",
                    "years in operation",
                    Some(operating),
                    f64::from(cfg.national_operating_years),
                    Some(operating >= f64::from(cfg.national_operating_years)),
                ),
                gate(
                    "N2",
                    "资产总额（元）",
                    "total assets, yuan",
                    assets,
                    cfg.national_total_assets_yuan as f64,
                    at_least(assets, cfg.national_total_assets_yuan as f64),
                ),
                gate(
                    "N3",
                    "近12个月服务中小企业数",
                    "SMEs served in 12 months",
                    served,
                    cfg.national_smes_served as f64,
                    at_least(served, cfg.national_smes_served as f64),
                ),
                gate(
                    "N4",
                    "服务满意度",
                    "satisfaction rate",
                    satisfaction,
                    cfg.national_satisfaction_rate,
                    at_least(satisfaction, cfg.national_satisfaction_rate),
                ),
                gate(
                    "N5",
                    "服务企业数较上年增长",
                    "SMEs served growing on the 12 months before",
                    growth,
                    0.0,
                    growing,
                ),
                gate(
                    "N6",
                    "公益性服务占比",
                    "free services share",
                    free,
                    cfg.national_free_share,
                    at_least(free, cfg.national_free_share),
                ),
                gate(
                    "N7",
                    "专业服务人员数",
                    "professional staff",
                    professional,
                    f64::from(cfg.national_staff),
                    at_least(professional, f64::from(cfg.national_staff)),
                ),
                gate(
                    "N8",
                    "其中大专以上学历或中级以上职称占比",
                    "of them with a degree or mid-level title",
                    degree,
                    cfg.national_staff_degree_share,
                    at_least(degree, cfg.national_staff_degree_share),
                ),
                gate(
                    "N9",
                    "合作机构数",
                    "partner institutions",
                    partners,
                    f64::from(cfg.national_partners),
                    at_least(partners, f64::from(cfg.national_partners)),
                ),
            ];
            let percentile = f.served_now.and_then(|n| {
                let v = by_province.get(&region::province_of(&f.registry.region_code))?;
                let at_most = v.partition_point(|x| *x <= n);
                Some(at_most as f64 / v.len() as f64)
            });
            let values = [
                ("smes_served", percentile),
                ("satisfaction", satisfaction),
                ("functions", Some(m.functions.len().min(7) as f64 / 7.0)),
                ("growth", growth.map(|g| g.clamp(0.0, 1.0))),
                (
                    "senior_titles",
                    staff
                        .then(|| ratio(f64::from(s.senior), f64::from(s.total_staff)))
                        .flatten(),
                ),
                (
                    "timeliness",
                    ratio(f.on_time as f64, f.expected as f64).map(|r| r.min(1.0)),
                ),
            ];
            let components: Vec<Component> = values
                .iter()
                .zip(cfg.weights())
                .map(|(&(id, value), weight)| Component {
                    id,
                    weight,
                    value,
                    points: f64::from(weight) * value.unwrap_or(0.0),
                })
                .collect();
            let met = |gates: &[Gate]| gates.iter().all(|g| g.met == Some(true));
            let tier = match (met(&basic), met(&national)) {
                (true, true) => "national",
                (true, false) => "basic",
                _ => "none",
            };
            Candidate {
                credit_code: f.registry.credit_code.clone(),
                name: f.registry.name.clone(),
                region_code: f.registry.region_code.clone(),
                level: f.registry.level.clone(),
                tier,
                score: components.iter().map(|c| c.points).sum(),
                basic,
                national,
                components,
            }
        })
        .collect()
}

/// Whole years from `from` to `to` (a year counts on its anniversary), with the days after the
/// last anniversary as a fraction of 365.
fn years_between(from: Date, to: Date) -> f64 {
    if to < from {
        return 0.0;
    }
    let mut years = to.year() - from.year();
    let anniversary = |y: i32| {
        Date::from_calendar_date(y, from.month(), from.day())
            .or_else(|_| Date::from_calendar_date(y, Month::March, 1))
            .expect("valid date")
    };
    if anniversary(from.year() + years) > to {
        years -= 1;
    }
    let days = (to - anniversary(from.year() + years)).whole_days();
    f64::from(years) + days as f64 / 365.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn years_count_on_the_anniversary() {
        assert_eq!(
            years_between(date!(2024 - 06 - 30), date!(2026 - 06 - 30)),
            2.0
        );
        assert!(years_between(date!(2024 - 07 - 01), date!(2026 - 06 - 30)) < 2.0);
        assert_eq!(
            years_between(date!(2027 - 01 - 01), date!(2026 - 06 - 30)),
            0.0
        );
        assert!(years_between(date!(2024 - 02 - 29), date!(2026 - 03 - 01)) >= 2.0);
    }
}
