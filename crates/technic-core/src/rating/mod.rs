//! `tech_rating` (0–100), its four sub-scores and the signal. `docs/rating.md` is the specification;
//! change both together.
//!
//! Two models: [`standard`], the default, fitted on 2001–2010 and judged on 2011–2021, whose rating
//! is a percentile in the scanned cross-section; and [`classic`], the rating technic shipped before,
//! kept so users can compare the two (`--rating classic`). Both are deterministic: the same bars
//! (and, for the standard model, the same cross-section) give the same rating.

use serde::{Deserialize, Serialize};

use crate::bars::Bars;

pub mod classic;
pub mod components;
pub mod standard;

pub use classic::rate;

/// Which rating a scan or backtest gives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RatingModel {
    /// The composite's percentile in the cross-section, bands by percentile (docs/rating.md).
    #[default]
    Standard,
    /// The earlier blend of 16 indicator readings on fixed scales; kept for comparison.
    Classic,
}

impl RatingModel {
    pub fn as_str(self) -> &'static str {
        match self {
            RatingModel::Standard => "standard",
            RatingModel::Classic => "classic",
        }
    }

    /// Parses a user's spelling (`standard`, `classic`, any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "standard" => Some(RatingModel::Standard),
            "classic" => Some(RatingModel::Classic),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Signal {
    StrongSell,
    Sell,
    Hold,
    Buy,
    StrongBuy,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::StrongSell => "STRONG_SELL",
            Signal::Sell => "SELL",
            Signal::Hold => "HOLD",
            Signal::Buy => "BUY",
            Signal::StrongBuy => "STRONG_BUY",
        }
    }

    pub fn is_buy(self) -> bool {
        matches!(self, Signal::Buy | Signal::StrongBuy)
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TrendDirection {
    Up,
    Flat,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rating {
    pub tech_rating: f64,
    pub trend_score: f64,
    pub momentum_score: f64,
    pub volume_score: f64,
    pub volatility_score: f64,
    pub trend_direction: TrendDirection,
    pub signal: Signal,
    /// The standard model's composite, which `tech_rating` is the cross-sectional percentile of;
    /// `None` for the classic model, and for a symbol with none of the composite's readings.
    pub composite: Option<f64>,
}

impl Rating {
    /// The rating placed at `percentile` (0–100) of a cross-section: `tech_rating` and the signal
    /// follow it. Only the standard model is placed; a classic rating is returned unchanged.
    pub fn placed(mut self, percentile: f64) -> Self {
        if self.composite.is_some() {
            self.tech_rating = percentile.clamp(0.0, 100.0);
            self.signal = standard::signal(self.tech_rating);
        }
        self
    }
}

/// What counts as a high-quality signal (DESIGN.md): a buy signal with at least `min_rating`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalQuality {
    pub min_rating: f64,
    /// `false` accepts only `STRONG_BUY`.
    pub accept_buy: bool,
}

impl Default for SignalQuality {
    fn default() -> Self {
        Self {
            min_rating: 70.0,
            accept_buy: true,
        }
    }
}

impl SignalQuality {
    pub fn is_high_quality(&self, signal: Signal, tech_rating: f64) -> bool {
        let kind_ok = signal == Signal::StrongBuy || (self.accept_buy && signal == Signal::Buy);
        kind_ok && tech_rating >= self.min_rating
    }
}

/// Maps `x` linearly from `[lo, hi]` onto `[0, 100]`, clamped.
pub fn scale(x: f64, lo: f64, hi: f64) -> f64 {
    ((x - lo) / (hi - lo) * 100.0).clamp(0.0, 100.0)
}

/// The classic model's signal thresholds (`docs/rating.md`).
pub fn signal(tech_rating: f64, trend: TrendDirection) -> Signal {
    use TrendDirection::{Down, Up};
    match tech_rating {
        r if r >= 75.0 && trend == Up => Signal::StrongBuy,
        r if r >= 60.0 && trend != Down => Signal::Buy,
        r if r <= 25.0 && trend == Down => Signal::StrongSell,
        r if r <= 40.0 && trend != Up => Signal::Sell,
        _ => Signal::Hold,
    }
}

/// Mean volume of the newest `window` bars (fewer if there are fewer).
pub fn average_volume(bars: &Bars, window: usize) -> Option<f64> {
    mean_of_newest(&bars.volume, window)
}

/// Mean of the newest `window` values (of all, if there are fewer); `None` for none. The one
/// summation of an average volume: the scan's `avg_volume_20` and the screen language's
/// `avg_volume_N` are this, so a filter on one equals a filter on the other to the bit.
pub fn mean_of_newest(values: &[f64], window: usize) -> Option<f64> {
    let tail = &values[values.len().saturating_sub(window)..];
    (!tail.is_empty()).then(|| tail.iter().sum::<f64>() / tail.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_thresholds_follow_the_documented_table() {
        use TrendDirection::*;
        assert_eq!(signal(80.0, Up), Signal::StrongBuy);
        assert_eq!(signal(80.0, Flat), Signal::Buy);
        assert_eq!(signal(80.0, Down), Signal::Hold);
        assert_eq!(signal(60.0, Flat), Signal::Buy);
        assert_eq!(signal(59.9, Up), Signal::Hold);
        assert_eq!(signal(40.0, Flat), Signal::Sell);
        assert_eq!(signal(40.0, Up), Signal::Hold);
        assert_eq!(signal(20.0, Down), Signal::StrongSell);
        assert_eq!(signal(20.0, Flat), Signal::Sell);
    }

    #[test]
    fn high_quality_needs_a_buy_and_the_rating() {
        let quality = SignalQuality::default();
        assert!(quality.is_high_quality(Signal::Buy, 70.0));
        assert!(!quality.is_high_quality(Signal::Buy, 69.9));
        assert!(!quality.is_high_quality(Signal::Hold, 90.0));
        let strict = SignalQuality {
            min_rating: 80.0,
            accept_buy: false,
        };
        assert!(!strict.is_high_quality(Signal::Buy, 90.0));
        assert!(strict.is_high_quality(Signal::StrongBuy, 80.0));
    }

    #[test]
    fn scale_clamps() {
        assert_eq!(scale(0.0, -1.0, 1.0), 50.0);
        assert_eq!(scale(5.0, -1.0, 1.0), 100.0);
        assert_eq!(scale(-5.0, -1.0, 1.0), 0.0);
    }
}
