//! The shared cache: Redis through the `redis` crate's synchronous client, because its callers are
//! the scan's plain worker threads.
//!
//! A Redis that goes away must cost a scan nothing but its hits: the first failed operation marks
//! it gone (one warning, one outage), every operation then answers at once without touching the
//! network, and after `retry_after` one operation at a time tries to reconnect.
//!
//! A small pool of connections, and operations given 250 ms (`CacheOptions`'s defaults, as is the 5
//! s `retry_after`); when a retry succeeds it says Redis is back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::{Connection, ConnectionLike, ErrorKind, RedisError};
use technic_data::clock::Clock;

use crate::{Cache, CacheError, CacheStats, Counters, RedisOptions, redact_url};

/// A cache in Redis, shared by every process that uses the same URL and key prefix.
pub struct RedisCache {
    client: redis::Client,
    /// The URL without credentials: the only form of it that is ever logged.
    shown_url: String,
    prefix: String,
    op_timeout: Duration,
    retry_after: Duration,
    pool: Pool,
    available: AtomicBool,
    /// When an unavailable Redis may be tried again; `None` while it is available.
    retry_at: Mutex<Option<Instant>>,
    /// What `retry_at` is read from.
    clock: Arc<dyn Clock>,
    counters: Counters,
    /// Server errors (as opposed to a gone server) are warned about once, then only counted.
    warned_server_error: AtomicBool,
}

/// Why an operation did not reach Redis.
enum Failure {
    /// Redis is known to be gone and it is not yet time to try again.
    Skipped,
    /// Every connection was busy for the whole `op_timeout`.
    Busy,
    /// Redis answered with an error: the connection is fine, the command was not.
    Server(RedisError),
    /// Connecting or talking failed: Redis is gone, or the connection is broken.
    Gone { error: RedisError, generation: u64 },
}

impl RedisCache {
    /// A cache at `url` (`redis://[user:password@]host[:port][/db]`). Only a malformed URL is an
    /// error; a Redis that cannot be reached now makes a cache that starts unavailable, says so
    /// once, and tries again after `options.retry_after`.
    pub fn new(url: &str, options: RedisOptions) -> Result<Self, CacheError> {
        Self::new_with_clock(url, options, technic_data::clock::system())
    }

    /// [`RedisCache::new`], waiting out `retry_after` on `clock`.
    pub fn new_with_clock(
        url: &str,
        options: RedisOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CacheError> {
        let shown_url = redact_url(url);
        let client = redis::Client::open(url).map_err(|e| CacheError::InvalidUrl {
            url: shown_url.clone(),
            reason: format!(
                "{e}; expected redis://[user:password@]host[:port][/db], or unix:///path/to/socket"
            ),
        })?;
        // Zero would mean "no timeout" to some socket calls and "fail at once" to others.
        let op_timeout = options.op_timeout.max(Duration::from_millis(1));
        let cache = Self {
            client,
            shown_url,
            prefix: options.key_prefix,
            op_timeout,
            retry_after: options.retry_after,
            pool: Pool::new(options.connections.max(1)),
            available: AtomicBool::new(true),
            retry_at: Mutex::new(None),
            clock,
            counters: Counters::default(),
            warned_server_error: AtomicBool::new(false),
        };
        // One connection now, so a wrong host or password is reported at startup, not mid-scan.
        match cache.pool.take(&cache.client, cache.op_timeout) {
            Ok(lease) => cache.pool.give_back(lease),
            Err(Failure::Gone { error, .. }) => {
                cache.available.store(false, Ordering::Relaxed);
                *lock(&cache.retry_at) = Some(cache.clock.now() + cache.retry_after);
                cache.counters.outage();
                tracing::warn!(
                    redis = %cache.shown_url,
                    error = %error,
                    "Redis at {} is not reachable ({error}); carrying on without it, trying again every {}",
                    cache.shown_url,
                    seconds(cache.retry_after),
                );
            }
            // `take` fails only as Gone or Busy, and a fresh pool is never busy.
            Err(_) => {}
        }
        Ok(cache)
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `command` on a pooled connection, handling every failure the same way for get and put.
    fn run<T>(&self, command: &mut redis::Cmd) -> Option<T>
    where
        T: redis::FromRedisValue,
    {
        match self.try_run(command) {
            Ok(value) => Some(value),
            Err(Failure::Skipped) => None,
            Err(Failure::Busy) => {
                self.counters.error();
                None
            }
            Err(Failure::Server(error)) => {
                self.counters.error();
                if !self.warned_server_error.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        redis = %self.shown_url,
                        error = %error,
                        "Redis at {} refused a cache command ({error}); such failures are counted as cache errors and not logged again",
                        self.shown_url,
                    );
                }
                None
            }
            Err(Failure::Gone { error, generation }) => {
                self.counters.error();
                self.went_away(generation, &error);
                None
            }
        }
    }

