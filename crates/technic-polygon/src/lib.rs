//! The Polygon.io market-data source: [`PolygonSource`] implements technic's `MarketData` over
//! Polygon's REST API.
//!
//! - Bars: `/v2/aggs/ticker/{T}/range/1/day/{from}/{to}?adjusted=true`, following `next_url`.
//!   With `adjusted=true` Polygon has already applied splits and dividends.
//! - The cheap snapshot (a few newest bars of every symbol) comes from grouped daily aggregates,
//!   `/v2/aggs/grouped/locale/us/market/stocks/{date}`: one request per trading day for the whole
//!   market instead of one per symbol, shared by every symbol and scan of the source.
//! - Names: `/v3/reference/tickers` (every active stock), or the details of each ticker when the
//!   source is restricted to a few symbols.
//!
//! A separate crate rather than a module of `technic-data`: that crate (and so the engine, which
//! depends on it) knows nothing of HTTP, and its build stays free of the TLS and HTTP stack.
//!
//! The client is reqwest's blocking one: `MarketData` is synchronous and called from the scan's
//! std worker threads, which may simply block; a private async runtime would add a `block_on` per
//! call for nothing. (reqwest's blocking client runs its own small runtime thread internally.)

mod client;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate};
use technic_core::{Bar, Bars};
use technic_data::clock::Clock;
use technic_data::{BarWindow, DailyFeed, DataError, MarketData, SourceInfo, SymbolInfo};

use crate::client::Client;
use crate::wire::{AggsPage, TickerDetailsResponse, TickersPage};

/// Polygon's own address; `POLYGON_BASE_URL` points elsewhere (a proxy, a test server).
pub const DEFAULT_BASE_URL: &str = "https://api.polygon.io";

/// At most `requests` requests in any window of `per`. Written `5/min`, `50/s`, `100/sec`, `300/minute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

impl RateLimit {
    /// Polygon's free tier.
    pub const FREE_TIER: RateLimit = RateLimit {
        requests: 5,
        per: Duration::from_secs(60),
    };
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected REQUESTS/UNIT such as 5/min or 50/s, got {s:?}");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        if requests == 0 {
            return Err("the rate limit must allow at least one request".into());
        }
        let per = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "m" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Self { requests, per })
    }
}

/// How the source talks to Polygon.io.
#[derive(Debug, Clone)]
pub struct PolygonConfig {
    pub api_key: String,
    pub base_url: String,
    pub rate_limit: RateLimit,
    /// Requests in flight at once, whatever the number of scan workers.
    pub max_concurrency: usize,
    /// Attempts per request, the first included, before the request's error is final.
    pub max_attempts: u32,
    /// First retry delay; doubled per attempt up to `backoff_max`, half of it random.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// For one attempt, connection to last byte.
    pub timeout: Duration,
    /// Only these symbols make the universe (their names come from ticker details); `None` is
    /// every active US stock.
    pub symbols: Option<Vec<String>>,
    /// The newest date asked for when a window has no `to`; `None` is today in New York.
    pub today: Option<NaiveDate>,
}

impl PolygonConfig {
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            base_url: DEFAULT_BASE_URL.into(),
            rate_limit: RateLimit::FREE_TIER,
            max_concurrency: 4,
            max_attempts: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            symbols: None,
            today: None,
        }
    }

    /// Reads `POLYGON_API_KEY` (required), `POLYGON_BASE_URL`, `POLYGON_RATE_LIMIT` (`5/min`),
    /// `POLYGON_MAX_CONCURRENCY` and `POLYGON_MAX_ATTEMPTS` through `var` (the environment, or a
    /// map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, PolygonError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let key = var("POLYGON_API_KEY").ok_or(PolygonError::MissingKey)?;
        let mut config = Self::new(key.trim());
        if let Some(url) = var("POLYGON_BASE_URL") {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(PolygonError::BadSetting {
                    name: "POLYGON_BASE_URL",
                    value: url,
                    reason: "expected an http:// or https:// URL".into(),
                });
            }
            config.base_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(raw) = var("POLYGON_RATE_LIMIT") {
            config.rate_limit = raw.parse().map_err(|reason| PolygonError::BadSetting {
                name: "POLYGON_RATE_LIMIT",
                value: raw.clone(),
                reason,
            })?;
        }
        let positive = |name: &'static str, raw: String| {
            raw.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(PolygonError::BadSetting {
                    name,
                    value: raw,
                    reason: "expected a whole number of at least 1".into(),
                })
        };
        if let Some(raw) = var("POLYGON_MAX_CONCURRENCY") {
            config.max_concurrency = positive("POLYGON_MAX_CONCURRENCY", raw)? as usize;
        }
        if let Some(raw) = var("POLYGON_MAX_ATTEMPTS") {
            config.max_attempts = positive("POLYGON_MAX_ATTEMPTS", raw)?;
        }
        Ok(config)
    }
}

