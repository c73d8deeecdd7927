//! The analytics views against a real ClickHouse with a small hand-made data set; every
//! expected number is worked out by hand in the comments.
//!
//! The data set (monthly, 2026-M01 and 2026-M02; due 10th of the next month 23:59:59 UTC+8):
//!
//! | platform | region | registry | 2026-M01 | 2026-M02 |
//! |---|---|---|---|---|
//! | A | 110108 | 2020-01-01, open | rev 0 (fn1 10/4 free, 600 fen; batch stored twice), rev 1 (fn1 20/5 free, 1500 fen) | rev 0 fn1 3/2 free 100 fen, fn2 1/0 50 fen, 4 records (batch stored twice) |
//! | B | 110105 | 2020-01-01, closed 2026-02-01 | rev 0 fn1 7/7 free, records left out for size | not expected |
//! | C | 440305 | 2020-01-01, open | missing | rev 0 fn3 8/2 free 800 fen, late (03-20) |
//!
//! Expected reports: M01 A B C = 3; M02 A C = 2 (B closed on the first day) → 5.
//! Reported: M01 A B, M02 A C → 4.

mod support;

use sme_hub::analytics::satisfaction::{self, SatisfactionBy};
use sme_hub::analytics::volume::{self, Source, VolumeBy};
use sme_hub::analytics::{Coverage, Filter, FilterError, Role, Scope, ScopeError};
use sme_hub::registry::{self, Platform};
use sme_hub::store::{AcceptedReport, Store};
use sme_proto::credit_code::make_valid;
use sme_proto::period::{Calendar, Period};
use sme_proto::v1;
use time::macros::{date, datetime};
use time::OffsetDateTime;

const SERVER: &str = "hub-analytics-tests";

fn code(region: &str, n: u32) -> String {
    make_valid(&format!("91{region}MA{n:07}"))
}

fn period(s: &str) -> Period {
    s.parse().unwrap()
}

/// `(function, services, free, revenue_fen)`.
type Vol = (i32, u64, u64, i64);
/// `(function, enterprise, industry, size, free, fee_fen)`.
type Rec = (i32, &'static str, &'static str, i32, bool, i64);

fn report(pid: &str, per: &str, revision: u32, vols: &[Vol], recs: &[Rec]) -> v1::Report {
    let mut r = sme_proto::fixtures::sample_report(pid, per);
    r.revision = revision;
    r.volumes = vols
        .iter()
        .map(|&(function, services, free, revenue)| v1::FunctionVolume {
            function,
            services,
            enterprises_served: services.min(1),
            free_services: free,
            revenue_fen: revenue,
            person_times: services,
        })
        .collect();
    let day = period(per).first_day().to_string();
    r.service_records = recs
        .iter()
        .enumerate()
        .map(
            |(i, &(function, ent, industry, size, free, fee))| v1::ServiceRecord {
                record_id: format!("R{i}"),
                date: day.clone(),
                function,
                enterprise: ent.to_owned(),
                enterprise_size: size,
                industry: industry.to_owned(),
                enterprise_region: "110108".to_owned(),
                fee_fen: fee,
                free,
                satisfaction: 0,
                person_times: 1,
            },
        )
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
    platforms[1].closed = Some(date!(2026 - 02 - 01));
    registry::upsert_platforms(&store, &platforms, "test", datetime!(2025-12-01 0:00 UTC))
        .await
        .unwrap();

    let a1_0 = report(&a, "2026-M01", 0, &[(1, 10, 4, 600)], &[]);
    let a1_1 = report(&a, "2026-M01", 1, &[(1, 20, 5, 1500)], &[]);
    let a2 = report(
        &a,
        "2026-M02",
        0,
        &[(1, 3, 2, 100), (2, 1, 0, 50)],
        &[
            (1, "E1", "C", 2, true, 0),
            (1, "E2", "C", 1, true, 0),
            (1, "E1", "C", 2, false, 100),
            (2, "E3", "F", 3, false, 50),
        ],
    );
    let mut b1 = report(&b, "2026-M01", 0, &[(1, 7, 7, 0)], &[]);
    b1.service_records_omitted = true;
    let mut c2 = report(&c, "2026-M02", 0, &[(3, 8, 2, 800)], &[]);
    c2.satisfaction = Some(v1::Satisfaction {
        very_satisfied: 1,
        satisfied: 1,
        neutral: 0,
        dissatisfied: 0,
        very_dissatisfied: 2,
        responses: 4,
    });

    let first = [
        accepted(&a1_0, datetime!(2026-02-05 10:00 +8)),
        accepted(&b1, datetime!(2026-02-08 10:00 +8)),
    ];
    // A retried batch: stored twice, nothing may double.
    store.insert_reports(&first).await.unwrap();
    store.insert_reports(&first).await.unwrap();
    store
        .insert_reports(&[accepted(&a1_1, datetime!(2026-02-20 10:00 +8))])
        .await
        .unwrap();
    let second = [
        accepted(&a2, datetime!(2026-03-05 10:00 +8)),
        // Late: due 2026-03-10 23:59:59 +8.
        accepted(&c2, datetime!(2026-03-20 10:00 +8)),
    ];
    store.insert_reports(&second).await.unwrap();
    store.insert_reports(&second).await.unwrap();
    Data { store, a, b, c }
}

