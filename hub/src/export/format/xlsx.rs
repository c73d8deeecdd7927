//! XLSX (rust_xlsxwriter): a cover sheet (what, which region, which periods, data as of,
//! generated when and by whom, the definitions of every figure), then one sheet per statistic
//! with its headers, the header row frozen, percent and yuan formats, subtotals and totals in
//! bold. Sheets are written in constant-memory mode (rows go to temporary files under the
//! export's work directory), and a sheet that would pass Excel's 1 048 576 rows continues on
//! the next sheet with the header repeated.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format as CellFormat, Workbook};

use super::super::table::{Kind, Row, Schema, Value};
use super::super::{ExportError, Lang};
use super::csv::{headers, key_cells};
use super::{Cover, TableWriter};

/// Rows of one sheet, header included (Excel's limit).
pub(crate) const MAX_SHEET_ROWS: u32 = 1_048_576;

pub(super) struct XlsxWriter {
    lang: Lang,
    book: Workbook,
    /// The current data sheet's index, next row and part number.
    sheet: Option<usize>,
    row: u32,
    part: u32,
    /// Rows per sheet, header included ([`MAX_SHEET_ROWS`]; smaller in tests).
    sheet_rows: u32,
    schema: Option<Schema>,
    definitions: Vec<(&'static str, &'static str, &'static str)>,
    bold: CellFormat,
    percent: CellFormat,
    percent_bold: CellFormat,
    yuan: CellFormat,
    yuan_bold: CellFormat,
    decimal: CellFormat,
    decimal_bold: CellFormat,
}

fn err(e: rust_xlsxwriter::XlsxError) -> ExportError {
    ExportError::Format(format!("XLSX: {e}"))
}

impl XlsxWriter {
    pub(super) fn new(lang: Lang, work_dir: &Path) -> Result<Self, ExportError> {
        let mut book = Workbook::new();
        book.set_tempdir(work_dir).map_err(err)?;
        // The cover is sheet 0, filled in at the end (a standard sheet keeps its cells).
        let cover = book.add_worksheet();
        cover
            .set_name(match lang {
                Lang::Zh => "说明",
                Lang::En => "about",
            })
            .map_err(err)?;
        let bold = CellFormat::new().set_bold();
        Ok(XlsxWriter {
            lang,
            book,
            sheet: None,
            row: 0,
            part: 0,
            sheet_rows: MAX_SHEET_ROWS,
            schema: None,
            definitions: Vec::new(),
            percent: CellFormat::new().set_num_format("0.00%"),
            percent_bold: CellFormat::new().set_num_format("0.00%").set_bold(),
            yuan: CellFormat::new().set_num_format("#,##0.00"),
            yuan_bold: CellFormat::new().set_num_format("#,##0.00").set_bold(),
            decimal: CellFormat::new().set_num_format("0.0000"),
            decimal_bold: CellFormat::new().set_num_format("0.0000").set_bold(),
            bold,
        })
    }

    fn title(&self, schema: &Schema) -> &'static str {
        match self.lang {
            Lang::Zh => schema.statistic.zh(),
            Lang::En => schema.statistic.id(),
        }
    }

    fn new_sheet(&mut self, schema: &Schema) -> Result<(), ExportError> {
        self.part += 1;
        let name = if self.part == 1 {
            self.title(schema).to_owned()
        } else {
            format!("{} ({})", self.title(schema), self.part)
        };
        let index = self.book.worksheets().len();
        let headers = headers(schema, self.lang);
        let bold = self.bold.clone();
        let sheet = self.book.add_worksheet_with_constant_memory();
        sheet.set_name(name).map_err(err)?;
        for (c, h) in headers.iter().enumerate() {
            sheet
                .write_string_with_format(0, c as u16, h, &bold)
                .map_err(err)?;
            sheet
                .set_column_width(c as u16, if c < 6 { 14 } else { 12 })
                .map_err(err)?;
        }
        sheet.set_freeze_panes(1, 0).map_err(err)?;
        self.sheet = Some(index);
        self.row = 1;
        Ok(())
    }
}

impl TableWriter for XlsxWriter {
    fn begin(&mut self, schema: &Schema) -> Result<(), ExportError> {
        self.part = 0;
        self.schema = Some(schema.clone());
        for (zh, en) in &schema.definitions {
            let title = self.title(schema);
            self.definitions.push((title, zh, en));
        }
        self.new_sheet(schema)
    }

    fn row(&mut self, schema: &Schema, row: &Row) -> Result<bool, ExportError> {
        if self.row >= self.sheet_rows {
            self.new_sheet(schema)?;
        }
        let sum = row.kind.is_sum();
        let keys = key_cells(schema, row, self.lang);
        let (bold, percent, yuan, decimal) = if sum {
            (
                Some(&self.bold),
                &self.percent_bold,
                &self.yuan_bold,
                &self.decimal_bold,
            )
        } else {
            (None, &self.percent, &self.yuan, &self.decimal)
        };
        let r = self.row;
        let index = self.sheet.expect("begin opened a sheet");
        let sheet = self.book.worksheet_from_index(index).map_err(err)?;
        for (c, text) in keys.iter().enumerate() {
            if text.is_empty() {
                continue;
            }
            match bold {
                Some(b) => sheet.write_string_with_format(r, c as u16, text, b),
                None => sheet.write_string(r, c as u16, text),
            }
            .map_err(err)?;
        }
        let offset = keys.len();
        for (i, (value, column)) in row.values.iter().zip(&schema.columns).enumerate() {
            let c = (offset + i) as u16;
            match (value, column.kind) {
                (Value::Null, _) => continue,
                (Value::Count(n), _) => match bold {
                    Some(b) => sheet.write_number_with_format(r, c, *n as f64, b),
                    None => sheet.write_number(r, c, *n as f64),
                },
                (Value::Fen(f), _) => sheet.write_number_with_format(r, c, *f as f64 / 100.0, yuan),
                (Value::Number(x), Kind::Ratio) => {
                    sheet.write_number_with_format(r, c, *x, percent)
                }
                (Value::Number(x), _) => sheet.write_number_with_format(r, c, *x, decimal),
                (Value::Text(t), _) => match bold {
                    Some(b) => sheet.write_string_with_format(r, c, t, b),
                    None => sheet.write_string(r, c, t),
                },
            }
            .map_err(err)?;
        }
        self.row += 1;
        Ok(true)
    }

