//! When the agent works: a cron schedule (tokio-cron-scheduler syntax and time zones) plus a
//! per-agent start offset.
//!
//! * **Cron syntax** is tokio-cron-scheduler's: six or seven fields with seconds,
//!   `sec min hour day-of-month month day-of-week [year]`; the default `0 0 2 * * *` is 02:00
//!   every day. When both day fields are restricted a day must match *both* (the crate parses
//!   with `dom_and_dow`), unlike classic cron's "either".
//! * **Time zone**: any IANA name (`chrono-tz`), default `Asia/Shanghai` (UTC+8 all year). The
//!   next run is computed in that zone, so zones with daylight saving time are handled too.
//! * **Start offset**: each agent adds its own offset in `[0, max_start_offset_secs]` to every
//!   run, taken from a hash of its platform id: spread evenly over a fleet, stable for one agent
//!   across restarts (its runs stay 24 h apart), and needing no state.
//! * **No ticker.** `tokio_cron_scheduler::JobScheduler` wakes every 500 ms to look for due
//!   jobs. The agent instead uses the crate's `Job` for parsing the schedule in its time zone
//!   and sleeps until the next run itself, so an idle agent wakes only for the schedule (and the
//!   inbox poll, if enabled).

use std::time::Duration;

use chrono::TimeZone;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio_cron_scheduler::Job;

/// Errors in the schedule settings.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The time zone is not an IANA name.
    #[error("{0:?} is not an IANA time zone name (e.g. \"Asia/Shanghai\")")]
    Timezone(String),
    /// The cron expression does not parse.
    #[error(
        "{0:?} is not a cron expression with seconds: expected `sec min hour day-of-month month \
         day-of-week [year]`, e.g. \"0 0 2 * * *\" for 02:00 every day"
    )]
    Cron(String),
    /// The expression parses but never fires (e.g. a year in the past).
    #[error("{0:?} never fires after now")]
    Never(String),
}

impl ScheduleError {
    /// The configuration key at fault.
    pub fn key(&self) -> &'static str {
        match self {
            ScheduleError::Timezone(_) => "schedule.timezone",
            ScheduleError::Cron(_) | ScheduleError::Never(_) => "schedule.cron",
        }
    }
}

/// A parsed schedule with this agent's start offset.
#[derive(Clone)]
pub struct Schedule {
    cron: String,
    job: Job,
    tz: chrono_tz::Tz,
    offset: Duration,
}

impl std::fmt::Debug for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schedule")
            .field("cron", &self.cron)
            .field("tz", &self.tz)
            .field("offset", &self.offset)
            .finish()
    }
}

// === impl Schedule ===

impl Schedule {
    /// Parses `cron` in time zone `tz`; every run is delayed by `offset_secs`.
    pub fn new(cron: &str, tz: &str, offset_secs: u64) -> Result<Self, ScheduleError> {
        let tz: chrono_tz::Tz = tz
            .parse()
            .map_err(|_| ScheduleError::Timezone(tz.to_owned()))?;
        let job = Job::new_async_tz(cron, tz, |_, _| Box::pin(async {}))
            .map_err(|_| ScheduleError::Cron(cron.to_owned()))?;
        let schedule = Schedule {
            cron: cron.to_owned(),
            job,
            tz,
            offset: Duration::from_secs(offset_secs),
        };
        schedule
            .next_after(OffsetDateTime::now_utc())
            .ok_or_else(|| ScheduleError::Never(cron.to_owned()))?;
        Ok(schedule)
    }

    /// The cron expression.
    pub fn cron(&self) -> &str {
        &self.cron
    }

    /// This agent's start offset.
    pub fn offset(&self) -> Duration {
        self.offset
    }

    /// The first run strictly after `now` (cron time plus the offset), if any.
    pub fn next_after(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let offset = time::Duration::try_from(self.offset).ok()?;
        let cron = self.job.clone().job_data().ok()?.schedule()?;
        let base = now - offset;
        let start = self
            .tz
            .timestamp_opt(base.unix_timestamp(), base.nanosecond())
            .single()?;
        let next = cron.find_next_occurrence(&start, false).ok()?;
        let next = OffsetDateTime::from_unix_timestamp(next.timestamp()).ok()?;
        Some(next + offset)
    }
}

/// This agent's start offset: a hash of its platform id, uniform in `[0, max_secs]`.
pub fn start_offset_secs(platform_id: &str, max_secs: u64) -> u64 {
    if max_secs == 0 {
        return 0;
    }
    let digest = Sha256::digest(platform_id.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    n % (max_secs + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn default_runs_daily_at_two_in_shanghai() {
        let s = Schedule::new("0 0 2 * * *", "Asia/Shanghai", 0).unwrap();
        // 2026-11-28 01:00 UTC is 09:00 in Shanghai: next 02:00 local is 2026-11-28 18:00 UTC.
        let next = s.next_after(datetime!(2026-11-28 01:00 UTC)).unwrap();
        assert_eq!(next, datetime!(2026-11-28 18:00 UTC));
        let after = s.next_after(next).unwrap();
        assert_eq!(after - next, time::Duration::days(1));
    }

    #[test]
    fn the_offset_delays_every_run_and_is_not_skipped() {
        let s = Schedule::new("0 0 2 * * *", "Asia/Shanghai", 600).unwrap();
        // 18:05 UTC is between the cron time (18:00) and the delayed run (18:10).
        let next = s.next_after(datetime!(2026-11-28 18:05 UTC)).unwrap();
        assert_eq!(next, datetime!(2026-11-28 18:10 UTC));
    }

    #[test]
    fn zones_with_daylight_saving_are_followed() {
        let s = Schedule::new("0 0 2 * * *", "Europe/Berlin", 0).unwrap();
        assert_eq!(
            s.next_after(datetime!(2026-07-01 12:00 UTC)).unwrap(),
            datetime!(2026-07-02 00:00 UTC)
        );
        assert_eq!(
            s.next_after(datetime!(2026-12-01 12:00 UTC)).unwrap(),
            datetime!(2026-12-02 01:00 UTC)
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Schedule::new("0 2 * * *", "Asia/Shanghai", 0).unwrap_err();
        assert_eq!(e.key(), "schedule.cron");
        assert!(e.to_string().contains("sec min hour"), "{e}");
        let e = Schedule::new("0 0 2 * * *", "Beijing", 0).unwrap_err();
        assert_eq!(e.key(), "schedule.timezone");
        let e = Schedule::new("0 0 2 1 1 * 2001", "UTC", 0).unwrap_err();
        assert!(matches!(e, ScheduleError::Never(_)), "{e}");
    }

    #[test]
    fn offsets_are_stable_bounded_and_spread() {
        let a = start_offset_secs("91110108MA01C0DE8X", 1800);
        assert_eq!(a, start_offset_secs("91110108MA01C0DE8X", 1800));
        assert_eq!(start_offset_secs("91110108MA01C0DE8X", 0), 0);
        let mut buckets = [0u32; 6];
        for n in 0..3000 {
            let o = start_offset_secs(&format!("platform-{n}"), 1800);
            assert!(o <= 1800);
            buckets[(o * 6 / 1801) as usize] += 1;
        }
        // Roughly 500 per five-minute bucket.
        assert!(
            buckets.iter().all(|&b| (400..600).contains(&b)),
            "{buckets:?}"
        );
    }
}
