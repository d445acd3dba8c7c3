//! The point-in-time panel a backtest judges: every symbol evaluated at every date exactly as
//! `technic scan --as-of DATE` evaluates it, with the same settings.
//!
//! Equality with the scan is by construction, not by imitation: the scan reads the newest
//! `lookback_days` bars dated on or before its as-of date and hands them to
//! [`technic_core::evaluate`]; the panel reads each symbol's history once, cuts the very same window
//! out of it in memory for each date, and calls the same function. The alpha score is the scan's
//! final one: the exact percentile over everything rated that date. Reading once and cutting in
//! memory is what makes the panel fast; evaluating symbols in parallel (rayon) is the rest.
//!
//! Memory: unlike a scan, which holds at most `lookback_days` bars per symbol, the panel holds
//! every symbol's whole history while it is built (0.7–0.8 GB peak for the daily panel of about
//! 500 symbols; docs/benchmarks.md has the figures). The statistics are `technic-backtest`'s; the engine depends on it
//! for the panel's types. Forward and next-period returns come from adjusted closes; the provenance
//! records survivorship bias and the symbol-dates left out, by reason.
//!
//! **Filters and screens** are the scan's (`filter.rs`), each at its place: `sectors` on the
//! universe, `min_price` and `min_avg_volume` on each date's window before it is rated (a refused
//! symbol-date is left out of the cross-section, counted as dropped), and those placed after the
//! analysis (a request's screen, `where` or `screen`) after the rating and alpha are placed over
//! the whole cross-section, as a scan's screen filters results without changing what they are
//! placed in. A factor may be an expression (`--factor
//! 'return_126 / atr_pct'`), evaluated on the same window; its cross-sectional functions are taken
//! over the symbols rated and trading that date. Both read the same point-in-time window as the
//! rating, and the screen's rating fields are the placed (final) ones.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;
use technic_backtest::{Dropped, Factor, ForwardReturns, Grid, Panel, Provenance, SignalCell};
use technic_core::alpha::{self, AlphaFactors};
use technic_core::evaluate::{self, Evaluation, Known, Outcome, Settings};
use technic_core::indicators::momentum::RsiTrack;
use technic_core::rating::components;
use technic_core::rating::{Rating, RatingModel, Signal, SignalQuality, standard};
use technic_core::{Bars, Indicator, IndicatorSet};
use technic_data::{BarWindow, DataError, MarketData};
use technic_screen::{Captured, Fields, Screen, ScreenOptions};

pub use crate::filter::NOT_MATCHED;
use crate::filter::{Filter, Place};
use crate::request::{GICS_SECTORS, ValidScan};
use crate::scan::select;

/// The factors judged when none is named: the rating, the alpha score, each sub-score, the signal.
pub const DEFAULT_FACTORS: [&str; 7] = [
    "tech_rating",
    "alpha_score",
    "trend_score",
    "momentum_score",
    "volume_score",
    "volatility_score",
    "signal",
];

/// The horizons judged when none is named, in trading days.
pub const DEFAULT_HORIZONS: [usize; 4] = [1, 5, 21, 63];

/// Fewest evaluation dates a panel may have: the statistics need at least three.
pub const MIN_DATES: usize = 3;

/// A member whose history ends more than this many trading days before the data's newest date has
/// left the universe; a universe with no such member is taken to be today's members only.
const DELISTED_AFTER: usize = 10;

/// Which dates of the data's calendar are evaluation dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Every {
    Day,
    /// The last trading day of each week (ISO weeks) in the data.
    Week,
    /// The last trading day of each month in the data.
    #[default]
    Month,
}

/// What to build: the scan's data selection and filters, plus the backtest's own dates, horizons
/// and factors.
#[derive(Debug, Clone)]
pub struct BacktestRequest {
    /// Symbols, sectors, `min_price`, `min_avg_volume` and `lookback_days` are read from it, as
    /// `technic scan` reads them.
    pub scan: ValidScan,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub every: Every,
    /// Trading days, each at least 1; empty means [`DEFAULT_HORIZONS`].
    pub horizons: Vec<usize>,
    /// Factor names or expressions as the user wrote them; empty means [`DEFAULT_FACTORS`].
    pub factors: Vec<String>,
}

/// Why a panel could not be built. `field` is the request field at fault (`from`, `to`,
/// `every`, `horizons`, `factor`), so a CLI can name its flag and a server its JSON field.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("could not read the universe: {0}")]
    Universe(DataError),
}

