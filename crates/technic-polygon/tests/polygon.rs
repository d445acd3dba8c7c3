//! The Polygon.io source over real HTTP against a loopback server that answers like Polygon.io
//! (`technic_testkit::polygon_fake`), serving the real S&P 500 data in Polygon's wire format, and the
//! recorded responses of `../shared/fixtures/polygon`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};
use technic_engine::{DiagnosticKind, ProgressSnapshot, ScanRequest, ScanStatus, Scanner};
use technic_polygon::wire::{AggsPage, TickerDetailsResponse, TickersPage};
use technic_polygon::{PolygonConfig, PolygonSource, RateLimit};

use technic_testkit::polygon_fake::{FakeOptions, KEY, PLAN_KEY, PolygonFake};
use technic_testkit::{ManualClock, shared, sp500};

fn date(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

/// The newest date of the S&P 500 data: "today" for the source.
const LAST_DAY: &str = "2021-04-21";

/// Fast enough for tests: no real waiting between retries, a generous rate.
fn config(fake: &PolygonFake, key: &str) -> PolygonConfig {
    PolygonConfig {
        base_url: fake.base_url.clone(),
        rate_limit: RateLimit {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        max_concurrency: 8,
        max_attempts: 4,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        timeout: Duration::from_secs(5),
        today: Some(date(LAST_DAY)),
        ..PolygonConfig::new(key)
    }
}

fn tickers(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn bars_equal_the_files_source_and_next_url_pages_are_followed() {
    let fake = PolygonFake::start(FakeOptions {
        page_size: 500,
        ..FakeOptions::new(sp500())
    });
    let source = PolygonSource::new(PolygonConfig {
        symbols: Some(tickers(&["AAPL"])),
        ..config(&fake, KEY)
    })
    .expect("source");
    let files = FileSource::open(sp500()).expect("files");

    // 2015..2020 is about 1500 bars: four pages of 500, across daylight-saving changes.
    let window = BarWindow {
        last: None,
        from: Some(date("2015-01-01")),
        to: Some(date("2020-12-31")),
    };
    let ours = source.bars("AAPL", &window).expect("bars");
    assert_eq!(ours, files.bars("AAPL", &window).expect("file bars"));
    assert_eq!(ours.len(), 1511);
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(
        requests[1..]
            .iter()
            .all(|(_, path)| path.contains("cursor=")),
        "{requests:?}"
    );

    // The scan's own window: the newest N bars up to today.
    let lookback = BarWindow::last(300);
    assert_eq!(
        source.bars("aapl", &lookback).expect("bars"),
        files.bars("AAPL", &lookback).expect("file bars")
    );

    let err = source
        .bars("NOSUCH", &BarWindow::last(10))
        .expect_err("unknown ticker")
        .to_string();
    assert!(
        err.contains("NOSUCH") && err.contains("no daily bars"),
        "{err}"
    );
}

#[test]
fn the_snapshot_comes_from_grouped_daily_and_the_universe_from_the_paged_tickers_list() {
    let served = tickers(&[
        "AAPL", "MSFT", "JNJ", "XOM", "KO", "PG", "JPM", "WMT", "CVX", "PFE", "T", "VZ",
    ]);
    let fake = PolygonFake::start(FakeOptions {
        tickers: served.clone(),
        tickers_page_size: 5,
        ..FakeOptions::new(sp500())
    });
    let source = PolygonSource::new(config(&fake, KEY)).expect("source");
    let files = FileSource::open(sp500()).expect("files");

    let universe = source.universe().expect("universe");
    let mut expected = served.clone();
    expected.sort();
    assert_eq!(
        universe
            .iter()
            .map(|s| s.symbol.clone())
            .collect::<Vec<_>>(),
        expected
    );
    let apple = universe.iter().find(|s| s.symbol == "AAPL").expect("AAPL");
    assert_eq!(apple.name.as_deref(), Some("Apple Inc."));
    assert_eq!(fake.request_count(), 3, "12 tickers in pages of 5");

    let snapshot = BarWindow::last(21);
    for symbol in &served {
        assert_eq!(
            source.bars(symbol, &snapshot).expect("snapshot"),
            files.bars(symbol, &snapshot).expect("file bars"),
            "{symbol}"
        );
    }
    // One request per calendar day walked back, shared by all twelve symbols.
    let grouped = fake.request_count() - 3;
    assert!((21..=35).contains(&grouped), "{grouped} grouped requests");
    assert!(
        fake.requests()
            .iter()
            .all(|(_, p)| !p.starts_with("/v2/aggs/ticker")),
        "no per-ticker request for a snapshot"
    );
}

#[test]
fn rate_limits_and_server_errors_are_retried_and_the_bars_still_right() {
    let files = FileSource::open(sp500()).expect("files");
    let window = BarWindow {
        last: Some(250),
        from: None,
        to: Some(date("2019-06-28")),
    };
    let expected = files.bars("MSFT", &window).expect("file bars");
    for (status, retry_after) in [(429, Some(0)), (500, None), (502, None), (503, None)] {
        let fake = PolygonFake::start(FakeOptions {
            fail_first: 2,
            fail_status: status,
            retry_after_secs: retry_after,
            page_size: 100,
            latency: Duration::from_millis(2),
            ..FakeOptions::new(sp500())
        });
        let source = PolygonSource::new(config(&fake, KEY)).expect("source");
        assert_eq!(
            source.bars("MSFT", &window).expect("bars"),
            expected,
            "{status}"
        );
        // Two refused attempts, then the pages: 250 bars of a 389-day range, in pages of 100.
        assert_eq!(fake.request_count(), 2 + 3, "{status}");
    }

    // A flaky server: every third request fails, and pagination survives it.
    let fake = PolygonFake::start(FakeOptions {
        fail_every: Some(3),
        fail_status: 503,
        page_size: 50,
        ..FakeOptions::new(sp500())
    });
    let source = PolygonSource::new(config(&fake, KEY)).expect("source");
    assert_eq!(source.bars("MSFT", &window).expect("bars"), expected);
}

#[test]
fn retry_after_is_honoured() {
    let fake = PolygonFake::start(FakeOptions {
        fail_first: 1,
        fail_status: 429,
        retry_after_secs: Some(1),
        ..FakeOptions::new(sp500())
    });
    let source = PolygonSource::new(config(&fake, KEY)).expect("source");
    let started = Instant::now();
    let window = BarWindow {
        last: None,
        from: Some(date("2021-04-01")),
        to: Some(date(LAST_DAY)),
    };
    assert_eq!(source.bars("KO", &window).expect("bars").len(), 14);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1].0.duration_since(requests[0].0) >= Duration::from_secs(1),
        "retried after {:?}",
        requests[1].0.duration_since(requests[0].0)
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_symbol_that_keeps_failing_is_a_diagnostic_and_the_scan_goes_on() {
    let fake = PolygonFake::start(FakeOptions {
        broken: HashSet::from(["MSFT".to_string()]),
        page_size: 1000,
        ..FakeOptions::new(sp500())
    });
    let symbols = tickers(&["AAPL", "MSFT", "JNJ", "XOM"]);
    let source = PolygonSource::new(PolygonConfig {
        symbols: Some(symbols.clone()),
        ..config(&fake, KEY)
    })
    .expect("source");
    let scanner = Scanner::new(Arc::new(source)).with_workers(2);
    let report = scanner
        .run(&ScanRequest::default(), &|_: &ProgressSnapshot| {})
        .expect("scan runs");
    assert_eq!(report.status, ScanStatus::Completed);
    assert_eq!(report.data_source.kind, "polygon");
    assert_eq!(report.metrics.symbols_total, 4);
    let failed: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Error)
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", report.diagnostics);
    assert_eq!(failed[0].symbol, "MSFT");
    assert!(
        failed[0].message.contains("gave up after 4 attempts") && failed[0].message.contains("503"),
        "{}",
        failed[0].message
    );
    // Everyone else is accounted for: a result, or a skip with its reason.
    assert_eq!(report.results.len() + report.diagnostics.len(), 4);
    assert!(report.results.iter().any(|r| r.symbol == "AAPL"));
}

#[test]
fn unauthorized_and_forbidden_say_what_is_wrong_and_are_not_retried() {
    let fake = PolygonFake::start(FakeOptions::new(sp500()));
    let window = BarWindow::last(5);
    let config = |key: &str| PolygonConfig {
        symbols: Some(tickers(&["AAPL"])),
        ..config(&fake, key)
    };

    let err = PolygonSource::new(config(" "))
        .expect_err("no key")
        .to_string();
    assert!(err.contains("POLYGON_API_KEY is not set"), "{err}");

    let source = PolygonSource::new(config("not-a-key")).expect("source");
    let err = source.bars("AAPL", &window).expect_err("401").to_string();
    assert!(
        err.contains("401 Unauthorized")
            && err.contains("POLYGON_API_KEY is missing or unknown")
            && err.contains("Unknown API Key"),
        "{err}"
    );
    assert!(
        !err.contains("not-a-key"),
        "the key is never printed: {err}"
    );
    let err = source.universe().expect_err("401").to_string();
    assert!(err.contains("401 Unauthorized"), "{err}");

    let source = PolygonSource::new(config(PLAN_KEY)).expect("source");
    let err = source.bars("AAPL", &window).expect_err("403").to_string();
    assert!(
        err.contains("403 Forbidden")
            && err.contains("your plan does not include")
            && err.contains("upgrade your plan"),
        "{err}"
    );
    assert_eq!(fake.request_count(), 3, "no retries of 401 or 403");
}

#[test]
fn the_configured_rate_limit_is_never_exceeded() {
    let fake = PolygonFake::start(FakeOptions {
        latency: Duration::from_millis(3),
        ..FakeOptions::new(sp500())
    });
    let rate = 40;
    let source = Arc::new(
        PolygonSource::new(PolygonConfig {
            rate_limit: RateLimit {
                requests: rate,
                per: Duration::from_secs(1),
            },
            max_concurrency: 6,
            symbols: Some(tickers(&["AAPL", "KO", "PG", "XOM"])),
            ..config(&fake, KEY)
        })
        .expect("source"),
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..8 {
            let source = source.clone();
            scope.spawn(move || {
                for i in 0..12 {
                    let symbol = ["AAPL", "KO", "PG", "XOM"][(worker + i) % 4];
                    source.bars(symbol, &BarWindow::last(3)).expect("bars");
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let arrivals: Vec<Instant> = fake.requests().into_iter().map(|(t, _)| t).collect();
    assert_eq!(arrivals.len(), 96);
    // Arrivals lag starts by a moment that varies with scheduling (two cores, a dozen threads and
    // the server), so windows a little under a second are counted.
    let window = Duration::from_millis(900);
    let busiest = (0..arrivals.len())
        .map(|i| {
            arrivals[i..]
                .iter()
                .take_while(|t| t.duration_since(arrivals[i]) < window)
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(busiest <= rate as usize, "{busiest} requests in {window:?}");
    // 96 requests at 40 a second: the first 40 at once, then two more full seconds at least.
    assert!(elapsed >= Duration::from_millis(1900), "{elapsed:?}");
}

#[test]
fn the_recorded_responses_parse() {
    let fixtures = shared().join("fixtures/polygon");
    let read = |path: &str| {
        std::fs::read_to_string(fixtures.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    };

    let page: AggsPage = serde_json::from_str(&read(
        "openapi-examples/aggs_range_stocks_with_next_url.example.json",
    ))
    .expect("aggs with next_url");
    let bars: Vec<_> = page.results.iter().filter_map(|a| a.to_bar()).collect();
    assert_eq!(
        bars.iter().map(|b| b.date).collect::<Vec<_>>(),
        [date("2020-01-02"), date("2020-01-03")]
    );
    assert_eq!(bars[0].close, 75.0875);
    assert!(page.next_url.is_some_and(|u| u.contains("cursor=")));

    let page: AggsPage = serde_json::from_str(&read(
        "client-python/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04.json",
    ))
    .expect("client aggs");
    let dates: Vec<_> = page
        .results
        .iter()
        .filter_map(|a| a.to_bar())
        .map(|b| b.date)
        .collect();
    assert_eq!(dates, [date("2005-04-01"), date("2005-04-04")]);

    let grouped: AggsPage =
        serde_json::from_str(&read("openapi-examples/grouped_daily_stocks.example.json"))
            .expect("grouped daily");
    assert_eq!(
        grouped
            .results
            .iter()
            .filter_map(|a| a.ticker.as_deref())
            .collect::<Vec<_>>(),
        ["KIMpL", "TANH", "VSAT"]
    );
    assert!(
        grouped
            .results
            .iter()
            .all(|a| a.to_bar().map(|b| b.date) == Some(date("2020-10-14")))
    );
    let grouped: AggsPage = serde_json::from_str(&read(
        "client-python/v2/aggs/grouped/locale/us/market/stocks/2005-04-04&adjusted=true.json",
    ))
    .expect("client grouped");
    assert_eq!(grouped.results[0].ticker.as_deref(), Some("GIK"));

    let list: TickersPage =
        serde_json::from_str(&read("openapi-examples/reference_tickers.example.json"))
            .expect("tickers");
    assert_eq!(list.results[0].ticker, "A");
    assert_eq!(
        list.results[0].name.as_deref(),
        Some("Agilent Technologies Inc.")
    );
    assert!(list.next_url.is_some());
    let list: TickersPage = serde_json::from_str(&read("client-python/v3/reference/tickers.json"))
        .expect("client tickers");
    assert!(list.results.len() > 1);

    let details: TickerDetailsResponse = serde_json::from_str(&read(
        "openapi-examples/reference_ticker_details.example.json",
    ))
    .expect("ticker details");
    assert_eq!(details.results.ticker, "AAPL");
    assert_eq!(details.results.name.as_deref(), Some("Apple Inc."));
    let details: TickerDetailsResponse =
        serde_json::from_str(&read("client-python/v3/reference/tickers/AAPL.json"))
            .expect("client details");
    assert_eq!(
        details.results.sic_description.as_deref(),
        Some("ELECTRONIC COMPUTERS")
    );
}

/// The universe is reused for six hours and the current day's grouped bars for ten minutes, by
/// the source's clock: the test moves it instead of waiting.
#[test]
fn the_universe_and_the_current_day_are_fetched_again_once_their_time_has_passed() {
    let fake = PolygonFake::start(FakeOptions {
        tickers: tickers(&["AAPL", "MSFT", "JNJ"]),
        ..FakeOptions::new(sp500())
    });
    // 18:00 UTC on the data's last day: that day in New York, so its bars are the current day's.
    let at = date(LAST_DAY)
        .and_hms_opt(18, 0, 0)
        .expect("time")
        .and_utc();
    let clock = ManualClock::at(at.into());
    let source = PolygonSource::new(PolygonConfig {
        today: None,
        ..config(&fake, KEY)
    })
    .expect("source")
    .with_clock(clock.clone());

    let first = source.universe().expect("universe");
    let asked = fake.request_count();
    clock.advance(Duration::from_secs(6 * 3600 - 60));
    assert_eq!(source.universe().expect("universe"), first);
    assert_eq!(fake.request_count(), asked, "reused within six hours");
    clock.advance(Duration::from_secs(120));
    assert_eq!(source.universe().expect("universe"), first);
    assert_eq!(
        fake.request_count(),
        asked + 1,
        "asked again after six hours"
    );

    let today = date(LAST_DAY);
    let bars = source.grouped_daily(today).expect("the day");
    assert!(bars.contains_key("AAPL"));
    let asked = fake.request_count();
    clock.advance(Duration::from_secs(9 * 60));
    source.grouped_daily(today).expect("the day");
    assert_eq!(fake.request_count(), asked, "reused within ten minutes");
    clock.advance(Duration::from_secs(2 * 60));
    assert_eq!(source.grouped_daily(today).expect("the day"), bars);
    assert_eq!(
        fake.request_count(),
        asked + 1,
        "the current day is asked again after ten minutes"
    );
}
