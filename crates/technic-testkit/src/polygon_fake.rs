//! A loopback server that answers like Polygon.io's REST API, serving `../shared/data/sp500` in
//! Polygon's wire format: per-ticker aggregates paginated with `next_url`, grouped daily by date,
//! the tickers list (paginated) and ticker details. It checks `apiKey` as Polygon does (401 with
//! no or an unknown key, 403 for a key whose plan lacks the data), and can be told to be slow, to
//! answer 429 (with `Retry-After`) or 5xx, and counts every request with its arrival time.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, Weekday};
use serde_json::{Value, json};
use technic_core::Bars;
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData, SymbolInfo};

pub const KEY: &str = "test-key";
/// A valid key whose plan does not include the data: every data request gets 403.
pub const PLAN_KEY: &str = "basic-plan-key";

/// Polygon writes its own host into `next_url`; the client must follow it on its configured one.
const PUBLIC_HOST: &str = "https://api.polygon.io";

#[derive(Debug, Clone)]
pub struct FakeOptions {
    pub data: PathBuf,
    /// Tickers served by the tickers list and grouped daily (aggregates serve any file's ticker).
    pub tickers: Vec<String>,
    /// Aggregates per page before a `next_url` (Polygon's own cap is the `limit` asked for).
    pub page_size: usize,
    pub tickers_page_size: usize,
    pub latency: Duration,
    /// The first this-many requests (after the key check) are answered with `fail_status`.
    pub fail_first: usize,
    /// Also every n-th request after those.
    pub fail_every: Option<usize>,
    pub fail_status: u16,
    pub retry_after_secs: Option<u64>,
    /// Tickers whose aggregates and details always answer 503.
    pub broken: HashSet<String>,
    /// Days added to every bar's date (a multiple of 7 keeps weekdays), so that a client whose
    /// "today" is the real date finds the 1999-2021 data recent.
    pub shift_days: u64,
    /// Polygon's plan limit: more than this many requests in the window get a 429, as the real
    /// service answers a plan's overrun.
    pub rate_limit: Option<(usize, Duration)>,
}

impl FakeOptions {
    pub fn new(data: PathBuf) -> Self {
        Self {
            data,
            tickers: Vec::new(),
            page_size: 50_000,
            tickers_page_size: 1000,
            latency: Duration::ZERO,
            fail_first: 0,
            fail_every: None,
            fail_status: 429,
            retry_after_secs: None,
            broken: HashSet::new(),
            shift_days: 0,
            rate_limit: None,
        }
    }
}

#[derive(Debug)]
struct Fake {
    options: FakeOptions,
    files: FileSource,
    names: HashMap<String, SymbolInfo>,
    bars: Mutex<HashMap<String, Arc<Bars>>>,
    /// Arrival time and path (without the key) of every request.
    log: Mutex<Vec<(Instant, String)>>,
    seen: AtomicUsize,
    /// The newest date served: the market "today", which a test can move forward a day.
    until: Mutex<Option<NaiveDate>>,
    /// Arrivals within the rate-limit window.
    recent: Mutex<VecDeque<Instant>>,
    refused: AtomicUsize,
}

