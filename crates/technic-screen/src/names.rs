//! Column names: indicators (read by technic-core's own spec parser, so a screen knows every
//! indicator at every period the core does), result fields and the derived columns.

use technic_core::{Indicator, IndicatorError, IndicatorSet};

use crate::MAX_BARS_BACK;

/// A number per bar, so it has past values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeriesColumn {
    Open,
    High,
    Low,
    Close,
    Volume,
    /// Close against the previous close, in percent.
    ChangePct,
    /// One output (by index, in TA-Lib's order) of an indicator.
    Indicator(Indicator, usize),
    /// Mean volume over N bars, the newest included.
    AvgVolume(u32),
    /// Volume over its 20-bar mean (the newest bar included, as the scan's `avg_volume_20`).
    RelVolume,
    /// Highest high and lowest low over 252 bars, the newest included.
    High52w,
    Low52w,
    /// Close against the 52-week high, in percent (0 at the high, negative below it).
    PctFromHigh52w,
    /// Close against the close N bars before, in percent.
    Return(u32),
    /// Open against the previous close, in percent.
    GapPct,
    /// ATR 14 as a percentage of the close (TA-Lib's NATR 14).
    AtrPct,
}

impl SeriesColumn {
    /// The indicator `atr_pct` reads.
    pub(crate) fn atr_pct() -> Indicator {
        static NATR_14: std::sync::LazyLock<Indicator> = std::sync::LazyLock::new(|| {
            Indicator::parse("natr_14").expect("natr_14 is a spec of the indicator table")
        });
        *NATR_14
    }
}

/// A number of the scan's result, known only for the newest bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    TechRating,
    AlphaScore,
    TrendScore,
    MomentumScore,
    VolumeScore,
    VolatilityScore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Sector,
    Signal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Column {
    Series(SeriesColumn),
    Field(Field),
    Text(TextField),
}

/// Bars in 52 weeks of trading.
pub const BARS_52W: usize = 252;

const FIXED: [(&str, Column); 21] = [
    ("open", Column::Series(SeriesColumn::Open)),
    ("high", Column::Series(SeriesColumn::High)),
    ("low", Column::Series(SeriesColumn::Low)),
    ("close", Column::Series(SeriesColumn::Close)),
    ("volume", Column::Series(SeriesColumn::Volume)),
    ("change_pct", Column::Series(SeriesColumn::ChangePct)),
    ("rel_volume", Column::Series(SeriesColumn::RelVolume)),
    ("high_52w", Column::Series(SeriesColumn::High52w)),
    ("low_52w", Column::Series(SeriesColumn::Low52w)),
    (
        "pct_from_high_52w",
        Column::Series(SeriesColumn::PctFromHigh52w),
    ),
    ("gap_pct", Column::Series(SeriesColumn::GapPct)),
    ("atr_pct", Column::Series(SeriesColumn::AtrPct)),
    ("avg_volume", Column::Series(SeriesColumn::AvgVolume(20))),
    ("tech_rating", Column::Field(Field::TechRating)),
    ("alpha_score", Column::Field(Field::AlphaScore)),
    ("trend_score", Column::Field(Field::TrendScore)),
    ("momentum_score", Column::Field(Field::MomentumScore)),
    ("volume_score", Column::Field(Field::VolumeScore)),
    ("volatility_score", Column::Field(Field::VolatilityScore)),
    ("sector", Column::Text(TextField::Sector)),
    ("signal", Column::Text(TextField::Signal)),
];

/// Columns named with a period: `avg_volume_20`, `return_126`.
type MakeSeries = fn(u32) -> SeriesColumn;

const WITH_PERIOD: [(&str, MakeSeries); 2] = [
    ("avg_volume_", SeriesColumn::AvgVolume),
    ("return_", SeriesColumn::Return),
];

/// Outputs of multi-output indicators as the core names their columns (`macd_hist_5_35_5`,
/// `bb_upper`), and the stem the spec starts with.
const OUTPUT_STEMS: [(&str, &str, usize); 9] = [
    ("macd_signal", "macd", 1),
    ("macd_hist", "macd", 2),
    ("bb_upper", "bb", 0),
    ("bb_middle", "bb", 1),
    ("bb_lower", "bb", 2),
    ("stoch_k", "stoch", 0),
    ("stoch_d", "stoch", 1),
    ("aroon_down", "aroon", 0),
    ("aroon_up", "aroon", 1),
];

