//! Support for the dashboards' browser test: a small known data set sent by real `sme-agent`
//! processes (records and profiles dropped into their inboxes), the truth computed from the
//! same records, and reading what the pages show (data tables, as a person reads them).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use fantoccini::Locator;
use serde_json::Value;
use sme_hub::registry::Platform;
use sme_proto::credit_code::make_valid;
use sme_proto::period::{Period, PeriodKind};
use time::OffsetDateTime;

use crate::agent::{profile_json, records_csv, wait_until, TestAgent, TestRecord};
use crate::browser::Browser;
use crate::TestHub;

/// One platform of the data set.
#[derive(Debug, Clone)]
pub struct SeedPlatform {
    /// Credit code.
    pub code: String,
    /// Registry name.
    pub name: String,
    /// Its region (prefecture or county).
    pub region: String,
    /// Its prefecture (`PPCC00`).
    pub prefecture: String,
    /// Its province (`PP0000`).
    pub province: String,
    /// Records it sends (empty: it never reports).
    pub records: Vec<TestRecord>,
    /// Degree-or-mid-title staff of 20 professionals in its quarterly profile.
    pub degree_staff: u32,
}

/// The data set: platforms in Guangdong (two), Beijing, Zhejiang, and one in Sichuan that
/// never reports.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The platforms.
    pub platforms: Vec<SeedPlatform>,
    /// The last month that has ended (the default range ends with it).
    pub last_month: Period,
    /// The monthly periods with records.
    pub months: BTreeSet<Period>,
    /// The quarter with records (the last that has ended).
    pub quarter: Period,
    /// SME counts uploaded (region → count) for the current year.
    pub smes: BTreeMap<String, u64>,
}

fn month_records(prefix: &str, month: &Period, count: usize) -> Vec<TestRecord> {
    let days = (month.last_day() - month.first_day()).whole_days() + 1;
    (0..count)
        .map(|i| TestRecord {
            id: format!("{prefix}-{month}-{i:04}"),
            date: month.first_day() + time::Duration::days(i as i64 % days),
            function: (i % 7) as u8 + 1,
            enterprise: (i % 23) as u32,
            fee_fen: if i % 3 == 0 { 0 } else { 1_000 + i as i64 },
        })
        .collect()
}

impl Seed {
    /// The data set for today (real time: the agents build the periods that have ended).
    pub fn new() -> Seed {
        let now = OffsetDateTime::now_utc();
        let last_month = Period::containing(PeriodKind::Month, now)
            .unwrap()
            .previous()
            .unwrap();
        let quarter = Period::containing(PeriodKind::Quarter, now)
            .unwrap()
            .previous()
            .unwrap();
        let quarter_month = Period::containing_date(PeriodKind::Month, quarter.last_day()).unwrap();
        let months: BTreeSet<Period> = [last_month.previous().unwrap(), last_month, quarter_month]
            .into_iter()
            .collect();
        let spec = [
            ("12440300MB0D0001", "深圳测试服务平台", "440300", 1usize, 18),
            ("12440100MB0D0002", "广州测试服务平台", "440100", 2, 8),
            ("12110108MB0D0003", "北京海淀测试服务平台", "110108", 5, 18),
            ("12330100MB0D0004", "杭州测试服务平台", "330100", 4, 18),
            ("12510100MB0D0005", "成都测试服务平台", "510100", 0, 18),
        ];
        let platforms = spec
            .iter()
            .map(|(stem, name, region, weight, degree)| {
                let code = make_valid(&format!("{stem}X"));
                let records = months
                    .iter()
                    .flat_map(|m| month_records(&code[10..16], m, 7 * weight))
                    .collect();
                SeedPlatform {
                    code,
                    name: (*name).to_owned(),
                    region: (*region).to_owned(),
                    prefecture: format!("{}00", &region[..4]),
                    province: format!("{}0000", &region[..2]),
                    records,
                    degree_staff: *degree,
                }
            })
            .collect();
        let smes = [
            ("440000", 60_000),
            ("110000", 25_000),
            ("330000", 40_000),
            ("510000", 30_000),
            ("440300", 20_000),
            ("440100", 15_000),
        ]
        .into_iter()
        .map(|(r, n)| (r.to_owned(), n))
        .collect();
        Seed {
            platforms,
            last_month,
            months,
            quarter,
            smes,
        }
    }

    /// The SME-count file a planner uploads (CSV, Chinese headers).
    pub fn sme_csv(&self) -> String {
        let year = self.last_month.first_day().year();
        let mut s = String::from("地区代码,年份,中小企业数\n");
        for (region, n) in &self.smes {
            s.push_str(&format!("{region},{year},{n}\n"));
        }
        s
    }

