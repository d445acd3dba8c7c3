//! Early termination: when a scan has found enough, or has run long enough, it stops.
//!
//! A new criterion is a field of [`TerminationCriteria`], its test in `check` (or `check_time` for
//! one that depends on time alone) and its [`StopReason`]; the request's side is
//! `technic_engine::TerminationRequest` and its validation. The engine checks the criteria under
//! the lock that emits results, so `max_signals` is exact.

/// What the user asked for; every criterion is optional and the first one met stops the scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TerminationCriteria {
    /// Stop after this many high-quality signals.
    pub max_signals: Option<usize>,
    /// The rating a buy signal needs to count towards `max_signals` (default: the high-quality 70).
    pub min_signal_rating: Option<f64>,
    /// Stop once this percentage of the symbols has been scanned.
    pub max_percent_scanned: Option<f64>,
    /// Stop after this many seconds.
    pub timeout_seconds: Option<f64>,
}

/// Why a scan stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    MaxSignals(usize),
    MaxPercentScanned(f64),
    Timeout(f64),
    /// A person or a client asked (Ctrl-C, `POST /scan/stop`); the text says who.
    Manual(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::MaxSignals(n) => write!(f, "max_signals reached: {n} high-quality signals"),
            StopReason::MaxPercentScanned(p) => {
                write!(f, "max_percent_scanned reached: {p}% of symbols scanned")
            }
            StopReason::Timeout(s) => write!(f, "timeout_seconds reached: {s} s"),
            StopReason::Manual(who) => write!(f, "stopped by {who}"),
        }
    }
}

impl TerminationCriteria {
    /// Checked after each finished symbol: `scanned` of `total` done, `signals` counted so far,
    /// `elapsed` seconds since the start.
    pub fn check(
        &self,
        scanned: usize,
        total: usize,
        signals: usize,
        elapsed: f64,
    ) -> Option<StopReason> {
        if let Some(max) = self.max_signals
            && signals >= max
        {
            return Some(StopReason::MaxSignals(max));
        }
        if let Some(max) = self.max_percent_scanned
            && total > 0
            && scanned as f64 * 100.0 >= max * total as f64
        {
            return Some(StopReason::MaxPercentScanned(max));
        }
        self.check_time(elapsed)
    }

    /// The timeout alone: also checked before a symbol starts, so a slow source cannot overrun it.
    pub fn check_time(&self, elapsed: f64) -> Option<StopReason> {
        self.timeout_seconds
            .filter(|&t| elapsed >= t)
            .map(StopReason::Timeout)
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_criterion_met_is_the_reason() {
        let c = TerminationCriteria {
            max_signals: Some(3),
            max_percent_scanned: Some(50.0),
            timeout_seconds: Some(2.0),
            ..Default::default()
        };
        assert_eq!(c.check(10, 100, 2, 0.5), None);
        assert_eq!(c.check(10, 100, 3, 0.5), Some(StopReason::MaxSignals(3)));
        assert_eq!(
            c.check(50, 100, 0, 0.5),
            Some(StopReason::MaxPercentScanned(50.0))
        );
        assert_eq!(c.check(1, 100, 0, 2.0), Some(StopReason::Timeout(2.0)));
        assert!(
            TerminationCriteria::default()
                .check(100, 100, 100, 1e9)
                .is_none()
        );
        assert!(
            StopReason::Manual("Ctrl-C".into())
                .to_string()
                .contains("Ctrl-C")
        );
    }
}
