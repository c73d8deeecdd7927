//! Recording what the hub answered, many reports in one transaction, and the queries the
//! delivery loop and `sme-agent status` need.
//!
//! One commit per answer would cost one `fsync` per report (`synchronous=FULL`); draining a
//! backlog records the answers of a whole page of reports at once instead. A crash between the
//! hub's answer and the commit only means the report is sent again, and the hub answers a repeated
//! `report_id` with the original receipt.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use sme_proto::period::Period;
use time::OffsetDateTime;

use super::outbox::OutboxState;
use super::{from_ms, now_ms, to_ms, OutboxItem, Store, StoreError};

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The hub accepted the report (or had it already); `receipt` is the encoded receipt.
    /// Recorded whatever the row's state, because the hub has it.
    Delivered {
        /// The report.
        report_id: String,
        /// Encoded `sme_proto::v1::Receipt`.
        receipt: Vec<u8>,
    },
    /// The hub refused the report for a reason resending it unchanged cannot fix. Recorded only
    /// while the row is pending (a newer revision may have superseded it meanwhile).
    Rejected {
        /// The report.
        report_id: String,
        /// JSON with the hub's code, message and field violations.
        detail_json: String,
        /// The hub holds this revision of the period, or a higher one: the highest it holds.
        /// The period is then rebuilt above it at the next run.
        hub_revision: Option<u32>,
    },
    /// Not delivered for a passing reason; try again at `next_attempt_at`. Recorded only while
    /// the row is pending.
    Retry {
        /// The report.
        report_id: String,
        /// Not before this instant.
        next_attempt_at: OffsetDateTime,
        /// Why, for `status`.
        error: String,
    },
}

/// Number of outbox rows per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting for delivery.
    pub pending: u64,
    /// Accepted by the hub.
    pub delivered: u64,
    /// Refused by the hub and not replaced by a newer revision.
    pub rejected: u64,
    /// Replaced by a newer revision before delivery.
    pub superseded: u64,
}

/// A period the report builder held back because its local check found errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedPeriod {
    /// The period.
    pub period: Period,
    /// The revision the build would have had.
    pub revision: u32,
    /// The errors, JSON array of `sme_proto::v1::FieldViolation`.
    pub violations_json: String,
    /// When the check ran.
    pub checked_at: OffsetDateTime,
}

// === impl Store ===

