//! One factor at one horizon: the per-date cross-section (rank IC, quantile buckets) and its
//! summaries over dates, years and sub-periods.
//!
//! Each date's cross-section is the names with a finite factor value *and* a finite forward
//! return at that horizon (alphalens' `get_clean_factor` with that one horizon's returns).
//! alphalens drops a name from every horizon when any one horizon lacks a return; technic keeps
//! each horizon's own names, so the 1-day IC is not shortened by the 63-day horizon's end of data.

use chrono::{Datelike, NaiveDate};

use crate::arith::{
    assign_buckets, average_ranks, mean, newey_west_t, pearson, qcut_edges, sample_std,
};
use crate::report::{
    DroppedCells, HorizonDate, HorizonReport, IcSummary, PeriodIc, QuantileStats, SkippedDates,
    SpreadStats,
};

/// One date's factor values and forward returns, with each side's finite names pre-sorted by
/// value (sorting once per factor and once per horizon, not once per pair, is what keeps a
/// daily backtest fast).
pub(crate) struct CrossSectionInput<'a> {
    pub factor: &'a [f64],
    pub returns: &'a [f64],
    pub factor_order: &'a [usize],
    pub return_order: &'a [usize],
}

/// Buffers reused across dates so a cross-section allocates nothing.
pub(crate) struct Scratch {
    in_clean: Vec<bool>,
    factor_rank: Vec<f64>,
    return_rank: Vec<f64>,
    clean: Vec<usize>,
    clean_by_return: Vec<usize>,
    clean_values: Vec<f64>,
}

impl Scratch {
    pub fn new(symbols: usize) -> Self {
        Self {
            in_clean: vec![false; symbols],
            factor_rank: vec![0.0; symbols],
            return_rank: vec![0.0; symbols],
            clean: Vec::with_capacity(symbols),
            clean_by_return: Vec::with_capacity(symbols),
            clean_values: Vec::with_capacity(symbols),
        }
    }
}

/// Per bucket (index 0 = quantile 1): the mean return (`None` for a bucket with no names)
/// and the count.
pub(crate) type Buckets = Vec<(Option<f64>, usize)>;

/// What one date contributed.
#[derive(Debug, Default)]
pub(crate) struct DateOutcome {
    pub names: usize,
    pub ic: Option<f64>,
    pub universe_mean: Option<f64>,
    /// `None` when quantiles could not be formed that date.
    pub buckets: Option<Buckets>,
    pub too_few: bool,
    pub constant: bool,
    pub tied_edges: bool,
}

pub(crate) fn cross_section(
    input: &CrossSectionInput,
    quantiles: usize,
    probabilities: &[f64],
    scratch: &mut Scratch,
) -> DateOutcome {
    let Scratch {
        in_clean,
        factor_rank,
        return_rank,
        clean,
        clean_by_return,
        clean_values,
    } = scratch;
    clean.clear();
    clean.extend(
        input
            .factor_order
            .iter()
            .copied()
            .filter(|&s| input.returns[s].is_finite()),
    );
    let mut outcome = DateOutcome {
        names: clean.len(),
        ..DateOutcome::default()
    };
    if clean.len() < quantiles {
        outcome.too_few = true;
        return outcome;
    }
    for &s in clean.iter() {
        in_clean[s] = true;
    }
    clean_by_return.clear();
    clean_by_return.extend(input.return_order.iter().copied().filter(|&s| in_clean[s]));
    for &s in clean.iter() {
        in_clean[s] = false;
    }
    average_ranks(clean, |s| input.factor[s], factor_rank);
    average_ranks(clean_by_return, |s| input.returns[s], return_rank);
    outcome.ic = pearson(clean.iter().map(|&s| (factor_rank[s], return_rank[s])));
    outcome.constant = outcome.ic.is_none();
    outcome.universe_mean =
        Some(clean.iter().map(|&s| input.returns[s]).sum::<f64>() / clean.len() as f64);

    clean_values.clear();
    clean_values.extend(clean.iter().map(|&s| input.factor[s]));
    match qcut_edges(clean_values, probabilities) {
        None => outcome.tied_edges = true,
        Some(edges) => {
            let mut sums = vec![(0.0, 0usize); quantiles];
            assign_buckets(clean_values, &edges, |position, bucket| {
                let slot = &mut sums[bucket - 1];
                slot.0 += input.returns[clean[position]];
                slot.1 += 1;
            });
            outcome.buckets = Some(
                sums.into_iter()
                    .map(|(sum, n)| ((n > 0).then(|| sum / n as f64), n))
                    .collect(),
            );
        }
    }
    outcome
}

/// Summary of an IC series (the values of the dates that had one).
pub(crate) fn ic_summary(ics: &[f64], lags: usize) -> IcSummary {
    let m = mean(ics);
    let std = sample_std(ics);
    IcSummary {
        dates: ics.len(),
        mean: m,
        std,
        t_stat: newey_west_t(ics, lags),
        information_ratio: match (m, std) {
            (Some(m), Some(s)) if s > 0.0 => Some(m / s),
            _ => None,
        },
        positive_share: (!ics.is_empty())
            .then(|| ics.iter().filter(|&&v| v > 0.0).count() as f64 / ics.len() as f64),
    }
}

