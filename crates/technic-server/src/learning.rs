//! What earlier scans learned, kept in memory between scans, and what they learn, written to the
//! store behind them.
//!
//! Reading it from the store at every scan start made `POST /scan/start` wait for a read of the
//! whole symbol history (500 rows and the alpha reference): with fifty scans starting at once
//! through the pool's four connections, the answer took 90–100 ms (p50) instead of 7–27 ms. Now
//! the store is read when the server starts serving and every [`REREAD_AFTER`] after, in the
//! background (scans that start before the first read ends wait for it), for what other processes
//! record (another server on the same PostgreSQL, `technic scan` on the same SQLite file); each
//! scan this server records is applied to the copy once committed.
//!
//! Invariant: a read and a record (its write and its apply) never overlap, so the copy never
//! counts a record twice or misses one. A record that fails part way (was it committed?) leaves
//! the copy as it was until the next read says.
//!
//! Scans hand what they learned to one writer task rather than wait on their thread for the
//! store: records are written one at a time in the order scans finished, and at most
//! [`MAX_PENDING_RECORDS`] wait (a scan that finds the queue full waits for room and counts as
//! running meanwhile, so a store that is down holds scans, not memory). Shutdown waits for the
//! queue to empty, within the time it gives streams to end.
//!
//! Details: a read and a record are serialised by one async lock, and each is given 15 s. If the
//! first read fails, scans go without history until a read succeeds. The alpha reference is handed
//! out only while its scan is less than a day old. Records are written one at a time because SQLite
//! would make concurrent writers nap in its busy handler. Records left when the shutdown's 10 s run
//! out are logged as not saved.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use technic_data::clock::Clock;
use technic_engine::{Learned, LearningUpdate};
use technic_learning::{Completion, LearningStore, Remembered, StoreError, is_fresh};

/// How old the last completed scan's alpha distribution may be and still score streamed results.
const ALPHA_REFERENCE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// How often the store is read again: what other processes record reaches this server's scans at
/// most this late (and the read's own time); a store that was down is tried again this often.
pub(crate) const REREAD_AFTER: Duration = Duration::from_secs(30);

/// Finished scans' records waiting for the store.
pub(crate) const MAX_PENDING_RECORDS: usize = 64;

/// The longest a read or a record may take. The pool's own timeout only bounds getting a
/// connection; a query on a connection whose server vanished could wait for the kernel's TCP
/// timeout, holding the lock every record waits on, and with it the finishing scans.
const STORE_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// A finished scan's record, queued for the writer.
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) scan_id: String,
    pub(crate) completion: Completion,
    pub(crate) update: LearningUpdate,
    pub(crate) finished_at: SystemTime,
}

