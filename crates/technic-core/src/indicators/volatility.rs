//! Bollinger Bands (SMA middle band), ATR and NATR (ATR as a percentage of the close).

use ta_lib::MAType;

use super::IndicatorError;
use super::kernel::{TA, aligned, period};

/// Returns `[upper, middle, lower]`.
pub fn bbands(
    close: &[f64],
    n: u32,
    dev_up: f64,
    dev_down: f64,
) -> Result<[Vec<f64>; 3], IndicatorError> {
    let lookback = TA.bbands_lookback(period(n), dev_up, dev_down, MAType::SMA);
    aligned(
        "bbands",
        close.len(),
        lookback,
        |end, [upper, middle, lower]| {
            TA.bbands(
                0,
                end,
                close,
                period(n),
                dev_up,
                dev_down,
                MAType::SMA,
                upper,
                middle,
                lower,
            )
        },
    )
}

pub fn atr(high: &[f64], low: &[f64], close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "atr",
        close.len(),
        TA.atr_lookback(period(n)),
        |end, [o]| TA.atr(0, end, high, low, close, period(n), o),
    )?;
    Ok(out)
}

pub fn natr(high: &[f64], low: &[f64], close: &[f64], n: u32) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned(
        "natr",
        close.len(),
        TA.natr_lookback(period(n)),
        |end, [o]| TA.natr(0, end, high, low, close, period(n), o),
    )?;
    Ok(out)
}