/// The same outputs as a suffix of the spec (`macd_12_26_9_hist`, `bb_20_2.5_2.5_upper`).
const OUTPUT_SUFFIXES: [(&str, &str, usize); 10] = [
    ("macd", "_macd", 0),
    ("macd", "_signal", 1),
    ("macd", "_hist", 2),
    ("bb", "_upper", 0),
    ("bb", "_middle", 1),
    ("bb", "_lower", 2),
    ("stoch", "_k", 0),
    ("stoch", "_d", 1),
    ("aroon", "_down", 0),
    ("aroon", "_up", 1),
];

/// Function names, for suggestions.
pub const FUNCTIONS: [&str; 10] = [
    "crosses_above",
    "crosses_below",
    "rising",
    "falling",
    "highest",
    "lowest",
    "pct_rank",
    "sector_pct_rank",
    "zscore",
    "screen",
];

/// Why a name is not a column.
#[derive(Debug, Clone, PartialEq)]
pub enum NameError {
    /// Not a name of anything; the nearest name, if one is near.
    Unknown(Option<String>),
    /// The right kind of name with a period or parameter out of range.
    OutOfRange(String),
    /// A multi-output indicator named without its output.
    Ambiguous(Vec<String>),
}

pub fn resolve(name: &str) -> Result<Column, NameError> {
    if let Some((_, column)) = FIXED.iter().find(|(fixed, _)| *fixed == name) {
        return Ok(*column);
    }
    for (prefix, make) in WITH_PERIOD {
        if let Some(rest) = name.strip_prefix(prefix) {
            return match rest.parse::<u32>() {
                Ok(n) if (1..=MAX_BARS_BACK).contains(&n) => Ok(Column::Series(make(n))),
                _ => Err(NameError::OutOfRange(format!(
                    "the period of `{name}` must be a whole number from 1 to {MAX_BARS_BACK}"
                ))),
            };
        }
    }
    indicator(name)
        .map(|(indicator, output)| Column::Series(SeriesColumn::Indicator(indicator, output)))
}

fn indicator(name: &str) -> Result<(Indicator, usize), NameError> {
    let mut first_error: Option<IndicatorError> = None;
    let mut keep = |error: IndicatorError| {
        if first_error.is_none() {
            first_error = Some(error);
        }
    };
    for (stem, family, output) in OUTPUT_STEMS {
        let rest = match name.strip_prefix(stem) {
            Some("") => "",
            Some(rest) if rest.starts_with('_') => rest,
            _ => continue,
        };
        match Indicator::parse(&format!("{family}{rest}")) {
            Ok(indicator) => return Ok((indicator, output)),
            Err(e) => keep(e),
        }
    }
    for (family, suffix, output) in OUTPUT_SUFFIXES {
        let Some(spec) = name.strip_suffix(suffix) else {
            continue;
        };
        if !spec.starts_with(family) {
            continue;
        }
        match Indicator::parse(spec) {
            Ok(indicator) if outputs(&indicator) > output => return Ok((indicator, output)),
            Ok(_) => {}
            Err(e) => keep(e),
        }
    }
    match Indicator::parse(name) {
        Ok(indicator) => {
            let columns = indicator.columns();
            if let Some(output) = columns.iter().position(|c| c == name) {
                return Ok((indicator, output));
            }
            if columns.len() == 1 || indicator.spec().name == "macd" {
                // A one-output spec, or `macd_12_26_9` for the MACD line itself.
                return Ok((indicator, 0));
            }
            Err(NameError::Ambiguous(columns))
        }
        Err(e) => {
            let e = first_error.unwrap_or(e);
            match e {
                IndicatorError::Unknown(_) => Err(NameError::Unknown(suggest(name))),
                other => Err(NameError::OutOfRange(other.to_string())),
            }
        }
    }
}

fn outputs(indicator: &Indicator) -> usize {
    indicator.columns().len()
}

