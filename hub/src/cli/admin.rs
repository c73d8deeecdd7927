//! The store for operators' commands (`sme-hub registry …`, `period …`, `completeness`).
//!
//! With `[clickhouse] url` set they use that server. In embedded mode they use the hub's own
//! server: if a hub is running, its ClickHouse holds the data directory and listens on the port
//! written in `<data_dir>/clickhouse/config.xml`, which is tried first; otherwise the command
//! starts the embedded server itself for its duration. Either way they log in with the
//! embedded server's accounts, read from its password file.
//!
//! Like the hub, a command migrates with the owner account and then works with the ingest one
//! (registry imports, users, period reopenings all only insert) and the analytics one
//! (`completeness`, exports): no admin command needs DDL once the schema is current.

use std::time::Duration;

use crate::config::HubConfig;
use crate::store::{
    embedded, ClickHouseConfig, EmbeddedClickHouse, Store, StoreError, StoreOptions,
};

/// Why an admin command could not connect.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A store and, when the command started one, the embedded server behind it.
pub struct AdminStore {
    /// The store.
    pub store: Store,
    embedded: Option<EmbeddedClickHouse>,
}

impl AdminStore {
    /// Connects as described in the module docs, and loads the shipped divisions if missing.
    pub async fn connect(cfg: &HubConfig) -> Result<AdminStore, AdminError> {
        let (store, embedded) = if !cfg.clickhouse.url.is_empty() {
            let settings = ClickHouseConfig {
                url: cfg.clickhouse.url.clone(),
                database: cfg.clickhouse.database.clone(),
                accounts: cfg.clickhouse.accounts()?,
            };
            (
                Store::connect_with(&settings, &cfg.store_options()).await?,
                None,
            )
        } else {
            let dir = cfg.data_dir.join("clickhouse");
            let accounts = embedded::load_accounts(&dir)?;
            let settings = |url: String| ClickHouseConfig {
                url,
                database: cfg.clickhouse.database.clone(),
                accounts: accounts.clone(),
            };
            let running = running_port(&dir.join("config.xml"));
            let quick = StoreOptions {
                timeout: Duration::from_secs(2),
                ..StoreOptions::default()
            };
            match running {
                Some(port) => {
                    let url = format!("http://127.0.0.1:{port}");
                    match Store::connect_with(&settings(url), &quick).await {
                        Ok(store) => (store, None),
                        Err(e) => {
                            tracing::debug!(error = %e, "no hub ClickHouse answering; starting one");
                            start(&dir, &cfg.clickhouse.database).await?
                        }
                    }
                }
                None => start(&dir, &cfg.clickhouse.database).await?,
            }
        };
        crate::registry::seed_divisions(&store).await?;
        Ok(AdminStore { store, embedded })
    }

    /// Stops the embedded server if this command started it.
    pub async fn close(self) {
        let AdminStore { store, embedded } = self;
        drop(store);
        if let Some(ch) = embedded {
            ch.stop().await;
        }
    }
}

async fn start(
    dir: &std::path::Path,
    database: &str,
) -> Result<(Store, Option<EmbeddedClickHouse>), StoreError> {
    let ch = EmbeddedClickHouse::start(dir).await?;
    let store = Store::connect(&ch.client_config(database)).await?;
    Ok((store, Some(ch)))
}

/// The `<http_port>` of an embedded server's config file, if there is one.
fn running_port(config: &std::path::Path) -> Option<u16> {
    let text = std::fs::read_to_string(config).ok()?;
    let start = text.find("<http_port>")? + "<http_port>".len();
    let end = start + text[start..].find("</http_port>")?;
    text[start..end].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_of_the_embedded_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.xml");
        assert_eq!(running_port(&path), None);
        std::fs::write(
            &path,
            "<yandex>\n    <http_port>41234</http_port>\n</yandex>",
        )
        .unwrap();
        assert_eq!(running_port(&path), Some(41234));
    }
}
