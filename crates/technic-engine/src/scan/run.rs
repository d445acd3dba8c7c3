//! Stage `symbol_scanning`: workers take the next symbol of the order from a shared cursor, fetch
//! its lookback under a permit of the fair queues, evaluate it (`technic_core::evaluate`, through
//! the analyses shared between scans) and emit its result the moment it is done.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::NaiveDate;
use technic_core::Bars;
use technic_core::evaluate::{self, Outcome as Evaluated};
use technic_core::progress::Stage;
use technic_data::{BarWindow, DataError, SymbolInfo};

use super::control::{Progress, lower_this_threads_priority};
use super::plan::{CacheCounts, Slot, SourceLookups};
use super::{BATCH_SIZE, CrossInputs, Outcome, ScanError, ScanOptions, Scanner, Takeover, place};
use crate::report::{DiagnosticCause, ScanResult};
use crate::request::ValidScan;
use crate::stream::Payload;

/// One scan while it runs: its request and options, its order, and everything its workers share.
/// Built once the order is known; the final stage takes it apart.
pub(crate) struct ScanRun<'a> {
    pub(crate) request: &'a ValidScan,
    pub(crate) options: ScanOptions,
    pub(crate) slots: Vec<Slot>,
    pub(super) progress: Progress<'a>,
    /// The bars each symbol is evaluated on.
    window: BarWindow,
    /// The next position of the order to take.
    cursor: AtomicUsize,
    pub(super) scanning: Mutex<Scanning>,
    pub(super) snapshot_cache: CacheCounts,
    pub(super) lookups: SourceLookups,
    pub(super) analyses: AnalysisCounts,
    pub(super) bars_loaded: AtomicUsize,
    /// Symbols whose bars could not be read, and the first such error, for the log.
    pub(super) unread: Mutex<(usize, Option<String>)>,
    /// Set when this replica finishes a scan another one planned.
    pub(crate) takeover: Option<Takeover>,
}

/// What the workers share while scanning, behind one lock: outcomes in order position, and the
/// counters the termination criteria read.
#[derive(Default)]
pub(super) struct Scanning {
    /// Indexed by position in the scan order; `None` until the symbol finishes.
    pub(super) outcomes: Vec<Option<Outcome>>,
    pub(super) finished: usize,
    pub(super) signals: usize,
    pub(super) first_result_at: Option<f64>,
    /// Finish order of high-quality signals (1-based counts of symbols finished at the time).
    pub(super) signal_finish_counts: Vec<usize>,
    /// What became of the symbols finished so far, for the progress message.
    pub(super) tally: Tally,
}

/// The symbols finished so far by what became of them, as the final summary counts them apart:
/// a symbol a filter removed is never counted with one that had no data.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    results: usize,
    filtered: usize,
    no_data: usize,
    errors: usize,
}

impl Tally {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Scanned(..) => self.results += 1,
            Outcome::BelowMinRating(..) | Outcome::Skipped(DiagnosticCause::Filtered, _) => {
                self.filtered += 1;
            }
            Outcome::Skipped(DiagnosticCause::Error, _) | Outcome::Failed(_) => self.errors += 1,
            Outcome::Skipped(DiagnosticCause::NoData, _) => self.no_data += 1,
            // Given only when the scan ends, to what it never reached: not a finished symbol.
            Outcome::Skipped(DiagnosticCause::NotScanned, _) => {}
        }
    }

    /// "12 results, 30 filtered out, 2 without data" (errors only when there are some).
    fn words(self) -> String {
        let errors = match self.errors {
            0 => String::new(),
            1 => ", 1 error".to_owned(),
            n => format!(", {n} errors"),
        };
        format!(
            "{} result{}, {} filtered out, {} without data{errors}",
            self.results,
            if self.results == 1 { "" } else { "s" },
            self.filtered,
            self.no_data,
        )
    }
}

