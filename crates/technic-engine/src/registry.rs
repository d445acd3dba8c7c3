//! The registry of scans: starts each on a thread of its own (kept for later scans), keeps its
//! log, stop handle and latest progress where any request can find them, and forgets finished
//! scans after a retention time.
//!
//! Retention: finished scans are dropped after the retention time, and the oldest first beyond a
//! count and beyond a byte bound, as a scan starts and as each ends; the newest finished scan is
//! always kept. A finished scan's size is an estimate (`retained_size`): its log's JSON twice (text
//! and structure) plus its report's encoding. `retained()` reports both, for the server's
//! `/metrics`. On shutdown the registry stops its scans and refuses new ones.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use technic_core::progress::ProgressSnapshot;
use technic_core::termination::StopReason;

use crate::learning::Learned;
use crate::request::ValidScan;
use crate::runners::{Job, Runners};
use crate::scan::{Clock, ScanOptions, ScanOutcome, Scanner, StopHandle, new_scan_id};
use crate::stream::EventLog;

/// Called once when a scan ends, on the scan's thread: with its outcome (e.g. to record what it
/// learned), or with why it failed (e.g. to count failures).
pub type OnFinish = Arc<dyn Fn(Result<&ScanOutcome, &str>) + Send + Sync>;

/// One scan, running or finished.
#[derive(Debug)]
pub struct ScanEntry {
    pub scan_id: String,
    pub request: ValidScan,
    /// Every message of the scan; readers subscribe to it.
    pub log: Arc<EventLog>,
    pub stop: StopHandle,
    /// The scanner's: its age and the end that retention counts from are read from it.
    pub(crate) clock: Arc<dyn Clock>,
    started: Instant,
    /// The newest progress snapshot, for polling clients.
    progress: Mutex<Option<ProgressSnapshot>>,
    /// Set when the scan ends: its outcome, or why it failed.
    outcome: Mutex<Option<Result<Arc<ScanOutcome>, String>>>,
    finished_at: Mutex<Option<Instant>>,
    /// The estimate of what the finished scan keeps in memory (see `retained_size`); 0 while it runs.
    retained_bytes: AtomicU64,
    /// Its log is copied from Redis (`technic serve --distributed`): planned by another replica,
    /// and stopped through Redis, or by this one (`planned_here`).
    followed: bool,
    /// Distributed, planned by this replica: one of its running scans, whose clients read it as
    /// Redis has it, as any other replica's do.
    planned_here: bool,
}

impl ScanEntry {
    pub(crate) fn new(
        scan_id: String,
        request: ValidScan,
        log: Arc<EventLog>,
        stop: StopHandle,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            scan_id,
            request,
            log,
            stop,
            started: clock.now(),
            clock,
            progress: Mutex::new(None),
            outcome: Mutex::new(None),
            finished_at: Mutex::new(None),
            retained_bytes: AtomicU64::new(0),
            followed: false,
            planned_here: false,
        }
    }

    pub fn is_followed(&self) -> bool {
        self.followed
    }

    pub(crate) fn set_progress(&self, snapshot: ProgressSnapshot) {
        *self.progress.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
    }

    pub(crate) fn finish_followed(&self, outcome: Result<Arc<ScanOutcome>, String>) {
        self.finish(outcome);
    }

    pub fn progress(&self) -> Option<ProgressSnapshot> {
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `None` while running.
    pub fn outcome(&self) -> Option<Result<Arc<ScanOutcome>, String>> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn is_finished(&self) -> bool {
        self.finished_when().is_some()
    }

    fn is_running_here(&self) -> bool {
        (!self.followed || self.planned_here) && !self.is_finished()
    }

    fn finished_when(&self) -> Option<Instant> {
        *self
            .finished_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn age(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.started)
    }

    /// What the finished scan is estimated to keep in memory (its log and report); 0 while it runs.
    pub fn retained_bytes(&self) -> u64 {
        self.retained_bytes.load(Ordering::SeqCst)
    }

    /// Records the outcome and the end; from then on the scan counts as retained.
    fn finish(&self, outcome: Result<Arc<ScanOutcome>, String>) {
        let bytes = retained_size(&self.log, outcome.as_ref().ok().map(|o| &o.report));
        self.retained_bytes.store(bytes, Ordering::SeqCst);
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
        *self
            .finished_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(self.clock.now());
    }
}

