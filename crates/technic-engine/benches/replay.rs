//! The prioritisation benchmark of docs/benchmarks.md, on ../shared/data/sp500:
//! - a replay of history: at 24 dates (the data cut at each, learning only from earlier dates), the
//!   prioritised order against alphabetical order — position of the first high-quality signal,
//!   symbols scanned to reach five, and the `high` tier's signal rate against the universe's;
//! - time to first result from the data directory, in a running process.
//!
//! Run with `cargo bench -p technic-engine --bench replay`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use technic_core::priority::Tier;
use technic_data::files::FileSource;
use technic_data::memory::MemorySource;
use technic_data::{BarWindow, MarketData};
use technic_engine::{
    EventLog, Learned, ProgressSnapshot, ScanOptions, ScanOutcome, ScanRequest, Scanner,
};

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

/// Positions (1-based, in scan order) of the high-quality signals.
fn signal_positions(outcome: &ScanOutcome) -> Vec<usize> {
    let mut positions: Vec<usize> = outcome
        .report
        .results
        .iter()
        .filter(|r| r.high_quality)
        .map(|r| r.position)
        .collect();
    positions.sort_unstable();
    positions
}

fn scan(
    source: &Arc<dyn MarketData>,
    prioritize: bool,
    as_of: NaiveDate,
    learned: Learned,
) -> ScanOutcome {
    let request = ScanRequest {
        enable_prioritization: Some(prioritize),
        ..Default::default()
    }
    .validate()
    .expect("valid");
    let options = ScanOptions {
        learned: Arc::new(learned),
        as_of: Some(as_of),
        ..ScanOptions::default()
    };
    let log = EventLog::new(options.scan_id.clone());
    Scanner::new(Arc::clone(source))
        .execute(&request, options, &log, &|_: &ProgressSnapshot| {})
        .expect("scan")
}

fn main() {
    let data: PathBuf = std::env::var_os("TECHNIC_SHARED")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            PathBuf::from,
        )
        .join("data/sp500");
    let files = FileSource::open(&data).expect("sp500 opens");

    // Time to first result, in a running process (what a server sees), from the data directory.
    let scanner = Scanner::new(Arc::new(FileSource::open(&data).expect("opens")));
    let request = ScanRequest::default().validate().expect("valid");
    let mut first: Vec<f64> = (0..15)
        .map(|_| {
            let options = ScanOptions::default();
            let log = EventLog::new(options.scan_id.clone());
            let outcome = scanner
                .execute(&request, options, &log, &|_: &ProgressSnapshot| {})
                .expect("scan");
            outcome
                .report
                .metrics
                .time_to_first_result
                .expect("a result")
                * 1e3
        })
        .collect();
    let best = first.iter().copied().fold(f64::MAX, f64::min);
    println!(
        "Time to first result, data directory, prioritised scan (snapshot of 506 symbols first), 15 runs: median {:.1} ms, best {best:.1} ms\n",
        median(&mut first).unwrap_or(f64::NAN)
    );

    let source: Arc<dyn MarketData> =
        Arc::new(MemorySource::snapshot(&files, &BarWindow::default()).expect("snapshot"));
    // Dates: the first trading day on or after 15 January and 15 July, 2010–2021 (the last on the data's end).
    let calendar = source
        .bars("AAPL", &BarWindow::default())
        .expect("AAPL")
        .dates;
    let mut dates: Vec<NaiveDate> = (2010..=2021)
        .flat_map(|y| [(y, 1), (y, 7)])
        .filter_map(|(y, m)| NaiveDate::from_ymd_opt(y, m, 15))
        .filter_map(|d| calendar.iter().copied().find(|c| *c >= d))
        .collect();
    dates.dedup();

    println!(
        "| date | HQ signals / scanned | first HQ: prioritised | first HQ: alphabetical | to 5 HQ: prioritised | to 5 HQ: alphabetical | high-tier rate | universe rate | ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut learned = Learned::default();
    let (mut first_p, mut first_a, mut five_p, mut five_a, mut ratios, mut first_p_pct) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for date in &dates {
        let smart = scan(&source, true, *date, learned.clone());
        let plain = scan(&source, false, *date, Learned::default());
        // Learning only from earlier dates: this date's outcomes are applied after both scans.
        learned.apply(&smart.learning);
        let (sp, ap) = (signal_positions(&smart), signal_positions(&plain));
        let m = &smart.report.metrics;
        let scanned = m.symbols_scanned;
        let signals = sp.len();
        let high = smart
            .report
            .results
            .iter()
            .filter(|r| r.priority_tier == Some(Tier::High))
            .count();
        let high_signals = smart
            .report
            .results
            .iter()
            .filter(|r| r.priority_tier == Some(Tier::High) && r.high_quality)
            .count();
        let universe_rate = signals as f64 / scanned.max(1) as f64;
        let high_rate = high_signals as f64 / high.max(1) as f64;
        let ratio = (universe_rate > 0.0).then(|| high_rate / universe_rate);
        let show = |v: Option<&usize>| v.map_or("-".to_owned(), ToString::to_string);
        println!(
            "| {date} | {signals} / {scanned} | {} | {} | {} | {} | {:.0}% | {:.0}% | {} |",
            show(sp.first()),
            show(ap.first()),
            show(sp.get(4)),
            show(ap.get(4)),
            high_rate * 100.0,
            universe_rate * 100.0,
            ratio.map_or("-".to_owned(), |r| format!("{r:.2}x"))
        );
        if let (Some(p), Some(a)) = (sp.first(), ap.first()) {
            first_p.push(*p as f64);
            first_a.push(*a as f64);
            first_p_pct.push(*p as f64 * 100.0 / m.symbols_total as f64);
        }
        if let (Some(p), Some(a)) = (sp.get(4), ap.get(4)) {
            five_p.push(*p as f64);
            five_a.push(*a as f64);
        }
        if let Some(r) = ratio {
            ratios.push(r);
        }
    }
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.1}"));
    println!(
        "\nMedians over the {} dates with a high-quality signal ({} dates in all):",
        first_p.len(),
        dates.len()
    );
    println!(
        "- first high-quality signal at position: prioritised {}, alphabetical {} (prioritised: {}% of the universe)",
        fmt(median(&mut first_p)),
        fmt(median(&mut first_a)),
        fmt(median(&mut first_p_pct))
    );
    println!(
        "- symbols scanned to reach 5: prioritised {}, alphabetical {}",
        fmt(median(&mut five_p)),
        fmt(median(&mut five_a))
    );
    println!(
        "- high-tier signal rate / universe signal rate: median {}x (over {} dates with signals)",
        fmt(median(&mut ratios)),
        ratios.len()
    );
}
