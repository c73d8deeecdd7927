//! End-to-end intake: real files (committed fixtures under `tests/data/` and workbooks written by
//! rust_xlsxwriter here) through `import_file` and `process_inbox` into a real SQLite store.
//!
//! Fixtures: `records_gbk.csv` is GBK-encoded with Chinese headers (as Excel in China saves
//! "CSV (逗号分隔)"); `records_utf8_bom.csv` is UTF-8 with BOM; `records_english.csv` has English
//! headers and fees in fen; `records_bad.csv` has known bad lines; `profile_2026-Q2.csv` is a
//! GBK profile; `records.json` is `{"records": [...]}`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use sme_agent::intake::{self, process_inbox, ImportError, IntakeError, Location};
use sme_agent::store::{BuildStamp, ImportKind, Store};
use sme_agent::template;
use sme_proto::period::Period;
use sme_proto::pseudonym::pseudonymise;
use sme_proto::v1::{EnterpriseSize, ServiceFunction};

/// The pseudonym key every test uses.
const KEY: &[u8] = b"fixed-test-key-for-intake-tests";

/// Credit codes used in the fixtures (valid), and a mistyped one (wrong check character).
const CODES: &[&str] = &[
    "91350100M000100Y43",
    "91110000600037341L",
    "91440300708461136T",
    "91350100M000100Y44",
];

// === support ===

