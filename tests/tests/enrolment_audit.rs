//! Enrolment against a real `sme-hub serve` with its real ClickHouse: a token is spent only
//! when a certificate goes out (it survives a bad CSR and a hub that cannot issue), one token
//! gives one certificate even to two concurrent enrolments, a wrong-platform refusal does not
//! name the token's platform, and every enrolment and renewal, issued or refused, is in the
//! audit trail (`certificate_events`).

use sme_agent::connect::{self, HubAddress, Trust};
use sme_hub::store::{EmbeddedClickHouse, Store, StoreOptions};
use sme_proto::v1::enrollment_service_client::EnrollmentServiceClient;
use sme_tests::hubs::{heartbeat, hub_toml, issue_token, sme_hub_command, HubProcess};
use sme_tests::platform;

/// An `Enroll` call with a CSR of our own; the refusal's code and message.
async fn enroll_raw(
    url: &str,
    token: &str,
    platform_id: &str,
    csr_pem: String,
) -> Result<String, (tonic::Code, String)> {
    let pin = sme_hub::pki::parse_token(token).unwrap().1.to_owned();
    let channel = connect::channel(
        &HubAddress::parse(url).unwrap(),
        &Trust::Pinned { ca_sha256: pin },
    )
    .unwrap();
    EnrollmentServiceClient::new(channel)
        .enroll(sme_proto::v1::EnrollRequest {
            token: token.to_owned(),
            platform_id: platform_id.to_owned(),
            csr_pem,
        })
        .await
        .map(|r| r.into_inner().certificate_pem)
        .map_err(|s| (s.code(), s.message().to_owned()))
}

fn csr(platform_id: &str) -> String {
    sme_agent::identity::new_key_and_csr(platform_id).unwrap().1
}

#[derive(clickhouse::Row, serde::Deserialize, Debug)]
struct EventRow {
    event: String,
    outcome: String,
    platform_id: String,
    serial: String,
    previous_serial: String,
    status_code: i32,
    reason: String,
}

async fn events(store: &Store, platforms: &[String]) -> Vec<EventRow> {
    store
        .client()
        .query(
            "SELECT event, outcome, platform_id, serial, previous_serial, status_code, reason \
             FROM certificate_events WHERE has(?, platform_id) ORDER BY at, at_nanos",
        )
        .bind(platforms)
        .fetch_all()
        .await
        .expect("certificate_events query")
}

