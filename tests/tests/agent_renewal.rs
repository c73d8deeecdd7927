//! Certificate renewal against a real hub, with the agent's clock moved by hand: nothing before
//! the planned point inside 70–90 % of the lifetime, a failed attempt (hub down) keeps the old
//! certificate working, the next attempt renews, and the new certificate works.

use std::sync::Arc;

use sme_agent::clock::ManualClock;
use sme_agent::config::AgentConfig;
use sme_agent::identity::{self, Identity};
use sme_agent::renew::{self, Standing};
use sme_agent::service::{meta, Agent, LastError};
use sme_tests::agent::agent_toml;
use sme_tests::{platform, TestHub};
use time::{Duration, OffsetDateTime};

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

async fn last_error(agent: &Agent) -> String {
    agent
        .store()
        .run(|s| s.meta_get(meta::LAST_ERROR))
        .await
        .unwrap()
        .and_then(|j| serde_json::from_str::<LastError>(&j).ok())
        .map(|e| e.message)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_happens_inside_the_window_and_survives_a_failed_attempt() {
    let mut hub = TestHub::start().await;
    let (dir, enrolled) = hub.enroll(&platform(305)).await;
    let cfg =
        AgentConfig::from_sources(Some(&agent_toml(dir.path(), &hub.url, "")), None, &|_| None)
            .unwrap();
    let info = &enrolled.info;
    let lifetime = info.not_after - info.not_before;
    let renew_at = renew::renewal_time(&enrolled);
    let fraction = (renew_at.unix_timestamp() - info.not_before) as f64 / lifetime as f64;
    assert!(
        (0.70..=0.90).contains(&fraction),
        "renewal planned at {fraction:.3} of the lifetime"
    );

    let clock = Arc::new(ManualClock::new(at(info.not_before) + Duration::days(1)));
    let mut agent = Agent::open(cfg, clock.clone()).unwrap();

    // Before the window, and just before the planned point: nothing happens.
    for t in [
        info.not_before + lifetime * 69 / 100,
        renew_at.unix_timestamp() - 1,
    ] {
        clock.set(at(t));
        assert!(!agent.renew(false).await, "renewed at {t}");
    }
    assert_eq!(Identity::load(dir.path()).unwrap().chain, enrolled.chain);

    // At the planned point the hub is down: the attempt fails, the old certificate stays.
    clock.set(renew_at);
    assert!(matches!(
        renew::standing(agent.identity(), clock_now(&clock)),
        Standing::Due { .. }
    ));
    hub.go_down().await;
    assert!(!agent.renew(false).await);
    let error = last_error(&agent).await;
    assert!(error.contains("certificate renewal"), "{error}");
    assert!(!identity::pending_dir(dir.path()).exists());
    assert_eq!(Identity::load(dir.path()).unwrap().chain, enrolled.chain);
    assert_eq!(agent.identity().chain, enrolled.chain);

    // The hub is back; the old certificate still works, and the next attempt renews.
    hub.come_back().await;
    agent
        .heartbeat()
        .await
        .expect("the old certificate still works");
    clock.advance(Duration::hours(1));
    assert!(agent.renew(false).await, "renewed once the hub is back");
    let renewed = Identity::load(dir.path()).unwrap();
    assert_ne!(renewed.chain, enrolled.chain);
    assert_eq!(agent.identity().chain, renewed.chain);
    assert!(renewed.info.not_after >= info.not_after);
    assert_eq!(renewed.info.platform_id, info.platform_id);
    assert_eq!(renewed.pseudonym_key, enrolled.pseudonym_key);
    assert!(!identity::pending_dir(dir.path()).exists());
    agent.heartbeat().await.expect("the new certificate works");

    // The new certificate plans its own renewal in its own window.
    let next = renew::renewal_time(&renewed);
    let span = renewed.info.not_after - renewed.info.not_before;
    let f = (next.unix_timestamp() - renewed.info.not_before) as f64 / span as f64;
    assert!((0.70..=0.90).contains(&f), "{f}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_says_to_enrol_again() {
    let hub = TestHub::start().await;
    let (dir, enrolled) = hub.enroll(&platform(306)).await;
    let cfg =
        AgentConfig::from_sources(Some(&agent_toml(dir.path(), &hub.url, "")), None, &|_| None)
            .unwrap();
    let clock = Arc::new(ManualClock::new(
        at(enrolled.info.not_after) + Duration::days(3),
    ));
    let mut agent = Agent::open(cfg.clone(), clock.clone()).unwrap();
    assert!(!agent.renew(false).await);
    let error = last_error(&agent).await;
    assert!(
        error.contains("expired") && error.contains("sme-agent enroll --force"),
        "{error}"
    );
    let status = sme_agent::status::collect(&cfg, clock_now(&clock)).unwrap();
    let cert = status.certificate.unwrap();
    assert_eq!(cert.state, "expired");
    assert!(cert.advice.unwrap().contains("sme-agent enroll --force"));
    hub.stop().await;
}

fn clock_now(clock: &ManualClock) -> OffsetDateTime {
    use sme_agent::clock::Clock;
    clock.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_keeps_reports_queued_and_says_to_enrol_again() {
    use sme_agent::shutdown::Shutdown;
    use sme_tests::agent::{profile_json, recent_months, records, records_csv, sendable_periods};

    let hub = TestHub::start().await;
    let (dir, enrolled) = hub.enroll(&platform(308)).await;
    let cfg =
        AgentConfig::from_sources(Some(&agent_toml(dir.path(), &hub.url, "")), None, &|_| None)
            .unwrap();
    // Something to send.
    let (_, m1) = recent_months();
    let rows = records("REV", &m1, 5);
    {
        let mut store = sme_agent::store::Store::open(cfg.store_path()).unwrap();
        let mut files = vec![("records.csv".to_owned(), records_csv(&rows))];
        for p in sendable_periods(&rows) {
            files.push((format!("profile-{p}.json"), profile_json(&p)));
        }
        for (name, bytes) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            sme_agent::intake::import_file(&path, &mut store, &enrolled.pseudonym_key).unwrap();
        }
    }

    let serial = sme_hub::pki::tls::Authenticator::new(hub.ca().cert_der())
        .unwrap()
        .authenticate(Some(&enrolled.chain))
        .unwrap()
        .serial_hex;
    hub.ca()
        .revocations()
        .revoke(&serial, "platform closed")
        .unwrap();
    // The running hub reads revocations every `[pki] refresh_ms`, not at each call.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sme_tests::hubs::heartbeat(&hub.url, &enrolled)
        .await
        .is_ok()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the revocation never took effect"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let mut agent = Agent::open(cfg, Arc::new(sme_agent::clock::SystemClock)).unwrap();
    let run = agent.run_once(true, &Shutdown::never()).await;
    let heartbeat = run.heartbeat.unwrap().unwrap_err();
    assert!(
        heartbeat.contains("revoked") && heartbeat.contains("sme-agent enroll --force"),
        "{heartbeat}"
    );
    assert!(run.built.enqueued.iter().any(|b| b.period == m1));
    let advice = run
        .drained
        .auth_error
        .clone()
        .unwrap_or_else(|| panic!("the certificate refused: {:?}", run.drained));
    assert!(advice.contains("sme-agent enroll --force"), "{advice}");
    let counts = agent.store().run(|s| s.outbox_counts()).await.unwrap();
    assert!(counts.pending >= 1 && counts.rejected == 0, "{counts:?}");
    assert!(
        !agent.renew(true).await,
        "a revoked certificate cannot renew"
    );
    let error = last_error(&agent).await;
    assert!(error.contains("sme-agent enroll --force"), "{error}");
    hub.stop().await;
}