fn months(scope: &Scope) -> Filter {
    Filter::new(scope, period("2026-M01"), period("2026-M02")).unwrap()
}

fn gd() -> Scope {
    Scope::for_user(Role::Coordinator, Some("440000")).unwrap()
}

#[tokio::test]
async fn volume_by_function_region_and_industry_counts_each_current_report_once() {
    let d = data_set("volume").await;
    let _ = (&d.a, &d.b, &d.c);
    let national = Scope::operator();
    let v = volume::volume(&d.store, &national, &months(&national), VolumeBy::Function)
        .await
        .unwrap();
    assert_eq!((v.period_kind, v.source), ("month", Source::Volumes));
    let f: Vec<_> = v
        .rows
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.services,
                r.free_services,
                r.revenue_fen,
                r.coverage.reported,
            )
        })
        .collect();
    assert_eq!(
        f,
        [
            // fn1: A M01 rev 1 (20; rev 0's 10 superseded, its duplicate ignored) + A M02 3
            // + B M01 7 = 30; free 5 + 2 + 7 = 14; 1500 + 100 + 0 = 1600 fen; 3 reports.
            ("1", 30, 14, 1600, 3),
            // fn2: A M02 only (its batch stored twice, counted once).
            ("2", 1, 0, 50, 1),
            ("3", 8, 2, 800, 1),
        ]
    );
    // Total 30 + 1 + 8 = 39, free 16, paid 23, 2450 fen; 4 of 5 expected reports.
    let t = &v.total;
    assert_eq!(
        (t.services, t.free_services, t.paid_services, t.revenue_fen),
        (39, 16, 23, 2450)
    );
    assert_eq!(
        t.coverage,
        Coverage {
            reported: 4,
            expected: 5
        }
    );
    assert!((t.free_share.unwrap() - 16.0 / 39.0).abs() < 1e-12);
    // Records: only A M02 sent detail (1 of 4 reports, platform A), B M01 left them out for
    // size.
    assert_eq!(
        (
            v.records.reports,
            v.records.with_records,
            v.records.records_omitted,
            v.records.platforms_with_records,
        ),
        (4, 1, 1, 1)
    );

    let by_region = volume::volume(&d.store, &national, &months(&national), VolumeBy::Region)
        .await
        .unwrap();
    let r: Vec<_> = by_region
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.services, r.coverage))
        .collect();
    assert_eq!(
        r,
        [
            // Beijing: A 20 + 3 + 1, B 7 = 31; reports A M01, A M02, B M01 of expected 3.
            (
                "110000",
                31,
                Coverage {
                    reported: 3,
                    expected: 3
                }
            ),
            // Guangdong: C M02 8; C M01 missing → 1 of 2.
            (
                "440000",
                8,
                Coverage {
                    reported: 1,
                    expected: 2
                }
            ),
        ]
    );

    let by_industry = volume::volume(&d.store, &national, &months(&national), VolumeBy::Industry)
        .await
        .unwrap();
    assert_eq!(by_industry.source, Source::Records);
    let i: Vec<_> = by_industry
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.services, r.free_services, r.revenue_fen))
        .collect();
    // A M02's records (stored twice, counted once): C 3 services (2 free, 100 fen), F 1 (50).
    assert_eq!(i, [("C", 3, 2, 100), ("F", 1, 0, 50)]);
}

