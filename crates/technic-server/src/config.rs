//! Configuration from the environment (DESIGN.md, "Server API"), validated in one place.
//!
//! An error names the variable. `EARLY_TERMINATION_DEFAULT` is validated as a request's criteria
//! would be, so a bad default stops the server at start-up rather than blame every client.

use std::time::Duration;

use technic_engine::TerminationRequest;

#[derive(Debug, Clone)]
pub struct Config {
    /// `MAX_CONCURRENT_STREAMS`: open WebSocket and SSE streams at most; one more gets 429.
    pub max_concurrent_streams: usize,
    /// `MAX_CONCURRENT_SCANS`: running scans at most; one more gets 429. Each holds a thread and its
    /// results until it ends (about 7 MB at its peak for the S&P 500), and all share the compute.
    pub max_concurrent_scans: usize,
    /// `STREAM_TIMEOUT_SECONDS`: when a stream counts as abandoned and is ended (the client can
    /// resume with its last `seq`): a WebSocket whose client has not answered a ping (or sent
    /// anything) for this long; an SSE stream, whose client cannot answer, that has had nothing to
    /// send for this long.
    pub stream_timeout: Duration,
    /// `SCAN_RETENTION_SECONDS`: how long a finished scan stays retrievable.
    pub retention: Duration,
    /// `MAX_RETAINED_SCANS`: finished scans kept at most, whatever their age (the oldest are
    /// dropped first), so memory stays bounded however fast scans finish.
    pub max_retained_scans: usize,
    /// `ENABLE_PRIORITIZATION`: the default for requests that do not say.
    pub enable_prioritization: bool,
    /// `ENABLE_STREAMING`: whether WebSocket and SSE are offered.
    pub enable_streaming: bool,
    /// `EARLY_TERMINATION_DEFAULT`: termination criteria for requests that give none: JSON, or
    /// `true` ([`EARLY_TERMINATION_ON`]) and `false` (none) as the seeds write it.
    pub early_termination_default: Option<TerminationRequest>,
    /// How long a WebSocket send may take before the client counts as too slow and is closed. Any
    /// connection (an SSE stream, a large report) whose writes make no progress for twice this long
    /// is dropped.
    pub send_timeout: Duration,
    /// `MAX_WORKERS`: threads that scan; see [`Config::scan_workers`] for the default.
    pub max_workers: Option<usize>,
    /// `STREAM_SEND_BUFFER_BYTES`: the kernel's send buffer of every connection the server accepts
    /// (REST included). Unset, the OS sizes it (Linux grows it up to 4 MB), which gave the lowest
    /// latencies under load; set, a WebSocket subscriber that stops reading is noticed
    /// (`send_timeout`) after about that much is queued rather than a whole scan. Linux doubles the
    /// value and caps it at `net.core.wmem_max`, and a set size is no longer grown by the kernel.
    pub send_buffer: Option<usize>,
    /// `STREAM_KEEPALIVE_SECONDS`: how often an idle stream sends a keep-alive (an SSE comment, a
    /// WebSocket ping), so proxies and clients do not take a quiet scan for a dead connection.
    pub keep_alive: Duration,
    /// `MAX_RETAINED_SCAN_BYTES`: what finished scans kept may take, by the estimate of each one's
    /// log and report; the oldest are dropped first beyond it. The count alone did not bound
    /// memory: each retained scan of 20,000 unknown symbols held about 7 MB (see `technic-engine`).
    pub max_retained_bytes: u64,
    /// `MAX_SYMBOLS_PER_REQUEST`: a request naming more `symbols` is refused (422).
    pub max_symbols_per_request: usize,
    /// `MAX_REQUEST_BYTES`: a request body larger than this is refused (413), at once when its
    /// `Content-Length` says so, before any of it is read.
    pub max_request_bytes: usize,
    /// `HEADER_READ_TIMEOUT_SECONDS`: a connection that has not sent a whole request head this
    /// long after it was opened, or after its previous response, is closed, so slow or idle
    /// clients cannot hold sockets for ever.
    pub header_read_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 1000,
            max_concurrent_scans: 100,
            stream_timeout: Duration::from_secs(300),
            retention: Duration::from_secs(3600),
            max_retained_scans: 1000,
            enable_prioritization: true,
            enable_streaming: true,
            early_termination_default: None,
            send_timeout: Duration::from_secs(10),
            max_workers: None,
            send_buffer: None,
            keep_alive: Duration::from_secs(15),
            max_retained_bytes: 256 << 20,
            max_symbols_per_request: 10_000,
            // Ten thousand symbols take about 150 KB of JSON.
            max_request_bytes: 1 << 20,
            header_read_timeout: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub message: String,
}

/// The longest time a `*_SECONDS` variable may give: a year.
const MAX_SECONDS: u64 = 365 * 24 * 60 * 60;

