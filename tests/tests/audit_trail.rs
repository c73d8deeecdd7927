//! Every submission is in the audit trail (domain §6), whatever the hub's queues or ClickHouse
//! do: an accepted report's audit row is kept before its receipt goes out (a hub killed right
//! after the receipt loses nothing), refusals beyond the memory queue are kept on disk instead
//! of dropped, and a `SyncReports` stream without a certificate is audited too. Real hub
//! processes, real ClickHouse, real TLS.

use futures::StreamExt;
use sme_hub::store::{EmbeddedClickHouse, Store};
use sme_proto::v1::{self, Outcome};
use sme_tests::hubs::{self, HubProcess};
use sme_tests::{fixtures, last_month, platform, TestHub};
use tonic::Code;

/// Runs DDL as the owner account (the hub's own accounts may not).
async fn execute(owner: &clickhouse::Client, sql: &str) {
    owner
        .query(sql)
        .execute()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The outcomes audited for `report_id`, once there are `n` of them or after `within`.
async fn outcomes(store: &Store, report_id: &str, n: usize, within: u64) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(within);
    loop {
        let rows: Vec<String> = store
            .client()
            .query("SELECT toString(outcome) FROM audit WHERE report_id = ? ORDER BY received_at")
            .bind(report_id)
            .fetch_all()
            .await
            .unwrap();
        if rows.len() >= n || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_reports_audit_row_survives_a_kill_right_after_its_receipt() {
    let work = tempfile::tempdir().unwrap();
    let ch = EmbeddedClickHouse::start(&work.path().join("clickhouse"))
        .await
        .unwrap();
    let data = work.path().join("hub");
    let registry = "[registry]\ncache_seconds = 0\n";
    let hub = HubProcess::with_clickhouse(&data, &ch, "", registry);
    let store = hubs::store(&ch).await;
    let id = platform(71);
    let (_agent_dir, identity) = hub.enroll(&store, &id).await;

    // ClickHouse takes reports but not audit rows (the audit table is away).
    let owner = ch
        .accounts()
        .owner
        .apply(clickhouse::Client::default().with_url(ch.http_url()))
        .with_validation(false)
        .with_database("sme");
    execute(&owner, "RENAME TABLE audit TO audit_away").await;
    let report = fixtures::sample_report(&id, &last_month());
    let outcome = sme_agent::submit::submit_once(&identity, &hub.url, report.clone())
        .await
        .unwrap();
    assert!(
        matches!(outcome, sme_agent::submit::SubmitOutcome::Accepted(_)),
        "{}",
        outcome.describe()
    );
    // The receipt is out: the hub dies at once, without a shutdown.
    hub.kill();
    execute(&owner, "RENAME TABLE audit_away TO audit").await;

    // The next hub process on the same data dir stores what the first one kept on disk.
    let hub = HubProcess::with_clickhouse(&data, &ch, "", registry);
    let audited = outcomes(&store, &report.report_id, 1, 30).await;
    assert_eq!(
        audited,
        vec!["accepted".to_owned()],
        "the accepted report's audit row must survive the kill; hub log:\n{}",
        hub.log_text()
    );
    hub.stop();
    ch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_beyond_the_memory_queue_are_spilled_to_disk_not_dropped() {
    // The memory queue of audit entries holds 20 000 (its floor); more refusals than that
    // arrive while ClickHouse takes no audit rows.
    const REFUSALS: usize = 21_000;
    let hub = TestHub::start_with(|c| {
        c.writer.queue_capacity = 100;
        // The refusals take longer than an anonymous connection may live by default.
        c.grpc.anonymous_connection_seconds = 600;
    })
    .await;
    let owner = hub.owner_client();
    execute(&owner, "RENAME TABLE audit TO audit_away").await;
    let trust = hub.anonymous();
    let period = last_month();
    let report = fixtures::sample_report(&platform(72), &period);
    let clients: Vec<_> = (0..4).map(|_| hub.client(&trust)).collect();
    let refused = futures::stream::iter(0..REFUSALS)
        .map(|n| {
            let mut client = clients[n % clients.len()].clone();
            let report = report.clone();
            async move {
                let answer = client
                    .submit_report(v1::SubmitReportRequest {
                        report: Some(report),
                    })
                    .await;
                answer.err().map(|s| s.code())
            }
        })
        .buffer_unordered(64)
        .filter(|code| std::future::ready(*code == Some(Code::Unauthenticated)))
        .count()
        .await;
    assert_eq!(refused, REFUSALS);
    let spilled = hub.running().metrics.audit_spilled_bytes.get();
    assert!(spilled > 0, "the overflow went to disk");
    execute(&owner, "RENAME TABLE audit_away TO audit").await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let stored = loop {
        let n = hub.unauthenticated_audits(REFUSALS as u64).await;
        if n >= REFUSALS as u64 || std::time::Instant::now() > deadline {
            break n;
        }
    };
    assert_eq!(
        stored, REFUSALS as u64,
        "every refusal is in the audit trail"
    );
    assert_eq!(hub.running().metrics.audit_dropped.get(), 0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_reports_stream_without_a_certificate_is_audited() {
    let hub = TestHub::start().await;
    let mut anonymous = hub.client(&hub.anonymous());
    let report = fixtures::sample_report(&platform(73), &last_month());
    let outbound = futures::stream::iter(vec![v1::SyncReportsRequest {
        report: Some(report),
    }]);
    let answer = anonymous.sync_reports(outbound).await;
    let code = match answer {
        Err(status) => status.code(),
        Ok(response) => {
            let mut inbound = response.into_inner();
            match inbound.next().await {
                Some(Err(status)) => status.code(),
                Some(Ok(r)) => {
                    let receipt = r.receipt.unwrap();
                    assert_ne!(receipt.outcome, Outcome::Accepted as i32);
                    Code::from(receipt.status_code)
                }
                None => panic!("the stream ended without an answer"),
            }
        }
    };
    assert_eq!(code, Code::Unauthenticated);
    assert_eq!(hub.unauthenticated_audits(1).await, 1);
    hub.stop().await;
}
