//! The backtest benchmark of docs/benchmarks.md, on ../shared/data/sp500, 2001-12 to 2021-02,
//! default factors and horizons:
//! - monthly and daily, technic end to end in process (read, evaluate every symbol at every date
//!   as `scan --as-of` would, statistics), wall time and the process's peak memory;
//! - the peer, in the same run: alphalens-reloaded (`scripts/alphalens_reference.py`) computing the
//!   IC and quantile returns of the monthly panel's precomputed factors, that is, only the
//!   statistics, which technic computes as its last step.
//!
//! Run with `cargo bench -p technic-engine --bench backtest` (also from `scripts/bench`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use technic_backtest::{StatsOptions, render_panel_csv};
use technic_data::files::FileSource;
use technic_engine::ScanRequest;
use technic_engine::backtest::{BacktestRequest, Every, analyse, build_panel};

/// The allocator of the `technic` binary, so the figures are the command's own.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn request(every: Every) -> BacktestRequest {
    BacktestRequest {
        scan: ScanRequest::default()
            .validate()
            .expect("the default request is valid"),
        from: NaiveDate::from_ymd_opt(2001, 12, 1),
        to: NaiveDate::from_ymd_opt(2021, 2, 28),
        every,
        horizons: Vec::new(),
        factors: Vec::new(),
    }
}

/// Peak resident memory of this process so far (Linux), in MB.
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// One row of the table: the panel's and the statistics' times, the panel's size, memory so far.
fn row(name: &str, built: Duration, total: Duration, panel: &technic_backtest::Panel) {
    println!(
        "| {name} | {:.2} s | {:.2} s | {:.2} s | {} × {} | {:.0} MB |",
        secs(built),
        secs(total - built),
        secs(total),
        panel.dates.len(),
        panel.symbols.len(),
        peak_mb().unwrap_or(f64::NAN)
    );
}

fn main() {
    let data = std::env::var_os("TECHNIC_SHARED")
        .map_or_else(|| workspace().join("../shared"), PathBuf::from)
        .join("data/sp500");
    let source = FileSource::open(&data).expect("../shared/data/sp500 opens");
    println!(
        "technic backtest benchmark on {} ({} threads)\n",
        data.display(),
        rayon::current_num_threads()
    );
    println!("| run | panel | statistics | total | dates × symbols | peak RSS so far |");
    println!("| --- | ---: | ---: | ---: | --- | ---: |");
    let mut monthly = None;
    // The best monthly run's statistics and total time, for the ratios against the peer.
    let (mut monthly_stats, mut monthly_total) = (Duration::ZERO, Duration::ZERO);
    for (name, every, runs) in [("monthly", Every::Month, 3), ("daily", Every::Day, 1)] {
        let mut best: Option<(Duration, Duration)> = None;
        for _ in 0..runs {
            let started = Instant::now();
            let panel = build_panel(&source, &request(every), &|_, _, _| {}).expect("panel");
            let built = started.elapsed();
            let report = analyse(&panel, &StatsOptions::default()).expect("statistics");
            let total = started.elapsed();
            std::hint::black_box(&report);
            if best.is_none_or(|(_, t)| total < t) {
                best = Some((built, total));
            }
            if every == Every::Month {
                if best.is_some_and(|(_, t)| t == total) {
                    (monthly_stats, monthly_total) = (total - built, total);
                }
                monthly = Some(panel);
            } else {
                row(name, built, total, &panel);
            }
        }
        if every == Every::Month
            && let (Some((built, total)), Some(panel)) = (best, &monthly)
        {
            row(&format!("{name} (best of {runs})"), built, total, panel);
        }
    }

    let Some(panel) = monthly else { return };
    let dir = std::env::temp_dir().join(format!("technic-backtest-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("panel.csv");
    std::fs::write(&input, render_panel_csv(&panel)).expect("panel written");
    // `signal` (five values) is left out: alphalens cannot cut five values into ten quantiles
    // and stops; technic reports such dates as skipped.
    let factors: Vec<&str> = panel
        .factors
        .iter()
        .map(|f| f.name.as_str())
        .filter(|name| *name != "signal")
        .collect();
    let horizons: Vec<String> = panel
        .forward_returns
        .iter()
        .map(|r| r.horizon.to_string())
        .collect();
    // Newey–West lags as technic chooses them for month-ends: h − 1 trading days over ~21 per date.
    let lags: Vec<String> = panel
        .forward_returns
        .iter()
        .map(|r| (r.horizon.saturating_sub(1) / 21).to_string())
        .collect();
    let script = workspace().join("scripts/alphalens_reference.py");
    let started = Instant::now();
    let status = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(&script)
        .arg("--panel")
        .arg(&input)
        .args(["--factors", &factors.join(",")])
        .args(["--horizons", &horizons.join(",")])
        .args(["--quantiles", "10"])
        .args(["--lags", &lags.join(",")])
        .arg("--out")
        .arg(&dir)
        .status();
    let peer = started.elapsed();
    let _removed = std::fs::remove_dir_all(&dir);
    match status {
        Ok(s) if s.success() => {
            println!(
                "\nPeer, same run: alphalens-reloaded on the monthly panel's precomputed factors ({} factors × {} horizons, IC and quantile returns only): {:.2} s",
                factors.len(),
                horizons.len(),
                secs(peer)
            );
            println!(
                "Ratio, alphalens time / technic's statistics time: {:.0}x; alphalens time / technic's whole monthly backtest (reading and evaluating included): {:.1}x",
                secs(peer) / secs(monthly_stats).max(1e-9),
                secs(peer) / secs(monthly_total).max(1e-9)
            );
        }
        _ => println!(
            "\nPeer not measured: {} did not run (pip install -r requirements-test.txt)",
            script.display()
        ),
    }
}