impl BacktestError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// The two stages of building a panel, for progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelStage {
    Loading,
    Evaluating,
}

/// A factor the panel can fill: a field of the evaluation, the alpha score, or an indicator column.
#[derive(Debug, Clone, PartialEq)]
enum FactorKind {
    TechRating,
    AlphaScore,
    TrendScore,
    MomentumScore,
    VolumeScore,
    VolatilityScore,
    Signal,
    Column(String),
    /// One of the standard rating's raw readings.
    Component(String),
    /// An expression (`--factor 'EXPR'`): the index of its program in [`Programs::factors`].
    Expression(usize),
}

/// What a backtest evaluates beside the rating: the filters placed after the analysis that
/// refuse anything, and the expression factors.
struct Programs<'a> {
    filters: Vec<Filter<'a>>,
    factors: Vec<Screen>,
}

impl Programs<'_> {
    fn is_empty(&self) -> bool {
        self.filters.is_empty() && self.factors.is_empty()
    }

    /// The filters first, then the factors: the order of [`Column::captured`].
    fn all(&self) -> impl Iterator<Item = &Screen> {
        self.filters.iter().map(|f| f.program).chain(&self.factors)
    }
}

/// A factor that is not a named one, compiled as a ranking expression. A plain name that is
/// neither is reported as the named factor's error (with the expression's suggestion), any other
/// text as the expression's error.
fn expression_factor(spec: &str, named_error: String) -> Result<Screen, BacktestError> {
    let options = ScreenOptions {
        sectors: GICS_SECTORS.iter().map(|s| (*s).to_owned()).collect(),
        ..ScreenOptions::default()
    };
    Screen::compile(None, Some(spec), &options).map_err(|(_, e)| {
        let plain = spec
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
        let message = if plain {
            match e.message.split_once("; did you mean") {
                Some((_, hint)) => format!("{named_error}; did you mean{hint}"),
                None => named_error,
            }
        } else {
            format!("'{spec}' is not a factor expression: {e}")
        };
        BacktestError::invalid("factor", message)
    })
}

/// The indicators a model's factors read. The classic rating reads the scan's whole default set;
/// the standard rating reads none (its readings come from the bars), and only `alpha_score` (ADX
/// and the directional indicators) and the reported trend direction (also SMA 50) need any. A
/// panel computes only these, plus the columns asked for: every value it reports is still the
/// scan's, since none of them reads a column left out, and it is what makes a daily backtest
/// affordable (the thirty columns were most of its time).
fn base_indicators(model: RatingModel) -> IndicatorSet {
    match model {
        RatingModel::Classic => IndicatorSet::default(),
        RatingModel::Standard => IndicatorSet::parse_list("sma_50,adx_14,plus_di_14,minus_di_14")
            .expect("the standard rating's base set is made of valid specs"),
    }
}

/// The factors by name, the indicators they read, and the expression factors' programs.
type Resolved = (Vec<(String, FactorKind)>, IndicatorSet, Vec<Screen>);

