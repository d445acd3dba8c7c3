//! Recent priority snapshots, shared by every scan of one `Scanner`.
//!
//! A snapshot only orders a scan (each symbol's bars are read fresh when it is scanned), so one a
//! minute old costs at most a little prioritisation quality, and sharing it is what lets fifty
//! concurrent scans of one universe start scanning at once instead of each reading 500 files.
//! Two levels:
//! - per symbol: each snapshot is read once, by whichever scan asks first; a scan that asks while
//!   another reads it waits for that read instead of reading the file again;
//! - per universe: the whole list of a finished snapshot stage, so a later scan of the same
//!   symbols takes it in one lookup instead of 500 (under load that stage is what delayed first
//!   results: hundreds of threads taking turns on a shared lock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use technic_core::priority::Snapshot;

/// How long a snapshot is reused.
pub(crate) const SNAPSHOT_TTL: Duration = Duration::from_secs(60);

/// One symbol's snapshot, filled once; `None` inside when its data gave none.
pub(crate) type SymbolCell = Arc<OnceLock<Option<Snapshot>>>;
/// A universe's snapshots, in the universe's order.
pub(crate) type UniverseSnapshots = Arc<[Option<Snapshot>]>;
/// When an entry was made: it is reused for `SNAPSHOT_TTL`.
type Made = Instant;
type SymbolKey = (String, Option<NaiveDate>);
/// The universe's symbols, in order, and the date the data is cut at.
type UniverseKey = (Vec<String>, Option<NaiveDate>);

#[derive(Debug, Default)]
pub(crate) struct SnapshotCache {
    symbols: Mutex<HashMap<SymbolKey, (Made, SymbolCell)>>,
    universes: Mutex<HashMap<UniverseKey, (Made, UniverseSnapshots)>>,
}

impl SnapshotCache {
    pub(crate) fn symbol(&self, symbol: &str, as_of: Option<NaiveDate>) -> SymbolCell {
        let mut symbols = self.symbols.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = symbols
            .entry((symbol.to_owned(), as_of))
            .or_insert_with(|| (Instant::now(), Arc::default()));
        if entry.0.elapsed() > SNAPSHOT_TTL {
            *entry = (Instant::now(), Arc::default());
        }
        Arc::clone(&entry.1)
    }

    /// The universe's snapshots if a scan of the same symbols took them within the TTL.
    pub(crate) fn universe(
        &self,
        symbols: Vec<String>,
        as_of: Option<NaiveDate>,
    ) -> Option<UniverseSnapshots> {
        let universes = self
            .universes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        universes
            .get(&(symbols, as_of))
            .filter(|(made, _)| made.elapsed() <= SNAPSHOT_TTL)
            .map(|(_, snapshots)| Arc::clone(snapshots))
    }

    /// Keeps a complete snapshot stage's list (never a partial one from a stopped scan), and drops
    /// what has expired, so a long-running server (or a replay over many dates) stays bounded.
    pub(crate) fn keep_universe(
        &self,
        symbols: Vec<String>,
        as_of: Option<NaiveDate>,
        snapshots: UniverseSnapshots,
    ) {
        let mut universes = self
            .universes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        universes.retain(|_, (made, _)| made.elapsed() <= SNAPSHOT_TTL);
        universes.insert((symbols, as_of), (Instant::now(), snapshots));
        drop(universes);
        self.symbols
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (made, _)| made.elapsed() <= SNAPSHOT_TTL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_universe_is_found_for_the_same_symbols_and_date_only() {
        let cache = SnapshotCache::default();
        let symbols = vec![String::from("A"), String::from("B")];
        assert!(cache.universe(symbols.clone(), None).is_none());
        cache.keep_universe(symbols.clone(), None, Arc::from(vec![None, None]));
        assert_eq!(
            cache.universe(symbols.clone(), None).map(|s| s.len()),
            Some(2)
        );
        let date = NaiveDate::from_ymd_opt(2020, 1, 2);
        assert!(cache.universe(symbols, date).is_none());
        assert!(cache.universe(vec![String::from("A")], None).is_none());
    }

    #[test]
    fn a_symbol_cell_is_shared_until_filled_and_reused() {
        let cache = SnapshotCache::default();
        let first = cache.symbol("A", None);
        let second = cache.symbol("A", None);
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &cache.symbol("B", None)));
    }
}
