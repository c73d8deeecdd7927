//! The real `sme-agent` binary is killed with SIGKILL at random points — while the inbox is
//! being imported, while reports wait for the hub's answer, and during `sme-agent import` of a
//! large file — and restarted. In the end every record is in ClickHouse exactly once.
//!
//! The kill times come from a seed printed at the start; `SME_TEST_SEED=<seed>` replays them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sme_agent::store::OutboxState;
use sme_tests::agent::{
    assert_exactly_once, expected_ids, profile_json, recent_months, records, records_csv,
    sendable_periods, stored_state, wait_until, Rng, TestAgent,
};
use sme_tests::{binary, platform, TestHub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_import_and_delivery_loses_and_doubles_nothing() {
    let seed = std::env::var("SME_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(Rng::seed_from_time);
    println!("kill times from seed {seed} (SME_TEST_SEED={seed} replays them)");
    let mut rng = Rng::new(seed);

    let hub = TestHub::start().await;
    let agent = TestAgent::enroll(&hub, &platform(302), "batch_size = 3\n").await;
    let (m2, m1) = recent_months();

    // Round 1: before every start two more record files (and the profiles) land in the inbox;
    // the agent takes them in at start, builds and sends, and is killed at a random point of
    // that, eight times over.
    let store = agent.store();
    let state = |what: &str, at: u64| {
        let c = store.outbox_counts().unwrap();
        println!(
            "{what} killed at {at} ms: {} records, {} files left in the inbox, outbox {c:?}",
            store.record_count().unwrap(),
            std::fs::read_dir(agent.inbox()).unwrap().count()
        );
    };
    let mut all = Vec::new();
    let mut profiles_dropped = false;
    for round in 0..8 {
        for f in [2 * round, 2 * round + 1] {
            let period = if f % 2 == 0 { &m2 } else { &m1 };
            let rows = records(&format!("R{f:02}"), period, 150);
            agent.drop_file(&format!("records-{f:02}.csv"), &records_csv(&rows));
            all.extend(rows);
        }
        if !profiles_dropped {
            for p in &sendable_periods(&all) {
                agent.drop_file(&format!("profile-{p}.json"), &profile_json(p));
            }
            profiles_dropped = true;
        }
        let process = agent.spawn();
        let at = rng.range(20, 600);
        tokio::time::sleep(Duration::from_millis(at)).await;
        process.kill();
        state("run", at);
    }

    // Round 2: late records make new revisions, and the agent is killed during their delivery:
    // just after they are queued (before the hub answers), as soon as the hub has stored one
    // (its receipt not yet recorded here), or at a random point of the whole run.
    for round in 0..6 {
        let period = if round % 2 == 0 { &m2 } else { &m1 };
        let rows = records(&format!("LATE{round}"), period, 10);
        let late = agent.drop_file(&format!("late-{round}.csv"), &records_csv(&rows));
        all.extend(rows);
        let before = store.outbox_counts().unwrap();
        let process = agent.spawn();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (what, at) = match round % 3 {
            0 => {
                while Instant::now() < deadline {
                    let now = store.outbox_counts().unwrap();
                    if !late.exists() && now.pending > 0 && now != before {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let at = rng.range(0, 30);
                tokio::time::sleep(Duration::from_millis(at)).await;
                ("run, a new revision queued,", at)
            }
            1 => {
                let started = Instant::now();
                'stored: while Instant::now() < deadline {
                    let pending = store.outbox_by_state(OutboxState::Pending, 10).unwrap();
                    if pending.is_empty()
                        && !late.exists()
                        && store.outbox_counts().unwrap() != before
                    {
                        break; // already delivered: kill after delivery then
                    }
                    for item in pending {
                        let id = uuid::Uuid::parse_str(&item.report_id).unwrap();
                        if hub.store().find_receipt(id).await.unwrap().is_some() {
                            break 'stored;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (
                    "run, the hub holding a queued report,",
                    started.elapsed().as_millis() as u64,
                )
            }
            _ => {
                let at = rng.range(0, 1500);
                tokio::time::sleep(Duration::from_millis(at)).await;
                ("run", at)
            }
        };
        process.kill();
        state(what, at);
    }

    // Round 3: `sme-agent import` of a large file, killed part-way, then run to its end.
    let big: Vec<_> = records("BIG-A", &m2, 600)
        .into_iter()
        .chain(records("BIG-B", &m1, 600))
        .collect();
    let big_file = agent.data_dir().join("big.csv");
    std::fs::write(&big_file, records_csv(&big)).unwrap();
    all.extend(big);
    let import = || {
        let mut c = Command::new(binary("sme-agent"));
        c.arg("--config")
            .arg(&agent.config_path)
            .arg("import")
            .arg(&big_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    };
    for _ in 0..4 {
        let mut child = import().spawn().unwrap();
        let at = rng.range(0, 1500);
        tokio::time::sleep(Duration::from_millis(at)).await;
        let _ = child.kill();
        let _ = child.wait();
        state("import", at);
    }
    let out = import().output().unwrap();
    assert!(
        out.status.success(),
        "import: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Finally the agent runs undisturbed until everything is sent, and stops on SIGTERM.
    let process = agent.spawn();
    wait_until(Duration::from_secs(120), "everything delivered", || {
        agent.is_settled()
    })
    .await;
    println!("agent log:\n{}", process.log_text());
    let exit = process.terminate();
    assert!(exit.success(), "sme-agent exits cleanly on SIGTERM: {exit}");

    assert_eq!(store.record_count().unwrap(), all.len() as u64);
    let counts = store.outbox_counts().unwrap();
    assert_eq!((counts.pending, counts.rejected), (0, 0), "{counts:?}");
    assert!(store.blocked().unwrap().is_empty());
    let expected = expected_ids(&all);
    let (got, volumes, copies) =
        stored_state(hub.store(), &agent.platform_id, expected.keys()).await;
    assert_exactly_once(&expected, &got, &volumes, &copies);
    hub.stop().await;
}
