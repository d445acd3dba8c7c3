//! Scans of the real S&P 500 data directory and of deliberately broken data: every symbol ends as a
//! result, a skip with its reason or an error naming the file, and nothing panics.

use std::path::Path;
use std::sync::{Arc, Mutex};

use technic_data::files::FileSource;
use technic_engine::{
    DiagnosticCause, DiagnosticKind, ProgressSnapshot, ScanReport, ScanRequest, ScanStatus,
    Scanner, Stage,
};
use technic_testkit::sp500;

fn scan(dir: &Path, request: &ScanRequest) -> ScanReport {
    let scanner = Scanner::new(Arc::new(FileSource::open(dir).expect("data dir opens")));
    scanner
        .run(request, &|_: &ProgressSnapshot| {})
        .expect("scan runs")
}

fn diagnostic<'a>(report: &'a ScanReport, symbol: &str) -> &'a technic_engine::Diagnostic {
    report
        .diagnostics
        .iter()
        .find(|d| d.symbol == symbol)
        .unwrap_or_else(|| panic!("a diagnostic for {symbol}"))
}

#[test]
fn every_symbol_of_the_sp500_is_accounted_for() {
    let report = scan(&sp500(), &ScanRequest::default());
    assert_eq!(report.status, ScanStatus::Completed);
    // 505 universe rows plus VAR, which has bars but no row.
    assert_eq!(report.metrics.symbols_total, 506);
    assert_eq!(report.results.len() + report.diagnostics.len(), 506);
    let mut seen: Vec<&str> = report
        .results
        .iter()
        .map(|r| r.symbol.as_str())
        .chain(report.diagnostics.iter().map(|d| d.symbol.as_str()))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 506, "no symbol twice");

    let bf = diagnostic(&report, "BF.B");
    assert_eq!(bf.kind, DiagnosticKind::Error);
    assert!(
        bf.message.contains("BF.B.csv") && bf.message.contains("not a bar file"),
        "{}",
        bf.message
    );
    let ptc = diagnostic(&report, "PTC");
    assert!(
        ptc.kind == DiagnosticKind::Error && ptc.message.contains("no bar file for PTC"),
        "{}",
        ptc.message
    );
    let vtrs = diagnostic(&report, "VTRS");
    assert!(
        vtrs.kind == DiagnosticKind::Skipped && vtrs.message.contains("107 bars"),
        "{}",
        vtrs.message
    );
    let var = report
        .results
        .iter()
        .find(|r| r.symbol == "VAR")
        .expect("VAR is scanned");
    assert_eq!(var.sector, None);

    // The split-adjusted AAPL closes near its real 2021-04-21 price, not a pre-split one.
    let aapl = report
        .results
        .iter()
        .find(|r| r.symbol == "AAPL")
        .expect("AAPL");
    assert_eq!(aapl.date.to_string(), "2021-04-21");
    assert!(
        (aapl.close - 133.5).abs() < 1.0,
        "AAPL close {}",
        aapl.close
    );
    assert_eq!(aapl.indicators.0.len(), 30);

    // Ranked by rating, ranks 1..n, alpha a percentile, and no more history held than the lookback.
    for (i, pair) in report.results.windows(2).enumerate() {
        assert!(pair[0].tech_rating >= pair[1].tech_rating);
        assert_eq!(pair[0].rank, i + 1);
    }
    assert!(
        report
            .results
            .iter()
            .all(|r| r.bars <= 400 && r.alpha_score.is_some_and(|a| (0.0..=1.0).contains(&a)))
    );
    assert!(report.metrics.bars_loaded <= 506 * 400);
}

#[test]
fn the_same_data_gives_the_same_ranking() {
    let (a, b) = (
        scan(&sp500(), &ScanRequest::default()),
        scan(&sp500(), &ScanRequest::default()),
    );
    // Everything but the finish-order counters, which depend on thread timing.
    let key = |r: &technic_engine::ScanResult| {
        (
            r.rank,
            r.symbol.clone(),
            r.signal,
            r.tech_rating.to_bits(),
            r.alpha_score.map(f64::to_bits),
            r.priority_tier,
            r.position,
            r.batch_number,
        )
    };
    let (ka, kb): (Vec<_>, Vec<_>) = (
        a.results.iter().map(key).collect(),
        b.results.iter().map(key).collect(),
    );
    assert!(ka == kb, "the two rankings differ");
    assert_eq!(a.diagnostics, b.diagnostics);
}