/// Resolves factor names, and the indicator set that computes every column asked for (the
/// model's base set first, so the rating reads the very columns the scan reads).
fn resolve_factors(names: &[String], model: RatingModel) -> Result<Resolved, BacktestError> {
    let defaults: Vec<String> = DEFAULT_FACTORS.iter().map(|s| (*s).to_owned()).collect();
    let names = if names.is_empty() { &defaults } else { names };
    let base = base_indicators(model);
    let scan_set = IndicatorSet::default();
    let base_columns = scan_set.columns();
    let mut indicators: Vec<Indicator> = base.indicators().to_vec();
    let mut resolved = Vec::new();
    let mut expressions = Vec::new();
    for written in names {
        let name = written.trim().to_ascii_lowercase();
        let kind = match name.as_str() {
            "tech_rating" => FactorKind::TechRating,
            "alpha_score" => FactorKind::AlphaScore,
            "trend_score" => FactorKind::TrendScore,
            "momentum_score" => FactorKind::MomentumScore,
            "volume_score" => FactorKind::VolumeScore,
            "volatility_score" => FactorKind::VolatilityScore,
            "signal" => FactorKind::Signal,
            component if components::NAMES.contains(&component) => {
                FactorKind::Component(component.to_owned())
            }
            column if base_columns.iter().any(|c| c == column) => {
                // A column of the scan's default set (`bb_upper`, `macd_hist`), which its
                // indicator's own spelling may not name.
                if let Some(indicator) = scan_set
                    .indicators()
                    .iter()
                    .find(|i| i.columns().iter().any(|c| c == column))
                    && !indicators.contains(indicator)
                {
                    indicators.push(*indicator);
                }
                FactorKind::Column(column.to_owned())
            }
            spec => {
                let indicator = match Indicator::parse(spec) {
                    Ok(indicator) => indicator,
                    Err(e) => {
                        let named_error = format!(
                            "unknown factor '{spec}' ({e}); known: {}, an indicator column such as rsi_14 or roc_63, or an expression such as 'return_126 / atr_pct'",
                            DEFAULT_FACTORS.join(", ")
                        );
                        let written = written.trim();
                        expressions.push(expression_factor(written, named_error)?);
                        if !resolved.iter().any(|(n, _)| n == written) {
                            resolved.push((
                                written.to_owned(),
                                FactorKind::Expression(expressions.len() - 1),
                            ));
                        }
                        continue;
                    }
                };
                let columns = indicator.columns();
                if !columns.iter().any(|c| c == spec) {
                    return Err(BacktestError::invalid(
                        "factor",
                        format!(
                            "'{spec}' has several columns ({}); name one of them",
                            columns.join(", ")
                        ),
                    ));
                }
                if !indicators.contains(&indicator) {
                    indicators.push(indicator);
                }
                FactorKind::Column(spec.to_owned())
            }
        };
        if resolved.iter().any(|(n, _)| n == &name) {
            continue;
        }
        resolved.push((name, kind));
    }
    Ok((resolved, IndicatorSet::new(indicators), expressions))
}

/// Symbol, history (the whole of it, or why it could not be read).
type History = (String, Result<Bars, DataError>);

/// One symbol's values at every evaluation date.
struct Column {
    /// `values[date * factors + factor]`, NaN where not rated; alpha is filled in later.
    values: Vec<f64>,
    alpha_factors: Vec<Option<AlphaFactors>>,
    /// The standard rating's composite wherever the symbol was rated, trading that day or not:
    /// the cross-section its `tech_rating` is placed in.
    composites: Vec<Option<f64>>,
    signals: Vec<Option<SignalCell>>,
    /// `returns[horizon][date]`.
    forward: Vec<Vec<f64>>,
    next_period: Vec<f64>,
    dropped: BTreeMap<String, usize>,
    /// With [`Programs`]: `captured[program][date]`, what each reads of the window, where the
    /// symbol was rated and trading.
    captured: Vec<Vec<Option<Captured>>>,
    /// With [`Programs`]: the evaluated rating fields (rating, then the four sub-scores) where
    /// the symbol was rated and trading.
    fields: Vec<Option<[f64; 5]>>,
}

/// What can be checked of a request before any data is read: its factors and horizons. (Its dates
/// need the data's calendar and are checked by [`build_panel`].)
pub fn check(request: &BacktestRequest) -> Result<(), BacktestError> {
    resolve_factors(&request.factors, request.scan.rating)?;
    horizons(&request.horizons)?;
    Ok(())
}

/// Builds the panel. `progress` is called with each stage's done and total counts (symbols).
pub fn build_panel(
    source: &dyn MarketData,
    request: &BacktestRequest,
    progress: &(dyn Fn(PanelStage, usize, usize) + Sync),
) -> Result<Panel, BacktestError> {
    let (factors, indicators, expressions) =
        resolve_factors(&request.factors, request.scan.rating)?;
    let programs = Programs {
        filters: request
            .scan
            .filters_at(Place::AfterAnalysis)
            .filter(|f| f.program.has_filter())
            .collect(),
        factors: expressions,
    };
    let horizons = horizons(&request.horizons)?;
    let universe = select(
        source.universe().map_err(BacktestError::Universe)?,
        &request.scan,
    );
    let total = universe.len();
    let loaded = AtomicUsize::new(0);
    let histories: Vec<History> = universe
        .par_iter()
        .map(|info| {
            let bars = source.bars(&info.symbol, &BarWindow::default());
            progress(
                PanelStage::Loading,
                loaded.fetch_add(1, Ordering::Relaxed) + 1,
                total,
            );
            (info.symbol.clone(), bars)
        })
        .collect();
    let dates = evaluation_dates(&histories, request)?;
    let settings = Settings {
        indicators,
        quality: SignalQuality::default(),
        rating: request.scan.rating,
    };
    let evaluated = AtomicUsize::new(0);
    let columns: Vec<Column> = histories
        .par_iter()
        .zip(universe.par_iter())
        .map(|((_, bars), info)| {
            let column = evaluate_symbol(
                (bars.as_ref(), info.sector.as_deref()),
                &dates,
                &factors,
                &horizons,
                &settings,
                &request.scan,
                &programs,
            );
            progress(
                PanelStage::Evaluating,
                evaluated.fetch_add(1, Ordering::Relaxed) + 1,
                total,
            );
            column
        })
        .collect();
    let sectors: Vec<Option<String>> = universe.iter().map(|i| i.sector.clone()).collect();
    let (mut panel, placed) =
        assemble_panel(source, &histories, dates, &factors, &horizons, &columns);
    if !programs.is_empty() {
        apply_programs(&mut panel, &factors, &programs, &columns, &sectors, &placed);
    }
    Ok(panel)
}

