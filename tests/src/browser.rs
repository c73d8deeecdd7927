//! A real headless Chromium, driven through Debian's chromedriver with fantoccini, for the
//! dashboards' browser test and benchmark.
//!
//! - The browser trusts the hub's server certificate and nothing else it would not trust
//!   anyway: `--ignore-certificate-errors-spki-list` with the SHA-256 of that certificate's
//!   public key (Chromium honours it with a fresh `--user-data-dir`); no `acceptInsecureCerts`.
//! - Flags as the machine needs them: no sandbox (root in CI), no GPU, no background
//!   networking or component updates (the network is closed; those would be requests to other
//!   hosts), 1366×768.
//! - The browser's console (`goog:loggingPrefs` browser) and network (performance log) are read
//!   through chromedriver's log endpoint, so a test can check for console errors and that every
//!   request went to the hub.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Where Debian installs them (`apt-get install chromium chromium-driver`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's chromedriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Base64 SHA-256 of the SubjectPublicKeyInfo of a DER certificate, as
/// `--ignore-certificate-errors-spki-list` wants it.
pub fn spki_hash(cert_der: &[u8]) -> anyhow::Result<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| anyhow::anyhow!("the hub's server certificate does not parse: {e}"))?;
    let digest = Sha256::digest(cert.tbs_certificate.subject_pki.raw);
    Ok(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// The hub's server certificate (DER) from its CA folder.
pub fn server_cert_der(ca_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = ca_dir.join("server.cert.pem");
    let pem = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    // The first block is the server's own certificate (the CA's may follow).
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .with_context(|| format!("{}: not PEM", path.display()))
}

/// A chromedriver process on a free loopback port, killed on drop.
pub struct Chromedriver {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Chromedriver {
    /// Starts `/usr/bin/chromedriver` and waits until it listens.
    pub fn start() -> anyhow::Result<Chromedriver> {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            if !Path::new(path).exists() {
                bail!("{path} not found: install Debian's {package} (scripts/setup.sh does)");
            }
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not listen on port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session with its own profile and download folder.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    /// Where downloads land.
    pub downloads: PathBuf,
    _profile: tempfile::TempDir,
}

/// chromedriver's log endpoint (`POST /session/{id}/se/log`), which fantoccini does not wrap.
#[derive(Debug)]
struct GetLog(&'static str);

impl WebDriverCompatibleCommand for GetLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": self.0 }).to_string()),
        )
    }
}

impl Browser {
    /// A headless Chromium at 1366×768 trusting the certificate whose SPKI hash is `spki`.
    pub async fn start(driver: &Chromedriver, spki: &str) -> anyhow::Result<Browser> {
        // hyper-rustls (fantoccini's connector) asks rustls for the process's default provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = tempfile::tempdir().context("browser profile dir")?;
        let downloads = profile.path().join("downloads");
        std::fs::create_dir_all(&downloads)?;
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    "--no-first-run",
                    "--window-size=1366,768",
                    format!("--user-data-dir={}", profile.path().join("profile").display()),
                    format!("--ignore-certificate-errors-spki-list={spki}"),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "profile.default_content_setting_values.automatic_downloads": 1,
                },
            },
            "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::rustls()
            .context("WebDriver client")?
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .context("starting headless Chromium through chromedriver")?;
        client.set_window_size(1366, 768).await?;
        Ok(Browser {
            client,
            downloads,
            _profile: profile,
        })
    }

    /// The browser console entries since the last call (each `{level, message, timestamp}`).
    pub async fn console(&self) -> anyhow::Result<Vec<Value>> {
        let v = self.client.issue_cmd(GetLog("browser")).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Every URL the browser requested since the last call (Network.requestWillBeSent of the
    /// performance log).
    pub async fn requested_urls(&self) -> anyhow::Result<Vec<String>> {
        let v = self.client.issue_cmd(GetLog("performance")).await?;
        let mut urls = Vec::new();
        for entry in v.as_array().into_iter().flatten() {
            let Some(text) = entry["message"].as_str() else {
                continue;
            };
            let Ok(msg) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if msg["message"]["method"] == "Network.requestWillBeSent" {
                if let Some(u) = msg["message"]["params"]["request"]["url"].as_str() {
                    urls.push(u.to_owned());
                }
            }
        }
        Ok(urls)
    }

    /// Waits until `css` matches an element, up to `timeout`.
    pub async fn wait_for(
        &self,
        css: &str,
        timeout: Duration,
    ) -> anyhow::Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(timeout)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting {timeout:?} for {css}"))
    }

    /// Saves a screenshot of the window as `path` (PNG).
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let png = self.client.screenshot().await?;
        std::fs::write(path, png).with_context(|| format!("{}", path.display()))
    }

    /// Saves the whole page (the window made as tall as the document for the shot, then put
    /// back to 1366×768) as `path`.
    pub async fn full_screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let height = self
            .client
            .execute("return document.documentElement.scrollHeight", vec![])
            .await?
            .as_u64()
            .unwrap_or(768)
            .clamp(768, 6000);
        self.client
            .set_window_size(1366, height as u32 + 140)
            .await?;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let shot = self.screenshot(path).await;
        self.client.set_window_size(1366, 768).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        shot
    }

    /// The files downloaded so far (complete ones), by name.
    pub fn downloaded(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(&self.downloads)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.extension()
                    .is_some_and(|x| x == "crdownload" || x == "tmp")
            })
            .collect();
        out.sort();
        out
    }
}
