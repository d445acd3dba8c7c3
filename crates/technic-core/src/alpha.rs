//! `alpha_score`: a symbol's percentile, within the scanned universe, of a multi-factor composite.
//!
//! Factors (each optional: a symbol with too little history simply lacks it):
//! - 12-1 month momentum: the return from 252 to 21 bars ago, skipping the latest month's reversal;
//! - trend strength: ADX signed by the direction of the directional indicators;
//! - volatility-adjusted return: the 63-bar return over the 63-bar volatility of daily log returns.
//!
//! Each factor is turned into a cross-sectional z-score (winsorised at ±3 so one outlier cannot
//! dominate); the composite is the mean of a symbol's available z-scores; the score is its
//! percentile rank (0 = worst, 1 = best; ties share their mean rank).
//!
//! `AlphaReference` stores a completed scan's distributions (alpha factors and rating composites)
//! so a streamed result can be placed before its own universe is complete; only a scan at least as
//! broad replaces it.

use crate::bars::Bars;
use crate::indicators::IndicatorFrame;

const YEAR: usize = 252;
const MONTH: usize = 21;
const QUARTER: usize = 63;
const WINSOR: f64 = 3.0;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AlphaFactors {
    pub momentum_12_1: Option<f64>,
    pub trend_strength: Option<f64>,
    pub vol_adjusted_return: Option<f64>,
}

impl AlphaFactors {
    fn as_array(&self) -> [Option<f64>; 3] {
        [
            self.momentum_12_1,
            self.trend_strength,
            self.vol_adjusted_return,
        ]
    }
}

/// The indicator columns the alpha factors read (trend strength); a test checks each is in the
/// scan's default set.
pub const COLUMNS_READ: [&str; 3] = ["adx_14", "plus_di_14", "minus_di_14"];

/// Bars needed for every factor to be defined.
pub const FULL_HISTORY: usize = YEAR + 1;

pub fn factors(bars: &Bars, frame: &IndicatorFrame) -> AlphaFactors {
    factors_with(
        bars,
        frame,
        crate::rating::components::quarter_log_returns(&bars.close).as_ref(),
    )
}

/// [`factors`], given the bars' `quarter_log_returns` (which the standard rating reads too).
pub fn factors_with(
    bars: &Bars,
    frame: &IndicatorFrame,
    quarter_returns: Option<&[f64; QUARTER]>,
) -> AlphaFactors {
    let close = &bars.close;
    let n = close.len();
    let back = |k: usize| n.checked_sub(1 + k).map(|i| close[i]);
    let momentum_12_1 = match (back(MONTH), back(YEAR)) {
        (Some(recent), Some(old)) => Some(recent / old - 1.0),
        _ => None,
    };
    let latest = |name: &str| {
        debug_assert!(
            COLUMNS_READ.contains(&name),
            "alpha reads '{name}', which COLUMNS_READ does not list"
        );
        frame
            .column(name)
            .and_then(|s| s.last().copied())
            .filter(|v| v.is_finite())
    };
    let trend_strength = match (
        latest("adx_14"),
        latest("plus_di_14"),
        latest("minus_di_14"),
    ) {
        (Some(adx), Some(plus), Some(minus)) => Some(if plus >= minus { adx } else { -adx }),
        _ => None,
    };
    let vol_adjusted_return = quarter_returns.map(|returns| {
        let mean = returns.iter().sum::<f64>() / returns.len() as f64;
        let variance =
            returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (returns.len() - 1) as f64;
        let volatility = (variance * QUARTER as f64).sqrt();
        let total: f64 = returns.iter().sum();
        if volatility > 0.0 {
            total / volatility
        } else {
            0.0
        }
    });
    AlphaFactors {
        momentum_12_1,
        trend_strength,
        vol_adjusted_return,
    }
}

