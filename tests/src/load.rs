//! Load generation: many simulated agents, each with its own client certificate, sending
//! realistic reports to a hub over mutual TLS, then checking what ClickHouse holds.
//!
//! Used by `sme-loadgen` (a command), `sme-bench-ingest` (the benchmark) and the scale test.
//!
//! Every simulated platform `i` gets a valid credit code in one of [`REGIONS`], a certificate
//! signed directly with the hub's CA key (what `Enroll` would issue, without 30 000 token files),
//! and one report of the last month; every third also reports the last quarter. Reports start
//! from [`fixtures::sample_report`] (all seven functions, service records dated inside the
//! period) and vary in size: a third carry no records (volumes only), a third the 42 sample
//! records, a third twice as many. A configurable share is made invalid, each with one
//! specific hard rule, so the verification knows exactly which reports the hub must reject.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sme_agent::connect::{self, HubAddress, Trust};
use sme_hub::pki::CertificateAuthority;
use sme_hub::store::{AcceptedReport, Store};
use sme_proto::period::{Period, PeriodKind};
use sme_proto::v1::{self, reporting_service_client::ReportingServiceClient};
use tonic::Code;

pub use sme_proto::fixtures;

/// Region codes the simulated platforms are registered in (one per province-level division
/// sample), so per-region sums are meaningful.
pub const REGIONS: &[&str] = &[
    "110108", "120101", "130102", "140105", "150102", "210202", "220102", "230103", "310115",
    "320508", "330106", "340104", "350203", "360102", "370202", "410105", "420106", "430104",
    "440305", "450103", "460106", "500103", "510107", "520102", "530102", "610113", "620102",
    "630104", "640104", "650102",
];

/// Hard rules the generator breaks, in rotation.
pub const INVALID_RULES: &[&str] = &["E008", "E011", "E007", "E013", "E009"];

