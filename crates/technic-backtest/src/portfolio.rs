//! The top quantile as something one could have held: its turnover, and a long portfolio
//! rebalanced on the evaluation dates, net of costs, against the equal-weight universe.
//!
//! The holdings of a date are cut from that date's factor values alone (every name with a
//! finite value), never from whether a forward return exists: what a trader knew that evening.

use chrono::NaiveDate;

use crate::arith::{assign_buckets, mean, qcut_edges, sample_std};
use crate::report::{DatedValue, EquityPoint, Performance, Portfolio, PortfolioPeriod, Turnover};

/// The top quantile's names on each date (`None` where quantiles could not be formed: fewer
/// names than quantiles, or tied edges).
pub(crate) fn top_quantile(
    factor: &[f64],
    factor_order: &[usize],
    quantiles: usize,
    probabilities: &[f64],
) -> Option<Vec<usize>> {
    if factor_order.len() < quantiles {
        return None;
    }
    let values: Vec<f64> = factor_order.iter().map(|&s| factor[s]).collect();
    let edges = qcut_edges(&values, probabilities)?;
    let mut top = Vec::new();
    assign_buckets(&values, &edges, |position, bucket| {
        if bucket == quantiles {
            top.push(factor_order[position]);
        }
    });
    Some(top)
}

/// alphalens' `quantile_turnover(quantile_factor, quantile, period=1)`: on each date where the
/// bucket has names, the share of them that were not in it on the previous such date.
pub(crate) fn turnover(
    dates: &[NaiveDate],
    tops: &[Option<Vec<usize>>],
    symbols: usize,
    quantile: usize,
) -> Turnover {
    let mut in_previous = vec![false; symbols];
    let mut previous: Option<&Vec<usize>> = None;
    let mut series = Vec::with_capacity(dates.len());
    for (&date, top) in dates.iter().zip(tops) {
        let value = match top.as_ref().filter(|t| !t.is_empty()) {
            None => None,
            Some(top) => {
                let value = previous.map(|_| {
                    let new = top.iter().filter(|&&s| !in_previous[s]).count();
                    new as f64 / top.len() as f64
                });
                if let Some(old) = previous {
                    old.iter().for_each(|&s| in_previous[s] = false);
                }
                top.iter().for_each(|&s| in_previous[s] = true);
                previous = Some(top);
                value
            }
        };
        series.push(DatedValue { date, value });
    }
    let values: Vec<f64> = series.iter().filter_map(|d| d.value).collect();
    Turnover {
        quantile,
        mean: mean(&values),
        series,
    }
}

/// What the long portfolio is built from.
pub(crate) struct PortfolioInputs<'a> {
    pub dates: &'a [NaiveDate],
    pub symbols: usize,
    /// `factor[date * symbols + symbol]`: the benchmark is the names with a value that date.
    pub factor: &'a [f64],
    pub next_period_returns: &'a [f64],
    pub tops: &'a [Option<Vec<usize>>],
    pub cost_bps: f64,
}

