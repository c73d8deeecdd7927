//! Exports of regional statistics (issue E): one engine behind `sme-hub export` and the web
//! download, reading the analytics' own SQL ([`crate::analytics`]) so an export equals the
//! dashboards and the API to the last digit.
//!
//! - [`ExportRequest`]: region, periods (one kind), level of breakdown, breakdown by function,
//!   industry or size, and the statistics; checked with a clear error naming the parameter.
//! - [`statistics`]: per statistic, rows streamed period by period from ClickHouse through
//!   [`rollup`], which adds subtotals per level and totals while the rows pass.
//! - [`format`]: CSV (UTF-8 with BOM), XLSX (cover sheet, one sheet per statistic), SDMX-CSV
//!   2.0 and newline-delimited JSON, each writing as rows arrive.
//! - [`output`]: a file written under a `.part` name and renamed only when complete, or an
//!   HTTP body; either way the bytes are counted and hashed (SHA-256) for the audit.
//! - [`audit`]: every export and every refusal in `export_audit`.

pub mod audit;
pub mod engine;
pub mod format;
pub mod names;
pub mod output;
mod request;
mod rollup;
pub mod sdmx;
pub mod statistics;
pub mod table;

pub use engine::{Engine, Finished, Progress, Requester, Silent};
pub use request::{ExportError, ExportParams, ExportRequest};

use serde::Serialize;

use crate::registry::region::{self, RegionLevel};

/// The level of the rows' areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 省 `PP0000`.
    Province,
    /// 地市 `PPCC00`.
    Prefecture,
    /// 区县 `PPCCDD` (the platforms' registry codes).
    County,
    /// One platform.
    Platform,
}

impl Level {
    /// Coarsest first.
    pub const ALL: [Level; 4] = [
        Level::Province,
        Level::Prefecture,
        Level::County,
        Level::Platform,
    ];

    /// `province`, `prefecture`, `county`, `platform`.
    pub fn id(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::Prefecture => "prefecture",
            Level::County => "county",
            Level::Platform => "platform",
        }
    }

    /// 省份, 地市, 区县, 平台.
    pub fn zh(self) -> &'static str {
        match self {
            Level::Province => "省份",
            Level::Prefecture => "地市",
            Level::County => "区县",
            Level::Platform => "平台",
        }
    }

    /// From its id.
    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.id() == s.trim())
    }

    /// Whether areas of this level lie strictly below `region` (a platform is below any region).
    pub fn is_below_region(self, region: &str) -> bool {
        match region::level(region) {
            RegionLevel::National => true,
            RegionLevel::Province => self > Level::Province,
            RegionLevel::Prefecture => self > Level::Prefecture,
            RegionLevel::County => self > Level::County,
        }
    }

    /// The area key of this level as SQL over a region column and a credit-code column:
    /// `PP0000`, `PPCC00`, the code itself, or `code:credit code` (sorted like the hierarchy).
    pub fn sql_key(self, region_col: &str, platform_col: &str) -> String {
        match self {
            Level::Province => format!("concat(substring({region_col}, 1, 2), '0000')"),
            Level::Prefecture => format!("concat(substring({region_col}, 1, 4), '00')"),
            Level::County => region_col.to_owned(),
            Level::Platform => format!("concat({region_col}, ':', {platform_col})"),
        }
    }

    /// The key of the area of this level that contains `key` (a key of this level or finer).
    pub fn ancestor(self, key: &str) -> String {
        let code = key.get(..6).unwrap_or(key);
        match self {
            Level::Province => format!("{}0000", &code[..2.min(code.len())]),
            Level::Prefecture => format!("{}00", &code[..4.min(code.len())]),
            Level::County => code.to_owned(),
            Level::Platform => key.to_owned(),
        }
    }
}

/// What is exported (domain §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// §7.1 layout and coverage (rolling 12 months to the last period; province/prefecture).
    Coverage,
    /// §7.2 service volume.
    Volume,
    /// §7.3 staff and basic conditions (quarterly, annual).
    Staff,
    /// §7.4 satisfaction.
    Satisfaction,
    /// §7.5 completeness and timeliness.
    Completeness,
    /// §7.5 the expected platforms without a report, per period.
    Missing,
    /// §7.6 demo-platform candidates (rolling window to the last month).
    Demo,
}

impl Statistic {
    /// Every statistic, in the order of domain §7.
    pub const ALL: [Statistic; 7] = [
        Statistic::Coverage,
        Statistic::Volume,
        Statistic::Staff,
        Statistic::Satisfaction,
        Statistic::Completeness,
        Statistic::Missing,
        Statistic::Demo,
    ];

    /// The id (`--statistic`, file stem, sheet).
    pub fn id(self) -> &'static str {
        match self {
            Statistic::Coverage => "coverage",
            Statistic::Volume => "volume",
            Statistic::Staff => "staff",
            Statistic::Satisfaction => "satisfaction",
            Statistic::Completeness => "completeness",
            Statistic::Missing => "missing",
            Statistic::Demo => "demo",
        }
    }

    /// The Chinese title (XLSX sheet names).
    pub fn zh(self) -> &'static str {
        match self {
            Statistic::Coverage => "布局与覆盖",
            Statistic::Volume => "服务量",
            Statistic::Staff => "人员与基本条件",
            Statistic::Satisfaction => "满意度",
            Statistic::Completeness => "报送完整性与及时性",
            Statistic::Missing => "未报送平台",
            Statistic::Demo => "示范平台候选",
        }
    }

    /// The English title.
    pub fn en(self) -> &'static str {
        match self {
            Statistic::Coverage => "layout and coverage",
            Statistic::Volume => "service volume",
            Statistic::Staff => "staff and basic conditions",
            Statistic::Satisfaction => "satisfaction",
            Statistic::Completeness => "completeness and timeliness",
            Statistic::Missing => "platforms not reported",
            Statistic::Demo => "demo-platform candidates",
        }
    }

    /// From its id.
    pub fn parse(s: &str) -> Option<Statistic> {
        Statistic::ALL.into_iter().find(|x| x.id() == s.trim())
    }
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// UTF-8 CSV with BOM.
    Csv,
    /// Excel workbook.
    Xlsx,
    /// SDMX-CSV 2.0.
    SdmxCsv,
    /// Newline-delimited JSON.
    Ndjson,
}

impl Format {
    /// `csv`, `xlsx`, `sdmx-csv`, `ndjson`.
    pub fn id(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::SdmxCsv => "sdmx-csv",
            Format::Ndjson => "ndjson",
        }
    }

    /// From its id (`json` is accepted for `ndjson`).
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim() {
            "csv" => Some(Format::Csv),
            "xlsx" | "excel" => Some(Format::Xlsx),
            "sdmx-csv" | "sdmx" => Some(Format::SdmxCsv),
            "ndjson" | "json" => Some(Format::Ndjson),
            _ => None,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv | Format::SdmxCsv => "csv",
            Format::Xlsx => "xlsx",
            Format::Ndjson => "ndjson",
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::SdmxCsv => "application/vnd.sdmx.data+csv; version=2.0.0; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// The headers' language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// Chinese (default).
    Zh,
    /// English.
    En,
}
