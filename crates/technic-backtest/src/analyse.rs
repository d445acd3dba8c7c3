//! `analyse`: checks the panel, then runs every statistic over it.

use chrono::{Datelike, NaiveDate, Weekday};

use crate::arith::qcut_probabilities;
use crate::factor::{CrossSectionInput, HorizonInputs, Scratch, cross_section, horizon_report};
use crate::portfolio::{PortfolioInputs, long_portfolio, top_quantile, turnover};
use crate::report::{DroppedCells, FactorReport, HorizonReport, Report};
use crate::signals::{selectivity, signal_groups};
use crate::{Factor, ForwardReturns, Panel, StatsError, StatsOptions};

/// The statistics of every factor at every horizon. A value that is not finite (NaN or ±∞)
/// counts as missing wherever it appears: that symbol-date is dropped from the computations
/// that need it, as alphalens' `dropna` does.
pub fn analyse(panel: &Panel, options: &StatsOptions) -> Result<Report, StatsError> {
    analyse_with(panel, options, |count, job| (0..count).map(job).collect())
}

/// One factor's job of [`analyse_with`]: its statistics, from its index in the panel.
pub type FactorJob<'a> = dyn Fn(usize) -> FactorReport + Sync + 'a;

/// [`analyse`], running the factors' jobs (independent of one another, and most of a daily
/// panel's statistics time) through `run_all(count, job)`, which must return `job(i)` for every
/// `i` in `0..count`, in order. This crate runs no threads of its own; a caller that has a thread
/// pool passes one that runs them on it.
pub fn analyse_with(
    panel: &Panel,
    options: &StatsOptions,
    run_all: impl FnOnce(usize, &FactorJob<'_>) -> Vec<FactorReport>,
) -> Result<Report, StatsError> {
    validate(panel, options)?;
    let mut splits = options.splits.clone();
    splits.sort();
    splits.dedup();
    let context = Context {
        panel,
        options,
        symbols: panel.symbols.len(),
        spacing: median_weekday_spacing(&panel.dates),
        probabilities: qcut_probabilities(options.quantiles),
        splits,
        // Each date's names sorted by forward return, once per horizon.
        return_orders: panel
            .forward_returns
            .iter()
            .map(|r| sorted_finite(&r.values.values, panel.symbols.len()))
            .collect(),
    };
    let job = |f: usize| {
        let mut scratch = Scratch::new(context.symbols);
        context.factor_report(&panel.factors[f], &mut scratch)
    };
    let factors = run_all(panel.factors.len(), &job);
    if factors.len() != panel.factors.len() {
        return Err(StatsError::Malformed(format!(
            "the factor runner returned {} reports for {} factors",
            factors.len(),
            panel.factors.len()
        )));
    }
    let Context {
        symbols,
        spacing,
        splits,
        ..
    } = context;
    Ok(Report {
        dates: panel.dates.clone(),
        symbols,
        quantiles: options.quantiles,
        cost_bps: options.cost_bps,
        splits,
        provenance: panel.provenance.clone(),
        date_spacing_days: spacing,
        factors,
        signal_groups: panel
            .forward_returns
            .iter()
            .map(|r| {
                let lags = newey_west_lags(r.horizon, spacing);
                signal_groups(&panel.signals, &r.values.values, symbols, r.horizon, lags)
            })
            .collect(),
        selectivity: selectivity(&panel.dates, &panel.signals, symbols),
    })
}

/// What every factor's statistics share.
struct Context<'a> {
    panel: &'a Panel,
    options: &'a StatsOptions,
    symbols: usize,
    spacing: usize,
    probabilities: Vec<f64>,
    splits: Vec<NaiveDate>,
    return_orders: Vec<Vec<Vec<usize>>>,
}

impl Context<'_> {
    fn cells(&self, date: usize) -> std::ops::Range<usize> {
        date * self.symbols..(date + 1) * self.symbols
    }

    fn factor_report(&self, factor: &Factor, scratch: &mut Scratch) -> FactorReport {
        let factor_orders = sorted_finite(&factor.values.values, self.symbols);
        let horizons = self
            .panel
            .forward_returns
            .iter()
            .zip(&self.return_orders)
            .map(|(returns, return_orders)| {
                self.horizon_report(factor, &factor_orders, returns, return_orders, scratch)
            })
            .collect();
        let tops: Vec<Option<Vec<usize>>> = factor_orders
            .iter()
            .enumerate()
            .map(|(d, order)| {
                let row = &factor.values.values[self.cells(d)];
                top_quantile(row, order, self.options.quantiles, &self.probabilities)
            })
            .collect();
        FactorReport {
            name: factor.name.clone(),
            horizons,
            turnover: turnover(
                &self.panel.dates,
                &tops,
                self.symbols,
                self.options.quantiles,
            ),
            portfolio: long_portfolio(&PortfolioInputs {
                dates: &self.panel.dates,
                symbols: self.symbols,
                factor: &factor.values.values,
                next_period_returns: &self.panel.next_period_returns.values,
                tops: &tops,
                cost_bps: self.options.cost_bps,
            }),
        }
    }

    fn horizon_report(
        &self,
        factor: &Factor,
        factor_orders: &[Vec<usize>],
        returns: &ForwardReturns,
        return_orders: &[Vec<usize>],
        scratch: &mut Scratch,
    ) -> HorizonReport {
        let outcomes = (0..self.panel.dates.len())
            .map(|d| {
                let input = CrossSectionInput {
                    factor: &factor.values.values[self.cells(d)],
                    returns: &returns.values.values[self.cells(d)],
                    factor_order: &factor_orders[d],
                    return_order: &return_orders[d],
                };
                cross_section(&input, self.options.quantiles, &self.probabilities, scratch)
            })
            .collect();
        horizon_report(HorizonInputs {
            horizon: returns.horizon,
            lags: newey_west_lags(returns.horizon, self.spacing),
            quantiles: self.options.quantiles,
            dates: &self.panel.dates,
            splits: &self.splits,
            outcomes,
            dropped: dropped_cells(self.panel, &factor.values.values, &returns.values.values),
        })
    }
}

