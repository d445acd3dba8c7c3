//! What `analyse` hands back: every number the renders print, and the per-date series behind
//! them (the JSON report is this, serialized). `None` (JSON `null`) marks a value that is
//! undefined, never a zero: a standard deviation of one date, an IC of a date whose factor was
//! constant, a return past the end of the data.

use chrono::NaiveDate;
use serde::Serialize;

use crate::Provenance;

/// Everything `technic backtest` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The panel's evaluation dates.
    pub dates: Vec<NaiveDate>,
    /// Symbols in the panel (on any date).
    pub symbols: usize,
    pub quantiles: usize,
    pub cost_bps: f64,
    pub splits: Vec<NaiveDate>,
    pub provenance: Provenance,
    /// Median spacing of the evaluation dates in weekdays: the step the Newey–West lags are
    /// counted against.
    pub date_spacing_days: usize,
    pub factors: Vec<FactorReport>,
    /// Per horizon, the scanner's signal groups against the equal-weight universe.
    pub signal_groups: Vec<SignalGroups>,
    /// Per signal (and high quality), the share of the scanned universe it flags.
    pub selectivity: Vec<Selectivity>,
}

/// One factor, every horizon, and what its top quantile would have earned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorReport {
    pub name: String,
    pub horizons: Vec<HorizonReport>,
    /// Turnover of the top quantile from one evaluation date to the next.
    pub turnover: Turnover,
    pub portfolio: Portfolio,
}

/// One factor at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HorizonReport {
    pub horizon: usize,
    /// Autocovariance lags in the Newey–West errors: ⌈horizon / date spacing⌉ − 1.
    pub newey_west_lags: usize,
    pub ic: IcSummary,
    pub ic_by_year: Vec<PeriodIc>,
    /// One entry per sub-period of `--split`; empty without splits.
    pub ic_by_period: Vec<PeriodIc>,
    /// Quantile 1 (lowest factor values) first.
    pub quantiles: Vec<QuantileStats>,
    /// Top quantile minus bottom quantile, per date.
    pub spread: SpreadStats,
    pub skipped: SkippedDates,
    pub dropped: DroppedCells,
    pub series: Vec<HorizonDate>,
}

/// Summary of a per-date IC series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IcSummary {
    /// Dates with an IC.
    pub dates: usize,
    pub mean: Option<f64>,
    /// Sample standard deviation across dates.
    pub std: Option<f64>,
    /// Mean over its Newey–West standard error.
    pub t_stat: Option<f64>,
    /// Mean over standard deviation (per date, not annualised).
    pub information_ratio: Option<f64>,
    /// Share of dates with an IC above zero.
    pub positive_share: Option<f64>,
}

/// The IC summary over a calendar year or a sub-period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodIc {
    /// `2008`, or `2001-12-31..2009-12-31` for a sub-period.
    pub label: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub ic: IcSummary,
}

/// One quantile bucket, averaged over the dates where quantiles could be formed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantileStats {
    /// 1 ..= quantiles.
    pub quantile: usize,
    /// Mean over dates of the bucket's equal-weight mean forward return.
    pub mean_return: Option<f64>,
    /// The same, less each date's equal-weight universe mean (alphalens' `demeaned=True`).
    pub mean_excess: Option<f64>,
    /// Standard deviation across dates of the excess, over √dates (alphalens' `std_error`).
    pub excess_std_error: Option<f64>,
    /// Names in the bucket on an average date.
    pub mean_count: f64,
}

/// Top-minus-bottom quantile spread (the raw difference of the two buckets' mean returns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpreadStats {
    pub dates: usize,
    pub mean: Option<f64>,
    /// Newey–West t-stat of the mean.
    pub t_stat: Option<f64>,
    /// Share of dates on which the top bucket beat the bottom one.
    pub hit_rate: Option<f64>,
}