fn horizons(asked: &[usize]) -> Result<Vec<usize>, BacktestError> {
    let mut horizons = if asked.is_empty() {
        DEFAULT_HORIZONS.to_vec()
    } else {
        asked.to_vec()
    };
    if horizons.contains(&0) {
        return Err(BacktestError::invalid(
            "horizons",
            "a horizon is a number of trading days, at least 1 (got 0)",
        ));
    }
    horizons.sort_unstable();
    horizons.dedup();
    Ok(horizons)
}

/// The data's trading days (every date any symbol has a bar) within `from`..=`to`, thinned to
/// `every`.
fn evaluation_dates(
    histories: &[History],
    request: &BacktestRequest,
) -> Result<Vec<NaiveDate>, BacktestError> {
    let calendar: BTreeSet<NaiveDate> = histories
        .iter()
        .filter_map(|(_, bars)| bars.as_ref().ok())
        .flat_map(|bars| bars.dates.iter().copied())
        .collect();
    let (Some(&first), Some(&last)) = (calendar.first(), calendar.last()) else {
        return Err(BacktestError::invalid(
            "symbols",
            "no symbol of the universe has any bars to evaluate",
        ));
    };
    let range = format!("the data runs from {first} to {last}");
    if let (Some(from), Some(to)) = (request.from, request.to)
        && from > to
    {
        return Err(BacktestError::invalid(
            "from",
            format!("{from} is after --to {to}"),
        ));
    }
    if let Some(from) = request.from
        && from > last
    {
        return Err(BacktestError::invalid(
            "from",
            format!("{from} is outside the data: {range}"),
        ));
    }
    if let Some(to) = request.to
        && to < first
    {
        return Err(BacktestError::invalid(
            "to",
            format!("{to} is outside the data: {range}"),
        ));
    }
    let from = request.from.unwrap_or(first);
    let to = request.to.unwrap_or(last);
    let days: Vec<NaiveDate> = calendar.range(from..=to).copied().collect();
    let period = |d: &NaiveDate| -> (i32, u32) {
        match request.every {
            Every::Day => (d.year(), d.ordinal()),
            Every::Week => (d.iso_week().year(), d.iso_week().week()),
            Every::Month => (d.year(), d.month()),
        }
    };
    let dates: Vec<NaiveDate> = days
        .iter()
        .enumerate()
        .filter(|&(i, d)| days.get(i + 1).is_none_or(|next| period(next) != period(d)))
        .map(|(_, d)| *d)
        .collect();
    if dates.len() < MIN_DATES {
        return Err(BacktestError::invalid(
            "every",
            format!(
                "{} evaluation dates between {from} and {to}; at least {MIN_DATES} are needed ({range})",
                dates.len()
            ),
        ));
    }
    Ok(dates)
}

