//! `sme-hub registry import FILE`: registry files (CSV or XLSX) checked row by row, all or
//! nothing per file.
//!
//! The header row is the first of the first ten rows naming at least two known columns (title
//! rows above it are fine). Headers may be Chinese or English; case, spaces, `-`/`_` and
//! full-width brackets do not matter, and a bilingual cell such as `平台名称/name` works. Other
//! columns are ignored. The kind is told by the headers (the kind whose required columns are all
//! present, most columns matched), or given with `--kind`.
//!
//! ## platforms (平台名录)
//!
//! | 中文 | English | required | value |
//! |---|---|---|---|
//! | 统一社会信用代码 | credit_code | yes | 18 characters, check character verified (GB 32100) |
//! | 平台名称 | name | yes | text |
//! | 所在地区 | region_code | yes | 6-digit division code of one of the 34 provinces; the region the platform is counted under |
//! | 行业门类 | industry | no | GB/T 4754-2017 section letter A–T |
//! | 平台类型 | type | no | 综合 / comprehensive, 专业 / specialized |
//! | 示范级别 | level | no | 国家级示范 / national_demo, 省级示范 / provincial_demo, 无 / none (blank = none) |
//! | 独立法人 | independent_legal_person | yes | 是/否, yes/no, true/false, 1/0 |
//! | 登记日期 | registered_date | yes | first operating day: `YYYY-MM-DD`, `YYYY/M/D`, `YYYY年M月D日`, `YYYYMMDD` or an Excel date |
//! | 注销日期 | closed_date | no | first day no longer operating; after the registered date |
//!
//! A region in another province than the credit code's characters 3–8 is accepted with a
//! warning, printed and stored with the row (national registrations carry `100000`, which is no
//! province, and also get one). A credit code twice in one file is an error. Each imported row
//! becomes a new version of that platform; a row equal to the current version is skipped, and
//! platforms not in the file are left as they are (to close one, import it with a closed date).
//!
//! ## divisions (行政区划)
//!
//! | 中文 | English | required | value |
//! |---|---|---|---|
//! | 版本 | revision | unless `--revision` | year of the code list, e.g. 2023 |
//! | 行政区划代码 | code | yes | `PP0000` (province) or `PPCC00` (prefecture) of one of the 34 provinces |
//! | 名称 | name | yes | Chinese name |
//! | 英文名称 | name_en | no | English name |
//!
//! ## sme-counts (中小企业数)
//!
//! | 中文 | English | required | value |
//! |---|---|---|---|
//! | 地区代码 | region_code | yes | 6-digit code (`000000` for the whole country) |
//! | 年份 | year | yes | 1949–2100 |
//! | 中小企业数 | sme_count | yes | whole number ≥ 0 (thousands separators allowed) |
//!
//! A later import of the same (region, year) replaces the figure.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

pub use super::columns::region_warning;
use super::columns::{
    check_duplicates, column_of, complete, division_row, matched, platform_row, sme_row, Column,
    Problems, Row, DIVISION_COLUMNS, PLATFORM_COLUMNS, SME_COLUMNS,
};
use sme_proto::tabular::rejected_text;

use super::table::{self, fold, Cell, Location, Problem, RawRow};
use super::{db, Division, Platform, RowWarning, SmeCount};
use crate::store::{Store, StoreError};

/// What a registry file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Platforms (平台名录).
    Platforms,
    /// Division codes and names (行政区划).
    Divisions,
    /// SME counts per region and year (中小企业数).
    SmeCounts,
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The kind, or `None` to tell it by the headers.
    pub kind: Option<Kind>,
    /// Revision for a divisions file without a revision column.
    pub revision: Option<u32>,
    /// Who imports (stored with every row and in the import log).
    pub by: String,
    /// Check and report only; write nothing.
    pub dry_run: bool,
}

/// The checked content of a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// Platforms, with their warnings inside.
    Platforms(Vec<Platform>),
    /// Divisions.
    Divisions(Vec<Division>),
    /// SME counts.
    SmeCounts(Vec<SmeCount>),
}

/// A warning on one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warned {
    /// Where.
    pub location: Location,
    /// The row's key (credit code).
    pub key: String,
    /// What.
    pub warning: RowWarning,
}