    fn take(&mut self) -> Vec<u8> {
        Vec::new()
    }

    fn pending(&self) -> usize {
        0
    }

    fn finish(&mut self, cover: &Cover, dir: &Path) -> Result<Option<PathBuf>, ExportError> {
        let zh = self.lang == Lang::Zh;
        let label = |z: &'static str, e: &'static str| if zh { z } else { e };
        let bold = self.bold.clone();
        let sheet = self.book.worksheet_from_index(0).map_err(err)?;
        sheet.set_column_width(0, 22).map_err(err)?;
        sheet.set_column_width(1, 100).map_err(err)?;
        let mut lines: Vec<(String, String)> = vec![
            (
                label("中小企业公共服务平台数据直报", "SME Platform Reporting").into(),
                String::new(),
            ),
            (label("内容", "What").into(), cover.what.clone()),
            (label("地区", "Region").into(), cover.region.clone()),
            (label("期别", "Periods").into(), cover.periods.clone()),
            (
                label("行与分类", "Rows and breakdown").into(),
                cover.breakdown.clone(),
            ),
            (label("筛选", "Filters").into(), cover.filters.clone()),
            (
                label("数据截至", "Data as of").into(),
                cover.data_as_of.clone(),
            ),
            (
                label("生成时间", "Generated at").into(),
                cover.generated_at.clone(),
            ),
            (
                label("生成人", "Generated by").into(),
                cover.generated_by.clone(),
            ),
        ];
        for (stat, n) in &cover.rows {
            lines.push((label("行数", "Rows").into(), format!("{stat}: {n}")));
        }
        lines.push((String::new(), String::new()));
        lines.push((label("指标定义", "Definitions").into(), String::new()));
        for (title, z, e) in &self.definitions {
            lines.push(((*title).into(), (if zh { *z } else { *e }).into()));
        }
        for (r, (k, v)) in lines.iter().enumerate() {
            let r = r as u32;
            if !k.is_empty() {
                sheet
                    .write_string_with_format(r, 0, k, &bold)
                    .map_err(err)?;
            }
            if !v.is_empty() {
                sheet.write_string(r, 1, v).map_err(err)?;
            }
        }
        let path = dir.join("export.xlsx");
        self.book.save(&path).map_err(err)?;
        Ok(Some(path))
    }
}

#[cfg(test)]
mod tests {
    use calamine::Reader;

    use super::*;
    use crate::export::statistics;
    use crate::export::table::RowKind;
    use crate::export::{Level, Statistic};

    fn cover() -> Cover {
        Cover {
            what: "服务量".into(),
            region: "000000 全国".into(),
            periods: "2026-M01".into(),
            breakdown: "platform".into(),
            filters: "—".into(),
            data_as_of: "now".into(),
            generated_at: "now".into(),
            generated_by: "test".into(),
            rows: vec![("volume".into(), 25)],
        }
    }

    #[test]
    fn a_sheet_past_the_row_limit_continues_on_the_next_with_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = XlsxWriter::new(Lang::Zh, dir.path()).unwrap();
        w.sheet_rows = 10;
        let schema = Schema {
            statistic: Statistic::Volume,
            periodic: true,
            breakdown: None,
            columns: statistics::volume_columns().to_vec(),
            definitions: vec![("定义", "definition")],
        };
        w.begin(&schema).unwrap();
        for i in 0..25u64 {
            let row = Row {
                kind: RowKind::Detail(Level::Province),
                period: Some("2026-M01".parse().unwrap()),
                region_code: format!("{:02}0000", 11 + i),
                region_name: "某省".into(),
                platform_id: None,
                platform_name: None,
                breakdown: None,
                values: vec![
                    Value::Count(i),
                    Value::Count(0),
                    Value::Count(i),
                    Value::Number(0.0),
                    Value::Fen(12_345),
                    Value::Count(1),
                    Value::Count(1),
                    Value::Count(1),
                ],
                reported: true,
            };
            w.row(&schema, &row).unwrap();
        }
        let path = w.finish(&cover(), dir.path()).unwrap().unwrap();
        let mut book: calamine::Xlsx<_> = calamine::open_workbook(&path).unwrap();
        assert_eq!(
            book.sheet_names(),
            ["说明", "服务量", "服务量 (2)", "服务量 (3)"]
        );
        let mut services = Vec::new();
        for name in ["服务量", "服务量 (2)", "服务量 (3)"] {
            let range = book.worksheet_range(name).unwrap();
            let mut rows = range.rows();
            assert_eq!(rows.next().unwrap()[0].to_string(), "行类型", "{name}");
            for r in rows {
                services.push(r[6].to_string());
                assert_eq!(r[10].to_string(), "123.45");
            }
        }
        let want: Vec<String> = (0..25).map(|i: u64| i.to_string()).collect();
        assert_eq!(services, want, "every row once, in order");
    }
}
