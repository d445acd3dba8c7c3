//! Volume-based indicators: on-balance volume.

use super::IndicatorError;
use super::kernel::{TA, aligned};

pub fn obv(close: &[f64], volume: &[f64]) -> Result<Vec<f64>, IndicatorError> {
    let [out] = aligned("obv", close.len(), TA.obv_lookback(), |end, [o]| {
        TA.obv(0, end, close, volume, o)
    })?;
    Ok(out)
}
