//! Reconciliation (对账): a report the hub acknowledged and then lost (a restored backup, a lost
//! shard; here deleted from ClickHouse) comes back. The agent lists its acknowledged periods in
//! `Heartbeat`, the hub answers RESEND_PERIOD for those it no longer holds, and the agent sends
//! them again as a new revision. Real `sme-agent`, real hub and ClickHouse, real TLS.

use std::time::{Duration, Instant};

use sme_tests::agent::{
    profile_json, recent_months, records, records_csv, sendable_periods, TestAgent,
};
use sme_tests::{platform, TestHub};

fn run(agent: &TestAgent, args: &[&str]) -> (i32, String) {
    let out = agent.command(args);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn revisions(hub: &TestHub, platform_id: &str, period: &str) -> Vec<u32> {
    hub.store()
        .client()
        .query(
            "SELECT revision FROM reports WHERE platform_id = ? AND period = ? ORDER BY revision",
        )
        .bind(platform_id)
        .bind(period)
        .fetch_all::<u32>()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_deleted_from_clickhouse_after_its_receipt_comes_back() {
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(460), "").await;
    let (m0, m1) = recent_months();
    let mut rows = records("RCA", &m0, 6);
    rows.extend(records("RCB", &m1, 8));
    let path = agent.data_dir().join("records.csv");
    std::fs::write(&path, records_csv(&rows)).unwrap();
    assert_eq!(run(&agent, &["import", path.to_str().unwrap()]).0, 0);
    for p in &sendable_periods(&rows) {
        let path = agent.data_dir().join(format!("profile-{p}.json"));
        std::fs::write(&path, profile_json(p)).unwrap();
        assert_eq!(run(&agent, &["import", path.to_str().unwrap()]).0, 0);
    }
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    let lost = m1.to_string();
    assert_eq!(revisions(&hub, &agent.platform_id, &lost).await, [0]);

    // The hub loses the month's report after its receipt went out (a mutation: the hub's own
    // accounts may not run one, the owner may).
    hub.owner_client()
        .query("ALTER TABLE reports DELETE WHERE platform_id = ? AND period = ?")
        .bind(agent.platform_id.as_str())
        .bind(lost.as_str())
        .execute()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !revisions(&hub, &agent.platform_id, &lost).await.is_empty() {
        assert!(Instant::now() < deadline, "the delete did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The next run's heartbeat brings the directive; the period goes out again, and only it.
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains(&format!("built {lost} revision 1")), "{out}");
    assert!(!out.contains(&format!("built {m0} ")), "{out}");
    assert_eq!(revisions(&hub, &agent.platform_id, &lost).await, [1]);
    let services: u64 = hub
        .store()
        .volume_totals(&agent.platform_id, &lost)
        .await
        .unwrap()
        .iter()
        .map(|t| t.1)
        .sum();
    assert_eq!(services, 8);

    // Nothing missing any more: a further run builds nothing.
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    assert!(!out.contains("built "), "{out}");
    hub.stop().await;
}