/// What a scan's thread needs to run it to the end and record how it ended.
struct ScanJob {
    scanner: Arc<Scanner>,
    request: ValidScan,
    options: ScanOptions,
    running: Arc<ScanEntry>,
    on_finish: Option<OnFinish>,
    all_scans: Arc<Mutex<ScanMap>>,
    bounds: RetentionBounds,
}

impl ScanJob {
    fn run_to_end(self) {
        let running = &self.running;
        let observer = |snapshot: &ProgressSnapshot| {
            *running
                .progress
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.scanner
                .execute(&self.request, self.options, &running.log, &observer)
        }));
        let outcome = match result {
            Ok(Ok(outcome)) => Ok(Arc::new(outcome)),
            Ok(Err(e)) => {
                tracing::error!(scan_id = %running.scan_id, error = %e, "scan failed");
                Err(e.public_message())
            }
            Err(_) => {
                tracing::error!(scan_id = %running.scan_id, "scan panicked");
                Err("the scan ended unexpectedly (internal error)".to_owned())
            }
        };
        if let Some(on_finish) = &self.on_finish {
            on_finish(outcome.as_deref().map_err(String::as_str));
        }
        // Under the map's lock, so that whoever sees this scan finished (`retained`, `get`) also
        // sees what its end dropped.
        let mut scans = self
            .all_scans
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        running.finish(outcome);
        drop_beyond(&mut scans, self.bounds);
    }
}

/// What to do when no thread can run the scan: it cannot run; that is recorded rather than the
/// scan left "running" forever.
fn could_not_start(
    entry: Arc<ScanEntry>,
    on_finish: Option<OnFinish>,
) -> impl FnOnce(std::io::Error) + Send + 'static {
    move |e: std::io::Error| {
        tracing::error!(scan_id = %entry.scan_id, error = %e, "no thread for a scan");
        let message = "could not start the scan (internal error)";
        if let Some(on_finish) = &on_finish {
            on_finish(Err(message));
        }
        entry.finish(Err(message.to_owned()));
        entry.log.append(
            crate::stream::Payload::Error {
                message: message.to_owned(),
            },
            entry.clock.utc(),
        );
    }
}

/// An estimate of what a finished scan keeps: each message of its log twice (its JSON text, kept
/// for subscribers, and the structure it was encoded from, of about the same size), and its report
/// three times its encoding (the structures, a string allocation per field, and what the outcome
/// keeps beside it for learning). The report is sized by encoding it, once, when the scan ends.
/// Calibrated on a server (debug build): six retained scans of 20,000 unknown symbols grew its
/// resident memory by about 7 MB each after the first (which also warms the server up), and this
/// says 8 MB for each.
fn retained_size(log: &EventLog, report: Option<&crate::ScanReport>) -> u64 {
    let log_text: usize = log.after(0).iter().map(|m| m.to_json().len()).sum();
    let report_text = report.map_or(0, |report| {
        let mut counter = ByteCounter(0);
        // Writing to a counter cannot fail; a report that cannot be encoded counts as empty.
        let _encoded = serde_json::to_writer(&mut counter, report);
        counter.0
    });
    u64::try_from(2 * log_text + 3 * report_text).unwrap_or(u64::MAX)
}

/// Counts what is written to it: the size of an encoding without keeping it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the finished scans kept take: how many, and the estimate of their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retained {
    pub scans: usize,
    pub bytes: u64,
}

/// The bounds on finished scans kept, besides the retention time.
#[derive(Debug, Clone, Copy)]
struct RetentionBounds {
    scans: usize,
    bytes: u64,
}

type ScanMap = HashMap<String, Arc<ScanEntry>>;

/// Drops the oldest finished scans while more than `bounds.scans` are kept, or while they take
/// more than `bounds.bytes`; the newest finished scan is kept whatever its size, so a scan that
/// has just ended can always be read. Returns how many were dropped.
fn drop_beyond(scans: &mut ScanMap, bounds: RetentionBounds) -> usize {
    let mut finished: Vec<(Instant, u64, String)> = scans
        .iter()
        .filter_map(|(id, e)| Some((e.finished_when()?, e.retained_bytes(), id.clone())))
        .collect();
    finished.sort_unstable();
    let mut count = finished.len();
    let mut bytes: u64 = finished.iter().map(|(_, b, _)| *b).sum();
    let mut dropped = 0;
    for (_, size, id) in &finished {
        let over = count > bounds.scans || (bytes > bounds.bytes && count > 1);
        if !over {
            break;
        }
        scans.remove(id);
        count -= 1;
        bytes -= size;
        dropped += 1;
    }
    dropped
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("no scan with id {0} (finished scans are kept for a while, then dropped)")]
    UnknownScan(String),
    #[error("scan {0} has already finished")]
    AlreadyFinished(String),
    #[error("the server is shutting down; no new scans start")]
    ShuttingDown,
    #[error("{0} scans are running, the most this server runs at once; retry when one has ended")]
    TooManyScans(usize),
}

