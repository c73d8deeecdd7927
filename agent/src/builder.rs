//! The report builder (报表生成): turns the ledger and the profile snapshots of a period into a
//! `sme_proto::v1::Report`, checks it with the hub's own rules and puts it in the outbox.
//!
//! # What goes into a report
//!
//! | section | from |
//! |---|---|
//! | `volumes` | the period's service records, `rules::volumes_from_records`; with no records at all, an entry of zeros for each of the seven functions (a platform that served nobody says so) |
//! | `service_records` | every record dated in the period (pseudonymised); left out, with a warning, when they would make the report larger than the hub's limit — the volumes still come from them |
//! | `satisfaction` | the profile's satisfaction counts when given; else counted from the records' satisfaction (5 very satisfied … 1 very dissatisfied); zero responses when nobody was surveyed (W104 flags it) |
//! | `staff`, `finance`, `disclosures`, `capacity`, `startups` | the period's profile snapshot; missing sections are not invented, rule E010 names them |
//! | `explanations` | `sme-agent explain` and `上报说明` profile rows |
//!
//! # Which periods are built
//!
//! Periods whose inputs changed (the store's dirty periods) and that [`calendar::openness`] says
//! may be sent. The revision is the store's next revision and every revision gets a fresh
//! `report_id`, so records arriving after a period was sent produce a new revision that
//! supersedes it. A rebuild whose content equals the last build (ignoring envelope fields) is
//! skipped, so a report the hub rejected is never sent again unchanged.
//!
//! # Local check
//!
//! The report is checked with `sme_proto::rules::check`, with this agent's platform id as the
//! certificate identity, the lock time from the calendar, and the newest pending or delivered
//! report of the previous period as the W201 baseline. A period with errors is not enqueued: it
//! is recorded as blocked with its violations (shown by `sme-agent status`) and stays dirty, so
//! it is built again after the next change.

use prost::Message;
use sme_proto::period::{to_timestamp, Period, PeriodKind};
use sme_proto::rules::{self, CheckContext};
use sme_proto::v1;
use time::OffsetDateTime;

use crate::calendar::{self, HubCalendar, Openness};
use crate::store::{BuildStamp, Profile, Store, StoreError, StoredRecord};

/// `agent_version` of built reports.
pub const AGENT_VERSION: &str = concat!("sme-agent/", env!("CARGO_PKG_VERSION"));

/// Errors of the builder (the local check is not an error: see [`BuildSummary::blocked`]).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Reading inputs or writing the outbox failed; nothing of that period was enqueued.
    #[error("listing the periods to build: {0}")]
    List(#[source] StoreError),
    /// Reading inputs or writing the outbox failed; nothing of that period was enqueued.
    #[error("building the report of {period}: {source}")]
    Store {
        /// The period being built.
        period: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

/// What one builder pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BuildSummary {
    /// Reports put in the outbox.
    pub enqueued: Vec<BuiltReport>,
    /// Periods rebuilt with the same content as their last revision (nothing to send).
    pub unchanged: Vec<Period>,
    /// Periods held back by the local check, with the errors to fix.
    pub blocked: Vec<(Period, Vec<v1::FieldViolation>)>,
    /// Periods with changes that have not ended yet.
    pub not_ended: Vec<Period>,
    /// Periods with changes that are locked or not open for reporting.
    pub closed: Vec<Period>,
    /// Periods another process built at the same time (it enqueued them).
    pub raced: Vec<Period>,
}

/// A report the builder enqueued.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltReport {
    /// Its period.
    pub period: Period,
    /// Its revision.
    pub revision: u32,
    /// Its idempotency key.
    pub report_id: String,
    /// Soft-rule flags the local check raised (the hub will raise them too).
    pub flags: Vec<v1::FieldViolation>,
    /// Whether the service records were left out to keep under the size limit.
    pub records_omitted: bool,
}

/// What the builder needs besides the store.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext<'a> {
    /// This agent's platform id (from its certificate).
    pub platform_id: &'a str,
    /// The current time.
    pub now: OffsetDateTime,
    /// The hub's calendar, if ever fetched.
    pub hub_calendar: Option<&'a HubCalendar>,
    /// Largest report the hub accepts.
    pub max_report_bytes: usize,
}

