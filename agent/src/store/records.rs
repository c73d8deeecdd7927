//! The service-record ledger and the imports journal.

use std::collections::BTreeSet;

use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use sme_proto::period::{Period, PeriodKind};
use sme_proto::v1;
use time::{macros::format_description, Date, OffsetDateTime};

use super::{corrections, from_ms, mark_periods_dirty, now_ms, Store, StoreError};

/// One checked service record (服务记录) ready for the store. The enterprise is already a
/// pseudonym: intake never hands the store a clear credit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// The platform's own record id, unique within the platform.
    pub record_id: String,
    /// Date of service in UTC+8.
    pub date: Date,
    /// Service function 1–7.
    pub function: v1::ServiceFunction,
    /// Enterprise pseudonym: 32 lowercase hex characters (first 16 bytes of the HMAC).
    pub enterprise: String,
    /// Size class; `Unspecified` when not given.
    pub enterprise_size: v1::EnterpriseSize,
    /// Industry section letter A–T.
    pub industry: String,
    /// 6-digit region code of the enterprise.
    pub enterprise_region: String,
    /// Fee in fen.
    pub fee_fen: i64,
    /// Whether the service was free.
    pub free: bool,
    /// 1 (very dissatisfied) … 5 (very satisfied); `None` when not surveyed.
    pub satisfaction: Option<u8>,
    /// Person-times for training and events; 0 otherwise.
    pub person_times: u64,
    /// Where it came from inside its file: CSV line, XLSX row or JSON array index.
    pub source_line: u64,
}

/// A record as stored, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record.
    pub record: RecordRow,
    /// File it was (last) imported from.
    pub source_file: String,
    /// When it was first imported.
    pub imported_at: OffsetDateTime,
    /// When it was last changed by a correcting import.
    pub updated_at: OffsetDateTime,
    /// How many times a later import changed it.
    pub corrections: u32,
}

/// What kind of file an import was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// Service records (服务记录).
    ServiceRecords,
    /// A profile file (机构概况) for one period.
    Profile,
}

/// The file a batch comes from: its name for provenance and its content hash for idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSource {
    /// File name or path as shown to people.
    pub path: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
}

/// Outcome of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// The same content was imported before; nothing was changed.
    pub already_imported: bool,
    /// Rows (records, or profile entries) in the batch.
    pub rows: u64,
    /// Records new to the store.
    pub inserted: u64,
    /// Records whose id existed with different content and were replaced.
    pub updated: u64,
    /// Records whose id existed with identical content.
    pub unchanged: u64,
    /// Period codes marked dirty by this import, sorted.
    pub dirty_periods: Vec<String>,
    /// Corrections this import undid, explicitly allowed (voided records back, earlier
    /// contents restored).
    pub reverted: u64,
}

// === impl RecordRow ===

impl RecordRow {
    /// The wire form of this record.
    pub fn to_proto(&self) -> v1::ServiceRecord {
        v1::ServiceRecord {
            record_id: self.record_id.clone(),
            date: format_date(self.date),
            function: self.function as i32,
            enterprise: self.enterprise.clone(),
            enterprise_size: self.enterprise_size as i32,
            industry: self.industry.clone(),
            enterprise_region: self.enterprise_region.clone(),
            fee_fen: self.fee_fen,
            free: self.free,
            satisfaction: self.satisfaction.map_or(0, u32::from),
            person_times: self.person_times,
        }
    }

    /// Everything but the provenance, for "same content?" comparisons.
    fn same_content(&self, other: &RecordRow) -> bool {
        RecordRow {
            source_line: 0,
            ..self.clone()
        } == RecordRow {
            source_line: 0,
            ..other.clone()
        }
    }
}

// === impl ImportSource ===

impl ImportSource {
    /// Names a file and hashes its content.
    pub fn new(path: impl Into<String>, content: &[u8]) -> ImportSource {
        ImportSource {
            path: path.into(),
            sha256: sha256_hex(content),
        }
    }
}

impl ImportKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ImportKind::ServiceRecords => "service_records",
            ImportKind::Profile => "profile",
        }
    }
}

/// Lowercase hex SHA-256 of a file's content.
pub fn sha256_hex(content: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(content))
}

/// The month, quarter and year period codes containing `date`: `2026-M05`, `2026-Q2`, `2026-A`.
/// (Empty for a date outside the years `Period` supports, which intake never lets through.)
pub fn covering_period_codes(date: Date) -> Vec<String> {
    [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year]
        .into_iter()
        .filter_map(|kind| Period::containing_date(kind, date).ok())
        .map(|p| p.to_string())
        .collect()
}

// === impl Store ===

