//! Per-platform shares of the intake: one platform — many streams, many copies of one
//! `report_id` — holds at most `cap` of the writer's report slots at once, so the others keep
//! getting in while it drains. A report over its platform's share is refused at once with
//! `RESOURCE_EXHAUSTED` and a retry hint, like a full intake; nothing waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Slots held per platform.
#[derive(Debug)]
pub struct PlatformShares {
    cap: usize,
    held: Mutex<HashMap<String, usize>>,
}

/// One slot of a platform's share; given back on drop.
#[derive(Debug)]
pub struct Share {
    shares: Arc<PlatformShares>,
    platform_id: String,
}

impl PlatformShares {
    /// Shares of `percent` % of `capacity` slots (at least one).
    pub fn new(capacity: usize, percent: u8) -> Self {
        let cap = (capacity * usize::from(percent.min(100)))
            .div_ceil(100)
            .max(1);
        Self {
            cap,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Most slots one platform may hold.
    #[cfg(test)]
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A slot for `platform_id`, or how many it holds when its share is used up.
    pub fn take(self: &Arc<Self>, platform_id: &str) -> Result<Share, usize> {
        let mut held = self.held.lock().expect("shares lock poisoned");
        let n = held.entry(platform_id.to_owned()).or_default();
        if *n >= self.cap {
            return Err(*n);
        }
        *n += 1;
        Ok(Share {
            shares: self.clone(),
            platform_id: platform_id.to_owned(),
        })
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.shares.held.lock().expect("shares lock poisoned");
        if let Some(n) = held.get_mut(&self.platform_id) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.platform_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_gets_at_most_its_share_and_others_are_unaffected() {
        let shares = Arc::new(PlatformShares::new(100, 25));
        assert_eq!(shares.cap(), 25);
        let greedy: Vec<Share> = (0..25).map(|_| shares.take("a").unwrap()).collect();
        assert_eq!(shares.take("a").unwrap_err(), 25);
        let other = shares.take("b").unwrap();
        drop(greedy);
        assert!(shares.take("a").is_ok());
        drop(other);
        assert!(
            shares.held.lock().unwrap().is_empty(),
            "released shares are forgotten"
        );
        assert_eq!(PlatformShares::new(3, 10).cap(), 1, "at least one");
    }
}
