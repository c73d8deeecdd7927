//! The registry, reopenings, completeness and the operators' commands against a real ClickHouse
//! (Debian's 18.16 in CI), one server shared by this test binary, one database per test.

use std::path::{Path, PathBuf};
use std::process::Command;

use sme_hub::analytics::completeness;
use sme_hub::analytics::{Role, Scope, ScopeError, ViewError};
use sme_hub::registry::{self, import::ImportError, Activity, ImportOptions, Kind, RegistryCache};
use sme_hub::reporting::periods::{
    self, Coordinator, ReopenError, ReopenRequest, ReopenTarget, ReopeningFilter,
};
use sme_hub::store::{AcceptedReport, ClickHouseConfig, Store};
use sme_proto::credit_code::make_valid;
use sme_proto::period::{Calendar, Period};
use sme_proto::{fixtures, v1};
use time::macros::{date, datetime};
use time::OffsetDateTime;
use uuid::Uuid;

mod support;

// === support ===

fn fresh_config(test: &str) -> ClickHouseConfig {
    support::fresh_config("hub-registry-tests", test)
}

async fn fresh_store(test: &str) -> Store {
    let store = Store::connect(&fresh_config(test)).await.expect("connect");
    registry::seed_divisions(&store).await.expect("seed");
    store
}

fn options() -> ImportOptions {
    ImportOptions {
        kind: None,
        revision: None,
        by: "王协调员".into(),
        dry_run: false,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Codes of test platforms: Haidian (110108), Chaoyang (110105), Shenzhen districts.
fn code(prefix: &str, n: u32) -> String {
    make_valid(&format!("91{prefix}MA{n:07}"))
}

const HEADER: &str =
    "统一社会信用代码,平台名称,所在地区,行业门类,平台类型,示范级别,独立法人,登记日期,注销日期\n";

fn accepted(report: &v1::Report, region: &str, received_at: OffsetDateTime) -> AcceptedReport {
    AcceptedReport {
        report: report.clone(),
        platform_id: report.platform_id.clone(),
        region_code: region.to_owned(),
        received_at,
        due_at: due_at(&report.period),
        flags: Vec::new(),
    }
}

/// The due time of `period` in the default calendar.
fn due_at(period: &str) -> OffsetDateTime {
    sme_proto::period::Calendar::default().due_at(&period.parse().expect("period"))
}

fn period(s: &str) -> Period {
    s.parse().unwrap()
}

// === registry ===

#[tokio::test]
async fn imports_write_versions_skip_unchanged_rows_and_keep_history() {
    let store = fresh_store("versions").await;
    let dir = tempfile::tempdir().unwrap();
    let a = code("110108", 1);
    let b = code("440300", 2);
    let text = format!(
        "{HEADER}{a},中关村平台,110108,M,综合,国家级示范,是,2015-03-01,\n\
         {b},深圳平台,110105,,专业,,否,2020-01-01,\n"
    );
    let file = write(dir.path(), "platforms.csv", &text);
    let now = datetime!(2026-06-01 08:00 UTC);
    let report = registry::import_file(&store, &file, &options(), now)
        .await
        .unwrap();
    assert_eq!(
        (report.kind, report.rows, report.changed),
        (Kind::Platforms, 2, 2)
    );
    assert_eq!(report.warnings.len(), 1, "b is registered in Guangdong");

    let list = registry::platforms(&store, None).await.unwrap();
    assert_eq!(list.len(), 2);
    let stored_b = list.iter().find(|p| p.credit_code == b).unwrap();
    assert_eq!(
        stored_b.warnings.len(),
        1,
        "the warning is stored with the row"
    );
    assert!(stored_b.warnings[0].zh.contains("不在同一省份"));
    assert_eq!(stored_b.updated_by, "王协调员");
    assert_eq!(stored_b.source, "platforms.csv line 3");
    assert_eq!(stored_b.updated_at, now);
    let stored_a = list.iter().find(|p| p.credit_code == a).unwrap();
    assert_eq!(stored_a.level, registry::DemoLevel::National);
    assert!(stored_a.independent_legal_person);

    // The same file again changes nothing.
    let again = registry::import_file(&store, &file, &options(), now + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.changed, 0);

    // Closing b is a new version; the old one stays in the history.
    let closed = write(
        dir.path(),
        "closing.csv",
        &format!("{HEADER}{b},深圳平台,110105,,专业,,否,2020-01-01,2026-05-15\n"),
    );
    let later = now + time::Duration::days(1);
    let c = registry::import_file(&store, &closed, &options(), later)
        .await
        .unwrap();
    assert_eq!(c.changed, 1);
    let current = registry::platform(&store, &b).await.unwrap().unwrap();
    assert_eq!(current.closed, Some(date!(2026 - 05 - 15)));
    let history = registry::platform_history(&store, &b).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].closed, None);
    assert_eq!(history[1].closed, Some(date!(2026 - 05 - 15)));

    // Region filters: a prefix, a province code, a prefecture code.
    for (filter, expected) in [
        ("11", 2),
        ("110000", 2),
        ("110100", 2),
        ("110105", 1),
        ("44", 0),
    ] {
        let prefix = registry::region::filter_prefix(filter).unwrap();
        let got = registry::platforms(&store, Some(&prefix)).await.unwrap();
        assert_eq!(got.len(), expected, "{filter}");
    }

    // Each import is logged (the unchanged one too).
    let logged: u64 = store
        .client()
        .query("SELECT count() FROM registry_imports WHERE kind = 'platforms'")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(logged, 3);
}

