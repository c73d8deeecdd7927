//! The reporting calendar as the hub last told it in `Heartbeat`, cached in the store's `meta`
//! table so the agent can build reports while the hub is unreachable.
//!
//! Which periods the builder may send ([`openness`]):
//!
//! * a period that has not ended yet is never sent (E003 would refuse the current month anyway,
//!   and its numbers are not final);
//! * with a cached hub calendar, an ended period is open when the hub listed it and it is not
//!   locked at `now` (its `locks_at` feeds rule E012 locally); a period the hub did not list is
//!   closed (locked, or reopened periods come back in the list); a period that ended *after* the
//!   calendar was fetched is judged by the default calendar until the next heartbeat;
//! * with no hub calendar yet (never reached the hub), the default calendar of domain §6 decides.

use serde::{Deserialize, Serialize};
use sme_proto::period::{from_timestamp, Calendar, Period};
use sme_proto::v1;
use time::OffsetDateTime;

use crate::store::{Store, StoreError};

/// `meta` key of the cached calendar.
const META_KEY: &str = "hub_calendar";

/// The hub's calendar for this platform, as of `fetched_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubCalendar {
    /// When the agent received it (agent clock, Unix seconds).
    pub fetched_at: i64,
    /// The hub's clock at that moment (Unix seconds), to spot skew.
    pub server_time: i64,
    /// Ended periods that are not locked, with due and lock times.
    pub entries: Vec<CalendarEntry>,
}

/// One period of the hub's calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarEntry {
    /// Period code.
    pub period: String,
    /// Due time (Unix seconds).
    pub due_at: i64,
    /// Lock time (Unix seconds).
    pub locks_at: i64,
    /// Locked for this platform when fetched.
    pub locked: bool,
    /// The hub had an accepted report when fetched.
    pub received: bool,
}

/// Whether the builder may send a period now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    /// The period has not ended: keep collecting.
    NotEnded,
    /// Ended and accepting reports until `locks_at`.
    Open {
        /// When it was (or will be) due.
        due_at: OffsetDateTime,
        /// When it locks.
        locks_at: OffsetDateTime,
    },
    /// Locked or not expected: nothing is sent until a coordinator reopens it.
    Closed,
}

// === impl HubCalendar ===

impl HubCalendar {
    /// The calendar of a heartbeat answer received at `now`.
    pub fn from_heartbeat(answer: &v1::HeartbeatResponse, now: OffsetDateTime) -> Self {
        let secs = |t: &Option<prost_types::Timestamp>| {
            t.as_ref()
                .and_then(from_timestamp)
                .map_or(0, |t| t.unix_timestamp())
        };
        HubCalendar {
            fetched_at: now.unix_timestamp(),
            server_time: secs(&answer.server_time),
            entries: answer
                .calendar
                .iter()
                .map(|c| CalendarEntry {
                    period: c.period.clone(),
                    due_at: secs(&c.due_at),
                    locks_at: secs(&c.locks_at),
                    locked: c.locked,
                    received: c.received,
                })
                .collect(),
        }
    }

    /// The cached calendar, if the hub was ever reached.
    pub fn load(store: &Store) -> Result<Option<Self>, StoreError> {
        store
            .meta_get(META_KEY)?
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("cached hub calendar: {e}")))
            })
            .transpose()
    }

    /// Caches this calendar.
    pub fn save(&self, store: &mut Store) -> Result<(), StoreError> {
        let json = serde_json::to_string(self).expect("calendar serialises");
        store.meta_set(META_KEY, &json)
    }

    /// The entry of `period`, if listed.
    pub fn entry(&self, period: &Period) -> Option<&CalendarEntry> {
        let code = period.to_string();
        self.entries.iter().find(|e| e.period == code)
    }

    /// Difference hub clock − agent clock when fetched, seconds.
    pub fn skew_seconds(&self) -> i64 {
        self.server_time - self.fetched_at
    }
}

/// Whether `period` may be sent at `now`; see the module documentation.
pub fn openness(hub: Option<&HubCalendar>, period: &Period, now: OffsetDateTime) -> Openness {
    if !period.has_ended(now) {
        return Openness::NotEnded;
    }
    let local = Calendar::default();
    let by_default = || {
        if local.is_locked(period, now) {
            Openness::Closed
        } else {
            Openness::Open {
                due_at: local.due_at(period),
                locks_at: local.locks_at(period),
            }
        }
    };
    let Some(hub) = hub else {
        return by_default();
    };
    match hub.entry(period) {
        Some(e) => {
            let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap_or(now);
            let locks_at = at(e.locks_at);
            if e.locked || now >= locks_at {
                Openness::Closed
            } else {
                Openness::Open {
                    due_at: at(e.due_at),
                    locks_at,
                }
            }
        }
        None if period.end().unix_timestamp() > hub.fetched_at => by_default(),
        None => Openness::Closed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sme_proto::period::to_timestamp;
    use time::macros::datetime;

    fn p(code: &str) -> Period {
        code.parse().unwrap()
    }

    fn heartbeat(now: OffsetDateTime, periods: &[&str]) -> v1::HeartbeatResponse {
        let cal = Calendar::default();
        v1::HeartbeatResponse {
            server_time: Some(to_timestamp(now)),
            calendar: periods
                .iter()
                .map(|c| cal.calendar_period(&p(c), now))
                .collect(),
            directives: vec![],
        }
    }

    #[test]
    fn without_a_hub_calendar_the_default_calendar_decides() {
        let now = datetime!(2026-11-28 01:00 UTC);
        assert_eq!(openness(None, &p("2026-M11"), now), Openness::NotEnded);
        assert!(matches!(
            openness(None, &p("2026-M10"), now),
            Openness::Open { .. }
        ));
        // Due 2026-08-10, locked 90 days later (2026-11-08).
        assert_eq!(openness(None, &p("2026-M07"), now), Openness::Closed);
    }

    #[test]
    fn the_hub_calendar_wins_and_later_periods_fall_back() {
        let fetched = datetime!(2026-10-20 01:00 UTC);
        let hub = HubCalendar::from_heartbeat(&heartbeat(fetched, &["2026-M09"]), fetched);
        let now = datetime!(2026-11-28 01:00 UTC);
        assert!(matches!(
            openness(Some(&hub), &p("2026-M09"), now),
            Openness::Open { .. }
        ));
        // Ended before the fetch but not listed: the hub considers it closed.
        assert_eq!(openness(Some(&hub), &p("2026-M08"), now), Openness::Closed);
        // Ended after the fetch: judged by the default calendar.
        assert!(matches!(
            openness(Some(&hub), &p("2026-M10"), now),
            Openness::Open { .. }
        ));
    }

    #[test]
    fn cached_in_meta() {
        let (_d, mut store) = crate::store::tests::temp_store();
        assert_eq!(HubCalendar::load(&store).unwrap(), None);
        let now = datetime!(2026-11-28 01:00 UTC);
        let hub = HubCalendar::from_heartbeat(&heartbeat(now, &["2026-M10", "2026-Q3"]), now);
        hub.save(&mut store).unwrap();
        assert_eq!(HubCalendar::load(&store).unwrap(), Some(hub.clone()));
        assert_eq!(hub.entries.len(), 2);
        assert_eq!(hub.skew_seconds(), 0);
    }
}