/// A temporary agent data directory with a store and inbox/quarantine/done folders.
struct Env {
    dir: tempfile::TempDir,
    store: Store,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("agent.db")).unwrap();
        for d in ["inbox", "quarantine", "done"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Env { dir, store }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Copies a fixture into `inbox/` under `name`, dated a minute ago (settled).
    fn drop_fixture(&self, fixture_name: &str, name: &str) -> PathBuf {
        self.drop_bytes(name, &fs::read(fixture(fixture_name)).unwrap())
    }

    /// Writes bytes into `inbox/name`, dated a minute ago (settled).
    fn drop_bytes(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path("inbox").join(name);
        fs::write(&p, bytes).unwrap();
        settle(&p);
        p
    }

    fn process(&mut self) -> intake::InboxSummary {
        process_inbox(
            &self.path("inbox"),
            &self.path("quarantine"),
            &self.path("done"),
            &mut self.store,
            KEY,
        )
    }

    fn import(&mut self, path: &Path) -> Result<intake::FileImport, ImportError> {
        intake::import_file(path, &mut self.store, KEY)
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Back-dates a file's modification time so the inbox treats it as completely written.
fn settle(path: &Path) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
}

fn period(code: &str) -> Period {
    code.parse().unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Asserts a stored record's fee in fen and pseudonymised enterprise.
#[track_caller]
fn assert_record(store: &Store, record_id: &str, fee_fen: i64, credit_code: &str) {
    let r = store
        .record(record_id)
        .unwrap()
        .unwrap_or_else(|| panic!("record {record_id} not stored"))
        .record;
    assert_eq!(r.fee_fen, fee_fen, "fee of {record_id}");
    assert_eq!(
        r.enterprise,
        pseudonymise(KEY, credit_code),
        "enterprise of {record_id}"
    );
}

/// Asserts that `problems` has one at `location` naming `column` whose English text contains
/// `needle`.
#[track_caller]
fn assert_problem(e: &IntakeError, location: &Location, column: &str, needle: &str) {
    let found = e.problems().iter().any(|p| {
        p.location == *location && p.column.as_deref() == Some(column) && p.en.contains(needle)
    });
    assert!(
        found,
        "no problem at {location} in column {column} mentioning {needle:?}; got:\n{e}"
    );
}

/// A service-records workbook: a title row, then a bilingual header row, then `rows`.
fn workbook(rows: &[[&str; 4]]) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("服务记录").unwrap();
    ws.write(0, 0, "2026年第二季度服务记录").unwrap();
    let header = [
        "记录编号/record_id",
        "服务日期/date",
        "服务功能/function",
        "企业信用代码/enterprise_credit_code",
        "企业规模/enterprise_size",
        "行业门类/industry",
        "企业所在地区/enterprise_region",
        "收费金额（元）/fee_yuan",
        "满意度/satisfaction",
    ];
    for (c, h) in header.iter().enumerate() {
        ws.write(1, c as u16, *h).unwrap();
    }
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd");
    for (i, [id, date, industry, fee]) in rows.iter().enumerate() {
        let r = i as u32 + 2;
        ws.write(r, 0, *id).unwrap();
        // A real date cell when it parses, else the text as typed.
        match ExcelDateTime::parse_from_str(date) {
            Ok(d) => ws.write_datetime_with_format(r, 1, d, &date_fmt).unwrap(),
            Err(_) => ws.write(r, 1, *date).unwrap(),
        };
        ws.write(r, 2, 3).unwrap(); // function as a number cell
        ws.write(r, 3, CODES[i % 3]).unwrap();
        ws.write(r, 4, "小型").unwrap();
        ws.write(r, 5, *industry).unwrap();
        ws.write(r, 6, 350102).unwrap(); // region as a number cell
        ws.write(r, 7, fee.parse::<f64>().unwrap()).unwrap(); // fee as a number cell
        ws.write(r, 8, 5).unwrap();
    }
    wb.save_to_buffer().unwrap()
}

// === tests ===

#[test]
fn gbk_csv_with_chinese_headers_imports_fen_and_pseudonyms() {
    let mut env = Env::new();
    let raw = fs::read(fixture("records_gbk.csv")).unwrap();
    assert!(
        std::str::from_utf8(&raw).is_err(),
        "the fixture really is GBK"
    );

    let import = env.import(&fixture("records_gbk.csv")).unwrap();
    assert_eq!(import.kind, ImportKind::ServiceRecords);
    assert_eq!(
        (import.summary.rows, import.summary.inserted),
        (4, 4),
        "{import:?}"
    );
    assert_record(&env.store, "GBK-001", 120_050, "91350100M000100Y43");
    assert_record(&env.store, "GBK-002", 0, "91110000600037341L");
    assert_record(&env.store, "GBK-003", 199_999, "91440300708461136T");
    assert_record(&env.store, "GBK-004", 10, "91350100M000100Y43");

    let r = env.store.record("GBK-002").unwrap().unwrap();
    assert_eq!(r.record.function, ServiceFunction::Training);
    assert_eq!(r.record.enterprise_size, EnterpriseSize::Micro);
    assert_eq!(r.record.person_times, 35);
    assert_eq!(r.record.satisfaction, Some(4));
    assert!(r.record.free);
    assert_eq!(r.record.source_line, 3);
    assert_eq!(r.source_file, "records_gbk.csv");

    let q2 = env.store.records_for_period(&period("2026-Q2")).unwrap();
    assert_eq!(q2.len(), 4);
    let may = env.store.records_for_period(&period("2026-M05")).unwrap();
    assert_eq!(may.len(), 1);
    assert_eq!(may[0].record.to_proto().date, "2026-05-20");
}

#[test]
fn utf8_bom_english_headers_and_json_import() {
    let mut env = Env::new();
    let bom = env.import(&fixture("records_utf8_bom.csv")).unwrap();
    assert_eq!(bom.summary.inserted, 2);
    assert_record(&env.store, "BOM-001", 30_000, "91440300708461136T");
    let blank = env.store.record("BOM-002").unwrap().unwrap().record;
    assert_eq!(
        (blank.fee_fen, blank.free, blank.enterprise_size),
        (0, true, EnterpriseSize::Unspecified),
        "blank fee, free and size"
    );

    let en = env.import(&fixture("records_english.csv")).unwrap();
    assert_eq!(en.summary.inserted, 2);
    assert_record(&env.store, "EN-001", 880_000, "91110000600037341L");
    let r = env.store.record("EN-002").unwrap().unwrap().record;
    assert_eq!(r.function, ServiceFunction::Training);
    assert_eq!(r.person_times, 120);

    let json = env.import(&fixture("records.json")).unwrap();
    assert_eq!(json.summary.inserted, 2);
    assert_record(&env.store, "JS-001", 1_999, "91110000600037341L");
    let r = env.store.record("JS-002").unwrap().unwrap();
    assert_eq!(r.record.enterprise_region, "440305");
    assert_eq!(
        r.record.source_line, 1,
        "JSON records are located by array index"
    );
    assert_eq!(env.store.record_count().unwrap(), 6);
}

#[test]
fn xlsx_written_by_rust_xlsxwriter_imports() {
    let mut env = Env::new();
    let path = env.path("records.xlsx");
    fs::write(
        &path,
        workbook(&[
            ["X-1", "2026-04-01", "C", "88.8"],
            ["X-2", "2026-06-30", "M", "0"],
        ]),
    )
    .unwrap();
    let import = env.import(&path).unwrap();
    assert_eq!(import.summary.inserted, 2);
    assert_record(&env.store, "X-1", 8_880, CODES[0]);
    let r = env.store.record("X-2").unwrap().unwrap().record;
    assert_eq!(r.date.to_string(), "2026-06-30");
    assert_eq!(r.function, ServiceFunction::Quality);
    assert_eq!(r.enterprise_region, "350102");
    assert!(r.free, "fee 0 with no free column is free");
    assert_eq!(
        r.source_line, 4,
        "Excel row number (title row 1, header row 2)"
    );
}

#[test]
fn inbox_quarantines_bad_files_with_line_reasons_and_imports_good_ones() {
    let mut env = Env::new();
    env.drop_fixture("records_gbk.csv", "a_good.csv");
    env.drop_fixture("records_bad.csv", "b_bad.csv");
    env.drop_bytes(
        "c_good.xlsx",
        &workbook(&[["X-1", "2026-04-01", "C", "88.8"]]),
    );
    env.drop_bytes(
        "d_bad.xlsx",
        &workbook(&[
            ["Y-1", "2026-04-01", "C", "1"],
            ["Y-2", "2026-04-31", "Z", "2"],
        ]),
    );
    env.drop_fixture("profile_2026-Q2.csv", "e_profile.csv");
    env.drop_bytes("f_notes.docx", b"not a table");
    // Files still being written are left alone.
    env.drop_fixture("records_english.csv", "g_partial.csv.part");
    env.drop_fixture("records_english.csv", "~$h_lock.xlsx");
    let fresh = env.path("inbox").join("i_fresh.csv");
    fs::copy(fixture("records_english.csv"), &fresh).unwrap();

    let summary = env.process();
    assert!(summary.failed.is_empty(), "{:?}", summary.failed);
    let imported: Vec<_> = summary.imported.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(imported, ["a_good.csv", "c_good.xlsx", "e_profile.csv"]);
    let quarantined: Vec<_> = summary
        .quarantined
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(quarantined, ["b_bad.csv", "d_bad.xlsx", "f_notes.docx"]);
    assert_eq!(summary.skipped.len(), 3);

    assert_eq!(
        names_in(&env.path("done")),
        ["a_good.csv", "c_good.xlsx", "e_profile.csv"]
    );
    assert_eq!(
        names_in(&env.path("quarantine")),
        [
            "b_bad.csv",
            "b_bad.csv.errors.txt",
            "d_bad.xlsx",
            "d_bad.xlsx.errors.txt",
            "f_notes.docx",
            "f_notes.docx.errors.txt"
        ]
    );
    assert_eq!(
        names_in(&env.path("inbox")),
        ["g_partial.csv.part", "i_fresh.csv", "~$h_lock.xlsx"]
    );

    // Good files imported; nothing from the bad ones, not even their good rows.
    assert_eq!(env.store.record_count().unwrap(), 5);
    assert!(env.store.record("BAD-001").unwrap().is_none());
    assert!(env.store.record("Y-1").unwrap().is_none());

    // Every line-level reason, in both languages.
    let csv_errors = fs::read_to_string(env.path("quarantine/b_bad.csv.errors.txt")).unwrap();
    for needle in [
        "第3行 / line 3，列 column “服务日期”，值 value “2026-02-30”",
        "第4行 / line 4，列 column “服务功能”",
        "第4行 / line 4，列 column “企业信用代码”",
        "第4行 / line 4，列 column “企业规模”",
        "第4行 / line 4，列 column “收费金额（元）”，值 value “12.345”",
        "第5行 / line 5，列 column “是否免费”",
        "check character",
        "校验码",
        "not a valid date",
        "不是有效日期",
        "共发现 6 处问题",
    ] {
        assert!(
            csv_errors.contains(needle),
            "{needle:?} not in:\n{csv_errors}"
        );
    }
    let xlsx_errors = fs::read_to_string(env.path("quarantine/d_bad.xlsx.errors.txt")).unwrap();
    for needle in [
        "工作表“服务记录”第4行 / sheet \"服务记录\" row 4，列 column “服务日期/date”",
        "row 4，列 column “行业门类/industry”，值 value “Z”",
        "共发现 2 处问题",
    ] {
        assert!(
            xlsx_errors.contains(needle),
            "{needle:?} not in:\n{xlsx_errors}"
        );
    }
    let docx = fs::read_to_string(env.path("quarantine/f_notes.docx.errors.txt")).unwrap();
    assert!(docx.contains("unsupported file type"), "{docx}");

    // Once settled, the fresh file is picked up by the next pass.
    settle(&fresh);
    let again = env.process();
    assert_eq!(again.imported.len(), 1);
    assert_eq!(again.imported[0].name, "i_fresh.csv");
    assert_eq!(env.store.record_count().unwrap(), 7);
}

#[test]
fn import_file_reports_every_problem_with_location_and_column() {
    let mut env = Env::new();
    let err = match env.import(&fixture("records_bad.csv")) {
        Err(ImportError::Intake(e)) => e,
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert_eq!(err.problems().len(), 6, "{err}");
    assert_problem(&err, &Location::Line(3), "服务日期", "not a valid date");
    assert_problem(
        &err,
        &Location::Line(4),
        "服务功能",
        "unknown service function",
    );
    assert_problem(&err, &Location::Line(4), "企业信用代码", "check character");
    assert_problem(
        &err,
        &Location::Line(4),
        "企业规模",
        "unknown enterprise size",
    );
    assert_problem(
        &err,
        &Location::Line(4),
        "收费金额（元）",
        "more than 2 decimals",
    );
    assert_problem(
        &err,
        &Location::Line(5),
        "是否免费",
        "marked free but a fee",
    );
    assert!(err.problems().iter().all(|p| !p.zh.is_empty()));
    // All or nothing: the good line 2 was not imported either.
    assert_eq!(env.store.record_count().unwrap(), 0);
    let text = err.to_string();
    assert!(text.contains("6 problem(s), nothing imported"), "{text}");
    assert_eq!(
        text.lines().count(),
        7,
        "a summary line and one line per problem"
    );
}

#[test]
fn reimporting_the_same_file_or_records_does_not_duplicate() {
    let mut env = Env::new();
    env.drop_fixture("records_gbk.csv", "q2.csv");
    assert_eq!(env.process().imported[0].summary.inserted, 4);

    // The same bytes again (same name: it lands in done/ as q2-1.csv).
    env.drop_fixture("records_gbk.csv", "q2.csv");
    let s = env.process();
    assert!(s.imported[0].summary.already_imported);
    assert_eq!(s.imported[0].moved_to, env.path("done/q2-1.csv"));

    // Different bytes, same records: every record unchanged.
    let mut bytes = fs::read(fixture("records_gbk.csv")).unwrap();
    bytes.extend_from_slice(b"\r\n\r\n");
    env.drop_bytes("q2-copy.csv", &bytes);
    let s = env.process();
    let sum = &s.imported[0].summary;
    assert_eq!(
        (
            sum.already_imported,
            sum.inserted,
            sum.updated,
            sum.unchanged
        ),
        (false, 0, 0, 4)
    );
    assert!(sum.dirty_periods.is_empty());
    assert_eq!(env.store.record_count().unwrap(), 4);
}

#[test]
fn a_changed_record_marks_its_period_dirty_for_a_new_revision() {
    let mut env = Env::new();
    env.import(&fixture("records_gbk.csv")).unwrap();
    let q2 = period("2026-Q2");

    // Revision 0 of 2026-Q2 is built and queued: the period is clean.
    let state = env.store.period_state(&q2).unwrap();
    assert!(state.dirty);
    let built = BuildStamp {
        content_hash: "rev0".into(),
        change_seq: state.change_seq,
    };
    env.store
        .enqueue(&uuid::Uuid::new_v4().to_string(), &q2, 0, b"report", &built)
        .unwrap();
    assert!(!env.store.period_state(&q2).unwrap().dirty);

    // The platform corrects GBK-003 (fee 1,999.99 → 2,000.00).
    let gbk = fs::read(fixture("records_gbk.csv")).unwrap();
    let (text, _, _) = encoding_rs::GBK.decode(&gbk);
    let corrected = text.replace("\"1,999.99\"", "2000");
    let (bytes, _, _) = encoding_rs::GBK.encode(&corrected);
    let path = env.path("corrected.csv");
    fs::write(&path, &bytes).unwrap();
    let sum = env.import(&path).unwrap().summary;
    assert_eq!((sum.updated, sum.unchanged), (1, 3));
    assert_eq!(sum.dirty_periods, ["2026-A", "2026-M05", "2026-Q2"]);
    assert_record(&env.store, "GBK-003", 200_000, "91440300708461136T");

    let state = env.store.period_state(&q2).unwrap();
    assert!(state.dirty, "the sent period needs a new revision");
    assert_eq!(state.next_revision(), 1);
    assert!(env
        .store
        .dirty_periods()
        .unwrap()
        .iter()
        .any(|p| p.period == q2));
}

#[test]
fn killed_between_import_and_move_neither_loses_nor_doubles() {
    let mut env = Env::new();
    let p = env.drop_fixture("records_gbk.csv", "q2.csv");
    // The import committed, then the process died before moving the file.
    env.import(&p).unwrap();
    assert!(p.exists());

    let s = env.process();
    assert_eq!(s.imported.len(), 1);
    assert!(s.imported[0].summary.already_imported);
    assert_eq!(names_in(&env.path("done")), ["q2.csv"]);
    assert_eq!(env.store.record_count().unwrap(), 4);
}

#[test]
fn profile_file_imports_sections_and_explanation() {
    let mut env = Env::new();
    let import = env.import(&fixture("profile_2026-Q2.csv")).unwrap();
    assert_eq!(import.kind, ImportKind::Profile);
    assert_eq!(import.summary.dirty_periods, ["2026-Q2"]);
    let q2 = period("2026-Q2");
    let p = env.store.profile_for_period(&q2).unwrap();
    let finance = p.finance.unwrap();
    assert_eq!(finance.total_revenue_fen, 250_000_000);
    assert_eq!(finance.public_funding_fen, 30_000_050);
    assert_eq!(p.staff.unwrap().professional_with_degree_or_mid_title, 18);
    let d = p.disclosures.unwrap();
    assert!(d.content && d.fees && !d.time);
    assert_eq!(p.satisfaction.unwrap().responses, 36);
    assert_eq!(p.startups.unwrap().startups_counselled, 6);
    assert!(p.capacity.is_none(), "capacity is an annual section");
    let e = env.store.explanations_for_period(&q2).unwrap();
    assert_eq!(e[0].rule_id, "W201");
    assert!(e[0].text.contains("服务网点"));
}

#[test]
fn templates_reimport_cleanly() {
    let mut env = Env::new();
    let dir = env.path("templates");
    let files = template::write_templates(&dir).unwrap();
    assert_eq!(files.len(), 3);
    for f in &files {
        let import = env
            .import(f)
            .unwrap_or_else(|e| panic!("blank {} must import: {e}", f.display()));
        assert_eq!(import.summary.inserted, 0, "{}", f.display());
    }
    assert_eq!(env.store.record_count().unwrap(), 0);

    // Filled in the way a person does in Excel: one row under the header.
    let csv = dir.join(template::RECORDS_CSV);
    let mut text = fs::read_to_string(&csv).unwrap();
    text.push_str("T-1,2026/5/8,管理咨询,91110000600037341L,中型,L,110105,5000,否,满意,\r\n");
    fs::write(&csv, text).unwrap();
    assert_eq!(env.import(&csv).unwrap().summary.inserted, 1);
    assert_record(&env.store, "T-1", 500_000, "91110000600037341L");

    // The profile template with the period and the start-up section filled in.
    let profile = dir.join(template::PROFILE_CSV);
    let filled = fs::read_to_string(&profile)
        .unwrap()
        .replace("\r\n报告期,,", "\r\n报告期,2026-M05,")
        .replace("\r\n辅导创业企业数,,", "\r\n辅导创业企业数,4,")
        .replace("\r\n代办注册登记数,,", "\r\n代办注册登记数,1,");
    fs::write(&profile, filled).unwrap();
    let import = env.import(&profile).unwrap();
    assert_eq!(import.kind, ImportKind::Profile);
    let p = env.store.profile_for_period(&period("2026-M05")).unwrap();
    assert_eq!(p.startups.unwrap().registrations_assisted, 1);
}

#[test]
fn clear_credit_codes_never_reach_the_database_file() {
    let mut env = Env::new();
    for (fixture_name, name) in [
        ("records_gbk.csv", "a.csv"),
        ("records_english.csv", "b.csv"),
        ("records.json", "c.json"),
        ("records_bad.csv", "d.csv"),
    ] {
        env.drop_fixture(fixture_name, name);
    }
    let s = env.process();
    assert_eq!((s.imported.len(), s.quarantined.len()), (3, 1));
    let Env { dir, store } = env;
    drop(store);
    for file in ["agent.db", "agent.db-wal"] {
        let Ok(bytes) = fs::read(dir.path().join(file)) else {
            continue;
        };
        for code in CODES {
            assert!(
                !bytes.windows(code.len()).any(|w| w == code.as_bytes()),
                "{code} found in {file}"
            );
        }
    }
}
