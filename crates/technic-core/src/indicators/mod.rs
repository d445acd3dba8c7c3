//! TA-Lib-exact indicators, grouped by family, and the names users see them by.
//!
//! The kernels are the `ta-lib` crate's (the TA-Lib project's own Rust port); this module only
//! aligns their outputs to the input and names them. A spec such as `rsi_14` or `macd_5_35_5`
//! names an [`Indicator`] with its parameters; the columns it produces are what CSV headers, JSON
//! results and the golden files call them (`rsi_14`, `macd`, `macd_signal`, `bb_upper`, …).
//!
//! A new indicator today: its kernel call in the family's file (through `kernel.rs`), an
//! [`Indicator`] variant and its arms in `parse`, `with_periods_at_least`, `lookback`, `columns`,
//! `compute` and `Display`, an entry in `IndicatorSet::default` if scans should compute it, and a
//! golden test against TA-Lib.

pub mod average;
mod kernel;
pub mod momentum;
pub mod trend;
pub mod volatility;
pub mod volume;

use std::fmt;

use crate::bars::Bars;

/// TA-Lib refuses periods above this; refusing them while parsing names the spec in the error.
const MAX_PERIOD: u32 = 100_000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndicatorError {
    #[error(
        "unknown indicator '{0}'; expected one of sma_N, ema_N, wma_N, kama_N, rsi_N, macd[_FAST_SLOW_SIGNAL], \
         bb[_N_DEV | _N_UP_DOWN], atr_N, natr_N, adx_N, plus_di_N, minus_di_N, stoch[_K_SLOWK_SLOWD], cci_N, \
         mfi_N, obv, roc_N, willr_N, aroon_N, sar[_ACCEL_MAX]"
    )]
    Unknown(String),
    #[error("indicator '{spec}': {message}")]
    BadParameter { spec: String, message: String },
    #[error("TA-Lib rejected the parameters of {indicator}: {code}")]
    Rejected { indicator: String, code: String },
    #[error(
        "TA-Lib's {indicator} started at bar {beg_idx} ({count} values), not at its lookback {lookback}"
    )]
    Misaligned {
        indicator: String,
        lookback: usize,
        beg_idx: usize,
        count: usize,
    },
}

impl IndicatorError {
    fn rejected(indicator: &str, code: ta_lib::RetCode) -> Self {
        Self::Rejected {
            indicator: indicator.to_owned(),
            code: code.to_string(),
        }
    }
}

/// One indicator with its parameters. Periods are bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Indicator {
    Sma(u32),
    Ema(u32),
    Wma(u32),
    Kama(u32),
    Rsi(u32),
    Macd {
        fast: u32,
        slow: u32,
        signal: u32,
    },
    Bbands {
        period: u32,
        dev_up: f64,
        dev_down: f64,
    },
    Atr(u32),
    Natr(u32),
    Adx(u32),
    PlusDi(u32),
    MinusDi(u32),
    Stoch {
        fast_k: u32,
        slow_k: u32,
        slow_d: u32,
    },
    Cci(u32),
    Mfi(u32),
    Obv,
    Roc(u32),
    Willr(u32),
    Aroon(u32),
    Sar {
        acceleration: f64,
        maximum: f64,
    },
}

const MACD_DEFAULT: (u32, u32, u32) = (12, 26, 9);
const BBANDS_DEFAULT: (u32, f64, f64) = (20, 2.0, 2.0);
const STOCH_DEFAULT: (u32, u32, u32) = (14, 3, 3);
const SAR_DEFAULT: (f64, f64) = (0.02, 0.2);