fn serial_of(pem: &str) -> String {
    let der = sme_hub::pki::pem_to_der(pem).unwrap();
    sme_hub::pki::tls::platform_identity(&der)
        .unwrap()
        .serial_hex
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_spent_only_on_a_certificate_and_every_attempt_is_audited() {
    sme_tests::init_tracing();
    let work = tempfile::tempdir().unwrap();
    let clickhouse = EmbeddedClickHouse::start(&work.path().join("clickhouse"))
        .await
        .unwrap();
    let ca_dir = work.path().join("ca");
    let toml = hub_toml(&work.path().join("data"), &ca_dir, &clickhouse, 200);
    let hub_dir = work.path().join("hub");
    std::fs::create_dir_all(&hub_dir).unwrap();
    std::fs::write(hub_dir.join("hub.toml"), &toml).unwrap();
    let (code, _, err) = sme_hub_command(&hub_dir.join("hub.toml"), &["ca", "init"]);
    assert_eq!(code, 0, "{err}");
    let hub = HubProcess::start(&hub_dir, &toml);
    let (p, q) = (platform(1301), platform(1302));
    let token = issue_token(&hub.config, &p);

    // The token of P presented for Q: refused without saying whose it is.
    let (code, message) = enroll_raw(&hub.url, &token, &q, csr(&q)).await.unwrap_err();
    assert_eq!(code, tonic::Code::PermissionDenied, "{message}");
    assert!(
        message.contains(&q) && !message.contains(&p),
        "the refusal must not name the token's platform: {message}"
    );

    // A CSR that is not one: refused, token kept.
    let (code, message) = enroll_raw(&hub.url, &token, &p, "not a CSR".into())
        .await
        .unwrap_err();
    assert_eq!(code, tonic::Code::InvalidArgument, "{message}");

    // The hub cannot record the certificate (its ledger directory is not a directory):
    // nothing goes out and the token stays usable.
    let issued = ca_dir.join("issued");
    assert!(!issued.exists());
    std::fs::write(&issued, "in the way").unwrap();
    let agent = work.path().join("agent");
    let err = match sme_agent::identity::enroll(&agent, &hub.url, &p, &token, false).await {
        Ok(_) => panic!("enrolled although the hub cannot record the certificate"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("the token was not used"), "{err}");
    std::fs::remove_file(&issued).unwrap();

    // Now it works, once.
    let identity = sme_agent::identity::enroll(&agent, &hub.url, &p, &token, false)
        .await
        .expect("the same token enrols once the hub can issue");
    heartbeat(&hub.url, &identity).await.unwrap();
    let (code, message) = enroll_raw(&hub.url, &token, &p, csr(&p)).await.unwrap_err();
    assert_eq!(code, tonic::Code::PermissionDenied);
    assert!(message.contains("already been used"), "{message}");

    // Two enrolments racing with one token: one certificate, and only it in the ledger.
    let token_q = issue_token(&hub.config, &q);
    let (one, two) = tokio::join!(
        enroll_raw(&hub.url, &token_q, &q, csr(&q)),
        enroll_raw(&hub.url, &token_q, &q, csr(&q))
    );
    let winners: Vec<&String> = [&one, &two]
        .into_iter()
        .filter_map(|r| r.as_ref().ok())
        .collect();
    assert_eq!(winners.len(), 1, "{one:?} {two:?}");
    let (code, list, _) = hub.command(&["cert", "list", "--platform", &q]);
    assert_eq!(code, 0);
    assert!(list.contains("1 certificates"), "{list}");
    assert!(list.contains(&serial_of(winners[0])), "{list}");

    // A renewal.
    let renewed = sme_agent::renew::renew(&agent, &identity, &hub.url)
        .await
        .expect("renewal");
    let (old, new) = (
        sme_hub::pki::tls::platform_identity(&identity.chain[0])
            .unwrap()
            .serial_hex,
        sme_hub::pki::tls::platform_identity(&renewed.chain[0])
            .unwrap()
            .serial_hex,
    );

    // The audit trail holds every attempt, in order, with what the caller was told.
    let store = Store::connect_with(&clickhouse.client_config("sme"), &StoreOptions::default())
        .await
        .unwrap();
    let rows = events(&store, &[p.clone(), q.clone()]).await;
    let summary: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| (r.event.as_str(), r.outcome.as_str(), r.platform_id.as_str()))
        .collect();
    assert_eq!(
        summary[..5],
        [
            ("enrolment", "refused", q.as_str()),
            ("enrolment", "refused", p.as_str()),
            ("enrolment", "refused", p.as_str()),
            ("enrolment", "issued", p.as_str()),
            ("enrolment", "refused", p.as_str()),
        ],
        "{rows:#?}"
    );
    assert!(!rows[0].reason.contains(&p), "{rows:#?}");
    assert_eq!(rows[0].status_code, tonic::Code::PermissionDenied as i32);
    assert!(
        rows[2].reason.contains("the token was not used"),
        "{rows:#?}"
    );
    assert_eq!(rows[3].serial, old);
    let race: Vec<&str> = rows[5..7].iter().map(|r| r.outcome.as_str()).collect();
    assert!(
        race.contains(&"issued") && race.contains(&"refused"),
        "{rows:#?}"
    );
    let renewal = &rows[7];
    assert_eq!(
        (renewal.event.as_str(), renewal.outcome.as_str()),
        ("renewal", "issued"),
        "{rows:#?}"
    );
    assert_eq!((&renewal.serial, &renewal.previous_serial), (&new, &old));
    assert_eq!(rows.len(), 8, "{rows:#?}");

    // A renewal without a certificate is refused, and audited too.
    let anonymous = Trust::Anonymous {
        ca: identity.ca.clone(),
    };
    let channel = connect::channel(&HubAddress::parse(&hub.url).unwrap(), &anonymous).unwrap();
    let refused = EnrollmentServiceClient::new(channel)
        .renew(sme_proto::v1::RenewRequest { csr_pem: csr(&p) })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let anonymous_rows = events(&store, &[String::new()]).await;
    assert!(
        anonymous_rows
            .iter()
            .any(|r| r.event == "renewal" && r.outcome == "refused"),
        "{anonymous_rows:#?}"
    );
    hub.stop();
    clickhouse.stop().await;
}
