//! The backtest panel is point in time: its value for (symbol, date) is what `scan --as-of date`
//! gives with the same settings, to the bit; nothing after a date changes anything at or before
//! it; a symbol enters on the first date it has the history the rating needs.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use proptest::prelude::*;
use technic_backtest::Panel;
use technic_core::IndicatorSet;
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};
use technic_engine::backtest::{self, BacktestRequest, Every, signal_ordinal};
use technic_engine::{
    DiagnosticKind, EventLog, ScanOptions, ScanReport, ScanRequest, ScanResult, Scanner,
};
use technic_testkit::sp500;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("a date")
}

fn scan_request(symbols: &[&str]) -> ScanRequest {
    ScanRequest {
        symbols: Some(symbols.iter().map(|s| (*s).to_owned()).collect()),
        ..ScanRequest::default()
    }
}

fn scan_as_of(source: Arc<dyn MarketData>, request: &ScanRequest, as_of: NaiveDate) -> ScanReport {
    let valid = request.validate().expect("valid request");
    let options = ScanOptions {
        as_of: Some(as_of),
        ..ScanOptions::default()
    };
    let log = EventLog::new(options.scan_id.clone());
    Scanner::new(source)
        .execute(&valid, options, &log, &|_: &_| {})
        .expect("scan runs")
        .report
}

fn panel(
    source: &dyn MarketData,
    request: &ScanRequest,
    from: NaiveDate,
    to: NaiveDate,
    every: Every,
    factors: &[&str],
) -> Panel {
    let request = BacktestRequest {
        scan: request.validate().expect("valid request"),
        from: Some(from),
        to: Some(to),
        every,
        horizons: vec![1, 5],
        factors: factors.iter().map(|s| (*s).to_owned()).collect(),
    };
    backtest::build_panel(source, &request, &|_, _, _| {}).expect("panel builds")
}

fn value(panel: &Panel, factor: &str, date: usize, symbol: usize) -> f64 {
    let factor = panel
        .factors
        .iter()
        .find(|f| f.name == factor)
        .unwrap_or_else(|| panic!("factor {factor} in the panel"));
    factor.values.values[panel.cell(date, symbol)]
}

/// The same number, to the bit (NaN only equals NaN).
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

const FACTORS: [&str; 11] = [
    "tech_rating",
    "alpha_score",
    "trend_score",
    "momentum_score",
    "volume_score",
    "volatility_score",
    "signal",
    "rsi_14",
    // Columns of the scan's default set named by column, not by an indicator's spelling: the
    // standard rating's panel computes only the indicators its factors read, these included.
    "bb_upper",
    "macd_hist",
    "roc_63",
];

fn scan_value(result: &ScanResult, factor: &str, roc_63: f64) -> f64 {
    match factor {
        "tech_rating" => result.tech_rating,
        "alpha_score" => result.alpha_score.unwrap_or(f64::NAN),
        "trend_score" => result.trend_score,
        "momentum_score" => result.momentum_score,
        "volume_score" => result.volume_score,
        "volatility_score" => result.volatility_score,
        "signal" => signal_ordinal(result.signal),
        "rsi_14" | "bb_upper" | "macd_hist" => result.indicators.get(factor).unwrap_or(f64::NAN),
        // Not in the scan's default set: computed as its indicator frame computes any column,
        // over the window the scan reads.
        "roc_63" => roc_63,
        other => panic!("no scan value for {other}"),
    }
}

