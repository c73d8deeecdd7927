//! ClickHouse accounts (issue 12 item 5) against real servers: the hub's embedded ClickHouse
//! lets no one in without a password, its read-only account cannot write and its ingest account
//! cannot rewrite the audit trail; an external server with three accounts is used the same way,
//! each account for its job (as `system.query_log` records), and one shared account still works.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;
use sme_hub::analytics::Role;
use sme_hub::registry::Platform;
use sme_hub::store::{Account, EmbeddedClickHouse, EmbeddedOptions};
use sme_proto::credit_code::make_valid;
use sme_proto::v1;
use sme_tests::web::WebClient;
use sme_tests::{fixtures, TestHub};
use time::macros::{date, datetime};

const PASSWORD: &str = "long enough password";

/// `sql` sent to `url` over HTTP as `account` (`None`: no credentials at all); the status and
/// the body.
async fn http_query(url: &str, account: Option<&Account>, sql: &str) -> (u16, String) {
    let mut request = reqwest::Client::new()
        .post(format!("{url}/?database=sme"))
        .body(sql.to_owned());
    if let Some(a) = account {
        request = request
            .header("X-ClickHouse-User", a.user_name())
            .header("X-ClickHouse-Key", &a.password);
    }
    let answer = request.send().await.expect("ClickHouse answers");
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[track_caller]
fn refused(answer: &(u16, String), why: &str, sql: &str) {
    assert_ne!(answer.0, 200, "{sql} should be refused: {}", answer.1);
    assert!(answer.1.contains(why), "{sql}: {}", answer.1);
}

#[track_caller]
fn allowed(answer: &(u16, String), sql: &str) {
    assert_eq!(answer.0, 200, "{sql}: {}", answer.1);
}

async fn submit(hub: &TestHub, platform: &str, period: &str) {
    let (_dir, identity) = hub.enroll(platform).await;
    hub.client(&identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(fixtures::sample_report(platform, period)),
        })
        .await
        .expect("report accepted");
}

