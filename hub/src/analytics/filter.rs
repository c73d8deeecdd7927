//! What a caller may narrow an analytic to (issue 9 §1): a period range of one kind, a region
//! (inside the caller's [`Scope`]), a service function, the served enterprises' industry and
//! size, and the platforms' demonstration level.
//!
//! [`Filter::parse`] takes the raw values as the web API and the CLI receive them
//! ([`FilterParams`]) and checks every one; an error names the parameter, the value and what is
//! accepted. A region outside the scope is [`FilterError::Scope`] (the web answers 403).
//!
//! Industry and enterprise size describe the *served enterprise*, which only service records
//! carry; figures filtered or broken down by them are counted from records and carry their
//! record coverage (see `docs/decisions.md`, "Analytics").

use serde::{Deserialize, Serialize};
use sme_proto::period::{periods_between, Calendar, Period, PeriodKind};

use super::scope::{Scope, ScopeError};
use crate::registry::DemoLevel;

/// Most periods one filter may span (10 years of months).
pub const MAX_PERIODS: usize = 120;

/// Raw filter values, as strings from a query string or the command line; `None` = not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct FilterParams {
    /// First period, e.g. `2026-M01` (required).
    pub from: Option<String>,
    /// Last period, same kind as `from`; defaults to `from`.
    pub to: Option<String>,
    /// 6-digit region code; defaults to the caller's scope.
    pub region: Option<String>,
    /// Service function 1–7.
    pub function: Option<String>,
    /// GB/T 4754-2017 section letter A–T of the served enterprise.
    pub industry: Option<String>,
    /// `micro`, `small` or `medium` (served enterprise).
    pub enterprise_size: Option<String>,
    /// Registry demonstration level: `none`, `provincial_demo`, `national_demo`.
    pub level: Option<String>,
}

/// Enterprise size (企业规模, 工信部联企业[2011]300号); the codes of `v1::EnterpriseSize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnterpriseSize {
    /// 微型.
    Micro,
    /// 小型.
    Small,
    /// 中型.
    Medium,
}

impl EnterpriseSize {
    /// The stored code (`service_records.enterprise_size`).
    pub fn code(self) -> u8 {
        match self {
            Self::Micro => 1,
            Self::Small => 2,
            Self::Medium => 3,
        }
    }

    /// From a stored code; 0 (not given) and unknown codes are `None`.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Micro),
            2 => Some(Self::Small),
            3 => Some(Self::Medium),
            _ => None,
        }
    }

    /// `micro`, `small`, `medium`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Micro => "micro",
            Self::Small => "small",
            Self::Medium => "medium",
        }
    }
}

/// A validated filter. Build it with [`Filter::parse`] or [`Filter::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    from: Period,
    to: Period,
    /// The region asked for, already resolved through the scope.
    region: String,
    function: Option<u8>,
    industry: Option<String>,
    enterprise_size: Option<EnterpriseSize>,
    level: Option<DemoLevel>,
    /// Due times of the periods: the registry in force at a period's due time says which
    /// platforms were expected. The default calendar unless [`Filter::with_calendar`].
    calendar: Calendar,
}