    fn try_run<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> Result<T, Failure> {
        let probing = self.admit()?;
        let mut lease = self.pool.take(&self.client, self.op_timeout)?;
        match command.query(&mut lease.connection) {
            Ok(value) => {
                self.pool.give_back(lease);
                if probing {
                    self.came_back();
                }
                Ok(value)
            }
            Err(error) if matches!(error.kind(), ErrorKind::Server(_)) => {
                self.pool.give_back(lease);
                if probing {
                    self.came_back();
                }
                Err(Failure::Server(error))
            }
            Err(error) => {
                let generation = lease.generation;
                self.pool.discard(lease);
                Err(Failure::Gone { error, generation })
            }
        }
    }

    /// Whether this operation may go to Redis; `Ok(true)` when it is the one that tries a gone
    /// Redis again. The common case, Redis available, takes no lock.
    fn admit(&self) -> Result<bool, Failure> {
        if self.available.load(Ordering::Acquire) {
            return Ok(false);
        }
        let mut retry_at = lock(&self.retry_at);
        match *retry_at {
            Some(at) if self.clock.now() < at => Err(Failure::Skipped),
            _ if self.available.load(Ordering::Acquire) => Ok(false),
            _ => {
                // Claim this attempt: until it has succeeded or failed, everyone else skips.
                *retry_at = Some(self.clock.now() + self.retry_after);
                Ok(true)
            }
        }
    }

    /// Marks Redis gone after a connection of `generation` failed. Connections of an older
    /// generation failing (in flight when Redis went, or after it came back) say nothing new.
    fn went_away(&self, generation: u64, error: &RedisError) {
        if !self.pool.retire(generation) {
            return;
        }
        *lock(&self.retry_at) = Some(self.clock.now() + self.retry_after);
        // Only the transition from available is an outage: a failed retry is the same outage.
        if self.available.swap(false, Ordering::AcqRel) {
            self.counters.outage();
            tracing::warn!(
                redis = %self.shown_url,
                error = %error,
                "Redis at {} went away ({error}); the scan carries on without the cache and will try again every {}",
                self.shown_url,
                seconds(self.retry_after),
            );
        }
    }

    fn came_back(&self) {
        *lock(&self.retry_at) = None;
        if !self.available.swap(true, Ordering::AcqRel) {
            tracing::info!(redis = %self.shown_url, "Redis at {} is back; caching in it again", self.shown_url);
        }
    }
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("url", &self.shown_url)
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("retry_after", &self.retry_after)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Cache for RedisCache {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let value = self
            .run::<Option<Vec<u8>>>(redis::cmd("GET").arg(self.key(key)))
            .flatten();
        self.counters.looked_up(value.is_some());
        value
    }

    fn put(&self, key: &str, value: &[u8], ttl: Duration) {
        // PX takes whole milliseconds and refuses 0; a sub-millisecond TTL keeps its one.
        let millis = match ttl.as_millis() {
            0 if ttl.is_zero() => return,
            millis => u64::try_from(millis).unwrap_or(u64::MAX).max(1),
        };
        let stored = self.run::<()>(
            redis::cmd("SET")
                .arg(self.key(key))
                .arg(value)
                .arg("PX")
                .arg(millis),
        );
        if stored.is_some() {
            self.counters.put();
        }
    }