/// Analyses of one scan taken from another scan's computation, and those it computed.
#[derive(Debug, Default)]
pub(super) struct AnalysisCounts {
    pub(super) shared: AtomicUsize,
    pub(super) computed: AtomicUsize,
}

impl<'a> ScanRun<'a> {
    pub(super) fn new(
        request: &'a ValidScan,
        options: ScanOptions,
        slots: Vec<Slot>,
        progress: Progress<'a>,
        (snapshot_cache, lookups): (CacheCounts, SourceLookups),
    ) -> Self {
        let window = BarWindow {
            last: Some(request.lookback_days),
            from: None,
            to: options.as_of,
        };
        let total = slots.len();
        Self {
            request,
            options,
            slots,
            progress,
            window,
            cursor: AtomicUsize::new(0),
            scanning: Mutex::new(Scanning {
                outcomes: (0..total).map(|_| None).collect(),
                finished: 0,
                signals: 0,
                first_result_at: None,
                signal_finish_counts: Vec::new(),
                tally: Tally::default(),
            }),
            snapshot_cache,
            lookups,
            analyses: AnalysisCounts::default(),
            bars_loaded: AtomicUsize::new(0),
            unread: Mutex::new((0, None)),
            takeover: None,
        }
    }

    /// Whether the planner this scan was taken over from already streamed this position.
    pub(crate) fn streamed_before(&self, position: usize) -> bool {
        self.takeover
            .as_ref()
            .is_some_and(|t| t.streamed.contains(&position))
    }
}

impl Scanner {
    /// Evaluates every symbol of `run`'s order, on this process's threads or the cluster's
    /// workers; returns when all are done or the scan stopped. Only a lost cluster is an `Err`.
    pub(super) fn scan(&self, run: &ScanRun<'_>) -> Result<(), ScanError> {
        let total = run.slots.len();
        run.progress.update(|t, now| {
            t.start_stage(
                Stage::SymbolScanning,
                total as u64,
                now,
                format!("Scanning {total} symbols"),
            )
        });
        // Workers take the next symbol of the priority order from a shared cursor. (A parallel
        // iterator would split the order into ranges and start one thread in the low tier.)
        // Always threads of their own, even for one worker: a worker may lower its priority for
        // good, and the calling thread is the caller's, or a registry's thread kept for more scans.
        match &self.cluster {
            Some(cluster) => cluster
                .scan_remotely(self, run, &run.bars_loaded)
                .map_err(|message| run.progress.fail(ScanError::Distributed(message))),
            None => {
                std::thread::scope(|scope| {
                    for _ in 0..self.permits.capacity() {
                        scope.spawn(|| self.worker(run));
                    }
                });
                Ok(())
            }
        }
    }

    fn worker(&self, run: &ScanRun<'_>) {
        let total = run.slots.len();
        let mut lowered = false;
        loop {
            run.stop_if_out_of_time();
            if run.options.stop.is_stopped() {
                return;
            }
            let position = run.cursor.fetch_add(1, Ordering::SeqCst);
            let Some(slot) = run.slots.get(position) else {
                return;
            };
            let first = position < self.permits.capacity();
            // Permits are released before the outcome is recorded.
            let Some(outcome) = self.evaluate_in_turn(run, slot, first, &mut lowered) else {
                return;
            };
            self.finish(run, position, outcome, total);
        }
    }

