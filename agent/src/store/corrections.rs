//! Corrections (更正) of the ledger: voiding records imported by mistake, and refusing imports
//! that would undo a correction.
//!
//! * **Void.** `sme-agent void --record ID` or `--file NAME` deletes the records from the ledger
//!   and remembers them in `voided_records`; the month, quarter and year of each are marked
//!   dirty, so the next run sends them as a new revision without those records.
//! * **No silent revert.** An import that would bring back a voided record, or put back an
//!   earlier content of a record that a later import replaced (`record_history`), is refused as
//!   a whole with the list of what it would change, unless the import allows it explicitly
//!   (`sme-agent import --allow-revert`). The same file dropped again is already a no-op (its
//!   hash is journalled); this covers an old file saved again or exported anew.

use std::collections::BTreeSet;

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::records::{covering_period_codes, format_date, RecordRow};
use super::{from_ms, mark_periods_dirty, now_ms, Store, StoreError};

/// Which records to void.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoidSelector {
    /// One record by its id.
    Record(String),
    /// Every record last imported from this file (its name as journalled).
    File(String),
}

/// What a void did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoidSummary {
    /// The voided record ids, sorted.
    pub voided: Vec<String>,
    /// Periods to rebuild (a new revision at the next run), sorted.
    pub dirty_periods: Vec<String>,
}

/// One change an import would make that undoes a correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    /// The record.
    pub record_id: String,
    /// What would happen, in English.
    pub en: String,
    /// The same in Chinese.
    pub zh: String,
}

/// Hash of a record's content (everything but where it came from).
pub fn content_sha(r: &RecordRow) -> String {
    let canonical = format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{}",
        r.record_id,
        format_date(r.date),
        r.function as i32,
        r.enterprise,
        r.enterprise_size as i32,
        r.industry,
        r.enterprise_region,
        r.fee_fen,
        r.free,
        r.satisfaction,
        r.person_times
    );
    super::sha256_hex(canonical.as_bytes())
}

// === impl Store ===

impl Store {
    /// Voids the selected records in one transaction; an empty selection is an error naming
    /// what was looked for.
    pub fn void_records(&mut self, selector: &VoidSelector) -> Result<VoidSummary, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (clause, key) = match selector {
            VoidSelector::Record(id) => ("record_id = ?1", id),
            VoidSelector::File(name) => ("source_file = ?1", name),
        };
        let records: Vec<super::StoredRecord> = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {} FROM service_records WHERE {clause} ORDER BY record_id",
                super::records::RECORD_COLUMNS
            ))?;
            let rows = stmt.query_map([key], super::records::read_stored)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            out
        };
        if records.is_empty() {
            let already: Option<String> = match selector {
                VoidSelector::Record(id) => tx
                    .query_row(
                        "SELECT voided_at FROM voided_records WHERE record_id = ?1",
                        [id],
                        |r| r.get::<_, i64>(0),
                    )
                    .optional()?
                    .map(|at| {
                        from_ms(at)
                            .map(|t| t.date().to_string())
                            .unwrap_or_default()
                    }),
                VoidSelector::File(_) => None,
            };
            return Err(StoreError::Invalid(match (selector, already) {
                (VoidSelector::Record(id), Some(day)) => {
                    format!("record {id:?} was voided already (on {day})")
                }
                (VoidSelector::Record(id), None) => format!(
                    "no record {id:?} in the ledger; record ids are those of the import files' \
                     记录编号/record_id column"
                ),
                (VoidSelector::File(name), _) => format!(
                    "no record in the ledger was last imported from a file named {name:?}; give \
                     the file name as imported (without folders)"
                ),
            }));
        }
        let now = now_ms();
        let mut dirty = BTreeSet::new();
        {
            let mut remember = tx.prepare(
                "INSERT INTO voided_records (record_id, date, content_sha, source_file, voided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (record_id) DO UPDATE SET date = excluded.date,
                     content_sha = excluded.content_sha, source_file = excluded.source_file,
                     voided_at = excluded.voided_at",
            )?;
            let mut delete = tx.prepare("DELETE FROM service_records WHERE record_id = ?1")?;
            for r in &records {
                remember.execute(params![
                    r.record.record_id,
                    format_date(r.record.date),
                    content_sha(&r.record),
                    r.source_file,
                    now
                ])?;
                delete.execute([&r.record.record_id])?;
                dirty.extend(covering_period_codes(r.record.date));
            }
        }
        mark_periods_dirty(&tx, dirty.iter().map(String::as_str))?;
        tx.commit()?;
        Ok(VoidSummary {
            voided: records.into_iter().map(|r| r.record.record_id).collect(),
            dirty_periods: dirty.into_iter().collect(),
        })
    }
}

fn day(ms: i64) -> String {
    from_ms(ms)
        .map(|t| t.to_offset(sme_proto::period::CST).date().to_string())
        .unwrap_or_default()
}

