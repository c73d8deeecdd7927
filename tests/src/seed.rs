//! A synthetic national data set for the analytics benchmarks and the dashboards' load test:
//! platforms spread over every province-level division, with months, quarters and years of
//! reports (service records on most monthly reports), revisions, late and missing reports,
//! closed platforms and SME counts, written through the store's own insert paths
//! (`registry::upsert_platforms`, `registry::upsert_sme_counts`, `Store::insert_reports`).
//!
//! Everything is a function of the seed and the platform number, so two runs with the same
//! arguments write the same figures (report ids and receipt times excepted where noted).
//!
//! What a platform looks like:
//! - region: a prefecture-level code `PPCC00` of its province (municipalities have one);
//! - size: a factor between 0.2 and 5 that scales its services;
//! - 70 % send service-record detail on monthly reports, the others volumes only;
//! - 2 % closed two thirds into the window; registered between 2015 and the window's start,
//!   a few during the window;
//! - per reporting period: 3 % send nothing, 7 % arrive after the due time, 3 % are corrected
//!   once (revision 1, received ten days later, services +10 %).

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sme_hub::registry::{self, DemoLevel, Platform, SmeCount};
use sme_hub::store::{AcceptedReport, Store};
use sme_proto::period::{Calendar, Period, PeriodKind};
use sme_proto::{credit_code, fixtures, pseudonym, rules, v1};
use time::{Date, Duration, OffsetDateTime};