impl Indicator {
    /// Parses a spec such as `sma_20`, `macd`, `macd_5_35_5`, `bb_20_2`, `bb_10_1.5_2.5`, `sar_0.01_0.1`.
    pub fn parse(spec: &str) -> Result<Self, IndicatorError> {
        let spec = spec.trim();
        let lower = spec.to_ascii_lowercase();
        // Longest prefixes first, so `plus_di_14` is not read as something shorter.
        const FAMILIES: [&str; 20] = [
            "minus_di", "plus_di", "stoch", "aroon", "willr", "macd", "kama", "natr", "sma", "ema",
            "wma", "rsi", "atr", "adx", "cci", "mfi", "obv", "roc", "sar", "bb",
        ];
        let Some(family) = FAMILIES.iter().find(|f| {
            lower == **f
                || lower
                    .strip_prefix(**f)
                    .is_some_and(|rest| rest.starts_with('_'))
        }) else {
            return Err(IndicatorError::Unknown(spec.to_owned()));
        };
        let args: Vec<&str> = lower[family.len()..]
            .split('_')
            .filter(|s| !s.is_empty())
            .collect();
        let bad = |message: String| IndicatorError::BadParameter {
            spec: spec.to_owned(),
            message,
        };
        let int = |text: &str| -> Result<u32, IndicatorError> {
            match text.parse::<u32>() {
                Ok(n) if (1..=MAX_PERIOD).contains(&n) => Ok(n),
                _ => Err(bad(format!(
                    "'{text}' is not a period (a whole number from 1 to {MAX_PERIOD})"
                ))),
            }
        };
        let real = |text: &str| -> Result<f64, IndicatorError> {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(bad(format!("'{text}' is not a non-negative number"))),
            }
        };
        let single = |make: fn(u32) -> Indicator| -> Result<Indicator, IndicatorError> {
            match args.as_slice() {
                [n] => Ok(make(int(n)?)),
                _ => Err(bad(format!(
                    "expected {family}_N with one period, e.g. {family}_14"
                ))),
            }
        };
        let indicator = match *family {
            "sma" => single(Indicator::Sma)?,
            "ema" => single(Indicator::Ema)?,
            "wma" => single(Indicator::Wma)?,
            "kama" => single(Indicator::Kama)?,
            "rsi" => single(Indicator::Rsi)?,
            "atr" => single(Indicator::Atr)?,
            "natr" => single(Indicator::Natr)?,
            "adx" => single(Indicator::Adx)?,
            "plus_di" => single(Indicator::PlusDi)?,
            "minus_di" => single(Indicator::MinusDi)?,
            "cci" => single(Indicator::Cci)?,
            "mfi" => single(Indicator::Mfi)?,
            "roc" => single(Indicator::Roc)?,
            "willr" => single(Indicator::Willr)?,
            "aroon" => single(Indicator::Aroon)?,
            "obv" if args.is_empty() => Indicator::Obv,
            "obv" => return Err(bad("obv takes no parameters".into())),
            "macd" => {
                let (fast, slow, signal) = match args.as_slice() {
                    [] => MACD_DEFAULT,
                    [f, s, g] => (int(f)?, int(s)?, int(g)?),
                    _ => {
                        return Err(bad(
                            "expected macd or macd_FAST_SLOW_SIGNAL, e.g. macd_12_26_9".into(),
                        ));
                    }
                };
                Indicator::Macd { fast, slow, signal }
            }
            "bb" => {
                let (period, dev_up, dev_down) = match args.as_slice() {
                    [] => BBANDS_DEFAULT,
                    [n, dev] => (int(n)?, real(dev)?, real(dev)?),
                    [n, up, down] => (int(n)?, real(up)?, real(down)?),
                    _ => {
                        return Err(bad(
                            "expected bb, bb_N_DEV or bb_N_UP_DOWN, e.g. bb_20_2".into()
                        ));
                    }
                };
                Indicator::Bbands {
                    period,
                    dev_up,
                    dev_down,
                }
            }
            "stoch" => {
                let (fast_k, slow_k, slow_d) = match args.as_slice() {
                    [] => STOCH_DEFAULT,
                    [k, sk, sd] => (int(k)?, int(sk)?, int(sd)?),
                    _ => {
                        return Err(bad(
                            "expected stoch or stoch_K_SLOWK_SLOWD, e.g. stoch_14_3_3".into(),
                        ));
                    }
                };
                Indicator::Stoch {
                    fast_k,
                    slow_k,
                    slow_d,
                }
            }
            "sar" => {
                let (acceleration, maximum) = match args.as_slice() {
                    [] => SAR_DEFAULT,
                    [a, m] => (real(a)?, real(m)?),
                    _ => {
                        return Err(bad(
                            "expected sar or sar_ACCEL_MAX, e.g. sar_0.02_0.2".into()
                        ));
                    }
                };
                Indicator::Sar {
                    acceleration,
                    maximum,
                }
            }
            _ => return Err(IndicatorError::Unknown(spec.to_owned())),
        };
        // TA-Lib has further limits (most families need a period of at least 2); asking it for the
        // lookback now reports them against the spec the user typed.
        if indicator.lookback().is_err() {
            let message = match indicator.with_periods_at_least(2) {
                Some(raised) if raised.lookback().is_ok() => {
                    format!("TA-Lib needs every period of {family} to be at least 2")
                }
                _ => format!("TA-Lib rejects these parameters for {family}"),
            };
            return Err(bad(message));
        }
        Ok(indicator)
    }

    /// The same indicator with every period below `min` raised to it; `None` for those without periods.
    fn with_periods_at_least(self, min: u32) -> Option<Self> {
        use Indicator::*;
        let m = |n: u32| n.max(min);
        Some(match self {
            Sma(n) => Sma(m(n)),
            Ema(n) => Ema(m(n)),
            Wma(n) => Wma(m(n)),
            Kama(n) => Kama(m(n)),
            Rsi(n) => Rsi(m(n)),
            Atr(n) => Atr(m(n)),
            Natr(n) => Natr(m(n)),
            Adx(n) => Adx(m(n)),
            PlusDi(n) => PlusDi(m(n)),
            MinusDi(n) => MinusDi(m(n)),
            Cci(n) => Cci(m(n)),
            Mfi(n) => Mfi(m(n)),
            Roc(n) => Roc(m(n)),
            Willr(n) => Willr(m(n)),
            Aroon(n) => Aroon(m(n)),
            Macd { fast, slow, signal } => Macd {
                fast: m(fast),
                slow: m(slow),
                signal: m(signal),
            },
            Bbands {
                period,
                dev_up,
                dev_down,
            } => Bbands {
                period: m(period),
                dev_up,
                dev_down,
            },
            Stoch {
                fast_k,
                slow_k,
                slow_d,
            } => Stoch {
                fast_k: m(fast_k),
                slow_k: m(slow_k),
                slow_d: m(slow_d),
            },
            Obv | Sar { .. } => return None,
        })
    }

    /// Bars consumed before the first value exists (TA-Lib's lookback).
    pub fn lookback(&self) -> Result<usize, IndicatorError> {
        use kernel::{TA, period as p};
        use ta_lib::MAType::SMA;
        let result = match *self {
            Indicator::Sma(n) => TA.sma_lookback(p(n)),
            Indicator::Ema(n) => TA.ema_lookback(p(n)),
            Indicator::Wma(n) => TA.wma_lookback(p(n)),
            Indicator::Kama(n) => TA.kama_lookback(p(n)),
            Indicator::Rsi(n) => TA.rsi_lookback(p(n)),
            Indicator::Macd { fast, slow, signal } => TA.macd_lookback(p(fast), p(slow), p(signal)),
            Indicator::Bbands {
                period,
                dev_up,
                dev_down,
            } => TA.bbands_lookback(p(period), dev_up, dev_down, SMA),
            Indicator::Atr(n) => TA.atr_lookback(p(n)),
            Indicator::Natr(n) => TA.natr_lookback(p(n)),
            Indicator::Adx(n) => TA.adx_lookback(p(n)),
            Indicator::PlusDi(n) => TA.plus_di_lookback(p(n)),
            Indicator::MinusDi(n) => TA.minus_di_lookback(p(n)),
            Indicator::Stoch {
                fast_k,
                slow_k,
                slow_d,
            } => TA.stoch_lookback(p(fast_k), p(slow_k), SMA, p(slow_d), SMA),
            Indicator::Cci(n) => TA.cci_lookback(p(n)),
            Indicator::Mfi(n) => TA.mfi_lookback(p(n)),
            Indicator::Obv => TA.obv_lookback(),
            Indicator::Roc(n) => TA.roc_lookback(p(n)),
            Indicator::Willr(n) => TA.willr_lookback(p(n)),
            Indicator::Aroon(n) => TA.aroon_lookback(p(n)),
            Indicator::Sar {
                acceleration,
                maximum,
            } => TA.sar_lookback(acceleration, maximum),
        };
        result.map_err(|code| IndicatorError::rejected(&self.to_string(), code))
    }

    /// The output column names, in TA-Lib's output order.
    pub fn columns(&self) -> Vec<String> {
        let multi = |stems: &[&str], suffix: Option<String>| -> Vec<String> {
            stems
                .iter()
                .map(|stem| match &suffix {
                    Some(s) => format!("{stem}_{s}"),
                    None => (*stem).to_owned(),
                })
                .collect()
        };
        match *self {
            Indicator::Macd { fast, slow, signal } => {
                let suffix = ((fast, slow, signal) != MACD_DEFAULT)
                    .then(|| format!("{fast}_{slow}_{signal}"));
                multi(&["macd", "macd_signal", "macd_hist"], suffix)
            }
            Indicator::Bbands {
                period,
                dev_up,
                dev_down,
            } => {
                let suffix = ((period, dev_up, dev_down) != BBANDS_DEFAULT)
                    .then(|| bb_suffix(period, dev_up, dev_down));
                multi(&["bb_upper", "bb_middle", "bb_lower"], suffix)
            }
            Indicator::Stoch {
                fast_k,
                slow_k,
                slow_d,
            } => {
                let suffix = ((fast_k, slow_k, slow_d) != STOCH_DEFAULT)
                    .then(|| format!("{fast_k}_{slow_k}_{slow_d}"));
                multi(&["stoch_k", "stoch_d"], suffix)
            }
            Indicator::Aroon(n) => multi(&["aroon_down", "aroon_up"], Some(n.to_string())),
            Indicator::Sar {
                acceleration,
                maximum,
            } if (acceleration, maximum) == SAR_DEFAULT => vec!["sar".into()],
            _ => vec![self.to_string()],
        }
    }

    /// Computes every output column over `bars`, each as long as `bars` with NaN in the warm-up.
    pub fn compute(&self, bars: &Bars) -> Result<Vec<Vec<f64>>, IndicatorError> {
        let (h, l, c, v) = (
            &bars.high[..],
            &bars.low[..],
            &bars.close[..],
            &bars.volume[..],
        );
        Ok(match *self {
            Indicator::Sma(n) => vec![average::sma(c, n)?],
            Indicator::Ema(n) => vec![average::ema(c, n)?],
            Indicator::Wma(n) => vec![average::wma(c, n)?],
            Indicator::Kama(n) => vec![average::kama(c, n)?],
            Indicator::Rsi(n) => vec![momentum::rsi(c, n)?],
            Indicator::Macd { fast, slow, signal } => momentum::macd(c, fast, slow, signal)?.into(),
            Indicator::Bbands {
                period,
                dev_up,
                dev_down,
            } => volatility::bbands(c, period, dev_up, dev_down)?.into(),
            Indicator::Atr(n) => vec![volatility::atr(h, l, c, n)?],
            Indicator::Natr(n) => vec![volatility::natr(h, l, c, n)?],
            Indicator::Adx(n) => vec![trend::adx(h, l, c, n)?],
            Indicator::PlusDi(n) => vec![trend::plus_di(h, l, c, n)?],
            Indicator::MinusDi(n) => vec![trend::minus_di(h, l, c, n)?],
            Indicator::Stoch {
                fast_k,
                slow_k,
                slow_d,
            } => momentum::stoch(h, l, c, fast_k, slow_k, slow_d)?.into(),
            Indicator::Cci(n) => vec![momentum::cci(h, l, c, n)?],
            Indicator::Mfi(n) => vec![momentum::mfi(h, l, c, v, n)?],
            Indicator::Obv => vec![volume::obv(c, v)?],
            Indicator::Roc(n) => vec![momentum::roc(c, n)?],
            Indicator::Willr(n) => vec![momentum::willr(h, l, c, n)?],
            Indicator::Aroon(n) => momentum::aroon(h, l, n)?.into(),
            Indicator::Sar {
                acceleration,
                maximum,
            } => vec![trend::sar(h, l, acceleration, maximum)?],
        })
    }
}