#[tokio::test]
async fn a_coordinator_sees_only_their_province_and_is_refused_another() {
    let d = data_set("volume_scope").await;
    let gd = gd();
    let v = volume::volume(&d.store, &gd, &months(&gd), VolumeBy::Function)
        .await
        .unwrap();
    // Only C: 8 services; expected C M01, C M02 = 2.
    assert_eq!(v.total.services, 8);
    assert_eq!(
        v.total.coverage,
        Coverage {
            reported: 1,
            expected: 2
        }
    );
    assert_eq!(
        (v.records.reports, v.records.with_records),
        (1, 0),
        "no Beijing report or record leaks in"
    );
    let err = months(&gd).with_region(&gd, "110000").unwrap_err();
    assert!(matches!(
        err,
        FilterError::Scope(ScopeError::OutsideScope { .. })
    ));
}

#[tokio::test]
async fn satisfaction_rate_mean_and_change_by_region() {
    let d = data_set("satisfaction").await;
    let national = Scope::operator();
    let v = satisfaction::satisfaction(
        &d.store,
        &national,
        &months(&national),
        SatisfactionBy::Region,
    )
    .await
    .unwrap();
    // The fixture's section: 30 very satisfied, 12 satisfied, 5, 2, 1 = 50 answers, score
    // 5·30 + 4·12 + 3·5 + 2·2 + 1 = 218. Beijing: A M01 (rev 1 only), A M02, B M01 = 3 × 50.
    let bj = &v.rows[0];
    assert_eq!(
        (bj.key.as_str(), bj.responses, bj.satisfied),
        ("110000", 150, 126)
    );
    assert!((bj.rate.unwrap() - 126.0 / 150.0).abs() < 1e-12);
    assert!((bj.mean_score.unwrap() - 654.0 / 150.0).abs() < 1e-12);
    assert_eq!(
        bj.coverage,
        Coverage {
            reported: 3,
            expected: 3
        }
    );
    // Guangdong: C M02 1 + 1 + 0 + 0 + 2 = 4 answers, 2 satisfied, score 5 + 4 + 2 = 11.
    let gd_row = &v.rows[1];
    assert_eq!(
        (gd_row.key.as_str(), gd_row.responses, gd_row.rate),
        ("440000", 4, Some(0.5))
    );
    assert_eq!(gd_row.mean_score, Some(11.0 / 4.0));
    assert_eq!(
        gd_row.coverage,
        Coverage {
            reported: 1,
            expected: 2
        }
    );
    // Total 154 answers, 128 satisfied.
    assert_eq!((v.total.responses, v.total.satisfied), (154, 128));
    // 2025-M11..M12: nobody reported, 3 platforms expected each month → no data, not 0 %.
    let prev = v.previous.as_ref().unwrap();
    assert_eq!(
        (prev.rate, prev.coverage),
        (
            None,
            Coverage {
                reported: 0,
                expected: 6
            }
        )
    );
    assert_eq!(v.rate_change, None);

    // The previous month has data for M02: M01's 50 + 50 answers (A rev 1, B), 84 satisfied.
    let feb = Filter::new(&national, period("2026-M02"), period("2026-M02")).unwrap();
    let v = satisfaction::satisfaction(&d.store, &national, &feb, SatisfactionBy::Period)
        .await
        .unwrap();
    // M02: A 50 (42 satisfied) + C 4 (2) = 54 answers, 44 satisfied.
    assert_eq!((v.total.responses, v.total.satisfied), (54, 44));
    let change = v.rate_change.unwrap();
    assert!(
        (change - (44.0 / 54.0 - 84.0 / 100.0)).abs() < 1e-12,
        "{change}"
    );
}

