//! What a symbol's bars give (indicators, rating, alpha factors), shared by every scan of one
//! `Scanner` that reads the same bars.
//!
//! Fifty traders scanning the S&P 500 with the default settings ask for the same 506 computations
//! fifty times; a server computes each once and hands the others a copy. The key is the symbol and
//! a hash of every bar it was computed from, so a result is reused only for identical input
//! (whatever the source, window or date the bars came through): a new session, a re-adjusted
//! history or a different lookback is a different key. Everything request-specific (filters,
//! `min_tech_rating`, the tier, the alpha score, high quality) is applied after, per scan.
//!
//! On in `technic serve` ([`crate::Scanner::with_shared_analyses`]). Kept in moka, bounded in
//! bytes, dropped after 15 minutes unused; a scan that asks while another computes the same key
//! waits for it. Shared and computed counts are in each scan's metrics.

use std::hash::Hasher;
use std::sync::Arc;
use std::time::Duration;

use chrono::Datelike;
use technic_core::Bars;
pub(crate) use technic_core::evaluate::Analysis;

/// How long an analysis nobody asked for again is kept.
const IDLE_TTL: Duration = Duration::from_secs(15 * 60);

/// Roughly the bytes an entry holds, so the bound is in memory rather than entries.
fn weight(analysis: &Analysis, symbol: &str) -> u32 {
    let indicators = match analysis {
        Analysis::Rated { indicators, .. } => indicators
            .iter()
            .map(|(name, _)| size_of::<(String, Option<f64>)>() + name.len())
            .sum(),
        Analysis::IndicatorsFailed(message) => message.len(),
        Analysis::Unrated => 0,
    };
    // The key, the `Arc`'s counts and moka's own bookkeeping: roughly a hundred bytes.
    const OVERHEAD: usize = size_of::<Key>() + 2 * size_of::<usize>() + 64;
    u32::try_from(OVERHEAD + size_of::<Analysis>() + symbol.len() + indicators).unwrap_or(u32::MAX)
}

/// The symbol and a hash of its bars.
type Key = (String, u64);

/// Analyses by symbol and bars; bounded in bytes, entries dropped after [`IDLE_TTL`] unused.
pub(crate) struct SharedAnalyses {
    cache: moka::sync::Cache<Key, Arc<Analysis>>,
}

impl std::fmt::Debug for SharedAnalyses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedAnalyses")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl SharedAnalyses {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|(symbol, _): &Key, analysis: &Arc<Analysis>| weight(analysis, symbol))
                .time_to_idle(IDLE_TTL)
                .build(),
        }
    }

    /// The analysis of `bars`, computed by `analyse` only if no scan has done so for the same bars,
    /// and whether this call computed it. A scan that asks while another computes it waits for that
    /// computation instead of repeating it.
    pub(crate) fn get_or_compute(
        &self,
        symbol: &str,
        bars: &Bars,
        analyse: impl FnOnce() -> Analysis,
    ) -> (Arc<Analysis>, bool) {
        let mut computed_here = false;
        let analysis = self
            .cache
            .get_with((symbol.to_owned(), fingerprint(bars)), || {
                computed_here = true;
                Arc::new(analyse())
            });
        (analysis, computed_here)
    }

    /// Whether some scan has already analysed these very bars (a lookup, nothing computed).
    pub(crate) fn has(&self, symbol: &str, bars: &Bars) -> bool {
        self.cache
            .contains_key(&(symbol.to_owned(), fingerprint(bars)))
    }
}

