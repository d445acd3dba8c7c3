//! TA-Lib-exact indicators, grouped by family, and the names users see them by.
//!
//! The kernels are the `ta-lib` crate's (the TA-Lib project's own Rust port); this module only
//! aligns their outputs to the input and names them. A spec such as `rsi_14` or `macd_5_35_5`
//! names an [`Indicator`]: a family of [`SPECS`] with its parameters. The columns it produces are
//! what CSV headers, JSON results and the golden files call them (`rsi_14`, `macd`, `macd_signal`,
//! `bb_upper`, …).
//!
//! A new indicator: its kernel call in the family's file (through `kernel.rs`), one entry in
//! [`SPECS`] (name, parameters and defaults, outputs, lookback, compute), its spec in
//! `DEFAULT_SET` if scans should compute it, and a golden test against TA-Lib.

pub mod average;
mod kernel;
pub mod momentum;
pub mod trend;
pub mod volatility;
pub mod volume;

use std::fmt;
use std::sync::LazyLock;

use ta_lib::RetCode;

use crate::bars::Bars;
use kernel::TA;

/// TA-Lib refuses periods above this; refusing them while parsing names the spec in the error.
const MAX_PERIOD: u32 = 100_000;

/// The most parameters any family takes.
const MAX_PARAMS: usize = 3;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndicatorError {
    #[error("unknown indicator '{0}'; expected one of {families}", families = synopses())]
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
    fn rejected(indicator: &str, code: RetCode) -> Self {
        Self::Rejected {
            indicator: indicator.to_owned(),
            code: code.to_string(),
        }
    }
}

/// What one parameter of a spec is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A whole number of bars, 1 to [`MAX_PERIOD`].
    Period,
    /// A non-negative number (a deviation, an acceleration).
    Real,
}

impl Kind {
    fn read(self, text: &str) -> Result<f64, String> {
        match self {
            Kind::Period => match text.parse::<u32>() {
                Ok(n) if (1..=MAX_PERIOD).contains(&n) => Ok(f64::from(n)),
                _ => Err(format!(
                    "'{text}' is not a period (a whole number from 1 to {MAX_PERIOD})"
                )),
            },
            Kind::Real => match text.parse::<f64>() {
                Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
                _ => Err(format!("'{text}' is not a non-negative number")),
            },
        }
    }
}

/// Every output of an indicator over some bars, from its parameters.
type Compute = fn(&Bars, &[f64]) -> Result<Vec<Vec<f64>>, IndicatorError>;

/// TA-Lib's lookback of an indicator, from its parameters.
type Lookback = fn(&[f64]) -> Result<usize, RetCode>;

/// One family of indicators: everything technic knows about it, as one entry of [`SPECS`].
#[derive(Debug)]
pub struct Spec {
    /// The family's name: how its specs and columns start (`macd`, `plus_di`).
    pub name: &'static str,
    /// Its parameters, in spec order.
    params: &'static [Kind],
    /// The parameters the name alone stands for (`macd` is `macd_12_26_9`); `None` when they must
    /// be given.
    defaults: Option<&'static [f64]>,
    /// The last two parameters, when equal, are written once and may be given once (`bb_20_2`).
    shared_last: bool,
    /// The forms of its specs, as the unknown-indicator error lists them; `None` is `NAME_N`.
    synopsis: Option<&'static str>,
    /// What a spec with the wrong number of parameters is told; `None` says one period is expected.
    usage: Option<&'static str>,
    /// Its output columns' stems in TA-Lib's output order, suffixed with the parameters unless they
    /// are the defaults; `None` is one output named like the family.
    outputs: Option<&'static [&'static str]>,
    /// TA-Lib's lookback (bars consumed before the first value) for these parameters.
    lookback: Lookback,
    /// Every output over the bars, each as long as the bars with NaN in the warm-up.
    compute: Compute,
}

impl Spec {
    /// A family of one period and one output named like it (`rsi_14`).
    const fn single(name: &'static str, lookback: Lookback, compute: Compute) -> Self {
        Self {
            name,
            params: &[Kind::Period],
            defaults: None,
            shared_last: false,
            synopsis: None,
            usage: None,
            outputs: None,
            lookback,
            compute,
        }
    }

    fn synopsis(&self) -> String {
        self.synopsis
            .map_or_else(|| format!("{}_N", self.name), str::to_owned)
    }

    fn usage(&self) -> String {
        self.usage.map_or_else(
            || {
                let name = self.name;
                format!("expected {name}_N with one period, e.g. {name}_14")
            },
            str::to_owned,
        )
    }
}

/// A period parameter as TA-Lib takes it.
fn p(value: f64) -> i32 {
    kernel::period(n(value))
}