/// What to simulate.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Simulated agents (platforms).
    pub agents: usize,
    /// Agents sending at the same time.
    pub concurrency: usize,
    /// Share of reports made invalid (0.0 ..= 1.0).
    pub invalid_rate: f64,
    /// First platform number; runs against one hub use disjoint ranges.
    pub first_platform: u32,
    /// Attempts per report before giving up on retryable answers.
    pub max_attempts: u32,
    /// Longest the generator honours a retry hint (a real agent waits the full hint).
    pub retry_cap: Duration,
    /// Tag written into every report's `agent_version`, to find the run's rows.
    pub tag: String,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            agents: 1_000,
            concurrency: 200,
            invalid_rate: 0.05,
            first_platform: 1,
            max_attempts: 100,
            retry_cap: Duration::from_secs(2),
            tag: format!("sme-loadgen/{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

/// What the hub must do with a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Accept,
    Reject(&'static str),
}

/// One report to send.
#[derive(Debug, Clone)]
pub struct Planned {
    pub report: v1::Report,
    pub expect: Expect,
}

impl Planned {
    /// Rows the report makes in ClickHouse: reports, volumes, records.
    pub fn rows(&self) -> (usize, usize, usize) {
        (
            1,
            self.report.volumes.len(),
            self.report.service_records.len(),
        )
    }
}

/// One simulated agent.
#[derive(Clone)]
pub struct SimAgent {
    pub platform_id: String,
    pub trust: Trust,
    pub reports: Vec<Planned>,
}

/// A valid credit code for simulated platform `n`, in region `REGIONS[n % len]`.
pub fn sim_platform(n: u32) -> String {
    let region = REGIONS[n as usize % REGIONS.len()];
    sme_proto::credit_code::make_valid(&format!("91{region}{n:09}"))
}

/// The last month and the last quarter that have ended (UTC+8).
pub fn recent_periods() -> (Period, Period) {
    let now = time::OffsetDateTime::now_utc();
    let month = Period::containing(PeriodKind::Month, now)
        .expect("now is a valid time")
        .previous()
        .expect("has a previous month");
    let quarter = Period::containing(PeriodKind::Quarter, now)
        .expect("now is a valid time")
        .previous()
        .expect("has a previous quarter");
    (month, quarter)
}

/// The reports of simulated platform `n` (deterministic in `n`, except the report ids).
pub fn plan_reports(n: u32, cfg: &LoadConfig, month: &Period, quarter: &Period) -> Vec<Planned> {
    let platform_id = sim_platform(n);
    let mut periods = vec![month.to_string()];
    if n.is_multiple_of(3) {
        periods.push(quarter.to_string());
    }
    periods
        .into_iter()
        .enumerate()
        .map(|(j, period)| {
            let mut report = fixtures::sample_report(&platform_id, &period);
            report.agent_version = cfg.tag.clone();
            match (n as usize + j) % 3 {
                0 => report.service_records.clear(),
                1 => {}
                _ => {
                    let extra: Vec<_> = report
                        .service_records
                        .iter()
                        .map(|r| {
                            let mut r = r.clone();
                            r.record_id = format!("{}-b", r.record_id);
                            r.enterprise = fixtures::sample_enterprise(1000 + n % 97);
                            r
                        })
                        .collect();
                    report.service_records.extend(extra);
                    fixtures::recompute_volumes(&mut report);
                }
            }
            if let Some(s) = report.satisfaction.as_mut() {
                s.very_satisfied += u64::from(n % 17);
                s.responses += u64::from(n % 17);
            }
            // Invalid reports are spread evenly: report k of the run is invalid when the
            // running share crosses a multiple of 1/invalid_rate.
            let k = u64::from(n) * 2 + j as u64;
            let invalid = cfg.invalid_rate > 0.0
                && ((k + 1) as f64 * cfg.invalid_rate).floor()
                    > (k as f64 * cfg.invalid_rate).floor();
            let expect = if invalid {
                let rule = INVALID_RULES[(k as usize / 7) % INVALID_RULES.len()];
                break_rule(&mut report, rule);
                Expect::Reject(rule)
            } else {
                Expect::Accept
            };
            Planned { report, expect }
        })
        .collect()
}

/// Makes `report` violate `rule` (and possibly others that follow from it).
fn break_rule(report: &mut v1::Report, rule: &str) {
    match rule {
        "E008" => {
            report
                .satisfaction
                .as_mut()
                .expect("sample has satisfaction")
                .responses += 1
        }
        "E011" => {
            if report.service_records.is_empty() {
                report.service_records = fixtures::sample_records(
                    &report.period.parse().expect("planned periods are valid"),
                );
            }
            report.service_records[0].date = "2001-01-01".into();
        }
        "E007" => {
            let v = &mut report.volumes[0];
            v.enterprises_served = v.services + 1;
        }
        "E013" => report.form_version = "99".into(),
        "E009" => {
            let dup = report.volumes[0];
            report.volumes.push(dup);
        }
        other => panic!("no mutation for {other}"),
    }
}

/// Builds the agents: plans their reports and signs a client certificate for each with the
/// CA in `ca_dir` (in parallel on blocking threads).
pub async fn prepare_agents(ca_dir: &Path, cfg: &LoadConfig) -> anyhow::Result<Vec<SimAgent>> {
    let ca = Arc::new(CertificateAuthority::load(ca_dir)?);
    let (month, quarter) = recent_periods();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = cfg.agents.div_ceil(threads).max(1);
    let mut tasks = Vec::new();
    for chunk_start in (0..cfg.agents).step_by(per) {
        let ca = ca.clone();
        let cfg = cfg.clone();
        let (month, quarter) = (month, quarter);
        tasks.push(tokio::task::spawn_blocking(move || {
            let end = (chunk_start + per).min(cfg.agents);
            let ca_der = ca.cert_der().clone();
            (chunk_start..end)
                .map(|i| {
                    let n = cfg.first_platform + i as u32;
                    let platform_id = sim_platform(n);
                    let (key, csr) = sme_agent::identity::new_key_and_csr(&platform_id)?;
                    let issued = ca.sign_client(&csr, &platform_id, time::Duration::days(30))?;
                    let cert = sme_hub::pki::pem_to_der(&issued.certificate_pem)
                        .ok_or_else(|| anyhow::anyhow!("issued certificate is not PEM"))?;
                    let trust = Trust::Mutual {
                        ca: ca_der.clone(),
                        chain: vec![cert],
                        key: Arc::new(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                            key.serialize_der(),
                        ))),
                    };
                    Ok(SimAgent {
                        reports: plan_reports(n, &cfg, &month, &quarter),
                        platform_id,
                        trust,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
        }));
    }
    let mut agents = Vec::with_capacity(cfg.agents);
    for t in tasks {
        agents.extend(t.await??);
    }
    Ok(agents)
}

/// The CA certificate of `ca_dir`, for checks.
pub fn ca_cert(ca_dir: &Path) -> anyhow::Result<CertificateDer<'static>> {
    Ok(CertificateAuthority::load(ca_dir)?.cert_der().clone())
}

// === running ===

/// What became of one report.
#[derive(Debug, Clone)]
pub struct Sent {
    pub report_id: String,
    pub expect: Expect,
    /// `Ok(replay)` when accepted, else the final code and the rule ids.
    pub outcome: Result<bool, (Code, Vec<String>)>,
    /// Time of the attempt that got the final answer.
    pub latency: Duration,
    /// Attempts answered RESOURCE_EXHAUSTED or UNAVAILABLE before that.
    pub busy: u32,
    pub unavailable: u32,
    pub rows: (usize, usize, usize),
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct LoadReport {
    pub agents: usize,
    pub elapsed: Duration,
    pub sent: Vec<Sent>,
}

/// Sends every agent's reports to the hub at `hub_url`, `concurrency` agents at a time, each
/// on its own TLS connection.
pub async fn run(hub_url: &str, agents: Vec<SimAgent>, cfg: &LoadConfig) -> LoadReport {
    let address = HubAddress::parse(hub_url).expect("hub URL");
    let n = agents.len();
    let started = Instant::now();
    let sent: Vec<Vec<Sent>> = futures::stream::iter(agents)
        .map(|agent| {
            let address = address.clone();
            let cfg = cfg.clone();
            async move { run_agent(&address, agent, &cfg).await }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    LoadReport {
        agents: n,
        elapsed: started.elapsed(),
        sent: sent.into_iter().flatten().collect(),
    }
}

async fn run_agent(address: &HubAddress, agent: SimAgent, cfg: &LoadConfig) -> Vec<Sent> {
    let channel = connect::channel(address, &agent.trust).expect("client TLS configuration");
    let mut client = ReportingServiceClient::new(channel);
    let mut out = Vec::with_capacity(agent.reports.len());
    for planned in agent.reports {
        let rows = planned.rows();
        let report_id = planned.report.report_id.clone();
        let (mut busy, mut unavailable) = (0, 0);
        let mut attempt = 0;
        let (outcome, latency) = loop {
            attempt += 1;
            let t = Instant::now();
            let answer = client
                .submit_report(v1::SubmitReportRequest {
                    report: Some(planned.report.clone()),
                })
                .await;
            let latency = t.elapsed();
            match answer {
                Ok(resp) => {
                    let replay = resp.into_inner().receipt.is_some_and(|r| r.replay);
                    break (Ok(replay), latency);
                }
                Err(status) => {
                    let retryable = matches!(
                        status.code(),
                        Code::ResourceExhausted
                            | Code::Unavailable
                            | Code::Unknown
                            | Code::Cancelled
                            | Code::DeadlineExceeded
                    );
                    if !retryable || attempt >= cfg.max_attempts {
                        let rules = sme_proto::status::violations(&status)
                            .into_iter()
                            .map(|v| v.rule_id)
                            .collect();
                        break (Err((status.code(), rules)), latency);
                    }
                    if status.code() == Code::ResourceExhausted {
                        busy += 1;
                    } else {
                        unavailable += 1;
                    }
                    let hint = sme_proto::status::retry_after(&status)
                        .unwrap_or(Duration::from_millis(200));
                    tokio::time::sleep(hint.min(cfg.retry_cap)).await;
                }
            }
        };
        out.push(Sent {
            report_id,
            expect: planned.expect,
            outcome,
            latency,
            busy,
            unavailable,
            rows,
        });
    }
    out
}

// === impl LoadReport ===

impl LoadReport {
    /// Accepted reports (first receipts and replays).
    pub fn accepted(&self) -> impl Iterator<Item = &Sent> {
        self.sent.iter().filter(|s| s.outcome.is_ok())
    }

    /// Table rows of the accepted reports.
    pub fn accepted_rows(&self) -> usize {
        self.accepted()
            .map(|s| s.rows.0 + s.rows.1 + s.rows.2)
            .sum()
    }

    /// The `p`-th percentile (0..=100) of the final attempts' latency.
    pub fn latency_percentile(&self, p: f64) -> Duration {
        let mut l: Vec<Duration> = self.sent.iter().map(|s| s.latency).collect();
        if l.is_empty() {
            return Duration::ZERO;
        }
        l.sort();
        let i = ((p / 100.0) * (l.len() - 1) as f64).round() as usize;
        l[i.min(l.len() - 1)]
    }

    /// Counts per outcome: `accepted`, `replay`, `rejected <CODE> <rule>`.
    pub fn outcomes(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for s in &self.sent {
            let key = match &s.outcome {
                Ok(false) => "accepted".to_owned(),
                Ok(true) => "accepted (replay)".to_owned(),
                Err((code, rules)) => {
                    let mut rules: Vec<&String> = rules.iter().collect();
                    rules.sort();
                    rules.dedup();
                    format!(
                        "refused {code:?} {}",
                        rules.into_iter().cloned().collect::<Vec<_>>().join("+")
                    )
                }
            };
            *m.entry(key).or_default() += 1;
        }
        m
    }

    /// A readable summary.
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let accepted = self.accepted().count();
        let busy: u32 = self.sent.iter().map(|s| s.busy).sum();
        let unavailable: u32 = self.sent.iter().map(|s| s.unavailable).sum();
        let mut out = format!(
            "{} agents, {} reports in {:.2} s: {:.0} reports/s answered, {:.0} accepted reports/s, \
             {:.0} rows/s stored\nack latency p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n\
             retried attempts: {busy} RESOURCE_EXHAUSTED, {unavailable} UNAVAILABLE\n",
            self.agents,
            self.sent.len(),
            secs,
            self.sent.len() as f64 / secs,
            accepted as f64 / secs,
            self.accepted_rows() as f64 / secs,
            ms(self.latency_percentile(50.0)),
            ms(self.latency_percentile(90.0)),
            ms(self.latency_percentile(99.0)),
            ms(self.latency_percentile(100.0)),
        );
        for (k, v) in self.outcomes() {
            out.push_str(&format!("  {k}: {v}\n"));
        }
        out
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// === verification ===

/// What ClickHouse holds for a run, against what the hub answered.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Problems found; empty when everything matches.
    pub problems: Vec<String>,
    pub reports_rows: u64,
    pub volume_rows: u64,
    pub record_rows: u64,
    pub audit_rows: u64,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct IdCount {
    id: String,
    n: u64,
}

#[derive(Debug, clickhouse::Row, serde::Deserialize)]
struct AuditRow {
    report_id: String,
    outcome: String,
}

/// Checks that ClickHouse has every accepted report of the run exactly once (and each of its
/// volume and record rows once), no refused one, that exactly the invalid reports were
/// rejected (each naming its rule), and that every submission is in the audit trail.
pub async fn verify(
    store: &Store,
    report: &LoadReport,
    cfg: &LoadConfig,
) -> anyhow::Result<Verification> {
    let mut v = Verification::default();
    let client = store.client();
    let counts = |table: &str| {
        format!(
            "SELECT toString(report_id) AS id, count() AS n FROM {table} \
             WHERE report_id IN (SELECT report_id FROM reports WHERE agent_version = ?) GROUP BY report_id"
        )
    };
    let fetch = |sql: String| {
        client
            .query(&sql)
            .bind(cfg.tag.as_str())
            .fetch_all::<IdCount>()
    };
    let (reports, volumes, records) = tokio::try_join!(
        fetch(counts("reports")),
        fetch(counts("service_volume")),
        fetch(counts("service_records")),
    )?;
    let as_map = |rows: Vec<IdCount>| -> HashMap<String, u64> {
        rows.into_iter().map(|r| (r.id, r.n)).collect()
    };
    let (reports, volumes, records) = (as_map(reports), as_map(volumes), as_map(records));
    v.reports_rows = reports.values().sum();
    v.volume_rows = volumes.values().sum();
    v.record_rows = records.values().sum();

    let mut problems = Vec::new();
    let mut note = |p: String| {
        if problems.len() < 20 {
            problems.push(p);
        } else if problems.len() == 20 {
            problems.push("… more problems not listed".into());
        }
    };
    let ids: HashSet<&str> = report.sent.iter().map(|s| s.report_id.as_str()).collect();
    for s in &report.sent {
        let id = s.report_id.as_str();
        match (&s.expect, &s.outcome) {
            (Expect::Accept, Ok(_)) => {
                let got = (
                    reports.get(id).copied().unwrap_or(0),
                    volumes.get(id).copied().unwrap_or(0),
                    records.get(id).copied().unwrap_or(0),
                );
                let want = (1, s.rows.1 as u64, s.rows.2 as u64);
                if got != want {
                    note(format!("accepted {id}: rows (reports, volumes, records) {got:?}, expected {want:?}"));
                }
            }
            (Expect::Reject(rule), Err((code, rules))) => {
                if !rules.iter().any(|r| r == rule) {
                    note(format!(
                        "rejected {id} ({code:?}) without {rule}: {rules:?}"
                    ));
                }
                if reports.contains_key(id) {
                    note(format!("rejected {id} is stored"));
                }
            }
            (Expect::Accept, Err(e)) => note(format!("valid {id} was refused: {e:?}")),
            (Expect::Reject(rule), Ok(_)) => note(format!("invalid {id} ({rule}) was accepted")),
        }
    }
    for id in reports.keys() {
        if !ids.contains(id.as_str()) {
            note(format!("stored report {id} was never sent by this run"));
        }
    }

    // Audit: every final answer has its entry (deferred attempts may add more), and every
    // stored report exactly one `accepted` entry. Audit rows are written right after the
    // answers (writer.rs), so give the hub a bounded moment to catch up.
    let started = time::OffsetDateTime::now_utc() - report.elapsed - time::Duration::minutes(2);
    let mut audit_problems = Vec::new();
    for attempt in 0..30 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let audit: Vec<AuditRow> = client
            .query(
                "SELECT report_id, toString(outcome) AS outcome FROM audit WHERE received_at >= toDateTime(?)",
            )
            .bind(started.unix_timestamp())
            .fetch_all()
            .await?;
        let mut by_id: HashMap<&str, Vec<&str>> = HashMap::new();
        v.audit_rows = 0;
        for row in &audit {
            if ids.contains(row.report_id.as_str()) {
                by_id
                    .entry(row.report_id.as_str())
                    .or_default()
                    .push(row.outcome.as_str());
                v.audit_rows += 1;
            }
        }
        audit_problems.clear();
        for s in &report.sent {
            let outcomes = by_id.get(s.report_id.as_str()).cloned().unwrap_or_default();
            let count = |o: &str| outcomes.iter().filter(|x| **x == o).count();
            let ok = match s.outcome {
                Ok(false) => count("accepted") == 1,
                Ok(true) => count("accepted") == 1 && count("duplicate") >= 1,
                Err(_) => count("rejected") >= 1 && count("accepted") == 0,
            };
            if !ok {
                audit_problems.push(format!(
                    "report {} ({:?}) has audit outcomes {outcomes:?}",
                    s.report_id, s.outcome
                ));
            }
        }
        if audit_problems.is_empty() {
            break;
        }
    }
    for p in audit_problems {
        note(p);
    }
    v.problems = problems;
    Ok(v)
}

/// The rows of the planned valid reports, as the hub would store them (for raw-insert
/// baselines): fresh report ids, received now.
pub fn accepted_rows_for(agents: &[SimAgent], tag: &str) -> Vec<AcceptedReport> {
    let now = time::OffsetDateTime::now_utc();
    agents
        .iter()
        .flat_map(|a| a.reports.iter().map(move |p| (a, p)))
        .filter(|(_, p)| p.expect == Expect::Accept)
        .map(|(a, p)| {
            let mut report = p.report.clone();
            report.report_id = uuid::Uuid::new_v4().to_string();
            report.agent_version = tag.to_owned();
            AcceptedReport {
                region_code: sme_proto::credit_code::region_code(&a.platform_id).to_owned(),
                platform_id: a.platform_id.clone(),
                report,
                received_at: now,
                due_at: sme_proto::period::Calendar::default()
                    .due_at(&p.report.period.parse().expect("planned periods are valid")),
                flags: Vec::new(),
            }
        })
        .collect()
}

/// Registers every simulated platform (registered 2020-01-01, active since) so rule E004
/// accepts them.
pub async fn register(store: &Store, agents: &[SimAgent]) -> anyhow::Result<()> {
    let registered = time::Date::from_calendar_date(2020, time::Month::January, 1)?;
    let platforms: Vec<sme_hub::registry::Platform> = agents
        .iter()
        .map(|a| {
            sme_hub::registry::Platform::new(
                &a.platform_id,
                &format!("模拟平台 {}", a.platform_id),
                registered,
            )
        })
        .collect();
    for chunk in platforms.chunks(10_000) {
        sme_hub::registry::upsert_platforms(
            store,
            chunk,
            "sme-loadgen",
            time::OffsetDateTime::now_utc(),
        )
        .await?;
    }
    Ok(())
}

/// The hub's ingestion stages from its metrics: flushes (count, mean reports and milliseconds
/// per flush) and replay-lookup batches (the same), for the benchmarks' summaries.
pub fn ingest_stages(metrics: &sme_hub::web::Metrics) -> String {
    let mean = |sum: f64, count: u64| sum / count.max(1) as f64;
    let (flushes, lookups) = (
        metrics.batch_reports.count(),
        metrics.lookup_batch_reports.count(),
    );
    format!(
        "{flushes} flushes, mean {:.0} reports and {:.0} ms per flush; {lookups} lookup batches, mean {:.0} reports and {:.0} ms",
        mean(metrics.batch_reports.sum(), flushes),
        1000.0 * mean(metrics.insert_seconds.sum(), metrics.insert_seconds.count()),
        mean(metrics.lookup_batch_reports.sum(), lookups),
        1000.0 * mean(metrics.lookup_seconds.sum(), metrics.lookup_seconds.count()),
    )
}
