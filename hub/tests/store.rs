//! The ClickHouse store against a real server (Debian's `clickhouse-server` 18.16 in CI), started
//! by [`EmbeddedClickHouse`] in a temp dir. No mocks.
//!
//! Tests about stored data share one server per test binary and each use their own database;
//! tests about the server's life (restart, crash, stop) start their own.

use std::time::Duration;

use clickhouse::Row;
use serde::Deserialize;
use sme_hub::store::{
    migrations, AcceptedReport, AuditEntry, AuditOutcome, ClickHouseConfig, EmbeddedClickHouse,
    EmbeddedOptions, Store, StoreError, StoreOptions, VolumeTotal,
};
use sme_proto::{fixtures, v1};
use time::OffsetDateTime;
use uuid::Uuid;

mod support;

// === support ===

/// A store on the shared server, in a fresh database.
async fn fresh_store(test: &str) -> Store {
    Store::connect(&fresh_config(test)).await.expect("connect")
}

fn fresh_config(test: &str) -> ClickHouseConfig {
    support::fresh_config("hub-store-tests", test)
}

fn at(unix: i64, nanos: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap() + time::Duration::nanoseconds(nanos)
}

fn accepted(report: &v1::Report, received_at: OffsetDateTime) -> AcceptedReport {
    AcceptedReport {
        report: report.clone(),
        platform_id: report.platform_id.clone(),
        region_code: report.platform_id[2..8].to_owned(),
        received_at,
        due_at: due_at(&report.period),
        flags: Vec::new(),
    }
}

/// The due time of `period` in the default calendar.
fn due_at(period: &str) -> OffsetDateTime {
    sme_proto::period::Calendar::default().due_at(&period.parse().expect("period"))
}

/// The numbers `volume_totals` must return for `report`.
fn totals_of(report: &v1::Report) -> Vec<VolumeTotal> {
    let mut totals: Vec<VolumeTotal> = report
        .volumes
        .iter()
        .map(|v| {
            (
                v.function as u8,
                v.services,
                v.enterprises_served,
                v.free_services,
                v.revenue_fen,
                v.person_times,
            )
        })
        .collect();
    totals.sort();
    totals
}

/// Row counts of the report tables for `report_id`, before any merge.
async fn row_counts(store: &Store, report_id: &str) -> (u64, u64, u64) {
    let count = |table: &str| {
        store
            .client()
            .query(&format!(
                "SELECT count() FROM {table} WHERE report_id = toUUID(?)"
            ))
            .bind(report_id)
            .fetch_one::<u64>()
    };
    (
        count("reports").await.unwrap(),
        count("service_volume").await.unwrap(),
        count("service_records").await.unwrap(),
    )
}

// === stored data (shared server) ===

