//! A remote source read through the store: what is stored is read from disk, what is newer is
//! fetched once (as cheaply as [`BarStore::sync`] can) and stored, and a symbol never stored is
//! fetched whole the first time a scan reaches it.
//!
//! The store is refreshed at most every [`REFRESH_EVERY`] (10 minutes), or when the date changes,
//! and only if no other process holds the store's lock; if one does, the scan reads what is stored
//! and looks again in 30 s. Store reads count as cache hits and fetches as misses. If the feed is
//! unreachable, what is stored is served, for the whole universe or named symbols.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use technic_core::Bars;
use technic_data::files::FileSource;
use technic_data::{BarWindow, DailyFeed, DataError, Lookup, MarketData, SourceInfo, SymbolInfo};

use crate::{BarStore, StoreError};

/// A saved universe younger than this is used without asking the source: listings change daily
/// at most, and asking costs requests (one per symbol with a restricted Polygon universe).
pub const UNIVERSE_TTL: Duration = Duration::from_secs(24 * 3600);

/// How often a long-running process checks for new sessions.
pub const REFRESH_EVERY: Duration = Duration::from_secs(600);

/// How soon to look again when another process held the store.
const BUSY_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct StoredSource<F> {
    store: Arc<BarStore>,
    feed: F,
    /// Only these symbols make the universe; `None` is the feed's whole universe.
    symbols: Option<Vec<String>>,
    /// The symbols of the last universe handed out: what a refresh brings up to date.
    members: Mutex<Vec<String>>,
    /// The `today` and time of the last refresh; holding the lock makes concurrent readers wait
    /// for a refresh in progress instead of reading what it is about to replace.
    refreshed: Mutex<Option<(NaiveDate, Instant)>>,
    /// One lock per symbol being fetched whole, so concurrent scans fetch it once.
    fetching: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Reads answered by the store, and those that had to fetch a whole history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreReads {
    pub hits: u64,
    pub misses: u64,
}

impl<F: DailyFeed> StoredSource<F> {
    pub fn new(store: Arc<BarStore>, feed: F, symbols: Option<Vec<String>>) -> Self {
        let symbols = symbols.map(|list| {
            let mut list: Vec<String> =
                list.iter().map(|s| s.trim().to_ascii_uppercase()).collect();
            list.sort();
            list.dedup();
            list
        });
        Self {
            store,
            feed,
            symbols,
            members: Mutex::default(),
            refreshed: Mutex::default(),
            fetching: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn reads(&self) -> StoreReads {
        StoreReads {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    pub fn store(&self) -> &BarStore {
        &self.store
    }

    pub fn feed(&self) -> &F {
        &self.feed
    }

    /// Brings the stored members up to the feed's today, at most once per [`REFRESH_EVERY`]
    /// (and again when the date changes). A failure is logged and the stored bars are served:
    /// a scan of yesterday's data beats no scan.
    fn refresh(&self) {
        let mut refreshed = self
            .refreshed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let today = self.feed.today();
        let now = self.store.clock().now();
        if refreshed.is_some_and(|(day, at)| {
            day == today && now.saturating_duration_since(at) < REFRESH_EVERY
        }) {
            return;
        }
        let mut members = self
            .members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if members.is_empty() {
            members = self.store.symbols().into_keys().collect();
        }
        let synced = match self.store.try_lock(&members) {
            Ok(Some(lock)) => self.store.sync_locked(&lock, &self.feed, &members, false),
            Ok(None) => {
                // Another process (a `technic data sync`) is writing: scan what is stored, and
                // look again shortly rather than in ten minutes.
                tracing::info!(
                    "the bar store is being synced by another process; stored bars are used"
                );
                *refreshed = Some((
                    today,
                    now.checked_sub(REFRESH_EVERY - BUSY_RETRY).unwrap_or(now),
                ));
                return;
            }
            Err(e) => Err(e),
        };
        match synced {
            Ok(report) => {
                if report.bars_added > 0
                    || !report.refetched.is_empty()
                    || !report.failed.is_empty()
                {
                    tracing::info!(
                        strategy = report.strategy,
                        days = report.days_fetched.len(),
                        symbols = report.symbols_updated,
                        bars = report.bars_added,
                        refetched = report.refetched.len(),
                        failed = report.failed.len(),
                        "bar store brought up to date"
                    );
                }
                for (what, why) in &report.failed {
                    tracing::warn!(%what, %why, "not brought up to date; its stored bars are used");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the bar store could not be brought up to date; stored bars are used")
            }
        }
        *refreshed = Some((today, self.store.clock().now()));
    }

    fn symbol_lock(&self, symbol: &str) -> Arc<Mutex<()>> {
        self.fetching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(symbol.to_owned())
            .or_default()
            .clone()
    }

    fn remember(&self, universe: &[SymbolInfo]) {
        *self.members.lock().unwrap_or_else(PoisonError::into_inner) =
            universe.iter().map(|i| i.symbol.clone()).collect();
    }
}

impl<F: DailyFeed> MarketData for StoredSource<F> {
    fn info(&self) -> SourceInfo {
        let feed = self.feed.info();
        // Where the store is stays out of what clients are shown (`identity` has it).
        let mut description = format!("{}, kept in the bar store", feed.description);
        append_warning(&mut description, &self.store);
        SourceInfo {
            kind: feed.kind,
            description,
            synthetic: feed.synthetic,
        }
    }

    fn identity(&self) -> String {
        format!(
            "{}, stored in {}",
            self.feed.identity(),
            self.store.dir().display()
        )
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        let saved = self
            .store
            .universe()
            .map_err(|e| DataError::Service {
                message: e.to_string(),
            })?
            .map(|(members, age)| {
                let by_symbol: HashMap<String, SymbolInfo> =
                    members.into_iter().map(|i| (i.symbol.clone(), i)).collect();
                (by_symbol, age)
            });
        // The saved list answers when it covers what is asked for: the whole universe only if
        // a complete listing saved it lately; named symbols whenever they are all in it (names
        // are informational, and asking costs a request per symbol).
        let from_store = match (&self.symbols, &saved) {
            (None, Some((members, age))) if *age < UNIVERSE_TTL => {
                let mut all: Vec<SymbolInfo> = members.values().cloned().collect();
                all.sort_by(|a, b| a.symbol.cmp(&b.symbol));
                Some(all)
            }
            (Some(wanted), Some((members, _))) => wanted
                .iter()
                .map(|s| members.get(s).cloned())
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        if let Some(universe) = from_store {
            self.remember(&universe);
            return Ok(universe);
        }
        match self.feed.universe() {
            Ok(universe) => {
                // A restricted listing adds to the saved universe and leaves its age alone, so
                // a scan of a few symbols never stands in for the whole market.
                let mut all = match (&self.symbols, saved) {
                    (Some(_), Some((members, _))) => members,
                    _ => HashMap::new(),
                };
                for info in &universe {
                    all.insert(info.symbol.clone(), info.clone());
                }
                let all: Vec<SymbolInfo> = all.into_values().collect();
                if let Err(e) = self.store.save_universe(&all, self.symbols.is_none()) {
                    tracing::warn!(error = %e, "the universe could not be saved in the store");
                }
                self.remember(&universe);
                Ok(universe)
            }
            // Offline or refused: what the store knows still lets the stored bars be scanned.
            Err(e) => {
                let known = saved.map(|(members, _)| members).unwrap_or_default();
                let offline: Vec<SymbolInfo> = match &self.symbols {
                    None => {
                        let mut all: Vec<SymbolInfo> = known.into_values().collect();
                        all.sort_by(|a, b| a.symbol.cmp(&b.symbol));
                        all
                    }
                    Some(wanted) => wanted
                        .iter()
                        .filter(|s| known.contains_key(*s) || self.store.get(s).is_some())
                        .map(|s| {
                            known
                                .get(s)
                                .cloned()
                                .unwrap_or_else(|| SymbolInfo::new(s.clone()))
                        })
                        .collect(),
                };
                if offline.is_empty() {
                    return Err(e);
                }
                tracing::warn!(error = %e, symbols = offline.len(), "the source's universe is unavailable; using what the store knows");
                self.remember(&offline);
                Ok(offline)
            }
        }
    }

    fn concurrent_reads(&self) -> Option<usize> {
        self.feed.concurrent_reads()
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        self.bars_with_lookup(symbol, window).0
    }

    /// A hit is a symbol served from the store, a miss one that had to be fetched whole.
    fn bars_with_lookup(
        &self,
        symbol: &str,
        window: &BarWindow,
    ) -> (Result<Bars, DataError>, Lookup) {
        self.refresh();
        let symbol = symbol.trim().to_ascii_uppercase();
        if self.store.get(&symbol).is_none() {
            let lock = self.symbol_lock(&symbol);
            let _held = lock.lock().unwrap_or_else(PoisonError::into_inner);
            if self.store.get(&symbol).is_none() {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let fetched = self
                    .store
                    .fetch_whole(&self.feed, &symbol)
                    .map(|bars| window.apply(bars))
                    .map_err(|e| match e {
                        StoreError::Data(e) => e,
                        // Kept a path error: what a server tells its clients leaves the path out.
                        StoreError::Io { path, cause } => DataError::Io { path, cause },
                    });
                return (fetched, Lookup::Miss);
            }
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        (
            self.store.read(&symbol).map(|bars| window.apply(bars)),
            Lookup::Hit,
        )
    }
}

/// The store read alone, without the network (`--source store`): its files as a data directory,
/// and in its description whatever a scan of it should know (an import that did not finish).
#[derive(Debug)]
pub struct OfflineStore {
    store: BarStore,
    files: FileSource,
}

impl OfflineStore {
    pub fn new(store: BarStore) -> Result<Self, DataError> {
        let files = FileSource::open(store.dir())?;
        Ok(Self { store, files })
    }
}

impl MarketData for OfflineStore {
    fn info(&self) -> SourceInfo {
        let mut info = self.files.info();
        append_warning(&mut info.description, &self.store);
        info
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.files.universe()
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        self.files.bars(symbol, window)
    }
}

/// A report's source description is where a scan says what it should know of its data.
fn append_warning(description: &mut String, store: &BarStore) {
    if let Some(warning) = store.warning() {
        description.push_str("; ");
        description.push_str(&warning);
    }
}
