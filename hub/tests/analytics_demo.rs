//! Demo-platform candidates (domain §7.6) against a real ClickHouse, every gate and score
//! component worked out by hand in the comments.
//!
//! Window: `to = 2026-M06` → months 2025-M07 … 2026-M06, the 12 months before 2024-M07 …
//! 2025-M06, quarters 2025-Q3 … 2026-Q2, capacity year 2025.
//!
//! | platform | region | registry | monthly (window) | before | quarterly | annual 2025 |
//! |---|---|---|---|---|---|---|
//! | A | 440305 | 2020-01-01 | all 12, on time: fn1 10 (4 free), fn2 5 (1 free), satisfaction 42 of 50, 15 firms a month | 6 months × 10 firms | staff 30, professional 25, qualified 21, senior 6; disclosures all; revenue 600 of 1 000 yuan; assets 4 000 000 yuan | floor 500 m², partners 5 |
//! | B | 440106 | 2025-01-01 | 10 of 12, on time, fn1 20 (2 free), no satisfaction, no records | — | as A but no fee disclosure | none |
//! | C | 110108 | 2020-01-01 | all 12 (a Beijing platform: never in Guangdong's answer) | — | as A | as A |

mod support;

use sme_hub::analytics::demo::{self, DemoView, TierFilter};
use sme_hub::analytics::{Filter, Role, Scope};
use sme_hub::config::DemoConfig;
use sme_hub::registry::{self, Platform};
use sme_hub::store::{AcceptedReport, Store};
use sme_proto::credit_code::make_valid;
use sme_proto::period::{Calendar, Period};
use sme_proto::v1;
use time::macros::{date, datetime};
use time::Duration;

const SERVER: &str = "hub-analytics-demo-tests";

fn code(region: &str, n: u32) -> String {
    make_valid(&format!("91{region}MA{n:07}"))
}

fn period(s: &str) -> Period {
    s.parse().unwrap()
}

fn accepted(report: v1::Report) -> AcceptedReport {
    let p = period(&report.period);
    let due_at = Calendar::default().due_at(&p);
    AcceptedReport {
        platform_id: report.platform_id.clone(),
        region_code: report.platform_id[2..8].to_owned(),
        // Five days before the due time: on time.
        received_at: due_at - Duration::days(5),
        due_at,
        flags: Vec::new(),
        report,
    }
}

fn monthly(pid: &str, per: &str, vols: &[(i32, u64, u64)], firms: u32) -> v1::Report {
    let mut r = sme_proto::fixtures::sample_report(pid, per);
    r.volumes = vols
        .iter()
        .map(|&(function, services, free)| v1::FunctionVolume {
            function,
            services,
            enterprises_served: 1,
            free_services: free,
            revenue_fen: 0,
            person_times: 0,
        })
        .collect();
    let day = period(per).first_day().to_string();
    r.service_records = (0..firms)
        .map(|k| v1::ServiceRecord {
            record_id: format!("R{k}"),
            date: day.clone(),
            function: 1,
            enterprise: format!("{pid}-{per}-{k}"),
            enterprise_size: 1,
            industry: "C".to_owned(),
            enterprise_region: "440305".to_owned(),
            fee_fen: 0,
            free: true,
            satisfaction: 0,
            person_times: 1,
        })
        .collect();
    r
}

fn quarterly(pid: &str, per: &str, fees_disclosed: bool) -> v1::Report {
    let mut r = sme_proto::fixtures::sample_report(pid, per);
    r.service_records.clear();
    r.staff = Some(v1::StaffComposition {
        total_staff: 30,
        professional_staff: 25,
        professional_with_college_degree: 20,
        professional_with_degree_or_mid_title: 21,
        senior_title_staff: 6,
        staff_trained: 10,
    });
    r.finance = Some(v1::Finance {
        total_revenue_fen: 100_000,
        service_revenue_fen: 60_000,
        public_funding_fen: 0,
        total_assets_fen: 400_000_000,
    });
    r.disclosures = Some(v1::Disclosures {
        content: true,
        process: true,
        standards: true,
        fees: fees_disclosed,
        time: true,
    });
    r
}

