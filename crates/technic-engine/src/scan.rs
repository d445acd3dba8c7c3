//! Running one scan: universe → snapshot and priority order → a pipeline that fetches and computes
//! each symbol and emits its result the moment it is done → the exact final ranking.
//!
//! The four stages, as the progress model names them: `universe_loading` (select symbols);
//! `data_fetching` (the cheap snapshot, the newest 21 bars, of every symbol, then the priority
//! order); `symbol_scanning` (workers take the next symbol of the order from a shared cursor, fetch
//! its lookback, evaluate it and emit the result at once); `finalization` (exact alpha percentiles,
//! the standard rating placed exactly in the scan's cross-section, the `min_tech_rating` filter on
//! that final rating, the final ranking).
//!
//! Rules the pipeline keeps:
//! - The `StopHandle` and the termination criteria are checked under the lock that emits results,
//!   so `max_signals` is exact, and by every worker before it fetches and before it computes, so
//!   nothing is read or computed after a stop. Symbols never reached end as "not scanned" skips.
//! - Every symbol of every scan, in the snapshot stage and the scan, takes a permit of the fair
//!   queues (`fair.rs`); with [`Scanner::with_low_priority_after_first`] (the server) a worker
//!   drops to nice 19 just before its first permit of the second queue, so the threads serving
//!   requests and sockets are never queued behind computation. A first symbol's bars are read
//!   before any permit, and a first symbol some scan has already analysed takes no permit at all
//!   (it costs a lookup); it can still wait, through shared analyses, for another scan computing
//!   it. A remote source (`concurrent_reads`) is read in the snapshot stage by as many threads as
//!   it allows requests in flight, without permits.
//! - A symbol whose bars cannot be read is reported, with
//!   [`Scanner::with_source_errors_logged`] (the server), with the error's `public_message` (the bar file's name alone); the whole error goes to the log.
//! - Request-specific steps (filters, `min_tech_rating`, tier, alpha score, high quality) run per
//!   scan after the shared analysis. A new pre-analysis filter belongs in the core's
//!   `evaluate::screen`; one on the rating, beside `min_tech_rating` here.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use chrono::{DateTime, NaiveDate, Utc};
use technic_core::alpha::{self, AlphaFactors, AlphaReference};
use technic_core::evaluate::{self, Outcome as Evaluated, Screens};
use technic_core::priority::{self, PriorityInput, SNAPSHOT_BARS, Snapshot, Tier};
use technic_core::progress::{ProgressSnapshot, ProgressTracker, ScanStatus, Stage};
use technic_core::rating::{SignalQuality, standard};
use technic_core::termination::StopReason;
use technic_core::{Bars, IndicatorSet};
use technic_data::{BarWindow, DataError, Lookup, MarketData, SymbolInfo};

use crate::analyses::SharedAnalyses;
use crate::fair::FairPermits;
use crate::learning::{Learned, LearningUpdate, SectorStats, SymbolOutcome};
use crate::report::{
    Diagnostic, DiagnosticCause, DiagnosticKind, OrderedMap, ScanMetrics, ScanReport, ScanResult,
};
use crate::request::{RequestError, ScanRequest, ValidScan};
use crate::screening::{self, ScreenSpec};
use crate::snapshots::SnapshotCache;
use crate::stream::{EventLog, Payload};
use technic_screen::Captured;

pub use technic_core::evaluate::MIN_BARS;

/// Symbols per batch of the scan order (`batch_number` in results).
pub const BATCH_SIZE: usize = 25;

/// Observes a running scan. Called from the scan's worker threads, one call at a time and in order,
/// so it must be cheap: it holds up the scan while it runs.
pub trait ScanObserver: Send + Sync {
    fn on_progress(&self, snapshot: &ProgressSnapshot);
}

impl<F: Fn(&ProgressSnapshot) + Send + Sync> ScanObserver for F {
    fn on_progress(&self, snapshot: &ProgressSnapshot) {
        self(snapshot)
    }
}

/// Time, injected so tests and replays control it.
pub trait Clock: Send + Sync {
    /// Monotonic seconds from an arbitrary origin.
    fn seconds(&self) -> f64;
    /// Wall-clock time, for message timestamps.
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn seconds(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("invalid scan request: {0}")]
    InvalidRequest(#[from] RequestError),
    #[error("could not load the universe: {0}")]
    Universe(DataError),
    /// A distributed scan lost its Redis for longer than it waits.
    #[error("the distributed scan failed: {0}")]
    Distributed(String),
}

impl ScanError {
    /// What the scan's readers are told: a request's own mistake in full, since it names the
    /// field to fix; a data source's failure without its detail (file paths, the provider's
    /// answer), which is for whoever runs the scanner and goes to its log.
    pub fn public_message(&self) -> String {
        match self {
            ScanError::InvalidRequest(_) | ScanError::Distributed(_) => self.to_string(),
            ScanError::Universe(_) => {
                "could not load the universe: the market data source failed (the detail is in the log)"
                    .to_owned()
            }
        }
    }
}

/// Stops a running scan from outside (Ctrl-C, `POST /scan/stop`). Cloning shares the handle.
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    /// Checked by every worker before each step; the reason is kept beside it.
    stopped: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl StopHandle {
    /// Stops the scan; the first reason given is the one reported.
    pub fn stop(&self, reason: StopReason) {
        let mut held = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        held.get_or_insert(reason);
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// How a scan runs, beyond what the request asks.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub scan_id: String,
    /// Shared: a server hands the same copy to every scan it starts.
    pub learned: Arc<Learned>,
    pub stop: StopHandle,
    /// Cut the data at this date (replays of history).
    pub as_of: Option<NaiveDate>,
    /// Interleave sectors within each priority tier.
    pub diversity: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            scan_id: new_scan_id(),
            learned: Arc::default(),
            stop: StopHandle::default(),
            as_of: None,
            diversity: true,
        }
    }
}

/// A finished scan: the report, and what it learned.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub report: ScanReport,
    pub learning: LearningUpdate,
}

/// Runs scans against one market-data source. Cheap to share; each run is independent.
pub struct Scanner {
    source: Arc<dyn MarketData>,
    indicators: IndicatorSet,
    quality: SignalQuality,
    clock: Arc<dyn Clock>,
    /// Shared by every scan of this scanner: the order in which their symbols get CPU.
    permits: Arc<FairPermits>,
    /// The same number of permits for scans' first symbols only (see `Scanner::worker`).
    first_symbols: Arc<FairPermits>,
    /// Recent priority snapshots, shared by concurrent and repeated scans of the same data.
    snapshots: SnapshotCache,
    /// See [`Scanner::with_low_priority_after_first`].
    low_priority_after_first: bool,
    /// See [`Scanner::with_shared_analyses`]; `None` computes every symbol of every scan.
    shared_analyses: Option<SharedAnalyses>,
    /// See [`Scanner::with_source_errors_logged`].
    source_errors_logged: bool,
    /// See [`Scanner::with_cluster`]; `None` scans on this process's threads.
    cluster: Option<Arc<crate::distributed::Cluster>>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("source", &self.source.info())
            .finish_non_exhaustive()
    }
}

