//! A batch of the writer and its flush: reports first, then the audit rows.

use std::sync::atomic::Ordering;

use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::{jitter, Item, Shared, WriteError, WriterSettings, RETRY_AFTER_UNAVAILABLE};
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
pub(super) async fn flush(store: &Store, shared: &Shared, batch: Batch) {
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
        if result.is_ok() {
            // An accepted report's audit row is stored (in ClickHouse, or fsynced in the spill)
            // before its receipt goes out (domain §6).
            audit_rows.extend(waiters.iter().map(|w| w.audit.clone()));
            let kept = store_audit(store, shared, audit_rows, true).await;
            for w in waiters {
                let Waiter { ack, _hold, .. } = w;
                // The intake slot and the locks go before the answer: an agent that resends
                // at once (or its next report) must find them free, not race this loop.
                drop(_hold);
                let _ = ack.send(if kept {
                    Ok(())
                } else {
                    Err(WriteError::Unavailable {
                        reason: "the audit trail cannot be written".into(),
                        retry_after: jitter(RETRY_AFTER_UNAVAILABLE),
                    })
                });
                metrics.pending_reports.add(-1);
            }
            drop(permits);
            if kept && shared.spill.has_entries() {
                drain_spill(store, shared).await;
            }
            return;
        }
        let error = result.expect_err("handled above");
        for w in waiters {
            let Waiter {
                mut audit,
                ack,
                _hold,
            } = w;
            drop(_hold);
            audit.outcome = AuditOutcome::Deferred;
            audit.status_code = tonic::Code::Unavailable as i32;
            audit.rule_ids.clear();
            let _ = ack.send(Err(error.clone()));
            metrics.pending_reports.add(-1);
            audit_rows.push(audit);
        }
    }
    let kept = store_audit(store, shared, audit_rows, false).await;
    drop(permits);
    if kept && shared.spill.has_entries() {
        drain_spill(store, shared).await;
    }
}

/// Inserts audit rows; when ClickHouse does not take them they go to the spill (fsynced with
/// `sync`). False when they could be kept nowhere (counted as dropped).
async fn store_audit(store: &Store, shared: &Shared, rows: Vec<AuditEntry>, sync: bool) -> bool {
    if rows.is_empty() {
        return true;
    }
    let Err(e) = store.insert_audit(&rows).await else {
        return true;
    };
    tracing::warn!(rows = rows.len(), error = %e, "audit rows not stored; keeping them in the spill");
    let spill = shared.spill.clone();
    let n = rows.len();
    let spilled = tokio::task::spawn_blocking(move || spill.append(&rows, sync))
        .await
        .unwrap_or_else(|e| panic!("audit spill write panicked: {e}"));
    match spilled {
        Ok(()) => true,
        Err(e) => {
            shared.metrics.audit_dropped.add(n as u64);
            tracing::error!(error = %e, rows = n, "audit rows dropped: neither ClickHouse nor the spill took them");
            false
        }
    }
}

/// Stores the oldest segment of the spill, then deletes it. False when nothing was stored
/// (ClickHouse refused, or another flush is storing one).
pub(super) async fn drain_spill(store: &Store, shared: &Shared) -> bool {
    let Ok(_draining) = shared.draining.try_lock() else {
        return false;
    };
    let spill = shared.spill.clone();
    let segment = match tokio::task::spawn_blocking(move || spill.oldest()).await {
        Ok(Ok(Some(segment))) => segment,
        Ok(Ok(None)) => return false,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot read the audit spill");
            return false;
        }
        Err(e) => panic!("audit spill read panicked: {e}"),
    };
    for chunk in segment.entries.chunks(AUDIT_INSERT_ROWS) {
        if let Err(e) = store.insert_audit(chunk).await {
            // Chunks already stored are stored again with the segment later: the audit
            // table keeps rows, and a doubled row beats a lost one.
            tracing::debug!(error = %e, "audit spill not stored yet");
            return false;
        }
    }
    let n = segment.entries.len();
    let spill = shared.spill.clone();
    match tokio::task::spawn_blocking(move || spill.remove(segment)).await {
        Ok(Ok(())) => {
            tracing::info!(entries = n, "audit entries from the spill stored");
            true
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot delete a stored audit spill segment");
            false
        }
        Err(e) => panic!("audit spill delete panicked: {e}"),
    }
}

/// Rows per insert when the spill is drained.
const AUDIT_INSERT_ROWS: usize = 20_000;