#[test]
fn filters_skip_with_their_reason_and_select_the_universe() {
    let request = ScanRequest {
        sectors: Some(vec!["energy".into()]),
        min_price: Some(20.0),
        min_tech_rating: Some(50.0),
        ..Default::default()
    };
    let report = scan(&sp500(), &request);
    assert_eq!(
        report.metrics.symbols_total, 23,
        "the Energy rows of universe.csv"
    );
    assert!(
        report
            .results
            .iter()
            .all(|r| r.sector.as_deref() == Some("Energy")
                && r.close >= 20.0
                && r.tech_rating >= 50.0)
    );
    for d in &report.diagnostics {
        assert_eq!(d.kind, DiagnosticKind::Skipped);
        assert!(
            d.message.contains("min_price") || d.message.contains("min_tech_rating"),
            "{}",
            d.message
        );
        // The request's own filters removed these: filtered out, not short of data.
        assert_eq!(d.cause, Some(DiagnosticCause::Filtered), "{}", d.message);
    }
    assert_eq!(report.results.len() + report.diagnostics.len(), 23);
    let m = &report.metrics;
    assert!(m.filtered_out > 0);
    assert_eq!((m.no_data, m.not_scanned, m.errors), (0, 0, 0));
    assert_eq!(m.skipped, m.filtered_out + m.no_data + m.not_scanned);
    assert_eq!(m.results + m.skipped + m.errors, m.symbols_total);

    let report = scan(
        &sp500(),
        &ScanRequest {
            symbols: Some(vec!["msft".into(), "NOPE".into()]),
            ..Default::default()
        },
    );
    assert_eq!(
        report
            .results
            .iter()
            .map(|r| r.symbol.as_str())
            .collect::<Vec<_>>(),
        ["MSFT"]
    );
    assert!(
        diagnostic(&report, "NOPE")
            .message
            .contains("no bar file for NOPE")
    );

    let report = scan(
        &sp500(),
        &ScanRequest {
            max_symbols: Some(7),
            lookback_days: Some(260),
            ..Default::default()
        },
    );
    assert_eq!(report.metrics.symbols_total, 7);
    assert!(report.results.iter().all(|r| r.bars == 260));
}

#[test]
fn progress_runs_through_the_four_stages_to_100() {
    let seen: Arc<Mutex<Vec<ProgressSnapshot>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let observer = move |s: &ProgressSnapshot| sink.lock().expect("lock").push(s.clone());
    let scanner = Scanner::new(Arc::new(FileSource::open(sp500()).expect("opens")));
    scanner
        .run(&ScanRequest::default(), &observer)
        .expect("scan");
    let seen = seen.lock().expect("lock");
    assert!(
        seen.len() > 20,
        "progress reported along the way, got {}",
        seen.len()
    );
    let stages: Vec<Stage> = seen
        .iter()
        .map(|s| s.current_stage)
        .fold(Vec::new(), |mut v, s| {
            if v.last() != Some(&s) {
                v.push(s);
            }
            v
        });
    assert_eq!(stages, Stage::ALL);
    let last = seen.last().expect("a final snapshot");
    assert_eq!(
        (last.status, last.overall_progress),
        (ScanStatus::Completed, 100.0)
    );
    assert!(seen.iter().any(|s| s.current_stage == Stage::SymbolScanning && s.message.starts_with("Scanning ")));
    // Snapshots come from several threads but are delivered in order: overall progress never drops.
    for pair in seen.windows(2) {
        assert!(
            pair[1].overall_progress >= pair[0].overall_progress,
            "{} then {}",
            pair[0].overall_progress,
            pair[1].overall_progress
        );
    }
}

#[test]
fn broken_files_become_diagnostics_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bars = dir.path().join("bars");
    std::fs::create_dir(&bars).expect("mkdir");
    let good = std::fs::read_to_string(sp500().join("bars/KO.csv")).expect("KO");
    std::fs::write(bars.join("GOOD.csv"), &good).expect("write");
    let mut lines: Vec<&str> = good.lines().collect();
    let n = lines.len();
    lines[n - 3] = "2021-04-19,50,49,51,50,50,100,0,1"; // high < low, near the end: inside the window
    std::fs::write(bars.join("INVERTED.csv"), lines.join("\n")).expect("write");
    let mut lines: Vec<&str> = good.lines().collect();
    lines.swap(n - 5, n - 4);
    std::fs::write(bars.join("SHUFFLED.csv"), lines.join("\n")).expect("write");
    std::fs::write(bars.join("EMPTY.csv"), "").expect("write");
    std::fs::write(bars.join("GARBAGE.csv.gz"), b"not gzip at all").expect("write");

    let report = scan(dir.path(), &ScanRequest::default());
    assert_eq!(
        report
            .results
            .iter()
            .map(|r| r.symbol.as_str())
            .collect::<Vec<_>>(),
        ["GOOD"]
    );
    let message = |s: &str| diagnostic(&report, s).message.clone();
    assert!(
        message("INVERTED").contains(&format!(
            "INVERTED.csv, line {}: high 49 is below low 51",
            n - 2
        )),
        "{}",
        message("INVERTED")
    );
    assert!(
        message("SHUFFLED").contains("is not after the previous bar's date"),
        "{}",
        message("SHUFFLED")
    );
    assert!(
        message("EMPTY").contains("EMPTY.csv"),
        "{}",
        message("EMPTY")
    );
    assert!(
        message("GARBAGE").contains("GARBAGE.csv.gz"),
        "{}",
        message("GARBAGE")
    );
    assert!(
        report
            .diagnostics
            .iter()
            .all(|d| d.kind == DiagnosticKind::Error)
    );
}