/// The IC summary per calendar year.
pub(crate) fn ic_by_year(series: &[HorizonDate], lags: usize) -> Vec<PeriodIc> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < series.len() {
        let year = series[start].date.year();
        let end = start
            + series[start..]
                .iter()
                .take_while(|d| d.date.year() == year)
                .count();
        out.push(period_ic(year.to_string(), &series[start..end], lags));
        start = end;
    }
    out
}

/// The IC summary per sub-period: each split date starts a new one.
pub(crate) fn ic_by_split(
    series: &[HorizonDate],
    splits: &[NaiveDate],
    lags: usize,
) -> Vec<PeriodIc> {
    if splits.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < series.len() {
        let next_split = splits.iter().find(|&&s| s > series[start].date);
        let end = start
            + series[start..]
                .iter()
                .take_while(|d| next_split.is_none_or(|&s| d.date < s))
                .count();
        let slice = &series[start..end];
        let label = format!("{}..{}", slice[0].date, slice[slice.len() - 1].date);
        out.push(period_ic(label, slice, lags));
        start = end;
    }
    out
}

fn period_ic(label: String, slice: &[HorizonDate], lags: usize) -> PeriodIc {
    let ics: Vec<f64> = slice.iter().filter_map(|d| d.ic).collect();
    PeriodIc {
        label,
        from: slice[0].date,
        to: slice[slice.len() - 1].date,
        ic: ic_summary(&ics, lags),
    }
}

/// Everything one factor at one horizon reports, from its per-date outcomes.
pub(crate) struct HorizonInputs<'a> {
    pub horizon: usize,
    pub lags: usize,
    pub quantiles: usize,
    pub dates: &'a [NaiveDate],
    pub splits: &'a [NaiveDate],
    pub outcomes: Vec<DateOutcome>,
    pub dropped: DroppedCells,
}

pub(crate) fn horizon_report(inputs: HorizonInputs) -> HorizonReport {
    let HorizonInputs {
        horizon,
        lags,
        quantiles,
        dates,
        splits,
        outcomes,
        dropped,
    } = inputs;
    let skipped = SkippedDates {
        too_few_names: outcomes.iter().filter(|o| o.too_few).count(),
        constant: outcomes.iter().filter(|o| o.constant).count(),
        tied_quantile_edges: outcomes.iter().filter(|o| o.tied_edges).count(),
    };
    let series: Vec<HorizonDate> = dates
        .iter()
        .zip(&outcomes)
        .map(|(&date, o)| horizon_date(date, o))
        .collect();
    let ics: Vec<f64> = series.iter().filter_map(|d| d.ic).collect();
    let spreads: Vec<f64> = series.iter().filter_map(|d| d.top_minus_bottom).collect();
    HorizonReport {
        horizon,
        newey_west_lags: lags,
        ic: ic_summary(&ics, lags),
        ic_by_year: ic_by_year(&series, lags),
        ic_by_period: ic_by_split(&series, splits, lags),
        quantiles: quantile_stats(&outcomes, quantiles),
        spread: SpreadStats {
            dates: spreads.len(),
            mean: mean(&spreads),
            t_stat: newey_west_t(&spreads, lags),
            hit_rate: (!spreads.is_empty()).then(|| {
                spreads.iter().filter(|&&s| s > 0.0).count() as f64 / spreads.len() as f64
            }),
        },
        skipped,
        dropped,
        series,
    }
}

fn horizon_date(date: NaiveDate, outcome: &DateOutcome) -> HorizonDate {
    let bucket = |i: usize| outcome.buckets.as_ref().and_then(|b| b[i].0);
    let (bottom, top) = match &outcome.buckets {
        Some(b) => (bucket(0), bucket(b.len() - 1)),
        None => (None, None),
    };
    HorizonDate {
        date,
        names: outcome.names,
        ic: outcome.ic,
        top_return: top,
        bottom_return: bottom,
        universe_return: outcome.universe_mean,
        top_minus_bottom: top.zip(bottom).map(|(t, b)| t - b),
    }
}

/// alphalens' `mean_return_by_quantile(by_date=False)`: each bucket's per-date mean, then the
/// mean over the dates that bucket had names; raw and demeaned by the date's universe mean.
fn quantile_stats(outcomes: &[DateOutcome], quantiles: usize) -> Vec<QuantileStats> {
    let formed: Vec<(&Buckets, f64)> = outcomes
        .iter()
        .filter_map(|o| o.buckets.as_ref().zip(o.universe_mean))
        .collect();
    (0..quantiles)
        .map(|q| {
            let raw: Vec<f64> = formed.iter().filter_map(|(b, _)| b[q].0).collect();
            let excess: Vec<f64> = formed
                .iter()
                .filter_map(|(b, u)| b[q].0.map(|r| r - u))
                .collect();
            let names: usize = formed.iter().map(|(b, _)| b[q].1).sum();
            QuantileStats {
                quantile: q + 1,
                mean_return: mean(&raw),
                mean_excess: mean(&excess),
                excess_std_error: sample_std(&excess).map(|s| s / (excess.len() as f64).sqrt()),
                mean_count: if formed.is_empty() {
                    0.0
                } else {
                    names as f64 / formed.len() as f64
                },
            }
        })
        .collect()
}
