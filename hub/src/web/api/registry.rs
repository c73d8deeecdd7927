//! Registry routes: platforms of the scope, one platform's drill-down, and registry and
//! SME-count uploads with a dry-run preview.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::auth::{ApiState, Caller, Done};
use super::problem::{ApiError, Problem};
use super::reporting::ReopeningDto;
use super::rfc3339;
use super::Q;
use crate::access;
use crate::registry::import::{ImportOptions, Kind};
use crate::registry::Platform;

/// `?region=440000`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PlatformsQuery {
    /// Region within your scope; default your whole scope.
    pub region: Option<String>,
}

/// A platform as registered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformDto {
    /// Unified social credit code.
    pub credit_code: String,
    /// Name.
    pub name: String,
    /// Region it is counted under.
    pub region_code: String,
    /// GB/T 4754 section letter, or empty.
    pub industry: String,
    /// `comprehensive` or `specialized`.
    pub platform_type: String,
    /// Demonstration level.
    pub level: String,
    /// Independent legal person.
    pub independent_legal_person: bool,
    /// First operating day.
    pub registered: String,
    /// First day no longer operating.
    pub closed: Option<String>,
    /// Import warnings (English).
    pub warnings: Vec<String>,
    /// When this version was written (RFC 3339).
    pub updated_at: String,
}

impl From<&Platform> for PlatformDto {
    fn from(p: &Platform) -> Self {
        PlatformDto {
            credit_code: p.credit_code.clone(),
            name: p.name.clone(),
            region_code: p.region_code.clone(),
            industry: p.industry.clone(),
            platform_type: p.platform_type.as_str().to_owned(),
            level: p.level.as_str().to_owned(),
            independent_legal_person: p.independent_legal_person,
            registered: p.registered.to_string(),
            closed: p.closed.map(|d| d.to_string()),
            warnings: p.warnings.iter().map(|w| w.en.clone()).collect(),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

/// Platforms registered in your scope (current versions).
#[utoipa::path(get, path = "/api/v1/platforms", tag = "registry", params(PlatformsQuery),
    responses((status = 200, body = [PlatformDto]), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn platforms(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<PlatformsQuery>,
) -> Result<Json<Vec<PlatformDto>>, ApiError> {
    let list = access::platforms(&state.store, &caller.scope, q.region.as_deref()).await?;
    Ok(Json(list.iter().map(PlatformDto::from).collect()))
}

/// A period of a platform's calendar.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformPeriodDto {
    /// Period.
    pub period: String,
    /// Lock time for this platform (RFC 3339), reopenings included.
    pub locks_at: Option<String>,
    /// Locked now.
    pub locked: bool,
    /// The hub has an accepted report.
    pub received: bool,
}

/// One platform: registry versions, reopenings and its open periods.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformDetailDto {
    /// Current version.
    pub platform: PlatformDto,
    /// Every version, newest first.
    pub history: Vec<PlatformDto>,
    /// Reopenings covering it.
    pub reopenings: Vec<ReopeningDto>,
    /// Periods it may still report.
    pub calendar: Vec<PlatformPeriodDto>,
}

/// One platform's drill-down (403 when it is registered outside your scope).
#[utoipa::path(get, path = "/api/v1/platforms/{credit_code}", tag = "registry",
    params(("credit_code" = String, Path, description = "Unified social credit code")),
    responses((status = 200, body = PlatformDetailDto), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn platform(
    State(state): State<ApiState>,
    caller: Caller,
    Path(credit_code): Path<String>,
) -> Result<Json<PlatformDetailDto>, ApiError> {
    let d = access::platform(
        &state.store,
        &state.calendar,
        &caller.scope,
        &credit_code,
        state.clock.now(),
    )
    .await?;
    Ok(Json(PlatformDetailDto {
        platform: (&d.platform).into(),
        history: d.history.iter().map(PlatformDto::from).collect(),
        reopenings: d.reopenings.iter().map(ReopeningDto::from).collect(),
        calendar: d
            .calendar
            .iter()
            .map(|c| PlatformPeriodDto {
                period: c.period.clone(),
                locks_at: c.locks_at.and_then(|t| {
                    time::OffsetDateTime::from_unix_timestamp(t.seconds)
                        .ok()
                        .map(rfc3339)
                }),
                locked: c.locked,
                received: c.received,
            })
            .collect(),
    }))
}

/// `?file_name=platforms.csv&dry_run=true`
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The file's name; `.xlsx` is read as a workbook, anything else as CSV (UTF-8 or GBK).
    pub file_name: String,
    /// `platforms` or `divisions` (default: told by the headers).
    pub kind: Option<String>,
    /// Revision of a divisions file without a revision column.
    pub revision: Option<u32>,
    /// Check and preview only (default true).
    pub dry_run: Option<bool>,
    /// To import, the `sha256` of the preview of this same file.
    pub confirm_sha256: Option<String>,
}

/// A preview or the result of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportDto {
    /// `platforms`, `divisions` or `sme-counts`.
    pub kind: String,
    /// Data rows in the file.
    pub rows: usize,
    /// Rows new or changed (written, or that would be).
    pub changed: usize,
    /// Warnings per row (English / Chinese).
    pub warnings: Vec<String>,
    /// Nothing was written.
    pub dry_run: bool,
    /// SHA-256 of the file: pass it as `confirm_sha256` to import what was previewed.
    pub sha256: String,
}

async fn upload(
    state: ApiState,
    caller: Caller,
    q: ImportQuery,
    forced: Option<Kind>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.len() > state.max_upload_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            ("File too large", "文件过大"),
            format!(
                "the file has {} bytes; at most {} are accepted ([web] max_upload_bytes)",
                body.len(),
                state.max_upload_bytes
            ),
            "文件超过上传大小限制",
        )
        .field("file"));
    }
    let kind = match (forced, q.kind.as_deref()) {
        (Some(k), _) => Some(k),
        (None, None) => None,
        (None, Some(k)) => Some(
            k.parse::<Kind>()
                .map_err(|e| ApiError::invalid("kind", e, "kind 应为 platforms 或 divisions"))?,
        ),
    };
    let sha256 = hex::encode(Sha256::digest(&body));
    let dry_run = q.dry_run.unwrap_or(true);
    if !dry_run && q.confirm_sha256.as_deref() != Some(sha256.as_str()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "preview-first",
            ("Preview the file first", "请先预览"),
            "to import, first upload the file with dry_run=true and pass the sha256 of that preview as confirm_sha256 (this file differs from the one previewed, or none was)",
            "导入前请先以 dry_run=true 预览，并以预览返回的 sha256 作为 confirm_sha256",
        )
        .field("confirm_sha256"));
    }
    let options = ImportOptions {
        kind,
        revision: q.revision,
        by: caller.user.name.clone(),
        dry_run,
    };
    let report = access::import(
        &state.store,
        &caller.scope,
        caller.role(),
        &q.file_name,
        &body,
        &options,
        state.clock.now(),
    )
    .await?;
    let dto = ImportDto {
        kind: report.kind.as_str().to_owned(),
        rows: report.rows,
        changed: report.changed,
        warnings: report
            .warnings
            .iter()
            .map(|w| {
                format!(
                    "{} {}: {} / {}",
                    w.location, w.key, w.warning.en, w.warning.zh
                )
            })
            .collect(),
        dry_run,
        sha256,
    };
    let mut response = Json(&dto).into_response();
    response.extensions_mut().insert(Done {
        action: if dry_run { "import-preview" } else { "import" },
        detail: format!(
            "{} {}: {} rows, {} changed, sha256 {}",
            dto.kind, q.file_name, dto.rows, dto.changed, dto.sha256
        ),
    });
    Ok(response)
}

