//! The result stream and early termination, under heavy parallelism with random per-symbol delays.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use technic_core::Bars;
use technic_core::termination::StopReason;
use technic_data::memory::MemorySource;
use technic_data::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo};
use technic_engine::{
    DiagnosticKind, EventLog, Learned, Payload, ProgressSnapshot, ScanOptions, ScanRequest,
    ScanStatus, Scanner, TerminationRequest,
};
use technic_testkit::markets::demo as demo_snapshot;

/// A source that sleeps a random while on every read and counts its reads.
struct SlowSource {
    inner: MemorySource,
    min_delay_micros: u64,
    max_delay_micros: u64,
    rng: Mutex<ChaCha8Rng>,
    reads: AtomicUsize,
}

impl SlowSource {
    fn new(seed: u64, max_delay_micros: u64) -> Self {
        let inner = demo_snapshot();
        Self {
            inner,
            min_delay_micros: 0,
            max_delay_micros,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            reads: AtomicUsize::new(0),
        }
    }
}

impl MarketData for SlowSource {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.inner.universe()
    }
    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let delay = self
            .rng
            .lock()
            .expect("rng")
            .gen_range(self.min_delay_micros..=self.max_delay_micros);
        std::thread::sleep(Duration::from_micros(delay));
        self.inner.bars(symbol, window)
    }
}

fn quiet() -> impl Fn(&ProgressSnapshot) + Send + Sync {
    |_: &ProgressSnapshot| {}
}

#[test]
fn seq_has_no_gaps_and_every_result_arrives_once_whatever_the_parallelism() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(8)
        .build()
        .expect("pool");
    for run in 0..12u64 {
        let source = Arc::new(SlowSource::new(run, 1500));
        let scanner = Scanner::new(source);
        let request = ScanRequest {
            max_symbols: Some(150),
            ..Default::default()
        }
        .validate()
        .expect("valid");
        let options = ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        // Readers that join at random points while the scan runs, each from a random seq.
        let mut rng = ChaCha8Rng::seed_from_u64(1000 + run);
        let readers: Vec<_> = (0..6)
            .map(|_| {
                let (join_after_ms, from_seq) = (rng.gen_range(0..40), rng.gen_range(0..60));
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(join_after_ms));
                    let mut sub = log.subscribe(from_seq);
                    let mut seen = Vec::new();
                    while !sub.is_done() {
                        seen.extend(
                            sub.next_batch_blocking(Duration::from_millis(50))
                                .iter()
                                .map(|m| m.metadata.seq),
                        );
                    }
                    (from_seq, seen)
                })
            })
            .collect();
        let outcome = pool
            .install(|| scanner.execute(&request, options, &log, &quiet()))
            .expect("scan");
        let messages = log.after(0);
        let seqs: Vec<u64> = messages.iter().map(|m| m.metadata.seq).collect();
        assert_eq!(
            seqs,
            (1..=messages.len() as u64).collect::<Vec<_>>(),
            "run {run}: seq 1..n without gaps"
        );
        assert!(
            messages
                .last()
                .is_some_and(|m| m.metadata.is_final && matches!(m.payload, Payload::Complete(_)))
        );
        assert_eq!(messages.iter().filter(|m| m.metadata.is_final).count(), 1);
        let streamed: Vec<&str> = messages
            .iter()
            .filter_map(|m| match &m.payload {
                Payload::Result(r) => Some(r.symbol.as_str()),
                _ => None,
            })
            .collect();
        let unique: HashSet<&str> = streamed.iter().copied().collect();
        assert_eq!(unique.len(), streamed.len(), "run {run}: no result twice");
        let final_symbols: HashSet<&str> = outcome
            .report
            .results
            .iter()
            .map(|r| r.symbol.as_str())
            .collect();
        assert_eq!(
            unique, final_symbols,
            "run {run}: every result streamed, none lost"
        );
        assert_eq!(
            outcome.report.results.len() + outcome.report.diagnostics.len(),
            150
        );
        for reader in readers {
            let (from, seen) = reader.join().expect("reader");
            let expected: Vec<u64> = ((from + 1)..=messages.len() as u64).collect();
            assert_eq!(
                seen, expected,
                "run {run}: a reader from seq {from} gets exactly what follows"
            );
        }
    }
}

