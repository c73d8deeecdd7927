//! Blank import templates (导入模板) for the platform's staff (`sme-agent template DIR`).
//!
//! * `service_records_template.csv`: UTF-8 **with BOM** (so Excel on Chinese Windows opens it
//!   without mojibake) and one header row of Chinese headers. The English headers
//!   (`record_id`, `date`, …) are accepted in their place; both lists are in
//!   [`crate::intake::columns::RECORD_COLUMNS`] and on the workbook's instructions sheet.
//! * `service_records_template.xlsx`: sheet `服务记录` with the same header row (frozen, bold,
//!   sized), drop-down lists for function, size, industry, free and satisfaction, date and text
//!   formats per column, and a sheet `填写说明` (instructions) that lists every column in Chinese
//!   and English with its format and an example. Intake reads the `服务记录` sheet only.
//! * `profile_template.csv`: one period's profile as `项目,值,说明` rows (item, value, note); the
//!   note column says the English key and unit and is ignored on import.
//!
//! Every template imports cleanly: blank it imports nothing; filled in it imports.

use std::fs;
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{DataValidation, Format, FormatAlign, Workbook, Worksheet, XlsxError};

use crate::intake::columns::{
    Field, ItemKind, PROFILE_ITEMS, PROFILE_KEY_HEADERS, PROFILE_VALUE_HEADERS, RECORD_COLUMNS,
};
use crate::intake::FUNCTION_NAMES;

/// File name of the CSV records template.
pub const RECORDS_CSV: &str = "service_records_template.csv";
/// File name of the Excel records template.
pub const RECORDS_XLSX: &str = "service_records_template.xlsx";
/// File name of the profile template.
pub const PROFILE_CSV: &str = "profile_template.csv";

/// Rows of the records sheet that carry drop-down lists and formats.
const TEMPLATE_ROWS: u32 = 5000;

/// Errors writing templates.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A file could not be written.
    #[error("cannot write template {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The workbook could not be built.
    #[error("cannot build the Excel template: {0}")]
    Xlsx(#[from] XlsxError),
}

/// Writes the three templates into `dir` (created if missing); returns their paths.
pub fn write_templates(dir: &Path) -> Result<Vec<PathBuf>, TemplateError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TemplateError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let files = [
        (dir.join(RECORDS_CSV), records_csv()),
        (dir.join(RECORDS_XLSX), records_xlsx()?),
        (dir.join(PROFILE_CSV), profile_csv()),
    ];
    let mut out = Vec::new();
    for (path, bytes) in files {
        fs::write(&path, bytes).map_err(io(&path))?;
        out.push(path);
    }
    Ok(out)
}

/// The CSV records template: BOM + Chinese header row.
pub fn records_csv() -> Vec<u8> {
    let header: Vec<&str> = RECORD_COLUMNS
        .iter()
        .filter(|c| c.field != Field::FeeFen)
        .map(|c| c.zh)
        .collect();
    format!("\u{feff}{}\r\n", header.join(",")).into_bytes()
}

/// The profile template: BOM, `项目,值,说明`, one row per item.
pub fn profile_csv() -> Vec<u8> {
    let mut s = format!(
        "\u{feff}{},{},说明 note\r\n",
        PROFILE_KEY_HEADERS[0], PROFILE_VALUE_HEADERS[0]
    );
    for it in PROFILE_ITEMS {
        let note = match it.kind {
            ItemKind::Period => "period: 2026-M05 or 2026-Q2 or 2026-A".to_owned(),
            ItemKind::Money => format!("{}_yuan (元; or {}_fen in 分)", it.key, it.key),
            ItemKind::YesNo => format!("{} (是/否)", it.key),
            ItemKind::List => format!("{} (e.g. CMA;CNAS;ISO 9001)", it.key),
            ItemKind::Area => format!("{} (m²)", it.key),
            ItemKind::Count if it.optional => format!("{} (optional)", it.key),
            ItemKind::Count => it.key.to_owned(),
        };
        s.push_str(&format!("{},,{note}\r\n", it.zh));
    }
    s.push_str("上报说明:W201,,explanation:W201 (only when a rule asks for one)\r\n");
    s.into_bytes()
}