/// A file that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The kind.
    pub kind: Kind,
    /// Its rows.
    pub rows: Rows,
    /// Warnings, in file order.
    pub warnings: Vec<Warned>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportReport {
    /// The kind imported.
    pub kind: Kind,
    /// The file.
    pub file: PathBuf,
    /// Data rows in the file.
    pub rows: usize,
    /// Rows written (new or changed); for a dry run, rows that would be.
    pub changed: usize,
    /// Warnings, printed and (platforms) stored with the rows.
    pub warnings: Vec<Warned>,
    /// Nothing was written.
    pub dry_run: bool,
}

/// Why a file was not imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("{}: cannot read the file / 无法读取文件: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file has problems; nothing of it was imported.
    #[error("{}", rejected_text(file, problems))]
    Rejected {
        /// The file.
        file: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// ClickHouse failed; nothing or all of the file may be stored — run the import again.
    #[error("registry import failed, run it again: {0}")]
    Store(#[from] StoreError),
}

// === impl Kind ===

impl Kind {
    /// `platforms`, `divisions` or `sme-counts`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Platforms => "platforms",
            Kind::Divisions => "divisions",
            Kind::SmeCounts => "sme-counts",
        }
    }

    fn name_zh(self) -> &'static str {
        match self {
            Kind::Platforms => "平台名录",
            Kind::Divisions => "行政区划",
            Kind::SmeCounts => "中小企业数",
        }
    }

    pub(super) fn columns(self) -> &'static [Column] {
        match self {
            Kind::Platforms => PLATFORM_COLUMNS,
            Kind::Divisions => DIVISION_COLUMNS,
            Kind::SmeCounts => SME_COLUMNS,
        }
    }

    const ALL: [Kind; 3] = [Kind::Platforms, Kind::Divisions, Kind::SmeCounts];
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match fold(s).as_str() {
            "platforms" | "platform" | "平台名录" => Ok(Kind::Platforms),
            "divisions" | "division" | "行政区划" => Ok(Kind::Divisions),
            "smecounts" | "sme" | "中小企业数" => Ok(Kind::SmeCounts),
            _ => Err(format!(
                "unknown registry kind {s:?}; use platforms, divisions or sme-counts"
            )),
        }
    }
}

// === parsing ===

/// Checks a file's bytes; `file_name` chooses the reader and names it in messages.
pub fn check(
    file_name: &str,
    bytes: &[u8],
    options: &ImportOptions,
) -> Result<Checked, Vec<Problem>> {
    let rows = table::read(file_name, bytes)?;
    let (kind, header_index) = find_header(&rows, options.kind)?;
    let (header_location, header_cells) = &rows[header_index];
    let header: Vec<String> = header_cells
        .iter()
        .map(|c| c.text().unwrap_or_default())
        .collect();

    let mut problems = Problems(Vec::new());
    // Column index → column, refusing a column named twice.
    let mut by_index: Vec<Option<&'static Column>> = Vec::with_capacity(header.len());
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for h in &header {
        let column = column_of(kind.columns(), h);
        if let Some(c) = column {
            if let Some(first) = seen.insert(c.key, h) {
                problems.0.push(Problem {
                    location: header_location.clone(),
                    column: Some(h.clone()),
                    value: None,
                    en: format!(
                        "this column means the same as column \"{first}\" ({}); keep one of them",
                        c.key
                    ),
                    zh: format!("该列与“{first}”列含义相同（{}），请只保留一列", c.key),
                });
            }
        }
        by_index.push(column);
    }
    for c in kind.columns().iter().filter(|c| c.required) {
        if !seen.contains_key(c.key) {
            problems.0.push(Problem {
                location: header_location.clone(),
                column: None,
                value: None,
                en: format!(
                    "the header has no column {} ({}); add it (names: {})",
                    c.key,
                    kind.as_str(),
                    c.aliases.join(", ")
                ),
                zh: format!(
                    "表头缺少必需的列“{}”（{}），可用列名：{}",
                    c.aliases[0],
                    kind.name_zh(),
                    c.aliases.join("、")
                ),
            });
        }
    }
    if !problems.0.is_empty() {
        return Err(problems.0);
    }

    let data: Vec<Row<'_>> = rows[header_index + 1..]
        .iter()
        .filter(|(_, cells)| cells.iter().any(|c| !c.is_blank()))
        .map(|(location, cells)| Row {
            location,
            cells: by_index
                .iter()
                .zip(header.iter())
                .enumerate()
                .filter_map(|(i, (c, h))| {
                    c.map(|c| (c.key, (h.as_str(), cells.get(i).unwrap_or(&Cell::Empty))))
                })
                .collect(),
        })
        .collect();
    if data.is_empty() {
        return Err(vec![Problem::file(
            "the file has a header but no data rows; nothing to import",
            "文件只有表头，没有数据行",
        )]);
    }

    let mut warnings = Vec::new();
    let rows = match kind {
        Kind::Platforms => Rows::Platforms(
            data.iter()
                .filter_map(|r| platform_row(r, &mut problems, &mut warnings))
                .collect(),
        ),
        Kind::Divisions => Rows::Divisions(
            data.iter()
                .filter_map(|r| division_row(r, options.revision, &mut problems))
                .collect(),
        ),
        Kind::SmeCounts => Rows::SmeCounts(
            data.iter()
                .filter_map(|r| sme_row(r, &mut problems))
                .collect(),
        ),
    };
    check_duplicates(&rows, &data, &mut problems);
    if problems.0.is_empty() {
        Ok(Checked {
            kind,
            rows,
            warnings,
        })
    } else {
        Err(problems.0)
    }
}

