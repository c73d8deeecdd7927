//! Newline-delimited JSON for programs: one object per row, keys in English (the column ids),
//! money as integer fen (`…_fen`), not-reported figures as `null`.

use serde_json::{Map, Value as Json};

use super::super::table::{Kind, Row, Schema, Value};
use super::super::ExportError;
use super::TableWriter;

#[derive(Default)]
pub(super) struct NdjsonWriter {
    out: Vec<u8>,
    statistic: &'static str,
}

impl TableWriter for NdjsonWriter {
    fn begin(&mut self, schema: &Schema) -> Result<(), ExportError> {
        self.statistic = schema.statistic.id();
        Ok(())
    }

    fn row(&mut self, schema: &Schema, row: &Row) -> Result<bool, ExportError> {
        let mut o = Map::new();
        o.insert("statistic".into(), self.statistic.into());
        o.insert("row_type".into(), row.kind.id().into());
        o.insert(
            "period".into(),
            row.period.map_or(Json::Null, |p| p.to_string().into()),
        );
        o.insert("region_code".into(), row.region_code.clone().into());
        o.insert("region_name".into(), row.region_name.clone().into());
        o.insert(
            "platform_id".into(),
            row.platform_id.clone().map_or(Json::Null, Json::from),
        );
        o.insert(
            "platform_name".into(),
            row.platform_name.clone().map_or(Json::Null, Json::from),
        );
        if let Some(b) = &schema.breakdown {
            o.insert(
                b.id.into(),
                row.breakdown.clone().map_or(Json::Null, Json::from),
            );
        }
        for (value, column) in row.values.iter().zip(&schema.columns) {
            let key = match column.kind {
                Kind::Yuan => column.id.replace("_yuan", "_fen"),
                _ => column.id.to_owned(),
            };
            let v = match value {
                Value::Null => Json::Null,
                Value::Count(n) => (*n).into(),
                Value::Fen(f) => (*f).into(),
                Value::Number(x) => {
                    serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number)
                }
                Value::Text(t) => t.clone().into(),
            };
            o.insert(key, v);
        }
        serde_json::to_writer(&mut self.out, &Json::Object(o))
            .map_err(|e| ExportError::Format(e.to_string()))?;
        self.out.push(b'\n');
        Ok(true)
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    fn pending(&self) -> usize {
        self.out.len()
    }
}