/// What a rated symbol adds to the cross-section its percentiles are taken over.
#[derive(Debug, Clone)]
pub(crate) struct CrossInputs {
    pub(crate) alpha: AlphaFactors,
    /// The standard rating's composite; `None` under the classic rating.
    pub(crate) composite: Option<f64>,
    /// The series the request's screen reads (`screening.rs`); `None` without a screen.
    pub(crate) screen: Option<Arc<Captured>>,
}

/// How one symbol ended.
pub(crate) enum Outcome {
    Scanned(Box<ScanResult>, CrossInputs),
    /// Rated, but below `min_tech_rating` (or not matched by the screen) as streamed: a skip for
    /// the user, yet still part of the universe the percentiles and signal rates are taken over,
    /// and a result after all if the final placement lifts it to the minimum (or matches it).
    BelowMinRating(Box<ScanResult>, CrossInputs),
    Skipped(DiagnosticCause, String),
    Failed(String),
}

/// The progress tracker, its observer and the stream, behind one lock.
struct Progress<'a> {
    tracker: Mutex<ProgressTracker>,
    observer: &'a dyn ScanObserver,
    log: &'a EventLog,
    clock: &'a dyn Clock,
    started: f64,
}

impl Progress<'_> {
    fn now(&self) -> f64 {
        self.clock.seconds() - self.started
    }

    fn timestamp(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.clock.wall())
    }

    /// Applies `change`, then hands the snapshot to the observer and the stream while still holding
    /// the lock, so both see snapshots in the order they were taken.
    fn update(&self, change: impl FnOnce(&mut ProgressTracker, f64)) {
        let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        change(&mut tracker, now);
        let snapshot = tracker.snapshot(now);
        self.observer.on_progress(&snapshot);
        self.log
            .append(Payload::Progress(Box::new(snapshot)), self.timestamp());
    }

    /// Reports item `done` of `total` at most ~100 times per stage, so an 8,000-symbol scan does not
    /// flood observers, while the first and last item are always reported.
    fn item(&self, done: usize, total: usize, message: impl FnOnce() -> String) {
        let step = (total / 100).max(1);
        if done == 1 || done == total || done.is_multiple_of(step) {
            let message = message();
            self.update(|t, _| t.advance(done as u64, message));
        }
    }
}

/// Reads of one scan answered by the snapshot cache, and those that went to the source.
#[derive(Debug, Clone, Copy, Default)]
struct CacheCounts {
    hits: usize,
    misses: usize,
}

/// Reads of one scan that the source answered from its own cache (Redis, the in-process cache,
/// the local bar store) and those it had to fetch; both zero for a source without one.
#[derive(Debug, Default)]
struct SourceLookups {
    hits: AtomicUsize,
    misses: AtomicUsize,
}

impl SourceLookups {
    fn read(
        &self,
        source: &dyn MarketData,
        symbol: &str,
        window: &BarWindow,
    ) -> Result<Bars, DataError> {
        let (bars, lookup) = source.bars_with_lookup(symbol, window);
        match lookup {
            Lookup::Hit => self.hits.fetch_add(1, Ordering::Relaxed),
            Lookup::Miss => self.misses.fetch_add(1, Ordering::Relaxed),
            Lookup::Uncached => 0,
        };
        bars
    }
}

/// Analyses of one scan taken from another scan's computation, and those it computed.
#[derive(Debug, Default)]
struct AnalysisCounts {
    shared: AtomicUsize,
    computed: AtomicUsize,
}

/// One symbol's place in the scan order.
pub(crate) struct Slot {
    pub(crate) info: SymbolInfo,
    tier: Option<Tier>,
}

/// What the workers share while scanning, behind one lock: outcomes in order position, and the
/// counters the termination criteria read.
struct Scanning {
    /// Indexed by position in the scan order; `None` until the symbol finishes.
    outcomes: Vec<Option<Outcome>>,
    finished: usize,
    signals: usize,
    first_result_at: Option<f64>,
    /// Finish order of high-quality signals (1-based counts of symbols finished at the time).
    signal_finish_counts: Vec<usize>,
}

impl Scanner {
    pub fn new(source: Arc<dyn MarketData>) -> Self {
        Self {
            source,
            indicators: IndicatorSet::default(),
            quality: SignalQuality::default(),
            clock: Arc::new(SystemClock::default()),
            // As many as the thread pool has: all cores, RAYON_NUM_THREADS, or what `technic
            // serve` sizes it to (MAX_WORKERS, else all cores but one).
            permits: Arc::new(FairPermits::new(rayon::current_num_threads())),
            first_symbols: Arc::new(FairPermits::new(rayon::current_num_threads())),
            snapshots: SnapshotCache::default(),
            low_priority_after_first: false,
            shared_analyses: None,
            source_errors_logged: false,
            cluster: None,
        }
    }