/// Checks every symbol of `panel` at `panel.dates[d]` against the scan as of that date.
fn assert_panel_equals_scan(
    source: &Arc<dyn MarketData>,
    request: &ScanRequest,
    panel: &Panel,
    d: usize,
) {
    let as_of = panel.dates[d];
    let report = scan_as_of(Arc::clone(source), request, as_of);
    assert_eq!(report.as_of, Some(as_of), "the report says its as-of date");
    let roc = IndicatorSet::parse_list("roc_63").expect("spec");
    for (s, symbol) in panel.symbols.iter().enumerate() {
        let result = report.results.iter().find(|r| &r.symbol == symbol);
        match result {
            Some(result) if result.date == as_of => {
                let window = BarWindow {
                    last: Some(request.validate().expect("valid").lookback_days),
                    from: None,
                    to: Some(as_of),
                };
                let bars = source.bars(symbol, &window).expect("bars");
                let frame = roc.compute(&bars).expect("roc");
                let roc_63 = frame.values[0].last().copied().unwrap_or(f64::NAN);
                for factor in FACTORS {
                    let (panel_value, scan_value) = (
                        value(panel, factor, d, s),
                        scan_value(result, factor, roc_63),
                    );
                    assert!(
                        same(panel_value, scan_value),
                        "{symbol} {as_of} {factor}: panel {panel_value:?}, scan {scan_value:?}"
                    );
                }
                let cell = panel.signals[panel.cell(d, s)].expect("a signal");
                assert_eq!(cell.signal, result.signal);
                assert_eq!(cell.high_quality, result.high_quality);
            }
            // Not a result, or rated by a stale bar: the panel has no value for it that date.
            _ => {
                for factor in FACTORS {
                    assert!(
                        value(panel, factor, d, s).is_nan(),
                        "{symbol} {as_of} {factor}: the scan has no result for it, the panel {}",
                        value(panel, factor, d, s)
                    );
                }
                if result.is_none() {
                    assert!(
                        report.diagnostics.iter().any(|diag| &diag.symbol == symbol),
                        "{symbol} is a diagnostic of the scan"
                    );
                }
            }
        }
    }
}

/// Symbols of every kind the data holds: long histories, late listings, a short history (VTRS),
/// a broken file (BF.B) and a missing one (PTC).
const POOL: [&str; 24] = [
    "AAPL", "MSFT", "XOM", "JPM", "GE", "KO", "PFE", "INTC", "CSCO", "WMT", "AMZN", "NVDA", "CARR",
    "OTIS", "DOW", "CTVA", "FOXA", "TSLA", "MRNA", "ABBV", "VTRS", "BF.B", "PTC", "V",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    /// On random symbols and dates of the real data, each panel value is the scan's, to the bit.
    #[test]
    fn the_panel_is_what_scan_as_of_gives(
        picked in proptest::sample::subsequence(POOL.to_vec(), 8),
        day in 0i64..7_000,
        lookback in prop_oneof![Just(None), Just(Some(250usize))],
        min_price in prop_oneof![Just(None), Just(Some(20.0))],
    ) {
        let source: Arc<dyn MarketData> = Arc::new(FileSource::open(sp500()).expect("data dir opens"));
        // AAPL has bars on every date, so every window has a calendar.
        let mut picked = picked;
        picked.push("AAPL");
        let mut request = scan_request(&picked);
        request.lookback_days = lookback;
        request.min_price = min_price;
        // A day between 2001 and 2021; the panel spans three weeks around it.
        let around = date("2001-06-01") + chrono::Days::new(day as u64);
        let panel = panel(
            &*source,
            &request,
            around - chrono::Days::new(10),
            around + chrono::Days::new(10),
            Every::Day,
            &FACTORS,
        );
        let d = (day as usize) % panel.dates.len();
        assert_panel_equals_scan(&source, &request, &panel, d);
    }
}

/// Monthly dates, as `technic backtest` evaluates by default, equal the scan too.
#[test]
fn month_ends_equal_scan_as_of_on_each() {
    let source: Arc<dyn MarketData> = Arc::new(FileSource::open(sp500()).expect("data dir opens"));
    let request = scan_request(&["AAPL", "XOM", "GE", "DOW", "FOXA", "VTRS", "BF.B", "KO"]);
    let panel = panel(
        &*source,
        &request,
        date("2019-01-01"),
        date("2019-12-31"),
        Every::Month,
        &FACTORS,
    );
    assert_eq!(panel.dates.len(), 12);
    assert_eq!(panel.dates[0], date("2019-01-31"));
    assert_eq!(panel.dates[11], date("2019-12-31"));
    for d in [0, 5, 11] {
        assert_panel_equals_scan(&source, &request, &panel, d);
    }
}