/// A period parameter as the kernels take it; parsing made it a whole number in range.
fn n(value: f64) -> u32 {
    value as u32
}

fn one(series: Result<Vec<f64>, IndicatorError>) -> Result<Vec<Vec<f64>>, IndicatorError> {
    series.map(|s| vec![s])
}

use Kind::{Period, Real};
use ta_lib::MAType::SMA;

/// Every indicator family, in the order the unknown-indicator error lists them.
pub static SPECS: [Spec; 20] = [
    Spec::single(
        "sma",
        |a| TA.sma_lookback(p(a[0])),
        |b, a| one(average::sma(&b.close, n(a[0]))),
    ),
    Spec::single(
        "ema",
        |a| TA.ema_lookback(p(a[0])),
        |b, a| one(average::ema(&b.close, n(a[0]))),
    ),
    Spec::single(
        "wma",
        |a| TA.wma_lookback(p(a[0])),
        |b, a| one(average::wma(&b.close, n(a[0]))),
    ),
    Spec::single(
        "kama",
        |a| TA.kama_lookback(p(a[0])),
        |b, a| one(average::kama(&b.close, n(a[0]))),
    ),
    Spec::single(
        "rsi",
        |a| TA.rsi_lookback(p(a[0])),
        |b, a| one(momentum::rsi(&b.close, n(a[0]))),
    ),
    Spec {
        name: "macd",
        params: &[Period, Period, Period],
        defaults: Some(&[12.0, 26.0, 9.0]),
        shared_last: false,
        synopsis: Some("macd[_FAST_SLOW_SIGNAL]"),
        usage: Some("expected macd or macd_FAST_SLOW_SIGNAL, e.g. macd_12_26_9"),
        outputs: Some(&["macd", "macd_signal", "macd_hist"]),
        lookback: |a| TA.macd_lookback(p(a[0]), p(a[1]), p(a[2])),
        compute: |b, a| Ok(momentum::macd(&b.close, n(a[0]), n(a[1]), n(a[2]))?.into()),
    },
    Spec {
        name: "bb",
        params: &[Period, Real, Real],
        defaults: Some(&[20.0, 2.0, 2.0]),
        shared_last: true,
        synopsis: Some("bb[_N_DEV | _N_UP_DOWN]"),
        usage: Some("expected bb, bb_N_DEV or bb_N_UP_DOWN, e.g. bb_20_2"),
        outputs: Some(&["bb_upper", "bb_middle", "bb_lower"]),
        lookback: |a| TA.bbands_lookback(p(a[0]), a[1], a[2], SMA),
        compute: |b, a| Ok(volatility::bbands(&b.close, n(a[0]), a[1], a[2])?.into()),
    },
    Spec::single(
        "atr",
        |a| TA.atr_lookback(p(a[0])),
        |b, a| one(volatility::atr(&b.high, &b.low, &b.close, n(a[0]))),
    ),
    Spec::single(
        "natr",
        |a| TA.natr_lookback(p(a[0])),
        |b, a| one(volatility::natr(&b.high, &b.low, &b.close, n(a[0]))),
    ),
    Spec::single(
        "adx",
        |a| TA.adx_lookback(p(a[0])),
        |b, a| one(trend::adx(&b.high, &b.low, &b.close, n(a[0]))),
    ),
    Spec::single(
        "plus_di",
        |a| TA.plus_di_lookback(p(a[0])),
        |b, a| one(trend::plus_di(&b.high, &b.low, &b.close, n(a[0]))),
    ),
    Spec::single(
        "minus_di",
        |a| TA.minus_di_lookback(p(a[0])),
        |b, a| one(trend::minus_di(&b.high, &b.low, &b.close, n(a[0]))),
    ),
    Spec {
        name: "stoch",
        params: &[Period, Period, Period],
        defaults: Some(&[14.0, 3.0, 3.0]),
        shared_last: false,
        synopsis: Some("stoch[_K_SLOWK_SLOWD]"),
        usage: Some("expected stoch or stoch_K_SLOWK_SLOWD, e.g. stoch_14_3_3"),
        outputs: Some(&["stoch_k", "stoch_d"]),
        lookback: |a| TA.stoch_lookback(p(a[0]), p(a[1]), SMA, p(a[2]), SMA),
        compute: |b, a| {
            let (h, l, c) = (&b.high, &b.low, &b.close);
            Ok(momentum::stoch(h, l, c, n(a[0]), n(a[1]), n(a[2]))?.into())
        },
    },
    Spec::single(
        "cci",
        |a| TA.cci_lookback(p(a[0])),
        |b, a| one(momentum::cci(&b.high, &b.low, &b.close, n(a[0]))),
    ),
    Spec::single(
        "mfi",
        |a| TA.mfi_lookback(p(a[0])),
        |b, a| one(momentum::mfi(&b.high, &b.low, &b.close, &b.volume, n(a[0]))),
    ),
    Spec {
        name: "obv",
        params: &[],
        defaults: None,
        shared_last: false,
        synopsis: Some("obv"),
        usage: Some("obv takes no parameters"),
        outputs: None,
        lookback: |_| TA.obv_lookback(),
        compute: |b, _| one(volume::obv(&b.close, &b.volume)),
    },
    Spec::single(
        "roc",
        |a| TA.roc_lookback(p(a[0])),
        |b, a| one(momentum::roc(&b.close, n(a[0]))),
    ),
    Spec::single(
        "willr",
        |a| TA.willr_lookback(p(a[0])),
        |b, a| one(momentum::willr(&b.high, &b.low, &b.close, n(a[0]))),
    ),
    Spec {
        name: "aroon",
        params: &[Period],
        defaults: None,
        shared_last: false,
        synopsis: None,
        usage: None,
        outputs: Some(&["aroon_down", "aroon_up"]),
        lookback: |a| TA.aroon_lookback(p(a[0])),
        compute: |b, a| Ok(momentum::aroon(&b.high, &b.low, n(a[0]))?.into()),
    },
    Spec {
        name: "sar",
        params: &[Real, Real],
        defaults: Some(&[0.02, 0.2]),
        shared_last: false,
        synopsis: Some("sar[_ACCEL_MAX]"),
        usage: Some("expected sar or sar_ACCEL_MAX, e.g. sar_0.02_0.2"),
        outputs: None,
        lookback: |a| TA.sar_lookback(a[0], a[1]),
        compute: |b, a| one(trend::sar(&b.high, &b.low, a[0], a[1])),
    },
];