fn run_with(
    termination: TerminationRequest,
    source: Arc<dyn MarketData>,
) -> technic_engine::ScanOutcome {
    let request = ScanRequest {
        termination_criteria: Some(termination),
        ..Default::default()
    }
    .validate()
    .expect("valid");
    let options = ScanOptions::default();
    let log = EventLog::new(options.scan_id.clone());
    Scanner::new(source)
        .execute(&request, options, &log, &quiet())
        .expect("scan")
}

fn demo() -> Arc<dyn MarketData> {
    Arc::new(demo_snapshot())
}

fn accounted(outcome: &technic_engine::ScanOutcome) {
    let report = &outcome.report;
    assert_eq!(
        report.results.len() + report.diagnostics.len(),
        report.metrics.symbols_total,
        "every symbol accounted for"
    );
}

#[test]
fn max_signals_stops_at_exactly_that_many_and_keeps_results_so_far() {
    let outcome = run_with(
        TerminationRequest {
            max_signals: Some(5),
            ..Default::default()
        },
        demo(),
    );
    let report = &outcome.report;
    assert_eq!(report.status, ScanStatus::Stopped);
    assert!(
        report
            .stop_reason
            .as_deref()
            .is_some_and(|r| r.contains("max_signals")),
        "{:?}",
        report.stop_reason
    );
    assert_eq!(report.results.iter().filter(|r| r.high_quality).count(), 5);
    assert!(report.metrics.early_terminated);
    assert!(
        report.results.len() < 100,
        "stopped early: {} results",
        report.results.len()
    );
    let not_scanned = report
        .diagnostics
        .iter()
        .filter(|d| d.message.starts_with("not scanned"))
        .count();
    assert!(
        not_scanned > 300,
        "the rest are reported as not scanned: {not_scanned}"
    );
    assert!(
        report
            .diagnostics
            .iter()
            .all(|d| d.kind == DiagnosticKind::Skipped)
    );
    assert!(
        outcome.learning.alpha_reference.is_none(),
        "a stopped scan leaves no distribution"
    );
    accounted(&outcome);

    let strict = run_with(
        TerminationRequest {
            max_signals: Some(3),
            min_signal_rating: Some(85.0),
            ..Default::default()
        },
        demo(),
    );
    let counted = strict
        .report
        .results
        .iter()
        .filter(|r| r.signal.is_buy() && r.tech_rating >= 85.0)
        .count();
    assert_eq!(counted, 3, "min_signal_rating decides what counts");
}

#[test]
fn max_percent_scanned_stops_after_that_share() {
    let outcome = run_with(
        TerminationRequest {
            max_percent_scanned: Some(10.0),
            ..Default::default()
        },
        demo(),
    );
    let report = &outcome.report;
    assert_eq!(report.status, ScanStatus::Stopped);
    let finished = report.metrics.symbols_total
        - report
            .diagnostics
            .iter()
            .filter(|d| d.message.starts_with("not scanned"))
            .count();
    assert_eq!(finished, 50, "10% of 500");
    accounted(&outcome);
}

#[test]
fn timeout_stops_a_slow_scan() {
    let source = Arc::new(SlowSource::new(7, 3000));
    let outcome = run_with(
        TerminationRequest {
            timeout_seconds: Some(0.15),
            ..Default::default()
        },
        source,
    );
    let report = &outcome.report;
    assert_eq!(report.status, ScanStatus::Stopped);
    assert!(
        report
            .stop_reason
            .as_deref()
            .is_some_and(|r| r.contains("timeout"))
    );
    assert!(
        report.metrics.seconds_total < 1.0,
        "took {}",
        report.metrics.seconds_total
    );
    accounted(&outcome);
}

