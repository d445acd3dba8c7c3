//! A first-come, first-served counting semaphore: the CPU share of concurrent scans.
//!
//! Why not the rayon pool: a worker job of one scan loops until that scan is done, and jobs queued
//! by later scans wait behind it, so the fiftieth of fifty concurrent scans saw its first result
//! seconds late. Here every symbol of every scan waits its turn in a queue, at most `capacity`
//! at a time, so concurrent scans advance in turn and together use a bounded number of threads'
//! worth of CPU (leaving the server's own threads their share).
//! std has no fair semaphore, and tokio's is async; this one is a queue of parked threads.
//!
//! A `Scanner` has two: one for scans' first symbols and one for the rest (see `Scanner::worker`),
//! so scans compute on at most twice the configured workers at once. A user waits for a scan's
//! first result, not for its 300th.
//!
//! Both queues are as large as the configured workers, so a first symbol never waits for a later
//! symbol another scan's worker (possibly at nice 19 and starved) has in hand. A rayon pool, tried
//! before, let the first scans hold every thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;

#[derive(Debug)]
pub(crate) struct FairPermits {
    state: Mutex<State>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    in_use: usize,
    /// Threads waiting for a permit, in arrival order. A released permit is handed straight to the
    /// first one (which alone is woken), so no crowd of threads wakes to find nothing to take.
    waiting: VecDeque<(Thread, Arc<AtomicBool>)>,
}

/// Held while one symbol is fetched and computed.
pub(crate) struct Permit<'a> {
    pool: &'a FairPermits,
}

impl FairPermits {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn acquire(&self) -> Permit<'_> {
        let granted = {
            let mut state = self.lock();
            if state.in_use < self.capacity && state.waiting.is_empty() {
                state.in_use += 1;
                return Permit { pool: self };
            }
            let granted = Arc::new(AtomicBool::new(false));
            state
                .waiting
                .push_back((std::thread::current(), Arc::clone(&granted)));
            granted
        };
        // Spurious wake-ups are possible with park; the flag says when the permit is really ours.
        while !granted.load(Ordering::Acquire) {
            std::thread::park();
        }
        Permit { pool: self }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        match state.waiting.pop_front() {
            // The permit passes to the next in line; `in_use` is unchanged.
            Some((thread, granted)) => {
                granted.store(true, Ordering::Release);
                thread.unpark();
            }
            None => state.in_use -= 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn at_most_capacity_run_at_once_and_everyone_gets_a_turn() {
        let pool = Arc::new(FairPermits::new(2));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (pool, running, most) =
                    (Arc::clone(&pool), Arc::clone(&running), Arc::clone(&most));
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let _permit = pool.acquire();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::yield_now();
                        running.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        let state = pool.lock();
        assert_eq!(
            (state.in_use, state.waiting.len()),
            (0, 0),
            "every permit came back"
        );
    }
}