/// Builds, checks and enqueues every dirty period that may be sent; see the module docs.
pub fn build_due(store: &mut Store, ctx: &BuildContext<'_>) -> Result<BuildSummary, BuildError> {
    let mut summary = BuildSummary::default();
    let err = |period: &Period| {
        let period = period.to_string();
        move |source| BuildError::Store { period, source }
    };
    let mut dirty = store.dirty_periods().map_err(BuildError::List)?;
    // Periods that end earlier first, so a month's W201 baseline is the previous month's new revision.
    dirty.sort_by_key(|s| (s.period.end(), kind_rank(s.period.kind())));
    for state in dirty {
        let period = state.period;
        let locks_at = match calendar::openness(ctx.hub_calendar, &period, ctx.now) {
            Openness::NotEnded => {
                summary.not_ended.push(period);
                continue;
            }
            Openness::Closed => {
                summary.closed.push(period);
                continue;
            }
            Openness::Open { locks_at, .. } => locks_at,
        };
        let revision = state.next_revision();
        let (report, records_omitted) =
            assemble(store, &period, ctx, revision).map_err(err(&period))?;
        let hash = content_hash(&report);
        if state.last_content_hash.as_deref() == Some(hash.as_str()) {
            store
                .mark_unchanged(&period, state.change_seq)
                .and_then(|()| store.clear_blocked(&period))
                .map_err(err(&period))?;
            summary.unchanged.push(period);
            continue;
        }
        let previous_total_services = match period.previous() {
            Some(prev) => store
                .latest_report(&prev)
                .map_err(err(&period))?
                .and_then(|item| v1::Report::decode(item.report.as_slice()).ok())
                .map(|r| rules::total_services(&r)),
            None => None,
        };
        let calendar = sme_proto::period::Calendar::default();
        let check_ctx = CheckContext {
            now: ctx.now,
            calendar: &calendar,
            certificate_platform_id: Some(ctx.platform_id),
            encoded_len: report.encoded_len(),
            max_report_bytes: ctx.max_report_bytes,
            platform_active: None,
            lock: Some(locks_at),
            previous_total_services,
        };
        let verdict = rules::check(&report, &check_ctx);
        if !verdict.is_accepted() {
            let json = serde_json::to_string(&verdict.errors).expect("violations serialise");
            store
                .set_blocked(&period, revision, &json)
                .map_err(err(&period))?;
            tracing::warn!(%period, errors = verdict.errors.len(), rules = ?verdict.rule_ids(),
                "report held back by the local check; see `sme-agent status`");
            summary.blocked.push((period, verdict.errors));
            continue;
        }
        let stamp = BuildStamp {
            content_hash: hash,
            change_seq: state.change_seq,
        };
        match store.enqueue(
            &report.report_id,
            &period,
            revision,
            &report.encode_to_vec(),
            &stamp,
        ) {
            Ok(()) => {}
            Err(StoreError::StaleRevision { .. }) => {
                summary.raced.push(period);
                continue;
            }
            Err(e) => return Err(err(&period)(e)),
        }
        store.clear_blocked(&period).map_err(err(&period))?;
        tracing::info!(%period, revision, report_id = %report.report_id,
            records = report.service_records.len(), "report built and queued");
        summary.enqueued.push(BuiltReport {
            period,
            revision,
            report_id: report.report_id,
            flags: verdict.flags,
            records_omitted,
        });
    }
    Ok(summary)
}

/// Assembles the report of `period` as revision `revision` with a fresh report id. Returns it
/// and whether the record detail was left out for size.
pub fn assemble(
    store: &Store,
    period: &Period,
    ctx: &BuildContext<'_>,
    revision: u32,
) -> Result<(v1::Report, bool), StoreError> {
    let records = store.records_for_period(period)?;
    let profile = store.profile_for_period(period)?;
    let explanations = store.explanations_for_period(period)?;
    let mut report = report_from(
        ctx.platform_id,
        period,
        revision,
        &records,
        &profile,
        explanations,
        ctx.now,
    );
    let mut omitted = false;
    if report.encoded_len() > ctx.max_report_bytes && !report.service_records.is_empty() {
        tracing::warn!(%period, records = report.service_records.len(),
            bytes = report.encoded_len(), limit = ctx.max_report_bytes,
            "service records left out of the report to keep it under the hub's size limit; the \
             volumes still come from them");
        report.service_records.clear();
        report.service_records_omitted = true;
        omitted = true;
    }
    Ok((report, omitted))
}