/// A symbol (its history and sector) at every date: the window `scan --as-of date` reads, judged
/// by the scan's bar filters and evaluated by the scan's function.
fn evaluate_symbol(
    (bars, sector): (Result<&Bars, &DataError>, Option<&str>),
    dates: &[NaiveDate],
    factors: &[(String, FactorKind)],
    horizons: &[usize],
    settings: &Settings,
    scan: &ValidScan,
    programs: &Programs<'_>,
) -> Column {
    let lookback_days = scan.lookback_days;
    let cells = dates.len();
    let mut column = Column::empty(cells, factors.len(), horizons.len(), programs);
    let bars = match bars {
        Ok(bars) => bars,
        Err(_) => {
            column
                .dropped
                .insert("bars could not be read (see `technic scan`)".into(), cells);
            return column;
        }
    };
    // The pullback reading's RSI(2) of every window, from one smoothing of the whole history.
    let rsi_2 = RsiTrack::new(&bars.close, 2).ok();
    let mut window = Bars::with_capacity(lookback_days);
    for (d, date) in dates.iter().enumerate() {
        // Bars dated on or before the date, the newest `lookback_days` of them: the scan's window.
        let end = bars.dates.partition_point(|bar| bar <= date);
        if end == 0 {
            column.count_dropped("not listed yet (no bars on or before the date)");
            continue;
        }
        // The scan rates a symbol with no bar on the date by its last bar, and that rating is
        // part of the universe its alpha percentiles are taken over; so is it here. Only its own
        // values are left out: a backtest must not trade a name that had no price that day.
        let trading = bars.dates[end - 1] == *date;
        if trading {
            column.record_returns(bars, end, d, dates.get(d + 1), horizons);
        }
        let start = end.saturating_sub(lookback_days);
        let known = Known {
            rsi_2: rsi_2
                .as_ref()
                .and_then(|track| track.last_of(&bars.close, start, end).ok()),
        };
        cut_window(&mut window, bars, start, end);
        let evaluation = match judge(&window, sector, scan, settings, known) {
            Ok(evaluation) => evaluation,
            Err(reason) => {
                column.count_dropped(reason);
                continue;
            }
        };
        column.alpha_factors[d] = Some(evaluation.factors);
        column.composites[d] = evaluation.rating.composite;
        if !trading {
            column.count_dropped("no bar on the date (not trading)");
            continue;
        }
        if !programs.is_empty() {
            let captured: Vec<Option<Captured>> =
                programs.all().map(|p| p.capture(&window).ok()).collect();
            // A filter that cannot be evaluated cannot admit the symbol that date.
            if captured[..programs.filters.len()]
                .iter()
                .any(Option::is_none)
            {
                column.count_dropped("the screen's indicators failed");
                continue;
            }
            column.record_screen(d, captured, &evaluation.rating);
        }
        column.record_factors(d, factors, &evaluation);
        column.signals[d] = Some(SignalCell {
            signal: evaluation.rating.signal,
            high_quality: evaluation.high_quality,
        });
    }
    column
}

/// One date's window as the scan judges it: the request's bar filters between "no rows"
/// (impossible here) and the core's own checks, then the evaluation; or why it was dropped.
fn judge(
    window: &Bars,
    sector: Option<&str>,
    scan: &ValidScan,
    settings: &Settings,
    known: Known,
) -> Result<Box<Evaluation>, &'static str> {
    match scan.refuse_bars(window, sector) {
        Ok(None) => {}
        Ok(Some(refusal)) => return Err(refusal.filter.rule()),
        Err(_) => return Err("indicators failed"),
    }
    match evaluate::evaluate_with(window, settings, known) {
        Outcome::Rated(evaluation) => Ok(evaluation),
        Outcome::Skipped(skip) => Err(skip.rule()),
        Outcome::Failed(_) => Err("indicators failed"),
    }
}

impl Column {
    /// A symbol's column before any date is evaluated: every value missing.
    fn empty(cells: usize, factors: usize, horizons: usize, programs: &Programs<'_>) -> Self {
        Column {
            values: vec![f64::NAN; cells * factors],
            alpha_factors: vec![None; cells],
            composites: vec![None; cells],
            signals: vec![None; cells],
            forward: vec![vec![f64::NAN; cells]; horizons],
            next_period: vec![f64::NAN; cells],
            dropped: BTreeMap::new(),
            captured: programs.all().map(|_| vec![None; cells]).collect(),
            fields: if programs.is_empty() {
                Vec::new()
            } else {
                vec![None; cells]
            },
        }
    }