#[tokio::test]
async fn a_batch_reads_back_exactly_the_numbers_sent() {
    let store = fresh_store("batch").await;
    let here = fixtures::sample_platform_id();
    let there = fixtures::other_platform_id();
    let quarter = fixtures::sample_report(&here, "2026-Q1");
    let other = fixtures::sample_report(&there, "2026-Q1");
    let mut year = fixtures::sample_report(&here, "2025-A");
    year.explanations.push(v1::Explanation {
        rule_id: "W201".into(),
        text: "新增检测中心，服务量翻番".into(),
    });
    let batch = [
        accepted(&quarter, at(1_776_000_000, 0)),
        accepted(&other, at(1_776_000_001, 0)),
        accepted(&year, at(1_776_000_002, 0)),
    ];
    store.insert_reports(&batch).await.unwrap();

    assert_eq!(
        store.volume_totals(&here, "2026-Q1").await.unwrap(),
        totals_of(&quarter)
    );
    assert_eq!(
        store.volume_totals(&there, "2026-Q1").await.unwrap(),
        totals_of(&other)
    );
    assert_eq!(
        store.volume_totals(&here, "2025-A").await.unwrap(),
        totals_of(&year)
    );
    assert_eq!(store.volume_totals(&here, "2026-Q2").await.unwrap(), vec![]);

    // Every section of the annual report, as stored.
    #[derive(Debug, Row, Deserialize, PartialEq)]
    struct Sections {
        region_code: String,
        province_code: String,
        period_kind: i8,
        #[serde(with = "clickhouse::serde::time::date")]
        period_start: time::Date,
        satisfaction_responses: u64,
        professional_with_degree_or_mid_title: u32,
        total_assets_fen: i64,
        disclosure_time: u8,
        has_capacity: u8,
        floor_area_m2: f64,
        certifications: Vec<String>,
        partner_service_agencies: u32,
        startups_counselled: u64,
        service_record_count: u32,
        explanation_rule_ids: Vec<String>,
        explanation_texts: Vec<String>,
    }
    let got = store
        .client()
        .query("SELECT ?fields FROM reports WHERE report_id = toUUID(?)")
        .bind(&year.report_id)
        .fetch_one::<Sections>()
        .await
        .unwrap();
    let capacity = year.capacity.clone().unwrap();
    assert_eq!(
        got,
        Sections {
            region_code: "110108".into(),
            province_code: "110000".into(),
            period_kind: 3,
            period_start: time::Date::from_calendar_date(2025, time::Month::January, 1).unwrap(),
            satisfaction_responses: year.satisfaction.unwrap().responses,
            professional_with_degree_or_mid_title: year
                .staff
                .unwrap()
                .professional_with_degree_or_mid_title,
            total_assets_fen: year.finance.unwrap().total_assets_fen,
            disclosure_time: 1,
            has_capacity: 1,
            floor_area_m2: capacity.floor_area_m2,
            certifications: capacity.certifications,
            partner_service_agencies: capacity.partner_service_agencies,
            startups_counselled: year.startups.unwrap().startups_counselled,
            service_record_count: year.service_records.len() as u32,
            explanation_rule_ids: vec!["W201".into()],
            explanation_texts: vec!["新增检测中心，服务量翻番".into()],
        }
    );

    // Service records: one row each, same money and person-times as sent.
    let (count, fees, person_times, free) = store
        .client()
        .query(
            "SELECT count(), sum(fee_fen), sum(person_times), sum(free) \
             FROM service_records WHERE report_id = toUUID(?)",
        )
        .bind(&quarter.report_id)
        .fetch_one::<(u64, i64, u64, u64)>()
        .await
        .unwrap();
    let records = &quarter.service_records;
    assert_eq!(count, records.len() as u64);
    assert_eq!(fees, records.iter().map(|r| r.fee_fen).sum::<i64>());
    assert_eq!(
        person_times,
        records.iter().map(|r| r.person_times).sum::<u64>()
    );
    assert_eq!(free, records.iter().filter(|r| r.free).count() as u64);
}

#[tokio::test]
async fn the_same_report_twice_never_doubles_anything() {
    let store = fresh_store("dupes").await;
    let platform = fixtures::sample_platform_id();
    let report = fixtures::sample_report(&platform, "2026-M03");
    let expected = totals_of(&report);

    store
        .insert_reports(&[accepted(&report, at(1_775_000_000, 0))])
        .await
        .unwrap();
    // A retried batch, and the same report twice within one batch.
    store
        .insert_reports(&[accepted(&report, at(1_775_000_050, 0))])
        .await
        .unwrap();
    store
        .insert_reports(&[
            accepted(&report, at(1_775_000_060, 0)),
            accepted(&report, at(1_775_000_070, 0)),
        ])
        .await
        .unwrap();
    // The duplicates are really there (no merge yet), and still count once.
    assert_eq!(row_counts(&store, &report.report_id).await.0, 4);
    assert_eq!(
        store.volume_totals(&platform, "2026-M03").await.unwrap(),
        expected
    );

    // After ClickHouse merges them away, the numbers are the same.
    for table in ["reports", "service_volume", "service_records"] {
        support::owner_client("hub-store-tests", store.database())
            .query(&format!("OPTIMIZE TABLE {table} FINAL"))
            .execute()
            .await
            .unwrap();
    }
    let records = report.service_records.len() as u64;
    let volumes = report.volumes.len() as u64;
    assert_eq!(
        row_counts(&store, &report.report_id).await,
        (1, volumes, records)
    );
    assert_eq!(
        store.volume_totals(&platform, "2026-M03").await.unwrap(),
        expected
    );
}

