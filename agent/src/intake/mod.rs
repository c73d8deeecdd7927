//! Intake (数据导入): reads the platform's files of service records and profile data, checks every
//! row, pseudonymises enterprise credit codes and hands the result to the [`Store`].
//!
//! # Files
//!
//! | extension | reader |
//! |---|---|
//! | `.csv`, `.tsv`, `.txt` | text table. Encoding detected: UTF-8 with or without BOM, UTF-16 with BOM (Excel "Unicode text"), else GB18030 (a superset of the GBK that Excel writes in China). Delimiter: comma, tab or semicolon, whichever the header line uses most. |
//! | `.xlsx`, `.xlsm`, `.xls` | workbook (calamine). Sheet `服务记录`/`records` for records, `机构概况`/`profile` for a profile, else the first sheet. Date cells are Excel serial dates. |
//! | `.json` | UTF-8. An array of record objects, `{"records": [...]}`, or a profile object (below). |
//!
//! A file holds either **service records** or **one period's profile**; which one is told by its
//! header. The header row is the first of the first ten rows that names at least two known
//! columns, so a title row above it is fine. Header and value cells are trimmed of surrounding
//! whitespace; nothing else is ever changed ("fixed").
//!
//! ## Service records (服务记录)
//!
//! Headers in Chinese or English (case, spaces, `-`/`_` and full-width brackets do not matter; a
//! bilingual cell like `记录编号/record_id` also works). See [`columns::RECORD_COLUMNS`] for the
//! full alias list and `template.rs` for the blank templates.
//!
//! | 中文 | English | required | value |
//! |---|---|---|---|
//! | 记录编号 | record_id | yes | the platform's own id, unique; ≤ 64 characters |
//! | 服务日期 | date | yes | `YYYY-MM-DD`, `YYYY/M/D`, `YYYY年M月D日`, `YYYYMMDD` or an Excel date; 2000-01-01 … today (UTC+8) |
//! | 服务功能 | function | yes | 1–7, 信息查询 技术创新 质量管理 管理咨询 创业辅导 市场开拓 人员培训, or information, technology innovation, quality, management consulting, entrepreneurship, market expansion, training |
//! | 企业信用代码 | enterprise_credit_code | yes | 18-character unified social credit code, checked with its check character |
//! | 企业规模 | enterprise_size | column yes, value may be blank | 微型/小型/中型 or micro/small/medium |
//! | 行业门类 | industry | yes | GB/T 4754-2017 section letter A–T |
//! | 企业所在地区 | enterprise_region | yes | 6-digit division code with a known province prefix |
//! | 收费金额（元） | fee_yuan | one of the two fee columns | yuan, at most 2 decimals, `¥` and thousands commas allowed → integer fen, never via floating point |
//! | 收费金额（分） | fee_fen | | integer fen |
//! | 是否免费 | free | no | 是/否, true/false, 1/0, Y/N; blank = free when the fee is 0 |
//! | 满意度 | satisfaction | no | 1–5 or 非常满意 满意 一般 不满意 非常不满意 (very satisfied … very dissatisfied); blank = not surveyed |
//! | 服务人次 | person_times | no | whole number ≥ 0; blank = 0 |
//!
//! Other columns (e.g. 企业名称) are ignored and never stored. Blank rows are skipped. A credit code
//! never reaches the store: it is replaced by `sme_proto::pseudonym::pseudonymise(key, code)`.
//!
//! ## Profile (机构概况), one file per period
//!
//! Two columns, `项目`/`key` and `值`/`value` (a third column such as `说明`/`note` is ignored), one
//! row per item; in JSON, one object of item → value. Items (Chinese label or English key) are
//! listed in [`columns::PROFILE_ITEMS`]: `报告期`/`period` (required when anything else is given),
//! then the staff, finance, disclosures, capacity, start-ups and satisfaction sections. A section is
//! given when any of its items has a value, and then all of its items are required (except
//! `资质`/`certifications` and `有效问卷数`/`responses`). Money items are in yuan
//! (`营业额（元）`, `total_revenue_yuan`) or fen (`total_revenue_fen`). Explanations are rows
//! `上报说明:W201` / `explanation:W201` with the text as value (or, in JSON, an `explanations`
//! array of `{"rule_id", "text"}`). A profile with nothing filled in imports nothing.
//!
//! # All or nothing
//!
//! Every row and cell is checked and every problem is reported with file, line (CSV line, XLSX
//! row, JSON array index), column and what was expected, in English and Chinese. A file with any
//! problem imports nothing.

pub mod columns;
mod csv;
pub mod file;
mod inbox;
mod json;
mod profile;
mod records;
mod values;
mod xlsx;

pub use values::FUNCTION_NAMES;

use std::path::{Path, PathBuf};

use sme_proto::period::{Period, CST};
use time::{Date, OffsetDateTime};

use crate::store::{
    Explanation, ImportKind, ImportSource, ImportSummary, Profile, RecordRow, Store, StoreError,
};

pub use file::Limits;
pub use inbox::{
    process_inbox, process_inbox_with, FailedFile, ImportedFile, InboxSummary, QuarantinedFile,
    MIN_FILE_AGE,
};

