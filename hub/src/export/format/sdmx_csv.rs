//! SDMX-CSV 2.0: `STRUCTURE,STRUCTURE_ID,ACTION`, the dimensions of [`sdmx::DIMENSIONS`], the
//! statistic's measures and `OBS_STATUS`. One observation per row of the export that has a
//! coded area and a period: county subtotals (county codes are not in `CL_AREA`) and the
//! all-periods total (no `TIME_PERIOD`) are left out; a platform's `REF_AREA` is its
//! prefecture and `PLATFORM` its credit code (`_Z` on aggregates).

use std::collections::HashSet;

use super::super::sdmx;
use super::super::table::{Row, RowKind, Schema, Value};
use super::super::{ExportError, Level};
use super::{number_text, TableWriter};

pub(super) struct SdmxCsvWriter {
    out: csv::Writer<Vec<u8>>,
    areas: HashSet<String>,
    function: String,
    industry: String,
    size: String,
    structure_id: String,
}

impl SdmxCsvWriter {
    pub(super) fn new(
        areas: HashSet<String>,
        function: Option<u8>,
        industry: Option<&str>,
        size: Option<&str>,
    ) -> Self {
        SdmxCsvWriter {
            out: csv::Writer::from_writer(Vec::with_capacity(1 << 16)),
            areas,
            function: function.map_or("_T".into(), |f| f.to_string()),
            industry: industry.map_or("_T".into(), str::to_owned),
            size: size.map_or("_T".into(), sdmx::size_code),
            structure_id: String::new(),
        }
    }
}

impl TableWriter for SdmxCsvWriter {
    fn begin(&mut self, schema: &Schema) -> Result<(), ExportError> {
        let dsd = sdmx::dsd_id(schema.statistic).ok_or_else(|| {
            ExportError::Format(format!("{} has no SDMX structure", schema.statistic.id()))
        })?;
        self.structure_id = sdmx::structure_ref(dsd);
        let mut header: Vec<String> = ["STRUCTURE", "STRUCTURE_ID", "ACTION"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        header.extend(sdmx::DIMENSIONS.iter().map(|s| s.to_string()));
        header.extend(schema.columns.iter().map(|c| c.id.to_ascii_uppercase()));
        header.push("OBS_STATUS".into());
        self.out
            .write_record(&header)
            .map_err(|e| ExportError::Format(e.to_string()))
    }

    fn row(&mut self, schema: &Schema, row: &Row) -> Result<bool, ExportError> {
        let Some(period) = row.period else {
            return Ok(false);
        };
        if matches!(
            row.kind,
            RowKind::Detail(Level::County) | RowKind::Subtotal(Level::County)
        ) {
            return Ok(false);
        }
        let area = match row.platform_id {
            Some(_) => Level::Prefecture.ancestor(&row.region_code),
            None => row.region_code.clone(),
        };
        if area != crate::registry::region::NATIONAL && !self.areas.contains(&area) {
            return Err(ExportError::Format(format!(
                "REF_AREA {area} (of {} {}) is not in the hub's division table, so it is not \
                 in CL_AREA; import the prefectures (scripts/prefectures.sh, then `sme-hub \
                 registry import`) or export at province level",
                row.kind.id(),
                row.platform_id.as_deref().unwrap_or(&row.region_code)
            )));
        }
        let mut function = self.function.clone();
        let mut industry = self.industry.clone();
        let mut size = self.size.clone();
        if let (Some(b), Some(code)) = (&schema.breakdown, &row.breakdown) {
            match b.id {
                "service_function" => function = code.clone(),
                "industry" => {
                    industry = if code.is_empty() {
                        "_N".into()
                    } else {
                        code.clone()
                    }
                }
                _ => size = sdmx::size_code(code),
            }
        }
        let mut cells = vec![
            "datastructure".to_owned(),
            self.structure_id.clone(),
            "I".to_owned(),
            sdmx::freq(&period).to_owned(),
            area,
            row.platform_id.clone().unwrap_or_else(|| "_Z".into()),
            function,
            industry,
            size,
            sdmx::time_period(&period),
        ];
        for value in &row.values {
            cells.push(match value {
                Value::Null => String::new(),
                Value::Count(n) => n.to_string(),
                Value::Fen(f) => Value::yuan_text(*f),
                Value::Number(x) => number_text(*x),
                Value::Text(t) => t.clone(),
            });
        }
        cells.push(if row.reported { "A" } else { "M" }.to_owned());
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
