//! A Redis that goes away mid-scan, and one that is not there at all: scans finish with every
//! symbol, the cache says so once, and picks Redis up again when it is back. Each test runs a
//! `redis-server` of its own (or none), so killing it disturbs nobody.
//!
//! The log is captured by a global subscriber (scan workers are other threads), which is why these
//! tests have a binary of their own; each counts only the lines naming its own port.

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use technic_cache::{Cache, CacheStats, CachedSource, RedisCache, RedisOptions};
use technic_core::Bars;
use technic_data::files::FileSource;
use technic_data::{BarWindow, DataError, Lookup, MarketData, SourceInfo, SymbolInfo};
use technic_engine::{ProgressSnapshot, ScanReport, ScanRequest, ScanStatus, Scanner};

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_log() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_writer(|| Capture)
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .init();
    });
}

/// Lines logged at `level` that mention `url` and contain `text`.
fn logged(level: &str, url: &str, text: &str) -> Vec<String> {
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(&format!(" {level} ")) && l.contains(url) && l.contains(text))
        .map(str::to_owned)
        .collect()
}

/// The files source, a millisecond slower per read, calling `at_call` once on its `trigger`th read.
struct Slow {
    inner: FileSource,
    reads: AtomicUsize,
    trigger: usize,
    at_call: Box<dyn Fn() + Send + Sync>,
}

impl MarketData for Slow {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.inner.universe()
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        if self.reads.fetch_add(1, Ordering::SeqCst) + 1 == self.trigger {
            (self.at_call)();
        }
        std::thread::sleep(Duration::from_millis(1));
        self.inner.bars(symbol, window)
    }
}

fn scan(source: Arc<dyn MarketData>) -> ScanReport {
    Scanner::new(source)
        .with_workers(4)
        .run(&ScanRequest::default(), &|_: &ProgressSnapshot| {})
        .expect("scan runs")
}

/// What must not change whether a cache is there, gone, or back: each symbol's outcome.
fn outcomes(report: &ScanReport) -> Vec<String> {
    let mut all: Vec<String> = report
        .results
        .iter()
        .map(|r| format!("{} {} {:?} {}", r.rank, r.symbol, r.signal, r.tech_rating))
        .chain(
            report
                .diagnostics
                .iter()
                .map(|d| format!("{} {:?} {}", d.symbol, d.kind, d.message)),
        )
        .collect();
    all.sort();
    all
}

