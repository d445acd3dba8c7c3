//! The classic rating: sixteen indicator readings mapped onto 0–100 with clamped linear scales and
//! averaged into four sub-scores and a weighted total. It was technic's rating until the backtest
//! showed it ranks the market backwards (docs/rating.md); it stays as `--rating classic` so users
//! can compare.

use super::{Rating, TrendDirection, average_volume, scale, signal};
use crate::bars::Bars;
use crate::indicators::IndicatorFrame;

/// Sub-score weights; they sum to 1.
pub const WEIGHT_TREND: f64 = 0.35;
pub const WEIGHT_MOMENTUM: f64 = 0.30;
pub const WEIGHT_VOLUME: f64 = 0.15;
pub const WEIGHT_VOLATILITY: f64 = 0.20;

/// Bars over which volume and OBV are compared with their own recent past.
const VOLUME_WINDOW: usize = 20;

/// Every indicator column the classic rating reads. Reading any other is a bug that a debug build
/// catches at once, and a test checks that each of these is in the scan's default set: a column
/// renamed there would otherwise turn its component into a silent neutral 50.
pub const COLUMNS_READ: [&str; 17] = [
    "sma_20",
    "sma_50",
    "sma_200",
    "macd_hist",
    "plus_di_14",
    "minus_di_14",
    "adx_14",
    "rsi_14",
    "stoch_k",
    "willr_14",
    "cci_20",
    "roc_10",
    "obv",
    "mfi_14",
    "bb_upper",
    "bb_lower",
    "natr_14",
];

/// Mean of the components that are defined; `None` when none is.
fn mean_defined(components: &[Option<f64>]) -> Option<f64> {
    let defined: Vec<f64> = components
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64)
}

/// Reads the frame's columns at the newest bar (or `back` bars earlier).
struct Reader<'a> {
    frame: &'a IndicatorFrame,
    len: usize,
}

impl Reader<'_> {
    fn at(&self, column: &str, back: usize) -> Option<f64> {
        debug_assert!(
            COLUMNS_READ.contains(&column),
            "the classic rating reads '{column}', which COLUMNS_READ does not list"
        );
        let series = self.frame.column(column)?;
        let index = self.len.checked_sub(1 + back)?;
        series.get(index).copied().filter(|v| v.is_finite())
    }
    fn now(&self, column: &str) -> Option<f64> {
        self.at(column, 0)
    }
}

/// Rates the newest bar by the classic model. `frame` must hold the default indicator set computed over `bars`;
/// returns `None` for empty bars.
// Long on purpose: the classic model's formula (docs/rating.md), term after term, reads as one piece.
pub fn rate(bars: &Bars, frame: &IndicatorFrame) -> Option<Rating> {
    let n = bars.len();
    let close = *bars.close.last()?;
    let r = Reader { frame, len: n };
    let above =
        |column: &str, band: f64| r.now(column).map(|ma| scale(close / ma - 1.0, -band, band));

    let (plus_di, minus_di, adx) = (r.now("plus_di_14"), r.now("minus_di_14"), r.now("adx_14"));
    let directional = match (plus_di, minus_di, adx) {
        (Some(p), Some(m), Some(a)) if p + m > 0.0 => {
            Some(50.0 + 50.0 * (p - m) / (p + m) * (a / 25.0).min(1.0))
        }
        _ => None,
    };
    let cross = match (r.now("sma_50"), r.now("sma_200")) {
        (Some(fast), Some(slow)) => Some(if fast > slow { 100.0 } else { 0.0 }),
        _ => None,
    };
    let macd = r.now("macd_hist").map(|h| scale(h / close, -0.005, 0.005));
    let trend = mean_defined(&[
        above("sma_20", 0.05),
        above("sma_50", 0.10),
        above("sma_200", 0.20),
        cross,
        directional,
        macd,
    ]);

    let momentum = mean_defined(&[
        r.now("rsi_14"),
        r.now("stoch_k"),
        r.now("willr_14").map(|w| w + 100.0),
        r.now("cci_20").map(|c| scale(c, -200.0, 200.0)),
        r.now("roc_10").map(|p| scale(p, -10.0, 10.0)),
    ]);

    let avg_volume = average_volume(bars, VOLUME_WINDOW);
    let obv_trend = match (r.now("obv"), r.at("obv", VOLUME_WINDOW), avg_volume) {
        (Some(now), Some(then), Some(avg)) if avg > 0.0 => Some(scale(
            (now - then) / (VOLUME_WINDOW as f64 * avg),
            -0.5,
            0.5,
        )),
        _ => None,
    };
    let pressure = match (
        n.checked_sub(2).map(|i| bars.close[i]),
        bars.volume.last(),
        avg_volume,
    ) {
        (Some(previous), Some(&volume), Some(avg)) if avg > 0.0 => {
            let surge = (volume / avg - 1.0).clamp(0.0, 1.0);
            let direction = (close - previous).signum();
            Some(50.0 + 50.0 * direction * surge)
        }
        _ => None,
    };
    let volume = mean_defined(&[obv_trend, r.now("mfi_14"), pressure]);

    let percent_b = match (r.now("bb_upper"), r.now("bb_lower")) {
        (Some(upper), Some(lower)) if upper > lower => {
            Some(scale((close - lower) / (upper - lower), 0.0, 1.0))
        }
        _ => None,
    };
    let calm = r.now("natr_14").map(|natr| scale(-natr, -6.0, -1.0));
    let volatility = mean_defined(&[percent_b, calm]);

    // An undefined sub-score (too little history for any of its parts) is neutral rather than
    // dragging the rating towards 0 or 100.
    let (trend, momentum, volume, volatility) = (
        trend.unwrap_or(50.0),
        momentum.unwrap_or(50.0),
        volume.unwrap_or(50.0),
        volatility.unwrap_or(50.0),
    );
    let tech_rating = WEIGHT_TREND * trend
        + WEIGHT_MOMENTUM * momentum
        + WEIGHT_VOLUME * volume
        + WEIGHT_VOLATILITY * volatility;

    let trend_direction = match (r.now("sma_50"), plus_di, minus_di) {
        (Some(ma), Some(p), Some(m)) if close > ma && p > m => TrendDirection::Up,
        (Some(ma), Some(p), Some(m)) if close < ma && p < m => TrendDirection::Down,
        _ => TrendDirection::Flat,
    };
    Some(Rating {
        tech_rating,
        trend_score: trend,
        momentum_score: momentum,
        volume_score: volume,
        volatility_score: volatility,
        trend_direction,
        signal: signal(tech_rating, trend_direction),
        composite: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::indicators::IndicatorSet;

    #[test]
    fn every_column_the_classic_rating_reads_is_in_the_default_set() {
        let columns = IndicatorSet::default().columns();
        for column in COLUMNS_READ {
            assert!(
                columns.iter().any(|c| c == column),
                "{column} is not in the default set"
            );
        }
    }
}
