//! Layout and coverage with "where to build next" (view 1) against a real ClickHouse with a
//! small hand-made data set; every expected number is worked out by hand in the comments.
//!
//! Filter 2026-M03 → window 2025-M04 … 2026-M03 (12 months, monthly reports).
//!
//! | platform | region | registry | reports |
//! |---|---|---|---|
//! | A | 110108 | 2020, open | 2026-M01 rev 0 fn1 10 (E1 E2), rev 1 fn1 20 + fn2 5 (E1 E3; batch stored twice); 2026-M03 fn3 2 (E1) |
//! | B | 110105 | 2020, closed 2026-02-01 | 2025-M06 fn4 1, records left out |
//! | C | 440305 | 2020, open | 2025-M03 fn7 (before the window); 2026-M02 fn1 3 (E1) |
//! | D | 440106 | 2020, open | none |
//!
//! SME counts: 110000 2024 10 000, 2025 20 000, 2027 99 (after the window's year);
//! 440000 2025 40 000 then re-imported as 50 000.

mod support;

use sme_hub::analytics::layout;
use sme_hub::analytics::{Coverage, Filter, Role, Scope};
use sme_hub::registry::{self, Platform, SmeCount};
use sme_hub::store::AcceptedReport;
use sme_proto::credit_code::make_valid;
use sme_proto::period::{Calendar, Period};
use sme_proto::v1;
use time::macros::{date, datetime};
use time::OffsetDateTime;

const SERVER: &str = "hub-analytics-layout-tests";

fn code(region: &str, n: u32) -> String {
    make_valid(&format!("91{region}MA{n:07}"))
}

fn period(s: &str) -> Period {
    s.parse().unwrap()
}

/// `(function, services)` and the records' `(function, enterprise)`.
fn report(pid: &str, per: &str, rev: u32, vols: &[(i32, u64)], recs: &[(i32, &str)]) -> v1::Report {
    let mut r = sme_proto::fixtures::sample_report(pid, per);
    r.revision = rev;
    r.volumes = vols
        .iter()
        .map(|&(function, services)| v1::FunctionVolume {
            function,
            services,
            enterprises_served: 1,
            free_services: 0,
            revenue_fen: 0,
            person_times: services,
        })
        .collect();
    let day = period(per).first_day().to_string();
    r.service_records = recs
        .iter()
        .enumerate()
        .map(|(i, &(function, ent))| v1::ServiceRecord {
            record_id: format!("R{i}"),
            date: day.clone(),
            function,
            enterprise: ent.to_owned(),
            enterprise_size: 1,
            industry: "C".to_owned(),
            enterprise_region: "110108".to_owned(),
            fee_fen: 0,
            free: true,
            satisfaction: 0,
            person_times: 1,
        })
        .collect();
    r
}

fn accepted(report: &v1::Report, received_at: OffsetDateTime) -> AcceptedReport {
    AcceptedReport {
        report: report.clone(),
        platform_id: report.platform_id.clone(),
        region_code: report.platform_id[2..8].to_owned(),
        received_at,
        due_at: Calendar::default().due_at(&period(&report.period)),
        flags: Vec::new(),
    }
}

fn sme(region: &str, year: u16, count: u64) -> SmeCount {
    SmeCount {
        region_code: region.to_owned(),
        year,
        count,
    }
}

