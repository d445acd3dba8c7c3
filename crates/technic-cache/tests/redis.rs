//! `RedisCache` against a real Redis (`TECHNIC_TEST_REDIS_URL`, else 127.0.0.1:6379; scripts/test
//! starts one). Each test keeps to its own key prefix and deletes its keys.

mod common;

use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use technic_cache::{Cache, CacheError, CacheStats, RedisCache, RedisOptions, from_url};

fn stats(hits: u64, misses: u64, puts: u64) -> CacheStats {
    CacheStats {
        hits,
        misses,
        puts,
        errors: 0,
        outages: 0,
        available: true,
    }
}

#[test]
fn put_then_get_under_the_prefix_with_exact_counters() {
    let Some(redis) = common::test_redis("put_then_get_under_the_prefix_with_exact_counters")
    else {
        return;
    };
    let cache = RedisCache::new(&redis.url, redis.options()).expect("cache");
    assert_eq!(cache.kind(), "redis");
    let every_byte: Vec<u8> = (0..=255).collect();
    cache.put("bytes", &every_byte, Duration::from_secs(60));
    cache.put("empty", b"", Duration::from_secs(60));
    cache.put("zero ttl", b"x", Duration::ZERO);
    assert_eq!(cache.get("bytes"), Some(every_byte));
    assert_eq!(
        cache.get("empty"),
        Some(Vec::new()),
        "an empty value is a hit"
    );
    assert_eq!(cache.get("absent"), None);
    assert_eq!(cache.get("zero ttl"), None, "a zero TTL stores nothing");
    assert_eq!(cache.stats(), stats(2, 2, 2));
    assert_eq!(
        redis.keys(),
        vec![
            format!("{}bytes", redis.prefix),
            format!("{}empty", redis.prefix)
        ]
    );
}

#[test]
fn the_ttl_is_redis_own_px_and_really_expires() {
    let Some(redis) = common::test_redis("the_ttl_is_redis_own_px_and_really_expires") else {
        return;
    };
    let cache = RedisCache::new(&redis.url, redis.options()).expect("cache");
    cache.put("brief", b"v", Duration::from_millis(400));
    cache.put("sub-ms", b"v", Duration::from_micros(10));
    let key = format!("{}brief", redis.prefix);
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query(&mut redis.connection())
        .expect("PTTL");
    assert!((1..=400).contains(&pttl), "PTTL {pttl} ms");
    assert_eq!(cache.get("brief").as_deref(), Some(&b"v"[..]));
    sleep(Duration::from_millis(700));
    assert_eq!(cache.get("brief"), None, "expired in Redis");
    assert_eq!(cache.get("sub-ms"), None, "kept for its one millisecond");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&key)
        .query(&mut redis.connection())
        .expect("EXISTS");
    assert_eq!(exists, 0);
    assert_eq!(cache.stats(), stats(1, 2, 2));
}

#[test]
fn two_caches_share_values_as_two_processes_would() {
    let Some(redis) = common::test_redis("two_caches_share_values_as_two_processes_would") else {
        return;
    };
    let server = RedisCache::new(&redis.url, redis.options()).expect("cache a");
    let worker = RedisCache::new(&redis.url, redis.options()).expect("cache b");
    server.put("sector-stats", b"v1", Duration::from_secs(60));
    assert_eq!(worker.get("sector-stats").as_deref(), Some(&b"v1"[..]));
    worker.put("sector-stats", b"v2", Duration::from_secs(60));
    assert_eq!(server.get("sector-stats").as_deref(), Some(&b"v2"[..]));
    let other_prefix = RedisCache::new(
        &redis.url,
        RedisOptions {
            key_prefix: format!("{}other:", redis.prefix),
            ..redis.options()
        },
    )
    .expect("cache c");
    assert_eq!(
        other_prefix.get("sector-stats"),
        None,
        "prefixes keep apart"
    );
    assert_eq!(server.stats(), stats(1, 0, 1));
    assert_eq!(worker.stats(), stats(1, 0, 1));
    assert_eq!(other_prefix.stats(), stats(0, 1, 0));
}

#[test]
fn many_threads_share_a_small_pool_without_errors() {
    let Some(redis) = common::test_redis("many_threads_share_a_small_pool_without_errors") else {
        return;
    };
    let cache = Arc::new(
        RedisCache::new(
            &redis.url,
            RedisOptions {
                connections: 2,
                // Generous: this checks that waiting for a connection works, not how fast.
                op_timeout: Duration::from_secs(2),
                ..redis.options()
            },
        )
        .expect("cache"),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let (key, value) = (format!("{t}:{i}"), format!("{t}-{i}").into_bytes());
                    cache.put(&key, &value, Duration::from_secs(60));
                    assert_eq!(cache.get(&key), Some(value), "{key}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panicked");
    }
    assert_eq!(cache.stats(), stats(800, 0, 800));
    assert_eq!(redis.keys().len(), 800);
}

#[test]
fn a_malformed_url_is_an_error_that_names_redis_url_and_hides_the_password() {
    for url in [
        "redis://user:hunter2@localhost:notaport",
        "http://user:hunter2@localhost:6379",
        "localhost:6379",
    ] {
        let err = RedisCache::new(url, RedisOptions::default()).expect_err(url);
        assert!(matches!(err, CacheError::InvalidUrl { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("REDIS_URL ")
                && !message.contains("hunter2")
                && message.contains("expected redis://"),
            "{message}"
        );
        assert!(from_url(Some(url), 1).is_err());
    }
}

#[test]
fn from_url_picks_redis_when_a_url_is_given() {
    let Some(redis) = common::test_redis("from_url_picks_redis_when_a_url_is_given") else {
        return;
    };
    let cache = from_url(Some(&redis.url), 1).expect("cache");
    assert_eq!(cache.kind(), "redis");
    assert!(cache.stats().available);
}
