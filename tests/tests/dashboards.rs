//! The dashboards in a real headless Chromium (Debian's, through chromedriver) against a real
//! hub with its ClickHouse, fed by real `sme-agent` processes: a planner uploads SME counts
//! through the page (preview, then confirm), opens every dashboard and reads its data tables
//! against the truth computed from the seeded records, drills from the map of China into
//! Guangdong, downloads a CSV, switches to English; a Guangdong coordinator sees nothing of
//! any other province anywhere (tables, charts, tooltips, drop-downs, downloads) and uses the
//! registry-upload and reopen pages. Every request goes to the hub, the bundle names no other
//! host, and no dashboard logs a console error. Screenshots of every page land in
//! `target/screenshots/` for a person to look at.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::actions::{InputSource, MouseActions, PointerAction};
use fantoccini::Locator;
use reqwest::Method;
use sme_hub::analytics::Role;
use sme_tests::browser::{server_cert_der, spki_hash, Browser, Chromedriver};
use sme_tests::dashboard::{
    confirm, dec, expected_console_errors, int, login, no_console_errors, only_the_hub, open, pct,
    row, table, upload, wait_download, wait_ready, Seed,
};
use sme_tests::web::WebClient;
use sme_tests::TestHub;

const PASSWORD: &str = "dashboards test password";

const DASHBOARDS: [&str; 8] = [
    "overview",
    "layout",
    "volume",
    "staff",
    "satisfaction",
    "completeness",
    "demo",
    "platform",
];

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

fn count<T>(items: impl IntoIterator<Item = T>) -> u64 {
    items.into_iter().count() as u64
}

/// A hub with the seeded data, its two web users, and a chromedriver.
struct Setup {
    hub: TestHub,
    seed: Seed,
    base: String,
    spki: String,
    driver: Chromedriver,
    shots: PathBuf,
    files: tempfile::TempDir,
}

async fn setup() -> Setup {
    let hub = TestHub::start().await;
    let store = hub.store().clone();
    let now = hub.clock().now();
    for (name, role, region) in [
        ("wang", Role::Planner, None),
        ("li", Role::Coordinator, Some("440000")),
    ] {
        sme_hub::users::add(&store, name, role, region, PASSWORD, "test", now)
            .await
            .unwrap();
    }
    let seed = Seed::new();
    seed.send(&hub).await.unwrap();

    let base = format!("https://127.0.0.1:{}", hub.running().web_addr.port());
    let spki = spki_hash(&server_cert_der(&hub.config.ca_dir()).unwrap()).unwrap();
    let driver = Chromedriver::start().unwrap();
    let shots = screenshots();

    let files = tempfile::tempdir().unwrap();
    Setup {
        hub,
        seed,
        base,
        spki,
        driver,
        shots,
        files,
    }
}