    /// Scans evaluate their symbols on `technic worker`s through Redis instead of this
    /// process's threads (`technic serve --distributed`); planning, streaming and the final
    /// ranking stay here, so they are the in-process scan's.
    pub fn with_cluster(mut self, cluster: Arc<crate::distributed::Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    pub fn cluster(&self) -> Option<&Arc<crate::distributed::Cluster>> {
        self.cluster.as_ref()
    }

    /// A symbol whose bars cannot be read is reported without the machine's paths (the bar file
    /// by its name alone) and the whole error goes to the log. For a server, whose clients have
    /// no business knowing where its data lives; a CLI scan reports the whole error to the user
    /// who ran it.
    pub fn with_source_errors_logged(mut self) -> Self {
        self.source_errors_logged = true;
        self
    }

    /// Concurrent and repeated scans share each symbol's analysis (indicators, rating, alpha
    /// factors) when they read the very same bars, up to `max_bytes` of analyses kept. For a
    /// server, where many scans of one universe with the default settings run at once: each
    /// symbol is computed once instead of once per scan (see `analyses.rs` for the key). A one-off
    /// CLI scan leaves it off: it computes each symbol once anyway.
    pub fn with_shared_analyses(mut self, max_bytes: u64) -> Self {
        self.shared_analyses = Some(SharedAnalyses::new(max_bytes));
        self
    }

    /// Workers drop to the lowest scheduling priority once they have computed their share of the
    /// scan's first symbols. For a server: when scans use every core, the threads that accept
    /// requests and write results to clients still run at once (load benchmark: delivery p99 from 100–290 ms
    /// to about 40 ms), and each scan's first result is computed at normal priority. A one-off
    /// CLI scan leaves it off, so it does not yield to whatever else runs on the machine.
    pub fn with_low_priority_after_first(mut self) -> Self {
        self.low_priority_after_first = true;
        self
    }

    /// Symbols fetched and computed at once, over all scans of this scanner; as many again may
    /// be scans' first symbols (see `Scanner::worker`).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.permits = Arc::new(FairPermits::new(workers));
        self.first_symbols = Arc::new(FairPermits::new(workers));
        self
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_signal_quality(mut self, quality: SignalQuality) -> Self {
        self.quality = quality;
        self
    }

    pub fn source(&self) -> &dyn MarketData {
        &*self.source
    }

    /// Runs a scan to the end with default options. Only a bad request or an unreadable universe
    /// is an `Err`; every symbol's own failure is a diagnostic in the report.
    pub fn run(
        &self,
        request: &ScanRequest,
        observer: &dyn ScanObserver,
    ) -> Result<ScanReport, ScanError> {
        let valid = request.validate()?;
        let options = ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        Ok(self.execute(&valid, options, &log, observer)?.report)
    }

    /// Runs a scan, appending every message to `log` as it happens.
    pub fn execute(
        &self,
        request: &ValidScan,
        options: ScanOptions,
        log: &EventLog,
        observer: &dyn ScanObserver,
    ) -> Result<ScanOutcome, ScanError> {
        // Whatever happens below, even a panic, readers of the log see it end.
        let _close = CloseLogOnDrop {
            log,
            clock: &*self.clock,
        };
        // The timeout fires even while every worker is blocked inside a slow read.
        let _watchdog = request
            .termination
            .timeout_seconds
            .map(|seconds| Watchdog::start(seconds, options.stop.clone()));
        let progress = Progress {
            tracker: Mutex::new(ProgressTracker::new(options.scan_id.clone())),
            observer,
            log,
            clock: &*self.clock,
            started: self.clock.seconds(),
        };

        let scan_id = options.scan_id.clone();
        tracing::info!(%scan_id, stage = Stage::UniverseLoading.as_str(), "stage started");
        progress.update(|t, now| t.start_stage(Stage::UniverseLoading, 1, now, "Loading universe"));
        let universe = match self.source.universe() {
            Ok(universe) => select(universe, request),
            Err(e) => {
                let error = ScanError::Universe(e);
                let message = error.public_message();
                progress.update(|t, now| t.finish(ScanStatus::Failed, now, message.clone()));
                log.append(Payload::Error { message }, progress.timestamp());
                return Err(error);
            }
        };
        let total = universe.len();

        tracing::info!(%scan_id, stage = Stage::DataFetching.as_str(), symbols = total, prioritize = request.prioritize, elapsed = progress.now(), "stage started");
        let lookups = SourceLookups::default();
        let (slots, cache) = self.order(universe, request, &options, &progress, &lookups);
        tracing::info!(%scan_id, stage = Stage::SymbolScanning.as_str(), symbols = total, cache_hits = cache.hits, cache_misses = cache.misses, elapsed = progress.now(), "stage started");

        progress.update(|t, now| {
            t.start_stage(
                Stage::SymbolScanning,
                total as u64,
                now,
                format!("Scanning {total} symbols"),
            )
        });
        let scanning = Mutex::new(Scanning {
            outcomes: (0..total).map(|_| None).collect(),
            finished: 0,
            signals: 0,
            first_result_at: None,
            signal_finish_counts: Vec::new(),
        });
        let window = BarWindow {
            last: Some(request.lookback_days),
            from: None,
            to: options.as_of,
        };
        let cursor = AtomicUsize::new(0);
        let analyses = AnalysisCounts::default();
        let bars_loaded = AtomicUsize::new(0);
        let unread = Mutex::new((0, None));
        let ctx = Context {
            request,
            options: &options,
            slots: &slots,
            scanning: &scanning,
            progress: &progress,
            window,
            lookups: &lookups,
            analyses: &analyses,
            unread: &unread,
        };
        // Workers take the next symbol of the priority order from a shared cursor. (A parallel
        // iterator would split the order into ranges and start one thread in the low tier.)
        // Always threads of their own, even for one worker: a worker may lower its priority for
        // good, and the calling thread is the caller's, or a registry's thread kept for more scans.
        match &self.cluster {
            Some(cluster) => {
                if let Err(message) = cluster.scan_remotely(self, &ctx, &bars_loaded) {
                    let error = ScanError::Distributed(message);
                    let message = error.public_message();
                    progress.update(|t, now| t.finish(ScanStatus::Failed, now, message.clone()));
                    log.append(Payload::Error { message }, progress.timestamp());
                    return Err(error);
                }
            }
            None => std::thread::scope(|scope| {
                for _ in 0..self.permits.capacity() {
                    scope.spawn(|| self.worker(&ctx, &cursor, &bars_loaded));
                }
            }),
        }

        if let (unread @ 1.., Some(first)) =
            unread.into_inner().unwrap_or_else(PoisonError::into_inner)
        {
            tracing::warn!(%scan_id, symbols = unread, first = %first, "symbols' bars could not be read (each at debug level)");
        }
        tracing::info!(%scan_id, stage = Stage::Finalization.as_str(), elapsed = progress.now(), "stage started");
        let cut_short = options.stop.is_stopped()
            && scanning
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finished
                < total;
        progress.update(|t, now| {
            if cut_short {
                t.cut_short(Stage::SymbolScanning, now);
            }
            t.start_stage(Stage::Finalization, 1, now, "Ranking results");
        });
        let state = scanning
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let finished = state.finished;
        // A stop that came after the last symbol finished stopped nothing: the scan is complete.
        let stop_reason = options.stop.reason().filter(|_| finished < total);
        let (status, final_message) = match &stop_reason {
            Some(reason) => (ScanStatus::Stopped, format!("Stopped: {reason}")),
            None => (ScanStatus::Completed, String::from("Completed")),
        };
        let finalized = finalize(
            state.outcomes,
            &slots,
            stop_reason.as_ref(),
            &self.quality,
            request.min_tech_rating,
            request.screen.as_ref(),
        );
        let (high_tier_signal_rate, universe_signal_rate) =
            signal_rates(&finalized, request.prioritize);
        let Finalized {
            results,
            diagnostics,
            factors,
            rated: symbols_scanned,
            ..
        } = finalized;
        let now = progress.now();
        let high_quality_signals = results.iter().filter(|r| r.high_quality).count();
        progress.update(|t, now| {
            t.finish_stage(Stage::Finalization, now);
            t.finish(
                status,
                now,
                format!(
                    "{final_message}: {} results, {high_quality_signals} high-quality signals",
                    results.len()
                ),
            )
        });
        let stage_seconds = {
            let tracker = progress
                .tracker
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            OrderedMap(
                tracker
                    .stage_seconds()
                    .into_iter()
                    .map(|(s, secs)| (s.as_str(), secs))
                    .collect(),
            )
        };
        let per_second = |count: usize| if now > 0.0 { count as f64 / now } else { 0.0 };
        let skipped = diagnostics
            .iter()
            .filter(|d| d.kind == DiagnosticKind::Skipped)
            .count();
        let caused = |cause: DiagnosticCause| {
            diagnostics
                .iter()
                .filter(|d| d.cause == Some(cause))
                .count()
        };
        let bars_loaded = bars_loaded.into_inner();
        let metrics = ScanMetrics {
            symbols_total: total,
            symbols_scanned,
            results: results.len(),
            skipped,
            errors: diagnostics.len() - skipped,
            filtered_out: caused(DiagnosticCause::Filtered),
            no_data: caused(DiagnosticCause::NoData),
            not_scanned: caused(DiagnosticCause::NotScanned),
            high_quality_signals,
            bars_loaded,
            seconds_total: now,
            stage_seconds,
            symbols_per_second: per_second(finished),
            bars_per_second: per_second(bars_loaded),
            time_to_first_result: state.first_result_at,
            early_terminated: stop_reason.is_some(),
            first_signal_position: state.signal_finish_counts.first().copied(),
            symbols_to_5_signals: state.signal_finish_counts.get(4).copied(),
            high_tier_signal_rate,
            universe_signal_rate,
            cache_hits: cache.hits,
            cache_misses: cache.misses,
            source_cache_hits: lookups.hits.load(Ordering::Relaxed),
            source_cache_misses: lookups.misses.load(Ordering::Relaxed),
            analyses_shared: analyses.shared.load(Ordering::Relaxed),
            analyses_computed: analyses.computed.load(Ordering::Relaxed),
        };
        tracing::info!(
            %scan_id,
            status = ?status,
            stop_reason = stop_reason.as_ref().map(ToString::to_string),
            results = metrics.results,
            signals = high_quality_signals,
            seconds = now,
            "scan finished"
        );
        let learning = LearningUpdate {
            outcomes: results
                .iter()
                .map(|r| SymbolOutcome {
                    symbol: r.symbol.clone(),
                    tech_rating: r.tech_rating,
                    high_quality: r.high_quality,
                    date: r.date.to_string(),
                })
                .collect(),
            alpha_reference: (status == ScanStatus::Completed)
                .then(|| {
                    let alphas: Vec<AlphaFactors> = factors.iter().map(|f| f.alpha).collect();
                    let mut composites: Vec<f64> =
                        factors.iter().filter_map(|f| f.composite).collect();
                    composites.sort_by(f64::total_cmp);
                    AlphaReference::from_universe(&alphas).with_rating_composites(composites)
                })
                // The stored distribution is what streamed ratings are placed among: a scan too
                // small to be a cross-section, or narrower than the one that stored it, must not
                // replace it.
                .filter(|reference| {
                    reference.breadth() >= standard::MIN_CROSS_SECTION
                        && options
                            .learned
                            .alpha_reference
                            .as_ref()
                            .is_none_or(|stored| reference.breadth() >= stored.breadth())
                }),
            sector_stats: if status == ScanStatus::Completed {
                sector_stats(&results)
            } else {
                Vec::new()
            },
        };
        let report = ScanReport {
            scan_id: options.scan_id.clone(),
            status,
            stop_reason: stop_reason.map(|r| r.to_string()),
            data_source: self.source.info(),
            // A replay says the date it was cut at, even where no symbol traded that day.
            as_of: options
                .as_of
                .or_else(|| results.iter().map(|r| r.date).max()),
            results,
            diagnostics,
            metrics,
        };
        log.append(
            Payload::Complete(Box::new(report.summary())),
            progress.timestamp(),
        );
        Ok(ScanOutcome { report, learning })
    }

    /// Stage `data_fetching`: the cheap snapshot of every symbol, then the priority order. Without
    /// prioritisation the order is the universe's (alphabetical) and nothing is fetched here.
    fn order(
        &self,
        universe: Vec<SymbolInfo>,
        request: &ValidScan,
        options: &ScanOptions,
        progress: &Progress<'_>,
        lookups: &SourceLookups,
    ) -> (Vec<Slot>, CacheCounts) {
        let total = universe.len();
        if !request.prioritize {
            progress.update(|t, now| {
                t.start_stage(
                    Stage::DataFetching,
                    0,
                    now,
                    "Prioritisation off: alphabetical order",
                );
                t.finish_stage(Stage::DataFetching, now);
            });
            let slots = universe
                .into_iter()
                .map(|info| Slot { info, tier: None })
                .collect();
            return (slots, CacheCounts::default());
        }
        let symbols: Vec<String> = universe.iter().map(|i| i.symbol.clone()).collect();
        let cached = self.snapshots.universe(symbols.clone(), options.as_of);
        let (snapshots, cache) = match cached {
            Some(snapshots) => {
                progress.update(|t, now| {
                    t.start_stage(
                        Stage::DataFetching,
                        total as u64,
                        now,
                        format!("Snapshot of {total} symbols, from the cache"),
                    );
                    t.finish_stage(Stage::DataFetching, now);
                });
                let cache = CacheCounts {
                    hits: total,
                    misses: 0,
                };
                (snapshots, cache)
            }
            None => {
                let (snapshots, cache) = self.take_snapshots(&universe, options, progress, lookups);
                let snapshots: Arc<[Option<Snapshot>]> = snapshots.into();
                if !options.stop.is_stopped() {
                    self.snapshots
                        .keep_universe(symbols, options.as_of, Arc::clone(&snapshots));
                }
                (snapshots, cache)
            }
        };
        let kept = self.snapshots.order(
            &snapshots,
            &options.learned,
            options.diversity,
            request.rating,
            &universe,
        );
        let ranked = kept.unwrap_or_else(|| {
            let inputs: Vec<PriorityInput<'_>> = universe
                .iter()
                .zip(snapshots.iter())
                .map(|(info, snapshot)| PriorityInput {
                    sector: info.sector.as_deref(),
                    snapshot: snapshot.as_ref(),
                    history: options.learned.histories.get(&info.symbol),
                })
                .collect();
            let ranked: Arc<[priority::Ranked]> =
                priority::prioritize(&inputs, options.diversity, request.rating).into();
            self.snapshots.keep_order(
                &snapshots,
                &options.learned,
                options.diversity,
                request.rating,
                &universe,
                Arc::clone(&ranked),
            );
            ranked
        });
        let mut universe: Vec<Option<SymbolInfo>> = universe.into_iter().map(Some).collect();
        let slots = ranked
            .iter()
            .filter_map(|r| {
                universe[r.index].take().map(|info| Slot {
                    info,
                    tier: Some(r.tier),
                })
            })
            .collect();
        (slots, cache)
    }

    /// The snapshot of each symbol of `universe`, in its order, through the per-symbol cache.
    fn take_snapshots(
        &self,
        universe: &[SymbolInfo],
        options: &ScanOptions,
        progress: &Progress<'_>,
        lookups: &SourceLookups,
    ) -> (Vec<Option<Snapshot>>, CacheCounts) {
        let total = universe.len();
        progress.update(|t, now| {
            t.start_stage(
                Stage::DataFetching,
                total as u64,
                now,
                format!("Snapshot of {total} symbols"),
            )
        });
        let window = BarWindow {
            last: Some(SNAPSHOT_BARS),
            from: None,
            to: options.as_of,
        };
        let done = AtomicUsize::new(0);
        let cursor = AtomicUsize::new(0);
        let (hits, misses) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let taken: Mutex<Vec<(usize, Snapshot)>> = Mutex::new(Vec::with_capacity(total));
        // A remote source waits on the network far more than it computes: its own limit on
        // requests in flight, not the core count, is what bounds this stage.
        let remote = self.source.concurrent_reads();
        let threads = self.permits.capacity().max(remote.unwrap_or(0));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = cursor.fetch_add(1, Ordering::SeqCst);
                        let Some(info) = universe.get(i) else { return };
                        if options.stop.is_stopped() {
                            return;
                        }
                        // A symbol whose snapshot fails still gets scanned (and its error reported then).
                        let cell = self.snapshots.symbol(&info.symbol, options.as_of);
                        let snapshot = match cell.get() {
                            Some(cached) => {
                                hits.fetch_add(1, Ordering::Relaxed);
                                *cached
                            }
                            None => {
                                // A remote source limits its own requests in flight; holding a
                                // compute permit while waiting on the network would idle a core.
                                let _permit = remote.is_none().then(|| self.permits.acquire());
                                // Another scan may have filled the cell while this one waited:
                                // that is a hit too, only a read is a miss.
                                let mut read = false;
                                let snapshot = *cell.get_or_init(|| {
                                    read = true;
                                    lookups
                                        .read(&*self.source, &info.symbol, &window)
                                        .ok()
                                        .and_then(|b| Snapshot::from_bars(&b))
                                });
                                let counter = if read { &misses } else { &hits };
                                counter.fetch_add(1, Ordering::Relaxed);
                                snapshot
                            }
                        };
                        if let Some(snapshot) = snapshot {
                            taken
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push((i, snapshot));
                        }
                        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                        progress.item(n, total, || {
                            format!("Snapshot {} ({n}/{total})", info.symbol)
                        });
                    }
                });
            }
        });
        let mut snapshots: Vec<Option<Snapshot>> = vec![None; total];
        for (i, snapshot) in taken.into_inner().unwrap_or_else(PoisonError::into_inner) {
            snapshots[i] = Some(snapshot);
        }
        let cache = CacheCounts {
            hits: hits.into_inner(),
            misses: misses.into_inner(),
        };
        (snapshots, cache)
    }

    fn worker(&self, ctx: &Context<'_>, cursor: &AtomicUsize, bars_loaded: &AtomicUsize) {
        let total = ctx.slots.len();
        let stop = &ctx.options.stop;
        let mut lowered = false;
        loop {
            if let Some(reason) = ctx.request.termination.check_time(ctx.progress.now()) {
                stop.stop(reason);
            }
            if stop.is_stopped() {
                return;
            }
            let position = cursor.fetch_add(1, Ordering::SeqCst);
            let Some(slot) = ctx.slots.get(position) else {
                return;
            };
            let first = position < self.permits.capacity();
            let outcome = {
                let _permit = if first {
                    None
                } else {
                    // Lowered only here, never before a first symbol: a nice-19 holder of a
                    // first-symbol permit would bring the inversion below back into that pool.
                    if self.low_priority_after_first && !lowered {
                        lowered = true;
                        lower_this_threads_priority();
                    }
                    Some(self.permits.acquire())
                };
                // Checked again after waiting for the permit: a stop may have come meanwhile.
                if stop.is_stopped() {
                    return;
                }
                let bars = ctx
                    .lookups
                    .read(&*self.source, &slot.info.symbol, &ctx.window);
                // A scan's first symbols (one per worker) have permits of their own: that is
                // what brings every scan's first result early when many start at once. In the
                // same queue, even ahead of the others, they waited for the symbol in hand, whose
                // worker may have dropped to nice 19 and be starved by the server's threads: with
                // everything cached, fifty scans' first results took 18–42 ms in the engine (p50)
                // instead of 2–6 ms. Bounded all the same, so fifty scans' first symbols do not
                // crowd out the threads that answer their requests: scans compute on at most twice
                // `capacity` threads at once. A first symbol another scan has already analysed
                // costs a lookup and takes none: handed from thread to thread under load, the
                // permit's queue made fifty such lookups wait for each other. (Its bars are read
                // before any permit: one read per scan; a remote source bounds its own requests.)
                // Only first symbols look: the lookup fingerprints the bars, which
                // `get_or_compute` does again.
                let analysed_before = first
                    && self.shared_analyses.as_ref().is_some_and(|analyses| {
                        bars.as_ref()
                            .is_ok_and(|bars| analyses.has(&slot.info.symbol, bars))
                    });
                let _first_permit =
                    (first && !analysed_before).then(|| self.first_symbols.acquire());
                // And between fetching and computing: nothing is computed after a stop.
                if stop.is_stopped() {
                    return;
                }
                match bars {
                    Ok(bars) => {
                        bars_loaded.fetch_add(bars.len(), Ordering::Relaxed);
                        self.scan_symbol(&slot.info, bars, ctx.request, ctx.analyses)
                    }
                    Err(e) if self.source_errors_logged => {
                        // One warning a scan (below), not one per symbol: a broken data
                        // directory would put fifty scans' five hundred symbols in the log.
                        tracing::debug!(symbol = %slot.info.symbol, error = %e, "could not read a symbol's bars");
                        let mut unread = ctx.unread.lock().unwrap_or_else(PoisonError::into_inner);
                        unread.0 += 1;
                        unread.1.get_or_insert_with(|| e.to_string());
                        Outcome::Failed(e.public_message())
                    }
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            };
            self.finish(ctx, position, outcome, total);
        }
    }

    /// Records a finished symbol and emits its result, under the scanning lock so `seq` follows
    /// the order symbols finish and the termination counters are exact.
    pub(crate) fn finish(
        &self,
        ctx: &Context<'_>,
        position: usize,
        mut outcome: Outcome,
        total: usize,
    ) {
        let mut state = ctx.scanning.lock().unwrap_or_else(PoisonError::into_inner);
        let stop = &ctx.options.stop;
        if let Some(reason) = ctx.request.termination.check_time(ctx.progress.now()) {
            stop.stop(reason);
        }
        // A symbol that finishes after the stop was decided is not a result "so far".
        if stop.is_stopped() {
            return;
        }
        state.finished += 1;
        let finished = state.finished;
        let mut below_min_rating = false;
        if let Outcome::Scanned(result, factors) = &mut outcome {
            // Streamed, a standard rating is placed among the stored distribution of the last
            // broad scan (the prior until there is one); the final ranking places it exactly.
            if let Some(percentile) = factors.composite.and_then(|composite| {
                ctx.options
                    .learned
                    .alpha_reference
                    .as_ref()
                    .and_then(|r| r.place_rating(composite))
            }) {
                place(result, percentile, &self.quality);
            }
            let slot = &ctx.slots[position];
            result.priority_tier = slot.tier;
            result.position = position + 1;
            result.batch_number = position / BATCH_SIZE + 1;
            result.total_processed = finished;
            result.total_remaining = total - finished;
            if let Some(min) = ctx.request.min_tech_rating
                && result.tech_rating < min
            {
                below_min_rating = true;
            } else {
                result.alpha_score = ctx
                    .options
                    .learned
                    .alpha_reference
                    .as_ref()
                    .and_then(|r| r.score(&factors.alpha));
            }
            if !below_min_rating
                && !screening::may_stream(
                    ctx.request.screen.as_ref(),
                    result,
                    factors.screen.as_deref(),
                )
            {
                below_min_rating = true;
            }
            if !below_min_rating {
                let counts_for_termination = ctx
                    .request
                    .termination
                    .min_signal_rating
                    .map_or(result.high_quality, |min| {
                        result.signal.is_buy() && result.tech_rating >= min
                    });
                if result.high_quality {
                    state.signal_finish_counts.push(finished);
                }
                if counts_for_termination {
                    state.signals += 1;
                }
                state
                    .first_result_at
                    .get_or_insert_with(|| ctx.progress.now());
                ctx.progress
                    .log
                    .append(Payload::Result(result.clone()), ctx.progress.timestamp());
            }
        }
        if below_min_rating && let Outcome::Scanned(result, factors) = outcome {
            outcome = Outcome::BelowMinRating(result, factors);
        }
        state.outcomes[position] = Some(outcome);
        if let Some(reason) =
            ctx.request
                .termination
                .check(finished, total, state.signals, ctx.progress.now())
        {
            stop.stop(reason);
        }
        let symbol = &ctx.slots[position].info.symbol;
        ctx.progress.item(finished, total, || {
            format!("Scanning {symbol} ({finished}/{total})")
        });
    }

    /// One symbol of a batch a `technic worker` took: read and evaluated exactly as the
    /// in-process worker does (`Scanner::worker`). Returns the outcome and the bars read.
    pub(crate) fn evaluate_symbol(
        &self,
        info: &SymbolInfo,
        request: &ValidScan,
        as_of: Option<NaiveDate>,
    ) -> (Outcome, usize) {
        let window = BarWindow {
            last: Some(request.lookback_days),
            from: None,
            to: as_of,
        };
        match self.source.bars(&info.symbol, &window) {
            Ok(bars) => {
                let count = bars.len();
                let outcome = self.scan_symbol(info, bars, request, &AnalysisCounts::default());
                (outcome, count)
            }
            Err(e) => {
                tracing::debug!(symbol = %info.symbol, error = %e, "could not read a symbol's bars");
                (Outcome::Failed(e.public_message()), 0)
            }
        }
    }

    fn scan_symbol(
        &self,
        info: &SymbolInfo,
        bars: Bars,
        request: &ValidScan,
        counts: &AnalysisCounts,
    ) -> Outcome {
        let screens = Screens {
            min_price: request.min_price,
            min_avg_volume: request.min_avg_volume,
        };
        let avg_volume_20 = match evaluate::screen(&bars, &screens) {
            Ok(avg_volume_20) => avg_volume_20,
            Err(skip) => return Outcome::Skipped(cause_of(&skip), skip.to_string()),
        };
        let captured = match screening::capture(request.screen.as_ref(), &bars) {
            Ok(captured) => captured,
            Err(message) => return Outcome::Failed(message),
        };
        let computed;
        let shared;
        let analysis = match &self.shared_analyses {
            Some(analyses) => {
                // A worker whose symbol another scan is computing waits for it with its permit
                // held: a core idles for at most one symbol's computation, never two computations.
                let computed_here;
                (shared, computed_here) = analyses.get_or_compute(&info.symbol, &bars, || {
                    evaluate::analyse(&bars, &self.indicators)
                });
                let count = if computed_here {
                    &counts.computed
                } else {
                    &counts.shared
                };
                count.fetch_add(1, Ordering::Relaxed);
                &*shared
            }
            None => {
                computed = evaluate::analyse(&bars, &self.indicators);
                &computed
            }
        };
        match evaluate::assemble(
            &bars,
            avg_volume_20,
            analysis,
            &self.quality,
            request.rating,
        ) {
            Evaluated::Rated(evaluation) => {
                let inputs = CrossInputs {
                    alpha: evaluation.factors,
                    composite: evaluation.rating.composite,
                    screen: captured,
                };
                Outcome::Scanned(Box::new(ScanResult::new(info, *evaluation)), inputs)
            }
            Evaluated::Skipped(skip) => Outcome::Skipped(cause_of(&skip), skip.to_string()),
            Evaluated::Failed(message) => Outcome::Failed(message),
        }
    }
}