/// The report of one period from its inputs (pure).
pub fn report_from(
    platform_id: &str,
    period: &Period,
    revision: u32,
    records: &[StoredRecord],
    profile: &Profile,
    explanations: Vec<v1::Explanation>,
    now: OffsetDateTime,
) -> v1::Report {
    let service_records: Vec<v1::ServiceRecord> =
        records.iter().map(|r| r.record.to_proto()).collect();
    let mut volumes = rules::volumes_from_records(&service_records);
    if volumes.is_empty() {
        volumes = (1..=7)
            .map(|function| v1::FunctionVolume {
                function,
                ..Default::default()
            })
            .collect();
    }
    let satisfaction = profile
        .satisfaction
        .unwrap_or_else(|| satisfaction_from(records));
    v1::Report {
        report_id: uuid::Uuid::new_v4().to_string(),
        platform_id: platform_id.to_owned(),
        period: period.to_string(),
        revision,
        form_version: rules::FORM_VERSIONS[0].to_owned(),
        generated_at: Some(to_timestamp(now)),
        agent_version: AGENT_VERSION.to_owned(),
        volumes,
        satisfaction: Some(satisfaction),
        staff: profile.staff,
        finance: profile.finance,
        disclosures: profile.disclosures,
        capacity: profile.capacity.clone(),
        startups: profile.startups,
        service_records,
        explanations,
        service_records_omitted: false,
    }
}

/// Satisfaction counted from the records' 1–5 scores.
fn satisfaction_from(records: &[StoredRecord]) -> v1::Satisfaction {
    let mut s = v1::Satisfaction::default();
    for r in records {
        match r.record.satisfaction {
            Some(5) => s.very_satisfied += 1,
            Some(4) => s.satisfied += 1,
            Some(3) => s.neutral += 1,
            Some(2) => s.dissatisfied += 1,
            Some(1) => s.very_dissatisfied += 1,
            _ => continue,
        }
        s.responses += 1;
    }
    s
}

/// SHA-256 of the report without its envelope (`report_id`, `revision`, `generated_at`,
/// `agent_version`): equal hashes mean the hub would get the same numbers.
pub fn content_hash(report: &v1::Report) -> String {
    let bare = v1::Report {
        report_id: String::new(),
        revision: 0,
        generated_at: None,
        agent_version: String::new(),
        ..report.clone()
    };
    crate::store::sha256_hex(&bare.encode_to_vec())
}

