//! Errors of the JSON API as `application/problem+json` (RFC 9457): a stable `type`
//! (`urn:sme-hub:problem:<slug>`), the HTTP status, a title and detail in English and Chinese,
//! the request field at fault, and for rejected files every row-level problem.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::AccessError;
use crate::registry::import::ImportError;
use crate::reporting::periods::ReopenError;
use crate::store::StoreError;

/// A problem detail (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:sme-hub:problem:outside-scope`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short English title of the kind.
    pub title: String,
    /// Short Chinese title of the kind.
    pub title_zh: String,
    /// HTTP status.
    pub status: u16,
    /// What was wrong here and what to do, in English.
    pub detail: String,
    /// The same in Chinese.
    pub detail_zh: String,
    /// The request field at fault (query parameter or JSON member), if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Row-level problems of a rejected file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<RowProblem>,
}

/// One problem of an uploaded file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowProblem {
    /// Where: `line 3`, `Sheet1!B4`, or the whole file.
    pub location: String,
    /// The column, as headed in the file.
    pub column: Option<String>,
    /// The value found.
    pub value: Option<String>,
    /// English.
    pub en: String,
    /// Chinese.
    pub zh: String,
}

/// An API error: a [`Problem`] and an optional `Retry-After`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The body (boxed: errors travel in every `Result`).
    pub problem: Box<Problem>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

/// An audit note a refusal leaves in the response for the audit layer.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

impl ApiError {
    /// A problem of kind `slug`.
    pub fn new(
        status: StatusCode,
        slug: &str,
        title: (&str, &str),
        detail_en: impl Into<String>,
        detail_zh: impl Into<String>,
    ) -> ApiError {
        ApiError {
            problem: Box::new(Problem {
                kind: format!("urn:sme-hub:problem:{slug}"),
                title: title.0.to_owned(),
                title_zh: title.1.to_owned(),
                status: status.as_u16(),
                detail: detail_en.into(),
                detail_zh: detail_zh.into(),
                field: None,
                problems: Vec::new(),
            }),
            retry_after: None,
        }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: &str) -> ApiError {
        self.problem.field = Some(field.to_owned());
        self
    }

    /// 400 for a malformed parameter.
    pub fn invalid(field: &str, en: impl Into<String>, zh: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            ("Invalid parameter", "参数无效"),
            en,
            zh,
        )
        .field(field)
    }

    /// 401: no valid session.
    pub fn unauthenticated(en: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            ("Not logged in", "未登录"),
            en,
            "未登录或会话已失效：请通过 POST /api/v1/session 重新登录",
        )
    }

    /// 403: the request's origin or CSRF token is wrong.
    pub fn csrf(en: impl Into<String>, zh: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            ("Cross-site request refused", "拒绝跨站请求"),
            en,
            zh,
        )
    }

    /// 500/503 for a store failure; the detail names ClickHouse, not the query.
    pub fn store(e: &StoreError) -> ApiError {
        tracing::warn!(error = %e, "web API: store failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            ("Storage unavailable", "存储暂不可用"),
            "the hub's database did not answer; try again in a minute, and tell the hub operator if it persists",
            "汇聚中心数据库暂无响应，请稍后重试；如持续出现请联系运维人员",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Splits a bilingual `en / zh` message (how the hub's errors are written) into its halves.
fn halves(text: &str) -> (String, String) {
    match text.split_once(" / ") {
        Some((en, zh)) => (en.to_owned(), zh.to_owned()),
        None => (text.to_owned(), text.to_owned()),
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        let (en, zh) = halves(&e.to_string());
        match e {
            AccessError::Scope(crate::analytics::ScopeError::Malformed(_)) => {
                ApiError::invalid("region", en, zh)
            }
            AccessError::Scope(crate::analytics::ScopeError::Invalid(_)) => ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid-user",
                ("User misconfigured", "用户配置有误"),
                en,
                zh,
            ),
            AccessError::Scope(_) => outside_scope(en, zh).field("region"),
            AccessError::PlatformOutsideScope { .. } => outside_scope(en, zh).field("platform"),
            AccessError::Role { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden-role",
                ("Not allowed for your role", "当前角色无权操作"),
                en,
                zh,
            ),
            AccessError::UnknownPlatform(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                ("Not found", "未找到"),
                en,
                zh,
            )
            .field("platform"),
            AccessError::Reopen(ReopenError::Store(e)) | AccessError::Store(e) => {
                ApiError::store(&e)
            }
            AccessError::Reopen(ReopenError::OutOfScope { .. }) => {
                outside_scope(en.clone(), en).field("platform")
            }
            AccessError::Reopen(ReopenError::UnknownPlatform(_)) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not-found",
                ("Not found", "未找到"),
                en,
                "平台名录中没有该平台",
            )
            .field("platform"),
            AccessError::Reopen(r) => {
                let field = match r {
                    ReopenError::Blank(_) => "reason",
                    ReopenError::BadRegion { .. } => "region",
                    ReopenError::FuturePeriod(_) => "period",
                    _ => "until",
                };
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "reopen-refused",
                    ("Reopening refused", "解锁被拒绝"),
                    en.replace("--", ""),
                    format!("解锁请求被拒绝：{}", en.replace("--", "")),
                )
                .field(field)
            }
            AccessError::Import(ImportError::Rejected { problems, .. }) => {
                let mut err = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "file-rejected",
                    ("File rejected", "文件未通过检查"),
                    format!(
                        "the file has {} problem(s); nothing of it was imported — fix them and upload it again",
                        problems.len()
                    ),
                    format!("文件有 {} 处问题，未导入任何内容；请修改后重新上传", problems.len()),
                )
                .field("file");
                err.problem.problems = problems
                    .into_iter()
                    .map(|p| RowProblem {
                        location: p.location.to_string(),
                        column: p.column,
                        value: p.value,
                        en: p.en,
                        zh: p.zh,
                    })
                    .collect();
                err
            }
            AccessError::Import(ImportError::Store(e)) => ApiError::store(&e),
            AccessError::Import(ImportError::Read { .. }) => ApiError::invalid("file", en, zh),
        }
    }
}

fn outside_scope(en: String, zh: String) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "outside-scope",
        ("Outside your scope", "超出权限范围"),
        en,
        zh,
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let note = Refusal(format!("{}: {}", self.problem.kind, self.problem.detail));
        let mut response = (status, axum::Json(&self.problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response.extensions_mut().insert(note);
        response
    }
}
