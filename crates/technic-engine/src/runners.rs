//! The threads scans run on: kept after a scan for the next one, and created by a thread of their
//! own, so whoever starts a scan never waits for a thread to be made.
//!
//! Why not a thread per scan, made by the caller: the caller is a server's async worker, and making
//! a thread maps its stack under the process's memory-map lock, which the page faults of a hundred
//! busy threads hold; in the load benchmark a `spawn` took up to 24 ms, all that time holding one
//! of the runtime's two workers and every request and delivery queued on it. Why not a crate:
//! rayon's pools make a fixed number of threads up front and are for computing, not for jobs that
//! run for seconds; `blocking`'s threads end after half a second idle and are made by the caller.
//!
//! `start` hands a scan to an idle thread or to a thread that makes new ones; the registry lets an
//! idle one end after 5 s, so an idle server holds none and its memory returns to the baseline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A scan to run, and what to do if it cannot be: no thread could be made for it, or the job was
/// dropped before it ran (a maker that panicked drops what was queued to it). Either way the
/// second is called, so no scan is left "running" with a log that never ends.
pub(crate) struct Job {
    run: Option<Box<dyn FnOnce() + Send>>,
    could_not_start: Option<Box<dyn FnOnce(std::io::Error) + Send>>,
}

impl Job {
    pub(crate) fn new(
        run: impl FnOnce() + Send + 'static,
        could_not_start: impl FnOnce(std::io::Error) + Send + 'static,
    ) -> Self {
        Self {
            run: Some(Box::new(run)),
            could_not_start: Some(Box::new(could_not_start)),
        }
    }

    /// What to run; from here on the job is the runner's and dropping it reports nothing.
    fn take_run(mut self) -> Box<dyn FnOnce() + Send> {
        self.could_not_start = None;
        self.run.take().unwrap_or_else(|| Box::new(|| {}))
    }

    fn fail(mut self, e: std::io::Error) {
        if let Some(could_not_start) = self.could_not_start.take() {
            could_not_start(e);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(could_not_start) = self.could_not_start.take() {
            could_not_start(std::io::Error::other("the scan was dropped before it ran"));
        }
    }
}

/// An idle runner: its id, and where to hand it a job.
type Idle = (u64, Sender<Job>);

pub(crate) struct Runners {
    pool: Arc<Pool>,
    /// To the thread that makes runners: a job no idle runner could take.
    maker: Sender<Job>,
}

/// What the runners, the maker and `Runners::run` share.
struct Pool {
    /// The runners' thread name.
    name: &'static str,
    /// How long a runner waits for another job before it ends.
    keep_idle: Duration,
    /// Runners waiting for a job, the most recently idle last (its stack is warm).
    idle: Mutex<Vec<Idle>>,
    next_id: AtomicU64,
}

impl Runners {
    pub(crate) fn new(name: &'static str, keep_idle: Duration) -> Self {
        let pool = Arc::new(Pool {
            name,
            keep_idle,
            idle: Mutex::default(),
            next_id: AtomicU64::new(0),
        });
        let (maker, jobs) = mpsc::channel::<Job>();
        let for_maker = Arc::clone(&pool);
        // Ends when the `Runners` (its sender) is dropped; runners end on their own when idle.
        let made = std::thread::Builder::new()
            .name(format!("{name} maker"))
            .spawn(move || {
                for job in jobs {
                    spawn_runner(&for_maker, job);
                }
            });
        if let Err(e) = made {
            // Without it `run` makes each new runner itself, as the caller did before this pool.
            tracing::warn!(error = %e, "no thread to make scan threads; the caller makes them");
        }
        Self { pool, maker }
    }

