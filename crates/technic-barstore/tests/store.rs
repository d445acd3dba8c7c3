//! The bar store against real files and a loopback server that answers like Polygon.io
//! (technic-polygon's `polygon_fake`), serving the real S&P 500 data.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use polygon_fake::{FakeOptions, KEY, PolygonFake};
use technic_barstore::{BarStore, StoreStatus, StoredSource};
use technic_core::{Bar, Bars};
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};
use technic_engine::{ProgressSnapshot, ScanRequest, ScanStatus, Scanner};
use technic_polygon::{PolygonConfig, PolygonSource, RateLimit};
use technic_testkit::{ManualClock, polygon_fake, sp500};

fn date(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

/// The newest session of the S&P 500 data.
const LAST_DAY: &str = "2021-04-21";

const SYMBOLS: [&str; 12] = [
    "AAPL", "MSFT", "AMZN", "JPM", "XOM", "JNJ", "PG", "NVDA", "KO", "PFE", "CAT", "HD",
];

fn symbols() -> Vec<String> {
    SYMBOLS.iter().map(|s| s.to_string()).collect()
}

fn fake() -> PolygonFake {
    PolygonFake::start(FakeOptions {
        tickers: symbols(),
        ..FakeOptions::new(sp500())
    })
}

fn feed(fake: &PolygonFake, today: &str) -> PolygonSource {
    PolygonSource::new(PolygonConfig {
        base_url: fake.base_url.clone(),
        rate_limit: RateLimit {
            requests: 1000,
            per: Duration::from_secs(1),
        },
        max_concurrency: 8,
        max_attempts: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        timeout: Duration::from_secs(5),
        today: Some(date(today)),
        ..PolygonConfig::new(KEY)
    })
    .expect("feed")
}

/// The files source's bars up to `to`: what the store must hold.
fn expected(symbol: &str, to: &str) -> Bars {
    FileSource::open(sp500())
        .expect("files")
        .bars(
            symbol,
            &BarWindow {
                to: Some(date(to)),
                ..BarWindow::default()
            },
        )
        .expect("bars")
}

fn requests_since(fake: &PolygonFake, before: usize) -> Vec<String> {
    fake.requests()[before..]
        .iter()
        .map(|(_, path)| path.clone())
        .collect()
}

#[test]
fn import_keeps_every_bar_and_reports_a_bad_file_without_losing_the_rest() {
    let data = tempfile::tempdir().expect("data");
    std::fs::create_dir(data.path().join("bars")).expect("bars");
    for symbol in ["AAPL", "MSFT", "KO"] {
        std::fs::copy(
            sp500().join(format!("bars/{symbol}.csv")),
            data.path().join(format!("bars/{symbol}.csv")),
        )
        .expect("copy");
    }
    std::fs::write(
        data.path().join("bars/BAD.csv"),
        "date,open,high,low,close,volume\n2020-01-02,1,2,1,1.5,10\n2020-01-01,1,2,1,1.5,10\n",
    )
    .expect("bad file");
    std::fs::write(
        data.path().join("universe.csv"),
        "symbol,name,sector\nAAPL,Apple Inc.,Information Technology\nMSFT,Microsoft Corp.,Information Technology\nKO,Coca-Cola Company,Consumer Staples\n",
    )
    .expect("universe");
    let home = tempfile::tempdir().expect("home");
    let store = BarStore::open_in(home.path()).expect("store");
    let source = FileSource::open(data.path()).expect("source");

    let report = store
        .import(&source, "import test", &|_, _| {})
        .expect("import");

    assert_eq!(report.symbols, 3);
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let (symbol, why) = &report.failed[0];
    assert_eq!(symbol, "BAD");
    assert!(why.contains("BAD.csv") && why.contains("line 3"), "{why}");
    for symbol in ["AAPL", "MSFT", "KO"] {
        assert_eq!(
            store.read(symbol).expect("stored"),
            source.bars(symbol, &BarWindow::default()).expect("bars"),
            "{symbol} stored bit for bit"
        );
    }
    let status = store.status().expect("status");
    assert_eq!(status.symbols, 3);
    assert_eq!(status.last, Some(date(LAST_DAY)));
    assert_eq!(status.synced_through, Some(date(LAST_DAY)));
    assert_eq!(status.origins, ["import test"]);
    // The store is itself a data directory, with the names imported.
    let reopened = FileSource::open(store.dir()).expect("store as a data directory");
    let universe = reopened.universe().expect("universe");
    let apple = universe.iter().find(|i| i.symbol == "AAPL").expect("AAPL");
    assert_eq!(apple.sector.as_deref(), Some("Information Technology"));
    // A second process opening the same home sees the same store.
    let again = BarStore::open_in(home.path())
        .expect("reopen")
        .status()
        .expect("status");
    assert_same_status(again, &status, "a second process");
}

#[test]
fn a_cold_scan_fetches_each_symbol_once_and_a_warm_one_asks_nothing() {
    let fake = fake();
    let home = tempfile::tempdir().expect("home");
    let scan = |today: &str| {
        let store = Arc::new(BarStore::open_in(home.path()).expect("store"));
        let source = StoredSource::new(store, feed(&fake, today), None);
        Scanner::new(Arc::new(source))
            .with_workers(4)
            .run(&ScanRequest::default(), &|_: &ProgressSnapshot| {})
            .expect("scan")
    };

    let cold = scan(LAST_DAY);
    let cold_requests = requests_since(&fake, 0);
    assert_eq!(cold.status, ScanStatus::Completed);
    assert_eq!(cold.results.len(), SYMBOLS.len(), "{:?}", cold.diagnostics);
    let aggregates = cold_requests
        .iter()
        .filter(|p| p.starts_with("/v2/aggs/ticker/"))
        .count();
    assert_eq!(
        aggregates,
        SYMBOLS.len(),
        "one history request per symbol: {cold_requests:?}"
    );
    assert_eq!(
        cold_requests.len(),
        SYMBOLS.len() + 1,
        "and one for the universe"
    );

    let before = fake.request_count();
    let warm = scan(LAST_DAY);
    assert_eq!(
        requests_since(&fake, before),
        Vec::<String>::new(),
        "a warm scan is served from the store"
    );
    let ratings = |r: &technic_engine::ScanReport| {
        let mut v: Vec<(String, u64)> = r
            .results
            .iter()
            .map(|x| (x.symbol.clone(), x.tech_rating.to_bits()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(ratings(&warm), ratings(&cold));
    let store = BarStore::open_in(home.path()).expect("store");
    for symbol in SYMBOLS {
        assert_eq!(
            store.read(symbol).expect("stored"),
            expected(symbol, LAST_DAY)
        );
    }
}

/// A saved universe answers for a day without asking the source, by the store's clock: the test
/// moves it instead of waiting.
#[test]
fn the_saved_universe_is_used_for_a_day_then_asked_for_again() {
    let fake = fake();
    let home = tempfile::tempdir().expect("home");
    let clock = ManualClock::new();
    let universe = || {
        let store = BarStore::open_in(home.path())
            .expect("store")
            .with_clock(clock.clone());
        let source = StoredSource::new(Arc::new(store), feed(&fake, LAST_DAY), None);
        let mut symbols: Vec<String> = source
            .universe()
            .expect("universe")
            .into_iter()
            .map(|info| info.symbol)
            .collect();
        symbols.sort();
        symbols
    };
    let mut listed = symbols();
    listed.sort();
    assert_eq!(universe(), listed);
    let asked = fake.request_count();
    clock.advance(Duration::from_secs(24 * 3600 - 60));
    assert_eq!(universe(), listed);
    assert_eq!(
        fake.request_count(),
        asked,
        "saved less than a day ago: used"
    );
    clock.advance(Duration::from_secs(120));
    assert_eq!(universe(), listed);
    assert!(fake.request_count() > asked, "older: asked for again");
}

#[test]
fn a_daily_update_is_one_grouped_request_and_equals_the_full_history() {
    let fake = fake();
    fake.serve_until(Some(date("2021-04-20")));
    let home = tempfile::tempdir().expect("home");
    let store = BarStore::open_in(home.path()).expect("store");
    let first = store
        .sync(&feed(&fake, "2021-04-20"), &symbols(), true)
        .expect("first sync");
    assert_eq!(first.fetched_whole.len(), SYMBOLS.len());
    assert_eq!(first.synced_through, Some(date("2021-04-20")));

    fake.serve_until(Some(date(LAST_DAY)));
    let before = fake.request_count();
    let feed = feed(&fake, LAST_DAY);
    let plan = store.plan(&feed, &symbols(), true);
    assert_eq!((plan.strategy, plan.requests), ("grouped daily", 1));
    let update = store.sync(&feed, &symbols(), true).expect("update");

    assert_eq!(
        requests_since(&fake, before),
        ["/v2/aggs/grouped/locale/us/market/stocks/2021-04-21?adjusted=true"]
    );
    assert_eq!(update.bars_added, SYMBOLS.len());
    assert_eq!(update.synced_through, Some(date(LAST_DAY)));
    for symbol in SYMBOLS {
        assert_eq!(
            store.read(symbol).expect("stored"),
            expected(symbol, LAST_DAY),
            "{symbol}: delta-updated equals fetched whole"
        );
    }
    // Nothing newer: nothing asked.
    let before = fake.request_count();
    let again = store.sync(&feed, &symbols(), true).expect("again");
    assert_eq!(again.strategy, "up to date");
    assert_eq!(fake.request_count(), before);
}

#[test]
fn a_holiday_is_asked_once_and_remembered() {
    let fake = fake();
    // Good Friday 2021 (April 2): the exchange was closed.
    fake.serve_until(Some(date("2021-04-01")));
    let home = tempfile::tempdir().expect("home");
    let store = BarStore::open_in(home.path()).expect("store");
    store
        .sync(&feed(&fake, "2021-04-01"), &symbols(), true)
        .expect("first sync");
    fake.serve_until(Some(date("2021-04-06")));
    let before = fake.request_count();
    let update = store
        .sync(&feed(&fake, "2021-04-06"), &symbols(), true)
        .expect("update");
    assert_eq!(fake.request_count() - before, 3, "Fri, Mon and Tue");
    assert_eq!(update.closed_days, [date("2021-04-02")]);
    assert_eq!(update.bars_added, 2 * SYMBOLS.len());
    assert!(store.manifest().closed_days.contains(&date("2021-04-02")));

    fake.serve_until(Some(date("2021-04-07")));
    let before = fake.request_count();
    let plan = store.plan(&feed(&fake, "2021-04-07"), &symbols(), true);
    assert_eq!(
        plan.days,
        [date("2021-04-07")],
        "the holiday is not asked again"
    );
    store
        .sync(&feed(&fake, "2021-04-07"), &symbols(), true)
        .expect("next");
    assert_eq!(fake.request_count() - before, 1);
    for symbol in SYMBOLS {
        assert_eq!(
            store.read(symbol).expect("stored"),
            expected(symbol, "2021-04-07")
        );
    }
}

#[test]
fn a_long_gap_over_few_symbols_is_fetched_per_ticker_from_the_last_stored_bar() {
    let fake = fake();
    let few = vec!["AAPL".to_string(), "KO".to_string()];
    fake.serve_until(Some(date("2021-03-01")));
    let home = tempfile::tempdir().expect("home");
    let store = BarStore::open_in(home.path()).expect("store");
    store
        .sync(&feed(&fake, "2021-03-01"), &few, true)
        .expect("first sync");
    fake.serve_until(Some(date(LAST_DAY)));
    let before = fake.request_count();
    let feed = feed(&fake, LAST_DAY);
    let plan = store.plan(&feed, &few, true);
    assert_eq!((plan.strategy, plan.requests), ("ticker aggregates", 2));
    let update = store.sync(&feed, &few, true).expect("update");
    let asked = requests_since(&fake, before);
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(
        asked
            .iter()
            .all(|p| p.contains("/range/1/day/2021-03-01/2021-04-21")),
        "from the last stored bar: {asked:?}"
    );
    assert!(update.refetched.is_empty());
    for symbol in &few {
        assert_eq!(
            store.read(symbol).expect("stored"),
            expected(symbol, LAST_DAY)
        );
    }
}

#[test]
fn a_split_seen_in_a_new_bar_refetches_the_whole_history() {
    let fake = fake();
    fake.serve_until(Some(date("2021-04-20")));
    let home = tempfile::tempdir().expect("home");
    let store = BarStore::open_in(home.path()).expect("store");
    store
        .sync(&feed(&fake, "2021-04-20"), &symbols(), true)
        .expect("first sync");
    // As stored before a 2-for-1 split: every price twice what the adjusted history now says.
    let adjusted = store.read("KO").expect("KO");
    let mut unsplit = Bars::default();
    for i in 0..adjusted.len() {
        unsplit
            .push(Bar {
                date: adjusted.dates[i],
                open: adjusted.open[i] * 2.0,
                high: adjusted.high[i] * 2.0,
                low: adjusted.low[i] * 2.0,
                close: adjusted.close[i] * 2.0,
                volume: adjusted.volume[i],
            })
            .expect("bar");
    }
    store.write("KO", &unsplit).expect("write");

    fake.serve_until(Some(date(LAST_DAY)));
    let update = store
        .sync(&feed(&fake, LAST_DAY), &symbols(), true)
        .expect("update");
    assert_eq!(update.refetched, ["KO"]);
    assert_eq!(store.read("KO").expect("KO"), expected("KO", LAST_DAY));
}

#[test]
fn a_failing_day_changes_nothing_stored_and_the_next_sync_completes_it() {
    let healthy = fake();
    healthy.serve_until(Some(date("2021-04-20")));
    let home = tempfile::tempdir().expect("home");
    let store = BarStore::open_in(home.path()).expect("store");
    store
        .sync(&feed(&healthy, "2021-04-20"), &symbols(), true)
        .expect("first sync");
    let before = store.status().expect("status");

    let failing = PolygonFake::start(FakeOptions {
        tickers: symbols(),
        fail_first: 100,
        fail_status: 503,
        ..FakeOptions::new(sp500())
    });
    let report = store
        .sync(&feed(&failing, LAST_DAY), &symbols(), true)
        .expect("a failed day is reported, not an error");
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(
        report.failed[0].0.contains("2021-04-21"),
        "{:?}",
        report.failed
    );
    assert!(report.failed[0].1.contains("503"), "{:?}", report.failed);
    assert_same_status(
        store.status().expect("status"),
        &before,
        "nothing stored changed",
    );

    healthy.serve_until(Some(date(LAST_DAY)));
    let retry = store
        .sync(&feed(&healthy, LAST_DAY), &symbols(), true)
        .expect("retry");
    assert!(retry.failed.is_empty());
    assert_eq!(retry.synced_through, Some(date(LAST_DAY)));
    assert_eq!(
        store.read("AAPL").expect("AAPL"),
        expected("AAPL", LAST_DAY)
    );
}

#[test]
fn a_scan_reads_the_store_when_the_source_is_unreachable() {
    let fake = fake();
    let home = tempfile::tempdir().expect("home");
    let store = Arc::new(BarStore::open_in(home.path()).expect("store"));
    store
        .sync(&feed(&fake, LAST_DAY), &symbols(), true)
        .expect("sync");
    let universe = FileSource::open(sp500())
        .expect("files")
        .universe()
        .expect("universe");
    let ours: Vec<_> = universe
        .into_iter()
        .filter(|i| SYMBOLS.contains(&i.symbol.as_str()))
        .collect();
    store.save_universe(&ours, true).expect("universe");
    let base_url = fake.base_url.clone();
    drop(fake);

    // The next day, with the service gone: the stored bars are still scanned.
    let offline = PolygonSource::new(PolygonConfig {
        base_url,
        max_attempts: 1,
        timeout: Duration::from_millis(500),
        today: Some(date("2021-04-22")),
        ..PolygonConfig::new(KEY)
    })
    .expect("feed");
    let source = StoredSource::new(Arc::clone(&store), offline, None);
    let report = Scanner::new(Arc::new(source))
        .with_workers(2)
        .run(&ScanRequest::default(), &|_: &ProgressSnapshot| {})
        .expect("scan");
    assert_eq!(report.status, ScanStatus::Completed);
    assert_eq!(
        report.results.len(),
        SYMBOLS.len(),
        "{:?}",
        report.diagnostics
    );

    // Named symbols too (`scan --source polygon --symbols AAPL,KO` with the network down).
    let offline = PolygonSource::new(PolygonConfig {
        base_url: "http://127.0.0.1:9".into(),
        max_attempts: 1,
        timeout: Duration::from_millis(500),
        today: Some(date("2021-04-22")),
        symbols: Some(vec!["AAPL".into(), "KO".into()]),
        ..PolygonConfig::new(KEY)
    })
    .expect("feed");
    let named = StoredSource::new(
        Arc::clone(&store),
        offline,
        Some(vec!["AAPL".into(), "KO".into(), "ZZZZ".into()]),
    );
    let universe = named.universe().expect("what the store knows");
    let listed: Vec<&str> = universe.iter().map(|i| i.symbol.as_str()).collect();
    assert_eq!(listed, ["AAPL", "KO"]);
}

#[test]
fn a_symbol_the_source_has_no_bars_for_is_not_asked_again_for_a_week() {
    // PTC is in the universe file but has no bar file: the fake answers an empty 200 for it.
    let fake = fake();
    let home = tempfile::tempdir().expect("home");
    let ask = |today: &str| {
        let store = Arc::new(BarStore::open_in(home.path()).expect("store"));
        let source = StoredSource::new(store, feed(&fake, today), None);
        let before = fake.request_count();
        let outcome = source.bars("PTC", &BarWindow::last(10));
        (outcome, fake.request_count() - before)
    };
    let (first, asked) = ask(LAST_DAY);
    let error = first.expect_err("no bars").to_string();
    assert!(
        error.contains("PTC") && error.contains("no daily bars"),
        "{error}"
    );
    assert_eq!(asked, 1);
    let (again, asked) = ask(LAST_DAY);
    assert_eq!(again.expect_err("still none").to_string(), error);
    assert_eq!(asked, 0, "remembered, across processes");
    let (_, asked) = ask("2021-04-27");
    assert_eq!(asked, 0, "not on the sixth day");
    let (_, asked) = ask("2021-04-28");
    assert_eq!(asked, 1, "asked again a week later");
}

/// Stores `SYMBOLS` as fetched up to `through`.
fn synced_store(fake: &PolygonFake, home: &Path, through: &str) -> BarStore {
    fake.serve_until(Some(date(through)));
    let store = BarStore::open_in(home).expect("store");
    store
        .sync(&feed(fake, through), &symbols(), true)
        .expect("first sync");
    store
}

#[test]
fn a_sync_of_a_few_symbols_never_makes_the_others_skip_a_session() {
    let fake = fake();
    let home = tempfile::tempdir().expect("home");
    let store = synced_store(&fake, home.path(), "2021-04-16");
    // Monday: a scan of AAPL alone brings AAPL up to date.
    fake.serve_until(Some(date("2021-04-19")));
    store
        .sync(&feed(&fake, "2021-04-19"), &["AAPL".to_string()], false)
        .expect("AAPL");
    // Tuesday: the whole store. The others still need Monday.
    fake.serve_until(Some(date("2021-04-20")));
    let feed = feed(&fake, "2021-04-20");
    let plan = store.plan(&feed, &symbols(), false);
    assert_eq!(plan.days, [date("2021-04-19"), date("2021-04-20")]);
    let report = store.sync(&feed, &symbols(), false).expect("all");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.synced_through, Some(date("2021-04-20")));
    for symbol in SYMBOLS {
        assert_eq!(
            store.read(symbol).expect("stored"),
            expected(symbol, "2021-04-20"),
            "{symbol}: no session missing"
        );
    }
}

#[test]
fn symbols_imported_with_different_ends_are_each_caught_up_from_their_own() {
    let data = tempfile::tempdir().expect("data");
    std::fs::create_dir(data.path().join("bars")).expect("bars");
    std::fs::copy(
        sp500().join("bars/AAPL.csv"),
        data.path().join("bars/AAPL.csv"),
    )
    .expect("copy");
    // MSFT's file ends the Friday before.
    let msft = std::fs::read_to_string(sp500().join("bars/MSFT.csv")).expect("read");
    let cut: Vec<&str> = msft
        .lines()
        .filter(|line| !line.starts_with("2021-04-19") && !line.starts_with("2021-04-2"))
        .collect();
    std::fs::write(data.path().join("bars/MSFT.csv"), cut.join("\n") + "\n").expect("write");
    let home = tempfile::tempdir().expect("home");
    let store = BarStore::open_in(home.path()).expect("store");
    let report = store
        .import(
            &FileSource::open(data.path()).expect("dir"),
            "import",
            &|_, _| {},
        )
        .expect("import");
    assert_eq!(report.symbols, 2);
    assert_eq!(
        store.status().expect("status").synced_through,
        Some(date("2021-04-16"))
    );

    let fake = fake();
    let before = fake.request_count();
    let both = vec!["AAPL".to_string(), "MSFT".to_string()];
    let feed = feed(&fake, LAST_DAY);
    let plan = store.plan(&feed, &both, false);
    assert_eq!(plan.per_ticker, [("MSFT".to_string(), date("2021-04-16"))]);
    let update = store.sync(&feed, &both, false).expect("sync");
    assert!(update.failed.is_empty(), "{:?}", update.failed);
    assert_eq!(
        fake.request_count() - before,
        1,
        "one request, for MSFT alone"
    );
    for symbol in &both {
        assert_eq!(
            store.read(symbol).expect("stored"),
            expected(symbol, LAST_DAY)
        );
    }
}

#[test]
fn two_processes_syncing_one_home_in_turn_see_each_other() {
    let fake = fake();
    let home = tempfile::tempdir().expect("home");
    let first = synced_store(&fake, home.path(), "2021-04-16");
    // A second process opened the same home at the same time.
    let second = BarStore::open_in(home.path()).expect("second");
    fake.serve_until(Some(date("2021-04-19")));
    first
        .sync(&feed(&fake, "2021-04-19"), &symbols(), false)
        .expect("first");
    fake.serve_until(Some(date("2021-04-20")));
    let before = fake.request_count();
    let report = second
        .sync(&feed(&fake, "2021-04-20"), &symbols(), false)
        .expect("second");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.refetched.is_empty(), "{:?}", report.refetched);
    assert_eq!(
        fake.request_count() - before,
        1,
        "only the day the first did not fetch"
    );
    for symbol in SYMBOLS {
        assert_eq!(
            second.read(symbol).expect("stored"),
            expected(symbol, "2021-04-20")
        );
    }
}

/// Two readings of a store's status describe the same store: everything equal but the universe's
/// age, which is read from the clock, so a second may have passed between them.
fn assert_same_status(later: StoreStatus, earlier: &StoreStatus, what: &str) {
    assert!(
        later
            .universe_age_secs
            .zip(earlier.universe_age_secs)
            .is_some_and(|(l, e)| l.abs_diff(e) <= 1)
            || later.universe_age_secs == earlier.universe_age_secs,
        "{what}: universe age {:?} then {:?}",
        earlier.universe_age_secs,
        later.universe_age_secs
    );
    assert_eq!(
        &StoreStatus {
            universe_age_secs: earlier.universe_age_secs,
            ..later
        },
        earlier,
        "{what}"
    );
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).expect("inside").to_owned());
            }
        }
    }
    found.sort();
    found
}