/// The set of the TA-Lib reference files, with the column names users know them by: what scans
/// compute.
const DEFAULT_SET: &str = "sma_20,sma_50,sma_200,ema_12,ema_26,ema_50,wma_20,rsi_14,macd,bb,atr_14,\
    natr_14,adx_14,plus_di_14,minus_di_14,stoch,cci_20,mfi_14,obv,roc_10,willr_14,aroon_25,sar,kama_30";

/// Every family's spec forms, for the unknown-indicator error.
fn synopses() -> String {
    SPECS
        .iter()
        .map(Spec::synopsis)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One indicator: a family of [`SPECS`] with its parameters. Periods are bars.
#[derive(Clone, Copy)]
pub struct Indicator {
    spec: &'static Spec,
    /// The first `spec.params.len()` are the parameters.
    args: [f64; MAX_PARAMS],
}

impl PartialEq for Indicator {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name && self.args() == other.args()
    }
}

impl fmt::Debug for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Indicator({self})")
    }
}

impl Indicator {
    /// Parses a spec such as `sma_20`, `macd`, `macd_5_35_5`, `bb_20_2`, `bb_10_1.5_2.5`, `sar_0.01_0.1`.
    pub fn parse(spec: &str) -> Result<Self, IndicatorError> {
        let spec = spec.trim();
        let lower = spec.to_ascii_lowercase();
        // The longest family name that fits, so `plus_di_14` is not read as something shorter.
        let family = SPECS
            .iter()
            .filter(|s| {
                lower == s.name
                    || lower
                        .strip_prefix(s.name)
                        .is_some_and(|rest| rest.starts_with('_'))
            })
            .max_by_key(|s| s.name.len())
            .ok_or_else(|| IndicatorError::Unknown(spec.to_owned()))?;
        let bad = |message: String| IndicatorError::BadParameter {
            spec: spec.to_owned(),
            message,
        };
        let words: Vec<&str> = lower[family.name.len()..]
            .split('_')
            .filter(|s| !s.is_empty())
            .collect();
        let indicator = Self {
            spec: family,
            args: read_args(family, &words).map_err(bad)?,
        };
        // TA-Lib has further limits (most families need a period of at least 2); asking it for the
        // lookback now reports them against the spec the user typed.
        if indicator.lookback().is_err() {
            let name = family.name;
            let message = match indicator.with_periods_at_least(2) {
                Some(raised) if raised.lookback().is_ok() => {
                    format!("TA-Lib needs every period of {name} to be at least 2")
                }
                _ => format!("TA-Lib rejects these parameters for {name}"),
            };
            return Err(bad(message));
        }
        Ok(indicator)
    }

    /// The family's spec.
    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    /// The parameters, in spec order.
    pub fn args(&self) -> &[f64] {
        &self.args[..self.spec.params.len()]
    }