/// The nearest known name: first the name with `_` put back before its numbers (`rsi14` →
/// `rsi_14`, the commonest slip), then the closest of the usual names by edit distance.
pub fn suggest(name: &str) -> Option<String> {
    let mut underscored = String::with_capacity(name.len() + 4);
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if c.is_ascii_digit() && previous.is_some_and(|p| p.is_ascii_alphabetic()) {
            underscored.push('_');
        }
        underscored.push(c);
        previous = Some(c);
    }
    if underscored != name && resolve(&underscored).is_ok() {
        return Some(underscored);
    }
    let mut candidates: Vec<String> = FIXED.iter().map(|(n, _)| (*n).to_owned()).collect();
    candidates.extend(IndicatorSet::default().columns());
    candidates.extend(FUNCTIONS.iter().map(|f| (*f).to_owned()));
    candidates.extend(
        [
            "avg_volume_20",
            "return_20",
            "return_126",
            "rsi_2",
            "sma_150",
        ]
        .map(String::from),
    );
    let (best, distance) = candidates
        .into_iter()
        .map(|c| {
            let d = strsim::levenshtein(name, &c);
            (c, d)
        })
        .min_by_key(|(_, d)| *d)?;
    let limit = (name.chars().count() / 3).max(2);
    (distance <= limit).then_some(best)
}

/// The nearest of `options` (for sectors and signals), case-insensitively.
pub fn nearest<'a>(text: &str, options: &[&'a str]) -> Option<&'a str> {
    let lower = text.to_lowercase();
    options
        .iter()
        .map(|o| (*o, strsim::levenshtein(&lower, &o.to_lowercase())))
        .min_by_key(|(_, d)| *d)
        .filter(|(_, d)| *d <= (lower.chars().count() / 2).max(2))
        .map(|(o, _)| o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str) -> SeriesColumn {
        match resolve(name) {
            Ok(Column::Series(s)) => s,
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn indicator_columns_resolve_in_both_spellings() {
        let macd = Indicator::parse("macd_12_26_9").expect("macd");
        assert_eq!(series("macd_hist"), SeriesColumn::Indicator(macd, 2));
        assert_eq!(
            series("macd_12_26_9_hist"),
            SeriesColumn::Indicator(macd, 2)
        );
        assert_eq!(series("macd"), SeriesColumn::Indicator(macd, 0));
        let bb = Indicator::parse("bb_20_2.5").expect("bb");
        assert_eq!(
            series("bb_20_2.5_2.5_upper"),
            SeriesColumn::Indicator(bb, 0)
        );
        assert_eq!(series("bb_upper_20_2.5"), SeriesColumn::Indicator(bb, 0));
        assert_eq!(
            series("bb_lower"),
            SeriesColumn::Indicator(Indicator::parse("bb").expect("bb"), 2)
        );
        assert_eq!(
            series("aroon_up_25"),
            SeriesColumn::Indicator(Indicator::parse("aroon_25").expect("aroon"), 1)
        );
        assert_eq!(
            series("rsi_2"),
            SeriesColumn::Indicator(Indicator::parse("rsi_2").expect("rsi"), 0)
        );
        assert_eq!(
            series("plus_di_14"),
            SeriesColumn::Indicator(Indicator::parse("plus_di_14").expect("plus_di"), 0)
        );
        assert_eq!(series("return_126"), SeriesColumn::Return(126));
        assert!(matches!(resolve("bb_20_2"), Err(NameError::Ambiguous(_))));
        assert!(matches!(resolve("rsi_0"), Err(NameError::OutOfRange(_))));
        assert!(matches!(resolve("return_0"), Err(NameError::OutOfRange(_))));
    }

    #[test]
    fn suggestions_find_the_slip() {
        assert_eq!(suggest("rsi14").as_deref(), Some("rsi_14"));
        assert_eq!(suggest("sma50").as_deref(), Some("sma_50"));
        assert_eq!(suggest("clsoe").as_deref(), Some("close"));
        assert_eq!(suggest("xyzzyplugh"), None);
        assert_eq!(nearest("energi", &["Energy", "Utilities"]), Some("Energy"));
    }
}
