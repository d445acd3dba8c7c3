//! Control of a running scan: stopping it (the handle, the time criteria, the watchdog that fires
//! even while every worker is blocked in a read), its progress as observers and the stream see it,
//! and the guarantee that its log ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use technic_core::progress::{ProgressTracker, ScanStatus};
use technic_core::termination::StopReason;
pub use technic_data::clock::{Clock, SystemClock};

use super::run::ScanRun;
use super::{ScanError, ScanObserver};
use crate::stream::{EventLog, Payload};

/// Stops a running scan from outside (Ctrl-C, `POST /scan/stop`). Cloning shares the handle.
#[derive(Debug, Clone, Default)]
pub struct StopHandle {
    /// Checked by every worker before each step; the reason is kept beside it.
    stopped: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<StopReason>>>,
}

impl StopHandle {
    /// Stops the scan; the first reason given is the one reported.
    pub fn stop(&self, reason: StopReason) {
        let mut held = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
        held.get_or_insert(reason);
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The progress tracker, its observer and the stream, behind one lock.
pub(super) struct Progress<'a> {
    pub(super) tracker: Mutex<ProgressTracker>,
    observer: &'a dyn ScanObserver,
    pub(super) log: &'a EventLog,
    clock: &'a dyn Clock,
    started: Instant,
}

impl<'a> Progress<'a> {
    pub(super) fn start(
        scan_id: String,
        observer: &'a dyn ScanObserver,
        log: &'a EventLog,
        clock: &'a dyn Clock,
    ) -> Self {
        Self {
            tracker: Mutex::new(ProgressTracker::new(scan_id)),
            observer,
            log,
            clock,
            started: clock.now(),
        }
    }

    /// Seconds since the scan started.
    pub(super) fn now(&self) -> f64 {
        self.clock
            .now()
            .saturating_duration_since(self.started)
            .as_secs_f64()
    }

    pub(super) fn timestamp(&self) -> DateTime<Utc> {
        self.clock.utc()
    }

    /// Applies `change`, then hands the snapshot to the observer and the stream while still holding
    /// the lock, so both see snapshots in the order they were taken.
    pub(super) fn update(&self, change: impl FnOnce(&mut ProgressTracker, f64)) {
        let mut tracker = self.tracker.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        change(&mut tracker, now);
        let snapshot = tracker.snapshot(now);
        self.observer.on_progress(&snapshot);
        self.log
            .append(Payload::Progress(Box::new(snapshot)), self.timestamp());
    }

    /// Reports item `done` of `total` at most ~100 times per stage, so an 8,000-symbol scan does not
    /// flood observers, while the first and last item are always reported.
    pub(super) fn item(&self, done: usize, total: usize, message: impl FnOnce() -> String) {
        let step = (total / 100).max(1);
        if done == 1 || done == total || done.is_multiple_of(step) {
            let message = message();
            self.update(|t, _| t.advance(done as u64, message));
        }
    }

    /// Ends the scan as failed with `error`'s public message, and hands the error back.
    pub(super) fn fail(&self, error: ScanError) -> ScanError {
        let message = error.public_message();
        self.update(|t, now| t.finish(ScanStatus::Failed, now, message.clone()));
        self.log
            .append(Payload::Error { message }, self.timestamp());
        error
    }
}

impl ScanRun<'_> {
    /// Stops the scan once its timeout has passed.
    pub(super) fn stop_if_out_of_time(&self) {
        if let Some(reason) = self.request.termination.check_time(self.progress.now()) {
            self.options.stop.stop(reason);
        }
    }

    /// Stops the scan if its termination criteria are met after `finished` symbols of `total`,
    /// `signals` of them counted as signals.
    pub(super) fn stop_if_done(&self, finished: usize, total: usize, signals: usize) {
        if let Some(reason) =
            self.request
                .termination
                .check(finished, total, signals, self.progress.now())
        {
            self.options.stop.stop(reason);
        }
    }
}

/// Appends a final `error` message if the scan leaves without one (a panic in a source, say), so no
/// reader waits forever for the end of the stream.
pub(super) struct CloseLogOnDrop<'a> {
    pub(super) log: &'a EventLog,
    pub(super) clock: &'a dyn Clock,
}

impl Drop for CloseLogOnDrop<'_> {
    fn drop(&mut self) {
        if !self.log.is_closed() {
            let message =
                "the scan ended unexpectedly (internal error); results so far are not ranked"
                    .to_owned();
            self.log
                .append(Payload::Error { message }, self.clock.utc());
        }
    }
}

/// Stops the scan when its timeout passes, on a thread of its own: the workers only look at the
/// clock between symbols, and a worker blocked in a slow read would not look at all. Measured in
/// real time. Reads already under way still finish before the scan returns.
pub(super) struct Watchdog {
    /// `true` once the scan is over; the thread waits on it until the deadline.
    over: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub(super) fn start(seconds: f64, stop: StopHandle) -> Self {
        let over = Arc::new((Mutex::new(false), Condvar::new()));
        let watched = Arc::clone(&over);
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let thread = std::thread::spawn(move || {
            let (lock, changed) = &*watched;
            let mut is_over = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while !*is_over {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    stop.stop(StopReason::Timeout(seconds));
                    return;
                }
                is_over = changed
                    .wait_timeout(is_over, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        });
        Self {
            over,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, changed) = &*self.over;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _joined = thread.join();
        }
    }
}

/// The calling thread to the lowest priority of its scheduling policy (nice 19 under Linux's
/// default). Lowering needs no privilege; a thread never raises itself back (that would), so only
/// threads that end with their scan call this. A failure only costs latency: logged, not raised.
pub(super) fn lower_this_threads_priority() {
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::debug!(error = ?e, "could not lower a scan worker's priority");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The thread's nice value, from /proc (field 19; the name before it may hold spaces).
    fn nice_of_this_thread() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let after_name = &stat[stat.rfind(')').expect("name") + 2..];
        after_name
            .split_whitespace()
            .nth(16)
            .and_then(|n| n.parse().ok())
            .expect("nice")
    }

    #[test]
    fn a_lowered_worker_runs_at_nice_19_and_other_threads_do_not() {
        let before = nice_of_this_thread();
        let lowered = std::thread::spawn(|| {
            super::lower_this_threads_priority();
            nice_of_this_thread()
        })
        .join()
        .expect("thread");
        assert_eq!(lowered, 19);
        assert_eq!(nice_of_this_thread(), before, "only the calling thread");
    }
}
