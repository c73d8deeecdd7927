//! National scale: 30 000 simulated agents (platforms), each with its own client certificate,
//! report in one window to one hub over mutual TLS. Every accepted report must be in ClickHouse
//! exactly once, exactly the invalid ones rejected, every submission audited, and the hub's
//! memory bounded by its intake, which the run deliberately overfills (concurrency above
//! `queue_capacity`), so agents are told RESOURCE_EXHAUSTED and come back.
//!
//! `SME_SCALE_AGENTS` sets the number of agents (default 30 000, the figure). On the
//! 2-core reference machine the full run takes a few minutes in the debug build; see
//! docs/benchmarks.md for the measured figure.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sme_tests::load::{self, LoadConfig};
use sme_tests::{rss_bytes, TestHub};

const QUEUE_CAPACITY: usize = 200;
const CONCURRENCY: usize = 400;

fn agents() -> usize {
    std::env::var("SME_SCALE_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_thousand_agents_report_in_one_window_without_loss() {
    let n = agents();
    // Platforms are registered after the hub started: a short registry TTL lets the hub's
    // copy reload once with all of them before the agents send (see sme-bench-ingest).
    let hub = TestHub::start_with(|c| {
        c.writer.queue_capacity = QUEUE_CAPACITY;
        c.registry.cache_seconds = 2;
    })
    .await;
    let cfg = LoadConfig {
        agents: n,
        concurrency: CONCURRENCY,
        invalid_rate: 0.05,
        retry_cap: Duration::from_millis(500),
        ..LoadConfig::default()
    };
    let prepared = Instant::now();
    let agents = load::prepare_agents(&hub.config.ca_dir(), &cfg)
        .await
        .expect("agents prepared");
    load::register(hub.store(), &agents)
        .await
        .expect("platforms registered");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let expected_reports: usize = agents.iter().map(|a| a.reports.len()).sum();
    let expected_invalid = agents
        .iter()
        .flat_map(|a| &a.reports)
        .filter(|p| p.expect != load::Expect::Accept)
        .count();
    eprintln!(
        "prepared {n} agents, {expected_reports} reports ({expected_invalid} invalid) in {:.1} s",
        prepared.elapsed().as_secs_f64()
    );

    // Sample memory and the intake gauge while the agents send.
    let metrics = hub.running().metrics.clone();
    let rss_before = rss_bytes();
    let done = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(rss_before));
    let peak_queue = Arc::new(AtomicI64::new(0));
    let sampler = {
        let (done, peak_rss, peak_queue, metrics) = (
            done.clone(),
            peak_rss.clone(),
            peak_queue.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                peak_rss.fetch_max(rss_bytes(), Ordering::SeqCst);
                peak_queue.fetch_max(metrics.queue_reports.get(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let report = load::run(&hub.url, agents, &cfg).await;
    done.store(true, Ordering::SeqCst);
    sampler.await.unwrap();
    eprint!("{}", report.summary());
    if std::env::var_os("SME_SCALE_METRICS").is_some() {
        for line in metrics.render().lines() {
            if line.contains("_sum") || line.contains("_count") || line.contains("_total") {
                eprintln!("  {line}");
            }
        }
    }

    let v = load::verify(hub.store(), &report, &cfg)
        .await
        .expect("verification queries");
    eprintln!(
        "ClickHouse: {} report rows, {} volume rows, {} record rows, {} audit rows",
        v.reports_rows, v.volume_rows, v.record_rows, v.audit_rows
    );
    assert!(v.is_ok(), "verification failed:\n{}", v.problems.join("\n"));
    assert_eq!(report.sent.len(), expected_reports);
    let rejected = report.sent.iter().filter(|s| s.outcome.is_err()).count();
    assert_eq!(rejected, expected_invalid, "{:#?}", report.outcomes());
    assert_eq!(
        v.reports_rows as usize,
        expected_reports - expected_invalid,
        "every valid report stored once"
    );

    // Memory: the intake never held more than its capacity, and the process grew by far less
    // than the reports it received (tens of KB each) would take if they were held.
    let peak_queue = peak_queue.load(Ordering::SeqCst);
    let grown = peak_rss.load(Ordering::SeqCst).saturating_sub(rss_before);
    let busy: u32 = report.sent.iter().map(|s| s.busy).sum();
    eprintln!(
        "intake peak {peak_queue} of {QUEUE_CAPACITY} reports; {busy} RESOURCE_EXHAUSTED answers; \
         RSS {} MiB before, grew by at most {} MiB",
        rss_before >> 20,
        grown >> 20
    );
    assert!(peak_queue as usize <= QUEUE_CAPACITY);
    assert!(
        grown < 768 << 20,
        "RSS grew by {} MiB during the run",
        grown >> 20
    );
    assert_eq!(metrics.queue_reports.get(), 0, "intake drained");
    hub.stop().await;
}
