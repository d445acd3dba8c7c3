//! Early termination: when a scan has found enough, or has run long enough, it stops.
//!
//! [`TerminationCriteria`] is both the request's `termination_criteria` (its JSON shape, its
//! validation) and what the engine checks. A new criterion is a field, its range in `validate`,
//! its test in `check` (or `check_time` for one that depends on time alone) and its
//! [`StopReason`], all in this file. The engine checks the criteria under the lock that emits
//! results, so `max_signals` is exact.

/// The longest `timeout_seconds` accepted: a year, like the server's `*_SECONDS` variables. A
/// deadline is `now + timeout`, which overflows (and panics) for about 1e11 seconds and more; no
/// scan needs more than a year.
pub const MAX_TIMEOUT_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// `termination_criteria` of a request; the first criterion met stops the scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = TerminationRequest)
)]
pub struct TerminationCriteria {
    /// Stop after this many high-quality signals.
    pub max_signals: Option<usize>,
    /// The rating a buy signal needs to count towards `max_signals` (default 70).
    pub min_signal_rating: Option<f64>,
    /// Stop once this percentage (0–100] of the symbols has been scanned.
    pub max_percent_scanned: Option<f64>,
    /// Stop after this many seconds.
    pub timeout_seconds: Option<f64>,
}

/// A criterion out of its range, named as a request names it (`termination_criteria.FIELD`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CriterionError {
    pub field: &'static str,
    pub message: String,
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
    /// Checks every criterion's range; returns the criteria.
    pub fn validate(&self) -> Result<Self, CriterionError> {
        let error = |field: &'static str, message: String| Err(CriterionError { field, message });
        if self.max_signals == Some(0) {
            return error(
                "termination_criteria.max_signals",
                "must be at least 1".into(),
            );
        }
        if let Some(r) = self.min_signal_rating
            && !(0.0..=100.0).contains(&r)
        {
            return error(
                "termination_criteria.min_signal_rating",
                format!("must be between 0 and 100, got {r}"),
            );
        }
        if let Some(p) = self.max_percent_scanned
            && !(p > 0.0 && p <= 100.0)
        {
            return error(
                "termination_criteria.max_percent_scanned",
                format!("must be a percentage above 0 and at most 100, got {p}"),
            );
        }
        if let Some(t) = self.timeout_seconds
            && !(t > 0.0 && t <= MAX_TIMEOUT_SECONDS)
        {
            return error(
                "termination_criteria.timeout_seconds",
                format!(
                    "must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS} (a year), got {t}"
                ),
            );
        }
        Ok(*self)
    }

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
