//! One symbol, as of its newest bar, with one set of settings: the whole per-symbol part of a scan
//! as a pure function of the bars.
//!
//! The scan, the backtest and the distributed workers all call this, so a symbol's numbers cannot
//! depend on which of them asked. Its three steps are public because the scan shares the middle
//! one between concurrent scans: [`screen`] (whether there are bars enough to rate), [`analyse`]
//! (everything that depends on the bars alone) and [`assemble`] (the outcome from both).
//! [`evaluate`] is the three in order.
//!
//! A request's own filters (`min_price`, `min_avg_volume`, …) are not here: they are expressions
//! of the screen language, which the engine judges on the bars after [`has_bars`] and before
//! [`screen`] (so a penny stock with a short history is reported as below `min_price`).

use chrono::NaiveDate;

use crate::alpha::{self, AlphaFactors};
use crate::bars::Bars;
use crate::indicators::{IndicatorSet, momentum};
use crate::rating::components::{self, Components};
use crate::rating::{self, Rating, RatingModel, SignalQuality, standard};

/// Fewest bars a symbol needs to be rated: the rating reads SMA 200.
pub const MIN_BARS: usize = 200;

/// Bars over which the report's `avg_volume_20` is taken.
pub const AVG_VOLUME_WINDOW: usize = 20;

/// Everything [`evaluate`] needs besides the bars.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Must contain the default set's columns for the rating and alpha to read; more columns only
    /// add indicator values to the outcome.
    pub indicators: IndicatorSet,
    pub quality: SignalQuality,
    pub rating: RatingModel,
}

/// Why a symbol was left out before it was rated. `Display` is the diagnostic a scan reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Skip {
    NoBars,
    TooFewBars {
        bars: usize,
    },
    /// The standard rating found none of its readings (its history is shorter than a week, or
    /// its prices are not positive).
    NoReadings,
}

impl Skip {
    /// A short name of the rule, for counts of symbol-dates left out by reason.
    pub fn rule(&self) -> &'static str {
        match self {
            Skip::NoBars => "no bars",
            Skip::TooFewBars { .. } => "too little history for the rating",
            Skip::NoReadings => "none of the rating's readings",
        }
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NoBars => f.write_str("no bars: the source has no rows for this symbol"),
            Skip::TooFewBars { bars } => write!(
                f,
                "only {bars} bars of history; the rating needs {MIN_BARS} (SMA 200)"
            ),
            Skip::NoReadings => f.write_str(
                "none of the standard rating's readings is defined (too few bars or a non-positive price)",
            ),
        }
    }
}

/// What a symbol's bars give whatever the request: scans reading the same bars may share it.
#[derive(Debug, Clone, PartialEq)]
pub enum Analysis {
    Rated {
        /// The classic model's rating; the standard one is made from `components` when a request
        /// asks for it (so scans of either model share one analysis).
        rating: Rating,
        /// The newest value of every indicator column, in the set's order.
        indicators: Vec<(String, Option<f64>)>,
        factors: AlphaFactors,
        /// Boxed: the variant would otherwise be several times the size of the others.
        components: Box<Components>,
    },
    IndicatorsFailed(String),
    /// The rating declined these bars.
    Unrated,
}

/// A rated symbol as of its newest bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub date: NaiveDate,
    pub close: f64,
    pub change_pct: f64,
    pub volume: f64,
    pub avg_volume_20: f64,
    /// Bars the evaluation read.
    pub bars: usize,
    pub rating: Rating,
    pub high_quality: bool,
    pub indicators: Vec<(String, Option<f64>)>,
    /// The inputs of `alpha_score`, which is a percentile over the whole universe and so is not
    /// one symbol's to compute.
    pub factors: AlphaFactors,
    /// The standard rating's raw readings.
    pub components: Components,
}

impl Evaluation {
    /// The newest value of an indicator column, `None` if the set lacks it or it is in warm-up.
    pub fn indicator(&self, column: &str) -> Option<f64> {
        self.indicators
            .iter()
            .find(|(name, _)| name == column)
            .and_then(|(_, value)| *value)
    }
}

/// How one symbol ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Rated(Box<Evaluation>),
    Skipped(Skip),
    Failed(String),
}

/// Whether there is a bar to read: the first check, before the request's own filters.
pub fn has_bars(bars: &Bars) -> Result<(), Skip> {
    if bars.is_empty() {
        return Err(Skip::NoBars);
    }
    Ok(())
}

/// Whether the bars can be rated; on success, the 20-day average volume (which the result
/// reports). The request's own filters come between [`has_bars`] and this.
pub fn screen(bars: &Bars) -> Result<f64, Skip> {
    has_bars(bars)?;
    if bars.len() < MIN_BARS {
        return Err(Skip::TooFewBars { bars: bars.len() });
    }
    Ok(rating::average_volume(bars, AVG_VOLUME_WINDOW).unwrap_or(0.0))
}

/// The request-independent part: indicators, rating and alpha factors of the newest bar.
pub fn analyse(bars: &Bars, indicators: &IndicatorSet) -> Analysis {
    analyse_with(bars, indicators, Known::default())
}

/// Values of the newest bar a caller already has, computed for many windows of one history at
/// once (the backtest, through `RsiTrack`); each is exactly what the bars would give.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known {
    /// The newest RSI(2), the pullback reading's; `None` computes it from the bars.
    pub rsi_2: Option<Option<f64>>,
}

