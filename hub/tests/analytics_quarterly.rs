//! The quarterly views — staff and basic conditions (view 3) and one platform's history
//! (view 7) — against a real ClickHouse with a small hand-made data set; every expected number
//! is worked out by hand in the comments.
//!
//! The data set (quarterly, 2026-Q1 and 2026-Q2; due the 15th after the quarter 23:59:59 UTC+8):
//!
//! | platform | region | registry | 2026-Q1 | 2026-Q2 |
//! |---|---|---|---|---|
//! | A | 110108 | 2020-01-01, open | rev 0 (degree 18/20; batch stored twice), rev 1 (degree 8/20 = 40 %), revenue 4 亿/5 亿 fen, all five disclosures, 5 services | rev 0 fixture (18/20 = 90 %, 80 %, all five), 7 services |
//! | B | 110105 | 2020-01-01, closed 2026-04-01 | degree 10/20 = 50 %, revenue 0.4 亿/1 亿 fen (40 %), fees not disclosed | not expected |
//! | C | 440305 | 2020-01-01, open | missing | no professional staff, no revenue, all five; late |
//!
//! Expected reports: Q1 A B C = 3; Q2 A C = 2 (B closed on the quarter's first day) → 5.
//! Reported: Q1 A B, Q2 A C → 4.

mod support;

use sme_hub::analytics::platform;
use sme_hub::analytics::staff;
use sme_hub::analytics::{Coverage, Filter, FilterError, Role, Scope, ScopeError, ViewError};
use sme_hub::registry::{self, Platform};
use sme_hub::store::{AcceptedReport, Store};
use sme_proto::credit_code::make_valid;
use sme_proto::period::{Calendar, Period};
use sme_proto::v1;
use time::macros::{date, datetime};
use time::OffsetDateTime;

const SERVER: &str = "hub-analytics-quarterly-tests";

fn code(region: &str, n: u32) -> String {
    make_valid(&format!("91{region}MA{n:07}"))
}

fn period(s: &str) -> Period {
    s.parse().unwrap()
}

