//! The standard rating: a composite of the readings of [`super::components`] that the fit on
//! 2001-12..2010-09 kept, placed as a percentile in the scanned cross-section; the signal is the
//! percentile's band. Frozen: docs/rating.md has the rule that chose it and what it then showed on
//! the held-out 2011–2021, and a change to a constant here is a change to that document.
//!
//! A symbol's composite depends on its own bars only (each reading is standardised by constants,
//! not by the day's cross-section), so a scan can stream a rating before it has seen the rest of
//! the universe: the composite is placed among the stored distribution of the last broad scan, or,
//! before there is one, on the standard normal the fitting period's cross-sections average to. The
//! final ranking places it exactly among the symbols rated.

use super::components::Components;
use super::{Rating, Signal, TrendDirection, scale};

/// A reading the composite uses, with the sign, weight and standardisation the fit gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighted {
    /// One of [`NAMES`].
    pub reading: &'static str,
    /// +1 where a higher reading preceded higher returns in the fit, −1 where lower did.
    pub sign: f64,
    pub weight: f64,
    /// The fitting period's average cross-sectional mean and standard deviation.
    pub mean: f64,
    pub sd: f64,
}

/// What `cargo run --release -p technic-engine --example fit_rating` printed on the fitting period.
/// Only the past week's return (short-term reversal) passed the rule's |t| ≥ 2.
pub const COMPOSITE: [Weighted; 1] = [Weighted {
    reading: "return_5",
    sign: -1.0,
    weight: 1.0,
    mean: 0.008200,
    sd: 0.042522,
}];

/// Every reading's standardisation over the fitting period (the same program's table), for the
/// sub-scores, which describe a symbol whether or not the composite uses a reading.
const STANDARDISATION: [(&str, f64, f64); 8] = [
    ("momentum_12_1", 0.14196, 0.36440),
    ("high_52w", -0.15756, 0.12193),
    ("return_5", 0.00820, 0.04252),
    ("return_21", 0.01255, 0.08884),
    ("volatility_63", 0.35068, 0.16014),
    ("trend_200", 0.04066, 0.14975),
    ("pullback", 28.55756, 26.95484),
    ("abnormal_volume", -0.07238, 0.30640),
];

/// A standardised reading is clamped here, so one extreme value cannot dominate.
pub const WINSOR: f64 = 3.0;

/// Fewest rated symbols a scan's cross-section needs for the final rating to be placed within it;
/// a smaller scan (`--symbols AAPL`) is placed among the stored distribution instead, since a
/// percentile among three symbols says nothing about the market.
pub const MIN_CROSS_SECTION: usize = 20;

/// Percentile bands of the signal (0–100, inclusive at the band's edge).
pub const STRONG_BUY_FROM: f64 = 95.0;
pub const BUY_FROM: f64 = 80.0;
pub const SELL_TO: f64 = 20.0;
pub const STRONG_SELL_TO: f64 = 5.0;

/// `clamp((x − mean) / sd, −WINSOR, WINSOR)`.
pub fn standardise(x: f64, mean: f64, sd: f64) -> f64 {
    ((x - mean) / sd).clamp(-WINSOR, WINSOR)
}

fn reading(components: &Components, name: &str) -> Option<f64> {
    components.by_name(name).flatten().filter(|v| v.is_finite())
}

fn z(components: &Components, name: &str) -> Option<f64> {
    let (_, mean, sd) = STANDARDISATION.iter().find(|(n, ..)| *n == name)?;
    reading(components, name).map(|x| standardise(x, *mean, *sd))
}

/// The weighted mean of the signed, standardised readings the symbol has; `None` with none.
pub fn composite(components: &Components) -> Option<f64> {
    let (mut sum, mut weights) = (0.0, 0.0);
    for w in &COMPOSITE {
        if let Some(x) = reading(components, w.reading) {
            sum += w.weight * w.sign * standardise(x, w.mean, w.sd);
            weights += w.weight;
        }
    }
    (weights > 0.0).then(|| sum / weights)
}

/// Where a composite falls on the standard normal, 0–100: the placement before any scan has stored
/// a distribution. The logistic curve `1 / (1 + e^(−1.702 z))` is within 0.01 of the normal's
/// cumulative distribution everywhere (Bowling et al. 2009), and needs no special function.
pub fn prior_percentile(composite: f64) -> f64 {
    100.0 / (1.0 + (-1.702 * composite).exp())
}

/// The band of a percentile.
pub fn signal(percentile: f64) -> Signal {
    match percentile {
        p if p >= STRONG_BUY_FROM => Signal::StrongBuy,
        p if p >= BUY_FROM => Signal::Buy,
        p if p <= STRONG_SELL_TO => Signal::StrongSell,
        p if p <= SELL_TO => Signal::Sell,
        _ => Signal::Hold,
    }
}