/// Province-level codes and a weight (roughly their share of SMEs) and how many prefecture
/// codes `PPCC00` (CC = 01…n) the generator spreads their platforms over.
pub const PROVINCES: &[(&str, u32, u32)] = &[
    ("11", 4, 1),
    ("12", 2, 1),
    ("13", 4, 11),
    ("14", 2, 11),
    ("15", 2, 9),
    ("21", 3, 14),
    ("22", 2, 8),
    ("23", 2, 12),
    ("31", 4, 1),
    ("32", 9, 13),
    ("33", 8, 11),
    ("34", 4, 16),
    ("35", 4, 9),
    ("36", 3, 11),
    ("37", 7, 16),
    ("41", 5, 17),
    ("42", 4, 13),
    ("43", 3, 13),
    ("44", 10, 21),
    ("45", 2, 14),
    ("46", 1, 4),
    ("50", 2, 1),
    ("51", 4, 21),
    ("52", 2, 9),
    ("53", 2, 16),
    ("54", 1, 7),
    ("61", 2, 10),
    ("62", 1, 14),
    ("63", 1, 8),
    ("64", 1, 5),
    ("65", 1, 14),
    ("71", 1, 1),
    ("81", 1, 1),
    ("82", 1, 1),
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedConfig {
    /// How many platforms.
    pub platforms: u32,
    /// How many months back from the last ended month (quarters and years that lie entirely
    /// inside them are reported too).
    pub months: u32,
    /// Average service records on a monthly report of a platform that sends detail.
    pub records_per_report: u32,
    /// Seed of every random choice.
    pub seed: u64,
    /// The last month of the window (default: the last ended month).
    pub last_month: Period,
    /// Due dates and locks (the hub's calendar).
    pub calendar: Calendar,
}

/// What was written.
#[derive(Debug, Default, Clone)]
pub struct SeedSummary {
    /// Platforms registered.
    pub platforms: usize,
    /// Reports written, every revision counted, per period kind.
    pub reports: BTreeMap<&'static str, usize>,
    /// Service-volume rows.
    pub volume_rows: usize,
    /// Service-record rows.
    pub record_rows: usize,
    /// SME-count rows.
    pub sme_counts: usize,
}

/// One simulated platform, as the generator sees it.
#[derive(Debug, Clone)]
pub struct SeedPlatform {
    /// Its registry row.
    pub platform: Platform,
    /// Scales its services.
    pub size: f64,
    /// Whether its monthly reports carry service records.
    pub sends_records: bool,
}

/// The platforms of the data set (deterministic in `cfg.seed`).
pub fn platforms(cfg: &SeedConfig) -> Vec<SeedPlatform> {
    let total: u32 = PROVINCES.iter().map(|p| p.1).sum();
    let window_start = first_month(cfg).first_day();
    (0..cfg.platforms)
        .map(|n| {
            let mut rng = rng_for(cfg.seed, n, 0);
            let mut pick = rng.random_range(0..total);
            let (pp, _, prefectures) = PROVINCES
                .iter()
                .find(|p| {
                    let hit = pick < p.1;
                    pick = pick.saturating_sub(p.1);
                    hit
                })
                .copied()
                .expect("weights cover the range");
            let cc = rng.random_range(1..=prefectures);
            let region = format!("{pp}{cc:02}00");
            let code = credit_code::make_valid(&format!("12{region}{n:09}"));
            let registered = if rng.random_bool(0.05) {
                window_start + Duration::days(rng.random_range(0..(30 * cfg.months as i64)))
            } else {
                Date::from_calendar_date(rng.random_range(2015..=2022), time::Month::March, 1)
                    .expect("valid date")
            };
            let mut platform = Platform::new(&code, &format!("服务平台{n:05}"), registered);
            platform.industry = ["C", "I", "M", "L", "F"][n as usize % 5].to_owned();
            platform.level = match rng.random_range(0..100) {
                0..=2 => DemoLevel::National,
                3..=9 => DemoLevel::Provincial,
                _ => DemoLevel::None,
            };
            platform.independent_legal_person = rng.random_bool(0.95);
            if rng.random_bool(0.02) {
                platform.closed = Some(window_start + Duration::days(20 * cfg.months as i64 + 15));
            }
            SeedPlatform {
                size: 0.2 + rng.random::<f64>().powi(2) * 4.8,
                sends_records: rng.random_bool(0.7),
                platform,
            }
        })
        .collect()
}

/// SME counts of every province and prefecture the platforms are in, for the window's years.
pub fn sme_counts(cfg: &SeedConfig, platforms: &[SeedPlatform]) -> Vec<SmeCount> {
    let mut per_region: BTreeMap<String, u64> = BTreeMap::new();
    for p in platforms {
        let r = &p.platform.region_code;
        *per_region.entry(r.clone()).or_default() += 1;
        *per_region.entry(format!("{}0000", &r[..2])).or_default() += 1;
    }
    let (first, last) = (first_month(cfg).year(), cfg.last_month.year());
    per_region
        .into_iter()
        .flat_map(|(region, n)| {
            // About 300 SMEs per platform, varying by region and growing 3 % a year.
            let base = n * 250 + u64::from(region.as_bytes()[3] - b'0') * 97;
            (first..=last).map(move |year| SmeCount {
                region_code: region.clone(),
                year: year as u16,
                count: base + base * 3 * (year - first) as u64 / 100,
            })
        })
        .collect()
}

/// Every period of the window, oldest first: months, then the quarters and years that lie
/// entirely inside it.
pub fn periods(cfg: &SeedConfig) -> Vec<Period> {
    let mut months = Vec::new();
    let mut p = cfg.last_month;
    for _ in 0..cfg.months {
        months.push(p);
        match p.previous() {
            Some(prev) => p = prev,
            None => break,
        }
    }
    months.reverse();
    let start = months[0].first_day();
    let end = months[months.len() - 1].last_day();
    let mut out = months.clone();
    for kind in [PeriodKind::Quarter, PeriodKind::Year] {
        let mut seen = Vec::new();
        for m in &months {
            let Ok(container) = Period::containing_date(kind, m.first_day()) else {
                continue;
            };
            if container.first_day() >= start
                && container.last_day() <= end
                && !seen.contains(&container)
            {
                seen.push(container);
            }
        }
        out.extend(seen);
    }
    out
}

/// The reports (every revision) of one platform for one period, as the hub would store
/// them; empty when the platform sends nothing for it.
pub fn reports_for(
    cfg: &SeedConfig,
    n: u32,
    sp: &SeedPlatform,
    period: &Period,
    index: u32,
) -> Vec<AcceptedReport> {
    if !sp.platform.active_in(period) || sp.platform.registered > period.last_day() {
        return Vec::new();
    }
    let mut rng = rng_for(cfg.seed, n, index + 1);
    if rng.random_bool(0.03) {
        return Vec::new();
    }
    let id = &sp.platform.credit_code;
    let mut report = fixtures::sample_report(id, &period.to_string());
    report.agent_version = "sme-seed".to_owned();
    let months = match period.kind() {
        PeriodKind::Month => 1.0,
        PeriodKind::Quarter => 3.0,
        PeriodKind::Year => 12.0,
    };
    let scale = sp.size * months * (0.8 + rng.random::<f64>() * 0.4);
    if period.kind() == PeriodKind::Month && sp.sends_records {
        let count = (cfg.records_per_report as f64 * sp.size * (0.5 + rng.random::<f64>()))
            .round()
            .max(1.0) as u32;
        report.service_records = records(&mut rng, period, &sp.platform.region_code, n, count);
        fixtures::recompute_volumes(&mut report);
    } else {
        report.service_records.clear();
        report.volumes = volumes(&mut rng, scale);
    }
    let responses = (40.0 * scale).round() as u64;
    let good = 0.6 + rng.random::<f64>() * 0.35;
    let very = (responses as f64 * good * 0.6) as u64;
    let sat = (responses as f64 * good) as u64 - very;
    let rest = responses - very - sat;
    report.satisfaction = Some(v1::Satisfaction {
        very_satisfied: very,
        satisfied: sat,
        neutral: rest / 2,
        dissatisfied: rest - rest / 2 - rest / 4,
        very_dissatisfied: rest / 4,
        responses,
    });
    if let Some(staff) = report.staff.as_mut() {
        let total = (10.0 + 30.0 * sp.size) as u32;
        staff.total_staff = total;
        staff.professional_staff = total * 2 / 3;
        staff.professional_with_college_degree =
            staff.professional_staff * rng.random_range(35..95) / 100;
        staff.professional_with_degree_or_mid_title = staff
            .professional_with_college_degree
            .max(staff.professional_staff * rng.random_range(60..98) / 100);
        staff.senior_title_staff = staff.professional_staff / rng.random_range(3..8);
    }
    if let Some(f) = report.finance.as_mut() {
        f.total_revenue_fen = (scale * 40_000_000.0) as i64;
        f.service_revenue_fen = f.total_revenue_fen * rng.random_range(30..95) / 100;
        f.total_assets_fen = (sp.size * 600_000_000.0) as i64;
    }
    if let Some(d) = report.disclosures.as_mut() {
        d.fees = rng.random_bool(0.85);
    }
    let due = cfg.calendar.due_at(period);
    let received_at = if rng.random_bool(0.07) {
        due + Duration::days(rng.random_range(1..30))
    } else {
        due - Duration::days(rng.random_range(1..9)) - Duration::minutes(rng.random_range(0..1440))
    };
    let region_code = sp.platform.region_code.clone();
    let first = AcceptedReport {
        report: report.clone(),
        platform_id: id.clone(),
        region_code: region_code.clone(),
        received_at,
        due_at: due,
        flags: Vec::new(),
    };
    if !rng.random_bool(0.03) {
        return vec![first];
    }
    let mut corrected = report;
    corrected.report_id = uuid::Uuid::new_v4().to_string();
    corrected.revision = 1;
    if corrected.service_records.is_empty() {
        for v in &mut corrected.volumes {
            let extra = v.services / 10;
            v.services += extra;
        }
    }
    vec![
        first,
        AcceptedReport {
            report: corrected,
            platform_id: id.clone(),
            region_code,
            received_at: received_at + Duration::days(10),
            due_at: due,
            flags: Vec::new(),
        },
    ]
}

fn records(
    rng: &mut StdRng,
    period: &Period,
    region: &str,
    n: u32,
    count: u32,
) -> Vec<v1::ServiceRecord> {
    let first = period.first_day();
    let days = (period.last_day() - first).whole_days() + 1;
    let key = fixtures::SAMPLE_KEY;
    (0..count)
        .map(|j| {
            let function = rng.random_range(1..=7i32);
            let free = rng.random_bool(0.35);
            // Firms of the platform's own prefecture mostly, a pool that platforms share.
            let local = rng.random_bool(0.85);
            let firm_region = if local {
                region.to_owned()
            } else {
                "110100".to_owned()
            };
            let firm = rng.random_range(0..400u32);
            let firm_code =
                credit_code::make_valid(&format!("91{}{:09}", &firm_region, firm + n % 7));
            v1::ServiceRecord {
                record_id: format!("{period}-{j}"),
                date: (first + Duration::days(rng.random_range(0..days))).to_string(),
                function,
                enterprise: pseudonym::pseudonymise(key, &firm_code),
                enterprise_size: rng.random_range(1..=3),
                industry: ["C", "I", "M", "F", "G"][rng.random_range(0..5)].to_owned(),
                enterprise_region: firm_region,
                fee_fen: if free {
                    0
                } else {
                    rng.random_range(1..500) * 1_000
                },
                free,
                satisfaction: rng.random_range(0..=5),
                person_times: if function == 7 {
                    rng.random_range(5..60)
                } else {
                    0
                },
            }
        })
        .collect()
}

fn volumes(rng: &mut StdRng, scale: f64) -> Vec<v1::FunctionVolume> {
    let mut out = Vec::new();
    for function in 1..=7 {
        if !rng.random_bool(0.85) {
            continue;
        }
        let services = (scale * rng.random_range(2.0..20.0)).round() as u64;
        out.push(v1::FunctionVolume {
            function,
            services,
            enterprises_served: services * rng.random_range(40..90) / 100,
            free_services: services * rng.random_range(10..60) / 100,
            revenue_fen: (services as i64) * rng.random_range(500..5_000) * 100,
            person_times: if function == 7 { services * 12 } else { 0 },
        });
    }
    out
}

/// Writes the whole data set, calling `progress` after every batch with the reports written so
/// far and the total to write.
pub async fn write(
    store: &Store,
    cfg: &SeedConfig,
    mut progress: impl FnMut(usize, usize),
) -> anyhow::Result<SeedSummary> {
    let platforms = platforms(cfg);
    let now = OffsetDateTime::now_utc();
    let rows: Vec<Platform> = platforms.iter().map(|p| p.platform.clone()).collect();
    for chunk in rows.chunks(10_000) {
        registry::upsert_platforms(store, chunk, "sme-seed", now).await?;
    }
    let counts = sme_counts(cfg, &platforms);
    registry::upsert_sme_counts(store, &counts, "sme-seed", now).await?;
    let periods = periods(cfg);
    let mut summary = SeedSummary {
        platforms: platforms.len(),
        sme_counts: counts.len(),
        ..SeedSummary::default()
    };
    let estimate = platforms.len() * periods.len();
    let mut batch = Vec::with_capacity(4_000);
    let mut done = 0;
    // Period by period, so every insert touches one partition (year) of each table.
    for (index, period) in periods.iter().enumerate() {
        for (n, sp) in platforms.iter().enumerate() {
            for r in reports_for(cfg, n as u32, sp, period, index as u32) {
                *summary.reports.entry(kind_name(period.kind())).or_default() += 1;
                summary.volume_rows += r.report.volumes.len();
                summary.record_rows += r.report.service_records.len();
                batch.push(r);
            }
            done += 1;
            if batch.len() >= 4_000 {
                store.insert_reports(&batch).await?;
                batch.clear();
                progress(done, estimate);
            }
        }
    }
    if !batch.is_empty() {
        store.insert_reports(&batch).await?;
    }
    progress(estimate, estimate);
    Ok(summary)
}

fn kind_name(kind: PeriodKind) -> &'static str {
    match kind {
        PeriodKind::Month => "month",
        PeriodKind::Quarter => "quarter",
        PeriodKind::Year => "year",
    }
}

