//! The in-process cache, the bars codec on real data, and `CachedSource` over the real S&P 500
//! directory, in memory and in Redis.

mod common;

use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use chrono::NaiveDate;
use technic_cache::{
    Cache, CacheStats, CachedSource, MemoryCache, RedisCache, decode_bars, encode_bars,
};
use technic_core::Bars;
use technic_data::files::FileSource;
use technic_data::{BarWindow, Lookup, MarketData};

fn stats(hits: u64, misses: u64, puts: u64, errors: u64) -> CacheStats {
    CacheStats {
        hits,
        misses,
        puts,
        errors,
        outages: 0,
        available: true,
    }
}

/// Equal to the bit: `==` on f64 would let 0.0 stand for -0.0.
fn assert_same_bars(ours: &Bars, theirs: &Bars, what: &str) {
    assert_eq!(ours.dates, theirs.dates, "{what}: dates");
    for (name, a, b) in [
        ("open", &ours.open, &theirs.open),
        ("high", &ours.high, &theirs.high),
        ("low", &ours.low, &theirs.low),
        ("close", &ours.close, &theirs.close),
        ("volume", &ours.volume, &theirs.volume),
    ] {
        let bits = |v: &Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(a) == bits(b), "{what}: {name} differs");
    }
}

#[test]
fn memory_entries_live_for_their_own_ttl_from_their_last_put() {
    let cache = MemoryCache::new(1 << 20);
    cache.put("short", b"s", Duration::from_millis(400));
    cache.put("long", b"l", Duration::from_secs(60));
    cache.put("renewed", b"r1", Duration::from_millis(1000));
    cache.put("zero", b"z", Duration::ZERO);
    assert_eq!(cache.get("short").as_deref(), Some(&b"s"[..]));
    sleep(Duration::from_millis(600));
    // 600 ms after its first put: renewing it now must give it a full second again.
    cache.put("renewed", b"r2", Duration::from_millis(1000));
    assert_eq!(cache.get("short"), None, "expired after 400 ms");
    assert_eq!(cache.get("long").as_deref(), Some(&b"l"[..]));
    assert_eq!(cache.get("zero"), None, "a zero TTL stores nothing");
    sleep(Duration::from_millis(600));
    assert_eq!(
        cache.get("renewed").as_deref(),
        Some(&b"r2"[..]),
        "1.2 s after the first put, 0.6 s after the second"
    );
    assert_eq!(cache.stats(), stats(3, 2, 4, 0));
}

#[test]
fn memory_is_bounded_by_the_bytes_of_keys_and_values() {
    const BOUND: u64 = 100_000;
    const VALUE: usize = 10_000;
    let cache = MemoryCache::new(BOUND);
    let value = vec![7u8; VALUE];
    let keys: Vec<String> = (0..100).map(|i| format!("key-{i:03}")).collect();
    for key in &keys {
        cache.put(key, &value, Duration::from_secs(60));
    }
    let held = cache.entry_count();
    let bytes = cache.weighted_bytes();
    assert!(bytes <= BOUND, "{bytes} bytes held, bound {BOUND}");
    assert!((1..=9).contains(&held), "{held} entries of 10,007 bytes");
    assert_eq!(bytes, held * (VALUE as u64 + 7), "keys weigh too");
    let found = keys.iter().filter(|k| cache.get(k).is_some()).count() as u64;
    assert_eq!(found, held);

    // A value larger than the whole bound is never kept, and evicts nothing.
    cache.put(
        "huge",
        &vec![0u8; 2 * BOUND as usize],
        Duration::from_secs(60),
    );
    assert!(cache.get("huge").is_none());
    assert_eq!(cache.entry_count(), held);
    assert_eq!(cache.stats(), stats(held, 100 - held + 1, 100, 0));
}

