//! The HTTP side: one blocking client, a request-rate limit, a bound on requests in flight, and
//! retries with backoff. Everything that talks to Polygon.io goes through [`Client::get_json`].
//!
//! The rate limit is a sliding window (`POLYGON_RATE_LIMIT`, default `5/min`, the free tier): a
//! token bucket would let twice the limit through in one window. Requests in flight are capped. 429
//! (never retried sooner than `Retry-After`), 5xx, timeouts and refused connections are retried
//! with exponential backoff and jitter; errors say what 401 and 403 mean. A symbol whose requests
//! keep failing is a `DataError`, which the engine turns into that symbol's diagnostic. The API key
//! never appears in a message.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::wire::ErrorBody;
use crate::{PolygonConfig, PolygonError};

/// At most `requests` request starts in any window of `per`.
///
/// A sliding log of start times rather than a refilling token bucket: a bucket of `N` tokens
/// refilled at `N` per minute lets `2N` requests through in one minute (a full bucket, then the
/// refill), which a server counting "N per minute" refuses. The log never does, and still lets the
/// first `N` go at once.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    requests: usize,
    per: Duration,
    starts: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    pub(crate) fn new(requests: u32, per: Duration) -> Self {
        Self {
            requests: requests.max(1) as usize,
            // The server counts arrivals, not our starts: a request that left late (a slow
            // connect, a busy core) arrives closer to the next one than it started, and a window
            // filled to the exact limit then overflows at the server (the sync benchmark saw 16
            // 429s in 500 requests at 100/s). A 5 % margin, at least 50 ms, absorbs that jitter.
            per: per + (per / 20).max(Duration::from_millis(50)),
            starts: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request may start, and records it.
    pub(crate) fn acquire(&self) {
        loop {
            let wait = {
                let mut starts = self.starts.lock().unwrap_or_else(PoisonError::into_inner);
                let now = Instant::now();
                while starts
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.per)
                {
                    starts.pop_front();
                }
                if starts.len() < self.requests {
                    starts.push_back(now);
                    return;
                }
                // The oldest start leaves the window first; the lock is not held while sleeping.
                starts
                    .front()
                    .map_or(Duration::ZERO, |t| self.per - now.duration_since(*t))
            };
            std::thread::sleep(wait);
        }
    }
}

/// A counting semaphore: the scan may run many workers, but only this many requests are in flight.
#[derive(Debug)]
struct Permits {
    free: Mutex<usize>,
    returned: Condvar,
}

#[derive(Debug)]
struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n.max(1)),
            returned: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.returned.notify_one();
    }
}

/// What one attempt came to.
enum Attempt {
    Done(String),
    /// Worth another try, after at least `retry_after` when the server said so.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    Fail(PolygonError),
}

#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::blocking::Client,
    config: PolygonConfig,
    limiter: RateLimiter,
    permits: Permits,
    /// Jitter only spreads retries apart; it needs no OS entropy, and a fixed seed keeps runs
    /// reproducible like the rest of technic's randomness.
    jitter: Mutex<ChaCha8Rng>,
    /// HTTP requests sent, retries included: what a sync or a scan cost against the plan's limit.
    sent: AtomicU64,
}

impl Client {
    pub(crate) fn new(config: PolygonConfig) -> Result<Self, PolygonError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("technic/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PolygonError::Setup(e.without_url().to_string()))?;
        Ok(Self {
            http,
            limiter: RateLimiter::new(config.rate_limit.requests, config.rate_limit.per),
            permits: Permits::new(config.max_concurrency),
            jitter: Mutex::new(ChaCha8Rng::seed_from_u64(0x706f_6c79)),
            sent: AtomicU64::new(0),
            config,
        })
    }

    pub(crate) fn config(&self) -> &PolygonConfig {
        &self.config
    }

    pub(crate) fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// `path_and_query` is relative to the base URL (`/v2/...?...`). A `next_url` is passed here
    /// as its path and query: see [`crate::relative`].
    pub(crate) fn get_json<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
        what: &str,
    ) -> Result<T, PolygonError> {
        let url = format!(
            "{}{}",
            self.config.base_url.trim_end_matches('/'),
            path_and_query
        );
        let attempts = self.config.max_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            let outcome = {
                let _permit = self.permits.acquire();
                self.limiter.acquire();
                self.sent.fetch_add(1, Ordering::Relaxed);
                self.attempt(&url, what)
            };
            match outcome {
                Attempt::Done(body) => {
                    return serde_json::from_str(&body).map_err(|e| PolygonError::BadBody {
                        what: what.to_owned(),
                        reason: e.to_string(),
                    });
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    reason,
                    retry_after,
                } => {
                    tracing::debug!(what, attempt, %reason, "Polygon.io request will be retried");
                    last = reason;
                    if attempt < attempts {
                        std::thread::sleep(self.backoff(attempt, retry_after));
                    }
                }
            }
        }
        Err(PolygonError::GaveUp {
            what: what.to_owned(),
            attempts,
            last,
        })
    }

    fn attempt(&self, url: &str, what: &str) -> Attempt {
        let response = match self
            .http
            .get(url)
            .query(&[("apiKey", self.config.api_key.as_str())])
            .send()
        {
            Ok(response) => response,
            Err(e) => {
                return Attempt::Retry {
                    reason: describe(e),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = match response.text() {
            Ok(body) => body,
            Err(e) => {
                return Attempt::Retry {
                    reason: format!("reading the body of a {status} answer: {}", describe(e)),
                    retry_after: None,
                };
            }
        };
        if status.is_success() {
            return Attempt::Done(body);
        }
        let detail = server_message(&body);
        match status {
            StatusCode::TOO_MANY_REQUESTS => Attempt::Retry {
                reason: format!(
                    "Polygon.io answered 429 Too Many Requests (rate limit exceeded; lower POLYGON_RATE_LIMIT){detail}"
                ),
                retry_after,
            },
            s if s.is_server_error() => Attempt::Retry {
                reason: format!("Polygon.io answered {s}{detail}"),
                retry_after,
            },
            StatusCode::UNAUTHORIZED => Attempt::Fail(PolygonError::Unauthorized {
                what: what.to_owned(),
                detail,
            }),
            StatusCode::FORBIDDEN => Attempt::Fail(PolygonError::Forbidden {
                what: what.to_owned(),
                detail,
            }),
            s => Attempt::Fail(PolygonError::Status {
                what: what.to_owned(),
                status: s.as_u16(),
                detail,
            }),
        }
    }

    /// Exponential backoff with equal jitter (half fixed, half random), never shorter than a
    /// server's `Retry-After`.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .config
            .backoff_base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.config.backoff_max);
        let half = exp / 2;
        let random = self
            .jitter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .gen_range(0.0..=1.0);
        let jittered = half + half.mul_f64(random);
        retry_after.map_or(jittered, |r| r.max(jittered))
    }
}

fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    // Never print the URL: it carries the key.
    let e = e.without_url();
    let mut text = format!("{kind}: {e}");
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Polygon's own reason from an error body, as ` (...)`, or nothing.
fn server_message(body: &str) -> String {
    let text = serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.message.or(b.error).or(b.status))
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}