/// Every shape the statistics rely on, checked once so that nothing after can index out of
/// bounds; the error names the part of the panel that is wrong.
fn validate(panel: &Panel, options: &StatsOptions) -> Result<(), StatsError> {
    options.check()?;
    if panel.dates.len() < 3 {
        return Err(StatsError::TooFewDates(panel.dates.len()));
    }
    let malformed = |message: String| Err(StatsError::Malformed(message));
    if let Some(i) = panel.dates.windows(2).position(|w| w[0] >= w[1]) {
        return malformed(format!(
            "dates must be strictly ascending: {} is followed by {}",
            panel.dates[i],
            panel.dates[i + 1]
        ));
    }
    if panel.symbols.is_empty() {
        return malformed("the panel has no symbols".into());
    }
    let cells = panel.dates.len() * panel.symbols.len();
    let check = |what: String, len: usize| -> Result<(), StatsError> {
        if len == cells {
            Ok(())
        } else {
            malformed(format!(
                "{what} has {len} cells; {} dates × {} symbols = {cells}",
                panel.dates.len(),
                panel.symbols.len()
            ))
        }
    };
    for factor in &panel.factors {
        check(
            format!("factor `{}`", factor.name),
            factor.values.values.len(),
        )?;
    }
    for (i, returns) in panel.forward_returns.iter().enumerate() {
        if returns.horizon == 0 {
            return malformed("a forward-return horizon is 0 trading days".into());
        }
        if i > 0 && panel.forward_returns[i - 1].horizon >= returns.horizon {
            return malformed(format!(
                "horizons must be strictly ascending: {} is followed by {}",
                panel.forward_returns[i - 1].horizon,
                returns.horizon
            ));
        }
        check(
            format!("the {}-day forward returns", returns.horizon),
            returns.values.values.len(),
        )?;
    }
    check(
        "next_period_returns".into(),
        panel.next_period_returns.values.len(),
    )?;
    check("signals".into(), panel.signals.len())
}

/// Per date, the symbols with a finite value, in ascending order of value (ties by symbol
/// index, so the order is deterministic).
fn sorted_finite(values: &[f64], symbols: usize) -> Vec<Vec<usize>> {
    values
        .chunks(symbols)
        .map(|row| {
            // Sorting (value, index) pairs keeps the comparisons in cache, unlike indices into
            // the row; a daily backtest sorts every factor and horizon on every date.
            let mut pairs: Vec<(f64, usize)> = (0..symbols)
                .filter(|&s| row[s].is_finite())
                .map(|s| (row[s], s))
                .collect();
            pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            pairs.into_iter().map(|(_, s)| s).collect()
        })
        .collect()
}

fn dropped_cells(panel: &Panel, factor: &[f64], returns: &[f64]) -> DroppedCells {
    let mut dropped = DroppedCells {
        no_factor_value: 0,
        no_forward_return: 0,
    };
    for ((signal, f), r) in panel.signals.iter().zip(factor).zip(returns) {
        if !f.is_finite() {
            dropped.no_factor_value += usize::from(signal.is_some());
        } else if !r.is_finite() {
            dropped.no_forward_return += 1;
        }
    }
    dropped
}

/// The median number of weekdays (Monday to Friday) from one evaluation date to the next. The
/// panel carries calendar dates, not the exchange calendar, so holidays are counted as trading
/// days: a month-end step is 21–23 weekdays for 19–23 sessions, which moves no lag of the
/// default horizons (1, 5, 21, 63) on any schedule (day, week, month).
pub(crate) fn median_weekday_spacing(dates: &[NaiveDate]) -> usize {
    let mut steps: Vec<usize> = dates
        .windows(2)
        .map(|w| {
            w[0].iter_days()
                .skip(1)
                .take_while(|d| *d <= w[1])
                .filter(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
                .count()
                .max(1)
        })
        .collect();
    steps.sort_unstable();
    steps.get(steps.len() / 2).copied().unwrap_or(1)
}

/// Newey–West lags for a horizon: ⌈horizon / spacing⌉ − 1, the number of later dates whose
/// return windows overlap a date's (0 when windows do not overlap, e.g. 21 days monthly).
pub(crate) fn newey_west_lags(horizon: usize, spacing: usize) -> usize {
    horizon.div_ceil(spacing.max(1)) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn lags_follow_the_overlap_of_return_windows() {
        let month_ends = [
            d("2020-01-31"),
            d("2020-02-28"),
            d("2020-03-31"),
            d("2020-04-30"),
        ];
        let spacing = median_weekday_spacing(&month_ends);
        assert_eq!(spacing, 22);
        assert_eq!(newey_west_lags(1, spacing), 0);
        assert_eq!(newey_west_lags(21, spacing), 0);
        assert_eq!(newey_west_lags(63, spacing), 2);
        let days = [
            d("2020-01-02"),
            d("2020-01-03"),
            d("2020-01-06"),
            d("2020-01-07"),
        ];
        assert_eq!(median_weekday_spacing(&days), 1);
        assert_eq!(newey_west_lags(21, 1), 20);
        assert_eq!(newey_west_lags(5, 5), 0);
        assert_eq!(newey_west_lags(21, 5), 4);
    }
}
