//! Group commit: many reports per ClickHouse insert, each RPC acknowledged only once its batch
//! is stored.
//!
//! ```text
//!  RPC ─ admit() ──(intake: ≤ queue_capacity reports, ≤ queue_bytes)── lookups, rules ─┐
//!                 └─ full: RESOURCE_EXHAUSTED + RetryInfo                            │
//!  RPC ◀── ack (oneshot) ◀── writer task: batch ≤ max_batch_reports / _bytes / _delay ◀┘ store()
//!                              one INSERT per table, then the audit rows, then the next batch
//! ```
//!
//! - **Intake bound.** [`Writer::admit`] is the first thing a report RPC does after
//!   authentication. It takes one report slot and the report's encoded size from two
//!   semaphores and holds them until the RPC returns, so the reports the hub holds in memory
//!   (being checked, queued or flushed) never exceed `queue_capacity` nor `queue_bytes`.
//!   When either is exhausted the RPC is refused at once with `RESOURCE_EXHAUSTED` and a
//!   `RetryInfo` hint sized to drain the queue, with jitter so that thousands of agents do not
//!   come back in the same second.
//! - **Batching.** The writer task takes the first queued report, then everything already
//!   queued, then waits at most `max_delay` for more, up to `max_batch_reports` reports or
//!   `max_batch_bytes` encoded bytes. At most `flushes_in_flight` (1) flushes run at a time:
//!   while they run, reports queue up and form the next, larger batch, so batches grow with
//!   load (and the number of ClickHouse parts per second stays small) without a tuned delay.
//! - **Own thread.** The writer and the lookup collector run on an [`IngestRuntime`], a
//!   dedicated OS thread, not among the thousands of RPC and TLS tasks of the main runtime: the
//!   bottleneck of ingestion gets a fair share of the CPU from the kernel instead of one slot in
//!   a long run queue.
//! - **Acknowledgement.** A flush stores the batch with [`Store::insert_reports`] (one
//!   `INSERT` per table) and only then answers each waiting RPC. If ClickHouse fails, every
//!   RPC of the batch gets `UNAVAILABLE` with a retry hint; agents keep the report in their
//!   outbox (they delete only on a receipt) and send it again. A partly written batch is
//!   harmless: resending collapses by `report_id` (see `store::migrations`).
//! - **Audit.** Accepted reports carry their audit entry through the batch (its outcome becomes
//!   `deferred` if the batch fails); refusals send theirs with [`Writer::audit`], which never
//!   waits. A flush stores the batch's reports, then its audit rows, and only then answers:
//!   an accepted report's audit row is in ClickHouse — or, when ClickHouse does not take it,
//!   fsynced in the spill on disk ([`crate::ingest::spill`]) — before its receipt goes out
//!   (if neither takes it, the RPC gets `UNAVAILABLE` and the agent's resend is answered from
//!   the stored report). Refusals queue in memory up to 4 × `queue_capacity` (at least
//!   20 000) entries, then in the spill; the writer stores the spill a segment at a time once
//!   ClickHouse takes writes again. Only a spill past `audit_spill_max_bytes` drops entries,
//!   counted in `sme_hub_audit_dropped_total`.
//! - **Shutdown.** [`WriterTask::drain`] refuses new work, flushes everything queued (reports
//!   and audit entries), and returns.
//!
//! **Crash window.** Data is durable once acknowledged, and so is its audit row. A crash (not
//! a graceful stop) loses what was only in memory: reports not yet acknowledged (their agents
//! never got a receipt, so they resend), the audit entries of refusals still queued in memory
//! (at most one batch delay's worth) and the last unsynced page of refusals in the spill.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::{AcceptedReport, AuditEntry, Store};
use crate::web::Metrics;

mod batch;
mod error;
mod runtime;
mod share;

use crate::ingest::spill::AuditSpill;
use batch::{drain_spill, flush, Batch};
pub use error::WriteError;
pub use runtime::IngestRuntime;
use share::{PlatformShares, Share};

/// Retry hint when ClickHouse is unavailable or the hub is stopping.
pub const RETRY_AFTER_UNAVAILABLE: Duration = Duration::from_secs(30);
/// Shortest and longest hint when the intake is full.
const MIN_BUSY_RETRY: Duration = Duration::from_secs(1);
const MAX_BUSY_RETRY: Duration = Duration::from_secs(120);
/// How often an idle writer tries to store what waits in the audit spill.
const SPILL_RETRY: Duration = Duration::from_secs(1);

