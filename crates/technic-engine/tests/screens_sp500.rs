//! Screens on the real S&P 500 directory: the results of a screen are exactly those of the same
//! logic written by hand in Rust over the whole universe, and `rank_by` orders them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use technic_core::indicators::{average, momentum};
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};
use technic_engine::{
    DEFAULT_LOOKBACK_DAYS, DiagnosticKind, ProgressSnapshot, ScanReport, ScanRequest, Scanner,
};
use technic_testkit::sp500;

fn scan(request: &ScanRequest) -> ScanReport {
    let scanner = Scanner::new(Arc::new(FileSource::open(sp500()).expect("data dir opens")));
    scanner
        .run(request, &|_: &ProgressSnapshot| {})
        .expect("scan runs")
}

fn screened(filter: Option<&str>, rank_by: Option<&str>) -> ScanReport {
    scan(&ScanRequest {
        filter: filter.map(str::to_owned),
        rank_by: rank_by.map(str::to_owned),
        ..ScanRequest::default()
    })
}

/// What the hand-written filters read, per symbol, from the bars a scan reads.
struct Hand {
    sector: Option<String>,
    close: f64,
    rsi_14: f64,
    sma_200: f64,
    rel_volume: f64,
    return_20: f64,
    return_126: f64,
}

fn hand_values() -> HashMap<String, Hand> {
    let source = FileSource::open(sp500()).expect("opens");
    let mut values = HashMap::new();
    for info in source.universe().expect("universe") {
        let Ok(bars) = source.bars(&info.symbol, &BarWindow::last(DEFAULT_LOOKBACK_DAYS)) else {
            continue;
        };
        let n = bars.len();
        if n < 200 {
            continue;
        }
        let close = &bars.close;
        let newest = |series: Vec<f64>| series[n - 1];
        let avg_20 = bars.volume[n - 20..].iter().sum::<f64>() / 20.0;
        let ret = |k: usize| (close[n - 1] / close[n - 1 - k] - 1.0) * 100.0;
        values.insert(
            info.symbol.clone(),
            Hand {
                sector: info.sector.clone(),
                close: close[n - 1],
                rsi_14: newest(momentum::rsi(close, 14).expect("rsi")),
                sma_200: newest(average::sma(close, 200).expect("sma")),
                rel_volume: bars.volume[n - 1] / avg_20,
                return_20: ret(20),
                return_126: if n > 126 { ret(126) } else { f64::NAN },
            },
        );
    }
    values
}

fn symbols(report: &ScanReport) -> BTreeSet<String> {
    report.results.iter().map(|r| r.symbol.clone()).collect()
}

#[test]
fn a_bars_only_screen_equals_the_same_filter_written_by_hand() {
    let everything = screened(None, None);
    let hand = hand_values();
    let filter = "rsi_14 < 50 and close > sma_200 and rel_volume > 0.8 and return_20 > -10 and sector != 'Energy'";
    let expected: BTreeSet<String> = symbols(&everything)
        .into_iter()
        .filter(|s| {
            let h = &hand[s];
            h.rsi_14 < 50.0
                && h.close > h.sma_200
                && h.rel_volume > 0.8
                && h.return_20 > -10.0
                && h.sector.as_deref().is_some_and(|sector| sector != "Energy")
        })
        .collect();
    let report = screened(Some(filter), None);
    assert!(
        expected.len() > 20,
        "a screen that selects something: {}",
        expected.len()
    );
    assert!(expected.len() < everything.results.len() / 2);
    assert_eq!(symbols(&report), expected);
    // Every symbol still ends as a result or a diagnostic, the refused ones with the reason.
    assert_eq!(report.results.len() + report.diagnostics.len(), 506);
    let refused = report
        .diagnostics
        .iter()
        .filter(|d| {
            d.kind == DiagnosticKind::Skipped && d.message.contains("not matched by the screen")
        })
        .count();
    assert_eq!(refused, everything.results.len() - expected.len());
    // A screen filters results and changes nobody's rating: the cross-section is the same.
    assert_eq!(
        report.metrics.symbols_scanned,
        everything.metrics.symbols_scanned
    );
    for result in &report.results {
        let unscreened = everything
            .results
            .iter()
            .find(|r| r.symbol == result.symbol)
            .expect("rated");
        assert_eq!(
            (result.tech_rating, result.alpha_score),
            (unscreened.tech_rating, unscreened.alpha_score)
        );
    }
}

#[test]
fn a_screen_on_result_fields_and_ranks_is_exact_in_the_final_ranking() {
    let everything = screened(None, None);
    let hand = hand_values();
    let rated: Vec<&technic_engine::ScanResult> = everything.results.iter().collect();
    let returns: Vec<f64> = rated.iter().map(|r| hand[&r.symbol].return_126).collect();
    let ranks = technic_screen_pct_ranks(&returns);
    let expected: BTreeSet<String> = rated
        .iter()
        .zip(&ranks)
        .filter(|(r, rank)| r.tech_rating >= 50.0 && **rank > 50.0)
        .map(|(r, _)| r.symbol.clone())
        .collect();
    let report = screened(
        Some("tech_rating >= 50 and pct_rank(return_126) > 50"),
        Some("return_126"),
    );
    assert!(expected.len() > 20, "{}", expected.len());
    assert_eq!(symbols(&report), expected);
    // Ranked by return_126, highest first, ranks 1..n.
    let order: Vec<f64> = report
        .results
        .iter()
        .map(|r| hand[&r.symbol].return_126)
        .collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "{order:?}");
    assert!(
        report
            .results
            .iter()
            .enumerate()
            .all(|(i, r)| r.rank == i + 1)
    );
    // `-x` ranks the lowest first.
    let ascending = screened(Some("close > sma_200"), Some("-return_126"));
    let order: Vec<f64> = ascending
        .results
        .iter()
        .map(|r| hand[&r.symbol].return_126)
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]));
}

