//! Every format read back by an independent parser (`csv`, `calamine`, `serde_json`) equals
//! the analytics views' numbers for the same request, subtotals and totals included; Chinese
//! text survives; SDMX-CSV follows its header and period rules with codes from the structure;
//! a request outside the scope is refused and audited, and every export is audited with its
//! SHA-256.

use std::collections::HashMap;

use calamine::Reader;
use sha2::Digest;
use sme_hub::analytics::satisfaction::{self, SatisfactionBy};
use sme_hub::analytics::volume::{self, VolumeBy};
use sme_hub::analytics::{Filter, Role, Scope};
use sme_hub::export::{self, ExportRequest};
use sme_hub::registry;
use sme_proto::period::Calendar;

use crate::data::{data_set, params, period, platforms, run, who};

/// One CSV/XLSX/JSON row's key and volume figures.
#[derive(Debug, Clone, PartialEq)]
struct VolRow {
    row_type: String,
    period: String,
    region: String,
    platform: String,
    function: String,
    services: Option<u64>,
    free: Option<u64>,
    revenue_yuan: Option<String>,
    reported: u64,
    expected: u64,
}

pub fn read_csv(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "CSV starts with a BOM"
    );
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let headers: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (headers, rows)
}

fn vol_rows(headers: &[String], rows: &[Vec<String>]) -> Vec<VolRow> {
    let at = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {headers:?}"))
    };
    let opt = |s: &str| (!s.is_empty()).then(|| s.parse::<u64>().unwrap());
    rows.iter()
        .map(|r| VolRow {
            row_type: r[at("row type")].clone(),
            period: r[at("period")].clone(),
            region: r[at("region code")].clone(),
            platform: r[at("platform credit code")].clone(),
            function: r[at("service function code")].clone(),
            services: opt(&r[at("services")]),
            free: opt(&r[at("free services")]),
            revenue_yuan: Some(r[at("revenue (yuan)")].clone()).filter(|s| !s.is_empty()),
            reported: r[at("reports")].parse().unwrap(),
            expected: r[at("expected reports")].parse().unwrap(),
        })
        .collect()
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[tokio::test]
async fn every_format_reads_back_equal_to_the_volume_view_with_subtotals_and_totals() {
    let store = data_set("roundtrip").await;
    let scope = Scope::operator();
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("v.csv");
    let finished = run(&store, &scope, &params("volume", "csv"), &csv_path).await;
    assert!(
        !export::output::part_path(&csv_path).exists(),
        "no .part left"
    );
    let (headers, rows) = read_csv(&csv_path);
    let vols = vol_rows(&headers, &rows);
    assert_eq!(finished.total_rows() as usize, vols.len());
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(&csv_path).unwrap()));
    assert_eq!(finished.written.sha256, sha);

    // Every region row (prefecture, province, total) equals the view for that region and
    // period, by function; the grand total equals the view over the three months.
    let cal = Calendar::default();
    let mut checked = 0;
    for r in vols
        .iter()
        .filter(|r| r.row_type != "platform" && r.row_type != "county_subtotal")
    {
        let (from, to) = if r.row_type == "grand total (all periods)" {
            (period("2026-M01"), period("2026-M03"))
        } else {
            (period(&r.period), period(&r.period))
        };
        let filter = Filter::new(&scope, from, to)
            .unwrap()
            .with_region(&scope, &r.region)
            .unwrap()
            .with_calendar(&cal);
        let view = volume::volume(&store, &scope, &filter, VolumeBy::Function)
            .await
            .unwrap();
        let want = view.rows.iter().find(|v| v.key == r.function);
        match want {
            Some(v) => {
                assert_eq!(r.services, Some(v.services), "{r:?}");
                assert_eq!(r.free, Some(v.free_services), "{r:?}");
                assert_eq!(
                    r.revenue_yuan.as_deref(),
                    Some(yuan(v.revenue_fen).as_str()),
                    "{r:?}"
                );
                assert_eq!(r.reported, v.coverage.reported, "{r:?}");
                assert_eq!(r.expected, v.coverage.expected, "{r:?}");
            }
            None => assert_eq!((r.services, r.reported), (None, 0), "{r:?}"),
        }
        checked += 1;
    }
    assert!(
        checked >= 3 * 6,
        "prefectures, provinces and totals were compared: {checked}"
    );
    // Platform 4 did not report in M02: one row, empty figures, not zeros.
    let p4 = &platforms()[4].0;
    let missing: Vec<&VolRow> = vols
        .iter()
        .filter(|r| &r.platform == p4 && r.period == "2026-M02")
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(
        (
            missing[0].services,
            missing[0].reported,
            missing[0].expected
        ),
        (None, 0, 1)
    );
    // Platform 0's M01 counts its revision 1 only: 15 services of function 1.
    let p0 = &platforms()[0].0;
    let r0 = vols
        .iter()
        .find(|r| &r.platform == p0 && r.period == "2026-M01" && r.function == "1")
        .unwrap();
    assert_eq!(r0.services, Some(15));

    // NDJSON: the same rows, money in fen.
    let nd_path = dir.path().join("v.ndjson");
    run(&store, &scope, &params("volume", "ndjson"), &nd_path).await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&nd_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), vols.len());
    for (j, v) in lines.iter().zip(&vols) {
        assert_eq!(j["services"].as_u64(), v.services);
        assert_eq!(j["reported"].as_u64(), Some(v.reported));
        assert_eq!(j["service_function"].as_str().unwrap_or(""), v.function);
        if let Some(y) = &v.revenue_yuan {
            assert_eq!(yuan(j["revenue_fen"].as_i64().unwrap()), *y);
        }
    }

    // XLSX in Chinese: cover sheet, Chinese headers and names, the same numbers.
    let mut zh = params("volume,satisfaction", "xlsx");
    zh.lang = None;
    let x_path = dir.path().join("v.xlsx");
    run(&store, &scope, &zh, &x_path).await;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&x_path).unwrap();
    let names = book.sheet_names();
    assert_eq!(names, ["说明", "服务量", "满意度"]);
    let cover = book.worksheet_range("说明").unwrap();
    let cover_text: Vec<String> = cover
        .rows()
        .flat_map(|r| r.iter().map(|c| c.to_string()))
        .collect();
    assert!(
        cover_text.iter().any(|c| c.contains("服务量")),
        "{cover_text:?}"
    );
    assert!(
        cover_text.iter().any(|c| c.contains("tester")),
        "generated by"
    );
    let sheet = book.worksheet_range("服务量").unwrap();
    let header: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[0], "行类型");
    assert!(
        header.contains(&"服务次数".to_owned()) && header.contains(&"服务收入（元）".to_owned())
    );
    let data: Vec<Vec<calamine::Data>> = sheet.rows().skip(1).map(|r| r.to_vec()).collect();
    assert_eq!(data.len(), vols.len());
    let col = |h: &str| header.iter().position(|x| x == h).unwrap();
    for (x, v) in data.iter().zip(&vols) {
        let services = match &x[col("服务次数")] {
            calamine::Data::Float(f) => Some(*f as u64),
            calamine::Data::Empty => None,
            other => panic!("{other:?}"),
        };
        assert_eq!(services, v.services);
        if let (calamine::Data::Float(y), Some(want)) = (&x[col("服务收入（元）")], &v.revenue_yuan)
        {
            assert_eq!(format!("{y:.2}"), *want);
        }
    }
    // The sheet's XML: the header row frozen, percent and yuan formats in the styles.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&x_path).unwrap()).unwrap();
    let mut xml = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut zip.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    let sheet_xml = xml("xl/worksheets/sheet2.xml");
    assert!(
        sheet_xml.contains(r#"ySplit="1""#) && sheet_xml.contains(r#"state="frozen""#),
        "header row frozen"
    );
    let styles = xml("xl/styles.xml");
    assert!(styles.contains(r#"formatCode="0.00%""#), "percent format");
    assert!(styles.contains(r##"formatCode="#,##0.00""##), "yuan format");
    let names_col: Vec<String> = data
        .iter()
        .map(|r| r[col("地区名称")].to_string())
        .collect();
    assert!(
        names_col.iter().any(|n| n == "深圳市"),
        "Chinese names intact"
    );
    let platform_names: Vec<String> = data
        .iter()
        .map(|r| r[col("平台名称")].to_string())
        .collect();
    assert!(platform_names.iter().any(|n| n.starts_with("测试平台")));
}

#[tokio::test]
async fn sdmx_csv_follows_the_header_and_period_rules_with_codes_from_the_structure() {
    let store = data_set("sdmx").await;
    let scope = Scope::operator();
    let dir = tempfile::tempdir().unwrap();
    for (from, to, freq, pattern) in [
        ("2026-M01", "2026-M03", "M", "2026-M0"),
        ("2026-Q1", "2026-Q1", "Q", "2026-Q1"),
        ("2025-A", "2025-A", "A", "2025"),
    ] {
        let path = dir.path().join(format!("s-{freq}.csv"));
        let mut p = params("volume", "sdmx-csv");
        p.from = Some(from.into());
        p.to = Some(to.into());
        run(&store, &scope, &p, &path).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let h: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
        assert_eq!(
            &h[..10],
            [
                "STRUCTURE",
                "STRUCTURE_ID",
                "ACTION",
                "FREQ",
                "REF_AREA",
                "PLATFORM",
                "SERVICE_FUNCTION",
                "INDUSTRY",
                "ENTERPRISE_SIZE",
                "TIME_PERIOD"
            ]
        );
        assert_eq!(h.last().unwrap(), "OBS_STATUS");
        let divisions = registry::divisions(&store, None).await.unwrap();
        let areas: Vec<(String, String, String)> = divisions
            .into_iter()
            .map(|d| (d.code, d.name_en, d.name))
            .collect();
        let xml = export::sdmx::structure_xml(&areas, "2026-12-02T00:00:00Z");
        let in_list = |cl: &str, code: &str| {
            let start = xml.find(&format!("<str:Codelist id=\"{cl}\"")).unwrap();
            let end = start + xml[start..].find("</str:Codelist>").unwrap();
            xml[start..end].contains(&format!("<str:Code id=\"{code}\">"))
        };
        let mut n = 0;
        for rec in r.records() {
            let rec = rec.unwrap();
            assert_eq!(
                (&rec[0], &rec[1], &rec[2]),
                ("datastructure", "CN_SME:DSD_SME_VOLUME(1.0)", "I")
            );
            assert_eq!(&rec[3], freq);
            assert!(rec[9].starts_with(pattern), "{:?}", rec);
            if freq == "A" {
                assert_eq!(&rec[9], "2025", "a year is written plainly");
                assert_eq!(&rec[rec.len() - 1], "M", "nothing reported for 2025");
            }
            assert!(in_list("CL_FREQ", &rec[3]));
            assert!(in_list("CL_AREA", &rec[4]), "REF_AREA {}", &rec[4]);
            assert!(in_list("CL_SERVICE_FUNCTION", &rec[6]));
            assert!(in_list("CL_INDUSTRY", &rec[7]));
            assert!(in_list("CL_ENTERPRISE_SIZE", &rec[8]));
            assert!(in_list("CL_OBS_STATUS", &rec[rec.len() - 1]));
            assert!(rec[5].len() == 18 || &rec[5] == "_Z");
            n += 1;
        }
        assert!(n > 0);
        // For scripts/sdmx_check.py (an independent SDMX library), when test.sh asks.
        if let Some(dir) = std::env::var_os("SME_EXPORT_SAMPLES") {
            let dir = std::path::Path::new(&dir);
            std::fs::create_dir_all(dir).unwrap();
            std::fs::copy(&path, dir.join(format!("volume-{freq}.sdmx.csv"))).unwrap();
            std::fs::write(dir.join("structure.xml"), &xml).unwrap();
        }
    }
    // Annual periods are written as the plain year.
    assert_eq!(export::sdmx::time_period(&period("2026-A")), "2026");
}

#[tokio::test]
async fn satisfaction_rows_equal_the_view_by_region() {
    let store = data_set("satisfaction").await;
    let scope = Scope::operator();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.csv");
    let mut p = params("satisfaction", "csv");
    p.area_level = Some("province".into());
    p.breakdown = None;
    p.to = Some("2026-M01".into());
    run(&store, &scope, &p, &path).await;
    let (h, rows) = read_csv(&path);
    let at = |n: &str| h.iter().position(|x| x == n).unwrap();
    let filter = Filter::new(&scope, period("2026-M01"), period("2026-M01")).unwrap();
    let view = satisfaction::satisfaction(&store, &scope, &filter, SatisfactionBy::Region)
        .await
        .unwrap();
    let by_key: HashMap<&str, &satisfaction::SatisfactionRow> =
        view.rows.iter().map(|r| (r.key.as_str(), r)).collect();
    assert_eq!(rows.len(), view.rows.len() + 1, "provinces and the total");
    for r in &rows {
        let v = if r[at("row type")] == "total" {
            &view.total
        } else {
            by_key[r[at("region code")].as_str()]
        };
        assert_eq!(r[at("responses")].parse::<u64>().unwrap(), v.responses);
        let rate: f64 = r[at("satisfaction rate")].parse().unwrap();
        assert_eq!(Some(rate), v.rate, "shares read back exactly");
        assert_eq!(
            r[at("reports")].parse::<u64>().unwrap(),
            v.coverage.reported
        );
        assert_eq!(
            r[at("expected reports")].parse::<u64>().unwrap(),
            v.coverage.expected
        );
    }
}

#[tokio::test]
async fn a_coordinator_outside_their_region_is_refused_and_every_export_is_audited() {
    let store = data_set("scope").await;
    let gd = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
    let cal = Calendar::default();
    let mut p = params("volume", "csv");
    p.region = Some("110000".into());
    let err = ExportRequest::parse(&p, &gd, &cal).unwrap_err();
    assert!(err.is_scope(), "{err}");
    let row = export::engine::refused_row(&gd, &p, &who(), &err.to_string());
    export::audit::record(&store, &row).await.unwrap();

    // Inside the region: only Guangdong's platforms, audited with rows and hash.
    p.region = None;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gd.csv");
    let finished = run(&store, &gd, &p, &path).await;
    let (h, rows) = read_csv(&path);
    let region = h.iter().position(|x| x == "region code").unwrap();
    assert!(
        rows.iter().all(|r| r[region].starts_with("44")),
        "nothing outside Guangdong"
    );
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct A {
        outcome: String,
        rows: u64,
        sha256: String,
        scope: String,
    }
    let audit: Vec<A> = store
        .client()
        .query("SELECT outcome, rows, sha256, scope FROM export_audit ORDER BY at, at_nanos")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(
        (audit[0].outcome.as_str(), audit[0].scope.as_str()),
        ("refused", "440000")
    );
    assert_eq!(audit[1].outcome, "done");
    assert_eq!(audit[1].rows, finished.total_rows());
    assert_eq!(audit[1].sha256, finished.written.sha256);
}

#[tokio::test]
async fn a_failed_export_leaves_no_file_and_is_audited_as_failed() {
    let store = data_set("failed").await;
    // A platform in Nanning, whose prefecture 450100 is not in the division table: SDMX
    // cannot code its REF_AREA, so the export stops part-way.
    let nanning = sme_proto::credit_code::make_valid("91450102MA0000777");
    registry::upsert_platforms(
        &store,
        &[registry::Platform::new(
            &nanning,
            "南宁平台",
            time::macros::date!(2020 - 01 - 01),
        )],
        "test",
        time::macros::datetime!(2025-12-01 0:00 UTC),
    )
    .await
    .unwrap();
    store
        .insert_reports(&[crate::data::accepted(&nanning, "450102", "2026-M02", 9, 0)])
        .await
        .unwrap();
    let scope = Scope::operator();
    let cal = Calendar::default();
    let request = ExportRequest::parse(&params("volume", "sdmx-csv"), &scope, &cal).unwrap();
    let demo = sme_hub::config::DemoConfig::default();
    let engine = export::Engine {
        store: &store,
        calendar: &cal,
        demo: &demo,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("national.csv");
    let err = engine
        .run(
            &scope,
            &request,
            export::output::Target::File(path.clone()),
            &who(),
            &export::Silent,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("450100"), "{err}");
    assert!(!path.exists(), "no file that looks complete");
    assert!(
        !export::output::part_path(&path).exists(),
        "the .part was removed"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(leftovers.is_empty(), "work files removed: {leftovers:?}");
    let outcome: Vec<(String, String)> = store
        .client()
        .query("SELECT outcome, detail FROM export_audit")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(outcome.len(), 1);
    assert_eq!(outcome[0].0, "failed");
    assert!(outcome[0].1.contains("450100"));
}
