//! Directional movement (ADX, +DI, -DI, all Wilder-smoothed) and the parabolic SAR.

use super::IndicatorError;
use super::kernel::{TA, aligned, period};

pub fn adx(high: &[f64], low: &[f64], close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "adx",
        close.len(),
        TA.adx_lookback(period(n)),
        |end, [o]| TA.adx(0, end, high, low, close, period(n), o),
    )?;
    Ok(out)
}

pub fn plus_di(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    n: u32,
) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "plus_di",
        close.len(),
        TA.plus_di_lookback(period(n)),
        |end, [o]| TA.plus_di(0, end, high, low, close, period(n), o),
    )?;
    Ok(out)
}

pub fn minus_di(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    n: u32,
) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "minus_di",
        close.len(),
        TA.minus_di_lookback(period(n)),
        |end, [o]| TA.minus_di(0, end, high, low, close, period(n), o),
    )?;
    Ok(out)
}

pub fn sar(
    high: &[f64],
    low: &[f64],
    acceleration: f64,
    maximum: f64,
) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "sar",
        high.len(),
        TA.sar_lookback(acceleration, maximum),
        |end, [o]| TA.sar(0, end, high, low, acceleration, maximum, o),
    )?;
    Ok(out)
}

/// ADX, +DI and -DI of one period, in one pass.
///
/// The three TA-Lib functions each smooth the same directional movement and true range from the
/// first bar, with the same arithmetic in the same order; computing them separately does that work
/// three times, and the scan's default set and every backtest panel ask for all three. This walks
/// the bars once and writes each output exactly as its TA-Lib function would: the test
/// `directional_equals_the_three_talib_functions` holds it to the same f64 on every symbol of the
/// real data and on random bars. Where TA-Lib's lookback is not the plain Wilder one (an unstable
/// period set on the shared `Core`), it falls back to the three calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Directional {
    pub adx: Vec<f64>,
    pub plus_di: Vec<f64>,
    pub minus_di: Vec<f64>,
}

// Long on purpose: the single pass keeps TA-Lib's arithmetic in its order for all three outputs
// at once (see above); split into steps, the shared running sums would have to travel between them.
pub fn directional(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    n: u32,
) -> Result<Directional, IndicatorError> {
    let plain = n >= 2
        && TA.adx_lookback(period(n)) == Ok(2 * n as usize - 1)
        && TA.plus_di_lookback(period(n)) == Ok(n as usize)
        && TA.minus_di_lookback(period(n)) == Ok(n as usize)
        && high.len() == close.len()
        && low.len() == close.len();
    if !plain {
        return Ok(Directional {
            adx: adx(high, low, close, n)?,
            plus_di: plus_di(high, low, close, n)?,
            minus_di: minus_di(high, low, close, n)?,
        });
    }
    let len = close.len();
    let period = n as usize;
    let mut out = Directional {
        adx: vec![f64::NAN; len],
        plus_di: vec![f64::NAN; len],
        minus_di: vec![f64::NAN; len],
    };
    if len <= period {
        return Ok(out);
    }
    let inv_period = 1.0 / f64::from(n);
    let (mut prev_high, mut prev_low, mut prev_close) = (high[0], low[0], close[0]);
    let (mut plus_dm, mut minus_dm, mut tr) = (0.0_f64, 0.0_f64, 0.0_f64);
    let (mut sum_dx, mut adx_value) = (0.0_f64, 0.0_f64);
    for today in 1..len {
        let diff_p = high[today] - prev_high;
        let diff_m = prev_low - low[today];
        prev_high = high[today];
        prev_low = low[today];
        let plus_dm1 = if diff_p > 0.0 && diff_p - diff_m > 0.0 {
            diff_p
        } else {
            0.0
        };
        let minus_dm1 = if diff_m > 0.0 && diff_m - diff_p > 0.0 {
            diff_m
        } else {
            0.0
        };
        let mut range = prev_high - prev_low;
        let from_close = (prev_high - prev_close).abs();
        if from_close > range {
            range = from_close;
        }
        let from_close = (prev_low - prev_close).abs();
        if from_close > range {
            range = from_close;
        }
        prev_close = close[today];
        if today < period {
            // The first `period - 1` moves are summed, not smoothed.
            plus_dm += plus_dm1;
            minus_dm += minus_dm1;
            tr += range;
            continue;
        }
        plus_dm = plus_dm - plus_dm * inv_period + plus_dm1;
        minus_dm = minus_dm - minus_dm * inv_period + minus_dm1;
        tr = tr - tr * inv_period + range;
        let (plus, minus) = if tr > 0.0 {
            (100.0 * (plus_dm / tr), 100.0 * (minus_dm / tr))
        } else {
            (0.0, 0.0)
        };
        out.plus_di[today] = plus;
        out.minus_di[today] = minus;
        // DX is only defined, and ADX only moves, where the range and the two DIs are not zero.
        // TA-Lib's test, NaN included: a NaN sum is not "near zero", so its DX is NaN.
        let near_zero = (minus + plus).abs() < 1e-14;
        let dx = (tr > 0.0 && !near_zero).then(|| 100.0 * ((minus - plus).abs() / (minus + plus)));
        if today < 2 * period - 1 {
            sum_dx += dx.unwrap_or(0.0);
        } else if today == 2 * period - 1 {
            sum_dx += dx.unwrap_or(0.0);
            adx_value = sum_dx / f64::from(n);
            out.adx[today] = adx_value;
        } else {
            if let Some(dx) = dx {
                adx_value = adx_value - (adx_value - dx) * inv_period;
            }
            out.adx[today] = adx_value;
        }
    }
    Ok(out)
}
