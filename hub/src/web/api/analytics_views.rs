//! Analytics routes of views 1 (layout and coverage), 3 (staff and basic conditions), 6
//! (demo-platform candidates) and 7 (one platform's history):
//! parse the filter with the caller's scope, call the view, serialise. A region or platform
//! outside the scope is 403 (audited by the guard like every refusal), a filter value the view
//! cannot read is 400 naming it.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{ApiState, Caller};
use super::problem::{ApiError, Problem};
use super::Q;
use crate::access::AccessError;
use crate::analytics::demo::{self, DemoView, TierFilter};
use crate::analytics::layout::{self, LayoutView};
use crate::analytics::platform::{self, PlatformHistory};
use crate::analytics::staff::{self, StaffView};
use crate::analytics::{Filter, FilterError, FilterParams, ScopeError, ViewError};

/// The problem for a view's error: 400 for a filter value, 403 outside the scope (`field`
/// names what was asked for), 404 for an unknown platform, 503 for the store.
pub fn view_error(e: ViewError, field: &str) -> ApiError {
    match e {
        ViewError::Filter(FilterError::Invalid {
            parameter,
            value,
            reason,
        }) => ApiError::invalid(
            parameter,
            format!("filter parameter {parameter}={value:?}: {reason}"),
            format!("筛选参数 {parameter} 无效：{reason}"),
        ),
        ViewError::Filter(FilterError::Scope(s)) | ViewError::Scope(s) => {
            let malformed = matches!(s, ScopeError::Malformed(_));
            let err = ApiError::from(AccessError::Scope(s));
            if malformed {
                err
            } else {
                err.field(field)
            }
        }
        ViewError::UnknownPlatform(p) => ApiError::from(AccessError::UnknownPlatform(p)),
        ViewError::Store(s) => ApiError::store(&s),
    }
}

/// The query's filter, checked against the caller's scope, with the hub's calendar.
fn parse_filter(
    state: &ApiState,
    caller: &Caller,
    params: &FilterParams,
) -> Result<Filter, ApiError> {
    Ok(Filter::parse(params, &caller.scope)
        .map_err(|e| view_error(e.into(), "region"))?
        .with_calendar(&state.calendar))
}

/// Staff and basic conditions (W101–W103), degree-share distribution and service-revenue
/// share by region; quarterly or annual periods.
#[utoipa::path(get, path = "/api/v1/analytics/staff", tag = "analytics", params(FilterParams),
    responses(
        (status = 200, body = StaffView),
        (status = 400, description = "A filter value, or monthly periods", body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "Region outside your scope", body = Problem),
    ))]
pub async fn staff(
    State(state): State<ApiState>,
    caller: Caller,
    Q(params): Q<FilterParams>,
) -> Result<Json<StaffView>, ApiError> {
    let filter = parse_filter(&state, &caller, &params)?;
    staff::staff(&state.store, &caller.scope, &filter)
        .await
        .map(Json)
        .map_err(|e| view_error(e, "region"))
}

/// One platform's history over a period range: per period expected, current report,
/// revisions, on time, services, satisfaction, staff and finance.
#[utoipa::path(get, path = "/api/v1/analytics/platforms/{credit_code}/history", tag = "analytics",
    params(("credit_code" = String, Path, description = "Unified social credit code"), FilterParams),
    responses(
        (status = 200, body = PlatformHistory),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "Platform outside your scope", body = Problem),
        (status = 404, description = "Not in the registry", body = Problem),
    ))]
pub async fn platform_history(
    State(state): State<ApiState>,
    caller: Caller,
    Path(credit_code): Path<String>,
    Q(params): Q<FilterParams>,
) -> Result<Json<PlatformHistory>, ApiError> {
    let filter = parse_filter(&state, &caller, &params)?;
    platform::history(
        &state.store,
        &state.calendar,
        &caller.scope,
        &credit_code,
        &filter,
    )
    .await
    .map(Json)
    .map_err(|e| view_error(e, "platform"))
}

/// Layout and coverage per region one level below: active platforms, SMEs, platforms per
/// 10 000 SMEs, firms reached in the 12 months ending with `to` (or `from`), functions without
/// provider, and the ranked "where to build next" list with its formula.
#[utoipa::path(get, path = "/api/v1/analytics/layout", tag = "analytics", params(FilterParams),
    responses(
        (status = 200, body = LayoutView),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "Region outside your scope", body = Problem),
    ))]
pub async fn layout(
    State(state): State<ApiState>,
    caller: Caller,
    Q(params): Q<FilterParams>,
) -> Result<Json<LayoutView>, ApiError> {
    let filter = parse_filter(&state, &caller, &params)?;
    layout::layout(&state.store, &caller.scope, &filter)
        .await
        .map(Json)
        .map_err(|e| view_error(e, "region"))
}

/// Most candidates one answer lists.
pub const MAX_CANDIDATES: usize = 1000;

/// `?from=2026-M06&region=440000&level=none&tier=basic&limit=100`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DemoQuery {
    /// The window is the 12 months ending with the last month of `to` (or `from`).
    pub from: String,
    /// Last period; default `from`.
    pub to: Option<String>,
    /// 6-digit region code within your scope; default your whole scope.
    pub region: Option<String>,
    /// Platform level: `none`, `provincial_demo` or `national_demo`.
    pub level: Option<String>,
    /// `all`, `basic` (default: basic conditions met) or `national`.
    pub tier: Option<String>,
    /// Candidates listed, 1–1000 (default 100); `truncated` says how many more there are.
    pub limit: Option<usize>,
}

/// Demo-platform candidates: every gate of the basic conditions and the national thresholds
/// and every score component, thresholds and weights from `[demo]`.
#[utoipa::path(get, path = "/api/v1/analytics/demo-candidates", tag = "analytics", params(DemoQuery),
    responses(
        (status = 200, body = DemoView),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "Region outside your scope", body = Problem),
    ))]
pub async fn demo_candidates(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<DemoQuery>,
) -> Result<Json<DemoView>, ApiError> {
    let tier = match q.tier.as_deref().unwrap_or("basic") {
        "all" => TierFilter::All,
        "basic" => TierFilter::Basic,
        "national" => TierFilter::National,
        other => {
            return Err(ApiError::invalid(
                "tier",
                format!("tier={other:?}: use all, basic or national"),
                format!("tier={other:?} 无效：可用 all、basic 或 national"),
            ))
        }
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_CANDIDATES).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit={limit}: use 1 to {MAX_CANDIDATES}"),
            format!("limit={limit} 无效：取值 1 至 {MAX_CANDIDATES}"),
        ));
    }
    let params = FilterParams {
        from: Some(q.from),
        to: q.to,
        region: q.region,
        level: q.level,
        ..FilterParams::default()
    };
    let filter = parse_filter(&state, &caller, &params)?;
    demo::candidates(
        &state.store,
        &state.calendar,
        &state.demo,
        &caller.scope,
        &filter,
        tier,
        limit,
    )
    .await
    .map(Json)
    .map_err(|e| view_error(e, "region"))
}
