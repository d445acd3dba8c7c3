//! Symbol scoring for prioritisation: which symbols to scan first so the likeliest signals arrive
//! first. Every input is cheap: the latest few bars of each symbol (the snapshot) and what earlier
//! scans learned about it.
//!
//! Each feature becomes a cross-sectional percentile (0–1) so no feature's units dominate; the
//! priority score is their weighted sum. The weights favour what the scan's rating rewards, because
//! a high-quality signal is a high rating: for the standard rating, the past week's loss (which
//! the snapshot holds whole); for the classic one, recent trend and where the close sits in its
//! recent range.
//!
//! The order splits the ranked symbols into tiers (`high`, `medium`, `low`) and, with `diversity`,
//! interleaves sectors within each tier (docs/rating.md, "Priority score").

use crate::bars::Bars;
use crate::rating::RatingModel;
use crate::rating::components::WEEK;

/// Bars of the cheap snapshot: a trading month plus one for the day's change.
pub const SNAPSHOT_BARS: usize = 21;

/// What the cheap snapshot tells about a symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub close: f64,
    /// Percent change of the latest close against the previous one.
    pub change_1d: f64,
    /// Percent change over the snapshot (up to 20 bars).
    pub change_20d: f64,
    /// Percent change over the past week (5 bars; fewer if the snapshot is shorter).
    pub change_5d: f64,
    /// Where the close sits between the snapshot's lowest low (0) and highest high (1).
    pub range_position: f64,
    /// Latest volume over the snapshot's mean volume.
    pub relative_volume: f64,
    /// Mean close × volume over the snapshot: liquidity.
    pub dollar_volume: f64,
}

impl Snapshot {
    /// `None` with fewer than two bars.
    pub fn from_bars(bars: &Bars) -> Option<Self> {
        let n = bars.len();
        if n < 2 {
            return None;
        }
        let from = n.saturating_sub(SNAPSHOT_BARS);
        let close = bars.close[n - 1];
        let high = bars.high[from..].iter().copied().fold(f64::MIN, f64::max);
        let low = bars.low[from..].iter().copied().fold(f64::MAX, f64::min);
        let volumes = &bars.volume[from..];
        let mean_volume = volumes.iter().sum::<f64>() / volumes.len() as f64;
        let dollar_volume = bars.close[from..]
            .iter()
            .zip(volumes)
            .map(|(c, v)| c * v)
            .sum::<f64>()
            / volumes.len() as f64;
        Some(Self {
            close,
            change_1d: (close / bars.close[n - 2] - 1.0) * 100.0,
            change_20d: (close / bars.close[from] - 1.0) * 100.0,
            change_5d: (close / bars.close[n.saturating_sub(WEEK + 1).max(from)] - 1.0) * 100.0,
            range_position: if high > low {
                (close - low) / (high - low)
            } else {
                0.5
            },
            relative_volume: if mean_volume > 0.0 {
                bars.volume[n - 1] / mean_volume
            } else {
                1.0
            },
            dollar_volume,
        })
    }
}

/// What earlier scans learned about a symbol.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SymbolHistory {
    pub scans: u32,
    /// High-quality signals among those scans.
    pub signals: u32,
    pub last_rating: Option<f64>,
    /// ISO date of the data the last scan saw.
    pub last_scan_date: Option<String>,
}

impl SymbolHistory {
    /// Laplace-smoothed rate of high-quality signals: 0.5 with no history, moving towards the
    /// observed rate as scans accumulate.
    pub fn signal_rate(&self) -> f64 {
        (f64::from(self.signals) + 1.0) / (f64::from(self.scans) + 2.0)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Tier {
    High,
    Medium,
    Low,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
        }
    }
}

/// Share of the universe in the `high` and `medium` tiers; the rest is `low`.
pub const HIGH_TIER_SHARE: f64 = 0.20;
pub const MEDIUM_TIER_SHARE: f64 = 0.30;

/// Weights of the standard rating's features (they sum to 1): the rating is the past week's
/// reversal, which the snapshot computes exactly, so it leads.
const W_REVERSAL: f64 = 0.90;
const W_STANDARD_LEARNED: f64 = 0.10;

/// Weights of the classic rating's features (they sum to 1).
const W_TREND: f64 = 0.30;
const W_RANGE: f64 = 0.25;
const W_SECTOR: f64 = 0.10;
const W_PRESSURE: f64 = 0.10;
const W_LIQUIDITY: f64 = 0.05;
const W_LEARNED: f64 = 0.20;

/// One symbol's inputs to the scorer.
#[derive(Debug, Clone, Copy)]
pub struct PriorityInput<'a> {
    pub sector: Option<&'a str>,
    pub snapshot: Option<&'a Snapshot>,
    pub history: Option<&'a SymbolHistory>,
}

/// A symbol's place in the scan order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Index into the inputs.
    pub index: usize,
    pub score: f64,
    pub tier: Tier,
}

