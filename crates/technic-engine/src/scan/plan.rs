//! Stages `universe_loading` and `data_fetching`: which symbols a scan reads, and in what order.
//! The order comes from the cheap snapshot (the newest 21 bars) of every symbol, through the
//! snapshot cache shared by concurrent and repeated scans of the same data.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use technic_core::Bars;
use technic_core::priority::{self, PriorityInput, SNAPSHOT_BARS, Snapshot, Tier};
use technic_core::progress::Stage;
use technic_data::{BarWindow, DataError, Lookup, MarketData, SymbolInfo};

use super::control::Progress;
use super::{ScanError, ScanOptions, Scanner};
use crate::filter::Place;
use crate::request::ValidScan;

/// One symbol's place in the scan order.
pub(crate) struct Slot {
    pub(crate) info: SymbolInfo,
    pub(crate) tier: Option<Tier>,
}

/// Reads of one scan answered by the snapshot cache, and those that went to the source.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CacheCounts {
    pub(super) hits: usize,
    pub(super) misses: usize,
}

/// Reads of one scan that the source answered from its own cache (Redis, the in-process cache,
/// the local bar store) and those it had to fetch; both zero for a source without one.
#[derive(Debug, Default)]
pub(super) struct SourceLookups {
    pub(super) hits: AtomicUsize,
    pub(super) misses: AtomicUsize,
}

impl SourceLookups {
    pub(super) fn read(
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

/// Applies the universe filters: explicit symbols (kept even when the source lacks them, so they end
/// as errors rather than vanish), the filters placed on the universe's rows (`sectors`), then
/// `max_symbols`.
pub(crate) fn select(universe: Vec<SymbolInfo>, request: &ValidScan) -> Vec<SymbolInfo> {
    let mut selected: Vec<SymbolInfo> = match &request.symbols {
        Some(symbols) => {
            // By name, not a search of the universe per symbol: ten thousand named symbols over
            // an 8,000-symbol market were 80 million comparisons.
            let mut by_symbol = HashMap::with_capacity(universe.len());
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
    if request.filters_at(Place::Universe).next().is_some() {
        selected.retain(|info| request.admits_row(info));
    }
    if let Some(max) = request.max_symbols {
        selected.truncate(max);
    }
    selected
}

impl Scanner {
    /// Stage `universe_loading`: the source's universe, selected by the request.
    pub(super) fn load_universe(
        &self,
        request: &ValidScan,
        progress: &Progress<'_>,
    ) -> Result<Vec<SymbolInfo>, ScanError> {
        progress.update(|t, now| t.start_stage(Stage::UniverseLoading, 1, now, "Loading universe"));
        match self.source.universe() {
            Ok(universe) => Ok(select(universe, request)),
            Err(e) => Err(progress.fail(ScanError::Universe(e))),
        }
    }

    /// Stage `data_fetching`: the cheap snapshot of every symbol, then the priority order. Without
    /// prioritisation the order is the universe's (alphabetical) and nothing is fetched here.
    pub(super) fn order(
        &self,
        universe: Vec<SymbolInfo>,
        request: &ValidScan,
        options: &ScanOptions,
        progress: &Progress<'_>,
        lookups: &SourceLookups,
    ) -> (Vec<Slot>, CacheCounts) {
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
        let (snapshots, cache) = self.universe_snapshots(&universe, options, progress, lookups);
        let ranked = self.ranked(&universe, &snapshots, request, options);
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

    /// The snapshot of every symbol of `universe`: the whole universe's from the cache, else each
    /// symbol's (kept for the next scan unless a stop cut the stage short).
    fn universe_snapshots(
        &self,
        universe: &[SymbolInfo],
        options: &ScanOptions,
        progress: &Progress<'_>,
        lookups: &SourceLookups,
    ) -> (Arc<[Option<Snapshot>]>, CacheCounts) {
        let total = universe.len();
        let symbols: Vec<String> = universe.iter().map(|i| i.symbol.clone()).collect();
        if let Some(snapshots) =
            self.snapshots
                .universe(symbols.clone(), options.as_of, self.clock.now())
        {
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
            return (snapshots, cache);
        }
        let (snapshots, cache) = self.take_snapshots(universe, options, progress, lookups);
        let snapshots: Arc<[Option<Snapshot>]> = snapshots.into();
        if !options.stop.is_stopped() {
            self.snapshots.keep_universe(
                symbols,
                options.as_of,
                Arc::clone(&snapshots),
                self.clock.now(),
            );
        }
        (snapshots, cache)
    }

    /// The priority order of `universe`, from the cache of orders or computed and kept there.
    fn ranked(
        &self,
        universe: &[SymbolInfo],
        snapshots: &Arc<[Option<Snapshot>]>,
        request: &ValidScan,
        options: &ScanOptions,
    ) -> Arc<[priority::Ranked]> {
        let kept = self.snapshots.order(
            snapshots,
            &options.learned,
            options.diversity,
            request.rating,
            universe,
        );
        kept.unwrap_or_else(|| {
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
                snapshots,
                &options.learned,
                options.diversity,
                request.rating,
                universe,
                Arc::clone(&ranked),
            );
            ranked
        })
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
        let taking = TakingSnapshots {
            universe,
            options,
            progress,
            lookups,
            window: BarWindow {
                last: Some(SNAPSHOT_BARS),
                from: None,
                to: options.as_of,
            },
            // A remote source waits on the network far more than it computes: its own limit on
            // requests in flight, not the core count, is what bounds this stage.
            remote: self.source.concurrent_reads(),
            done: AtomicUsize::new(0),
            cursor: AtomicUsize::new(0),
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
            taken: Mutex::new(Vec::with_capacity(total)),
        };
        let threads = self.permits.capacity().max(taking.remote.unwrap_or(0));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| self.snapshot_worker(&taking));
            }
        });
        let mut snapshots: Vec<Option<Snapshot>> = vec![None; total];
        for (i, snapshot) in taking
            .taken
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
        {
            snapshots[i] = Some(snapshot);
        }
        let cache = CacheCounts {
            hits: taking.hits.into_inner(),
            misses: taking.misses.into_inner(),
        };
        (snapshots, cache)
    }