/// The composite of each symbol against the others in `universe`; `None` where a symbol has no factor.
pub fn composites(universe: &[AlphaFactors]) -> Vec<Option<f64>> {
    let mut sums = vec![0.0; universe.len()];
    let mut counts = vec![0usize; universe.len()];
    for factor in 0..3 {
        let values: Vec<f64> = universe
            .iter()
            .filter_map(|f| f.as_array()[factor])
            .collect();
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        let sd = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64)
                .sqrt()
        };
        for (i, f) in universe.iter().enumerate() {
            if let Some(v) = f.as_array()[factor] {
                // With one value, or no spread, a factor says nothing about rank: a neutral 0.
                let z = if sd > 0.0 {
                    ((v - mean) / sd).clamp(-WINSOR, WINSOR)
                } else {
                    0.0
                };
                sums[i] += z;
                counts[i] += 1;
            }
        }
    }
    sums.iter()
        .zip(&counts)
        .map(|(s, &c)| (c > 0).then(|| s / c as f64))
        .collect()
}

/// Percentile ranks in `[0, 1]` of the defined values; ties share their mean rank; a lone value is 0.5.
pub fn percentile_ranks(values: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut order: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    order.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut ranks = vec![None; values.len()];
    let n = order.len();
    let mut start = 0;
    while start < n {
        let mut end = start;
        while end + 1 < n && order[end + 1].1 == order[start].1 {
            end += 1;
        }
        let mean_rank = (start + end) as f64 / 2.0;
        let pct = if n == 1 {
            0.5
        } else {
            mean_rank / (n - 1) as f64
        };
        for &(i, _) in &order[start..=end] {
            ranks[i] = Some(pct);
        }
        start = end + 1;
    }
    ranks
}

/// What a completed scan leaves behind so later results can be scored before their own universe is
/// complete: each factor's cross-sectional mean and standard deviation, and the sorted composites.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct AlphaReference {
    /// `(mean, standard deviation)` of each factor, in [`AlphaFactors`] order; `None` where the
    /// factor had fewer than two values.
    pub factor_stats: [Option<(f64, f64)>; 3],
    /// Composites of the reference scan, ascending.
    pub composites: Vec<f64>,
    /// The standard rating's composites of the same scan, ascending (empty for a classic scan, and
    /// in a reference stored before the standard rating existed).
    #[serde(default)]
    pub rating_composites: Vec<f64>,
}

impl AlphaReference {
    pub fn from_universe(universe: &[AlphaFactors]) -> Self {
        let factor_stats = std::array::from_fn(|factor| {
            let values: Vec<f64> = universe
                .iter()
                .filter_map(|f| f.as_array()[factor])
                .collect();
            (values.len() >= 2).then(|| {
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / (values.len() - 1) as f64)
                    .sqrt();
                (mean, sd)
            })
        });
        let mut composites: Vec<f64> = composites(universe).into_iter().flatten().collect();
        composites.sort_by(f64::total_cmp);
        Self {
            factor_stats,
            composites,
            rating_composites: Vec::new(),
        }
    }

    /// The same, with the standard rating's composites (any order).
    pub fn with_rating_composites(mut self, mut composites: Vec<f64>) -> Self {
        composites.sort_by(f64::total_cmp);
        self.rating_composites = composites;
        self
    }

    /// How many symbols the reference was taken over: a reference is only replaced by one at least
    /// as broad.
    pub fn breadth(&self) -> usize {
        self.composites.len().max(self.rating_composites.len())
    }

    /// A standard rating's composite placed among the reference's (0–100); `None` when the
    /// reference holds none.
    pub fn place_rating(&self, composite: f64) -> Option<f64> {
        crate::rating::standard::percentile_among(&self.rating_composites, composite)
    }

    /// The symbol's approximate `alpha_score`: its composite (z-scores against the reference's
    /// factor statistics) placed among the reference's composites. `None` without a reference.
    pub fn score(&self, factors: &AlphaFactors) -> Option<f64> {
        if self.composites.is_empty() {
            return None;
        }
        let mut sum = 0.0;
        let mut count = 0;
        for (value, stats) in factors.as_array().iter().zip(&self.factor_stats) {
            if let Some(v) = value {
                let z = match stats {
                    Some((mean, sd)) if *sd > 0.0 => ((v - mean) / sd).clamp(-WINSOR, WINSOR),
                    _ => 0.0,
                };
                sum += z;
                count += 1;
            }
        }
        if count == 0 {
            return None;
        }
        let composite = sum / f64::from(count);
        rank_among(&self.composites, composite)
    }
}

