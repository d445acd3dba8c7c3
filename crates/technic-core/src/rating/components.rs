//! The price-and-volume readings the standard rating is built from, each one a finding of the
//! published literature on what predicts the cross-section of stock returns. They are raw numbers
//! of one symbol's own bars: which of them the rating uses, with what sign and weight, was fitted
//! on 2001-12..2010-09 (docs/rating.md) and is frozen in `standard.rs`.
//!
//! Every reading is a fixed-length look back, so a symbol's value on a date is the same whatever
//! older history precedes the window: the backtest can cut a window anywhere and get the scan's
//! number. (`rsi_2` is Wilder-smoothed and so, strictly, remembers its start; with a period of 2 its
//! memory halves every bar, and the window the scan reads is hundreds of bars long.)

use crate::bars::Bars;
use crate::indicators::momentum;

/// One trading year, month and quarter in bars.
pub const YEAR: usize = 252;
pub const MONTH: usize = 21;
pub const QUARTER: usize = 63;
pub const WEEK: usize = 5;

/// The readings, each `None` where the symbol's history is too short for it (or a price is not
/// positive).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Components {
    /// Return from 12 months to 1 month ago (Jegadeesh & Titman 1993; the skipped month avoids
    /// the short-term reversal).
    pub momentum_12_1: Option<f64>,
    /// Close over the highest close of the past year, minus one: 0 at a 52-week high (George &
    /// Hwang 2004).
    pub high_52w: Option<f64>,
    /// The past week's return (short-term reversal: Lehmann 1990).
    pub return_5: Option<f64>,
    /// The past month's return (short-term reversal: Jegadeesh 1990).
    pub return_21: Option<f64>,
    /// Annualised standard deviation of the past quarter's daily log returns (low volatility:
    /// Ang, Hodrick, Xing & Zhang 2006).
    pub volatility_63: Option<f64>,
    /// Close over its 200-day average, minus one (time-series trend: Moskowitz, Ooi & Pedersen
    /// 2012; the 200-day rule of Brock, Lakonishok & LeBaron 1992).
    pub trend_200: Option<f64>,
    /// How oversold RSI(2) is (100 − RSI(2)) when the close is above its 200-day average, 0 when
    /// not: the pullback-in-an-uptrend rule (Connors & Alvarez 2009).
    pub pullback: Option<f64>,
    /// Log of the past week's mean volume over the past quarter's (the high-volume return premium:
    /// Gervais, Kaniel & Mingelgrin 2001).
    pub abnormal_volume: Option<f64>,
}

/// The readings' names, as the backtest's `--factor` accepts them, in [`Components::as_array`]
/// order.
pub const NAMES: [&str; 8] = [
    "momentum_12_1",
    "high_52w",
    "return_5",
    "return_21",
    "volatility_63",
    "trend_200",
    "pullback",
    "abnormal_volume",
];

/// The past quarter's daily log returns, oldest first: `None` for a history of `QUARTER` bars or
/// fewer. Both the volatility reading and alpha's volatility-adjusted return read them.
pub fn quarter_log_returns(close: &[f64]) -> Option<[f64; QUARTER]> {
    let n = close.len();
    (n > QUARTER).then(|| {
        let window = &close[n - QUARTER - 1..];
        std::array::from_fn(|i| (window[i + 1] / window[i]).ln())
    })
}

impl Components {
    pub fn as_array(&self) -> [Option<f64>; 8] {
        [
            self.momentum_12_1,
            self.high_52w,
            self.return_5,
            self.return_21,
            self.volatility_63,
            self.trend_200,
            self.pullback,
            self.abnormal_volume,
        ]
    }

