//! Calendar, lock and completeness edge cases through the real hub, with its clock set by the
//! test: UTC+8 midnight at a month end, the due second, many revisions, a platform closed
//! mid-period, a leap-year February and the annual report's lock.
//!
//! One hub for the file; the scenarios run in time order because they share its clock.

use sme_agent::identity::Identity;
use sme_hub::registry::Platform;
use sme_proto::credit_code::make_valid;
use sme_proto::period::Calendar;
use sme_proto::v1::{self, Receipt};
use sme_tests::{assert_violation, fixtures, TestHub};
use time::macros::{date, datetime};
use tonic::Code;

async fn send(
    hub: &TestHub,
    identity: &Identity,
    report: &v1::Report,
) -> Result<Receipt, tonic::Status> {
    hub.client(&identity.trust())
        .submit_report(v1::SubmitReportRequest {
            report: Some(report.clone()),
        })
        .await
        .map(|r| r.into_inner().receipt.expect("receipt"))
}

#[track_caller]
fn accepted(result: Result<Receipt, tonic::Status>) -> Receipt {
    match result {
        Ok(r) => r,
        Err(status) => panic!(
            "refused: {status:?}\n{:#?}",
            sme_proto::status::violations(&status)
        ),
    }
}

fn revision(report: &v1::Report, revision: u32) -> v1::Report {
    let mut r = report.clone();
    r.report_id = uuid::Uuid::new_v4().to_string();
    r.revision = revision;
    r
}

async fn heartbeat(hub: &TestHub, identity: &Identity) -> Vec<v1::CalendarPeriod> {
    hub.client(&identity.trust())
        .heartbeat(v1::HeartbeatRequest::default())
        .await
        .unwrap()
        .into_inner()
        .calendar
}

/// 2026-05-31T16:00:00Z is 1 June 00:00 in UTC+8: June has started, May has ended.
async fn utc8_midnight_at_a_month_end(hub: &TestHub) {
    let id = make_valid("91110108MA0000M01");
    let (_d, identity) = hub.enroll(&id).await;
    let mut june = fixtures::sample_report(&id, "2026-M06");
    june.service_records[0].date = "2026-06-01".into();
    fixtures::recompute_volumes(&mut june);

    hub.clock().set(datetime!(2026-05-31 15:59:59 UTC));
    assert_violation(
        send(hub, &identity, &june).await,
        Code::InvalidArgument,
        "E003",
        "period",
    );
    let calendar = heartbeat(hub, &identity).await;
    assert!(
        !calendar.iter().any(|e| e.period == "2026-M05"),
        "May has not ended yet"
    );

    hub.clock().set(datetime!(2026-05-31 16:00 UTC));
    let receipt = accepted(send(hub, &identity, &june).await);
    assert_eq!(
        receipt.received_at.unwrap().seconds,
        datetime!(2026-06-01 00:00 +8).unix_timestamp()
    );
    let calendar = heartbeat(hub, &identity).await;
    let may = calendar
        .iter()
        .find(|e| e.period == "2026-M05")
        .expect("May is open");
    assert_eq!(
        may.due_at.unwrap().seconds,
        datetime!(2026-06-10 23:59:59 +8).unix_timestamp()
    );
    assert!(!may.locked && !may.received);

    // A record dated 31 May belongs to May, not June.
    let mut stray = revision(&june, 1);
    stray.service_records[0].date = "2026-05-31".into();
    assert_violation(
        send(hub, &identity, &stray).await,
        Code::InvalidArgument,
        "E011",
        "service_records[0].date",
    );
}