#[test]
fn the_bundle_names_no_other_host() {
    // The front end must be built (scripts/dashboards.sh); the bundle names no other host.
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/dist");
    assert!(
        dist.join("index.html").is_file(),
        "dashboards/dist is not built: run scripts/dashboards.sh"
    );
    for entry in std::fs::read_dir(dist.join("assets")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("://") {
            let start = rest[..i]
                .rfind(|c: char| !c.is_ascii_alphanumeric())
                .map_or(0, |j| j + 1);
            let url: String = rest[start..]
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | '`' | ' ' | ')' | '\\'))
                .collect();
            let scheme = &rest[start..i];
            // Network schemes only (ECharts' `image://` and `path://` are symbol syntax); the
            // XML namespace names of SVG are identifiers, never fetched.
            let network = matches!(scheme, "http" | "https" | "ws" | "wss" | "ftp");
            assert!(
                !network || url.starts_with("http://www.w3.org/"),
                "{}: names another host: {url}",
                path.display()
            );
            rest = &rest[i + 3..];
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planner_reads_every_dashboard_in_a_real_browser() {
    let Setup {
        hub,
        seed,
        base,
        spki,
        driver,
        shots,
        files,
    } = setup().await;
    // The page comes from the hub with a policy that lets it reach nothing but the hub; the
    // definitions need a session, like every API route.
    let web = WebClient::new(base.clone(), hub.ca().cert_der()).unwrap();
    let page = web.client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.starts_with("default-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let bundle = html
        .split("src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(
        bundle.starts_with("/assets/app-") && bundle.ends_with(".js"),
        "{html}"
    );
    let js = web
        .client
        .get(format!("{base}{bundle}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(js.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let (status, _) = web
        .call(Method::GET, "/api/v1/dashboards", None)
        .await
        .unwrap();
    assert_eq!(status, 401);
    let session = web.login("wang", PASSWORD).await.unwrap().unwrap();
    let (_, defs) = web.get("/api/v1/dashboards", &session).await.unwrap();
    let ids: Vec<&str> = defs["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, DASHBOARDS, "{defs:#}");

    // === planner ===
    let b = Browser::start(&driver, &spki).await.unwrap();
    login(&b, &base, "wang", PASSWORD).await;
    let who = b
        .client
        .find(Locator::Css(".who"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        who.contains("wang") && who.contains("规划人员") && who.contains("全国"),
        "{who}"
    );

    // SME counts through the upload page: a bad file shows its row problems, nothing imported;
    // the good one is previewed, then confirmed.
    let bad = files.path().join("bad-counts.csv");
    std::fs::write(&bad, "地区代码,年份,中小企业数\n440000,2026,很多\n").unwrap();
    open(&b, &base, "#/sme-counts").await.unwrap();
    let (kind, text) = upload(&b, &bad).await;
    assert_eq!(kind, "rejected", "{text}");
    assert!(
        text.contains("中小企业数") && text.contains("很多"),
        "{text}"
    );
    expected_console_errors(&b, "rejected SME-count upload", &["status of 422"]).await;
    let good = files.path().join("sme-counts.csv");
    std::fs::write(&good, seed.sme_csv()).unwrap();
    open(&b, &base, "#/sme-counts").await.unwrap();
    let (kind, text) = upload(&b, &good).await;
    assert_eq!(kind, "preview", "{text}");
    assert!(
        text.contains(&format!("共 {} 行", seed.smes.len())),
        "{text}"
    );
    let (kind, text) = confirm(&b).await;
    assert_eq!(kind, "imported", "{text}");
    no_console_errors(&b, "SME-count upload").await;

    // Default range: the 12 months ending with the last ended month, set in the address.
    open(&b, &base, "#/overview").await.unwrap();
    let url = b.client.current_url().await.unwrap().to_string();
    assert!(url.contains(&format!("to={}", seed.last_month)), "{url}");

    // --- overview: the map's table, headline figures, freshness ---
    let regions = table(&b, "density-map").await.unwrap();
    let mut provinces: Vec<&str> = regions.iter().map(|r| r["code"].as_str()).collect();
    provinces.sort();
    // Fujian has no platform: it is listed because the firms served (all in Fuzhou) are
    // located there, every one of them served from another province.
    assert_eq!(
        provinces,
        ["110000", "330000", "350000", "440000", "510000"],
        "{regions:#?}"
    );
    for province in ["110000", "330000", "440000", "510000"] {
        let active = count(seed.platforms.iter().filter(|p| p.province == province));
        let smes = seed.smes[province];
        let r = row(&regions, "code", province);
        assert_eq!(r["active_platforms"], int(active), "{province}: {r:?}");
        assert_eq!(r["smes"], int(smes), "{province}: {r:?}");
        assert_eq!(
            r["platforms_per_10k_smes"],
            dec(active as f64 * 10_000.0 / smes as f64, 2),
            "{province}: {r:?}"
        );
        let firms: BTreeSet<u32> = seed
            .records_where(|p| p.province == province)
            .iter()
            .map(|r| r.enterprise)
            .collect();
        if firms.is_empty() {
            // Sichuan's platform never reported: no data, never 0.
            assert_eq!(r["enterprises_reached"], "无数据", "{r:?}");
            assert_eq!(r["missing_functions"], "无数据", "{r:?}");
        } else {
            assert_eq!(r["enterprises_reached"], int(firms.len() as u64), "{r:?}");
            assert_eq!(r["missing_functions"], "0", "{r:?}");
        }
    }
    let firms_all: BTreeSet<u32> = seed
        .records_where(|_| true)
        .iter()
        .map(|r| r.enterprise)
        .collect();
    let fujian = row(&regions, "code", "350000");
    assert_eq!(fujian["active_platforms"], "0", "{fujian:?}");
    assert_eq!(fujian["smes"], "无数据", "{fujian:?}");
    assert_eq!(
        fujian["firms_located"],
        int(firms_all.len() as u64),
        "{fujian:?}"
    );
    assert_eq!(fujian["inflow_share"], "100%", "{fujian:?}");
    let headline = table(&b, "headline").await.unwrap();
    let active_all = seed.platforms.len() as u64;
    assert_eq!(
        row(&headline, "code", "active_platforms")["value"],
        int(active_all)
    );
    let smes_all: u64 = ["440000", "110000", "330000", "510000"]
        .iter()
        .map(|r| seed.smes[*r])
        .sum();
    assert_eq!(
        row(&headline, "code", "smes")["value"],
        int(smes_all),
        "{headline:#?}"
    );
    assert_eq!(
        row(&headline, "code", "enterprises_reached")["value"],
        int(firms_all.len() as u64)
    );
    let fresh = table(&b, "freshness").await.unwrap();
    let received = count(seed.reporting());
    assert_eq!(
        row(&fresh, "code", "period")["value"],
        seed.last_month.to_string()
    );
    assert_eq!(
        row(&fresh, "code", "expected")["value"],
        int(active_all),
        "{fresh:#?}"
    );
    assert_eq!(
        row(&fresh, "code", "received")["value"],
        int(received),
        "{fresh:#?}"
    );
    // The map draws China with the South China Sea islands inset, and its provinces by name.
    let labels: Vec<String> = b
        .client
        .execute(
            "return [...document.querySelectorAll(\"section[data-panel='density-map'] svg text\")].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    for name in ["广东", "北京", "新疆", "南海诸岛"] {
        assert!(
            labels.iter().any(|l| l == name),
            "{name} not on the map: {labels:?}"
        );
    }
    no_console_errors(&b, "overview").await;

    // --- every dashboard: numbers against the seeded truth, screenshots ---
    for id in DASHBOARDS {
        open(&b, &base, &format!("#/{id}{}", "")).await.unwrap();
        let page = b.client.current_url().await.unwrap().to_string();
        assert!(page.contains(&format!("#/{id}")), "{page}");
        b.screenshot(&shots.join(format!("planner-{id}-zh.png")))
            .await
            .unwrap();
        b.full_screenshot(&shots.join(format!("planner-{id}-zh-full.png")))
            .await
            .unwrap();
        no_console_errors(&b, id).await;
    }

    open(&b, &base, "#/volume").await.unwrap();
    let by_function = table(&b, "by-function").await.unwrap();
    for f in 1..=7u8 {
        let recs: Vec<_> = seed
            .records_where(|_| true)
            .into_iter()
            .filter(|r| r.function == f)
            .collect();
        let free = count(recs.iter().filter(|r| r.fee_fen == 0));
        let r = row(&by_function, "code", &f.to_string());
        assert_eq!(r["services"], int(recs.len() as u64), "function {f}: {r:?}");
        assert_eq!(r["free_services"], int(free), "function {f}: {r:?}");
        assert_eq!(
            r["paid_services"],
            int(recs.len() as u64 - free),
            "function {f}: {r:?}"
        );
    }
    let by_region = table(&b, "by-region").await.unwrap();
    for province in ["110000", "330000", "440000"] {
        let n = count(seed.records_where(|p| p.province == province));
        assert_eq!(
            row(&by_region, "code", province)["services"],
            int(n),
            "{by_region:#?}"
        );
    }
    let by_period = table(&b, "by-period").await.unwrap();
    for m in &seed.months {
        let n = count(seed.records_where(|_| true).into_iter().filter(|r| {
            sme_proto::period::Period::containing_date(m.kind(), r.date).unwrap() == *m
        }));
        assert_eq!(
            row(&by_period, "code", &m.to_string())["services"],
            int(n),
            "{by_period:#?}"
        );
    }
    let by_size = table(&b, "by-size").await.unwrap();
    assert_eq!(
        row(&by_size, "code", "small")["services"],
        int(count(seed.records_where(|_| true))),
        "{by_size:#?}"
    );

    // Sichuan's only platform never reported: every function reads "no data", never 0, and
    // the chart says so.
    open(&b, &base, "#/volume?region=510000").await.unwrap();
    let sichuan = table(&b, "by-function").await.unwrap();
    assert_eq!(sichuan.len(), 7, "{sichuan:#?}");
    assert!(
        sichuan.iter().all(|r| r["services"] == "无数据"),
        "{sichuan:#?}"
    );
    let state = b
        .client
        .find(Locator::Css("section[data-panel='by-function']"))
        .await
        .unwrap()
        .attr("data-state")
        .await
        .unwrap();
    assert_eq!(state.as_deref(), Some("empty"));
    b.client
        .find(Locator::Css("section[data-panel='by-function'] .nodata"))
        .await
        .unwrap();

    open(&b, &base, "#/satisfaction").await.unwrap();
    let sat = table(&b, "by-region").await.unwrap();
    for province in ["110000", "330000", "440000"] {
        let recs = seed.records_where(|p| p.province == province);
        let satisfied = count(recs.iter().filter(|r| r.enterprise % 5 + 1 >= 4));
        let r = row(&sat, "code", province);
        assert_eq!(r["responses"], int(recs.len() as u64), "{r:?}");
        assert_eq!(
            r["rate"],
            pct(satisfied as f64 / recs.len() as f64),
            "{r:?}"
        );
    }

    open(&b, &base, "#/staff").await.unwrap();
    let staff = table(&b, "conditions-table").await.unwrap();
    for province in ["110000", "330000", "440000"] {
        let ps: Vec<_> = seed
            .reporting()
            .filter(|p| p.province == province)
            .collect();
        let met = count(ps.iter().filter(|p| p.degree_staff * 2 >= 20));
        let degree: u32 = ps.iter().map(|p| p.degree_staff).sum();
        let r = row(&staff, "code", province);
        assert_eq!(r["w101"], format!("{met}/{}", ps.len()), "{r:?}");
        assert_eq!(
            r["degree_share"],
            pct(degree as f64 / (20.0 * ps.len() as f64)),
            "{r:?}"
        );
        assert_eq!(r["w103"], format!("{}/{}", ps.len(), ps.len()), "{r:?}");
    }

    open(&b, &base, "#/completeness").await.unwrap();
    let missing = table(&b, "missing").await.unwrap();
    let never: Vec<_> = seed
        .platforms
        .iter()
        .filter(|p| p.records.is_empty())
        .collect();
    assert_eq!(missing.len(), never.len(), "{missing:#?}");
    assert_eq!(
        row(&missing, "credit_code", &never[0].code)["name"],
        never[0].name
    );
    let rates = table(&b, "rate").await.unwrap();
    assert_eq!(row(&rates, "code", "510000")["rate"], "0%", "{rates:#?}");
    assert_eq!(row(&rates, "code", "440000")["rate"], "100%", "{rates:#?}");

    open(&b, &base, "#/layout").await.unwrap();
    let next = table(&b, "where-next").await.unwrap();
    assert!(!next.is_empty(), "where to build next is empty");
    let notes = b
        .client
        .find(Locator::Css("section[data-panel='where-next'] .notes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        notes.contains("priority = 100"),
        "the formula is shown: {notes}"
    );

    // --- demo candidates: every platform assessed, its gates and score components ---
    open(&b, &base, "#/demo").await.unwrap();
    let scores = table(&b, "scores").await.unwrap();
    let listed: BTreeSet<&str> = scores.iter().map(|r| r["credit_code"].as_str()).collect();
    let all: BTreeSet<&str> = seed.platforms.iter().map(|p| p.code.as_str()).collect();
    assert_eq!(listed, all, "{scores:#?}");
    let parts = table(&b, "components").await.unwrap();
    for p in &seed.platforms {
        let r = row(&parts, "credit_code", &p.code);
        if p.records.is_empty() {
            assert_eq!(r["satisfaction_value"], "无数据", "{r:?}");
            assert_eq!(r["tier"], "未达基本条件", "{r:?}");
            continue;
        }
        let satisfied = count(p.records.iter().filter(|r| r.enterprise % 5 + 1 >= 4));
        assert_eq!(
            r["satisfaction_value"],
            pct(satisfied as f64 / p.records.len() as f64),
            "{r:?}"
        );
        assert_eq!(r["functions_value"], "100%", "every function served: {r:?}");
    }
    let gates = table(&b, "gates").await.unwrap();
    assert_eq!(gates.len(), seed.platforms.len(), "{gates:#?}");
    let never = seed
        .platforms
        .iter()
        .find(|p| p.records.is_empty())
        .unwrap();
    assert!(
        row(&gates, "credit_code", &never.code)
            .values()
            .any(|v| v.starts_with("无数据")),
        "a platform that never reported has gates without data"
    );

    // --- platform drill-down: pick Shenzhen's platform, read its months ---
    open(&b, &base, "#/platform").await.unwrap();
    let sz = &seed.platforms[0];
    b.client
        .find(Locator::XPath(&format!(
            "//section[@data-panel='platforms']//a[normalize-space()='{}']",
            sz.name
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_ready(&b).await.unwrap();
    let history = table(&b, "history").await.unwrap();
    for m in &seed.months {
        let n = count(sz.records.iter().filter(|r| {
            sme_proto::period::Period::containing_date(m.kind(), r.date).unwrap() == *m
        }));
        let r = row(&history, "code", &m.to_string());
        assert_eq!(r["services"], int(n), "{r:?}");
        assert_eq!(r["reported"], "是", "{r:?}");
    }
    b.screenshot(&shots.join("planner-platform-selected-zh.png"))
        .await
        .unwrap();

    // --- the map: hover Guangdong (tooltip: name, code, value, reported/expected), click it,
    // see its prefectures, back up by the breadcrumb ---
    open(&b, &base, "#/overview").await.unwrap();
    let guangdong = b
        .client
        .find(Locator::XPath(
            "//section[@data-panel='density-map']//*[name()='text' and text()='广东']",
        ))
        .await
        .unwrap();
    let hover = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
        element: guangdong.clone(),
        duration: Some(Duration::from_millis(100)),
        x: 0.0,
        y: 0.0,
    });
    b.client.perform_actions(hover).await.unwrap();
    let tip = b
        .wait_for(
            "section[data-panel='density-map'] .chart-tooltip",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let tip = tip.text().await.unwrap();
    let gd_reports = 2 * seed.months.len();
    let gd_expected = 2 * 12;
    for part in [
        "广东省".to_owned(),
        "440000".to_owned(),
        format!(
            "每万家中小企业平台数: {}",
            dec(2.0 * 10_000.0 / 60_000.0, 2)
        ),
        format!("已报/应报: {gd_reports}/{gd_expected}"),
    ] {
        assert!(tip.contains(&part), "tooltip {tip:?} lacks {part:?}");
    }
    guangdong.click().await.unwrap();
    for _ in 0..100 {
        if b.client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("region=440000")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("region=440000"));
    wait_ready(&b).await.unwrap();
    let gd = table(&b, "density-map").await.unwrap();
    let codes: BTreeSet<&str> = gd.iter().map(|r| r["code"].as_str()).collect();
    assert_eq!(codes, BTreeSet::from(["440100", "440300"]), "{gd:#?}");
    for p in seed.platforms.iter().filter(|p| p.province == "440000") {
        let r = row(&gd, "code", &p.prefecture);
        assert_eq!(
            r["platforms_per_10k_smes"],
            dec(10_000.0 / seed.smes[&p.prefecture] as f64, 2),
            "{r:?}"
        );
    }
    let crumb = b
        .client
        .find(Locator::Css(".breadcrumb"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(crumb.contains("全国") && crumb.contains("广东"), "{crumb}");
    b.full_screenshot(&shots.join("planner-overview-guangdong-zh.png"))
        .await
        .unwrap();
    b.client
        .find(Locator::XPath(
            "//nav[contains(@class,'breadcrumb')]//button[normalize-space()='全国']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_ready(&b).await.unwrap();
    assert!(!b
        .client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("region="));

    // --- CSV download: UTF-8 with BOM, code and name first, the numbers of the table ---
    open(&b, &base, "#/volume").await.unwrap();
    b.client
        .find(Locator::Css(
            "section[data-panel='by-region'] button[data-action='csv']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let csv = wait_download(&b, "by-region-", ".csv").await;
    let bytes = std::fs::read(&csv).unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "CSV starts with a BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.starts_with("代码,名称,服务次数"), "{text}");
    let gd_services = count(seed.records_where(|p| p.province == "440000"));
    assert!(
        text.contains(&format!("440000,广东省,{gd_services},")),
        "{text}"
    );
    b.client
        .find(Locator::Css(
            "section[data-panel='by-region'] button[data-action='png']",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let png = wait_download(&b, "by-region-", ".png").await;
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    no_console_errors(&b, "downloads").await;

    // --- English: every label changes ---
    b.client
        .find(Locator::Css("button[data-action='lang']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_ready(&b).await.unwrap();
    for id in DASHBOARDS {
        let url = b.client.current_url().await.unwrap().to_string();
        let target = url.replacen(
            &url[url.find("#/").unwrap()..url.find('?').unwrap()],
            &format!("#/{id}"),
            1,
        );
        b.client.goto(&target).await.unwrap();
        wait_ready(&b).await.unwrap();
        let labels: Vec<String> = b
            .client
            .execute(
                "return [...document.querySelectorAll('th, nav.pages a, button, h1, h2, dt, label > span, .description')].map(e => e.textContent)",
                vec![],
            )
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        let chinese: Vec<&String> = labels
            .iter()
            .filter(|l| l.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) && *l != "中文")
            .collect();
        assert!(
            chinese.is_empty(),
            "{id} in English still has Chinese labels: {chinese:?}"
        );
        b.screenshot(&shots.join(format!("planner-{id}-en.png")))
            .await
            .unwrap();
        b.full_screenshot(&shots.join(format!("planner-{id}-en-full.png")))
            .await
            .unwrap();
        no_console_errors(&b, id).await;
    }
    b.client
        .goto(&format!("{base}/#/overview?lang=en"))
        .await
        .unwrap();
    wait_ready(&b).await.unwrap();
    let en = table(&b, "density-map").await.unwrap();
    assert_eq!(row(&en, "code", "510000")["enterprises_reached"], "no data");
    assert_eq!(row(&en, "code", "440000")["name"], "Guangdong");
    let map_labels = b
        .client
        .execute(
            "return [...document.querySelectorAll(\"section[data-panel='density-map'] svg text\")].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    let map_labels: Vec<String> = serde_json::from_value(map_labels).unwrap();
    assert!(
        map_labels.iter().any(|l| l == "Guangdong"),
        "{map_labels:?}"
    );
    assert!(
        map_labels.iter().any(|l| l == "South China Sea Islands"),
        "{map_labels:?}"
    );
    assert!(
        !map_labels
            .iter()
            .any(|l| l.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))),
        "Chinese on the English map: {map_labels:?}"
    );
    only_the_hub(&b, &base, "planner").await;
    b.client.close().await.unwrap();

    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_sees_only_their_province_in_a_real_browser() {
    let Setup {
        hub,
        seed,
        base,
        spki,
        driver,
        shots,
        files,
    } = setup().await;
    // === coordinator of Guangdong ===
    let b = Browser::start(&driver, &spki).await.unwrap();
    login(&b, &base, "li", PASSWORD).await;
    let others: Vec<&str> = seed
        .platforms
        .iter()
        .filter(|p| p.province != "440000")
        .flat_map(|p| [p.code.as_str(), p.name.as_str()])
        .chain([
            "110000", "330000", "510000", "北京", "浙江", "四川", "110108", "330100", "510100",
        ])
        .collect();
    let check_page = |html: String, what: String| {
        for o in &others {
            assert!(
                !html.contains(o),
                "{what}: the coordinator's page shows {o}"
            );
        }
    };
    for id in DASHBOARDS {
        open(&b, &base, &format!("#/{id}")).await.unwrap();
        // Show every data table and hover the first chart, so tooltips are in the page too.
        let panels: Vec<String> = b
            .client
            .execute(
                "return [...document.querySelectorAll('section.panel')].map(p => p.dataset.panel)",
                vec![],
            )
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        for p in &panels {
            let _ = table(&b, p).await;
        }
        for p in &panels {
            if let Ok(button) = b
                .client
                .find(Locator::Css(&format!(
                    "section[data-panel='{p}'] button[data-action='table']"
                )))
                .await
            {
                button.click().await.unwrap();
            }
            if let Ok(chart) = b
                .client
                .find(Locator::Css(&format!("section[data-panel='{p}'] .chart")))
                .await
            {
                if chart.is_displayed().await.unwrap_or(false) {
                    let hover =
                        MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
                            element: chart,
                            duration: Some(Duration::from_millis(100)),
                            x: 0.0,
                            y: 0.0,
                        });
                    b.client.perform_actions(hover).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let html = b.client.source().await.unwrap();
                    check_page(html, format!("{id} hovering {p}"));
                }
            }
            if let Ok(csv) = b
                .client
                .find(Locator::Css(&format!(
                    "section[data-panel='{p}'] button[data-action='csv']"
                )))
                .await
            {
                csv.click().await.unwrap();
            }
        }
        let html = b.client.source().await.unwrap();
        check_page(html, id.to_string());
        let options: Vec<String> = b
            .client
            .execute(
                "return [...document.querySelectorAll('#filter-region option')].map(o => o.value)",
                vec![],
            )
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert!(
            !options.is_empty() && options.iter().all(|o| o.starts_with("44")),
            "{id}: region drop-down {options:?}"
        );
        b.full_screenshot(&shots.join(format!("coordinator-{id}-zh.png")))
            .await
            .unwrap();
        no_console_errors(&b, &format!("coordinator {id}")).await;
    }
    // The export bar of the volume page: the platform rows of Guangdong as CSV, through the
    // hub's export (the session cookie goes with the link).
    open(&b, &base, "#/volume").await.unwrap();
    b.client
        .find(Locator::Css("#export-format"))
        .await
        .unwrap()
        .select_by_value("csv")
        .await
        .unwrap();
    b.client
        .find(Locator::Css("#export-level"))
        .await
        .unwrap()
        .select_by_value("platform")
        .await
        .unwrap();
    let link = b.client.find(Locator::Css("#export-link")).await.unwrap();
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    assert!(
        href.starts_with("/api/v1/exports?statistics=volume&format=csv")
            && href.contains("area_level=platform"),
        "{href}"
    );
    let before = b.downloaded().len();
    link.click().await.unwrap();
    let mut export = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(f) = b.downloaded().into_iter().find(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sme-volume-"))
        }) {
            export = Some(f);
            break;
        }
    }
    let export = export.unwrap_or_else(|| panic!("no export downloaded ({before} files before)"));
    let bytes = std::fs::read(&export).unwrap();
    assert!(
        bytes.starts_with("\u{feff}行类型".as_bytes()),
        "BOM and Chinese headers"
    );
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        seed.platforms
            .iter()
            .filter(|p| p.province == "440000")
            .all(|p| text.contains(p.code.as_str())),
        "every Guangdong platform is a row"
    );

    // Every download of the coordinator: Guangdong only.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let downloads = b.downloaded();
    assert!(downloads.len() >= 10, "CSV downloads: {downloads:?}");
    for d in &downloads {
        let text = String::from_utf8_lossy(&std::fs::read(d).unwrap()).into_owned();
        check_page(text, d.display().to_string());
    }
    // The coordinator's own figures equal the planner's for Guangdong.
    open(&b, &base, "#/volume").await.unwrap();
    let mine = table(&b, "by-region").await.unwrap();
    let codes: BTreeSet<&str> = mine.iter().map(|r| r["code"].as_str()).collect();
    assert_eq!(codes, BTreeSet::from(["440100", "440300"]), "{mine:#?}");
    for p in seed.platforms.iter().filter(|p| p.province == "440000") {
        assert_eq!(
            row(&mine, "code", &p.prefecture)["services"],
            int(p.records.len() as u64)
        );
    }

    // Registry upload: a row of another province is refused with its problem, nothing
    // imported; a Guangdong row is previewed, then imported.
    let outside = files.path().join("outside.csv");
    std::fs::write(
        &outside,
        format!(
            "统一社会信用代码,平台名称,所在地区,独立法人,登记日期\n{},外省平台,110108,是,2021-01-01\n",
            sme_proto::credit_code::make_valid("12110108MB0D0009X")
        ),
    )
    .unwrap();
    open(&b, &base, "#/registry").await.unwrap();
    let (kind, text) = upload(&b, &outside).await;
    assert_eq!(kind, "rejected", "{text}");
    assert!(text.contains("110108"), "{text}");
    expected_console_errors(
        &b,
        "refused registry upload",
        &["status of 403", "status of 422"],
    )
    .await;
    let newcomer = sme_proto::credit_code::make_valid("12440300MB0D0008X");
    let own = files.path().join("own.csv");
    std::fs::write(
        &own,
        format!("统一社会信用代码,平台名称,所在地区,独立法人,登记日期\n{newcomer},深圳新平台,440300,是,2021-01-01\n"),
    )
    .unwrap();
    open(&b, &base, "#/registry").await.unwrap();
    let (kind, text) = upload(&b, &own).await;
    assert_eq!(kind, "preview", "{text}");
    let (kind, text) = confirm(&b).await;
    assert_eq!(kind, "imported", "{text}");
    b.screenshot(&shots.join("coordinator-registry-zh.png"))
        .await
        .unwrap();

    // Reopen a period for one of their platforms, with the reason; it is listed.
    open(&b, &base, "#/reopen").await.unwrap();
    let reason = "系统故障补报（浏览器测试）";
    b.client
        .find(Locator::Css("#reopen-reason"))
        .await
        .unwrap()
        .send_keys(reason)
        .await
        .unwrap();
    b.client
        .find(Locator::Css("button[data-action='reopen']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let status = b
        .wait_for("form.action p.ok", Duration::from_secs(20))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("已重新开放"), "{status}");
    let listed = b
        .client
        .find(Locator::Css("table.data"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(listed.contains(reason), "{listed}");
    b.screenshot(&shots.join("coordinator-reopen-zh.png"))
        .await
        .unwrap();
    no_console_errors(&b, "coordinator actions").await;
    only_the_hub(&b, &base, "coordinator").await;

    // Logout ends the session: back to the login form.
    b.client
        .find(Locator::Css("button[data-action='logout']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for("#login-name", Duration::from_secs(10))
        .await
        .unwrap();
    b.client.close().await.unwrap();
    hub.stop().await;
}
