//! A clock the test moves.
//!
//! Here, in the dev-only crate, rather than beside [`Clock`] in `technic-data`: no build of
//! technic can then contain a clock that can be set, and no feature flag has to be kept in step.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use technic_data::clock::Clock;

/// Stands still until [`ManualClock::advance`] moves both its monotonic and its wall time.
#[derive(Debug)]
pub struct ManualClock {
    origin: Instant,
    wall_origin: SystemTime,
    moved: Mutex<Duration>,
}

impl ManualClock {
    /// Starts at the machine's present wall time.
    pub fn new() -> Arc<Self> {
        Self::at(SystemTime::now())
    }

    /// Starts at `wall` (a fixed date makes "today" the test's choice).
    pub fn at(wall: SystemTime) -> Arc<Self> {
        Arc::new(Self {
            origin: Instant::now(),
            wall_origin: wall,
            moved: Mutex::new(Duration::ZERO),
        })
    }

    /// Moves time on by `by`, as if that much had passed.
    pub fn advance(&self, by: Duration) {
        *self.moved.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }

    fn moved(&self) -> Duration {
        *self.moved.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.origin + self.moved()
    }

    fn wall(&self) -> SystemTime {
        self.wall_origin + self.moved()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_still_until_advanced_then_moves_both_times() {
        let clock = ManualClock::at(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 10));
        let (before, wall) = (clock.now(), clock.wall());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), before, "real time does not move it");
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now() - before, Duration::from_secs(90));
        assert_eq!(
            clock.wall().duration_since(wall).ok(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(clock.today_utc().to_string(), "1970-01-11");
    }
}