    /// Reads and evaluates `slot` under its permits; `None` if the scan stopped meanwhile.
    fn evaluate_in_turn(
        &self,
        run: &ScanRun<'_>,
        slot: &Slot,
        first: bool,
        lowered: &mut bool,
    ) -> Option<Outcome> {
        let stop = &run.options.stop;
        let _permit = if first {
            None
        } else {
            // Lowered only here, never before a first symbol: a nice-19 holder of a
            // first-symbol permit would bring the inversion below back into that pool.
            if self.low_priority_after_first && !*lowered {
                *lowered = true;
                lower_this_threads_priority();
            }
            Some(self.permits.acquire())
        };
        // Checked again after waiting for the permit: a stop may have come meanwhile.
        if stop.is_stopped() {
            return None;
        }
        let bars = run
            .lookups
            .read(&*self.source, &slot.info.symbol, &run.window);
        // A scan's first symbols (one per worker) have permits of their own: that is what brings
        // every scan's first result early when many start at once. In the same queue, even ahead
        // of the others, they waited for the symbol in hand, whose worker may have dropped to
        // nice 19 and be starved by the server's threads: with everything cached, fifty scans'
        // first results took 18–42 ms in the engine (p50) instead of 2–6 ms. Bounded all the
        // same, so fifty scans' first symbols do not crowd out the threads that answer their
        // requests: scans compute on at most twice `capacity` threads at once. A first symbol
        // another scan has already analysed costs a lookup and takes none: handed from thread to
        // thread under load, the permit's queue made fifty such lookups wait for each other. (Its
        // bars are read before any permit: one read per scan; a remote source bounds its own
        // requests.) Only first symbols look: the lookup fingerprints the bars, which
        // `get_or_compute` does again.
        let analysed_before = first
            && self.shared_analyses.as_ref().is_some_and(|analyses| {
                bars.as_ref()
                    .is_ok_and(|bars| analyses.has(&slot.info.symbol, bars))
            });
        let _first_permit = (first && !analysed_before).then(|| self.first_symbols.acquire());
        // And between fetching and computing: nothing is computed after a stop.
        if stop.is_stopped() {
            return None;
        }
        Some(match bars {
            Ok(bars) => {
                run.bars_loaded.fetch_add(bars.len(), Ordering::Relaxed);
                self.scan_symbol(&slot.info, bars, run.request, &run.analyses)
            }
            Err(e) => self.unreadable(run, &slot.info.symbol, &e),
        })
    }

    /// The outcome of a symbol whose bars could not be read.
    fn unreadable(&self, run: &ScanRun<'_>, symbol: &str, error: &DataError) -> Outcome {
        if !self.source_errors_logged {
            return Outcome::Failed(error.to_string());
        }
        // One warning a scan (at its end), not one per symbol: a broken data directory would put
        // fifty scans' five hundred symbols in the log.
        tracing::debug!(%symbol, %error, "could not read a symbol's bars");
        let mut unread = run.unread.lock().unwrap_or_else(PoisonError::into_inner);
        unread.0 += 1;
        unread.1.get_or_insert_with(|| error.to_string());
        Outcome::Failed(error.public_message())
    }

    /// Records a finished symbol and emits its result, under the scanning lock so `seq` follows
    /// the order symbols finish and the termination counters are exact.
    pub(crate) fn finish(
        &self,
        run: &ScanRun<'_>,
        position: usize,
        mut outcome: Outcome,
        total: usize,
    ) {
        let mut state = run.scanning.lock().unwrap_or_else(PoisonError::into_inner);
        run.stop_if_out_of_time();
        let streamed_before = run.streamed_before(position);
        // A symbol that finishes after the stop was decided is not a result "so far".
        if run.options.stop.is_stopped() && !streamed_before {
            return;
        }
        state.finished += 1;
        let finished = state.finished;
        let mut below_min_rating = false;
        if let Outcome::Scanned(result, inputs) = &mut outcome {
            if self.place_streamed(run, position, (finished, total), result, inputs) {
                emit(run, &mut state, result, !streamed_before);
            } else {
                below_min_rating = true;
            }
        }
        if below_min_rating && let Outcome::Scanned(result, inputs) = outcome {
            outcome = Outcome::BelowMinRating(result, inputs);
        }
        state.tally.count(&outcome);
        state.outcomes[position] = Some(outcome);
        run.stop_if_done(finished, total, state.signals);
        let symbol = &run.slots[position].info.symbol;
        let tally = state.tally;
        run.progress.item(finished, total, || {
            format!("Scanning {symbol} ({finished}/{total}): {}", tally.words())
        });
    }