impl Store {
    /// Records the outcome of many attempts in ONE transaction; see [`Attempt`] for which rows
    /// each kind updates. Unknown report ids are an error and nothing is recorded.
    pub fn record_attempts(&mut self, attempts: &[Attempt]) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut exists = tx.prepare_cached("SELECT 1 FROM outbox WHERE report_id = ?1")?;
            let mut delivered = tx.prepare_cached(
                "UPDATE outbox SET state = 'delivered', receipt = ?2, delivered_at = ?3,
                     attempts = attempts + 1, last_error = NULL, updated_at = ?3
                 WHERE report_id = ?1",
            )?;
            let mut rejected = tx.prepare_cached(
                "UPDATE outbox SET state = 'rejected', violations = ?2, attempts = attempts + 1,
                     last_error = NULL, updated_at = ?3
                 WHERE report_id = ?1 AND state = 'pending'",
            )?;
            // A revision the hub holds already (or below the one it holds): the next build of
            // the period goes above the hub's, even with unchanged content.
            let mut above = tx.prepare_cached(
                "UPDATE periods SET last_revision = max(coalesce(last_revision, 0), ?2),
                     last_content_hash = NULL, change_seq = change_seq + 1, updated_at = ?3
                 WHERE period = (SELECT period FROM outbox WHERE report_id = ?1)",
            )?;
            let mut retry = tx.prepare_cached(
                "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3, attempts = attempts + 1,
                     updated_at = ?4
                 WHERE report_id = ?1 AND state = 'pending'",
            )?;
            for a in attempts {
                let id = match a {
                    Attempt::Delivered { report_id, .. }
                    | Attempt::Rejected { report_id, .. }
                    | Attempt::Retry { report_id, .. } => report_id,
                };
                if exists.query_row([id], |_| Ok(())).optional()?.is_none() {
                    return Err(StoreError::UnknownReport(id.clone()));
                }
                match a {
                    Attempt::Delivered { report_id, receipt } => {
                        delivered.execute(params![report_id, receipt, now])?;
                    }
                    Attempt::Rejected {
                        report_id,
                        detail_json,
                        hub_revision,
                    } => {
                        serde_json::from_str::<serde_json::Value>(detail_json).map_err(|e| {
                            StoreError::Invalid(format!("rejection detail is not JSON: {e}"))
                        })?;
                        let changed = rejected.execute(params![report_id, detail_json, now])?;
                        if let (Some(hub), 1) = (hub_revision, changed) {
                            above.execute(params![report_id, hub, now])?;
                        }
                    }
                    Attempt::Retry {
                        report_id,
                        next_attempt_at,
                        error,
                    } => {
                        retry.execute(params![report_id, to_ms(*next_attempt_at), error, now])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Periods the hub acknowledged, each with its highest acknowledged revision, the most
    /// recently delivered first, at most `limit` (for the heartbeat's reconciliation).
    pub fn delivered_periods(&self, limit: usize) -> Result<Vec<(String, u32)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT period, max(revision) FROM outbox WHERE state = 'delivered'
             GROUP BY period ORDER BY max(delivered_at) DESC, period LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the earliest pending report is due, if any is pending.
    pub fn next_due(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let ms: Option<i64> = self.conn.query_row(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        ms.map(from_ms).transpose()
    }

    /// The newest revision of `period` that is pending or delivered: what the hub has or will
    /// have (the W201 baseline of the next period).
    pub fn latest_report(&self, period: &Period) -> Result<Option<OutboxItem>, StoreError> {
        Ok(self
            .outbox_query(
                "WHERE period = ?1 AND state IN ('pending', 'delivered')
                 ORDER BY revision DESC LIMIT 1",
                [period.to_string()],
            )?
            .pop())
    }

    /// Reports of `state`, newest first, at most `limit`.
    pub fn outbox_by_state(
        &self,
        state: OutboxState,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.outbox_query(
            "WHERE state = ?1 ORDER BY updated_at DESC LIMIT ?2",
            params![state.as_str(), limit as i64],
        )
    }

    /// Number of outbox rows per state.
    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut counts = OutboxCounts::default();
        for row in rows {
            let (state, n) = row?;
            let n = n as u64;
            match state.parse::<OutboxState>()? {
                OutboxState::Pending => counts.pending = n,
                OutboxState::Delivered => counts.delivered = n,
                OutboxState::Rejected => counts.rejected = n,
                OutboxState::Superseded => counts.superseded = n,
            }
        }
        Ok(counts)
    }

    /// Makes the next build of `period` produce a new revision even if its content did not
    /// change (after the hub asked for it to be resent, or to replace a rejected revision).
    pub fn force_rebuild(&mut self, period: &Period) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        super::mark_periods_dirty(&tx, [period.to_string().as_str()])?;
        tx.execute(
            "UPDATE periods SET last_content_hash = NULL WHERE period = ?1",
            [period.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records that the build of `period` failed its local check.
    pub fn set_blocked(
        &mut self,
        period: &Period,
        revision: u32,
        violations_json: &str,
    ) -> Result<(), StoreError> {
        serde_json::from_str::<serde_json::Value>(violations_json)
            .map_err(|e| StoreError::Invalid(format!("violations are not JSON: {e}")))?;
        self.conn.execute(
            "INSERT INTO blocked_periods (period, revision, violations, checked_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (period) DO UPDATE SET revision = excluded.revision,
                 violations = excluded.violations, checked_at = excluded.checked_at",
            params![period.to_string(), revision, violations_json, now_ms()],
        )?;
        Ok(())
    }

    /// Forgets a blocked period (its build passed, or it no longer needs one).
    pub fn clear_blocked(&mut self, period: &Period) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM blocked_periods WHERE period = ?1",
            [period.to_string()],
        )?;
        Ok(())
    }

    /// Periods held back by the local check, by period.
    pub fn blocked(&self) -> Result<Vec<BlockedPeriod>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT period, revision, violations, checked_at FROM blocked_periods ORDER BY period",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (period, revision, violations_json, checked_at) = row?;
            out.push(BlockedPeriod {
                period: period
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("period {period:?}: {e}")))?,
                revision,
                violations_json,
                checked_at: from_ms(checked_at)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;
    use crate::store::BuildStamp;
    use time::Duration;

    fn p(code: &str) -> Period {
        code.parse().unwrap()
    }

    fn id(n: u8) -> String {
        format!("00000000-0000-4000-8000-0000000000{n:02}")
    }

    fn enqueue(s: &mut Store, n: u8, period: &str, revision: u32) {
        let stamp = BuildStamp {
            content_hash: format!("h{n}"),
            change_seq: 0,
        };
        s.enqueue(&id(n), &p(period), revision, b"r", &stamp)
            .unwrap();
    }

    #[test]
    fn a_batch_of_outcomes_is_recorded_at_once() {
        let (_d, mut s) = temp_store();
        enqueue(&mut s, 1, "2026-M01", 0);
        enqueue(&mut s, 2, "2026-M02", 0);
        enqueue(&mut s, 3, "2026-M03", 0);
        let later = OffsetDateTime::now_utc() + Duration::minutes(10);
        s.record_attempts(&[
            Attempt::Delivered {
                report_id: id(1),
                receipt: b"ok".to_vec(),
            },
            Attempt::Rejected {
                report_id: id(2),
                detail_json: r#"{"code":"InvalidArgument"}"#.into(),
                hub_revision: None,
            },
            Attempt::Retry {
                report_id: id(3),
                next_attempt_at: later,
                error: "hub unavailable".into(),
            },
        ])
        .unwrap();
        let counts = s.outbox_counts().unwrap();
        assert_eq!(
            counts,
            OutboxCounts {
                pending: 1,
                delivered: 1,
                rejected: 1,
                superseded: 0
            }
        );
        assert_eq!(
            s.next_due().unwrap().map(|t| t.unix_timestamp()),
            Some(later.unix_timestamp())
        );
        assert_eq!(
            s.latest_report(&p("2026-M01")).unwrap().unwrap().report_id,
            id(1)
        );
        assert!(
            s.latest_report(&p("2026-M02")).unwrap().is_none(),
            "rejected is not a baseline"
        );
    }

    #[test]
    fn an_unknown_id_records_nothing() {
        let (_d, mut s) = temp_store();
        enqueue(&mut s, 1, "2026-M01", 0);
        let err = s
            .record_attempts(&[
                Attempt::Delivered {
                    report_id: id(1),
                    receipt: vec![],
                },
                Attempt::Delivered {
                    report_id: id(9),
                    receipt: vec![],
                },
            ])
            .unwrap_err();
        assert!(matches!(err, StoreError::UnknownReport(_)), "{err}");
        assert_eq!(s.outbox_counts().unwrap().pending, 1);
    }

    #[test]
    fn a_superseded_report_is_not_rescheduled_but_its_delivery_is_kept() {
        let (_d, mut s) = temp_store();
        enqueue(&mut s, 1, "2026-M01", 0);
        enqueue(&mut s, 2, "2026-M01", 1);
        s.record_attempts(&[Attempt::Retry {
            report_id: id(1),
            next_attempt_at: OffsetDateTime::now_utc(),
            error: "x".into(),
        }])
        .unwrap();
        assert_eq!(
            s.outbox_item(&id(1)).unwrap().unwrap().state,
            OutboxState::Superseded
        );
        s.record_attempts(&[Attempt::Delivered {
            report_id: id(1),
            receipt: vec![1],
        }])
        .unwrap();
        assert_eq!(
            s.outbox_item(&id(1)).unwrap().unwrap().state,
            OutboxState::Delivered
        );
    }

    #[test]
    fn force_rebuild_makes_a_clean_period_dirty_without_a_hash() {
        let (_d, mut s) = temp_store();
        enqueue(&mut s, 1, "2026-M01", 0);
        let m = p("2026-M01");
        assert!(!s.period_state(&m).unwrap().dirty);
        s.force_rebuild(&m).unwrap();
        let st = s.period_state(&m).unwrap();
        assert!(st.dirty);
        assert_eq!(st.last_content_hash, None);
        assert_eq!(st.next_revision(), 1);
    }

    #[test]
    fn blocked_periods_roundtrip() {
        let (_d, mut s) = temp_store();
        s.set_blocked(&p("2026-M05"), 0, r#"[{"rule_id":"E010"}]"#)
            .unwrap();
        s.set_blocked(&p("2026-M05"), 1, r#"[{"rule_id":"E005"}]"#)
            .unwrap();
        let b = s.blocked().unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].revision, 1);
        assert!(b[0].violations_json.contains("E005"));
        assert!(s.set_blocked(&p("2026-M05"), 1, "nope").is_err());
        s.clear_blocked(&p("2026-M05")).unwrap();
        assert!(s.blocked().unwrap().is_empty());
    }
}
