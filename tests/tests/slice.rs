//! The secure end-to-end slice: agent → hub (mTLS gRPC) → ClickHouse, against a real hub and a
//! real ClickHouse server started for the test.

use futures::StreamExt;
use sme_proto::v1::{self, Outcome};
use sme_tests::{assert_code, assert_violation, fixtures, last_month, platform, TestHub};
use tonic::Code;

fn submit(report: v1::Report) -> v1::SubmitReportRequest {
    v1::SubmitReportRequest {
        report: Some(report),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_report_reaches_clickhouse_with_exactly_the_numbers_sent() {
    let hub = TestHub::start().await;
    let id = platform(1);
    let (_agent_dir, identity) = hub.enroll(&id).await;
    let report = fixtures::sample_report(&id, &last_month());

    let outcome = sme_agent::submit::submit_once(&identity, &hub.url, report.clone())
        .await
        .unwrap();
    let receipt = match outcome {
        sme_agent::submit::SubmitOutcome::Accepted(r) => r,
        other => panic!("not accepted: {}", other.describe()),
    };
    assert_eq!(receipt.report_id, report.report_id);
    assert_eq!(receipt.outcome, Outcome::Accepted as i32);
    assert!(!receipt.replay);

    let mut stored = hub
        .store()
        .volume_totals(&id, &report.period)
        .await
        .unwrap();
    stored.sort_by_key(|row| row.0);
    let mut sent: Vec<_> = report
        .volumes
        .iter()
        .map(|v| {
            (
                v.function as u8,
                v.services,
                v.enterprises_served,
                v.free_services,
                v.revenue_fen,
                v.person_times,
            )
        })
        .collect();
    sent.sort_by_key(|row| row.0);
    assert_eq!(stored, sent);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_report_twice_or_concurrently_is_one_logical_report_with_one_receipt() {
    let hub = TestHub::start().await;
    let id = platform(2);
    let (_agent_dir, identity) = hub.enroll(&id).await;
    let client = hub.client(&identity.trust());
    let report = fixtures::sample_report(&id, &last_month());

    let first = client
        .clone()
        .submit_report(submit(report.clone()))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    let again = client
        .clone()
        .submit_report(submit(report.clone()))
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    assert!(again.replay);
    assert_eq!(again.received_at, first.received_at);
    assert_eq!(again.flags, first.flags);
    assert_eq!(again.report_id, first.report_id);

    // Eight copies of a new report at once: every caller gets the same receipt.
    let mut concurrent = fixtures::sample_report(&id, &last_month());
    concurrent.report_id = uuid::Uuid::new_v4().to_string();
    concurrent.revision = 1;
    let calls = (0..8).map(|_| {
        let mut c = client.clone();
        let r = concurrent.clone();
        async move {
            c.submit_report(submit(r))
                .await
                .unwrap()
                .into_inner()
                .receipt
                .unwrap()
        }
    });
    let receipts = futures::future::join_all(calls).await;
    let times: std::collections::HashSet<_> = receipts
        .iter()
        .map(|r| r.received_at.map(|t| (t.seconds, t.nanos)))
        .collect();
    assert_eq!(times.len(), 1, "{receipts:#?}");
    assert_eq!(receipts.iter().filter(|r| !r.replay).count(), 1);

    // Analytics see revision 1 once, not nine times and not added to revision 0.
    let totals = hub
        .store()
        .volume_totals(&id, &report.period)
        .await
        .unwrap();
    let services: u64 = totals.iter().map(|t| t.1).sum();
    let expected: u64 = concurrent.volumes.iter().map(|v| v.services).sum();
    assert_eq!(services, expected);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_reports_answers_each_report_including_rejections() {
    let hub = TestHub::start().await;
    let id = platform(3);
    let (_agent_dir, identity) = hub.enroll(&id).await;
    let mut client = hub.client(&identity.trust());
    let good = fixtures::sample_report(&id, &last_month());
    let mut bad = fixtures::sample_report(&id, &last_month());
    bad.report_id = uuid::Uuid::new_v4().to_string();
    bad.revision = 1;
    bad.satisfaction.as_mut().unwrap().responses += 1; // E008
    let requests = futures::stream::iter(vec![
        v1::SyncReportsRequest {
            report: Some(good.clone()),
        },
        v1::SyncReportsRequest {
            report: Some(bad.clone()),
        },
    ]);
    let mut answers = client.sync_reports(requests).await.unwrap().into_inner();
    let mut by_id = std::collections::HashMap::new();
    while let Some(answer) = answers.next().await {
        let receipt = answer.unwrap().receipt.unwrap();
        by_id.insert(receipt.report_id.clone(), receipt);
    }
    assert_eq!(by_id[&good.report_id].outcome, Outcome::Accepted as i32);
    let rejected = &by_id[&bad.report_id];
    assert_eq!(rejected.outcome, Outcome::Rejected as i32);
    assert_eq!(rejected.status_code, Code::InvalidArgument as i32);
    assert!(
        rejected.violations.iter().any(|v| v.rule_id == "E008"),
        "{rejected:#?}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_a_valid_certificate_for_the_platform_are_refused_and_nothing_is_stored() {
    let hub = TestHub::start().await;
    let a = platform(10);
    let b = platform(11);
    let (_agent_dir, identity_a) = hub.enroll(&a).await;
    let period = last_month();

    // No client certificate.
    let mut anonymous = hub.client(&hub.anonymous());
    let r1 = fixtures::sample_report(&a, &period);
    assert_code(
        anonymous.submit_report(submit(r1.clone())).await,
        Code::Unauthenticated,
    );

    // A well-formed certificate for A from a CA the hub never trusted.
    let mut foreign = hub.client(&hub.foreign_identity(&a));
    let r2 = fixtures::sample_report(&a, &period);
    assert_code(
        foreign.submit_report(submit(r2.clone())).await,
        Code::Unauthenticated,
    );

    // A's genuine certificate, reporting as B.
    let mut genuine_a = hub.client(&identity_a.trust());
    let r3 = fixtures::sample_report(&b, &period);
    assert_violation(
        genuine_a.submit_report(submit(r3.clone())).await,
        Code::PermissionDenied,
        "E002",
        "platform_id",
    );

    // A certificate (signed by the real CA key) whose subject says A but whose SAN says B.
    let mut forged = hub.client(&hub.forged_identity(&a, &b));
    let r4 = fixtures::sample_report(&b, &period);
    let r5 = fixtures::sample_report(&a, &period);
    assert_code(
        forged.submit_report(submit(r4.clone())).await,
        Code::Unauthenticated,
    );
    assert_code(
        forged.submit_report(submit(r5.clone())).await,
        Code::Unauthenticated,
    );

    // Every refusal is in the audit trail. The four without a valid certificate were refused
    // from their headers, before their bodies were read: audited without report fields.
    assert_eq!(hub.unauthenticated_audits(4).await, 4);
    let ids = vec![r3.report_id.clone()];
    let audit = hub.audit(&ids).await;
    let outcome = |r: &v1::Report| {
        audit
            .iter()
            .find(|row| row.0 == r.report_id)
            .map(|row| row.1.clone())
            .unwrap_or_else(|| panic!("{} not audited: {audit:?}", r.report_id))
    };
    assert_eq!(outcome(&r3), "permission_denied");

    for p in [&a, &b] {
        assert!(
            hub.store()
                .volume_totals(p, &period)
                .await
                .unwrap()
                .is_empty(),
            "{p} has stored rows"
        );
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_token_works_once() {
    let hub = TestHub::start().await;
    let id = platform(20);
    let token = hub.token(&id);
    let first = tempfile::tempdir().unwrap();
    sme_agent::identity::enroll(first.path(), &hub.url, &id, &token, false)
        .await
        .unwrap();
    let second = tempfile::tempdir().unwrap();
    let err = sme_agent::identity::enroll(second.path(), &hub.url, &id, &token, false)
        .await
        .err()
        .expect("second use refused");
    match err {
        sme_agent::identity::IdentityError::Refused(status) => {
            assert_eq!(status.code(), Code::PermissionDenied);
            assert!(status.message().contains("already been used"), "{status:?}");
        }
        other => panic!("unexpected error: {other}"),
    }
    // A token for one platform cannot enrol another.
    let other = platform(21);
    let token = hub.token(&id);
    let third = tempfile::tempdir().unwrap();
    assert!(
        sme_agent::identity::enroll(third.path(), &hub.url, &other, &token, false)
            .await
            .is_err()
    );
    hub.stop().await;
}