pub use sme_proto::tabular::{Location, Problem};

/// Why a file was not imported.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The file could not be read at all (left where it is; try again later).
    #[error("{}: cannot read the file / 无法读取文件: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was read and has problems; nothing of it was imported.
    #[error("{}", rejected_text(file, problems))]
    Rejected {
        /// The file.
        file: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

/// Errors of [`import_file`].
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file was unreadable or had problems.
    #[error(transparent)]
    Intake(#[from] IntakeError),
    /// The store failed; the file was not imported (try again).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The checked content of one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// Service records, credit codes already pseudonymised.
    Records(Vec<RecordRow>),
    /// One period's profile.
    Profile(Box<ProfileFile>),
}

/// The checked content of a profile file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfileFile {
    /// The period; `None` only when nothing at all was filled in.
    pub period: Option<Period>,
    /// The sections given.
    pub profile: Profile,
    /// Explanations given.
    pub explanations: Vec<Explanation>,
}

/// Outcome of importing one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileImport {
    /// Records or profile.
    pub kind: ImportKind,
    /// Name and content hash.
    pub source: ImportSource,
    /// What the store did.
    pub summary: ImportSummary,
}

/// Checks files with a pseudonym key and a notion of "today".
#[derive(Debug, Clone)]
pub struct Intake<'k> {
    key: &'k [u8],
    today: Date,
    limits: Limits,
    allow_revert: bool,
}

// === impl Intake ===

impl<'k> Intake<'k> {
    /// An intake with today's date in UTC+8.
    pub fn new(key: &'k [u8]) -> Self {
        Intake {
            key,
            today: OffsetDateTime::now_utc().to_offset(CST).date(),
            limits: Limits::default(),
            allow_revert: false,
        }
    }

    /// The same, importing even what undoes corrections (voided records, earlier contents of
    /// corrected records): `sme-agent import --allow-revert`.
    pub fn allowing_revert(self, allow_revert: bool) -> Self {
        Intake {
            allow_revert,
            ..self
        }
    }

    /// The same with other size limits (`[inbox] max_file_bytes`, `max_unpacked_bytes`).
    pub fn with_limits(self, limits: Limits) -> Self {
        Intake { limits, ..self }
    }

    /// The same with a fixed "today" (service dates after it are refused).
    pub fn with_today(self, today: Date) -> Self {
        Intake { today, ..self }
    }