/// Appends a final `error` message if the scan leaves without one (a panic in a source, say), so no
/// reader waits forever for the end of the stream.
struct CloseLogOnDrop<'a> {
    log: &'a EventLog,
    clock: &'a dyn Clock,
}

impl Drop for CloseLogOnDrop<'_> {
    fn drop(&mut self) {
        if !self.log.is_closed() {
            let message =
                "the scan ended unexpectedly (internal error); results so far are not ranked"
                    .to_owned();
            self.log.append(
                Payload::Error { message },
                DateTime::<Utc>::from(self.clock.wall()),
            );
        }
    }
}

/// Stops the scan when its timeout passes, on a thread of its own: the workers only look at the
/// clock between symbols, and a worker blocked in a slow read would not look at all. Measured in
/// real time. Reads already under way still finish before the scan returns.
struct Watchdog {
    /// `true` once the scan is over; the thread waits on it until the deadline.
    over: Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(seconds: f64, stop: StopHandle) -> Self {
        let over = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let watched = Arc::clone(&over);
        let deadline = Instant::now() + std::time::Duration::from_secs_f64(seconds);
        let thread = std::thread::spawn(move || {
            let (lock, changed) = &*watched;
            let mut is_over = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while !*is_over {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    stop.stop(StopReason::Timeout(seconds));
                    return;
                }
                is_over = changed
                    .wait_timeout(is_over, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        });
        Self {
            over,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, changed) = &*self.over;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _joined = thread.join();
        }
    }
}