#[test]
fn a_scan_outlives_its_redis_and_the_cache_picks_it_up_again() {
    capture_log();
    let Some(server) =
        common::OwnRedis::start("a_scan_outlives_its_redis_and_the_cache_picks_it_up_again")
    else {
        return;
    };
    let url = server.url();
    let server = Arc::new(Mutex::new(server));
    let retry_after = Duration::from_millis(200);
    // Stands still through the scan, so no retry reaches the killed Redis; moved on after.
    let clock = technic_testkit::ManualClock::new();
    let cache = Arc::new(
        RedisCache::new_with_clock(
            &url,
            RedisOptions {
                key_prefix: "technic-test:outage:".into(),
                // Failures after the kill are immediate (refused, reset); a long timeout only keeps
                // a loaded test machine from inventing a second outage before it.
                op_timeout: Duration::from_secs(2),
                retry_after,
                connections: 4,
            },
            clock.clone(),
        )
        .expect("cache"),
    );
    assert!(cache.stats().available);

    // Roughly a quarter of the way in: the scan reads each symbol twice (snapshot, then lookback).
    let trigger = 250;
    let at_kill: Arc<Mutex<Option<CacheStats>>> = Arc::default();
    let slow = Slow {
        inner: FileSource::open(technic_testkit::sp500()).expect("sp500 opens"),
        reads: AtomicUsize::new(0),
        trigger,
        at_call: Box::new({
            let (server, cache, at_kill) = (server.clone(), cache.clone(), at_kill.clone());
            move || {
                *at_kill.lock().expect("lock") = Some(cache.stats());
                server.lock().expect("lock").kill();
            }
        }),
    };
    let source = Arc::new(CachedSource::new(
        slow,
        cache.clone() as Arc<dyn Cache>,
        "sp500",
        Duration::from_secs(600),
    ));
    let started = Instant::now();
    let report = scan(source.clone());
    let took = started.elapsed();

    let reads = source.inner().reads.load(Ordering::SeqCst);
    assert!(
        reads > trigger + 500,
        "the scan went on after the kill: {reads} reads"
    );
    assert_eq!(report.status, ScanStatus::Completed);
    assert_eq!(report.metrics.symbols_total, 506);
    let mut seen: Vec<&str> = report
        .results
        .iter()
        .map(|r| r.symbol.as_str())
        .chain(report.diagnostics.iter().map(|d| d.symbol.as_str()))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(
        seen.len(),
        506,
        "every symbol once, as a result or a diagnostic"
    );
    let plain = scan(Arc::new(
        FileSource::open(technic_testkit::sp500()).expect("sp500 opens"),
    ));
    assert!(
        outcomes(&report) == outcomes(&plain),
        "the scan through a dying cache differs from one with none"
    );

    let before = at_kill
        .lock()
        .expect("lock")
        .expect("the kill happened mid-scan");
    assert!(
        before.puts >= (trigger - 10) as u64 && before.available,
        "Redis was in use before the kill: {before:?}"
    );
    let after = cache.stats();
    assert_eq!(after.outages, 1, "{after:?}");
    assert!(!after.available, "{after:?}");
    assert!(
        after.puts <= before.puts + 4,
        "at most the puts in flight at the kill landed after it: {before:?} then {after:?}"
    );
    let shown = url.trim_start_matches("redis://");
    let warnings = logged("WARN", shown, "");
    assert_eq!(warnings.len(), 1, "one warning: {warnings:#?}");
    assert!(
        warnings[0].contains("went away") && warnings[0].contains("try again every 0.2 s"),
        "{}",
        warnings[0]
    );
    eprintln!("scan through a dying Redis: {took:?}; {after:?}");

    server.lock().expect("lock").restart();
    cache.put("before the retry", b"skipped", Duration::from_secs(60));
    assert!(!cache.stats().available, "not retried before retry_after");
    clock.advance(retry_after);
    cache.put("after", b"back", Duration::from_secs(60));
    assert_eq!(cache.get("after").as_deref(), Some(&b"back"[..]));
    let (first, lookup) = source.bars_with_lookup("AAPL", &BarWindow::last(30));
    assert_eq!(lookup, Lookup::Miss, "the restarted Redis is empty");
    let (second, lookup) = source.bars_with_lookup("AAPL", &BarWindow::last(30));
    assert_eq!(lookup, Lookup::Hit, "and caches again");
    assert_eq!(first.expect("AAPL"), second.expect("AAPL"));
    let back = cache.stats();
    assert!(back.available && back.outages == 1, "{back:?}");
    assert_eq!(back.hits, after.hits + 2);
    assert_eq!(logged("INFO", shown, "is back").len(), 1);
    assert_eq!(logged("WARN", shown, "").len(), 1, "no new warning");
}

#[test]
fn a_redis_that_is_not_there_is_not_an_error_and_bars_still_come() {
    capture_log();
    let port = common::free_port();
    let url = format!("redis://user:hunter2@127.0.0.1:{port}/0");
    let cache = Arc::new(
        RedisCache::new(
            &url,
            RedisOptions {
                // Long enough that this test never retries, so its counters are exact.
                retry_after: Duration::from_secs(600),
                ..RedisOptions::default()
            },
        )
        .expect("an unreachable Redis is not an error"),
    );
    let source = CachedSource::new(
        FileSource::open(technic_testkit::sp500()).expect("sp500 opens"),
        cache.clone() as Arc<dyn Cache>,
        "sp500",
        Duration::from_secs(600),
    );
    let started = Instant::now();
    for symbol in ["AAPL", "MSFT", "XOM"] {
        let (bars, lookup) = source.bars_with_lookup(symbol, &BarWindow::last(100));
        assert_eq!(bars.expect(symbol).len(), 100);
        assert_eq!(lookup, Lookup::Miss);
    }
    assert!(source.universe().expect("universe").len() > 500);
    for _ in 0..1000 {
        assert_eq!(cache.get("anything"), None);
    }
    let elapsed = started.elapsed();
    assert_eq!(
        cache.stats(),
        CacheStats {
            hits: 0,
            misses: 1004,
            puts: 0,
            errors: 0,
            outages: 1,
            available: false,
        }
    );
    let shown = format!("127.0.0.1:{port}");
    let warnings = logged("WARN", &shown, "");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].contains("not reachable") && !warnings[0].contains("hunter2"),
        "{}",
        warnings[0]
    );
    assert!(
        !LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .windows(7)
            .any(|w| w == b"hunter2"),
        "the password is never logged"
    );
    eprintln!("1004 lookups against an absent Redis: {elapsed:?}");
}
