//! What earlier scans learned, kept in memory between scans.
//!
//! Reading it from the store at every scan start made `POST /scan/start` wait for a read of the
//! whole symbol history (500 rows and the alpha reference): with fifty scans starting at once
//! through the pool's four connections, the answer took 90–100 ms (p50) instead of 7–27 ms. Now
//! the store is read once; every scan this server records is applied to the copy in memory once
//! it is committed, so the copy is what the store holds when this server is its only writer; and
//! it is read again in the background when older than [`REREAD_AFTER`], for writers elsewhere
//! (another server on the same PostgreSQL, `technic scan` on the same SQLite file).
//!
//! Invariant: the copy never counts a recorded scan twice or misses one of this server's. A read
//! that overlapped one of this server's records may or may not hold it, so it is not taken (the
//! copy in memory already has that record); the next read past `REREAD_AFTER` tries again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use technic_engine::{Learned, LearningUpdate};
use technic_store::{Completion, LearningStore, Remembered, StoreError, is_fresh};

/// How old the last completed scan's alpha distribution may be and still score streamed results.
pub(crate) const ALPHA_REFERENCE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How long the copy in memory goes without a read of the store: what other writers recorded
/// reaches this server's scans' priority order at most this late.
pub(crate) const REREAD_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct Learning {
    store: LearningStore,
    /// [`REREAD_AFTER`], shorter in tests.
    reread_after: Duration,
    state: Mutex<State>,
    /// Held by the one read of the store under way: scans that find nothing in memory wait for
    /// it rather than each reading, and background reads never pile up.
    reading: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Default)]
struct State {
    /// `None` until a read succeeds.
    memory: Option<Memory>,
    /// Records begun, ever: a read during which this changed may have missed one.
    records_begun: u64,
    records_in_flight: u64,
}

#[derive(Debug)]
struct Memory {
    learned: Arc<Learned>,
    /// When the scan that left `learned.alpha_reference` completed; `None` when there is none.
    reference_completed_at: Option<SystemTime>,
    read_again_after: Instant,
}

impl Learning {
    pub(crate) fn new(store: LearningStore) -> Arc<Self> {
        Arc::new(Self {
            store,
            reread_after: REREAD_AFTER,
            state: Mutex::default(),
            reading: Arc::default(),
        })
    }

    pub(crate) fn store(&self) -> &LearningStore {
        &self.store
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a scan starting at `now` should know. Waits for the store only the first time; after
    /// that a stale copy is handed out while a background read refreshes it.
    pub(crate) async fn for_scan(self: &Arc<Self>, now: SystemTime) -> Arc<Learned> {
        if let Some((learned, stale)) = self.in_memory(now) {
            if stale && let Ok(reading) = Arc::clone(&self.reading).try_lock_owned() {
                let learning = Arc::clone(self);
                tokio::spawn(async move {
                    learning.read().await;
                    drop(reading);
                });
            }
            return learned;
        }
        let reading = self.reading.lock().await;
        if self.in_memory(now).is_none() {
            self.read().await;
        }
        drop(reading);
        self.in_memory(now).map_or_else(
            // Logged by `read`; a scan without history is only less well ordered.
            || Arc::new(Learned::default()),
            |(learned, _)| learned,
        )
    }

    /// The copy in memory, less an alpha reference that has grown too old, and whether it is due
    /// for a read.
    fn in_memory(&self, now: SystemTime) -> Option<(Arc<Learned>, bool)> {
        let mut state = self.state();
        let memory = state.memory.as_mut()?;
        if memory
            .reference_completed_at
            .is_some_and(|completed| !is_fresh(completed, ALPHA_REFERENCE_MAX_AGE, now))
        {
            Arc::make_mut(&mut memory.learned).alpha_reference = None;
            memory.reference_completed_at = None;
        }
        Some((
            Arc::clone(&memory.learned),
            Instant::now() >= memory.read_again_after,
        ))
    }

    /// Reads the store into memory, unless one of this server's records overlapped the read.
    /// Called with [`Self::reading`] held: one read at a time.
    async fn read(&self) {
        let (begun, in_flight) = {
            let state = self.state();
            (state.records_begun, state.records_in_flight)
        };
        let read = self.store.remembered().await;
        let mut state = self.state();
        let overlapped = in_flight > 0 || state.records_begun != begun;
        let read_again_after = Instant::now() + self.reread_after;
        match read {
            Ok(Remembered {
                learned,
                reference_completed_at,
            }) if !overlapped || state.memory.is_none() => {
                let reference_completed_at =
                    reference_completed_at.filter(|_| learned.alpha_reference.is_some());
                // A first read that overlapped a record is taken all the same (there is nothing
                // better) but read again at the next scan.
                let read_again_after = if overlapped {
                    Instant::now()
                } else {
                    read_again_after
                };
                state.memory = Some(Memory {
                    learned: Arc::new(learned),
                    reference_completed_at,
                    read_again_after,
                });
            }
            Ok(_) => {
                if let Some(memory) = &mut state.memory {
                    memory.read_again_after = read_again_after;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read what earlier scans learned; scans use what this server has in memory, if anything");
                if let Some(memory) = &mut state.memory {
                    memory.read_again_after = read_again_after;
                }
            }
        }
    }

    /// Records a finished scan in the store and, once committed, in memory. `Ok(false)`: this scan
    /// id was recorded before, and nothing changed.
    pub(crate) async fn record(
        &self,
        scan_id: &str,
        completion: Completion,
        update: &LearningUpdate,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let in_flight = InFlight::begin(self);
        let recorded = self.store.record(scan_id, completion, update, now).await;
        let mut state = in_flight.end();
        if let (Ok(true), Some(memory)) = (&recorded, &mut state.memory) {
            Arc::make_mut(&mut memory.learned).apply(update);
            if update.alpha_reference.is_some() {
                memory.reference_completed_at = Some(now);
            }
        }
        recorded
    }
}

/// Counts a record as under way until it ends, even if its future is dropped part way (then it
/// may or may not have been committed, and a read is the only way to know).
struct InFlight<'a> {
    learning: &'a Learning,
    ended: bool,
}

impl<'a> InFlight<'a> {
    fn begin(learning: &'a Learning) -> Self {
        let mut state = learning.state();
        state.records_begun += 1;
        state.records_in_flight += 1;
        Self {
            learning,
            ended: false,
        }
    }

