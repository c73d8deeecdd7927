//! Reading a registry file into located rows of cells: CSV (UTF-8, UTF-16 with BOM, or
//! GB18030/GBK; comma, tab or semicolon) or an Excel workbook. The same conventions as the
//! agent's intake: cells, decoding, separators and header folding are `sme_proto::tabular`.

use std::fmt;
use std::io::Cursor;

use calamine::{open_workbook_auto_from_rs, Reader};
use sme_proto::tabular::{read_csv, xlsx_cell};

pub use sme_proto::tabular::{fold, Cell, Location, Problem, RawRow};

/// Reads `bytes`, choosing the reader by the extension of `file_name`.
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Vec<RawRow>, Vec<Problem>> {
    let ext = std::path::Path::new(file_name)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "tsv" | "txt" => read_csv(bytes),
        "xlsx" | "xlsm" | "xls" => read_xlsx(bytes),
        _ => Err(vec![Problem::file(
            format!("unsupported file type {ext:?}; save the registry as .csv or .xlsx"),
            format!("不支持的文件类型“{ext}”，请保存为 .csv 或 .xlsx"),
        )]),
    }
}

// === XLSX ===

/// Sheet names preferred, folded: the registry kinds' names.
const SHEETS: &[&str] = &[
    "平台名录",
    "platforms",
    "行政区划",
    "divisions",
    "中小企业数",
    "smecounts",
];

fn read_xlsx(bytes: &[u8]) -> Result<Vec<RawRow>, Vec<Problem>> {
    let unreadable = |e: &dyn fmt::Display| {
        vec![Problem::file(
            format!("not a readable Excel workbook ({e}); save it from Excel as .xlsx"),
            format!("无法读取该Excel文件（{e}），请在Excel中另存为 .xlsx 格式"),
        )]
    };
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let names = book.sheet_names();
    let name = names
        .iter()
        .find(|n| SHEETS.contains(&fold(n).as_str()))
        .or_else(|| names.first())
        .cloned()
        .ok_or_else(|| unreadable(&"no worksheet"))?;
    let range = book.worksheet_range(&name).map_err(|e| unreadable(&e))?;
    let (top, left) = range.start().unwrap_or((0, 0));
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, row)| {
            let location = Location::Row {
                sheet: name.clone(),
                row: top + i as u32 + 1,
            };
            let cells = std::iter::repeat_n(Cell::Empty, left as usize)
                .chain(row.iter().map(xlsx_cell))
                .collect();
            (location, cells)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sme_proto::tabular::sniff_delimiter;
    use time::{Date, Month};

    #[test]
    fn encodings_and_delimiters() {
        let s = "统一社会信用代码;平台名称\nX;北京\n";
        let (gbk, _, _) = encoding_rs::GBK.encode(s);
        let rows = read("p.csv", &gbk).unwrap();
        assert_eq!(rows[1].1[1], Cell::Text("北京".into()));
        let bom = [b"\xEF\xBB\xBF".as_slice(), s.as_bytes()].concat();
        assert_eq!(read("p.csv", &bom).unwrap().len(), 2);
        assert_eq!(sniff_delimiter("a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter("a,\"b;c;d\""), b',');
        assert!(read("p.csv", b"\x81\x20").is_err());
    }

    #[test]
    fn csv_line_numbers_skip_blank_lines_and_follow_quotes() {
        let text = "title\n\ncode,name\n\"a\nb\",x\nc,y\n";
        let rows = read("d.csv", text.as_bytes()).unwrap();
        let lines: Vec<_> = rows.iter().map(|r| r.0.clone()).collect();
        assert_eq!(
            lines,
            [
                Location::Line(1),
                Location::Line(3),
                Location::Line(4),
                Location::Line(6)
            ]
        );
    }

    #[test]
    fn xlsx_rows_keep_their_numbers_and_types() {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut wb = Workbook::new();
        wb.add_worksheet().set_name("说明").unwrap();
        let ws = wb.add_worksheet();
        ws.set_name("平台名录").unwrap();
        ws.write(0, 1, "登记日期").unwrap();
        let fmt = Format::new().set_num_format("yyyy-mm-dd");
        ws.write_datetime_with_format(1, 1, ExcelDateTime::from_ymd(2020, 2, 29).unwrap(), &fmt)
            .unwrap();
        ws.write(1, 2, 110108).unwrap();
        let rows = read("p.xlsx", &wb.save_to_buffer().unwrap()).unwrap();
        assert_eq!(
            rows[1].0,
            Location::Row {
                sheet: "平台名录".into(),
                row: 2
            }
        );
        assert_eq!(
            rows[1].1[1],
            Cell::Date(Date::from_calendar_date(2020, Month::February, 29).unwrap())
        );
        assert_eq!(rows[1].1[2].text().as_deref(), Some("110108"));
    }

    #[test]
    fn other_extensions_are_refused() {
        let p = read("p.json", b"{}").unwrap_err();
        assert!(p[0].en.contains(".csv or .xlsx"), "{p:?}");
    }
}
