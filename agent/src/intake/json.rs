//! JSON: an array of record objects, `{"records": [...]}`, or a profile object.

use serde_json::{Map, Value};

use super::{Cell, Entries, Location, Problem, RawRow, Sheet, Table};

pub(crate) fn read(bytes: &[u8]) -> Result<Sheet, Vec<Problem>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        vec![Problem {
            location: Location::Line(e.line() as u64),
            column: None,
            value: None,
            en: format!("not valid UTF-8 JSON: {e}"),
            zh: format!("不是有效的UTF-8 JSON：{e}"),
        }]
    })?;
    match value {
        Value::Array(items) => records(items),
        Value::Object(mut obj) => match obj.remove("records") {
            Some(Value::Array(items)) if obj.is_empty() => records(items),
            Some(_) => Err(vec![Problem::file(
                "\"records\" must be the only key and hold an array of record objects",
                "“records”应为唯一的键，其值为服务记录对象数组",
            )]),
            None => Ok(Sheet::Profile(profile(obj))),
        },
        _ => Err(vec![Problem::file(
            "expected an array of records, {\"records\": [...]} or a profile object",
            "应为服务记录数组、{\"records\": [...]} 或机构概况对象",
        )]),
    }
}

/// Records become a table whose header is every key in order of first appearance.
fn records(items: Vec<Value>) -> Result<Sheet, Vec<Problem>> {
    let mut header: Vec<String> = Vec::new();
    let mut problems = Vec::new();
    let mut objects = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(obj) => {
                for k in obj.keys() {
                    if !header.contains(k) {
                        header.push(k.clone());
                    }
                }
                objects.push((i, obj));
            }
            _ => problems.push(Problem {
                location: Location::Index(i),
                column: None,
                value: None,
                en: "a record must be an object of column → value".into(),
                zh: "每条记录应为“列名: 值”形式的对象".into(),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let rows: Vec<RawRow> = objects
        .into_iter()
        .map(|(i, obj)| {
            let cells = header
                .iter()
                .map(|h| obj.get(h).map_or(Cell::Empty, cell))
                .collect();
            (Location::Index(i), cells)
        })
        .collect();
    Ok(Sheet::Records(Table {
        header_location: Location::File,
        header,
        rows,
    }))
}

/// A profile object: item → value, plus an optional `explanations` array of
/// `{"rule_id", "text"}` that becomes `上报说明:<rule_id>` entries.
fn profile(obj: Map<String, Value>) -> Entries {
    let mut entries = Entries::new();
    for (k, v) in obj {
        if k == "explanations" {
            if let Value::Array(items) = &v {
                for (i, e) in items.iter().enumerate() {
                    let rule = e.get("rule_id").and_then(Value::as_str).unwrap_or("");
                    let text = e.get("text").map_or(Cell::Empty, cell);
                    entries.push((
                        Location::Key(format!("explanations[{i}]")),
                        format!("explanation:{rule}"),
                        text,
                    ));
                }
                continue;
            }
        }
        entries.push((Location::Key(k.clone()), k, cell(&v)));
    }
    entries
}

fn cell(v: &Value) -> Cell {
    match v {
        Value::Null => Cell::Empty,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Cell::Int)
            .or_else(|| n.as_f64().map(Cell::Float))
            .unwrap_or_else(|| Cell::Unsupported(n.to_string())),
        Value::String(s) => Cell::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => Cell::Unsupported(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let Sheet::Records(t) =
            read(br#"[{"record_id":"R1","fee_yuan":12.5},{"date":"2026-05-03"}]"#).unwrap()
        else {
            panic!()
        };
        // Keys of one object come sorted (serde_json without preserve_order); order is irrelevant.
        assert_eq!(t.header, ["fee_yuan", "record_id", "date"]);
        assert_eq!(t.rows[1].0, Location::Index(1));
        assert_eq!(t.rows[0].1[0], Cell::Float(12.5));
        assert_eq!(t.rows[1].1[1], Cell::Empty);
        assert!(matches!(
            read(br#"{"records":[]}"#).unwrap(),
            Sheet::Records(_)
        ));
        let Sheet::Profile(e) =
            read(br#"{"period":"2026-Q2","explanations":[{"rule_id":"W201","text":"x"}]}"#)
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(e.len(), 2);
        assert!(read(b"[1]").is_err());
        assert!(read(b"{\"records\": 3}").is_err());
        assert!(read(b"\"x\"").is_err());
        assert_eq!(read(b"[\n{,}]").unwrap_err()[0].location, Location::Line(2));
    }
}
