//! The rules that need the hub's state, through the real hub (mTLS gRPC, ClickHouse): E004
//! (registry), E012 (locks) and reopening, W201 (history) with and without an explanation, and
//! the W101–W104 flags in the receipt and in ClickHouse. Rules without state (E001–E003,
//! E005–E011, E013) are in `hard_rules.rs`, E002 in `slice.rs`.
//!
//! Each test runs one hub whose clock is set by the test (no sleeping): "now" is 5 July 2026,
//! 10:00 UTC+8 unless a step moves it.

use sme_agent::identity::Identity;
use sme_hub::registry::Platform;
use sme_hub::reporting::periods::{self, Coordinator, ReopenRequest, ReopenTarget};
use sme_proto::period::Calendar;
use sme_proto::v1::{self, Receipt};
use sme_tests::{assert_violation, fixtures, platform, TestHub};
use time::macros::{date, datetime};
use time::OffsetDateTime;
use tonic::Code;

const NOW: OffsetDateTime = datetime!(2026-07-05 10:00 +8);

async fn send(
    hub: &TestHub,
    identity: &Identity,
    report: &v1::Report,
) -> Result<Receipt, tonic::Status> {
    hub.client(&identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(report.clone()),
        })
        .await
        .map(|r| r.into_inner().receipt.expect("receipt"))
}

/// Polls `check` until it has an answer (the audit trail is written in batches by the writer,
/// possibly just after the RPC answered). Gives up after 10 s.
async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(t) = check().await {
            return t;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}

#[track_caller]
fn accepted(result: Result<Receipt, tonic::Status>) -> Receipt {
    match result {
        Ok(r) => r,
        Err(status) => panic!(
            "refused: {status:?}\n{:#?}",
            sme_proto::status::violations(&status)
        ),
    }
}

/// A report whose total services is `services`, without service records.
fn with_services(id: &str, period: &str, services: u64) -> v1::Report {
    let mut r = fixtures::sample_report(id, period);
    r.service_records.clear();
    r.volumes = vec![v1::FunctionVolume {
        function: 1,
        services,
        enterprises_served: services.min(3),
        ..Default::default()
    }];
    r
}

fn again(mut r: v1::Report, revision: u32) -> v1::Report {
    r.report_id = uuid::Uuid::new_v4().to_string();
    r.revision = revision;
    r
}

async fn stored_reports(hub: &TestHub, id: &str, period: &str) -> u64 {
    hub.store()
        .client()
        .query("SELECT count() FROM reports WHERE platform_id = ? AND period = ?")
        .bind(id)
        .bind(period)
        .fetch_one()
        .await
        .unwrap()
}

