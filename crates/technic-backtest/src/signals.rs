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
    let groups = Group::all()
        .into_iter()
        .map(|group| group_stats(group, signals, returns, symbols, lags))
        .collect();
    SignalGroups {
        horizon,
        newey_west_lags: lags,
        groups,
    }
}

fn group_stats(
    group: Group,
    signals: &[Option<SignalCell>],
    returns: &[f64],
    symbols: usize,
    lags: usize,
) -> SignalGroupStats {
    let (mut excesses, mut hits, mut members, mut flagged, mut scanned_dates) =
        (Vec::new(), 0usize, 0usize, 0usize, 0usize);
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
        flagged += scanned.iter().filter(|(c, _)| group.contains(*c)).count();
        let universe: Vec<f64> = scanned
            .iter()
            .map(|&(_, r)| r)
            .filter(|r| r.is_finite())
            .collect();
        let Some(universe_mean) = mean(&universe) else {
            continue;
        };
        let in_group: Vec<f64> = scanned
            .iter()
            .filter(|(c, r)| group.contains(*c) && r.is_finite())
            .map(|&(_, r)| r)
            .collect();
        if let Some(group_mean) = mean(&in_group) {
            excesses.push(group_mean - universe_mean);
            hits += in_group.iter().filter(|&&r| r > universe_mean).count();
            members += in_group.len();
        }
    }
    SignalGroupStats {
        group: group.name(),
        dates: excesses.len(),
        mean_excess: mean(&excesses),
        t_stat: newey_west_t(&excesses, lags),
        hit_rate: (members > 0).then(|| hits as f64 / members as f64),
        mean_count: if scanned_dates == 0 {
            0.0
        } else {
            flagged as f64 / scanned_dates as f64
        },
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
