//! Support for end-to-end tests of the agent: the real `sme-agent` binary run as a child process
//! (killed with SIGKILL, stopped with SIGTERM), its data directory and configuration, service
//! records and profiles written as the files a platform would drop, hub outages (stop and
//! restart on the same port with the same data), and ClickHouse queries that tell whether every
//! record arrived exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sme_agent::identity::Identity;
use sme_agent::store::Store as AgentStore;
use sme_hub::store::Store;
use sme_proto::period::{Period, PeriodKind, CST};
use tempfile::TempDir;
use time::{Date, OffsetDateTime};

use crate::TestHub;

// === hub outages ===

impl TestHub {
    /// Stops the hub and its ClickHouse, keeping data dir and port, as an outage.
    pub async fn go_down(&mut self) {
        let hub = self.hub.take().expect("hub running");
        hub.shutdown().await.expect("clean shutdown");
    }

    /// Starts the hub again after [`TestHub::go_down`], on the same port with the same data.
    pub async fn come_back(&mut self) {
        assert!(self.hub.is_none(), "the hub is still running");
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("hub url has a port");
        self.config.grpc.listen = format!("127.0.0.1:{port}").parse().unwrap();
        // The port was just released; retry briefly in case the kernel is slow to let go.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match sme_hub::server::start(&self.config).await {
                Ok(hub) => {
                    self.hub = Some(hub);
                    return;
                }
                Err(e) if Instant::now() < deadline => {
                    eprintln!("hub restart failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("hub restart: {e}"),
            }
        }
    }
}

// === TestAgent ===

/// An enrolled agent: its data directory and a configuration file for the real binary.
pub struct TestAgent {
    /// The data directory (identity, agent.db, inbox …).
    pub dir: TempDir,
    /// Platform id.
    pub platform_id: String,
    /// Identity as enrolled.
    pub identity: Identity,
    /// `agent.toml` inside the data dir.
    pub config_path: PathBuf,
}

/// The configuration the tests run the agent with: quick inbox, quick retries, no start offset,
/// a cron that does not fire during a test. `extra` is appended (more sections).
pub fn agent_toml(data_dir: &Path, hub_url: &str, extra: &str) -> String {
    format!(
        "data_dir = {data_dir:?}\n\
         [hub]\nurl = {hub_url:?}\n\
         [schedule]\ncron = \"0 0 0 1 1 *\"\nmax_start_offset_secs = 0\nrun_at_start = true\nsend_after_import = true\n\
         [inbox]\npoll_secs = 1\n\
         [delivery]\nbackoff_base_secs = 1\nbackoff_max_secs = 2\nreceipt_timeout_secs = 30\n\
         {extra}",
        data_dir = data_dir.display().to_string(),
    )
}

