//! Total services of a platform's current report of a period — the W201 baseline — looked up in
//! batches.
//!
//! Every submission with a well-formed period needs the previous period's total. Asked one
//! report at a time that is a ClickHouse query per report; at tens of thousands of reports in a
//! deadline window it would cost more than the inserts. So RPCs hand their (platform, period) to
//! a collector that asks for many at once (one query per batch, by the primary-key prefix of
//! `service_volume` and `reports`), the same group-commit idea as the writer and the replay
//! lookups. No answer is cached: ClickHouse is the truth, and a correction accepted a moment ago
//! is the next report's baseline.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clickhouse::Row;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use crate::ingest::batching::BatchLimits;
use crate::store::{migrations::CURRENT_REPORT_RANK, Store, StoreError};

/// Up to 500 keys (keeps the query text well under `max_query_size`), 10 ms for companions,
/// one batch in flight (see `batching.rs`).
const LIMITS: BatchLimits = BatchLimits {
    max_items: 500,
    max_delay: Duration::from_millis(10),
    max_in_flight: 1,
};
/// Lookups waiting to be batched; senders wait beyond this.
const CHANNEL_CAPACITY: usize = 4_096;

/// (platform id, period code).
type Key = (String, String);

struct Request {
    key: Key,
    reply: oneshot::Sender<Result<Option<u64>, Arc<StoreError>>>,
}

/// The collector's handle; the collector starts on the first lookup (on that runtime) and stops
/// when the handle is dropped.
pub struct TotalsLookup {
    store: Store,
    tx: OnceLock<mpsc::Sender<Request>>,
}

#[derive(Row, Deserialize)]
struct TotalRow {
    platform_id: String,
    period: String,
    functions: u64,
    total: u64,
}

// === impl TotalsLookup ===

impl TotalsLookup {
    /// A lookup over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            tx: OnceLock::new(),
        }
    }

    /// Σ services of the current report of (platform, period); `None` when there is none.
    pub async fn total(
        &self,
        platform_id: &str,
        period: &str,
    ) -> Result<Option<u64>, Arc<StoreError>> {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
            let store = self.store.clone();
            tokio::spawn(crate::ingest::batching::collect(rx, LIMITS, move |batch| {
                let store = store.clone();
                async move { answer(&store, batch).await }
            }));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let gone = || {
            Arc::new(StoreError::Unsupported(
                "the history lookup task has stopped (the hub is shutting down)".into(),
            ))
        };
        tx.send(Request {
            key: (platform_id.to_owned(), period.to_owned()),
            reply,
        })
        .await
        .map_err(|_| gone())?;
        answer.await.unwrap_or_else(|_| Err(gone()))
    }
}

async fn answer(store: &Store, batch: Vec<Request>) {
    let mut keys: Vec<&Key> = batch.iter().map(|r| &r.key).collect();
    keys.sort();
    keys.dedup();
    match totals(store, &keys).await {
        Ok(found) => {
            for r in batch {
                let total = found.get(&r.key).copied();
                let _ = r.reply.send(Ok(total));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for r in batch {
                let _ = r.reply.send(Err(e.clone()));
            }
        }
    }
}

/// The totals of the current reports of `keys`, in one query; keys without a report are absent.
pub async fn totals(store: &Store, keys: &[&Key]) -> Result<HashMap<Key, u64>, StoreError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    // A one-element tuple list would read as the tuple itself: repeat the key instead.
    let keys: Vec<&Key> = if keys.len() == 1 {
        vec![keys[0], keys[0]]
    } else {
        keys.to_vec()
    };
    let list = vec!["(?, ?)"; keys.len()].join(", ");
    // Rows of the current report of each key only, each function once however often written.
    let sql = format!(
        "SELECT platform_id, period, count() AS functions, sum(services) AS total FROM (
             SELECT platform_id, period, function, any(services) AS services
             FROM service_volume
             WHERE (platform_id, period) IN ({list}) AND report_id IN (
                 SELECT argMin(report_id, {CURRENT_REPORT_RANK})
                 FROM reports
                 WHERE (platform_id, period) IN ({list})
                 GROUP BY platform_id, period)
             GROUP BY platform_id, period, function)
         GROUP BY platform_id, period"
    );
    // Primary-key ranges of a few platforms: threads cost more than they save.
    let mut query = store.client().query(&sql).with_setting("max_threads", "1");
    for _ in 0..2 {
        for (platform, period) in &keys {
            query = query.bind(platform.as_str()).bind(period.as_str());
        }
    }
    let rows: Vec<TotalRow> = crate::registry::db::fetch_all(query, "previous totals").await?;
    Ok(rows
        .into_iter()
        .filter(|r| r.functions > 0)
        .map(|r| ((r.platform_id, r.period), r.total))
        .collect())
}