fn bb_suffix(period: u32, dev_up: f64, dev_down: f64) -> String {
    if dev_up == dev_down {
        format!("{period}_{dev_up}")
    } else {
        format!("{period}_{dev_up}_{dev_down}")
    }
}

/// The canonical spec, which [`Indicator::parse`] reads back to the same indicator.
impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Indicator::Sma(n) => write!(f, "sma_{n}"),
            Indicator::Ema(n) => write!(f, "ema_{n}"),
            Indicator::Wma(n) => write!(f, "wma_{n}"),
            Indicator::Kama(n) => write!(f, "kama_{n}"),
            Indicator::Rsi(n) => write!(f, "rsi_{n}"),
            Indicator::Macd { fast, slow, signal } => write!(f, "macd_{fast}_{slow}_{signal}"),
            Indicator::Bbands {
                period,
                dev_up,
                dev_down,
            } => write!(f, "bb_{}", bb_suffix(period, dev_up, dev_down)),
            Indicator::Atr(n) => write!(f, "atr_{n}"),
            Indicator::Natr(n) => write!(f, "natr_{n}"),
            Indicator::Adx(n) => write!(f, "adx_{n}"),
            Indicator::PlusDi(n) => write!(f, "plus_di_{n}"),
            Indicator::MinusDi(n) => write!(f, "minus_di_{n}"),
            Indicator::Stoch {
                fast_k,
                slow_k,
                slow_d,
            } => write!(f, "stoch_{fast_k}_{slow_k}_{slow_d}"),
            Indicator::Cci(n) => write!(f, "cci_{n}"),
            Indicator::Mfi(n) => write!(f, "mfi_{n}"),
            Indicator::Obv => write!(f, "obv"),
            Indicator::Roc(n) => write!(f, "roc_{n}"),
            Indicator::Willr(n) => write!(f, "willr_{n}"),
            Indicator::Aroon(n) => write!(f, "aroon_{n}"),
            Indicator::Sar {
                acceleration,
                maximum,
            } => write!(f, "sar_{acceleration}_{maximum}"),
        }
    }
}