/// pandas' `rank(pct=True) * 100`, written out the slow way (count below plus half the ties).
fn technic_screen_pct_ranks(values: &[f64]) -> Vec<f64> {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let n = present.len() as f64;
    values
        .iter()
        .map(|&v| {
            if v.is_nan() {
                return f64::NAN;
            }
            let below = present.iter().filter(|&&x| x < v).count() as f64;
            let equal = present.iter().filter(|&&x| x == v).count() as f64;
            (below + (equal + 1.0) / 2.0) / n * 100.0
        })
        .collect()
}

#[test]
fn a_bad_expression_is_a_request_error_naming_field_and_column() {
    let error = ScanRequest {
        filter: Some("rsi14 < 30".into()),
        ..ScanRequest::default()
    }
    .validate()
    .expect_err("unknown name");
    assert_eq!((error.field, error.column), ("where", Some(1)));
    assert_eq!(
        error.to_string(),
        "where: column 1: unknown name `rsi14`; did you mean `rsi_14`?"
    );
    let error = ScanRequest {
        rank_by: Some("sector".into()),
        ..ScanRequest::default()
    }
    .validate()
    .expect_err("text ranking");
    assert_eq!(error.field, "rank_by");
}

/// What a scan streams with a screen: with a bars-only filter, exactly the final results; with a
/// cross-sectional one, a superset of them (a comparison the universe decides counts as passing).
#[test]
fn streamed_results_are_the_final_ones_or_a_superset() {
    use technic_engine::{EventLog, Payload, ScanOptions};
    let scanner = Scanner::new(Arc::new(FileSource::open(sp500()).expect("opens")));
    for (filter, exact) in [
        ("close > sma_50 and rsi_14 < 60", true),
        ("close > sma_50 and pct_rank(return_20) > 70", false),
    ] {
        let valid = ScanRequest {
            filter: Some(filter.to_owned()),
            ..ScanRequest::default()
        }
        .validate()
        .expect("valid");
        let options = ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        let outcome = scanner
            .execute(&valid, options, &log, &|_: &ProgressSnapshot| {})
            .expect("scan");
        let streamed: BTreeSet<String> = log
            .after(0)
            .iter()
            .filter_map(|m| match &m.payload {
                Payload::Result(r) => Some(r.symbol.clone()),
                _ => None,
            })
            .collect();
        let final_results = symbols(&outcome.report);
        assert!(!final_results.is_empty(), "{filter}");
        if exact {
            assert_eq!(streamed, final_results, "{filter}");
        } else {
            assert!(streamed.is_superset(&final_results), "{filter}");
            assert!(
                streamed.len() > final_results.len(),
                "{filter}: the streamed are candidates"
            );
        }
    }
}

/// A filter chooses what a scan shows, not what it learns: with a screen, or with
/// `min_tech_rating`, the learning update has every rated symbol's outcome, as a scan without
/// filters does, and the same sector figures.
#[test]
fn the_learning_update_learns_from_every_rated_symbol_whatever_the_filters() {
    use technic_engine::{EventLog, LearningUpdate, ScanOptions};
    let scanner = Scanner::new(Arc::new(FileSource::open(sp500()).expect("opens")));
    let learn = |request: ScanRequest| -> (LearningUpdate, ScanReport) {
        let valid = request.validate().expect("valid");
        let options = ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        let outcome = scanner
            .execute(&valid, options, &log, &|_: &ProgressSnapshot| {})
            .expect("scan");
        (outcome.learning, outcome.report)
    };
    let (plain, plain_report) = learn(ScanRequest::default());
    let learned = |update: &LearningUpdate| -> BTreeSet<String> {
        update.outcomes.iter().map(|o| o.symbol.clone()).collect()
    };
    assert_eq!(
        learned(&plain),
        symbols(&plain_report),
        "unfiltered: the results"
    );
    for request in [
        ScanRequest {
            filter: Some("rsi_2 < 10 and close > sma_200".into()),
            ..ScanRequest::default()
        },
        ScanRequest {
            min_tech_rating: Some(90.0),
            ..ScanRequest::default()
        },
    ] {
        let (update, report) = learn(request.clone());
        assert!(
            report.results.len() * 4 < plain_report.results.len(),
            "{request:?} refuses most"
        );
        assert_eq!(learned(&update), learned(&plain), "{request:?}");
        let by_symbol = |update: &LearningUpdate| {
            let mut outcomes = update.outcomes.clone();
            outcomes.sort_by(|a, b| a.symbol.cmp(&b.symbol));
            outcomes
        };
        assert_eq!(by_symbol(&update), by_symbol(&plain), "{request:?}");
        // Summed in another order (results first), so equal to a rounding error.
        assert_eq!(update.sector_stats.len(), plain.sector_stats.len());
        for (filtered, all) in update.sector_stats.iter().zip(&plain.sector_stats) {
            assert_eq!(
                (&filtered.sector, filtered.symbols),
                (&all.sector, all.symbols)
            );
            assert!((filtered.mean_rating - all.mean_rating).abs() < 1e-9);
            assert!((filtered.signal_rate - all.signal_rate).abs() < 1e-12);
        }
    }
}