#[tokio::test]
async fn function_industry_and_size_filters_count_only_matching_sections_and_records() {
    let d = data_set("volume_filters").await;
    let national = Scope::operator();
    let params = |function: Option<u8>, industry: Option<&str>, size: Option<&str>| {
        let raw = sme_hub::analytics::FilterParams {
            from: Some("2026-M01".to_owned()),
            to: Some("2026-M02".to_owned()),
            function: function.map(|f| f.to_string()),
            industry: industry.map(str::to_owned),
            enterprise_size: size.map(str::to_owned),
            ..Default::default()
        };
        Filter::parse(&raw, &national).unwrap()
    };

    // Function 1 from the volume sections: A M01 rev 1 20 + A M02 3 + B M01 7 = 30 in 3
    // reports (C M02 has only fn3); 3 of the 5 expected reports.
    let v = volume::volume(
        &d.store,
        &national,
        &params(Some(1), None, None),
        VolumeBy::Function,
    )
    .await
    .unwrap();
    assert_eq!(v.source, Source::Volumes);
    let rows: Vec<_> = v
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.services, r.coverage.reported))
        .collect();
    assert_eq!(rows, [("1", 30, 3)]);
    assert_eq!(
        (v.total.services, v.total.coverage),
        (
            30,
            Coverage {
                reported: 3,
                expected: 5
            }
        )
    );
    // Function 2 by region: only A M02 (1 service), Beijing; Guangdong has none of it.
    let v = volume::volume(
        &d.store,
        &national,
        &params(Some(2), None, None),
        VolumeBy::Region,
    )
    .await
    .unwrap();
    let rows: Vec<_> = v
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.services, r.coverage.reported))
        .collect();
    assert_eq!(rows, [("110000", 1, 1)]);

    // Function 1, industry C, by size, from A M02's records (counted once though stored
    // twice): E1 small free 0 fen, E2 micro free 0 fen, E1 small paid 100 fen →
    // micro 1 (1 free), small 2 (1 free, 100 fen); one report.
    let v = volume::volume(
        &d.store,
        &national,
        &params(Some(1), Some("C"), None),
        VolumeBy::EnterpriseSize,
    )
    .await
    .unwrap();
    assert_eq!(v.source, Source::Records);
    let rows: Vec<_> = v
        .rows
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.services,
                r.free_services,
                r.revenue_fen,
                r.coverage.reported,
            )
        })
        .collect();
    assert_eq!(rows, [("micro", 1, 1, 0, 1), ("small", 2, 1, 100, 1)]);
    assert_eq!(
        (
            v.total.services,
            v.total.free_services,
            v.total.coverage.reported
        ),
        (3, 2, 1)
    );
    // Size medium by period: only E3 (fn2, F, 50 fen) in M02.
    let v = volume::volume(
        &d.store,
        &national,
        &params(None, None, Some("medium")),
        VolumeBy::Period,
    )
    .await
    .unwrap();
    let rows: Vec<_> = v
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.services, r.revenue_fen, r.coverage))
        .collect();
    assert_eq!(
        rows,
        [(
            "2026-M02",
            1,
            50,
            Coverage {
                reported: 1,
                expected: 2
            }
        )]
    );
    // Nothing matches: no rows, a total of "no data" (0 reported), never a row of zeros.
    let v = volume::volume(
        &d.store,
        &national,
        &params(Some(3), Some("C"), None),
        VolumeBy::Industry,
    )
    .await
    .unwrap();
    assert!(v.rows.is_empty());
    assert_eq!(v.total.coverage.reported, 0);
}

