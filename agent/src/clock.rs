//! The agent's notion of "now", injectable so tests can move time (certificate renewal happens
//! months after enrolment).

use std::sync::Mutex;

use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until it is set or advanced (for tests and tools).
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

// === impl ManualClock ===

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    /// Sets the time.
    pub fn set(&self, at: OffsetDateTime) {
        *self.0.lock().expect("clock poisoned") = at;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: time::Duration) {
        *self.0.lock().expect("clock poisoned") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().expect("clock poisoned")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t = time::macros::datetime!(2026-05-01 00:00 UTC);
        let c = ManualClock::new(t);
        assert_eq!(c.now(), t);
        c.advance(time::Duration::days(2));
        assert_eq!(c.now(), time::macros::datetime!(2026-05-03 00:00 UTC));
        c.set(t);
        assert_eq!(c.now(), t);
    }
}