impl Store {
    /// Whether a file with this content hash was imported before.
    pub fn is_imported(&self, sha256: &str) -> Result<bool, StoreError> {
        is_imported_in(&self.conn, sha256)
    }

    /// Imports a batch of records from one file in ONE transaction, together with the imports
    /// journal row. Re-importing the same content is a no-op; an existing `record_id` with
    /// identical content is left alone, with different content it is replaced and the periods of
    /// its old and new dates are marked dirty.
    pub fn insert_records(
        &mut self,
        batch: &[RecordRow],
        source: &ImportSource,
    ) -> Result<ImportSummary, StoreError> {
        self.insert_records_with(batch, source, false)
    }

    /// [`Store::insert_records`], refusing the whole batch with [`StoreError::WouldRevert`]
    /// when it would bring back a voided record or an earlier content of a corrected one,
    /// unless `allow_revert` (see [`super::corrections`]).
    pub fn insert_records_with(
        &mut self,
        batch: &[RecordRow],
        source: &ImportSource,
        allow_revert: bool,
    ) -> Result<ImportSummary, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut summary = ImportSummary {
            rows: batch.len() as u64,
            ..ImportSummary::default()
        };
        if is_imported_in(&tx, &source.sha256)? {
            summary.already_imported = true;
            return Ok(summary);
        }
        let import_id = journal(
            &tx,
            source,
            ImportKind::ServiceRecords,
            batch.len(),
            "imported",
            None,
        )?;
        let now = now_ms();
        let mut dirty = BTreeSet::new();
        let mut reverts = Vec::new();
        {
            let mut select = tx.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM service_records WHERE record_id = ?1"
            ))?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO service_records (record_id, date, function, enterprise,
                     enterprise_size, industry, enterprise_region, fee_fen, free, satisfaction,
                     person_times, source_line, source_file, import_id, imported_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE service_records SET date = ?2, function = ?3, enterprise = ?4,
                     enterprise_size = ?5, industry = ?6, enterprise_region = ?7, fee_fen = ?8,
                     free = ?9, satisfaction = ?10, person_times = ?11, source_line = ?12,
                     source_file = ?13, import_id = ?14, updated_at = ?15,
                     corrections = corrections + 1
                 WHERE record_id = ?1",
            )?;
            for r in batch {
                let person_times = i64::try_from(r.person_times).map_err(|_| {
                    StoreError::Invalid(format!("record {}: person_times too large", r.record_id))
                })?;
                let p = params![
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
                    person_times,
                    r.source_line as i64,
                    source.path,
                    import_id,
                    now,
                ];
                let existing = select
                    .query_row([&r.record_id], read_stored)
                    .optional()?
                    .transpose()?;
                match existing {
                    None => {
                        if let Some(revert) = corrections::revived(&tx, r)? {
                            reverts.push(revert);
                            corrections::unvoid(&tx, &r.record_id)?;
                        }
                        insert.execute(p)?;
                        summary.inserted += 1;
                        dirty.extend(covering_period_codes(r.date));
                    }
                    Some(old) if old.record.same_content(r) => summary.unchanged += 1,
                    Some(old) => {
                        if let Some(revert) = corrections::reverted(&tx, &old, r)? {
                            reverts.push(revert);
                        }
                        corrections::remember_replaced(&tx, &old)?;
                        update.execute(p)?;
                        summary.updated += 1;
                        dirty.extend(covering_period_codes(old.record.date));
                        dirty.extend(covering_period_codes(r.date));
                    }
                }
            }
        }
        if !reverts.is_empty() && !allow_revert {
            // Dropping the transaction rolls everything back, the journal row included, so the
            // same file can be imported later with the revert allowed.
            return Err(StoreError::WouldRevert(reverts));
        }
        mark_periods_dirty(&tx, dirty.iter().map(String::as_str))?;
        tx.commit()?;
        summary.dirty_periods = dirty.into_iter().collect();
        summary.reverted = reverts.len() as u64;
        Ok(summary)
    }

    /// Journals a file that was refused, for the audit trail. Never blocks a later good import of
    /// the same name.
    pub fn record_rejected_import(
        &mut self,
        source: &ImportSource,
        kind: ImportKind,
        rows: usize,
        detail: &str,
    ) -> Result<(), StoreError> {
        journal(&self.conn, source, kind, rows, "rejected", Some(detail))?;
        Ok(())
    }

    /// Records dated in `[start, end)` (UTC+8 dates), ordered by date then record id.
    pub fn records_between(&self, start: Date, end: Date) -> Result<Vec<StoredRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM service_records
             WHERE date >= ?1 AND date < ?2 ORDER BY date, record_id"
        ))?;
        let rows = stmt.query_map([format_date(start), format_date(end)], read_stored)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row??);
        }
        Ok(out)
    }

    /// Records dated inside `period` (UTC+8 dates), ordered by date then record id.
    pub fn records_for_period(&self, period: &Period) -> Result<Vec<StoredRecord>, StoreError> {
        let end = period
            .last_day()
            .next_day()
            .ok_or_else(|| StoreError::Invalid(format!("period {period} ends after year 9999")))?;
        self.records_between(period.first_day(), end)
    }

    /// One record by id.
    pub fn record(&self, record_id: &str) -> Result<Option<StoredRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM service_records WHERE record_id = ?1"),
                [record_id],
                read_stored,
            )
            .optional()?
            .transpose()
    }

    /// Number of records in the ledger.
    pub fn record_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM service_records", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}