impl TestAgent {
    /// Enrols `platform_id` with `hub` (real `Enroll`) and writes the test configuration with
    /// `[delivery]` additions in `delivery_extra` (e.g. `"batch_size = 2\n"`).
    pub async fn enroll(hub: &TestHub, platform_id: &str, delivery_extra: &str) -> TestAgent {
        let (dir, identity) = hub.enroll(platform_id).await;
        let config_path = dir.path().join("agent.toml");
        std::fs::write(
            &config_path,
            agent_toml(dir.path(), &hub.url, delivery_extra),
        )
        .unwrap();
        TestAgent {
            dir,
            platform_id: platform_id.to_owned(),
            identity,
            config_path,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The inbox folder (created if missing).
    pub fn inbox(&self) -> PathBuf {
        let p = self.dir.path().join("inbox");
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Writes `bytes` into the inbox as `name`, dated a minute ago so it counts as settled.
    pub fn drop_file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let tmp = self.inbox().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes).unwrap();
        let f = std::fs::File::options().write(true).open(&tmp).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        drop(f);
        let path = self.inbox().join(name);
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// A connection to the agent's SQLite store (safe beside a running agent: WAL).
    pub fn store(&self) -> AgentStore {
        AgentStore::open(self.dir.path().join("agent.db")).expect("agent store opens")
    }

    /// `sme-agent --config <config> run` in the background; its stderr goes to a log file.
    pub fn spawn(&self) -> AgentProcess {
        let log = self.dir.path().join(format!(
            "agent-{}.log",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = Command::new(crate::binary("sme-agent"))
            .arg("--config")
            .arg(&self.config_path)
            .arg("run")
            .env("RUST_LOG", "sme_agent=debug,info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("sme-agent starts");
        AgentProcess { child, log }
    }

    /// Runs `sme-agent --config <config> ARGS…` to completion.
    pub fn command(&self, args: &[&str]) -> Output {
        Command::new(crate::binary("sme-agent"))
            .arg("--config")
            .arg(&self.config_path)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("sme-agent runs")
    }

    /// `sme-agent status --json`.
    pub fn status(&self) -> serde_json::Value {
        let out = self.command(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "status --json is not JSON ({e}): {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Whether the agent has nothing left to do: inbox empty, outbox drained, every period
    /// that can be sent built.
    pub fn is_settled(&self) -> bool {
        let inbox_empty = std::fs::read_dir(self.inbox())
            .map(|d| d.count() == 0)
            .unwrap_or(false);
        if !inbox_empty {
            return false;
        }
        let store = self.store();
        let now = OffsetDateTime::now_utc();
        store.queue_depth().unwrap() == 0
            && store
                .dirty_periods()
                .unwrap()
                .iter()
                .all(|p| !p.period.has_ended(now))
    }
}

/// A running `sme-agent run`. Dropping it kills it.
pub struct AgentProcess {
    child: Child,
    /// Its log (stderr).
    pub log: PathBuf,
}

impl AgentProcess {
    /// Process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and reap.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, and wait (up to 60 s) for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sme-agent did not stop within 60 s of SIGTERM; log: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `done` every 100 ms until it holds or `timeout` passes; panics with `what` then.
pub async fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A small deterministic random number generator (xorshift64*), seeded and printed by tests so
/// a failing run can be replayed.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A seed from the clock.
    pub fn seed_from_time() -> u64 {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `[lo, hi)`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo).max(1)
    }
}

// === files a platform drops ===

/// One service record as the tests write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    /// Record id.
    pub id: String,
    /// Date of service.
    pub date: Date,
    /// Function 1–7.
    pub function: u8,
    /// Index of the enterprise (a valid credit code is made from it).
    pub enterprise: u32,
    /// Fee in fen.
    pub fee_fen: i64,
}

/// The clear credit code of test enterprise `n` (valid, registered in Fuzhou).
pub fn enterprise_code(n: u32) -> String {
    sme_proto::credit_code::make_valid(&format!("9135010000{n:07}"))
}

/// `count` records with ids `<prefix>-<i>`, spread over the days of `period` up to yesterday
/// and over the seven functions.
pub fn records(prefix: &str, period: &Period, count: usize) -> Vec<TestRecord> {
    let today = OffsetDateTime::now_utc().to_offset(CST).date();
    let last = period.last_day().min(today.previous_day().unwrap());
    let days = (last - period.first_day()).whole_days().max(0) + 1;
    (0..count)
        .map(|i| TestRecord {
            id: format!("{prefix}-{i:05}"),
            date: period.first_day() + time::Duration::days(i as i64 % days),
            function: (i % 7) as u8 + 1,
            enterprise: (i % 23) as u32,
            fee_fen: if i % 3 == 0 { 0 } else { 1_000 + i as i64 },
        })
        .collect()
}

/// A UTF-8 CSV (with BOM, as Excel writes "CSV UTF-8") with Chinese headers.
pub fn records_csv(rows: &[TestRecord]) -> Vec<u8> {
    let mut s = String::from(
        "\u{feff}记录编号,服务日期,服务功能,企业信用代码,企业规模,行业门类,企业所在地区,收费金额（分）,是否免费,满意度,服务人次\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},小型,C,350102,{},{},{},{}",
            r.id,
            r.date,
            r.function,
            enterprise_code(r.enterprise),
            r.fee_fen,
            if r.fee_fen == 0 { "是" } else { "否" },
            (r.enterprise % 5) + 1,
            if r.function == 7 { 12 } else { 0 }
        );
    }
    s.into_bytes()
}

/// A profile (JSON) for `period` with every section its kind requires, meeting the basic
/// conditions.
pub fn profile_json(period: &Period) -> Vec<u8> {
    let mut p = serde_json::json!({
        "period": period.to_string(),
        "startups_counselled": 4,
        "registrations_assisted": 1,
    });
    let obj = p.as_object_mut().unwrap();
    if period.kind() != PeriodKind::Month {
        for (k, v) in [
            ("total_staff", 30),
            ("professional_staff", 20),
            ("professional_with_college_degree", 16),
            ("professional_with_degree_or_mid_title", 18),
            ("senior_title_staff", 4),
            ("staff_trained", 10),
            ("total_revenue_fen", 500_000_000),
            ("service_revenue_fen", 400_000_000),
            ("public_funding_fen", 50_000_000),
            ("total_assets_fen", 800_000_000),
        ] {
            obj.insert(k.into(), v.into());
        }
        for k in [
            "disclose_content",
            "disclose_process",
            "disclose_standards",
            "disclose_fees",
            "disclose_time",
        ] {
            obj.insert(k.into(), true.into());
        }
    }
    if period.kind() == PeriodKind::Year {
        for (k, v) in [
            ("floor_area_m2", 800),
            ("equipment_count", 12),
            ("equipment_value_fen", 90_000_000),
            ("shared_equipment_hours", 300),
            ("partner_universities", 2),
            ("partner_research_institutes", 1),
            ("partner_associations", 3),
            ("partner_service_agencies", 2),
        ] {
            obj.insert(k.into(), v.into());
        }
    }
    serde_json::to_vec_pretty(&p).unwrap()
}

/// The last two months that have ended (UTC+8), older first.
pub fn recent_months() -> (Period, Period) {
    let now = OffsetDateTime::now_utc();
    let m1 = Period::containing(PeriodKind::Month, now)
        .unwrap()
        .previous()
        .unwrap();
    (m1.previous().unwrap(), m1)
}

/// The months, quarters and years containing the records' dates that have ended by now: the
/// periods whose reports the agent sends.
pub fn sendable_periods(records: &[TestRecord]) -> BTreeSet<Period> {
    let now = OffsetDateTime::now_utc();
    records
        .iter()
        .flat_map(|r| {
            [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year]
                .map(|k| Period::containing_date(k, r.date).unwrap())
        })
        .filter(|p| p.has_ended(now))
        .collect()
}

/// Record ids per sendable period.
pub fn expected_ids(records: &[TestRecord]) -> BTreeMap<Period, BTreeSet<String>> {
    let mut out: BTreeMap<Period, BTreeSet<String>> = BTreeMap::new();
    for p in sendable_periods(records) {
        out.insert(
            p,
            records
                .iter()
                .filter(|r| p.contains(r.date))
                .map(|r| r.id.clone())
                .collect(),
        );
    }
    out
}

// === what ClickHouse holds ===

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct IdCount {
    id: String,
    n: u64,
}

/// Record ids (with how many rows each has) of the current report of (platform, period), read
/// without `FINAL`, so a doubled row shows as a count of 2.
pub async fn current_record_counts(
    store: &Store,
    platform_id: &str,
    period: &str,
) -> BTreeMap<String, u64> {
    store
        .client()
        .query(
            "SELECT record_id AS id, count() AS n FROM service_records
             WHERE platform_id = ? AND period = ? AND report_id IN (
                 SELECT report_id FROM current_reports WHERE platform_id = ? AND period = ?)
             GROUP BY record_id",
        )
        .bind(platform_id)
        .bind(period)
        .bind(platform_id)
        .bind(period)
        .fetch_all::<IdCount>()
        .await
        .expect("query service_records")
        .into_iter()
        .map(|r| (r.id, r.n))
        .collect()
}

/// How many rows each report of `platform_id` has in `reports` (1 each when nothing doubled).
pub async fn report_copies(store: &Store, platform_id: &str) -> BTreeMap<String, u64> {
    store
        .client()
        .query(
            "SELECT toString(report_id) AS id, count() AS n FROM reports
             WHERE platform_id = ? GROUP BY report_id",
        )
        .bind(platform_id)
        .fetch_all::<IdCount>()
        .await
        .expect("query reports")
        .into_iter()
        .map(|r| (r.id, r.n))
        .collect()
}

/// How many submissions of `report_id` the hub's audit trail holds.
pub async fn audit_submissions(store: &Store, report_id: &str) -> u64 {
    store
        .client()
        .query("SELECT count() FROM audit WHERE report_id = ?")
        .bind(report_id)
        .fetch_one::<u64>()
        .await
        .expect("query audit")
}

/// Asserts that for every period the current report in ClickHouse holds exactly the expected
/// record ids, each once, that the hub's service volumes count them, and that no report of the
/// platform was stored twice.
#[track_caller]
pub fn assert_exactly_once(
    expected: &BTreeMap<Period, BTreeSet<String>>,
    got: &BTreeMap<Period, BTreeMap<String, u64>>,
    volumes: &BTreeMap<Period, u64>,
    copies: &BTreeMap<String, u64>,
) {
    for (period, ids) in expected {
        let stored = got.get(period).cloned().unwrap_or_default();
        let missing: Vec<_> = ids.iter().filter(|id| !stored.contains_key(*id)).collect();
        let extra: Vec<_> = stored.keys().filter(|id| !ids.contains(*id)).collect();
        let doubled: Vec<_> = stored.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            missing.is_empty() && extra.is_empty() && doubled.is_empty(),
            "{period}: {} expected, {} stored; missing {missing:?}, unexpected {extra:?}, \
             doubled {doubled:?}",
            ids.len(),
            stored.len()
        );
        assert_eq!(
            volumes.get(period).copied().unwrap_or_default(),
            ids.len() as u64,
            "{period}: services in the hub's volume rows"
        );
    }
    let doubled: Vec<_> = copies.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        doubled.is_empty(),
        "reports stored more than once: {doubled:?}"
    );
}

/// Collects what [`assert_exactly_once`] compares, for `periods`.
pub async fn stored_state(
    store: &Store,
    platform_id: &str,
    periods: impl IntoIterator<Item = &Period>,
) -> (
    BTreeMap<Period, BTreeMap<String, u64>>,
    BTreeMap<Period, u64>,
    BTreeMap<String, u64>,
) {
    let mut got = BTreeMap::new();
    let mut volumes = BTreeMap::new();
    for p in periods {
        let code = p.to_string();
        got.insert(*p, current_record_counts(store, platform_id, &code).await);
        let totals = store
            .volume_totals(platform_id, &code)
            .await
            .expect("volume totals");
        volumes.insert(*p, totals.iter().map(|t| t.1).sum());
    }
    (got, volumes, report_copies(store, platform_id).await)
}