/// Copies `symbols`' bar files into a fresh data directory, each cut after `cut` (when given).
fn copy_cut(dir: &Path, symbols: &[&str], cut: Option<NaiveDate>) {
    std::fs::create_dir_all(dir.join("bars")).expect("bars dir");
    for symbol in symbols {
        let text =
            std::fs::read_to_string(sp500().join(format!("bars/{symbol}.csv"))).expect("read");
        let kept: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, line)| {
                *i == 0 || cut.is_none_or(|cut| line.get(..10).is_some_and(|d| date(d) <= cut))
            })
            .map(|(_, line)| line)
            .collect();
        std::fs::write(
            dir.join(format!("bars/{symbol}.csv")),
            kept.join("\n") + "\n",
        )
        .expect("write");
    }
}

/// Appends rows after `after` that no market would print: prices a thousand times the last,
/// then near zero, volumes of 1e12.
fn append_absurd_rows(dir: &Path, symbols: &[&str], after: NaiveDate) {
    use std::io::Write;
    for symbol in symbols {
        let path = dir.join(format!("bars/{symbol}.csv"));
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        let mut day = after;
        for i in 0..300 {
            day = day.succ_opt().expect("date");
            let price = if i % 2 == 0 { 90_000.0 } else { 0.01 };
            writeln!(
                file,
                "{day},{price},{high},{low},{price},{price},1000000000000,0.0,1.0",
                high = price * 3.0,
                low = price / 3.0
            )
            .expect("append");
        }
    }
}

#[test]
fn absurd_rows_after_a_date_change_nothing_at_or_before_it() {
    let symbols = ["AAPL", "XOM", "JPM", "KO", "CARR", "DOW"];
    let cut = date("2020-06-30");
    let (truthful, tampered) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    copy_cut(truthful.path(), &symbols, Some(cut));
    copy_cut(tampered.path(), &symbols, Some(cut));
    append_absurd_rows(tampered.path(), &symbols, cut);
    let request = ScanRequest::default();
    let build = |dir: &Path, to: NaiveDate| {
        let source = FileSource::open(dir).expect("opens");
        panel(
            &source,
            &request,
            date("2020-01-01"),
            to,
            // Daily: which day ends a week or month is known only once the next has begun, so
            // a later row may move a period's last date; a day's values must never move.
            Every::Day,
            &FACTORS,
        )
    };
    let before = build(truthful.path(), cut);
    let after = build(tampered.path(), date("2021-03-31"));
    let at_or_before = before.dates.len();
    assert_eq!(&after.dates[..at_or_before], &before.dates[..]);
    assert_eq!(after.symbols, before.symbols);
    let cells = at_or_before * before.symbols.len();
    for (a, b) in after.factors.iter().zip(&before.factors) {
        assert_eq!(a.name, b.name);
        for (i, (x, y)) in a.values.values[..cells]
            .iter()
            .zip(&b.values.values)
            .enumerate()
        {
            assert!(
                same(*x, *y),
                "{} changed at cell {i}: {y} became {x}",
                a.name
            );
        }
    }
    assert_eq!(&after.signals[..cells], &before.signals[..]);
    // The tampered rows are read after the cut: the test would see a leak.
    let rating_after_cut = &after.factors[0].values.values[cells..];
    assert!(
        rating_after_cut.iter().any(|v| v.is_finite()),
        "the panel rates dates after the cut"
    );
    // And the scan itself, as of the cut, reads nothing of them.
    let scan = |dir: &Path| {
        let mut report = scan_as_of(
            Arc::new(FileSource::open(dir).expect("opens")),
            &request,
            cut,
        );
        report.scan_id.clear();
        for r in &mut report.results {
            (
                r.position,
                r.batch_number,
                r.total_processed,
                r.total_remaining,
            ) = (0, 0, 0, 0);
        }
        serde_json::to_string(&(&report.results, &report.diagnostics)).expect("json")
    };
    assert_eq!(scan(truthful.path()), scan(tampered.path()));
}

