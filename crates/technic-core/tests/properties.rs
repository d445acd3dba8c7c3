//! Invariants that hold for any valid bars, checked on generated ones.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use technic_core::alpha;
use technic_core::bars::Bar;
use technic_core::indicators::{average, momentum, trend, volatility, volume};
use technic_core::progress::{ProgressTracker, ScanStatus, Stage};
use technic_core::rating::components::Components;
use technic_core::rating::{self, Signal, standard};
use technic_core::{Bars, IndicatorSet};

/// Random-walk bars that satisfy the bar invariants (positive prices, high >= low, volume >= 0).
fn bars_strategy(min: usize, max: usize) -> impl Strategy<Value = Bars> {
    prop::collection::vec(
        (
            -0.08f64..0.08,
            0.0f64..0.05,
            0.0f64..0.05,
            0.0f64..1e7,
            -0.03f64..0.03,
        ),
        min..max,
    )
    .prop_map(|steps| {
        let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
        let mut bars = Bars::default();
        let mut close = 50.0;
        for (i, (ret, up, down, vol, gap)) in steps.into_iter().enumerate() {
            let open = close * (1.0 + gap);
            close *= 1.0 + ret;
            let bar = Bar {
                date: start + Days::new(i as u64),
                open,
                high: open.max(close) * (1.0 + up),
                low: open.min(close) * (1.0 - down),
                close,
                volume: vol.floor(),
            };
            bars.push(bar).expect("generated bars are valid");
        }
        bars
    })
}

fn defined(series: &[f64]) -> impl Iterator<Item = f64> + '_ {
    series.iter().copied().filter(|v| !v.is_nan())
}