#[test]
fn a_stopped_scan_reads_and_computes_nothing_more() {
    let source = Arc::new(SlowSource::new(3, 2000));
    let scanner = Scanner::new(Arc::clone(&source) as Arc<dyn MarketData>).with_workers(4);
    let request = ScanRequest::default().validate().expect("valid");
    let options = ScanOptions::default();
    let stop = options.stop.clone();
    let log = EventLog::new(options.scan_id.clone());
    let reads_at_stop = Arc::new(AtomicUsize::new(usize::MAX));
    let (stop_in_observer, reads) = (stop.clone(), Arc::clone(&source));
    let at_stop = Arc::clone(&reads_at_stop);
    let observer = move |s: &ProgressSnapshot| {
        if s.current_stage == technic_engine::Stage::SymbolScanning
            && s.stage_progress >= 5.0
            && !stop_in_observer.is_stopped()
        {
            at_stop.store(reads.reads.load(Ordering::SeqCst), Ordering::SeqCst);
            stop_in_observer.stop(StopReason::Manual("the test".into()));
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(4)
        .build()
        .expect("pool");
    let outcome = pool
        .install(|| scanner.execute(&request, options, &log, &observer))
        .expect("scan");
    let report = &outcome.report;
    assert_eq!(report.status, ScanStatus::Stopped);
    assert_eq!(report.stop_reason.as_deref(), Some("stopped by the test"));
    let at_stop = reads_at_stop.load(Ordering::SeqCst);
    let after_return = source.reads.load(Ordering::SeqCst);
    // Workers already inside a read when the stop came may finish it (at most one each); none starts another.
    assert!(
        after_return <= at_stop + 4,
        "reads: {at_stop} at the stop, {after_return} at the end"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        source.reads.load(Ordering::SeqCst),
        after_return,
        "nothing runs after the scan returned"
    );
    // The log ends with the complete message and nothing after it.
    assert!(log.is_closed());
    accounted(&outcome);
}

#[test]
fn prioritised_order_puts_signals_earlier_than_alphabetical() {
    let source = demo();
    let request = |prioritize: bool| {
        ScanRequest {
            enable_prioritization: Some(prioritize),
            ..Default::default()
        }
        .validate()
        .expect("valid")
    };
    let run = |prioritize: bool| {
        let options = ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        Scanner::new(Arc::clone(&source))
            .execute(&request(prioritize), options, &log, &quiet())
            .expect("scan")
    };
    let (smart, plain) = (run(true), run(false));
    let m = &smart.report.metrics;
    assert!(
        m.high_tier_signal_rate.expect("rate") > m.universe_signal_rate.expect("rate"),
        "{m:?}"
    );
    assert!(
        plain
            .report
            .results
            .iter()
            .all(|r| r.priority_tier.is_none())
    );
    assert!(
        smart
            .report
            .results
            .iter()
            .all(|r| r.priority_tier.is_some() && r.batch_number >= 1 && r.position >= 1)
    );
}

#[test]
fn the_timeout_fires_while_every_read_is_slow_even_in_the_snapshot() {
    let mut slow = SlowSource::new(11, 400_000);
    slow.min_delay_micros = 400_000;
    let started = std::time::Instant::now();
    let outcome = run_with(
        TerminationRequest {
            timeout_seconds: Some(0.1),
            ..Default::default()
        },
        Arc::new(slow),
    );
    let elapsed = started.elapsed().as_secs_f64();
    let report = &outcome.report;
    assert_eq!(report.status, ScanStatus::Stopped);
    assert!(
        report
            .stop_reason
            .as_deref()
            .is_some_and(|r| r.contains("timeout"))
    );
    // Reads already under way at the deadline finish (one per thread, 0.4 s); nothing else starts.
    assert!(elapsed < 1.5, "returned after {elapsed:.2} s");
    assert!(
        report.results.is_empty(),
        "no result can be ready before a 0.1 s deadline with 0.4 s reads"
    );
    accounted(&outcome);
}

#[test]
fn a_stop_after_the_last_symbol_leaves_the_scan_complete() {
    let outcome = run_with(
        TerminationRequest {
            max_percent_scanned: Some(100.0),
            ..Default::default()
        },
        demo(),
    );
    assert_eq!(outcome.report.status, ScanStatus::Completed);
    assert_eq!(outcome.report.stop_reason, None);
    assert!(
        outcome.learning.alpha_reference.is_some(),
        "a complete scan leaves its distribution"
    );
}

/// A source whose reads panic: a bug in a source must still end the stream for its readers.
struct PanickingSource(MemorySource);

impl MarketData for PanickingSource {
    fn info(&self) -> SourceInfo {
        self.0.info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.0.universe()
    }
    fn bars(&self, _symbol: &str, _window: &BarWindow) -> Result<Bars, DataError> {
        panic!("a bug in a market-data source")
    }
}

#[test]
fn readers_see_the_stream_end_even_if_the_scan_panics() {
    let scanner = Scanner::new(Arc::new(PanickingSource(demo_snapshot())));
    let request = ScanRequest::default().validate().expect("valid");
    let options = ScanOptions::default();
    let log = EventLog::new(options.scan_id.clone());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        scanner.execute(&request, options, &log, &quiet())
    }));
    assert!(panicked.is_err(), "the panic reaches the caller");
    assert!(log.is_closed(), "the log is closed");
    let last = log.after(0).pop().expect("messages");
    assert!(
        matches!(&last.payload, Payload::Error { message } if message.contains("ended unexpectedly"))
    );
    assert!(last.metadata.is_final);
}

