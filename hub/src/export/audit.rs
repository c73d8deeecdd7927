//! The export audit (`export_audit`): every export, finished or not, and every refused
//! request — who, through what, what was asked, when, the outcome, the rows, the bytes and the
//! SHA-256 of the file. A row is stored before the CLI reports success; the web writes it when
//! the body has been sent (or failed).

use clickhouse::Row;
use serde::Serialize;
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// One export audit row.
#[derive(Debug, Clone, Row, Serialize)]
pub struct ExportAuditRow {
    /// When it started.
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub at: OffsetDateTime,
    /// Sub-second part.
    pub at_nanos: u32,
    /// The user (web), or the operator's `--user` / system user (CLI).
    pub user_name: String,
    /// Their role.
    pub role: String,
    /// Their scope's region.
    pub scope: String,
    /// `cli` or `web`.
    pub channel: String,
    /// Client address (web), host user (CLI).
    pub address: String,
    /// The statistics asked for.
    pub statistics: String,
    /// The format.
    pub format: String,
    /// The raw request (JSON of the parameters).
    pub request: String,
    /// `done`, `refused`, `failed`.
    pub outcome: String,
    /// Data rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// SHA-256 of the file (hex); empty unless done.
    pub sha256: String,
    /// Why it was refused or failed.
    pub detail: String,
    /// Which hub process (web) or `cli`.
    pub hub_instance: String,
}

/// Stores one row.
pub async fn record(store: &Store, row: &ExportAuditRow) -> Result<(), StoreError> {
    crate::registry::db::insert::<ExportAuditRow>(store, "export_audit", std::slice::from_ref(row))
        .await
}