    /// Registers every platform, then has each reporting one's real agent send its reports;
    /// returns when every agent has nothing left to send.
    pub async fn send(&self, hub: &TestHub) -> anyhow::Result<()> {
        let mut agents = Vec::new();
        for p in self.platforms.iter().filter(|p| !p.records.is_empty()) {
            // Enrolment registers the platform under a test name; the registry rows below
            // are newer versions with the real names.
            agents.push((p, TestAgent::enroll(hub, &p.code, "").await));
        }
        for p in &self.platforms {
            hub.register_platform(Platform::new(
                &p.code,
                &p.name,
                time::macros::date!(2020 - 01 - 01),
            ))
            .await;
        }
        let mut running = Vec::new();
        for (p, agent) in agents {
            agent.drop_file("records.csv", &records_csv(&p.records));
            for period in crate::agent::sendable_periods(&p.records) {
                let mut profile: Value = serde_json::from_slice(&profile_json(&period))?;
                if period.kind() != PeriodKind::Month {
                    profile["professional_with_degree_or_mid_title"] = p.degree_staff.into();
                    profile["professional_with_college_degree"] = p.degree_staff.into();
                }
                agent.drop_file(
                    &format!("profile-{period}.json"),
                    &serde_json::to_vec(&profile)?,
                );
            }
            let process = agent.spawn();
            running.push((agent, process));
        }
        for (agent, _) in &running {
            wait_until(
                Duration::from_secs(120),
                "the agent sent its reports",
                || agent.is_settled(),
            )
            .await;
        }
        for (_, process) in running {
            let log = process.log_text();
            let exit = process.terminate();
            anyhow::ensure!(exit.success(), "sme-agent failed: {exit}\n{log}");
        }
        Ok(())
    }

    /// The platforms that report.
    pub fn reporting(&self) -> impl Iterator<Item = &SeedPlatform> {
        self.platforms.iter().filter(|p| !p.records.is_empty())
    }

    /// Records of the monthly periods (all of them fall in the default range).
    pub fn records_where(&self, f: impl Fn(&SeedPlatform) -> bool) -> Vec<&TestRecord> {
        self.platforms
            .iter()
            .filter(|p| f(p))
            .flat_map(|p| p.records.iter())
            .collect()
    }
}

impl Default for Seed {
    fn default() -> Self {
        Seed::new()
    }
}

/// `1234567` as the zh-CN and en-US pages write it: `1,234,567`.
pub fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A number with at most `digits` decimals, trailing zeros dropped (as `toLocaleString`).
pub fn dec(x: f64, digits: usize) -> String {
    let s = format!("{x:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    match s.split_once('.') {
        Some((i, f)) => format!("{}.{f}", int(i.parse().unwrap_or(0))),
        None => int(s.parse().unwrap_or(0)),
    }
}

/// A share as the pages write it: `65%`, `33.3%`.
pub fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p != 0.0 && p.abs() < 1.0 {
        // Two significant digits, as the pages write small shares.
        let digits = (1.0 - p.abs().log10().floor()) as usize;
        return format!("{}%", dec(p, digits));
    }
    format!("{}%", dec(p, 1))
}

/// One data table as shown: column key → cell text, per row.
pub type Rows = Vec<HashMap<String, String>>;

/// Opens `page` (a `#/…` address with its query) and waits until every panel has drawn.
pub async fn open(b: &Browser, base: &str, page: &str) -> anyhow::Result<()> {
    b.client.goto(&format!("{base}/{page}")).await?;
    wait_ready(b).await
}

/// Waits until the page (and every panel on it) is drawn.
pub async fn wait_ready(b: &Browser) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let state = b
            .client
            .execute(
                "const m = document.querySelector('main');\
                 if (!m || m.dataset.state !== 'ready') return 'loading';\
                 const busy = [...document.querySelectorAll('section.panel')].filter(p => p.dataset.state === 'loading');\
                 return busy.length ? 'loading' : 'ready';",
                vec![],
            )
            .await?;
        if state == "ready" {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the page did not finish drawing within 60 s: {}",
            b.client.current_url().await?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Shows the data table of `panel` (the "data table" button, as a person would) and reads
/// it: the text of each cell as rendered, keyed by column.
pub async fn table(b: &Browser, panel: &str) -> anyhow::Result<Rows> {
    let sel = format!("section[data-panel='{panel}']");
    let state = b
        .client
        .find(Locator::Css(&sel))
        .await
        .with_context(|| format!("panel {panel}"))?
        .attr("data-state")
        .await?;
    if state.as_deref() == Some("error") {
        let text = b.client.find(Locator::Css(&sel)).await?.text().await?;
        anyhow::bail!("panel {panel} shows an error: {text}");
    }
    if let Ok(toggle) = b
        .client
        .find(Locator::Css(&format!("{sel} button[data-action='table']")))
        .await
    {
        if toggle.attr("aria-pressed").await?.as_deref() == Some("false") {
            toggle.click().await?;
        }
    }
    let rows = b
        .client
        .execute(
            "const t = document.querySelector(arguments[0] + ' table.data');\
             if (!t) return null;\
             const keys = [...t.querySelectorAll('thead th')].map(th => th.dataset.col);\
             return [...t.querySelectorAll('tbody tr')].map(tr => Object.fromEntries(\
               [...tr.querySelectorAll('td')].map((td, i) => [keys[i], td.innerText.trim()])));",
            vec![Value::String(sel.clone())],
        )
        .await?;
    let rows: Rows =
        serde_json::from_value(rows).with_context(|| format!("panel {panel} has no data table"))?;
    Ok(rows)
}

/// The row of `rows` whose column `col` reads `value`.
#[track_caller]
pub fn row<'a>(rows: &'a Rows, col: &str, value: &str) -> &'a HashMap<String, String> {
    rows.iter()
        .find(|r| r.get(col).map(String::as_str) == Some(value))
        .unwrap_or_else(|| panic!("no row with {col} = {value} in {rows:#?}"))
}