/// [`analyse`], with what the caller already [`Known`]s.
pub fn analyse_with(bars: &Bars, indicators: &IndicatorSet, known: Known) -> Analysis {
    let frame = match indicators.compute(bars) {
        Ok(frame) => frame,
        Err(e) => return Analysis::IndicatorsFailed(e.to_string()),
    };
    match rating::rate(bars, &frame) {
        Some(rating) => {
            let quarter_returns = components::quarter_log_returns(&bars.close);
            let rsi_2 = known
                .rsi_2
                .unwrap_or_else(|| momentum::rsi_last(&bars.close, 2).ok().flatten());
            Analysis::Rated {
                rating,
                indicators: frame.latest(),
                factors: alpha::factors_with(bars, &frame, quarter_returns.as_ref()),
                components: Box::new(Components::from_parts(
                    bars,
                    rsi_2,
                    quarter_returns.as_ref(),
                )),
            }
        }
        None => Analysis::Unrated,
    }
}

/// The outcome of bars that passed [`screen`] (with the average volume it returned) and their
/// [`analyse`]d values.
pub fn assemble(
    bars: &Bars,
    avg_volume_20: f64,
    analysis: &Analysis,
    quality: &SignalQuality,
    model: RatingModel,
) -> Outcome {
    let (rating, indicators, factors, components) = match analysis {
        Analysis::Rated {
            rating,
            indicators,
            factors,
            components,
        } => (rating, indicators, factors, components),
        Analysis::IndicatorsFailed(message) => {
            return Outcome::Failed(format!("indicators failed: {message}"));
        }
        Analysis::Unrated => return Outcome::Skipped(Skip::NoBars),
    };
    let n = bars.len();
    // `screen` let nothing shorter than MIN_BARS through; checked again rather than trusted,
    // since a caller may pair any bars with any analysis.
    if n < 2 {
        return Outcome::Skipped(Skip::TooFewBars { bars: n });
    }
    let rating = match model {
        RatingModel::Classic => *rating,
        RatingModel::Standard => match standard::rate(components, rating.trend_direction) {
            Some(rating) => rating,
            None => return Outcome::Skipped(Skip::NoReadings),
        },
    };
    let close = bars.close[n - 1];
    let previous = bars.close[n - 2];
    Outcome::Rated(Box::new(Evaluation {
        date: bars.dates[n - 1],
        close,
        change_pct: (close / previous - 1.0) * 100.0,
        volume: bars.volume[n - 1],
        avg_volume_20,
        bars: n,
        rating,
        high_quality: quality.is_high_quality(rating.signal, rating.tech_rating),
        indicators: indicators.clone(),
        factors: *factors,
        components: **components,
    }))
}

/// One symbol as of its newest bar: [`screen`], [`analyse`], [`assemble`].
pub fn evaluate(bars: &Bars, settings: &Settings) -> Outcome {
    evaluate_with(bars, settings, Known::default())
}

/// [`evaluate`], with what the caller already [`Known`]s.
pub fn evaluate_with(bars: &Bars, settings: &Settings, known: Known) -> Outcome {
    match screen(bars) {
        Ok(avg_volume_20) => assemble(
            bars,
            avg_volume_20,
            &analyse_with(bars, &settings.indicators, known),
            &settings.quality,
            settings.rating,
        ),
        Err(skip) => Outcome::Skipped(skip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(n: usize) -> Bars {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let mut bars = Bars::with_capacity(n);
        for i in 0..n {
            let close = 100.0 + (i as f64 / 9.0).sin() * 5.0 + i as f64 * 0.05;
            bars.dates.push(start + chrono::Days::new(i as u64));
            bars.open.push(close - 0.3);
            bars.high.push(close + 1.0);
            bars.low.push(close - 1.0);
            bars.close.push(close);
            bars.volume.push(1_000_000.0 + (i % 7) as f64 * 10_000.0);
        }
        bars
    }

    #[test]
    fn screen_says_what_is_missing() {
        assert_eq!(has_bars(&bars(0)), Err(Skip::NoBars));
        assert_eq!(screen(&bars(0)), Err(Skip::NoBars));
        assert_eq!(has_bars(&bars(150)), Ok(()));
        assert_eq!(screen(&bars(150)), Err(Skip::TooFewBars { bars: 150 }));
        assert_eq!(
            Skip::TooFewBars { bars: 150 }.to_string(),
            "only 150 bars of history; the rating needs 200 (SMA 200)"
        );
        let long = bars(300);
        assert_eq!(
            screen(&long),
            Ok(long.volume[280..].iter().sum::<f64>() / 20.0)
        );
    }

    #[test]
    fn evaluate_is_its_three_steps() {
        let bars = bars(300);
        let settings = Settings::default();
        let Outcome::Rated(evaluation) = evaluate(&bars, &settings) else {
            panic!("300 bars are rated");
        };
        let analysis = analyse(&bars, &settings.indicators);
        let avg = screen(&bars).expect("passes");
        assert_eq!(
            assemble(&bars, avg, &analysis, &settings.quality, settings.rating),
            Outcome::Rated(evaluation.clone())
        );
        assert_eq!(evaluation.bars, 300);
        assert_eq!(evaluation.date, *bars.dates.last().expect("bars"));
        assert_eq!(evaluation.indicator("rsi_14"), {
            let frame = settings.indicators.compute(&bars).expect("frame");
            frame.column("rsi_14").and_then(|c| c.last().copied())
        });
        assert_eq!(evaluation.indicator("no_such_column"), None);
    }
}
