//! Running one scan.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rayon::prelude::*;
use technic_core::alpha::{self, AlphaFactors};
use technic_core::progress::{ProgressSnapshot, ProgressTracker, ScanStatus, Stage};
use technic_core::rating::{self, SignalQuality};
use technic_core::{Bars, IndicatorSet};
use technic_data::{BarWindow, DataError, MarketData, SymbolInfo};

use crate::report::{Diagnostic, DiagnosticKind, OrderedMap, ScanMetrics, ScanReport, ScanResult};
use crate::request::{RequestError, ScanRequest, ValidScan};

/// Fewest bars a symbol needs to be rated: the rating reads SMA 200.
pub const MIN_BARS: usize = 200;

/// Bars over which the average volume filter is taken.
const AVG_VOLUME_WINDOW: usize = 20;

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

/// Monotonic seconds. Injected so tests and replays control time.
pub trait Clock: Send + Sync {
    fn seconds(&self) -> f64;
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
}

/// Runs scans against one market-data source. Cheap to share; each [`Scanner::run`] is independent.
pub struct Scanner {
    source: Arc<dyn MarketData>,
    indicators: IndicatorSet,
    quality: SignalQuality,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("source", &self.source.info())
            .finish_non_exhaustive()
    }
}

/// How one symbol ended.
enum Outcome {
    Scanned(Box<ScanResult>, AlphaFactors),
    Skipped(String),
    Failed(String),
}

/// Shared progress state for one scan: the tracker behind a lock, plus the clock's reading at start.
struct Progress<'a> {
    tracker: Mutex<ProgressTracker>,
    observer: &'a dyn ScanObserver,
    clock: &'a dyn Clock,
    started: f64,
}

impl Progress<'_> {
    fn now(&self) -> f64 {
        self.clock.seconds() - self.started
    }

    /// Applies `change` and hands the observer the resulting snapshot while still holding the lock,
    /// so observers see snapshots in the order they were taken (progress never appears to go back).
    fn update(&self, change: impl FnOnce(&mut ProgressTracker, f64)) {
        let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        change(&mut tracker, now);
        self.observer.on_progress(&tracker.snapshot(now));
    }

    /// Reports item `done` of `total` at most ~200 times per stage, so observers of an 8,000-symbol
    /// scan are not flooded, while the first and last item are always reported.
    fn item(&self, done: usize, total: usize, message: impl FnOnce() -> String) {
        let step = (total / 200).max(1);
        if done == 1 || done == total || done.is_multiple_of(step) {
            let message = message();
            self.update(|t, _| t.advance(done as u64, message));
        }
    }
}

