//! The threads scans run on: kept after a scan for the next one, and created by a thread of their
//! own, so whoever starts a scan never waits for a thread to be made.
//!
//! Why not a thread per scan, made by the caller: the caller is a server's async worker, and making
//! a thread maps its stack under the process's memory-map lock, which the page faults of a hundred
//! busy threads hold; in the load benchmark a `spawn` took up to 24 ms, all that time holding one
//! of the runtime's two workers and every request and delivery queued on it. Why not a crate:
//! rayon's pools make a fixed number of threads up front and are for computing, not for jobs that
//! run for seconds; `blocking`'s threads end after half a second idle and are made by the caller.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A scan to run, and what to do if no thread could be made for it.
pub(crate) struct Job {
    pub(crate) run: Box<dyn FnOnce() + Send>,
    pub(crate) could_not_start: Box<dyn FnOnce(std::io::Error) + Send>,
}

/// An idle runner: its id, and where to hand it a job.
type Idle = (u64, Sender<Job>);

pub(crate) struct Runners {
    pool: Arc<Pool>,
    /// To the thread that makes runners: a job no idle runner could take.
    maker: Mutex<Sender<Job>>,
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
        Self {
            pool,
            maker: Mutex::new(maker),
        }
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
        let sent = self
            .maker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job);
        if let Err(mpsc::SendError(job)) = sent {
            spawn_runner(&self.pool, job);
        }
    }
}

fn spawn_runner(pool: &Arc<Pool>, job: Job) {
    let id = pool.next_id.fetch_add(1, Ordering::Relaxed);
    let (to_runner, jobs) = mpsc::channel::<Job>();
    let Job {
        run,
        could_not_start,
    } = job;
    let for_runner = Arc::clone(pool);
    let spawned = std::thread::Builder::new()
        .name(pool.name.to_owned())
        .spawn(move || runner(&for_runner, id, run, &to_runner, &jobs));
    if let Err(e) = spawned {
        could_not_start(e);
    }
}

fn runner(
    pool: &Pool,
    id: u64,
    first: Box<dyn FnOnce() + Send>,
    to_self: &Sender<Job>,
    jobs: &Receiver<Job>,
) {
    let mut run = first;
    loop {
        run();
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
        run = next.run;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::{Job, Runners};

    fn job(done: mpsc::Sender<std::thread::ThreadId>) -> Job {
        Job {
            run: Box::new(move || {
                let _sent = done.send(std::thread::current().id());
            }),
            could_not_start: Box::new(|e| panic!("no thread: {e}")),
        }
    }

    #[test]
    fn runners_are_kept_for_the_next_jobs_and_end_when_idle() {
        let runners = Runners::new("test-runner", Duration::from_millis(300));
        let (done, finished) = mpsc::channel();
        // Jobs one after another reuse one thread.
        let mut threads = HashSet::new();
        for _ in 0..5 {
            runners.run(job(done.clone()));
            threads.insert(finished.recv_timeout(Duration::from_secs(5)).expect("ran"));
            // Let the runner go back to the idle list.
            while runners.pool.idle.lock().expect("idle").is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(threads.len(), 1, "one runner did every job in turn");
        // Jobs at once each get a thread: none waits for another to end.
        let (release, held) = mpsc::channel::<()>();
        let held = std::sync::Arc::new(std::sync::Mutex::new(held));
        for _ in 0..4 {
            let (done, held) = (done.clone(), std::sync::Arc::clone(&held));
            runners.run(Job {
                run: Box::new(move || {
                    let _sent = done.send(std::thread::current().id());
                    let _waited = held.lock().expect("held").recv();
                }),
                could_not_start: Box::new(|e| panic!("no thread: {e}")),
            });
        }
        let at_once: HashSet<_> = (0..4)
            .map(|_| finished.recv_timeout(Duration::from_secs(5)).expect("ran"))
            .collect();
        assert_eq!(at_once.len(), 4, "four jobs ran at once on four threads");
        for _ in 0..4 {
            release.send(()).expect("release");
        }
        // Idle longer than `keep_idle`, every runner ends and leaves the list.
        std::thread::sleep(Duration::from_millis(800));
        assert!(runners.pool.idle.lock().expect("idle").is_empty());
        runners.run(job(done));
        assert!(finished.recv_timeout(Duration::from_secs(5)).is_ok());
    }
}