/// A quarterly fixture report with `services` services of function 1 and no records.
fn report(pid: &str, per: &str, revision: u32, services: u64) -> v1::Report {
    let mut r = sme_proto::fixtures::sample_report(pid, per);
    r.revision = revision;
    r.volumes = vec![v1::FunctionVolume {
        function: 1,
        services,
        enterprises_served: 1,
        free_services: 1,
        revenue_fen: 0,
        person_times: services,
    }];
    r.service_records.clear();
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

fn staff_of(r: &mut v1::Report, prof: u32, degree: u32) {
    let s = r.staff.as_mut().unwrap();
    s.professional_staff = prof;
    s.professional_with_degree_or_mid_title = degree;
    s.professional_with_college_degree = degree;
}

fn finance_of(r: &mut v1::Report, service: i64, total: i64) {
    let f = r.finance.as_mut().unwrap();
    f.service_revenue_fen = service;
    f.total_revenue_fen = total;
}

struct Data {
    store: Store,
    a: String,
    b: String,
    c: String,
}

async fn data_set(test: &str) -> Data {
    let store = support::fresh_store(SERVER, test).await;
    registry::seed_divisions(&store).await.unwrap();
    let (a, b, c) = (code("110108", 1), code("110105", 2), code("440305", 3));
    let mut platforms = vec![
        Platform::new(&a, "海淀平台", date!(2020 - 01 - 01)),
        Platform::new(&b, "朝阳平台", date!(2020 - 01 - 01)),
        Platform::new(&c, "南山平台", date!(2020 - 01 - 01)),
    ];
    platforms[1].closed = Some(date!(2026 - 04 - 01));
    registry::upsert_platforms(&store, &platforms, "test", datetime!(2025-12-01 0:00 UTC))
        .await
        .unwrap();

    // The fixture: 20 professional staff, 18 with a degree or title, revenue 4 亿 of 5 亿 fen,
    // all five disclosures.
    let a1_0 = report(&a, "2026-Q1", 0, 3);
    let mut a1_1 = report(&a, "2026-Q1", 1, 5);
    staff_of(&mut a1_1, 20, 8);
    let a2 = report(&a, "2026-Q2", 0, 7);
    let mut b1 = report(&b, "2026-Q1", 0, 2);
    staff_of(&mut b1, 20, 10);
    finance_of(&mut b1, 40_000_000, 100_000_000);
    b1.disclosures.as_mut().unwrap().fees = false;
    let mut c2 = report(&c, "2026-Q2", 0, 4);
    staff_of(&mut c2, 0, 0);
    finance_of(&mut c2, 0, 0);

    let first = [
        accepted(&a1_0, datetime!(2026-04-05 10:00 +8)),
        accepted(&b1, datetime!(2026-04-08 10:00 +8)),
    ];
    // A retried batch: stored twice, nothing may double.
    store.insert_reports(&first).await.unwrap();
    store.insert_reports(&first).await.unwrap();
    store
        .insert_reports(&[accepted(&a1_1, datetime!(2026-04-20 10:00 +8))])
        .await
        .unwrap();
    let second = [
        accepted(&a2, datetime!(2026-07-05 10:00 +8)),
        // Late: due 2026-07-15 23:59:59 +8.
        accepted(&c2, datetime!(2026-07-30 10:00 +8)),
    ];
    store.insert_reports(&second).await.unwrap();
    store.insert_reports(&second).await.unwrap();
    Data { store, a, b, c }
}

fn quarters(scope: &Scope) -> Filter {
    Filter::new(scope, period("2026-Q1"), period("2026-Q2")).unwrap()
}

fn gd() -> Scope {
    Scope::for_user(Role::Coordinator, Some("440000")).unwrap()
}

fn buckets(row: &staff::StaffRow) -> Vec<u64> {
    row.distribution.iter().map(|b| b.reports).collect()
}

#[tokio::test]
async fn staff_and_basic_conditions_by_region() {
    let d = data_set("staff").await;
    let national = Scope::operator();
    let v = staff::staff(&d.store, &national, &quarters(&national))
        .await
        .unwrap();
    assert_eq!(v.period_kind, "quarter");
    let t = &v.total;
    assert_eq!(
        t.coverage,
        Coverage {
            reported: 4,
            expected: 5
        }
    );
    // Current reports: A Q1 rev 1 (8/20 = 40 %; rev 0 and its duplicate superseded), A Q2
    // 18/20 = 90 %, B Q1 10/20 = 50 %, C Q2 no professional staff.
    // Professional staff 20 + 20 + 20 + 0 = 60, with a degree 8 + 18 + 10 = 36.
    assert_eq!(
        (t.with_staff, t.professional_staff, t.with_degree_or_title),
        (4, 60, 36)
    );
    assert_eq!(t.degree_share, Some(36.0 / 60.0));
    // Buckets none, 0-25, 25-50, 50-75, 75-100: C | - | A Q1 | B (50 % exactly) | A Q2.
    assert_eq!(buckets(t), [1, 0, 1, 1, 1]);
    // W101 ≥ 50 %: A Q2 and B (exactly 50 %) of 4 with a staff section.
    assert_eq!(
        (t.w101_degree_share.meeting, t.w101_degree_share.assessed),
        (2, 4)
    );
    assert_eq!(t.w101_degree_share.share, Some(0.5));
    // W102 ≥ 50 %: A Q1 and A Q2 (4 亿 of 5 亿) meet, B (40 %) does not; C has no revenue and
    // is not judged → 2 of 3.
    let w102 = t.w102_service_revenue;
    assert_eq!((w102.meeting, w102.assessed), (2, 3));
    // W103: A Q1, A Q2, C have all five; B lacks fees → 3 of 4.
    let w103 = t.w103_disclosures;
    assert_eq!((w103.meeting, w103.assessed), (3, 4));
    // Service revenue share: (4 + 4 + 0.4) 亿 ÷ (5 + 5 + 1) 亿 = 8.4 / 11.
    let share = t.service_revenue_share.unwrap();
    assert!((share - 840.0 / 1100.0).abs() < 1e-12, "{share}");

    // By province: Beijing A Q1, A Q2, B Q1 of 3 expected; Guangdong C Q2 of 2.
    let keys: Vec<_> = v
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.coverage.reported, r.coverage.expected))
        .collect();
    assert_eq!(keys, [("110000", 3, 3), ("440000", 1, 2)]);
    assert_eq!(buckets(&v.rows[0]), [0, 0, 1, 1, 1]);
    assert_eq!(v.rows[1].w101_degree_share.share, Some(0.0));
    // Guangdong: C's revenue is 0, so there is no revenue share: no data, not 0.
    assert_eq!(v.rows[1].service_revenue_share, None);
    assert_eq!(v.rows[1].w102_service_revenue.share, None);

    // A coordinator of Guangdong sees C only.
    let gd = gd();
    let v = staff::staff(&d.store, &gd, &quarters(&gd)).await.unwrap();
    assert_eq!(v.total.professional_staff, 0);
    assert_eq!(
        v.total.coverage,
        Coverage {
            reported: 1,
            expected: 2
        }
    );
    let keys: Vec<_> = v.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["440300"]);
}

