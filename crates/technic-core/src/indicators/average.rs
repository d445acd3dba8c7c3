//! Moving averages of the close: SMA, EMA (TA-Lib seeds it with the SMA of the first `period` bars),
//! WMA and Kaufman's adaptive KAMA.

use super::IndicatorError;
use super::kernel::{TA, aligned, period};

pub fn sma(close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "sma",
        close.len(),
        TA.sma_lookback(period(n)),
        |end, [o]| TA.sma(0, end, close, period(n), o),
    )?;
    Ok(out)
}

pub fn ema(close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "ema",
        close.len(),
        TA.ema_lookback(period(n)),
        |end, [o]| TA.ema(0, end, close, period(n), o),
    )?;
    Ok(out)
}

pub fn wma(close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "wma",
        close.len(),
        TA.wma_lookback(period(n)),
        |end, [o]| TA.wma(0, end, close, period(n), o),
    )?;
    Ok(out)
}

pub fn kama(close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "kama",
        close.len(),
        TA.kama_lookback(period(n)),
        |end, [o]| TA.kama(0, end, close, period(n), o),
    )?;
    Ok(out)
}