/// The Excel records template.
pub fn records_xlsx() -> Result<Vec<u8>, XlsxError> {
    let mut wb = Workbook::new();
    let header = Format::new()
        .set_bold()
        .set_background_color("#DDEBF7")
        .set_align(FormatAlign::Center);
    let text = Format::new().set_num_format("@");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let money = Format::new().set_num_format("0.00");

    let ws = wb.add_worksheet();
    ws.set_name("服务记录")?;
    let columns: Vec<_> = RECORD_COLUMNS
        .iter()
        .filter(|c| c.field != Field::FeeFen)
        .collect();
    for (i, c) in columns.iter().enumerate() {
        let col = i as u16;
        ws.write_string_with_format(0, col, c.zh, &header)?;
        let width = match c.field {
            Field::CreditCode => 24.0,
            Field::RecordId | Field::Function | Field::FeeYuan | Field::Region => 16.0,
            _ => 12.0,
        };
        ws.set_column_width(col, width)?;
        match c.field {
            Field::RecordId | Field::CreditCode | Field::Region | Field::Industry => {
                ws.set_column_format(col, &text)?;
            }
            Field::Date => {
                ws.set_column_format(col, &date)?;
            }
            Field::FeeYuan => {
                ws.set_column_format(col, &money)?;
            }
            _ => {}
        }
        if let Some(list) = drop_down(c.field) {
            add_list(ws, col, &list, c.zh, c.help_zh)?;
        }
    }
    ws.set_freeze_panes(1, 0)?;

    let help = wb.add_worksheet();
    help.set_name("填写说明")?;
    for (i, h) in [
        "中文表头",
        "English header",
        "必填 required",
        "填写要求",
        "format",
        "示例 example",
    ]
    .iter()
    .enumerate()
    {
        help.write_string_with_format(0, i as u16, *h, &header)?;
    }
    for (r, c) in RECORD_COLUMNS.iter().enumerate() {
        let row = r as u32 + 1;
        let required = match (c.required, c.field) {
            (_, Field::FeeYuan | Field::FeeFen) => "二选一 one of the two",
            (true, Field::EnterpriseSize) => "列必有，可空 column required, value may be blank",
            (true, _) => "是 yes",
            (false, _) => "否 no",
        };
        help.write_string(row, 0, c.zh)?;
        help.write_string(row, 1, c.en)?;
        help.write_string(row, 2, required)?;
        help.write_string(row, 3, c.help_zh)?;
        help.write_string(row, 4, c.help_en)?;
        help.write_string(row, 5, c.example)?;
    }
    let note_row = RECORD_COLUMNS.len() as u32 + 2;
    help.write_string(
        note_row,
        0,
        "表头可用中文或英文；每行一条服务记录；任何一行有误则整个文件不导入，并在隔离目录生成 .errors.txt 说明。",
    )?;
    help.write_string(
        note_row + 1,
        0,
        "Headers may be Chinese or English; one service per row; a file with any bad row is not \
         imported and gets a .errors.txt beside it in the quarantine folder.",
    )?;
    for (col, width) in [
        (0, 18.0),
        (1, 24.0),
        (2, 20.0),
        (3, 60.0),
        (4, 60.0),
        (5, 20.0),
    ] {
        help.set_column_width(col, width)?;
    }
    wb.save_to_buffer()
}

fn drop_down(field: Field) -> Option<Vec<String>> {
    let strs = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
    match field {
        Field::Function => Some(FUNCTION_NAMES.iter().map(|f| f.1.to_owned()).collect()),
        Field::EnterpriseSize => strs(&["微型", "小型", "中型"]),
        Field::Industry => Some(('A'..='T').map(String::from).collect()),
        Field::Free => strs(&["是", "否"]),
        Field::Satisfaction => strs(&["非常满意", "满意", "一般", "不满意", "非常不满意"]),
        _ => None,
    }
}

fn add_list(
    ws: &mut Worksheet,
    col: u16,
    list: &[String],
    title: &str,
    message: &str,
) -> Result<(), XlsxError> {
    let dv = DataValidation::new()
        .allow_list_strings(list)?
        .set_input_title(title)?
        .set_input_message(message)?;
    ws.add_data_validation(1, col, TEMPLATE_ROWS, col, &dv)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_template_has_bom_and_chinese_header() {
        let bytes = records_csv();
        assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.contains("记录编号,服务日期,服务功能,企业信用代码"));
        let profile = String::from_utf8(profile_csv()).unwrap();
        assert!(profile.starts_with("\u{feff}项目,值,"));
        assert!(profile.contains("\r\n营业额（元）,,total_revenue_yuan"));
    }

    #[test]
    fn xlsx_template_builds() {
        let bytes = records_xlsx().unwrap();
        assert!(bytes.starts_with(b"PK"));
    }
}
