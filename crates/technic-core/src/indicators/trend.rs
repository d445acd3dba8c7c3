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