    /// The reading called `name` (one of [`NAMES`]); `None` for another name.
    pub fn by_name(&self, name: &str) -> Option<Option<f64>> {
        NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| self.as_array()[i])
    }

    pub fn of(bars: &Bars) -> Self {
        let rsi_2 = momentum::rsi_last(&bars.close, 2).ok().flatten();
        Self::from_parts(bars, rsi_2, quarter_log_returns(&bars.close).as_ref())
    }

    /// [`Components::of`], given the newest RSI(2) of the bars and their [`quarter_log_returns`]
    /// (which alpha reads too, and the backtest computes for many windows at once).
    pub fn from_parts(
        bars: &Bars,
        rsi_2: Option<f64>,
        quarter_returns: Option<&[f64; QUARTER]>,
    ) -> Self {
        let close = &bars.close;
        let n = close.len();
        let back = |k: usize| {
            n.checked_sub(1 + k)
                .map(|i| close[i])
                .filter(|c| *c > 0.0 && c.is_finite())
        };
        let ratio = |recent: Option<f64>, old: Option<f64>| match (recent, old) {
            (Some(recent), Some(old)) => Some(recent / old - 1.0),
            _ => None,
        };
        let now = back(0);
        let high_52w = (n >= YEAR).then(|| {
            let highest = close[n - YEAR..].iter().copied().fold(f64::MIN, f64::max);
            now.map(|c| c / highest - 1.0)
        });
        let volatility_63 = quarter_returns
            .filter(|_| n > QUARTER && close[n - QUARTER - 1..].iter().all(|c| *c > 0.0))
            .map(|returns| {
                let mean = returns.iter().sum::<f64>() / returns.len() as f64;
                let variance = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>()
                    / (returns.len() - 1) as f64;
                (variance * YEAR as f64).sqrt()
            });
        let sma_200 = (n >= 200).then(|| close[n - 200..].iter().sum::<f64>() / 200.0);
        let trend_200 = match (now, sma_200) {
            (Some(c), Some(ma)) if ma > 0.0 => Some(c / ma - 1.0),
            _ => None,
        };
        let rsi_2 = rsi_2.filter(|v| v.is_finite());
        let pullback = match (trend_200, rsi_2) {
            (Some(trend), Some(rsi)) => Some(if trend > 0.0 { 100.0 - rsi } else { 0.0 }),
            _ => None,
        };
        let mean_volume =
            |k: usize| (n >= k).then(|| bars.volume[n - k..].iter().sum::<f64>() / k as f64);
        let abnormal_volume = match (mean_volume(WEEK), mean_volume(QUARTER)) {
            (Some(week), Some(quarter)) if week > 0.0 && quarter > 0.0 => {
                Some((week / quarter).ln())
            }
            _ => None,
        };
        Self {
            momentum_12_1: ratio(back(MONTH), back(YEAR)),
            high_52w: high_52w.flatten(),
            return_5: ratio(now, back(WEEK)),
            return_21: ratio(now, back(MONTH)),
            volatility_63,
            trend_200,
            pullback,
            abnormal_volume,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn bars(closes: &[f64]) -> Bars {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let mut bars = Bars::with_capacity(closes.len());
        for (i, &c) in closes.iter().enumerate() {
            bars.dates.push(start + chrono::Days::new(i as u64));
            bars.open.push(c);
            bars.high.push(c);
            bars.low.push(c);
            bars.close.push(c);
            bars.volume
                .push(if i + WEEK >= closes.len() { 2e6 } else { 1e6 });
        }
        bars
    }

    #[test]
    fn readings_follow_their_definitions() {
        // A steady 0.1 % a day rise: every return is known in closed form.
        let closes: Vec<f64> = (0..300).map(|i| 100.0 * 1.001f64.powi(i)).collect();
        let c = Components::of(&bars(&closes));
        let close = |k: usize| closes[299 - k];
        assert_eq!(c.momentum_12_1, Some(close(MONTH) / close(YEAR) - 1.0));
        assert_eq!(
            c.high_52w,
            Some(0.0),
            "a rising close is its own 52-week high"
        );
        assert_eq!(c.return_5, Some(close(0) / close(5) - 1.0));
        assert!(
            c.volatility_63.expect("defined") < 1e-9,
            "constant log returns"
        );
        assert!(c.trend_200.expect("defined") > 0.0);
        // Only up days: RSI(2) is 100, so no pullback.
        assert_eq!(c.pullback, Some(0.0));
        let expected_volume = (2e6_f64 / ((2e6 * 5.0 + 1e6 * 58.0) / 63.0)).ln();
        assert!((c.abnormal_volume.expect("defined") - expected_volume).abs() < 1e-12);
        assert_eq!(c.by_name("return_5"), Some(c.return_5));
        assert_eq!(c.by_name("rsi_14"), None);
    }

    #[test]
    fn short_histories_lack_the_long_readings() {
        let c = Components::of(&bars(&[10.0; 100]));
        assert_eq!(c.momentum_12_1, None);
        assert_eq!(c.high_52w, None);
        assert_eq!(c.trend_200, None);
        assert_eq!(c.pullback, None);
        assert_eq!(c.return_21, Some(0.0));
        assert_eq!(Components::of(&bars(&[])), Components::default());
    }

    #[test]
    fn a_pullback_in_an_uptrend_reads_high_and_in_a_downtrend_zero() {
        let mut up: Vec<f64> = (0..250).map(|i| 50.0 + f64::from(i) * 0.2).collect();
        up.extend([98.0, 96.0]);
        let c = Components::of(&bars(&up));
        assert!(c.trend_200.expect("defined") > 0.0);
        assert!(c.pullback.expect("defined") > 80.0, "{c:?}");
        let down: Vec<f64> = up.iter().rev().copied().collect();
        assert_eq!(Components::of(&bars(&down)).pullback, Some(0.0));
    }
}
