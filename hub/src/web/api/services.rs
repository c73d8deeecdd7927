//! Figures on the services rendered: service volume (domain §7.2) and enterprise satisfaction
//! (§7.4). Thin: the query string becomes a [`FilterParams`] checked by [`Filter::parse`]
//! against the caller's scope, and the view of [`crate::analytics`] is returned as it is.
//!
//! A region outside the caller's scope is 403 (`outside-scope`, audited by the guard like every
//! refusal); any other unusable value is 400 naming the parameter.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{ApiState, Caller};
use super::problem::{ApiError, Problem};
use super::Q;
use crate::access::AccessError;
use crate::analytics::satisfaction::{self, SatisfactionBy, SatisfactionView};
use crate::analytics::volume::{self, VolumeBy, VolumeView};
use crate::analytics::{Filter, FilterError, FilterParams};

/// `?by=function&from=2026-M01&to=2026-M06&region=440000&function=3&industry=C&enterprise_size=small&level=none`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct VolumeQuery {
    /// Key of the rows: `function` (default), `region` (one level below `region`), `period`,
    /// `industry` or `enterprise_size` (the last two counted from service records).
    pub by: Option<String>,
    /// First period, e.g. `2026-M01` (`2026-Q1`, `2026-A`): one kind for the whole range.
    pub from: String,
    /// Last period, same kind as `from`; default `from`.
    pub to: Option<String>,
    /// 6-digit region code within your scope; default your whole scope.
    pub region: Option<String>,
    /// Service function 1–7.
    pub function: Option<String>,
    /// GB/T 4754-2017 section letter A–T of the served enterprise (from service records).
    pub industry: Option<String>,
    /// `micro`, `small` or `medium` (served enterprise; from service records).
    pub enterprise_size: Option<String>,
    /// Platform level: `none`, `provincial_demo` or `national_demo`.
    pub level: Option<String>,
}

/// `?by=region&from=2026-M01&to=2026-M06&region=440000&level=none`
///
/// No `function`, `industry` or `enterprise_size`: the satisfaction sections are per report,
/// not per function or served enterprise, so those are refused (400) rather than ignored.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SatisfactionQuery {
    /// Key of the rows: `region` (default; one level below `region`) or `period`.
    pub by: Option<String>,
    /// First period, e.g. `2026-M01`.
    pub from: String,
    /// Last period, same kind as `from`; default `from`.
    pub to: Option<String>,
    /// 6-digit region code within your scope; default your whole scope.
    pub region: Option<String>,
    /// Platform level: `none`, `provincial_demo` or `national_demo`.
    pub level: Option<String>,
}

/// Checks the filter values against the caller's scope; the hub's calendar decides which
/// registry was in force for a period.
fn filter(state: &ApiState, caller: &Caller, params: FilterParams) -> Result<Filter, ApiError> {
    let parsed = Filter::parse(&params, &caller.scope).map_err(|e| match e {
        FilterError::Scope(s) => AccessError::Scope(s).into(),
        FilterError::Invalid {
            parameter,
            value,
            reason,
        } => ApiError::invalid(
            parameter,
            format!("{parameter}={value:?}: {reason}"),
            format!("筛选参数 {parameter}={value:?} 无效：{reason}"),
        ),
    })?;
    Ok(parsed.with_calendar(&state.calendar))
}

fn bad_by(value: &str, accepted: &str) -> ApiError {
    ApiError::invalid(
        "by",
        format!("by={value:?} is not a key of this view; use {accepted}"),
        format!("by={value:?} 无效，可选：{accepted}"),
    )
}

/// Service volume: services, free vs paid, revenue and person-times, keyed `by`.
#[utoipa::path(get, path = "/api/v1/analytics/volume", tag = "analytics", params(VolumeQuery),
    responses(
        (status = 200, body = VolumeView),
        (status = 400, description = "A parameter is unusable (named in `field`)", body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "Region outside your scope", body = Problem),
    ))]
pub async fn volume(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<VolumeQuery>,
) -> Result<Json<VolumeView>, ApiError> {
    let f = filter(
        &state,
        &caller,
        FilterParams {
            from: Some(q.from),
            to: q.to,
            region: q.region,
            function: q.function,
            industry: q.industry,
            enterprise_size: q.enterprise_size,
            level: q.level,
        },
    )?;
    let by = match q.by.as_deref().map(str::trim) {
        None | Some("function") => VolumeBy::Function,
        Some("region") => VolumeBy::Region,
        Some("period") => VolumeBy::Period,
        Some("industry") => VolumeBy::Industry,
        Some("enterprise_size") => VolumeBy::EnterpriseSize,
        Some(other) => {
            return Err(bad_by(
                other,
                "function, region, period, industry or enterprise_size",
            ))
        }
    };
    volume::volume(&state.store, &caller.scope, &f, by)
        .await
        .map(Json)
        .map_err(|e| ApiError::store(&e))
}

/// Enterprise satisfaction: rate, mean score, change against the previous range, keyed `by`.
#[utoipa::path(get, path = "/api/v1/analytics/satisfaction", tag = "analytics",
    params(SatisfactionQuery),
    responses(
        (status = 200, body = SatisfactionView),
        (status = 400, description = "A parameter is unusable (named in `field`)", body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "Region outside your scope", body = Problem),
    ))]
pub async fn satisfaction(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<SatisfactionQuery>,
) -> Result<Json<SatisfactionView>, ApiError> {
    let f = filter(
        &state,
        &caller,
        FilterParams {
            from: Some(q.from),
            to: q.to,
            region: q.region,
            level: q.level,
            ..FilterParams::default()
        },
    )?;
    let by = match q.by.as_deref().map(str::trim) {
        None | Some("region") => SatisfactionBy::Region,
        Some("period") => SatisfactionBy::Period,
        Some(other) => return Err(bad_by(other, "region or period")),
    };
    satisfaction::satisfaction(&state.store, &caller.scope, &f, by)
        .await
        .map(Json)
        .map_err(|e| ApiError::store(&e))
}
