//! A platform corrects its data: `sme-agent void --record ID | --file NAME` removes records
//! imported by mistake, and the next revision in ClickHouse — and so the hub's analytics — no
//! longer has them. An old file dropped again cannot silently bring them back: it is refused
//! (CLI and inbox) with what it would change, unless `import --allow-revert`. Real
//! `sme-agent`, real hub and ClickHouse, real TLS.

use std::time::Duration;

use sme_hub::analytics::scope::Scope;
use sme_hub::analytics::volume::{volume, VolumeBy};
use sme_hub::analytics::Filter;
use sme_proto::period::Period;
use sme_tests::agent::{
    current_record_counts, profile_json, recent_months, records, records_csv, sendable_periods,
    wait_until, TestAgent,
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

fn import(agent: &TestAgent, name: &str, bytes: &[u8], extra: &[&str]) -> (i32, String) {
    let path = agent.data_dir().join(name);
    std::fs::write(&path, bytes).unwrap();
    let mut args = vec!["import"];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    run(agent, &args)
}

/// What ClickHouse holds of the month's current report, and the hub's volume view of it.
async fn stored(hub: &TestHub, agent: &TestAgent, m: &Period) -> (Vec<String>, u64) {
    let ids = current_record_counts(hub.store(), &agent.platform_id, &m.to_string()).await;
    let scope = Scope::operator();
    let view = volume(
        hub.store(),
        &scope,
        &Filter::new(&scope, *m, *m).unwrap(),
        VolumeBy::Function,
    )
    .await
    .unwrap();
    (ids.into_keys().collect(), view.total.services)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voided_records_leave_the_next_revision_and_the_analytics_and_old_files_cannot_revive_them()
{
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(450), "").await;
    let (_, m1) = recent_months();
    let code = m1.to_string();
    let rows_a = records("VA", &m1, 10);
    let rows_b = records("VB", &m1, 3);
    let a_csv = records_csv(&rows_a);
    assert_eq!(import(&agent, "a.csv", &a_csv, &[]).0, 0);
    assert_eq!(import(&agent, "b.csv", &records_csv(&rows_b), &[]).0, 0);
    let mut all = rows_a.clone();
    all.extend(rows_b.clone());
    for p in &sendable_periods(&all) {
        assert_eq!(
            import(&agent, &format!("profile-{p}.json"), &profile_json(p), &[]).0,
            0
        );
    }
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    let (ids, services) = stored(&hub, &agent, &m1).await;
    assert_eq!((ids.len(), services), (13, 13));

    // One record imported by mistake.
    let wrong = rows_a[2].id.clone();
    let (exit, out) = run(&agent, &["void", "--record", &wrong]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains(&wrong) && out.contains(&code), "{out}");
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains(&format!("built {code} revision 1")), "{out}");
    let (ids, services) = stored(&hub, &agent, &m1).await;
    assert!(!ids.contains(&wrong), "{ids:?}");
    assert_eq!((ids.len(), services), (12, 12));

    // A whole file imported by mistake.
    let (exit, out) = run(&agent, &["void", "--file", "b.csv"]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains("voided 3 record(s)"), "{out}");
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains(&format!("built {code} revision 2")), "{out}");
    let (ids, services) = stored(&hub, &agent, &m1).await;
    assert!(ids.iter().all(|id| id.starts_with("VA")), "{ids:?}");
    assert_eq!((ids.len(), services), (9, 9));

    // The old file, saved again, is refused: it names the voided record and the way out.
    let mut resaved = a_csv.clone();
    resaved.extend_from_slice(b"\n");
    let (exit, out) = import(&agent, "a-again.csv", &resaved, &[]);
    assert_eq!(exit, 1, "{out}");
    assert!(
        out.contains(&wrong) && out.contains("voided") && out.contains("--allow-revert"),
        "{out}"
    );
    // Dropped into the inbox, the service quarantines it with the same reasons.
    agent.drop_file("a-again.csv", &resaved);
    let mut process = agent.spawn();
    let errors = agent.data_dir().join("quarantine/a-again.csv.errors.txt");
    wait_until(
        Duration::from_secs(30),
        "the old file is quarantined",
        || errors.exists(),
    )
    .await;
    let reasons = std::fs::read_to_string(&errors).unwrap();
    assert!(
        reasons.contains(&wrong) && reasons.contains("--allow-revert"),
        "{reasons}"
    );
    assert!(process.is_running());
    process.terminate();
    let (ids, _) = stored(&hub, &agent, &m1).await;
    assert_eq!(ids.len(), 9, "nothing changed at the hub");

    // Asked for explicitly, the record comes back in the next revision.
    let (exit, out) = import(&agent, "a-again.csv", &resaved, &["--allow-revert"]);
    assert_eq!(exit, 0, "{out}");
    let (exit, out) = run(&agent, &["sync"]);
    assert_eq!(exit, 0, "{out}");
    assert!(out.contains(&format!("built {code} revision 3")), "{out}");
    let (ids, services) = stored(&hub, &agent, &m1).await;
    assert!(ids.contains(&wrong));
    assert_eq!((ids.len(), services), (10, 10));
    hub.stop().await;
}