/// Tuning of the writer (`[writer]` in the hub config).
#[derive(Debug, Clone, PartialEq)]
pub struct WriterSettings {
    /// Most reports in one flush.
    pub max_batch_reports: usize,
    /// Most encoded report bytes in one flush.
    pub max_batch_bytes: usize,
    /// Longest a report waits for companions before its batch is flushed anyway.
    pub max_delay: Duration,
    /// Shortest time between the starts of two flushes. Under a steady trickle (reports
    /// arriving faster than one per flush, flushes quicker than this) a batch keeps collecting
    /// until this much time has passed since the previous flush began: ClickHouse 18.16 writes
    /// two files per column for every insert, so a few larger inserts cost far less than many
    /// small ones (docs/benchmarks.md). A report arriving after a quiet spell is not delayed.
    pub min_flush_interval: Duration,
    /// Most reports the hub holds at once (being checked, queued or being flushed).
    pub queue_capacity: usize,
    /// Most encoded report bytes the hub holds at once.
    pub queue_bytes: usize,
    /// Most of `queue_capacity` one platform may hold, percent (100: no limit of its own).
    pub max_platform_share_percent: u8,
    /// Batches being stored at the same time. One (the default) makes the largest batches:
    /// on ClickHouse 18.16 every insert writes two files per column and table, so the number
    /// of inserts, not of rows, is what costs (see docs/benchmarks.md).
    pub flushes_in_flight: usize,
}

impl Default for WriterSettings {
    fn default() -> Self {
        Self {
            max_batch_reports: 2_000,
            max_batch_bytes: 32 << 20,
            max_delay: Duration::from_millis(10),
            min_flush_interval: Duration::from_millis(200),
            queue_capacity: 10_000,
            queue_bytes: 256 << 20,
            flushes_in_flight: 1,
            max_platform_share_percent: 25,
        }
    }
}

/// A report's place in the intake; released when the RPC finishes.
#[derive(Debug)]
pub struct Admission {
    _share: Share,
    _slot: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
    bytes: usize,
    metrics: Arc<Metrics>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.metrics.queue_reports.add(-1);
        self.metrics.queue_bytes.add(-(self.bytes as i64));
    }
}

// === impl Writer ===

/// The RPC side of the writer. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
}

pub(super) struct Shared {
    settings: WriterSettings,
    metrics: Arc<Metrics>,
    slots: Arc<Semaphore>,
    kib: Arc<Semaphore>,
    audit_slots: Arc<Semaphore>,
    tx: mpsc::UnboundedSender<Item>,
    closed: AtomicBool,
    /// Exponential moving average of flush time per report, nanoseconds (for retry hints).
    ns_per_report: AtomicU64,
    /// Audit entries that found no room in memory or in ClickHouse.
    spill: Arc<AuditSpill>,
    /// Held while a spill segment is being stored, so two flushes never store one twice.
    draining: tokio::sync::Mutex<()>,
    /// Report slots held per platform.
    shares: Arc<PlatformShares>,
}

impl Shared {
    /// Writes `entries` to the spill without fsync (a refusal that overflowed the memory
    /// queue); a full spill drops them, counted.
    fn spill_now(&self, entries: &[AuditEntry]) {
        if let Err(e) = self.spill.append(entries, false) {
            self.metrics.audit_dropped.add(entries.len() as u64);
            tracing::error!(error = %e, entries = entries.len(), "audit entries dropped");
        }
    }
}

pub(super) enum Item {
    Report(Box<Pending>),
    Audit(Box<AuditEntry>, OwnedSemaphorePermit),
}

pub(super) struct Pending {
    report: AcceptedReport,
    audit: AuditEntry,
    bytes: usize,
    ack: oneshot::Sender<Result<(), WriteError>>,
    hold: Box<dyn Send>,
}

/// Modes of the writer task.
const NORMAL: u8 = 0;
/// Flush as soon as a batch has anything: a shutdown has begun.
const HURRY: u8 = 1;
/// Flush everything queued, then stop.
const CLOSING: u8 = 2;

/// The writer's task; see [`WriterTask::hurry`] and [`WriterTask::drain`].
pub struct WriterTask {
    close: watch::Sender<u8>,
    task: JoinHandle<()>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Starts the writer task on `runtime` (see [`IngestRuntime`]).
    pub fn spawn(
        runtime: &tokio::runtime::Handle,
        store: Store,
        settings: WriterSettings,
        metrics: Arc<Metrics>,
        spill: Arc<AuditSpill>,
    ) -> (Writer, WriterTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (close, close_rx) = watch::channel(NORMAL);
        let kib = settings.queue_bytes.div_ceil(1024).max(1);
        let (settings_capacity, settings_share) =
            (settings.queue_capacity, settings.max_platform_share_percent);
        let shared = Arc::new(Shared {
            slots: Arc::new(Semaphore::new(settings.queue_capacity)),
            kib: Arc::new(Semaphore::new(kib)),
            audit_slots: Arc::new(Semaphore::new(audit_capacity(&settings))),
            settings,
            metrics,
            tx,
            closed: AtomicBool::new(false),
            ns_per_report: AtomicU64::new(100_000),
            spill,
            draining: tokio::sync::Mutex::new(()),
            shares: Arc::new(PlatformShares::new(settings_capacity, settings_share)),
        });
        let task = runtime.spawn(run(rx, store, shared.clone(), close_rx));
        (
            Writer {
                shared: shared.clone(),
            },
            WriterTask {
                close,
                task,
                shared,
            },
        )
    }

