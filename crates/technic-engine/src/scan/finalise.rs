//! Stage `finalization`: exact alpha percentiles, the standard rating placed exactly in the scan's
//! cross-section, the filters placed after the analysis (`min_tech_rating`, the screen) on those
//! final values, the final ranking; then the metrics, what the scan teaches the learning store
//! (every rated symbol, whatever the filters kept), and the report.

use std::collections::HashMap;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use technic_core::alpha::{self, AlphaFactors, AlphaReference};
use technic_core::priority::Tier;
use technic_core::progress::{ScanStatus, Stage};
use technic_core::rating::{SignalQuality, standard};
use technic_core::termination::StopReason;
use technic_screen::Captured;

use super::plan::Slot;
use super::run::{ScanRun, Scanning};
use super::{CrossInputs, Outcome, ScanOutcome, Scanner, place};
use crate::filter::FilterName;
use crate::learning::{Learned, LearningUpdate, SectorStats, SymbolOutcome};
use crate::report::{
    Diagnostic, DiagnosticCause, DiagnosticKind, OrderedMap, ScanMetrics, ScanReport, ScanResult,
};
use crate::request::ValidScan;
use crate::stream::Payload;

/// A scan's outcomes put in order for the report.
struct Finalized {
    results: Vec<ScanResult>,
    /// Every rated symbol's outcome, results or refused by a filter after the analysis: a filter
    /// chooses what is shown, not what the learning store learns of a symbol. With its sector.
    learned: Vec<(SymbolOutcome, Option<String>)>,
    diagnostics: Vec<Diagnostic>,
    /// Of every symbol rated (results and those below `min_tech_rating`): the alpha universe.
    factors: Vec<CrossInputs>,
    /// Symbols rated, in all and in the `high` tier.
    rated: usize,
    rated_high_tier: usize,
}

/// How the scanning stage ended.
struct Ending {
    state: Scanning,
    /// Why the scan stopped before its last symbol; `None` for a complete scan.
    stop_reason: Option<StopReason>,
    status: ScanStatus,
}

impl Scanner {
    /// The last stage: ranks what `run` found and reports it.
    pub(super) fn finalise(&self, mut run: ScanRun<'_>) -> ScanOutcome {
        let scan_id = run.options.scan_id.clone();
        let mut ending = end_scanning(&mut run);
        let request = run.request;
        let finalized = finalize(
            std::mem::take(&mut ending.state.outcomes),
            &run.slots,
            ending.stop_reason.as_ref(),
            &self.quality,
            request,
        );
        let now = run.progress.now();
        let high_quality_signals = finalized.results.iter().filter(|r| r.high_quality).count();
        let final_message = match &ending.stop_reason {
            Some(reason) => format!("Stopped: {reason}"),
            None => String::from("Completed"),
        };
        run.progress.update(|t, now| {
            t.finish_stage(Stage::Finalization, now);
            t.finish(
                ending.status,
                now,
                format!(
                    "{final_message}: {} results, {high_quality_signals} high-quality signals",
                    finalized.results.len()
                ),
            )
        });
        let metrics = metrics(&run, &finalized, &ending, now);
        tracing::info!(
            %scan_id,
            status = ?ending.status,
            stop_reason = ending.stop_reason.as_ref().map(ToString::to_string),
            results = metrics.results,
            signals = high_quality_signals,
            seconds = now,
            "scan finished"
        );
        let learning = learning_update(
            &finalized.learned,
            &finalized.factors,
            ending.status,
            &run.options.learned,
        );
        // A replay says the date it was cut at, even where no symbol traded that day.
        let as_of = run
            .options
            .as_of
            .or_else(|| finalized.results.iter().map(|r| r.date).max());
        let report = ScanReport {
            scan_id,
            status: ending.status,
            stop_reason: ending.stop_reason.map(|r| r.to_string()),
            data_source: self.source.info(),
            as_of,
            results: finalized.results,
            diagnostics: finalized.diagnostics,
            metrics,
        };
        run.progress.log.append(
            Payload::Complete(Box::new(report.summary())),
            run.progress.timestamp(),
        );
        ScanOutcome { report, learning }
    }
}