/// Upload a registry file (platforms: coordinators within their region and admins; divisions:
/// admins). The body is the file. `dry_run=true` (the default) checks it and previews; then
/// send the same file with `dry_run=false&confirm_sha256=…` to import it.
#[utoipa::path(post, path = "/api/v1/registry/imports", tag = "registry", params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, body = ImportDto),
        (status = 401, body = Problem),
        (status = 403, description = "Role, a row outside your scope, or CSRF", body = Problem),
        (status = 409, description = "Import without a matching preview", body = Problem),
        (status = 422, description = "Row-level problems; nothing imported", body = Problem),
    ))]
pub async fn registry_import(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<ImportQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if q.kind.as_deref().and_then(|k| k.parse::<Kind>().ok()) == Some(Kind::SmeCounts) {
        return Err(ApiError::invalid(
            "kind",
            "SME counts are uploaded to /api/v1/sme-counts/imports",
            "中小企业数请上传至 /api/v1/sme-counts/imports",
        ));
    }
    upload(state, caller, q, None, body).await
}

/// Upload SME counts per region and year (planners and admins), with the same dry-run preview.
#[utoipa::path(post, path = "/api/v1/sme-counts/imports", tag = "registry", params(ImportQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, body = ImportDto),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem),
    ))]
pub async fn sme_count_import(
    State(state): State<ApiState>,
    caller: Caller,
    Q(q): Q<ImportQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    upload(state, caller, q, Some(Kind::SmeCounts), body).await
}
