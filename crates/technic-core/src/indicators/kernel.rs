//! The one place that talks to the `ta-lib` crate's calling convention.
//!
//! TA-Lib writes `count` values starting at output index 0 for input index `beg_idx` (its lookback).
//! Users, the CSV output and the golden files want one value per bar with the warm-up left undefined,
//! so every wrapper writes straight into `out[lookback..]` of a NaN-filled, input-length vector: no copy.

use std::sync::LazyLock;

use ta_lib::{Core, OutRange, RetCode};

use super::IndicatorError;

/// A `Core` only holds immutable settings (unstable periods at TA-Lib's defaults, which is what the
/// reference values use), so one shared instance serves every thread.
pub(crate) static TA: LazyLock<Core> = LazyLock::new(Core::new);

/// Runs a TA-Lib batch function whose `K` outputs are aligned to an input of `len` bars.
pub(crate) fn aligned<const K: usize>(
    name: &str,
    len: usize,
    lookback: Result<usize, RetCode>,
    call: impl FnOnce(usize, &mut [&mut [f64]; K]) -> Result<OutRange, RetCode>,
) -> Result<[Vec<f64>; K], IndicatorError> {
    let lookback = lookback.map_err(|code| IndicatorError::rejected(name, code))?;
    let mut outputs: [Vec<f64>; K] = std::array::from_fn(|_| vec![f64::NAN; len]);
    if len == 0 || lookback >= len {
        return Ok(outputs);
    }
    let mut tails = outputs.each_mut().map(|series| &mut series[lookback..]);
    let range = call(len - 1, &mut tails).map_err(|code| IndicatorError::rejected(name, code))?;
    // The alignment above is only right if TA-Lib starts where its own lookback says it does.
    if range.count > 0 && (range.beg_idx != lookback || range.count != len - lookback) {
        return Err(IndicatorError::Misaligned {
            indicator: name.to_owned(),
            lookback,
            beg_idx: range.beg_idx,
            count: range.count,
        });
    }
    Ok(outputs)
}

/// TA-Lib takes periods as `i32` and reserves `i32::MIN` for "use the default"; our specs are parsed
/// as `u32` and capped at TA-Lib's own maximum, so this cannot overflow.
pub(crate) fn period(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
