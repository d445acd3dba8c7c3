//! Polygon.io's JSON, as its REST API sends it, and the conversion to technic's bars.
//!
//! Only the fields technic reads are declared; serde ignores the rest, so new fields on Polygon's
//! side never break parsing.

use chrono::{DateTime, NaiveDate};
use serde::Deserialize;
use technic_core::Bar;

/// One aggregate bar (`/v2/aggs/ticker/...` and, with `T`, `/v2/aggs/grouped/...`).
#[derive(Debug, Clone, Deserialize)]
pub struct Agg {
    /// The ticker; only grouped daily responses carry it.
    #[serde(rename = "T")]
    pub ticker: Option<String>,
    /// Start of the bar's window, milliseconds since the epoch.
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    /// Fractional for some feeds (the OpenAPI grouped example has `25933.6`).
    pub v: f64,
}

/// A page of aggregates: per-ticker ranges and grouped daily share this shape.
#[derive(Debug, Clone, Deserialize)]
pub struct AggsPage {
    /// Absent (not empty) when there are no bars, e.g. grouped daily for a weekend or holiday.
    #[serde(default)]
    pub results: Vec<Agg>,
    pub next_url: Option<String>,
}

/// One row of `/v3/reference/tickers`.
#[derive(Debug, Clone, Deserialize)]
pub struct TickerRow {
    pub ticker: String,
    pub name: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TickersPage {
    #[serde(default)]
    pub results: Vec<TickerRow>,
    pub next_url: Option<String>,
}

/// `/v3/reference/tickers/{ticker}`: the details of one ticker.
#[derive(Debug, Clone, Deserialize)]
pub struct TickerDetailsResponse {
    pub results: TickerDetails,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TickerDetails {
    pub ticker: String,
    pub name: Option<String>,
    /// The SEC's SIC industry title (e.g. "ELECTRONIC COMPUTERS"): an industry, not a GICS sector.
    pub sic_description: Option<String>,
    pub market_cap: Option<f64>,
}

/// An error body: Polygon puts the reason in `message` (sometimes `error`).
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub status: Option<String>,
    pub message: Option<String>,
    pub error: Option<String>,
}

/// The trading date, in New York, of a daily bar stamped `ms` milliseconds after the epoch.
///
/// Polygon stamps per-ticker daily bars at midnight US/Eastern of their date (04:00 or 05:00
/// UTC), but its grouped daily examples stamp the end of the window, 16:00 Eastern (20:00 or
/// 21:00 UTC). Taking UTC-4 all year gives the New York date of any stamp from 00:00 to 23:00
/// Eastern, daylight time or not, so no time-zone table is needed. (Adding 12 hours, the other
/// shortcut, works for midnight stamps only: 16:00 Eastern plus 12 hours is the next day.)
pub fn trading_date(ms: i64) -> Option<NaiveDate> {
    const FOUR_HOURS_MS: i64 = 4 * 60 * 60 * 1000;
    DateTime::from_timestamp_millis(ms.checked_sub(FOUR_HOURS_MS)?).map(|t| t.date_naive())
}

impl Agg {
    /// The bar, or `None` when the timestamp is out of chrono's range. Prices are taken as sent:
    /// with `adjusted=true` Polygon has already applied splits and dividends.
    pub fn to_bar(&self) -> Option<Bar> {
        Some(Bar {
            date: trading_date(self.t)?,
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_and_close_stamps_map_to_their_new_york_date_in_summer_and_winter() {
        // 2020-01-02 00:00 EST = 05:00 UTC; 2020-07-01 00:00 EDT = 04:00 UTC.
        assert_eq!(
            trading_date(1_577_941_200_000),
            NaiveDate::from_ymd_opt(2020, 1, 2)
        );
        assert_eq!(
            trading_date(1_593_576_000_000),
            NaiveDate::from_ymd_opt(2020, 7, 1)
        );
        // The grouped daily example's stamp: 2020-10-14 16:00 EDT = 20:00 UTC.
        assert_eq!(
            trading_date(1_602_705_600_000),
            NaiveDate::from_ymd_opt(2020, 10, 14)
        );
        // 16:00 EST = 21:00 UTC, and the end of after-hours, 20:00 EST = 01:00 UTC the next day.
        assert_eq!(
            trading_date(1_578_949_200_000),
            NaiveDate::from_ymd_opt(2020, 1, 13)
        );
        assert_eq!(
            trading_date(1_578_963_600_000),
            NaiveDate::from_ymd_opt(2020, 1, 13)
        );
    }
}