/// What every worker of one scan reads.
pub(crate) struct Context<'a> {
    pub(crate) request: &'a ValidScan,
    pub(crate) options: &'a ScanOptions,
    pub(crate) slots: &'a [Slot],
    scanning: &'a Mutex<Scanning>,
    progress: &'a Progress<'a>,
    window: BarWindow,
    lookups: &'a SourceLookups,
    analyses: &'a AnalysisCounts,
    /// Symbols whose bars could not be read, and the first such error, for the log.
    unread: &'a Mutex<(usize, Option<String>)>,
}

/// The calling thread to the lowest priority of its scheduling policy (nice 19 under Linux's
/// default). Lowering needs no privilege; a thread never raises itself back (that would), so only
/// threads that end with their scan call this. A failure only costs latency: logged, not raised.
fn lower_this_threads_priority() {
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::debug!(error = ?e, "could not lower a scan worker's priority");
    }
}

/// A scan id unique within this process and unlikely to repeat across processes: wall-clock
/// milliseconds plus a per-process counter.
pub fn new_scan_id() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let millis = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "scan_{millis:x}_{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Applies the universe filters: explicit symbols (kept even when the source lacks them, so they end
/// as errors rather than vanish), sectors, then `max_symbols`.
pub(crate) fn select(universe: Vec<SymbolInfo>, request: &ValidScan) -> Vec<SymbolInfo> {
    let mut selected: Vec<SymbolInfo> = match &request.symbols {
        Some(symbols) => {
            // By name, not a search of the universe per symbol: ten thousand named symbols over
            // an 8,000-symbol market were 80 million comparisons.
            let mut by_symbol = std::collections::HashMap::with_capacity(universe.len());
            for info in &universe {
                // The first of a repeated symbol, as the search found.
                by_symbol.entry(info.symbol.as_str()).or_insert(info);
            }
            symbols
                .iter()
                .map(|s| {
                    by_symbol
                        .get(s.as_str())
                        .map_or_else(|| SymbolInfo::new(s.clone()), |&u| u.clone())
                })
                .collect()
        }
        None => universe,
    };
    if let Some(sectors) = &request.sectors {
        selected.retain(|s| {
            s.sector
                .as_ref()
                .is_some_and(|sector| sectors.contains(sector))
        });
    }
    if let Some(max) = request.max_symbols {
        selected.truncate(max);
    }
    selected
}

