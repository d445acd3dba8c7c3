//! The ratings of the golden symbols on the real S&P 500 data, both models, as a checked-in
//! snapshot: a change to a formula, a constant or a band is a visible diff in review
//! (`tests/snapshots/rating_golden__*.snap`), never a silent one.

use std::fmt::Write as _;
use std::sync::Arc;

use technic_data::files::FileSource;
use technic_engine::{ProgressSnapshot, ScanRequest, Scanner};
use technic_testkit::sp500;

const GOLDEN: [&str; 9] = [
    "AAPL", "BA", "CARR", "GE", "JPM", "KO", "MSFT", "NVDA", "TSLA",
];

fn scan(rating: &str) -> technic_engine::ScanReport {
    let scanner = Scanner::new(Arc::new(
        FileSource::open(sp500()).expect("the S&P 500 data directory opens"),
    ));
    let request = ScanRequest {
        rating: Some(rating.to_owned()),
        ..ScanRequest::default()
    };
    scanner
        .run(&request, &|_: &ProgressSnapshot| {})
        .expect("scan runs")
}

/// The golden symbols' rating, signal, quality, alpha and sub-scores in a scan of the whole
/// universe (the standard rating is a percentile of it).
fn table(rating: &str) -> String {
    let report = scan(rating);
    let mut out = String::from(
        "symbol date       rating   signal      hq    alpha    trend    momentum volume   volatility\n",
    );
    for symbol in GOLDEN {
        let r = report
            .results
            .iter()
            .find(|r| r.symbol == symbol)
            .unwrap_or_else(|| panic!("{symbol} is rated"));
        writeln!(
            out,
            "{:<6} {} {:>8.4} {:<11} {:<5} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
            r.symbol,
            r.date,
            r.tech_rating,
            r.signal.as_str(),
            r.high_quality,
            r.alpha_score.unwrap_or(f64::NAN),
            r.trend_score,
            r.momentum_score,
            r.volume_score,
            r.volatility_score,
        )
        .expect("writing to a string");
    }
    out
}

#[test]
fn standard_ratings_of_the_golden_symbols() {
    insta::assert_snapshot!(table("standard"));
}

#[test]
fn classic_ratings_of_the_golden_symbols() {
    insta::assert_snapshot!(table("classic"));
}

/// Today's whole ranking of the S&P 500 under the default rating: rank, symbol, rating, signal,
/// quality, and every diagnostic. A change anywhere in the rating or the data path shows here.
#[test]
fn the_full_ranking_of_the_sp500() {
    let report = scan("standard");
    let mut out = String::new();
    for r in &report.results {
        writeln!(
            out,
            "{:>3} {:<6} {:>8.4} {:<11} {}",
            r.rank,
            r.symbol,
            r.tech_rating,
            r.signal.as_str(),
            r.high_quality
        )
        .expect("writing to a string");
    }
    // Where the data lives differs between machines; the snapshot says <data>.
    let data = sp500().display().to_string();
    for d in &report.diagnostics {
        let message = d.message.replace(&data, "<data>");
        writeln!(out, "    {:<6} {:?}: {message}", d.symbol, d.kind).expect("writing");
    }
    insta::assert_snapshot!(out);
}
