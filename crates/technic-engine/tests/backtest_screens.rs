//! Screens in the backtest: an expression factor equal to a named one gives the very same report
//! rows, and `where` restricts the universe at each date exactly as a hand-written filter on the
//! same point-in-time window does.

use chrono::NaiveDate;
use technic_backtest::{Panel, StatsOptions};
use technic_core::{Bar, Bars, IndicatorSet};
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};
use technic_engine::ScanRequest;
use technic_engine::backtest::{self, BacktestError, BacktestRequest, Every, NOT_MATCHED};
use technic_testkit::sp500;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

/// Forty symbols: enough for the standard rating's cross-section (20) to be placed each date.
fn symbols(source: &FileSource) -> Vec<String> {
    let universe = source.universe().expect("universe");
    universe.iter().take(40).map(|i| i.symbol.clone()).collect()
}

fn request(symbols: &[String], filter: Option<&str>, factors: &[&str]) -> BacktestRequest {
    BacktestRequest {
        scan: ScanRequest {
            symbols: Some(symbols.to_vec()),
            filter: filter.map(str::to_owned),
            ..ScanRequest::default()
        }
        .validate()
        .expect("valid request"),
        from: Some(date("2018-01-01")),
        to: Some(date("2018-12-31")),
        every: Every::Month,
        horizons: vec![5, 21],
        factors: factors.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn build(source: &FileSource, request: &BacktestRequest) -> Panel {
    backtest::build_panel(source, request, &|_, _, _| {}).expect("panel builds")
}

fn window(bars: &Bars, start: usize, end: usize) -> Bars {
    let mut window = Bars::with_capacity(end - start);
    for i in start..end {
        window
            .push(Bar {
                date: bars.dates[i],
                open: bars.open[i],
                high: bars.high[i],
                low: bars.low[i],
                close: bars.close[i],
                volume: bars.volume[i],
            })
            .expect("a bar of the history");
    }
    window
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn an_expression_factor_equal_to_a_named_one_gives_the_same_report_rows() {
    let source = FileSource::open(sp500()).expect("data dir opens");
    let symbols = symbols(&source);
    let named = ["tech_rating", "alpha_score", "rsi_14", "momentum_score"];
    let written = [
        "(tech_rating)",
        "alpha_score + 0",
        "rsi_14 * 1",
        "momentum_score - 0",
    ];
    let a = build(&source, &request(&symbols, None, &named));
    let b = build(&source, &request(&symbols, None, &written));
    for (fa, fb) in a.factors.iter().zip(&b.factors) {
        let finite = fa.values.values.iter().filter(|v| v.is_finite()).count();
        assert!(finite > 300, "{}: {finite} values", fa.name);
        for (x, y) in fa.values.values.iter().zip(&fb.values.values) {
            assert!(same(*x, *y), "{} against {}: {x} {y}", fa.name, fb.name);
        }
    }
    let options = StatsOptions {
        quantiles: 5,
        cost_bps: 10.0,
        splits: vec![],
    };
    let report_a = backtest::analyse(&a, &options).expect("statistics");
    let mut report_b = backtest::analyse(&b, &options).expect("statistics");
    for (factor, name) in report_b.factors.iter_mut().zip(named) {
        factor.name = name.to_owned();
    }
    assert_eq!(report_a.factors, report_b.factors);
    assert_eq!(report_a.signal_groups, report_b.signal_groups);
}

#[test]
fn where_restricts_each_date_as_a_hand_written_filter_on_the_same_window() {
    let source = FileSource::open(sp500()).expect("data dir opens");
    let symbols = symbols(&source);
    let factors = ["tech_rating", "rsi_14"];
    let all = build(&source, &request(&symbols, None, &factors));
    let screened = build(
        &source,
        &request(&symbols, Some("close > sma_200 and rsi_14 < 70"), &factors),
    );
    assert_eq!(all.dates, screened.dates);
    assert_eq!(all.symbols, screened.symbols);
    let columns = IndicatorSet::parse_list("sma_200,rsi_14").expect("spec");
    let mut refused = 0;
    let mut kept = 0;
    for (s, symbol) in all.symbols.iter().enumerate() {
        let history = source.bars(symbol, &BarWindow::default()).expect("bars");
        for (d, as_of) in all.dates.iter().enumerate() {
            let cell = all.cell(d, s);
            if all.signals[cell].is_none() {
                assert!(screened.signals[cell].is_none(), "{symbol} {as_of}");
                continue;
            }
            // The window `scan --as-of` reads (the newest 400 bars on or before the date), and
            // the filter written out by hand.
            let end = history.dates.partition_point(|day| day <= as_of);
            let bars = window(&history, end.saturating_sub(400), end);
            let frame = columns.compute(&bars).expect("indicators");
            let last = |i: usize| frame.values[i].last().copied().unwrap_or(f64::NAN);
            let close = *bars.close.last().expect("a bar");
            let passes = close > last(0) && last(1) < 70.0;
            assert_eq!(
                screened.signals[cell].is_some(),
                passes,
                "{symbol} {as_of}: close {close}, sma_200 {}, rsi_14 {}",
                last(0),
                last(1)
            );
            if passes {
                kept += 1;
                for (fa, fb) in all.factors.iter().zip(&screened.factors) {
                    assert!(same(fa.values.values[cell], fb.values.values[cell]));
                }
            } else {
                refused += 1;
                assert!(
                    screened
                        .factors
                        .iter()
                        .all(|f| f.values.values[cell].is_nan())
                );
            }
        }
    }
    assert!(kept > 50 && refused > 50, "kept {kept}, refused {refused}");
    let dropped = screened
        .provenance
        .dropped
        .iter()
        .find(|d| d.reason == NOT_MATCHED)
        .expect("the refused are counted");
    assert_eq!(dropped.symbol_dates, refused);
}

#[test]
fn where_reads_the_placed_rating_of_the_date() {
    let source = FileSource::open(sp500()).expect("data dir opens");
    let symbols = symbols(&source);
    let all = build(&source, &request(&symbols, None, &["tech_rating"]));
    let screened = build(
        &source,
        &request(&symbols, Some("tech_rating >= 60"), &["tech_rating"]),
    );
    let mut kept = 0;
    for (cell, rating) in all.factors[0].values.values.iter().enumerate() {
        let expected = all.signals[cell].is_some() && *rating >= 60.0;
        assert_eq!(screened.signals[cell].is_some(), expected, "cell {cell}");
        kept += usize::from(expected);
    }
    assert!(kept > 30, "{kept}");
}

#[test]
fn a_bad_factor_expression_is_refused_naming_the_factor() {
    let source = FileSource::open(sp500()).expect("data dir opens");
    let symbols = symbols(&source);
    let refusal = |factor: &str| match backtest::check(&request(&symbols, None, &[factor])) {
        Err(BacktestError::Invalid { field, message }) => (field, message),
        other => panic!("{factor}: expected a refusal, got {other:?}"),
    };
    let (field, message) = refusal("return_126 /");
    assert_eq!(field, "factor");
    assert_eq!(
        message,
        "'return_126 /' is not a factor expression: column 13: expected a value after the operator, found the end of the expression"
    );
    let (_, message) = refusal("rsi14");
    assert!(message.starts_with("unknown factor 'rsi14'"), "{message}");
    assert!(message.ends_with("did you mean `rsi_14`?"), "{message}");
    let (_, message) = refusal("close > sma_200");
    assert!(message.contains("a ranking must be a number"), "{message}");
    backtest::check(&request(
        &symbols,
        None,
        &["return_126 / atr_pct", "pct_rank(rsi_2)"],
    ))
    .expect("expressions are factors");
}