/// Puts a standard rating at `percentile` of a cross-section: rating, signal and quality follow.
fn place(result: &mut ScanResult, percentile: f64, quality: &SignalQuality) {
    result.tech_rating = percentile;
    result.signal = standard::signal(percentile);
    result.high_quality = quality.is_high_quality(result.signal, result.tech_rating);
}

/// A scan's outcomes put in order for the report.
struct Finalized {
    results: Vec<ScanResult>,
    diagnostics: Vec<Diagnostic>,
    /// Of every symbol rated (results and those below `min_tech_rating`): the alpha universe.
    factors: Vec<CrossInputs>,
    /// Symbols rated, in all and in the `high` tier.
    rated: usize,
    rated_high_tier: usize,
}

/// The request's own filters remove a symbol; the rest of the skips are the data's doing.
fn cause_of(skip: &technic_core::evaluate::Skip) -> DiagnosticCause {
    use technic_core::evaluate::Skip;
    match skip {
        Skip::BelowMinPrice { .. } | Skip::BelowMinAvgVolume { .. } => DiagnosticCause::Filtered,
        Skip::NoBars | Skip::TooFewBars { .. } | Skip::NoReadings => DiagnosticCause::NoData,
    }
}

/// Exact alpha ranks over everything rated, the final ranking, and a diagnostic for every symbol
/// that is not a result (including those a stop left unscanned).
fn finalize(
    outcomes: Vec<Option<Outcome>>,
    slots: &[Slot],
    stop: Option<&StopReason>,
    quality: &SignalQuality,
    min_tech_rating: Option<f64>,
    screen: Option<&ScreenSpec>,
) -> Finalized {
    // Everything rated, results and those below `min_tech_rating` alike: the cross-section.
    let mut rated = Vec::new();
    let mut factors = Vec::new();
    let mut diagnostics = Vec::new();
    let mut rated_high_tier = 0;
    for (outcome, slot) in outcomes.into_iter().zip(slots) {
        let symbol = slot.info.symbol.clone();
        if matches!(
            outcome,
            Some(Outcome::Scanned(..) | Outcome::BelowMinRating(..))
        ) && slot.tier == Some(Tier::High)
        {
            rated_high_tier += 1;
        }
        let (kind, cause, message) = match outcome {
            Some(Outcome::Scanned(result, f) | Outcome::BelowMinRating(result, f)) => {
                factors.push(f);
                rated.push(*result);
                continue;
            }
            Some(Outcome::Skipped(cause, message)) => (DiagnosticKind::Skipped, cause, message),
            Some(Outcome::Failed(message)) => {
                (DiagnosticKind::Error, DiagnosticCause::Error, message)
            }
            None => {
                let why = stop.map_or_else(|| "the scan ended".to_owned(), ToString::to_string);
                (
                    DiagnosticKind::Skipped,
                    DiagnosticCause::NotScanned,
                    format!("not scanned: the scan stopped first ({why})"),
                )
            }
        };
        diagnostics.push(Diagnostic {
            symbol,
            kind,
            cause: Some(cause),
            message,
        });
    }
    // Exact percentiles over everything rated replace the streamed estimates; the rating filter
    // does not change a symbol's alpha (docs/rating.md).
    let alphas: Vec<AlphaFactors> = factors.iter().map(|f| f.alpha).collect();
    for (result, score) in rated.iter_mut().zip(alpha::alpha_scores(&alphas)) {
        result.alpha_score = score;
    }
    // So are the standard rating's, once there is a cross-section to speak of.
    let composites: Vec<Option<f64>> = factors.iter().map(|f| f.composite).collect();
    if composites.iter().flatten().count() >= standard::MIN_CROSS_SECTION {
        let percentiles = standard::cross_section_percentiles(&composites);
        for (result, percentile) in rated.iter_mut().zip(percentiles) {
            if let Some(percentile) = percentile {
                place(result, percentile, quality);
            }
        }
    }
    // The screen, exactly, over everything rated (its cross-sectional functions too).
    let captured: Vec<_> = factors.iter().map(|f| f.screen.clone()).collect();
    let verdicts = screening::judge(screen, &rated, &captured);
    // The rating filter judges the final rating, so the results are exactly those at or above it.
    let mut results = Vec::with_capacity(rated.len());
    let mut rank_values = std::collections::HashMap::new();
    for (i, result) in rated.into_iter().enumerate() {
        let verdict = verdicts.as_ref().map(|v| v[i]);
        match min_tech_rating {
            Some(min) if result.tech_rating < min => diagnostics.push(Diagnostic {
                message: format!(
                    "tech_rating {:.1} is below min_tech_rating {min}",
                    result.tech_rating
                ),
                symbol: result.symbol,
                kind: DiagnosticKind::Skipped,
                cause: Some(DiagnosticCause::Filtered),
            }),
            _ if verdict.is_some_and(|v| !v.matches) => diagnostics.push(Diagnostic {
                message: screening::refused_message(),
                symbol: result.symbol,
                kind: DiagnosticKind::Skipped,
                cause: Some(DiagnosticCause::Filtered),
            }),
            _ => {
                if let Some(verdict) = verdict {
                    rank_values.insert(result.symbol.clone(), verdict.rank_value);
                }
                results.push(result)
            }
        }
    }
    // `rank_by` first (descending, missing values last), then the usual order.
    let rank_of = |r: &ScanResult| {
        rank_values
            .get(&r.symbol)
            .copied()
            .filter(|v| !v.is_nan())
            .unwrap_or(f64::NEG_INFINITY)
    };
    results.sort_by(|a, b| {
        rank_of(b)
            .total_cmp(&rank_of(a))
            .then_with(|| b.tech_rating.total_cmp(&a.tech_rating))
            .then_with(|| {
                b.alpha_score
                    .unwrap_or(-1.0)
                    .total_cmp(&a.alpha_score.unwrap_or(-1.0))
            })
            .then_with(|| a.symbol.cmp(&b.symbol))
    });
    for (i, result) in results.iter_mut().enumerate() {
        result.rank = i + 1;
    }
    diagnostics.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let rated = factors.len();
    Finalized {
        results,
        diagnostics,
        factors,
        rated,
        rated_high_tier,
    }
}

