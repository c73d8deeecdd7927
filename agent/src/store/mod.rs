//! The agent's local SQLite store: service records, profile snapshots, imports, the outbox of
//! built reports, per-period build state and a small key/value `meta` table.
//!
//! The API is synchronous (rusqlite); async callers use `tokio::task::spawn_blocking`. The
//! database runs in WAL mode with `synchronous=FULL`, so a committed outbox row or import survives
//! power loss, and with a busy timeout so a second process (e.g. `sme-agent import` while the
//! service runs) waits instead of failing.
//!
//! Decisions written down here because other modules rely on them:
//!
//! * **Re-imported records.** `record_id` is unique. The same id with identical content is a
//!   no-op. The same id with different content *replaces* the stored row (the newest file is the
//!   platform's correction) and marks the periods of both the old and the new date dirty.
//! * **Dirty periods.** Any new or changed record marks the month, quarter and year containing its
//!   date (`2026-M05`, `2026-Q2`, `2026-A`); a changed profile or explanation marks its own period.
//!   A period that already has a built revision and is dirty again needs a new revision — this is
//!   how late records for a sent period produce one. Marking is a counter (`change_seq`), and a
//!   build records the counter it read, so changes racing a build are never lost.
//! * **Corrections.** Voided records and the earlier contents of corrected records are
//!   remembered; an import that would bring either back is refused unless allowed
//!   ([`corrections`]).
//! * **Idempotent imports.** A file's content hash is recorded in the same transaction as its
//!   rows; a file already imported is a no-op, whatever its name.

mod attempts;
pub mod corrections;
mod migrations;
mod outbox;
mod profile;
mod records;
mod shared;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;

pub use attempts::{Attempt, BlockedPeriod, OutboxCounts};
pub use corrections::{Revert, VoidSelector, VoidSummary};
pub use outbox::{BuildStamp, OutboxItem, OutboxState, PeriodState};
pub use profile::{
    Capacity, Disclosures, Explanation, Finance, Profile, SatisfactionCounts, Staff, Startups,
};
pub use records::{
    covering_period_codes, sha256_hex, ImportKind, ImportSource, ImportSummary, RecordRow,
    StoredRecord,
};
pub use shared::SharedStore;

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of the local store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or configured.
    #[error("cannot open the local store at {path}: {source}")]
    Open {
        /// Path of the database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer agent.
    #[error(
        "the local store has schema version {found} but this agent knows only up to {supported}; \
         upgrade the agent or restore a backup"
    )]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// A schema migration failed; nothing of it was applied.
    #[error("migrating the local store to schema version {version} failed: {source}")]
    Migration {
        /// The version the failing migration would have produced.
        version: usize,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// An outbox operation named a report that is not in the outbox.
    #[error("report {0} is not in the outbox")]
    UnknownReport(String),
    /// `enqueue` was called twice with the same report id.
    #[error("report {0} is already in the outbox")]
    DuplicateReport(String),
    /// `enqueue` was called with a revision not newer than the last built one.
    #[error(
        "revision {revision} of period {period} is not newer than the last built revision {last}; \
         use Store::next_revision"
    )]
    StaleRevision {
        /// Period code.
        period: String,
        /// Revision offered.
        revision: u32,
        /// Last revision already built.
        last: u32,
    },
    /// An import would undo corrections (bring back voided records, or earlier contents of
    /// corrected ones); nothing of it was imported.
    #[error("the import would undo {} correction(s): {}", .0.len(), .0.iter().map(|r| r.en.as_str()).collect::<Vec<_>>().join("; "))]
    WouldRevert(Vec<Revert>),
    /// A value given to the store is not acceptable (e.g. violations that are not JSON).
    #[error("invalid input to the local store: {0}")]
    Invalid(String),
    /// A stored value could not be read back.
    #[error("the local store holds an unreadable value: {0}")]
    Corrupt(String),
    /// Any other SQLite error.
    #[error("local store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The local store. One `Store` owns one SQLite connection; share it behind a mutex.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