    fn count_dropped(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_owned()).or_default() += 1;
    }

    /// The forward returns of a symbol that traded on date `d` (its last bar at `end - 1`): to
    /// each horizon, and to the next evaluation date's close.
    fn record_returns(
        &mut self,
        bars: &Bars,
        end: usize,
        d: usize,
        next_date: Option<&NaiveDate>,
        horizons: &[usize],
    ) {
        let close = bars.close[end - 1];
        for (h, &horizon) in horizons.iter().enumerate() {
            if let Some(&later) = bars.close.get(end - 1 + horizon) {
                self.forward[h][d] = later / close - 1.0;
            }
        }
        if let Some(next) = next_date
            && let Ok(i) = bars.dates[end..].binary_search(next)
        {
            self.next_period[d] = bars.close[end + i] / close - 1.0;
        }
    }

    /// What a screen reads on date `d`: its programs' captured values and the rating's fields.
    fn record_screen(&mut self, d: usize, captured: Vec<Option<Captured>>, rating: &Rating) {
        for (p, captured) in captured.into_iter().enumerate() {
            self.captured[p][d] = captured;
        }
        self.fields[d] = Some([
            rating.tech_rating,
            rating.trend_score,
            rating.momentum_score,
            rating.volume_score,
            rating.volatility_score,
        ]);
    }

    /// Each factor's value on date `d` (alpha and expressions are placed later, across symbols).
    fn record_factors(
        &mut self,
        d: usize,
        factors: &[(String, FactorKind)],
        evaluation: &Evaluation,
    ) {
        let rating = &evaluation.rating;
        for (f, (_, kind)) in factors.iter().enumerate() {
            self.values[d * factors.len() + f] = match kind {
                FactorKind::TechRating => rating.tech_rating,
                FactorKind::TrendScore => rating.trend_score,
                FactorKind::MomentumScore => rating.momentum_score,
                FactorKind::VolumeScore => rating.volume_score,
                FactorKind::VolatilityScore => rating.volatility_score,
                FactorKind::Signal => signal_ordinal(rating.signal),
                FactorKind::AlphaScore | FactorKind::Expression(_) => f64::NAN,
                FactorKind::Column(name) => evaluation.indicator(name).unwrap_or(f64::NAN),
                FactorKind::Component(name) => evaluation
                    .components
                    .by_name(name)
                    .flatten()
                    .unwrap_or(f64::NAN),
            };
        }
    }
}

/// The panel's statistics (`technic_backtest::analyse`), its factors on rayon's threads: the
/// statistics crate runs no threads of its own, and a daily panel's take seconds in turn.
pub fn analyse(
    panel: &Panel,
    options: &technic_backtest::StatsOptions,
) -> Result<technic_backtest::Report, technic_backtest::StatsError> {
    technic_backtest::analyse_with(panel, options, |count, job| {
        (0..count).into_par_iter().map(job).collect()
    })
}

/// `STRONG_SELL` −2 … `STRONG_BUY` 2.
pub fn signal_ordinal(signal: Signal) -> f64 {
    match signal {
        Signal::StrongSell => -2.0,
        Signal::Sell => -1.0,
        Signal::Hold => 0.0,
        Signal::Buy => 1.0,
        Signal::StrongBuy => 2.0,
    }
}

/// Makes `window` bars `start..end` of `bars`, as the source would hand them to a scan cut at
/// `bars.dates[end-1]`. One buffer serves every date of a symbol: a daily panel cuts 2.4 million
/// windows, and allocating each was a tenth of its time.
fn cut_window(window: &mut Bars, bars: &Bars, start: usize, end: usize) {
    fn copy<T: Copy>(into: &mut Vec<T>, from: &[T]) {
        into.clear();
        into.extend_from_slice(from);
    }
    copy(&mut window.dates, &bars.dates[start..end]);
    copy(&mut window.open, &bars.open[start..end]);
    copy(&mut window.high, &bars.high[start..end]);
    copy(&mut window.low, &bars.low[start..end]);
    copy(&mut window.close, &bars.close[start..end]);
    copy(&mut window.volume, &bars.volume[start..end]);
}