    /// One thread of the snapshot stage: takes the next symbol until none is left or the scan stops.
    fn snapshot_worker(&self, taking: &TakingSnapshots<'_>) {
        let total = taking.universe.len();
        loop {
            let i = taking.cursor.fetch_add(1, Ordering::SeqCst);
            let Some(info) = taking.universe.get(i) else {
                return;
            };
            if taking.options.stop.is_stopped() {
                return;
            }
            // A symbol whose snapshot fails still gets scanned (and its error reported then).
            if let Some(snapshot) = self.snapshot_of(info, taking) {
                taking
                    .taken
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((i, snapshot));
            }
            let n = taking.done.fetch_add(1, Ordering::Relaxed) + 1;
            taking.progress.item(n, total, || {
                format!("Snapshot {} ({n}/{total})", info.symbol)
            });
        }
    }

    fn snapshot_of(&self, info: &SymbolInfo, taking: &TakingSnapshots<'_>) -> Option<Snapshot> {
        let cell = self
            .snapshots
            .symbol(&info.symbol, taking.options.as_of, self.clock.now());
        if let Some(cached) = cell.get() {
            taking.hits.fetch_add(1, Ordering::Relaxed);
            return *cached;
        }
        // A remote source limits its own requests in flight; holding a compute permit while
        // waiting on the network would idle a core.
        let _permit = taking.remote.is_none().then(|| self.permits.acquire());
        // Another scan may have filled the cell while this one waited: that is a hit too, only a
        // read is a miss.
        let mut read = false;
        let snapshot = *cell.get_or_init(|| {
            read = true;
            taking
                .lookups
                .read(&*self.source, &info.symbol, &taking.window)
                .ok()
                .and_then(|b| Snapshot::from_bars(&b))
        });
        let counter = if read { &taking.misses } else { &taking.hits };
        counter.fetch_add(1, Ordering::Relaxed);
        snapshot
    }
}

/// What the threads of the snapshot stage share.
struct TakingSnapshots<'a> {
    universe: &'a [SymbolInfo],
    options: &'a ScanOptions,
    progress: &'a Progress<'a>,
    lookups: &'a SourceLookups,
    window: BarWindow,
    remote: Option<usize>,
    done: AtomicUsize,
    cursor: AtomicUsize,
    hits: AtomicUsize,
    misses: AtomicUsize,
    /// Snapshots taken, by position in `universe`.
    taken: Mutex<Vec<(usize, Snapshot)>>,
}
