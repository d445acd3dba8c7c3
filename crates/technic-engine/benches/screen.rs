//! The screens benchmark of docs/benchmarks.md, on ../shared/data/sp500 with bars in memory:
//! - the in-memory scan without a screen and with a typical 5-clause `where`, alternated run by
//!   run so both see the same machine, and the ratio of their medians;
//! - a screen naming two indicators outside the default set, against the time those two
//!   indicators take alone on the same bars (what "costs only those indicators" means);
//! - the compiled filter's evaluation per symbol, and the capture of its series per symbol.
//!
//! Run with `cargo bench -p technic-engine --bench screen`. Figures are medians.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use technic_core::{Bars, Indicator};
use technic_data::files::FileSource;
use technic_data::memory::MemorySource;
use technic_data::{BarWindow, MarketData};
use technic_engine::{DEFAULT_LOOKBACK_DAYS, ProgressSnapshot, ScanRequest, Scanner};
use technic_screen::{Fields, Screen, ScreenOptions};

const TYPICAL: &str = "rsi_2 < 10 and close > sma_200 and rel_volume > 1.2 \
    and sector in ('Information Technology', 'Health Care') and pct_from_high_52w > -20";
const EXTRA: &str = "cci_50 > 0 and adx_30 > 20";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn timed<T>(f: impl FnOnce() -> T) -> Duration {
    let start = Instant::now();
    std::hint::black_box(f());
    start.elapsed()
}

