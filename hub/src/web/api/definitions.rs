//! `GET /api/v1/dashboards`: the checked dashboard definitions (`dashboards/definitions/`),
//! from which the web pages draw their panels. Dashboards limited to other roles are left out.

use axum::extract::State;
use axum::Json;

use super::auth::{ApiState, Caller};
use super::problem::Problem;
use crate::web::dashboards::Dashboards;

/// The dashboards the caller's role sees, in order, each with its panels.
#[utoipa::path(get, path = "/api/v1/dashboards", tag = "dashboards",
    responses((status = 200, body = Dashboards), (status = 401, body = Problem)))]
pub async fn dashboards(State(state): State<ApiState>, caller: Caller) -> Json<Dashboards> {
    let role = caller.role().to_string();
    Json(Dashboards {
        dashboards: state
            .dashboards
            .dashboards
            .iter()
            .filter(|d| d.roles.is_empty() || d.roles.contains(&role))
            .cloned()
            .collect(),
    })
}