/// An ordered list of indicators: what a scan computes and what `technic indicators` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorSet {
    indicators: Vec<Indicator>,
}

/// Whole series of a set over some bars: `values[i]` is the column named `columns[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorFrame {
    pub columns: Vec<String>,
    pub values: Vec<Vec<f64>>,
}

impl IndicatorFrame {
    pub fn column(&self, name: &str) -> Option<&[f64]> {
        self.columns
            .iter()
            .position(|c| c == name)
            .map(|i| &self.values[i][..])
    }

    /// The newest value of every column, `None` where it is still in its warm-up.
    pub fn latest(&self) -> Vec<(String, Option<f64>)> {
        self.columns
            .iter()
            .zip(&self.values)
            .map(|(name, series)| {
                (
                    name.clone(),
                    series.last().copied().filter(|v| v.is_finite()),
                )
            })
            .collect()
    }
}

impl Default for IndicatorSet {
    /// The set of the TA-Lib reference files, with the column names users know them by.
    fn default() -> Self {
        use Indicator::*;
        Self {
            indicators: vec![
                Sma(20),
                Sma(50),
                Sma(200),
                Ema(12),
                Ema(26),
                Ema(50),
                Wma(20),
                Rsi(14),
                Macd {
                    fast: 12,
                    slow: 26,
                    signal: 9,
                },
                Bbands {
                    period: 20,
                    dev_up: 2.0,
                    dev_down: 2.0,
                },
                Atr(14),
                Natr(14),
                Adx(14),
                PlusDi(14),
                MinusDi(14),
                Stoch {
                    fast_k: 14,
                    slow_k: 3,
                    slow_d: 3,
                },
                Cci(20),
                Mfi(14),
                Obv,
                Roc(10),
                Willr(14),
                Aroon(25),
                Sar {
                    acceleration: 0.02,
                    maximum: 0.2,
                },
                Kama(30),
            ],
        }
    }
}