    /// Checks a file's bytes; `path` names it in messages and chooses the reader by extension.
    pub fn parse(&self, path: &Path, bytes: &[u8]) -> Result<Parsed, IntakeError> {
        let rejected = |problems| IntakeError::Rejected {
            file: path.to_path_buf(),
            problems,
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let sheet = match ext.as_str() {
            "csv" | "tsv" | "txt" => csv::read(bytes),
            "xlsx" | "xlsm" | "xls" => {
                file::check_unpacked_size(bytes, self.limits.max_unpacked_bytes)
                    .map_err(|p| vec![*p])
                    .and_then(|()| xlsx::read(bytes))
            }
            "json" => json::read(bytes),
            _ => Err(vec![Problem::file(
                format!(
                    "unsupported file type {ext:?}; expected .csv, .xlsx or .json \
                     (use the templates from `sme-agent template`)"
                ),
                format!("不支持的文件类型“{ext}”，应为 .csv、.xlsx 或 .json（可使用导入模板）"),
            )]),
        }
        .map_err(rejected)?;
        match sheet {
            Sheet::Records(table) => {
                records::check(&table, self.key, self.today).map(Parsed::Records)
            }
            Sheet::Profile(entries) => {
                profile::check(&entries).map(|p| Parsed::Profile(Box::new(p)))
            }
        }
        .map_err(rejected)
    }

    /// Reads, checks and imports one file in one store transaction.
    ///
    /// A refused file is journalled as rejected (best effort) and returned as
    /// [`IntakeError::Rejected`]; the same content already imported is a no-op.
    pub fn import_file(&self, path: &Path, store: &mut Store) -> Result<FileImport, ImportError> {
        let bytes = match file::read_checked(path, &self.limits) {
            Ok(bytes) => bytes,
            Err(file::ReadRefusal::Io(source)) => {
                return Err(IntakeError::Read {
                    path: path.to_path_buf(),
                    source,
                }
                .into())
            }
            // Never read, so not journalled: there is no content to name it by.
            Err(file::ReadRefusal::Refused(problem)) => {
                return Err(IntakeError::Rejected {
                    file: path.to_path_buf(),
                    problems: vec![*problem],
                }
                .into())
            }
        };
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let source = ImportSource::new(name, &bytes);
        let parsed = match self.parse(path, &bytes) {
            Ok(p) => p,
            Err(e) => {
                // The journal keeps where and what, never the values: a mistyped credit code
                // is still close to a real one and must not sit in the database.
                let problems: Vec<Problem> = e
                    .problems()
                    .iter()
                    .map(|p| Problem {
                        value: None,
                        ..p.clone()
                    })
                    .collect();
                let detail = truncate(&rejected_text(path, &problems), 4000);
                let kind = ImportKind::ServiceRecords;
                if let Err(journal) = store.record_rejected_import(&source, kind, 0, &detail) {
                    tracing::warn!(error = %journal, "could not journal a rejected import");
                }
                return Err(e.into());
            }
        };
        let (kind, summary) = match parsed {
            Parsed::Records(rows) => (
                ImportKind::ServiceRecords,
                match store.insert_records_with(&rows, &source, self.allow_revert) {
                    Ok(summary) => summary,
                    Err(StoreError::WouldRevert(reverts)) => {
                        return Err(IntakeError::Rejected {
                            file: path.to_path_buf(),
                            problems: revert_problems(&reverts),
                        }
                        .into())
                    }
                    Err(e) => return Err(e.into()),
                },
            ),
            Parsed::Profile(p) => match *p {
                ProfileFile {
                    period: Some(period),
                    profile,
                    explanations,
                } => (
                    ImportKind::Profile,
                    store.import_profile(&period, &profile, &explanations, &source)?,
                ),
                // Nothing filled in (a blank template): nothing to import.
                ProfileFile { period: None, .. } => (ImportKind::Profile, ImportSummary::default()),
            },
        };
        Ok(FileImport {
            kind,
            source,
            summary,
        })
    }
}

/// Reads, checks and imports one file (`sme-agent import FILE`); see [`Intake::import_file`].
pub fn import_file(path: &Path, store: &mut Store, key: &[u8]) -> Result<FileImport, ImportError> {
    Intake::new(key).import_file(path, store)
}

/// [`import_file`] with the configured size limits, and allowing reverts when asked.
pub fn import_file_with(
    path: &Path,
    store: &mut Store,
    key: &[u8],
    limits: Limits,
    allow_revert: bool,
) -> Result<FileImport, ImportError> {
    Intake::new(key)
        .with_limits(limits)
        .allowing_revert(allow_revert)
        .import_file(path, store)
}

/// The problems shown for an import refused because it would undo corrections.
fn revert_problems(reverts: &[crate::store::Revert]) -> Vec<Problem> {
    let mut problems: Vec<Problem> = reverts
        .iter()
        .map(|r| Problem::file(r.en.clone(), r.zh.clone()))
        .collect();
    problems.push(Problem::file(
        format!(
            "nothing was imported: this file would undo {} correction(s) made after it (an old \
             file dropped again?). If that is what you want, import it with `sme-agent import \
             --allow-revert FILE`",
            reverts.len()
        ),
        format!(
            "未导入：该文件会撤销此后的 {} 处更正（是否误放了旧文件？）。如确需恢复，请使用 `sme-agent import --allow-revert 文件`",
            reverts.len()
        ),
    ));
    problems
}

// === impl IntakeError ===

impl IntakeError {
    /// The problems of a rejected file (empty for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            IntakeError::Rejected { problems, .. } => problems,
            IntakeError::Read { .. } => &[],
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

pub(crate) use sme_proto::tabular::{rejected_text, Cell, RawRow};

/// A service-record table: the header row and the data rows under it.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub header_location: Location,
    pub header: Vec<String>,
    pub rows: Vec<RawRow>,
}

/// A profile: located (item, value) pairs.
pub(crate) type Entries = Vec<(Location, String, Cell)>;

/// What a reader found.
#[derive(Debug, Clone)]
pub(crate) enum Sheet {
    Records(Table),
    Profile(Entries),
}

/// Splits raw rows into a records table or profile entries, by the header row.
pub(crate) fn classify(rows: Vec<RawRow>) -> Result<Sheet, Vec<Problem>> {
    let Some(first_non_blank) = rows
        .iter()
        .position(|r| r.1.iter().any(|c| !values::is_blank(c)))
    else {
        return Err(vec![Problem::file(
            "the file has no header row and no data; use the template",
            "文件为空（没有表头和数据），请使用导入模板",
        )]);
    };
    // The header is the first row (of the first ten) naming known columns, so title rows above
    // it are skipped; failing that, the first non-blank row, whose problems will then be listed.
    let header_index = rows
        .iter()
        .take(10)
        .position(|(_, cells)| {
            columns::is_profile_header(cells) || columns::known_record_columns(cells) >= 2
        })
        .unwrap_or(first_non_blank);
    let mut rows = rows;
    let data = rows.split_off(header_index + 1);
    let (header_location, header_cells) = rows.pop().expect("header row exists");
    if columns::is_profile_header(&header_cells) {
        let entries = data
            .into_iter()
            .filter(|r| r.1.iter().any(|c| !values::is_blank(c)))
            .map(|(loc, mut cells)| {
                cells.resize(2, Cell::Empty);
                let mut it = cells.into_iter();
                let key = values::text(&it.next().unwrap_or(Cell::Empty)).unwrap_or_default();
                (loc, key, it.next().unwrap_or(Cell::Empty))
            })
            .collect();
        return Ok(Sheet::Profile(entries));
    }
    let header = header_cells
        .iter()
        .map(|c| values::text(c).unwrap_or_default())
        .collect();
    Ok(Sheet::Records(Table {
        header_location,
        header,
        rows: data,
    }))
}
