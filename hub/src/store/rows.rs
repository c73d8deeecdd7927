//! Row types of the ClickHouse tables (see `migrations.rs`) and the conversion of accepted
//! reports into them.
//!
//! Rows borrow from the reports, so a batch of thousands of reports is serialised without
//! copying its strings. Field order does not matter (inserts name their columns), but every
//! field must match its column's type exactly: the client sends `RowBinary`, which ClickHouse
//! 18.16 reads without a header that could catch a mismatch.

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sme_proto::period::{Period, PeriodKind};
use sme_proto::v1;
use time::macros::format_description;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::facts::{facts_row, FactsRow, MAX_REVISION};
use super::{AcceptedReport, AuditEntry, AuditOutcome, StoreError};

/// `period_kind Enum8('month' = 1, 'quarter' = 2, 'year' = 3)`.
pub(crate) fn period_kind_code(kind: PeriodKind) -> i8 {
    match kind {
        PeriodKind::Month => 1,
        PeriodKind::Quarter => 2,
        PeriodKind::Year => 3,
    }
}

/// `outcome Enum8('accepted' = 1, …)` of the audit table.
pub(crate) fn outcome_code(outcome: AuditOutcome) -> i8 {
    match outcome {
        AuditOutcome::Accepted => 1,
        AuditOutcome::Rejected => 2,
        AuditOutcome::Duplicate => 3,
        AuditOutcome::Deferred => 4,
        AuditOutcome::Unauthenticated => 5,
        AuditOutcome::PermissionDenied => 6,
    }
}

/// One row of `reports`: an accepted report revision with every section but the per-function
/// volumes and the service records, which have their own tables.
#[derive(Debug, Row, Serialize)]
pub(crate) struct ReportRow<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    pub report_id: Uuid,
    pub platform_id: &'a str,
    pub region_code: &'a str,
    pub period: &'a str,
    pub period_kind: i8,
    #[serde(with = "clickhouse::serde::time::date")]
    pub period_start: Date,
    pub revision: u32,
    pub form_version: &'a str,
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub generated_at: OffsetDateTime,
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub received_at: OffsetDateTime,
    pub received_at_nanos: u32,
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub due_at: OffsetDateTime,
    pub agent_version: &'a str,

    pub has_satisfaction: u8,
    pub satisfaction_very_satisfied: u64,
    pub satisfaction_satisfied: u64,
    pub satisfaction_neutral: u64,
    pub satisfaction_dissatisfied: u64,
    pub satisfaction_very_dissatisfied: u64,
    pub satisfaction_responses: u64,

    pub has_staff: u8,
    pub total_staff: u32,
    pub professional_staff: u32,
    pub professional_with_college_degree: u32,
    pub professional_with_degree_or_mid_title: u32,
    pub senior_title_staff: u32,
    pub staff_trained: u32,

    pub has_finance: u8,
    pub total_revenue_fen: i64,
    pub service_revenue_fen: i64,
    pub public_funding_fen: i64,
    pub total_assets_fen: i64,

    pub has_disclosures: u8,
    pub disclosure_content: u8,
    pub disclosure_process: u8,
    pub disclosure_standards: u8,
    pub disclosure_fees: u8,
    pub disclosure_time: u8,

    pub has_capacity: u8,
    pub floor_area_m2: f64,
    pub equipment_count: u32,
    pub equipment_value_fen: i64,
    pub shared_equipment_hours: u64,
    pub certifications: &'a [String],
    pub partner_universities: u32,
    pub partner_research_institutes: u32,
    pub partner_associations: u32,
    pub partner_service_agencies: u32,

    pub has_startups: u8,
    pub startups_counselled: u64,
    pub registrations_assisted: u64,

    pub service_record_count: u32,
    pub service_records_omitted: u8,
    pub explanation_rule_ids: Vec<&'a str>,
    pub explanation_texts: Vec<&'a str>,
    pub flag_rule_ids: Vec<&'a str>,
    pub flag_fields: Vec<&'a str>,
    pub flag_messages_zh: Vec<&'a str>,
    pub flag_messages_en: Vec<&'a str>,
}

/// Columns a report shares with its volume and record rows.
#[derive(Debug, Clone, Copy)]
struct ReportKey<'a> {
    report_id: Uuid,
    platform_id: &'a str,
    region_code: &'a str,
    period: &'a str,
    period_kind: i8,
    period_start: Date,
    revision: u32,
}