/// The top quantile held equally weighted from each date to the next. On each date the book is
/// brought back to equal weights over the new top quantile; the cost of that date is
/// `cost_bps` × Σ|target weight − weight after last period's drift| (every buy and every sell
/// charged once, the first purchase included, the final sale not), taken from equity before
/// the period's return: net = (1 − cost)(1 + gross) − 1. A date without a top quantile holds
/// cash. A held name with no close on the next date is left out of that period (counted).
pub(crate) fn long_portfolio(inputs: &PortfolioInputs) -> Portfolio {
    let PortfolioInputs {
        dates,
        symbols,
        factor,
        next_period_returns,
        tops,
        cost_bps,
    } = *inputs;
    let mut drifted: Vec<(usize, f64)> = Vec::new();
    let mut target_weight = vec![0.0; symbols];
    let mut periods = Vec::with_capacity(dates.len().saturating_sub(1));
    let mut missing_returns = 0;
    for (i, &date) in dates.iter().enumerate().take(dates.len().saturating_sub(1)) {
        let row = &next_period_returns[i * symbols..(i + 1) * symbols];
        let held: Vec<usize> = tops[i]
            .iter()
            .flatten()
            .copied()
            .filter(|&s| row[s].is_finite())
            .collect();
        missing_returns += tops[i].as_ref().map_or(0, |t| t.len()) - held.len();
        let weight = if held.is_empty() {
            0.0
        } else {
            1.0 / held.len() as f64
        };
        held.iter().for_each(|&s| target_weight[s] = weight);
        let sold: f64 = drifted
            .iter()
            .map(|&(s, w)| (target_weight[s] - w).abs() - target_weight[s])
            .sum();
        // Names newly bought pay their whole target weight; names kept pay the difference.
        let traded = sold + held.len() as f64 * weight;
        held.iter().for_each(|&s| target_weight[s] = 0.0);
        let cost = traded * cost_bps / 10_000.0;
        let gross = mean(&held.iter().map(|&s| row[s]).collect::<Vec<_>>()).unwrap_or(0.0);
        drifted = if 1.0 + gross > 0.0 {
            held.iter()
                .map(|&s| (s, weight * (1.0 + row[s]) / (1.0 + gross)))
                .collect()
        } else {
            Vec::new()
        };
        let factor_row = &factor[i * symbols..(i + 1) * symbols];
        let universe: Vec<f64> = (0..symbols)
            .filter(|&s| factor_row[s].is_finite() && row[s].is_finite())
            .map(|s| row[s])
            .collect();
        periods.push(PortfolioPeriod {
            date,
            holdings: held.len(),
            traded,
            cost,
            gross_return: gross,
            net_return: (1.0 - cost) * (1.0 + gross) - 1.0,
            benchmark_return: mean(&universe).unwrap_or(0.0),
        });
    }
    assemble(dates, periods, missing_returns)
}

fn assemble(
    dates: &[NaiveDate],
    periods: Vec<PortfolioPeriod>,
    missing_returns: usize,
) -> Portfolio {
    let mut equity = Vec::with_capacity(dates.len());
    let (mut long, mut benchmark) = (1.0, 1.0);
    equity.push(EquityPoint {
        date: dates[0],
        long,
        benchmark,
    });
    for (period, &date) in periods.iter().zip(&dates[1..]) {
        long *= 1.0 + period.net_return;
        benchmark *= 1.0 + period.benchmark_return;
        equity.push(EquityPoint {
            date,
            long,
            benchmark,
        });
    }
    let years = (dates[dates.len() - 1] - dates[0]).num_days() as f64 / 365.25;
    let long_returns: Vec<f64> = periods.iter().map(|p| p.net_return).collect();
    let benchmark_returns: Vec<f64> = periods.iter().map(|p| p.benchmark_return).collect();
    let long_curve: Vec<f64> = equity.iter().map(|e| e.long).collect();
    let benchmark_curve: Vec<f64> = equity.iter().map(|e| e.benchmark).collect();
    Portfolio {
        long: performance(&long_returns, &long_curve, years),
        benchmark: performance(&benchmark_returns, &benchmark_curve, years),
        total_cost: periods.iter().map(|p| p.cost).sum(),
        missing_returns,
        periods,
        equity,
    }
}

/// Annualised figures of a curve that starts at 1, with `years` between its first and last date.
pub(crate) fn performance(returns: &[f64], curve: &[f64], years: f64) -> Performance {
    let last = curve[curve.len() - 1];
    let periods_per_year = (years > 0.0).then(|| returns.len() as f64 / years);
    let std = sample_std(returns);
    let mut peak = f64::NEG_INFINITY;
    let mut max_drawdown: f64 = 0.0;
    for &v in curve {
        peak = peak.max(v);
        if peak > 0.0 {
            max_drawdown = max_drawdown.max(1.0 - v / peak);
        }
    }
    Performance {
        total_return: Some(last - 1.0),
        cagr: (years > 0.0 && last > 0.0).then(|| last.powf(1.0 / years) - 1.0),
        volatility: std.zip(periods_per_year).map(|(s, n)| s * n.sqrt()),
        sharpe: match (mean(returns), std, periods_per_year) {
            (Some(m), Some(s), Some(n)) if s > 0.0 => Some(m / s * n.sqrt()),
            _ => None,
        },
        max_drawdown: Some(max_drawdown),
    }
}
