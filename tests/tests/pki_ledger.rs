//! The certificate ledger and revocations across hub processes: two real `sme-hub serve`
//! processes share one CA directory and one ClickHouse server (as behind a load balancer),
//! agents enrol and renew through the real RPCs and present their certificates over real TLS.
//!
//! - a renewed certificate's predecessor is refused by every hub once the new one was used;
//! - `sme-hub cert list` shows serials, platform, validity and how each was issued;
//! - `sme-hub cert revoke --platform` (a third process) revokes all of a platform's
//!   certificates, refused by both hubs within the refresh interval;
//! - an unreadable revocation list refuses every certificate (fail closed, UNAVAILABLE: the
//!   hub's fault, so agents keep their reports), and recovers.

use std::path::Path;
use std::time::{Duration, Instant};

use sme_agent::identity::Identity;
use sme_hub::store::EmbeddedClickHouse;
use sme_tests::hubs::{heartbeat, hub_toml, issue_token, sme_hub_command, HubProcess};
use sme_tests::platform;

/// `[pki] refresh_ms` of the test hubs.
const REFRESH_MS: u64 = 200;

/// Long enough for every hub to have refreshed at least once (several intervals).
fn refresh_wait() -> Duration {
    Duration::from_millis(REFRESH_MS * 5)
}

/// The serial of `identity`'s certificate, as the hub prints it.
fn serial(identity: &Identity) -> String {
    sme_hub::pki::tls::platform_identity(&identity.chain[0])
        .unwrap()
        .serial_hex
}

async fn enrol(hub: &HubProcess, dir: &Path, platform_id: &str) -> Identity {
    let token = issue_token(&hub.config, platform_id);
    sme_agent::identity::enroll(dir, &hub.url, platform_id, &token, false)
        .await
        .unwrap_or_else(|e| panic!("enrolment of {platform_id}: {e}"))
}