/// Percentile (0–1) of each value among the defined ones; undefined values get 0.5.
fn percentiles(values: &[Option<f64>]) -> Vec<f64> {
    crate::alpha::percentile_ranks(values)
        .into_iter()
        .map(|p| p.unwrap_or(0.5))
        .collect()
}

/// What earlier scans say about a symbol, 0–1 (0.5 with no history).
fn learned(history: Option<&SymbolHistory>) -> f64 {
    history.map_or(0.5, |h| {
        let rating = h.last_rating.map_or(0.5, |r| (r / 100.0).clamp(0.0, 1.0));
        0.5 * rating + 0.5 * h.signal_rate()
    })
}

/// Scores every input for a scan of `model`'s rating (higher = scan sooner).
pub fn scores(inputs: &[PriorityInput<'_>], model: RatingModel) -> Vec<f64> {
    let snap = |f: fn(&Snapshot) -> f64| -> Vec<Option<f64>> {
        inputs.iter().map(|i| i.snapshot.map(f)).collect()
    };
    if model == RatingModel::Standard {
        let reversal = percentiles(&snap(|s| -s.change_5d));
        return inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                W_REVERSAL * reversal[i] + W_STANDARD_LEARNED * learned(input.history)
            })
            .collect();
    }
    let trend = percentiles(&snap(|s| s.change_20d));
    let pressure = percentiles(&snap(|s| s.change_1d.signum() * s.relative_volume.min(5.0)));
    let liquidity = percentiles(&snap(|s| s.dollar_volume.max(1.0).ln()));
    // Sector strength: the mean 20-day change of the sector's members, ranked among sectors.
    let mut sectors: Vec<(&str, f64, usize)> = Vec::new();
    for input in inputs {
        if let (Some(sector), Some(s)) = (input.sector, input.snapshot) {
            match sectors.iter_mut().find(|(name, ..)| *name == sector) {
                Some(entry) => {
                    entry.1 += s.change_20d;
                    entry.2 += 1;
                }
                None => sectors.push((sector, s.change_20d, 1)),
            }
        }
    }
    let sector_means: Vec<Option<f64>> = sectors
        .iter()
        .map(|(_, sum, n)| Some(sum / *n as f64))
        .collect();
    let sector_ranks = percentiles(&sector_means);
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let range = input
                .snapshot
                .map_or(0.5, |s| s.range_position.clamp(0.0, 1.0));
            let sector = input
                .sector
                .and_then(|name| sectors.iter().position(|(n, ..)| *n == name))
                .map_or(0.5, |k| sector_ranks[k]);
            let learned = learned(input.history);
            W_TREND * trend[i]
                + W_RANGE * range
                + W_SECTOR * sector
                + W_PRESSURE * pressure[i]
                + W_LIQUIDITY * liquidity[i]
                + W_LEARNED * learned
        })
        .collect()
}