/// How long a scan's thread waits for another scan before it ends: scans that follow one another
/// reuse it, and an idle server holds none. Not minutes: an idle thread keeps its stack and its
/// allocator's cache resident, and fifty kept for a minute held 25–60 MB after their scans were
/// dropped (load benchmark), where memory must return to its baseline.
const RUNNER_KEEP_IDLE: Duration = Duration::from_secs(5);

pub struct ScanRegistry {
    scanner: Arc<Scanner>,
    /// Shared with the scans' threads, which drop what is beyond the bounds when they end.
    scans: Arc<Mutex<ScanMap>>,
    /// How long a finished scan stays retrievable.
    retention: Duration,
    on_finish: Option<OnFinish>,
    /// Set by `stop_all`: from then on `start` refuses. Set and read with `scans` locked, so a
    /// scan is either in the map `stop_all` stops or refused; a request that was still on its way
    /// to `start` when shutdown began would otherwise start a scan nothing stops.
    closing: AtomicBool,
    /// Running scans at most; `start` refuses one more.
    max_running: usize,
    /// Finished scans kept at most, whatever their age, in number and in estimated bytes: `start`
    /// and each scan's end drop the oldest beyond either, so what is retained is bounded even when
    /// scans finish faster than the retention time passes, and however large each one is.
    bounds: RetentionBounds,
    /// The threads scans run on, kept between scans; `start` never makes one itself.
    runners: Runners,
}