pub(super) const RECORD_COLUMNS: &str =
    "record_id, date, function, enterprise, enterprise_size, industry, \
     enterprise_region, fee_fen, free, satisfaction, person_times, source_line, source_file, \
     imported_at, updated_at, corrections";

/// Row → record. The outer result is SQLite's, the inner one our own decoding of the values.
pub(super) fn read_stored(row: &Row<'_>) -> rusqlite::Result<Result<StoredRecord, StoreError>> {
    let record_id: String = row.get(0)?;
    let date: String = row.get(1)?;
    let function: i32 = row.get(2)?;
    let size: i32 = row.get(4)?;
    let person_times: i64 = row.get(10)?;
    let source_line: i64 = row.get(11)?;
    let imported_at: i64 = row.get(13)?;
    let updated_at: i64 = row.get(14)?;
    let corrections: i64 = row.get(15)?;
    let (enterprise, industry, region, fee_fen, free, satisfaction, source_file) = (
        row.get(3)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get::<_, Option<u8>>(9)?,
        row.get(12)?,
    );
    Ok((|| {
        let corrupt = |what: &str| StoreError::Corrupt(format!("record {record_id}: {what}"));
        Ok(StoredRecord {
            record: RecordRow {
                date: parse_date(&date).ok_or_else(|| corrupt("date"))?,
                function: v1::ServiceFunction::try_from(function)
                    .map_err(|_| corrupt("function"))?,
                enterprise,
                enterprise_size: v1::EnterpriseSize::try_from(size)
                    .map_err(|_| corrupt("enterprise_size"))?,
                industry,
                enterprise_region: region,
                fee_fen,
                free,
                satisfaction,
                person_times: person_times as u64,
                source_line: source_line as u64,
                record_id: record_id.clone(),
            },
            source_file,
            imported_at: from_ms(imported_at)?,
            updated_at: from_ms(updated_at)?,
            corrections: corrections as u32,
        })
    })())
}