fn annual(pid: &str) -> v1::Report {
    let mut r = sme_proto::fixtures::sample_report(pid, "2025-A");
    r.service_records.clear();
    r.capacity = Some(v1::Capacity {
        floor_area_m2: 500.0,
        equipment_count: 1,
        equipment_value_fen: 0,
        shared_equipment_hours: 0,
        certifications: Vec::new(),
        partner_universities: 2,
        partner_research_institutes: 1,
        partner_associations: 1,
        partner_service_agencies: 1,
    });
    r
}

fn months(first: &str, n: usize) -> Vec<String> {
    let mut p = period(first);
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(p.to_string());
        p = p.next().unwrap();
    }
    out
}

async fn data_set(test: &str) -> (Store, String, String, String) {
    let store = support::fresh_store(SERVER, test).await;
    registry::seed_divisions(&store).await.unwrap();
    let (a, b, c) = (code("440305", 1), code("440106", 2), code("110108", 3));
    let platforms = vec![
        Platform::new(&a, "南山平台", date!(2020 - 01 - 01)),
        Platform::new(&b, "天河平台", date!(2025 - 01 - 01)),
        Platform::new(&c, "海淀平台", date!(2020 - 01 - 01)),
    ];
    registry::upsert_platforms(&store, &platforms, "test", datetime!(2024-01-01 0:00 UTC))
        .await
        .unwrap();
    let mut batch = Vec::new();
    for m in months("2025-M07", 12) {
        batch.push(accepted(monthly(&a, &m, &[(1, 10, 4), (2, 5, 1)], 15)));
        batch.push(accepted(monthly(&c, &m, &[(1, 10, 4)], 15)));
    }
    for m in months("2024-M07", 6) {
        batch.push(accepted(monthly(&a, &m, &[(1, 10, 4)], 10)));
    }
    // B: 10 of the 12 months (not 2025-M07, 2025-M08), no satisfaction, no records.
    for m in months("2025-M09", 10) {
        let mut r = monthly(&b, &m, &[(1, 20, 2)], 0);
        r.satisfaction = None;
        batch.push(accepted(r));
    }
    for q in ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"] {
        batch.push(accepted(quarterly(&a, q, true)));
        batch.push(accepted(quarterly(&b, q, false)));
        batch.push(accepted(quarterly(&c, q, true)));
    }
    batch.push(accepted(annual(&a)));
    batch.push(accepted(annual(&c)));
    // A retried batch: nothing may double.
    store.insert_reports(&batch).await.unwrap();
    store.insert_reports(&batch).await.unwrap();
    (store, a, b, c)
}