    /// Fills in what a streamed result knows at the time it finishes: its placement among the
    /// stored distribution, its place in the order and its alpha score. `false` if it streams as
    /// a skip: refused by a filter placed after the analysis (below `min_tech_rating`, not
    /// matched by the screen), on these estimates.
    fn place_streamed(
        &self,
        run: &ScanRun<'_>,
        position: usize,
        (finished, total): (usize, usize),
        result: &mut ScanResult,
        inputs: &CrossInputs,
    ) -> bool {
        let reference = run.options.learned.alpha_reference.as_ref();
        // Streamed, a standard rating is placed among the stored distribution of the last broad
        // scan (the prior until there is one); the final ranking places it exactly.
        if let Some(percentile) = inputs
            .composite
            .and_then(|composite| reference.and_then(|r| r.place_rating(composite)))
        {
            place(result, percentile, &self.quality);
        }
        result.priority_tier = run.slots[position].tier;
        result.position = position + 1;
        result.batch_number = position / BATCH_SIZE + 1;
        result.total_processed = finished;
        result.total_remaining = total - finished;
        result.alpha_score = reference.and_then(|r| r.score(&inputs.alpha));
        run.request.may_stream(result, &inputs.captured)
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
        // No rows first, then the request's bar filters, then the history the rating needs: the
        // order that decides the reason a symbol is given.
        if let Err(skip) = evaluate::has_bars(&bars) {
            return Outcome::Skipped(cause_of(&skip), skip.to_string());
        }
        match request.refuse_bars(&bars, info.sector.as_deref()) {
            Ok(None) => {}
            Ok(Some(refusal)) => {
                return Outcome::Skipped(DiagnosticCause::Filtered, refusal.to_string());
            }
            Err(message) => return Outcome::Failed(message),
        }
        let avg_volume_20 = match evaluate::screen(&bars) {
            Ok(avg_volume_20) => avg_volume_20,
            Err(skip) => return Outcome::Skipped(cause_of(&skip), skip.to_string()),
        };
        let captured = match request.capture_rated(&bars) {
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
                    captured,
                };
                Outcome::Scanned(Box::new(ScanResult::new(info, *evaluation)), inputs)
            }
            Evaluated::Skipped(skip) => Outcome::Skipped(cause_of(&skip), skip.to_string()),
            Evaluated::Failed(message) => Outcome::Failed(message),
        }
    }
}

/// Counts a result that streams as one for the termination criteria and the metrics, and
/// appends it to the log.
fn emit(run: &ScanRun<'_>, state: &mut Scanning, result: &ScanResult, append: bool) {
    let counts_for_termination = run
        .request
        .termination
        .min_signal_rating
        .map_or(result.high_quality, |min| {
            result.signal.is_buy() && result.tech_rating >= min
        });
    if result.high_quality {
        state.signal_finish_counts.push(state.finished);
    }
    if counts_for_termination {
        state.signals += 1;
    }
    state
        .first_result_at
        .get_or_insert_with(|| run.progress.now());
    // A result the planner of a taken-over scan already streamed counts, but is not repeated.
    if append {
        run.progress.log.append(
            Payload::Result(Box::new(result.clone())),
            run.progress.timestamp(),
        );
    }
}

/// The core's skips are the data's doing; the request's own filters refuse through `filter.rs`.
fn cause_of(skip: &technic_core::evaluate::Skip) -> DiagnosticCause {
    use technic_core::evaluate::Skip;
    match skip {
        Skip::NoBars | Skip::TooFewBars { .. } | Skip::NoReadings => DiagnosticCause::NoData,
    }
}

#[cfg(test)]
mod first_symbol_tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use technic_data::demo::DemoMarket;
    use technic_data::memory::MemorySource;
    use technic_data::{BarWindow, MarketData};

    use super::super::{
        EventLog, ProgressSnapshot, ScanOptions, ScanOutcome, ScanRequest, Scanner,
    };

    fn scan_of(scanner: &Scanner, symbol: &str) -> ScanOutcome {
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
