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
//!
//! Entries live 60 seconds ([`SNAPSHOT_TTL`]) and expired ones are dropped; only a complete stage
//! is kept per universe, never a stopped scan's part. Hits and misses are in each scan's metrics;
//! the full bars are always read fresh. The last four priority orders are kept too, each reused
//! only for the very same snapshot list and learned histories (matched by identity through `Weak`s,
//! which keep nothing alive), the same diversity setting and the same sectors.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use technic_core::priority::{Ranked, Snapshot};
use technic_core::rating::RatingModel;
use technic_data::SymbolInfo;

use crate::learning::Learned;

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

/// Whether an entry made at `made` is still reused at `now`.
fn fresh(made: Made, now: Instant) -> bool {
    now.saturating_duration_since(made) <= SNAPSHOT_TTL
}

/// Priority orders kept: scans of one universe with one set of settings at a time need one.
const ORDERS_KEPT: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct SnapshotCache {
    symbols: Mutex<HashMap<SymbolKey, (Made, SymbolCell)>>,
    universes: Mutex<HashMap<UniverseKey, (Made, UniverseSnapshots)>>,
    /// The newest last. Ordering 500 symbols takes 0.2 ms, which fifty scans starting at once on
    /// a busy server spend on the cores that also answer their requests.
    orders: Mutex<VecDeque<KeptOrder>>,
}

/// A priority order and what it was computed from. The snapshots and the learned histories are
/// matched by identity (the very list, the very copy: both are shared, never changed in place)
/// through `Weak`s, which keep the address from being reused while they live but keep nothing
/// else alive; the sectors by value, since a universe file can change a sector under the same
/// symbols.
#[derive(Debug)]
struct KeptOrder {
    snapshots: Weak<[Option<Snapshot>]>,
    learned: Weak<Learned>,
    diversity: bool,
    model: RatingModel,
    sectors: Vec<Option<String>>,
    ranked: Arc<[Ranked]>,
}

impl KeptOrder {
    fn is_for(
        &self,
        snapshots: &UniverseSnapshots,
        learned: &Arc<Learned>,
        diversity: bool,
        model: RatingModel,
        universe: &[SymbolInfo],
    ) -> bool {
        self.diversity == diversity
            && self.model == model
            && Weak::ptr_eq(&self.snapshots, &Arc::downgrade(snapshots))
            && Weak::ptr_eq(&self.learned, &Arc::downgrade(learned))
            && self.sectors.len() == universe.len()
            && self
                .sectors
                .iter()
                .zip(universe)
                .all(|(kept, info)| *kept == info.sector)
    }
}

impl SnapshotCache {
    /// `now` is the scanner's clock's: every method takes it so the TTL is the caller's time.
    pub(crate) fn symbol(
        &self,
        symbol: &str,
        as_of: Option<NaiveDate>,
        now: Instant,
    ) -> SymbolCell {
        let mut symbols = self.symbols.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = symbols
            .entry((symbol.to_owned(), as_of))
            .or_insert_with(|| (now, Arc::default()));
        if !fresh(entry.0, now) {
            *entry = (now, Arc::default());
        }
        Arc::clone(&entry.1)
    }

    /// The universe's snapshots if a scan of the same symbols took them within the TTL.
    pub(crate) fn universe(
        &self,
        symbols: Vec<String>,
        as_of: Option<NaiveDate>,
        now: Instant,
    ) -> Option<UniverseSnapshots> {
        let universes = self
            .universes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        universes
            .get(&(symbols, as_of))
            .filter(|(made, _)| fresh(*made, now))
            .map(|(_, snapshots)| Arc::clone(snapshots))
    }

    /// The priority order of `universe` from these snapshots, these histories and this setting,
    /// if a scan computed it and it is still kept.
    pub(crate) fn order(
        &self,
        snapshots: &UniverseSnapshots,
        learned: &Arc<Learned>,
        diversity: bool,
        model: RatingModel,
        universe: &[SymbolInfo],
    ) -> Option<Arc<[Ranked]>> {
        self.orders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .rev()
            .find(|kept| kept.is_for(snapshots, learned, diversity, model, universe))
            .map(|kept| Arc::clone(&kept.ranked))
    }

    /// Keeps an order for [`Self::order`], dropping the oldest beyond [`ORDERS_KEPT`].
    pub(crate) fn keep_order(
        &self,
        snapshots: &UniverseSnapshots,
        learned: &Arc<Learned>,
        diversity: bool,
        model: RatingModel,
        universe: &[SymbolInfo],
        ranked: Arc<[Ranked]>,
    ) {
        let mut orders = self.orders.lock().unwrap_or_else(PoisonError::into_inner);
        if orders.len() >= ORDERS_KEPT {
            orders.pop_front();
        }
        orders.push_back(KeptOrder {
            snapshots: Arc::downgrade(snapshots),
            learned: Arc::downgrade(learned),
            diversity,
            model,
            sectors: universe.iter().map(|info| info.sector.clone()).collect(),
            ranked,
        });
    }