#[test]
fn the_codec_round_trips_every_real_symbol_to_the_bit() {
    let source = FileSource::open(technic_testkit::sp500()).expect("sp500 opens");
    let universe = source.universe().expect("universe");
    // Every symbol's newest four years (what scans read), and whole histories of a few: reading
    // all of them in a debug build would take the suite's time for no more coverage of the codec.
    let mut reads: Vec<(&str, BarWindow)> = universe
        .iter()
        .map(|s| (s.symbol.as_str(), BarWindow::last(1000)))
        .collect();
    for symbol in ["AAPL", "BRK.B", "GE", "XOM"] {
        reads.push((symbol, BarWindow::default()));
    }
    let (mut checked, mut bars_checked) = (0, 0);
    for (symbol, window) in reads {
        let Ok(bars) = source.bars(symbol, &window) else {
            continue; // The directory's deliberately broken files; the source's own tests cover them.
        };
        let bytes = encode_bars(&bars);
        assert_eq!(bytes.len(), 7 + 44 * bars.len(), "{symbol}: size");
        let back = decode_bars(&bytes).unwrap_or_else(|| panic!("{symbol} decodes"));
        assert_same_bars(&back, &bars, symbol);
        checked += 1;
        bars_checked += bars.len();
    }
    assert!(checked >= 504, "only {checked} reads had bars");
    assert!(bars_checked > 500_000, "only {bars_checked} bars");
}

#[test]
fn corrupt_bytes_decode_to_none_never_a_panic() {
    let source = FileSource::open(technic_testkit::sp500()).expect("sp500 opens");
    let bars = source.bars("AAPL", &BarWindow::last(50)).expect("AAPL");
    let good = encode_bars(&bars);
    assert!(decode_bars(&good).is_some());
    let record = |i: usize| 7 + 44 * i;
    let price = |i: usize, field: usize| record(i) + 4 + 8 * field;

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut nan_close = good.clone();
    nan_close[price(3, 3)..price(3, 3) + 8].copy_from_slice(&f64::NAN.to_bits().to_le_bytes());
    cases.push(("NaN close", nan_close));
    let mut high_below_low = good.clone();
    high_below_low[price(5, 1)..price(5, 1) + 8].copy_from_slice(&0.5f64.to_bits().to_le_bytes());
    cases.push(("high below low", high_below_low));
    let mut repeated_date = good.clone();
    repeated_date.copy_within(record(10)..record(10) + 4, record(11));
    cases.push(("a date repeated", repeated_date));
    let mut out_of_range_date = good.clone();
    out_of_range_date[record(0)..record(0) + 4].copy_from_slice(&i32::MAX.to_le_bytes());
    cases.push(("a date chrono cannot hold", out_of_range_date));
    let mut huge_count = good.clone();
    huge_count[3..7].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(("a count the body does not have", huge_count));
    let mut wrong_magic = good.clone();
    wrong_magic[0] = b'X';
    cases.push(("not our format", wrong_magic));
    cases.push(("truncated mid-record", good[..good.len() - 3].to_vec()));
    cases.push(("empty", Vec::new()));
    cases.push(("JSON", br#"{"bars":[]}"#.to_vec()));
    for (what, bytes) in &cases {
        assert_eq!(decode_bars(bytes), None, "{what}");
    }

    // Flipping any single byte of the header or of a date or price either is refused or still
    // decodes to valid bars: never a panic. (A flipped mantissa bit is valid data; nothing can tell.)
    for at in 0..good.len() {
        let mut flipped = good.clone();
        flipped[at] ^= 0xA5;
        if let Some(decoded) = decode_bars(&flipped) {
            assert_eq!(decoded.len(), bars.len());
        }
    }
}

/// Reads every symbol of the real directory twice through `cache` and checks what each pass says.
fn cached_source_reads_through(cache: Arc<dyn Cache>, before: CacheStats) {
    let window = BarWindow::last(300);
    let plain = FileSource::open(technic_testkit::sp500()).expect("sp500 opens");
    let source = CachedSource::new(
        FileSource::open(technic_testkit::sp500()).expect("sp500 opens"),
        cache.clone(),
        "sp500",
        Duration::from_secs(600),
    );
    let universe = source.universe().expect("universe, from the source");
    assert_eq!(universe, plain.universe().expect("universe"));
    assert_eq!(
        source.universe().expect("universe, from the cache"),
        universe
    );
    // Another process puts a newer universe in the cache: it is read as it is now, not as it
    // was last decoded.
    let newer = universe[..3].to_vec();
    cache.put(
        "sp500:universe",
        &serde_json::to_vec(&newer).expect("json"),
        Duration::from_secs(600),
    );
    assert_eq!(source.universe().expect("the newer universe"), newer);

    let expected: Vec<_> = universe
        .iter()
        .map(|s| plain.bars(&s.symbol, &window))
        .collect();
    let failing = expected.iter().filter(|r| r.is_err()).count() as u64;
    let total = universe.len() as u64;
    assert!(
        (1..5).contains(&failing),
        "the directory has a few broken symbols"
    );

    for pass in 1..=2 {
        for (info, expected) in universe.iter().zip(&expected) {
            let (got, lookup) = source.bars_with_lookup(&info.symbol, &window);
            match (expected, got) {
                (Ok(expected), Ok(got)) => {
                    assert_eq!(lookup, if pass == 1 { Lookup::Miss } else { Lookup::Hit });
                    assert_same_bars(&got, expected, &format!("{} pass {pass}", info.symbol));
                }
                (Err(expected), Err(got)) => {
                    assert_eq!(
                        lookup,
                        Lookup::Miss,
                        "{}: errors are never cached",
                        info.symbol
                    );
                    assert_eq!(got.to_string(), expected.to_string());
                }
                (expected, got) => panic!("{}: source {expected:?}, cached {got:?}", info.symbol),
            }
        }
    }
    let after = cache.stats();
    let ok = total - failing;
    // The universe: a miss and a put, a hit, the newer one's put and a hit. Bars: all misses,
    // then hits but for the failing.
    assert_eq!(
        after,
        CacheStats {
            hits: before.hits + 2 + ok,
            misses: before.misses + 1 + total + failing,
            puts: before.puts + 2 + ok,
            ..before
        }
    );
}

#[test]
fn cached_source_in_memory_misses_then_hits_with_the_same_bars() {
    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new(256 << 20));
    cached_source_reads_through(cache.clone(), stats(0, 0, 0, 0));
}

#[test]
fn cached_source_in_redis_misses_then_hits_with_the_same_bars() {
    let Some(redis) =
        common::test_redis("cached_source_in_redis_misses_then_hits_with_the_same_bars")
    else {
        return;
    };
    let cache: Arc<dyn Cache> =
        Arc::new(RedisCache::new(&redis.url, redis.options()).expect("cache"));
    cached_source_reads_through(cache.clone(), stats(0, 0, 0, 0));
    let keys = redis.keys();
    let aapl = format!("{}sp500:bars:AAPL:300/-/-", redis.prefix);
    assert!(keys.contains(&aapl), "no {aapl} in {keys:?}");
    assert!(keys.contains(&format!("{}sp500:universe", redis.prefix)));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&aapl)
        .query(&mut redis.connection())
        .expect("PTTL");
    assert!((1..=600_000).contains(&ttl), "PTTL {ttl}");
}