/// A data directory for the fake whose tickers are path-like: `bars/` holds AAPL's and MSFT's
/// bars under the encoded names of `../../../AB` and `/X`.
const HOSTILE: [(&str, &str, &str); 2] = [
    ("../../../AB", "%2E.%2F..%2F..%2FAB", "AAPL"),
    ("/X", "%2FX", "MSFT"),
];

fn hostile_data(root: &Path) -> PathBuf {
    let data = root.join("fake-data");
    std::fs::create_dir_all(data.join("bars")).expect("bars");
    for (_, stem, real) in HOSTILE {
        std::fs::copy(
            sp500().join(format!("bars/{real}.csv")),
            data.join(format!("bars/{stem}.csv")),
        )
        .expect("copy");
    }
    data
}

#[test]
fn path_like_symbols_from_a_scan_are_stored_inside_the_store() {
    // The path a server's `POST /scan` takes on `serve --source polygon`: the whole universe
    // from the source, the request naming the symbols.
    let root = tempfile::tempdir().expect("root");
    let data = hostile_data(root.path());
    let fake = PolygonFake::start(FakeOptions {
        tickers: HOSTILE.iter().map(|(t, _, _)| t.to_string()).collect(),
        ..FakeOptions::new(data)
    });
    // Deep enough that `bars/../../../AB.parquet` would still land inside `root`.
    let home = root.path().join("a/b/home");
    let store = Arc::new(BarStore::open_in(&home).expect("store"));
    let source = StoredSource::new(Arc::clone(&store), feed(&fake, LAST_DAY), None);
    let request = ScanRequest {
        symbols: Some(HOSTILE.iter().map(|(t, _, _)| t.to_string()).collect()),
        ..ScanRequest::default()
    };
    let report = Scanner::new(Arc::new(source))
        .with_workers(2)
        .run(&request, &|_: &ProgressSnapshot| {})
        .expect("scan");
    let mut scanned: Vec<&str> = report.results.iter().map(|r| r.symbol.as_str()).collect();
    scanned.sort();
    assert_eq!(scanned, ["../../../AB", "/X"], "{:?}", report.diagnostics);

    let mut expected_files: Vec<PathBuf> = HOSTILE
        .iter()
        .map(|(_, stem, _)| PathBuf::from(format!("a/b/home/store/bars/{stem}.parquet")))
        .collect();
    expected_files.extend(
        [
            "a/b/home/store/.lock",
            "a/b/home/store/store.json",
            "a/b/home/store/universe.csv",
        ]
        .map(PathBuf::from),
    );
    let mut written: Vec<PathBuf> = files_under(root.path())
        .into_iter()
        .filter(|p| !p.starts_with("fake-data"))
        .collect();
    written.sort();
    expected_files.sort();
    assert_eq!(
        written, expected_files,
        "nothing is written outside the store"
    );
    assert!(!Path::new("/X.parquet").exists());

    // Read back through the store, and by the store's own listing when opened again.
    let reopened = BarStore::open_in(&home).expect("reopen");
    for (ticker, _, real) in HOSTILE {
        assert_eq!(
            reopened.read(ticker).expect("read"),
            expected(real, LAST_DAY),
            "{ticker}"
        );
        assert!(reopened.get(ticker).is_some(), "{ticker} is listed");
    }
}