/// A filter value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The value of `parameter` is malformed or out of range.
    #[error("filter parameter {parameter}={value:?}: {reason} / 筛选参数 {parameter} 无效")]
    Invalid {
        /// The parameter's name, as in [`FilterParams`].
        parameter: &'static str,
        /// What was given.
        value: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The region is outside the caller's scope, or malformed.
    #[error("filter parameter region: {0}")]
    Scope(#[from] ScopeError),
}

fn invalid(parameter: &'static str, value: &str, reason: impl Into<String>) -> FilterError {
    FilterError::Invalid {
        parameter,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

// === impl Filter ===

impl Filter {
    /// The periods `from..=to` in the scope's own region, nothing else narrowed.
    pub fn new(scope: &Scope, from: Period, to: Period) -> Result<Filter, FilterError> {
        check_range(from, to)?;
        Ok(Filter {
            from,
            to,
            region: scope.resolve(None)?,
            function: None,
            industry: None,
            enterprise_size: None,
            level: None,
            calendar: Calendar::default(),
        })
    }

    /// Checks every raw value; the region goes through `scope.resolve`.
    pub fn parse(params: &FilterParams, scope: &Scope) -> Result<Filter, FilterError> {
        let period = |parameter: &'static str, value: &str| {
            value.trim().parse::<Period>().map_err(|e| {
                invalid(
                    parameter,
                    value,
                    format!("{e}; use e.g. 2026-M05, 2026-Q2 or 2026-A"),
                )
            })
        };
        let from_text = params
            .from
            .as_deref()
            .ok_or_else(|| invalid("from", "", "required: the first period, e.g. 2026-M01"))?;
        let from = period("from", from_text)?;
        let to = match params.to.as_deref() {
            Some(t) => period("to", t)?,
            None => from,
        };
        let mut filter = Filter::new(scope, from, to)?;
        filter.region = scope.resolve(params.region.as_deref().map(str::trim))?;
        if let Some(f) = params.function.as_deref() {
            filter.function = Some(parse_function(f)?);
        }
        if let Some(i) = params.industry.as_deref() {
            filter.industry = Some(parse_industry(i)?);
        }
        if let Some(s) = params.enterprise_size.as_deref() {
            filter.enterprise_size = Some(match s.trim() {
                "micro" | "1" => EnterpriseSize::Micro,
                "small" | "2" => EnterpriseSize::Small,
                "medium" | "3" => EnterpriseSize::Medium,
                _ => return Err(invalid("enterprise_size", s, "use micro, small or medium")),
            });
        }
        if let Some(l) = params.level.as_deref() {
            filter.level = Some(match l.trim() {
                "none" => DemoLevel::None,
                "provincial_demo" => DemoLevel::Provincial,
                "national_demo" => DemoLevel::National,
                _ => {
                    return Err(invalid(
                        "level",
                        l,
                        "use none, provincial_demo or national_demo",
                    ))
                }
            });
        }
        Ok(filter)
    }

    /// The reporting calendar whose due times decide the registry in force for a period.
    pub fn with_calendar(mut self, calendar: &Calendar) -> Filter {
        self.calendar = calendar.clone();
        self
    }

    /// The due time of `period` (UTC+8 calendar of the filter).
    pub fn due_at(&self, period: &Period) -> time::OffsetDateTime {
        self.calendar.due_at(period)
    }

    /// The same region, level and calendar over other periods, without the function, industry
    /// and size (for views about all services).
    pub fn over(&self, from: Period, to: Period) -> Result<Filter, FilterError> {
        check_range(from, to)?;
        Ok(Filter {
            from,
            to,
            function: None,
            industry: None,
            enterprise_size: None,
            ..self.clone()
        })
    }

    /// Narrows to one region inside `scope`.
    pub fn with_region(mut self, scope: &Scope, region: &str) -> Result<Filter, FilterError> {
        self.region = scope.resolve(Some(region))?;
        Ok(self)
    }

    /// Narrows to one service function 1–7.
    pub fn with_function(mut self, function: u8) -> Result<Filter, FilterError> {
        self.function = Some(parse_function(&function.to_string())?);
        Ok(self)
    }

    /// Narrows to served enterprises of one industry section.
    pub fn with_industry(mut self, industry: &str) -> Result<Filter, FilterError> {
        self.industry = Some(parse_industry(industry)?);
        Ok(self)
    }

    /// Narrows to served enterprises of one size.
    pub fn with_enterprise_size(mut self, size: EnterpriseSize) -> Filter {
        self.enterprise_size = Some(size);
        self
    }

    /// Narrows to platforms of one registry level.
    pub fn with_level(mut self, level: DemoLevel) -> Filter {
        self.level = Some(level);
        self
    }

    /// First period.
    pub fn from(&self) -> Period {
        self.from
    }

    /// Last period.
    pub fn to(&self) -> Period {
        self.to
    }

    /// The one period kind the filter reads.
    pub fn kind(&self) -> PeriodKind {
        self.from.kind()
    }

    /// Every period `from..=to`, oldest first.
    pub fn periods(&self) -> Vec<Period> {
        periods_between(self.from, self.to)
    }

    /// The region (resolved; `000000` for the country).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service function, if narrowed.
    pub fn function(&self) -> Option<u8> {
        self.function
    }

    /// The industry section letter, if narrowed.
    pub fn industry(&self) -> Option<&str> {
        self.industry.as_deref()
    }

    /// The enterprise size, if narrowed.
    pub fn enterprise_size(&self) -> Option<EnterpriseSize> {
        self.enterprise_size
    }

    /// The registry level, if narrowed.
    pub fn level(&self) -> Option<DemoLevel> {
        self.level
    }

    /// Whether a served-enterprise attribute (industry, size) narrows it, so figures must come
    /// from service records.
    pub fn needs_records(&self) -> bool {
        self.industry.is_some() || self.enterprise_size.is_some()
    }

    /// The same filter over other periods (e.g. the previous period for a change).
    pub fn with_periods(&self, from: Period, to: Period) -> Result<Filter, FilterError> {
        check_range(from, to)?;
        Ok(Filter {
            from,
            to,
            ..self.clone()
        })
    }
}

fn check_range(from: Period, to: Period) -> Result<(), FilterError> {
    if from.kind() != to.kind() {
        return Err(invalid(
            "to",
            &to.to_string(),
            format!(
                "{to} is a {} but from={from} is a {}: a figure reads one period kind (month, \
                 quarter and year reports count the same services), so give both of one kind",
                to.kind().as_str(),
                from.kind().as_str()
            ),
        ));
    }
    if to < from {
        return Err(invalid(
            "to",
            &to.to_string(),
            format!("{to} is before from={from}"),
        ));
    }
    let n = periods_between(from, to).len();
    if n > MAX_PERIODS {
        return Err(invalid(
            "to",
            &to.to_string(),
            format!("{n} periods from {from}; at most {MAX_PERIODS} at once"),
        ));
    }
    Ok(())
}

fn parse_function(value: &str) -> Result<u8, FilterError> {
    match value.trim().parse::<u8>() {
        Ok(f @ 1..=7) => Ok(f),
        _ => Err(invalid(
            "function",
            value,
            "use a service function code 1-7 (1 information … 7 training)",
        )),
    }
}

fn parse_industry(value: &str) -> Result<String, FilterError> {
    let v = value.trim();
    match v.as_bytes() {
        [c @ b'A'..=b'T'] => Ok((*c as char).to_string()),
        _ => Err(invalid(
            "industry",
            value,
            "use a GB/T 4754-2017 section letter A-T (upper case)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::Role;

    fn params(from: &str, to: &str) -> FilterParams {
        FilterParams {
            from: Some(from.into()),
            to: Some(to.into()),
            ..Default::default()
        }
    }

    #[test]
    fn mixing_period_kinds_is_refused_naming_the_parameter() {
        let err = Filter::parse(&params("2026-M01", "2026-Q2"), &Scope::operator()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("to=") && text.contains("one period kind"),
            "{text}"
        );
        let err = Filter::parse(&params("2026-M05", "2026-M01"), &Scope::operator()).unwrap_err();
        assert!(err.to_string().contains("before"), "{err}");
        let err = Filter::parse(&FilterParams::default(), &Scope::operator()).unwrap_err();
        assert!(err.to_string().contains("from"), "{err}");
    }

    #[test]
    fn every_value_is_checked() {
        let s = Scope::operator();
        for (field, bad) in [
            ("function", "8"),
            ("industry", "Z"),
            ("enterprise_size", "large"),
            ("level", "gold"),
        ] {
            let mut p = params("2026-M01", "2026-M03");
            match field {
                "function" => p.function = Some(bad.into()),
                "industry" => p.industry = Some(bad.into()),
                "enterprise_size" => p.enterprise_size = Some(bad.into()),
                _ => p.level = Some(bad.into()),
            }
            let err = Filter::parse(&p, &s).unwrap_err();
            assert!(err.to_string().contains(field), "{err}");
        }
        let mut p = params("2026-M01", "2026-M03");
        p.function = Some("3".into());
        p.industry = Some("C".into());
        p.enterprise_size = Some("small".into());
        p.level = Some("national_demo".into());
        let f = Filter::parse(&p, &s).unwrap();
        assert_eq!(f.periods().len(), 3);
        assert_eq!((f.function(), f.industry()), (Some(3), Some("C")));
        assert!(f.needs_records());
    }

    #[test]
    fn the_region_goes_through_the_scope() {
        let gd = Scope::for_user(Role::Coordinator, Some("440000")).unwrap();
        let mut p = params("2026-M01", "2026-M01");
        assert_eq!(Filter::parse(&p, &gd).unwrap().region(), "440000");
        p.region = Some("440300".into());
        assert_eq!(Filter::parse(&p, &gd).unwrap().region(), "440300");
        p.region = Some("110000".into());
        assert!(matches!(
            Filter::parse(&p, &gd),
            Err(FilterError::Scope(ScopeError::OutsideScope { .. }))
        ));
    }
}