/// A hash of every bar (dates and the bit patterns of all five columns, so a NaN or a -0.0 counts):
/// two bar series with the same fingerprint are taken to be the same series. A 64-bit hash keeps an
/// accidental collision at about one in 2^64 per pair of series of one symbol; bars are not chosen
/// by an adversary, so XXH3 serves, at a fifth of SipHash's cost: with everything cached, SipHash
/// was a fifth of what a scan's threads did (8 µs of 400 bars, every symbol of every scan).
fn fingerprint(bars: &Bars) -> u64 {
    let mut hasher = twox_hash::XxHash3_64::new();
    // Every column's length, so columns of unequal lengths (the fields are public) cannot alias.
    for len in [
        bars.dates.len(),
        bars.open.len(),
        bars.high.len(),
        bars.low.len(),
        bars.close.len(),
        bars.volume.len(),
    ] {
        hasher.write(&(len as u64).to_le_bytes());
    }
    // The values go to the hasher in blocks, not one call each: per-call overhead is most of the
    // cost at eight bytes a call.
    let mut block = [0u8; 2048];
    for dates in bars.dates.chunks(block.len() / 4) {
        for (bytes, date) in block.chunks_exact_mut(4).zip(dates) {
            bytes.copy_from_slice(&date.num_days_from_ce().to_le_bytes());
        }
        hasher.write(&block[..dates.len() * 4]);
    }
    for column in [&bars.open, &bars.high, &bars.low, &bars.close, &bars.volume] {
        for values in column.chunks(block.len() / 8) {
            for (bytes, value) in block.chunks_exact_mut(8).zip(values) {
                bytes.copy_from_slice(&value.to_bits().to_le_bytes());
            }
            hasher.write(&block[..values.len() * 8]);
        }
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn bars(closes: &[f64]) -> Bars {
        let start = NaiveDate::from_ymd_opt(2024, 1, 2).expect("date");
        let mut bars = Bars::with_capacity(closes.len());
        for (i, &close) in closes.iter().enumerate() {
            bars.dates.push(start + chrono::Days::new(i as u64));
            bars.open.push(close);
            bars.high.push(close);
            bars.low.push(close);
            bars.close.push(close);
            bars.volume.push(1000.0);
        }
        bars
    }

    #[test]
    fn the_same_bars_are_analysed_once_and_any_change_is_analysed_again() {
        let shared = SharedAnalyses::new(1 << 20);
        let computed = AtomicUsize::new(0);
        let analyse = || {
            computed.fetch_add(1, Ordering::SeqCst);
            Analysis::Unrated
        };
        let original = bars(&[10.0, 11.0, 12.0]);
        assert!(shared.get_or_compute("A", &original, analyse).1);
        assert!(!shared.get_or_compute("A", &original.clone(), analyse).1);
        assert_eq!(computed.load(Ordering::SeqCst), 1, "identical bars");

        // An old bar re-adjusted, the newest bar revised, one more bar, another symbol.
        let mut readjusted = original.clone();
        readjusted.close[0] = 5.0;
        let mut revised = original.clone();
        revised.volume[2] = 1001.0;
        let longer = bars(&[10.0, 11.0, 12.0, 13.0]);
        for changed in [&readjusted, &revised, &longer] {
            shared.get_or_compute("A", changed, analyse);
        }
        shared.get_or_compute("B", &original, analyse);
        assert_eq!(computed.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn a_shifted_window_with_equal_values_is_another_key() {
        let a = bars(&[1.0, 1.0, 1.0]);
        let mut b = a.clone();
        for date in &mut b.dates {
            *date = *date + chrono::Days::new(1);
        }
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let mut negative_zero = a.clone();
        negative_zero.close[1] = -0.0;
        let mut zero = a.clone();
        zero.close[1] = 0.0;
        assert_ne!(fingerprint(&zero), fingerprint(&negative_zero));
    }

    #[test]
    fn a_change_past_the_first_block_of_a_long_series_is_another_key() {
        let closes: Vec<f64> = (0..1200).map(|i| 100.0 + f64::from(i) / 7.0).collect();
        let long = bars(&closes);
        assert_eq!(fingerprint(&long), fingerprint(&long.clone()));
        let mut late_volume = long.clone();
        late_volume.volume[1100] = 1000.5;
        let mut late_date = long.clone();
        late_date.dates[1199] = late_date.dates[1199] + chrono::Days::new(1);
        let mut swapped = long.clone();
        std::mem::swap(&mut swapped.open, &mut swapped.volume);
        for changed in [&late_volume, &late_date, &swapped] {
            assert_ne!(fingerprint(&long), fingerprint(changed));
        }
    }

    #[test]
    fn concurrent_askers_share_one_computation() {
        let shared = SharedAnalyses::new(1 << 20);
        let computed = AtomicUsize::new(0);
        let series = bars(&[1.0, 2.0, 3.0]);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    shared.get_or_compute("A", &series, || {
                        computed.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        Analysis::Unrated
                    })
                });
            }
        });
        assert_eq!(computed.load(Ordering::SeqCst), 1);
    }
}
