//! Batched replay and revision lookups.
//!
//! Every submission must know, before it is stored, whether its `report_id` was already
//! accepted (replay: answer the original receipt) and whether its (platform, period, revision)
//! is already taken (`ALREADY_EXISTS`). Done per RPC these are two ClickHouse queries per
//! report, and at tens of thousands of reports in a deadline window they cost more ClickHouse
//! time than the inserts. So RPCs hand their keys to a collector that asks for many at once
//! ([`Store::find_batch`]: one query per batch), the same group-commit idea as the writer.
//!
//! There is deliberately no cache of negative answers, and none of positive ones across hub
//! processes: ClickHouse is the truth. A report's lookup runs under its `report_id` lock (see
//! `service.rs`), which is held until the report is stored, so within one hub a lookup never
//! misses a report of the same id that is still on its way to ClickHouse.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use crate::ingest::batching::BatchLimits;
use crate::store::{LookupKey, Store, StoreError, StoredReceipt, MAX_LOOKUP_KEYS};
use crate::web::Metrics;

/// Up to `MAX_LOOKUP_KEYS` keys, 10 ms for companions, one batch in flight: each query costs
/// ClickHouse a few milliseconds of analysis whatever its size (see `batching.rs`).
const LIMITS: BatchLimits = BatchLimits {
    max_items: MAX_LOOKUP_KEYS,
    max_delay: Duration::from_millis(10),
    max_in_flight: 1,
};
/// Lookups waiting to be batched; senders wait beyond this (the writer's intake already bounds
/// how many reports are in the hub, so this is rarely reached).
const CHANNEL_CAPACITY: usize = 4_096;

/// What is already stored for one report.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The receipt of the same `report_id`, if it was accepted.
    pub receipt: Option<StoredReceipt>,
    /// The report accepted as the same (platform, period, revision), if any.
    pub revision_taken_by: Option<Uuid>,
    /// The highest revision accepted of the same (platform, period), if any.
    pub current_revision: Option<u32>,
}

/// The lookup collector's handle. Cheap to clone.
#[derive(Clone)]
pub struct Lookups {
    tx: mpsc::Sender<Request>,
}

struct Request {
    key: LookupKey,
    reply: oneshot::Sender<Result<Found, Arc<StoreError>>>,
}

impl Lookups {
    /// Starts the collector on `runtime` (see [`crate::ingest::writer::IngestRuntime`]). It stops when
    /// every handle is dropped.
    pub fn spawn(runtime: &tokio::runtime::Handle, store: Store, metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        runtime.spawn(crate::ingest::batching::collect(rx, LIMITS, move |batch| {
            let (store, metrics) = (store.clone(), metrics.clone());
            async move { answer(&store, &metrics, batch).await }
        }));
        Self { tx }
    }

    /// What is stored for `key`.
    pub async fn find(&self, key: LookupKey) -> Result<Found, Arc<StoreError>> {
        let (reply, answer) = oneshot::channel();
        let gone = || {
            Arc::new(StoreError::Unsupported(
                "the lookup task has stopped (the hub is shutting down)".into(),
            ))
        };
        self.tx
            .send(Request { key, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.unwrap_or_else(|_| Err(gone()))
    }
}

async fn answer(store: &Store, metrics: &Metrics, batch: Vec<Request>) {
    let started = Instant::now();
    // Several RPCs may carry the same key (concurrent copies are serialised by the report
    // lock, but revisions of different ids can coincide): ask once per key.
    let mut keys: Vec<LookupKey> = Vec::with_capacity(batch.len());
    let mut seen: HashMap<&LookupKey, ()> = HashMap::with_capacity(batch.len());
    for r in &batch {
        if seen.insert(&r.key, ()).is_none() {
            keys.push(r.key.clone());
        }
    }
    let result = store.find_batch(&keys).await;
    metrics.lookup_seconds.observe_duration(started.elapsed());
    metrics.lookup_batch_reports.observe(batch.len() as f64);
    match result {
        Ok(found) => {
            for r in batch {
                let k = &r.key;
                let _ = r.reply.send(Ok(Found {
                    receipt: found.receipts.get(&k.report_id).cloned(),
                    revision_taken_by: found
                        .revisions
                        .get(&(k.platform_id.clone(), k.period.clone(), k.revision))
                        .copied(),
                    current_revision: found
                        .current
                        .get(&(k.platform_id.clone(), k.period.clone()))
                        .copied(),
                }));
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