const EPS: f64 = 1e-9;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn oscillators_stay_in_their_ranges(bars in bars_strategy(1, 300), n in 2u32..40) {
        let (h, l, c, v) = (&bars.high, &bars.low, &bars.close, &bars.volume);
        for x in defined(&momentum::rsi(c, n).expect("rsi")) { prop_assert!((-EPS..=100.0 + EPS).contains(&x), "rsi {x}"); }
        for x in defined(&momentum::mfi(h, l, c, v, n).expect("mfi")) { prop_assert!((-EPS..=100.0 + EPS).contains(&x), "mfi {x}"); }
        for x in defined(&momentum::willr(h, l, c, n).expect("willr")) { prop_assert!((-100.0 - EPS..=EPS).contains(&x), "willr {x}"); }
        let [k, d] = momentum::stoch(h, l, c, n, 3, 3).expect("stoch");
        for x in defined(&k).chain(defined(&d)) { prop_assert!((-EPS..=100.0 + EPS).contains(&x), "stoch {x}"); }
        let [down, up] = momentum::aroon(h, l, n).expect("aroon");
        // TA-Lib's own AROON can give 100.00000000000001; we match TA-Lib rather than clamp.
        for x in defined(&down).chain(defined(&up)) { prop_assert!((-EPS..=100.0 + EPS).contains(&x), "aroon {x}"); }
        for x in defined(&trend::adx(h, l, c, n).expect("adx")) { prop_assert!((-EPS..=100.0 + EPS).contains(&x), "adx {x}"); }
        for x in defined(&volatility::atr(h, l, c, n).expect("atr")) { prop_assert!(x >= 0.0, "atr {x}"); }
    }

    #[test]
    fn rsi_last_is_the_series_last(bars in bars_strategy(0, 120), n in 2u32..20, tick in prop::sample::select(vec![0.0, 0.5, 5.0])) {
        let close: Vec<f64> = bars.close.iter().map(|x| if tick > 0.0 { (x / tick).round() * tick } else { *x }).collect();
        let last = momentum::rsi_last(&close, n).expect("rsi_last");
        let series = momentum::rsi(&close, n).expect("rsi");
        let expected = series.last().copied().filter(|v| !v.is_nan());
        prop_assert_eq!(last.map(f64::to_bits), expected.map(f64::to_bits));
    }

    /// Every window of a history, through the track, is `rsi_last` of the window to the bit.
    #[test]
    fn rsi_track_gives_each_windows_rsi_last(bars in bars_strategy(0, 400), n in 2u32..8, tick in prop::sample::select(vec![0.0, 0.5, 5.0]), window in 1usize..150) {
        let close: Vec<f64> = bars.close.iter().map(|x| if tick > 0.0 { (x / tick).round() * tick } else { *x }).collect();
        let track = momentum::RsiTrack::new(&close, n).expect("track");
        for end in 1..=close.len() {
            let start = end.saturating_sub(window);
            let expected = momentum::rsi_last(&close[start..end], n).expect("rsi_last");
            let got = track.last_of(&close, start, end).expect("last_of");
            prop_assert_eq!(got.map(f64::to_bits), expected.map(f64::to_bits), "window {}..{}", start, end);
        }
    }

    /// Prices rounded to a few ticks make ties, flat bars and zero ranges common: the branches
    /// where the fused pass and TA-Lib could part.
    #[test]
    fn directional_equals_the_three_talib_functions(bars in bars_strategy(0, 200), n in 2u32..30, tick in prop::sample::select(vec![0.0, 0.5, 5.0])) {
        let round = |xs: &[f64]| -> Vec<f64> { xs.iter().map(|x| if tick > 0.0 { (x / tick).round() * tick } else { *x }).collect() };
        let (h, l, c) = (round(&bars.high), round(&bars.low), round(&bars.close));
        let fused = trend::directional(&h, &l, &c, n).expect("directional");
        let same = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        prop_assert!(same(&fused.adx, &trend::adx(&h, &l, &c, n).expect("adx")), "adx");
        prop_assert!(same(&fused.plus_di, &trend::plus_di(&h, &l, &c, n).expect("plus_di")), "plus_di");
        prop_assert!(same(&fused.minus_di, &trend::minus_di(&h, &l, &c, n).expect("minus_di")), "minus_di");
    }

    #[test]
    fn averages_of_a_constant_are_the_constant(value in 0.01f64..1e6, len in 1usize..200, n in 2u32..50) {
        let series = vec![value; len];
        for out in [average::sma(&series, n), average::ema(&series, n), average::wma(&series, n), average::kama(&series, n)] {
            for x in defined(&out.expect("average")) {
                prop_assert!((x - value).abs() <= 1e-9 * value, "{x} != {value}");
            }
        }
    }

    #[test]
    fn every_output_has_the_input_length_and_a_leading_warm_up(bars in bars_strategy(0, 260)) {
        let set = IndicatorSet::default();
        let frame = set.compute(&bars).expect("indicators");
        for (name, series) in frame.columns.iter().zip(&frame.values) {
            prop_assert_eq!(series.len(), bars.len(), "{}", name);
            // Undefined only at the start: once a value exists, every later bar has one.
            let first = series.iter().position(|v| !v.is_nan()).unwrap_or(series.len());
            prop_assert!(series[first..].iter().all(|v| v.is_finite()), "{} has a gap", name);
        }
    }

    #[test]
    fn bollinger_bands_are_ordered(bars in bars_strategy(1, 200), n in 2u32..30, up in 0.0f64..4.0, down in 0.0f64..4.0) {
        let [u, m, l] = volatility::bbands(&bars.close, n, up, down).expect("bbands");
        for i in 0..u.len() {
            if !u[i].is_nan() {
                prop_assert!(u[i] + EPS * m[i] >= m[i] && m[i] + EPS * m[i] >= l[i], "{} {} {}", u[i], m[i], l[i]);
            }
        }
    }

    #[test]
    fn obv_moves_by_the_day_volume_in_the_close_direction(bars in bars_strategy(2, 100)) {
        let obv = volume::obv(&bars.close, &bars.volume).expect("obv");
        for i in 1..obv.len() {
            let step = obv[i] - obv[i - 1];
            let expected = match bars.close[i].partial_cmp(&bars.close[i - 1]) {
                Some(std::cmp::Ordering::Greater) => bars.volume[i],
                Some(std::cmp::Ordering::Less) => -bars.volume[i],
                _ => 0.0,
            };
            prop_assert_eq!(step, expected);
        }
    }

    #[test]
    fn ratings_and_sub_scores_stay_within_0_to_100(bars in bars_strategy(1, 320)) {
        let frame = IndicatorSet::default().compute(&bars).expect("indicators");
        let r = rating::rate(&bars, &frame).expect("non-empty bars are rated");
        for score in [r.tech_rating, r.trend_score, r.momentum_score, r.volume_score, r.volatility_score] {
            prop_assert!((0.0..=100.0).contains(&score), "{score}");
        }
        prop_assert_eq!(r.signal, rating::signal(r.tech_rating, r.trend_direction));
    }

    #[test]
    fn standard_ratings_and_sub_scores_stay_within_0_to_100(bars in bars_strategy(1, 320)) {
        let components = Components::of(&bars);
        if let Some(r) = standard::rate(&components, rating::TrendDirection::Flat) {
            for score in [r.tech_rating, r.trend_score, r.momentum_score, r.volume_score, r.volatility_score] {
                prop_assert!((0.0..=100.0).contains(&score), "{score}");
            }
            prop_assert_eq!(r.signal, standard::signal(r.tech_rating));
            prop_assert!(r.composite.is_some_and(|c| c.abs() <= standard::WINSOR));
        } else {
            prop_assert!(bars.len() <= 5, "only a history shorter than a week has no reading");
        }
    }

    /// On any universe of 20 or more, each band holds its share give or take a symbol and rounding (distinct
    /// composites), and `STRONG_BUY` never more than 10 % and a symbol (ties included).
    #[test]
    fn signal_bands_hold_their_shares(
        distinct in prop::collection::btree_set(-100_000i64..100_000, 20..700),
        tied in prop::collection::vec(0u8..12, 20..700),
    ) {
        for (composites, exact) in [
            (distinct.iter().map(|&c| Some(c as f64 / 1000.0)).collect::<Vec<_>>(), true),
            (tied.iter().map(|&c| Some(f64::from(c))).collect::<Vec<_>>(), false),
        ] {
            let n = composites.len() as f64;
            let percentiles = standard::cross_section_percentiles(&composites);
            let signals: Vec<Signal> = percentiles.iter().map(|p| {
                let p = p.expect("every composite is placed");
                assert!((0.0..=100.0).contains(&p), "{p}");
                standard::signal(p)
            }).collect();
            let share = |s: Signal| signals.iter().filter(|x| **x == s).count() as f64 / n;
            prop_assert!(share(Signal::StrongBuy) <= 0.10 + 1.0 / n, "{}", share(Signal::StrongBuy));
            if exact {
                for (signal, expected) in [(Signal::StrongBuy, 0.05), (Signal::Buy, 0.15), (Signal::Sell, 0.15), (Signal::StrongSell, 0.05)] {
                    prop_assert!((share(signal) - expected).abs() <= 1.2 / n, "{signal:?} {} of {n}", share(signal));
                }
            }
        }
    }

    #[test]
    fn alpha_scores_are_percentiles(raw in prop::collection::vec((prop::option::of(-1.0f64..1.0), prop::option::of(-50.0f64..50.0), prop::option::of(-3.0f64..3.0)), 1..60)) {
        let factors: Vec<alpha::AlphaFactors> = raw.iter().map(|&(m, t, v)| alpha::AlphaFactors { momentum_12_1: m, trend_strength: t, vol_adjusted_return: v }).collect();
        let scores = alpha::alpha_scores(&factors);
        prop_assert_eq!(scores.len(), factors.len());
        for (score, f) in scores.iter().zip(&factors) {
            let has_factor = f.momentum_12_1.is_some() || f.trend_strength.is_some() || f.vol_adjusted_return.is_some();
            if let Some(s) = score { prop_assert!((0.0..=1.0).contains(s)); }
            if !has_factor { prop_assert!(score.is_none()); }
        }
    }

    #[test]
    fn overall_progress_never_goes_backwards(steps in prop::collection::vec(0u64..=50, 1..40)) {
        let mut tracker = ProgressTracker::new("p");
        let mut last = 0.0;
        let mut now = 0.0;
        for stage in Stage::ALL {
            tracker.start_stage(stage, 50, now, "stage");
            let mut done = 0;
            for &step in &steps {
                done = (done + step).min(50);
                now += 0.1;
                tracker.advance(done, "item");
                let overall = tracker.snapshot(now).overall_progress;
                prop_assert!(overall + 1e-9 >= last && overall <= 100.0, "{last} -> {overall}");
                last = overall;
            }
            tracker.finish_stage(stage, now);
        }
        tracker.finish(ScanStatus::Completed, now, "done");
        prop_assert_eq!(tracker.snapshot(now).overall_progress, 100.0);
    }
}
