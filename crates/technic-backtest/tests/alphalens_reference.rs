//! The statistics against alphalens-reloaded (installed by the test command), on the same factor
//! values and forward returns: real adjusted closes of 61 S&P 500 members at month-ends from
//! 2004 to 2021, four factors (21-day momentum, 5-day reversal, a random one, and momentum
//! rounded to 10 % steps for ties), four horizons, 5 and 10 quantiles; within 1e-9.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

use chrono::{Datelike, NaiveDate};
use technic_backtest::{
    Factor, ForwardReturns, Grid, Panel, Provenance, Report, StatsOptions, analyse,
};
use technic_testkit::shared;

const SYMBOLS: [&str; 61] = [
    "AAPL", "MSFT", "KO", "XOM", "JNJ", "PG", "WMT", "JPM", "BAC", "C", "GE", "IBM", "INTC",
    "CSCO", "ORCL", "PFE", "MRK", "T", "VZ", "CVX", "HD", "MCD", "DIS", "NKE", "MMM", "CAT", "BA",
    "HON", "UNP", "UPS", "GS", "MS", "AMZN", "GOOGL", "NVDA", "AMD", "TXN", "QCOM", "ADBE", "CRM",
    "NFLX", "TSLA", "FB", "V", "MA", "PYPL", "ABBV", "CARR", "OTIS", "VTRS", "ABMD", "LLY", "AMGN",
    "GILD", "BMY", "COST", "TGT", "LOW", "SBUX", "F", "GM",
];
const HORIZONS: [usize; 4] = [1, 5, 21, 63];
const FACTORS: [&str; 4] = ["momentum_21", "reversal_5", "random", "momentum_ties"];
const TOLERANCE: f64 = 1e-9;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether alphalens can be imported. Under CI its absence is a failure: the test command
/// installs it, so missing means the set-up is broken.
fn alphalens_available() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import alphalens, statsmodels"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let message = "the Python package alphalens-reloaded is not importable (pip install -r requirements-test.txt)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: {message}"
        );
        eprintln!("SKIPPED alphalens_reference: {message}");
    }
    ok
}

/// Adjusted closes on the union of the symbols' trading days; NaN where a symbol has no bar.
struct Closes {
    calendar: Vec<NaiveDate>,
    by_symbol: Vec<Vec<f64>>,
}