/// What went wrong talking to Polygon.io. Messages never contain the API key.
#[derive(Debug, thiserror::Error)]
pub enum PolygonError {
    #[error(
        "POLYGON_API_KEY is not set: the polygon source needs a Polygon.io API key (set POLYGON_API_KEY)"
    )]
    MissingKey,
    #[error("{name}={value:?}: {reason}")]
    BadSetting {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    #[error(
        "Polygon.io answered 401 Unauthorized to the request for {what}: POLYGON_API_KEY is missing or unknown{detail}"
    )]
    Unauthorized { what: String, detail: String },
    #[error(
        "Polygon.io answered 403 Forbidden to the request for {what}: your plan does not include this data (or this key may not use it){detail}"
    )]
    Forbidden { what: String, detail: String },
    #[error("Polygon.io answered {status} to the request for {what}{detail}")]
    Status {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: gave up after {attempts} attempts; the last: {last}")]
    GaveUp {
        what: String,
        attempts: u32,
        last: String,
    },
    #[error("{what}: Polygon.io sent a body that is not what its API documents: {reason}")]
    BadBody { what: String, reason: String },
    #[error("{what}: {reason}")]
    BadBars { what: String, reason: String },
}

impl PolygonError {
    fn for_symbol(self, symbol: &str) -> DataError {
        DataError::Unavailable {
            symbol: symbol.to_owned(),
            reason: self.to_string(),
        }
    }
}

impl From<PolygonError> for DataError {
    fn from(e: PolygonError) -> Self {
        DataError::Service {
            message: e.to_string(),
        }
    }
}

/// Windows of up to this many newest bars are served from grouped daily aggregates when the
/// universe is large (see [`PolygonSource::use_grouped`]). The engine's snapshot asks for 21.
pub const GROUPED_MAX_BARS: usize = 30;

/// Grouped daily days kept (about 12,000 bars each): three snapshots' worth of calendar days.
const MAX_GROUPED_DAYS: usize = 3 * (2 * GROUPED_MAX_BARS + 14);

/// How long a fetched universe is reused: the tickers list changes daily at most.
const UNIVERSE_TTL: Duration = Duration::from_secs(6 * 3600);

type Day = Result<Arc<HashMap<String, Bar>>, String>;
/// A day's answer and when it came.
type DayCell = Arc<OnceLock<(Instant, Day)>>;

/// How long the current day's grouped bars are reused: they change until the close, and before
/// it some plans get a 403 (kept as an empty day).
const CURRENT_DAY_TTL: Duration = Duration::from_secs(600);

/// technic's `MarketData` over Polygon.io.
#[derive(Debug)]
pub struct PolygonSource {
    client: Client,
    universe: Mutex<Option<(Instant, Vec<SymbolInfo>)>>,
    /// Grouped daily aggregates by date, each fetched once however many workers ask at once.
    days: Mutex<BTreeMap<NaiveDate, DayCell>>,
    /// Today's date and the caches' ages come from it.
    clock: Arc<dyn Clock>,
}

impl PolygonSource {
    pub fn new(config: PolygonConfig) -> Result<Self, PolygonError> {
        if config.api_key.trim().is_empty() {
            return Err(PolygonError::MissingKey);
        }
        Ok(Self {
            client: Client::new(config)?,
            universe: Mutex::new(None),
            days: Mutex::new(BTreeMap::new()),
            clock: technic_data::clock::system(),
        })
    }