/// Dates left out of a factor's statistics at one horizon, by reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedDates {
    /// Fewer names with both a factor value and a forward return than quantiles: no IC, no
    /// quantiles.
    pub too_few_names: usize,
    /// Every name had the same factor value or the same return: the rank IC is undefined.
    pub constant: usize,
    /// Tied factor values made two quantile edges equal (pandas' qcut refuses; alphalens drops
    /// the date): IC kept, quantiles skipped.
    pub tied_quantile_edges: usize,
}

/// Symbol-dates of the scanned universe left out of a factor's statistics at one horizon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedCells {
    /// Scanned, but the factor is NaN (e.g. an indicator still in its warm-up).
    pub no_factor_value: usize,
    /// Factor value present but no forward return (t + horizon is past the data).
    pub no_forward_return: usize,
}

/// One evaluation date of one factor at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HorizonDate {
    pub date: NaiveDate,
    /// Names with both a factor value and a forward return.
    pub names: usize,
    pub ic: Option<f64>,
    /// Mean forward return of the top and bottom quantiles, and of the whole universe.
    pub top_return: Option<f64>,
    pub bottom_return: Option<f64>,
    pub universe_return: Option<f64>,
    pub top_minus_bottom: Option<f64>,
}

/// A dated value of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatedValue {
    pub date: NaiveDate,
    pub value: Option<f64>,
}

/// Top-quantile turnover: the share of the bucket's names that were not in it on the previous
/// date where it was formed (alphalens' `quantile_turnover`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Turnover {
    pub quantile: usize,
    pub mean: Option<f64>,
    pub series: Vec<DatedValue>,
}

/// The top-quantile long portfolio against the equal-weight universe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Portfolio {
    /// Net of costs.
    pub long: Performance,
    /// Before costs (an equal-weight universe is the benchmark, not a traded book).
    pub benchmark: Performance,
    /// Total costs paid, as the sum of each period's cost fraction.
    pub total_cost: f64,
    /// Held top-quantile names left out of a period because they have no close on the next
    /// evaluation date.
    pub missing_returns: usize,
    /// One entry per holding period: from `date` to the next evaluation date.
    pub periods: Vec<PortfolioPeriod>,
    /// Equity of both, starting at 1 on the first date.
    pub equity: Vec<EquityPoint>,
}

/// Annualised performance of an equity curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Performance {
    pub total_return: Option<f64>,
    pub cagr: Option<f64>,
    /// Standard deviation of period returns × √(periods per year).
    pub volatility: Option<f64>,
    /// Mean over standard deviation of period returns × √(periods per year); no risk-free rate.
    pub sharpe: Option<f64>,
    /// Largest fall from a running peak, as a positive fraction.
    pub max_drawdown: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortfolioPeriod {
    pub date: NaiveDate,
    pub holdings: usize,
    /// Σ|target weight − drifted weight|: buys plus sells, as a fraction of equity.
    pub traded: f64,
    pub cost: f64,
    pub gross_return: f64,
    pub net_return: f64,
    pub benchmark_return: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EquityPoint {
    pub date: NaiveDate,
    pub long: f64,
    pub benchmark: f64,
}

/// Signal groups at one horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalGroups {
    pub horizon: usize,
    pub newey_west_lags: usize,
    pub groups: Vec<SignalGroupStats>,
}

/// One group of the scanner's output against the equal-weight scanned universe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignalGroupStats {
    /// `STRONG_BUY` … `STRONG_SELL`, `HIGH_QUALITY`, `NOT_HIGH_QUALITY`.
    pub group: String,
    /// Dates on which the group had at least one name with a forward return.
    pub dates: usize,
    /// Mean over those dates of (group mean return − universe mean return).
    pub mean_excess: Option<f64>,
    pub t_stat: Option<f64>,
    /// Share of the group's symbol-dates whose return beat that date's universe mean.
    pub hit_rate: Option<f64>,
    /// Names flagged per scanned date, on average (dates with none count as zero).
    pub mean_count: f64,
}

/// The share of the scanned universe one signal flags.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selectivity {
    pub group: String,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub series: Vec<DatedValue>,
}