/// Where `value` falls among `sorted` (ascending), 0–1: its mean rank among equal values over
/// the count, as in [`percentile_ranks`]; 0.5 among one value, `None` among none. How streamed
/// results are placed before their own universe is complete.
pub fn rank_among(sorted: &[f64], value: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let below = sorted.partition_point(|c| *c < value);
    let not_above = sorted.partition_point(|c| *c <= value);
    let n = sorted.len();
    let rank = (below + not_above) as f64 / 2.0;
    Some(if n == 1 {
        0.5
    } else {
        (rank / n as f64).clamp(0.0, 1.0)
    })
}

/// `alpha_score` of every symbol within `universe`.
pub fn alpha_scores(universe: &[AlphaFactors]) -> Vec<Option<f64>> {
    percentile_ranks(&composites(universe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(m: f64, t: f64, v: f64) -> AlphaFactors {
        AlphaFactors {
            momentum_12_1: Some(m),
            trend_strength: Some(t),
            vol_adjusted_return: Some(v),
        }
    }

    #[test]
    fn every_column_alpha_reads_is_in_the_default_set() {
        let columns = crate::indicators::IndicatorSet::default().columns();
        for column in COLUMNS_READ {
            assert!(columns.iter().any(|c| c == column), "{column}");
        }
    }

    #[test]
    fn better_on_every_factor_ranks_higher() {
        let scores = alpha_scores(&[f(0.1, 10.0, 0.5), f(0.3, 30.0, 1.5), f(-0.2, -20.0, -1.0)]);
        assert_eq!(scores, vec![Some(0.5), Some(1.0), Some(0.0)]);
    }

    #[test]
    fn a_reference_scores_new_symbols_like_the_universe_it_came_from() {
        let universe: Vec<AlphaFactors> = (0..50)
            .map(|i| f(f64::from(i) / 50.0, f64::from(i), f64::from(i) / 10.0))
            .collect();
        let reference = AlphaReference::from_universe(&universe);
        let exact = alpha_scores(&universe);
        for (factors, exact) in universe.iter().zip(exact) {
            let approx = reference.score(factors).expect("scored");
            assert!(
                (approx - exact.expect("exact")).abs() <= 0.03,
                "{approx} vs {exact:?}"
            );
        }
        assert!(reference.score(&f(10.0, 100.0, 10.0)).expect("best") > 0.97);
        assert_eq!(AlphaReference::default().score(&universe[0]), None);
    }

    #[test]
    fn ties_share_a_rank_and_missing_factors_are_skipped() {
        assert_eq!(
            percentile_ranks(&[Some(1.0), Some(1.0), Some(3.0), None]),
            vec![Some(0.25), Some(0.25), Some(1.0), None]
        );
        assert_eq!(percentile_ranks(&[Some(7.0)]), vec![Some(0.5)]);
        assert_eq!(
            alpha_scores(&[f(0.1, 1.0, 0.1)]),
            vec![Some(0.5)],
            "a lone symbol is the median"
        );
        let no_history = AlphaFactors::default();
        let scores = alpha_scores(&[f(0.1, 1.0, 0.1), no_history, f(0.2, 2.0, 0.2)]);
        assert_eq!(scores[1], None);
        assert!(scores[2] > scores[0]);
    }
}