    /// Reads today's date (unless configured) and the caches' ages from `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn config(&self) -> &PolygonConfig {
        self.client.config()
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.client.requests_sent()
    }

    /// How long ago `at` was, by the source's clock.
    fn age(&self, at: Instant) -> Duration {
        self.clock.now().saturating_duration_since(at)
    }

    fn today(&self) -> NaiveDate {
        self.config()
            .today
            .unwrap_or_else(|| today_in_new_york(&*self.clock))
    }

    /// Grouped daily costs one request per calendar day for the whole market; per-ticker costs
    /// one per symbol. With only a few symbols the per-ticker requests are fewer.
    fn use_grouped(&self, window: &BarWindow) -> bool {
        let few = self
            .config()
            .symbols
            .as_ref()
            .is_some_and(|s| s.len() <= GROUPED_MAX_BARS * 3 / 2);
        !few && window.from.is_none() && window.last.is_some_and(|n| n <= GROUPED_MAX_BARS)
    }

    /// The symbol's adjusted daily bars from `from` to `to`, following `next_url`.
    pub fn aggregates(
        &self,
        symbol: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Bars, PolygonError> {
        let what = format!("{symbol}'s daily bars {from}..{to}");
        let mut next = Some(format!(
            "/v2/aggs/ticker/{}/range/1/day/{from}/{to}?adjusted=true&sort=asc&limit=50000",
            encode(symbol)
        ));
        let mut bars = Bars::default();
        let mut pages = 0;
        while let Some(path) = next.take() {
            let page: AggsPage = self.client.get_json(&path, &what)?;
            pages += 1;
            for agg in &page.results {
                push(&mut bars, agg, &what)?;
            }
            // An empty page ends the walk even with a `next_url`: a loop cannot form.
            if !page.results.is_empty() {
                next = page.next_url.as_deref().map(relative).transpose()?;
            }
            if pages > 10_000 {
                return Err(PolygonError::BadBars {
                    what,
                    reason: "more than 10000 pages: the next_url chain does not end".into(),
                });
            }
        }
        Ok(bars)
    }

    /// Every stock's bar for `date` (empty on weekends and holidays), fetched once per source.
    pub fn grouped_daily(&self, date: NaiveDate) -> Result<Arc<HashMap<String, Bar>>, String> {
        let cell = {
            let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
            let current = date >= self.today();
            let cell = days.entry(date).or_default();
            if current
                && cell
                    .get()
                    .is_some_and(|(at, _)| self.age(*at) > CURRENT_DAY_TTL)
            {
                *cell = DayCell::default();
            }
            let cell = cell.clone();
            // A long-running server would otherwise keep every day it was ever asked about.
            while days.len() > MAX_GROUPED_DAYS {
                days.pop_first();
            }
            cell
        };
        let (_, day) = cell.get_or_init(|| (self.clock.now(), self.fetch_grouped(date)));
        // A failure is not kept: the next caller tries again. Nor is an empty answer for a
        // session that may not be published yet: kept, it would outlive the day and be taken
        // for a holiday once the date is past.
        let unpublished = day
            .as_ref()
            .is_ok_and(|bars| bars.is_empty() && date >= DailyFeed::today(self));
        if day.is_err() || unpublished {
            let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
            if days.get(&date).is_some_and(|held| Arc::ptr_eq(held, &cell)) {
                days.remove(&date);
            }
        }
        day.clone()
    }

    fn fetch_grouped(&self, date: NaiveDate) -> Day {
        let what = format!("grouped daily bars of {date}");
        let path = format!("/v2/aggs/grouped/locale/us/market/stocks/{date}?adjusted=true");
        let page: AggsPage = match self.client.get_json(&path, &what) {
            Ok(page) => page,
            // The current day is not published before the close (a 403 on some plans).
            Err(PolygonError::Forbidden { .. }) if date >= self.today() => {
                return Ok(Arc::default());
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut day = HashMap::with_capacity(page.results.len());
        for agg in page.results {
            if let (Some(ticker), Some(bar)) = (agg.ticker.clone(), agg.to_bar()) {
                // The request names the day; a stamp of another convention cannot move it.
                day.insert(ticker, Bar { date, ..bar });
            }
        }
        Ok(Arc::new(day))
    }

    /// The newest `n` bars up to `to` from grouped daily aggregates, walking back one calendar day
    /// at a time until `n` trading days are seen (or twice as many calendar days as bars, plus
    /// two weeks, have been looked at: a symbol missing from the market is not searched forever).
    fn grouped_bars(&self, symbol: &str, n: usize, to: NaiveDate) -> Result<Bars, DataError> {
        let mut newest_first = Vec::with_capacity(n);
        let mut trading_days = 0;
        let mut date = to;
        for _ in 0..(2 * n + 14) {
            if trading_days == n {
                break;
            }
            let day = self
                .grouped_daily(date)
                .map_err(|reason| DataError::Unavailable {
                    symbol: symbol.to_owned(),
                    reason,
                })?;
            if !day.is_empty() {
                trading_days += 1;
                if let Some(bar) = day.get(symbol) {
                    newest_first.push(*bar);
                }
            }
            let Some(previous) = date.pred_opt() else {
                break;
            };
            date = previous;
        }
        if newest_first.is_empty() {
            return Err(DataError::Unavailable {
                symbol: symbol.to_owned(),
                reason: format!(
                    "not in Polygon.io's grouped daily bars of the {trading_days} trading days to {to}"
                ),
            });
        }
        let mut bars = Bars::with_capacity(newest_first.len());
        for bar in newest_first.into_iter().rev() {
            bars.push(bar).map_err(|problem| DataError::Unavailable {
                symbol: symbol.to_owned(),
                reason: format!("grouped daily bar of {}: {problem}", bar.date),
            })?;
        }
        Ok(bars)
    }

    fn all_tickers(&self) -> Result<Vec<SymbolInfo>, PolygonError> {
        let what = "the list of active US stocks";
        let mut next = Some(String::from(
            "/v3/reference/tickers?market=stocks&active=true&limit=1000",
        ));
        let mut members = BTreeMap::new();
        while let Some(path) = next.take() {
            let page: TickersPage = self.client.get_json(&path, what)?;
            for row in &page.results {
                if row.active == Some(false) {
                    continue;
                }
                members.insert(
                    row.ticker.clone(),
                    SymbolInfo {
                        name: row.name.clone(),
                        ..SymbolInfo::new(row.ticker.clone())
                    },
                );
            }
            if !page.results.is_empty() {
                next = page.next_url.as_deref().map(relative).transpose()?;
            }
        }
        Ok(members.into_values().collect())
    }

    /// Each symbol's details. Only a 401 fails the universe; see below.
    fn listed_tickers(&self, symbols: &[String]) -> Result<Vec<SymbolInfo>, PolygonError> {
        let mut members = BTreeMap::new();
        for symbol in symbols {
            let symbol = symbol.trim().to_ascii_uppercase();
            let path = format!("/v3/reference/tickers/{}", encode(&symbol));
            let info = match self
                .client
                .get_json::<TickerDetailsResponse>(&path, &format!("{symbol}'s ticker details"))
            {
                Ok(details) => SymbolInfo {
                    name: details.results.name,
                    // SIC titles ("ELECTRONIC COMPUTERS") are industries; the tickers API has no
                    // GICS sector, so `sector` stays unknown rather than mixing vocabularies.
                    industry: details.results.sic_description,
                    market_cap: details.results.market_cap,
                    ..SymbolInfo::new(symbol.clone())
                },
                // A bad key is everyone's problem: the scan would fail symbol by symbol anyway.
                Err(e @ PolygonError::Unauthorized { .. }) => return Err(e),
                // Names are only informational: an unknown ticker (404) or one whose details
                // keep failing is kept without them; its bars decide what becomes of it.
                Err(e) => {
                    tracing::warn!(%symbol, error = %e, "no ticker details");
                    SymbolInfo::new(symbol.clone())
                }
            };
            members.insert(symbol, info);
        }
        Ok(members.into_values().collect())
    }
}

impl MarketData for PolygonSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "polygon",
            description: format!("Polygon.io REST at {}", self.config().base_url),
            synthetic: false,
        }
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        let mut held = self.universe.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, universe)) = held.as_ref()
            && self.age(*at) < UNIVERSE_TTL
        {
            return Ok(universe.clone());
        }
        let universe = match &self.config().symbols {
            Some(symbols) => self.listed_tickers(symbols)?,
            None => self.all_tickers()?,
        };
        *held = Some((self.clock.now(), universe.clone()));
        Ok(universe)
    }

    fn concurrent_reads(&self) -> Option<usize> {
        Some(self.config().max_concurrency)
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        let symbol = symbol.trim().to_ascii_uppercase();
        let to = window.to.unwrap_or_else(|| self.today());
        if let (true, Some(n)) = (self.use_grouped(window), window.last) {
            return self.grouped_bars(&symbol, n, to);
        }
        // About 252 trading days a year: 3/2 calendar days per bar, plus two weeks of holidays.
        let from = match (window.from, window.last) {
            (Some(from), _) => from,
            (None, Some(n)) => to
                .checked_sub_days(Days::new(n as u64 * 3 / 2 + 14))
                .unwrap_or(NaiveDate::MIN),
            (None, None) => NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN),
        };
        let mut bars = self
            .aggregates(&symbol, from, to)
            .map_err(|e| e.for_symbol(&symbol))?
            .between(Some(from), Some(to));
        if let Some(n) = window.last {
            bars.keep_last(n);
        }
        if bars.is_empty() {
            return Err(DataError::NoData {
                symbol,
                reason: format!("Polygon.io has no daily bars for it from {from} to {to}"),
            });
        }
        Ok(bars)
    }
}