    /// Reserves room for a report of `encoded_len` bytes from `platform_id`, or refuses at
    /// once when the intake is full or the platform holds its whole share of it (nothing waits
    /// here: waiting would only move the queue into memory elsewhere).
    pub fn admit(&self, platform_id: &str, encoded_len: usize) -> Result<Admission, WriteError> {
        let s = &self.shared;
        if s.closed.load(Ordering::SeqCst) {
            return Err(WriteError::ShuttingDown {
                retry_after: jitter(RETRY_AFTER_UNAVAILABLE),
            });
        }
        let kib = u32::try_from(encoded_len.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        let slot = s.slots.clone().try_acquire_owned();
        let bytes = s.kib.clone().try_acquire_many_owned(kib);
        match (slot, bytes) {
            (Ok(slot), Ok(bytes)) => {
                // The platform's share is checked once the intake has room: a full intake is
                // everybody's answer, a used-up share only this platform's.
                let share = s.shares.take(platform_id).map_err(|held| {
                    let queued = s.settings.queue_capacity - s.slots.available_permits();
                    WriteError::PlatformBusy {
                        held,
                        retry_after: self.busy_retry_after(queued.max(held)),
                    }
                })?;
                s.metrics.queue_reports.add(1);
                s.metrics.queue_bytes.add(encoded_len as i64);
                Ok(Admission {
                    _share: share,
                    _slot: slot,
                    _bytes: bytes,
                    bytes: encoded_len,
                    metrics: s.metrics.clone(),
                })
            }
            _ => {
                let queued = s.settings.queue_capacity - s.slots.available_permits();
                Err(WriteError::Busy {
                    queued,
                    retry_after: self.busy_retry_after(queued),
                })
            }
        }
    }

    /// Queues an accepted report with its audit entry and waits until its batch is stored.
    ///
    /// `hold` (the report's [`Admission`], its locks) is kept with the report and dropped
    /// only after its batch was stored or failed — not when this future is dropped because
    /// the caller went away — so the intake bound and the report's locks cover the report for
    /// as long as the hub holds it.
    pub async fn store(
        &self,
        report: AcceptedReport,
        audit: AuditEntry,
        encoded_len: usize,
        hold: impl Send + 'static,
    ) -> Result<(), WriteError> {
        let s = &self.shared;
        let shutting_down = || WriteError::ShuttingDown {
            retry_after: jitter(RETRY_AFTER_UNAVAILABLE),
        };
        if s.closed.load(Ordering::SeqCst) {
            return Err(shutting_down());
        }
        let (ack, done) = oneshot::channel();
        let item = Item::Report(Box::new(Pending {
            report,
            audit,
            bytes: encoded_len,
            ack,
            hold: Box::new(hold),
        }));
        s.metrics.pending_reports.add(1);
        if s.tx.send(item).is_err() {
            s.metrics.pending_reports.add(-1);
            return Err(shutting_down());
        }
        // A dropped sender means the writer stopped before flushing it. The writer counts the
        // report out of `pending_reports` when it answers (this future may be dropped).
        done.await.unwrap_or_else(|_| Err(shutting_down()))
    }

    /// Queues the audit entry of a submission that was not stored. Never waits: when the
    /// audit queue is full the entry goes to the spill on disk ([`crate::ingest::spill`]), and
    /// only a full spill drops it (counted in `sme_hub_audit_dropped_total`).
    pub fn audit(&self, entry: AuditEntry) {
        let s = &self.shared;
        let entry = match s.audit_slots.clone().try_acquire_owned() {
            Ok(permit) => match s.tx.send(Item::Audit(Box::new(entry), permit)) {
                Ok(()) => return,
                Err(mpsc::error::SendError(item)) => match item {
                    Item::Audit(entry, _) => *entry,
                    Item::Report(_) => unreachable!("an audit item was sent"),
                },
            },
            Err(_) => entry,
        };
        s.spill_now(&[entry]);
    }

    /// The settings in force.
    pub fn settings(&self) -> &WriterSettings {
        &self.shared.settings
    }

    /// A hint long enough for `queued` reports to drain at the recent flush rate, with up to
    /// 50 % jitter.
    fn busy_retry_after(&self, queued: usize) -> Duration {
        let per_report = Duration::from_nanos(self.shared.ns_per_report.load(Ordering::Relaxed));
        let drain = per_report.saturating_mul(u32::try_from(queued).unwrap_or(u32::MAX));
        jitter(drain.clamp(MIN_BUSY_RETRY, MAX_BUSY_RETRY))
    }
}

/// Audit entries (a few hundred bytes each) queued at most: a deferral or rejection storm
/// must not crowd them out as quickly as reports.
pub(super) fn audit_capacity(settings: &WriterSettings) -> usize {
    settings.queue_capacity.saturating_mul(4).max(20_000)
}

/// `d` plus up to 50 % of random jitter, in whole milliseconds.
pub(super) fn jitter(d: Duration) -> Duration {
    let extra = rand::rng().random_range(0..=d.as_millis() as u64 / 2);
    Duration::from_millis(d.as_millis() as u64 + extra)
}

// === impl WriterTask ===

impl WriterTask {
    /// Stops waiting for companions: every batch is flushed as soon as it has anything. Reports
    /// are still taken (calls in flight finish normally). The first step of a shutdown.
    pub fn hurry(&self) {
        self.close.send_if_modified(|mode| {
            let changed = *mode == NORMAL;
            *mode = (*mode).max(HURRY);
            changed
        });
    }

