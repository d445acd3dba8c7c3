//! Market data for real, measured: 500 symbols from a loopback server that answers like
//! Polygon.io with 50 ms of latency and a plan limit of 100 requests a second (it answers 429
//! beyond it), scanned cold (empty store), warm (everything stored) and after one new session
//! (a daily delta), next to the seeds' way: one request per symbol, one after another.
//!
//!   cargo bench -p technic-barstore --bench sync
//!
//! Each figure: requests the server saw, seconds, and the store's hit rate (symbols served from
//! the store without a request for them). The rate-limit bound is requests / 100 per second.

// The fake is shared with technic-polygon's tests; this uses part of it.
use technic_testkit::polygon_fake;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use polygon_fake::{FakeOptions, KEY, PolygonFake};
use technic_barstore::{BarStore, StoredSource};
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};
use technic_engine::{ProgressSnapshot, ScanRequest, ScanStatus, Scanner};
use technic_polygon::{PolygonConfig, PolygonSource, RateLimit};
use technic_testkit::shared;

const SYMBOLS: usize = 500;
const LATENCY: Duration = Duration::from_millis(50);
const RATE: usize = 100;
const LAST_DAY: &str = "2021-04-21";
const DAY_BEFORE: &str = "2021-04-20";

fn date(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn config(fake: &PolygonFake, today: &str) -> PolygonConfig {
    PolygonConfig {
        base_url: fake.base_url.clone(),
        // The plan's limit, configured as a user of that plan would.
        rate_limit: RateLimit {
            requests: RATE as u32,
            per: Duration::from_secs(1),
        },
        // Enough in flight to reach the limit through 50 ms of latency (100/s × 50 ms = 5).
        max_concurrency: 10,
        today: Some(date(today)),
        ..PolygonConfig::new(KEY)
    }
}

struct Run {
    requests: usize,
    refused: usize,
    seconds: f64,
    first_result: Option<f64>,
    hit_rate: f64,
    results: usize,
}

fn scan(fake: &PolygonFake, home: &Path, today: &str) -> Run {
    let before = (fake.request_count(), fake.refused_for_rate());
    let started = Instant::now();
    let store = Arc::new(BarStore::open_in(home).expect("store"));
    let source = Arc::new(StoredSource::new(
        store,
        PolygonSource::new(config(fake, today)).expect("feed"),
        None,
    ));
    let report = Scanner::new(source.clone())
        .run(&ScanRequest::default(), &|_: &ProgressSnapshot| {})
        .expect("scan");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.status, ScanStatus::Completed);
    if std::env::var_os("DEBUG_REQUESTS").is_some() {
        for (_, path) in fake.requests().iter().skip(before.0).take(10) {
            eprintln!("  {path}");
        }
    }
    let reads = source.reads();
    Run {
        requests: fake.request_count() - before.0,
        refused: fake.refused_for_rate() - before.1,
        seconds,
        first_result: report.metrics.time_to_first_result,
        hit_rate: reads.hits as f64 / (reads.hits + reads.misses).max(1) as f64,
        results: report.results.len() + report.diagnostics.len(),
    }
}

/// The seeds' way: each symbol's history in its own request, one after another, nothing kept.
fn sequential(fake: &PolygonFake, symbols: &[String]) -> Run {
    let before = (fake.request_count(), fake.refused_for_rate());
    let source = PolygonSource::new(PolygonConfig {
        max_concurrency: 1,
        ..config(fake, LAST_DAY)
    })
    .expect("source");
    let started = Instant::now();
    let mut fetched = 0;
    for symbol in symbols {
        if source.bars(symbol, &BarWindow::default()).is_ok() {
            fetched += 1;
        }
    }
    Run {
        requests: fake.request_count() - before.0,
        refused: fake.refused_for_rate() - before.1,
        seconds: started.elapsed().as_secs_f64(),
        first_result: None,
        hit_rate: 0.0,
        results: fetched,
    }
}

fn print(name: &str, run: &Run) {
    let bound = run.requests as f64 / RATE as f64;
    println!(
        "{name:<34} {:>8} {:>8.2} {:>10.2} {:>9.0}% {:>8} {:>12} {:>8}",
        run.requests,
        run.seconds,
        bound,
        run.hit_rate * 100.0,
        run.refused,
        run.first_result
            .map_or_else(|| "-".to_owned(), |s| format!("{s:.2}")),
        run.results,
    );
}

fn main() {
    let data = shared().join("data/sp500");
    let symbols: Vec<String> = FileSource::open(&data)
        .expect("the S&P 500 data (set TECHNIC_SHARED)")
        .universe()
        .expect("universe")
        .into_iter()
        .map(|i| i.symbol)
        .take(SYMBOLS)
        .collect();
    let fake = PolygonFake::start(FakeOptions {
        tickers: symbols.clone(),
        latency: LATENCY,
        rate_limit: Some((RATE, Duration::from_secs(1))),
        ..FakeOptions::new(data)
    });
    let home = tempfile::tempdir().expect("home");
    println!(
        "{} symbols, {} ms latency, {} requests/s limit, {} cores",
        symbols.len(),
        LATENCY.as_millis(),
        RATE,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<34} {:>8} {:>8} {:>10} {:>10} {:>8} {:>12} {:>8}",
        "run", "requests", "seconds", "rate bound", "hit rate", "429s", "1st result", "symbols"
    );

    // The store is filled up to the day before, then the last session arrives.
    fake.serve_until(Some(date(DAY_BEFORE)));
    let cold = scan(&fake, home.path(), DAY_BEFORE);
    print("cold (empty store)", &cold);
    let warm = scan(&fake, home.path(), DAY_BEFORE);
    print("warm (everything stored)", &warm);
    fake.serve_until(Some(date(LAST_DAY)));
    let delta = scan(&fake, home.path(), LAST_DAY);
    print("one-day delta", &delta);
    let seeds = sequential(&fake, &symbols);
    print("one request per symbol, in turn", &seeds);

    println!(
        "\ncold: {:.2} s over the rate bound; warm: {:.2} s; daily update: {} requests; the seeds' way took {:.1}x the cold run and {:.0}x the warm one",
        cold.seconds - cold.requests as f64 / RATE as f64,
        warm.seconds,
        delta.requests,
        seeds.seconds / cold.seconds,
        seeds.seconds / warm.seconds
    );
}