/// A second scan of the same symbols takes its priority snapshots from the cache, counts them as
/// hits, and scans in the same order to the same results; a different universe reads only the
/// symbols it has not seen.
#[test]
fn repeated_scans_share_snapshots_and_count_cache_hits() {
    let scanner = Scanner::new(Arc::new(FileSource::open(sp500()).expect("data dir opens")));
    let run = |request: &ScanRequest| {
        scanner
            .run(request, &|_: &ProgressSnapshot| {})
            .expect("scan runs")
    };
    let first = run(&ScanRequest::default());
    assert_eq!(
        (first.metrics.cache_hits, first.metrics.cache_misses),
        (0, 506)
    );
    let second = run(&ScanRequest::default());
    assert_eq!(
        (second.metrics.cache_hits, second.metrics.cache_misses),
        (506, 0)
    );
    let in_scan_order = |report: &ScanReport| {
        let mut order: Vec<(usize, String, String)> = report
            .results
            .iter()
            .map(|r| (r.position, r.symbol.clone(), r.signal.to_string()))
            .collect();
        order.sort();
        order
    };
    assert_eq!(in_scan_order(&first), in_scan_order(&second));

    let energy = run(&ScanRequest {
        sectors: Some(vec![String::from("Energy")]),
        ..ScanRequest::default()
    });
    assert!(energy.metrics.symbols_total > 0);
    assert_eq!(
        (energy.metrics.cache_hits, energy.metrics.cache_misses),
        (energy.metrics.symbols_total, 0),
        "every Energy symbol's snapshot was taken by the first scan"
    );
}

/// Scans that share analyses (as the server runs) give exactly what scans that compute everything
/// give, whatever their settings, whether they run at once or one after another; and what they
/// share is only what was computed from the very same bars.
#[test]
fn shared_analyses_change_no_result_whatever_the_settings() {
    let source = || Arc::new(FileSource::open(sp500()).expect("data dir opens"));
    let sharing = Scanner::new(source()).with_shared_analyses(64 << 20);
    let computing = Scanner::new(source());
    let requests = [
        ScanRequest::default(),
        ScanRequest {
            lookback_days: Some(300),
            ..ScanRequest::default()
        },
        ScanRequest {
            min_tech_rating: Some(60.0),
            min_price: Some(50.0),
            ..ScanRequest::default()
        },
    ];
    // Every field but the finish-order counters, which depend on thread timing.
    let comparable = |report: &ScanReport| {
        let mut results: Vec<serde_json::Value> = report
            .results
            .iter()
            .map(|r| {
                let mut value = serde_json::to_value(r).expect("result serialises");
                for counter in ["total_processed", "total_remaining"] {
                    value.as_object_mut().expect("object").remove(counter);
                }
                value
            })
            .collect();
        results.sort_by_key(|v| v["symbol"].as_str().unwrap_or_default().to_owned());
        (results, report.diagnostics.clone())
    };
    let run = |scanner: &Scanner, request: &ScanRequest| {
        scanner
            .run(request, &|_: &ProgressSnapshot| {})
            .expect("scan runs")
    };
    let expected: Vec<_> = requests
        .iter()
        .map(|request| comparable(&run(&computing, request)))
        .collect();

    // All at once, twice each: the first of a kind computes, its twin shares.
    let concurrent: Vec<ScanReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .chain(requests.iter())
            .map(|request| scope.spawn(|| run(&sharing, request)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("scan thread"))
            .collect()
    });
    for (i, report) in concurrent.iter().enumerate() {
        assert!(
            comparable(report) == expected[i % requests.len()],
            "request {} differs when analyses are shared",
            i % requests.len()
        );
    }
    let computed: usize = concurrent.iter().map(|r| r.metrics.analyses_computed).sum();
    let shared: usize = concurrent.iter().map(|r| r.metrics.analyses_shared).sum();
    // Two lookbacks are two sets of bars; the filtered request reads the default's bars.
    let rated = concurrent[0].metrics.analyses_computed + concurrent[0].metrics.analyses_shared;
    assert!(rated > 400, "{rated} symbols analysed");
    assert!(
        computed <= 2 * rated + 10,
        "each distinct set of bars computed about once: {computed} computed, {shared} shared"
    );
    assert!(shared >= 3 * rated, "{shared} shared");

    // Later, one at a time: everything is shared, nothing recomputed.
    let again = run(&sharing, &requests[0]);
    assert_eq!(again.metrics.analyses_computed, 0);
    assert!(comparable(&again) == expected[0]);
    // A scanner that does not share reports none.
    let plain = run(&computing, &requests[0]);
    assert_eq!(
        (
            plain.metrics.analyses_shared,
            plain.metrics.analyses_computed
        ),
        (0, 0)
    );
}