impl IndicatorSet {
    pub fn new(indicators: Vec<Indicator>) -> Self {
        Self { indicators }
    }

    /// Parses a comma-separated list of specs, e.g. `rsi_7,macd,bb_10_1.5`; a repeated spec is kept once.
    pub fn parse_list(list: &str) -> Result<Self, IndicatorError> {
        let mut indicators: Vec<Indicator> = Vec::new();
        for spec in list.split(',').filter(|s| !s.trim().is_empty()) {
            let indicator = Indicator::parse(spec)?;
            if !indicators.contains(&indicator) {
                indicators.push(indicator);
            }
        }
        Ok(Self { indicators })
    }

    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    pub fn columns(&self) -> Vec<String> {
        self.indicators
            .iter()
            .flat_map(Indicator::columns)
            .collect()
    }

    /// The longest warm-up of the set: fewer bars than this leave some column undefined at the end.
    pub fn max_lookback(&self) -> usize {
        self.indicators
            .iter()
            .filter_map(|i| i.lookback().ok())
            .max()
            .unwrap_or(0)
    }

    /// An output of the shared pass asked for a second time (`IndicatorSet::new` keeps
    /// repeats): computed again rather than kept, since no set this product builds repeats one.
    fn directional_again(indicator: Indicator, bars: &Bars) -> Result<Vec<f64>, IndicatorError> {
        let mut series = indicator.compute(bars)?;
        Ok(series.pop().unwrap_or_default())
    }

