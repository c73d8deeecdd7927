//! What every export format writes: a table per statistic, with fixed key columns (row type,
//! period, region, platform, breakdown) and the statistic's measures, each with a Chinese and
//! an English header and a kind that says how each format renders it.

use sme_proto::period::Period;

use super::Level;

/// How a measure is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count (integer).
    Count,
    /// Money: integer fen, written as yuan with two decimals.
    Yuan,
    /// A share 0–1 (XLSX: percent format; text formats: the fraction).
    Ratio,
    /// A number with decimals (mean score, points).
    Decimal,
    /// Text (a code list, a date, a tier).
    Text,
}

/// One measure column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// Snake-case id: the JSON key, and upper-cased the SDMX measure id.
    pub id: &'static str,
    /// Chinese header.
    pub zh: &'static str,
    /// English header.
    pub en: &'static str,
    /// How it is rendered.
    pub kind: Kind,
}

/// Shorthand for the tables' column lists.
pub(crate) const fn col(
    id: &'static str,
    zh: &'static str,
    en: &'static str,
    kind: Kind,
) -> Column {
    Column { id, zh, en, kind }
}

/// One cell of a measure.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Not reported / not known: an empty cell, never 0.
    Null,
    /// A count.
    Count(u64),
    /// Money in fen.
    Fen(i64),
    /// A share or a decimal.
    Number(f64),
    /// Text.
    Text(String),
}

impl Value {
    /// `Some(n)` as a count, `Null` for `None`.
    pub fn opt_number(v: Option<f64>) -> Value {
        v.map_or(Value::Null, Value::Number)
    }

    /// Money as text: yuan with two decimals from integer fen (exact, no float).
    pub fn yuan_text(fen: i64) -> String {
        let sign = if fen < 0 { "-" } else { "" };
        let abs = fen.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Where a row sits in the hierarchy of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// A row of the requested level.
    Detail(Level),
    /// A subtotal of a coarser level (after its children).
    Subtotal(Level),
    /// The requested region in one period.
    Total,
    /// The requested region over every period of the export.
    GrandTotal,
}

impl RowKind {
    /// The machine value (CSV `row_type`, JSON).
    pub fn id(self) -> &'static str {
        match self {
            RowKind::Detail(l) => l.id(),
            RowKind::Subtotal(Level::Province) => "province_subtotal",
            RowKind::Subtotal(Level::Prefecture) => "prefecture_subtotal",
            RowKind::Subtotal(Level::County) => "county_subtotal",
            RowKind::Subtotal(Level::Platform) => "platform_subtotal",
            RowKind::Total => "total",
            RowKind::GrandTotal => "grand_total",
        }
    }

    /// The label in a language.
    pub fn label(self, lang: super::Lang) -> &'static str {
        use super::Lang::*;
        match (self, lang) {
            (RowKind::Detail(l), Zh) => l.zh(),
            (RowKind::Detail(l), En) => l.id(),
            (RowKind::Subtotal(Level::Province), Zh) => "省份小计",
            (RowKind::Subtotal(Level::Prefecture), Zh) => "地市小计",
            (RowKind::Subtotal(Level::County), Zh) => "区县小计",
            (RowKind::Subtotal(Level::Platform), Zh) => "平台小计",
            (RowKind::Subtotal(_), En) => self.id(),
            (RowKind::Total, Zh) => "合计",
            (RowKind::Total, En) => "total",
            (RowKind::GrandTotal, Zh) => "总计（全部期别）",
            (RowKind::GrandTotal, En) => "grand total (all periods)",
        }
    }

    /// Whether the row adds up others (bold in XLSX).
    pub fn is_sum(self) -> bool {
        !matches!(self, RowKind::Detail(_))
    }
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Detail, subtotal or total.
    pub kind: RowKind,
    /// The period; `None` for the grand total and for rolling-window tables.
    pub period: Option<Period>,
    /// 6-digit region code (the requested region for totals).
    pub region_code: String,
    /// Its name from the division table (empty when unknown, e.g. counties).
    pub region_name: String,
    /// Credit code, for platform rows.
    pub platform_id: Option<String>,
    /// Registry name, for platform rows.
    pub platform_name: Option<String>,
    /// The breakdown's code (function 1–7, industry A–T, size); `None` without a breakdown
    /// or for a row with nothing reported.
    pub breakdown: Option<String>,
    /// The measures, in the table's column order.
    pub values: Vec<Value>,
    /// Whether anything behind the row was reported (SDMX: observation status).
    pub reported: bool,
}

/// The breakdown column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakdownColumn {
    /// Snake-case id, also the SDMX dimension.
    pub id: &'static str,
    /// SDMX dimension id.
    pub sdmx: &'static str,
    /// Chinese header.
    pub zh: &'static str,
    /// English header.
    pub en: &'static str,
}

/// The shape of one table.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The statistic (also the sheet and the file stem).
    pub statistic: super::Statistic,
    /// Whether rows carry a period (false for rolling-window tables).
    pub periodic: bool,
    /// The breakdown column, if any.
    pub breakdown: Option<BreakdownColumn>,
    /// The measures.
    pub columns: Vec<Column>,
    /// `(zh, en)` definitions of the figures, for the cover sheet and the docs.
    pub definitions: Vec<(&'static str, &'static str)>,
}

/// The key columns every table starts with: `(id, zh, en)`.
pub const KEY_COLUMNS: [(&str, &str, &str); 7] = [
    ("row_type", "行类型", "row type"),
    ("period", "期别", "period"),
    ("region_code", "地区代码", "region code"),
    ("region_name", "地区名称", "region name"),
    (
        "platform_id",
        "平台统一社会信用代码",
        "platform credit code",
    ),
    ("platform_name", "平台名称", "platform name"),
    ("breakdown_name", "分类名称", "breakdown name"),
];

/// The name of a breakdown code in a language (function names, industry sections, sizes).
pub fn breakdown_name(column: &BreakdownColumn, code: &str, lang: super::Lang) -> String {
    use super::Lang::*;
    let zh_en: Option<(&str, &str)> = match column.id {
        "service_function" => match code {
            "1" => Some(("信息查询", "information")),
            "2" => Some(("技术创新", "technology innovation")),
            "3" => Some(("质量管理", "quality")),
            "4" => Some(("管理咨询", "management consulting")),
            "5" => Some(("创业辅导", "entrepreneurship")),
            "6" => Some(("市场开拓", "market expansion")),
            "7" => Some(("人员培训", "training")),
            _ => None,
        },
        "enterprise_size" => match code {
            "micro" => Some(("微型", "micro")),
            "small" => Some(("小型", "small")),
            "medium" => Some(("中型", "medium")),
            "" => Some(("未填", "not given")),
            _ => None,
        },
        _ => match code {
            "" => Some(("未填", "not given")),
            _ => None,
        },
    };
    match (zh_en, lang) {
        (Some((zh, _)), Zh) => zh.to_owned(),
        (Some((_, en)), En) => en.to_owned(),
        (None, _) => code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_exact_from_fen() {
        assert_eq!(Value::yuan_text(0), "0.00");
        assert_eq!(Value::yuan_text(5), "0.05");
        assert_eq!(Value::yuan_text(123_456_789), "1234567.89");
        assert_eq!(Value::yuan_text(-150), "-1.50");
        assert_eq!(Value::yuan_text(i64::MIN), "-92233720368547758.08");
    }
}
