//! CSV: UTF-8 with a byte-order mark (Excel in China opens it as UTF-8), one header row, the
//! region code beside its name, no thousands separators, money in yuan with two decimals from
//! integer fen, shares as fractions.

use super::super::table::{breakdown_name, Kind, Row, Schema, Value, KEY_COLUMNS};
use super::super::{ExportError, Lang};
use super::{number_text, TableWriter};

pub(super) struct CsvWriter {
    lang: Lang,
    out: csv::Writer<Vec<u8>>,
    started: bool,
}

impl CsvWriter {
    pub(super) fn new(lang: Lang) -> Self {
        CsvWriter {
            lang,
            out: csv::Writer::from_writer(Vec::with_capacity(1 << 16)),
            started: false,
        }
    }
}

/// The header row of a table (shared with the XLSX writer).
pub(crate) fn headers(schema: &Schema, lang: Lang) -> Vec<String> {
    let pick = |zh: &str, en: &str| match lang {
        Lang::Zh => zh.to_owned(),
        Lang::En => en.to_owned(),
    };
    let mut h: Vec<String> = Vec::new();
    for (i, (_, zh, en)) in KEY_COLUMNS.iter().enumerate() {
        if i == 6 {
            if let Some(b) = &schema.breakdown {
                h.push(pick(&format!("{}代码", b.zh), &format!("{} code", b.en)));
                h.push(pick(b.zh, b.en));
            }
            continue;
        }
        h.push(pick(zh, en));
    }
    h.extend(schema.columns.iter().map(|c| pick(c.zh, c.en)));
    h
}

/// The key cells of a row (shared with the XLSX writer).
pub(crate) fn key_cells(schema: &Schema, row: &Row, lang: Lang) -> Vec<String> {
    let mut cells = vec![
        row.kind.label(lang).to_owned(),
        row.period.map(|p| p.to_string()).unwrap_or_default(),
        row.region_code.clone(),
        row.region_name.clone(),
        row.platform_id.clone().unwrap_or_default(),
        row.platform_name.clone().unwrap_or_default(),
    ];
    if let Some(b) = &schema.breakdown {
        let code = row.breakdown.clone().unwrap_or_default();
        let name = if row.breakdown.is_some() {
            breakdown_name(b, &code, lang)
        } else {
            String::new()
        };
        cells.push(code);
        cells.push(name);
    }
    cells
}

impl TableWriter for CsvWriter {
    fn begin(&mut self, schema: &Schema) -> Result<(), ExportError> {
        if self.started {
            return Err(ExportError::Format("a CSV file holds one table".into()));
        }
        self.started = true;
        let mut header = headers(schema, self.lang);
        // The byte-order mark, so Excel reads the file as UTF-8.
        header[0].insert(0, '\u{feff}');
        self.out
            .write_record(header)
            .map_err(|e| ExportError::Format(e.to_string()))
    }

    fn row(&mut self, schema: &Schema, row: &Row) -> Result<bool, ExportError> {
        let mut cells = key_cells(schema, row, self.lang);
        for (value, column) in row.values.iter().zip(&schema.columns) {
            cells.push(match (value, column.kind) {
                (Value::Null, _) => String::new(),
                (Value::Count(n), _) => n.to_string(),
                (Value::Fen(f), _) => Value::yuan_text(*f),
                (Value::Number(x), Kind::Count) => number_text(*x),
                (Value::Number(x), _) => number_text(*x),
                (Value::Text(t), _) => t.clone(),
            });
        }
        self.out
            .write_record(&cells)
            .map_err(|e| ExportError::Format(e.to_string()))?;
        Ok(true)
    }

    fn take(&mut self) -> Vec<u8> {
        super::take_csv(&mut self.out)
    }

    fn pending(&self) -> usize {
        self.out.get_ref().len()
    }
}