impl Config {
    /// Threads that scan: `MAX_WORKERS`, else one per core but one (at least one), plus as many
    /// again for scans' first symbols only (each scan's first result). The core left over answers
    /// requests and writes to sockets whenever no scan is starting: with fifty scans and two hundred subscribers on
    /// two cores, a message's p99 delivery fell from 40–49 ms to 38–42 ms and a scan's first result
    /// (p50) from 51–76 ms to 42–55 ms, for 10–30 % more wall time per round (docs/benchmarks.md).
    pub fn scan_workers(&self) -> usize {
        self.max_workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |cores| cores.get().saturating_sub(1).max(1))
        })
    }

    /// Reads the variables that are set; the others keep their defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    // Long on purpose: one line per environment variable, a table with no logic between.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Config::default();
        let fail = |name: &'static str, value: &str, message: &str| ConfigError {
            name,
            value: value.to_owned(),
            message: message.to_owned(),
        };
        let whole = |name: &'static str,
                     range: std::ops::RangeInclusive<u64>,
                     expected: &str|
         -> Result<Option<u64>, ConfigError> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| range.contains(n))
                        .ok_or_else(|| fail(name, &v, expected))
                })
                .transpose()
        };
        let count = |name: &'static str| -> Result<Option<usize>, ConfigError> {
            let n = whole(name, 1..=u64::MAX, "expected a whole number above 0")?;
            Ok(n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
        };
        // Bounded: deadlines are `now + duration`, which panics for any count past `i64::MAX`
        // seconds (a `usize` allows that), and nothing here needs more than a year.
        let seconds = |name: &'static str| -> Result<Option<Duration>, ConfigError> {
            let expected =
                format!("expected a whole number of seconds from 1 to {MAX_SECONDS} (a year)");
            Ok(whole(name, 1..=MAX_SECONDS, &expected)?.map(Duration::from_secs))
        };
        let flag = |name: &'static str| -> Result<Option<bool>, ConfigError> {
            get(name)
                .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    _ => Err(fail(name, &v, "expected true or false")),
                })
                .transpose()
        };
        if let Some(n) = count("MAX_CONCURRENT_STREAMS")? {
            config.max_concurrent_streams = n;
        }
        if let Some(n) = count("MAX_CONCURRENT_SCANS")? {
            config.max_concurrent_scans = n;
        }
        if let Some(duration) = seconds("STREAM_TIMEOUT_SECONDS")? {
            config.stream_timeout = duration;
        }
        if let Some(duration) = seconds("STREAM_KEEPALIVE_SECONDS")? {
            config.keep_alive = duration;
        }
        if let Some(duration) = seconds("SCAN_RETENTION_SECONDS")? {
            config.retention = duration;
        }
        if let Some(n) = count("MAX_RETAINED_SCANS")? {
            config.max_retained_scans = n;
        }
        if let Some(duration) = seconds("HEADER_READ_TIMEOUT_SECONDS")? {
            config.header_read_timeout = duration;
        }
        if let Some(n) = whole(
            "MAX_RETAINED_SCAN_BYTES",
            1..=u64::MAX,
            "expected a whole number of bytes above 0",
        )? {
            config.max_retained_bytes = n;
        }
        if let Some(n) = count("MAX_SYMBOLS_PER_REQUEST")? {
            config.max_symbols_per_request = n;
        }
        if let Some(n) = count("MAX_REQUEST_BYTES")? {
            config.max_request_bytes = n;
        }
        config.max_workers = count("MAX_WORKERS")?;
        config.send_buffer = count("STREAM_SEND_BUFFER_BYTES")?;
        if let Some(on) = flag("ENABLE_PRIORITIZATION")? {
            config.enable_prioritization = on;
        }
        if let Some(on) = flag("ENABLE_STREAMING")? {
            config.enable_streaming = on;
        }
        if let Some(text) = get("EARLY_TERMINATION_DEFAULT") {
            config.early_termination_default = early_termination(&text)?;
        }
        Ok(config)
    }
}

/// What `EARLY_TERMINATION_DEFAULT=true` stands for: the seeds set the variable as a switch, and
/// the criteria it switches on are the example the README gives for the JSON form.
pub const EARLY_TERMINATION_ON: TerminationRequest = TerminationRequest {
    max_signals: Some(20),
    min_signal_rating: None,
    max_percent_scanned: None,
    timeout_seconds: None,
};