impl DailyFeed for PolygonSource {
    /// The newest *finished* session: a bar stored is never corrected, and a plan that includes
    /// the current day can see it half-formed before the close.
    fn today(&self) -> NaiveDate {
        self.config()
            .today
            .unwrap_or_else(|| last_closed_day_in_new_york(&*self.clock))
    }

    fn day(&self, date: NaiveDate) -> Result<Arc<HashMap<String, Bar>>, DataError> {
        self.grouped_daily(date)
            .map_err(|message| DataError::Service { message })
    }
}

fn push(bars: &mut Bars, agg: &wire::Agg, what: &str) -> Result<(), PolygonError> {
    let bar = agg.to_bar().ok_or_else(|| PolygonError::BadBars {
        what: what.to_owned(),
        reason: format!("timestamp {} is out of range", agg.t),
    })?;
    bars.push(bar).map_err(|problem| PolygonError::BadBars {
        what: what.to_owned(),
        reason: format!("bar of {}: {problem}", bar.date),
    })
}

/// A `next_url`'s path and query, to be requested from the configured base URL: Polygon writes
/// its own public host there (api.polygon.io, lately api.massive.com), which would bypass a
/// `POLYGON_BASE_URL` proxy or test server.
fn relative(next_url: &str) -> Result<String, PolygonError> {
    let rest = next_url
        .split_once("://")
        .map_or(next_url, |(_, rest)| rest);
    let path = if next_url.starts_with('/') {
        next_url
    } else {
        rest.find('/').map(|i| &rest[i..]).unwrap_or("/")
    };
    if path.len() <= 1 {
        return Err(PolygonError::BadBody {
            what: "pagination".into(),
            reason: format!("next_url {next_url:?} has no path"),
        });
    }
    Ok(path.to_owned())
}

