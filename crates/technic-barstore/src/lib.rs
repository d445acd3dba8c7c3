//! technic's local bar store: the bars a remote source handed out, kept on disk so that a later
//! scan reads them locally and asks the source only for what is newer.
//!
//! Layout, under `HOME/store/` (itself a data directory, so `--data HOME/store` scans it as is):
//! - `bars/SYMBOL.parquet`: one file per symbol, columns `date, open, high, low, close, volume`,
//!   already adjusted; pandas, Polars and DuckDB open them;
//! - `universe.csv`: the names and sectors last seen;
//! - `store.json`: what is known of the store as a whole ([`Manifest`]);
//! - `.lock`: held while a process writes, so two syncs of one home do not interleave.
//!
//! Invariants: a file is replaced by an atomic rename, never rewritten in place, so a reader (or
//! a crash) never sees half a file; bars are only ever appended after a symbol's last stored date
//! or replaced as a whole (when the source re-adjusted its history). Nothing here knows of HTTP or
//! of scans: the remote side is a [`technic_data::DailyFeed`].
//!
//! More rules every writer keeps:
//! - Every path built from a symbol goes through `technic_data::symbol_file_stem`, so it is one
//!   file directly in `bars/`.
//! - No hole is ever stored, whatever subset of symbols a sync covers: a day is applied only if
//!   every earlier missing day was, and a symbol's asked-through date only moves over sessions that
//!   were fetched for it.
//! - A failure of one symbol or day is reported and leaves what was stored as it was; only the
//!   disk's failure stops a sync.
//! - Writers take `.lock` (an OS file lock), then read the manifest and the members' footers again;
//!   manifest changes are applied to the file's current content, and bars are appended after a
//!   symbol's last stored bar as read from its file at that moment.
//!
//! `store.json` holds what no file does: per symbol the date every session up to which has been
//! asked for, the holidays learnt, the symbols the source has no bars for (not asked again for
//! [`NO_DATA_RECHECK_DAYS`]), when a complete universe was saved, and unfinished imports and syncs.

mod health;
mod stored;
mod sync;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use technic_core::Bars;
use technic_data::clock::Clock;
use technic_data::{DataError, SymbolInfo, symbol_file_stem, symbol_from_file_stem};

pub use health::{DamagedFile, Started, Unfinished, VerifyReport};
pub use stored::{OfflineStore, StoreReads, StoredSource};
pub use sync::{SyncPlan, SyncReport};

/// What can go wrong with the store itself (a symbol's bad data is a [`DataError`] instead).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Data(#[from] DataError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |cause| StoreError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// One stored symbol, as its file's footer describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StoredSymbol {
    pub rows: usize,
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub bytes: u64,
}

/// Facts about the store as a whole that no single file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Per symbol, the date every session up to which has been asked of the source (its file may
    /// end earlier: it did not trade since). A symbol without an entry (imported, say) was asked
    /// up to its last stored bar. Per symbol, not one date for the store: a sync of some symbols
    /// (a scan of a few) must not pass the others' sessions by.
    #[serde(default)]
    pub asked_through: BTreeMap<String, NaiveDate>,
    /// Weekdays on which the market did not trade (holidays), learnt from answers that were
    /// empty after the session was over, so they are never asked again.
    #[serde(default)]
    pub closed_days: BTreeSet<NaiveDate>,
    /// When `universe.csv` was last written from a complete listing (the source's whole
    /// universe, or an import), in seconds since the epoch. Symbols added by a restricted scan do
    /// not make it fresh.
    pub universe_saved_at: Option<u64>,
    /// Where the bars came from: `polygon`, or `import DIR`.
    #[serde(default)]
    pub origins: BTreeSet<String>,
    /// Symbols the source answered it has no bars for, with when (its `today`) and what it
    /// said: not asked again for [`NO_DATA_RECHECK_DAYS`], so a universe member without data
    /// does not cost requests on every scan.
    #[serde(default)]
    pub no_data: BTreeMap<String, NoData>,
    /// Imports (`import DIR`) and syncs (`sync`) that started and have not finished: written
    /// before the work begins and removed when it ends, so one that was killed is still here.
    #[serde(default)]
    pub unfinished: BTreeMap<String, Started>,
}