impl std::fmt::Debug for ScanRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanRegistry")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl ScanRegistry {
    /// The scanner every scan of this registry runs on (and its market data).
    pub fn scanner(&self) -> &Arc<Scanner> {
        &self.scanner
    }

    /// Distributed (the scanner has a cluster), this replica also finishes the scans of
    /// replicas that died (`distributed/takeover.rs`).
    pub fn new(scanner: Arc<Scanner>, retention: Duration, on_finish: Option<OnFinish>) -> Self {
        if let Some(cluster) = scanner.cluster() {
            cluster.watch_planners(Arc::downgrade(&scanner));
        }
        Self {
            scanner,
            scans: Arc::default(),
            retention,
            on_finish,
            closing: AtomicBool::new(false),
            max_running: usize::MAX,
            bounds: RetentionBounds {
                scans: usize::MAX,
                bytes: u64::MAX,
            },
            runners: Runners::new("scan runner", RUNNER_KEEP_IDLE),
        }
    }

    /// At most `max` finished scans kept (the oldest dropped first), besides the retention time.
    #[must_use]
    pub fn with_max_retained(mut self, max: usize) -> Self {
        self.bounds.scans = max;
        self
    }

    /// At most `max` bytes (by each one's estimate: its log and report) of finished scans kept, the
    /// oldest dropped first; the newest finished scan is kept whatever its size.
    #[must_use]
    pub fn with_max_retained_bytes(mut self, max: u64) -> Self {
        self.bounds.bytes = max;
        self
    }

    /// How many finished scans are kept, and their estimated bytes.
    pub fn retained(&self) -> Retained {
        let scans = self.scans();
        scans
            .values()
            .filter(|e| e.is_finished())
            .fold(Retained::default(), |sum, e| Retained {
                scans: sum.scans + 1,
                bytes: sum.bytes.saturating_add(e.retained_bytes()),
            })
    }

    /// At most `max` scans running at once.
    #[must_use]
    pub fn with_max_running(mut self, max: usize) -> Self {
        self.max_running = max;
        self
    }

    fn scans(&self) -> std::sync::MutexGuard<'_, ScanMap> {
        self.scans.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a scan on a thread of its own and returns at once; refused once `stop_all` was called.
    pub fn start(
        &self,
        request: ValidScan,
        learned: Arc<Learned>,
    ) -> Result<Arc<ScanEntry>, RegistryError> {
        let options = ScanOptions {
            scan_id: new_scan_id(),
            learned,
            ..ScanOptions::default()
        };
        let (running, entry) = self.entries(&options, &request);
        self.admit(&entry)?;
        if let Some(cluster) = self.scanner.cluster() {
            cluster.publish(Arc::clone(&running));
            cluster.follow(Arc::clone(&entry));
        }
        let could_not_start = could_not_start(Arc::clone(&running), self.on_finish.clone());
        let job = ScanJob {
            scanner: Arc::clone(&self.scanner),
            request,
            options,
            running,
            on_finish: self.on_finish.clone(),
            all_scans: Arc::clone(&self.scans),
            bounds: self.bounds,
        };
        self.runners
            .run(Job::new(move || job.run_to_end(), could_not_start));
        Ok(entry)
    }

    /// The entry the scan runs in, and the one this registry keeps for clients: the same one,
    /// except distributed.
    fn entries(
        &self,
        options: &ScanOptions,
        request: &ValidScan,
    ) -> (Arc<ScanEntry>, Arc<ScanEntry>) {
        let scan_id = options.scan_id.clone();
        let running = Arc::new(ScanEntry::new(
            scan_id.clone(),
            request.clone(),
            EventLog::encoded_on_append(scan_id.clone()),
            options.stop.clone(),
            Arc::clone(self.scanner.clock()),
        ));
        // Distributed, this replica's clients read the scan as Redis has it, as every other
        // replica's do: whatever any client has seen is in Redis, so a replica that takes the
        // scan over when this one dies goes on from there without a gap or a repeat.
        let entry = match self.scanner.cluster() {
            Some(_) => Arc::new(ScanEntry {
                followed: true,
                planned_here: true,
                ..ScanEntry::new(
                    scan_id.clone(),
                    request.clone(),
                    EventLog::new(scan_id),
                    options.stop.clone(),
                    Arc::clone(self.scanner.clock()),
                )
            }),
            None => Arc::clone(&running),
        };
        (running, entry)
    }

    /// Puts `entry` in the map, unless the registry is closing or enough scans run already.
    fn admit(&self, entry: &Arc<ScanEntry>) -> Result<(), RegistryError> {
        let mut scans = self.scans();
        if self.closing.load(Ordering::SeqCst) {
            return Err(RegistryError::ShuttingDown);
        }
        // Counted under the same lock as the insert, so concurrent starts cannot both pass.
        if scans.values().filter(|e| e.is_running_here()).count() >= self.max_running {
            return Err(RegistryError::TooManyScans(self.max_running));
        }
        drop_beyond(&mut scans, self.bounds);
        scans.insert(entry.scan_id.clone(), Arc::clone(entry));
        Ok(())
    }

    /// A scan this server runs or already follows: never asks Redis.
    pub fn get_local(&self, scan_id: &str) -> Option<Arc<ScanEntry>> {
        self.scans().get(scan_id).cloned()
    }

    /// Whether `get`, `start` and `stop` may wait on Redis (the scanner has a cluster): an async
    /// caller runs them off its runtime's workers.
    pub fn is_distributed(&self) -> bool {
        self.scanner.cluster().is_some()
    }

    /// A scan of this server's, or, distributed, one another replica published (followed from
    /// then on). Distributed, this may ask Redis (one round trip on loopback or a LAN).
    pub fn get(&self, scan_id: &str) -> Result<Arc<ScanEntry>, RegistryError> {
        if let Some(entry) = self.scans().get(scan_id) {
            return Ok(Arc::clone(entry));
        }
        let unknown = || RegistryError::UnknownScan(scan_id.to_owned());
        let cluster = self.scanner.cluster().ok_or_else(unknown)?;
        let request = match cluster.published_request(scan_id) {
            Ok(Some(request)) => request,
            Ok(None) => return Err(unknown()),
            Err(e) => {
                tracing::warn!(scan_id, error = %e, "could not look a scan up in Redis");
                return Err(unknown());
            }
        };
        let entry = Arc::new(ScanEntry {
            followed: true,
            ..ScanEntry::new(
                scan_id.to_owned(),
                request,
                EventLog::new(scan_id),
                StopHandle::default(),
                Arc::clone(self.scanner.clock()),
            )
        });
        let mut scans = self.scans();
        // Another request may have started following it meanwhile: one copy per server.
        if let Some(entry) = scans.get(scan_id) {
            return Ok(Arc::clone(entry));
        }
        scans.insert(scan_id.to_owned(), Arc::clone(&entry));
        drop(scans);
        cluster.follow(Arc::clone(&entry));
        Ok(entry)
    }

    /// Asks a running scan to stop; its results so far are kept.
    pub fn stop(&self, scan_id: &str, who: &str) -> Result<Arc<ScanEntry>, RegistryError> {
        let entry = self.get(scan_id)?;
        if entry.is_finished() || entry.log.is_closed() {
            return Err(RegistryError::AlreadyFinished(scan_id.to_owned()));
        }
        if entry.planned_here || !entry.followed {
            entry.stop.stop(StopReason::Manual(who.to_owned()));
        }
        // Also through Redis when planned here: another replica may have taken it over.
        if entry.followed
            && let Some(cluster) = self.scanner.cluster()
            && let Err(e) = cluster.request_stop(scan_id, who)
        {
            tracing::warn!(scan_id, error = %e, "could not ask a scan to stop through Redis");
        }
        Ok(entry)
    }

    /// Stops every running scan and refuses new ones (shutdown).
    pub fn stop_all(&self, who: &str) {
        let scans = self.scans();
        self.closing.store(true, Ordering::SeqCst);
        for entry in scans.values() {
            if !entry.is_finished() {
                entry.stop.stop(StopReason::Manual(who.to_owned()));
            }
        }
    }

    pub fn source_info(&self) -> technic_data::SourceInfo {
        self.scanner.source().info()
    }

    /// Scans running on this server (not those it follows).
    pub fn running(&self) -> usize {
        self.scans()
            .values()
            .filter(|e| e.is_running_here())
            .count()
    }

    pub fn len(&self) -> usize {
        self.scans().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops finished scans older than the retention time; returns how many.
    pub fn purge(&self) -> usize {
        let now = self.scanner.clock().now();
        let mut scans = self.scans();
        let before = scans.len();
        scans.retain(|_, entry| {
            entry
                .finished_when()
                .is_none_or(|at| now.saturating_duration_since(at) < self.retention)
        });
        before - scans.len()
    }

    /// Waits (blocking) until the scan ends; for callers that want the whole outcome.
    pub fn wait(&self, entry: &ScanEntry) -> Result<Arc<ScanOutcome>, String> {
        let mut subscription = entry.log.subscribe(entry.log.len());
        while !entry.is_finished() {
            let _batch = subscription.next_batch_blocking(Duration::from_millis(50));
        }
        entry
            .outcome()
            .unwrap_or_else(|| Err("the scan ended without an outcome".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use technic_data::BarWindow;
    use technic_data::demo::DemoMarket;
    use technic_data::memory::MemorySource;

    #[test]
    fn scans_run_in_the_background_stop_on_request_and_are_purged_after_retention() {
        let source =
            MemorySource::snapshot(&DemoMarket::new(), &BarWindow::last(250)).expect("demo");
        let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&finished);
        let on_finish: OnFinish = Arc::new(move |outcome| {
            assert!(outcome.is_ok(), "{:?}", outcome.err());
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let clock = technic_testkit::ManualClock::new();
        let registry = ScanRegistry::new(
            Arc::new(Scanner::new(Arc::new(source)).with_clock(clock.clone())),
            Duration::from_secs(3600),
            Some(on_finish),
        );
        let request = crate::ScanRequest::default().validate().expect("valid");
        let entry = registry
            .start(request.clone(), Arc::default())
            .expect("starts");
        assert_eq!(
            registry.get(&entry.scan_id).expect("found").scan_id,
            entry.scan_id
        );
        let outcome = registry.wait(&entry).expect("completes");
        assert_eq!(
            outcome.report.results.len() + outcome.report.diagnostics.len(),
            500
        );
        assert_eq!(finished.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(
            entry
                .progress()
                .is_some_and(|p| p.overall_progress == 100.0)
        );
        assert_eq!(
            registry.stop(&entry.scan_id, "test").err(),
            Some(RegistryError::AlreadyFinished(entry.scan_id.clone()))
        );
        // Retention counts from the end, on the scanner's clock.
        assert_eq!(entry.age(), Duration::ZERO, "time stands still");
        clock.advance(Duration::from_secs(3599));
        assert_eq!(registry.purge(), 0, "kept within the retention time");
        assert_eq!(entry.age(), Duration::from_secs(3599));
        clock.advance(Duration::from_secs(1));
        assert_eq!(registry.purge(), 1);
        assert!(matches!(
            registry.get(&entry.scan_id),
            Err(RegistryError::UnknownScan(_))
        ));

        // After a shutdown's `stop_all`, a request that was still on its way starts nothing.
        registry.stop_all("shutdown");
        assert_eq!(
            registry.start(request, Arc::default()).err(),
            Some(RegistryError::ShuttingDown)
        );
        assert!(registry.is_empty());
    }

    #[test]
    fn finished_scans_beyond_the_byte_bound_are_dropped_oldest_first() {
        let scanner = || {
            let source =
                MemorySource::snapshot(&DemoMarket::new(), &BarWindow::last(250)).expect("demo");
            Arc::new(Scanner::new(Arc::new(source)))
        };
        let request = crate::ScanRequest {
            max_symbols: Some(20),
            ..crate::ScanRequest::default()
        }
        .validate()
        .expect("valid");
        // One scan's size, to set a bound that holds two of them and not three.
        let sizing = ScanRegistry::new(scanner(), Duration::from_secs(3600), None);
        let entry = sizing
            .start(request.clone(), Arc::default())
            .expect("starts");
        sizing.wait(&entry).expect("completes");
        let one = entry.retained_bytes();
        assert!(
            one > 10_000,
            "20 results and their log are more than {one} bytes"
        );
        assert_eq!(
            sizing.retained(),
            Retained {
                scans: 1,
                bytes: one
            }
        );

        let bound = one * 5 / 2;
        let registry = ScanRegistry::new(scanner(), Duration::from_secs(3600), None)
            .with_max_retained_bytes(bound);
        let mut ids = Vec::new();
        for round in 1..=4 {
            let entry = registry
                .start(request.clone(), Arc::default())
                .expect("starts");
            registry.wait(&entry).expect("completes");
            ids.push(entry.scan_id.clone());
            let retained = registry.retained();
            assert_eq!(retained.scans, round.min(2), "round {round}: {retained:?}");
            assert!(
                retained.bytes <= bound,
                "round {round}: {retained:?} over {bound}"
            );
        }
        for dropped in &ids[..2] {
            assert!(matches!(
                registry.get(dropped),
                Err(RegistryError::UnknownScan(_))
            ));
        }
        for kept in &ids[2..] {
            assert!(registry.get(kept).is_ok(), "{kept} kept");
        }

        // The newest finished scan is kept whatever its size: a client can always read it once.
        let tiny = ScanRegistry::new(scanner(), Duration::from_secs(3600), None)
            .with_max_retained_bytes(1);
        let first = tiny.start(request.clone(), Arc::default()).expect("starts");
        tiny.wait(&first).expect("completes");
        let second = tiny.start(request, Arc::default()).expect("starts");
        tiny.wait(&second).expect("completes");
        assert!(tiny.get(&second.scan_id).is_ok());
        assert!(tiny.get(&first.scan_id).is_err());
        assert_eq!(tiny.retained().scans, 1);
    }

    #[test]
    fn finished_scans_beyond_the_cap_are_dropped_oldest_first() {
        let source =
            MemorySource::snapshot(&DemoMarket::new(), &BarWindow::last(250)).expect("demo");
        let registry = ScanRegistry::new(
            Arc::new(Scanner::new(Arc::new(source))),
            Duration::from_secs(3600),
            None,
        )
        .with_max_retained(2);
        let request = crate::ScanRequest {
            max_symbols: Some(5),
            ..crate::ScanRequest::default()
        }
        .validate()
        .expect("valid");
        let mut ids = Vec::new();
        for _ in 0..3 {
            let entry = registry
                .start(request.clone(), Arc::default())
                .expect("starts");
            registry.wait(&entry).expect("completes");
            ids.push(entry.scan_id.clone());
        }
        // The cap applies as each scan ends, not only when the next one starts.
        assert_eq!(registry.len(), 2);
        assert!(matches!(
            registry.get(&ids[0]),
            Err(RegistryError::UnknownScan(_))
        ));
        let newest = registry.start(request, Arc::default()).expect("starts");
        registry.wait(&newest).expect("completes");
        assert!(registry.get(&ids[1]).is_err());
        for kept in [&ids[2], &newest.scan_id] {
            assert!(registry.get(kept).is_ok(), "{kept} kept");
        }
    }
}
