//! The standard rating's fit, reproducible: `cargo run --release -p technic-engine --example
//! fit_rating -- ../shared/data/sp500`.
//!
//! It applies the rule docs/rating.md states, written before the data was looked at, to the
//! fitting period only (month-ends 2001-12 to 2010-09, so that every 63-day forward return ends
//! inside 2010), and prints what it chose: each candidate reading's rank IC, the readings kept,
//! their signs, weights and standardisation, and the constants to freeze in
//! `technic-core/src/rating/standard.rs`. The held-out years are not read.

use chrono::NaiveDate;
use technic_backtest::{Panel, StatsOptions, analyse};
use technic_core::rating::components::NAMES;
use technic_data::files::FileSource;
use technic_engine::ScanRequest;
use technic_engine::backtest::{BacktestRequest, Every, build_panel};

/// A reading is kept when its 21-day rank IC's Newey–West t-statistic is at least this, in
/// either direction.
const MIN_ABS_T: f64 = 2.0;
const FIT_FROM: (i32, u32, u32) = (2001, 12, 1);
const FIT_TO: (i32, u32, u32) = (2010, 9, 30);

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

/// The mean over dates of each date's cross-sectional mean and standard deviation.
fn standardisation(panel: &Panel, factor: usize) -> (f64, f64) {
    let n = panel.symbols.len();
    let values = &panel.factors[factor].values.values;
    let (mut means, mut sds) = (Vec::new(), Vec::new());
    for d in 0..panel.dates.len() {
        let row: Vec<f64> = values[d * n..(d + 1) * n]
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if row.len() < 20 {
            continue;
        }
        let mean = row.iter().sum::<f64>() / row.len() as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (row.len() - 1) as f64;
        means.push(mean);
        sds.push(var.sqrt());
    }
    let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    (avg(&means), avg(&sds))
}

/// Mean over dates of the cross-sectional Pearson correlation of two factors.
fn correlation(panel: &Panel, a: usize, b: usize) -> f64 {
    let n = panel.symbols.len();
    let (va, vb) = (
        &panel.factors[a].values.values,
        &panel.factors[b].values.values,
    );
    let mut sum = 0.0;
    let mut count = 0;
    for d in 0..panel.dates.len() {
        let pairs: Vec<(f64, f64)> = (d * n..(d + 1) * n)
            .map(|i| (va[i], vb[i]))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
        if pairs.len() < 20 {
            continue;
        }
        let k = pairs.len() as f64;
        let (mx, my) = (
            pairs.iter().map(|p| p.0).sum::<f64>() / k,
            pairs.iter().map(|p| p.1).sum::<f64>() / k,
        );
        let cov: f64 = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        let sx: f64 = pairs
            .iter()
            .map(|(x, _)| (x - mx).powi(2))
            .sum::<f64>()
            .sqrt();
        let sy: f64 = pairs
            .iter()
            .map(|(_, y)| (y - my).powi(2))
            .sum::<f64>()
            .sqrt();
        if sx > 0.0 && sy > 0.0 {
            sum += cov / (sx * sy);
            count += 1;
        }
    }
    sum / f64::from(count.max(1))
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/data/sp500".into());
    let source = FileSource::open(std::path::Path::new(&dir))?;
    let mut factors: Vec<String> = NAMES.iter().map(|s| (*s).to_owned()).collect();
    factors.push("tech_rating".into());
    factors.push("alpha_score".into());
    let request = BacktestRequest {
        scan: ScanRequest::default()
            .validate()
            .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        from: Some(date(FIT_FROM)),
        to: Some(date(FIT_TO)),
        every: Every::Month,
        horizons: vec![5, 21, 63],
        factors,
    };
    let panel = build_panel(&source, &request, &|_, _, _| {})?;
    let report = analyse(&panel, &StatsOptions::default())?;
    println!(
        "fitting period: {} month-ends, {} to {}",
        panel.dates.len(),
        panel.dates[0],
        panel.dates[panel.dates.len() - 1]
    );
    println!(
        "{:<16} {:>9} {:>7} {:>9} {:>7} {:>9} {:>7} {:>12} {:>10}",
        "reading", "IC 5d", "t", "IC 21d", "t", "IC 63d", "t", "mean", "sd"
    );
    let mut kept = Vec::new();
    for (f, factor) in report.factors.iter().enumerate() {
        let at = |h: usize| {
            let r = factor
                .horizons
                .iter()
                .find(|r| r.horizon == h)
                .expect("horizon");
            (
                r.ic.mean.unwrap_or(f64::NAN),
                r.ic.t_stat.unwrap_or(f64::NAN),
            )
        };
        let (ic5, t5) = at(5);
        let (ic21, t21) = at(21);
        let (ic63, t63) = at(63);
        let (mean, sd) = standardisation(&panel, f);
        println!(
            "{:<16} {ic5:>9.4} {t5:>7.2} {ic21:>9.4} {t21:>7.2} {ic63:>9.4} {t63:>7.2} {mean:>12.5} {sd:>10.5}",
            factor.name
        );
        if NAMES.contains(&factor.name.as_str()) && t21.abs() >= MIN_ABS_T {
            kept.push((f, factor.name.clone(), ic21, mean, sd));
        }
    }
    println!("\nmean cross-sectional correlation of the kept readings:");
    for (a, name, ..) in &kept {
        let row: Vec<String> = kept
            .iter()
            .map(|(b, ..)| format!("{:>6.2}", correlation(&panel, *a, *b)))
            .collect();
        println!("{name:<16} {}", row.join(" "));
    }
    // Whether alpha_score says something the kept readings do not (issue: no near-duplicates).
    if let Some(alpha) = report.factors.iter().position(|f| f.name == "alpha_score") {
        for (f, name, ..) in &kept {
            println!(
                "alpha_score vs {name}: mean correlation {:.2}",
                correlation(&panel, alpha, *f)
            );
        }
    }
    let total: f64 = kept.iter().map(|(_, _, ic, ..)| ic.abs()).sum();
    println!("\nfrozen (sign, weight ∝ |IC 21d|, mean, sd):");
    for (_, name, ic, mean, sd) in &kept {
        println!(
            "    Weighted {{ reading: \"{name}\", sign: {:.1}, weight: {:.4}, mean: {mean:.6}, sd: {sd:.6} }},",
            ic.signum(),
            ic.abs() / total
        );
    }
    Ok(())
}