/// The `<tcp_port>` the hub's embedded server was started with.
fn embedded_tcp_port(hub: &TestHub) -> u16 {
    let config = std::fs::read_to_string(hub.data_dir().join("clickhouse/config.xml")).unwrap();
    let start = config.find("<tcp_port>").unwrap() + "<tcp_port>".len();
    let end = start + config[start..].find("</tcp_port>").unwrap();
    config[start..end].parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_server_refuses_strangers_and_each_account_keeps_to_its_job() {
    let hub = TestHub::start_at(datetime!(2026-06-12 09:00 +8)).await;
    let platform = make_valid("91440300MA0000K01");
    hub.register_platform(Platform::new(&platform, "深圳平台", date!(2020 - 01 - 01)))
        .await;
    submit(&hub, &platform, "2026-M05").await;
    let ch = hub.clickhouse_config();
    let url = ch.url.as_str();
    let accounts = &ch.accounts;

    // The passwords are in a private file; users.xml has only their hashes.
    let file = hub.data_dir().join("clickhouse/sme-accounts.toml");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    let users = std::fs::read_to_string(hub.data_dir().join("clickhouse/users.xml")).unwrap();
    for a in [&accounts.owner, &accounts.ingest, &accounts.analytics] {
        assert!(a.password.len() >= 32);
        assert!(!users.contains(&a.password), "a password in users.xml");
    }

    // A local process without the password: no query, no write, over HTTP or the native port.
    let insert = "INSERT INTO audit (platform_id, outcome) VALUES ('forged', 'accepted')";
    for sql in ["SELECT count() FROM reports", insert] {
        refused(
            &http_query(url, None, sql).await,
            "Unknown user default",
            sql,
        );
    }
    let guess = Account::new(accounts.ingest.user.clone(), "guessed");
    refused(
        &http_query(url, Some(&guess), insert).await,
        "Wrong password",
        insert,
    );
    if let Ok(out) = std::process::Command::new("clickhouse-client")
        .args(["--port", &embedded_tcp_port(&hub).to_string(), "-q", insert])
        .output()
    {
        assert!(!out.status.success(), "clickhouse-client got in");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Unknown user default"), "{err}");
    }

    // The read-only account: reads, and nothing else.
    let analytics = Some(&accounts.analytics);
    allowed(
        &http_query(url, analytics, "SELECT count() FROM reports").await,
        "SELECT",
    );
    for sql in [
        "INSERT INTO reports SELECT * FROM reports",
        insert,
        "ALTER TABLE audit DELETE WHERE 1",
        "TRUNCATE TABLE audit",
        "DROP TABLE audit",
    ] {
        refused(&http_query(url, analytics, sql).await, "readonly mode", sql);
    }
    refused(
        &http_query(url, analytics, "SET readonly = 0").await,
        "readonly",
        "SET readonly = 0",
    );

    // The ingest account: inserts, but cannot rewrite or remove what is stored.
    let ingest = Some(&accounts.ingest);
    for sql in [
        "ALTER TABLE audit DELETE WHERE 1",
        "ALTER TABLE audit UPDATE outcome = 'accepted' WHERE 1",
        "ALTER TABLE reports DELETE WHERE 1",
        "ALTER TABLE audit DROP PARTITION 202606",
        "DROP TABLE audit",
        "TRUNCATE TABLE audit",
        "OPTIMIZE TABLE audit FINAL",
        "RENAME TABLE audit TO audit_old",
        "CREATE TABLE audit_copy AS audit",
    ] {
        refused(
            &http_query(url, ingest, sql).await,
            "DDL queries are prohibited",
            sql,
        );
    }
    allowed(&http_query(url, ingest, insert).await, insert);
    let (status, forged) = http_query(
        url,
        Some(&accounts.owner),
        "SELECT count() FROM audit WHERE platform_id = 'forged'",
    )
    .await;
    assert_eq!((status, forged.trim()), (200, "1"));
    // The accepted report is still there, and the hub still takes reports.
    let (_, reports) = http_query(url, analytics, "SELECT count() FROM reports").await;
    assert_eq!(reports.trim(), "1");
    let second = make_valid("91440300MA0000K04");
    hub.register_platform(Platform::new(&second, "深圳平台二", date!(2020 - 01 - 01)))
        .await;
    submit(&hub, &second, "2026-M05").await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_server_is_used_with_each_account_for_its_job() {
    let data = tempfile::tempdir().unwrap();
    let ch = EmbeddedClickHouse::start_with(
        data.path(),
        EmbeddedOptions {
            log_queries: true,
            ..EmbeddedOptions::default()
        },
    )
    .await
    .unwrap();
    let accounts = ch.accounts().clone();
    let hub = TestHub::start_with(|c| {
        c.clock = sme_hub::clock::Clock::manual(datetime!(2026-06-12 09:00 +8));
        c.registry.cache_seconds = 0;
        sme_tests::external_clickhouse(c, &ch.http_url(), &accounts);
    })
    .await;
    let platform = make_valid("91440300MA0000K02");
    hub.register_platform(Platform::new(&platform, "深圳平台", date!(2020 - 01 - 01)))
        .await;
    submit(&hub, &platform, "2026-M05").await;
    sme_hub::users::add(
        hub.store(),
        "planner",
        Role::Planner,
        None,
        PASSWORD,
        "test",
        hub.clock().now(),
    )
    .await
    .unwrap();
    let web = WebClient::new(
        format!("https://127.0.0.1:{}", hub.running().web_addr.port()),
        hub.ca().cert_der(),
    )
    .unwrap();
    let planner = web.login("planner", PASSWORD).await.unwrap().unwrap();
    let (status, body) = web
        .call(
            Method::GET,
            "/api/v1/analytics/volume?from=2026-M05",
            Some(&planner),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body:#}");

    // Who ran what, as the server logged it.
    let owner = Some(&accounts.owner);
    allowed(
        &http_query(&ch.http_url(), owner, "SYSTEM FLUSH LOGS").await,
        "SYSTEM FLUSH LOGS",
    );
    let (status, log) = http_query(
        &ch.http_url(),
        owner,
        "SELECT user, replaceRegexpAll(query, '\\\\s+', ' ') FROM system.query_log \
         WHERE type = 2 AND query NOT LIKE '%query_log%' FORMAT TSV",
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let rows: Vec<(&str, String)> = log
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(user, query)| (user, query.to_uppercase()))
        .collect();
    let by = |user: &str| -> Vec<&String> {
        rows.iter()
            .filter(|(u, _)| *u == user)
            .map(|(_, q)| q)
            .collect()
    };
    let (owned, ingested, analysed) = (
        by(&accounts.owner.user),
        by(&accounts.ingest.user),
        by(&accounts.analytics.user),
    );
    assert_eq!(
        rows.len(),
        owned.len() + ingested.len() + analysed.len(),
        "only the three accounts ran queries: {rows:#?}"
    );
    // The migrations, and only they, as the owner.
    assert!(owned.iter().any(|q| q.starts_with("CREATE TABLE")));
    for (user, queries) in [("ingest", &ingested), ("analytics", &analysed)] {
        assert!(
            !queries
                .iter()
                .any(|q| q.starts_with("CREATE") || q.starts_with("ALTER")),
            "{user} ran DDL: {queries:#?}"
        );
    }
    // Every report, audit row, session and user written as the ingest account.
    for table in ["REPORTS", "AUDIT", "SESSIONS", "USERS"] {
        assert!(
            ingested
                .iter()
                .any(|q| q.starts_with(&format!("INSERT INTO `{table}`("))),
            "no insert into {table} as ingest: {ingested:#?}"
        );
    }
    assert!(
        !analysed.iter().any(|q| q.starts_with("INSERT")),
        "{analysed:#?}"
    );
    // The web API's analytics read as the analytics account.
    assert!(
        analysed.iter().any(|q| q.contains("REPORT_FACTS")),
        "{analysed:#?}"
    );
    hub.stop().await;
    ch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_account_for_everything_still_works() {
    let data = tempfile::tempdir().unwrap();
    let ch = EmbeddedClickHouse::start(data.path()).await.unwrap();
    let owner = ch.accounts().owner.clone();
    let hub = TestHub::start_with(|c| {
        c.clock = sme_hub::clock::Clock::manual(datetime!(2026-06-12 09:00 +8));
        c.registry.cache_seconds = 0;
        c.clickhouse.url = ch.http_url();
        c.clickhouse.user = owner.user.clone();
        c.clickhouse.password = owner.password.clone();
    })
    .await;
    let platform = make_valid("91440300MA0000K03");
    hub.register_platform(Platform::new(&platform, "深圳平台", date!(2020 - 01 - 01)))
        .await;
    submit(&hub, &platform, "2026-M05").await;
    let (_, reports) =
        http_query(&ch.http_url(), Some(&owner), "SELECT count() FROM reports").await;
    assert_eq!(reports.trim(), "1");
    hub.stop().await;
    ch.stop().await;
}
