//! The scan benchmark of docs/benchmarks.md, on ../shared/data/sp500:
//! - the whole CLI scan end to end (the release binary, warm page cache);
//! - the scan with bars already in memory, symbols/s and bars/s;
//! - the TA-Lib reference indicator set over the full histories, here and in TA-Lib itself (the C
//!   library through its Python package, same arrays), measured in the same run, as a ratio.
//!
//! Run with `scripts/bench` (it builds the release binary first). Figures are medians.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use technic_core::{Bars, IndicatorSet};
use technic_data::files::FileSource;
use technic_data::memory::MemorySource;
use technic_data::{BarWindow, MarketData};
use technic_engine::{DEFAULT_LOOKBACK_DAYS, ProgressSnapshot, ScanRequest, Scanner};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Median and best of `runs` timed calls, after one untimed call that warms caches and the allocator.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    std::hint::black_box(f());
    let samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    let min = samples.iter().min().copied().unwrap_or_default();
    (median(samples), min)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let data = std::env::var_os("TECHNIC_SHARED")
        .map_or_else(|| workspace().join("../shared"), PathBuf::from)
        .join("data/sp500");
    let files = FileSource::open(&data).expect("../shared/data/sp500 opens");
    let threads = rayon::current_num_threads();
    println!(
        "technic scan benchmark on {} ({threads} threads)\n",
        data.display()
    );
    println!("| what | median | best | throughput |");
    println!("| --- | ---: | ---: | --- |");

    // 1. The CLI end to end, as a user runs it.
    let binary = std::env::var_os("TECHNIC_BIN")
        .map_or_else(|| workspace().join("target/release/technic"), PathBuf::from);
    if binary.exists() {
        let run = || {
            let status = Command::new(&binary)
                .args(["scan", "--format", "json", "--quiet", "--data"])
                .arg(&data)
                .stdout(Stdio::null())
                .status()
                .expect("technic runs");
            assert!(status.success());
        };
        let (med, best) = time(15, run);
        println!(
            "| `technic scan --data sp500 --format json` end to end (process start to exit) | {:.1} ms | {:.1} ms | 506 symbols |",
            ms(med),
            ms(best)
        );
    } else {
        println!(
            "| CLI end to end | not measured: build {} first (scripts/bench does) | | |",
            binary.display()
        );
    }

    // 2. The scan with the bars already in memory.
    let memory =
        MemorySource::snapshot(&files, &BarWindow::last(DEFAULT_LOOKBACK_DAYS)).expect("snapshot");
    let bars_in_memory = memory.bar_count();
    let scanner = Scanner::new(Arc::new(memory));
    let quiet = |_: &ProgressSnapshot| {};
    let report = scanner.run(&ScanRequest::default(), &quiet).expect("scan");
    let symbols = report.metrics.symbols_total;
    let (med, best) = time(30, || {
        scanner.run(&ScanRequest::default(), &quiet).expect("scan")
    });
    println!(
        "| in-memory scan ({symbols} symbols, {bars_in_memory} bars, {DEFAULT_LOOKBACK_DAYS}-bar lookback) | {:.2} ms | {:.2} ms | {:.0} symbols/s, {:.2} M bars/s |",
        ms(med),
        ms(best),
        symbols as f64 / med.as_secs_f64(),
        bars_in_memory as f64 / med.as_secs_f64() / 1e6
    );

    // 3. Loading from files, for the split between IO and compute.
    let (med, best) = time(10, || {
        scanner_for(&files)
            .run(&ScanRequest::default(), &quiet)
            .expect("scan")
    });
    println!(
        "| scan from the data directory, in process (load + compute) | {:.1} ms | {:.1} ms | |",
        ms(med),
        ms(best)
    );

    // 4. The full reference indicator set over every full history, against TA-Lib.
    let universe = files.universe().expect("universe");
    let histories: Vec<Bars> = universe
        .iter()
        .filter_map(|s| files.bars(&s.symbol, &BarWindow::default()).ok())
        .collect();
    let total_bars: usize = histories.iter().map(Bars::len).sum();
    let set = IndicatorSet::default();
    let columns = set.columns().len();
    let (one_thread, _) = time(5, || {
        histories
            .iter()
            .map(|b| set.compute(b).expect("indicators").values.len())
            .sum::<usize>()
    });
    let (all_threads, _) = time(5, || {
        histories
            .par_iter()
            .map(|b| set.compute(b).expect("indicators").values.len())
            .sum::<usize>()
    });
    println!(
        "| {columns} indicator columns over full histories ({} symbols, {total_bars} bars), 1 thread | {:.0} ms | | {:.1} M bars/s |",
        histories.len(),
        ms(one_thread),
        total_bars as f64 / one_thread.as_secs_f64() / 1e6
    );
    println!(
        "| same, {threads} threads | {:.0} ms | | {:.1} M bars/s |",
        ms(all_threads),
        total_bars as f64 / all_threads.as_secs_f64() / 1e6
    );
    let peer = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(workspace().join("scripts/talib_peer_bench.py"))
        .arg("--data")
        .arg(&data)
        .args(["--repeat", "5"])
        .stderr(Stdio::null())
        .output();
    match peer
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
    {
        Some(peer) => {
            let seconds = peer["seconds_median"].as_f64().unwrap_or(f64::NAN);
            println!(
                "| {} ({} columns, {} bars), 1 thread | {:.0} ms | | {:.1} M bars/s |",
                peer["peer"].as_str().unwrap_or("TA-Lib"),
                peer["indicator_columns"],
                peer["bars"],
                seconds * 1e3,
                peer["bars"].as_f64().unwrap_or(0.0) / seconds / 1e6
            );
            println!(
                "\nRatio, TA-Lib (Python) time / technic time: {:.2}x on 1 thread, {:.2}x on {threads} threads",
                seconds / one_thread.as_secs_f64(),
                seconds / all_threads.as_secs_f64()
            );
        }
        None => println!(
            "\nTA-Lib peer not measured: `pip install -r requirements-test.txt` (numpy, ta-lib) and rerun."
        ),
    }
}

fn scanner_for(files: &FileSource) -> Scanner {
    Scanner::new(Arc::new(FileSource::open(files.dir()).expect("opens")))
}