/// One row of `service_volume`: one service function of one report.
#[derive(Debug, Row, Serialize)]
pub(crate) struct VolumeRow<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    pub report_id: Uuid,
    pub platform_id: &'a str,
    pub region_code: &'a str,
    pub period: &'a str,
    pub period_kind: i8,
    #[serde(with = "clickhouse::serde::time::date")]
    pub period_start: Date,
    pub revision: u32,
    pub function: u8,
    pub services: u64,
    pub enterprises_served: u64,
    pub free_services: u64,
    pub revenue_fen: i64,
    pub person_times: u64,
}

/// One row of `service_records`: one service given to one (pseudonymous) enterprise.
#[derive(Debug, Row, Serialize)]
pub(crate) struct RecordRow<'a> {
    #[serde(with = "clickhouse::serde::uuid")]
    pub report_id: Uuid,
    pub platform_id: &'a str,
    pub region_code: &'a str,
    pub period: &'a str,
    pub period_kind: i8,
    #[serde(with = "clickhouse::serde::time::date")]
    pub period_start: Date,
    pub revision: u32,
    pub record_index: u32,
    pub record_id: &'a str,
    #[serde(with = "clickhouse::serde::time::date")]
    pub date: Date,
    pub function: u8,
    pub enterprise: &'a str,
    pub enterprise_size: u8,
    pub industry: &'a str,
    pub enterprise_region: &'a str,
    pub fee_fen: i64,
    pub free: u8,
    pub satisfaction: u8,
    pub person_times: u64,
}

/// One row of `audit`.
#[derive(Debug, Row, Serialize)]
pub(crate) struct AuditRow<'a> {
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub received_at: OffsetDateTime,
    pub platform_id: &'a str,
    pub cert_subject: &'a str,
    pub period: &'a str,
    pub report_id: &'a str,
    pub revision: u32,
    pub outcome: i8,
    pub status_code: i32,
    pub rule_ids: &'a [String],
    pub peer: &'a str,
    pub hub_instance: &'a str,
}

/// What `find_receipt` reads back.
#[derive(Debug, Row, Deserialize)]
pub(crate) struct ReceiptRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub report_id: Uuid,
    pub platform_id: String,
    pub period: String,
    pub revision: u32,
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub received_at: OffsetDateTime,
    pub received_at_nanos: u32,
    pub flag_rule_ids: Vec<String>,
    pub flag_fields: Vec<String>,
    pub flag_messages_zh: Vec<String>,
    pub flag_messages_en: Vec<String>,
}

/// One row of a batched lookup: `hit` 1 for a receipt found by id, 2 for a report found by
/// its revision slot.
#[derive(Debug, Row, Deserialize)]
pub(crate) struct LookupRow {
    pub hit: u8,
    #[serde(with = "clickhouse::serde::uuid")]
    pub report_id: Uuid,
    pub platform_id: String,
    pub period: String,
    pub revision: u32,
    #[serde(with = "clickhouse::serde::time::datetime")]
    pub received_at: OffsetDateTime,
    pub received_at_nanos: u32,
    pub flag_rule_ids: Vec<String>,
    pub flag_fields: Vec<String>,
    pub flag_messages_zh: Vec<String>,
    pub flag_messages_en: Vec<String>,
}

impl LookupRow {
    /// The receipt columns.
    pub(crate) fn into_receipt_row(self) -> ReceiptRow {
        ReceiptRow {
            report_id: self.report_id,
            platform_id: self.platform_id,
            period: self.period,
            revision: self.revision,
            received_at: self.received_at,
            received_at_nanos: self.received_at_nanos,
            flag_rule_ids: self.flag_rule_ids,
            flag_fields: self.flag_fields,
            flag_messages_zh: self.flag_messages_zh,
            flag_messages_en: self.flag_messages_en,
        }
    }
}

/// A bare report id.
#[derive(Debug, Row, Deserialize)]
pub(crate) struct ReportIdRow {
    #[serde(with = "clickhouse::serde::uuid")]
    pub report_id: Uuid,
}

/// The rows of a whole batch, one vector per table.
#[derive(Debug, Default)]
pub(crate) struct BatchRows<'a> {
    pub reports: Vec<ReportRow<'a>>,
    pub volumes: Vec<VolumeRow<'a>>,
    pub records: Vec<RecordRow<'a>>,
    pub facts: Vec<FactsRow<'a>>,
}

/// Converts a whole batch before anything is written, so one unstorable report fails the batch
/// without leaving part of it behind.
pub(crate) fn batch_rows(batch: &[AcceptedReport]) -> Result<BatchRows<'_>, StoreError> {
    let mut rows = BatchRows::default();
    for accepted in batch {
        report_rows(accepted, &mut rows)?;
    }
    Ok(rows)
}

