//! The scanner's own verdicts: how each signal group did against the equal-weight scanned
//! universe, and how much of the universe each signal flags.

use chrono::NaiveDate;
use technic_core::rating::Signal;

use crate::SignalCell;
use crate::arith::{mean, newey_west_t};
use crate::report::{DatedValue, Selectivity, SignalGroupStats, SignalGroups};

/// The groups reported, strongest buy first.
const SIGNALS: [Signal; 5] = [
    Signal::StrongBuy,
    Signal::Buy,
    Signal::Hold,
    Signal::Sell,
    Signal::StrongSell,
];

#[derive(Clone, Copy)]
enum Group {
    Signal(Signal),
    HighQuality(bool),
}

impl Group {
    fn all() -> Vec<Group> {
        let mut groups: Vec<Group> = SIGNALS.iter().map(|&s| Group::Signal(s)).collect();
        groups.extend([Group::HighQuality(true), Group::HighQuality(false)]);
        groups
    }

    fn name(self) -> String {
        match self {
            Group::Signal(s) => s.as_str().to_string(),
            Group::HighQuality(true) => "HIGH_QUALITY".into(),
            Group::HighQuality(false) => "NOT_HIGH_QUALITY".into(),
        }
    }

    fn contains(self, cell: SignalCell) -> bool {
        match self {
            Group::Signal(s) => cell.signal == s,
            Group::HighQuality(hq) => cell.high_quality == hq,
        }
    }
}

/// Each group at one horizon. The universe of a date is every scanned name with a forward
/// return; a group's excess that date is its names' mean return less the universe's.
pub(crate) fn signal_groups(
    signals: &[Option<SignalCell>],
    returns: &[f64],
    symbols: usize,
    horizon: usize,
    lags: usize,
) -> SignalGroups {
    let groups = Group::all();
    let mut tallies: Vec<Tally> = groups.iter().map(|_| Tally::default()).collect();
    let mut scanned_dates = 0usize;
    // One pass per date for every group: a daily backtest has thousands of dates.
    for (cells, row) in signals.chunks(symbols).zip(returns.chunks(symbols)) {
        let scanned: Vec<(SignalCell, f64)> = cells
            .iter()
            .zip(row)
            .filter_map(|(c, &r)| c.map(|c| (c, r)))
            .collect();
        if scanned.is_empty() {
            continue;
        }
        scanned_dates += 1;
        let universe: Vec<f64> = scanned
            .iter()
            .map(|&(_, r)| r)
            .filter(|r| r.is_finite())
            .collect();
        let universe_mean = mean(&universe);
        for (group, tally) in groups.iter().zip(&mut tallies) {
            tally.add_date(*group, &scanned, universe_mean);
        }
    }
    SignalGroups {
        horizon,
        newey_west_lags: lags,
        groups: groups
            .iter()
            .zip(tallies)
            .map(|(group, tally)| tally.stats(group.name(), scanned_dates, lags))
            .collect(),
    }
}

/// One group's running counts over the dates.
#[derive(Default)]
struct Tally {
    excesses: Vec<f64>,
    hits: usize,
    members: usize,
    flagged: usize,
}

impl Tally {
    fn add_date(
        &mut self,
        group: Group,
        scanned: &[(SignalCell, f64)],
        universe_mean: Option<f64>,
    ) {
        let mut sum = 0.0;
        let mut with_return = Vec::new();
        for &(_, r) in scanned.iter().filter(|(c, _)| group.contains(*c)) {
            self.flagged += 1;
            if r.is_finite() {
                sum += r;
                with_return.push(r);
            }
        }
        let Some(universe_mean) = universe_mean else {
            return;
        };
        if !with_return.is_empty() {
            self.excesses
                .push(sum / with_return.len() as f64 - universe_mean);
            self.hits += with_return.iter().filter(|&&r| r > universe_mean).count();
            self.members += with_return.len();
        }
    }

    fn stats(self, group: String, scanned_dates: usize, lags: usize) -> SignalGroupStats {
        SignalGroupStats {
            group,
            dates: self.excesses.len(),
            mean_excess: mean(&self.excesses),
            t_stat: newey_west_t(&self.excesses, lags),
            hit_rate: (self.members > 0).then(|| self.hits as f64 / self.members as f64),
            mean_count: if scanned_dates == 0 {
                0.0
            } else {
                self.flagged as f64 / scanned_dates as f64
            },
        }
    }
}

/// The share of each date's scanned names each signal (and high quality) flags.
pub(crate) fn selectivity(
    dates: &[NaiveDate],
    signals: &[Option<SignalCell>],
    symbols: usize,
) -> Vec<Selectivity> {
    let mut groups: Vec<Group> = SIGNALS.iter().map(|&s| Group::Signal(s)).collect();
    groups.push(Group::HighQuality(true));
    groups
        .into_iter()
        .map(|group| {
            let series: Vec<DatedValue> = dates
                .iter()
                .zip(signals.chunks(symbols))
                .map(|(&date, cells)| {
                    let scanned = cells.iter().flatten().count();
                    let flagged = cells
                        .iter()
                        .flatten()
                        .filter(|c| group.contains(**c))
                        .count();
                    DatedValue {
                        date,
                        value: (scanned > 0).then(|| flagged as f64 / scanned as f64),
                    }
                })
                .collect();
            let values: Vec<f64> = series.iter().filter_map(|d| d.value).collect();
            Selectivity {
                group: group.name(),
                mean: mean(&values),
                min: values.iter().copied().reduce(f64::min),
                max: values.iter().copied().reduce(f64::max),
                series,
            }
        })
        .collect()
}