/// How long a source's "no bars for it" stands before the symbol is asked about again (it may
/// have been listed since).
pub const NO_DATA_RECHECK_DAYS: u64 = 7;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoData {
    pub asked: NaiveDate,
    pub reason: String,
}

/// A bar store rooted at `HOME/store`. Shared by a scan's worker threads.
#[derive(Debug)]
pub struct BarStore {
    dir: PathBuf,
    symbols: Mutex<BTreeMap<String, StoredSymbol>>,
    manifest: Mutex<Manifest>,
    /// Ages (the saved universe's) and the times recorded in the manifest; a [`StoredSource`]
    /// over the store reads its refresh interval from it too.
    clock: Arc<dyn Clock>,
}

/// A held `.lock`: released when dropped (the OS releases it too if the process dies).
#[derive(Debug)]
pub struct WriteLock(#[allow(dead_code)] File);

impl BarStore {
    /// Opens (creating if needed) the store under `home`. Reads only the Parquet footers.
    pub fn open_in(home: &Path) -> Result<Self, StoreError> {
        Self::open(&home.join("store"))
    }

    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let bars = dir.join("bars");
        std::fs::create_dir_all(&bars).map_err(io_error(&bars))?;
        let mut symbols = BTreeMap::new();
        for entry in std::fs::read_dir(&bars).map_err(io_error(&bars))? {
            let path = entry.map_err(io_error(&bars))?.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".parquet"))
                .filter(|stem| !stem.is_empty())
            else {
                continue;
            };
            if let Some(stored) = summarise(&path) {
                symbols.insert(symbol_from_file_stem(stem).to_ascii_uppercase(), stored);
            }
        }
        let manifest = read_manifest(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            symbols: Mutex::new(symbols),
            manifest: Mutex::new(manifest),
            clock: technic_data::clock::system(),
        })
    }

    /// Reads time from `clock` instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Wall seconds since the epoch, as the manifest records times.
    pub(crate) fn now_secs(&self) -> u64 {
        self.clock.unix_seconds()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock_file(&self) -> Result<(PathBuf, File), StoreError> {
        let path = self.dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        Ok((path, file))
    }

    /// Takes the store's write lock, waiting for another process's writer to finish, then reads
    /// again what that writer may have changed: what this process holds in memory dates from
    /// before the wait.
    pub fn lock(&self, members: &[String]) -> Result<WriteLock, StoreError> {
        let (path, file) = self.lock_file()?;
        file.lock().map_err(io_error(&path))?;
        self.reload(members)?;
        self.remove_stale_temp_files();
        Ok(WriteLock(file))
    }

    /// [`BarStore::lock`] if no other process holds it, else `None` at once: a scan must not
    /// wait behind an hour-long sync on the free tier; it reads what is stored instead.
    pub fn try_lock(&self, members: &[String]) -> Result<Option<WriteLock>, StoreError> {
        let (path, file) = self.lock_file()?;
        match file.try_lock() {
            Ok(()) => {
                self.reload(members)?;
                self.remove_stale_temp_files();
                Ok(Some(WriteLock(file)))
            }
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(cause)) => Err(StoreError::Io { path, cause }),
        }
    }

    /// Reads the manifest and the footers of `members` from disk again.
    fn reload(&self, members: &[String]) -> Result<(), StoreError> {
        let manifest = read_manifest(&self.dir)?;
        *self.manifest.lock().unwrap_or_else(PoisonError::into_inner) = manifest;
        let fresh: Vec<(String, Option<StoredSymbol>)> = members
            .iter()
            .map(|symbol| {
                let stored = self.bar_path(symbol).ok().and_then(|path| summarise(&path));
                (symbol.clone(), stored)
            })
            .collect();
        let mut symbols = self.symbols.lock().unwrap_or_else(PoisonError::into_inner);
        for (symbol, stored) in fresh {
            match stored {
                Some(stored) => symbols.insert(symbol, stored),
                None => symbols.remove(&symbol),
            };
        }
        Ok(())
    }

    /// The date every session up to which has been asked for `symbol`, if it is stored.
    pub fn asked_through(&self, symbol: &str) -> Option<NaiveDate> {
        let last = self.get(symbol)?.last;
        let manifest = self.manifest.lock().unwrap_or_else(PoisonError::into_inner);
        Some(
            manifest
                .asked_through
                .get(symbol)
                .copied()
                .unwrap_or(last)
                .max(last),
        )
    }

    pub fn symbols(&self) -> BTreeMap<String, StoredSymbol> {
        self.symbols
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn get(&self, symbol: &str) -> Option<StoredSymbol> {
        self.symbols
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(symbol)
            .copied()
    }

    pub fn manifest(&self) -> Manifest {
        self.manifest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the manifest and writes it (atomically) before returning. The change is applied to
    /// the file's current content, so another process's changes made meanwhile are kept.
    pub fn update_manifest(&self, change: impl FnOnce(&mut Manifest)) -> Result<(), StoreError> {
        let mut manifest = self.manifest.lock().unwrap_or_else(PoisonError::into_inner);
        *manifest = read_manifest(&self.dir)?;
        change(&mut manifest);
        let path = self.dir.join("store.json");
        let bytes = serde_json::to_vec_pretty(&*manifest).map_err(|e| StoreError::Io {
            path: path.clone(),
            cause: std::io::Error::other(e),
        })?;
        write_atomically(&path, &bytes)
    }

    /// Where `symbol`'s bars are kept: always a file directly in `bars/`, whatever the symbol
    /// holds (see [`technic_data::symbol_file_stem`]).
    pub fn bar_path(&self, symbol: &str) -> Result<PathBuf, DataError> {
        let stem = symbol_file_stem(symbol)?;
        Ok(self.dir.join("bars").join(format!("{stem}.parquet")))
    }

    /// The symbol's stored bars, all of them.
    pub fn read(&self, symbol: &str) -> Result<Bars, DataError> {
        technic_data::read_parquet_bars(&self.bar_path(symbol)?)
    }

    /// Stores `bars` as the symbol's whole history, replacing what was there.
    pub fn write(&self, symbol: &str, bars: &Bars) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (bars.dates.first(), bars.dates.last()) else {
            return Ok(());
        };
        let path = self.bar_path(symbol)?;
        // Bars handed in already satisfy the invariants: a failure here is the disk's, and stops
        // an import or a sync rather than being reported against one symbol.
        technic_data::write_parquet_bars(&path, symbol, bars).map_err(|e| StoreError::Io {
            path: path.clone(),
            cause: std::io::Error::other(e.to_string()),
        })?;
        let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
        self.symbols
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                symbol.to_owned(),
                StoredSymbol {
                    rows: bars.len(),
                    first: *first,
                    last: *last,
                    bytes,
                },
            );
        Ok(())
    }

    /// What the source said when it last had no bars for `symbol`, if that still stands on `today`.
    pub fn known_no_data(&self, symbol: &str, today: NaiveDate) -> Option<String> {
        let manifest = self.manifest.lock().unwrap_or_else(PoisonError::into_inner);
        let note = manifest.no_data.get(symbol)?;
        let recheck = note
            .asked
            .checked_add_days(chrono::Days::new(NO_DATA_RECHECK_DAYS))?;
        (today < recheck).then(|| note.reason.clone())
    }

    /// Remembers that the source has no bars for `symbol` as of `today`.
    pub fn note_no_data(
        &self,
        symbol: &str,
        today: NaiveDate,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.update_manifest(|m| {
            m.no_data.insert(
                symbol.to_owned(),
                NoData {
                    asked: today,
                    reason: reason.to_owned(),
                },
            );
        })
    }

    /// The universe last saved, if any, and how long ago it was saved.
    pub fn universe(&self) -> Result<Option<(Vec<SymbolInfo>, Duration)>, StoreError> {
        let path = self.dir.join("universe.csv");
        if !path.exists() {
            return Ok(None);
        }
        let members = technic_data::files::read_universe(&path)?;
        let saved_at = self.manifest().universe_saved_at.unwrap_or(0);
        let age = self.now_secs().saturating_sub(saved_at);
        Ok(Some((members, Duration::from_secs(age))))
    }

    /// Writes `universe.csv` (sorted by symbol); a `complete` listing (not a restricted scan's
    /// few symbols) also makes the saved universe fresh.
    pub fn save_universe(&self, members: &[SymbolInfo], complete: bool) -> Result<(), StoreError> {
        let path = self.dir.join("universe.csv");
        let mut writer = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| StoreError::Io {
            path: path.clone(),
            cause: std::io::Error::other(e),
        };
        writer
            .write_record(["symbol", "name", "sector", "industry", "market_cap"])
            .map_err(io)?;
        let mut sorted: Vec<&SymbolInfo> = members.iter().collect();
        sorted.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        sorted.dedup_by(|a, b| a.symbol == b.symbol);
        for info in sorted {
            let cap = info.market_cap.map(|c| c.to_string()).unwrap_or_default();
            writer
                .write_record([
                    info.symbol.as_str(),
                    info.name.as_deref().unwrap_or(""),
                    info.sector.as_deref().unwrap_or(""),
                    info.industry.as_deref().unwrap_or(""),
                    cap.as_str(),
                ])
                .map_err(io)?;
        }
        let bytes = writer.into_inner().map_err(|e| StoreError::Io {
            path: path.clone(),
            cause: std::io::Error::other(e.to_string()),
        })?;
        write_atomically(&path, &bytes)?;
        if complete {
            self.update_manifest(|m| m.universe_saved_at = Some(self.now_secs()))?;
        }
        Ok(())
    }

    /// What `technic data status` reports. Reads every file whole ([`BarStore::verify`]), so
    /// that a damaged one is listed rather than counted or left out.
    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let verified = self.verify()?;
        let symbols = self.symbols();
        let manifest = self.manifest();
        let newest = symbols.values().map(|s| s.last).max();
        let asked: Vec<NaiveDate> = symbols
            .keys()
            .filter_map(|symbol| self.asked_through(symbol))
            .collect();
        let behind: Vec<String> = symbols
            .iter()
            .filter(|(_, s)| Some(s.last) < newest)
            .map(|(symbol, _)| symbol.clone())
            .collect();
        Ok(StoreStatus {
            dir: self.dir.clone(),
            symbols: symbols.len(),
            bars: symbols.values().map(|s| s.rows).sum(),
            bytes: symbols.values().map(|s| s.bytes).sum(),
            first: symbols.values().map(|s| s.first).min(),
            last: newest,
            synced_through: asked.iter().min().copied(),
            behind,
            origins: manifest.origins.into_iter().collect(),
            universe_age_secs: manifest
                .universe_saved_at
                .map(|at| self.now_secs().saturating_sub(at)),
            files: verified.files,
            damaged: verified.damaged,
            unfinished: self.unfinished(),
        })
    }
}

