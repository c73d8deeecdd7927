//! The hub goes away for a while: the agent (the real `sme-agent run`) keeps building reports
//! and queues them, retries with backoff, and when the hub is back the backlog drains through
//! `SyncReports`: every record reaches ClickHouse, none twice.

use std::time::Duration;

use sme_agent::store::OutboxState;
use sme_tests::agent::{
    assert_exactly_once, expected_ids, profile_json, recent_months, records, records_csv,
    sendable_periods, stored_state, wait_until, TestAgent,
};
use sme_tests::{platform, TestHub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_queue_while_the_hub_is_down_and_drain_once_it_is_back() {
    let mut hub = TestHub::start().await;
    // Two reports per stream, so the backlog takes several SyncReports streams.
    let agent = TestAgent::enroll(&hub, &platform(301), "batch_size = 2\n").await;
    let (m2, m1) = recent_months();
    let mut all = records("OUT-A", &m2, 30);
    all.extend(records("OUT-B", &m1, 30));
    let periods = sendable_periods(&all);

    hub.go_down().await;
    agent.drop_file("records.csv", &records_csv(&all));
    for p in &periods {
        agent.drop_file(&format!("profile-{p}.json"), &profile_json(p));
    }
    let process = agent.spawn();

    // Every period is built and queued, and delivery keeps failing and being rescheduled.
    wait_until(
        Duration::from_secs(60),
        "reports queued and retried",
        || {
            let pending = agent
                .store()
                .outbox_by_state(OutboxState::Pending, 100)
                .unwrap();
            pending.len() == periods.len() && pending.iter().all(|i| i.attempts >= 2)
        },
    )
    .await;
    let status = agent.status();
    assert_eq!(
        status["queue"]["pending"],
        periods.len() as u64,
        "{status:#}"
    );
    let last_error = status["last_error"]["message"].as_str().unwrap_or_default();
    assert!(last_error.contains("delivery"), "{status:#}");

    // Late records while the hub is still down: a new revision replaces the queued one.
    let late = records("OUT-LATE", &m2, 5);
    agent.drop_file("late.csv", &records_csv(&late));
    all.extend(late);
    wait_until(
        Duration::from_secs(30),
        "the queued revision superseded",
        || agent.store().outbox_counts().unwrap().superseded >= 1,
    )
    .await;

    hub.come_back().await;
    wait_until(Duration::from_secs(90), "the backlog drained", || {
        agent.is_settled()
    })
    .await;
    // Shown when the test fails.
    println!("agent log:\n{}", process.log_text());
    let exit = process.terminate();
    assert!(exit.success(), "sme-agent exits cleanly on SIGTERM: {exit}");

    let expected = expected_ids(&all);
    let (got, volumes, copies) =
        stored_state(hub.store(), &agent.platform_id, expected.keys()).await;
    assert_exactly_once(&expected, &got, &volumes, &copies);
    // Superseded revisions never reached the hub: it holds exactly the delivered ones.
    let counts = agent.store().outbox_counts().unwrap();
    assert_eq!(copies.len() as u64, counts.delivered, "{counts:?}");
    assert_eq!(counts.rejected, 0);
    let status = agent.status();
    assert_eq!(status["queue"]["pending"], 0, "{status:#}");
    assert!(status["last_success"].is_string(), "{status:#}");
    hub.stop().await;
}