/// Expected, received once whatever the revisions, on time by the first revision (the due
/// second counts), and a platform closed mid-period.
async fn completeness_over_the_deadline(hub: &TestHub) {
    let cal = Calendar::default();
    let may: sme_proto::period::Period = "2026-M05".parse().unwrap();
    let punctual = make_valid("91440305MA0000C01");
    let late = make_valid("91440305MA0000C02");
    let closed = make_valid("91440306MA0000C03");
    let june_only = make_valid("91440306MA0000C04");
    let (_d1, punctual_id) = hub.enroll(&punctual).await;
    let (_d2, late_id) = hub.enroll(&late).await;
    let mut p = Platform::new(&closed, "五月中旬停业平台", date!(2019 - 01 - 01));
    p.closed = Some(date!(2026 - 05 - 20));
    hub.register_platform(p).await;
    hub.register_platform(Platform::new(
        &june_only,
        "六月登记平台",
        date!(2026 - 06 - 01),
    ))
    .await;

    let first = fixtures::sample_report(&punctual, "2026-M05");
    hub.clock().set(datetime!(2026-06-10 23:59:59.999 +8));
    accepted(send(hub, &punctual_id, &first).await);
    hub.clock().set(datetime!(2026-06-11 00:00 +8));
    accepted(send(hub, &late_id, &fixtures::sample_report(&late, "2026-M05")).await);
    // Many revisions, and a replay of each, later on.
    for (n, day) in [(1, 12), (2, 20), (3, 28)] {
        hub.clock()
            .set(datetime!(2026-06-01 09:00 +8) + time::Duration::days(day - 1));
        let r = revision(&first, n);
        accepted(send(hub, &punctual_id, &r).await);
        assert!(accepted(send(hub, &punctual_id, &r).await).replay);
    }

    let c = sme_hub::analytics::completeness::completeness(
        hub.store(),
        &cal,
        &sme_hub::analytics::Scope::operator(),
        &may,
        Some("440000"),
    )
    .await
    .unwrap();
    assert_eq!(
        (c.total.expected, c.total.received, c.total.on_time),
        (3, 2, 1),
        "{c:#?}"
    );
    assert_eq!(c.total.missing.len(), 1);
    assert_eq!(c.total.missing[0].credit_code, closed);
    assert_eq!(c.total.missing[0].name, "五月中旬停业平台");
    let by_region: Vec<_> = c
        .regions
        .iter()
        .map(|r| (r.region_code.as_str(), r.expected, r.received, r.on_time))
        .collect();
    assert_eq!(by_region, [("440300", 3, 2, 1)]);
    let statuses = sme_hub::analytics::completeness::platform_statuses(
        hub.store(),
        &cal,
        &sme_hub::analytics::Scope::operator(),
        &may,
        "440300",
    )
    .await
    .unwrap();
    let p = statuses.iter().find(|s| s.credit_code == punctual).unwrap();
    assert_eq!(p.revisions, 4);
    assert!(p.on_time);

    // June: the platform closed in May is not expected; the one registered on 1 June is.
    let june = sme_hub::analytics::completeness::completeness(
        hub.store(),
        &cal,
        &sme_hub::analytics::Scope::operator(),
        &"2026-M06".parse().unwrap(),
        Some("440300"),
    )
    .await
    .unwrap();
    let missing: Vec<_> = june
        .total
        .missing
        .iter()
        .map(|m| m.credit_code.as_str())
        .collect();
    assert_eq!(
        missing,
        [punctual.as_str(), late.as_str(), june_only.as_str()]
    );
}

/// 2028 is a leap year: February has 29 days, and the 2027 annual report (due 31 March 2028)
/// locks 90 days later, on 29 June 2028 at 23:59:59 UTC+8.
async fn leap_year_february_and_the_annual_lock(hub: &TestHub) {
    let id = make_valid("91110108MA0000L01");
    let (_d, identity) = hub.enroll(&id).await;
    hub.clock().set(datetime!(2028-03-01 00:00 +8));
    let mut feb = fixtures::sample_report(&id, "2028-M02");
    feb.service_records[0].date = "2028-02-29".into();
    fixtures::recompute_volumes(&mut feb);
    accepted(send(hub, &identity, &feb).await);

    let cal = Calendar::default();
    let year: sme_proto::period::Period = "2027-A".parse().unwrap();
    assert_eq!(cal.due_at(&year), datetime!(2028-03-31 23:59:59 +8));
    let lock = cal.locks_at(&year);
    assert_eq!(lock, datetime!(2028-06-29 23:59:59 +8));

    hub.clock().set(lock - time::Duration::seconds(1));
    let calendar = heartbeat(hub, &identity).await;
    let entry = calendar
        .iter()
        .find(|e| e.period == "2027-A")
        .expect("2027 listed");
    assert_eq!(entry.locks_at.unwrap().seconds, lock.unix_timestamp());
    let annual = fixtures::sample_report(&id, "2027-A");
    accepted(send(hub, &identity, &annual).await);

    hub.clock().set(lock);
    let status = send(hub, &identity, &revision(&annual, 1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let v = sme_proto::status::violations(&status);
    assert!(v[0].message_en.contains("2028-06-29 23:59:59"), "{v:#?}");
    assert!(!heartbeat(hub, &identity)
        .await
        .iter()
        .any(|e| e.period == "2027-A"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_locks_and_completeness_at_the_edges() {
    let hub = TestHub::start_at(datetime!(2026-05-01 00:00 +8)).await;
    utc8_midnight_at_a_month_end(&hub).await;
    completeness_over_the_deadline(&hub).await;
    leap_year_february_and_the_annual_lock(&hub).await;
    hub.stop().await;
}
