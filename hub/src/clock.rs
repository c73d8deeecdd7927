//! The hub's notion of "now" (receipt times, E003, locks, heartbeats).
//!
//! Production reads the system clock. Tests start a hub with [`Clock::manual`] and move it with
//! [`Clock::set`], so deadlines, locks and month ends are tested without sleeping.

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

/// A source of the current time. Cheap to clone; clones of a manual clock share its time.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<OffsetDateTime>>>,
}

// === impl Clock ===

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands at `now` until [`Clock::set`] or [`Clock::advance`] moves it.
    pub fn manual(now: OffsetDateTime) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(now))),
        }
    }

    /// The current time.
    pub fn now(&self) -> OffsetDateTime {
        match &self.manual {
            Some(t) => *t.lock().expect("clock poisoned"),
            None => OffsetDateTime::now_utc(),
        }
    }

    /// Whether this is a manual (test) clock.
    pub fn is_manual(&self) -> bool {
        self.manual.is_some()
    }

    /// Sets a manual clock.
    ///
    /// # Panics
    ///
    /// On the system clock: only tests move time.
    pub fn set(&self, now: OffsetDateTime) {
        let t = self
            .manual
            .as_ref()
            .expect("only a manual clock can be set; start the hub with Clock::manual");
        *t.lock().expect("clock poisoned") = now;
    }

    /// Moves a manual clock forward (or back, with a negative duration).
    ///
    /// # Panics
    ///
    /// On the system clock.
    pub fn advance(&self, by: time::Duration) {
        self.set(self.now() + by);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.manual {
            Some(_) => write!(f, "Clock::manual({})", self.now()),
            None => f.write_str("Clock::system"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_is_shared_by_clones() {
        let clock = Clock::manual(datetime!(2026-05-31 16:00 UTC));
        let other = clock.clone();
        clock.advance(time::Duration::seconds(1));
        assert_eq!(other.now(), datetime!(2026-05-31 16:00:01 UTC));
        assert!(other.is_manual());
    }

    #[test]
    fn system_clock_moves() {
        let clock = Clock::default();
        assert!(!clock.is_manual());
        assert!(clock.now().year() >= 2026);
    }

    #[test]
    #[should_panic(expected = "only a manual clock")]
    fn system_clock_cannot_be_set() {
        Clock::system().set(OffsetDateTime::UNIX_EPOCH);
    }
}
