//! The web service's JSON API through real HTTPS (a client trusting only the hub's CA) against
//! a real hub and ClickHouse: sessions, CSRF, throttling, scope refusals, freshness, audit.
//!
//! One hub for the file; the scenarios run in order because they share its clock.

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use sme_hub::analytics::Role;
use sme_hub::registry::Platform;
use sme_proto::credit_code::make_valid;
use sme_proto::v1;
use sme_tests::{fixtures, TestHub};
use time::macros::{date, datetime};

const PASSWORD: &str = "long enough password";

struct Web {
    base: String,
    client: Client,
}

/// A logged-in session: cookie header value and CSRF token.
#[derive(Clone)]
struct Session {
    cookie: String,
    csrf: String,
}

impl Web {
    fn new(hub: &TestHub) -> Web {
        let ca = reqwest::Certificate::from_der(hub.ca().cert_der().as_ref()).unwrap();
        let client = Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .build()
            .unwrap();
        Web {
            base: format!("https://127.0.0.1:{}", hub.running().web_addr.port()),
            client,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(s) = session {
            req = req
                .header("cookie", &s.cookie)
                .header("x-csrf-token", &s.csrf);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        if !status.is_success() {
            assert_eq!(
                resp.headers()["content-type"],
                "application/problem+json",
                "{path}"
            );
        }
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, s: &Session) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(s), None).await
    }

