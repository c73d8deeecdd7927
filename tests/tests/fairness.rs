//! Per-platform fairness of the intake: a greedy platform — four `SyncReports` streams, each
//! with 256 copies of one report in flight — cannot take more than its share of the hub's
//! intake; ten other platforms reporting meanwhile keep getting in, with no
//! `RESOURCE_EXHAUSTED`. The same run without a share (100 %) is the control: the greedy
//! platform crowds the others out. Real hub, real ClickHouse, real TLS. The figures printed
//! here are in docs/benchmarks.md ("Fairness").

use std::time::{Duration, Instant};

use futures::StreamExt;
use sme_proto::v1;
use sme_tests::{fixtures, last_month, platform, TestHub};
use tonic::Code;

const QUEUE_CAPACITY: usize = 200;
const OTHERS: u32 = 10;
const RUN: Duration = Duration::from_secs(6);

/// What the others saw.
#[derive(Debug, Default)]
struct Outcome {
    accepted: usize,
    busy: usize,
    latencies: Vec<Duration>,
    greedy_receipts: usize,
    greedy_busy: usize,
}

async fn run(share_percent: u8) -> Outcome {
    let hub = TestHub::start_with(|c| {
        c.writer.queue_capacity = QUEUE_CAPACITY;
        c.writer.max_platform_share_percent = share_percent;
    })
    .await;
    let period = last_month();
    let greedy_id = platform(90);
    let (_g, greedy) = hub.enroll(&greedy_id).await;
    let mut others = Vec::new();
    for n in 0..OTHERS {
        let id = platform(91 + n);
        let (dir, identity) = hub.enroll(&id).await;
        others.push((id, dir, identity));
    }
    let stop = Instant::now() + RUN;

    // The greedy platform: four streams of endless copies of one report.
    let copy = v1::SyncReportsRequest {
        report: Some(fixtures::sample_report(&greedy_id, &period)),
    };
    let streams: Vec<_> = (0..4)
        .map(|_| {
            let mut client = hub.client(&greedy.trust());
            // The copies stop at the end of the run, so the stream ends and the hub can stop.
            let copies = futures::stream::iter(std::iter::repeat_n(copy.clone(), 10_000_000))
                .take_while(move |_| std::future::ready(Instant::now() < stop));
            tokio::spawn(async move {
                let (mut receipts, mut busy) = (0, 0);
                let mut inbound = client.sync_reports(copies).await.unwrap().into_inner();
                while let Some(answer) = inbound.next().await {
                    let Ok(r) = answer else { break };
                    receipts += 1;
                    let code = r.receipt.map(|r| r.status_code).unwrap_or_default();
                    busy += usize::from(code == Code::ResourceExhausted as i32);
                }
                (receipts, busy)
            })
        })
        .collect();
    // Let the greedy streams fill the intake first.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let tasks: Vec<_> = others
        .iter()
        .map(|(id, _, identity)| {
            let mut client = hub.client(&identity.trust());
            let (id, period) = (id.clone(), period.clone());
            tokio::spawn(async move {
                let mut out = Outcome::default();
                let mut revision = 0;
                while Instant::now() < stop {
                    revision += 1;
                    let mut report = fixtures::sample_report(&id, &period);
                    report.revision = revision;
                    let started = Instant::now();
                    let answer = client
                        .submit_report(v1::SubmitReportRequest {
                            report: Some(report),
                        })
                        .await;
                    match answer {
                        Ok(_) => {
                            out.accepted += 1;
                            out.latencies.push(started.elapsed());
                        }
                        Err(s) if s.code() == Code::ResourceExhausted => {
                            out.busy += 1;
                            // A retry hint is at least a second; the test retries sooner.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(s) => panic!("{id}: {s:?}"),
                    }
                }
                out
            })
        })
        .collect();
    let mut total = Outcome::default();
    for t in tasks {
        let o = t.await.unwrap();
        total.accepted += o.accepted;
        total.busy += o.busy;
        total.latencies.extend(o.latencies);
    }
    for s in streams {
        let (receipts, busy) = s.await.unwrap();
        total.greedy_receipts += receipts;
        total.greedy_busy += busy;
    }
    total.latencies.sort();
    hub.stop().await;
    total
}

fn describe(o: &Outcome) -> String {
    let pct = |p: f64| {
        o.latencies
            .get(((o.latencies.len() as f64 * p) as usize).min(o.latencies.len().max(1) - 1))
            .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            .unwrap_or_else(|| "—".into())
    };
    format!(
        "others: {} accepted, {} RESOURCE_EXHAUSTED, latency p50 {} p99 {}; greedy: {} receipts, {} RESOURCE_EXHAUSTED",
        o.accepted,
        o.busy,
        pct(0.5),
        pct(0.99),
        o.greedy_receipts,
        o.greedy_busy
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_greedy_platform_does_not_starve_the_others() {
    let without = run(100).await;
    eprintln!("fairness, no share (100 %): {}", describe(&without));
    let with = run(25).await;
    eprintln!("fairness, share 25 %: {}", describe(&with));

    assert!(
        without.busy > 0,
        "control: without a share the greedy platform crowds the others out ({})",
        describe(&without)
    );
    assert_eq!(
        with.busy,
        0,
        "with a share the others always get in ({})",
        describe(&with)
    );
    assert!(with.accepted >= OTHERS as usize, "{}", describe(&with));
    assert!(
        with.greedy_busy > 0,
        "the greedy platform is the one told to come back ({})",
        describe(&with)
    );
}
