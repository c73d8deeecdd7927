//! Operating the hub: Prometheus metrics, `/healthz`, gRPC health and reflection, back-pressure
//! (RESOURCE_EXHAUSTED with a retry hint), ClickHouse outages (UNAVAILABLE with a retry hint)
//! and a graceful shutdown that drains the writer. Real hub, real ClickHouse, real mTLS.

use std::time::Duration;

use sme_hub::store::{ClickHouseConfig, EmbeddedClickHouse, Store};
use sme_proto::v1;
use sme_tests::{fixtures, http_get, last_month, platform, CutProxy, TestHub};
use tonic::Code;

fn submit(report: v1::Report) -> v1::SubmitReportRequest {
    v1::SubmitReportRequest {
        report: Some(report),
    }
}

/// A metric's value in the text format (`name` includes labels), if present.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits (bounded) until `cond` holds; panics with `what` otherwise. Ordering, not timing: the
/// bound is generous and only stops a broken test from hanging.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..600 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_reflection_describe_the_running_hub() {
    let hub = TestHub::start().await;
    let id = platform(1);
    let (_dir, identity) = hub.enroll(&id).await;
    let mut client = hub.client(&identity.trust());
    client
        .submit_report(submit(fixtures::sample_report(&id, &last_month())))
        .await
        .expect("valid report accepted");
    let mut bad = fixtures::sample_report(&id, &last_month());
    bad.revision = 1;
    bad.satisfaction.as_mut().unwrap().responses += 1; // E008
    assert_eq!(
        client.submit_report(submit(bad)).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    let (status, text) = http_get(&format!("{}/metrics", hub.http_url())).await;
    assert_eq!(status, 200);
    assert_eq!(
        metric(&text, "sme_hub_reports_accepted_total"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "sme_hub_reports_rejected_total{outcome=\"rejected\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "sme_hub_report_violations_total{rule=\"E008\"}"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "sme_hub_writer_queue_reports"), Some(0.0));
    assert_eq!(
        metric(&text, "sme_hub_writer_batch_reports_count"),
        Some(1.0)
    );
    assert_eq!(metric(&text, "sme_hub_writer_batch_reports_sum"), Some(1.0));
    assert!(metric(&text, "sme_hub_writer_insert_seconds_count").unwrap() >= 1.0);
    assert_eq!(
        metric(&text, "sme_hub_rpc_seconds_count{method=\"SubmitReport\"}"),
        Some(2.0)
    );
    assert!(text.contains("# TYPE sme_hub_writer_insert_seconds histogram"));

    let (status, body) = http_get(&format!("{}/healthz", hub.http_url())).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // gRPC health and reflection on the agents' port (TLS, no client certificate needed).
    let channel = sme_agent::connect::channel(
        &sme_agent::connect::HubAddress::parse(&hub.url).unwrap(),
        &hub.anonymous(),
    )
    .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in [
        "sme.report.v1.ReportingService",
        "sme.report.v1.EnrollmentService",
    ] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("health of {service}: {s:?}"))
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }

    use tonic_reflection::pb::v1::{
        server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        ServerReflectionRequest,
    };
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("unexpected reflection answer {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "sme.report.v1.ReportingService",
        "sme.report.v1.EnrollmentService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }

    // The older v1alpha protocol, which many tools still speak, lists the same services.
    use tonic_reflection::pb::v1alpha as alpha;
    let mut reflection = alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = reflection
        .server_reflection_info(futures::stream::iter(vec![request]))
        .await
        .expect("v1alpha reflection is served")
        .into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("unexpected v1alpha reflection answer {answer:?}");
    };
    let alpha_names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert_eq!(alpha_names, names);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_intake_answers_resource_exhausted_with_a_retry_hint() {
    // One report at a time, held for companions up to 1.5 s: a second report meanwhile finds
    // the intake full.
    let hub = TestHub::start_with(|c| {
        c.writer.queue_capacity = 1;
        c.writer.max_delay_ms = 1_500;
        // The whole intake, not the platform's share of it (tests/tests/fairness.rs).
        c.writer.max_platform_share_percent = 100;
    })
    .await;
    let id = platform(2);
    let (_dir, identity) = hub.enroll(&id).await;
    let client = hub.client(&identity.trust());
    let first = fixtures::sample_report(&id, &last_month());
    let held = tokio::spawn({
        let mut c = client.clone();
        let r = first.clone();
        async move { c.submit_report(submit(r)).await }
    });
    let metrics = hub.running().metrics.clone();
    eventually("the first report is in the intake", || {
        metrics.queue_reports.get() == 1
    })
    .await;

    let mut second = fixtures::sample_report(&id, &last_month());
    second.revision = 1;
    let status = client
        .clone()
        .submit_report(submit(second.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let hint = sme_proto::status::retry_after(&status).expect("RetryInfo");
    assert!(hint >= Duration::from_secs(1), "{hint:?}");
    assert!(status.message().contains("retry"), "{status:?}");
    assert!(matches!(
        sme_agent::submit::SubmitOutcome::from_status(&status),
        sme_agent::submit::SubmitOutcome::Retry { .. }
    ));

    held.await.unwrap().expect("the held report is stored");
    // The agent retries and gets in.
    client
        .clone()
        .submit_report(submit(second.clone()))
        .await
        .expect("accepted on retry");
    let (_, text) = http_get(&format!("{}/metrics", hub.http_url())).await;
    assert_eq!(
        metric(
            &text,
            "sme_hub_reports_deferred_total{reason=\"queue_full\"}"
        ),
        Some(1.0)
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_down_answers_unavailable_and_the_report_gets_in_later() {
    let data = tempfile::tempdir().unwrap();
    let ch = EmbeddedClickHouse::start(data.path()).await.unwrap();
    let port: u16 = ch.http_url().rsplit(':').next().unwrap().parse().unwrap();
    let proxy = CutProxy::start(([127, 0, 0, 1], port).into()).await;
    let hub = TestHub::start_with(|c| {
        sme_tests::external_clickhouse(c, &proxy.http_url(), ch.accounts());
        c.writer.max_delay_ms = 1_500;
    })
    .await;
    let id = platform(3);
    let (_dir, identity) = hub.enroll(&id).await;
    let client = hub.client(&identity.trust());
    let report = fixtures::sample_report(&id, &last_month());

    // The report passes its lookups and waits in the writer; then ClickHouse goes away, so
    // the batch insert fails.
    let pending = tokio::spawn({
        let mut c = client.clone();
        let r = report.clone();
        async move { c.submit_report(submit(r)).await }
    });
    let metrics = hub.running().metrics.clone();
    eventually("the report waits in the writer", || {
        metrics.pending_reports.get() == 1
    })
    .await;
    proxy.set_cut(true);
    let status = pending.await.unwrap().unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        sme_proto::status::retry_after(&status).is_some(),
        "{status:?}"
    );
    assert!(status.message().contains("not stored"), "{status:?}");
    assert_eq!(metrics.flush_failures.get(), 1);

    // While it is down even the lookups fail: UNAVAILABLE again, nothing lost.
    let status = client
        .clone()
        .submit_report(submit(report.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // Back up: the agent's resend is stored, once.
    proxy.set_cut(false);
    let mut accepted = None;
    for _ in 0..20 {
        match client.clone().submit_report(submit(report.clone())).await {
            Ok(r) => {
                accepted = r.into_inner().receipt;
                break;
            }
            Err(s) if s.code() == Code::Unavailable => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
    let receipt = accepted.expect("accepted once ClickHouse is back");
    assert!(!receipt.replay);
    let totals = hub
        .store()
        .volume_totals(&id, &report.period)
        .await
        .unwrap();
    let services: u64 = totals.iter().map(|t| t.1).sum();
    assert_eq!(
        services,
        report.volumes.iter().map(|v| v.services).sum::<u64>()
    );
    hub.stop().await;
    ch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_the_writer_before_clickhouse_stops() {
    // An external ClickHouse, so what the hub stored can be read after the hub stopped.
    let data = tempfile::tempdir().unwrap();
    let ch = EmbeddedClickHouse::start(data.path()).await.unwrap();
    let url = ch.http_url();
    let hub = TestHub::start_with(|c| {
        sme_tests::external_clickhouse(c, &url, ch.accounts());
        c.writer.max_delay_ms = 3_000;
    })
    .await;
    let ids: Vec<String> = (10..20).map(platform).collect();
    let mut clients = Vec::new();
    let mut dirs = Vec::new();
    for id in &ids {
        let (dir, identity) = hub.enroll(id).await;
        dirs.push(dir);
        clients.push(hub.client(&identity.trust()));
    }
    // Ten valid reports wait in the writer for companions; five invalid ones are answered at
    // once, their audit entries queued behind.
    let mut waiting = Vec::new();
    for (id, client) in ids.iter().zip(&clients) {
        let mut c = client.clone();
        let r = fixtures::sample_report(id, &last_month());
        waiting.push(tokio::spawn(
            async move { c.submit_report(submit(r)).await },
        ));
    }
    for (id, client) in ids.iter().zip(&clients).take(5) {
        let mut bad = fixtures::sample_report(id, &last_month());
        bad.revision = 1;
        bad.form_version = "99".into(); // E013
        assert_eq!(
            client
                .clone()
                .submit_report(submit(bad))
                .await
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
    }
    let metrics = hub.running().metrics.clone();
    eventually("the ten reports are in the writer", || {
        metrics.pending_reports.get() == 10
    })
    .await;

    hub.shutdown().await.expect("clean shutdown");
    for w in waiting {
        let receipt = w.await.unwrap().expect("receipt before shutdown finished");
        assert!(!receipt.into_inner().receipt.unwrap().replay);
    }

    let store = Store::connect(&ClickHouseConfig {
        url: url.clone(),
        ..ch.client_config("sme")
    })
    .await
    .unwrap();
    let reports: u64 = store
        .client()
        .query("SELECT count() FROM reports")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(reports, 10);
    let audit: Vec<(String, u64)> = store
        .client()
        .query("SELECT toString(outcome), count() FROM audit GROUP BY outcome ORDER BY outcome")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        audit,
        [("accepted".to_owned(), 10), ("rejected".to_owned(), 5)]
    );
    ch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_after_the_agent_gave_up_is_a_replay_not_a_second_copy() {
    // The first attempt waits 1.5 s in the writer; the agent gives up after 200 ms and sends
    // the same report again. The hub still stores the first; the resend must wait for it and
    // get its receipt, not store it a second time.
    let hub = TestHub::start_with(|c| c.writer.max_delay_ms = 1_500).await;
    let id = platform(30);
    let (_dir, identity) = hub.enroll(&id).await;
    let client = hub.client(&identity.trust());
    let report = fixtures::sample_report(&id, &last_month());
    let mut impatient = tonic::Request::new(submit(report.clone()));
    impatient.set_timeout(Duration::from_millis(200));
    let status = client
        .clone()
        .submit_report(impatient)
        .await
        .expect_err("the agent gave up");
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    let metrics = hub.running().metrics.clone();
    assert_eq!(
        metrics.pending_reports.get(),
        1,
        "the abandoned report is still held"
    );

    let receipt = client
        .clone()
        .submit_report(submit(report.clone()))
        .await
        .expect("the resend gets a receipt")
        .into_inner()
        .receipt
        .unwrap();
    assert!(receipt.replay, "{receipt:?}");
    let rows: u64 = hub
        .store()
        .client()
        .query("SELECT count() FROM reports WHERE report_id = toUUID(?)")
        .bind(&report.report_id)
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rows, 1);
    assert_eq!(metrics.pending_reports.get(), 0);
    assert_eq!(metrics.queue_reports.get(), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_right_after_a_flush_wait_for_the_minimum_flush_interval() {
    // With `max_delay_ms = 10` alone, B and C (sent 300 ms apart) would be two inserts; the
    // 5 s `min_flush_interval_ms` since A's flush makes them one.
    let hub = TestHub::start_with(|c| {
        c.writer.max_delay_ms = 10;
        c.writer.min_flush_interval_ms = 5_000;
    })
    .await;
    let id = platform(5);
    let (_dir, identity) = hub.enroll(&id).await;
    let client = hub.client(&identity.trust());
    let metrics = hub.running().metrics.clone();
    let month = last_month();
    client
        .clone()
        .submit_report(submit(fixtures::sample_report(&id, &month)))
        .await
        .expect("A accepted");
    assert_eq!(
        metrics.batch_reports.count(),
        1,
        "A: the first flush waits for nothing"
    );

    let send = |revision: u32| {
        let mut c = client.clone();
        let mut r = fixtures::sample_report(&id, &month);
        r.revision = revision;
        tokio::spawn(async move { c.submit_report(submit(r)).await })
    };
    let b = send(1);
    eventually("B waits in the writer", || {
        metrics.pending_reports.get() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = send(2);
    b.await.unwrap().expect("B accepted");
    c.await.unwrap().expect("C accepted");
    assert_eq!(
        metrics.batch_reports.count(),
        2,
        "B and C went into one insert"
    );
    assert_eq!(metrics.batch_reports.sum(), 3.0);
    hub.stop().await;
}
