//! The analytics routes of the JSON API (`/api/v1/analytics/volume`, `/satisfaction`) through
//! real HTTPS against a real hub and ClickHouse: 401 without a session, 403 (audited) for a
//! region outside the caller's scope, 400 naming the parameter, a coordinator's answers equal
//! the planner's for that region, and an accepted report in the very next answer.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sme_hub::analytics::Role;
use sme_hub::registry::Platform;
use sme_proto::credit_code::make_valid;
use sme_proto::v1;
use sme_tests::web::{WebClient, WebSession};
use sme_tests::{fixtures, TestHub};
use time::macros::{date, datetime};

const PASSWORD: &str = "long enough password";

#[track_caller]
fn problem(answer: &(StatusCode, Value), status: StatusCode, kind: &str) {
    assert_eq!(answer.0, status, "{:#}", answer.1);
    assert_eq!(
        answer.1["type"],
        format!("urn:sme-hub:problem:{kind}"),
        "{:#}",
        answer.1
    );
    assert!(answer.1["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

async fn get(web: &WebClient, path: &str, s: &WebSession) -> (StatusCode, Value) {
    web.get(path, s).await.expect("request answered")
}

async fn submit(hub: &TestHub, platform: &str, period: &str) -> v1::Report {
    let (_dir, identity) = hub.enroll(platform).await;
    let report = fixtures::sample_report(platform, period);
    hub.client(&identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(report.clone()),
        })
        .await
        .expect("report accepted");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_routes_scope_errors_and_freshness() {
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
    }
    let now = hub.clock().now();
    for (name, role, region) in [
        ("planner", Role::Planner, None),
        ("gd", Role::Coordinator, Some("440000")),
    ] {
        sme_hub::users::add(&store, name, role, region, PASSWORD, "test", now)
            .await
            .unwrap();
    }
    let web = WebClient::new(
        format!("https://127.0.0.1:{}", hub.running().web_addr.port()),
        hub.ca().cert_der(),
    )
    .unwrap();
    let volume = "/api/v1/analytics/volume?from=2026-M05";
    let satisfaction = "/api/v1/analytics/satisfaction?from=2026-M05";

    // Listed in the OpenAPI document; 401 without a session.
    let (_, doc) = web
        .call(Method::GET, "/api/v1/openapi.json", None)
        .await
        .unwrap();
    for path in ["/api/v1/analytics/volume", "/api/v1/analytics/satisfaction"] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} not in OpenAPI"
        );
        let answer = web.call(Method::GET, path, None).await.unwrap();
        problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    assert!(doc["components"]["schemas"]["VolumeView"].is_object());

    // Beijing and Guangzhou report before the comparisons; Shenzhen later (freshness).
    submit(&hub, &beijing, "2026-M05").await;
    let gz_report = submit(&hub, &guangzhou, "2026-M05").await;
    let planner = web.login("planner", PASSWORD).await.unwrap().unwrap();
    let gd = web.login("gd", PASSWORD).await.unwrap().unwrap();

    // A Guangdong coordinator asking for Beijing, or the country: 403, nothing of Beijing.
    for path in [
        format!("{volume}&region=110000"),
        format!("{volume}&region=110108&by=region"),
        format!("{volume}&region=000000"),
        format!("{satisfaction}&region=110000"),
        format!("{satisfaction}&region=000000&by=period"),
    ] {
        let answer = get(&web, &path, &gd).await;
        problem(&answer, StatusCode::FORBIDDEN, "outside-scope");
        assert_eq!(answer.1["field"], "region", "{path}");
        let text = answer.1.to_string();
        assert!(
            !text.contains("services") && !text.contains(&beijing),
            "{path}: {text}"
        );
    }

    // Unusable values: 400 naming the parameter.
    for (path, field) in [
        (format!("{volume}&by=colour"), "by"),
        (format!("{volume}&function=9"), "function"),
        (format!("{volume}&to=2026-Q2"), "to"),
        (format!("{volume}&industry=Z"), "industry"),
        (format!("{volume}&enterprise_size=huge"), "enterprise_size"),
        (format!("{volume}&level=gold"), "level"),
        (format!("{volume}&region=44"), "region"),
        ("/api/v1/analytics/volume?from=2026-M13".into(), "from"),
        ("/api/v1/analytics/volume".into(), "from"),
        (format!("{satisfaction}&by=function"), "by"),
        (format!("{satisfaction}&function=3"), "function"),
    ] {
        let answer = get(&web, &path, &gd).await;
        problem(&answer, StatusCode::BAD_REQUEST, "invalid-parameter");
        assert_eq!(answer.1["field"], field, "{path}: {:#}", answer.1);
    }

    // The coordinator's own-region answers equal the planner's for region=440000, by every key.
    let mut paths: Vec<String> = [
        "function",
        "region",
        "period",
        "industry",
        "enterprise_size",
    ]
    .iter()
    .map(|by| format!("{volume}&by={by}"))
    .collect();
    paths.push(format!("{volume}&function=3&level=none"));
    paths.push(format!("{satisfaction}&by=region"));
    paths.push(format!("{satisfaction}&by=period"));
    for path in &paths {
        let mine = get(&web, path, &gd).await;
        let mine_explicit = get(&web, &format!("{path}&region=440000"), &gd).await;
        let theirs = get(&web, &format!("{path}&region=440000"), &planner).await;
        assert_eq!(mine.0, StatusCode::OK, "{path}: {:#}", mine.1);
        assert_eq!(mine.1, theirs.1, "{path}");
        assert_eq!(mine_explicit.1, theirs.1, "{path}");
    }
    let (_, gd_volume) = get(&web, volume, &gd).await;
    let gz_services: u64 = gz_report.volumes.iter().map(|v| v.services).sum();
    assert_eq!(gd_volume["region"], "440000");
    assert_eq!(gd_volume["total"]["services"], gz_services, "{gd_volume:#}");
    assert_eq!(gd_volume["total"]["coverage"]["reported"], 1);
    assert_eq!(gd_volume["total"]["coverage"]["expected"], 2);
    let (_, national) = get(&web, &format!("{volume}&by=region"), &planner).await;
    assert_eq!(
        national["total"]["services"],
        2 * gz_services,
        "{national:#}"
    );
    let keys: Vec<&str> = national["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["110000", "440000"]);
    let (_, sat) = get(&web, &format!("{satisfaction}&by=region"), &gd).await;
    // The sample report: 30 very satisfied + 12 satisfied of 50 = 0.84, one report.
    assert_eq!(sat["total"]["responses"], 50, "{sat:#}");
    assert_eq!(sat["total"]["rate"], 0.84, "{sat:#}");

    // Freshness: Shenzhen's accepted report is in the very next answer.
    let path = format!("{volume}&region=440300");
    let (_, before) = get(&web, &path, &gd).await;
    assert_eq!(before["total"]["coverage"]["reported"], 0, "{before:#}");
    assert_eq!(before["total"]["services"], 0);
    let sz_report = submit(&hub, &shenzhen, "2026-M05").await;
    let (_, after) = get(&web, &path, &gd).await;
    let sz_services: u64 = sz_report.volumes.iter().map(|v| v.services).sum();
    assert_eq!(after["total"]["coverage"]["reported"], 1, "{after:#}");
    assert_eq!(after["total"]["services"], sz_services, "{after:#}");
    let (_, gd_after) = get(&web, volume, &gd).await;
    assert_eq!(gd_after["total"]["services"], gz_services + sz_services);

    // The refusals are audited with the route.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows: Vec<(String, String, u16)> = store
            .client()
            .query("SELECT user_name, path, status FROM web_audit WHERE action = 'refused'")
            .fetch_all()
            .await
            .unwrap();
        let has = |prefix: &str, status: u16| {
            rows.iter()
                .any(|r| r.0 == "gd" && r.1.starts_with(prefix) && r.2 == status)
        };
        if has("/api/v1/analytics/volume?", 403) && has("/api/v1/analytics/satisfaction?", 403) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "analytics refusals not audited: {rows:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    hub.stop().await;
}
