//! The one clock every crate reads for the time that decides something: how old a cached entry or
//! a finished scan is (TTLs, retention, back-off), which date is "today", a scan's progress and its
//! messages' timestamps. Injected as an `Arc<dyn Clock>`, so a test moves time with a manual clock
//! (`technic_testkit::ManualClock`) instead of sleeping until an entry expires.
//!
//! Here rather than in `technic-core`, which reads no clock at all: [`SystemClock`] does, and this
//! is the lowest crate every reader of time (engine, sources, stores, caches, server) depends on.
//!
//! Not every time read goes through it. Measurements stay on `Instant::now()`: elapsed times for
//! logs, metrics and benchmarks, test deadlines, and the deadlines of waits and async timers (a
//! stream's keep-alive, a condition variable's timeout) that must pass in real time because the
//! thread or task really sleeps until then; a manual clock could not wake them.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, Utc};

/// Time, injected so tests and replays control it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Monotonic time, for ages and TTLs.
    fn now(&self) -> Instant;

    /// Wall-clock time, for timestamps and dates.
    fn wall(&self) -> SystemTime;

    /// Whole seconds since the Unix epoch (0 before it), as stores record times.
    fn unix_seconds(&self) -> u64 {
        self.wall()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    /// The wall time as a UTC timestamp.
    fn utc(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.wall())
    }

    /// The date `hours` east of UTC (negative: west) at whole-second precision, e.g. `-5` for the
    /// US Eastern standard time trading days are dated in.
    fn date_at_offset(&self, hours: i64) -> NaiveDate {
        let seconds = i64::try_from(self.unix_seconds()).unwrap_or(i64::MAX);
        DateTime::from_timestamp(seconds.saturating_add(hours * 3600), 0)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }

    /// Today's date in UTC.
    fn today_utc(&self) -> NaiveDate {
        self.date_at_offset(0)
    }
}

/// The machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The machine's clocks, shared: the default wherever a clock can be injected.
pub fn system() -> std::sync::Arc<dyn Clock> {
    std::sync::Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Debug)]
    struct At(SystemTime);

    impl Clock for At {
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn wall(&self) -> SystemTime {
            self.0
        }
    }

    #[test]
    fn dates_follow_the_wall_time_and_the_offset() {
        // 2024-03-05 03:00 UTC: still the 4th five hours west, already the 5th in UTC.
        let at = At(UNIX_EPOCH + Duration::from_secs(1_709_607_600));
        assert_eq!(at.today_utc(), NaiveDate::from_ymd_opt(2024, 3, 5).unwrap());
        assert_eq!(
            at.date_at_offset(-5),
            NaiveDate::from_ymd_opt(2024, 3, 4).unwrap()
        );
        assert_eq!(at.unix_seconds(), 1_709_607_600);
        assert_eq!(
            At(UNIX_EPOCH - Duration::from_secs(10)).unix_seconds(),
            0,
            "before the epoch"
        );
    }
}