    /// Hands `job` to an idle runner, or to the maker for a new one; never blocks on either.
    pub(crate) fn run(&self, job: Job) {
        let idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        // A runner leaves the idle list before it ends, under its lock: one taken from it is alive
        // and will receive.
        let job = match idle {
            Some((_, runner)) => match runner.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        if let Err(mpsc::SendError(job)) = self.maker.send(job) {
            spawn_runner(&self.pool, job);
        }
    }
}

fn spawn_runner(pool: &Arc<Pool>, job: Job) {
    let id = pool.next_id.fetch_add(1, Ordering::Relaxed);
    let (to_runner, jobs) = mpsc::channel::<Job>();
    let for_runner = Arc::clone(pool);
    // The job goes to the new thread through its own channel, so a failed spawn still has it.
    let first = to_runner.clone();
    let spawned = std::thread::Builder::new()
        .name(pool.name.to_owned())
        .spawn(move || runner(&for_runner, id, &to_runner, &jobs));
    match spawned {
        Ok(_) => {
            if let Err(mpsc::SendError(job)) = first.send(job) {
                job.fail(std::io::Error::other(
                    "the scan's thread ended before it started",
                ));
            }
        }
        Err(e) => job.fail(e),
    }
}

fn runner(pool: &Pool, id: u64, to_self: &Sender<Job>, jobs: &Receiver<Job>) {
    let Ok(mut job) = jobs.recv() else { return };
    loop {
        (job.take_run())();
        pool.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, to_self.clone()));
        let next = match jobs.recv_timeout(pool.keep_idle) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                let mut waiting = pool.idle.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(at) = waiting.iter().position(|(other, _)| *other == id) {
                    waiting.remove(at);
                    return;
                }
                drop(waiting);
                // Taken from the list just as the wait ended: its job is on the way.
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        job = next;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};
    use std::thread::ThreadId;
    use std::time::{Duration, Instant};

    use super::{Job, Runners};

    fn reporting(done: mpsc::Sender<ThreadId>) -> Job {
        Job::new(
            move || {
                let _sent = done.send(std::thread::current().id());
            },
            |e| panic!("no thread: {e}"),
        )
    }

    /// Waits until `check` holds, for at most ten seconds.
    fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "never: {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn jobs_in_turn_reuse_a_thread_and_jobs_at_once_each_get_one() {
        let runners = Runners::new("test-runner", Duration::from_secs(60));
        let idle = || runners.pool.idle.lock().expect("idle").len();
        let (done, finished) = mpsc::channel();
        let mut threads = HashSet::new();
        for _ in 0..5 {
            runners.run(reporting(done.clone()));
            threads.insert(finished.recv_timeout(Duration::from_secs(10)).expect("ran"));
            eventually("the runner is idle again", || idle() == 1);
        }
        assert_eq!(threads.len(), 1, "one runner did every job in turn");
        // Four at once: none waits for another to end.
        let (release, held) = mpsc::channel::<()>();
        let held = Arc::new(Mutex::new(held));
        for _ in 0..4 {
            let (done, held) = (done.clone(), Arc::clone(&held));
            runners.run(Job::new(
                move || {
                    let _sent = done.send(std::thread::current().id());
                    let _waited = held.lock().expect("held").recv();
                },
                |e| panic!("no thread: {e}"),
            ));
        }
        let at_once: HashSet<_> = (0..4)
            .map(|_| finished.recv_timeout(Duration::from_secs(10)).expect("ran"))
            .collect();
        assert_eq!(at_once.len(), 4, "four jobs ran at once on four threads");
        for _ in 0..4 {
            release.send(()).expect("release");
        }
        eventually("all four are idle", || idle() == 4);
    }

    #[test]
    fn idle_runners_end_and_a_later_job_gets_a_new_one() {
        let runners = Runners::new("test-runner", Duration::from_millis(50));
        let idle = || runners.pool.idle.lock().expect("idle").len();
        let (done, finished) = mpsc::channel();
        runners.run(reporting(done.clone()));
        finished.recv_timeout(Duration::from_secs(10)).expect("ran");
        eventually("the idle runner ends", || idle() == 0);
        runners.run(reporting(done));
        assert!(finished.recv_timeout(Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn a_job_dropped_before_it_ran_says_so() {
        let (told, heard) = mpsc::channel();
        drop(Job::new(
            || panic!("never runs"),
            move |e| {
                let _sent = told.send(e.to_string());
            },
        ));
        let said = heard.recv_timeout(Duration::from_secs(1)).expect("told");
        assert!(said.contains("dropped"), "{said}");
    }
}
