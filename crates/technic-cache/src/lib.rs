//! technic's caches: bytes under string keys with a time to live, in this process ([`MemoryCache`])
//! or in a Redis shared by every process ([`RedisCache`], behind the `redis` feature), and
//! [`CachedSource`], which puts one of them in front of any [`technic_data::MarketData`].
//!
//! Architecture invariant: a cache never fails its caller. A broken, slow or vanished backend is a
//! miss (and a no-op put), counted in [`CacheStats`]; the scan that uses it carries on at the speed
//! of its source. Nothing here logs a URL's password.

mod codec;
mod memory;
#[cfg(feature = "redis")]
mod redis_cache;
mod source;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use codec::{decode_bars, encode_bars};
pub use memory::MemoryCache;
#[cfg(feature = "redis")]
pub use redis_cache::RedisCache;
pub use source::CachedSource;

/// A byte cache with per-entry TTLs. Never fails a caller: a broken backend is a miss.
pub trait Cache: Send + Sync + std::fmt::Debug {
    /// "memory" or "redis", for logs and metrics labels.
    fn kind(&self) -> &'static str;

    fn get(&self, key: &str) -> Option<Vec<u8>>;

    /// Stores `value` for `ttl`. A zero `ttl` stores nothing.
    fn put(&self, key: &str, value: &[u8], ttl: Duration);

    /// Counters since the cache was made.
    fn stats(&self) -> CacheStats;

    /// Tells the cache that the value `get` just returned for `key` was unusable (corrupt, or
    /// written by an older format): its hit becomes a miss and an error in [`Cache::stats`], so the
    /// metrics do not report hits that saved no work. The caller overwrites the entry.
    fn reject(&self, key: &str) {
        let _ = key;
    }
}

/// What a cache has done since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub puts: u64,
    /// Operations that failed (and were answered as a miss or dropped), and rejected values.
    pub errors: u64,
    /// Times the backend was found gone.
    pub outages: u64,
    /// Whether it is reachable now (always true for memory).
    pub available: bool,
}

/// The counters every backend keeps; relaxed atomics, as each is read on its own.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    puts: AtomicU64,
    errors: AtomicU64,
    outages: AtomicU64,
}

impl Counters {
    fn looked_up(&self, hit: bool) {
        let counter = if hit { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn put(&self) {
        self.puts.fetch_add(1, Ordering::Relaxed);
    }

    fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    fn outage(&self) {
        self.outages.fetch_add(1, Ordering::Relaxed);
    }

    fn rejected(&self) {
        // Saturating: a reject without a hit before it is a caller's slip, not a reason to wrap.
        let took_back = self
            .hits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| h.checked_sub(1))
            .is_ok();
        if took_back {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        self.error();
    }

    fn stats(&self, available: bool) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            puts: self.puts.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
            available,
        }
    }
}

/// Why a cache could not be made. Only configuration is an error: a Redis that is down is not.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The URL is shown without its password.
    #[error("REDIS_URL {url} is not a usable Redis URL: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "REDIS_URL is set ({url}) but this build has no Redis support (technic-cache's `redis` feature); unset REDIS_URL to use the in-process cache"
    )]
    RedisNotBuilt { url: String },
}

/// How a [`RedisCache`] talks to Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOptions {
    /// Prepended to every key, so that technic shares a Redis with other programs safely.
    pub key_prefix: String,
    /// Connect, read and write timeout of each operation. A cache slower than this is worse than
    /// none: the source would answer sooner.
    pub op_timeout: Duration,
    /// How long to stay off a Redis found gone before trying it again.
    pub retry_after: Duration,
    /// Connections kept open; operations wait briefly for a free one rather than open more.
    pub connections: usize,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            key_prefix: "technic:".into(),
            op_timeout: Duration::from_millis(250),
            retry_after: Duration::from_secs(5),
            connections: 4,
        }
    }
}

/// The cache the configuration asks for: Redis at `redis_url` when it is set and not blank, else an
/// in-process cache of at most `memory_bytes`.
///
/// An unreachable Redis is not an error (the cache starts unavailable and retries); a malformed URL
/// is, and so is a URL in a build without the `redis` feature.
pub fn from_url(redis_url: Option<&str>, memory_bytes: u64) -> Result<Arc<dyn Cache>, CacheError> {
    match redis_url.map(str::trim).filter(|url| !url.is_empty()) {
        None => Ok(Arc::new(MemoryCache::new(memory_bytes))),
        Some(url) => redis_backend(url),
    }
}

#[cfg(feature = "redis")]
fn redis_backend(url: &str) -> Result<Arc<dyn Cache>, CacheError> {
    Ok(Arc::new(RedisCache::new(url, RedisOptions::default())?))
}

#[cfg(not(feature = "redis"))]
fn redis_backend(url: &str) -> Result<Arc<dyn Cache>, CacheError> {
    Err(CacheError::RedisNotBuilt {
        url: redact_url(url),
    })
}

/// `url` without user, password or query (which can also carry a password), for logs and errors.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // Not URL-shaped: show it only if it cannot hold credentials.
        return if url.contains('@') {
            "<unparseable URL>".into()
        } else {
            url.into()
        };
    };
    let (scheme, rest) = (&url[..scheme_end], &url[scheme_end + 3..]);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_credentials_and_query() {
        assert_eq!(
            redact_url("redis://user:s3cret@cache.example:6380/2?password=x"),
            "redis://cache.example:6380/2"
        );
        assert_eq!(
            redact_url("rediss://:p@ss@h:1"),
            "rediss://h:1",
            "an @ in the password"
        );
        assert_eq!(redact_url("redis://127.0.0.1"), "redis://127.0.0.1");
        assert_eq!(redact_url("unix:///run/r.sock"), "unix:///run/r.sock");
        assert_eq!(redact_url("user:pw@host"), "<unparseable URL>");
    }

    #[test]
    fn blank_url_means_memory() {
        for url in [None, Some(""), Some("  ")] {
            let cache = from_url(url, 1 << 20).expect("memory cache");
            assert_eq!(cache.kind(), "memory");
        }
    }

    #[cfg(feature = "redis")]
    #[test]
    fn a_malformed_url_is_an_error_naming_redis_url_without_the_password() {
        for url in [
            "http://u:hunter2@h:1",
            "redis://u:hunter2@h:notaport",
            "nonsense",
        ] {
            let err = from_url(Some(url), 1).expect_err(url);
            let message = err.to_string();
            assert!(
                message.starts_with("REDIS_URL") && !message.contains("hunter2"),
                "{message}"
            );
        }
    }
}
