//! Oscillators and rate-of-change: RSI (Wilder), MACD, STOCH (slow, SMA-smoothed), CCI, MFI, ROC,
//! Williams %R and AROON.

use ta_lib::MAType;

use super::IndicatorError;
use super::kernel::{TA, aligned, period};

pub fn rsi(close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "rsi",
        close.len(),
        TA.rsi_lookback(period(n)),
        |end, [o]| TA.rsi(0, end, close, period(n), o),
    )?;
    Ok(out)
}

/// The newest value of [`rsi`], without the series: `None` where the series' last value is
/// undefined (NaN).
///
/// A reading that needs only today's RSI (the standard rating's pullback) would otherwise build and
/// throw away a whole series per symbol, and a daily backtest asks for 2.4 million of them. The
/// smoothing is TA-Lib's, step for step, so the value is the series' last to the bit (the test
/// `rsi_last_is_the_series_last` holds it there); where TA-Lib's lookback is not the plain one (an
/// unstable period set on the shared `Core`) it takes the series' last value.
pub fn rsi_last(close: &[f64], n: u32) -> Result<Option<f64>, IndicatorError> {
    let Some(wilder) = RsiSmoothing::plain(n)? else {
        return Ok(rsi(close, n)?.last().copied().filter(|v| !v.is_nan()));
    };
    let Some(mut state) = wilder.seed(close) else {
        return Ok(None);
    };
    for pair in close[wilder.period..].windows(2) {
        state = wilder.step(state, pair[1] - pair[0]);
    }
    Ok(wilder.value(state))
}

/// TA-Lib's RSI smoothing, one step at a time: average gain and average loss.
#[derive(Debug, Clone, Copy)]
struct RsiSmoothing {
    period: usize,
    inv_period: f64,
    carried: f64,
}

/// Average gain and average loss after a bar.
type RsiState = (f64, f64);

impl RsiSmoothing {
    /// `None` where TA-Lib's lookback for `n` is not `n` (an unstable period is set).
    fn plain(n: u32) -> Result<Option<Self>, IndicatorError> {
        let lookback = TA
            .rsi_lookback(period(n))
            .map_err(|code| IndicatorError::rejected("rsi", code))?;
        Ok((lookback == n as usize).then(|| Self {
            period: lookback,
            inv_period: 1.0 / f64::from(n),
            carried: f64::from(n - 1),
        }))
    }

    /// The state after bar `period`: the first `period` changes averaged.
    fn seed(&self, close: &[f64]) -> Option<RsiState> {
        if close.len() <= self.period {
            return None;
        }
        let (mut gain, mut loss) = (0.0_f64, 0.0_f64);
        for pair in close[..=self.period].windows(2) {
            let change = pair[1] - pair[0];
            let up = if change > 0.0 { change } else { 0.0 };
            gain += up;
            loss += up - change;
        }
        Some((gain * self.inv_period, loss * self.inv_period))
    }

    fn step(&self, (mut gain, mut loss): RsiState, change: f64) -> RsiState {
        let up = if change > 0.0 { change } else { 0.0 };
        loss *= self.carried;
        gain *= self.carried;
        gain += up;
        loss += up - change;
        loss *= self.inv_period;
        gain *= self.inv_period;
        (gain, loss)
    }

    fn value(&self, (gain, loss): RsiState) -> Option<f64> {
        let total = gain + loss;
        let value = if total > 0.0 {
            100.0 * (gain / total)
        } else {
            50.0
        };
        Some(value).filter(|v| !v.is_nan())
    }
}

/// [`rsi_last`] of many windows of one history, each equal to it to the bit, most for a fraction
/// of its cost.
///
/// Wilder's smoothing remembers where it started, so each window's RSI must be smoothed from the
/// window's own first bar. But two smoothings of the same closes that reach the same state (both
/// averages, to the bit) at some bar agree at every bar after it, and with a short period they
/// reach it fast: the difference between them shrinks by `(n-1)/n` a bar (by half for RSI(2)),
/// until rounding makes it exactly zero, typically some 60 bars in for RSI(2). So this smooths the
/// whole history once, and a window runs its own smoothing only until it meets that one, checked
/// bit for bit at every bar, then reads the history's state at its end. A window that never meets
/// it is smoothed to its end, as [`rsi_last`] would. The backtest asks for the pullback reading's
/// RSI(2) at every date of every symbol; this is what makes that affordable.
#[derive(Debug, Clone)]
pub struct RsiTrack {
    wilder: Option<RsiSmoothing>,
    n: u32,
    /// The history's state after each bar (unset before bar `period`).
    states: Vec<RsiState>,
}

