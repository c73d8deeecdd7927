//! The reporting calendar a platform sees in `Heartbeat`: every period that has ended and is not
//! locked for this platform (what the agent may still send), with due and lock times (UTC+8)
//! and whether the hub already has an accepted report.
//!
//! Reopenings count: a period the calendar has locked but a coordinator reopened for this
//! platform (or its region) is listed with `locked = false` and `locks_at` the reopening's end;
//! an open period whose lock a reopening pushes later shows the later time.

use sme_proto::period::{Calendar, Period, PeriodKind};
use sme_proto::v1;
use time::OffsetDateTime;

use crate::registry;
use crate::reporting::periods;
use crate::store::{Store, StoreError};

/// The calendar for one platform at `now`.
pub async fn platform_calendar(
    calendar: &Calendar,
    store: &Store,
    platform_id: &str,
    now: OffsetDateTime,
) -> Result<Vec<v1::CalendarPeriod>, StoreError> {
    let region = match registry::platform(store, platform_id).await? {
        Some(p) => p.region_code,
        None => sme_proto::credit_code::region_code(platform_id).to_owned(),
    };
    let reopened = periods::reopened_periods(store, platform_id, &region, now).await?;
    let mut entries = calendar_with_reopenings(calendar, &reopened, now);
    let codes: Vec<String> = entries.iter().map(|e| e.period.clone()).collect();
    let received = store.received_periods(platform_id, &codes).await?;
    for entry in &mut entries {
        entry.received = received.contains(&entry.period);
    }
    Ok(entries)
}

/// The calendar's open periods merged with the platform's live reopenings (period, lock time),
/// months first, then quarters, then years, oldest first in each. Pure.
pub fn calendar_with_reopenings(
    calendar: &Calendar,
    reopened: &[(Period, OffsetDateTime)],
    now: OffsetDateTime,
) -> Vec<v1::CalendarPeriod> {
    let mut periods: Vec<(Period, OffsetDateTime)> =
        [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year]
            .into_iter()
            .flat_map(|kind| calendar.open_for_reporting(kind, now))
            .map(|p| (p, calendar.locks_at(&p)))
            .collect();
    for (period, until) in reopened {
        if !period.has_ended(now) || *until <= now {
            continue;
        }
        match periods.iter_mut().find(|(p, _)| p == period) {
            Some((_, lock)) => *lock = (*lock).max(*until),
            None => periods.push((*period, (*until).max(calendar.locks_at(period)))),
        }
    }
    periods.sort_by_key(|(p, _)| (p.kind(), *p));
    periods
        .into_iter()
        .map(|(p, lock)| {
            let mut entry = calendar.calendar_period(&p, now);
            entry.locks_at = Some(sme_proto::period::to_timestamp(lock));
            entry.locked = now >= lock;
            entry
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn p(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn reopened_periods_are_listed_unlocked_until_their_new_lock() {
        let cal = Calendar::default();
        let now = datetime!(2026-11-28 10:00 +8);
        let plain = calendar_with_reopenings(&cal, &[], now);
        assert!(plain.iter().all(|e| !e.locked));
        assert!(
            !plain.iter().any(|e| e.period == "2026-M03"),
            "locked by the calendar"
        );
        let until = datetime!(2026-12-31 23:59:59 +8);
        let extended = datetime!(2027-03-01 23:59:59 +8);
        let reopened = [(p("2026-M03"), until), (p("2026-M09"), extended)];
        let entries = calendar_with_reopenings(&cal, &reopened, now);
        let march = entries.iter().find(|e| e.period == "2026-M03").unwrap();
        assert!(!march.locked);
        assert_eq!(march.locks_at.unwrap().seconds, until.unix_timestamp());
        let september = entries.iter().find(|e| e.period == "2026-M09").unwrap();
        assert_eq!(
            september.locks_at.unwrap().seconds,
            extended.unix_timestamp()
        );
        // Order: months oldest first, then quarters, then the year.
        let months: Vec<_> = entries
            .iter()
            .filter(|e| e.period.contains('M'))
            .map(|e| e.period.as_str())
            .collect();
        assert_eq!(months.first(), Some(&"2026-M03"));
        assert_eq!(entries.len(), plain.len() + 1);
        // A reopening that has run out, or of a period not yet ended, changes nothing.
        let stale = [
            (p("2026-M02"), datetime!(2026-11-01 00:00 +8)),
            (p("2026-M11"), until),
        ];
        assert_eq!(calendar_with_reopenings(&cal, &stale, now), plain);
    }

    #[test]
    fn month_end_due_days_fall_on_the_last_day_including_29_february() {
        let cal = Calendar {
            monthly_due_day: 31,
            ..Calendar::default()
        };
        let now = datetime!(2028-03-01 00:00 +8);
        let entries = calendar_with_reopenings(&cal, &[], now);
        let due = |period: &str| {
            entries
                .iter()
                .find(|e| e.period == period)
                .and_then(|e| e.due_at)
                .map(|t| t.seconds)
        };
        assert_eq!(
            due("2028-M01"),
            Some(datetime!(2028-02-29 23:59:59 +8).unix_timestamp())
        );
        assert_eq!(
            due("2028-M02"),
            Some(datetime!(2028-03-31 23:59:59 +8).unix_timestamp())
        );
        assert_eq!(
            due("2027-M11"),
            Some(datetime!(2027-12-31 23:59:59 +8).unix_timestamp())
        );
        assert!(entries.iter().all(|e| !e.locked));
    }
}