/// A running fake; stops when dropped.
#[derive(Debug)]
pub struct PolygonFake {
    pub base_url: String,
    state: Arc<Fake>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PolygonFake {
    pub fn start(options: FakeOptions) -> Self {
        let files = FileSource::open(&options.data).expect("the data directory opens");
        let names = files
            .universe()
            .expect("universe")
            .into_iter()
            .map(|info| (info.symbol.clone(), info))
            .collect();
        let state = Arc::new(Fake {
            options,
            files,
            names,
            bars: Mutex::default(),
            log: Mutex::default(),
            seen: AtomicUsize::new(0),
            until: Mutex::default(),
            recent: Mutex::default(),
            refused: AtomicUsize::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let address: SocketAddr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new().fallback(answer).with_state(state.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        Self {
            base_url: format!("http://{address}"),
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.state.log.lock().expect("log").clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.log.lock().expect("log").len()
    }

    /// Serves no bar after `date` (in shifted dates), as if it were the market's latest session.
    pub fn serve_until(&self, date: Option<NaiveDate>) {
        *self.state.until.lock().expect("until") = date;
    }

    /// Requests answered 429 because they overran `rate_limit`.
    pub fn refused_for_rate(&self) -> usize {
        self.state.refused.load(Ordering::SeqCst)
    }
}

impl Drop for PolygonFake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

// Long on purpose: one arm per Polygon.io endpoint the fake imitates, in one place, so the whole
// fake reads as the list of what it answers.
async fn answer(State(fake): State<Arc<Fake>>, uri: Uri) -> Response {
    let query: HashMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let logged: String = {
        let rest: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.starts_with("apiKey="))
            .collect();
        format!("{}?{}", uri.path(), rest.join("&"))
    };
    fake.log.lock().expect("log").push((Instant::now(), logged));
    if !fake.options.latency.is_zero() {
        tokio::time::sleep(fake.options.latency).await;
    }
    // Polygon's own bodies for these answers.
    match query.get("apiKey").map(String::as_str) {
        None | Some("") => {
            return error(
                StatusCode::UNAUTHORIZED,
                json!({"status": "ERROR", "request_id": "fake", "error": "API Key was not provided"}),
            );
        }
        Some(KEY) => {}
        Some(PLAN_KEY) => {
            return error(
                StatusCode::FORBIDDEN,
                json!({"status": "NOT_AUTHORIZED", "request_id": "fake",
                       "message": "You are not entitled to this data. Please upgrade your plan at https://polygon.io/pricing"}),
            );
        }
        Some(_) => {
            return error(
                StatusCode::UNAUTHORIZED,
                json!({"status": "ERROR", "request_id": "fake", "error": "Unknown API Key"}),
            );
        }
    }
    if let Some((limit, window)) = fake.options.rate_limit {
        let now = Instant::now();
        let mut recent = fake.recent.lock().expect("recent");
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            recent.pop_front();
        }
        if recent.len() >= limit {
            drop(recent);
            fake.refused.fetch_add(1, Ordering::SeqCst);
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"status": "ERROR", "request_id": "fake",
                       "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing"}),
            );
        }
        recent.push_back(now);
    }
    let n = fake.seen.fetch_add(1, Ordering::SeqCst) + 1;
    let injected = n <= fake.options.fail_first
        || fake
            .options
            .fail_every
            .is_some_and(|k| n > fake.options.fail_first && n % k == 0);
    // A ticker arrives percent-encoded (`%2FX` for `/X`), as the client sends any character
    // that is not safe in a path.
    let decoded: Vec<String> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(percent_decoded)
        .collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let broken = |t: &str| fake.options.broken.contains(t);
    let targets_broken = match segments.as_slice() {
        ["v2", "aggs", "ticker", t, ..] | ["v3", "reference", "tickers", t] => broken(t),
        _ => false,
    };
    if injected || targets_broken {
        let status = if targets_broken {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::from_u16(fake.options.fail_status).expect("status")
        };
        let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
            error(
                status,
                json!({"status": "ERROR", "request_id": "fake",
                       "error": "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing"}),
            )
        } else {
            (status, "upstream unavailable").into_response()
        };
        if let Some(secs) = fake.options.retry_after_secs {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                secs.to_string().parse().expect("header"),
            );
        }
        return response;
    }
    match segments.as_slice() {
        ["v2", "aggs", "ticker", t, "range", "1", "day", from, to] => {
            aggs(&fake, t, from, to, &query)
        }
        [
            "v2",
            "aggs",
            "grouped",
            "locale",
            "us",
            "market",
            "stocks",
            date,
        ] => grouped(&fake, date),
        ["v3", "reference", "tickers"] => tickers(&fake, &query),
        ["v3", "reference", "tickers", t] => details(&fake, t),
        _ => error(
            StatusCode::NOT_FOUND,
            json!({"status": "NOT_FOUND", "request_id": "fake", "message": "Route not found."}),
        ),
    }
}

/// `segment` with its `%XX` escapes decoded (a bad escape is kept as it is).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_owned())
}