#[derive(Debug)]
pub(crate) struct Learning {
    store: LearningStore,
    /// The copy scans get; `None` until a read succeeds.
    memory: Mutex<Option<Memory>>,
    /// Held by a read of the store and by a record from its write to its apply, so neither
    /// overlaps the other.
    exclusive: tokio::sync::Mutex<()>,
    /// Set once the first read has ended, however it ended: from then on a scan start never
    /// waits for the store, even while it is down.
    first_read_over: AtomicBool,
    /// Records queued or being written; shutdown waits for none.
    pending: AtomicUsize,
    /// The server's (its scanner's): the age of an alpha reference read from the store.
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Memory {
    learned: Arc<Learned>,
    /// When the scan that left `learned.alpha_reference` completed; `None` when there is none.
    reference_completed_at: Option<SystemTime>,
}

impl Learning {
    pub(crate) fn new(store: LearningStore, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            store,
            memory: Mutex::default(),
            exclusive: tokio::sync::Mutex::new(()),
            first_read_over: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            clock,
        })
    }

    pub(crate) fn store(&self) -> &LearningStore {
        &self.store
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Option<Memory>> {
        self.memory.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a scan starting at `now` should know. Only scans that start before the first read
    /// has ended wait for the store; if that read failed, scans run without history until a
    /// later read succeeds.
    pub(crate) async fn for_scan(&self, now: SystemTime) -> Arc<Learned> {
        if let Some(learned) = self.in_memory(now) {
            return learned;
        }
        if !self.first_read_over.load(Ordering::SeqCst) {
            let exclusive = self.exclusive.lock().await;
            if !self.first_read_over.load(Ordering::SeqCst) {
                self.read().await;
            }
            drop(exclusive);
        }
        // A failure was logged by `read`; a scan without history is only less well ordered.
        self.in_memory(now).unwrap_or_default()
    }

    /// Reads the store again (every [`REREAD_AFTER`], from the server's background task).
    pub(crate) async fn refresh(&self) {
        let _exclusive = self.exclusive.lock().await;
        self.read().await;
    }

    /// The copy in memory, less an alpha reference that has grown too old.
    fn in_memory(&self, now: SystemTime) -> Option<Arc<Learned>> {
        let mut memory = self.memory();
        let memory = memory.as_mut()?;
        if memory
            .reference_completed_at
            .is_some_and(|completed| !is_fresh(completed, ALPHA_REFERENCE_MAX_AGE, now))
        {
            Arc::make_mut(&mut memory.learned).alpha_reference = None;
            memory.reference_completed_at = None;
        }
        Some(Arc::clone(&memory.learned))
    }

    /// Replaces the copy with what the store holds. Called with `exclusive` held.
    async fn read(&self) {
        let read = tokio::time::timeout(
            STORE_CALL_TIMEOUT,
            self.store
                .remembered(ALPHA_REFERENCE_MAX_AGE, self.clock.wall()),
        )
        .await;
        self.first_read_over.store(true, Ordering::SeqCst);
        match read {
            Ok(Ok(Remembered {
                learned,
                reference_completed_at,
            })) => {
                let reference_completed_at =
                    reference_completed_at.filter(|_| learned.alpha_reference.is_some());
                *self.memory() = Some(Memory {
                    learned: Arc::new(learned),
                    reference_completed_at,
                });
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not read what earlier scans learned; scans use what this server had, if anything");
            }
            Err(_) => {
                tracing::warn!(timeout = ?STORE_CALL_TIMEOUT, "reading what earlier scans learned timed out; scans use what this server had, if anything");
            }
        }
    }

    /// Records a finished scan in the store and, once committed, in memory. `Ok(false)`: this scan
    /// id was recorded before, and nothing changed.
    pub(crate) async fn record(&self, record: &Record) -> Result<bool, RecordError> {
        let _exclusive = self.exclusive.lock().await;
        let recorded = tokio::time::timeout(
            STORE_CALL_TIMEOUT,
            self.store.record(
                &record.scan_id,
                record.completion,
                &record.update,
                record.finished_at,
            ),
        )
        .await
        .map_err(|_| RecordError::TimedOut(STORE_CALL_TIMEOUT))
        .and_then(|recorded| recorded.map_err(RecordError::Store));
        if let (Ok(true), Some(memory)) = (&recorded, &mut *self.memory()) {
            Arc::make_mut(&mut memory.learned).apply(&record.update);
            if record.update.alpha_reference.is_some() {
                memory.reference_completed_at = Some(record.finished_at);
            }
        }
        recorded
    }

    /// Counts a record handed to the writer; [`Self::written`] when it is done with.
    pub(crate) fn queued(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn written(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }

    /// Records queued or being written.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// The writer: records what scans hand it, in order, until every sender is gone. A record
    /// that panics is logged and the next one written: one bad record must not stop the rest.
    pub(crate) async fn write_records(
        self: Arc<Self>,
        mut records: tokio::sync::mpsc::Receiver<Record>,
    ) {
        while let Some(record) = records.recv().await {
            let written = std::panic::AssertUnwindSafe(self.record(&record))
                .catch_unwind()
                .await;
            match written {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(scan_id = %record.scan_id, error = %e, "could not save what the scan learned");
                }
                Err(_) => {
                    tracing::error!(scan_id = %record.scan_id, "saving what the scan learned panicked");
                }
            }
            self.written();
        }
    }
}

/// Why a record was not saved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the learning store did not answer within {0:?}")]
    TimedOut(Duration),
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

    fn scanned(scan_id: &str, symbol: &str, tech_rating: f64) -> Record {
        Record {
            scan_id: scan_id.to_owned(),
            completion: Completion::Stopped,
            update: LearningUpdate {
                outcomes: vec![SymbolOutcome {
                    symbol: symbol.to_owned(),
                    tech_rating,
                    high_quality: true,
                    date: "2025-01-02".to_owned(),
                    signal: technic_core::Signal::Buy,
                    alpha_score: None,
                }],
                ..LearningUpdate::default()
            },
            finished_at: SystemTime::now(),
        }
    }

    fn scans_of(learned: &Arc<Learned>, symbol: &str) -> u32 {
        learned.histories.get(symbol).map_or(0, |h| h.scans)
    }

    #[tokio::test]
    async fn what_this_server_records_is_known_at_once_and_other_writers_after_a_read() {
        let (_home, store) = sqlite().await;
        let learning = Learning::new(store.clone(), technic_data::clock::system());
        let now = SystemTime::now();
        assert!(learning.for_scan(now).await.histories.is_empty());

        let mine = scanned("mine", "AAA", 60.0);
        assert!(learning.record(&mine).await.expect("record"));
        let learned = learning.for_scan(now).await;
        assert_eq!(
            scans_of(&learned, "AAA"),
            1,
            "applied in memory once committed"
        );

        // Another process records into the same store: seen after the next read, and this
        // server's own record is counted once, not again.
        let theirs = scanned("theirs", "AAA", 70.0);
        store
            .record("theirs", theirs.completion, &theirs.update, now)
            .await
            .expect("record");
        assert_eq!(scans_of(&learning.for_scan(now).await, "AAA"), 1);
        learning.refresh().await;
        let learned = learning.for_scan(now).await;
        assert_eq!(scans_of(&learned, "AAA"), 2);
        assert_eq!(
            learned.histories,
            store.load(DAY, now).await.expect("load").histories
        );
        assert_eq!(learned.histories["AAA"].last_rating, Some(70.0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_and_records_at_once_leave_memory_as_the_store() {
        let (_home, store) = sqlite().await;
        let learning = Learning::new(store.clone(), technic_data::clock::system());
        let now = SystemTime::now();
        learning.for_scan(now).await;
        let writer = {
            let learning = Arc::clone(&learning);
            tokio::spawn(async move {
                for i in 0..100 {
                    let record = scanned(&format!("scan-{i}"), "AAA", f64::from(i));
                    assert!(learning.record(&record).await.expect("record"));
                }
            })
        };
        // Reads as fast as they go while the records are written: a read between a record's
        // commit and its apply would count it twice.
        while !writer.is_finished() {
            learning.refresh().await;
        }
        writer.await.expect("writer");
        let learned = learning.for_scan(now).await;
        assert_eq!(scans_of(&learned, "AAA"), 100);
        assert_eq!(
            learned.histories,
            store.load(DAY, now).await.expect("load").histories
        );
    }

    #[tokio::test]
    async fn the_writer_saves_every_queued_record_in_order() {
        let (_home, store) = sqlite().await;
        let learning = Learning::new(store.clone(), technic_data::clock::system());
        let (records, queue) = tokio::sync::mpsc::channel(MAX_PENDING_RECORDS);
        let writer = tokio::spawn(Arc::clone(&learning).write_records(queue));
        for (i, rating) in [10.0, 20.0, 30.0].into_iter().enumerate() {
            learning.queued();
            records
                .send(scanned(&format!("scan-{i}"), "AAA", rating))
                .await
                .expect("queued");
        }
        drop(records);
        writer.await.expect("writer");
        assert_eq!(learning.pending(), 0);
        let stored = store.load(DAY, SystemTime::now()).await.expect("load");
        assert_eq!(stored.histories["AAA"].scans, 3);
        assert_eq!(stored.histories["AAA"].last_rating, Some(30.0), "in order");
    }

    #[tokio::test]
    async fn once_the_first_read_has_failed_scans_start_without_waiting_for_the_store() {
        let (home, store) = sqlite().await;
        // The database file is overwritten under the open store: every read now fails.
        std::fs::write(home.path().join("technic.db"), vec![0x5a_u8; 8192]).expect("overwrite");
        let learning = Learning::new(store, technic_data::clock::system());
        let now = SystemTime::now();
        assert!(learning.for_scan(now).await.histories.is_empty());
        // A record or a read under way (here the test holds their lock) holds no scan start.
        let busy = learning.exclusive.lock().await;
        let learned = tokio::time::timeout(Duration::from_secs(10), learning.for_scan(now))
            .await
            .expect("a scan start waited for the store");
        assert!(learned.histories.is_empty());
        drop(busy);
    }

    #[tokio::test]
    async fn an_alpha_reference_is_handed_out_only_while_fresh() {
        let (_home, store) = sqlite().await;
        let learning = Learning::new(store, technic_data::clock::system());
        let completed = SystemTime::now();
        learning.for_scan(completed).await;
        let mut record = scanned("completed", "AAA", 60.0);
        record.completion = Completion::Completed;
        record.update.alpha_reference = Some(AlphaReference::from_universe(&[]));
        record.finished_at = completed;
        learning.record(&record).await.expect("record");
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