/// Closes the scanning stage (cut short if a stop left symbols unscanned), opens the final one,
/// and says how the scan ended.
fn end_scanning(run: &mut ScanRun<'_>) -> Ending {
    let scan_id = &run.options.scan_id;
    if let (unread @ 1.., Some(first)) =
        std::mem::take(run.unread.get_mut().unwrap_or_else(PoisonError::into_inner))
    {
        tracing::warn!(%scan_id, symbols = unread, first = %first, "symbols' bars could not be read (each at debug level)");
    }
    tracing::info!(%scan_id, stage = Stage::Finalization.as_str(), elapsed = run.progress.now(), "stage started");
    let total = run.slots.len();
    let state = std::mem::take(
        run.scanning
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let cut_short = run.options.stop.is_stopped() && state.finished < total;
    run.progress.update(|t, now| {
        if cut_short {
            t.cut_short(Stage::SymbolScanning, now);
        }
        t.start_stage(Stage::Finalization, 1, now, "Ranking results");
    });
    // A stop that came after the last symbol finished stopped nothing: the scan is complete.
    let stop_reason = run.options.stop.reason().filter(|_| state.finished < total);
    let status = match stop_reason {
        Some(_) => ScanStatus::Stopped,
        None => ScanStatus::Completed,
    };
    Ending {
        state,
        stop_reason,
        status,
    }
}

fn metrics(run: &ScanRun<'_>, finalized: &Finalized, ending: &Ending, now: f64) -> ScanMetrics {
    let prioritized = run.request.prioritize;
    let (high_tier_signal_rate, universe_signal_rate) = signal_rates(finalized, prioritized);
    let stage_seconds = {
        let tracker = run
            .progress
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
    let diagnostics = &finalized.diagnostics;
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
    let bars_loaded = run.bars_loaded.load(Ordering::Relaxed);
    let state = &ending.state;
    ScanMetrics {
        symbols_total: run.slots.len(),
        symbols_scanned: finalized.rated,
        results: finalized.results.len(),
        skipped,
        errors: diagnostics.len() - skipped,
        filtered_out: caused(DiagnosticCause::Filtered),
        no_data: caused(DiagnosticCause::NoData),
        not_scanned: caused(DiagnosticCause::NotScanned),
        high_quality_signals: finalized.results.iter().filter(|r| r.high_quality).count(),
        bars_loaded,
        seconds_total: now,
        stage_seconds,
        symbols_per_second: per_second(state.finished),
        bars_per_second: per_second(bars_loaded),
        time_to_first_result: state.first_result_at,
        early_terminated: ending.stop_reason.is_some(),
        first_signal_position: state.signal_finish_counts.first().copied(),
        symbols_to_5_signals: state.signal_finish_counts.get(4).copied(),
        high_tier_signal_rate,
        universe_signal_rate,
        cache_hits: run.snapshot_cache.hits,
        cache_misses: run.snapshot_cache.misses,
        source_cache_hits: run.lookups.hits.load(Ordering::Relaxed),
        source_cache_misses: run.lookups.misses.load(Ordering::Relaxed),
        analyses_shared: run.analyses.shared.load(Ordering::Relaxed),
        analyses_computed: run.analyses.computed.load(Ordering::Relaxed),
    }
}

/// What a scan teaches the learning store: every rated symbol's outcome; from a complete scan
/// only, the alpha and rating distribution and the sector statistics.
fn learning_update(
    rated: &[(SymbolOutcome, Option<String>)],
    factors: &[CrossInputs],
    status: ScanStatus,
    learned: &Learned,
) -> LearningUpdate {
    let completed = status == ScanStatus::Completed;
    LearningUpdate {
        outcomes: rated.iter().map(|(outcome, _)| outcome.clone()).collect(),
        alpha_reference: completed
            .then(|| {
                let alphas: Vec<AlphaFactors> = factors.iter().map(|f| f.alpha).collect();
                let mut composites: Vec<f64> = factors.iter().filter_map(|f| f.composite).collect();
                composites.sort_by(f64::total_cmp);
                AlphaReference::from_universe(&alphas).with_rating_composites(composites)
            })
            // The stored distribution is what streamed ratings are placed among: a scan too small
            // to be a cross-section, or narrower than the one that stored it, must not replace it.
            .filter(|reference| {
                reference.breadth() >= standard::MIN_CROSS_SECTION
                    && learned
                        .alpha_reference
                        .as_ref()
                        .is_none_or(|stored| reference.breadth() >= stored.breadth())
            }),
        sector_stats: if completed {
            sector_stats(rated)
        } else {
            Vec::new()
        },
    }
}

/// Exact alpha ranks over everything rated, the final ranking, and a diagnostic for every symbol
/// that is not a result (including those a stop left unscanned).
fn finalize(
    outcomes: Vec<Option<Outcome>>,
    slots: &[Slot],
    stop: Option<&StopReason>,
    quality: &SignalQuality,
    request: &ValidScan,
) -> Finalized {
    let Sorted {
        mut rated,
        factors,
        mut diagnostics,
        rated_high_tier,
    } = sort_outcomes(outcomes, slots, stop);
    place_in_cross_section(&mut rated, &factors, quality);
    let mut refused = Vec::new();
    let (mut results, rank_values) =
        filter(rated, &factors, request, &mut diagnostics, &mut refused);
    rank(&mut results, &rank_values);
    // The results in their order, then the refused: an unfiltered scan's figures are summed in
    // the order they always were.
    let learned = results.iter().map(learned_of).chain(refused).collect();
    diagnostics.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    let rated = factors.len();
    Finalized {
        results,
        learned,
        diagnostics,
        factors,
        rated,
        rated_high_tier,
    }
}

/// Outcomes sorted into what was rated and a diagnostic for everything else.
struct Sorted {
    /// Everything rated, results and those below `min_tech_rating` alike: the cross-section.
    rated: Vec<ScanResult>,
    /// The cross-section's inputs, in the order of `rated`.
    factors: Vec<CrossInputs>,
    diagnostics: Vec<Diagnostic>,
    rated_high_tier: usize,
}

fn sort_outcomes(
    outcomes: Vec<Option<Outcome>>,
    slots: &[Slot],
    stop: Option<&StopReason>,
) -> Sorted {
    let mut sorted = Sorted {
        rated: Vec::new(),
        factors: Vec::new(),
        diagnostics: Vec::new(),
        rated_high_tier: 0,
    };
    for (outcome, slot) in outcomes.into_iter().zip(slots) {
        let symbol = slot.info.symbol.clone();
        if matches!(
            outcome,
            Some(Outcome::Scanned(..) | Outcome::BelowMinRating(..))
        ) && slot.tier == Some(Tier::High)
        {
            sorted.rated_high_tier += 1;
        }
        let (kind, cause, message) = match outcome {
            Some(Outcome::Scanned(result, f) | Outcome::BelowMinRating(result, f)) => {
                sorted.factors.push(f);
                sorted.rated.push(*result);
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
        sorted.diagnostics.push(Diagnostic {
            symbol,
            kind,
            cause: Some(cause),
            message,
        });
    }
    sorted
}

/// Exact percentiles over everything rated replace the streamed estimates; the rating filter does
/// not change a symbol's alpha (docs/rating.md).
fn place_in_cross_section(
    rated: &mut [ScanResult],
    factors: &[CrossInputs],
    quality: &SignalQuality,
) {
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
}

/// The results among everything rated: the filters placed after the analysis judge the final
/// values, so the results are exactly those at or above `min_tech_rating`; the screen judges
/// exactly, over everything rated (its cross-sectional functions too). A refused symbol is told
/// the first filter that refused it. Returns the results with the screen's `rank_by` values.
fn filter(
    rated: Vec<ScanResult>,
    factors: &[CrossInputs],
    request: &ValidScan,
    diagnostics: &mut Vec<Diagnostic>,
    refused_learned: &mut Vec<(SymbolOutcome, Option<String>)>,
) -> (Vec<ScanResult>, HashMap<String, f64>) {
    let captured: Vec<&[Captured]> = factors.iter().map(|f| f.captured.as_slice()).collect();
    let judged = request.judge_rated(&rated, &captured);
    let ranking = judged
        .iter()
        .find(|(filter, _)| *filter.name == FilterName::Where && filter.program.has_ranking());
    let mut results = Vec::with_capacity(rated.len());
    let mut rank_values = HashMap::new();
    for (i, result) in rated.into_iter().enumerate() {
        let refused = judged
            .iter()
            .find_map(|(filter, verdicts)| (!verdicts[i].matches).then_some((filter, verdicts[i])));
        if let Some((filter, verdict)) = refused {
            refused_learned.push(learned_of(&result));
            diagnostics.push(Diagnostic {
                message: filter.name.reason(verdict.rank_value),
                symbol: result.symbol,
                kind: DiagnosticKind::Skipped,
                cause: Some(DiagnosticCause::Filtered),
            });
            continue;
        }
        if let Some((_, verdicts)) = ranking {
            rank_values.insert(result.symbol.clone(), verdicts[i].rank_value);
        }
        results.push(result);
    }
    (results, rank_values)
}

/// What the learning store keeps of a rated symbol, with its sector.
fn learned_of(result: &ScanResult) -> (SymbolOutcome, Option<String>) {
    let outcome = SymbolOutcome {
        symbol: result.symbol.clone(),
        tech_rating: result.tech_rating,
        high_quality: result.high_quality,
        date: result.date.to_string(),
        signal: result.signal,
        alpha_score: result.alpha_score,
    };
    (outcome, result.sector.clone())
}

/// `rank_by` first (descending, missing values last), then the usual order.
fn rank(results: &mut [ScanResult], rank_values: &HashMap<String, f64>) {
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

fn sector_stats(rated: &[(SymbolOutcome, Option<String>)]) -> Vec<SectorStats> {
    let mut stats: Vec<SectorStats> = Vec::new();
    for (r, sector) in rated {
        let Some(sector) = sector else { continue };
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
