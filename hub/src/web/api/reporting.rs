//! Reporting routes: completeness with the missing platforms, the calendar, reopenings.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sme_proto::period::PeriodKind;
use utoipa::{IntoParams, ToSchema};

use super::auth::{ApiState, Caller, Done};
use super::problem::{ApiError, Problem};
use super::Q;
use super::{parse_json, parse_period, rfc3339};
use crate::access;
use crate::analytics::completeness::{Completeness, RegionCompleteness};
use crate::reporting::periods::{ReopenTarget, Reopening};

/// `?period=2026-M05&region=440000`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CompletenessQuery {
    /// Period: `2026-M05`, `2026-Q2` or `2026-A`.
    pub period: String,
    /// Region code within your scope; default your whole scope.
    pub region: Option<String>,
}

/// A platform that has not reported.
#[derive(Debug, Serialize, ToSchema)]
pub struct MissingPlatformDto {
    /// Credit code.
    pub credit_code: String,
    /// Name.
    pub name: String,
    /// Registry region.
    pub region_code: String,
}

/// Completeness of one region.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionCompletenessDto {
    /// Region code.
    pub region_code: String,
    /// Region name.
    pub region_name: String,
    /// Platforms expected to report.
    pub expected: u64,
    /// Of them, reported (each once, whatever the revisions).
    pub received: u64,
    /// Of them, first report by the due time.
    pub on_time: u64,
    /// received ÷ expected (0 when nothing is expected).
    pub rate: f64,
    /// on_time ÷ expected.
    pub on_time_rate: f64,
    /// Expected platforms without a report.
    pub missing: Vec<MissingPlatformDto>,
}

/// Completeness and timeliness of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompletenessDto {
    /// The period.
    pub period: String,
    /// Its due time (RFC 3339).
    pub due_at: String,
    /// The region answered for.
    pub region: String,
    /// One level below it.
    pub regions: Vec<RegionCompletenessDto>,
    /// The whole region.
    pub total: RegionCompletenessDto,
}

fn region_dto(r: &RegionCompleteness) -> RegionCompletenessDto {
    RegionCompletenessDto {
        region_code: r.region_code.clone(),
        region_name: r.region_name.clone(),
        expected: r.expected,
        received: r.received,
        on_time: r.on_time,
        rate: r.rate(),
        on_time_rate: r.on_time_rate(),
        missing: r
            .missing
            .iter()
            .map(|m| MissingPlatformDto {
                credit_code: m.credit_code.clone(),
                name: m.name.clone(),
                region_code: m.region_code.clone(),
            })
            .collect(),
    }
}

impl From<&Completeness> for CompletenessDto {
    fn from(c: &Completeness) -> Self {
        CompletenessDto {
            period: c.period.to_string(),
            due_at: rfc3339(c.due_at),
            region: c.scope.clone(),
            regions: c.regions.iter().map(region_dto).collect(),
            total: region_dto(&c.total),
        }
    }
}

/// Reporting completeness and timeliness by region, with the missing platforms.
#[utoipa::path(get, path = "/api/v1/completeness", tag = "reporting", params(CompletenessQuery),
    responses(
        (status = 200, body = CompletenessDto),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "Region outside your scope", body = Problem),
    ))]
pub async fn completeness(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<CompletenessQuery>,
) -> Result<Json<CompletenessDto>, ApiError> {
    let period = parse_period(&q.period)?;
    let c = access::completeness(
        &state.store,
        &state.calendar,
        &caller.scope,
        &period,
        q.region.as_deref(),
    )
    .await?;
    Ok(Json((&c).into()))
}

/// `?kind=month&count=12`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CalendarQuery {
    /// `month` (default), `quarter` or `year`.
    pub kind: Option<String>,
    /// How many periods, the current one included (default 12, at most 120).
    pub count: Option<usize>,
}

/// One period of the calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarPeriodDto {
    /// `2026-M05`.
    pub period: String,
    /// First day (UTC+8).
    pub first_day: String,
    /// Last day (UTC+8).
    pub last_day: String,
    /// Due time (RFC 3339).
    pub due_at: String,
    /// Calendar lock time (RFC 3339); reopenings may extend it for some platforms.
    pub locks_at: String,
    /// `in_progress`, `open`, `overdue` or `locked`.
    pub state: String,
}

