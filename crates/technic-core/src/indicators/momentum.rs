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