/// Polls until `identity` is refused by `hub`; the refusal. Bounded: the predecessor is
/// revoked by the hub that saw the new certificate, and read by the others at their next
/// refresh.
async fn refused(hub: &HubProcess, identity: &Identity) -> (tonic::Code, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Err(e) = heartbeat(&hub.url, identity).await {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "{} still accepts the certificate\n{}",
            hub.url,
            hub.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Cluster {
    _work: tempfile::TempDir,
    clickhouse: EmbeddedClickHouse,
    a: HubProcess,
    b: HubProcess,
    ca_dir: std::path::PathBuf,
}

async fn two_hubs(work: tempfile::TempDir) -> Cluster {
    sme_tests::init_tracing();
    let clickhouse = EmbeddedClickHouse::start(&work.path().join("clickhouse"))
        .await
        .unwrap();
    let ca_dir = work.path().join("ca");
    let toml = |name: &str| {
        hub_toml(
            &work.path().join(name).join("data"),
            &ca_dir,
            &clickhouse,
            REFRESH_MS,
        )
    };
    let a_dir = work.path().join("a");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::write(a_dir.join("hub.toml"), toml("a")).unwrap();
    let (code, _, err) = sme_hub_command(&a_dir.join("hub.toml"), &["ca", "init"]);
    assert_eq!(code, 0, "ca init: {err}");
    let a = HubProcess::start(&a_dir, &toml("a"));
    let b = HubProcess::start(&work.path().join("b"), &toml("b"));
    Cluster {
        _work: work,
        clickhouse,
        a,
        b,
        ca_dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_retires_the_predecessor_and_revoking_a_platform_reaches_every_hub() {
    let work = tempfile::tempdir().unwrap();
    let agents = tempfile::tempdir().unwrap();
    let c = two_hubs(work).await;
    let (p1, p2) = (platform(1201), platform(1202));
    let dir1 = agents.path().join("p1");
    let first = enrol(&c.a, &dir1, &p1).await;
    let other = enrol(&c.b, &agents.path().join("p2"), &p2).await;
    for hub in [&c.a, &c.b] {
        heartbeat(&hub.url, &first).await.unwrap();
        heartbeat(&hub.url, &other).await.unwrap();
    }

    // Renewal through hub B: the agent tries the new certificate (a Heartbeat) before it
    // switches; that first use retires the old one on every hub.
    let renewed = sme_agent::renew::renew(&dir1, &first, &c.b.url)
        .await
        .expect("renewal");
    let (old_serial, new_serial) = (serial(&first), serial(&renewed));
    assert_ne!(old_serial, new_serial);
    for hub in [&c.b, &c.a] {
        let (code, message) = refused(hub, &first).await;
        assert_eq!(code, tonic::Code::Unauthenticated, "{message}");
        assert!(
            message.contains("revoked") && message.contains(&new_serial),
            "{message}"
        );
        heartbeat(&hub.url, &renewed)
            .await
            .expect("the renewed certificate works");
    }

    // The ledger: every certificate, its validity and how it was issued.
    let (code, list, err) = c.a.command(&["cert", "list"]);
    assert_eq!(code, 0, "{err}");
    let line = |serial: &str| {
        list.lines()
            .find(|l| l.starts_with(serial))
            .unwrap_or_else(|| panic!("cert list has no {serial}:\n{list}"))
            .to_owned()
    };
    let old_line = line(&old_serial);
    assert!(
        old_line.contains(&p1) && old_line.contains("enrolment") && old_line.contains("revoked"),
        "{old_line}"
    );
    let new_line = line(&new_serial);
    assert!(
        new_line.contains(&p1)
            && new_line.contains(&format!("renewal of {old_serial}"))
            && new_line.contains("valid"),
        "{new_line}"
    );
    let not_after = time::OffsetDateTime::from_unix_timestamp(renewed.info.not_after)
        .unwrap()
        .to_offset(sme_proto::period::CST);
    assert!(
        new_line.contains(&not_after.date().to_string()),
        "{new_line}"
    );
    assert!(list.contains(&serial(&other)), "{list}");
    let (code, only, _) = c.a.command(&["cert", "list", "--platform", &p1]);
    assert_eq!(code, 0);
    assert!(only.contains(&new_serial) && !only.contains(&p2), "{only}");
    assert!(only.contains("2 certificates"), "{only}");

    // Revoking the platform, from a separate process: both hubs refuse it within the refresh
    // interval; the other platform is untouched.
    let (code, out, err) =
        c.a.command(&["cert", "revoke", "--platform", &p1, "--reason", "平台注销"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&new_serial), "{out}");
    tokio::time::sleep(refresh_wait()).await;
    for hub in [&c.a, &c.b] {
        let (code, message) = heartbeat(&hub.url, &renewed).await.unwrap_err();
        assert_eq!(code, tonic::Code::Unauthenticated, "{message}");
        assert!(message.contains("平台注销"), "{message}");
        heartbeat(&hub.url, &other)
            .await
            .expect("another platform is untouched");
    }
    let (_, list, _) = c.a.command(&["cert", "list", "--platform", &p1]);
    assert_eq!(list.matches("revoked").count(), 2, "{list}");
    // A platform the ledger does not know is an error that says what to do.
    let (code, _, err) = c.a.command(&[
        "cert",
        "revoke",
        "--platform",
        &platform(1299),
        "--reason",
        "x",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("cert list"), "{err}");

    c.a.stop();
    c.b.stop();
    c.clickhouse.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_revocation_list_refuses_every_certificate_until_it_is_readable() {
    let work = tempfile::tempdir().unwrap();
    let agents = tempfile::tempdir().unwrap();
    let c = two_hubs(work).await;
    let id = enrol(&c.a, agents.path(), &platform(1203)).await;
    heartbeat(&c.a.url, &id).await.unwrap();
    heartbeat(&c.b.url, &id).await.unwrap();

    // `revoked/` becomes something that cannot be listed (the tests run as root, so taking
    // away permissions would not stop a read).
    let revoked = c.ca_dir.join("revoked");
    if revoked.is_dir() {
        std::fs::remove_dir_all(&revoked).unwrap();
    }
    std::fs::write(&revoked, "not a directory").unwrap();
    tokio::time::sleep(refresh_wait()).await;
    for hub in [&c.a, &c.b] {
        let (code, message) = heartbeat(&hub.url, &id).await.unwrap_err();
        // The hub's fault: "try again later", so the agent keeps its reports.
        assert_eq!(code, tonic::Code::Unavailable, "{message}");
        assert!(
            message.contains("cannot read its list of revoked certificates"),
            "{message}"
        );
    }
    assert!(
        c.a.log_text().contains("cannot read the revocation list"),
        "{}",
        c.a.log_text()
    );

    std::fs::remove_file(&revoked).unwrap();
    tokio::time::sleep(refresh_wait()).await;
    for hub in [&c.a, &c.b] {
        heartbeat(&hub.url, &id).await.expect("readable again");
    }
    c.a.stop();
    c.b.stop();
    c.clickhouse.stop().await;
}
