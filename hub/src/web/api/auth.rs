//! Who is calling: the session cookie, the CSRF and origin checks, and the audit of every
//! refusal and action (the [`guard`] middleware around every `/api/v1/` route).
//!
//! - [`Caller`] is extracted from the session cookie by every route but login and the OpenAPI
//!   document: the session must exist, be live (idle and absolute expiry) and belong to an
//!   enabled user, whose role and region give the [`Scope`] — read from ClickHouse on every
//!   request, so a disabled user or a logout takes effect at once in every hub process.
//! - State-changing requests (anything but GET, HEAD, OPTIONS) must come from the hub's own
//!   origin (`Origin`, `Sec-Fetch-Site`) and, once logged in, carry the session's CSRF token in
//!   `X-CSRF-Token`.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sme_proto::period::Calendar;

use super::audit::{AuditRow, Auditor};
use super::problem::{ApiError, Refusal};
use crate::analytics::{Role, Scope};
use crate::clock::Clock;
use crate::store::Store;
use crate::users::sessions::{self, Session, SessionSettings};
use crate::users::throttle::ThrottleSettings;
use crate::users::{self, User};

/// What the API's handlers share.
pub struct ApiInner {
    /// ClickHouse.
    pub store: Store,
    /// The reporting calendar.
    pub calendar: Calendar,
    /// The hub's clock.
    pub clock: Clock,
    /// Session lifetimes.
    pub sessions: SessionSettings,
    /// Login throttling.
    pub throttle: ThrottleSettings,
    /// HTTPS: cookies are `Secure` and `__Host-` prefixed.
    pub secure: bool,
    /// Origins accepted besides the hub's own.
    pub allowed_origins: Vec<String>,
    /// Largest upload.
    pub max_upload_bytes: usize,
    /// Default length of a reopening, days.
    pub reopen_days: u32,
    /// The checked dashboard definitions.
    pub dashboards: Arc<crate::web::dashboards::Dashboards>,
    /// Gates and weights of the demo-platform candidates.
    pub demo: crate::config::DemoConfig,
    /// The web audit.
    pub audit: Auditor,
    /// This hub process, for the audit.
    pub instance: String,
}

/// Shared state of the API. Cheap to clone.
#[derive(Clone)]
pub struct ApiState(pub Arc<ApiInner>);

impl Deref for ApiState {
    type Target = ApiInner;
    fn deref(&self) -> &ApiInner {
        &self.0
    }
}

impl ApiState {
    /// The session cookie's name: `__Host-` prefixed over HTTPS (the browser then insists on
    /// `Secure`, `Path=/` and no `Domain`).
    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            "__Host-sme_session"
        } else {
            "sme_session"
        }
    }

    /// `Set-Cookie` for a new session, or (with `None`) one that deletes it.
    pub fn set_cookie(&self, token: Option<&str>) -> String {
        let (value, max_age) = match token {
            Some(t) => (t, self.sessions.absolute.as_secs()),
            None => ("", 0),
        };
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
            self.cookie_name()
        )
    }
}

/// The client's address (the TCP peer).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Who made the request, filled in by [`Caller`] or the login handler, read by [`guard`].
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// User name (or the name tried at a login).
    pub user: String,
    /// Role.
    pub role: String,
    /// Scope's region code.
    pub scope: String,
}

/// A slot for [`Who`] in the request's extensions.
#[derive(Debug, Clone, Default)]
pub struct WhoSlot(Arc<Mutex<Who>>);

impl WhoSlot {
    /// Records who is calling.
    pub fn set(&self, who: Who) {
        *self.0.lock().expect("audit slot") = who;
    }
}

/// What an action did, left in the response for the audit.
#[derive(Debug, Clone)]
pub struct Done {
    /// `login`, `logout`, `reopen`, `import` …
    pub action: &'static str,
    /// What exactly.
    pub detail: String,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user, as stored now.
    pub user: User,
    /// Their scope.
    pub scope: Scope,
    /// The session.
    pub session: Session,
    /// The session token (to derive the CSRF token).
    pub token: String,
}

impl Caller {
    /// The user's role.
    pub fn role(&self) -> Role {
        self.user.role
    }
}