#[test]
fn the_rating_filter_does_not_change_a_symbols_alpha() {
    let run = |request: ScanRequest| {
        let options = ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        Scanner::new(demo())
            .execute(&request.validate().expect("valid"), options, &log, &quiet())
            .expect("scan")
    };
    let all = run(ScanRequest::default());
    let filtered = run(ScanRequest {
        min_tech_rating: Some(60.0),
        ..Default::default()
    });
    assert!(
        filtered.report.results.len() < all.report.results.len(),
        "the filter removed some results"
    );
    assert_eq!(
        filtered.report.metrics.symbols_scanned, all.report.metrics.symbols_scanned,
        "filtered symbols still count as rated"
    );
    for r in &filtered.report.results {
        let same = all
            .report
            .results
            .iter()
            .find(|a| a.symbol == r.symbol)
            .expect("also in the unfiltered scan");
        assert_eq!(r.alpha_score, same.alpha_score, "{}", r.symbol);
    }
    assert_eq!(
        filtered.report.metrics.universe_signal_rate,
        all.report.metrics.universe_signal_rate
    );
}

/// Holds the reads of `held` symbols after the first one until the gate opens.
struct HoldingSource {
    inner: MemorySource,
    held: Vec<String>,
    reads_of_held: AtomicUsize,
    gate: Mutex<bool>,
    opened: std::sync::Condvar,
}

impl MarketData for HoldingSource {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.inner.universe()
    }
    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        if self.held.iter().any(|h| h == symbol)
            && self.reads_of_held.fetch_add(1, Ordering::SeqCst) > 0
        {
            let mut open = self.gate.lock().expect("gate");
            while !*open {
                open = self.opened.wait(open).expect("gate");
            }
        }
        self.inner.bars(symbol, window)
    }
}

