//! The four formats. Each writer takes the rows as they arrive and keeps its output in a
//! buffer that the export drains into the file or the HTTP body ([`TableWriter::take`]), so
//! memory stays bounded; XLSX writes its sheets to temporary files (constant-memory mode) and
//! the workbook is assembled at the end.

mod csv;
mod ndjson;
mod sdmx_csv;
mod xlsx;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::table::{Row, Schema};
use super::{ExportError, ExportRequest, Format};

/// What the cover sheet (XLSX) says about the export.
#[derive(Debug, Clone)]
pub struct Cover {
    /// The statistics' titles.
    pub what: String,
    /// Region code and name.
    pub region: String,
    /// Periods and their kind.
    pub periods: String,
    /// Row level and breakdown.
    pub breakdown: String,
    /// Filters beside the region.
    pub filters: String,
    /// When the data were read (start of the export, UTC+8).
    pub data_as_of: String,
    /// When the file was finished (UTC+8).
    pub generated_at: String,
    /// Who asked, and through what.
    pub generated_by: String,
    /// Rows per statistic.
    pub rows: Vec<(String, u64)>,
}

/// A format's writer.
pub trait TableWriter: Send {
    /// A table starts.
    fn begin(&mut self, schema: &Schema) -> Result<(), ExportError>;
    /// One row of the current table; false when the format leaves it out (SDMX: rows
    /// without a coded area or a period).
    fn row(&mut self, schema: &Schema, row: &Row) -> Result<bool, ExportError>;
    /// Bytes ready for the output (empty for XLSX until the end).
    fn take(&mut self) -> Vec<u8>;
    /// Buffered bytes not yet taken.
    fn pending(&self) -> usize;
    /// Ends the export: XLSX writes the workbook (with the cover) to a file under `dir` and
    /// returns it; the text formats return `None` (everything was taken).
    fn finish(&mut self, _cover: &Cover, _dir: &Path) -> Result<Option<PathBuf>, ExportError> {
        Ok(None)
    }
}

/// The bytes a CSV writer holds, taken out (`into_inner` flushes; a `Vec` cannot fail).
pub(crate) fn take_csv(out: &mut ::csv::Writer<Vec<u8>>) -> Vec<u8> {
    let full = std::mem::replace(out, ::csv::Writer::from_writer(Vec::new()));
    full.into_inner().unwrap_or_default()
}

/// The writer of the request's format; `areas` are the division codes SDMX may use.
pub fn writer(
    request: &ExportRequest,
    areas: HashSet<String>,
    work_dir: &Path,
) -> Result<Box<dyn TableWriter>, ExportError> {
    let f = &request.filter;
    Ok(match request.format {
        Format::Csv => Box::new(csv::CsvWriter::new(request.lang)),
        Format::Ndjson => Box::new(ndjson::NdjsonWriter::default()),
        Format::SdmxCsv => Box::new(sdmx_csv::SdmxCsvWriter::new(
            areas,
            f.function(),
            f.industry(),
            f.enterprise_size().map(|s| s.as_str()),
        )),
        Format::Xlsx => Box::new(xlsx::XlsxWriter::new(request.lang, work_dir)?),
    })
}

/// A share or decimal as text: the shortest text that reads back as the same number.
pub(crate) fn number_text(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}