pub(super) fn is_imported_in(conn: &Connection, sha256: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM imports WHERE sha256 = ?1 AND outcome = 'imported'",
            [sha256],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Appends to the imports journal; returns the new row id.
pub(super) fn journal(
    conn: &Connection,
    source: &ImportSource,
    kind: ImportKind,
    rows: usize,
    outcome: &str,
    detail: Option<&str>,
) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO imports (path, sha256, kind, imported_at, rows, outcome, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            source.path,
            source.sha256,
            kind.as_str(),
            now_ms(),
            rows as i64,
            outcome,
            detail
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn format_date(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .expect("a Date always formats")
}

fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A valid record for store tests.
    pub(crate) fn row(id: &str, date: Date, fee_fen: i64) -> RecordRow {
        RecordRow {
            record_id: id.into(),
            date,
            function: v1::ServiceFunction::Quality,
            enterprise: "0123456789abcdef0123456789abcdef".into(),
            enterprise_size: v1::EnterpriseSize::Small,
            industry: "C".into(),
            enterprise_region: "350102".into(),
            fee_fen,
            free: fee_fen == 0,
            satisfaction: Some(5),
            person_times: 0,
            source_line: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::row;
    use super::*;
    use crate::store::tests::temp_store;
    use time::macros::date;

    fn dirty(s: &Store) -> Vec<String> {
        s.dirty_periods()
            .unwrap()
            .into_iter()
            .map(|p| p.period.to_string())
            .collect()
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn period_codes_of_a_date() {
        assert_eq!(
            covering_period_codes(date!(2026 - 05 - 31)),
            ["2026-M05", "2026-Q2", "2026-A"]
        );
        assert_eq!(covering_period_codes(date!(2026 - 12 - 01))[1], "2026-Q4");
    }

    #[test]
    fn insert_then_reimport_same_content_is_noop() {
        let (_d, mut s) = temp_store();
        let batch = vec![
            row("R1", date!(2026 - 05 - 03), 12_345),
            row("R2", date!(2026 - 05 - 04), 0),
        ];
        let src = ImportSource::new("a.csv", b"file a");
        let sum = s.insert_records(&batch, &src).unwrap();
        assert_eq!((sum.inserted, sum.updated, sum.unchanged), (2, 0, 0));
        assert_eq!(sum.dirty_periods, ["2026-A", "2026-M05", "2026-Q2"]);

        let again = s.insert_records(&batch, &src).unwrap();
        assert!(again.already_imported);
        assert_eq!(again.inserted, 0);

        // Same records in a different file: identical content is a no-op per record.
        let other = ImportSource::new("b.csv", b"file b");
        let sum = s.insert_records(&batch, &other).unwrap();
        assert_eq!((sum.inserted, sum.updated, sum.unchanged), (0, 0, 2));
        assert!(sum.dirty_periods.is_empty());
        assert_eq!(s.record_count().unwrap(), 2);
        let stored = s.record("R1").unwrap().unwrap();
        assert_eq!(stored.record, batch[0]);
        assert_eq!(stored.source_file, "a.csv");
    }

    #[test]
    fn changed_record_replaces_and_marks_old_and_new_periods_dirty() {
        let (_d, mut s) = temp_store();
        s.insert_records(
            &[row("R1", date!(2026 - 03 - 31), 100)],
            &ImportSource::new("a.csv", b"a"),
        )
        .unwrap();
        for code in ["2026-M03", "2026-Q1", "2026-A"] {
            let p: Period = code.parse().unwrap();
            let seq = s.period_state(&p).unwrap().change_seq;
            s.mark_unchanged(&p, seq).unwrap();
        }
        assert!(dirty(&s).is_empty());

        let sum = s
            .insert_records(
                &[row("R1", date!(2026 - 04 - 01), 200)],
                &ImportSource::new("b.csv", b"b"),
            )
            .unwrap();
        assert_eq!(sum.updated, 1);
        assert_eq!(
            dirty(&s),
            ["2026-A", "2026-M03", "2026-M04", "2026-Q1", "2026-Q2"]
        );
        let stored = s.record("R1").unwrap().unwrap();
        assert_eq!(stored.record.fee_fen, 200);
        assert_eq!(stored.corrections, 1);
        assert_eq!(stored.source_file, "b.csv");
    }

    #[test]
    fn records_between_is_closed_open() {
        let (_d, mut s) = temp_store();
        s.insert_records(
            &[
                row("a", date!(2026 - 03 - 31), 1),
                row("b", date!(2026 - 04 - 01), 1),
                row("c", date!(2026 - 06 - 30), 1),
                row("d", date!(2026 - 07 - 01), 1),
            ],
            &ImportSource::new("x", b"x"),
        )
        .unwrap();
        let got: Vec<_> = s
            .records_between(date!(2026 - 04 - 01), date!(2026 - 07 - 01))
            .unwrap()
            .into_iter()
            .map(|r| r.record.record_id)
            .collect();
        assert_eq!(got, ["b", "c"]);
    }

    #[test]
    fn a_clear_credit_code_cannot_be_stored() {
        let (_d, mut s) = temp_store();
        let mut r = row("R1", date!(2026 - 05 - 03), 0);
        r.enterprise = "91350100M000100Y43".into();
        let err = s
            .insert_records(&[r], &ImportSource::new("a", b"a"))
            .unwrap_err();
        assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
        // The failed transaction left nothing behind, not even the journal row.
        assert!(!s.is_imported(&sha256_hex(b"a")).unwrap());
        assert_eq!(s.record_count().unwrap(), 0);
    }

    #[test]
    fn rejected_import_does_not_count_as_imported() {
        let (_d, mut s) = temp_store();
        let src = ImportSource::new("bad.csv", b"bad");
        s.record_rejected_import(&src, ImportKind::ServiceRecords, 3, "line 2: bad date")
            .unwrap();
        assert!(!s.is_imported(&src.sha256).unwrap());
    }

    #[test]
    fn to_proto_maps_every_field() {
        let r = row("R1", date!(2026 - 05 - 03), 12_345);
        let p = r.to_proto();
        assert_eq!(p.date, "2026-05-03");
        assert_eq!(p.function, v1::ServiceFunction::Quality as i32);
        assert_eq!(p.enterprise_size, v1::EnterpriseSize::Small as i32);
        assert_eq!(p.fee_fen, 12_345);
        assert_eq!(p.satisfaction, 5);
    }
}
