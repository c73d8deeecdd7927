//! Exports through the real doors: the web download over HTTPS (a client trusting only the
//! hub's CA) and the `sme-hub export` binary, against a real hub and ClickHouse. A Guangdong
//! coordinator downloads Guangdong only, equal to the analytics API; asking for Beijing is
//! refused on both doors and audited; every export is in `export_audit` with the SHA-256 of
//! what was delivered.

use std::process::Command;

use reqwest::StatusCode;
use sha2::Digest;
use sme_hub::analytics::Role;
use sme_hub::registry::Platform;
use sme_proto::credit_code::make_valid;
use sme_proto::v1;
use sme_tests::web::{WebClient, WebSession};
use sme_tests::{binary, fixtures, TestHub};
use time::macros::{date, datetime};

const PASSWORD: &str = "long enough password";

async fn download(web: &WebClient, path: &str, s: &WebSession) -> (StatusCode, String, Vec<u8>) {
    let resp = web
        .client
        .get(format!("{}{path}", web.base))
        .header("cookie", &s.cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, resp.bytes().await.unwrap().to_vec())
}

#[derive(clickhouse::Row, serde::Deserialize, Debug)]
struct Audit {
    user_name: String,
    channel: String,
    outcome: String,
    rows: u64,
    bytes: u64,
    sha256: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_exports_their_region_on_the_web_and_the_cli_and_nothing_else() {
    let hub = TestHub::start_at(datetime!(2026-06-12 09:00 +8)).await;
    let store = hub.store().clone();
    let beijing = make_valid("91110108MA0000A01");
    let shenzhen = make_valid("91440300MA0000A02");
    let guangzhou = make_valid("91440100MA0000A03");
    for (id, name) in [
        (&beijing, "北京海淀服务平台"),
        (&shenzhen, "深圳检测平台"),
        (&guangzhou, "广州创新平台"),
    ] {
        hub.register_platform(Platform::new(id, name, date!(2020 - 01 - 01)))
            .await;
        let (_dir, identity) = hub.enroll(id).await;
        hub.client(&identity.trust())
            .submit_report(v1::SubmitReportRequest {
                report: Some(fixtures::sample_report(id, "2026-M05")),
            })
            .await
            .expect("report accepted");
    }
    let now = hub.clock().now();
    sme_hub::users::add(
        &store,
        "gd",
        Role::Coordinator,
        Some("440000"),
        PASSWORD,
        "test",
        now,
    )
    .await
    .unwrap();
    let web = WebClient::new(
        format!("https://127.0.0.1:{}", hub.running().web_addr.port()),
        hub.ca().cert_der(),
    )
    .unwrap();
    let gd = web.login("gd", PASSWORD).await.unwrap().unwrap();

    // The download: Guangdong's platforms, prefectures and total; BOM; equal to the API.
    let path =
        "/api/v1/exports?statistics=volume&format=csv&from=2026-M05&area_level=platform&lang=en";
    let (status, kind, body) = download(&web, path, &gd).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert!(body.starts_with("\u{feff}".as_bytes()), "BOM");
    let mut reader = csv::Reader::from_reader(&body[3..]);
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let at = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert!(
        rows.iter().all(|r| r[at("region code")].starts_with("44")),
        "{rows:?}"
    );
    assert!(rows
        .iter()
        .all(|r| &r[at("platform credit code")] != beijing.as_str()));
    let platforms: Vec<&str> = rows
        .iter()
        .filter(|r| &r[at("row type")] == "platform")
        .map(|r| &r[at("platform credit code")])
        .collect();
    assert_eq!(platforms.len(), 2, "{platforms:?}");
    let total = rows.iter().find(|r| &r[at("row type")] == "total").unwrap();
    let (_, api) = web
        .get("/api/v1/analytics/volume?from=2026-M05", &gd)
        .await
        .unwrap();
    assert_eq!(
        total[at("services")].parse::<u64>().unwrap(),
        api["total"]["services"].as_u64().unwrap()
    );
    assert_eq!(
        total[at("reports")].parse::<u64>().unwrap(),
        api["total"]["coverage"]["reported"].as_u64().unwrap()
    );
    let sha = hex::encode(sha2::Sha256::digest(&body));

    // A workbook over the web: written to a work file, then streamed; Chinese intact.
    let (status, kind, xlsx_body) = download(
        &web,
        "/api/v1/exports?statistics=volume,satisfaction&format=xlsx&from=2026-M05",
        &gd,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.contains("spreadsheetml"), "{kind}");
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(xlsx_body.clone())).unwrap();
    use calamine::Reader;
    assert_eq!(book.sheet_names(), ["说明", "服务量", "满意度"]);
    let sheet = book.worksheet_range("服务量").unwrap();
    let names: Vec<String> = sheet.rows().map(|r| r[3].to_string()).collect();
    assert!(
        names.contains(&"深圳市".to_owned()) || names.contains(&"广东省".to_owned()),
        "{names:?}"
    );

