//! What a client other than our agent sees, through the real hub (mTLS gRPC, ClickHouse): a
//! rejection with many violations fits gRPC C-core's 8 KiB metadata limit and still names the
//! first violations and the total, with the full list in a `SyncReports` receipt; refused
//! certificates are explained in words; a malformed CSR leaves the enrolment token usable; and
//! `sme-agent example-report` is a report any client can send as it is.

use std::process::Command;

use sme_agent::connect::{self, HubAddress};
use sme_proto::v1::{self, enrollment_service_client::EnrollmentServiceClient};
use sme_tests::{binary, fixtures, last_month, platform, TestHub};
use tonic::Code;

/// gRPC C-core's soft limit on received metadata is 8 KiB; the hub keeps its status to 7 KiB.
const STATUS_BUDGET: usize = 7 * 1024;

/// Bytes of the status trailers (`grpc-status`, `grpc-message`, `grpc-status-details-bin`) as
/// tonic writes them on the wire, counted as HTTP/2 header lists are (name + value + 32).
fn status_wire_bytes(status: &tonic::Status) -> usize {
    status
        .clone()
        .into_http::<()>()
        .headers()
        .iter()
        .filter(|(name, _)| {
            matches!(
                name.as_str(),
                "grpc-status" | "grpc-message" | "grpc-status-details-bin"
            )
        })
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_with_many_violations_fits_grpc_metadata_limits() {
    let hub = TestHub::start().await;
    let id = platform(60);
    let (_dir, identity) = hub.enroll(&id).await;
    let mut report = fixtures::sample_report(&id, &last_month());
    assert!(report.service_records.len() >= 40);
    for record in report.service_records.iter_mut().take(40) {
        record.date = "2020-01-01".into();
    }

    let status = hub
        .client(&identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(report.clone()),
        })
        .await
        .expect_err("40 records outside the period are refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let size = status_wire_bytes(&status);
    assert!(
        size <= STATUS_BUDGET,
        "status takes {size} bytes on the wire"
    );
    let message = status.message();
    assert!(
        message.starts_with("report rejected: 40 violations: E011 service_records[0].date: "),
        "{message}"
    );
    assert!(message.contains("SyncReports for all 40"), "{message}");
    let carried = sme_proto::status::violations(&status);
    assert!(carried.len() >= 3 && carried.len() < 40, "{carried:#?}");
    for (i, v) in carried.iter().enumerate() {
        assert_eq!(
            (v.rule_id.as_str(), v.field.as_str()),
            ("E011", format!("service_records[{i}].date").as_str())
        );
        assert!(
            !v.message_zh.is_empty() && !v.message_en.is_empty(),
            "{v:?}"
        );
    }
    assert_eq!(sme_proto::status::violation_total(&status), 40);

    // The same report through SyncReports: its receipt lists every violation.
    let mut answers = hub
        .client(&identity.trust())
        .sync_reports(futures::stream::iter(vec![v1::SyncReportsRequest {
            report: Some(report),
        }]))
        .await
        .expect("stream opens")
        .into_inner();
    let receipt = answers
        .message()
        .await
        .expect("an answer")
        .expect("one answer")
        .receipt
        .expect("receipt");
    assert_eq!(receipt.outcome, v1::Outcome::Rejected as i32);
    assert_eq!(receipt.violations.len(), 40, "{:#?}", receipt.violations);
    assert_eq!(receipt.violations[..carried.len()], carried[..]);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_is_explained_in_words() {
    let hub = TestHub::start().await;
    let status = hub
        .client(&hub.ca_as_client())
        .heartbeat(v1::HeartbeatRequest::default())
        .await
        .expect_err("a CA certificate is no platform's");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let message = status.message();
    assert!(
        message.contains("it is a CA certificate, not a platform's client certificate"),
        "{message}"
    );
    assert!(
        !message.contains("Other(") && !message.contains("CaUsedAsEndEntity"),
        "{message}"
    );
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_csr_leaves_the_enrolment_token_usable() {
    let hub = TestHub::start().await;
    let id = platform(61);
    hub.register(&id).await;
    let token = hub.token(&id);
    let address = HubAddress::parse(&hub.url).unwrap();
    let mut enrollment =
        EnrollmentServiceClient::new(connect::channel(&address, &hub.anonymous()).unwrap());
    let status = enrollment
        .enroll(v1::EnrollRequest {
            token: token.clone(),
            platform_id: id.clone(),
            csr_pem: "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n-----END CERTIFICATE REQUEST-----\n".into(),
        })
        .await
        .expect_err("a malformed CSR is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("certificate signing request is not valid"),
        "{status:?}"
    );

    // The same token still enrols the platform, once.
    let data = tempfile::tempdir().unwrap();
    let identity = sme_agent::identity::enroll(data.path(), &hub.url, &id, &token, false)
        .await
        .expect("the token was not spent by the bad CSR");
    assert_eq!(identity.info.platform_id, id);
    let again = tempfile::tempdir().unwrap();
    let second = sme_agent::identity::enroll(again.path(), &hub.url, &id, &token, false).await;
    assert!(second.is_err(), "a token enrols once");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_report_is_valid_from_any_client() {
    let hub = TestHub::start().await;
    let id = platform(62);
    let (_dir, identity) = hub.enroll(&id).await;
    let work = tempfile::tempdir().unwrap();
    let agent_toml = work.path().join("agent.toml");
    std::fs::write(
        &agent_toml,
        format!(
            "data_dir = {:?}\n",
            work.path().join("agent").display().to_string()
        ),
    )
    .unwrap();
    let period = last_month();
    let out = Command::new(binary("sme-agent"))
        .args(["--config", agent_toml.to_str().unwrap()])
        .args(["example-report", "--period", &period, "--platform", &id])
        .output()
        .expect("sme-agent runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert!(json.contains("\"generated_at\": \""), "{json}");
    let report: v1::Report = serde_json::from_str(&json).expect("the example parses");

    // Sent as it is, without the agent filling anything in.
    let receipt = hub
        .client(&identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(report),
        })
        .await
        .unwrap_or_else(|s| {
            panic!(
                "example refused: {s:?}\n{}",
                sme_proto::status::describe(&sme_proto::status::violations(&s))
            )
        })
        .into_inner()
        .receipt
        .expect("receipt");
    assert_eq!(receipt.outcome, v1::Outcome::Accepted as i32);
    assert_eq!(receipt.period, period);
    hub.stop().await;
}