#[tokio::test]
async fn a_later_revision_supersedes_even_if_the_earlier_arrives_last() {
    let store = fresh_store("revisions").await;
    let platform = fixtures::sample_platform_id();
    let first = fixtures::sample_report(&platform, "2026-M04");
    let mut second = fixtures::sample_report(&platform, "2026-M04");
    second.revision = 1;
    second.service_records.truncate(5);
    fixtures::recompute_volumes(&mut second);
    assert_ne!(totals_of(&first), totals_of(&second));

    store
        .insert_reports(&[accepted(&first, at(1_776_000_000, 0))])
        .await
        .unwrap();
    assert_eq!(
        store.volume_totals(&platform, "2026-M04").await.unwrap(),
        totals_of(&first)
    );
    store
        .insert_reports(&[accepted(&second, at(1_776_000_100, 0))])
        .await
        .unwrap();
    assert_eq!(
        store.volume_totals(&platform, "2026-M04").await.unwrap(),
        totals_of(&second)
    );
    // Revision 0 written again later (a retried old batch) changes nothing.
    store
        .insert_reports(&[accepted(&first, at(1_776_000_200, 0))])
        .await
        .unwrap();
    assert_eq!(
        store.volume_totals(&platform, "2026-M04").await.unwrap(),
        totals_of(&second)
    );

    // The view names the same current report.
    let (report_id, revision) = store
        .client()
        .query(
            "SELECT toString(report_id), revision FROM current_reports \
             WHERE platform_id = ? AND period = ?",
        )
        .bind(&platform)
        .bind("2026-M04")
        .fetch_one::<(String, u32)>()
        .await
        .unwrap();
    assert_eq!((report_id, revision), (second.report_id.clone(), 1));

    let id = |r: &v1::Report| Some(Uuid::parse_str(&r.report_id).unwrap());
    assert_eq!(
        store.find_revision(&platform, "2026-M04", 0).await.unwrap(),
        id(&first)
    );
    assert_eq!(
        store.find_revision(&platform, "2026-M04", 1).await.unwrap(),
        id(&second)
    );
    assert_eq!(
        store.find_revision(&platform, "2026-M04", 2).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_revision(&platform, "2026-M05", 0).await.unwrap(),
        None
    );

    let received = store
        .received_periods(&platform, &["2026-M04".into(), "2026-M05".into()])
        .await
        .unwrap();
    assert_eq!(received, ["2026-M04".to_owned()].into());
}

#[tokio::test]
async fn two_reports_racing_for_one_revision_the_first_received_wins() {
    let store = fresh_store("race_revision").await;
    let platform = fixtures::sample_platform_id();
    let first = fixtures::sample_report(&platform, "2026-M06");
    let mut second = fixtures::sample_report(&platform, "2026-M06");
    second.service_records.truncate(4);
    fixtures::recompute_volumes(&mut second);
    // Same second, 1 µs apart; the later one is written first.
    store
        .insert_reports(&[accepted(&second, at(1_782_000_000, 1_000))])
        .await
        .unwrap();
    store
        .insert_reports(&[accepted(&first, at(1_782_000_000, 0))])
        .await
        .unwrap();

    assert_eq!(
        store.volume_totals(&platform, "2026-M06").await.unwrap(),
        totals_of(&first)
    );
    assert_eq!(
        store.find_revision(&platform, "2026-M06", 0).await.unwrap(),
        Some(Uuid::parse_str(&first.report_id).unwrap())
    );
    let current = store
        .client()
        .query("SELECT toString(report_id) FROM current_reports WHERE platform_id = ?")
        .bind(&platform)
        .fetch_one::<String>()
        .await
        .unwrap();
    assert_eq!(current, first.report_id);
}

#[tokio::test]
async fn find_receipt_returns_the_earliest_receipt_exactly() {
    let store = fresh_store("receipts").await;
    let platform = fixtures::sample_platform_id();
    let report = fixtures::sample_report(&platform, "2026-M02");
    let flags = vec![
        v1::FieldViolation {
            field: "satisfaction.responses".into(),
            rule_id: "W104".into(),
            message_zh: "有效问卷少于30份".into(),
            message_en: "fewer than 30 satisfaction responses".into(),
        },
        v1::FieldViolation {
            field: "disclosures.fees".into(),
            rule_id: "W103".into(),
            message_zh: "未公开收费".into(),
            message_en: "fees are not disclosed, it's \"五公开\"".into(),
        },
    ];
    let first_at = at(1_773_000_000, 123_456_789);
    let mut original = accepted(&report, first_at);
    original.flags = flags.clone();
    let mut late = accepted(&report, at(1_773_000_500, 1));
    late.flags = vec![];
    // The later write lands first: the earliest receipt must still win.
    store.insert_reports(&[late]).await.unwrap();
    store.insert_reports(&[original]).await.unwrap();

    let id = Uuid::parse_str(&report.report_id).unwrap();
    let expected = sme_hub::store::StoredReceipt {
        report_id: id,
        platform_id: platform.clone(),
        period: "2026-M02".into(),
        revision: 0,
        received_at: first_at,
        flags,
    };
    assert_eq!(
        store.find_receipt(id).await.unwrap(),
        Some(expected.clone())
    );
    // Merging keeps the earliest receipt too.
    support::owner_client("hub-store-tests", store.database())
        .query("OPTIMIZE TABLE reports FINAL")
        .execute()
        .await
        .unwrap();
    assert_eq!(row_counts(&store, &report.report_id).await.0, 1);
    assert_eq!(store.find_receipt(id).await.unwrap(), Some(expected));

    assert_eq!(store.find_receipt(Uuid::new_v4()).await.unwrap(), None);
}