/// The kind and the index of the header row.
fn find_header(rows: &[RawRow], forced: Option<Kind>) -> Result<(Kind, usize), Vec<Problem>> {
    let kinds: Vec<Kind> = forced.map_or_else(|| Kind::ALL.to_vec(), |k| vec![k]);
    let texts = |cells: &[Cell]| -> Vec<String> {
        cells.iter().map(|c| c.text().unwrap_or_default()).collect()
    };
    let header_index = rows
        .iter()
        .take(10)
        .position(|(_, cells)| kinds.iter().any(|k| matched(*k, &texts(cells)) >= 2));
    let Some(index) = header_index else {
        let needs: Vec<String> = kinds
            .iter()
            .map(|k| {
                let req: Vec<&str> = k
                    .columns()
                    .iter()
                    .filter(|c| c.required)
                    .map(|c| c.aliases[0])
                    .collect();
                format!("{} ({}): {}", k.as_str(), k.name_zh(), req.join(", "))
            })
            .collect();
        return Err(vec![Problem::file(
            format!(
                "no header row found in the first 10 rows; the header names the columns, e.g. {}",
                needs.join("; ")
            ),
            format!(
                "前10行中没有找到表头；表头应包含列名，例如 {}",
                needs.join("；")
            ),
        )]);
    };
    let header = texts(&rows[index].1);
    if let Some(kind) = forced {
        return Ok((kind, index));
    }
    let mut candidates: Vec<(usize, Kind)> = Kind::ALL
        .iter()
        .filter(|k| complete(**k, &header))
        .map(|k| (matched(*k, &header), *k))
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    match candidates.as_slice() {
        [(_, kind)] => Ok((*kind, index)),
        [(a, kind), (b, _), ..] if a > b => Ok((*kind, index)),
        [] => {
            // The kind that matched most, for the missing-column messages.
            let best = Kind::ALL
                .iter()
                .copied()
                .max_by_key(|k| matched(*k, &header))
                .unwrap_or(Kind::Platforms);
            Ok((best, index))
        }
        _ => Err(vec![Problem {
            location: rows[index].0.clone(),
            column: None,
            value: None,
            en: "the header fits more than one kind of registry file; say which with --kind \
                 platforms, --kind divisions or --kind sme-counts"
                .into(),
            zh: "表头可对应多种名录文件，请用 --kind platforms / divisions / sme-counts 指定"
                .into(),
        }]),
    }
}

// === import ===