/// The columns side by side as the panel's date-major grids, with each date's alpha scores.
fn assemble_panel(
    source: &dyn MarketData,
    histories: &[History],
    dates: Vec<NaiveDate>,
    factors: &[(String, FactorKind)],
    horizons: &[usize],
    columns: &[Column],
) -> (Panel, Vec<Option<f64>>) {
    let symbols: Vec<String> = histories.iter().map(|(s, _)| s.clone()).collect();
    let n = symbols.len();
    let cells = dates.len() * n;
    let grid = |value: &dyn Fn(usize, &Column) -> f64| Grid {
        values: (0..cells).map(|i| value(i / n, &columns[i % n])).collect(),
    };
    let mut panel_factors: Vec<Factor> = factors
        .iter()
        .enumerate()
        .map(|(f, (name, _))| Factor {
            name: name.clone(),
            values: grid(&|d, c| c.values[d * factors.len() + f]),
        })
        .collect();
    if let Some(alpha) = factors
        .iter()
        .position(|(_, kind)| *kind == FactorKind::AlphaScore)
    {
        fill_alpha(&mut panel_factors[alpha].values, columns, dates.len());
    }
    let forward_returns = horizons
        .iter()
        .enumerate()
        .map(|(h, &horizon)| ForwardReturns {
            horizon,
            values: grid(&|d, c| c.forward[h][d]),
        })
        .collect();
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    for column in columns {
        for (reason, count) in &column.dropped {
            *dropped.entry(reason.clone()).or_default() += count;
        }
    }
    let mut signals: Vec<Option<SignalCell>> =
        (0..cells).map(|i| columns[i % n].signals[i / n]).collect();
    let placed = place_ratings(
        &mut panel_factors,
        factors,
        &mut signals,
        columns,
        dates.len(),
    );
    let panel = Panel {
        next_period_returns: grid(&|d, c| c.next_period[d]),
        signals,
        symbols,
        factors: panel_factors,
        forward_returns,
        provenance: Provenance {
            source: source.info().description,
            survivorship_bias: survivorship_bias(histories),
            dropped: dropped
                .into_iter()
                .map(|(reason, symbol_dates)| Dropped {
                    reason,
                    symbol_dates,
                })
                .collect(),
        },
        dates,
    };
    (panel, placed)
}