#[tokio::test]
async fn staff_refuses_monthly_periods() {
    let d = data_set("staff_monthly").await;
    let national = Scope::operator();
    let f = Filter::new(&national, period("2026-M01"), period("2026-M03")).unwrap();
    let err = staff::staff(&d.store, &national, &f).await.unwrap_err();
    assert!(
        matches!(
            err,
            ViewError::Filter(FilterError::Invalid {
                parameter: "from",
                ..
            })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("quarterly"), "{err}");
}

#[tokio::test]
async fn platform_history_shows_each_period_once_and_is_scope_checked() {
    let d = data_set("history").await;
    let national = Scope::operator();
    let cal = Calendar::default();
    let h = platform::history(&d.store, &cal, &national, &d.a, &quarters(&national))
        .await
        .unwrap();
    assert_eq!(
        (h.period_kind, h.region_code.as_str()),
        ("quarter", "110108")
    );
    assert_eq!(h.rows.len(), 2);
    let q1 = h.rows[0].report.as_ref().unwrap();
    // Q1: rev 1 is current (5 services, not rev 0's 3, not doubled by the duplicate batch);
    // 2 revisions; first receipt 04-05 ≤ due 04-15 → on time.
    assert_eq!((q1.revision, q1.revisions, q1.services), (1, 2, 5));
    assert!(q1.on_time);
    assert_eq!(q1.staff.as_ref().unwrap().degree_share, Some(0.4));
    // The fixture's satisfaction: 30 + 12 of 50.
    assert_eq!(q1.satisfaction_rate, Some(42.0 / 50.0));
    assert_eq!(
        q1.finance.as_ref().unwrap().service_revenue_share,
        Some(0.8)
    );
    assert_eq!(q1.all_disclosures, Some(true));
    let q2 = h.rows[1].report.as_ref().unwrap();
    assert_eq!((q2.revision, q2.services), (0, 7));

    // C: Q1 expected and missing (None, not zero), Q2 late.
    let h = platform::history(&d.store, &cal, &national, &d.c, &quarters(&national))
        .await
        .unwrap();
    assert!(h.rows[0].expected && h.rows[0].report.is_none());
    let q2 = h.rows[1].report.as_ref().unwrap();
    assert!(!q2.on_time);
    assert_eq!(q2.staff.as_ref().unwrap().degree_share, None);

    // B closed on 2026-04-01: Q2 not expected.
    let h = platform::history(&d.store, &cal, &national, &d.b, &quarters(&national))
        .await
        .unwrap();
    assert!(h.rows[0].expected && !h.rows[1].expected);

    // A Guangdong coordinator asking for Beijing's A, or for an unknown code of Beijing, is
    // refused; an unknown code inside Guangdong is "unknown", not "outside".
    let gd = gd();
    for pid in [d.a.clone(), code("110108", 99)] {
        let err = platform::history(&d.store, &cal, &gd, &pid, &quarters(&gd))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ViewError::Scope(ScopeError::OutsideScope { .. })),
            "{err}"
        );
    }
    let err = platform::history(&d.store, &cal, &gd, &code("440305", 99), &quarters(&gd))
        .await
        .unwrap_err();
    assert!(matches!(err, ViewError::UnknownPlatform(_)), "{err}");
    let h = platform::history(&d.store, &cal, &gd, &d.c, &quarters(&gd))
        .await
        .unwrap();
    assert!(h.rows[1].report.is_some());
}
