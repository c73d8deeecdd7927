//! The dashboards' web site, served by the hub itself (ministry networks are offline: no CDN,
//! nothing from any other host).
//!
//! `[web] dashboards` names the folder holding `definitions/*.toml` (checked at start, see
//! [`super::dashboards`]) and `dist/`, the front end as `scripts/dashboards.sh` builds it
//! (`npm ci` and esbuild). Left empty, the hub looks for `dashboards/` beside its binary, then
//! for the source tree's `dashboards/` it was built from (so `cargo run`, the tests and the demo
//! find it). The files of `dist/` are read into memory at start and served at `/` (the page),
//! `/assets/…` (bundle, hashed names, cached for a year) and `/geo/…` (map outlines), with a
//! content security policy that allows nothing but the hub's own origin.
//!
//! Without a `dist/` (front end not built) the API still works and `/` says how to build it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::dashboards::{Dashboards, DefinitionError};

/// The policy on every page of the site: the hub's own origin only. Inline styles are allowed
/// because ECharts positions its tooltips with style attributes; images may be `data:`/`blob:`
/// URLs (the PNG downloads).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
    font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One file of `dist/`.
#[derive(Debug, Clone)]
struct Asset {
    body: Arc<[u8]>,
    content_type: &'static str,
    immutable: bool,
}

/// The definitions and the built front end.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// The checked dashboard definitions (`GET /api/v1/dashboards`).
    pub dashboards: Arc<Dashboards>,
    /// Where they were read from, `None` when no folder was found.
    pub dir: Option<PathBuf>,
    files: Arc<HashMap<String, Asset>>,
}

/// Why the site could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A definition is wrong (file and line).
    #[error("dashboard definition {0}")]
    Definition(#[from] DefinitionError),
    /// The configured folder is not a dashboards folder.
    #[error("[web] dashboards = {0:?}: no definitions/ folder there")]
    NotFound(PathBuf),
    /// `dist/` could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "map" => "application/json",
        _ => "application/octet-stream",
    }
}

fn read_tree(root: &Path, dir: &Path, out: &mut HashMap<String, Asset>) -> Result<(), SiteError> {
    let read = |path: &Path, source| SiteError::Read {
        path: path.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(|e| read(dir, e))? {
        let path = entry.map_err(|e| read(dir, e))?.path();
        if path.is_dir() {
            read_tree(root, &path, out)?;
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .expect("below the root")
            .to_string_lossy()
            .replace('\\', "/");
        let body = std::fs::read(&path).map_err(|e| read(&path, e))?;
        out.insert(
            rel.clone(),
            Asset {
                body: body.into(),
                content_type: content_type(&rel),
                immutable: rel.starts_with("assets/"),
            },
        );
    }
    Ok(())
}

impl Site {
    /// The folder to use: `configured` when not empty, else `dashboards/` beside `exe`, else the
    /// source tree's.
    pub fn locate(configured: &str, exe: Option<&Path>) -> Result<Option<PathBuf>, SiteError> {
        if !configured.is_empty() {
            let dir = PathBuf::from(configured);
            return if dir.join("definitions").is_dir() {
                Ok(Some(dir))
            } else {
                Err(SiteError::NotFound(dir))
            };
        }
        let beside = exe
            .and_then(Path::parent)
            .map(|d| d.join("dashboards"))
            .into_iter();
        let source = std::iter::once(Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards"));
        Ok(beside
            .chain(source)
            .find(|d| d.join("definitions").is_dir()))
    }

    /// Loads the definitions (checked) and `dist/` of `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Site, SiteError> {
        let Some(dir) = dir else {
            tracing::warn!("no dashboards folder found ([web] dashboards); serving the API only");
            return Ok(Site::default());
        };
        let dashboards = Dashboards::load(&dir.join("definitions"))?;
        let dist = dir.join("dist");
        let mut files = HashMap::new();
        if dist.join("index.html").is_file() {
            read_tree(&dist, &dist, &mut files)?;
        } else {
            tracing::warn!(dist = %dist.display(), "dashboards not built (run scripts/dashboards.sh); serving the API only");
        }
        Ok(Site {
            dashboards: Arc::new(dashboards),
            dir: Some(dir.to_owned()),
            files: Arc::new(files),
        })
    }

    /// Whether the front end is there.
    pub fn is_built(&self) -> bool {
        self.files.contains_key("index.html")
    }

    /// Total bytes of the built files, and of the JavaScript and CSS alone.
    pub fn sizes(&self) -> (usize, usize) {
        let all = self.files.values().map(|a| a.body.len()).sum();
        let code = self
            .files
            .iter()
            .filter(|(k, _)| k.ends_with(".js") || k.ends_with(".css"))
            .map(|(_, a)| a.body.len())
            .sum();
        (all, code)
    }
}

/// `/`, `/assets/…`, `/geo/…`, `/favicon.ico`.
pub fn router(site: Site) -> Router {
    Router::new()
        .route("/", get(serve))
        .route("/index.html", get(serve))
        .route("/favicon.ico", get(serve))
        .route("/assets/{*file}", get(serve))
        .route("/geo/{*file}", get(serve))
        .with_state(site)
}

fn secure_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn serve(State(site): State<Site>, request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    let name = if path.is_empty() { "index.html" } else { path };
    let mut response = match site.files.get(name) {
        Some(asset) => {
            let cache = if asset.immutable {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            (
                [
                    (header::CONTENT_TYPE, asset.content_type),
                    (header::CACHE_CONTROL, cache),
                ],
                asset.body.to_vec(),
            )
                .into_response()
        }
        None if name == "index.html" => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "The dashboards are not built: run scripts/dashboards.sh (npm ci and the bundler), then restart the hub.\n仪表板尚未构建：请运行 scripts/dashboards.sh 后重启汇聚中心。\n",
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response(),
    };
    secure_headers(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_folder_must_hold_definitions() {
        let dir = tempfile::tempdir().unwrap();
        let err = Site::locate(dir.path().to_str().unwrap(), None).unwrap_err();
        assert!(err.to_string().contains("no definitions/ folder"), "{err}");
        std::fs::create_dir(dir.path().join("definitions")).unwrap();
        assert_eq!(
            Site::locate(dir.path().to_str().unwrap(), None).unwrap(),
            Some(dir.path().to_owned())
        );
        let err = Site::load(Some(dir.path())).unwrap_err();
        assert!(
            err.to_string().contains("no dashboard definitions"),
            "{err}"
        );
    }

    #[test]
    fn the_source_tree_is_found_without_configuration() {
        let dir = Site::locate("", None).unwrap().expect("source tree");
        assert!(dir.join("definitions").is_dir());
    }
}