#[test]
fn a_scans_first_symbol_does_not_wait_for_a_permit_another_scan_holds() {
    let universe = demo_snapshot().universe().expect("universe");
    let symbols = |range: std::ops::Range<usize>| -> Vec<String> {
        universe[range].iter().map(|s| s.symbol.clone()).collect()
    };
    let source = Arc::new(HoldingSource {
        inner: demo_snapshot(),
        held: symbols(0..3),
        reads_of_held: AtomicUsize::new(0),
        gate: Mutex::new(false),
        opened: std::sync::Condvar::new(),
    });
    // One permit: scan A's second symbol takes it and its read is held.
    let scanner =
        Arc::new(Scanner::new(Arc::clone(&source) as Arc<dyn MarketData>).with_workers(1));
    let request_of = |symbols: Vec<String>| {
        ScanRequest {
            symbols: Some(symbols),
            enable_prioritization: Some(false),
            ..Default::default()
        }
        .validate()
        .expect("valid")
    };
    let scan = |request: technic_engine::ValidScan| {
        let scanner = Arc::clone(&scanner);
        std::thread::spawn(move || {
            let options = ScanOptions::default();
            let log = EventLog::new(options.scan_id.clone());
            scanner
                .execute(&request, options, &log, &quiet())
                .expect("scan")
        })
    };
    let first = scan(request_of(symbols(0..3)));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while source.reads_of_held.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "scan A never reached its held read"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    // Scan B's only symbol is its first: it runs while A's permit is held.
    let second = scan(request_of(symbols(3..4)));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !second.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "scan B's first symbol waited for the permit scan A holds"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let outcome = second.join().expect("scan B");
    assert_eq!(
        outcome.report.results.len() + outcome.report.diagnostics.len(),
        1
    );
    assert!(!first.is_finished(), "scan A is still held");
    *source.gate.lock().expect("gate") = true;
    source.opened.notify_all();
    accounted(&first.join().expect("scan A"));
}

/// The stored distribution is what streamed ratings and alphas are placed among: a narrower scan
/// (or one too small to be a cross-section) must not replace it, a broader or equal one does.
#[test]
fn the_stored_distribution_is_not_replaced_by_a_narrower_scan() {
    let scan = |max_symbols: Option<usize>, learned: &Learned| {
        let request = ScanRequest {
            max_symbols,
            ..Default::default()
        }
        .validate()
        .expect("valid");
        let options = ScanOptions {
            learned: Arc::new(learned.clone()),
            ..ScanOptions::default()
        };
        let log = EventLog::new(options.scan_id.clone());
        Scanner::new(demo())
            .execute(&request, options, &log, &quiet())
            .expect("scan")
    };
    let broad = scan(None, &Learned::default());
    let stored = broad
        .learning
        .alpha_reference
        .clone()
        .expect("a complete scan of the whole demo market leaves its distribution");
    assert!(stored.breadth() >= 400, "{}", stored.breadth());
    assert_eq!(
        stored.rating_composites.len(),
        broad.report.metrics.symbols_scanned,
        "one composite per symbol rated"
    );
    let mut learned = Learned::default();
    learned.apply(&broad.learning);

    let narrow = scan(Some(100), &learned);
    assert_eq!(narrow.report.metrics.symbols_scanned, 100);
    assert!(
        narrow.learning.alpha_reference.is_none(),
        "a 100-symbol scan leaves the 500-symbol distribution alone"
    );
    // Even handed a narrower reference by another path, what is kept is the broader one.
    let mut narrower = broad.learning.clone();
    narrower.alpha_reference = Some(technic_core::alpha::AlphaReference::default());
    learned.apply(&narrower);
    assert_eq!(learned.alpha_reference.as_ref(), Some(&stored));

    let tiny = scan(Some(5), &Learned::default());
    assert!(
        tiny.learning.alpha_reference.is_none(),
        "five symbols are not a cross-section to place others among"
    );
    let again = scan(None, &learned);
    assert!(
        again.learning.alpha_reference.is_some(),
        "a scan as broad as the stored one replaces it"
    );
}