#[tokio::test]
async fn every_submission_is_audited() {
    let store = fresh_store("audit").await;
    let outcomes = [
        AuditOutcome::Accepted,
        AuditOutcome::Rejected,
        AuditOutcome::Duplicate,
        AuditOutcome::Deferred,
        AuditOutcome::Unauthenticated,
        AuditOutcome::PermissionDenied,
    ];
    let entries: Vec<AuditEntry> = outcomes
        .iter()
        .enumerate()
        .map(|(i, &outcome)| AuditEntry {
            received_at: at(1_776_000_000 + i as i64, 0),
            platform_id: if outcome == AuditOutcome::Unauthenticated {
                String::new()
            } else {
                fixtures::sample_platform_id()
            },
            cert_subject: "CN=platform".into(),
            period: "2026-M05".into(),
            report_id: if i == 1 {
                "not-a-uuid".into()
            } else {
                Uuid::new_v4().to_string()
            },
            revision: i as u32,
            outcome,
            status_code: i as i32 * 3,
            rule_ids: if i == 1 {
                vec!["E005".into(), "E008".into()]
            } else {
                vec![]
            },
            peer: "127.0.0.1:40000".into(),
            hub_instance: "hub-a:1".into(),
        })
        .collect();
    store.insert_audit(&entries).await.unwrap();

    #[derive(Debug, Row, Deserialize)]
    struct Audited {
        outcome: String,
        report_id: String,
        status_code: i32,
        rule_ids: Vec<String>,
        platform_id: String,
    }
    let rows = store
        .client()
        .query(
            "SELECT toString(outcome) AS outcome, report_id, status_code, rule_ids, platform_id \
             FROM audit ORDER BY received_at",
        )
        .fetch_all::<Audited>()
        .await
        .unwrap();
    assert_eq!(rows.len(), outcomes.len());
    for ((row, entry), outcome) in rows.iter().zip(&entries).zip(outcomes) {
        assert_eq!(row.outcome, outcome.as_str());
        assert_eq!(row.report_id, entry.report_id);
        assert_eq!(row.status_code, entry.status_code);
        assert_eq!(row.rule_ids, entry.rule_ids);
        assert_eq!(row.platform_id, entry.platform_id);
    }
}

#[tokio::test]
async fn hubs_racing_on_start_up_migrate_once() {
    let cfg = fresh_config("race");
    let connects = (0..4).map(|_| {
        let cfg = cfg.clone();
        tokio::spawn(async move { Store::connect(&cfg).await })
    });
    for connect in connects {
        connect.await.unwrap().expect("every racing hub connects");
    }
    let store = Store::connect(&cfg).await.unwrap();
    let versions = store
        .client()
        .query("SELECT DISTINCT version FROM schema_migrations ORDER BY version")
        .fetch_all::<u32>()
        .await
        .unwrap();
    let known: Vec<u32> = migrations::MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, known);
    // A further start applies nothing.
    let client = cfg
        .accounts
        .owner
        .apply(clickhouse::Client::default().with_url(&cfg.url))
        .with_validation(false);
    assert_eq!(
        sme_hub::store::migrate(&client, &cfg.database, None)
            .await
            .unwrap(),
        Vec::<u32>::new()
    );
}