#[test]
fn a_symbol_enters_on_the_first_date_it_has_the_history_the_rating_needs() {
    // CARR was listed on 2020-03-19; its 200th bar is 2020-12-31.
    let source = Arc::new(FileSource::open(sp500()).expect("data dir opens"));
    let bars = source.bars("CARR", &BarWindow::default()).expect("bars");
    let entry = bars.dates[199];
    let request = scan_request(&["CARR", "AAPL", "MSFT"]);
    let panel = panel(
        &*source,
        &request,
        date("2020-03-01"),
        date("2021-02-26"),
        Every::Day,
        &["tech_rating", "alpha_score"],
    );
    let carr = panel
        .symbols
        .iter()
        .position(|s| s == "CARR")
        .expect("CARR");
    let first = (0..panel.dates.len())
        .find(|&d| value(&panel, "tech_rating", d, carr).is_finite())
        .expect("CARR enters");
    assert_eq!(panel.dates[first], entry);
    assert!(value(&panel, "alpha_score", first, carr).is_finite());
    let reasons: Vec<&str> = panel
        .provenance
        .dropped
        .iter()
        .map(|d| d.reason.as_str())
        .collect();
    assert!(
        reasons.contains(&"too little history for the rating"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.starts_with("not listed yet")),
        "{reasons:?}"
    );
    // The scan agrees on both sides of the entry.
    let on = scan_as_of(source.clone(), &request, entry);
    assert!(on.results.iter().any(|r| r.symbol == "CARR"));
    let day_before = scan_as_of(source.clone(), &request, panel.dates[first - 1]);
    let skipped = day_before
        .diagnostics
        .iter()
        .find(|d| d.symbol == "CARR")
        .expect("CARR skipped the day before");
    assert_eq!(skipped.kind, DiagnosticKind::Skipped);
    assert!(
        skipped.message.contains("only 199 bars"),
        "{}",
        skipped.message
    );
}

#[test]
fn forward_returns_are_close_to_close_in_the_symbols_trading_days_and_nan_beyond_the_data() {
    let source = FileSource::open(sp500()).expect("data dir opens");
    let request = scan_request(&["AAPL"]);
    let panel = panel(
        &source,
        &request,
        date("2021-03-01"),
        date("2021-04-21"),
        Every::Day,
        &["tech_rating"],
    );
    let bars = source.bars("AAPL", &BarWindow::default()).expect("bars");
    let n = bars.len();
    let last = panel.dates.len() - 1;
    assert_eq!(panel.dates[last], bars.dates[n - 1]);
    let one_day = &panel.forward_returns[0];
    assert_eq!(one_day.horizon, 1);
    assert!(
        one_day.values.values[last].is_nan(),
        "no return beyond the data"
    );
    assert!(panel.forward_returns[1].values.values[last - 4].is_nan());
    assert!(same(
        panel.forward_returns[1].values.values[last - 5],
        bars.close[n - 1] / bars.close[n - 6] - 1.0
    ));
    assert!(same(
        one_day.values.values[last - 1],
        bars.close[n - 1] / bars.close[n - 2] - 1.0
    ));
    assert!(same(
        panel.next_period_returns.values[last - 1],
        bars.close[n - 1] / bars.close[n - 2] - 1.0
    ));
    assert!(panel.next_period_returns.values[last].is_nan());
    assert!(
        panel.provenance.survivorship_bias,
        "sp500 is a list of current members"
    );
}

