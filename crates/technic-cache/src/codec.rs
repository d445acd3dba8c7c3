//! The cached form of [`Bars`]: a small header, then one fixed-size little-endian record per bar.
//!
//! Layout (version 1): `b"TB"`, version byte, bar count as `u32`, then per bar the date as `i32`
//! days from the Common Era and open, high, low, close, volume as `f64` bit patterns. Bit patterns,
//! not text, so a cached bar equals the source's to the last bit.

use chrono::{Datelike, NaiveDate};
use technic_core::{Bar, Bars};

const MAGIC: &[u8; 2] = b"TB";
/// Bumped whenever the layout changes: an entry from an older build then decodes as `None` and is
/// fetched again, instead of being misread.
const VERSION: u8 = 1;
const HEADER: usize = MAGIC.len() + 1 + 4;
const RECORD: usize = 4 + 5 * 8;

/// The cached form of `bars`.
pub fn encode_bars(bars: &Bars) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + bars.len() * RECORD);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    // Bars are daily: u32 holds eleven million years of them.
    let count = u32::try_from(bars.len()).expect("fewer than 2^32 bars");
    out.extend_from_slice(&count.to_le_bytes());
    for i in 0..bars.len() {
        out.extend_from_slice(&bars.dates[i].num_days_from_ce().to_le_bytes());
        for value in [
            bars.open[i],
            bars.high[i],
            bars.low[i],
            bars.close[i],
            bars.volume[i],
        ] {
            out.extend_from_slice(&value.to_bits().to_le_bytes());
        }
    }
    out
}

/// Bars from [`encode_bars`]'s bytes, or `None` when the bytes are not that (another version,
/// truncated, or bars that break the core's invariants). Never panics.
pub fn decode_bars(bytes: &[u8]) -> Option<Bars> {
    let (header, body) = bytes.split_at_checked(HEADER)?;
    if &header[..2] != MAGIC || header[2] != VERSION {
        return None;
    }
    let count = usize::try_from(u32::from_le_bytes(header[3..7].try_into().ok()?)).ok()?;
    // The length is checked before anything is allocated, so a corrupt count cannot ask for memory.
    if body.len() != count.checked_mul(RECORD)? {
        return None;
    }
    let mut bars = Bars::with_capacity(count);
    for record in body.chunks_exact(RECORD) {
        let days = i32::from_le_bytes(record[..4].try_into().ok()?);
        let value = |i: usize| {
            let at = 4 + i * 8;
            record[at..at + 8]
                .try_into()
                .ok()
                .map(|b| f64::from_bits(u64::from_le_bytes(b)))
        };
        let bar = Bar {
            date: NaiveDate::from_num_days_from_ce_opt(days)?,
            open: value(0)?,
            high: value(1)?,
            low: value(2)?,
            close: value(3)?,
            volume: value(4)?,
        };
        bars.push(bar).ok()?;
    }
    Some(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bars {
        let mut bars = Bars::default();
        for day in 1..=3 {
            bars.push(Bar {
                date: NaiveDate::from_ymd_opt(2024, 1, day).expect("date"),
                open: 1.0 + f64::from(day) / 3.0,
                high: 9.5,
                low: 0.1,
                close: 2.0,
                volume: 1e9 + 0.5,
            })
            .expect("valid bar");
        }
        bars
    }

    #[test]
    fn round_trip_and_length() {
        let bars = sample();
        let bytes = encode_bars(&bars);
        assert_eq!(bytes.len(), HEADER + 3 * RECORD);
        assert_eq!(decode_bars(&bytes), Some(bars));
        assert_eq!(
            decode_bars(&encode_bars(&Bars::default())),
            Some(Bars::default())
        );
    }

    #[test]
    fn every_truncation_and_a_wrong_version_are_refused() {
        let bytes = encode_bars(&sample());
        for len in 0..bytes.len() {
            assert_eq!(decode_bars(&bytes[..len]), None, "truncated to {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode_bars(&longer), None, "a trailing byte");
        let mut other_version = bytes;
        other_version[2] = VERSION + 1;
        assert_eq!(decode_bars(&other_version), None);
    }
}