#[tokio::test]
async fn layout_reach_missing_functions_and_where_to_build_next() {
    let store = support::fresh_store(SERVER, "layout").await;
    registry::seed_divisions(&store).await.unwrap();
    let (a, b, c, d) = (
        code("110108", 1),
        code("110105", 2),
        code("440305", 3),
        code("440106", 4),
    );
    let mut platforms = vec![
        Platform::new(&a, "海淀平台", date!(2020 - 01 - 01)),
        Platform::new(&b, "朝阳平台", date!(2020 - 01 - 01)),
        Platform::new(&c, "南山平台", date!(2020 - 01 - 01)),
        Platform::new(&d, "天河平台", date!(2020 - 01 - 01)),
    ];
    platforms[1].closed = Some(date!(2026 - 02 - 01));
    registry::upsert_platforms(&store, &platforms, "test", datetime!(2025-01-01 0:00 UTC))
        .await
        .unwrap();
    registry::upsert_sme_counts(
        &store,
        &[
            sme("110000", 2024, 10_000),
            sme("110000", 2025, 20_000),
            sme("110000", 2027, 99),
            sme("440000", 2025, 40_000),
        ],
        "census",
        datetime!(2025-01-01 0:00 UTC),
    )
    .await
    .unwrap();
    registry::upsert_sme_counts(
        &store,
        &[sme("440000", 2025, 50_000)],
        "census corrected",
        datetime!(2025-06-01 0:00 UTC),
    )
    .await
    .unwrap();

    let a1_0 = report(&a, "2026-M01", 0, &[(1, 10)], &[(1, "E1"), (1, "E2")]);
    let a1_1 = report(
        &a,
        "2026-M01",
        1,
        &[(1, 20), (2, 5)],
        &[(1, "E1"), (2, "E3")],
    );
    let a3 = report(&a, "2026-M03", 0, &[(3, 2)], &[(3, "E1")]);
    let mut b6 = report(&b, "2025-M06", 0, &[(4, 1)], &[]);
    b6.service_records_omitted = true;
    let c_old = report(&c, "2025-M03", 0, &[(7, 1)], &[(7, "E9")]);
    let c2 = report(&c, "2026-M02", 0, &[(1, 3)], &[(1, "E1")]);
    let at = datetime!(2026-04-01 10:00 +8);
    store
        .insert_reports(&[accepted(&a1_0, at), accepted(&b6, at), accepted(&c_old, at)])
        .await
        .unwrap();
    let retried = [
        accepted(&a1_1, datetime!(2026-04-02 10:00 +8)),
        accepted(&a3, at),
        accepted(&c2, at),
    ];
    store.insert_reports(&retried).await.unwrap();
    store.insert_reports(&retried).await.unwrap();

    let national = Scope::operator();
    let f = Filter::new(&national, period("2026-M03"), period("2026-M03")).unwrap();
    let v = layout::layout(&store, &national, &f).await.unwrap();
    assert_eq!(
        (v.period_kind, v.from.as_str(), v.to.as_str()),
        ("month", "2025-M04", "2026-M03")
    );
    let codes: Vec<_> = v.rows.iter().map(|r| r.region_code.as_str()).collect();
    assert_eq!(codes, ["110000", "440000"]);

    let bj = &v.rows[0];
    // Active on 2026-03-31: A (B closed 02-01). SMEs: 2025's 20 000 (2027 is after the window).
    assert_eq!(
        (bj.active_platforms, bj.smes, bj.sme_year),
        (1, Some(20_000), Some(2025))
    );
    // 1 × 10 000 ÷ 20 000 = 0.5.
    assert_eq!(bj.platforms_per_10k_smes, Some(0.5));
    // Firms: A M01 rev 1 E1 E3 (rev 0's E2 superseded) + A M03 E1 → 2; 2 ÷ 20 000.
    assert_eq!(bj.enterprises_reached, 2);
    assert_eq!(bj.reach, Some(2.0 / 20_000.0));
    // Reported: A and B; record detail from A only.
    assert_eq!((bj.platforms_reported, bj.platforms_with_records), (2, 1));
    // Functions: 1 2 (A M01 rev 1), 3 (A M03), 4 (B M06) → 5 6 7 without provider.
    assert_eq!(bj.functions_without_provider, [5, 6, 7]);
    // Flows (every record's firm is in 110108): firms located in Beijing E1 E3 (A) and E1
    // (C, a Guangdong platform) → 2 firms, of them E1 served from elsewhere → 1 ÷ 2.
    assert_eq!(
        (
            bj.firms_located,
            bj.firms_served_from_elsewhere,
            bj.inflow_share
        ),
        (2, 1, Some(0.5))
    );
    // Reports A M01, A M03, B M06 = 3; expected A 12 months + B 2025-M04 … 2026-M01 = 10 → 22.
    assert_eq!(
        bj.coverage,
        Coverage {
            reported: 3,
            expected: 22
        }
    );

    let gd = &v.rows[1];
    // C and D active; SMEs 50 000 (the later import of 2025); 2 × 10 000 ÷ 50 000 = 0.4.
    assert_eq!((gd.active_platforms, gd.smes), (2, Some(50_000)));
    assert_eq!(gd.platforms_per_10k_smes, Some(0.4));
    // C M02 E1 (C's 2025-M03 E9 and fn7 are before the window).
    assert_eq!(
        (gd.enterprises_reached, gd.reach),
        (1, Some(1.0 / 50_000.0))
    );
    assert_eq!(gd.functions_without_provider, [2, 3, 4, 5, 6, 7]);
    // No firm located in Guangdong: no flow, "no data".
    assert_eq!((gd.firms_located, gd.inflow_share), (0, None));
    assert_eq!(
        gd.coverage,
        Coverage {
            reported: 1,
            expected: 24
        }
    );

    // Total: 3 active, SMEs 20 000 + 50 000 = 70 000 (no national row), density 30 000 ÷ 70 000;
    // E1 reached in both provinces counts once: E1 E3 = 2.
    let t = &v.total;
    assert_eq!(
        (t.active_platforms, t.smes, t.enterprises_reached),
        (3, Some(70_000), 2)
    );
    let ref_density = 30_000.0 / 70_000.0;
    assert!((t.platforms_per_10k_smes.unwrap() - ref_density).abs() < 1e-12);
    assert_eq!(t.functions_without_provider, [5, 6, 7]);
    assert_eq!(
        t.coverage,
        Coverage {
            reported: 4,
            expected: 46
        }
    );

    // Where to build next (reference reach 2 ÷ 70 000):
    // Guangdong: density_gap 1 − 0.4 ÷ (3/7) = 1/15; missing 6; reach_gap 1 − (1/50 000) ÷
    // (2/70 000) = 0.3 → 100 × (0.4/15 + 0.3 × 6/7 + 0.3 × 0.3) = 37.38…
    // Beijing: density 0.5 > 3/7 → gap 0; missing 3; reach 1/10 000 > 1/35 000 → gap 0
    // → 100 × 0.3 × 3/7 = 12.857…
    let ranked: Vec<_> = v
        .where_to_build_next
        .iter()
        .map(|p| (p.rank, p.region_code.as_str(), p.missing_functions))
        .collect();
    assert_eq!(ranked, [(1, "440000", 6), (2, "110000", 3)]);
    let g = &v.where_to_build_next[0];
    assert!((g.density_gap - 1.0 / 15.0).abs() < 1e-12, "{g:?}");
    assert!((g.reach_gap.unwrap() - 0.3).abs() < 1e-12, "{g:?}");
    let expected = 100.0 * (0.4 / 15.0 + 0.3 * 6.0 / 7.0 + 0.3 * 0.3);
    assert!((g.priority - expected).abs() < 1e-9, "{}", g.priority);
    let b = &v.where_to_build_next[1];
    assert_eq!((b.density_gap, b.reach_gap), (0.0, Some(0.0)));
    assert!((b.priority - 100.0 * 0.3 * 3.0 / 7.0).abs() < 1e-9);
    assert!(v.formula.contains("density_gap") && v.not_ranked.is_empty());

    // A Guangdong coordinator: prefectures, no SME count there → listed, not ranked; nothing
    // of Beijing (E1 reached in Beijing is not in Guangdong's figures).
    let gd_scope = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
    let f = Filter::new(&gd_scope, period("2026-M03"), period("2026-M03")).unwrap();
    let v = layout::layout(&store, &gd_scope, &f).await.unwrap();
    let codes: Vec<_> = v.rows.iter().map(|r| r.region_code.as_str()).collect();
    assert_eq!(codes, ["440100", "440300"]);
    assert_eq!(v.total.smes, Some(50_000));
    assert_eq!(
        (v.total.active_platforms, v.total.enterprises_reached),
        (2, 1)
    );
    assert!(v.where_to_build_next.is_empty());
    assert_eq!(v.not_ranked.len(), 2);
    // Guangdong's platforms served only Beijing firms: no flow between its prefectures.
    assert!(v.rows.iter().all(|r| r.firms_located == 0));
    assert_eq!(
        v.rows[0].reach, None,
        "no record detail in Guangzhou: no data, not 0"
    );
}