    /// How many of ADX, +DI and -DI of period `n` the set asks for.
    fn directional_count(&self, n: u32) -> usize {
        self.indicators
            .iter()
            .filter(|i| {
                matches!(i, Indicator::Adx(p) | Indicator::PlusDi(p) | Indicator::MinusDi(p) if *p == n)
            })
            .count()
    }

    pub fn compute(&self, bars: &Bars) -> Result<IndicatorFrame, IndicatorError> {
        let mut frame = IndicatorFrame {
            columns: Vec::new(),
            values: Vec::new(),
        };
        // ADX, +DI and -DI of one period share one pass (see `trend::directional`).
        let mut directional: Vec<(u32, trend::Directional)> = Vec::new();
        for indicator in &self.indicators {
            frame.columns.extend(indicator.columns());
            let shared = match *indicator {
                Indicator::Adx(n) | Indicator::PlusDi(n) | Indicator::MinusDi(n)
                    if self.directional_count(n) > 1 =>
                {
                    Some(n)
                }
                _ => None,
            };
            let Some(n) = shared else {
                frame.values.extend(indicator.compute(bars)?);
                continue;
            };
            let position = match directional.iter().position(|(period, _)| *period == n) {
                Some(position) => position,
                None => {
                    let series = trend::directional(&bars.high, &bars.low, &bars.close, n)?;
                    directional.push((n, series));
                    directional.len() - 1
                }
            };
            // Each output is moved out the first time it is asked for; a set naming one twice
            // gets a copy the second time.
            let series = &mut directional[position].1;
            let output = match indicator {
                Indicator::Adx(_) => &mut series.adx,
                Indicator::PlusDi(_) => &mut series.plus_di,
                _ => &mut series.minus_di,
            };
            let values = if output.is_empty() {
                Self::directional_again(*indicator, bars)?
            } else {
                std::mem::take(output)
            };
            frame.values.push(values);
        }
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_their_canonical_names() {
        for spec in [
            "sma_20",
            "ema_5",
            "wma_9",
            "kama_30",
            "rsi_2",
            "macd_5_35_5",
            "bb_10_1.5_2.5",
            "bb_20_3",
            "atr_7",
            "natr_21",
            "adx_9",
            "plus_di_9",
            "minus_di_9",
            "stoch_5_3_3",
            "cci_10",
            "mfi_7",
            "obv",
            "roc_3",
            "willr_7",
            "aroon_10",
            "sar_0.01_0.1",
        ] {
            let indicator = Indicator::parse(spec).expect(spec);
            assert_eq!(indicator.to_string(), spec);
            assert_eq!(Indicator::parse(&indicator.to_string()), Ok(indicator));
        }
    }

    #[test]
    fn default_parameters_keep_the_short_column_names() {
        assert_eq!(
            Indicator::parse("macd").expect("macd").columns(),
            ["macd", "macd_signal", "macd_hist"]
        );
        assert_eq!(
            Indicator::parse("bb").expect("bb").columns(),
            ["bb_upper", "bb_middle", "bb_lower"]
        );
        assert_eq!(
            Indicator::parse("stoch_14_3_3").expect("stoch").columns(),
            ["stoch_k", "stoch_d"]
        );
        assert_eq!(Indicator::parse("sar").expect("sar").columns(), ["sar"]);
        assert_eq!(
            Indicator::parse("macd_5_35_5").expect("macd").columns(),
            ["macd_5_35_5", "macd_signal_5_35_5", "macd_hist_5_35_5"]
        );
        assert_eq!(
            Indicator::parse("aroon_25").expect("aroon").columns(),
            ["aroon_down_25", "aroon_up_25"]
        );
    }

    #[test]
    fn bad_specs_name_what_is_wrong() {
        assert!(
            matches!(Indicator::parse("vwap_5"), Err(IndicatorError::Unknown(s)) if s == "vwap_5")
        );
        let err = Indicator::parse("rsi_0").expect_err("period 0").to_string();
        assert!(
            err.contains("rsi_0") && err.contains("'0' is not a period"),
            "{err}"
        );
        let err = Indicator::parse("sma").expect_err("no period").to_string();
        assert!(err.contains("sma_N"), "{err}");
        let err = Indicator::parse("bb_20_x")
            .expect_err("bad dev")
            .to_string();
        assert!(err.contains("'x'"), "{err}");
        // Period 1 is fine for SMA in TA-Lib but RSI needs at least 2: the limit comes from TA-Lib itself.
        assert!(Indicator::parse("sma_1").is_ok());
        let err = Indicator::parse("rsi_1")
            .expect_err("rsi needs 2")
            .to_string();
        assert!(err.contains("rsi_1") && err.contains("at least 2"), "{err}");
        let set = IndicatorSet::parse_list("rsi_14,rsi_14, macd").expect("list");
        assert_eq!(
            set.columns(),
            ["rsi_14", "macd", "macd_signal", "macd_hist"]
        );
    }

    #[test]
    fn outputs_are_aligned_to_the_input_with_an_undefined_warm_up() {
        let close: Vec<f64> = (1..=10).map(f64::from).collect();
        let sma = average::sma(&close, 3).expect("sma");
        assert_eq!(sma.len(), 10);
        assert!(sma[0].is_nan() && sma[1].is_nan());
        assert_eq!(sma[2], 2.0);
        assert_eq!(sma[9], 9.0);
        // Shorter than the warm-up: all undefined, not an error.
        let short = average::sma(&close[..2], 3).expect("short");
        assert!(short.iter().all(|v| v.is_nan()));
        assert!(average::sma(&[], 3).expect("empty").is_empty());
    }
}