fn kind_rank(kind: PeriodKind) -> u8 {
    match kind {
        PeriodKind::Month => 0,
        PeriodKind::Quarter => 1,
        PeriodKind::Year => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ImportSource, RecordRow};
    use sme_proto::v1::{EnterpriseSize, ServiceFunction};
    use time::macros::datetime;
    use time::Date;

    const PLATFORM: &str = "91110108MA01C0DE8X";

    fn platform() -> String {
        sme_proto::credit_code::make_valid(&PLATFORM[..17])
    }

    fn p(code: &str) -> Period {
        code.parse().unwrap()
    }

    fn row(id: &str, date: Date, function: ServiceFunction, satisfaction: Option<u8>) -> RecordRow {
        RecordRow {
            record_id: id.into(),
            date,
            function,
            enterprise: sme_proto::fixtures::sample_enterprise(id.len() as u32),
            enterprise_size: EnterpriseSize::Small,
            industry: "C".into(),
            enterprise_region: "110108".into(),
            fee_fen: 1000,
            free: false,
            satisfaction,
            person_times: 0,
            source_line: 2,
        }
    }

    fn startups() -> Profile {
        Profile {
            startups: Some(v1::Startups {
                startups_counselled: 1,
                registrations_assisted: 0,
            }),
            ..Profile::default()
        }
    }

    fn ctx(platform: &str, now: OffsetDateTime) -> BuildContext<'_> {
        BuildContext {
            platform_id: platform,
            now,
            hub_calendar: None,
            max_report_bytes: rules::DEFAULT_MAX_REPORT_BYTES,
        }
    }

    fn import(store: &mut Store, name: &str, rows: &[RecordRow]) {
        store
            .insert_records(rows, &ImportSource::new(name, name.as_bytes()))
            .unwrap();
    }

    #[test]
    fn a_month_is_built_checked_enqueued_and_then_unchanged() {
        let (_d, mut store) = crate::store::tests::temp_store();
        let id = platform();
        let now = datetime!(2026-11-28 01:00 UTC);
        let oct = p("2026-M10");
        import(
            &mut store,
            "a",
            &[
                row(
                    "R1",
                    Date::from_calendar_date(2026, time::Month::October, 3).unwrap(),
                    ServiceFunction::Quality,
                    Some(5),
                ),
                row(
                    "R2",
                    Date::from_calendar_date(2026, time::Month::October, 9).unwrap(),
                    ServiceFunction::Training,
                    None,
                ),
            ],
        );
        store.upsert_profile(&oct, &startups()).unwrap();

        let summary = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert_eq!(summary.enqueued.len(), 1, "{summary:#?}");
        assert_eq!(summary.enqueued[0].period, oct);
        assert_eq!(summary.enqueued[0].revision, 0);
        // The quarter and the year have not ended.
        assert_eq!(summary.not_ended, [p("2026-Q4"), p("2026-A")]);
        let item = store
            .outbox_item(&summary.enqueued[0].report_id)
            .unwrap()
            .unwrap();
        let report = v1::Report::decode(item.report.as_slice()).unwrap();
        assert_eq!(report.platform_id, id);
        assert_eq!(report.service_records.len(), 2);
        assert_eq!(report.volumes.len(), 2);
        let s = report.satisfaction.unwrap();
        assert_eq!((s.very_satisfied, s.responses), (1, 1));

        // A change and its undoing before the next build: same content, nothing new to send.
        let d = Date::from_calendar_date(2026, time::Month::October, 3).unwrap();
        let mut changed = row("R1", d, ServiceFunction::Quality, Some(4));
        import(&mut store, "b", std::slice::from_ref(&changed));
        changed.satisfaction = Some(5);
        // Back to the first content: an undone correction, which an import must allow.
        store
            .insert_records_with(&[changed], &ImportSource::new("c", b"c"), true)
            .unwrap();
        assert!(store.period_state(&oct).unwrap().dirty);
        let again = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert!(again.enqueued.is_empty(), "{again:#?}");
        assert!(again.unchanged.contains(&oct));
        assert!(!store.period_state(&oct).unwrap().dirty);

        // Asked to resend (e.g. after a reopening): a new revision even without a change.
        store.force_rebuild(&oct).unwrap();
        let resent = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert_eq!(resent.enqueued.len(), 1);
        assert_eq!(resent.enqueued[0].revision, 1);
    }

    #[test]
    fn a_late_record_makes_a_new_revision_that_supersedes() {
        let (_d, mut store) = crate::store::tests::temp_store();
        let id = platform();
        let now = datetime!(2026-11-28 01:00 UTC);
        let oct = p("2026-M10");
        let d = Date::from_calendar_date(2026, time::Month::October, 3).unwrap();
        import(
            &mut store,
            "a",
            &[row("R1", d, ServiceFunction::Quality, None)],
        );
        store.upsert_profile(&oct, &startups()).unwrap();
        let first = build_due(&mut store, &ctx(&id, now)).unwrap().enqueued;
        import(
            &mut store,
            "b",
            &[row("R2", d, ServiceFunction::Quality, None)],
        );
        let second = build_due(&mut store, &ctx(&id, now)).unwrap().enqueued;
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].revision, 1);
        assert_ne!(second[0].report_id, first[0].report_id);
        assert_eq!(
            store
                .outbox_item(&first[0].report_id)
                .unwrap()
                .unwrap()
                .state,
            crate::store::OutboxState::Superseded
        );
        let report = v1::Report::decode(
            store
                .outbox_item(&second[0].report_id)
                .unwrap()
                .unwrap()
                .report
                .as_slice(),
        )
        .unwrap();
        assert_eq!(report.volumes[0].services, 2);
    }

    #[test]
    fn errors_block_the_period_until_fixed() {
        let (_d, mut store) = crate::store::tests::temp_store();
        let id = platform();
        let now = datetime!(2026-11-28 01:00 UTC);
        let oct = p("2026-M10");
        let d = Date::from_calendar_date(2026, time::Month::October, 3).unwrap();
        import(
            &mut store,
            "a",
            &[row("R1", d, ServiceFunction::Quality, None)],
        );
        // No profile: the start-ups section is missing (E010).
        let s = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert!(s.enqueued.is_empty());
        assert_eq!(s.blocked.len(), 1);
        assert!(s.blocked[0]
            .1
            .iter()
            .any(|v| v.rule_id == "E010" && v.field == "startups"));
        assert_eq!(store.blocked().unwrap().len(), 1);
        assert_eq!(store.queue_depth().unwrap(), 0);
        // Still dirty: the fix makes it build.
        store.upsert_profile(&oct, &startups()).unwrap();
        let s = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert_eq!(s.enqueued.len(), 1);
        assert!(store.blocked().unwrap().is_empty());
    }

    #[test]
    fn w201_needs_an_explanation_and_explain_unblocks() {
        let (_d, mut store) = crate::store::tests::temp_store();
        let id = platform();
        let now = datetime!(2026-11-28 01:00 UTC);
        let sep = p("2026-M09");
        let oct = p("2026-M10");
        let day = |m, d| Date::from_calendar_date(2026, m, d).unwrap();
        import(
            &mut store,
            "a",
            &[row(
                "S1",
                day(time::Month::September, 2),
                ServiceFunction::Quality,
                None,
            )],
        );
        let rows: Vec<RecordRow> = (0..5)
            .map(|i| {
                row(
                    &format!("O{i}"),
                    day(time::Month::October, 2),
                    ServiceFunction::Quality,
                    None,
                )
            })
            .collect();
        import(&mut store, "b", &rows);
        store.upsert_profile(&sep, &startups()).unwrap();
        store.upsert_profile(&oct, &startups()).unwrap();
        let s = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert_eq!(
            s.enqueued.iter().map(|b| b.period).collect::<Vec<_>>(),
            [sep]
        );
        let (_, errors) = s
            .blocked
            .iter()
            .find(|b| b.0 == oct)
            .expect("October blocked");
        assert_eq!(errors[0].rule_id, "W201");
        store
            .add_explanation(&oct, "W201", "new testing lab opened")
            .unwrap();
        let s = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert_eq!(s.enqueued.len(), 1);
        assert!(s.enqueued[0].flags.iter().any(|f| f.rule_id == "W201"));
    }

    #[test]
    fn a_period_without_records_reports_zeros_for_all_functions() {
        let (_d, mut store) = crate::store::tests::temp_store();
        let id = platform();
        let now = datetime!(2026-11-28 01:00 UTC);
        let oct = p("2026-M10");
        store.upsert_profile(&oct, &startups()).unwrap();
        let s = build_due(&mut store, &ctx(&id, now)).unwrap();
        assert_eq!(s.enqueued.len(), 1, "{s:#?}");
        let item = store
            .outbox_item(&s.enqueued[0].report_id)
            .unwrap()
            .unwrap();
        let report = v1::Report::decode(item.report.as_slice()).unwrap();
        assert_eq!(report.volumes.len(), 7);
        assert!(report.volumes.iter().all(|v| v.services == 0));
    }

    #[test]
    fn records_are_left_out_when_the_report_would_be_too_large() {
        let (_d, mut store) = crate::store::tests::temp_store();
        let id = platform();
        let now = datetime!(2026-11-28 01:00 UTC);
        let oct = p("2026-M10");
        let d = Date::from_calendar_date(2026, time::Month::October, 3).unwrap();
        let rows: Vec<RecordRow> = (0..50)
            .map(|i| row(&format!("R{i}"), d, ServiceFunction::Quality, None))
            .collect();
        import(&mut store, "a", &rows);
        store.upsert_profile(&oct, &startups()).unwrap();
        let mut c = ctx(&id, now);
        c.max_report_bytes = 2_000;
        let s = build_due(&mut store, &c).unwrap();
        assert_eq!(s.enqueued.len(), 1, "{s:#?}");
        assert!(s.enqueued[0].records_omitted);
        let item = store
            .outbox_item(&s.enqueued[0].report_id)
            .unwrap()
            .unwrap();
        let report = v1::Report::decode(item.report.as_slice()).unwrap();
        assert!(report.service_records.is_empty());
        assert!(
            report.service_records_omitted,
            "the hub must learn that the detail was left out"
        );
        assert_eq!(report.volumes[0].services, 50);
    }

    #[test]
    fn content_hash_ignores_the_envelope() {
        let mut a = sme_proto::fixtures::sample_report(&platform(), "2026-M10");
        let h = content_hash(&a);
        a.report_id = uuid::Uuid::new_v4().to_string();
        a.revision = 3;
        a.generated_at = None;
        assert_eq!(content_hash(&a), h);
        a.volumes[0].services += 1;
        assert_ne!(content_hash(&a), h);
    }
}