    async fn login(&self, name: &str, password: &str) -> Result<Session, (StatusCode, Value)> {
        let resp = self
            .client
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"name": name, "password": password}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = resp.json().await.unwrap();
        if status != StatusCode::OK {
            return Err((status, body));
        }
        let cookie = cookie.expect("session cookie set");
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(cookie.starts_with("__Host-sme_session="), "{cookie}");
        Ok(Session {
            cookie: cookie.split(';').next().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        })
    }
}

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
    assert!(answer.1["detail_zh"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_api_sessions_scope_and_freshness() {
    let hub = TestHub::start_at(datetime!(2026-06-12 09:00 +8)).await;
    let store = hub.store().clone();
    let beijing = make_valid("91110108MA0000W01");
    let shenzhen = make_valid("91440300MA0000W02");
    let guangzhou = make_valid("91440100MA0000W03");
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
        ("bj", Role::Coordinator, Some("110000")),
        ("admin", Role::Admin, None),
    ] {
        sme_hub::users::add(&store, name, role, region, PASSWORD, "test", now)
            .await
            .unwrap();
    }
    let web = Web::new(&hub);

    // The OpenAPI document needs no login and lists every route.
    let (status, doc) = web
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let routes: Vec<(Method, String)> = vec![
        (Method::DELETE, "/api/v1/session".into()),
        (Method::GET, "/api/v1/me".into()),
        (Method::GET, "/api/v1/dashboards".into()),
        (Method::GET, "/api/v1/completeness?period=2026-M05".into()),
        (Method::GET, "/api/v1/calendar".into()),
        (Method::GET, "/api/v1/reopenings".into()),
        (Method::POST, "/api/v1/reopenings".into()),
        (Method::GET, "/api/v1/platforms".into()),
        (Method::GET, format!("/api/v1/platforms/{shenzhen}")),
        (
            Method::POST,
            "/api/v1/registry/imports?file_name=p.csv".into(),
        ),
        (
            Method::POST,
            "/api/v1/sme-counts/imports?file_name=s.csv".into(),
        ),
        (Method::GET, "/api/v1/analytics/layout?from=2026-M05".into()),
        (Method::GET, "/api/v1/analytics/staff?from=2026-Q1".into()),
        (
            Method::GET,
            "/api/v1/analytics/demo-candidates?from=2026-M05".into(),
        ),
        (Method::GET, "/api/v1/analytics/volume?from=2026-M05".into()),
        (
            Method::GET,
            "/api/v1/analytics/satisfaction?from=2026-M05".into(),
        ),
        (
            Method::GET,
            format!("/api/v1/analytics/platforms/{shenzhen}/history?from=2026-M05"),
        ),
        (
            Method::GET,
            "/api/v1/exports?statistics=volume&from=2026-M05".into(),
        ),
    ];
    // Every route of the document is in the list (but login, on the same path as logout, and
    // the document itself), so a new route cannot miss the check.
    let listed: Vec<String> = routes
        .iter()
        .map(|(_, p)| {
            p.split('?')
                .next()
                .unwrap()
                .replace(&shenzhen, "{credit_code}")
        })
        .collect();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            path == "/api/v1/openapi.json" || listed.contains(path),
            "{path} is in the OpenAPI document but not checked for 401"
        );
    }
    for (method, path) in &routes {
        let bare = path
            .split('?')
            .next()
            .unwrap()
            .replace(&shenzhen, "{credit_code}");
        assert!(
            doc["paths"][&bare].is_object(),
            "{bare} missing from OpenAPI"
        );
        let answer = web.call(method.clone(), path, None, None).await;
        problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    }

    let planner = web.login("planner", PASSWORD).await.unwrap();
    let gd = web.login("gd", PASSWORD).await.unwrap();
    let (status, me) = web.get("/api/v1/me", &gd).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["scope"], "440000");
    assert_eq!(me["csrf_token"], gd.csrf.as_str());

    // CSRF: no token, a wrong token, a foreign origin.
    let reopen_own = json!({"period": "2026-M05", "platform": shenzhen, "reason": "系统故障", "until": "2026-12-31"});
    let no_token = Session {
        csrf: String::new(),
        ..gd.clone()
    };
    let answer = web
        .call(
            Method::POST,
            "/api/v1/reopenings",
            Some(&no_token),
            Some(reopen_own.clone()),
        )
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "csrf");
    let answer = web
        .call(Method::DELETE, "/api/v1/session", Some(&no_token), None)
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "csrf");
    let foreign = web
        .client
        .post(format!("{}/api/v1/reopenings", web.base))
        .header("cookie", &gd.cookie)
        .header("x-csrf-token", &gd.csrf)
        .header("origin", "https://evil.example")
        .json(&reopen_own)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);

    // A coordinator of Guangdong asking for Beijing by every parameter: 403, nothing of Beijing.
    let denied: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::GET,
            "/api/v1/completeness?period=2026-M05&region=110000".into(),
            None,
        ),
        (
            Method::GET,
            "/api/v1/completeness?period=2026-M05&region=000000".into(),
            None,
        ),
        (Method::GET, "/api/v1/platforms?region=110108".into(), None),
        (Method::GET, format!("/api/v1/platforms/{beijing}"), None),
        (Method::GET, "/api/v1/reopenings?region=110000".into(), None),
        (
            Method::GET,
            "/api/v1/analytics/staff?from=2026-Q1&region=110000".into(),
            None,
        ),
        (
            Method::GET,
            "/api/v1/analytics/layout?from=2026-M05&region=110000".into(),
            None,
        ),
        (
            Method::GET,
            "/api/v1/analytics/demo-candidates?from=2026-M05&region=110000".into(),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/analytics/platforms/{beijing}/history?from=2026-M05"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/reopenings".into(),
            Some(
                json!({"period": "2026-M05", "platform": beijing, "reason": "x", "until": "2026-12-31"}),
            ),
        ),
        (
            Method::POST,
            "/api/v1/reopenings".into(),
            Some(
                json!({"period": "2026-M05", "region": "110000", "reason": "x", "until": "2026-12-31"}),
            ),
        ),
    ];
    for (method, path, body) in &denied {
        let answer = web
            .call(method.clone(), path, Some(&gd), body.clone())
            .await;
        problem(&answer, StatusCode::FORBIDDEN, "outside-scope");
        let text = answer.1.to_string();
        // Only what was asked is echoed: no name, no registry data of the other province.
        assert!(
            !text.contains("北京海淀") && !text.contains("region_code"),
            "{path}: {text}"
        );
    }
    let csv = format!(
        "统一社会信用代码,平台名称,所在地区,独立法人,登记日期\n{beijing},改名,440300,是,2020-01-01\n"
    );
    let upload = |path: String, s: &Session, body: String| {
        web.client
            .post(format!("{}{path}", web.base))
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.csrf)
            .body(body)
            .send()
    };
    let resp = upload("/api/v1/registry/imports?file_name=p.csv".into(), &gd, csv)
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "moving a Beijing platform"
    );

    // Own-region answers equal the planner's for that region; the default is the scope.
    for path in [
        "/api/v1/completeness?period=2026-M05&region=440000",
        "/api/v1/platforms?region=440000",
        "/api/v1/reopenings?region=440000",
        "/api/v1/analytics/staff?from=2026-Q1&to=2026-Q2&region=440000",
        "/api/v1/analytics/layout?from=2026-M05&region=440000",
        "/api/v1/analytics/demo-candidates?from=2026-M05&region=440000&tier=all",
    ] {
        let mine = web.get(path, &gd).await;
        let theirs = web.get(path, &planner).await;
        assert_eq!(mine.0, StatusCode::OK, "{path}: {:#}", mine.1);
        assert_eq!(mine.1, theirs.1, "{path}");
    }
    let (_, mine) = web.get("/api/v1/completeness?period=2026-M05", &gd).await;
    assert_eq!(mine["region"], "440000");
    assert_eq!(mine["total"]["expected"], 2);
    assert!(!mine.to_string().contains(&beijing));
    let (_, national) = web
        .get("/api/v1/completeness?period=2026-M05", &planner)
        .await;
    assert_eq!(national["total"]["expected"], 3);

    // Freshness: an acknowledged report is in the next answer.
    let before = web
        .get("/api/v1/completeness?period=2026-M05&region=440300", &gd)
        .await
        .1;
    assert_eq!(before["total"]["received"], 0);
    let (_dir, identity) = hub.enroll(&shenzhen).await;
    hub.client(&identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(fixtures::sample_report(&shenzhen, "2026-M05")),
        })
        .await
        .expect("report accepted");
    let after = web
        .get("/api/v1/completeness?period=2026-M05&region=440300", &gd)
        .await
        .1;
    assert_eq!(after["total"]["received"], 1, "{after:#}");
    assert!(!after
        .to_string()
        .contains(&format!("\"credit_code\":\"{shenzhen}\"")));

    // The coordinator's own actions: a reopening and a platforms upload, preview then import.
    let (status, r) = web
        .call(
            Method::POST,
            "/api/v1/reopenings",
            Some(&gd),
            Some(reopen_own),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r:#}");
    assert_eq!(r["by_name"], "gd");
    let answer = web
        .call(Method::POST, "/api/v1/reopenings", Some(&planner), Some(json!({"period": "2026-M05", "region": "440000", "reason": "x", "until": "2026-12-31"})))
        .await;
    problem(&answer, StatusCode::FORBIDDEN, "forbidden-role");
    let new_gd = make_valid("91440300MA0000W04");
    let csv = format!("统一社会信用代码,平台名称,所在地区,独立法人,登记日期\n{new_gd},新平台,440305,是,2021-03-01\n");
    let preview: Value = upload(
        "/api/v1/registry/imports?file_name=p.csv".into(),
        &gd,
        csv.clone(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        (preview["rows"].as_u64(), preview["dry_run"].as_bool()),
        (Some(1), Some(true))
    );
    let unconfirmed = upload(
        "/api/v1/registry/imports?file_name=p.csv&dry_run=false".into(),
        &gd,
        csv.clone(),
    )
    .await
    .unwrap();
    assert_eq!(unconfirmed.status(), StatusCode::CONFLICT);
    let sha = preview["sha256"].as_str().unwrap();
    let done = upload(
        format!("/api/v1/registry/imports?file_name=p.csv&dry_run=false&confirm_sha256={sha}"),
        &gd,
        csv,
    )
    .await
    .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let (_, list) = web.get("/api/v1/platforms", &gd).await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list:#}");
    let bad = upload(
        "/api/v1/registry/imports?file_name=p.csv".into(),
        &gd,
        "统一社会信用代码,平台名称,所在地区,独立法人,登记日期\nXYZ,坏,4403,也许,2021-02-30\n"
            .into(),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: Value = bad.json().await.unwrap();
    assert!(bad["problems"].as_array().unwrap().len() >= 3, "{bad:#}");
    assert_eq!(bad["problems"][0]["location"], "line 2", "{bad:#}");
    let sme = "地区代码,年份,中小企业数\n440000,2025,1000\n".to_owned();
    let resp = upload(
        "/api/v1/sme-counts/imports?file_name=s.csv".into(),
        &gd,
        sme.clone(),
    )
    .await
    .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "coordinators do not import SME counts"
    );
    let resp = upload(
        "/api/v1/sme-counts/imports?file_name=s.csv".into(),
        &planner,
        sme,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // Throttling: after 5 failures the right password is refused too.
    for _ in 0..5 {
        let (status, _) = web.login("bj", "wrong password!!").await.err().unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = web.login("bj", PASSWORD).await.err().unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body:#}");
    assert_eq!(body["type"], "urn:sme-hub:problem:throttled");

    // Disabled users are refused at once, sessions included.
    sme_hub::users::set_disabled(&store, "planner", true, "test", now)
        .await
        .unwrap();
    problem(
        &web.get("/api/v1/me", &planner).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_eq!(
        web.login("planner", PASSWORD).await.err().unwrap().0,
        StatusCode::UNAUTHORIZED
    );

    // Logout ends the session; idle sessions end after 30 minutes.
    let admin = web.login("admin", PASSWORD).await.unwrap();
    let (status, _) = web
        .call(Method::DELETE, "/api/v1/session", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    problem(
        &web.get("/api/v1/me", &admin).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_eq!(web.get("/api/v1/me", &gd).await.0, StatusCode::OK);
    hub.clock()
        .set(hub.clock().now() + time::Duration::minutes(31));
    let answer = web.get("/api/v1/me", &gd).await;
    problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(
        answer.1["detail"].as_str().unwrap().contains("idle"),
        "{:#}",
        answer.1
    );

    // The audit has the logins, the refusals and the actions.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let rows: Vec<(String, String, u16)> = store
            .client()
            .query("SELECT user_name, action, status FROM web_audit ORDER BY at, at_nanos")
            .fetch_all()
            .await
            .unwrap();
        let has = |user: &str, action: &str, status: u16| {
            rows.iter()
                .any(|r| r.0 == user && r.1 == action && r.2 == status)
        };
        let complete = has("gd", "login", 200)
            && has("gd", "refused", 403)
            && has("gd", "reopen", 201)
            && has("gd", "import", 200)
            && has("bj", "refused", 401)
            && has("bj", "refused", 429)
            && has("", "refused", 401)
            && has("admin", "logout", 204);
        if complete {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "audit incomplete: {rows:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    hub.stop().await;
}
