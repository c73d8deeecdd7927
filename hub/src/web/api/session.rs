//! Login, logout and the current user: `POST`, `DELETE /api/v1/session`, `GET /api/v1/me`.

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{ApiState, Caller, Done, Peer, Who, WhoSlot};
use super::problem::{ApiError, Problem};
use super::{parse_json, rfc3339};
use crate::users::throttle::{self, Throttled};
use crate::users::{self, password, sessions};

/// Name and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub name: String,
    /// Password.
    pub password: String,
}

/// The logged-in user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    /// Login name.
    pub name: String,
    /// `planner`, `coordinator` or `admin`.
    pub role: String,
    /// The region the user sees: `000000` (national) or a coordinator's code.
    pub scope: String,
}

/// A session: who, its CSRF token and when it ends.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionInfo {
    /// Who.
    pub user: UserInfo,
    /// Send this in an `X-CSRF-Token` header with every state-changing request.
    pub csrf_token: String,
    /// Absolute end of the session (RFC 3339).
    pub expires_at: String,
    /// The session also ends after this many seconds without a request.
    pub idle_timeout_seconds: u64,
}

fn info(
    state: &ApiState,
    user: &users::User,
    session: &sessions::Session,
    token: &str,
) -> SessionInfo {
    SessionInfo {
        user: UserInfo {
            name: user.name.clone(),
            role: user.role.to_string(),
            scope: user.region.clone().unwrap_or_else(|| "000000".into()),
        },
        csrf_token: sessions::csrf_token(token),
        expires_at: rfc3339(session.expires_at),
        idle_timeout_seconds: state.sessions.idle.as_secs(),
    }
}

fn bad_login(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "bad-login",
        ("Login failed", "登录失败"),
        detail,
        "用户名或密码错误，或账户已停用",
    )
    .field("password")
}

/// Logs in.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = SessionInfo),
        (status = 401, description = "Wrong name or password, or user disabled", body = Problem),
        (status = 429, description = "Too many failed logins for this account or address", body = Problem),
    ))]
pub async fn login(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    Extension(slot): Extension<WhoSlot>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: LoginRequest = parse_json(&body)?;
    let name = request.name.trim().to_owned();
    if name.is_empty() {
        return Err(ApiError::invalid(
            "name",
            "name must not be blank",
            "用户名不能为空",
        ));
    }
    slot.set(Who {
        user: name.clone(),
        ..Who::default()
    });
    let address = peer.0.ip().to_string();
    let now = state.clock.now();
    let store = &state.store;
    let store_err = |e: crate::store::StoreError| ApiError::store(&e);
    if let Err(t) = throttle::check(store, &name, &address, now, &state.throttle)
        .await
        .map_err(store_err)?
    {
        let (en, zh) = match t {
            Throttled::Account { failures } => (
                format!("{failures} failed logins of {name} recently: wait and try again, or ask an admin to reset the password"),
                "该账户近期登录失败次数过多，请稍后再试",
            ),
            Throttled::Address { failures } => (
                format!("{failures} failed logins from {address} recently: wait and try again"),
                "该地址近期登录失败次数过多，请稍后再试",
            ),
        };
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            ("Too many failed logins", "登录失败次数过多"),
            en,
            zh,
        );
        err.retry_after = Some(state.throttle.window.as_secs());
        return Err(err);
    }
    let user = users::find(store, &name).await.map_err(store_err)?;
    let verified = match &user {
        Some(u) => password::verify(&request.password, &u.password_hash),
        None => {
            password::verify_dummy(&request.password);
            false
        }
    };
    let user = match user {
        Some(u) if verified && !u.disabled => u,
        Some(u) if verified => {
            throttle::record(store, &name, &address, false, now)
                .await
                .map_err(store_err)?;
            slot.set(Who {
                user: name,
                role: u.role.to_string(),
                scope: String::new(),
            });
            return Err(bad_login("this user is disabled: ask an admin"));
        }
        _ => {
            throttle::record(store, &name, &address, false, now)
                .await
                .map_err(store_err)?;
            return Err(bad_login("wrong name or password"));
        }
    };
    let scope = user
        .scope()
        .map_err(|e| ApiError::from(crate::access::AccessError::Scope(e)))?;
    throttle::record(store, &name, &address, true, now)
        .await
        .map_err(store_err)?;
    let (token, session) = sessions::create(store, &user.name, &address, now, &state.sessions)
        .await
        .map_err(store_err)?;
    slot.set(Who {
        user: user.name.clone(),
        role: user.role.to_string(),
        scope: scope.region().to_owned(),
    });
    let mut response = (
        [(header::SET_COOKIE, state.set_cookie(Some(&token)))],
        Json(info(&state, &user, &session, &token)),
    )
        .into_response();
    response.extensions_mut().insert(Done {
        action: "login",
        detail: format!("logged in as {} of {scope}", user.role),
    });
    Ok(response)
}

/// Logs out: ends the session in every hub process.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses(
        (status = 204, description = "Logged out; the cookie is cleared"),
        (status = 401, description = "No session", body = Problem),
        (status = 403, description = "Missing CSRF token or foreign origin", body = Problem),
    ))]
pub async fn logout(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    caller: Caller,
) -> Result<Response, ApiError> {
    sessions::revoke(&state.store, &caller.session, &peer.0.ip().to_string())
        .await
        .map_err(|e| ApiError::store(&e))?;
    let mut response = (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.set_cookie(None))],
    )
        .into_response();
    response.extensions_mut().insert(Done {
        action: "logout",
        detail: String::new(),
    });
    Ok(response)
}

/// The logged-in user, their scope and the session's CSRF token.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses(
        (status = 200, body = SessionInfo),
        (status = 401, description = "No session", body = Problem),
    ))]
pub async fn me(State(state): State<ApiState>, caller: Caller) -> Json<SessionInfo> {
    Json(info(&state, &caller.user, &caller.session, &caller.token))
}
