//! An agent behind a misconfigured proxy (a web application firewall answering 403, a wrong
//! route answering 404): tonic reads those as PERMISSION_DENIED and UNIMPLEMENTED, which are no
//! answer of the hub about any report. The reports stay pending, nothing is marked rejected, and
//! they are delivered once the real hub is reachable. Real `sme-agent` binary, real hub and
//! ClickHouse, real TLS (the proxy holds the hub's server certificate, as a TLS-terminating
//! load balancer does).

use std::time::Duration;

use sme_tests::agent::{agent_toml, profile_json, recent_months, records, records_csv, TestAgent};
use sme_tests::proxy::FixedStatusProxy;
use sme_tests::{platform, TestHub};

/// Imports a file with `sme-agent import`, asserting success.
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

/// `sme-agent sync`: exit code and output.
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

fn point_at(agent: &TestAgent, url: &str, delivery: &str) {
    std::fs::write(
        &agent.config_path,
        agent_toml(agent.data_dir(), url, delivery),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_stay_pending_behind_a_proxy_answering_403_or_404_and_go_in_later() {
    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(420), "").await;
    let (m0, m1) = recent_months();
    let mut rows = records("PXA", &m0, 8);
    rows.extend(records("PXB", &m1, 8));
    import(&agent, "records.csv", &records_csv(&rows));
    let periods = sme_tests::agent::sendable_periods(&rows);
    for p in &periods {
        import(&agent, &format!("profile-{p}.json"), &profile_json(p));
    }

    // 403 with one report per page: every report goes through SubmitReport.
    let forbidden = FixedStatusProxy::start(&hub, 403).await;
    point_at(&agent, &forbidden.url, "batch_size = 1\nstreams = 1\n");
    // 404 with a backlog: SyncReports is "unimplemented", the agent falls back to SubmitReport,
    // which is "unimplemented" too.
    let not_found = FixedStatusProxy::start(&hub, 404).await;
    for (proxy, delivery) in [
        (&forbidden, "batch_size = 1\nstreams = 1\n"),
        (&not_found, ""),
    ] {
        point_at(&agent, &proxy.url, delivery);
        for _ in 0..2 {
            let (code, out) = sync(&agent);
            println!("sync through the proxy:\n{out}");
            assert_eq!(code, 3, "not delivered now, retried later: {out}");
            let counts = agent.store().outbox_counts().unwrap();
            assert_eq!(counts.rejected, 0, "nothing rejected: {out}");
            assert_eq!(counts.delivered, 0, "{out}");
            assert_eq!(counts.pending, periods.len() as u64, "{out}");
            let status = agent.status();
            assert!(
                status["rejected"].as_array().unwrap().is_empty(),
                "{status:#}"
            );
            // Past the backoff (1–2 s in the test configuration), so the next run sends again.
            tokio::time::sleep(Duration::from_millis(2_100)).await;
        }
        assert!(proxy.answered() >= 2, "the agent went through the proxy");
    }

    // The proxy is fixed (the agent reaches the hub): everything goes in, once.
    point_at(&agent, &hub.url, "");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, out) = sync(&agent);
        let counts = agent.store().outbox_counts().unwrap();
        if counts.pending == 0 {
            assert_eq!(code, 0, "{out}");
            assert_eq!(counts.delivered, periods.len() as u64, "{out}");
            assert_eq!(counts.rejected, 0, "{out}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still pending: {out}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for (p, n) in [(m0, 8u64), (m1, 8)] {
        let totals = hub
            .store()
            .volume_totals(&agent.platform_id, &p.to_string())
            .await
            .unwrap();
        assert_eq!(totals.iter().map(|t| t.1).sum::<u64>(), n, "{p}");
    }
    hub.stop().await;
}