#[tokio::test]
async fn migration_8_backfills_the_facts_of_reports_stored_before_it() {
    let d = data_set("facts_backfill").await;
    let national = Scope::operator();
    let f = months(&national);
    let before = (
        volume::volume(&d.store, &national, &f, VolumeBy::Function)
            .await
            .unwrap(),
        volume::volume(&d.store, &national, &f, VolumeBy::Industry)
            .await
            .unwrap(),
        satisfaction::satisfaction(&d.store, &national, &f, SatisfactionBy::Region)
            .await
            .unwrap(),
    );
    assert_eq!(before.0.total.services, 39, "the hand-computed total");
    // As if the reports had been stored by a hub without the facts table.
    let db = format!("`{}`", d.store.database());
    support::owner_client(SERVER, d.store.database())
        .query(&format!("TRUNCATE TABLE {db}.report_facts"))
        .execute()
        .await
        .unwrap();
    let emptied = volume::volume(&d.store, &national, &f, VolumeBy::Function)
        .await
        .unwrap();
    assert_eq!(emptied.total.coverage.reported, 0);
    // Forget every migration and migrate again, twice: every statement is idempotent, and
    // migration 8's backfill runs once per stored period (a migration interrupted after its
    // insert is run again at the next start).
    for _ in 0..2 {
        support::owner_client(SERVER, d.store.database())
            .query(&format!("TRUNCATE TABLE {db}.schema_migrations"))
            .execute()
            .await
            .unwrap();
        let bare = support::shared_accounts(SERVER)
            .owner
            .apply(clickhouse::Client::default().with_url(support::shared_url(SERVER)))
            .with_validation(false);
        let applied = sme_hub::store::migrate(&bare, d.store.database(), None)
            .await
            .unwrap();
        assert!(applied.contains(&8), "{applied:?}");
    }
    let after = (
        volume::volume(&d.store, &national, &f, VolumeBy::Function)
            .await
            .unwrap(),
        volume::volume(&d.store, &national, &f, VolumeBy::Industry)
            .await
            .unwrap(),
        satisfaction::satisfaction(&d.store, &national, &f, SatisfactionBy::Region)
            .await
            .unwrap(),
    );
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_later_registry_import_does_not_rewrite_who_was_expected() {
    let d = data_set("registry_in_force").await;
    let national = Scope::operator();
    let f = months(&national);
    // In June, long after M01 and M02 were due (10 Feb, 10 Mar): A is closed back-dated to
    // 2026-01-01 and C moved to Beijing; D appears, registered 2020 but imported only now.
    let mut a = Platform::new(&d.a, "海淀平台", date!(2020 - 01 - 01));
    a.closed = Some(date!(2026 - 01 - 01));
    let mut c = Platform::new(&d.c, "南山平台", date!(2020 - 01 - 01));
    c.region_code = "110108".to_owned();
    let dd = code("440305", 4);
    let late = Platform::new(&dd, "新平台", date!(2020 - 01 - 01));
    registry::upsert_platforms(
        &d.store,
        &[a, c, late],
        "test",
        datetime!(2026-06-01 0:00 UTC),
    )
    .await
    .unwrap();
    let v = volume::volume(&d.store, &national, &f, VolumeBy::Region)
        .await
        .unwrap();
    let expected: Vec<_> = v
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.coverage.expected))
        .collect();
    // As at the due times: Beijing A B (M01) + A (M02) = 3, Guangdong C × 2 = 2 as before;
    // D, in no registry then, counts from its first version: 2 more in Guangdong.
    assert_eq!(expected, [("110000", 3), ("440000", 4)]);
    assert_eq!(v.total.coverage.expected, 7);
    // Completeness of M02 likewise: A, C and D expected; A and C received.
    let c = sme_hub::analytics::completeness::completeness(
        &d.store,
        &Calendar::default(),
        &national,
        &period("2026-M02"),
        None,
    )
    .await
    .unwrap();
    assert_eq!((c.total.expected, c.total.received), (3, 2));
}