/// The scan order: best score first, split into tiers; with `diversity`, each tier interleaves its
/// sectors (the best remaining symbol of each sector in turn) so one hot sector cannot crowd out the
/// first batches.
pub fn prioritize(
    inputs: &[PriorityInput<'_>],
    diversity: bool,
    model: RatingModel,
) -> Vec<Ranked> {
    let scores = scores(inputs, model);
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let n = order.len();
    let high = (n as f64 * HIGH_TIER_SHARE).ceil() as usize;
    let medium = high + (n as f64 * MEDIUM_TIER_SHARE).ceil() as usize;
    let tier_of = |position: usize| match position {
        p if p < high => Tier::High,
        p if p < medium => Tier::Medium,
        _ => Tier::Low,
    };
    let mut ranked: Vec<Ranked> = order
        .iter()
        .enumerate()
        .map(|(p, &index)| Ranked {
            index,
            score: scores[index],
            tier: tier_of(p),
        })
        .collect();
    if diversity {
        let mut interleaved = Vec::with_capacity(n);
        for tier in [Tier::High, Tier::Medium, Tier::Low] {
            let members: Vec<Ranked> = ranked.iter().copied().filter(|r| r.tier == tier).collect();
            interleaved.extend(interleave_sectors(&members, |r| inputs[r.index].sector));
        }
        ranked = interleaved;
    }
    ranked
}

/// Round-robin over sectors, each sector's members kept in their order; sectors take turns in the
/// order of their best member.
fn interleave_sectors<'a>(
    members: &[Ranked],
    sector: impl Fn(&Ranked) -> Option<&'a str>,
) -> Vec<Ranked> {
    let mut queues: Vec<(Option<&str>, std::collections::VecDeque<Ranked>)> = Vec::new();
    for member in members {
        let key = sector(member);
        match queues.iter_mut().find(|(k, _)| *k == key) {
            Some((_, queue)) => queue.push_back(*member),
            None => queues.push((key, std::collections::VecDeque::from([*member]))),
        }
    }
    let mut out = Vec::with_capacity(members.len());
    while out.len() < members.len() {
        for (_, queue) in &mut queues {
            if let Some(next) = queue.pop_front() {
                out.push(next);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(change_20d: f64, range_position: f64) -> Snapshot {
        Snapshot {
            close: 10.0,
            change_1d: 0.5,
            change_20d,
            change_5d: 0.0,
            range_position,
            relative_volume: 1.0,
            dollar_volume: 1e6,
        }
    }

    /// The scan order of `snaps`, all of one sector, with no history and no diversity.
    fn order_in_one_sector(snaps: &[Snapshot], model: RatingModel) -> Vec<usize> {
        let inputs: Vec<PriorityInput<'_>> = snaps
            .iter()
            .map(|s| PriorityInput {
                sector: Some("Energy"),
                snapshot: Some(s),
                history: None,
            })
            .collect();
        prioritize(&inputs, false, model)
            .iter()
            .map(|r| r.index)
            .collect()
    }

    #[test]
    fn for_the_standard_rating_the_weeks_losers_come_first() {
        let mut snaps = [snap(5.0, 0.9), snap(-5.0, 0.1), snap(0.0, 0.5)];
        for (s, week) in snaps.iter_mut().zip([4.0, -6.0, 1.0]) {
            s.change_5d = week;
        }
        assert_eq!(
            order_in_one_sector(&snaps, RatingModel::Standard),
            [1, 2, 0]
        );
    }

    #[test]
    fn a_snapshot_knows_the_weeks_change() {
        let mut bars = Bars::with_capacity(30);
        let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        for i in 0..30u32 {
            let close = 100.0 + f64::from(i);
            bars.dates.push(start + chrono::Days::new(u64::from(i)));
            bars.open.push(close);
            bars.high.push(close);
            bars.low.push(close);
            bars.close.push(close);
            bars.volume.push(1e6);
        }
        let snapshot = Snapshot::from_bars(&bars).expect("snapshot");
        assert!((snapshot.change_5d - (129.0 / 124.0 - 1.0) * 100.0).abs() < 1e-12);
    }

    #[test]
    fn strong_trends_near_their_highs_come_first() {
        let snaps = [snap(-10.0, 0.1), snap(15.0, 0.95), snap(2.0, 0.5)];
        assert_eq!(order_in_one_sector(&snaps, RatingModel::Classic), [1, 2, 0]);
    }

    #[test]
    fn tiers_split_20_30_50_and_diversity_interleaves_sectors() {
        let snaps: Vec<Snapshot> = (0..10).map(|i| snap(f64::from(i), 0.5)).collect();
        let sectors = ["A", "A", "A", "A", "A", "B", "B", "B", "B", "B"];
        let inputs: Vec<PriorityInput<'_>> = snaps
            .iter()
            .zip(sectors)
            .map(|(s, sector)| PriorityInput {
                sector: Some(sector),
                snapshot: Some(s),
                history: None,
            })
            .collect();
        let plain = prioritize(&inputs, false, RatingModel::Classic);
        let tiers: Vec<Tier> = plain.iter().map(|r| r.tier).collect();
        assert_eq!(tiers.iter().filter(|t| **t == Tier::High).count(), 2);
        assert_eq!(tiers.iter().filter(|t| **t == Tier::Medium).count(), 3);
        assert_eq!(plain[0].index, 9);
        let mixed_sectors = ["A", "B", "A", "B", "A", "B", "A", "B", "A", "A"];
        let snaps2: Vec<Snapshot> = (0..10)
            .map(|i| {
                snap(
                    if i < 5 {
                        10.0 + f64::from(i)
                    } else {
                        f64::from(i)
                    },
                    0.5,
                )
            })
            .collect();
        let inputs2: Vec<PriorityInput<'_>> = snaps2
            .iter()
            .zip(mixed_sectors)
            .map(|(s, sector)| PriorityInput {
                sector: Some(sector),
                snapshot: Some(s),
                history: None,
            })
            .collect();
        let low: Vec<&str> = prioritize(&inputs2, true, RatingModel::Classic)
            .iter()
            .filter(|r| r.tier == Tier::Low)
            .map(|r| mixed_sectors[r.index])
            .collect();
        assert_eq!(low.len(), 5);
        assert!(
            low.windows(2).all(|w| w[0] != w[1]),
            "sectors take turns: {low:?}"
        );
    }

    #[test]
    fn learned_history_lifts_symbols_that_signalled_before() {
        let s = snap(0.0, 0.5);
        let good = SymbolHistory {
            scans: 10,
            signals: 8,
            last_rating: Some(85.0),
            last_scan_date: None,
        };
        let bad = SymbolHistory {
            scans: 10,
            signals: 0,
            last_rating: Some(20.0),
            last_scan_date: None,
        };
        let inputs = [
            PriorityInput {
                sector: None,
                snapshot: Some(&s),
                history: Some(&bad),
            },
            PriorityInput {
                sector: None,
                snapshot: Some(&s),
                history: Some(&good),
            },
        ];
        assert_eq!(prioritize(&inputs, false, RatingModel::Classic)[0].index, 1);
        assert_eq!(SymbolHistory::default().signal_rate(), 0.5);
    }
}