async fn view(store: &Store, scope: &Scope, tier: TierFilter) -> DemoView {
    let f = Filter::new(scope, period("2026-M06"), period("2026-M06")).unwrap();
    demo::candidates(
        store,
        &Calendar::default(),
        &DemoConfig::default(),
        scope,
        &f,
        tier,
        100,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn every_gate_and_component_of_both_tiers() {
    let (store, a, b, c) = data_set("gates").await;
    let gd = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
    let v = view(&store, &gd, TierFilter::All).await;
    assert_eq!((v.from.as_str(), v.to.as_str()), ("2025-M07", "2026-M06"));
    assert_eq!(v.quarters, ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]);
    assert_eq!(v.year, "2025-A");
    // A and B are Guangdong's; C (Beijing) is nowhere.
    assert_eq!((v.assessed, v.basic, v.national), (2, 1, 1));
    let codes: Vec<_> = v
        .candidates
        .iter()
        .map(|x| x.credit_code.as_str())
        .collect();
    assert_eq!(codes, [a.as_str(), b.as_str()]);
    assert!(!codes.contains(&c.as_str()));

    let pa = &v.candidates[0];
    assert_eq!(pa.tier, "national");
    let gates: Vec<_> = pa
        .basic
        .iter()
        .chain(&pa.national)
        .map(|g| (g.id, g.value, g.met))
        .collect();
    assert_eq!(
        gates,
        [
            ("B1", Some(1.0), Some(true)),
            // Floor area of the 2025 annual report.
            ("B2", Some(500.0), Some(true)),
            // 21 of 25 professional staff.
            ("B3", Some(21.0 / 25.0), Some(true)),
            ("B4", Some(5.0), Some(true)),
            // 4 quarters × 600 ÷ 4 quarters × 1 000.
            ("B5", Some(0.6), Some(true)),
            // 12 of 12 months.
            ("B6", Some(1.0), Some(true)),
            // 2020-01-01 → 2026-06-30: 6 years and 31 + 28 + 31 + 30 + 31 + 29 = 180 days.
            ("N1", Some(6.0 + 180.0 / 365.0), Some(true)),
            // 400 000 000 fen.
            ("N2", Some(4_000_000.0), Some(true)),
            // 12 months × 15 distinct firms (the retried batch changes nothing).
            ("N3", Some(180.0), Some(true)),
            // 12 × 42 of 12 × 50.
            ("N4", Some(0.84), Some(true)),
            // 180 firms against 6 × 10 = 60 before: +200 %.
            ("N5", Some(2.0), Some(true)),
            // (4 + 1) × 12 free of (10 + 5) × 12.
            ("N6", Some(1.0 / 3.0), Some(true)),
            ("N7", Some(25.0), Some(true)),
            ("N8", Some(21.0 / 25.0), Some(true)),
            // 2 + 1 + 1 + 1.
            ("N9", Some(5.0), Some(true)),
        ]
    );
    let comps: Vec<_> = pa
        .components
        .iter()
        .map(|c| (c.id, c.weight, c.value))
        .collect();
    assert_eq!(
        comps,
        [
            // The only Guangdong platform with a known count: percentile 1.
            ("smes_served", 30, Some(1.0)),
            ("satisfaction", 25, Some(0.84)),
            ("functions", 15, Some(2.0 / 7.0)),
            // +200 % capped at 1.
            ("growth", 10, Some(1.0)),
            // 6 senior titles of 30 staff.
            ("senior_titles", 10, Some(0.2)),
            ("timeliness", 10, Some(1.0)),
        ]
    );
    // 30 + 21 + 15 × 2/7 + 10 + 2 + 10.
    assert!(
        (pa.score - (73.0 + 30.0 / 7.0)).abs() < 1e-9,
        "{}",
        pa.score
    );

    let pb = &v.candidates[1];
    assert_eq!(pb.tier, "none");
    let failing: Vec<_> = pb
        .basic
        .iter()
        .chain(&pb.national)
        .filter(|g| g.met != Some(true))
        .map(|g| (g.id, g.met))
        .collect();
    assert_eq!(
        failing,
        [
            // No annual report: floor area unknown.
            ("B2", None),
            // Fee disclosure missing.
            ("B4", Some(false)),
            // 10 of 12 months < 90 %.
            ("B6", Some(false)),
            // Registered 2025-01-01: 1.5 years.
            ("N1", Some(false)),
            // No record detail: SMEs served and their growth unknown.
            ("N3", None),
            ("N4", None),
            ("N5", None),
            // 2 free of 20 = 10 % < 20 %.
            ("N6", Some(false)),
            ("N9", None),
        ]
    );
    // 0 + 0 + 15 × 1/7 + 0 + 10 × 0.2 + 10 × 10/12.
    assert!(
        (pb.score - (15.0 / 7.0 + 2.0 + 100.0 / 12.0)).abs() < 1e-9,
        "{}",
        pb.score
    );

    // The default list: the basic tier (national included).
    let basic = view(&store, &gd, TierFilter::Basic).await;
    assert_eq!(basic.candidates.len(), 1);
    assert_eq!(basic.candidates[0].credit_code, a);
}

#[tokio::test]
async fn a_planner_sees_every_province_and_the_coordinators_share_equals_theirs() {
    let (store, a, _b, c) = data_set("planner").await;
    let national = view(&store, &Scope::operator(), TierFilter::All).await;
    // C meets the basic conditions but not N5: no record detail before the window.
    assert_eq!(
        (national.assessed, national.basic, national.national),
        (3, 2, 1)
    );
    let find = |v: &DemoView, code: &str| {
        v.candidates
            .iter()
            .find(|x| x.credit_code == code)
            .cloned()
            .unwrap()
    };
    // C is Beijing's only platform with records: percentile 1 within its own province, so A's
    // percentile does not change with the national scope.
    assert_eq!(find(&national, &c).components[0].value, Some(1.0));
    let gd = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
    let theirs = view(&store, &gd, TierFilter::All).await;
    assert_eq!(find(&national, &a), find(&theirs, &a));
}
