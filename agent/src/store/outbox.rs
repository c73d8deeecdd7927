//! The outbox of built reports and the per-period build state.
//!
//! Life of a report: `enqueue` (pending, due now) → `pending` hands it to the sender →
//! `mark_delivered` with the hub's receipt, `mark_rejected` with the field violations, or
//! `reschedule` after a transient failure. Enqueuing revision n of a period supersedes every
//! pending or rejected lower revision of it, so the sender never sends a stale revision after a
//! newer one. Delivered rows stay as the local record of what the hub holds.

use std::str::FromStr;

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use sme_proto::period::Period;
use time::OffsetDateTime;

use super::{from_ms, now_ms, to_ms, Store, StoreError};

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting to be sent (or re-sent at `next_attempt_at`).
    Pending,
    /// The hub accepted it; `receipt` holds the receipt.
    Delivered,
    /// The hub refused it; `violations` holds the field violations as JSON.
    Rejected,
    /// A newer revision of the same period replaced it before it was delivered.
    Superseded,
}

/// One built report in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// UUID, the idempotency key.
    pub report_id: String,
    /// Reporting period.
    pub period: Period,
    /// Revision (0 first).
    pub revision: u32,
    /// The encoded `sme_proto::v1::Report`.
    pub report: Vec<u8>,
    /// Delivery state.
    pub state: OutboxState,
    /// Send attempts so far.
    pub attempts: u32,
    /// Not to be sent before this instant.
    pub next_attempt_at: OffsetDateTime,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// The hub's receipt (encoded), once delivered.
    pub receipt: Option<Vec<u8>>,
    /// Field violations (JSON), once rejected.
    pub violations: Option<String>,
    /// When the hub accepted it.
    pub delivered_at: Option<OffsetDateTime>,
    /// When it was enqueued.
    pub created_at: OffsetDateTime,
    /// Last change of this row.
    pub updated_at: OffsetDateTime,
}

/// Build state of one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodState {
    /// The period.
    pub period: Period,
    /// Last revision built (and enqueued), if any.
    pub last_revision: Option<u32>,
    /// Content hash the last build recorded.
    pub last_content_hash: Option<String>,
    /// Change counter of the period's inputs; pass it back in [`BuildStamp`].
    pub change_seq: i64,
    /// Inputs changed since the last build (or never built and has inputs).
    pub dirty: bool,
}

/// What a build read, recorded with the report it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildStamp {
    /// Hash of the report's content without `report_id` and `generated_at`, so a rebuild that
    /// changes nothing can be recognised and skipped.
    pub content_hash: String,
    /// `PeriodState::change_seq` read before reading the inputs.
    pub change_seq: i64,
}

// === impl OutboxState ===

impl OutboxState {
    /// The text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Rejected => "rejected",
            OutboxState::Superseded => "superseded",
        }
    }
}

impl FromStr for OutboxState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => OutboxState::Pending,
            "delivered" => OutboxState::Delivered,
            "rejected" => OutboxState::Rejected,
            "superseded" => OutboxState::Superseded,
            other => return Err(StoreError::Corrupt(format!("outbox state {other:?}"))),
        })
    }
}

// === impl PeriodState ===

impl PeriodState {
    /// Revision the next build of this period must carry: 0 first, then last + 1.
    pub fn next_revision(&self) -> u32 {
        self.last_revision.map_or(0, |r| r + 1)
    }
}

// === impl Store ===

impl Store {
    /// Build state of `period` (a default, clean state when the store knows nothing of it).
    pub fn period_state(&self, period: &Period) -> Result<PeriodState, StoreError> {
        let state = self
            .conn
            .query_row(
                "SELECT period, last_revision, last_content_hash, change_seq, dirty
                 FROM periods WHERE period = ?1",
                [period.to_string()],
                read_period,
            )
            .optional()?
            .transpose()?;
        Ok(state.unwrap_or(PeriodState {
            period: *period,
            last_revision: None,
            last_content_hash: None,
            change_seq: 0,
            dirty: false,
        }))
    }

