//! Invariants of `analyse` on random panels (NaNs, ties, empty dates, missing scans included),
//! and an independent check of the rank IC against ranks counted the slow way.

use chrono::NaiveDate;
use proptest::prelude::*;
use technic_backtest::{
    Factor, ForwardReturns, Grid, Panel, Provenance, SignalCell, StatsOptions, analyse, render_csv,
    render_html, render_table,
};
use technic_core::rating::Signal;

const SIGNALS: [Signal; 5] = [
    Signal::StrongSell,
    Signal::Sell,
    Signal::Hold,
    Signal::Buy,
    Signal::StrongBuy,
];

/// A value that is sometimes missing and often tied (drawn from a coarse grid).
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        1 => Just(f64::NAN),
        3 => (-20i32..20).prop_map(|v| f64::from(v) / 10.0),
        3 => -1.0f64..1.0,
    ]
}

fn a_return() -> impl Strategy<Value = f64> {
    prop_oneof![1 => Just(f64::NAN), 6 => -0.5f64..0.5]
}

fn a_signal() -> impl Strategy<Value = Option<SignalCell>> {
    prop_oneof![
        1 => Just(None),
        5 => (0usize..5, any::<bool>()).prop_map(|(s, hq)| Some(SignalCell { signal: SIGNALS[s], high_quality: hq })),
    ]
}

fn panel() -> impl Strategy<Value = (Panel, usize)> {
    (3usize..14, 1usize..25, 2usize..6, 1usize..3).prop_flat_map(
        |(dates, symbols, quantiles, factors)| {
            let cells = dates * symbols;
            (
                prop::collection::vec(prop::collection::vec(value(), cells), factors),
                prop::collection::vec(prop::collection::vec(a_return(), cells), 2),
                prop::collection::vec(a_return(), cells),
                prop::collection::vec(a_signal(), cells),
                prop::collection::vec(1u64..40, dates),
            )
                .prop_map(move |(factors, returns, next, signals, gaps)| {
                    let mut date = NaiveDate::from_ymd_opt(2010, 1, 4).unwrap();
                    let dates = gaps
                        .iter()
                        .map(|&g| {
                            date = date + chrono::Days::new(g);
                            date
                        })
                        .collect();
                    let panel = Panel {
                        dates,
                        symbols: (0..symbols).map(|s| format!("S{s}")).collect(),
                        factors: factors
                            .into_iter()
                            .enumerate()
                            .map(|(i, values)| Factor {
                                name: format!("f{i}"),
                                values: Grid { values },
                            })
                            .collect(),
                        forward_returns: returns
                            .into_iter()
                            .zip([1, 21])
                            .map(|(values, horizon)| ForwardReturns {
                                horizon,
                                values: Grid { values },
                            })
                            .collect(),
                        next_period_returns: Grid { values: next },
                        signals,
                        provenance: Provenance {
                            source: "random".into(),
                            survivorship_bias: false,
                            dropped: Vec::new(),
                        },
                    };
                    (panel, quantiles)
                })
        },
    )
}

/// Average ranks by counting: 1 + (values below) + (ties − 1) / 2.
fn slow_ranks(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .map(|&v| {
            let below = values.iter().filter(|&&w| w < v).count() as f64;
            let equal = values.iter().filter(|&&w| w == v).count() as f64;
            1.0 + below + (equal - 1.0) / 2.0
        })
        .collect()
}

