//! Shared helpers of the hub's integration tests: one private ClickHouse (Debian's 18.16 in CI)
//! per test binary, started by [`EmbeddedClickHouse`] in `target/tmp`, and a fresh database per
//! test. No mocks.
//!
//! Each test binary includes this module and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sme_hub::store::{Accounts, ClickHouseConfig, EmbeddedClickHouse, Store};
use uuid::Uuid;

/// URL of the server shared by this test binary (`name` names its directory).
pub fn shared_url(name: &str) -> &'static str {
    &shared(name).0
}

/// The accounts of the shared server (its three, with their passwords).
pub fn shared_accounts(name: &str) -> &'static Accounts {
    &shared(name).1
}

/// A client of the shared server's owner account on `database`, for what the hub's own
/// accounts may not do (TRUNCATE, OPTIMIZE, re-running migrations).
pub fn owner_client(name: &str, database: &str) -> clickhouse::Client {
    shared_accounts(name)
        .owner
        .apply(clickhouse::Client::default().with_url(shared_url(name)))
        .with_validation(false)
        .with_database(database)
}

/// URL and accounts of the server shared by this test binary.
///
/// It runs on a runtime of its own thread so it outlives every `#[tokio::test]` runtime;
/// directories of earlier, finished runs are removed here.
fn shared(name: &str) -> &'static (String, Accounts) {
    static SERVER: OnceLock<(String, Accounts)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        remove_stale_dirs(&root);
        let dir = root.join(std::process::id().to_string());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                match EmbeddedClickHouse::start(&dir).await {
                    Ok(server) => {
                        tx.send(Ok((server.http_url(), server.accounts().clone())))
                            .expect("test waits");
                        std::future::pending::<()>().await;
                    }
                    Err(e) => tx.send(Err(e.to_string())).expect("test waits"),
                }
            });
        });
        rx.recv()
            .expect("server thread")
            .unwrap_or_else(|e| panic!("shared ClickHouse did not start: {e}"))
    })
}

/// Removes directories of test processes that are gone.
pub fn remove_stale_dirs(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh database on the shared server.
pub fn fresh_config(server: &str, test: &str) -> ClickHouseConfig {
    ClickHouseConfig {
        url: shared_url(server).to_owned(),
        database: format!("a_{test}_{}", Uuid::new_v4().simple()),
        accounts: shared_accounts(server).clone(),
    }
}

/// A store on a fresh database, migrated.
pub async fn fresh_store(server: &str, test: &str) -> Store {
    Store::connect(&fresh_config(server, test))
        .await
        .expect("connect")
}
