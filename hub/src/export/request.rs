//! What an export is asked for, checked before anything is read: every error names the
//! parameter, the value and what is accepted; a region outside the caller's scope is
//! [`ExportError::Filter`] with [`FilterError::Scope`] (the web answers 403, the CLI exits 3).

use serde::{Deserialize, Serialize};
use sme_proto::period::Calendar;

use super::{Format, Lang, Level, Statistic};
use crate::analytics::filter::{Filter, FilterError, FilterParams};
use crate::analytics::scope::Scope;
use crate::analytics::volume::VolumeBy;
use crate::registry::region::{self, RegionLevel};
use crate::store::StoreError;

/// Raw export parameters, as the web API's query string and the CLI give them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct ExportParams {
    /// Comma-separated: `coverage`, `volume`, `staff`, `satisfaction`, `completeness`,
    /// `missing`, `demo` (one for CSV, SDMX-CSV and JSON; several for XLSX).
    pub statistics: Option<String>,
    /// `csv` (default), `xlsx`, `sdmx-csv`, `ndjson`.
    pub format: Option<String>,
    /// First period, e.g. `2026-M01` (required).
    pub from: Option<String>,
    /// Last period, same kind; defaults to `from`.
    pub to: Option<String>,
    /// 6-digit region; defaults to the caller's scope.
    pub region: Option<String>,
    /// Rows per `province`, `prefecture`, `county` or `platform`; default one level below the
    /// region.
    pub area_level: Option<String>,
    /// Volume only: one row per `function`, `industry` or `enterprise_size` as well.
    pub breakdown: Option<String>,
    /// Service function 1–7.
    pub function: Option<String>,
    /// Industry section A–T of the served enterprise.
    pub industry: Option<String>,
    /// `micro`, `small`, `medium` (served enterprise).
    pub enterprise_size: Option<String>,
    /// Registry demonstration level: `none`, `provincial_demo`, `national_demo`.
    pub demo_level: Option<String>,
    /// Header language: `zh` (default) or `en`.
    pub lang: Option<String>,
}

/// A checked export request.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Periods, region (inside the scope), function, industry, size, demo level, calendar.
    pub filter: Filter,
    /// The rows' level.
    pub level: Level,
    /// Volume breakdown.
    pub breakdown: Option<VolumeBy>,
    /// What to export, in order.
    pub statistics: Vec<Statistic>,
    /// The format.
    pub format: Format,
    /// Header language.
    pub lang: Lang,
    /// The raw parameters, for the audit.
    pub params: ExportParams,
}

/// Why an export cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A filter value, or a region outside the scope.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// An export parameter that cannot be used.
    #[error("export parameter {parameter}={value:?}: {reason} / 导出参数 {parameter} 无效")]
    Invalid {
        /// Its name, as in [`ExportParams`].
        parameter: &'static str,
        /// What was given.
        value: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// ClickHouse failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the file or the body failed (disk full, client gone).
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    /// The format's library failed.
    #[error("writing the export failed: {0}")]
    Format(String),
}

impl ExportError {
    /// Whether the request was outside the caller's scope.
    pub fn is_scope(&self) -> bool {
        matches!(self, ExportError::Filter(FilterError::Scope(_)))
    }

    /// Whether the caller's request was at fault (400/403), not the hub.
    pub fn is_request(&self) -> bool {
        matches!(self, ExportError::Filter(_) | ExportError::Invalid { .. })
    }
}

impl From<crate::analytics::ViewError> for ExportError {
    fn from(e: crate::analytics::ViewError) -> Self {
        use crate::analytics::ViewError;
        match e {
            ViewError::Filter(f) => ExportError::Filter(f),
            ViewError::Scope(s) => ExportError::Filter(FilterError::Scope(s)),
            ViewError::Store(s) => ExportError::Store(s),
            ViewError::UnknownPlatform(p) => ExportError::Invalid {
                parameter: "region",
                value: p,
                reason: "not in the registry".into(),
            },
        }
    }
}