#[tokio::test]
async fn a_file_with_any_bad_row_imports_nothing() {
    let store = fresh_store("bad_row").await;
    let dir = tempfile::tempdir().unwrap();
    let a = code("110108", 1);
    let text = format!(
        "{HEADER}{a},好平台,110108,,,,是,2015-03-01,\n{a}0,坏平台,110108,,,,是,2015-03-01,\n"
    );
    let file = write(dir.path(), "p.csv", &text);
    let err = registry::import_file(&store, &file, &options(), OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    let ImportError::Rejected { problems, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(problems.len(), 1);
    let message = err.to_string();
    assert!(
        message.contains("p.csv: 1 problem(s), nothing imported"),
        "{message}"
    );
    assert!(message.contains("line 3 / 第3行"), "{message}");
    assert!(message.contains("统一社会信用代码"), "{message}");
    assert!(registry::platforms(&store, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn xlsx_registry_files_import_with_excel_dates_and_numeric_regions() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let store = fresh_store("xlsx").await;
    let dir = tempfile::tempdir().unwrap();
    let a = code("440300", 7);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("平台名录").unwrap();
    for (i, h) in [
        "统一社会信用代码",
        "平台名称",
        "所在地区",
        "独立法人",
        "登记日期",
    ]
    .iter()
    .enumerate()
    {
        ws.write(0, i as u16, *h).unwrap();
    }
    let fmt = Format::new().set_num_format("yyyy-mm-dd");
    ws.write(1, 0, a.as_str()).unwrap();
    ws.write(1, 1, "南山检测平台").unwrap();
    ws.write(1, 2, 440305).unwrap();
    ws.write(1, 3, "是").unwrap();
    ws.write_datetime_with_format(1, 4, ExcelDateTime::from_ymd(2024, 2, 29).unwrap(), &fmt)
        .unwrap();
    let path = dir.path().join("名录.xlsx");
    wb.save(&path).unwrap();
    let report = registry::import_file(&store, &path, &options(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(report.changed, 1);
    let p = registry::platform(&store, &a).await.unwrap().unwrap();
    assert_eq!(p.region_code, "440305");
    assert_eq!(p.registered, date!(2024 - 02 - 29));
    assert!(
        p.source.starts_with("名录.xlsx sheet \"平台名录\" row 2"),
        "{}",
        p.source
    );
}

#[tokio::test]
async fn divisions_ship_34_provinces_and_take_imported_prefectures_by_revision() {
    let store = fresh_store("divisions").await;
    assert_eq!(
        registry::seed_divisions(&store).await.unwrap(),
        0,
        "seeded once"
    );
    let shipped = registry::divisions(&store, Some(2023)).await.unwrap();
    assert_eq!(shipped.len(), 34);
    for code in ["710000", "810000", "820000"] {
        assert!(shipped.iter().any(|d| d.code == code), "{code}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "prefectures.csv",
        "版本,行政区划代码,名称\n2023,440300,深圳市\n2023,440100,广州市\n",
    );
    registry::import_file(&store, &file, &options(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    // A later revision renames a code; the newest name wins where no revision is asked for.
    let renamed = write(
        dir.path(),
        "2024.csv",
        "行政区划代码,名称\n440300,深圳市（新）\n",
    );
    let opts = ImportOptions {
        revision: Some(2024),
        ..options()
    };
    registry::import_file(&store, &renamed, &opts, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(
        registry::divisions(&store, Some(2023)).await.unwrap().len(),
        36
    );
    let names = registry::division_names(&store).await.unwrap();
    assert_eq!(names["440300"], "深圳市（新）");
    assert_eq!(names["440100"], "广州市");
    assert_eq!(names["820000"], "澳门特别行政区");
}

#[tokio::test]
async fn sme_counts_take_the_last_import() {
    let store = fresh_store("sme").await;
    let dir = tempfile::tempdir().unwrap();
    let first = write(
        dir.path(),
        "a.csv",
        "地区代码,年份,中小企业数\n440300,2023,100\n440100,2023,50\n",
    );
    let second = write(
        dir.path(),
        "b.csv",
        "region_code,year,sme_count\n440300,2023,\"120\"\n",
    );
    let t = OffsetDateTime::now_utc();
    registry::import_file(&store, &first, &options(), t)
        .await
        .unwrap();
    registry::import_file(&store, &second, &options(), t + time::Duration::seconds(1))
        .await
        .unwrap();
    let counts = registry::sme_counts(&store, "44", None).await.unwrap();
    let got: Vec<_> = counts
        .iter()
        .map(|c| (c.region_code.as_str(), c.count))
        .collect();
    assert_eq!(got, [("440100", 50), ("440300", 120)]);
    assert!(registry::sme_counts(&store, "44", Some(2022))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_registry_copy_finds_new_platforms_at_once_and_closures_on_reload() {
    let store = fresh_store("cache").await;
    let a = code("110108", 1);
    let cache = RegistryCache::new(store.clone(), std::time::Duration::from_secs(3600));
    let may = (date!(2026 - 05 - 01), date!(2026 - 05 - 31));
    assert_eq!(
        cache.activity(&a, may.0, may.1).await.unwrap(),
        Activity::NotRegistered
    );
    let mut p = registry::Platform::new(&a, "A", date!(2020 - 01 - 01));
    registry::upsert_platforms(&store, &[p.clone()], "t", datetime!(2026-06-01 0:00 UTC))
        .await
        .unwrap();
    // Not in the (already loaded) copy, but looked up before anyone is refused.
    assert!(matches!(
        cache.activity(&a, may.0, may.1).await.unwrap(),
        Activity::Active(_)
    ));
    // A closure reaches a copy when it reloads (here: a copy without TTL sees it at once).
    p.closed = Some(date!(2026 - 05 - 01));
    registry::upsert_platforms(&store, &[p], "t", datetime!(2026-06-02 0:00 UTC))
        .await
        .unwrap();
    // The long-lived copy still says active until it reloads (at most its TTL)…
    assert!(matches!(
        cache.activity(&a, may.0, may.1).await.unwrap(),
        Activity::Active(_)
    ));
    // …a copy that reloads sees the closure.
    let fresh = RegistryCache::new(store.clone(), std::time::Duration::ZERO);
    assert!(matches!(
        fresh.activity(&a, may.0, may.1).await.unwrap(),
        Activity::Inactive(_)
    ));
    let april = (date!(2026 - 04 - 01), date!(2026 - 04 - 30));
    assert!(matches!(
        fresh.activity(&a, april.0, april.1).await.unwrap(),
        Activity::Active(_)
    ));
}

// === reopenings ===

#[tokio::test]
async fn reopenings_are_scoped_audited_and_only_extend_the_lock() {
    let store = fresh_store("reopen").await;
    let cal = Calendar::default();
    let haidian = code("110108", 1);
    let shenzhen = code("440300", 2);
    registry::upsert_platforms(
        &store,
        &[
            registry::Platform::new(&haidian, "海淀平台", date!(2020 - 01 - 01)),
            registry::Platform::new(&shenzhen, "深圳平台", date!(2020 - 01 - 01)),
        ],
        "t",
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    let now = datetime!(2026-07-05 10:00 +8);
    let feb = period("2026-M02");
    let calendar_lock = cal.locks_at(&feb);
    assert_eq!(calendar_lock, datetime!(2026-06-08 23:59:59 +8));
    let lock = |id: &str, region: &str| {
        let store = store.clone();
        let (id, region, cal) = (id.to_owned(), region.to_owned(), cal.clone());
        async move {
            periods::effective_lock(&store, &cal, &id, &region, &feb, now)
                .await
                .unwrap()
        }
    };
    assert_eq!(lock(&haidian, "110108").await, calendar_lock);

    let request = |target: ReopenTarget, scope: &str, until| ReopenRequest {
        target,
        period: feb,
        by: Coordinator {
            name: "李处长".into(),
            region: scope.into(),
        },
        reason: "平台系统故障，补报2月数据".into(),
        until,
    };
    // Out of scope: a Guangdong coordinator for a Beijing platform.
    let err = periods::reopen(
        &store,
        &cal,
        &request(ReopenTarget::Platform(haidian.clone()), "440000", None),
        now,
        30,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ReopenError::OutOfScope { .. }), "{err}");
    assert!(err.to_string().contains("440000"), "{err}");
    // Unknown platform, blank reason, an end before the calendar lock, a bad region.
    let unknown = code("110108", 99);
    assert!(matches!(
        periods::reopen(
            &store,
            &cal,
            &request(ReopenTarget::Platform(unknown), "110000", None),
            now,
            30
        )
        .await,
        Err(ReopenError::UnknownPlatform(_))
    ));
    let mut blank = request(ReopenTarget::Platform(haidian.clone()), "110000", None);
    blank.reason = "  ".into();
    assert!(matches!(
        periods::reopen(&store, &cal, &blank, now, 30).await,
        Err(ReopenError::Blank(_))
    ));
    let early = request(
        ReopenTarget::Region("110000".into()),
        "110000",
        Some(date!(2026 - 07 - 04)),
    );
    assert!(matches!(
        periods::reopen(&store, &cal, &early, now, 30).await,
        Err(ReopenError::UntilPassed(_))
    ));
    let mut open_march = request(
        ReopenTarget::Region("110000".into()),
        "110000",
        Some(date!(2026 - 07 - 06)),
    );
    open_march.period = period("2026-M03");
    let err = periods::reopen(&store, &cal, &open_march, now, 30)
        .await
        .unwrap_err();
    assert!(matches!(err, ReopenError::TooEarly { .. }), "{err}");
    assert!(matches!(
        periods::reopen(
            &store,
            &cal,
            &request(ReopenTarget::Region("990000".into()), "000000", None),
            now,
            30
        )
        .await,
        Err(ReopenError::BadRegion { .. })
    ));

    // The Beijing coordinator reopens the Haidian platform until 20 July.
    let r = periods::reopen(
        &store,
        &cal,
        &request(
            ReopenTarget::Platform(haidian.clone()),
            "110000",
            Some(date!(2026 - 07 - 20)),
        ),
        now,
        30,
    )
    .await
    .unwrap();
    assert_eq!(r.until, datetime!(2026-07-20 23:59:59 +8));
    assert_eq!(r.region_code, "110108");
    assert_eq!(lock(&haidian, "110108").await, r.until);
    assert_eq!(
        lock(&shenzhen, "440300").await,
        calendar_lock,
        "others stay locked"
    );

    // The ministry reopens Guangdong (a region) with the default length; a shorter later
    // reopening of the same platform does not shorten it.
    let g = periods::reopen(
        &store,
        &cal,
        &request(ReopenTarget::Region("440000".into()), "000000", None),
        now,
        30,
    )
    .await
    .unwrap();
    assert_eq!(g.until, datetime!(2026-08-04 23:59:59 +8));
    assert_eq!(lock(&shenzhen, "440300").await, g.until);
    periods::reopen(
        &store,
        &cal,
        &request(
            ReopenTarget::Platform(shenzhen.clone()),
            "440300",
            Some(date!(2026 - 07 - 10)),
        ),
        now,
        30,
    )
    .await
    .unwrap();
    assert_eq!(lock(&shenzhen, "440300").await, g.until);

    // The audit: who, when, why, until; filters by platform and region.
    let all = periods::reopenings(&store, &ReopeningFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    assert!(all
        .iter()
        .all(|r| r.by_name == "李处长" && r.reason.contains("补报")));
    let for_shenzhen = periods::reopenings(
        &store,
        &ReopeningFilter {
            platform: Some((shenzhen.clone(), "440300".into())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(for_shenzhen.len(), 2, "its own and its province's");
    let in_beijing = periods::reopenings(
        &store,
        &ReopeningFilter {
            region: Some("110000".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(in_beijing.len(), 1);

    // What heartbeats list: live reopenings only.
    let live = periods::reopened_periods(&store, &haidian, "110108", now)
        .await
        .unwrap();
    assert_eq!(live, vec![(feb, r.until)]);
    let after =
        periods::reopened_periods(&store, &haidian, "110108", datetime!(2026-07-21 00:00 +8))
            .await
            .unwrap();
    assert!(after.is_empty());
}

// === completeness and history ===

#[tokio::test]
async fn completeness_counts_each_expected_platform_once_whatever_the_revisions() {
    let store = fresh_store("completeness").await;
    let cal = Calendar::default();
    let may = period("2026-M05");
    let due = cal.due_at(&may);
    assert_eq!(due, datetime!(2026-06-10 23:59:59 +8));
    let on_time = code("110108", 1); // three revisions, the first on time
    let late = code("110105", 2); // first report one second after the due second
    let closed_mid = code("440305", 3); // closed 15 May: expected in May, not June
    let last_day = code("440306", 4); // registered 31 May: expected in May
    let next_month = code("440303", 5); // registered 1 June: not expected in May
    let closed_before = code("440304", 6); // reported, then closed before May began
    let mut closed_mid_p = registry::Platform::new(&closed_mid, "停业平台", date!(2020 - 01 - 01));
    closed_mid_p.closed = Some(date!(2026 - 05 - 15));
    let mut closed_before_p =
        registry::Platform::new(&closed_before, "已注销平台", date!(2020 - 01 - 01));
    closed_before_p.closed = Some(date!(2026 - 05 - 01));
    registry::upsert_platforms(
        &store,
        &[
            registry::Platform::new(&on_time, "准时平台", date!(2020 - 01 - 01)),
            registry::Platform::new(&late, "迟报平台", date!(2020 - 01 - 01)),
            closed_mid_p,
            registry::Platform::new(&last_day, "月末登记平台", date!(2026 - 05 - 31)),
            registry::Platform::new(&next_month, "六月登记平台", date!(2026 - 06 - 01)),
            closed_before_p,
        ],
        "t",
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();

    let mut batch = Vec::new();
    for (revision, at) in [
        (0, datetime!(2026-06-10 23:59:59.9 +8)),
        (1, datetime!(2026-06-20 10:00 +8)),
        (2, datetime!(2026-07-01 10:00 +8)),
    ] {
        let mut r = fixtures::sample_report(&on_time, "2026-M05");
        r.revision = revision;
        let a = accepted(&r, "110108", at);
        // Written twice, as two racing hubs would.
        batch.push(a.clone());
        batch.push(a);
    }
    let late_report = fixtures::sample_report(&late, "2026-M05");
    batch.push(accepted(
        &late_report,
        "110105",
        datetime!(2026-06-11 00:00:00 +8),
    ));
    let unexpected = fixtures::sample_report(&closed_before, "2026-M05");
    batch.push(accepted(
        &unexpected,
        "440304",
        datetime!(2026-06-01 00:00 +8),
    ));
    store.insert_reports(&batch).await.unwrap();

    let c = completeness::completeness(&store, &cal, &Scope::operator(), &may, None)
        .await
        .unwrap();
    assert_eq!(c.total.expected, 4, "{c:#?}");
    assert_eq!(c.total.received, 2);
    assert_eq!(c.total.on_time, 1);
    assert!(c.total.rate() <= 1.0);
    let regions: Vec<_> = c
        .regions
        .iter()
        .map(|r| {
            (
                r.region_code.as_str(),
                r.region_name.as_str(),
                r.expected,
                r.received,
                r.on_time,
            )
        })
        .collect();
    assert_eq!(
        regions,
        [("110000", "北京市", 2, 2, 1), ("440000", "广东省", 2, 0, 0)]
    );
    let missing: Vec<_> = c
        .total
        .missing
        .iter()
        .map(|m| m.credit_code.as_str())
        .collect();
    assert_eq!(missing, [closed_mid.as_str(), last_day.as_str()]);

    // A Guangdong coordinator: Beijing is refused, not answered empty; their own answer is the
    // national one for Guangdong.
    let gd = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
    let refused = completeness::completeness(&store, &cal, &gd, &may, Some("110000")).await;
    assert!(
        matches!(
            refused,
            Err(ViewError::Scope(ScopeError::OutsideScope { .. }))
        ),
        "{refused:?}"
    );
    let own = completeness::completeness(&store, &cal, &gd, &may, None)
        .await
        .unwrap();
    let planner =
        completeness::completeness(&store, &cal, &Scope::operator(), &may, Some("440000"))
            .await
            .unwrap();
    assert_eq!(own, planner);
    assert_eq!((own.total.expected, own.total.received), (2, 0));

    let statuses =
        completeness::platform_statuses(&store, &cal, &Scope::operator(), &may, "110100")
            .await
            .unwrap();
    let first = statuses.iter().find(|s| s.credit_code == on_time).unwrap();
    assert_eq!(first.revisions, 3);
    assert_eq!(
        first.first_received_at,
        Some(datetime!(2026-06-10 23:59:59.9 +8))
    );
    assert!(first.on_time);

    // June: the platform closed in May is no longer expected; the one registered 1 June is.
    let june = completeness::completeness(
        &store,
        &cal,
        &Scope::operator(),
        &period("2026-M06"),
        Some("440000"),
    )
    .await
    .unwrap();
    let expected: Vec<_> = june
        .total
        .missing
        .iter()
        .map(|m| m.credit_code.as_str())
        .collect();
    assert_eq!(expected, [next_month.as_str(), last_day.as_str()]);
    assert_eq!(
        june.regions[0].region_code, "440300",
        "prefectures under a province"
    );
}

#[tokio::test]
async fn on_time_follows_the_configured_calendar_to_29_february() {
    let store = fresh_store("month_end").await;
    let cal = Calendar {
        monthly_due_day: 31,
        ..Calendar::default()
    };
    let jan = period("2028-M01");
    assert_eq!(cal.due_at(&jan), datetime!(2028-02-29 23:59:59 +8));
    let in_time = code("110108", 1);
    let too_late = code("110108", 2);
    registry::upsert_platforms(
        &store,
        &[
            registry::Platform::new(&in_time, "A", date!(2020 - 01 - 01)),
            registry::Platform::new(&too_late, "B", date!(2020 - 01 - 01)),
        ],
        "t",
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    // The hub stores the due time of the calendar in force at acceptance: this one.
    let mut reports = [
        accepted(
            &fixtures::sample_report(&in_time, "2028-M01"),
            "110108",
            datetime!(2028-02-29 23:59:59 +8),
        ),
        accepted(
            &fixtures::sample_report(&too_late, "2028-M01"),
            "110108",
            datetime!(2028-03-01 00:00 +8),
        ),
    ];
    for r in &mut reports {
        r.due_at = cal.due_at(&jan);
    }
    store.insert_reports(&reports).await.unwrap();
    let statuses =
        completeness::platform_statuses(&store, &cal, &Scope::operator(), &jan, "000000")
            .await
            .unwrap();
    let on_time: Vec<_> = statuses
        .iter()
        .map(|s| (s.credit_code.as_str(), s.on_time))
        .collect();
    assert_eq!(
        on_time,
        [(in_time.as_str(), true), (too_late.as_str(), false)]
    );
}

#[tokio::test]
async fn the_w201_baseline_is_the_current_revision_of_the_previous_period() {
    let store = fresh_store("w201").await;
    let id = code("110108", 1);
    let mut rev0 = fixtures::sample_report(&id, "2026-M04");
    rev0.service_records.clear();
    rev0.volumes = vec![v1::FunctionVolume {
        function: 1,
        services: 100,
        ..Default::default()
    }];
    let mut rev1 = rev0.clone();
    rev1.report_id = Uuid::new_v4().to_string();
    rev1.revision = 1;
    rev1.volumes[0].services = 10;
    rev1.volumes.push(v1::FunctionVolume {
        function: 2,
        services: 5,
        ..Default::default()
    });
    store
        .insert_reports(&[
            accepted(&rev0, "110108", datetime!(2026-05-05 10:00 +8)),
            accepted(&rev1, "110108", datetime!(2026-05-06 10:00 +8)),
            accepted(&rev1, "110108", datetime!(2026-05-06 10:00 +8)),
        ])
        .await
        .unwrap();
    assert_eq!(
        sme_hub::ingest::context::previous_total_services(&store, &id, &period("2026-M05"))
            .await
            .unwrap(),
        Some(15)
    );
    assert_eq!(
        sme_hub::ingest::context::previous_total_services(&store, &id, &period("2026-M04"))
            .await
            .unwrap(),
        None
    );

    // The submit path asks in batches: many keys, concurrent callers, one answer each.
    let other = code("110108", 2);
    let mut theirs = fixtures::sample_report(&other, "2026-M04");
    theirs.service_records.clear();
    theirs.volumes = vec![v1::FunctionVolume {
        function: 3,
        services: 7,
        ..Default::default()
    }];
    store
        .insert_reports(&[accepted(&theirs, "110108", datetime!(2026-05-07 10:00 +8))])
        .await
        .unwrap();
    let keys = [
        (id.clone(), "2026-M04".to_owned()),
        (other.clone(), "2026-M04".to_owned()),
        (other.clone(), "2026-M03".to_owned()),
    ];
    let found = sme_hub::ingest::history::totals(&store, &keys.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&keys[0]], 15);
    assert_eq!(found[&keys[1]], 7);
    let lookup = sme_hub::ingest::history::TotalsLookup::new(store.clone());
    let answers =
        futures::future::join_all((0..50).map(|i| lookup.total(&keys[i % 3].0, &keys[i % 3].1)))
            .await;
    for (i, a) in answers.into_iter().enumerate() {
        assert_eq!(a.unwrap(), [Some(15), Some(7), None][i % 3], "{i}");
    }
}

// === the operators' commands ===

fn hub_command(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sme-hub"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("sme-hub runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_cli_imports_lists_reopens_and_reports_completeness() {
    let ch = fresh_config("cli");
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "hub.toml",
        &format!(
            "data_dir = {:?}\n[clickhouse]\nurl = {:?}\ndatabase = {:?}\n\
             [clickhouse.owner]\nuser = {:?}\npassword = {:?}\n\
             [clickhouse.ingest]\nuser = {:?}\npassword = {:?}\n\
             [clickhouse.analytics]\nuser = {:?}\npassword = {:?}\n",
            dir.path().display().to_string(),
            ch.url,
            ch.database,
            ch.accounts.owner.user,
            ch.accounts.owner.password,
            ch.accounts.ingest.user,
            ch.accounts.ingest.password,
            ch.accounts.analytics.user,
            ch.accounts.analytics.password,
        ),
    );
    let a = code("440300", 1);
    let b = code("110108", 2);
    let file = write(
        dir.path(),
        "platforms.csv",
        &format!("{HEADER}{a},深圳平台,440305,,,,是,2020-01-01,\n{b},北京平台,110108,,,,是,2020-01-01,\n"),
    );
    let (ok, out, err) = hub_command(
        &config,
        &[
            "registry",
            "import",
            file.to_str().unwrap(),
            "--by",
            "测试员",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("platforms 2 row(s), 2 written"), "{out}");

    let bad = write(
        dir.path(),
        "bad.csv",
        &format!("{HEADER}{a},,440305,,,,是,2020-13-01,\n"),
    );
    let (ok, out, err) = hub_command(&config, &["registry", "import", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("nothing imported") && err.contains("平台名称") && err.contains("登记日期"),
        "{out}{err}"
    );

    let (ok, out, err) = hub_command(&config, &["registry", "list", "--region", "44"]);
    assert!(ok, "{err}");
    assert!(out.contains(&a) && !out.contains(&b), "{out}");
    assert!(
        out.contains("440305 (广东省)"),
        "code next to the name: {out}"
    );

    let (ok, out, _) = hub_command(&config, &["registry", "divisions", "--province", "82"]);
    assert!(ok && out.contains("820000  澳门特别行政区"), "{out}");

    // 2026-M01 locked on 2026-05-11; the Guangdong coordinator cannot reopen a Beijing platform.
    let reopen = |platform: &str, scope: &str| {
        hub_command(
            &config,
            &[
                "period",
                "reopen",
                "--platform",
                platform,
                "--period",
                "2026-M01",
                "--by",
                "陈科长",
                "--scope",
                scope,
                "--reason",
                "补报",
                "--until",
                "2099-12-31",
            ],
        )
    };
    let (ok, _, err) = reopen(&b, "440000");
    assert!(!ok && err.contains("does not contain"), "{err}");
    let (ok, out, err) = reopen(&a, "440000");
    assert!(ok, "{err}");
    assert!(out.contains("until 2099-12-31 23:59:59"), "{out}");
    let (ok, out, _) = hub_command(
        &config,
        &["period", "locks", "--platform", &a, "--period", "2026-M01"],
    );
    assert!(
        ok && out.contains("陈科长") && out.contains("extended by a reopening"),
        "{out}"
    );

    let (ok, out, _) = hub_command(
        &config,
        &["period", "list", "--kind", "quarter", "--count", "3"],
    );
    assert!(ok && out.contains("UTC+8"), "{out}");

    let (ok, out, err) = hub_command(&config, &["completeness", "--period", "2026-M05"]);
    assert!(ok, "{err}");
    assert!(out.contains("440000  广东省"), "{out}");
    assert!(
        out.contains(&a) && out.contains("深圳平台"),
        "missing platforms listed: {out}"
    );
}