/// A summary of the store, for people and for `--json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStatus {
    pub dir: PathBuf,
    pub symbols: usize,
    pub bars: usize,
    pub bytes: u64,
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    /// Every stored symbol has been asked for every session up to this date.
    pub synced_through: Option<NaiveDate>,
    /// Symbols whose last bar is older than the newest in the store (stopped trading, or failed
    /// in the last sync).
    pub behind: Vec<String>,
    pub origins: Vec<String>,
    pub universe_age_secs: Option<u64>,
    /// Bar files in the store, damaged ones included.
    pub files: usize,
    /// Files that do not read as they were written; their symbols are scanned as errors until
    /// they are fetched or imported again.
    pub damaged: Vec<DamagedFile>,
    /// Imports and syncs that started and have not finished.
    pub unfinished: Vec<Unfinished>,
}

/// How a data directory was copied into the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub symbols: usize,
    pub bars: usize,
    /// Symbols that could not be read, with the reason (file, line, what is wrong).
    pub failed: Vec<(String, String)>,
}

impl BarStore {
    /// Copies every symbol of `source` (a data directory, typically) into the store, replacing
    /// what the store held for them. A symbol that cannot be read is reported and the rest go on.
    pub fn import(
        &self,
        source: &dyn technic_data::MarketData,
        origin: &str,
        on_symbol: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ImportReport, StoreError> {
        let members = source.universe()?;
        let symbols: Vec<String> = members.iter().map(|i| i.symbol.clone()).collect();
        let _lock = self.lock(&symbols)?;
        self.begin(origin)?;
        let total = members.len();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let report = Mutex::new(ImportReport::default());
        let fatal: Mutex<Option<StoreError>> = Mutex::new(None);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(info) = members.get(i) else { break };
                        let outcome = source
                            .bars(&info.symbol, &technic_data::BarWindow::default())
                            .map_err(StoreError::from)
                            .and_then(|bars| self.write(&info.symbol, &bars).map(|()| bars.len()));
                        let mut report = report.lock().unwrap_or_else(PoisonError::into_inner);
                        match outcome {
                            Ok(rows) => {
                                report.symbols += 1;
                                report.bars += rows;
                            }
                            // The disk failing is not one symbol's problem: stop.
                            Err(e @ StoreError::Io { .. }) => {
                                fatal
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .get_or_insert(e);
                                break;
                            }
                            Err(e) => report.failed.push((info.symbol.clone(), e.to_string())),
                        }
                        drop(report);
                        on_symbol(i + 1, total);
                    }
                });
            }
        });
        if let Some(e) = fatal.into_inner().unwrap_or_else(PoisonError::into_inner) {
            return Err(e);
        }
        let mut report = report.into_inner().unwrap_or_else(PoisonError::into_inner);
        report.failed.sort();
        // Keep names of symbols stored earlier from another origin.
        let mut universe: BTreeMap<String, SymbolInfo> = self
            .universe()?
            .map(|(members, _)| members)
            .unwrap_or_default()
            .into_iter()
            .map(|info| (info.symbol.clone(), info))
            .collect();
        for info in members {
            universe.insert(info.symbol.clone(), info);
        }
        let universe: Vec<SymbolInfo> = universe.into_values().collect();
        self.save_universe(&universe, true)?;
        self.update_manifest(|m| {
            m.unfinished.remove(origin);
            m.origins.insert(origin.to_owned());
            // An imported file is what the directory held: each symbol is asked again from its
            // own last bar, whatever an earlier sync had asked for it.
            for symbol in &symbols {
                m.asked_through.remove(symbol);
            }
        })?;
        Ok(report)
    }
}

fn read_manifest(dir: &Path) -> Result<Manifest, StoreError> {
    let path = dir.join("store.json");
    match std::fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            // The bar files are the store; the manifest only saves requests. Losing it costs one
            // longer sync, which is better than refusing to scan.
            tracing::warn!(path = %path.display(), error = %e, "store.json is damaged; starting a new one");
            Manifest::default()
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(cause) => Err(StoreError::Io { path, cause }),
    }
}

/// A stored file's footer; `None` when it is missing or damaged (a damaged file is treated as
/// absent: the symbol is fetched again, and the rename that stores it replaces the file).
fn summarise(path: &Path) -> Option<StoredSymbol> {
    match technic_data::parquet_summary(path) {
        Ok(summary) => Some(StoredSymbol {
            rows: summary.rows,
            first: summary.first?,
            last: summary.last?,
            bytes: summary.bytes,
        }),
        Err(DataError::Io { cause, .. }) if cause.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(error = %e, "a stored bar file cannot be read; it will be fetched again");
            None
        }
    }
}

/// [`technic_data::replace_file`], with the store's error.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    technic_data::replace_file(path, bytes).map_err(io_error(path))
}
