//! Running one scan: universe → snapshot and priority order → a pipeline that fetches and computes
//! each symbol and emits its result the moment it is done → the exact final ranking.
//!
//! [`Scanner::execute`] runs the four stages of the progress model in order, one module each:
//! - `plan`: `universe_loading` (select symbols) and `data_fetching` (the cheap snapshot, the
//!   newest 21 bars, of every symbol, then the priority order);
//! - `run`: `symbol_scanning` (workers take the next symbol of the order from a shared cursor,
//!   fetch its lookback, evaluate it and emit the result at once). A `ScanRun` owns everything
//!   one scan's workers share;
//! - `finalise`: `finalization` (exact alpha percentiles, the standard rating placed exactly in
//!   the scan's cross-section, the filters placed after the analysis judged on those final
//!   values, the final ranking, the metrics, the learning update and the report);
//! - `control`, beside them all: the stop handle and termination checks, the timeout watchdog,
//!   progress reporting, the clock.
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
//! - Request-specific steps (filters, tier, alpha score, high quality) run per scan around the
//!   shared analysis. Every filter is an expression read from `filter.rs`, whose place says
//!   where: the universe rows (`plan`), the bars before the analysis and the streamed result
//!   (`run`), the final values (`finalise`).

mod control;
mod finalise;
mod plan;
mod run;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use chrono::NaiveDate;
use technic_core::IndicatorSet;
use technic_core::alpha::AlphaFactors;
use technic_core::progress::{ProgressSnapshot, Stage};
use technic_core::rating::{SignalQuality, standard};
use technic_data::{DataError, MarketData};
use technic_screen::Captured;

use crate::analyses::SharedAnalyses;
use crate::fair::FairPermits;
use crate::learning::{Learned, LearningUpdate};
use crate::report::{DiagnosticCause, ScanReport, ScanResult};
use crate::request::{RequestError, ScanRequest, ValidScan};
use crate::snapshots::SnapshotCache;
use crate::stream::EventLog;
pub use control::{Clock, StopHandle, SystemClock};
use control::{CloseLogOnDrop, Progress, Watchdog};
pub(crate) use plan::Slot;
pub(crate) use plan::select;
use plan::{CacheCounts, SourceLookups};
pub(crate) use run::ScanRun;

/// The name `distributed/` knows a running scan by.
pub(crate) type Context<'a> = ScanRun<'a>;

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
    /// The series each filter placed after the analysis reads, in the filters' order
    /// (`ValidScan::capture_rated`); empty without such filters.
    pub(crate) captured: Vec<Captured>,
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

impl Scanner {
    pub fn new(source: Arc<dyn MarketData>) -> Self {
        Self {
            source,
            indicators: IndicatorSet::default(),
            quality: SignalQuality::default(),
            clock: Arc::new(SystemClock),
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

    /// Reads time (snapshot TTLs, progress, timestamps, its registry's ages) from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
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

    /// Runs a scan, appending every message to `log` as it happens: the stages in order.
    pub fn execute(
        &self,
        request: &ValidScan,
        options: ScanOptions,
        log: &EventLog,
        observer: &dyn ScanObserver,
    ) -> Result<ScanOutcome, ScanError> {
        self.run_scan(request, options, log, observer, None)
    }

    /// Finishes a distributed scan whose planner died (`distributed/takeover.rs`): `log` holds
    /// what the planner published, and the scan goes on from there with its plan and the
    /// outcomes the workers wrote, replayed in the order the planner took them.
    pub(crate) fn take_over(
        &self,
        request: &ValidScan,
        options: ScanOptions,
        log: &EventLog,
        observer: &dyn ScanObserver,
        takeover: Takeover,
    ) -> Result<ScanOutcome, ScanError> {
        self.run_scan(request, options, log, observer, Some(takeover))
    }

    fn run_scan(
        &self,
        request: &ValidScan,
        options: ScanOptions,
        log: &EventLog,
        observer: &dyn ScanObserver,
        mut takeover: Option<Takeover>,
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
        let progress = Progress::start(options.scan_id.clone(), observer, log, &*self.clock);

        let scan_id = options.scan_id.clone();
        let lookups = SourceLookups::default();
        // A scan taken over keeps the order its planner queued; it is planned again only if the
        // planner died before queueing it.
        let (slots, cache) = match takeover.as_mut().and_then(|t| t.plan.take()) {
            Some(slots) => (slots, CacheCounts::default()),
            None => {
                tracing::info!(%scan_id, stage = Stage::UniverseLoading.as_str(), "stage started");
                let universe = self.load_universe(request, &progress)?;
                tracing::info!(%scan_id, stage = Stage::DataFetching.as_str(), symbols = universe.len(), prioritize = request.prioritize, elapsed = progress.now(), "stage started");
                self.order(universe, request, &options, &progress, &lookups)
            }
        };
        let total = slots.len();
        tracing::info!(%scan_id, stage = Stage::SymbolScanning.as_str(), symbols = total, cache_hits = cache.hits, cache_misses = cache.misses, elapsed = progress.now(), "stage started");

        let mut run = ScanRun::new(request, options, slots, progress, (cache, lookups));
        run.takeover = takeover;
        self.scan(&run)?;
        Ok(self.finalise(run))
    }
}

/// What a replica taking over a distributed scan starts from (`distributed/takeover.rs`).
pub(crate) struct Takeover {
    /// The planned order as the planner queued it; `None` if it died before (planned again).
    pub(crate) plan: Option<Vec<Slot>>,
    /// Whether the planner had queued the batches (it had, if there is a plan).
    pub(crate) queued: bool,
    /// Positions whose result the planner already streamed: not streamed again, and kept even
    /// if a stop had been asked (the planner took them before it saw the stop).
    pub(crate) streamed: std::collections::HashSet<usize>,
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

/// Puts a standard rating at `percentile` of a cross-section: rating, signal and quality follow.
fn place(result: &mut ScanResult, percentile: f64, quality: &SignalQuality) {
    result.tech_rating = percentile;
    result.signal = standard::signal(percentile);
    result.high_quality = quality.is_high_quality(result.signal, result.tech_rating);
}