#[tokio::test]
async fn bad_settings_are_refused_with_the_key_named() {
    let mut cfg = fresh_config("settings");
    // A cluster the server does not define is named, before any table is created.
    let options = StoreOptions {
        cluster: Some(sme_hub::store::ClusterOptions {
            name: "main".into(),
            nodes: vec![cfg.url.clone()],
            distributed_ddl: false,
            replicated: false,
        }),
        ..StoreOptions::default()
    };
    let err = Store::connect_with(&cfg, &options).await.unwrap_err();
    assert!(err.to_string().contains("no cluster \"main\""), "{err}");
    assert!(err.to_string().contains("clickhouse.cluster"), "{err}");

    cfg.database = "sme-prod".into();
    let err = Store::connect(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("clickhouse.database"), "{err}");
}

// === the server's life (own servers) ===

#[tokio::test]
async fn a_missing_binary_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        search_dirs: Some(vec![empty.path().to_owned()]),
        ..EmbeddedOptions::default()
    };
    let err = EmbeddedClickHouse::start_with(data.path(), options)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "clickhouse-server not found: install it with \"sudo apt-get install clickhouse-server\" \
         (Debian/Ubuntu), or set [clickhouse] url in the hub config to use an existing server"
    );

    let options = EmbeddedOptions {
        binary: Some(empty.path().join("clickhouse-server")),
        ..EmbeddedOptions::default()
    };
    let err = EmbeddedClickHouse::start_with(data.path(), options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ServerNotFound { .. }), "{err}");
}

#[tokio::test]
async fn start_ping_stop_then_the_store_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedClickHouse::start(dir.path()).await.unwrap();
    assert!(server.ping().await);
    assert!(server.pid().is_some());
    let cfg = server.client_config("sme");
    let store = Store::connect(&cfg).await.unwrap();
    assert!(dir.path().join("config.xml").is_file());

    server.stop().await;
    let report = fixtures::sample_report(&fixtures::sample_platform_id(), "2026-M01");
    let err = store
        .insert_reports(&[accepted(&report, OffsetDateTime::now_utc())])
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = store.find_receipt(Uuid::new_v4()).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    let err = Store::connect(&cfg).await.unwrap_err();
    assert!(
        err.is_unavailable(),
        "a hub starting while ClickHouse is down may retry: {err}"
    );
}

#[tokio::test]
async fn a_restart_on_the_same_data_dir_keeps_data_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let platform = fixtures::sample_platform_id();
    let report = fixtures::sample_report(&platform, "2026-Q1");

    let server = EmbeddedClickHouse::start(dir.path()).await.unwrap();
    let store = Store::connect(&server.client_config("sme")).await.unwrap();
    store
        .insert_reports(&[accepted(&report, at(1_776_000_000, 0))])
        .await
        .unwrap();
    // Closes the pooled keep-alive connections, which would hold the server's shutdown until
    // they time out (3 s).
    drop(store);
    server.stop().await;

    let server = EmbeddedClickHouse::start(dir.path()).await.unwrap();
    let store = Store::connect(&server.client_config("sme")).await.unwrap();
    assert_eq!(
        store.volume_totals(&platform, "2026-Q1").await.unwrap(),
        totals_of(&report)
    );
    let (rows, versions) = store
        .client()
        .query("SELECT count(), uniqExact(version) FROM schema_migrations")
        .fetch_one::<(u64, u64)>()
        .await
        .unwrap();
    let known = migrations::MIGRATIONS.len() as u64;
    assert_eq!(
        (rows, versions),
        (known, known),
        "each migration recorded once"
    );
    drop(store);
    server.stop().await;
}

#[tokio::test]
async fn the_supervisor_restarts_a_crashed_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = EmbeddedClickHouse::start(dir.path()).await.unwrap();
    let url = server.http_url();
    let store = Store::connect(&server.client_config("sme")).await.unwrap();
    let report = fixtures::sample_report(&fixtures::sample_platform_id(), "2026-M01");
    store
        .insert_reports(&[accepted(&report, at(1_770_000_000, 0))])
        .await
        .unwrap();

    let crashed = server.pid().unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &crashed.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.restarts() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no restart within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(server.ping().await);
    assert_ne!(server.pid(), Some(crashed));
    assert_eq!(server.http_url(), url, "same port after a restart");
    let id = Uuid::parse_str(&report.report_id).unwrap();
    assert!(
        store.find_receipt(id).await.unwrap().is_some(),
        "data survives the crash"
    );
    drop(store);
    server.stop().await;
}
