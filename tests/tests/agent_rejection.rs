//! Reports the hub refuses: they stay visible in `sme-agent status` with the hub's reasons and
//! what to do, later runs never send them again unchanged, and the fix goes out as a new
//! revision that supersedes them. Real `sme-agent` binary, real hub and ClickHouse.

use serde_json::Value;
use sme_agent::store::OutboxState;
use sme_tests::agent::{
    agent_toml, audit_submissions, profile_json, recent_months, records, records_csv,
    sendable_periods, TestAgent,
};
use sme_tests::{fixtures, platform, TestHub};

/// The status entry of the rejected report of `period`.
fn rejected<'a>(status: &'a Value, period: &str) -> &'a Value {
    status["rejected"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["period"] == period))
        .unwrap_or_else(|| panic!("no rejected report of {period} in {status:#}"))
}

/// Imports files with `sme-agent import` (the CLI), asserting success.
fn import(agent: &TestAgent, name: &str, bytes: &[u8]) {
    let path = agent.data_dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = agent.command(&["import", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "import {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sme-agent sync`; returns its exit code and output.
fn sync(agent: &TestAgent) -> (i32, String) {
    let out = agent.command(&["sync"]);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_report_stays_in_status_with_the_hubs_reasons_and_is_never_resent() {
    // The hub takes smaller reports than the agent assumes, so the agent's local check passes
    // and the hub refuses with E013.
    const LIMIT: usize = 2048;
    let hub = TestHub::start_with(|c| c.limits.max_report_bytes = LIMIT).await;
    let agent = TestAgent::enroll(&hub, &platform(303), "").await;
    let (_, m1) = recent_months();
    let rows = records("REJ", &m1, 30);
    import(&agent, "records.csv", &records_csv(&rows));
    for p in &sendable_periods(&rows) {
        import(&agent, &format!("profile-{p}.json"), &profile_json(p));
    }

    let (code, out) = sync(&agent);
    assert_eq!(code, 1, "sync reports the rejection: {out}");
    let store = agent.store();
    let item = store
        .outbox_by_state(OutboxState::Rejected, 10)
        .unwrap()
        .into_iter()
        .find(|i| i.period == m1)
        .expect("the report of the month is rejected");
    assert!(
        item.report.len() > LIMIT && item.report.len() < 2 * LIMIT,
        "the report ({} bytes) must be over the hub's limit but decodable",
        item.report.len()
    );

    let status = agent.status();
    let r = rejected(&status, &m1.to_string());
    assert_eq!(r["code"], "InvalidArgument", "{r:#}");
    assert_eq!(r["report_id"], item.report_id.as_str());
    let e013 = r["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule_id"] == "E013")
        .unwrap_or_else(|| panic!("E013 among the hub's reasons: {r:#}"));
    assert!(!e013["message_zh"].as_str().unwrap().is_empty());
    assert!(
        e013["message_en"]
            .as_str()
            .unwrap()
            .contains(&LIMIT.to_string()),
        "{e013:#}"
    );
    assert!(!e013["hint"].as_str().unwrap().is_empty());
    assert_eq!(status["queue"]["pending"], 0);
    let human = agent.command(&["status"]);
    assert_eq!(human.status.code(), Some(1), "status signals attention");
    let human = String::from_utf8_lossy(&human.stdout);
    println!("sme-agent status:\n{human}");
    assert!(
        human.contains("rejected by the hub") && human.contains("E013"),
        "{human}"
    );

    // Later runs, with nothing changed, never send it again.
    for _ in 0..2 {
        sync(&agent);
    }
    let again = store.outbox_item(&item.report_id).unwrap().unwrap();
    assert_eq!(again.state, OutboxState::Rejected);
    assert_eq!(again.attempts, 1, "sent exactly once");
    assert_eq!(audit_submissions(hub.store(), &item.report_id).await, 1);

    // The fix: the agent learns the hub's limit and rebuilds; the new revision (records left
    // out, volumes kept) supersedes the rejected one and is accepted.
    std::fs::write(
        &agent.config_path,
        agent_toml(
            agent.data_dir(),
            &hub.url,
            &format!("max_report_bytes = {LIMIT}\n"),
        ),
    )
    .unwrap();
    let out = agent.command(&["rebuild", "--period", &m1.to_string()]);
    assert!(out.status.success());
    let (code, out) = sync(&agent);
    assert!(code == 0 || code == 1, "{out}");
    assert!(out.contains("revision 1"), "{out}");
    assert_eq!(
        store.outbox_item(&item.report_id).unwrap().unwrap().state,
        OutboxState::Superseded
    );
    let status = agent.status();
    assert!(
        status["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["period"] != m1.to_string()),
        "{status:#}"
    );
    let totals = hub
        .store()
        .volume_totals(&agent.platform_id, &m1.to_string())
        .await
        .unwrap();
    assert_eq!(totals.iter().map(|t| t.1).sum::<u64>(), rows.len() as u64);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_exists_is_shown_with_advice_and_the_next_run_sends_a_new_revision() {
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(304), "").await;
    let (_, m1) = recent_months();

    // Someone sent revision 0 of the month by hand (`sme-agent send`) before the agent did.
    let manual = fixtures::sample_report(&agent.platform_id, &m1.to_string());
    let outcome = sme_agent::submit::submit_once(&agent.identity, &hub.url, manual)
        .await
        .unwrap();
    assert!(
        matches!(outcome, sme_agent::submit::SubmitOutcome::Accepted(_)),
        "{}",
        outcome.describe()
    );

    let rows = records("DUP", &m1, 12);
    import(&agent, "records.csv", &records_csv(&rows));
    for p in &sendable_periods(&rows) {
        import(&agent, &format!("profile-{p}.json"), &profile_json(p));
    }
    let (code, out) = sync(&agent);
    assert_eq!(code, 1, "{out}");
    let status = agent.status();
    let r = rejected(&status, &m1.to_string());
    assert_eq!(r["code"], "AlreadyExists", "{r:#}");
    assert!(
        r["message"].as_str().unwrap().contains("revision 0"),
        "{r:#}"
    );
    // The hub named the revision it holds: the agent goes above it at the next run by itself.
    assert!(
        r["advice"].as_str().unwrap().contains("revision 1"),
        "{r:#}"
    );
    let (_, out) = sync(&agent);
    assert!(out.contains(&format!("built {m1} revision 1")), "{out}");
    let totals = hub
        .store()
        .volume_totals(&agent.platform_id, &m1.to_string())
        .await
        .unwrap();
    assert_eq!(
        totals.iter().map(|t| t.1).sum::<u64>(),
        rows.len() as u64,
        "the agent's revision 1 is what the hub counts now"
    );
    assert_eq!(agent.store().outbox_counts().unwrap().rejected, 0);

    // Records of the month before without its profile: the local check holds the period back
    // (E010, no start-ups section) and `status` says what to fill in; nothing is sent.
    let (m2, _) = recent_months();
    import(&agent, "earlier.csv", &records_csv(&records("BLK", &m2, 5)));
    let (code, out) = sync(&agent);
    assert_eq!(code, 1, "{out}");
    let status = agent.status();
    let blocked = status["blocked"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["period"] == m2.to_string())
        .unwrap_or_else(|| panic!("{m2} held back: {status:#}"));
    let e010 = blocked["violations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["rule_id"] == "E010" && v["field"] == "startups")
        .unwrap_or_else(|| panic!("E010 startups: {blocked:#}"));
    assert!(
        e010["hint"].as_str().unwrap().contains("profile"),
        "{e010:#}"
    );
    assert_eq!(status["queue"]["pending"], 0);
    assert!(agent.store().latest_report(&m2).unwrap().is_none());
    hub.stop().await;
}