async fn e004_refuses_platforms_not_registered_or_not_active_in_the_period(hub: &TestHub) {
    // Not in the registry at all.
    let stranger = platform(401);
    let (_d1, stranger_id) = hub.enroll_unregistered(&stranger).await;
    let report = fixtures::sample_report(&stranger, "2026-M06");
    assert_violation(
        send(hub, &stranger_id, &report).await,
        Code::InvalidArgument,
        "E004",
        "platform_id",
    );
    assert_eq!(stored_reports(hub, &stranger, "2026-M06").await, 0);
    // Registered now: the same report (same report_id) goes through at once.
    hub.register(&stranger).await;
    accepted(send(hub, &stranger_id, &report).await);

    // Registered on 1 June: not active in May, active in June.
    let newcomer = platform(402);
    let (_d2, newcomer_id) = hub.enroll(&newcomer).await;
    hub.register_platform(Platform::new(
        &newcomer,
        "六月新平台",
        date!(2026 - 06 - 01),
    ))
    .await;
    let may = fixtures::sample_report(&newcomer, "2026-M05");
    assert_violation(
        send(hub, &newcomer_id, &may).await,
        Code::InvalidArgument,
        "E004",
        "platform_id",
    );
    accepted(
        send(
            hub,
            &newcomer_id,
            &fixtures::sample_report(&newcomer, "2026-M06"),
        )
        .await,
    );
    accepted(
        send(
            hub,
            &newcomer_id,
            &fixtures::sample_report(&newcomer, "2026-Q2"),
        )
        .await,
    );

    // Closed on 15 May (first day not operating): May still expected, June refused.
    let closing = platform(403);
    let (_d3, closing_id) = hub.enroll(&closing).await;
    let mut p = Platform::new(&closing, "五月注销平台", date!(2020 - 01 - 01));
    p.closed = Some(date!(2026 - 05 - 15));
    hub.register_platform(p).await;
    accepted(
        send(
            hub,
            &closing_id,
            &fixtures::sample_report(&closing, "2026-M05"),
        )
        .await,
    );
    let june = fixtures::sample_report(&closing, "2026-M06");
    let status = send(hub, &closing_id, &june).await.unwrap_err();
    let violations = sme_proto::status::violations(&status);
    assert!(
        violations.iter().all(|v| v.rule_id == "E004"),
        "{violations:#?}"
    );
    assert!(
        violations[0].message_zh.contains("平台名录"),
        "{violations:#?}"
    );

    // E004 is reported together with the report's other problems.
    let mut both = again(fixtures::sample_report(&closing, "2026-M06"), 0);
    both.satisfaction.as_mut().unwrap().responses += 1;
    let status = send(hub, &closing_id, &both).await.unwrap_err();
    let rules: Vec<_> = sme_proto::status::violations(&status)
        .into_iter()
        .map(|v| v.rule_id)
        .collect();
    assert_eq!(rules, ["E004", "E008"]);

    // Stored under the registry's region, not the credit code's.
    let moved = platform(404);
    let (_d4, moved_id) = hub.enroll_unregistered(&moved).await;
    let mut p = Platform::new(&moved, "迁址平台", date!(2020 - 01 - 01));
    p.region_code = "310115".into();
    hub.register_platform(p).await;
    let r = fixtures::sample_report(&moved, "2026-M06");
    accepted(send(hub, &moved_id, &r).await);
    let region: String = hub
        .store()
        .client()
        .query("SELECT region_code FROM reports WHERE report_id = toUUID(?)")
        .bind(&r.report_id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(region, "310115");
}

/// E004, W201 and the flags need no clock moves: one hub at `NOW`, one platform each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_history_and_flag_rules_at_a_fixed_time() {
    let hub = TestHub::start_at(NOW).await;
    e004_refuses_platforms_not_registered_or_not_active_in_the_period(&hub).await;
    w201_needs_an_explanation_against_the_previous_periods_current_report(&hub).await;
    flags_w101_to_w104_are_in_the_receipt_in_clickhouse_and_in_the_audit(&hub).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_enforcement_unregistered_platforms_report() {
    let owned = TestHub::start_with(|c| c.registry.enforce = false).await;
    let hub = &owned;
    let id = platform(410);
    let (_d, identity) = hub.enroll_unregistered(&id).await;
    let last_month = sme_proto::period::Period::containing(
        sme_proto::period::PeriodKind::Month,
        OffsetDateTime::now_utc(),
    )
    .unwrap()
    .previous()
    .unwrap();
    accepted(
        send(
            hub,
            &identity,
            &fixtures::sample_report(&id, &last_month.to_string()),
        )
        .await,
    );
    owned.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e012_refuses_locked_periods_naming_the_lock_until_a_coordinator_reopens_them() {
    let owned = TestHub::start_at(datetime!(2026-03-05 10:00 +8)).await;
    let hub = &owned;
    let cal = Calendar::default();
    let id = platform(420);
    let (_d, identity) = hub.enroll(&id).await;

    // February is sent in March, accepted.
    let feb = fixtures::sample_report(&id, "2026-M02");
    let original = accepted(send(hub, &identity, &feb).await);

    // July: February locked on 8 June 23:59:59 UTC+8 (due 10 March + 90 days).
    hub.clock().set(NOW);
    let correction = again(feb.clone(), 1);
    let result = send(hub, &identity, &correction).await;
    let status = result.as_ref().unwrap_err().clone();
    assert_violation(result, Code::FailedPrecondition, "E012", "period");
    let message = &sme_proto::status::violations(&status)[0];
    assert!(
        message.message_en.contains("2026-06-08 23:59:59"),
        "{message:?}"
    );
    assert!(
        message.message_zh.contains("2026-06-08 23:59:59"),
        "{message:?}"
    );
    // A replay of the accepted report still gets its original receipt.
    let replay = accepted(send(hub, &identity, &feb).await);
    assert!(replay.replay);
    assert_eq!(replay.received_at, original.received_at);

    // The lock is inclusive: one second before it March is open, at it March is locked.
    let march_lock = cal.locks_at(&"2026-M03".parse().unwrap());
    assert_eq!(march_lock, datetime!(2026-07-09 23:59:59 +8));
    hub.clock().set(march_lock - time::Duration::seconds(1));
    accepted(send(hub, &identity, &fixtures::sample_report(&id, "2026-M03")).await);
    hub.clock().set(march_lock);
    assert_violation(
        send(
            hub,
            &identity,
            &again(fixtures::sample_report(&id, "2026-M03"), 1),
        )
        .await,
        Code::FailedPrecondition,
        "E012",
        "period",
    );

    // The Beijing coordinator reopens February for this platform until 20 July.
    hub.clock().set(NOW);
    let reopening = periods::reopen(
        hub.store(),
        &cal,
        &ReopenRequest {
            target: ReopenTarget::Platform(id.clone()),
            period: "2026-M02".parse().unwrap(),
            by: Coordinator {
                name: "赵主任".into(),
                region: "110000".into(),
            },
            reason: "平台更正2月服务量".into(),
            until: Some(date!(2026 - 07 - 20)),
        },
        NOW,
        30,
    )
    .await
    .unwrap();
    let heartbeat = |hub: &TestHub| {
        let mut client = hub.client(&identity.trust());
        async move {
            client
                .heartbeat(v1::HeartbeatRequest::default())
                .await
                .unwrap()
                .into_inner()
                .calendar
        }
    };
    let calendar = heartbeat(hub).await;
    let entry = calendar
        .iter()
        .find(|e| e.period == "2026-M02")
        .expect("listed while reopened");
    assert!(!entry.locked);
    assert!(entry.received);
    assert_eq!(
        entry.locks_at.unwrap().seconds,
        reopening.until.unix_timestamp()
    );
    accepted(send(hub, &identity, &correction).await);

    // Until the new lock, then locked again, naming the new time.
    hub.clock().set(datetime!(2026-07-20 23:59:59 +8));
    let status = send(hub, &identity, &again(feb.clone(), 2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        sme_proto::status::violations(&status)[0]
            .message_en
            .contains("2026-07-20 23:59:59"),
        "{status:?}"
    );
    assert!(!heartbeat(hub).await.iter().any(|e| e.period == "2026-M02"));

    // A region reopening by the ministry covers every platform of the region.
    let other = platform(421);
    let (_d2, other_identity) = hub.enroll(&other).await;
    let jan = fixtures::sample_report(&other, "2026-M01");
    assert_violation(
        send(hub, &other_identity, &jan).await,
        Code::FailedPrecondition,
        "E012",
        "period",
    );
    periods::reopen(
        hub.store(),
        &cal,
        &ReopenRequest {
            target: ReopenTarget::Region("110100".into()),
            period: "2026-M01".parse().unwrap(),
            by: Coordinator {
                name: "部规划司".into(),
                region: "000000".into(),
            },
            reason: "北京市1月数据整体补报".into(),
            until: None,
        },
        hub.clock().now(),
        30,
    )
    .await
    .unwrap();
    accepted(send(hub, &other_identity, &jan).await);

    // Every refusal is in the audit trail with its rule id.
    let refused = eventually(|| async {
        let n: u64 = hub
            .store()
            .client()
            .query(
                "SELECT count() FROM audit WHERE platform_id = ? AND has(rule_ids, 'E012') \
                 AND outcome = 'rejected'",
            )
            .bind(&id)
            .fetch_one()
            .await
            .unwrap();
        (n >= 3).then_some(n)
    })
    .await;
    assert_eq!(refused, 3);
    owned.stop().await;
}

async fn w201_needs_an_explanation_against_the_previous_periods_current_report(hub: &TestHub) {
    let id = platform(430);
    let (_d, identity) = hub.enroll(&id).await;

    // No previous period: no baseline, anything goes.
    accepted(send(hub, &identity, &with_services(&id, "2026-M03", 100)).await);
    // April revision 0 (100 services) then revision 1 (40): the baseline for May is 40.
    accepted(send(hub, &identity, &with_services(&id, "2026-M04", 100)).await);
    accepted(
        send(
            hub,
            &identity,
            &again(with_services(&id, "2026-M04", 40), 1),
        )
        .await,
    );

    // 150 is within 3× of revision 0 but 3.75× revision 1: refused, naming both numbers.
    let may = with_services(&id, "2026-M05", 150);
    let status = send(hub, &identity, &may).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let v = sme_proto::status::violations(&status);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(
        (v[0].rule_id.as_str(), v[0].field.as_str()),
        ("W201", "volumes")
    );
    assert!(v[0].message_en.contains("150 against 40"), "{v:#?}");

    // A blank explanation does not count; a real one does: accepted and flagged.
    let mut blank = may.clone();
    blank.explanations.push(v1::Explanation {
        rule_id: "W201".into(),
        text: "  ".into(),
    });
    assert_violation(
        send(hub, &identity, &blank).await,
        Code::InvalidArgument,
        "W201",
        "volumes",
    );
    let mut explained = may.clone();
    explained.explanations.push(v1::Explanation {
        rule_id: "W201".into(),
        text: "5月承办中小企业服务月活动，服务量大增".into(),
    });
    let receipt = accepted(send(hub, &identity, &explained).await);
    assert_eq!(receipt.flags.len(), 1, "{:#?}", receipt.flags);
    assert_eq!(receipt.flags[0].rule_id, "W201");
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Stored {
        flag_rule_ids: Vec<String>,
        explanation_rule_ids: Vec<String>,
        explanation_texts: Vec<String>,
    }
    let stored: Stored = hub
        .store()
        .client()
        .query("SELECT flag_rule_ids, explanation_rule_ids, explanation_texts FROM reports WHERE report_id = toUUID(?)")
        .bind(&explained.report_id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored.flag_rule_ids, ["W201"]);
    assert_eq!(stored.explanation_rule_ids, ["W201"]);
    assert!(stored.explanation_texts[0].contains("服务月"));

    // A fall below a third counts too; exactly a third passes. Quarters compare with quarters.
    let june = with_services(&id, "2026-M06", 49);
    assert_violation(
        send(hub, &identity, &june).await,
        Code::InvalidArgument,
        "W201",
        "volumes",
    );
    accepted(send(hub, &identity, &with_services(&id, "2026-M06", 50)).await);
    accepted(send(hub, &identity, &with_services(&id, "2026-Q1", 40)).await);
    assert_violation(
        send(hub, &identity, &with_services(&id, "2026-Q2", 121)).await,
        Code::InvalidArgument,
        "W201",
        "volumes",
    );
    accepted(send(hub, &identity, &with_services(&id, "2026-Q2", 120)).await);
}

async fn flags_w101_to_w104_are_in_the_receipt_in_clickhouse_and_in_the_audit(hub: &TestHub) {
    let id = platform(440);
    let (_d, identity) = hub.enroll(&id).await;
    let mut r = fixtures::sample_report(&id, "2026-Q2");
    let staff = r.staff.as_mut().unwrap();
    staff.professional_with_college_degree = 5;
    staff.professional_with_degree_or_mid_title = 9; // 9 of 20: W101
    let finance = r.finance.as_mut().unwrap();
    finance.service_revenue_fen = finance.total_revenue_fen / 2 - 1; // W102
    r.disclosures.as_mut().unwrap().fees = false; // W103
    let s = r.satisfaction.as_mut().unwrap();
    *s = v1::Satisfaction {
        very_satisfied: 20,
        satisfied: 9,
        responses: 29, // W104
        ..Default::default()
    };
    let receipt = accepted(send(hub, &identity, &r).await);
    let flags: Vec<_> = receipt
        .flags
        .iter()
        .map(|f| (f.rule_id.as_str(), f.field.as_str()))
        .collect();
    assert_eq!(
        flags,
        [
            ("W101", "staff.professional_with_degree_or_mid_title"),
            ("W102", "finance.service_revenue_fen"),
            ("W103", "disclosures.fees"),
            ("W104", "satisfaction.responses"),
        ]
    );
    assert!(receipt
        .flags
        .iter()
        .all(|f| !f.message_zh.is_empty() && !f.message_en.is_empty()));
    assert!(
        receipt.flags[0].message_en.contains("45.0 %"),
        "{:?}",
        receipt.flags[0]
    );

    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Flags {
        flag_rule_ids: Vec<String>,
        flag_fields: Vec<String>,
    }
    let stored: Flags = hub
        .store()
        .client()
        .query("SELECT flag_rule_ids, flag_fields FROM reports WHERE report_id = toUUID(?)")
        .bind(&r.report_id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(stored.flag_rule_ids, ["W101", "W102", "W103", "W104"]);
    assert_eq!(stored.flag_fields[2], "disclosures.fees");

    // The replay carries the same flags.
    let replay = accepted(send(hub, &identity, &r).await);
    assert_eq!(replay.flags, receipt.flags);

    let audited: Vec<String> = eventually(|| async {
        hub.store()
            .client()
            .query("SELECT rule_ids FROM audit WHERE report_id = ? AND outcome = 'accepted'")
            .bind(&r.report_id)
            .fetch_optional()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(audited, ["W101", "W102", "W103", "W104"]);
}
