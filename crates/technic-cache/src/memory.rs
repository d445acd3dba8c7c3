//! The in-process cache: moka, bounded by the bytes it holds, each entry with its own TTL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

use crate::{Cache, CacheStats, Counters};

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    ttl: Duration,
}

/// Each entry lives for the TTL it was put with, counted from its last put (reads do not extend it,
/// or a symbol read every scan would never refresh).
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// A cache in this process's memory, holding at most about `max_bytes` of keys and values.
pub struct MemoryCache {
    entries: moka::sync::Cache<String, Entry>,
    max_bytes: u64,
    counters: Counters,
}

impl MemoryCache {
    pub fn new(max_bytes: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self {
            entries,
            max_bytes,
            counters: Counters::default(),
        }
    }

    /// Bytes of keys and values held now, after pending evictions and expiries are applied.
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// Entries held now, after pending evictions and expiries are applied.
    pub fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("max_bytes", &self.max_bytes)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Cache for MemoryCache {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let value = self.entries.get(key).map(|entry| entry.value.to_vec());
        self.counters.looked_up(value.is_some());
        value
    }

    /// Stores nothing for a zero `ttl` or an entry larger than the whole cache.
    fn put(&self, key: &str, value: &[u8], ttl: Duration) {
        // moka applies its bound after the insert, so an entry bigger than the whole cache would
        // be served until then and evict everything else on its way out.
        if ttl.is_zero() || (key.len() + value.len()) as u64 > self.max_bytes {
            return;
        }
        self.entries.insert(
            key.to_owned(),
            Entry {
                value: Arc::from(value),
                ttl,
            },
        );
        self.counters.put();
    }

    fn stats(&self) -> CacheStats {
        self.counters.stats(true)
    }

    fn reject(&self, key: &str) {
        self.entries.invalidate(key);
        self.counters.rejected();
    }
}