    /// The same indicator with every period below `min` raised to it; `None` for those without periods.
    fn with_periods_at_least(self, min: u32) -> Option<Self> {
        if !self.spec.params.contains(&Period) {
            return None;
        }
        let mut raised = self;
        for (arg, kind) in raised.args.iter_mut().zip(self.spec.params) {
            if *kind == Period {
                *arg = arg.max(f64::from(min));
            }
        }
        Some(raised)
    }

    /// Bars consumed before the first value exists (TA-Lib's lookback).
    pub fn lookback(&self) -> Result<usize, IndicatorError> {
        (self.spec.lookback)(self.args())
            .map_err(|code| IndicatorError::rejected(&self.to_string(), code))
    }

    /// The output column names, in TA-Lib's output order.
    pub fn columns(&self) -> Vec<String> {
        let suffix = (self.spec.defaults != Some(self.args())).then(|| self.args_text());
        let stems = self
            .spec
            .outputs
            .unwrap_or(std::slice::from_ref(&self.spec.name));
        stems
            .iter()
            .map(|stem| match &suffix {
                Some(s) if !s.is_empty() => format!("{stem}_{s}"),
                _ => (*stem).to_owned(),
            })
            .collect()
    }

    /// Computes every output column over `bars`, each as long as `bars` with NaN in the warm-up.
    pub fn compute(&self, bars: &Bars) -> Result<Vec<Vec<f64>>, IndicatorError> {
        (self.spec.compute)(bars, self.args())
    }

    /// The parameters as a spec writes them: `12_26_9`, `20_2` (equal deviations once), empty for none.
    fn args_text(&self) -> String {
        let mut args = self.args();
        if self.spec.shared_last && args.len() >= 2 && args[args.len() - 1] == args[args.len() - 2]
        {
            args = &args[..args.len() - 1];
        }
        args.iter()
            .zip(self.spec.params)
            .map(|(value, kind)| match kind {
                Period => n(*value).to_string(),
                Real => value.to_string(),
            })
            .collect::<Vec<_>>()
            .join("_")
    }

    /// Which output of the shared ADX, +DI and -DI pass this is (`trend::directional`), with its
    /// period; `None` for every other indicator.
    fn directional(&self) -> Option<(u32, usize)> {
        let output = ["adx", "plus_di", "minus_di"]
            .iter()
            .position(|name| *name == self.spec.name)?;
        Some((n(self.args[0]), output))
    }
}

/// The parameters `words` give a spec of `family`: all of them, none for the defaults, or (where
/// the last two may be shared) one fewer.
fn read_args(family: &Spec, words: &[&str]) -> Result<[f64; MAX_PARAMS], String> {
    let wanted = family.params.len();
    let mut args = [0.0; MAX_PARAMS];
    match (words.len(), family.defaults) {
        (0, Some(defaults)) => args[..wanted].copy_from_slice(defaults),
        (given, _) if given == wanted || (family.shared_last && given + 1 == wanted) => {
            for (i, (word, kind)) in words.iter().zip(family.params).enumerate() {
                args[i] = kind.read(word)?;
            }
            if given < wanted {
                args[wanted - 1] = args[wanted - 2];
            }
        }
        _ => return Err(family.usage()),
    }
    Ok(args)
}

/// The canonical spec, which [`Indicator::parse`] reads back to the same indicator.
impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args = self.args_text();
        if args.is_empty() {
            f.write_str(self.spec.name)
        } else {
            write!(f, "{}_{args}", self.spec.name)
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
    /// The set of the TA-Lib reference files (`DEFAULT_SET`).
    fn default() -> Self {
        static DEFAULT: LazyLock<IndicatorSet> = LazyLock::new(|| {
            IndicatorSet::parse_list(DEFAULT_SET).expect("the default set is made of valid specs")
        });
        DEFAULT.clone()
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
            .filter(|i| i.directional().is_some_and(|(p, _)| p == n))
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
            let shared = indicator
                .directional()
                .filter(|(n, _)| self.directional_count(*n) > 1);
            let Some((n, which)) = shared else {
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
            let output = match which {
                0 => &mut series.adx,
                1 => &mut series.plus_di,
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
    fn the_default_set_parses_into_the_reference_columns() {
        let set = IndicatorSet::default();
        assert_eq!(set.indicators().len(), 24);
        assert_eq!(set.columns().len(), 30);
        assert!(set.columns().iter().any(|c| c == "aroon_up_25"));
    }

    #[test]
    fn every_family_of_the_table_parses_its_own_synopsis_example() {
        for spec in &SPECS {
            let example = match spec.params.len() {
                0 => spec.name.to_owned(),
                _ if spec.defaults.is_some() => spec.name.to_owned(),
                _ => format!("{}_14", spec.name),
            };
            let indicator = Indicator::parse(&example).expect(&example);
            assert_eq!(indicator.spec().name, spec.name);
            assert!(!indicator.columns().is_empty(), "{example}");
        }
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