    fn stats(&self) -> CacheStats {
        self.counters.stats(self.available.load(Ordering::Relaxed))
    }

    fn reject(&self, key: &str) {
        // The caller overwrites the entry at once, so there is no need to delete it first.
        let _ = key;
        self.counters.rejected();
    }
}

/// Open connections: at most `max`, each lent to one operation at a time. The lock is held only to
/// move a connection in or out, never while talking to Redis.
struct Pool {
    slots: Mutex<Slots>,
    freed: Condvar,
    max: usize,
}

struct Slots {
    idle: Vec<Connection>,
    /// Connections idle or lent out (or being opened).
    open: usize,
    /// Bumped when Redis is found gone, so connections opened before are never reused.
    generation: u64,
}

struct Lease {
    connection: Connection,
    generation: u64,
}

impl Pool {
    fn new(max: usize) -> Self {
        Self {
            slots: Mutex::new(Slots {
                idle: Vec::with_capacity(max),
                open: 0,
                generation: 0,
            }),
            freed: Condvar::new(),
            max,
        }
    }

    /// An idle connection, or a new one if fewer than `max` are open, or one freed within `timeout`.
    fn take(&self, client: &redis::Client, timeout: Duration) -> Result<Lease, Failure> {
        let deadline = Instant::now() + timeout;
        let mut slots = lock(&self.slots);
        loop {
            let generation = slots.generation;
            if let Some(connection) = slots.idle.pop() {
                return Ok(Lease {
                    connection,
                    generation,
                });
            }
            if slots.open < self.max {
                slots.open += 1;
                drop(slots);
                return match connect(client, timeout) {
                    Ok(connection) => Ok(Lease {
                        connection,
                        generation,
                    }),
                    Err(error) => {
                        self.release_slot();
                        Err(Failure::Gone { error, generation })
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Failure::Busy);
            }
            slots = self
                .freed
                .wait_timeout(slots, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn give_back(&self, lease: Lease) {
        let mut slots = lock(&self.slots);
        if lease.generation == slots.generation && lease.connection.is_open() {
            slots.idle.push(lease.connection);
        } else {
            slots.open -= 1;
        }
        drop(slots);
        self.freed.notify_one();
    }

    fn discard(&self, lease: Lease) {
        drop(lease);
        self.release_slot();
    }

    fn release_slot(&self) {
        lock(&self.slots).open -= 1;
        self.freed.notify_one();
    }

    /// Drops the idle connections of `generation` and starts a new one; false when `generation`
    /// was already retired (someone else saw the same failure first).
    fn retire(&self, generation: u64) -> bool {
        let mut slots = lock(&self.slots);
        if slots.generation != generation {
            return false;
        }
        slots.generation += 1;
        let idle = std::mem::take(&mut slots.idle);
        slots.open -= idle.len();
        drop(slots);
        // Closing sockets is IO: done after the lock is released.
        drop(idle);
        self.freed.notify_all();
        true
    }
}

fn connect(client: &redis::Client, timeout: Duration) -> Result<Connection, RedisError> {
    let connection = client.get_connection_with_timeout(timeout)?;
    connection.set_read_timeout(Some(timeout))?;
    connection.set_write_timeout(Some(timeout))?;
    Ok(connection)
}

/// A poisoned lock only means another thread panicked while holding it; the data it guards (a
/// list of connections, a time) stays consistent, and a cache must not turn that into a panic here.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// "5 s", "0.2 s": how long between retries, for the warning.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_interval_reads_naturally() {
        assert_eq!(seconds(Duration::from_secs(5)), "5 s");
        assert_eq!(seconds(Duration::from_millis(200)), "0.2 s");
    }
}
