//! The JSON API under `/api/v1/` (planners, coordinators, admins), described by the OpenAPI 3
//! document at `/api/v1/openapi.json`, generated from these handlers and their types.
//!
//! Handlers are thin: parse, authorise (a [`auth::Caller`] and its scope), call
//! [`crate::access`] or [`crate::analytics`] with the scope, serialise. Errors are
//! `application/problem+json` ([`problem`]).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/v1/session`, `DELETE /api/v1/session`, `GET /api/v1/me` | everyone |
//! | `GET /api/v1/completeness`, `/calendar`, `/reopenings`, `/platforms`, `/platforms/{id}` | every role, within scope |
//! | `GET /api/v1/analytics/volume`, `/analytics/satisfaction` | every role, within scope |
//! | `POST /api/v1/reopenings` | coordinators (their region), admins |
//! | `POST /api/v1/registry/imports` | coordinators (platforms of their region), admins |
//! | `POST /api/v1/sme-counts/imports` | planners, admins |
//! | `GET /api/v1/analytics/layout`, `/analytics/staff`, `/analytics/demo-candidates`, `/analytics/platforms/{id}/history` | every role, within scope |
//! | `GET /api/v1/exports` (CSV, XLSX, SDMX-CSV, NDJSON downloads) | every role, within scope |
//! | `GET /api/v1/dashboards` (the dashboard definitions) | every role |
//! | `GET /api/v1/openapi.json` | anyone, no login |

pub mod analytics_views;
pub mod audit;
pub mod auth;
pub mod definitions;
pub mod exports;
pub mod problem;
pub mod registry;
pub mod reporting;
pub mod services;
pub mod session;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use sme_proto::period::Period;
use time::OffsetDateTime;
use utoipa::OpenApi;

pub use auth::{ApiInner, ApiState, Peer};
use problem::ApiError;

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "SME Platform Reporting hub API (中小企业公共服务平台数据直报 汇聚中心)",
        description = "Log in with POST /api/v1/session; the session cookie (HttpOnly, Secure, SameSite=Strict) authenticates later requests, and state-changing requests carry the session's csrf_token in an X-CSRF-Token header. A coordinator sees one region and everything below it: asking for anything outside is 403 and audited. Errors are application/problem+json (RFC 9457) with a stable type, English and Chinese text and the field at fault."
    ),
    paths(
        session::login, session::logout, session::me,
        reporting::completeness, reporting::calendar, reporting::reopenings, reporting::reopen,
        registry::platforms, registry::platform, registry::registry_import, registry::sme_count_import,
        analytics_views::layout, analytics_views::staff, analytics_views::platform_history,
        analytics_views::demo_candidates, exports::export,
        services::volume, services::satisfaction,
        definitions::dashboards,
    ),
    tags(
        (name = "session", description = "Login and logout"),
        (name = "reporting", description = "Completeness, calendar, reopenings"),
        (name = "registry", description = "Platforms and reference data"),
        (name = "analytics", description = "The figures of domain §7, within your scope"),
        (name = "dashboards", description = "The dashboard definitions the web pages are drawn from"),
    )
)]
pub struct ApiDoc;

/// Every `/api/v1/` route, with the origin check and the audit around them.
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/session",
            post(session::login).delete(session::logout),
        )
        .route("/api/v1/me", get(session::me))
        .route("/api/v1/dashboards", get(definitions::dashboards))
        .route("/api/v1/completeness", get(reporting::completeness))
        .route("/api/v1/calendar", get(reporting::calendar))
        .route(
            "/api/v1/reopenings",
            get(reporting::reopenings).post(reporting::reopen),
        )
        .route("/api/v1/analytics/volume", get(services::volume))
        .route(
            "/api/v1/analytics/satisfaction",
            get(services::satisfaction),
        )
        .route("/api/v1/platforms", get(registry::platforms))
        .route("/api/v1/platforms/{credit_code}", get(registry::platform))
        .route("/api/v1/registry/imports", post(registry::registry_import))
        .route(
            "/api/v1/sme-counts/imports",
            post(registry::sme_count_import),
        )
        .route("/api/v1/analytics/layout", get(analytics_views::layout))
        .route("/api/v1/exports", get(exports::export))
        .route("/api/v1/analytics/staff", get(analytics_views::staff))
        .route(
            "/api/v1/analytics/demo-candidates",
            get(analytics_views::demo_candidates),
        )
        .route(
            "/api/v1/analytics/platforms/{credit_code}/history",
            get(analytics_views::platform_history),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(
            state.max_upload_bytes + 1,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state);
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .merge(api)
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
    )
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        ("Not found", "未找到"),
        "no such API route; GET /api/v1/openapi.json lists them",
        "没有该接口；接口列表见 GET /api/v1/openapi.json",
    )
}

/// Query parameters, refused as a problem (400) naming what is wrong.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(t)| Q(t))
            .map_err(|e| {
                let text = e.body_text();
                let field = text.split('`').nth(1).unwrap_or("query").to_owned();
                ApiError::invalid(&field, text, "查询参数无效")
            })
    }
}

/// A JSON body, refused as a problem (400) naming the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let text = e.to_string();
        let field = text.split('`').nth(1).unwrap_or("body").to_owned();
        ApiError::invalid(
            &field,
            format!("the JSON body is not usable: {text}"),
            "请求体 JSON 无效",
        )
    })
}

/// A period code, refused as a problem naming `period`.
pub fn parse_period(s: &str) -> Result<Period, ApiError> {
    s.parse().map_err(|e| {
        ApiError::invalid(
            "period",
            format!("{s:?} is not a period ({e}); write 2026-M05, 2026-Q2 or 2026-A"),
            "报告期格式应为 2026-M05、2026-Q2 或 2026-A",
        )
    })
}

/// RFC 3339 in UTC+8.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(sme_proto::period::CST)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
