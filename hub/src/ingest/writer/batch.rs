//! A batch of the writer and its flush: reports first, then the audit rows.

use std::sync::atomic::Ordering;

use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::{
    audit_capacity, jitter, Item, Shared, WriteError, WriterSettings, RETRY_AFTER_UNAVAILABLE,
};
use crate::store::{AcceptedReport, AuditEntry, AuditOutcome, Store, StoreError};

/// A batch being assembled: `reports[i]` belongs to `waiters[i]`.
#[derive(Default)]
pub(super) struct Batch {
    reports: Vec<AcceptedReport>,
    waiters: Vec<Waiter>,
    audits: Vec<AuditEntry>,
    bytes: usize,
    /// Audit permits, released once the batch's audit rows are handled.
    permits: Vec<OwnedSemaphorePermit>,
}

/// The RPC waiting for a report of the batch, and what to release once it is answered.
struct Waiter {
    audit: AuditEntry,
    ack: oneshot::Sender<Result<(), WriteError>>,
    /// Released (dropped) just before the answer.
    _hold: Box<dyn Send>,
}

impl Batch {
    pub(super) fn push(&mut self, item: Item) {
        match item {
            Item::Report(p) => {
                let p = *p;
                self.bytes += p.bytes;
                self.reports.push(p.report);
                self.waiters.push(Waiter {
                    audit: p.audit,
                    ack: p.ack,
                    _hold: p.hold,
                });
            }
            Item::Audit(entry, permit) => {
                self.audits.push(*entry);
                self.permits.push(permit);
            }
        }
    }

    pub(super) fn is_full(&self, s: &WriterSettings) -> bool {
        self.reports.len() >= s.max_batch_reports
            || self.bytes >= s.max_batch_bytes
            || self.audits.len() >= s.max_batch_reports * 4
    }
}

/// The writer task: assemble a batch, flush it, repeat; drain on close.
pub(super) async fn flush(
    store: &Store,
    shared: &Shared,
    batch: Batch,
    backlog: &tokio::sync::Mutex<Vec<AuditEntry>>,
) {
    let metrics = &shared.metrics;
    let Batch {
        mut reports,
        mut waiters,
        audits: mut audit_rows,
        permits,
        ..
    } = batch;
    if !reports.is_empty() {
        let started = Instant::now();
        let n = reports.len();
        let rows: usize = reports
            .iter()
            .map(|r| 1 + r.report.volumes.len() + r.report.service_records.len())
            .sum();
        let result = loop {
            match store.insert_reports(&reports).await {
                Err(StoreError::InvalidReport {
                    report_id,
                    field,
                    reason,
                }) => {
                    // Should never happen (the rules reject such reports): fail that report
                    // alone and store the others.
                    tracing::error!(%report_id, %field, %reason, "unstorable report in a batch");
                    let error = WriteError::Invalid(format!("{field}: {reason}"));
                    let Some(i) = reports.iter().position(|r| r.report.report_id == report_id)
                    else {
                        break Err(error);
                    };
                    reports.swap_remove(i);
                    let Waiter {
                        mut audit,
                        ack,
                        _hold,
                    } = waiters.swap_remove(i);
                    drop(_hold);
                    audit.outcome = AuditOutcome::Rejected;
                    audit.status_code = tonic::Code::Internal as i32;
                    audit_rows.push(audit);
                    let _ = ack.send(Err(error));
                    metrics.pending_reports.add(-1);
                    if reports.is_empty() {
                        break Ok(());
                    }
                }
                Err(e) => {
                    break Err(WriteError::Unavailable {
                        reason: e.to_string(),
                        retry_after: jitter(RETRY_AFTER_UNAVAILABLE),
                    })
                }
                Ok(()) => break Ok(()),
            }
        };
        drop(reports);
        let elapsed = started.elapsed();
        metrics.insert_seconds.observe_duration(elapsed);
        metrics.batch_reports.observe(n as f64);
        metrics.batch_rows.observe(rows as f64);
        match &result {
            Ok(()) => {
                // Moving average (1/8 weight) of the cost per report, for busy hints.
                let per = (elapsed.as_nanos() / n as u128) as u64;
                let old = shared.ns_per_report.load(Ordering::Relaxed);
                shared
                    .ns_per_report
                    .store(old - old / 8 + per / 8, Ordering::Relaxed);
                tracing::debug!(reports = n, rows, ?elapsed, "batch stored");
            }
            Err(e) => {
                metrics.flush_failures.inc();
                tracing::warn!(reports = n, error = %e, "batch not stored; its agents will retry");
            }
        }
        for w in waiters {
            let Waiter {
                mut audit,
                ack,
                _hold,
            } = w;
            // The intake slot and the locks go before the answer: an agent that resends at
            // once (or its next report) must find them free, not race this loop.
            drop(_hold);
            if let Err(e) = &result {
                audit.outcome = AuditOutcome::Deferred;
                audit.status_code = tonic::Code::Unavailable as i32;
                audit.rule_ids.clear();
                let _ = ack.send(Err(e.clone()));
            } else {
                let _ = ack.send(Ok(()));
            }
            metrics.pending_reports.add(-1);
            audit_rows.push(audit);
        }
    }
    flush_audit(store, shared, &mut *backlog.lock().await, audit_rows).await;
    drop(permits);
}

/// Inserts `rows` after any backlog; on failure keeps them (bounded) for the next flush.
pub(super) async fn flush_audit(
    store: &Store,
    shared: &Shared,
    backlog: &mut Vec<AuditEntry>,
    rows: Vec<AuditEntry>,
) {
    backlog.extend(rows);
    if backlog.is_empty() {
        return;
    }
    match store.insert_audit(backlog).await {
        Ok(()) => backlog.clear(),
        Err(e) => {
            let limit = audit_capacity(&shared.settings);
            if backlog.len() > limit {
                let dropped = backlog.len() - limit;
                backlog.drain(..dropped);
                shared.metrics.audit_dropped.add(dropped as u64);
                tracing::error!(dropped, error = %e, "audit backlog full; oldest entries dropped");
            } else {
                tracing::warn!(kept = backlog.len(), error = %e, "audit rows not stored; retrying with the next flush");
            }
        }
    }
}
