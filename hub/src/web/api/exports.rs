//! `GET /api/v1/exports`: a download of the export engine (`crate::export`), streamed as it is
//! written. A request outside the caller's scope is 403 and lands in both the web audit (the
//! guard) and the export audit; every export is in the export audit with its row count and the
//! SHA-256 of the body.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tokio_stream::wrappers::ReceiverStream;

use super::analytics_views::view_error;
use super::auth::{ApiState, Caller};
use super::problem::{ApiError, Problem};
use super::Q;
use crate::analytics::ViewError;
use crate::export::output::Target;
use crate::export::{self, engine, Engine, ExportError, ExportParams, ExportRequest, Requester};

/// Chunks in flight between the export and a slow client.
const IN_FLIGHT: usize = 8;

fn api_error(e: ExportError) -> ApiError {
    match e {
        ExportError::Filter(f) => view_error(ViewError::Filter(f), "region"),
        ExportError::Invalid {
            parameter,
            value,
            reason,
        } => ApiError::invalid(
            parameter,
            format!("export parameter {parameter}={value:?}: {reason}"),
            format!("导出参数 {parameter} 无效：{reason}"),
        ),
        ExportError::Store(s) => ApiError::store(&s),
        other => ApiError::store(&crate::store::StoreError::Embedded(other.to_string())),
    }
}

/// An export of regional statistics as a file: CSV (UTF-8 with BOM), XLSX, SDMX-CSV 2.0 or
/// NDJSON, with the same figures as the analytics endpoints.
#[utoipa::path(get, path = "/api/v1/exports", tag = "analytics", params(ExportParams),
    responses(
        (status = 200, description = "The file, streamed", content_type = "text/csv"),
        (status = 400, description = "A parameter that cannot be used", body = Problem),
        (status = 401, body = Problem),
        (status = 403, description = "Region outside your scope (audited)", body = Problem),
    ))]
pub async fn export(
    State(state): State<ApiState>,
    caller: Caller,
    Q(params): Q<ExportParams>,
) -> Result<Response, ApiError> {
    let who = Requester {
        user: caller.user.name.clone(),
        role: caller.role().as_str().to_owned(),
        channel: "web",
        address: String::new(),
        instance: state.instance.clone(),
    };
    let request = match ExportRequest::parse(&params, &caller.scope, &state.calendar) {
        Ok(r) => r,
        Err(e) => {
            let row = engine::refused_row(&caller.scope, &params, &who, &e.to_string());
            if let Err(a) = export::audit::record(&state.store, &row).await {
                tracing::error!(error = %a, "refused export not audited");
            }
            return Err(api_error(e));
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel(IN_FLIGHT);
    let file_name = request.file_name();
    let content_type = request.format.content_type();
    let scope = caller.scope.clone();
    let task_state = state.clone();
    tokio::spawn(async move {
        let engine = Engine {
            store: &task_state.store,
            calendar: &task_state.calendar,
            demo: &task_state.demo,
        };
        if let Err(e) = engine
            .run(&scope, &request, Target::Body(tx), &who, &export::Silent)
            .await
        {
            tracing::warn!(error = %e, user = %who.user, "web export failed");
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        Body::from_stream(ReceiverStream::new(rx)),
    )
        .into_response())
}
