//! `report_facts`: one row per accepted report with what the analytics read most — the volume
//! sections as seven slots (function 1–7), the satisfaction counts and the service records
//! summed per (function, industry, enterprise size) — so that a view reads one narrow row per
//! current report instead of deduplicating the child tables.
//!
//! The table is a `ReplacingMergeTree(current_rank)` ordered by `(period_kind, period_start,
//! platform_id)`: every revision of a (platform, period) shares the key, and `SELECT … FINAL`
//! returns the one with the highest `current_rank` — highest revision, then the earliest
//! receipt ([`current_rank`]) — whether or not ClickHouse has merged yet. A row written twice
//! (a retried batch) is identical to the first and collapses with it. So the facts need no
//! `GROUP BY report_id` at query time, and a view's `count()` is its reported platform-periods.
//!
//! Written last in a batch, after `reports`: a report is in the facts only once all its rows
//! are stored. Migration 8 fills it for reports stored before it existed.

use clickhouse::Row;
use serde::Serialize;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::rows::{RecordRow, ReportRow, VolumeRow};

/// The most revisions [`current_rank`] can order (2²² − 1); a higher revision is unstorable.
pub const MAX_REVISION: u32 = (1 << 22) - 1;

/// Service functions: slots 1–7 of the volume arrays.
const FUNCTIONS: usize = 7;

/// `(revision << 42) | (2⁴² − 1 − received_ms)`: larger for a higher revision, then for an
/// earlier receipt (milliseconds since 1970; a `DateTime` ends in 2106, below 2⁴² ms).
/// The same expression in SQL is [`CURRENT_RANK_SQL`].
pub fn current_rank(revision: u32, received_at: OffsetDateTime) -> u64 {
    let ms = u64::try_from(received_at.unix_timestamp()).unwrap_or(0) * 1000
        + u64::from(received_at.millisecond());
    (u64::from(revision.min(MAX_REVISION)) << 42) | ((1u64 << 42) - 1 - ms.min((1 << 42) - 1))
}

/// [`current_rank`] over the columns of `reports`.
pub const CURRENT_RANK_SQL: &str = "bitOr(bitShiftLeft(toUInt64(revision), 42), \
     4398046511103 - (toUInt64(received_at) * 1000 + intDiv(received_at_nanos, 1000000)))";

/// One row of `report_facts`.
#[derive(Debug, Row, Serialize)]
pub(crate) struct FactsRow<'a> {
    pub period_kind: i8,
    #[serde(with = "clickhouse::serde::time::date")]
    pub period_start: Date,
    pub platform_id: &'a str,
    pub period: &'a str,
    pub current_rank: u64,
    #[serde(with = "clickhouse::serde::uuid")]
    pub report_id: Uuid,
    pub revision: u32,
    pub region_code: &'a str,
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub received_at: OffsetDateTime,

    /// 1 where the report has a volume section of that function.
    pub vol_present: Vec<u8>,
    pub vol_services: Vec<u64>,
    pub vol_free: Vec<u64>,
    pub vol_revenue_fen: Vec<i64>,
    pub vol_person_times: Vec<u64>,
    pub vol_enterprises: Vec<u64>,

    pub has_satisfaction: u8,
    pub sat_very_satisfied: u64,
    pub sat_satisfied: u64,
    pub sat_neutral: u64,
    pub sat_dissatisfied: u64,
    pub sat_very_dissatisfied: u64,

    pub service_record_count: u32,
    pub service_records_omitted: u8,
    /// Service records summed per (function, industry, size), in that order.
    pub rec_function: Vec<u8>,
    pub rec_industry: Vec<&'a str>,
    pub rec_size: Vec<u8>,
    pub rec_services: Vec<u64>,
    pub rec_free: Vec<u64>,
    pub rec_fee_fen: Vec<i64>,
    pub rec_person_times: Vec<u64>,
}

/// The facts of one report from its converted rows.
pub(crate) fn facts_row<'a>(
    report: &ReportRow<'a>,
    volumes: &[VolumeRow<'a>],
    records: &[RecordRow<'a>],
) -> FactsRow<'a> {
    let mut f = FactsRow {
        period_kind: report.period_kind,
        period_start: report.period_start,
        platform_id: report.platform_id,
        period: report.period,
        current_rank: current_rank(report.revision, report.received_at),
        report_id: report.report_id,
        revision: report.revision,
        region_code: report.region_code,
        received_at: report.received_at,
        vol_present: vec![0; FUNCTIONS],
        vol_services: vec![0; FUNCTIONS],
        vol_free: vec![0; FUNCTIONS],
        vol_revenue_fen: vec![0; FUNCTIONS],
        vol_person_times: vec![0; FUNCTIONS],
        vol_enterprises: vec![0; FUNCTIONS],
        has_satisfaction: report.has_satisfaction,
        sat_very_satisfied: report.satisfaction_very_satisfied,
        sat_satisfied: report.satisfaction_satisfied,
        sat_neutral: report.satisfaction_neutral,
        sat_dissatisfied: report.satisfaction_dissatisfied,
        sat_very_dissatisfied: report.satisfaction_very_dissatisfied,
        service_record_count: report.service_record_count,
        service_records_omitted: report.service_records_omitted,
        rec_function: Vec::new(),
        rec_industry: Vec::new(),
        rec_size: Vec::new(),
        rec_services: Vec::new(),
        rec_free: Vec::new(),
        rec_fee_fen: Vec::new(),
        rec_person_times: Vec::new(),
    };
    for v in volumes {
        // The rules admit functions 1–7 once each; the first section of a function counts.
        let Some(i) = usize::from(v.function)
            .checked_sub(1)
            .filter(|i| *i < FUNCTIONS)
        else {
            continue;
        };
        if f.vol_present[i] == 1 {
            continue;
        }
        f.vol_present[i] = 1;
        f.vol_services[i] = v.services;
        f.vol_free[i] = v.free_services;
        f.vol_revenue_fen[i] = v.revenue_fen;
        f.vol_person_times[i] = v.person_times;
        f.vol_enterprises[i] = v.enterprises_served;
    }
    let mut keys: Vec<(u8, &str, u8, &RecordRow)> = records
        .iter()
        .map(|r| (r.function, r.industry, r.enterprise_size, r))
        .collect();
    keys.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    for (function, industry, size, r) in keys {
        let same = f.rec_function.last() == Some(&function)
            && f.rec_industry.last() == Some(&industry)
            && f.rec_size.last() == Some(&size);
        if !same {
            f.rec_function.push(function);
            f.rec_industry.push(industry);
            f.rec_size.push(size);
            f.rec_services.push(0);
            f.rec_free.push(0);
            f.rec_fee_fen.push(0);
            f.rec_person_times.push(0);
        }
        let last = f.rec_services.len() - 1;
        f.rec_services[last] += 1;
        f.rec_free[last] += u64::from(r.free);
        f.rec_fee_fen[last] += r.fee_fen;
        f.rec_person_times[last] += r.person_times;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rank_orders_revision_first_then_earliest_receipt() {
        let early = datetime!(2026-06-10 01:00:00.001 UTC);
        let late = datetime!(2026-06-10 01:00:00.002 UTC);
        assert!(current_rank(2, late) > current_rank(1, early));
        assert!(current_rank(1, early) > current_rank(1, late));
        assert!(current_rank(MAX_REVISION, datetime!(2106-02-07 06:28:15 UTC)) > 0);
        assert!(
            current_rank(MAX_REVISION, datetime!(1970-01-01 0:00 UTC))
                > current_rank(MAX_REVISION - 1, datetime!(1970-01-01 0:00 UTC))
        );
    }
}