impl Scanner {
    pub fn new(source: Arc<dyn MarketData>) -> Self {
        Self {
            source,
            indicators: IndicatorSet::default(),
            quality: SignalQuality::default(),
            clock: Arc::new(SystemClock::default()),
        }
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

    /// Runs a scan to the end. Only a bad request or an unreadable universe is an `Err`; every
    /// symbol's own failure is a diagnostic in the report.
    pub fn run(
        &self,
        request: &ScanRequest,
        observer: &dyn ScanObserver,
    ) -> Result<ScanReport, ScanError> {
        let valid = request.validate()?;
        self.run_valid(&valid, new_scan_id(), observer)
    }

    pub fn run_valid(
        &self,
        request: &ValidScan,
        scan_id: String,
        observer: &dyn ScanObserver,
    ) -> Result<ScanReport, ScanError> {
        let progress = Progress {
            tracker: Mutex::new(ProgressTracker::new(scan_id.clone())),
            observer,
            clock: &*self.clock,
            started: self.clock.seconds(),
        };

        progress.update(|t, now| t.start_stage(Stage::UniverseLoading, 1, now, "Loading universe"));
        let universe = match self.source.universe() {
            Ok(universe) => select(universe, request),
            Err(e) => {
                progress.update(|t, now| {
                    t.finish(ScanStatus::Failed, now, format!("Universe failed: {e}"))
                });
                return Err(ScanError::Universe(e));
            }
        };
        let total = universe.len();

        progress.update(|t, now| {
            t.start_stage(
                Stage::DataFetching,
                total as u64,
                now,
                format!("Loading bars of {total} symbols"),
            )
        });
        let window = BarWindow::last(request.lookback_days);
        let fetched_count = AtomicUsize::new(0);
        let fetched: Vec<(SymbolInfo, Result<Bars, DataError>)> = universe
            .into_par_iter()
            .map(|info| {
                let bars = self.source.bars(&info.symbol, &window);
                let done = fetched_count.fetch_add(1, Ordering::Relaxed) + 1;
                progress.item(done, total, || {
                    format!("Loaded {} ({done}/{total})", info.symbol)
                });
                (info, bars)
            })
            .collect();
        let bars_loaded: usize = fetched
            .iter()
            .filter_map(|(_, b)| b.as_ref().ok())
            .map(Bars::len)
            .sum();

        progress.update(|t, now| {
            t.start_stage(
                Stage::SymbolScanning,
                total as u64,
                now,
                format!("Scanning {total} symbols"),
            )
        });
        let scanned_count = AtomicUsize::new(0);
        let outcomes: Vec<(SymbolInfo, Outcome)> = fetched
            .into_par_iter()
            .map(|(info, bars)| {
                let outcome = match bars {
                    Ok(bars) => self.scan_symbol(&info, bars, request),
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                let done = scanned_count.fetch_add(1, Ordering::Relaxed) + 1;
                progress.item(done, total, || {
                    format!("Scanning {} ({done}/{total})", info.symbol)
                });
                (info, outcome)
            })
            .collect();

        progress.update(|t, now| t.start_stage(Stage::Finalization, 1, now, "Ranking results"));
        let (results, diagnostics, symbols_scanned) = finalize(outcomes, request);
        let now = progress.now();
        let high_quality_signals = results.iter().filter(|r| r.high_quality).count();
        let message = format!(
            "Completed: {} results, {high_quality_signals} high-quality signals",
            results.len()
        );
        progress.update(|t, now| t.finish(ScanStatus::Completed, now, message));
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
        let metrics = ScanMetrics {
            symbols_total: total,
            symbols_scanned,
            results: results.len(),
            skipped,
            errors: diagnostics.len() - skipped,
            high_quality_signals,
            bars_loaded,
            seconds_total: now,
            stage_seconds,
            symbols_per_second: per_second(total),
            bars_per_second: per_second(bars_loaded),
        };
        Ok(ScanReport {
            scan_id,
            status: ScanStatus::Completed,
            data_source: self.source.info(),
            as_of: results.iter().map(|r| r.date).max(),
            results,
            diagnostics,
            metrics,
        })
    }

    fn scan_symbol(&self, info: &SymbolInfo, bars: Bars, request: &ValidScan) -> Outcome {
        let Some(&close) = bars.close.last() else {
            return Outcome::Skipped("no bars: the source has no rows for this symbol".into());
        };
        if let Some(min_price) = request.min_price
            && close < min_price
        {
            return Outcome::Skipped(format!("close {close:.2} is below min_price {min_price}"));
        }
        let avg_volume_20 = rating::average_volume(&bars, AVG_VOLUME_WINDOW).unwrap_or(0.0);
        if let Some(min_volume) = request.min_avg_volume
            && avg_volume_20 < min_volume
        {
            return Outcome::Skipped(format!(
                "20-day average volume {avg_volume_20:.0} is below min_avg_volume {min_volume}"
            ));
        }
        if bars.len() < MIN_BARS {
            return Outcome::Skipped(format!(
                "only {} bars of history; the rating needs {MIN_BARS} (SMA 200)",
                bars.len()
            ));
        }
        let frame = match self.indicators.compute(&bars) {
            Ok(frame) => frame,
            Err(e) => return Outcome::Failed(format!("indicators failed: {e}")),
        };
        let Some(rated) = rating::rate(&bars, &frame) else {
            return Outcome::Skipped("no bars: the source has no rows for this symbol".into());
        };
        let factors = alpha::factors(&bars, &frame);
        let n = bars.len();
        let previous = bars.close[n - 2];
        let result = ScanResult {
            rank: 0,
            symbol: info.symbol.clone(),
            name: info.name.clone(),
            sector: info.sector.clone(),
            signal: rated.signal,
            tech_rating: rated.tech_rating,
            alpha_score: None,
            high_quality: self
                .quality
                .is_high_quality(rated.signal, rated.tech_rating),
            date: bars.dates[n - 1],
            close,
            change_pct: (close / previous - 1.0) * 100.0,
            volume: bars.volume[n - 1],
            avg_volume_20,
            trend_direction: rated.trend_direction,
            trend_score: rated.trend_score,
            momentum_score: rated.momentum_score,
            volume_score: rated.volume_score,
            volatility_score: rated.volatility_score,
            bars: n,
            indicators: OrderedMap(frame.latest()),
        };
        Outcome::Scanned(Box::new(result), factors)
    }
}

/// A scan id unique within this process and unlikely to repeat across processes: wall-clock
/// milliseconds plus a per-process counter.
pub fn new_scan_id() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "scan_{millis:x}_{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Applies the universe filters: explicit symbols (kept even when the source lacks them, so they end
/// as errors rather than vanish), sectors, then `max_symbols`.
fn select(universe: Vec<SymbolInfo>, request: &ValidScan) -> Vec<SymbolInfo> {
    let mut selected: Vec<SymbolInfo> = match &request.symbols {
        Some(symbols) => symbols
            .iter()
            .map(|s| {
                universe
                    .iter()
                    .find(|u| &u.symbol == s)
                    .cloned()
                    .unwrap_or_else(|| SymbolInfo::new(s.clone()))
            })
            .collect(),
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

/// Alpha ranks over everything scanned, the `min_tech_rating` filter, and the final ranking.
fn finalize(
    outcomes: Vec<(SymbolInfo, Outcome)>,
    request: &ValidScan,
) -> (Vec<ScanResult>, Vec<Diagnostic>, usize) {
    let mut scanned = Vec::new();
    let mut factors = Vec::new();
    let mut diagnostics = Vec::new();
    for (info, outcome) in outcomes {
        match outcome {
            Outcome::Scanned(result, f) => {
                scanned.push(*result);
                factors.push(f);
            }
            Outcome::Skipped(message) => diagnostics.push(Diagnostic {
                symbol: info.symbol,
                kind: DiagnosticKind::Skipped,
                message,
            }),
            Outcome::Failed(message) => diagnostics.push(Diagnostic {
                symbol: info.symbol,
                kind: DiagnosticKind::Error,
                message,
            }),
        }
    }
    let symbols_scanned = scanned.len();
    // Alpha is a percentile within everything scanned, before the rating filter, so filtering does
    // not change a symbol's alpha.
    for (result, score) in scanned.iter_mut().zip(alpha::alpha_scores(&factors)) {
        result.alpha_score = score;
    }
    let mut results = Vec::with_capacity(scanned.len());
    for result in scanned {
        match request.min_tech_rating {
            Some(min) if result.tech_rating < min => diagnostics.push(Diagnostic {
                symbol: result.symbol,
                kind: DiagnosticKind::Skipped,
                message: format!(
                    "tech_rating {:.1} is below min_tech_rating {min}",
                    result.tech_rating
                ),
            }),
            _ => results.push(result),
        }
    }
    results.sort_by(|a, b| {
        b.tech_rating
            .total_cmp(&a.tech_rating)
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
    (results, diagnostics, symbols_scanned)
}