#[test]
fn bad_requests_name_their_field() {
    let source = FileSource::open(sp500()).expect("data dir opens");
    let base = BacktestRequest {
        scan: scan_request(&["AAPL", "MSFT"]).validate().expect("valid"),
        from: None,
        to: None,
        every: Every::Month,
        horizons: vec![],
        factors: vec![],
    };
    let field = |change: &dyn Fn(&mut BacktestRequest)| {
        let mut request = base.clone();
        change(&mut request);
        match backtest::build_panel(&source, &request, &|_, _, _| {}) {
            Err(backtest::BacktestError::Invalid { field, message }) => (field, message),
            other => panic!("expected a refusal, got {:?}", other.map(|p| p.dates.len())),
        }
    };
    assert_eq!(field(&|r| r.factors = vec!["nonsense".into()]).0, "factor");
    let (name, message) = field(&|r| r.factors = vec!["stoch_5_3_3".into()]);
    assert_eq!(name, "factor");
    assert!(message.contains("stoch_k_5_3_3"), "{message}");
    assert_eq!(field(&|r| r.horizons = vec![1, 0]).0, "horizons");
    let (name, message) = field(&|r| {
        r.from = Some(date("2010-01-01"));
        r.to = Some(date("2009-01-01"));
    });
    assert_eq!(name, "from");
    assert!(message.contains("after"), "{message}");
    assert_eq!(field(&|r| r.from = Some(date("2030-01-01"))).0, "from");
    assert_eq!(field(&|r| r.to = Some(date("1990-01-01"))).0, "to");
    let (name, message) = field(&|r| {
        r.from = Some(date("2020-01-01"));
        r.to = Some(date("2020-02-15"));
    });
    assert_eq!(name, "every");
    assert!(message.contains("2 evaluation dates"), "{message}");
}

/// Every source cuts at the as-of date with its newest-N window the way the panel cuts: the demo
/// market (generated whole, then cut) and a directory of Parquet files (what `--source store`
/// reads, which skips pages for a newest-N read).
#[test]
fn the_panel_equals_scan_as_of_on_the_demo_market_and_parquet_files() {
    let demo: Arc<dyn MarketData> = Arc::new(technic_data::demo::DemoMarket::new());
    let symbols: Vec<String> = demo.universe().expect("universe")[..8]
        .iter()
        .map(|s| s.symbol.clone())
        .collect();
    let symbols: Vec<&str> = symbols.iter().map(String::as_str).collect();
    let request = scan_request(&symbols);
    let last = technic_data::demo::DemoMarket::last_date();
    let demo_panel = panel(
        &*demo,
        &request,
        last - chrono::Days::new(40),
        last,
        Every::Week,
        &FACTORS,
    );
    for d in 0..demo_panel.dates.len() {
        assert_panel_equals_scan(&demo, &request, &demo_panel, d);
    }

    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("bars")).expect("bars dir");
    let csv = FileSource::open(sp500()).expect("data dir opens");
    let picked = ["AAPL", "XOM", "CARR", "DOW", "KO"];
    for symbol in picked {
        let bars = csv.bars(symbol, &BarWindow::default()).expect("bars");
        technic_data::write_parquet_bars(
            &dir.path().join(format!("bars/{symbol}.parquet")),
            symbol,
            &bars,
        )
        .expect("parquet written");
    }
    let parquet: Arc<dyn MarketData> = Arc::new(FileSource::open(dir.path()).expect("opens"));
    let request = scan_request(&picked);
    let parquet_panel = panel(
        &*parquet,
        &request,
        date("2020-11-01"),
        date("2021-01-31"),
        Every::Week,
        &FACTORS,
    );
    for d in 0..parquet_panel.dates.len() {
        assert_panel_equals_scan(&parquet, &request, &parquet_panel, d);
    }
}