/// Flips a bit in the data of the newest page of a Parquet file's last column (`volume`), past
/// its header, where only the page's checksum can tell.
fn damage_last_page(path: &Path) {
    use parquet::file::reader::FileReader;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(
        std::fs::File::open(path).expect("open"),
    )
    .expect("footer");
    let chunk = reader.metadata().row_group(0).column(5).clone();
    let end = usize::try_from(chunk.data_page_offset() + chunk.compressed_size()).expect("offset");
    let mut bytes = std::fs::read(path).expect("read");
    bytes[end - 10] ^= 0x08;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_damaged_file_is_listed_and_a_sync_fetches_it_again_whole() {
    let fake = fake();
    let home = tempfile::tempdir().expect("home");
    let store = synced_store(&fake, home.path(), "2021-04-20");
    let path = store.bar_path("AAPL").expect("path");
    damage_last_page(&path);
    let err = store.read("AAPL").expect_err("damage is seen");
    assert!(
        matches!(err, technic_data::DataError::Damaged { .. }),
        "{err}"
    );
    let status = store.status().expect("status");
    let damaged: Vec<&str> = status.damaged.iter().map(|d| d.symbol.as_str()).collect();
    assert_eq!(damaged, ["AAPL"]);
    assert!(
        status.damaged[0].problem.contains("column 'volume'"),
        "{:?}",
        status.damaged
    );

    fake.serve_until(Some(date(LAST_DAY)));
    let update = store
        .sync(&feed(&fake, LAST_DAY), &symbols(), true)
        .expect("update");
    assert_eq!(update.refetched, ["AAPL"], "{:?}", update.failed);
    assert_eq!(update.failed, Vec::<(String, String)>::new());
    assert_eq!(
        store.read("AAPL").expect("fetched again"),
        expected("AAPL", LAST_DAY)
    );
    assert_eq!(store.status().expect("status").damaged, Vec::new());
    assert_eq!(store.status().expect("status").unfinished, Vec::new());
}
