//! A client of the hub's JSON API over real HTTPS, trusting only the hub's CA: log in, then
//! call routes with the session cookie and CSRF token (for the analytics tests and benchmark).

use anyhow::Context;
use reqwest::{Client, Method, StatusCode};
use rustls_pki_types::CertificateDer;
use serde_json::{json, Value};

/// A logged-in session: the cookie header value and the CSRF token.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// `__Host-sme_session=…`.
    pub cookie: String,
    /// The session's CSRF token (for state-changing requests).
    pub csrf: String,
}

/// The API of one hub at `https://127.0.0.1:<port>`.
#[derive(Debug, Clone)]
pub struct WebClient {
    /// `https://127.0.0.1:<port>`.
    pub base: String,
    /// The HTTPS client (the hub's CA is its only root).
    pub client: Client,
}

impl WebClient {
    /// A client of `base` trusting only `ca`.
    pub fn new(base: String, ca: &CertificateDer<'_>) -> anyhow::Result<WebClient> {
        let ca = reqwest::Certificate::from_der(ca.as_ref()).context("the hub's CA")?;
        let client = Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .build()
            .context("building the HTTPS client")?;
        Ok(WebClient { base, client })
    }

    /// Logs in `name`; an `Err` carries the refusal's status and problem body.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
    ) -> anyhow::Result<Result<WebSession, (StatusCode, Value)>> {
        let resp = self
            .client
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"name": name, "password": password}))
            .send()
            .await
            .with_context(|| format!("POST {}/api/v1/session", self.base))?;
        let status = resp.status();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned());
        let body: Value = resp.json().await.context("login answer")?;
        if status != StatusCode::OK {
            return Ok(Err((status, body)));
        }
        Ok(Ok(WebSession {
            cookie: cookie.context("the login answer set no session cookie")?,
            csrf: body["csrf_token"]
                .as_str()
                .context("the login answer has no csrf_token")?
                .to_owned(),
        }))
    }

    /// `method path` with `session` (or none); the status and the body as JSON (a string when
    /// it is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        session: Option<&WebSession>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(s) = session {
            req = req
                .header("cookie", &s.cookie)
                .header("x-csrf-token", &s.csrf);
        }
        let resp = req.send().await.with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("body of {path}"))?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// `GET path` with `session`.
    pub async fn get(
        &self,
        path: &str,
        session: &WebSession,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::GET, path, Some(session)).await
    }
}