    // Beijing, on the web: 403 naming the region, no file.
    let (status, kind, body) = download(&web, &format!("{path}&region=110000"), &gd).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(kind, "application/problem+json");
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "urn:sme-hub:problem:outside-scope");
    assert_eq!(problem["field"], "region");

    // And on the command line, as the same user: exit 3, no file.
    let work = tempfile::tempdir().unwrap();
    let hub_toml = work.path().join("hub.toml");
    std::fs::write(
        &hub_toml,
        format!("data_dir = {:?}\n", hub.data_dir().display().to_string()),
    )
    .unwrap();
    let out = work.path().join("bj.csv");
    let cli = |extra: &[&str], out: &std::path::Path| {
        let mut cmd = Command::new(binary("sme-hub"));
        cmd.arg("--config").arg(&hub_toml).args([
            "export",
            "--statistics",
            "volume",
            "--from",
            "2026-M05",
            "--as-user",
            "gd",
            "--quiet",
        ]);
        cmd.args(extra).arg("-o").arg(out);
        cmd.output().unwrap()
    };
    let refused = cli(&["--region", "110000"], &out);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("refused") && err.contains("110000"), "{err}");
    assert!(!out.exists());

    // Inside the region, as a workbook: written whole, no .part left.
    let xlsx = work.path().join("gd.xlsx");
    let done = cli(&["--format", "xlsx", "--level", "platform"], &xlsx);
    assert!(done.status.success(), "{done:?}");
    assert!(String::from_utf8_lossy(&done.stdout).contains("sha256"));
    assert!(xlsx.exists());
    assert!(!work.path().join("gd.xlsx.part").exists());
    let file_sha = hex::encode(sha2::Sha256::digest(std::fs::read(&xlsx).unwrap()));

    let audit: Vec<Audit> = store
        .client()
        .query(
            "SELECT user_name, channel, outcome, rows, bytes, sha256 FROM export_audit \
             ORDER BY at, at_nanos",
        )
        .fetch_all()
        .await
        .unwrap();
    let outcomes: Vec<(&str, &str, &str)> = audit
        .iter()
        .map(|a| (a.user_name.as_str(), a.channel.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("gd", "web", "done"),
            ("gd", "web", "done"),
            ("gd", "web", "refused"),
            ("gd", "cli", "refused"),
            ("gd", "cli", "done"),
        ]
    );
    assert_eq!(
        audit[0].sha256, sha,
        "the web audit hashes what was delivered"
    );
    assert_eq!(audit[0].rows as usize, rows.len());
    assert_eq!(
        audit[1].sha256,
        hex::encode(sha2::Sha256::digest(&xlsx_body))
    );
    assert_eq!(audit[4].sha256, file_sha);
    assert!(audit[4].bytes > 0);
    hub.stop().await;
}