/// The revert, if importing `r` as a new record would bring back a voided one.
pub(super) fn revived(tx: &Transaction<'_>, r: &RecordRow) -> Result<Option<Revert>, StoreError> {
    let found = tx
        .prepare_cached("SELECT source_file, voided_at FROM voided_records WHERE record_id = ?1")?
        .query_row([&r.record_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?;
    Ok(found.map(|(file, at)| Revert {
        record_id: r.record_id.clone(),
        en: format!(
            "record {} (from {file}) was voided on {}; this file would bring it back",
            r.record_id,
            day(at)
        ),
        zh: format!(
            "记录 {} 已于 {} 作废，导入该文件会恢复它",
            r.record_id,
            day(at)
        ),
    }))
}

/// The revert, if replacing `old` by `new` puts back a content a later import corrected.
pub(super) fn reverted(
    tx: &Transaction<'_>,
    old: &super::StoredRecord,
    new: &RecordRow,
) -> Result<Option<Revert>, StoreError> {
    let found = tx
        .prepare_cached(
            "SELECT source_file, replaced_at FROM record_history
             WHERE record_id = ?1 AND content_sha = ?2",
        )?
        .query_row(params![new.record_id, content_sha(new)], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })
        .optional()?;
    Ok(found.map(|(old_file, at)| Revert {
        record_id: new.record_id.clone(),
        en: format!(
            "record {} would go back to its content from {old_file}, which {} corrected on {}",
            new.record_id,
            old.source_file,
            day(at)
        ),
        zh: format!(
            "记录 {} 会恢复为 {old_file} 中的旧内容（已于 {} 被 {} 更正）",
            new.record_id,
            day(at),
            old.source_file
        ),
    }))
}

/// Remembers the content a correcting import replaces.
pub(super) fn remember_replaced(
    tx: &Transaction<'_>,
    old: &super::StoredRecord,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO record_history (record_id, content_sha, source_file, replaced_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (record_id, content_sha) DO UPDATE SET replaced_at = excluded.replaced_at",
    )?
    .execute(params![
        old.record.record_id,
        content_sha(&old.record),
        old.source_file,
        now_ms()
    ])?;
    Ok(())
}

/// Forgets that a record was voided (an import that brings it back, explicitly allowed).
pub(super) fn unvoid(tx: &Transaction<'_>, record_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM voided_records WHERE record_id = ?1")?
        .execute([record_id])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::tests_support::row;
    use crate::store::tests::temp_store;
    use crate::store::ImportSource;
    use time::macros::date;

    #[test]
    fn voided_records_leave_the_ledger_and_do_not_come_back_silently() {
        let (_d, mut s) = temp_store();
        let a = [
            row("R1", date!(2026 - 05 - 03), 100),
            row("R2", date!(2026 - 05 - 04), 200),
        ];
        s.insert_records(&a, &ImportSource::new("a.csv", b"a"))
            .unwrap();
        let sum = s.void_records(&VoidSelector::Record("R2".into())).unwrap();
        assert_eq!(sum.voided, ["R2"]);
        assert_eq!(sum.dirty_periods, ["2026-A", "2026-M05", "2026-Q2"]);
        assert!(s.record("R2").unwrap().is_none());
        let again = s.void_records(&VoidSelector::Record("R2".into()));
        assert!(again.unwrap_err().to_string().contains("voided already"));

        // The old file saved again (other bytes): refused as a whole, nothing journalled.
        let resaved = ImportSource::new("a.csv", b"a, saved again");
        match s.insert_records(&a, &resaved) {
            Err(StoreError::WouldRevert(r)) => {
                assert_eq!(r.len(), 1);
                assert!(
                    r[0].en.contains("R2") && r[0].en.contains("voided"),
                    "{r:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(!s.is_imported(&resaved.sha256).unwrap());
        assert!(s.record("R2").unwrap().is_none());
        // Allowed explicitly: back.
        let sum = s.insert_records_with(&a, &resaved, true).unwrap();
        assert_eq!((sum.inserted, sum.reverted), (1, 1));
        assert!(s.record("R2").unwrap().is_some());

        // Voiding a whole file.
        let sum = s.void_records(&VoidSelector::File("a.csv".into())).unwrap();
        assert_eq!(sum.voided, ["R1", "R2"]);
        assert_eq!(s.record_count().unwrap(), 0);
        assert!(s.void_records(&VoidSelector::File("a.csv".into())).is_err());
    }

    #[test]
    fn an_earlier_content_of_a_corrected_record_is_a_revert() {
        let (_d, mut s) = temp_store();
        let old = [row("R1", date!(2026 - 05 - 03), 100)];
        s.insert_records(&old, &ImportSource::new("a.csv", b"a"))
            .unwrap();
        let fixed = [row("R1", date!(2026 - 05 - 03), 150)];
        s.insert_records(&fixed, &ImportSource::new("b.csv", b"b"))
            .unwrap();
        // A newer correction is fine; the first content again is a revert.
        match s.insert_records(&old, &ImportSource::new("a-copy.csv", b"a2")) {
            Err(StoreError::WouldRevert(r)) => {
                assert!(
                    r[0].en.contains("a.csv") && r[0].en.contains("b.csv"),
                    "{r:?}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.record("R1").unwrap().unwrap().record.fee_fen, 150);
        let newer = [row("R1", date!(2026 - 05 - 03), 175)];
        let sum = s
            .insert_records(&newer, &ImportSource::new("c.csv", b"c"))
            .unwrap();
        assert_eq!(sum.updated, 1);
    }
}