fn report_rows<'a>(
    accepted: &'a AcceptedReport,
    rows: &mut BatchRows<'a>,
) -> Result<(), StoreError> {
    let r = &accepted.report;
    let invalid = |field: &str, reason: String| StoreError::InvalidReport {
        report_id: r.report_id.clone(),
        field: field.to_owned(),
        reason,
    };
    let report_id = Uuid::parse_str(&r.report_id)
        .map_err(|e| invalid("report_id", format!("not a UUID: {e}")))?;
    let period: Period = r
        .period
        .parse()
        .map_err(|e| invalid("period", format!("{e}")))?;
    let period_start = period.first_day();
    check_date(period_start).map_err(|reason| invalid("period", reason))?;
    let received_at = accepted.received_at;
    check_datetime(received_at).map_err(|reason| invalid("received_at", reason))?;
    check_datetime(accepted.due_at).map_err(|reason| invalid("due_at", reason))?;
    if r.revision > MAX_REVISION {
        return Err(invalid(
            "revision",
            format!(
                "{} is above {MAX_REVISION}, the highest revision the hub stores",
                r.revision
            ),
        ));
    }
    let (first_volume, first_record) = (rows.volumes.len(), rows.records.len());
    let key = ReportKey {
        report_id,
        platform_id: &accepted.platform_id,
        region_code: &accepted.region_code,
        period: &r.period,
        period_kind: period_kind_code(period.kind()),
        period_start,
        revision: r.revision,
    };

    for (i, v) in r.volumes.iter().enumerate() {
        let function = u8::try_from(v.function).map_err(|_| {
            invalid(
                &format!("volumes[{i}].function"),
                format!("unknown function {}", v.function),
            )
        })?;
        rows.volumes.push(VolumeRow {
            report_id,
            platform_id: key.platform_id,
            region_code: key.region_code,
            period: key.period,
            period_kind: key.period_kind,
            period_start,
            revision: key.revision,
            function,
            services: v.services,
            enterprises_served: v.enterprises_served,
            free_services: v.free_services,
            revenue_fen: v.revenue_fen,
            person_times: v.person_times,
        });
    }
    for (i, rec) in r.service_records.iter().enumerate() {
        rows.records
            .push(record_row(key, i, rec).map_err(|(field, reason)| {
                invalid(&format!("service_records[{i}].{field}"), reason)
            })?);
    }

    let satisfaction = r.satisfaction.unwrap_or_default();
    let staff = r.staff.unwrap_or_default();
    let finance = r.finance.unwrap_or_default();
    let disclosures = r.disclosures.unwrap_or_default();
    let capacity = r.capacity.as_ref();
    let startups = r.startups.unwrap_or_default();
    let flags = &accepted.flags;
    rows.reports.push(ReportRow {
        report_id,
        platform_id: key.platform_id,
        region_code: key.region_code,
        period: key.period,
        period_kind: key.period_kind,
        period_start,
        revision: key.revision,
        form_version: &r.form_version,
        generated_at: clamp_datetime(r.generated_at.as_ref()),
        received_at,
        received_at_nanos: received_at.nanosecond(),
        due_at: accepted.due_at,
        agent_version: &r.agent_version,

        has_satisfaction: r.satisfaction.is_some().into(),
        satisfaction_very_satisfied: satisfaction.very_satisfied,
        satisfaction_satisfied: satisfaction.satisfied,
        satisfaction_neutral: satisfaction.neutral,
        satisfaction_dissatisfied: satisfaction.dissatisfied,
        satisfaction_very_dissatisfied: satisfaction.very_dissatisfied,
        satisfaction_responses: satisfaction.responses,

        has_staff: r.staff.is_some().into(),
        total_staff: staff.total_staff,
        professional_staff: staff.professional_staff,
        professional_with_college_degree: staff.professional_with_college_degree,
        professional_with_degree_or_mid_title: staff.professional_with_degree_or_mid_title,
        senior_title_staff: staff.senior_title_staff,
        staff_trained: staff.staff_trained,

        has_finance: r.finance.is_some().into(),
        total_revenue_fen: finance.total_revenue_fen,
        service_revenue_fen: finance.service_revenue_fen,
        public_funding_fen: finance.public_funding_fen,
        total_assets_fen: finance.total_assets_fen,

        has_disclosures: r.disclosures.is_some().into(),
        disclosure_content: disclosures.content.into(),
        disclosure_process: disclosures.process.into(),
        disclosure_standards: disclosures.standards.into(),
        disclosure_fees: disclosures.fees.into(),
        disclosure_time: disclosures.time.into(),

        has_capacity: capacity.is_some().into(),
        floor_area_m2: capacity.map_or(0.0, |c| c.floor_area_m2),
        equipment_count: capacity.map_or(0, |c| c.equipment_count),
        equipment_value_fen: capacity.map_or(0, |c| c.equipment_value_fen),
        shared_equipment_hours: capacity.map_or(0, |c| c.shared_equipment_hours),
        certifications: capacity.map_or(&[], |c| c.certifications.as_slice()),
        partner_universities: capacity.map_or(0, |c| c.partner_universities),
        partner_research_institutes: capacity.map_or(0, |c| c.partner_research_institutes),
        partner_associations: capacity.map_or(0, |c| c.partner_associations),
        partner_service_agencies: capacity.map_or(0, |c| c.partner_service_agencies),

        has_startups: r.startups.is_some().into(),
        startups_counselled: startups.startups_counselled,
        registrations_assisted: startups.registrations_assisted,

        service_record_count: u32::try_from(r.service_records.len()).unwrap_or(u32::MAX),
        // A report that carries records has not left them out, whatever the flag says.
        service_records_omitted: (r.service_records_omitted && r.service_records.is_empty()).into(),
        explanation_rule_ids: r.explanations.iter().map(|e| e.rule_id.as_str()).collect(),
        explanation_texts: r.explanations.iter().map(|e| e.text.as_str()).collect(),
        flag_rule_ids: flags.iter().map(|f| f.rule_id.as_str()).collect(),
        flag_fields: flags.iter().map(|f| f.field.as_str()).collect(),
        flag_messages_zh: flags.iter().map(|f| f.message_zh.as_str()).collect(),
        flag_messages_en: flags.iter().map(|f| f.message_en.as_str()).collect(),
    });
    let report = rows.reports.last().expect("just pushed");
    rows.facts.push(facts_row(
        report,
        &rows.volumes[first_volume..],
        &rows.records[first_record..],
    ));
    Ok(())
}