    /// Refuses new reports, flushes everything queued, and waits for the task to end.
    pub async fn drain(self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        let _ = self.close.send(CLOSING);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "writer task panicked");
        }
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Item>,
    store: Store,
    shared: Arc<Shared>,
    mut close: watch::Receiver<u8>,
) {
    let settings = shared.settings.clone();
    let flushes = settings.flushes_in_flight.max(1);
    let in_flight = Arc::new(Semaphore::new(flushes));
    // The WriterTask was dropped without a drain: drain anyway, and do not spin on `changed`.
    let mut orphaned = false;
    // When the previous flush began (see `WriterSettings::min_flush_interval`).
    let mut last_flush: Option<Instant> = None;
    let mode_of = |close: &mut watch::Receiver<u8>, orphaned: bool| {
        if orphaned {
            CLOSING
        } else {
            *close.borrow_and_update()
        }
    };
    loop {
        // While every flush slot is busy, reports queue up and the next batch grows.
        let permit = in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let mut mode = mode_of(&mut close, orphaned);
        let mut batch = Batch::default();
        // The first item: wait for it, unless draining.
        let first = if mode == CLOSING {
            rx.try_recv().ok()
        } else {
            tokio::select! {
                item = rx.recv() => item,
                changed = close.changed() => {
                    orphaned |= changed.is_err();
                    continue;
                }
                // Idle with entries on disk: store a segment of them.
                () = tokio::time::sleep(SPILL_RETRY), if shared.spill.has_entries() => {
                    let (store, shared) = (store.clone(), shared.clone());
                    tokio::spawn(async move {
                        drain_spill(&store, &shared).await;
                        drop(permit);
                    });
                    continue;
                }
            }
        };
        match first {
            Some(item) => batch.push(item),
            // Draining and nothing left, or every sender gone.
            None => {
                drop(permit);
                let _all = in_flight
                    .acquire_many(flushes as u32)
                    .await
                    .expect("the semaphore is never closed");
                // What waits on disk, while ClickHouse takes it; the rest stays for the next run.
                while shared.spill.has_entries() && drain_spill(&store, &shared).await {}
                tracing::info!("writer drained");
                return;
            }
        }
        let now = Instant::now();
        let deadline = match last_flush {
            Some(last) => (now + settings.max_delay).max(last + settings.min_flush_interval),
            None => now + settings.max_delay,
        };
        while !batch.is_full(&settings) {
            match rx.try_recv() {
                Ok(item) => {
                    batch.push(item);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Empty) if mode == NORMAL => {}
                Err(_) => break,
            }
            tokio::select! {
                item = rx.recv() => match item {
                    Some(item) => batch.push(item),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
                changed = close.changed(), if !orphaned => {
                    orphaned |= changed.is_err();
                    mode = mode_of(&mut close, orphaned);
                }
            }
        }
        last_flush = Some(Instant::now());
        let (store, shared) = (store.clone(), shared.clone());
        tokio::spawn(async move {
            flush(&store, &shared, batch).await;
            drop(permit);
        });
    }
}

/// Stores a batch's reports, answers their RPCs, then stores the audit rows.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_adds_at_most_half() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(2));
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_secs(3),
                "{d:?}"
            );
        }
    }

    #[test]
    fn errors_say_what_to_do() {
        let busy = WriteError::Busy {
            queued: 10,
            retry_after: Duration::from_secs(3),
        };
        assert!(busy.to_string().contains("retry in 3 s"), "{busy}");
        assert_eq!(busy.metric_reason(), "queue_full");
        assert!(WriteError::Invalid("x".into()).retry_after().is_none());
    }
}