    /// Keeps a complete snapshot stage's list (never a partial one from a stopped scan), and drops
    /// what has expired, so a long-running server (or a replay over many dates) stays bounded.
    pub(crate) fn keep_universe(
        &self,
        symbols: Vec<String>,
        as_of: Option<NaiveDate>,
        snapshots: UniverseSnapshots,
        now: Instant,
    ) {
        let mut universes = self
            .universes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        universes.retain(|_, (made, _)| fresh(*made, now));
        universes.insert((symbols, as_of), (now, snapshots));
        drop(universes);
        self.symbols
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (made, _)| fresh(*made, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_universe_is_found_for_the_same_symbols_and_date_only() {
        let cache = SnapshotCache::default();
        let now = Instant::now();
        let symbols = vec![String::from("A"), String::from("B")];
        assert!(cache.universe(symbols.clone(), None, now).is_none());
        cache.keep_universe(symbols.clone(), None, Arc::from(vec![None, None]), now);
        assert_eq!(
            cache.universe(symbols.clone(), None, now).map(|s| s.len()),
            Some(2)
        );
        let date = NaiveDate::from_ymd_opt(2020, 1, 2);
        assert!(cache.universe(symbols, date, now).is_none());
        assert!(cache.universe(vec![String::from("A")], None, now).is_none());
    }

    #[test]
    fn a_kept_universe_lives_for_the_ttl_and_is_dropped_after() {
        let cache = SnapshotCache::default();
        let made = Instant::now();
        let symbols = vec![String::from("A")];
        cache.keep_universe(symbols.clone(), None, Arc::from(vec![None]), made);
        let last_moment = made + SNAPSHOT_TTL;
        assert!(cache.universe(symbols.clone(), None, last_moment).is_some());
        let expired = last_moment + Duration::from_millis(1);
        assert!(cache.universe(symbols.clone(), None, expired).is_none());
        // Keeping another universe drops the expired one for good, even for an earlier reader.
        cache.keep_universe(
            vec![String::from("B")],
            None,
            Arc::from(vec![None]),
            expired,
        );
        assert!(cache.universe(symbols, None, made).is_none());
    }

    #[test]
    fn an_order_is_reused_only_for_the_same_snapshots_histories_setting_and_sectors() {
        const S: RatingModel = RatingModel::Standard;
        let cache = SnapshotCache::default();
        let info = |symbol: &str, sector: &str| SymbolInfo {
            sector: Some(sector.to_owned()),
            ..SymbolInfo::new(symbol)
        };
        let universe = vec![info("A", "Energy"), info("B", "Utilities")];
        let snapshots: UniverseSnapshots = Arc::from(vec![None, None]);
        let learned = Arc::new(Learned::default());
        let ranked: Arc<[Ranked]> = Arc::from(Vec::new());
        cache.keep_order(
            &snapshots,
            &learned,
            true,
            S,
            &universe,
            Arc::clone(&ranked),
        );
        let found = cache.order(&snapshots, &learned, true, S, &universe);
        assert!(found.is_some_and(|found| Arc::ptr_eq(&found, &ranked)));

        assert!(
            cache
                .order(&snapshots, &learned, false, S, &universe)
                .is_none()
        );
        let same_values: UniverseSnapshots = Arc::from(vec![None, None]);
        assert!(
            cache
                .order(&same_values, &learned, true, S, &universe)
                .is_none()
        );
        let other_learned = Arc::new(Learned::default());
        assert!(
            cache
                .order(&snapshots, &other_learned, true, S, &universe)
                .is_none()
        );
        assert!(
            cache
                .order(&snapshots, &learned, true, RatingModel::Classic, &universe)
                .is_none(),
            "an order for another rating is another order"
        );
        let moved = vec![info("A", "Energy"), info("B", "Materials")];
        assert!(cache.order(&snapshots, &learned, true, S, &moved).is_none());
        // Histories changed since (a record applied): a new copy, so a new order.
        let mut learned = learned;
        Arc::make_mut(&mut learned)
            .histories
            .insert("A".into(), Default::default());
        assert!(
            cache
                .order(&snapshots, &learned, true, S, &universe)
                .is_none()
        );
    }

    #[test]
    fn a_symbol_cell_is_shared_until_filled_and_reused() {
        let cache = SnapshotCache::default();
        let now = Instant::now();
        let first = cache.symbol("A", None, now);
        let second = cache.symbol("A", None, now + SNAPSHOT_TTL);
        assert!(Arc::ptr_eq(&first, &second));
        assert!(!Arc::ptr_eq(&first, &cache.symbol("B", None, now)));
        let expired = now + SNAPSHOT_TTL + Duration::from_millis(1);
        let fresh = cache.symbol("A", None, expired);
        assert!(
            !Arc::ptr_eq(&first, &fresh),
            "an expired cell is made again"
        );
        assert!(Arc::ptr_eq(&fresh, &cache.symbol("A", None, expired)));
    }
}