/// The session token from the `Cookie` header.
pub fn session_token(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Caller, ApiError> {
        let token = session_token(&parts.headers, state.cookie_name()).ok_or_else(|| {
            ApiError::unauthenticated(
                "no session cookie: log in with POST /api/v1/session (name and password)",
            )
        })?;
        let session = sessions::find(&state.store, &token)
            .await
            .map_err(|e| ApiError::store(&e))?
            .ok_or_else(|| {
                ApiError::unauthenticated("the session is not known to the hub: log in again")
            })?;
        let now = state.clock.now();
        if let Err(end) = session.check(now, &state.sessions) {
            return Err(ApiError::unauthenticated(format!(
                "{}: log in again",
                end.as_str()
            )));
        }
        let user = users::find(&state.store, &session.user_name)
            .await
            .map_err(|e| ApiError::store(&e))?
            .filter(|u| !u.disabled)
            .ok_or_else(|| {
                ApiError::unauthenticated(format!(
                    "user {} is disabled or removed: ask an admin",
                    session.user_name
                ))
            })?;
        let scope = user
            .scope()
            .map_err(|e| crate::access::AccessError::Scope(e).into_api())?;
        if let Some(slot) = parts.extensions.get::<WhoSlot>() {
            slot.set(Who {
                user: user.name.clone(),
                role: user.role.to_string(),
                scope: scope.region().to_owned(),
            });
        }
        if !is_safe(&parts.method) {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if sent != sessions::csrf_token(&token) {
                return Err(ApiError::csrf(
                    "missing or wrong X-CSRF-Token header: send the csrf_token of POST /api/v1/session or GET /api/v1/me",
                    "缺少或错误的 X-CSRF-Token 请求头：请使用登录或 GET /api/v1/me 返回的 csrf_token",
                )
                .field("X-CSRF-Token"));
            }
        }
        let address = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .map(|c| c.0 .0.ip().to_string())
            .unwrap_or_default();
        if let Err(e) =
            sessions::touch(&state.store, &session, &address, now, &state.sessions).await
        {
            tracing::warn!(error = %e, "session activity not recorded");
        }
        Ok(Caller {
            user,
            scope,
            session,
            token,
        })
    }
}

impl crate::access::AccessError {
    fn into_api(self) -> ApiError {
        self.into()
    }
}

/// Refuses a state-changing request from another origin.
fn check_origin(
    state: &ApiState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<(), ApiError> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(ApiError::csrf(
                format!("a {site} request may not change anything here (Sec-Fetch-Site)"),
                "不接受来自其他站点的修改请求",
            )
            .field("Sec-Fetch-Site"));
        }
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    // HTTP/1.1 names the host in `Host`; HTTP/2 (what browsers and curl negotiate over TLS) in
    // the `:authority` pseudo-header, which arrives as the request URI's authority.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let own = |scheme: &str| format!("{scheme}://{host}");
    let same = if state.secure {
        origin == own("https")
    } else {
        // Behind a TLS-terminating proxy the browser's origin is https.
        origin == own("https") || origin == own("http")
    };
    if same || state.allowed_origins.iter().any(|o| o == origin) {
        Ok(())
    } else {
        Err(ApiError::csrf(
            format!("requests from origin {origin} may not change anything here; add it to [web] allowed_origins if it is the hub's own address behind a proxy"),
            format!("不接受来自 {origin} 的修改请求"),
        )
        .field("Origin"))
    }
}

/// Middleware around every API route: origin check for state-changing requests, and the audit
/// of refusals and actions.
pub async fn guard(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    mut request: Request,
    next: Next,
) -> Response {
    let slot = WhoSlot::default();
    request.extensions_mut().insert(slot.clone());
    request.extensions_mut().insert(ConnectInfo(peer));
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let response = match (
        is_safe(&method),
        check_origin(&state, request.headers(), request.uri()),
    ) {
        (false, Err(refused)) => refused.into_response(),
        _ => next.run(request).await,
    };
    let status = response.status();
    let refused = matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
    );
    if !refused && is_safe(&method) {
        return response;
    }
    let who = slot.0.lock().expect("audit slot").clone();
    let (action, detail) = match (
        response.extensions().get::<Done>(),
        response.extensions().get::<Refusal>(),
    ) {
        (Some(done), _) => (done.action.to_owned(), done.detail.clone()),
        (None, Some(r)) if refused => ("refused".to_owned(), r.0.clone()),
        (None, Some(r)) => ("failed".to_owned(), r.0.clone()),
        (None, None) => ("request".to_owned(), String::new()),
    };
    let now = state.clock.now();
    let row = AuditRow {
        at: now,
        at_nanos: now.nanosecond(),
        user_name: who.user,
        role: who.role,
        scope: who.scope,
        address: peer.0.ip().to_string(),
        method: method.to_string(),
        path,
        action,
        status: status.as_u16(),
        detail,
        hub_instance: state.instance.clone(),
    };
    if status.is_success() && !is_safe(&method) {
        if !state.audit.record_and_wait(row).await {
            tracing::error!("an action's web audit row could not be stored");
        }
    } else {
        state.audit.record(row);
    }
    response
}