fn percent_encoded(ticker: &str) -> String {
    ticker
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Fake {
    fn until(&self) -> Option<NaiveDate> {
        *self.until.lock().expect("until")
    }

    /// The symbol's bars adjusted as the files source adjusts them (Polygon's `adjusted=true`).
    fn bars(&self, ticker: &str) -> Option<Arc<Bars>> {
        let mut held = self.bars.lock().expect("bars");
        if let Some(bars) = held.get(ticker) {
            return Some(bars.clone());
        }
        let mut bars = self.files.bars(ticker, &BarWindow::default()).ok()?;
        for date in &mut bars.dates {
            *date = *date + chrono::Days::new(self.options.shift_days);
        }
        let bars = Arc::new(bars);
        held.insert(ticker.to_owned(), bars.clone());
        Some(bars)
    }
}

/// Polygon accepts a date or a millisecond timestamp at either end of a range.
fn parse_bound(raw: &str) -> Option<NaiveDate> {
    raw.parse::<NaiveDate>().ok().or_else(|| {
        let ms: i64 = raw.parse().ok()?;
        chrono::DateTime::from_timestamp_millis(ms + 12 * 3600 * 1000).map(|t| t.date_naive())
    })
}

/// Midnight in New York of `date`, in ms since the epoch: how Polygon stamps daily bars.
fn eastern_midnight_ms(date: NaiveDate) -> i64 {
    let y = date.year();
    let sunday = |month, n| NaiveDate::from_weekday_of_month_opt(y, month, Weekday::Sun, n);
    // US daylight time: since 2007 the second Sunday of March to the first of November; before,
    // the first Sunday of April to the last of October.
    let (start, end) = if y >= 2007 {
        (sunday(3, 2), sunday(11, 1))
    } else {
        (sunday(4, 1), sunday(10, 5).or_else(|| sunday(10, 4)))
    };
    let dst = matches!((start, end), (Some(s), Some(e)) if date >= s && date < e);
    let offset_hours = if dst { 4 } else { 5 };
    let midnight_utc = date
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    midnight_utc + offset_hours * 3600 * 1000
}

fn agg(bars: &Bars, i: usize) -> Value {
    json!({
        "o": bars.open[i], "h": bars.high[i], "l": bars.low[i], "c": bars.close[i],
        "v": bars.volume[i], "vw": (bars.high[i] + bars.low[i] + bars.close[i]) / 3.0,
        "n": 1000, "t": eastern_midnight_ms(bars.dates[i]),
    })
}

fn aggs(
    fake: &Fake,
    ticker: &str,
    from: &str,
    to: &str,
    query: &HashMap<String, String>,
) -> Response {
    let (Some(from), Some(to)) = (parse_bound(from), parse_bound(to)) else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"status": "ERROR", "request_id": "fake", "error": "Could not parse the time parameter."}),
        );
    };
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(5000)
        .min(fake.options.page_size);
    let Some(bars) = fake.bars(ticker) else {
        // Polygon answers an unknown ticker with an empty 200.
        return axum::Json(json!({"ticker": ticker, "queryCount": 0, "resultsCount": 0,
                                 "adjusted": true, "status": "OK", "request_id": "fake"}))
        .into_response();
    };
    let to = fake.until().map_or(to, |until| to.min(until));
    let start = bars.dates.partition_point(|d| *d < from);
    let end = bars.dates.partition_point(|d| *d <= to);
    let page_end = end.min(start + limit);
    // Written by hand rather than through `json!`: a history is thousands of bars, and building
    // a `Value` per number made the fake, not the client, what the benchmarks measured on two
    // cores. Rust prints f64 in the shortest form that reads back exactly, which is valid JSON.
    let count = page_end - start;
    let mut body = String::with_capacity(200 + 160 * count);
    let _ = write!(
        body,
        r#"{{"ticker":"{ticker}","queryCount":{count},"resultsCount":{count},"adjusted":true,"status":"OK","request_id":"fake","results":["#
    );
    for i in start..page_end {
        if i > start {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"o":{},"h":{},"l":{},"c":{},"v":{},"vw":{},"n":1000,"t":{}}}"#,
            bars.open[i],
            bars.high[i],
            bars.low[i],
            bars.close[i],
            bars.volume[i],
            (bars.high[i] + bars.low[i] + bars.close[i]) / 3.0,
            eastern_midnight_ms(bars.dates[i])
        );
    }
    body.push(']');
    if page_end < end {
        let _ = write!(
            body,
            r#","next_url":"{PUBLIC_HOST}/v2/aggs/ticker/{}/range/1/day/{}/{to}?cursor=bGltaXQ9{limit}&adjusted=true&sort=asc&limit={limit}""#,
            percent_encoded(ticker),
            eastern_midnight_ms(bars.dates[page_end])
        );
    }
    body.push('}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn grouped(fake: &Fake, date: &str) -> Response {
    let Ok(date) = date.parse::<NaiveDate>() else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"status": "ERROR", "request_id": "fake", "error": "Could not parse the date."}),
        );
    };
    let mut results = Vec::new();
    let tickers: &[String] = if fake.until().is_some_and(|until| date > until) {
        &[]
    } else {
        &fake.options.tickers
    };
    for ticker in tickers {
        let Some(bars) = fake.bars(ticker) else {
            continue;
        };
        if let Ok(i) = bars.dates.binary_search(&date) {
            let mut row = agg(&bars, i);
            row["T"] = json!(ticker);
            results.push(row);
        }
    }
    let mut body = json!({"queryCount": results.len(), "resultsCount": results.len(),
                          "adjusted": true, "status": "OK", "request_id": "fake"});
    // A weekend or holiday has no `results` key at all.
    if !results.is_empty() {
        body["results"] = json!(results);
    }
    axum::Json(body).into_response()
}

fn tickers(fake: &Fake, query: &HashMap<String, String>) -> Response {
    let offset: usize = query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .min(fake.options.tickers_page_size);
    let mut all = fake.options.tickers.clone();
    all.sort();
    let page: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|t| {
            json!({"ticker": t, "name": fake.names.get(t).and_then(|i| i.name.clone()),
                   "market": "stocks", "locale": "us", "primary_exchange": "XNYS", "type": "CS",
                   "active": true, "currency_name": "usd"})
        })
        .collect();
    let mut body =
        json!({"results": page, "status": "OK", "request_id": "fake", "count": page.len()});
    if offset + limit < all.len() {
        body["next_url"] = json!(format!(
            "{PUBLIC_HOST}/v3/reference/tickers?cursor={}",
            offset + limit
        ));
    }
    axum::Json(body).into_response()
}

fn details(fake: &Fake, ticker: &str) -> Response {
    match fake.names.get(ticker) {
        Some(info) => axum::Json(json!({
            "request_id": "fake", "status": "OK",
            "results": {"ticker": ticker, "name": info.name, "market": "stocks", "locale": "us",
                        "active": true, "sic_description": "SERVICES-PREPACKAGED SOFTWARE",
                        "market_cap": 1.0e9},
        }))
        .into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            json!({"status": "NOT_FOUND", "request_id": "fake", "message": "Ticker not found."}),
        ),
    }
}
