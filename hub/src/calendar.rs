//! The reporting calendar a platform sees in `Heartbeat`: every period that has ended and is not
//! yet locked (what the agent may still send), with due and lock times (UTC+8) and whether the
//! hub already has an accepted report.

use sme_proto::period::{Calendar, PeriodKind};
use sme_proto::v1;
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// The calendar for one platform at `now`.
pub async fn platform_calendar(
    calendar: &Calendar,
    store: &Store,
    platform_id: &str,
    now: OffsetDateTime,
) -> Result<Vec<v1::CalendarPeriod>, StoreError> {
    let mut entries: Vec<v1::CalendarPeriod> =
        [PeriodKind::Month, PeriodKind::Quarter, PeriodKind::Year]
            .into_iter()
            .flat_map(|kind| calendar.open_for_reporting(kind, now))
            .map(|p| calendar.calendar_period(&p, now))
            .collect();
    let codes: Vec<String> = entries.iter().map(|e| e.period.clone()).collect();
    let received = store.received_periods(platform_id, &codes).await?;
    for entry in &mut entries {
        entry.received = received.contains(&entry.period);
    }
    Ok(entries)
}