/// Reads, checks and (unless a dry run) writes one file. A file with any problem writes
/// nothing; an import is logged in `registry_imports`.
pub async fn import_file(
    store: &Store,
    path: &Path,
    options: &ImportOptions,
    now: OffsetDateTime,
) -> Result<ImportReport, ImportError> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut report = import_bytes(store, &file_name, &bytes, options, now)
        .await
        .map_err(|e| match e {
            ImportError::Rejected { problems, .. } => ImportError::Rejected {
                file: path.to_owned(),
                problems,
            },
            other => other,
        })?;
    report.file = path.to_owned();
    Ok(report)
}

/// [`import_file`] for a file already in memory (a web upload): `file_name` chooses the reader
/// (`.xlsx` or CSV) and names the file in messages and the import log.
pub async fn import_bytes(
    store: &Store,
    file_name: &str,
    bytes: &[u8],
    options: &ImportOptions,
    now: OffsetDateTime,
) -> Result<ImportReport, ImportError> {
    let file_name = file_name.to_owned();
    let checked = check(&file_name, bytes, options).map_err(|problems| ImportError::Rejected {
        file: PathBuf::from(&file_name),
        problems,
    })?;
    let source = |location: &str| format!("{file_name} {location}");
    let (rows, changed) = match &checked.rows {
        Rows::Platforms(platforms) => {
            let current: HashMap<String, Platform> = db::platforms(store, None)
                .await?
                .into_iter()
                .map(|p| (p.credit_code.clone(), p))
                .collect();
            let changed: Vec<Platform> = platforms
                .iter()
                .filter(|p| {
                    current
                        .get(&p.credit_code)
                        .is_none_or(|c| !same_platform(c, p))
                })
                .map(|p| Platform {
                    source: source(&p.source),
                    ..p.clone()
                })
                .collect();
            if !options.dry_run {
                db::upsert_platforms(store, &changed, &options.by, now).await?;
            }
            (platforms.len(), changed.len())
        }
        Rows::Divisions(divisions) => {
            if !options.dry_run {
                db::upsert_divisions(store, divisions, &file_name, now).await?;
            }
            (divisions.len(), divisions.len())
        }
        Rows::SmeCounts(counts) => {
            if !options.dry_run {
                db::upsert_sme_counts(store, counts, &file_name, now).await?;
            }
            (counts.len(), counts.len())
        }
    };
    if !options.dry_run {
        let entry = db::ImportLog {
            import_id: Uuid::new_v4(),
            imported_at: now,
            kind: checked.kind.as_str().to_owned(),
            file_name: file_name.clone(),
            sha256: hex::encode(Sha256::digest(bytes)),
            row_count: rows as u32,
            changed: changed as u32,
            warnings: checked.warnings.len() as u32,
            imported_by: options.by.clone(),
        };
        db::log_import(store, &entry).await?;
    }
    Ok(ImportReport {
        kind: checked.kind,
        file: PathBuf::from(&file_name),
        rows,
        changed,
        warnings: checked.warnings,
        dry_run: options.dry_run,
    })
}

/// Whether two versions carry the same registry data (who and when aside).
fn same_platform(a: &Platform, b: &Platform) -> bool {
    a.name == b.name
        && a.region_code == b.region_code
        && a.industry == b.industry
        && a.platform_type == b.platform_type
        && a.level == b.level
        && a.independent_legal_person == b.independent_legal_person
        && a.registered == b.registered
        && a.closed == b.closed
        && a.warnings == b.warnings
}

#[cfg(test)]
mod tests {
    use super::super::columns::parse_date;
    use super::super::{DemoLevel, PlatformType};
    use super::*;
    use sme_proto::credit_code;
    use time::macros::date;

    fn opts() -> ImportOptions {
        ImportOptions {
            kind: None,
            revision: None,
            by: "test".into(),
            dry_run: false,
        }
    }

    fn code(prefix: &str) -> String {
        credit_code::make_valid(prefix)
    }

    const HEADER: &str = "统一社会信用代码,平台名称,所在地区,行业门类,平台类型,示范级别,独立法人,登记日期,注销日期\n";