// === pages ===

/// Logs in through the login form and waits for the first dashboard.
pub async fn login(b: &Browser, base: &str, name: &str, password: &str) {
    b.client.goto(&format!("{base}/")).await.unwrap();
    let user = b
        .wait_for("#login-name", Duration::from_secs(20))
        .await
        .unwrap();
    user.send_keys(name).await.unwrap();
    b.client
        .find(Locator::Css("#login-password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    b.client
        .find(Locator::Css("button[data-action='login']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("main[data-dashboard='overview']", Duration::from_secs(30))
        .await
        .unwrap();
    wait_ready(b).await.unwrap();
}

/// No console error since the last check.
pub async fn no_console_errors(b: &Browser, what: &str) {
    expected_console_errors(b, what, &[]).await
}

/// No console error since the last check but Chromium's own line for a refusal the page
/// provoked on purpose (`expected`: e.g. "status of 422", a rejected upload).
pub async fn expected_console_errors(b: &Browser, what: &str, expected: &[&str]) {
    let entries = b.console().await.unwrap();
    let errors: Vec<_> = entries
        .iter()
        .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
        .filter(|e| {
            let m = e["message"].as_str().unwrap_or_default();
            !expected
                .iter()
                .any(|x| m.contains("Failed to load resource") && m.contains(x))
        })
        .collect();
    assert!(errors.is_empty(), "{what}: console: {errors:#?}");
}

/// Every request since the last check went to the hub (or stayed in the page).
pub async fn only_the_hub(b: &Browser, base: &str, what: &str) {
    let urls = b.requested_urls().await.unwrap();
    assert!(
        !urls.is_empty(),
        "{what}: no request seen in the performance log"
    );
    let foreign: Vec<_> = urls
        .iter()
        .filter(|u| {
            // Anything on the network must be the hub; data:, blob: and the browser's own
            // chrome:// pages (its first empty tab) never leave the machine.
            let network = ["http:", "https:", "ws:", "wss:", "ftp:"]
                .iter()
                .any(|s| u.starts_with(s));
            network && !u.starts_with(&format!("{base}/"))
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "{what}: requests to other hosts: {foreign:?}"
    );
}

/// Sets the file input `#upload-file` to `path`, previews, and returns the outcome shown.
pub async fn upload(b: &Browser, path: &Path) -> (String, String) {
    let input = b
        .wait_for("#upload-file", Duration::from_secs(10))
        .await
        .unwrap();
    input.send_keys(path.to_str().unwrap()).await.unwrap();
    b.client
        .find(Locator::Css("button[data-action='preview']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    outcome(b).await
}

/// The outcome an upload page shows: `preview`, `imported` or `rejected`, and its text.
pub async fn outcome(b: &Browser) -> (String, String) {
    let el = b
        .wait_for(".result p[data-outcome]", Duration::from_secs(20))
        .await
        .unwrap();
    let kind = el.attr("data-outcome").await.unwrap().unwrap_or_default();
    let text = b
        .client
        .find(Locator::Css(".result"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (kind, text)
}

/// Confirms the previewed upload and returns the import's outcome.
pub async fn confirm(b: &Browser) -> (String, String) {
    b.client
        .find(Locator::Css("button[data-action='confirm']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // The preview's paragraph is replaced by the import's.
    for _ in 0..100 {
        let (kind, text) = outcome(b).await;
        if kind != "preview" {
            return (kind, text);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import did not answer");
}

/// Waits for a finished download named `prefix…ext`.
pub async fn wait_download(b: &Browser, prefix: &str, ext: &str) -> PathBuf {
    for _ in 0..100 {
        if let Some(p) = b.downloaded().into_iter().find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(prefix) && n.ends_with(ext)
        }) {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {prefix}*{ext} downloaded: {:?}", b.downloaded());
}