fn first_month(cfg: &SeedConfig) -> Period {
    let mut p = cfg.last_month;
    for _ in 1..cfg.months {
        p = p.previous().unwrap_or(p);
    }
    p
}

fn rng_for(seed: u64, n: u32, salt: u32) -> StdRng {
    let mix = seed ^ (u64::from(n) << 20) ^ u64::from(salt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    StdRng::seed_from_u64(mix)
}

/// Checks one generated report against the hub's hard rules that do not need the registry
/// (a guard that the generator writes what a real agent could have sent).
pub fn check(report: &v1::Report) -> Result<(), String> {
    let volumes_ok = report.service_records.is_empty()
        || rules::volumes_from_records(&report.service_records) == report.volumes;
    if !volumes_ok {
        return Err(format!("{}: volumes differ from records", report.period));
    }
    for v in &report.volumes {
        if v.enterprises_served > v.services || v.free_services > v.services {
            return Err(format!(
                "{}: function {} breaks E007",
                report.period, v.function
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SeedConfig {
        SeedConfig {
            platforms: 300,
            months: 36,
            records_per_report: 8,
            seed: 7,
            last_month: "2026-M10".parse().unwrap(),
            calendar: Calendar::default(),
        }
    }

    #[test]
    fn the_window_has_36_months_12_quarters_and_the_whole_years() {
        let p = periods(&cfg());
        let count = |k| p.iter().filter(|p| p.kind() == k).count();
        // 2023-M11 … 2026-M10: quarters 2024-Q1 … 2026-Q3, years 2024 and 2025.
        assert_eq!(count(PeriodKind::Month), 36);
        assert_eq!(count(PeriodKind::Quarter), 11);
        assert_eq!(count(PeriodKind::Year), 2);
        assert_eq!(p[0].to_string(), "2023-M11");
    }

    #[test]
    fn platforms_are_valid_and_spread_over_provinces() {
        let ps = platforms(&cfg());
        let mut provinces = std::collections::HashSet::new();
        for p in &ps {
            credit_code::validate(&p.platform.credit_code).unwrap();
            assert_eq!(
                credit_code::region_code(&p.platform.credit_code),
                p.platform.region_code
            );
            provinces.insert(p.platform.region_code[..2].to_owned());
        }
        assert!(provinces.len() > 25, "{provinces:?}");
    }

    #[test]
    fn generated_reports_keep_the_hard_rules() {
        let c = cfg();
        let ps = platforms(&c);
        for (i, period) in periods(&c).iter().enumerate().step_by(5) {
            for (n, sp) in ps.iter().enumerate().take(40) {
                for r in reports_for(&c, n as u32, sp, period, i as u32) {
                    check(&r.report).unwrap();
                    let s = r.report.satisfaction.unwrap();
                    assert_eq!(
                        s.very_satisfied
                            + s.satisfied
                            + s.neutral
                            + s.dissatisfied
                            + s.very_dissatisfied,
                        s.responses
                    );
                }
            }
        }
    }
}