    /// Periods whose inputs changed since their last build, ordered by period code. Includes
    /// periods never built; the caller decides which of them are due.
    pub fn dirty_periods(&self) -> Result<Vec<PeriodState>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT period, last_revision, last_content_hash, change_seq, dirty
             FROM periods WHERE dirty ORDER BY period",
        )?;
        let rows = stmt.query_map([], read_period)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Records that a rebuild from `change_seq` produced the same content as the last revision,
    /// so no new revision is needed; the period stays dirty if it changed again since.
    pub fn mark_unchanged(&mut self, period: &Period, change_seq: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE periods SET built_seq = max(built_seq, ?2), updated_at = ?3 WHERE period = ?1",
            params![period.to_string(), change_seq, now_ms()],
        )?;
        Ok(())
    }

    /// Puts a built report in the outbox, due now, in one transaction that also supersedes
    /// pending/rejected lower revisions of the period and records the build in `periods`.
    /// `revision` must be newer than the last built one ([`PeriodState::next_revision`]).
    pub fn enqueue(
        &mut self,
        report_id: &str,
        period: &Period,
        revision: u32,
        bytes: &[u8],
        built: &BuildStamp,
    ) -> Result<(), StoreError> {
        uuid::Uuid::parse_str(report_id)
            .map_err(|e| StoreError::Invalid(format!("report id {report_id:?}: {e}")))?;
        let code = period.to_string();
        let now = now_ms();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last: Option<Option<u32>> = tx
            .query_row(
                "SELECT last_revision FROM periods WHERE period = ?1",
                [&code],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(last) = last.flatten().filter(|&last| revision <= last) {
            return Err(StoreError::StaleRevision {
                period: code,
                revision,
                last,
            });
        }
        let exists = tx
            .query_row(
                "SELECT 1 FROM outbox WHERE report_id = ?1",
                [report_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if exists {
            return Err(StoreError::DuplicateReport(report_id.to_owned()));
        }
        tx.execute(
            "UPDATE outbox SET state = 'superseded', updated_at = ?3
             WHERE period = ?1 AND revision < ?2 AND state IN ('pending', 'rejected')",
            params![code, revision, now],
        )?;
        tx.execute(
            "INSERT INTO outbox (report_id, period, revision, report, state, next_attempt_at,
                                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?5)",
            params![report_id, code, revision, bytes, now],
        )?;
        tx.execute(
            "INSERT INTO periods (period, last_revision, last_content_hash, change_seq, built_seq,
                                  updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5)
             ON CONFLICT (period) DO UPDATE SET last_revision = excluded.last_revision,
                 last_content_hash = excluded.last_content_hash,
                 built_seq = max(built_seq, excluded.built_seq),
                 updated_at = excluded.updated_at",
            params![code, revision, built.content_hash, built.change_seq, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Pending reports due now, oldest due first, at most `limit`.
    pub fn pending(&self, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.pending_at(OffsetDateTime::now_utc(), limit)
    }

    /// Pending reports due at `now`, oldest due first, at most `limit`. Reports due at the same
    /// moment (a backlog) come in period order, so that a page of a large backlog covers few
    /// years: the hub stores each year in its own ClickHouse partition, and a batch spread over
    /// ten years writes ten times the part files (docs/benchmarks.md, "Agent footprint").
    pub fn pending_at(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        self.outbox_query(
            "WHERE state = 'pending' AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, period, revision, created_at LIMIT ?2",
            params![to_ms(now), limit as i64],
        )
    }

    /// Marks a report accepted by the hub and stores its receipt.
    pub fn mark_delivered(&mut self, report_id: &str, receipt: &[u8]) -> Result<(), StoreError> {
        let now = now_ms();
        self.update_one(
            report_id,
            "UPDATE outbox SET state = 'delivered', receipt = ?2, delivered_at = ?3,
                 attempts = attempts + 1, last_error = NULL, updated_at = ?3
             WHERE report_id = ?1",
            params![report_id, receipt, now],
        )
    }

    /// Marks a report refused by the hub, with its field violations as JSON.
    pub fn mark_rejected(
        &mut self,
        report_id: &str,
        violations_json: &str,
    ) -> Result<(), StoreError> {
        serde_json::from_str::<serde_json::Value>(violations_json)
            .map_err(|e| StoreError::Invalid(format!("violations are not JSON: {e}")))?;
        self.update_one(
            report_id,
            "UPDATE outbox SET state = 'rejected', violations = ?2, attempts = attempts + 1,
                 updated_at = ?3
             WHERE report_id = ?1",
            params![report_id, violations_json, now_ms()],
        )
    }

    /// Records a failed attempt and when to try again. The state is left as it is.
    pub fn reschedule(
        &mut self,
        report_id: &str,
        next_attempt_at: OffsetDateTime,
        error: &str,
    ) -> Result<(), StoreError> {
        self.update_one(
            report_id,
            "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3, attempts = attempts + 1,
                 updated_at = ?4
             WHERE report_id = ?1",
            params![report_id, to_ms(next_attempt_at), error, now_ms()],
        )
    }

    /// Number of pending reports, due or not.
    pub fn queue_depth(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Reports the hub refused and no newer revision has replaced, by period and revision.
    pub fn rejected(&self) -> Result<Vec<OutboxItem>, StoreError> {
        self.outbox_query("WHERE state = 'rejected' ORDER BY period, revision", [])
    }

    /// One outbox row.
    pub fn outbox_item(&self, report_id: &str) -> Result<Option<OutboxItem>, StoreError> {
        Ok(self
            .outbox_query("WHERE report_id = ?1", [report_id])?
            .pop())
    }

    /// When the hub last accepted a report from this agent.
    pub fn last_success(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        let ms: Option<i64> =
            self.conn
                .query_row("SELECT max(delivered_at) FROM outbox", [], |r| r.get(0))?;
        ms.map(from_ms).transpose()
    }

    pub(super) fn outbox_query(
        &self,
        tail: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT report_id, period, revision, report, state, attempts, next_attempt_at,
                    last_error, receipt, violations, delivered_at, created_at, updated_at
             FROM outbox {tail}"
        ))?;
        let rows = stmt.query_map(params, read_item)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    fn update_one(
        &mut self,
        report_id: &str,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<(), StoreError> {
        match self.conn.execute(sql, params)? {
            0 => Err(StoreError::UnknownReport(report_id.to_owned())),
            _ => Ok(()),
        }
    }
}

fn parse_period(code: &str) -> Result<Period, StoreError> {
    code.parse()
        .map_err(|e| StoreError::Corrupt(format!("period {code:?}: {e}")))
}

fn read_period(row: &Row<'_>) -> rusqlite::Result<Result<PeriodState, StoreError>> {
    let code: String = row.get(0)?;
    let last_revision: Option<u32> = row.get(1)?;
    let last_content_hash: Option<String> = row.get(2)?;
    let change_seq: i64 = row.get(3)?;
    let dirty: bool = row.get(4)?;
    Ok(parse_period(&code).map(|period| PeriodState {
        period,
        last_revision,
        last_content_hash,
        change_seq,
        dirty,
    }))
}

fn read_item(row: &Row<'_>) -> rusqlite::Result<Result<OutboxItem, StoreError>> {
    let period: String = row.get(1)?;
    let state: String = row.get(4)?;
    let next_attempt_at: i64 = row.get(6)?;
    let delivered_at: Option<i64> = row.get(10)?;
    let created_at: i64 = row.get(11)?;
    let updated_at: i64 = row.get(12)?;
    let (report_id, revision, report, attempts, last_error, receipt, violations) = (
        row.get(0)?,
        row.get(2)?,
        row.get(3)?,
        row.get(5)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
    );
    Ok((|| {
        Ok(OutboxItem {
            report_id,
            period: parse_period(&period)?,
            revision,
            report,
            state: state.parse()?,
            attempts,
            next_attempt_at: from_ms(next_attempt_at)?,
            last_error,
            receipt,
            violations,
            delivered_at: delivered_at.map(from_ms).transpose()?,
            created_at: from_ms(created_at)?,
            updated_at: from_ms(updated_at)?,
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::temp_store;
    use time::Duration;

    fn p(code: &str) -> Period {
        code.parse().unwrap()
    }

    fn id(n: u8) -> String {
        format!("00000000-0000-4000-8000-0000000000{n:02}")
    }

    fn stamp(seq: i64) -> BuildStamp {
        BuildStamp {
            content_hash: format!("hash{seq}"),
            change_seq: seq,
        }
    }

    #[test]
    fn enqueue_pending_deliver() {
        let (_d, mut s) = temp_store();
        let q2 = p("2026-Q2");
        assert_eq!(s.period_state(&q2).unwrap().next_revision(), 0);
        s.enqueue(&id(1), &q2, 0, b"r0", &stamp(0)).unwrap();
        assert_eq!(s.queue_depth().unwrap(), 1);
        let due = s.pending(10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].report, b"r0");
        assert_eq!(due[0].state, OutboxState::Pending);
        assert_eq!(s.last_success().unwrap(), None);

        s.mark_delivered(&id(1), b"receipt").unwrap();
        assert_eq!(s.queue_depth().unwrap(), 0);
        let item = s.outbox_item(&id(1)).unwrap().unwrap();
        assert_eq!(item.state, OutboxState::Delivered);
        assert_eq!(item.receipt.as_deref(), Some(&b"receipt"[..]));
        assert_eq!(item.attempts, 1);
        assert!(s.last_success().unwrap().is_some());
        assert_eq!(s.period_state(&q2).unwrap().next_revision(), 1);
    }

    #[test]
    fn reschedule_hides_until_due() {
        let (_d, mut s) = temp_store();
        s.enqueue(&id(1), &p("2026-M05"), 0, b"r", &stamp(0))
            .unwrap();
        let later = OffsetDateTime::now_utc() + Duration::minutes(5);
        s.reschedule(&id(1), later, "connection refused").unwrap();
        assert!(s.pending(10).unwrap().is_empty());
        assert_eq!(s.queue_depth().unwrap(), 1);
        let due = s.pending_at(later, 10).unwrap();
        assert_eq!(due[0].last_error.as_deref(), Some("connection refused"));
        assert_eq!(due[0].attempts, 1);
    }

    #[test]
    fn rejected_then_new_revision_supersedes() {
        let (_d, mut s) = temp_store();
        let m = p("2026-M05");
        s.enqueue(&id(1), &m, 0, b"r0", &stamp(0)).unwrap();
        s.mark_rejected(&id(1), r#"[{"field":"staff","rule_id":"E005"}]"#)
            .unwrap();
        assert_eq!(s.rejected().unwrap().len(), 1);
        assert!(matches!(
            s.mark_rejected(&id(1), "not json"),
            Err(StoreError::Invalid(_))
        ));

        assert!(matches!(
            s.enqueue(&id(2), &m, 0, b"again", &stamp(0)),
            Err(StoreError::StaleRevision { last: 0, .. })
        ));
        s.enqueue(&id(2), &m, 1, b"r1", &stamp(1)).unwrap();
        assert!(s.rejected().unwrap().is_empty());
        assert_eq!(
            s.outbox_item(&id(1)).unwrap().unwrap().state,
            OutboxState::Superseded
        );
        assert!(matches!(
            s.enqueue(&id(2), &m, 2, b"r2", &stamp(2)),
            Err(StoreError::DuplicateReport(_))
        ));
    }

    #[test]
    fn unknown_and_malformed_ids() {
        let (_d, mut s) = temp_store();
        assert!(matches!(
            s.mark_delivered(&id(9), b""),
            Err(StoreError::UnknownReport(_))
        ));
        assert!(matches!(
            s.enqueue("not-a-uuid", &p("2026-A"), 0, b"", &stamp(0)),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn a_change_during_a_build_keeps_the_period_dirty() {
        let (_d, mut s) = temp_store();
        let m = p("2026-M05");
        let a = [crate::store::records::tests_support::row(
            "A",
            m.first_day(),
            1,
        )];
        s.insert_records(&a, &crate::store::ImportSource::new("a", b"a"))
            .unwrap();
        let before = s.period_state(&m).unwrap();
        assert!(before.dirty);
        // A late record lands while the report is being built from `before`.
        let b = [crate::store::records::tests_support::row(
            "B",
            m.last_day(),
            1,
        )];
        s.insert_records(&b, &crate::store::ImportSource::new("b", b"b"))
            .unwrap();
        s.enqueue(
            &id(1),
            &m,
            before.next_revision(),
            b"r0",
            &BuildStamp {
                content_hash: "h".into(),
                change_seq: before.change_seq,
            },
        )
        .unwrap();
        let after = s.period_state(&m).unwrap();
        assert!(after.dirty, "the late record needs revision 1");
        assert_eq!(after.next_revision(), 1);
        assert_eq!(after.last_content_hash.as_deref(), Some("h"));

        s.mark_unchanged(&m, after.change_seq).unwrap();
        assert!(!s.period_state(&m).unwrap().dirty);
        assert!(s.dirty_periods().unwrap().iter().all(|p| p.period != m));
    }
}