/// High-quality signals per rated symbol in the `high` tier, and over everything rated; `None`
/// without prioritisation (there are no tiers).
fn signal_rates(finalized: &Finalized, prioritized: bool) -> (Option<f64>, Option<f64>) {
    if !prioritized || finalized.rated == 0 {
        return (None, None);
    }
    let signals = |tier: Option<Tier>| {
        finalized
            .results
            .iter()
            .filter(|r| r.high_quality && (tier.is_none() || r.priority_tier == tier))
            .count()
    };
    let high_rate = (finalized.rated_high_tier > 0)
        .then(|| signals(Some(Tier::High)) as f64 / finalized.rated_high_tier as f64);
    (
        high_rate,
        Some(signals(None) as f64 / finalized.rated as f64),
    )
}

fn sector_stats(results: &[ScanResult]) -> Vec<SectorStats> {
    let mut stats: Vec<SectorStats> = Vec::new();
    for r in results {
        let Some(sector) = &r.sector else { continue };
        let entry = match stats.iter_mut().position(|s| &s.sector == sector) {
            Some(i) => &mut stats[i],
            None => {
                stats.push(SectorStats {
                    sector: sector.clone(),
                    symbols: 0,
                    mean_rating: 0.0,
                    signal_rate: 0.0,
                });
                stats.last_mut().expect("just pushed")
            }
        };
        entry.symbols += 1;
        entry.mean_rating += r.tech_rating;
        entry.signal_rate += f64::from(u8::from(r.high_quality));
    }
    for s in &mut stats {
        s.mean_rating /= s.symbols as f64;
        s.signal_rate /= s.symbols as f64;
    }
    stats.sort_by(|a, b| a.sector.cmp(&b.sector));
    stats
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The thread's nice value, from /proc (field 19; the name before it may hold spaces).
    fn nice_of_this_thread() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let after_name = &stat[stat.rfind(')').expect("name") + 2..];
        after_name
            .split_whitespace()
            .nth(16)
            .and_then(|n| n.parse().ok())
            .expect("nice")
    }

    #[test]
    fn a_lowered_worker_runs_at_nice_19_and_other_threads_do_not() {
        let before = nice_of_this_thread();
        let lowered = std::thread::spawn(|| {
            super::lower_this_threads_priority();
            nice_of_this_thread()
        })
        .join()
        .expect("thread");
        assert_eq!(lowered, 19);
        assert_eq!(nice_of_this_thread(), before, "only the calling thread");
    }
}