    fn end(mut self) -> std::sync::MutexGuard<'a, State> {
        self.ended = true;
        let mut state = self.learning.state();
        state.records_in_flight -= 1;
        state
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.ended {
            let mut state = self.learning.state();
            state.records_in_flight -= 1;
            // Whether it was committed is unknown: the next scan reads the store.
            if let Some(memory) = &mut state.memory {
                memory.read_again_after = Instant::now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use technic_core::alpha::AlphaReference;
    use technic_engine::SymbolOutcome;

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    async fn sqlite() -> (tempfile::TempDir, LearningStore) {
        let home = tempfile::tempdir().expect("temporary home");
        let store = LearningStore::open_in(home.path()).await.expect("store");
        (home, store)
    }

    fn scanned(symbol: &str, tech_rating: f64) -> LearningUpdate {
        LearningUpdate {
            outcomes: vec![SymbolOutcome {
                symbol: symbol.to_owned(),
                tech_rating,
                high_quality: true,
                date: "2025-01-02".to_owned(),
            }],
            ..LearningUpdate::default()
        }
    }

    fn scans_of(learned: &Arc<Learned>, symbol: &str) -> u32 {
        learned.histories.get(symbol).map_or(0, |h| h.scans)
    }

    #[tokio::test]
    async fn what_this_server_records_is_known_at_once_and_other_writers_after_a_read() {
        let (_home, store) = sqlite().await;
        let mut learning = Learning::new(store.clone());
        Arc::get_mut(&mut learning)
            .expect("sole owner")
            .reread_after = Duration::from_millis(200);
        let now = SystemTime::now();
        assert!(learning.for_scan(now).await.histories.is_empty());

        assert!(
            learning
                .record("mine", Completion::Stopped, &scanned("AAA", 60.0), now)
                .await
                .expect("record")
        );
        let learned = learning.for_scan(now).await;
        assert_eq!(
            scans_of(&learned, "AAA"),
            1,
            "applied in memory once committed"
        );

        // Another process records into the same store: seen only after a read, and this
        // server's own record is counted once, not again.
        store
            .record("theirs", Completion::Stopped, &scanned("AAA", 70.0), now)
            .await
            .expect("record");
        assert_eq!(scans_of(&learning.for_scan(now).await, "AAA"), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        // Stale: this scan gets the copy as it is, and a read starts behind it.
        assert_eq!(scans_of(&learning.for_scan(now).await, "AAA"), 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while scans_of(&learning.for_scan(now).await, "AAA") != 2 {
            assert!(
                Instant::now() < deadline,
                "the other writer's record never arrived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let learned = learning.for_scan(now).await;
        assert_eq!(
            learned.histories,
            store.load(DAY, now).await.expect("load").histories
        );
        assert_eq!(learned.histories["AAA"].last_rating, Some(70.0));
    }

    #[tokio::test]
    async fn a_read_that_overlaps_a_record_is_not_taken() {
        let (_home, store) = sqlite().await;
        let learning = Learning::new(store.clone());
        let now = SystemTime::now();
        assert!(learning.for_scan(now).await.histories.is_empty());

        // A record committed while the read runs: the read may or may not hold it, so the copy
        // in memory (which the record's end updates) is kept.
        let in_flight = InFlight::begin(&learning);
        store
            .record("mine", Completion::Stopped, &scanned("AAA", 60.0), now)
            .await
            .expect("record");
        learning.read().await;
        assert_eq!(scans_of(&learning.for_scan(now).await, "AAA"), 0);
        // Its future dropped before it could say whether it committed: the next read decides.
        drop(in_flight);
        assert!(
            learning.in_memory(now).expect("in memory").1,
            "due for a read"
        );
        learning.read().await;
        assert_eq!(scans_of(&learning.for_scan(now).await, "AAA"), 1);
    }

    #[tokio::test]
    async fn an_alpha_reference_is_handed_out_only_while_fresh() {
        let (_home, store) = sqlite().await;
        let learning = Learning::new(store);
        let completed = SystemTime::now();
        learning.for_scan(completed).await;
        let update = LearningUpdate {
            alpha_reference: Some(AlphaReference::from_universe(&[])),
            ..scanned("AAA", 60.0)
        };
        learning
            .record("completed", Completion::Completed, &update, completed)
            .await
            .expect("record");
        assert!(
            learning
                .for_scan(completed + DAY / 2)
                .await
                .alpha_reference
                .is_some()
        );
        let expired = learning.for_scan(completed + DAY).await;
        assert!(expired.alpha_reference.is_none());
        assert_eq!(scans_of(&expired, "AAA"), 1, "the histories stay");
    }
}