/// `EARLY_TERMINATION_DEFAULT`: `true`/`false` as the seeds write it, or criteria as JSON.
fn early_termination(text: &str) -> Result<Option<TerminationRequest>, ConfigError> {
    let fail = |message: String| ConfigError {
        name: "EARLY_TERMINATION_DEFAULT",
        value: text.to_owned(),
        message,
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "0" | "no" | "off" => return Ok(None),
        "true" | "1" | "yes" | "on" => return Ok(Some(EARLY_TERMINATION_ON)),
        _ => {}
    }
    let criteria: TerminationRequest = serde_json::from_str(text).map_err(|e| {
        fail(format!(
            "expected true, false or termination criteria as JSON, e.g. {{\"max_signals\": 20}}: {e}"
        ))
    })?;
    // Checked now, as a request's would be: refused later, every request would get a 422
    // blaming its client for the server's setting.
    criteria.validate().map_err(|e| {
        let field = e.field.trim_start_matches("termination_criteria.");
        fail(format!("{field}: {}", e.message))
    })?;
    Ok(Some(criteria))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_override_defaults_and_bad_values_name_the_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let config = Config::from_lookup(env(&[
            ("MAX_CONCURRENT_STREAMS", "7"),
            ("MAX_CONCURRENT_SCANS", "3"),
            ("MAX_RETAINED_SCANS", "40"),
            ("ENABLE_STREAMING", "false"),
            ("EARLY_TERMINATION_DEFAULT", r#"{"max_signals": 20}"#),
            ("STREAM_SEND_BUFFER_BYTES", "65536"),
            ("STREAM_KEEPALIVE_SECONDS", "30"),
            ("HEADER_READ_TIMEOUT_SECONDS", "5"),
            ("MAX_RETAINED_SCAN_BYTES", "1000000"),
            ("MAX_SYMBOLS_PER_REQUEST", "50"),
            ("MAX_REQUEST_BYTES", "4096"),
        ]))
        .expect("valid");
        assert_eq!(config.header_read_timeout, Duration::from_secs(5));
        assert_eq!(config.max_retained_bytes, 1_000_000);
        assert_eq!(config.max_symbols_per_request, 50);
        assert_eq!(config.max_request_bytes, 4096);
        assert_eq!(config.keep_alive, Duration::from_secs(30));
        assert_eq!(Config::default().keep_alive, Duration::from_secs(15));
        assert_eq!(config.max_concurrent_streams, 7);
        assert_eq!(config.max_concurrent_scans, 3);
        assert_eq!(config.max_retained_scans, 40);
        assert_eq!(config.send_buffer, Some(65536));
        let workers = Config::from_lookup(env(&[("MAX_WORKERS", "3")])).expect("valid");
        assert_eq!(workers.scan_workers(), 3);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        assert_eq!(Config::default().scan_workers(), (cores - 1).max(1));
        assert_eq!(Config::default().send_buffer, None);
        assert!(!config.enable_streaming);
        assert_eq!(
            config.early_termination_default.and_then(|t| t.max_signals),
            Some(20)
        );
        // The seeds' switch form: on is the documented criteria, off is none.
        for (value, expected) in [
            ("true", Some(EARLY_TERMINATION_ON)),
            ("TRUE", Some(EARLY_TERMINATION_ON)),
            ("false", None),
            (
                r#"{"max_percent_scanned": 50}"#,
                Some(TerminationRequest {
                    max_percent_scanned: Some(50.0),
                    ..TerminationRequest::default()
                }),
            ),
        ] {
            let config = Config::from_lookup(|asked: &str| {
                (asked == "EARLY_TERMINATION_DEFAULT").then(|| value.to_owned())
            })
            .expect(value);
            assert_eq!(config.early_termination_default, expected, "{value}");
        }
        // Each refusal names the variable and what is wrong with its value.
        for (name, value, says) in [
            ("STREAM_TIMEOUT_SECONDS", "soon", "soon"),
            ("SCAN_RETENTION_SECONDS", "99999999999999", "a year"),
            ("MAX_CONCURRENT_SCANS", "0", "above 0"),
            ("ENABLE_PRIORITIZATION", "maybe", "true or false"),
            (
                "EARLY_TERMINATION_DEFAULT",
                "maybe",
                "true, false or termination criteria",
            ),
            ("HEADER_READ_TIMEOUT_SECONDS", "0", "a year"),
            ("MAX_RETAINED_SCAN_BYTES", "-1", "bytes above 0"),
            ("MAX_SYMBOLS_PER_REQUEST", "0", "above 0"),
            ("MAX_REQUEST_BYTES", "1e9", "above 0"),
            // Valid JSON, but criteria no request may give: refused at start-up, not by blaming
            // every client with a 422 later.
            (
                "EARLY_TERMINATION_DEFAULT",
                r#"{"max_signals": 0}"#,
                "max_signals: must be at least 1",
            ),
            (
                "EARLY_TERMINATION_DEFAULT",
                r#"{"timeout_seconds": 1e300}"#,
                "timeout_seconds: must be",
            ),
            (
                "EARLY_TERMINATION_DEFAULT",
                r#"{"max_percent_scanned": 0}"#,
                "max_percent_scanned",
            ),
        ] {
            let err = Config::from_lookup(|asked: &str| (asked == name).then(|| value.to_owned()))
                .expect_err(name)
                .to_string();
            assert!(err.contains(name) && err.contains(says), "{err}");
        }
    }
}