// === impl Store ===

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // journal_mode answers with the mode actually in force; anything but WAL is a failure
        // (e.g. a filesystem without shared memory support). WAL is stored in the file, so it
        // is only set when missing: setting it while another process opens or closes the file
        // (the service and `status` at the same time) can answer SQLITE_BUSY at once, without
        // the busy handler.
        let mode = journal_mode(&conn, "PRAGMA journal_mode").map_err(open_err)?;
        let mode = if mode.eq_ignore_ascii_case("wal") {
            mode
        } else {
            journal_mode(&conn, "PRAGMA journal_mode = WAL").map_err(open_err)?
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Invalid(format!(
                "{} cannot use WAL journal mode (got {mode}); put the store on a local disk",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        migrate(&mut conn)?;
        Ok(Store { conn, path })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Schema version in force (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Reads a `meta` value.
    pub fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a `meta` value (insert or replace).
    pub fn meta_set(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            rusqlite::params![key, value, now_ms()],
        )?;
        Ok(())
    }

    /// Removes a `meta` value; returns whether it existed.
    pub fn meta_delete(&mut self, key: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM meta WHERE key = ?1", [key])?
            > 0)
    }
}

/// Applies pending migrations in one immediate transaction and stores the new version.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let target = migrations::MIGRATIONS.len() as i64;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Read inside the transaction so two processes opening a fresh file cannot both migrate.
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > target {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: target,
        });
    }
    for (i, sql) in migrations::MIGRATIONS.iter().enumerate() {
        let version = i + 1;
        if (version as i64) <= current {
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|source| StoreError::Migration { version, source })?;
    }
    if current < target {
        // PRAGMA does not take bound parameters; `target` is a constant of this build.
        tx.execute_batch(&format!("PRAGMA user_version = {target}"))?;
    }
    tx.commit()?;
    Ok(())
}

/// Runs a `journal_mode` pragma, retrying for up to [`BUSY_TIMEOUT`] while another connection
/// holds the lock it needs.
fn journal_mode(conn: &Connection, pragma: &str) -> Result<String, rusqlite::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row(pragma, [], |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Bumps the change counter of each period code, creating its row when missing.
fn mark_periods_dirty<'a>(
    conn: &Connection,
    periods: impl IntoIterator<Item = &'a str>,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO periods (period, change_seq, updated_at) VALUES (?1, 1, ?2)
         ON CONFLICT (period) DO UPDATE SET change_seq = change_seq + 1,
                                            updated_at = excluded.updated_at",
    )?;
    let now = now_ms();
    for p in periods {
        stmt.execute(rusqlite::params![p, now])?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    to_ms(OffsetDateTime::now_utc())
}

fn to_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {ms}: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store in a fresh temporary directory (kept alive by the returned guard).
    pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("agent.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn open_sets_wal_full_and_schema_version() {
        let (_dir, store) = temp_store();
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        assert_eq!(
            store.schema_version().unwrap(),
            migrations::MIGRATIONS.len() as i64
        );
    }

    #[test]
    fn reopening_is_idempotent_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        {
            let mut s = Store::open(&path).unwrap();
            s.meta_set("platform_id", "91350100M000100Y43").unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.meta_get("platform_id").unwrap().as_deref(),
            Some("91350100M000100Y43")
        );
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 999").unwrap();
        drop(conn);
        match Store::open(&path) {
            Err(StoreError::SchemaTooNew { found: 999, .. }) => {}
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
    }

    #[test]
    fn store_moves_into_spawn_blocking() {
        fn send<T: Send + 'static>() {}
        send::<Store>();
    }

    #[test]
    fn meta_roundtrip() {
        let (_dir, mut s) = temp_store();
        assert_eq!(s.meta_get("k").unwrap(), None);
        s.meta_set("k", "1").unwrap();
        s.meta_set("k", "2").unwrap();
        assert_eq!(s.meta_get("k").unwrap().as_deref(), Some("2"));
        assert!(s.meta_delete("k").unwrap());
        assert!(!s.meta_delete("k").unwrap());
    }
}