    #[test]
    fn reads_platforms_with_chinese_headers_and_a_title_row() {
        let a = code("91110108MA01C0DE8");
        let b = code("91440300MA5F00T1X");
        let text = format!(
            "2026年平台名录\n{HEADER}{a},中关村创新服务平台,110108,M,综合,国家级示范,是,2015/3/1,\n\
             {b},深圳检测平台,440300,,专业,,否,2020年2月29日,2026-06-15\n"
        );
        let checked = check("p.csv", text.as_bytes(), &opts()).unwrap();
        assert_eq!(checked.kind, Kind::Platforms);
        let Rows::Platforms(p) = checked.rows else {
            panic!()
        };
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].credit_code, a);
        assert_eq!(p[0].level, DemoLevel::National);
        assert_eq!(p[0].platform_type, PlatformType::Comprehensive);
        assert_eq!(p[0].registered, date!(2015 - 03 - 01));
        assert_eq!(p[0].source, "line 3");
        assert_eq!(p[1].registered, date!(2020 - 02 - 29));
        assert_eq!(p[1].closed, Some(date!(2026 - 06 - 15)));
        assert!(!p[1].independent_legal_person);
        assert!(checked.warnings.is_empty());
    }

    #[test]
    fn english_and_bilingual_headers_work() {
        let a = code("91110108MA01C0DE8");
        let text = format!(
            "Credit Code,平台名称/name,region_code,independent_legal_person,registered_date\n\
             {a},X,110105,yes,20200101\n"
        );
        let checked = check("p.csv", text.as_bytes(), &opts()).unwrap();
        let Rows::Platforms(p) = checked.rows else {
            panic!()
        };
        assert_eq!(p[0].region_code, "110105");
    }

    #[test]
    fn every_problem_is_reported_with_line_column_and_value_and_nothing_is_kept() {
        let good = code("91110108MA01C0DE8");
        let mut bad_check: Vec<char> = good.chars().collect();
        bad_check[17] = if bad_check[17] == '0' { '1' } else { '0' };
        let bad_check: String = bad_check.into_iter().collect();
        let text = format!(
            "{HEADER}{good},A,110108,,,,是,2020-01-01,\n\
             {bad_check},B,110108,,,,是,2020-01-01,\n\
             {good},C,1101,,,,是,2020-02-30,\n\
             {good},D,990100,x,混合,特级,也许,2020-01-01,2019-12-31\n"
        );
        let problems = check("p.csv", text.as_bytes(), &opts()).unwrap_err();
        let at = |line: u64, column: &str| {
            problems
                .iter()
                .find(|p| p.location == Location::Line(line) && p.column.as_deref() == Some(column))
                .unwrap_or_else(|| panic!("no problem at line {line} {column}: {problems:#?}"))
        };
        assert!(at(3, "统一社会信用代码").en.contains("check character"));
        assert_eq!(at(4, "所在地区").value.as_deref(), Some("1101"));
        assert!(at(4, "登记日期").en.contains("YYYY-MM-DD"));
        assert!(at(5, "所在地区").en.contains("34 provincial"));
        at(5, "行业门类");
        at(5, "平台类型");
        at(5, "示范级别");
        at(5, "独立法人");
        assert!(at(5, "注销日期").zh.contains("注销日期"));
        for p in &problems {
            assert!(!p.en.is_empty() && !p.zh.is_empty());
        }
        let text = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("line 3 / 第3行"), "{text}");
    }

    #[test]
    fn a_credit_code_twice_is_an_error() {
        let a = code("91110108MA01C0DE8");
        let text =
            format!("{HEADER}{a},A,110108,,,,是,2020-01-01,\n{a},B,110108,,,,是,2020-01-01,\n");
        let problems = check("p.csv", text.as_bytes(), &opts()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert_eq!(problems[0].location, Location::Line(3));
        assert!(problems[0].en.contains("line 2"), "{:?}", problems[0]);
    }

    #[test]
    fn a_region_in_another_province_than_the_code_is_a_warning() {
        let shenzhen = code("91440300MA5F00T1X");
        let national = code("91100000MA5F00T1X");
        let text = format!(
            "{HEADER}{shenzhen},A,110108,,,,是,2020-01-01,\n{national},B,110108,,,,是,2020-01-01,\n\
             {shenzhen}X,C,440305,,,,是,2020-01-01,\n"
        );
        // The third row is malformed on purpose: fix it and see only warnings remain.
        assert!(check("p.csv", text.as_bytes(), &opts()).is_err());
        let text = text.replace(
            &format!("{shenzhen}X,C,440305"),
            &format!("{},C,440305", code("91440300MA5F00T2X")),
        );
        let checked = check("p.csv", text.as_bytes(), &opts()).unwrap();
        assert_eq!(checked.warnings.len(), 2, "{:#?}", checked.warnings);
        let w = &checked.warnings[0];
        assert_eq!(w.key, shenzhen);
        assert!(
            w.warning.en.contains("440300 (广东省 Guangdong)"),
            "{}",
            w.warning.en
        );
        assert!(w.warning.zh.contains("不在同一省份"));
        assert!(checked.warnings[1]
            .warning
            .en
            .contains("100000 (no province)"));
        let Rows::Platforms(p) = checked.rows else {
            panic!()
        };
        assert_eq!(p[0].warnings.len(), 1, "stored with the row");
        assert!(p[2].warnings.is_empty(), "same province: no warning");
    }

    #[test]
    fn divisions_and_sme_counts_are_told_by_their_headers() {
        let text = "行政区划代码,名称,英文名称\n440000,广东省,Guangdong\n440300,深圳市,Shenzhen\n";
        let problems = check("d.csv", text.as_bytes(), &opts()).unwrap_err();
        assert!(problems[0].en.contains("--revision"), "{problems:#?}");
        let checked = check(
            "d.csv",
            text.as_bytes(),
            &ImportOptions {
                revision: Some(2024),
                ..opts()
            },
        )
        .unwrap();
        assert_eq!(checked.kind, Kind::Divisions);
        let Rows::Divisions(d) = checked.rows else {
            panic!()
        };
        assert_eq!(d[1].code, "440300");
        assert_eq!(d[1].revision, 2024);

        let county = "版本,代码,名称\n2023,440305,南山区\n";
        let p = check("d.csv", county.as_bytes(), &opts()).unwrap_err();
        assert!(p[0].en.contains("counties"), "{p:#?}");

        let text = "地区代码,年份,中小企业数\n440300,2023,\"1,234,567\"\n000000,2023,52000000\n";
        let checked = check("s.csv", text.as_bytes(), &opts()).unwrap();
        assert_eq!(checked.kind, Kind::SmeCounts);
        let Rows::SmeCounts(s) = checked.rows else {
            panic!()
        };
        assert_eq!(s[0].count, 1_234_567);
        assert_eq!(s[1].region_code, "000000");
        let bad = "地区代码,年份,中小企业数\n440300,1900,-5\n";
        assert_eq!(
            check("s.csv", bad.as_bytes(), &opts()).unwrap_err().len(),
            2
        );
    }

    #[test]
    fn files_without_a_header_or_data_say_what_they_need() {
        let p = check("x.csv", b"a,b\n1,2\n", &opts()).unwrap_err();
        assert!(p[0].en.contains("no header row"), "{p:#?}");
        assert!(p[0].en.contains("统一社会信用代码"), "{p:#?}");
        let p = check("x.csv", HEADER.as_bytes(), &opts()).unwrap_err();
        assert!(p[0].en.contains("no data rows"), "{p:#?}");
        let p = check(
            "x.csv",
            "统一社会信用代码,平台名称\nX,Y\n".as_bytes(),
            &opts(),
        )
        .unwrap_err();
        assert!(
            p.iter().any(|p| p.en.contains("no column region_code")),
            "{p:#?}"
        );
        let forced = ImportOptions {
            kind: Some(Kind::SmeCounts),
            ..opts()
        };
        let p = check("x.csv", HEADER.as_bytes(), &forced).unwrap_err();
        assert!(p[0].en.contains("no header row"), "{p:#?}");
    }

    #[test]
    fn dates_in_every_accepted_form() {
        for s in [
            "2028-02-29",
            "2028/2/29",
            "2028年2月29日",
            "20280229",
            "2028-02-29 00:00",
        ] {
            assert_eq!(parse_date(s), Some(date!(2028 - 02 - 29)), "{s}");
        }
        for s in ["2027-02-29", "28-2-29", "2028-2", "20281301", "2028-02-29x"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }
}