fn main() {
    let data = std::env::var_os("TECHNIC_SHARED")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            PathBuf::from,
        )
        .join("data/sp500");
    let files = FileSource::open(&data).expect("../shared/data/sp500 opens");
    let memory =
        MemorySource::snapshot(&files, &BarWindow::last(DEFAULT_LOOKBACK_DAYS)).expect("snapshot");
    let scanner = Scanner::new(Arc::new(memory.clone()));
    let quiet = |_: &ProgressSnapshot| {};
    let request = |filter: Option<&str>| ScanRequest {
        filter: filter.map(str::to_owned),
        ..ScanRequest::default()
    };
    let plain = request(None);
    let typical = request(Some(TYPICAL));
    let extra = request(Some(EXTRA));
    // The built-in filters, which are screen expressions too: four that refuse next to nothing
    // (what judging them costs), and a usual set (which also saves the analysis it refuses).
    let builtins_idle = ScanRequest {
        sectors: Some(
            technic_engine::GICS_SECTORS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        ),
        min_price: Some(1.0),
        min_avg_volume: Some(1.0),
        min_tech_rating: Some(0.0),
        ..ScanRequest::default()
    };
    let builtins_usual = ScanRequest {
        min_price: Some(5.0),
        min_avg_volume: Some(1e6),
        min_tech_rating: Some(60.0),
        ..ScanRequest::default()
    };
    let results = |r: &ScanRequest| scanner.run(r, &quiet).expect("scan").results.len();
    let (idle_results, usual_results) = (results(&builtins_idle), results(&builtins_usual));
    let matched = scanner.run(&typical, &quiet).expect("scan").results.len();
    std::hint::black_box(scanner.run(&plain, &quiet).expect("scan"));

    println!("technic screens benchmark on {}\n", data.display());
    println!("| what | median | vs no screen |");
    println!("| --- | ---: | ---: |");
    let runs = 30;
    let (mut without, mut with, mut with_extra) = (Vec::new(), Vec::new(), Vec::new());
    let (mut idle, mut usual) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        without.push(timed(|| scanner.run(&plain, &quiet).expect("scan")));
        with.push(timed(|| scanner.run(&typical, &quiet).expect("scan")));
        with_extra.push(timed(|| scanner.run(&extra, &quiet).expect("scan")));
        idle.push(timed(|| scanner.run(&builtins_idle, &quiet).expect("scan")));
        usual.push(timed(|| {
            scanner.run(&builtins_usual, &quiet).expect("scan")
        }));
    }
    let (without, with, with_extra) = (median(without), median(with), median(with_extra));
    let (idle, usual) = (median(idle), median(usual));
    println!(
        "| in-memory scan, 506 symbols, no screen | {:.2} ms | |",
        ms(without)
    );
    println!(
        "| same with `--where` of 5 clauses ({matched} matches) | {:.2} ms | {:+.1} % |",
        ms(with),
        (with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
    println!(
        "| same with `--where '{EXTRA}'` (2 indicators outside the default set) | {:.2} ms | {:+.1} % |",
        ms(with_extra),
        (with_extra.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
    println!(
        "| same with the 4 built-in filters refusing next to nothing (all 11 sectors, min_price 1, min_avg_volume 1, min_tech_rating 0; {idle_results} results) | {:.2} ms | {:+.1} % |",
        ms(idle),
        (idle.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );
    println!(
        "| same with min_price 5, min_avg_volume 1e6, min_tech_rating 60 ({usual_results} results) | {:.2} ms | {:+.1} % |",
        ms(usual),
        (usual.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0
    );

    // What the two extra indicators cost alone, on the same bars, on as many threads as the scan.
    let universe = memory.universe().expect("universe");
    let histories: Vec<Bars> = universe
        .iter()
        .filter_map(|s| memory.bars(&s.symbol, &BarWindow::default()).ok())
        .collect();
    let extra_indicators = [
        Indicator::parse("cci_50").expect("cci"),
        Indicator::parse("adx_30").expect("adx"),
    ];
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let alone = median(
        (0..runs)
            .map(|_| {
                timed(|| {
                    std::thread::scope(|scope| {
                        for chunk in histories.chunks(histories.len().div_ceil(threads)) {
                            scope.spawn(move || {
                                for bars in chunk {
                                    for indicator in &extra_indicators {
                                        std::hint::black_box(
                                            indicator.compute(bars).expect("computes"),
                                        );
                                    }
                                }
                            });
                        }
                    })
                })
            })
            .collect(),
    );
    println!(
        "| cci_50 and adx_30 alone over the same bars, {threads} threads | {:.2} ms | (the extra screen's added cost: {:.2} ms) |",
        ms(alone),
        ms(with_extra.saturating_sub(without))
    );

    // The compiled filter per symbol: capture once, then evaluate.
    let screen = Screen::compile(
        Some(TYPICAL),
        None,
        &ScreenOptions {
            sectors: technic_engine::GICS_SECTORS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ..ScreenOptions::default()
        },
    )
    .expect("compiles");
    let captured: Vec<_> = histories
        .iter()
        .map(|b| screen.capture(b).expect("capture"))
        .collect();
    let sectors: Vec<Option<String>> = universe.iter().map(|s| s.sector.clone()).collect();
    let reps = 2_000;
    let evaluation = median(
        (0..15)
            .map(|_| {
                timed(|| {
                    let mut matches = 0usize;
                    for _ in 0..reps {
                        for (c, sector) in captured.iter().zip(&sectors) {
                            let fields = Fields {
                                sector: sector.as_deref(),
                                ..Fields::default()
                            };
                            matches +=
                                usize::from(screen.may_match(std::hint::black_box(c), &fields));
                        }
                    }
                    matches
                })
            })
            .collect(),
    );
    let per_symbol = evaluation.as_secs_f64() / (reps * captured.len()) as f64;
    println!(
        "\nCompiled evaluation of the 5-clause filter: {:.0} ns per symbol ({} symbols x {reps})",
        per_symbol * 1e9,
        captured.len()
    );
    let capture = median(
        (0..15)
            .map(|_| {
                timed(|| {
                    histories
                        .iter()
                        .map(|b| screen.capture(b).expect("capture").bytes())
                        .sum::<usize>()
                })
            })
            .collect(),
    );
    println!(
        "Capture of its series (rsi_2, sma_200, rel_volume, pct_from_high_52w; 1 thread): {:.1} µs per symbol",
        capture.as_secs_f64() / histories.len() as f64 * 1e6
    );
}