/// The reporting calendar: recent periods with due and lock times.
#[utoipa::path(get, path = "/api/v1/calendar", tag = "reporting", params(CalendarQuery),
    responses((status = 200, body = [CalendarPeriodDto]), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn calendar(
    State(state): State<ApiState>,
    _caller: Caller,
    Q(q): Q<CalendarQuery>,
) -> Result<Json<Vec<CalendarPeriodDto>>, ApiError> {
    let kind = match q.kind.as_deref() {
        None => PeriodKind::Month,
        Some(k) => crate::cli::args::parse_kind(k)
            .map_err(|e| ApiError::invalid("kind", e, "kind 应为 month、quarter 或 year"))?,
    };
    let count = q.count.unwrap_or(12);
    if !(1..=120).contains(&count) {
        return Err(ApiError::invalid(
            "count",
            "count must be 1 to 120",
            "count 应在 1 到 120 之间",
        ));
    }
    let now = state.clock.now();
    let cal = &state.calendar;
    let periods = sme_proto::period::current_and_recent(now, kind, count - 1)
        .into_iter()
        .map(|p| CalendarPeriodDto {
            period: p.to_string(),
            first_day: p.first_day().to_string(),
            last_day: p.last_day().to_string(),
            due_at: rfc3339(cal.due_at(&p)),
            locks_at: rfc3339(cal.locks_at(&p)),
            state: if !p.has_ended(now) {
                "in_progress"
            } else if cal.is_locked(&p, now) {
                "locked"
            } else if now > cal.due_at(&p) {
                "overdue"
            } else {
                "open"
            }
            .to_owned(),
        })
        .collect();
    Ok(Json(periods))
}

/// `?period=2026-M05&region=440000`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReopeningsQuery {
    /// Only this period.
    pub period: Option<String>,
    /// Region within your scope; default your whole scope.
    pub region: Option<String>,
}

/// A recorded reopening.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReopeningDto {
    /// Id.
    pub id: String,
    /// When (RFC 3339).
    pub reopened_at: String,
    /// Period.
    pub period: String,
    /// `platform` or `region`.
    pub target: String,
    /// The platform's credit code, or the region code.
    pub target_id: String,
    /// Region of the target.
    pub region_code: String,
    /// Locked again from (RFC 3339).
    pub until: String,
    /// Who.
    pub by_name: String,
    /// Their region.
    pub by_region: String,
    /// Why.
    pub reason: String,
}

impl From<&Reopening> for ReopeningDto {
    fn from(r: &Reopening) -> Self {
        let (target, target_id) = match &r.target {
            ReopenTarget::Platform(p) => ("platform", p.clone()),
            ReopenTarget::Region(c) => ("region", c.clone()),
        };
        ReopeningDto {
            id: r.id.to_string(),
            reopened_at: rfc3339(r.reopened_at),
            period: r.period.clone(),
            target: target.to_owned(),
            target_id,
            region_code: r.region_code.clone(),
            until: rfc3339(r.until),
            by_name: r.by_name.clone(),
            by_region: r.by_region.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// Reopenings within your scope.
#[utoipa::path(get, path = "/api/v1/reopenings", tag = "reporting", params(ReopeningsQuery),
    responses((status = 200, body = [ReopeningDto]), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn reopenings(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<ReopeningsQuery>,
) -> Result<Json<Vec<ReopeningDto>>, ApiError> {
    let period = q.period.as_deref().map(parse_period).transpose()?;
    let list = access::reopenings(
        &state.store,
        &caller.scope,
        q.region.as_deref(),
        period.as_ref(),
    )
    .await?;
    Ok(Json(list.iter().map(ReopeningDto::from).collect()))
}

/// Reopen a locked period for one platform or a region.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReopenBody {
    /// The period, e.g. `2026-M05`.
    pub period: String,
    /// One platform (credit code); or give `region`.
    pub platform: Option<String>,
    /// Every platform of a region (6-digit code within your scope).
    pub region: Option<String>,
    /// Why (recorded).
    pub reason: String,
    /// Last day reports are accepted, `YYYY-MM-DD` (UTC+8); default `[periods] reopen_days`.
    pub until: Option<String>,
}

/// Reopens a locked period (coordinators within their region, admins).
#[utoipa::path(post, path = "/api/v1/reopenings", tag = "reporting", request_body = ReopenBody,
    responses(
        (status = 201, body = ReopeningDto),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "Planner, target outside your scope, or CSRF", body = Problem),
        (status = 422, description = "Refused (e.g. not locked, until too early)", body = Problem),
    ))]
pub async fn reopen(
    State(state): State<ApiState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: ReopenBody = parse_json(&body)?;
    let period = parse_period(&b.period)?;
    let target = match (b.platform, b.region) {
        (Some(p), None) => ReopenTarget::Platform(p),
        (None, Some(r)) => ReopenTarget::Region(r),
        _ => {
            return Err(ApiError::invalid(
                "platform",
                "give exactly one of platform and region",
                "platform 与 region 须且只能给出一个",
            ))
        }
    };
    let until =
        b.until
            .as_deref()
            .map(|u| {
                time::Date::parse(u, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| {
                        ApiError::invalid(
                            "until",
                            format!("{u:?} is not a date YYYY-MM-DD"),
                            "until 应为 YYYY-MM-DD 日期",
                        )
                    })
            })
            .transpose()?;
    let r = access::reopen(
        &state.store,
        &state.calendar,
        &caller.scope,
        caller.role(),
        &caller.user.name,
        access::Reopen {
            target,
            period,
            reason: b.reason,
            until,
        },
        state.clock.now(),
        state.reopen_days,
    )
    .await?;
    let dto = ReopeningDto::from(&r);
    let mut response = (StatusCode::CREATED, Json(&dto)).into_response();
    response.extensions_mut().insert(Done {
        action: "reopen",
        detail: format!(
            "{} {} {} until {}: {}",
            dto.period, dto.target, dto.target_id, dto.until, dto.reason
        ),
    });
    Ok(response)
}
