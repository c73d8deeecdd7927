//! `/healthz` is liveness, `/readyz` readiness: while the hub's ClickHouse is down the hub is
//! alive but not ready (a load balancer stops sending agents to it), and ready again once
//! ClickHouse is back. Real hub, real ClickHouse server killed and restarted by its supervisor.

use std::time::{Duration, Instant};

use sme_hub::store::EmbeddedClickHouse;
use sme_tests::{http_get, TestHub};

/// Polls `url` until it answers `code`; returns the body.
async fn until_status(url: &str, code: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = http_get(url).await;
        if status == code {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url} still answers {status} {body:?}, expected {code}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_clickhouse_is_down_and_healthz_stays_ok() {
    let data = tempfile::tempdir().unwrap();
    let ch = EmbeddedClickHouse::start(data.path()).await.unwrap();
    let hub = TestHub::start_with(|c| {
        sme_tests::external_clickhouse(c, &ch.http_url(), ch.accounts());
    })
    .await;
    let readyz = format!("{}/readyz", hub.http_url());
    let healthz = format!("{}/healthz", hub.http_url());
    assert_eq!(http_get(&readyz).await, (200, "ready\n".to_owned()));

    // The server dies; its supervisor restarts it on the same ports after a backoff.
    let pid = ch.pid().expect("ClickHouse runs");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let body = until_status(&readyz, 503, Duration::from_secs(10)).await;
    assert!(body.contains("ClickHouse"), "{body}");
    assert_eq!(
        http_get(&healthz).await.0,
        200,
        "still alive: only readiness follows ClickHouse"
    );

    until_status(&readyz, 200, Duration::from_secs(90)).await;
    assert_ne!(ch.pid(), Some(pid), "a new server process answers");
    hub.stop().await;
    ch.stop().await;
}
