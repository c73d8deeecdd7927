//! Revisions cannot collide or be shadowed. The hub refuses a revision lower than the one it
//! holds of (platform, period) with FAILED_PRECONDITION naming its revision; the agent then
//! rebuilds the period above it. `sme-agent send` takes the period's next revision from the
//! outbox, so the agent's own build never collides with a hand-made report. Real `sme-agent`,
//! real hub and ClickHouse, real TLS.

use sme_proto::v1;
use sme_tests::agent::{profile_json, recent_months, records, records_csv, TestAgent};
use sme_tests::{fixtures, platform, TestHub};
use tonic::Code;

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

async fn services(hub: &TestHub, platform_id: &str, period: &str) -> u64 {
    hub.store()
        .volume_totals(platform_id, period)
        .await
        .unwrap()
        .iter()
        .map(|t| t.1)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_revision_is_refused_naming_the_current_one_and_the_agent_goes_above_it() {
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(440), "").await;
    let (_, m1) = recent_months();
    let code = m1.to_string();

    // Revision 3 of the month reached the hub from elsewhere (another machine of the platform).
    let mut elsewhere = fixtures::sample_report(&agent.platform_id, &code);
    elsewhere.revision = 3;
    let outcome = sme_agent::submit::submit_once(&agent.identity, &hub.url, elsewhere.clone())
        .await
        .unwrap();
    assert!(
        matches!(outcome, sme_agent::submit::SubmitOutcome::Accepted(_)),
        "{}",
        outcome.describe()
    );

    // A lower revision is refused, with the current one named (text and details).
    let mut lower = elsewhere.clone();
    lower.report_id = uuid::Uuid::new_v4().to_string();
    lower.revision = 1;
    let status = hub
        .client(&agent.identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(lower),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("revision 3"), "{status:?}");
    assert_eq!(sme_proto::status::current_revision(&status), Some(3));
    let violations = sme_proto::status::violations(&status);
    assert!(
        violations.iter().any(|v| v.field == "revision"
            && v.message_en.contains("revision 4 or higher")
            && !v.message_zh.is_empty()),
        "{violations:#?}"
    );

    // The agent (its store knows nothing of revision 3) builds revision 0: refused, and the
    // next run sends the agent's data as revision 4, which the hub then counts.
    let rows = records("REV", &m1, 9);
    import(&agent, "records.csv", &records_csv(&rows));
    for p in &sme_tests::agent::sendable_periods(&rows) {
        import(&agent, &format!("profile-{p}.json"), &profile_json(p));
    }
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 1, "{out}");
    let status = agent.status();
    let rejected = status["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["period"] == code)
        .unwrap_or_else(|| panic!("{status:#}"));
    assert_eq!(rejected["code"], "FailedPrecondition", "{rejected:#}");
    assert!(
        rejected["advice"].as_str().unwrap().contains("revision 4"),
        "{rejected:#}"
    );
    let (_, out) = run(&agent, &["sync"]);
    assert!(out.contains(&format!("built {code} revision 4")), "{out}");
    assert_eq!(agent.store().outbox_counts().unwrap().rejected, 0, "{out}");
    assert_eq!(
        services(&hub, &agent.platform_id, &code).await,
        rows.len() as u64,
        "the agent's data is the current revision, not shadowed by revision 3"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_goes_through_the_outbox_so_the_agents_build_takes_the_next_revision() {
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(441), "").await;
    let (_, m1) = recent_months();
    let code = m1.to_string();

    let (exit, json) = run(&agent, &["example-report", "--period", &code]);
    assert_eq!(exit, 0, "{json}");
    let file = agent.data_dir().join("report.json");
    std::fs::write(&file, json).unwrap();
    let (exit, out) = run(&agent, &["send", file.to_str().unwrap()]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains("revision 0"), "{out}");
    let item = agent
        .store()
        .latest_report(&m1)
        .unwrap()
        .expect("the hand-made report is in the outbox");
    assert_eq!(item.revision, 0);

    // The agent's own build of the month is revision 1: no ALREADY_EXISTS, nothing rejected,
    // and the hub counts the agent's data.
    let rows = records("SND", &m1, 7);
    import(&agent, "records.csv", &records_csv(&rows));
    for p in &sme_tests::agent::sendable_periods(&rows) {
        import(&agent, &format!("profile-{p}.json"), &profile_json(p));
    }
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains(&format!("built {code} revision 1")), "{out}");
    assert_eq!(agent.store().outbox_counts().unwrap().rejected, 0);
    assert_eq!(
        services(&hub, &agent.platform_id, &code).await,
        rows.len() as u64
    );
    hub.stop().await;
}