fn slow_spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let (rx, ry) = (slow_ranks(x), slow_ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn statistics_hold_their_invariants((panel, quantiles) in panel()) {
        let options = StatsOptions { quantiles, ..StatsOptions::default() };
        let report = analyse(&panel, &options).expect("a well-formed panel is analysed");
        let symbols = panel.symbols.len();
        for (factor, f) in report.factors.iter().zip(&panel.factors) {
            for (h, r) in factor.horizons.iter().zip(&panel.forward_returns) {
                prop_assert_eq!(h.series.len(), panel.dates.len());
                let mut formed_names = 0;
                for (d, day) in h.series.iter().enumerate() {
                    // The IC is a correlation, and equals ranks counted the slow way.
                    let (x, y): (Vec<f64>, Vec<f64>) = (0..symbols)
                        .map(|s| (f.values.values[d * symbols + s], r.values.values[d * symbols + s]))
                        .filter(|(a, b)| a.is_finite() && b.is_finite())
                        .unzip();
                    prop_assert_eq!(day.names, x.len());
                    if let Some(ic) = day.ic {
                        prop_assert!((-1.0..=1.0).contains(&ic));
                        let slow = slow_spearman(&x, &y).expect("defined where ours is");
                        prop_assert!((ic - slow).abs() < 1e-12, "{} vs {}", ic, slow);
                    } else {
                        prop_assert!(x.len() < quantiles || slow_spearman(&x, &y).is_none());
                    }
                    if day.quantiles_formed {
                        formed_names += day.names;
                    } else {
                        prop_assert!(day.top_return.is_none() && day.bottom_return.is_none());
                    }
                }
                // Every name of a date with quantiles is in exactly one bucket.
                let formed_dates = h.series.iter().filter(|d| d.quantiles_formed).count();
                let bucketed: f64 = h.quantiles.iter().map(|q| q.mean_count).sum::<f64>() * formed_dates as f64;
                prop_assert!((bucketed - formed_names as f64).abs() < 1e-9, "{} vs {}", bucketed, formed_names);
                prop_assert_eq!(
                    h.skipped.empty + h.skipped.too_few_names + formed_dates + h.skipped.tied_quantile_edges,
                    panel.dates.len()
                );
            }
            for t in factor.turnover.series.iter().filter_map(|t| t.value) {
                prop_assert!((0.0..=1.0).contains(&t));
            }
            // The equity curves compound the period returns, net of exactly the charged costs.
            let p = &factor.portfolio;
            prop_assert_eq!(p.equity.len(), panel.dates.len());
            prop_assert_eq!(p.periods.len(), panel.dates.len() - 1);
            prop_assert_eq!((p.equity[0].long, p.equity[0].benchmark), (1.0, 1.0));
            for (i, period) in p.periods.iter().enumerate() {
                prop_assert!((0.0..=2.0 + 1e-12).contains(&period.traded));
                prop_assert!((period.cost - period.traded * options.cost_bps / 10_000.0).abs() < 1e-15);
                let net = (1.0 - period.cost) * (1.0 + period.gross_return) - 1.0;
                prop_assert!((period.net_return - net).abs() < 1e-15);
                let (before, after) = (&p.equity[i], &p.equity[i + 1]);
                prop_assert!((after.long - before.long * (1.0 + period.net_return)).abs() < 1e-12);
                prop_assert!((after.benchmark - before.benchmark * (1.0 + period.benchmark_return)).abs() < 1e-12);
            }
            if let Some(dd) = p.long.max_drawdown {
                prop_assert!((0.0..=1.0).contains(&dd));
            }
        }
        // Selectivity: shares, and the five signals cover every scanned name.
        for d in 0..panel.dates.len() {
            let shares: Vec<f64> = report.selectivity[..5].iter().filter_map(|s| s.series[d].value).collect();
            if !shares.is_empty() {
                prop_assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
        for s in &report.selectivity {
            for v in s.series.iter().filter_map(|d| d.value) {
                prop_assert!((0.0..=1.0).contains(&v));
            }
        }
        // Deterministic, and every render works on it.
        prop_assert_eq!(&analyse(&panel, &options).unwrap(), &report);
        let csv = render_csv(&report);
        prop_assert_eq!(csv.lines().count(), 1 + panel.factors.len() * 2 * panel.dates.len());
        prop_assert!(render_table(&report).contains("Rank IC"));
        prop_assert!(render_html(&report).ends_with("</html>\n"));
    }
}