fn record_row<'a>(
    key: ReportKey<'a>,
    index: usize,
    rec: &'a v1::ServiceRecord,
) -> Result<RecordRow<'a>, (&'static str, String)> {
    let date =
        Date::parse(&rec.date, format_description!("[year]-[month]-[day]")).map_err(|e| {
            (
                "date",
                format!("{:?} is not a YYYY-MM-DD date: {e}", rec.date),
            )
        })?;
    check_date(date).map_err(|reason| ("date", reason))?;
    let small = |field: &'static str, v: i64| {
        u8::try_from(v).map_err(|_| (field, format!("{v} is out of range")))
    };
    Ok(RecordRow {
        report_id: key.report_id,
        platform_id: key.platform_id,
        region_code: key.region_code,
        period: key.period,
        period_kind: key.period_kind,
        period_start: key.period_start,
        revision: key.revision,
        record_index: u32::try_from(index)
            .map_err(|_| ("record_id", "too many records".to_owned()))?,
        record_id: &rec.record_id,
        date,
        function: small("function", rec.function.into())?,
        enterprise: &rec.enterprise,
        enterprise_size: small("enterprise_size", rec.enterprise_size.into())?,
        industry: &rec.industry,
        enterprise_region: &rec.enterprise_region,
        fee_fen: rec.fee_fen,
        free: rec.free.into(),
        satisfaction: small("satisfaction", rec.satisfaction.into())?,
        person_times: rec.person_times,
    })
}

/// Builds audit rows; fails on a `received_at` that `DateTime` cannot hold.
pub(crate) fn audit_rows(entries: &[AuditEntry]) -> Result<Vec<AuditRow<'_>>, StoreError> {
    entries
        .iter()
        .map(|e| {
            check_datetime(e.received_at).map_err(|reason| StoreError::InvalidReport {
                report_id: e.report_id.clone(),
                field: "audit.received_at".to_owned(),
                reason,
            })?;
            Ok(AuditRow {
                received_at: e.received_at,
                platform_id: &e.platform_id,
                cert_subject: &e.cert_subject,
                period: &e.period,
                report_id: &e.report_id,
                revision: e.revision,
                outcome: outcome_code(e.outcome),
                status_code: e.status_code,
                rule_ids: &e.rule_ids,
                peer: &e.peer,
                hub_instance: &e.hub_instance,
            })
        })
        .collect()
}