#[cfg(test)]
mod first_symbol_tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use technic_data::demo::DemoMarket;
    use technic_data::memory::MemorySource;
    use technic_data::{BarWindow, MarketData};

    use super::{EventLog, ProgressSnapshot, ScanOptions, ScanRequest, Scanner};

    fn scan_of(scanner: &Scanner, symbol: &str) -> super::ScanOutcome {
        let request = ScanRequest {
            symbols: Some(vec![symbol.to_owned()]),
            enable_prioritization: Some(false),
            ..Default::default()
        }
        .validate()
        .expect("valid");
        let options = ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        scanner
            .execute(&request, options, &log, &|_: &ProgressSnapshot| {})
            .expect("scan")
    }

    #[test]
    fn a_first_symbol_another_scan_analysed_takes_no_permit_and_a_new_one_waits_for_one() {
        let market =
            MemorySource::snapshot(&DemoMarket::new(), &BarWindow::last(300)).expect("demo");
        let universe = market.universe().expect("universe");
        let (seen, unseen) = (&universe[0].symbol, &universe[1].symbol);
        let scanner = Scanner::new(Arc::new(market))
            .with_workers(1)
            .with_shared_analyses(16 << 20);
        assert_eq!(scan_of(&scanner, seen).report.metrics.analyses_computed, 1);
        // Every permit of both queues is taken.
        let held = (scanner.first_symbols.acquire(), scanner.permits.acquire());
        std::thread::scope(|scope| {
            let again = scope.spawn(|| scan_of(&scanner, seen));
            let fresh = scope.spawn(|| scan_of(&scanner, unseen));
            let deadline = Instant::now() + Duration::from_secs(20);
            while !again.is_finished() {
                assert!(
                    Instant::now() < deadline,
                    "an analysed first symbol waited for a permit"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            let again = again.join().expect("scan");
            assert_eq!(again.report.metrics.analyses_shared, 1);
            assert_eq!(
                again.report.results.len() + again.report.diagnostics.len(),
                1
            );
            std::thread::sleep(Duration::from_millis(200));
            assert!(
                !fresh.is_finished(),
                "a first symbol to compute waits for its permit"
            );
            drop(held);
            assert_eq!(
                fresh.join().expect("scan").report.metrics.analyses_computed,
                1
            );
        });
    }
}