impl RsiTrack {
    pub fn new(close: &[f64], n: u32) -> Result<Self, IndicatorError> {
        let wilder = RsiSmoothing::plain(n)?;
        let mut states = Vec::new();
        if let Some(wilder) = wilder
            && let Some(mut state) = wilder.seed(close)
        {
            states = vec![(f64::NAN, f64::NAN); close.len()];
            states[wilder.period] = state;
            for (i, pair) in close.windows(2).enumerate().skip(wilder.period) {
                state = wilder.step(state, pair[1] - pair[0]);
                states[i + 1] = state;
            }
        }
        Ok(Self { wilder, n, states })
    }

    /// `rsi_last(&close[start..end], n)`, where `close` is the history the track was made from.
    pub fn last_of(
        &self,
        close: &[f64],
        start: usize,
        end: usize,
    ) -> Result<Option<f64>, IndicatorError> {
        let window = &close[start..end];
        let Some(wilder) = self.wilder.filter(|_| self.states.len() == close.len()) else {
            return rsi_last(window, self.n);
        };
        let Some(mut state) = wilder.seed(window) else {
            return Ok(None);
        };
        let same = |a: RsiState, b: RsiState| {
            a.0.to_bits() == b.0.to_bits() && a.1.to_bits() == b.1.to_bits()
        };
        let mut bar = start + wilder.period;
        loop {
            if same(state, self.states[bar]) {
                return Ok(wilder.value(self.states[end - 1]));
            }
            if bar + 1 == end {
                return Ok(wilder.value(state));
            }
            state = wilder.step(state, close[bar + 1] - close[bar]);
            bar += 1;
        }
    }
}

/// Returns `[macd, signal, histogram]`.
pub fn macd(
    close: &[f64],
    fast: u32,
    slow: u32,
    signal: u32,
) -> Result<[Vec<f64>; 3], IndicatorError> {
    let (f, s, g) = (period(fast), period(slow), period(signal));
    aligned(
        "macd",
        close.len(),
        TA.macd_lookback(f, s, g),
        |end, [m, sig, hist]| TA.macd(0, end, close, f, s, g, m, sig, hist),
    )
}

/// Returns `[slow %K, slow %D]`, both smoothed with simple moving averages as in TA-Lib's defaults.
pub fn stoch(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    fast_k: u32,
    slow_k: u32,
    slow_d: u32,
) -> Result<[Vec<f64>; 2], IndicatorError> {
    let (fk, sk, sd) = (period(fast_k), period(slow_k), period(slow_d));
    let lookback = TA.stoch_lookback(fk, sk, MAType::SMA, sd, MAType::SMA);
    aligned("stoch", close.len(), lookback, |end, [k, d]| {
        TA.stoch(
            0,
            end,
            high,
            low,
            close,
            fk,
            sk,
            MAType::SMA,
            sd,
            MAType::SMA,
            k,
            d,
        )
    })
}

pub fn cci(high: &[f64], low: &[f64], close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "cci",
        close.len(),
        TA.cci_lookback(period(n)),
        |end, [o]| TA.cci(0, end, high, low, close, period(n), o),
    )?;
    Ok(out)
}

pub fn mfi(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    volume: &[f64],
    n: u32,
) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "mfi",
        close.len(),
        TA.mfi_lookback(period(n)),
        |end, [o]| TA.mfi(0, end, high, low, close, volume, period(n), o),
    )?;
    Ok(out)
}

pub fn roc(close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "roc",
        close.len(),
        TA.roc_lookback(period(n)),
        |end, [o]| TA.roc(0, end, close, period(n), o),
    )?;
    Ok(out)
}

pub fn willr(high: &[f64], low: &[f64], close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "willr",
        close.len(),
        TA.willr_lookback(period(n)),
        |end, [o]| TA.willr(0, end, high, low, close, period(n), o),
    )?;
    Ok(out)
}

/// Returns `[aroon down, aroon up]`, TA-Lib's output order.
pub fn aroon(high: &[f64], low: &[f64], n: u32) -> Result<[Vec<f64>; 2], IndicatorError> {
    aligned(
        "aroon",
        high.len(),
        TA.aroon_lookback(period(n)),
        |end, [down, up]| TA.aroon(0, end, high, low, period(n), down, up),
    )
}