fn invalid(parameter: &'static str, value: &str, reason: impl Into<String>) -> ExportError {
    ExportError::Invalid {
        parameter,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

impl ExportRequest {
    /// Checks every parameter against `scope` (the caller's region and everything below it).
    pub fn parse(
        params: &ExportParams,
        scope: &Scope,
        calendar: &Calendar,
    ) -> Result<ExportRequest, ExportError> {
        let filter = Filter::parse(
            &FilterParams {
                from: params.from.clone(),
                to: params.to.clone(),
                region: params.region.clone(),
                function: params.function.clone(),
                industry: params.industry.clone(),
                enterprise_size: params.enterprise_size.clone(),
                level: params.demo_level.clone(),
            },
            scope,
        )?
        .with_calendar(calendar);

        let format = match params.format.as_deref() {
            None => Format::Csv,
            Some(f) => Format::parse(f)
                .ok_or_else(|| invalid("format", f, "use csv, xlsx, sdmx-csv or ndjson"))?,
        };
        let lang = match params.lang.as_deref().map(str::trim) {
            None | Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            Some(l) => return Err(invalid("lang", l, "use zh or en")),
        };
        let text = params
            .statistics
            .as_deref()
            .ok_or_else(|| invalid("statistics", "", "required: e.g. volume"))?;
        let mut statistics = Vec::new();
        for s in text.split(',').filter(|s| !s.trim().is_empty()) {
            let stat = Statistic::parse(s).ok_or_else(|| {
                invalid(
                    "statistics",
                    s,
                    "use coverage, volume, staff, satisfaction, completeness, missing or demo",
                )
            })?;
            if !statistics.contains(&stat) {
                statistics.push(stat);
            }
        }
        if statistics.is_empty() {
            return Err(invalid("statistics", text, "name at least one statistic"));
        }
        if format != Format::Xlsx && statistics.len() > 1 {
            return Err(invalid(
                "statistics",
                text,
                format!(
                    "a {} file holds one table: name one statistic, or use xlsx for several",
                    format.id()
                ),
            ));
        }

        let region_code = filter.region().to_owned();
        let level = match params.area_level.as_deref() {
            Some(l) => Level::parse(l).ok_or_else(|| {
                invalid(
                    "area_level",
                    l,
                    "use province, prefecture, county or platform",
                )
            })?,
            None => match region::level(&region_code) {
                RegionLevel::National => Level::Province,
                RegionLevel::Province => Level::Prefecture,
                RegionLevel::Prefecture => Level::County,
                RegionLevel::County => Level::Platform,
            },
        };
        if !level.is_below_region(&region_code) {
            return Err(invalid(
                "area_level",
                level.id(),
                format!("rows must be below the region {region_code}: use a finer level"),
            ));
        }
        let breakdown = match params.breakdown.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("function") => Some(VolumeBy::Function),
            Some("industry") => Some(VolumeBy::Industry),
            Some("enterprise_size") => Some(VolumeBy::EnterpriseSize),
            Some(b) => {
                return Err(invalid(
                    "breakdown",
                    b,
                    "use function, industry or enterprise_size",
                ))
            }
        };
        if breakdown.is_some() && !statistics.contains(&Statistic::Volume) {
            return Err(invalid(
                "breakdown",
                params.breakdown.as_deref().unwrap_or(""),
                "only the volume statistic is broken down by function, industry or size                  (in a workbook, the volume sheet)",
            ));
        }
        for stat in &statistics {
            check_statistic(*stat, &filter, level, format)?;
        }
        Ok(ExportRequest {
            filter,
            level,
            breakdown,
            statistics,
            format,
            lang,
            params: params.clone(),
        })
    }

    /// A file name for the request: `sme-volume-440000-2026-M01-2026-M03.csv`.
    pub fn file_name(&self) -> String {
        let stem = if self.statistics.len() == 1 {
            self.statistics[0].id()
        } else {
            "statistics"
        };
        format!(
            "sme-{stem}-{}-{}-{}.{}",
            self.filter.region(),
            self.filter.from(),
            self.filter.to(),
            self.format.extension()
        )
    }
}

fn check_statistic(
    stat: Statistic,
    filter: &Filter,
    level: Level,
    format: Format,
) -> Result<(), ExportError> {
    use sme_proto::period::PeriodKind;
    match stat {
        Statistic::Staff => crate::analytics::staff::check_kind(filter)?,
        Statistic::Coverage if level > Level::Prefecture => {
            return Err(invalid(
                "area_level",
                level.id(),
                "layout and coverage are published by province and prefecture (the SME \
                 counts are per region); use province or prefecture",
            ));
        }
        _ => {}
    }
    if matches!(stat, Statistic::Coverage | Statistic::Demo) && filter.kind() != PeriodKind::Month {
        return Err(invalid(
            "from",
            &filter.from().to_string(),
            format!(
                "{} reads the 12 months up to `to`: give months, e.g. from=2026-M12",
                stat.id()
            ),
        ));
    }
    if format == Format::SdmxCsv {
        if matches!(
            stat,
            Statistic::Coverage | Statistic::Demo | Statistic::Missing
        ) {
            return Err(invalid(
                "format",
                "sdmx-csv",
                format!(
                    "{} is a list over a window, not a time series of observations; export it \
                     as csv, xlsx or ndjson",
                    stat.id()
                ),
            ));
        }
        if level == Level::County {
            return Err(invalid(
                "area_level",
                "county",
                "county codes are not in the shipped REF_AREA code list (provinces and \
                 prefectures of the division table); use prefecture or platform for SDMX, or \
                 csv/xlsx/ndjson for counties",
            ));
        }
    }
    Ok(())
}