#[test]
fn a_corrupt_entry_is_a_miss_and_an_error_and_is_replaced() {
    let memory = Arc::new(MemoryCache::new(1 << 20));
    let cache: Arc<dyn Cache> = memory.clone();
    let source = CachedSource::new(
        FileSource::open(technic_testkit::sp500()).expect("sp500 opens"),
        cache,
        "ns",
        Duration::from_secs(60),
    );
    let from = NaiveDate::from_ymd_opt(2020, 1, 2);
    let to = NaiveDate::from_ymd_opt(2020, 3, 31);
    let window = BarWindow {
        last: None,
        from,
        to,
    };
    let key = "ns:bars:MSFT:-/2020-01-02/2020-03-31";
    memory.put(key, b"not bars", Duration::from_secs(60));
    memory.put("ns:universe", b"[{\"symbol\":", Duration::from_secs(60));

    let (bars, lookup) = source.bars_with_lookup("MSFT", &window);
    let bars = bars.expect("MSFT from the source");
    assert_eq!(lookup, Lookup::Miss);
    assert_eq!(bars.len(), 62, "the trading days of 2020's first quarter");
    let universe = source.universe().expect("universe from the source");
    assert!(universe.len() > 500);
    // Both rejected values became a miss and an error, not a hit; both were replaced.
    assert_eq!(memory.stats(), stats(0, 2, 4, 2));

    let (again, lookup) = source.bars_with_lookup("MSFT", &window);
    assert_eq!(lookup, Lookup::Hit);
    assert_same_bars(&again.expect("MSFT from the cache"), &bars, "MSFT");
    assert_eq!(source.universe().expect("universe"), universe);
    assert_eq!(memory.stats(), stats(2, 2, 4, 2));
    assert!(
        memory.get(key).is_some_and(|b| decode_bars(&b).is_some()),
        "the key is the documented one"
    );
}