/// Fills the expression factors and applies the screen's filter, date by date over the symbols
/// rated and trading, with the placed rating, signal and alpha score as their fields.
fn apply_programs(
    panel: &mut Panel,
    factors: &[(String, FactorKind)],
    programs: &Programs<'_>,
    columns: &[Column],
    sectors: &[Option<String>],
    placed: &[Option<f64>],
) {
    let n = columns.len();
    let dates = panel.dates.len();
    let mut alpha = Grid {
        values: vec![f64::NAN; dates * n],
    };
    fill_alpha(&mut alpha, columns, dates);
    let offset = programs.filters.len();
    let mut refused: BTreeMap<&'static str, usize> = BTreeMap::new();
    for d in 0..dates {
        let cells: Vec<(usize, Fields<'_>)> = (0..n)
            .filter_map(|s| {
                let cell = d * n + s;
                let signal = panel.signals[cell]?;
                let [tech_rating, trend, momentum, volume, volatility] = columns[s].fields[d]?;
                Some((
                    s,
                    Fields {
                        tech_rating: placed[cell].unwrap_or(tech_rating),
                        alpha_score: alpha.values[cell],
                        trend_score: trend,
                        momentum_score: momentum,
                        volume_score: volume,
                        volatility_score: volatility,
                        sector: sectors[s].as_deref(),
                        signal: Some(signal.signal.as_str()),
                    },
                ))
            })
            .collect();
        let judge = |program: &Screen, p: usize| -> Vec<(usize, technic_screen::Verdict)> {
            let rows: Vec<(usize, (&Captured, Fields<'_>))> = cells
                .iter()
                .filter_map(|(s, fields)| {
                    Some((*s, (columns[*s].captured[p][d].as_ref()?, *fields)))
                })
                .collect();
            let (symbols, rows): (Vec<usize>, Vec<_>) = rows.into_iter().unzip();
            symbols.into_iter().zip(program.judge(&rows)).collect()
        };
        for (f, (_, kind)) in factors.iter().enumerate() {
            if let FactorKind::Expression(k) = kind {
                for (s, verdict) in judge(&programs.factors[*k], offset + k) {
                    panel.factors[f].values.values[d * n + s] = verdict.rank_value;
                }
            }
        }
        // In order: a symbol-date is counted under the first filter that refuses it.
        for (p, filter) in programs.filters.iter().enumerate() {
            for (s, verdict) in judge(filter.program, p) {
                let cell = d * n + s;
                if !verdict.matches && panel.signals[cell].is_some() {
                    panel.signals[cell] = None;
                    for factor in &mut panel.factors {
                        factor.values.values[cell] = f64::NAN;
                    }
                    *refused.entry(filter.name.rule()).or_default() += 1;
                }
            }
        }
    }
    if !refused.is_empty() {
        for (reason, symbol_dates) in refused {
            panel.provenance.dropped.push(Dropped {
                reason: reason.to_owned(),
                symbol_dates,
            });
        }
        panel
            .provenance
            .dropped
            .sort_by(|a, b| a.reason.cmp(&b.reason));
    }
}

/// The scan's final alpha score at each date: the exact percentile over everything rated that date.
fn fill_alpha(grid: &mut Grid, columns: &[Column], dates: usize) {
    let n = columns.len();
    for d in 0..dates {
        let rated: Vec<(usize, AlphaFactors)> = columns
            .iter()
            .enumerate()
            .filter_map(|(s, c)| c.alpha_factors[d].map(|f| (s, f)))
            .collect();
        let universe: Vec<AlphaFactors> = rated.iter().map(|(_, f)| *f).collect();
        for ((s, _), score) in rated.iter().zip(alpha::alpha_scores(&universe)) {
            grid.values[d * n + s] = score.unwrap_or(f64::NAN);
        }
    }
}

/// The scan's final standard rating at each date: the composite's exact percentile over
/// everything rated that date, with the signal and quality that follow. A date with fewer than
/// [`standard::MIN_CROSS_SECTION`] rated keeps the prior placement, as such a scan without a stored
/// distribution does. Classic ratings have no composite and are left as evaluated.
fn place_ratings(
    panel_factors: &mut [Factor],
    factors: &[(String, FactorKind)],
    signals: &mut [Option<SignalCell>],
    columns: &[Column],
    dates: usize,
) -> Vec<Option<f64>> {
    let n = columns.len();
    let mut placed_ratings = vec![None; dates * n];
    let quality = SignalQuality::default();
    let rating = factors
        .iter()
        .position(|(_, kind)| *kind == FactorKind::TechRating);
    let signal = factors
        .iter()
        .position(|(_, kind)| *kind == FactorKind::Signal);
    for d in 0..dates {
        let composites: Vec<Option<f64>> = columns.iter().map(|c| c.composites[d]).collect();
        if composites.iter().flatten().count() < standard::MIN_CROSS_SECTION {
            continue;
        }
        for (s, percentile) in standard::cross_section_percentiles(&composites)
            .into_iter()
            .enumerate()
        {
            let cell = d * n + s;
            // Only where the symbol traded that day: the others are in the cross-section but
            // not in the panel's values.
            let (Some(percentile), Some(slot)) = (percentile, signals[cell].as_mut()) else {
                continue;
            };
            let placed = standard::signal(percentile);
            *slot = SignalCell {
                signal: placed,
                high_quality: quality.is_high_quality(placed, percentile),
            };
            placed_ratings[cell] = Some(percentile);
            if let Some(f) = rating {
                panel_factors[f].values.values[cell] = percentile;
            }
            if let Some(f) = signal {
                panel_factors[f].values.values[cell] = signal_ordinal(placed);
            }
        }
    }
    placed_ratings
}

/// Whether the universe can only be today's members: no member's history ends more than
/// [`DELISTED_AFTER`] trading days before the newest date in the data. A universe that kept its
/// leavers would have some; one list of current constituents (as `../shared/data/sp500`, April
/// 2021) has none, and its results carry survivorship bias.
fn survivorship_bias(histories: &[History]) -> bool {
    let ends: Vec<NaiveDate> = histories
        .iter()
        .filter_map(|(_, bars)| bars.as_ref().ok()?.last_date())
        .collect();
    if ends.is_empty() {
        return false;
    }
    let calendar: BTreeSet<NaiveDate> = histories
        .iter()
        .filter_map(|(_, bars)| bars.as_ref().ok())
        .flat_map(|bars| bars.dates.iter().rev().take(DELISTED_AFTER + 1).copied())
        .collect();
    let cutoff = calendar
        .iter()
        .rev()
        .nth(DELISTED_AFTER)
        .copied()
        .unwrap_or(NaiveDate::MIN);
    ends.iter().all(|end| *end >= cutoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standard_panel_computes_every_column_its_values_read() {
        let columns = base_indicators(RatingModel::Standard).columns();
        // alpha_score's trend strength, and the classic trend direction the standard rating
        // reports (price against SMA 50, the directional indicators).
        for needed in alpha::COLUMNS_READ.iter().chain(&["sma_50"]) {
            assert!(columns.iter().any(|c| c == needed), "{needed}");
        }
        assert_eq!(
            base_indicators(RatingModel::Classic),
            IndicatorSet::default()
        );
    }
}
