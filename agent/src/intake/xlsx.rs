//! Excel workbooks (.xlsx, .xlsm, .xls) via calamine.

use std::io::Cursor;

use calamine::{open_workbook_auto_from_rs, Reader};
use sme_proto::tabular::xlsx_cell;

use super::values::fold;
use super::{classify, Cell, Location, Problem, Sheet};

/// Sheet names that hold service records, and those that hold a profile (folded).
const RECORD_SHEETS: &[&str] = &["服务记录", "records", "servicerecords"];
const PROFILE_SHEETS: &[&str] = &["机构概况", "profile"];

pub(crate) fn read(bytes: &[u8]) -> Result<Sheet, Vec<Problem>> {
    let unreadable = |e: &dyn std::fmt::Display| {
        vec![Problem::file(
            format!("not a readable Excel workbook ({e}); save it from Excel as .xlsx"),
            format!("无法读取该Excel文件（{e}），请在Excel中另存为 .xlsx 格式"),
        )]
    };
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let names = book.sheet_names();
    let pick = |list: &[&str]| {
        names
            .iter()
            .find(|n| list.contains(&fold(n).as_str()))
            .cloned()
    };
    let Some(name) = pick(RECORD_SHEETS)
        .or_else(|| pick(PROFILE_SHEETS))
        .or_else(|| names.first().cloned())
    else {
        return Err(unreadable(&"no worksheet"));
    };
    let range = book.worksheet_range(&name).map_err(|e| unreadable(&e))?;
    let (top, left) = range.start().unwrap_or((0, 0));
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, row)| {
            let location = Location::Row {
                sheet: name.clone(),
                row: top + i as u32 + 1,
            };
            // Cells left of the used range are empty; keep column positions as Excel shows them.
            let cells = std::iter::repeat_n(Cell::Empty, left as usize)
                .chain(row.iter().map(xlsx_cell))
                .collect();
            (location, cells)
        })
        .collect();
    classify(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    use time::{Date, Month};

    #[test]
    fn reads_named_sheet_with_dates_and_numbers() {
        let mut wb = Workbook::new();
        let other = wb.add_worksheet();
        other.set_name("说明").unwrap();
        other.write(0, 0, "ignore me").unwrap();
        let ws = wb.add_worksheet();
        ws.set_name("服务记录").unwrap();
        ws.write(0, 0, "记录编号").unwrap();
        ws.write(0, 1, "服务日期").unwrap();
        ws.write(0, 2, "收费金额（元）").unwrap();
        ws.write(1, 0, "R1").unwrap();
        let fmt = Format::new().set_num_format("yyyy-mm-dd");
        ws.write_datetime_with_format(1, 1, ExcelDateTime::from_ymd(2026, 5, 3).unwrap(), &fmt)
            .unwrap();
        ws.write(1, 2, 1200.5).unwrap();
        let bytes = wb.save_to_buffer().unwrap();

        let Sheet::Records(t) = read(&bytes).unwrap() else {
            panic!()
        };
        assert_eq!(t.header[0], "记录编号");
        let (loc, cells) = &t.rows[0];
        assert_eq!(
            *loc,
            Location::Row {
                sheet: "服务记录".into(),
                row: 2
            }
        );
        assert_eq!(
            cells[1],
            Cell::Date(Date::from_calendar_date(2026, Month::May, 3).unwrap())
        );
        assert_eq!(cells[2], Cell::Float(1200.5));
    }

    #[test]
    fn garbage_is_a_file_problem() {
        let p = read(b"not a workbook").unwrap_err();
        assert!(p[0].en.contains("Excel"), "{p:?}");
    }
}