impl ReceiptRow {
    /// The stored receipt, with `received_at` exact to the nanosecond.
    pub(crate) fn into_receipt(self) -> super::StoredReceipt {
        let flags = self
            .flag_rule_ids
            .into_iter()
            .zip(self.flag_fields)
            .zip(self.flag_messages_zh)
            .zip(self.flag_messages_en)
            .map(
                |(((rule_id, field), message_zh), message_en)| v1::FieldViolation {
                    field,
                    rule_id,
                    message_zh,
                    message_en,
                },
            )
            .collect();
        super::StoredReceipt {
            report_id: self.report_id,
            platform_id: self.platform_id,
            period: self.period,
            revision: self.revision,
            received_at: self
                .received_at
                .replace_nanosecond(self.received_at_nanos)
                .unwrap_or(self.received_at),
            flags,
        }
    }
}

/// `Date` holds 1970-01-01 ..= 2149-06-06.
fn check_date(date: Date) -> Result<(), String> {
    let days = (date - Date::from_ordinal_date(1970, 1).expect("valid date")).whole_days();
    if (0..=i64::from(u16::MAX)).contains(&days) {
        Ok(())
    } else {
        Err(format!(
            "{date} is outside 1970-01-01..2149-06-06, the range of a ClickHouse Date"
        ))
    }
}

/// `DateTime` holds 1970-01-01T00:00:00Z ..= 2106-02-07T06:28:15Z.
fn check_datetime(t: OffsetDateTime) -> Result<(), String> {
    if u32::try_from(t.unix_timestamp()).is_ok() {
        Ok(())
    } else {
        Err(format!(
            "{t} is outside 1970..2106, the range of a ClickHouse DateTime"
        ))
    }
}

/// `generated_at` is informational: a missing or absurd agent clock must not lose the report, so
/// it is clamped into the `DateTime` range (seconds; a missing value is stored as 1970-01-01).
fn clamp_datetime(ts: Option<&prost_types::Timestamp>) -> OffsetDateTime {
    let seconds = ts.map_or(0, |t| t.seconds).clamp(0, i64::from(u32::MAX));
    OffsetDateTime::from_unix_timestamp(seconds).expect("clamped into range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sme_proto::fixtures;

    fn accepted(report: v1::Report) -> AcceptedReport {
        AcceptedReport {
            report,
            platform_id: fixtures::sample_platform_id(),
            region_code: "110108".into(),
            received_at: OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
                + time::Duration::nanoseconds(123_456_789),
            due_at: OffsetDateTime::from_unix_timestamp(1_781_000_000).unwrap(),
            flags: vec![v1::FieldViolation {
                field: "staff".into(),
                rule_id: "W101".into(),
                message_zh: "学历".into(),
                message_en: "degree share".into(),
            }],
        }
    }

    #[test]
    fn converts_a_sample_report() {
        let report = fixtures::sample_report(&fixtures::sample_platform_id(), "2026-Q2");
        let batch = [accepted(report.clone())];
        let rows = batch_rows(&batch).unwrap();
        assert_eq!(rows.reports.len(), 1);
        assert_eq!(rows.volumes.len(), report.volumes.len());
        assert_eq!(rows.records.len(), report.service_records.len());
        let row = &rows.reports[0];
        assert_eq!(row.period_kind, 2);
        assert_eq!(
            row.period_start,
            Date::from_calendar_date(2026, time::Month::April, 1).unwrap()
        );
        assert_eq!(row.received_at_nanos, 123_456_789);
        assert_eq!(row.has_staff, 1);
        assert_eq!(row.has_capacity, 0);
        assert_eq!(row.flag_rule_ids, ["W101"]);
        assert_eq!(rows.records[3].record_index, 3);
    }

    #[test]
    fn refuses_unstorable_reports_naming_the_field() {
        let mut report = fixtures::sample_report(&fixtures::sample_platform_id(), "2026-M05");
        report.service_records[2].date = "2026-5-1".into();
        let batch = [accepted(report)];
        let err = batch_rows(&batch).unwrap_err();
        assert!(err.to_string().contains("service_records[2].date"), "{err}");

        let mut report = fixtures::sample_report(&fixtures::sample_platform_id(), "2026-M05");
        report.report_id = "not-a-uuid".into();
        let err = batch_rows(&[accepted(report)]).unwrap_err();
        assert!(err.to_string().contains("report_id"), "{err}");
    }

    #[test]
    fn clamps_generated_at() {
        let far = prost_types::Timestamp {
            seconds: -5,
            nanos: 0,
        };
        assert_eq!(clamp_datetime(Some(&far)).unix_timestamp(), 0);
        assert_eq!(clamp_datetime(None).unix_timestamp(), 0);
    }
}