/// Rates a symbol by its readings, placed on the prior until a cross-section places it
/// ([`Rating::placed`]). `trend_direction` is the classic one (price against SMA 50 and the
/// directional indicators), reported as it always was. `None` when the symbol has none of the
/// composite's readings.
pub fn rate(components: &Components, trend_direction: TrendDirection) -> Option<Rating> {
    let composite = composite(components)?;
    let sub_score = |zs: &[Option<f64>]| {
        let defined: Vec<f64> = zs.iter().flatten().copied().collect();
        if defined.is_empty() {
            50.0
        } else {
            scale(
                defined.iter().sum::<f64>() / defined.len() as f64,
                -2.0,
                2.0,
            )
        }
    };
    let tech_rating = prior_percentile(composite);
    Some(Rating {
        tech_rating,
        trend_score: sub_score(&[z(components, "high_52w"), z(components, "trend_200")]),
        momentum_score: sub_score(&[z(components, "momentum_12_1")]),
        volume_score: sub_score(&[z(components, "abnormal_volume")]),
        volatility_score: sub_score(&[z(components, "volatility_63").map(|v| -v)]),
        trend_direction,
        signal: signal(tech_rating),
        composite: Some(composite),
    })
}

/// Each composite's percentile (0–100) among `composites`: mean rank / (n − 1), ties sharing their
/// mean rank, as `alpha_score` is ranked.
pub fn cross_section_percentiles(composites: &[Option<f64>]) -> Vec<Option<f64>> {
    crate::alpha::percentile_ranks(composites)
        .into_iter()
        .map(|p| p.map(|p| p * 100.0))
        .collect()
}

/// The composite's percentile (0–100) among a stored distribution (ascending), its equal values
/// sharing their mean rank; `None` for an empty one.
pub fn percentile_among(sorted: &[f64], composite: f64) -> Option<f64> {
    crate::alpha::rank_among(sorted, composite).map(|p| p * 100.0)
}

#[cfg(test)]
mod tests {
    use super::super::components::NAMES;
    use super::*;

    fn with_return_5(r: f64) -> Components {
        Components {
            return_5: Some(r),
            ..Components::default()
        }
    }

    #[test]
    fn every_weighted_reading_exists_and_the_weights_sum_to_one() {
        for w in &COMPOSITE {
            assert!(NAMES.contains(&w.reading), "{}", w.reading);
            assert!(w.sd > 0.0 && w.weight > 0.0 && w.sign.abs() == 1.0);
        }
        let total: f64 = COMPOSITE.iter().map(|w| w.weight).sum();
        assert!((total - 1.0).abs() < 1e-12);
        for name in NAMES {
            assert!(STANDARDISATION.iter().any(|(n, ..)| *n == name), "{name}");
        }
    }

    #[test]
    fn the_weeks_losers_rate_above_its_winners() {
        let loser = rate(&with_return_5(-0.08), TrendDirection::Flat).expect("rated");
        let winner = rate(&with_return_5(0.08), TrendDirection::Flat).expect("rated");
        assert!(loser.tech_rating > winner.tech_rating);
        assert!(loser.composite > winner.composite);
        // A week 3 sd worse than the average scores the clamp, and no further.
        assert_eq!(
            composite(&with_return_5(-1.0)),
            composite(&with_return_5(0.0082 - 3.0 * 0.042522 - 1e-9))
        );
        assert_eq!(rate(&Components::default(), TrendDirection::Up), None);
    }

    #[test]
    fn bands_are_percentiles() {
        assert_eq!(signal(95.0), Signal::StrongBuy);
        assert_eq!(signal(94.9), Signal::Buy);
        assert_eq!(signal(80.0), Signal::Buy);
        assert_eq!(signal(50.0), Signal::Hold);
        assert_eq!(signal(20.0), Signal::Sell);
        assert_eq!(signal(5.0), Signal::StrongSell);
        let rating = rate(&with_return_5(0.0), TrendDirection::Flat).expect("rated");
        let top = rating.placed(99.0);
        assert_eq!((top.tech_rating, top.signal), (99.0, Signal::StrongBuy));
        assert_eq!(rating.placed(3.0).signal, Signal::StrongSell);
    }

    #[test]
    fn the_prior_is_the_normal_distribution_to_a_point() {
        assert!((prior_percentile(0.0) - 50.0).abs() < 1e-12);
        // Φ(1) = 84.13 %, Φ(−1.645) = 5 %.
        assert!((prior_percentile(1.0) - 84.13).abs() < 1.0);
        assert!((prior_percentile(-1.645) - 5.0).abs() < 1.0);
    }

    #[test]
    fn placing_among_a_distribution_matches_the_exact_rank() {
        let sorted: Vec<f64> = (0..101).map(f64::from).collect();
        assert_eq!(percentile_among(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile_among(&sorted, -5.0), Some(0.0));
        assert_eq!(percentile_among(&sorted, 500.0), Some(100.0));
        assert_eq!(percentile_among(&[], 1.0), None);
        let exact = cross_section_percentiles(&[Some(1.0), Some(3.0), Some(2.0), None]);
        assert_eq!(exact, vec![Some(0.0), Some(100.0), Some(50.0), None]);
    }
}