/// A deliberately small reader of the AlphaVantage layout: date and adjusted close only.
fn read_closes(dir: &Path) -> Closes {
    let mut series: Vec<HashMap<NaiveDate, f64>> = Vec::new();
    let mut calendar = BTreeSet::new();
    for symbol in SYMBOLS {
        let path = dir.join(format!("{symbol}.csv"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut closes = HashMap::new();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            let date: NaiveDate = fields[0].parse().expect("date");
            closes.insert(date, fields[5].parse::<f64>().expect("adjusted_close"));
            calendar.insert(date);
        }
        series.push(closes);
    }
    let calendar: Vec<NaiveDate> = calendar.into_iter().collect();
    let by_symbol = series
        .iter()
        .map(|closes| {
            calendar
                .iter()
                .map(|d| closes.get(d).copied().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    Closes {
        calendar,
        by_symbol,
    }
}

/// A deterministic uniform number in [0, 1) per cell (splitmix64).
fn uniform(seed: u64) -> f64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn change(closes: &[f64], from: usize, to: usize) -> f64 {
    match (closes.get(from), closes.get(to)) {
        (Some(a), Some(b)) => b / a - 1.0,
        _ => f64::NAN,
    }
}

fn build_panel(closes: &Closes) -> Panel {
    let cal = &closes.calendar;
    let from = NaiveDate::from_ymd_opt(2004, 1, 1).unwrap();
    let eval: Vec<usize> = (0..cal.len())
        .filter(|&i| cal[i] >= from && (i + 1 == cal.len() || cal[i + 1].month() != cal[i].month()))
        .collect();
    let cells = |f: &dyn Fn(usize, usize, &[f64]) -> f64| -> Grid {
        let mut values = Vec::with_capacity(eval.len() * SYMBOLS.len());
        for (d, &i) in eval.iter().enumerate() {
            for c in &closes.by_symbol {
                values.push(if c[i].is_finite() {
                    f(d, i, c)
                } else {
                    f64::NAN
                });
            }
        }
        Grid { values }
    };
    let momentum = |_: usize, i: usize, c: &[f64]| {
        if i >= 21 {
            change(c, i - 21, i)
        } else {
            f64::NAN
        }
    };
    let factors = vec![
        Factor {
            name: FACTORS[0].into(),
            values: cells(&momentum),
        },
        Factor {
            name: FACTORS[1].into(),
            values: cells(&|_, i, c| {
                if i >= 5 {
                    -change(c, i - 5, i)
                } else {
                    f64::NAN
                }
            }),
        },
        Factor {
            name: FACTORS[2].into(),
            values: Grid { values: Vec::new() },
        },
        Factor {
            name: FACTORS[3].into(),
            values: cells(&|d, i, c| (momentum(d, i, c) * 100.0).round()),
        },
    ];
    // The random factor's seed is the cell itself, which `cells` does not pass: filled here.
    let mut factors = factors;
    factors[2].values.values = (0..eval.len() * SYMBOLS.len())
        .map(|cell| {
            let (d, s) = (cell / SYMBOLS.len(), cell % SYMBOLS.len());
            let present = closes.by_symbol[s][eval[d]].is_finite();
            if present {
                uniform(cell as u64)
            } else {
                f64::NAN
            }
        })
        .collect();
    let forward_returns = HORIZONS
        .iter()
        .map(|&h| ForwardReturns {
            horizon: h,
            values: cells(&|_, i, c| change(c, i, i + h)),
        })
        .collect();
    let next_period_returns = cells(&|d, i, c| match eval.get(d + 1) {
        Some(&next) => change(c, i, next),
        None => f64::NAN,
    });
    Panel {
        dates: eval.iter().map(|&i| cal[i]).collect(),
        symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
        factors,
        forward_returns,
        next_period_returns,
        signals: vec![None; eval.len() * SYMBOLS.len()],
        provenance: Provenance {
            source: "61 S&P 500 members".into(),
            survivorship_bias: true,
            dropped: Vec::new(),
        },
    }
}

fn write_panel(panel: &Panel, path: &Path) {
    std::fs::write(path, technic_backtest::render_panel_csv(panel)).expect("panel written");
}

/// Rows of a reference CSV, header skipped; an empty cell parses to NaN.
fn rows(dir: &Path, file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(file)).expect("reference written");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn number(text: &str) -> f64 {
    if text.is_empty() {
        f64::NAN
    } else {
        text.parse().expect("a number")
    }
}

fn close(ours: Option<f64>, theirs: f64) -> bool {
    match ours {
        None => theirs.is_nan(),
        Some(v) => (v - theirs).abs() <= TOLERANCE,
    }
}

fn run_alphalens(panel: &Panel, report: &Report, quantiles: usize, dir: &Path) {
    let input = dir.join("panel.csv");
    write_panel(panel, &input);
    let lags: Vec<String> = report.factors[0]
        .horizons
        .iter()
        .map(|h| h.newey_west_lags.to_string())
        .collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/alphalens_reference.py");
    let status = Command::new(python())
        .arg(&script)
        .arg("--panel")
        .arg(&input)
        .args(["--factors", &FACTORS.join(",")])
        .args(["--horizons", &HORIZONS.map(|h| h.to_string()).join(",")])
        .args(["--quantiles", &quantiles.to_string()])
        .args(["--lags", &lags.join(",")])
        .arg("--out")
        .arg(dir)
        .status()
        .expect("python runs");
    assert!(status.success(), "alphalens_reference.py failed");
}

fn compare(report: &Report, dir: &Path) {
    let factor = |name: &str| {
        report
            .factors
            .iter()
            .find(|f| f.name == name)
            .expect("factor")
    };
    let horizon = |name: &str, h: &str| {
        let h: usize = h.parse().unwrap();
        factor(name)
            .horizons
            .iter()
            .find(|r| r.horizon == h)
            .expect("horizon")
    };

    // The IC of every date alphalens has; technic also keeps the IC of dates whose tied
    // values make quantile edges coincide (alphalens drops those dates whole).
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for row in rows(dir, "ic.csv") {
        let h = horizon(&row[0], &row[1]);
        let date: NaiveDate = row[2].parse().unwrap();
        let ours = h
            .series
            .iter()
            .find(|d| d.date == date)
            .expect("date in the series");
        assert!(
            close(ours.ic, number(&row[3])),
            "IC {} {}d {date}: {:?} vs {}",
            row[0],
            row[1],
            ours.ic,
            row[3]
        );
        *seen.entry((row[0].clone(), row[1].clone())).or_default() += 1;
    }
    for f in &report.factors {
        for h in &f.horizons {
            let theirs = seen
                .get(&(f.name.clone(), h.horizon.to_string()))
                .copied()
                .unwrap_or(0);
            let ours_with_quantiles = h.series.iter().filter(|d| d.top_return.is_some()).count();
            assert_eq!(
                theirs, ours_with_quantiles,
                "{} {}d: the dates alphalens binned",
                f.name, h.horizon
            );
            assert_eq!(
                h.ic.dates,
                theirs + h.skipped.tied_quantile_edges,
                "{} {}d: technic's extra IC dates are exactly the tied ones",
                f.name,
                h.horizon
            );
        }
    }

    let quantile_rows = rows(dir, "quantiles.csv");
    assert_eq!(
        quantile_rows.len(),
        FACTORS.len() * HORIZONS.len() * report.quantiles
    );
    for row in quantile_rows {
        let h = horizon(&row[0], &row[1]);
        let q = &h.quantiles[row[2].parse::<usize>().unwrap() - 1];
        let what = format!("{} {}d quantile {}", row[0], row[1], row[2]);
        assert!(
            close(q.mean_return, number(&row[3])),
            "{what} mean: {:?} vs {}",
            q.mean_return,
            row[3]
        );
        assert!(
            close(q.mean_excess, number(&row[4])),
            "{what} demeaned: {:?} vs {}",
            q.mean_excess,
            row[4]
        );
        assert!(
            close(q.excess_std_error, number(&row[5])),
            "{what} std error: {:?} vs {}",
            q.excess_std_error,
            row[5]
        );
    }

    let mut turnover_dates = 0;
    for row in rows(dir, "turnover.csv") {
        let date: NaiveDate = row[1].parse().unwrap();
        let ours = factor(&row[0])
            .turnover
            .series
            .iter()
            .find(|d| d.date == date)
            .expect("date");
        assert!(
            close(ours.value, number(&row[2])),
            "turnover {} {date}: {:?} vs {}",
            row[0],
            ours.value,
            row[2]
        );
        turnover_dates += usize::from(!row[2].is_empty());
    }
    let ours: usize = report
        .factors
        .iter()
        .map(|f| {
            f.turnover
                .series
                .iter()
                .filter(|d| d.value.is_some())
                .count()
        })
        .sum();
    assert_eq!(ours, turnover_dates, "turnover on the same dates");

    // The t-stats are comparable where both kept the same IC dates.
    for row in rows(dir, "ic_tstat.csv") {
        let h = horizon(&row[0], &row[1]);
        if h.skipped.tied_quantile_edges > 0 {
            continue;
        }
        assert!(
            close(h.ic.t_stat, number(&row[2])),
            "NW t {} {}d: {:?} vs {}",
            row[0],
            row[1],
            h.ic.t_stat,
            row[2]
        );
    }
}

#[test]
fn ic_quantile_returns_and_turnover_equal_alphalens() {
    if !alphalens_available() {
        return;
    }
    let closes = read_closes(&shared().join("data/sp500/bars"));
    let panel = build_panel(&closes);
    assert!(panel.dates.len() > 200, "month-ends 2004–2021");
    for quantiles in [5, 10] {
        let options = StatsOptions {
            quantiles,
            ..StatsOptions::default()
        };
        let report = analyse(&panel, &options).expect("analyse");
        // The 63-day horizon overlaps the next two month-ends: the t-stat must use lags.
        assert_eq!(report.factors[0].horizons[3].newey_west_lags, 2);
        let dir = tempfile::tempdir().expect("tempdir");
        run_alphalens(&panel, &report, quantiles, dir.path());
        compare(&report, dir.path());
        if quantiles == 10 {
            let ties = &report.factors[3].horizons[0].skipped;
            assert!(
                ties.tied_quantile_edges > 0,
                "the tied factor exercises dates alphalens cannot bin"
            );
        }
    }
}
