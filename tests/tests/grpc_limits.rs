//! The hub against callers without a certificate and against too many connections: an
//! anonymous flood of large report RPCs is refused from its headers — the hub's memory does not
//! grow with it and a platform's reports keep getting in — and the listener's limits close
//! what is over them. A real `sme-hub serve` process (its memory read from `/proc`), real TLS,
//! real ClickHouse.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sme_agent::connect::{self, HubAddress, Trust};
use sme_hub::store::{EmbeddedClickHouse, Store};
use sme_proto::v1::{self, reporting_service_client::ReportingServiceClient};
use sme_tests::hubs::{self, HubProcess};
use sme_tests::{fixtures, http_get, last_month, platform};
use tokio::io::AsyncReadExt;

async fn enroll(hub: &HubProcess, store: &Store, id: &str) -> (tempfile::TempDir, Trust) {
    let (dir, identity) = hub.enroll(store, id).await;
    (dir, identity.trust())
}

fn client(hub: &HubProcess, trust: &Trust) -> ReportingServiceClient<tonic::transport::Channel> {
    let address = HubAddress::parse(&hub.url).unwrap();
    ReportingServiceClient::new(connect::channel(&address, trust).unwrap())
        .max_decoding_message_size(64 << 20)
}

/// `sme_hub_grpc_refused_total{reason="<reason>"}` of the hub.
async fn refused(hub: &HubProcess, reason: &str) -> u64 {
    let (_, body) = http_get(&format!("{}/metrics", hub.http_url)).await;
    let key = format!("sme_hub_grpc_refused_total{{reason=\"{reason}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// A `sme-hub serve` process with `grpc` keys in `[grpc]`, on its own ClickHouse, and a store
/// on that ClickHouse; the temp dir holds both.
async fn start(grpc: &str) -> (tempfile::TempDir, EmbeddedClickHouse, HubProcess, Store) {
    let work = tempfile::tempdir().unwrap();
    let ch = EmbeddedClickHouse::start(&work.path().join("clickhouse"))
        .await
        .unwrap();
    let hub = HubProcess::with_clickhouse(
        &work.path().join("hub"),
        &ch,
        grpc,
        "[registry]\ncache_seconds = 0\n",
    );
    let store = hubs::store(&ch).await;
    (work, ch, hub, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_flood_neither_raises_the_hubs_memory_nor_delays_a_platform() {
    let (_work, ch, hub, store) = start("").await;
    let id = platform(81);
    let (_agent, trust) = enroll(&hub, &store, &id).await;
    let mut platform_client = client(&hub, &trust);
    let period = last_month();
    let mut revision = 0;
    let mut send = || {
        revision += 1;
        let mut report = fixtures::sample_report(&id, &period);
        report.revision = revision;
        v1::SubmitReportRequest {
            report: Some(report),
        }
    };
    for _ in 0..3 {
        platform_client.submit_report(send()).await.unwrap();
    }
    let (rss_before, peak_before) = hub.memory_kib();

    // 40 anonymous connections, each sending 6 MiB reports (under the 2 × 4 MiB the hub would
    // decode for an authenticated caller) as fast as they are refused, for 10 s.
    let anonymous = Trust::Anonymous {
        ca: hub.ca().cert_der().clone(),
    };
    let mut padded = fixtures::sample_report(&platform(82), &period);
    padded.agent_version = "x".repeat(6 << 20);
    let padded = Arc::new(padded);
    let stop = Instant::now() + Duration::from_secs(10);
    let flood: Vec<_> = (0..40)
        .map(|_| {
            let mut c = client(&hub, &anonymous);
            let padded = padded.clone();
            tokio::spawn(async move {
                let (mut sent, mut accepted) = (0u64, 0u64);
                while Instant::now() < stop {
                    let answer = c
                        .submit_report(v1::SubmitReportRequest {
                            report: Some((*padded).clone()),
                        })
                        .await;
                    sent += 1;
                    accepted += u64::from(answer.is_ok());
                }
                (sent, accepted)
            })
        })
        .collect();

    // Meanwhile the platform keeps reporting.
    let mut latencies = Vec::new();
    while Instant::now() < stop {
        let started = Instant::now();
        let receipt = platform_client
            .submit_report(send())
            .await
            .expect("the platform's report is taken during the flood")
            .into_inner()
            .receipt
            .unwrap();
        assert_eq!(receipt.outcome, v1::Outcome::Accepted as i32);
        latencies.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut sent, mut accepted) = (0, 0);
    for task in flood {
        let (s, a) = task.await.unwrap();
        sent += s;
        accepted += a;
    }
    let (rss_after, peak_after) = hub.memory_kib();
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let max = *latencies.last().unwrap();
    eprintln!(
        "anonymous flood: {sent} calls of 6 MiB refused; hub RSS {} → {} MiB, peak {} → {} MiB; \
         platform: {} reports, median {median:?}, max {max:?}",
        rss_before / 1024,
        rss_after / 1024,
        peak_before / 1024,
        peak_after / 1024,
        latencies.len()
    );
    assert_eq!(accepted, 0, "no anonymous report is taken");
    assert!(sent >= 40, "the flood ran ({sent} calls)");
    assert!(
        refused(&hub, "unauthenticated").await >= 40,
        "the gate refused them"
    );
    // Decoding them would have held up to 40 × 12 MiB (body and message).
    assert!(
        peak_after.saturating_sub(peak_before) < 128 * 1024,
        "the flood raised the hub's peak memory from {peak_before} to {peak_after} KiB"
    );
    assert!(
        max < Duration::from_secs(10),
        "a platform's report waited {max:?} during the flood"
    );
    hub.stop();
    ch.stop().await;
}

/// A TLS client trusting the hub's CA and presenting no certificate.
fn anonymous_tls(hub: &HubProcess) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(hub.ca().cert_der().clone()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(sme_hub::pki::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Reads until the server closes the connection (EOF or error); false if it stays open for
/// `within`.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_closes_connections_over_its_limits() {
    let (_work, ch, hub, store) = start(
        "max_connections = 6\nmax_anonymous_connections = 2\nanonymous_connection_seconds = 3\n",
    )
    .await;
    let addr = hub.url.strip_prefix("https://").unwrap().to_owned();
    let tls = anonymous_tls(&hub);
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();

    // Two anonymous connections get in; the third is closed after its handshake.
    let mut held = Vec::new();
    for _ in 0..2 {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        held.push(tls.connect(name.clone(), tcp).await.unwrap());
    }
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut third = tls.connect(name.clone(), tcp).await.unwrap();
    assert!(closed_within(&mut third, Duration::from_secs(30)).await);
    assert_eq!(refused(&hub, "anonymous_connections").await, 1);

    // Connections without a certificate live at most anonymous_connection_seconds.
    for conn in &mut held {
        assert!(
            closed_within(conn, Duration::from_secs(60)).await,
            "an idle anonymous connection stayed open"
        );
    }
    drop(held);

    // Six TCP connections that never start TLS take every place: the seventh is closed
    // before any TLS work, counted.
    let mut idle = Vec::new();
    for _ in 0..6 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let before = refused(&hub, "connections").await;
    let mut seventh = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut seventh, Duration::from_secs(30)).await);
    assert_eq!(refused(&hub, "connections").await, before + 1);
    drop(idle);

    // Once they are gone, a platform's agent gets in as usual.
    let id = platform(83);
    let (_agent, trust) = enroll(&hub, &store, &id).await;
    let receipt = client(&hub, &trust)
        .submit_report(v1::SubmitReportRequest {
            report: Some(fixtures::sample_report(&id, &last_month())),
        })
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap();
    assert_eq!(receipt.outcome, v1::Outcome::Accepted as i32);
    hub.stop();
    ch.stop().await;
}
