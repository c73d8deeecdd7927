//! The web audit (`web_audit`): every login (success and failure), every refusal (401, 403,
//! 429) and every state-changing request, with who, from where, what and the outcome.
//!
//! Rows go through one background task that writes whatever has queued up in one insert, so a
//! flood of refused requests makes few ClickHouse parts. An action's row is written before its
//! answer leaves ([`Auditor::record_and_wait`]); refusals are queued (a full queue drops the row
//! with a log line rather than slowing every answer).

use clickhouse::Row;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;

/// Rows queued at most; beyond, refusals are dropped (and logged).
const QUEUE: usize = 10_000;
/// Most rows in one insert.
const BATCH: usize = 1_000;

/// One audit row.
#[derive(Debug, Clone, Row, Serialize)]
pub struct AuditRow {
    /// When.
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub at: OffsetDateTime,
    /// Sub-second part.
    pub at_nanos: u32,
    /// The user (or the name tried at a login); empty when unknown.
    pub user_name: String,
    /// Their role, when known.
    pub role: String,
    /// Their scope's region code, when known.
    pub scope: String,
    /// Client address.
    pub address: String,
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// What: `login`, `logout`, `reopen`, `import`, `refused` …
    pub action: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// Details: the problem's type and text, or what was done.
    pub detail: String,
    /// Which hub process.
    pub hub_instance: String,
}

struct Queued {
    row: AuditRow,
    done: Option<oneshot::Sender<bool>>,
}

/// Sends rows to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Auditor {
    tx: mpsc::Sender<Queued>,
}

/// The writer task; await it after the last [`Auditor`] is dropped to flush what is queued.
pub struct AuditTask(JoinHandle<()>);

impl Auditor {
    /// Starts the writer.
    pub fn spawn(store: Store) -> (Auditor, AuditTask) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (
            Auditor { tx },
            AuditTask(tokio::spawn(write_loop(store, rx))),
        )
    }

    /// Queues a row.
    pub fn record(&self, row: AuditRow) {
        if let Err(e) = self.tx.try_send(Queued { row, done: None }) {
            tracing::warn!(error = %e, "web audit queue full: a row was dropped");
        }
    }

    /// Writes a row and waits until it is stored; false when it could not be.
    pub async fn record_and_wait(&self, row: AuditRow) -> bool {
        let (done, rx) = oneshot::channel();
        if self
            .tx
            .send(Queued {
                row,
                done: Some(done),
            })
            .await
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

impl AuditTask {
    /// Waits for the queue to be written (call after the web server stopped).
    pub async fn finish(self) {
        if let Err(e) = self.0.await {
            tracing::error!(error = %e, "web audit task panicked");
        }
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<Queued>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let rows: Vec<AuditRow> = batch.iter().map(|q| q.row.clone()).collect();
        let ok = match crate::registry::db::insert::<AuditRow>(&store, "web_audit", &rows).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, rows = rows.len(), "web audit rows not stored");
                false
            }
        };
        for q in batch {
            if let Some(done) = q.done {
                let _ = done.send(ok);
            }
        }
    }
}
