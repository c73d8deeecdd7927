//! The hub's server certificate renewed while it serves: `sme-hub cert server-renew` (another
//! process) writes a new certificate, the running `sme-hub serve` hands it to new connections
//! without a restart, an agent's open connection and new connections keep working, and the
//! expiry is in `/metrics` and, when close, in the log.

use std::time::Duration;

use sme_hub::store::EmbeddedClickHouse;
use sme_tests::hubs::{
    heartbeat, heartbeat_on, hub_toml, issue_token, server_chain, sme_hub_command, HubProcess,
};
use sme_tests::{http_get, platform};

const REFRESH_MS: u64 = 200;

/// `sme_hub_server_certificate_expiry_seconds` of the hub's `/metrics`.
async fn expiry_gauge(hub: &HubProcess) -> i64 {
    let (status, body) = http_get(&format!("{}/metrics", hub.http_url)).await;
    assert_eq!(status, 200);
    body.lines()
        .find_map(|l| l.strip_prefix("sme_hub_server_certificate_expiry_seconds "))
        .unwrap_or_else(|| panic!("no expiry gauge in /metrics:\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_server_certificate_is_served_without_a_restart() {
    sme_tests::init_tracing();
    let work = tempfile::tempdir().unwrap();
    let clickhouse = EmbeddedClickHouse::start(&work.path().join("clickhouse"))
        .await
        .unwrap();
    let ca_dir = work.path().join("ca");
    // Warn well ahead (more than the 825 days a server certificate lasts), so the log says it.
    let toml = format!(
        "{}server_cert_warn_days = 900\n",
        hub_toml(&work.path().join("data"), &ca_dir, &clickhouse, REFRESH_MS)
    );
    let hub_dir = work.path().join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    std::fs::write(hub_dir.join("hub.toml"), &toml).unwrap();
    let (code, _, err) = sme_hub_command(&hub_dir.join("hub.toml"), &["ca", "init"]);
    assert_eq!(code, 0, "{err}");
    let hub = HubProcess::start(&hub_dir, &toml);

    let id = platform(1401);
    let token = issue_token(&hub.config, &id);
    let agent_dir = work.path().join("agent");
    let identity = sme_agent::identity::enroll(&agent_dir, &hub.url, &id, &token, false)
        .await
        .expect("enrolment");
    // An agent connected before the renewal, with its connection open.
    let address = sme_agent::connect::HubAddress::parse(&hub.url).unwrap();
    let open = sme_agent::connect::channel(&address, &identity.trust()).unwrap();
    heartbeat_on(open.clone()).await.unwrap();

    let before = server_chain(&hub.url, &identity.ca);
    let gauge_before = expiry_gauge(&hub).await;
    let days = 86_400;
    assert!(
        (824 * days..=825 * days).contains(&gauge_before),
        "{gauge_before}"
    );
    assert!(
        hub.log_text().contains("server certificate expires soon"),
        "{}",
        hub.log_text()
    );

    // Renewed by another process, same names.
    let (code, out, err) = hub.command(&["cert", "server-renew"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("localhost, 127.0.0.1"), "{out}");
    tokio::time::sleep(Duration::from_millis(REFRESH_MS * 5)).await;
    let after = server_chain(&hub.url, &identity.ca);
    assert_ne!(
        before[0], after[0],
        "new connections get the new certificate"
    );
    assert_eq!(
        sme_hub::pki::server_identity::names(&after[0]).unwrap(),
        ["localhost", "127.0.0.1"]
    );
    assert!(hub.log_text().contains("new server certificate loaded"));
    // The gauge follows the new certificate: 825 days again (it cannot be compared with the
    // first reading, which was taken earlier against an older expiry).
    let gauge_after = expiry_gauge(&hub).await;
    assert!(
        (824 * days..=825 * days).contains(&gauge_after),
        "{gauge_after}"
    );

    // The agent keeps working: on its open connection and on new ones.
    heartbeat_on(open.clone()).await.expect("open connection");
    heartbeat(&hub.url, &identity)
        .await
        .expect("new connection");
    let mut agent = sme_agent::service::Agent::open(
        sme_agent::config::AgentConfig::from_sources(
            Some(&sme_tests::agent::agent_toml(&agent_dir, &hub.url, "")),
            None,
            &|_| None,
        )
        .unwrap(),
        std::sync::Arc::new(sme_agent::clock::SystemClock),
    )
    .unwrap();
    agent.heartbeat().await.expect("the agent's own heartbeat");

    // Other names, with --name.
    let (code, out, err) = hub.command(&[
        "cert",
        "server-renew",
        "--name",
        "127.0.0.1",
        "--name",
        "hub.example.cn",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("127.0.0.1, hub.example.cn"), "{out}");
    tokio::time::sleep(Duration::from_millis(REFRESH_MS * 5)).await;
    let renamed = server_chain(&hub.url, &identity.ca);
    assert_eq!(
        sme_hub::pki::server_identity::names(&renamed[0]).unwrap(),
        ["127.0.0.1", "hub.example.cn"]
    );
    heartbeat(&hub.url, &identity).await.expect("still trusted");
    hub.stop();
    clickhouse.stop().await;
}