/// Tickers such as `BRK.B` are safe in a path; anything else is percent-encoded.
fn encode(symbol: &str) -> String {
    symbol
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The New York date whose session has surely closed and been published: today from 22:00 UTC
/// (17:00 in winter, 18:00 in summer, after the close at 16:00), else yesterday.
fn last_closed_day_in_new_york(clock: &dyn Clock) -> NaiveDate {
    clock.date_at_offset(-22)
}

/// Today's date in New York, where US trading days are dated. Eastern time is UTC-5 or UTC-4;
/// taking UTC-5 all year is an hour early under daylight time, between midnight and 1 a.m.,
/// when no bar of the new day exists anyway.
fn today_in_new_york(clock: &dyn Clock) -> NaiveDate {
    clock.date_at_offset(-5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_and_bad_ones_say_why() {
        assert_eq!(
            "5/min".parse::<RateLimit>(),
            Ok(RateLimit::FREE_TIER),
            "the free tier"
        );
        assert_eq!(
            "50/s".parse::<RateLimit>().map(|r| (r.requests, r.per)),
            Ok((50, Duration::from_secs(1)))
        );
        assert!("fast".parse::<RateLimit>().unwrap_err().contains("5/min"));
        assert!("0/s".parse::<RateLimit>().is_err());
    }

    #[test]
    fn settings_come_from_the_environment_and_the_key_is_required() {
        let err = PolygonConfig::from_vars(|_| None).unwrap_err().to_string();
        assert!(err.contains("POLYGON_API_KEY is not set"), "{err}");
        let vars = HashMap::from([
            ("POLYGON_API_KEY", "k"),
            ("POLYGON_BASE_URL", "http://127.0.0.1:9/"),
            ("POLYGON_RATE_LIMIT", "100/minute"),
        ]);
        let config =
            PolygonConfig::from_vars(|n| vars.get(n).map(|v| v.to_string())).expect("config");
        assert_eq!(config.base_url, "http://127.0.0.1:9");
        assert_eq!(config.rate_limit.requests, 100);
        let vars = HashMap::from([("POLYGON_API_KEY", "k"), ("POLYGON_MAX_CONCURRENCY", "0")]);
        let err = PolygonConfig::from_vars(|n| vars.get(n).map(|v| v.to_string()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("POLYGON_MAX_CONCURRENCY"), "{err}");
    }

    #[test]
    fn next_urls_are_followed_on_the_configured_host() {
        assert_eq!(
            relative("https://api.massive.com/v3/reference/tickers?cursor=abc").expect("url"),
            "/v3/reference/tickers?cursor=abc"
        );
        assert_eq!(relative("/v2/x?cursor=1").expect("path"), "/v2/x?cursor=1");
        assert!(relative("https://api.polygon.io").is_err());
        assert_eq!(encode("BRK.B"), "BRK.B");
        assert_eq!(encode("A B"), "A%20B");
    }
}
