//! Scans spread over processes through Redis Streams (docs/ARCHITECTURE.md, "Distributed scans"):
//! the replica that accepts a scan plans it and queues its batches (`planner.rs`), `technic
//! worker`s evaluate them (`worker.rs`), and any replica follows any scan's log (`follower.rs`).
//!
//! Redis Streams give what this needs without a protocol of technic's own: a consumer group hands
//! each batch to one worker and keeps it pending until acknowledged, `XAUTOCLAIM` gives a dead
//! worker's batch to another, and explicit entry ids (`{seq}-0`) make the scan log ordered,
//! resumable from any `seq`, and refuse a repeated append.

mod follower;
mod planner;
mod takeover;
mod worker;

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use redis::{Connection, RedisError, RedisResult};
use serde::{Deserialize, Serialize};
use technic_core::alpha::AlphaFactors;
use technic_data::SymbolInfo;
use technic_screen::Captured;

use crate::report::{DiagnosticCause, ScanResult};
use crate::request::ValidScan;
use crate::scan::{CrossInputs, Outcome};

pub use worker::{WorkerOptions, WorkerStats, run_worker, work_backlog};

/// The stream of batches every worker reads, and its consumer group.
const WORK_STREAM: &str = "technic:work";
const WORKERS_GROUP: &str = "workers";

/// One entry per running scan, pending with the consumer of the replica that plans it; the
/// planner keeps it fresh, and another replica claims it (`XAUTOCLAIM`) once it is idle past
/// the visibility timeout, and finishes the scan (`takeover.rs`).
const PLANS_STREAM: &str = "technic:plans";
const PLANNERS_GROUP: &str = "planners";

/// A running scan's keys expire this long after their writer last touched them (or after the
/// retention, if longer): a scan whose planner died, or whose end a Redis restart lost, leaves
/// nothing behind for long. Its writers touch them at least every second.
const RUNNING_TTL_MIN_SECONDS: u64 = 10;

/// The keys of one scan.
struct ScanKeys {
    scan_id: String,
    settings: String,
    /// The planned order (symbols and tiers), for a replica that takes the scan over.
    plan: String,
    outcomes: String,
    log: String,
    meta: String,
    stop: String,
}

impl ScanKeys {
    fn of(scan_id: &str) -> Self {
        let key = |part: &str| format!("technic:scan:{scan_id}:{part}");
        Self {
            scan_id: scan_id.to_owned(),
            settings: key("settings"),
            plan: key("plan"),
            outcomes: key("outcomes"),
            log: key("log"),
            meta: key("meta"),
            stop: key("stop"),
        }
    }

    fn scan_id(&self) -> &str {
        &self.scan_id
    }
}

/// What a worker needs of a scan to evaluate its symbols, written once per scan.
#[derive(Debug, Serialize, Deserialize)]
struct Settings {
    request: ValidScan,
    as_of: Option<NaiveDate>,
}

/// A symbol's place in a scan's plan.
#[derive(Debug, Serialize, Deserialize)]
struct PlannedSlot {
    #[serde(flatten)]
    symbol: WireSymbol,
    tier: Option<technic_core::priority::Tier>,
}

/// A symbol as a batch names it: what a result carries of it.
#[derive(Debug, Serialize, Deserialize)]
struct WireSymbol {
    symbol: String,
    name: Option<String>,
    sector: Option<String>,
}

impl WireSymbol {
    fn of(info: &SymbolInfo) -> Self {
        Self {
            symbol: info.symbol.clone(),
            name: info.name.clone(),
            sector: info.sector.clone(),
        }
    }

    fn info(&self) -> SymbolInfo {
        let mut info = SymbolInfo::new(self.symbol.clone());
        info.name = self.name.clone();
        info.sector = self.sector.clone();
        info
    }
}

/// One symbol's outcome as a worker writes it (JSON with exact f64s: `float_roundtrip`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireOutcome {
    Scanned {
        result: Box<ScanResult>,
        alpha: [Option<f64>; 3],
        composite: Option<f64>,
        /// The series of each filter placed after the analysis (NaN as `null`), in the filters'
        /// order, for the planner's exact judgement.
        #[serde(default)]
        captured: Vec<(Vec<Option<f64>>, usize)>,
    },
    Skipped {
        message: String,
        /// Absent from workers older than the field: read from the message then.
        #[serde(default)]
        cause: Option<DiagnosticCause>,
    },
    Failed {
        message: String,
    },
}

impl WireOutcome {
    fn of(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Scanned(result, inputs) | Outcome::BelowMinRating(result, inputs) => {
                let a = inputs.alpha;
                WireOutcome::Scanned {
                    result,
                    alpha: [a.momentum_12_1, a.trend_strength, a.vol_adjusted_return],
                    composite: inputs.composite,
                    captured: inputs
                        .captured
                        .iter()
                        .map(|captured| {
                            let (values, history) = captured.parts();
                            let values =
                                values.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
                            (values, history)
                        })
                        .collect(),
                }
            }
            Outcome::Skipped(cause, message) => WireOutcome::Skipped {
                message,
                cause: Some(cause),
            },
            Outcome::Failed(message) => WireOutcome::Failed { message },
        }
    }

    fn into_outcome(self) -> Outcome {
        match self {
            WireOutcome::Scanned {
                result,
                alpha: [momentum_12_1, trend_strength, vol_adjusted_return],
                composite,
                captured,
            } => Outcome::Scanned(
                result,
                CrossInputs {
                    alpha: AlphaFactors {
                        momentum_12_1,
                        trend_strength,
                        vol_adjusted_return,
                    },
                    composite,
                    captured: captured
                        .into_iter()
                        .map(|(values, history)| {
                            let values =
                                values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect();
                            Captured::from_parts(values, history)
                        })
                        .collect(),
                },
            ),
            WireOutcome::Skipped { message, cause } => {
                let cause = cause.unwrap_or(if message.contains("below min_") {
                    DiagnosticCause::Filtered
                } else {
                    DiagnosticCause::NoData
                });
                Outcome::Skipped(cause, message)
            }
            WireOutcome::Failed { message } => Outcome::Failed(message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("REDIS_URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("Redis at {url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
}

/// How a distributed deployment behaves; the same for serve replicas and workers.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// A batch pending this long with its worker is claimed by another (`XAUTOCLAIM`), and a
    /// scan whose planner has not been heard of for this long is taken over by another replica.
    pub visibility: Duration,
    /// Deliveries of one batch before its symbols become error diagnostics (a batch that kills
    /// its workers must not kill them all).
    pub max_deliveries: usize,
    /// Finished scans' keys expire after this (`SCAN_RETENTION_SECONDS`).
    pub retention: Duration,
    /// How long an operation retries a Redis that went away (a restart) before the scan fails.
    pub outage_limit: Duration,
}

impl ClusterOptions {
    fn running_ttl(&self) -> u64 {
        self.retention.as_secs().max(RUNNING_TTL_MIN_SECONDS)
    }

    fn retention_seconds(&self) -> u64 {
        self.retention.as_secs().max(1)
    }

    /// How often a planner says it is alive: several times per visibility timeout, so one slow
    /// round does not hand its scans to another replica.
    fn heartbeat(&self) -> Duration {
        (self.visibility / 4).clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            visibility: Duration::from_secs(5),
            max_deliveries: 3,
            retention: Duration::from_secs(3600),
            outage_limit: Duration::from_secs(30),
        }
    }
}

/// A Redis that scans are distributed through.
pub struct Cluster {
    client: redis::Client,
    /// The URL without credentials: the only form of it that is logged.
    shown_url: String,
    options: ClusterOptions,
    /// This process's consumer name in the planners' group: unique per process, so a restarted
    /// replica never takes a dead one's scans as its own without claiming them.
    replica: String,
    /// Scans this process plans (its own, and those it took over): never taken over by itself.
    planning: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("redis", &self.shown_url)
            .field("options", &self.options)
            .finish()
    }
}

/// `redis://user:password@host` without the password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl Cluster {
    /// Connects once, so a wrong URL or a Redis that is not there stops the process at start.
    pub fn connect(url: &str, options: ClusterOptions) -> Result<Self, ClusterError> {
        let shown_url = redact(url);
        let client = redis::Client::open(url).map_err(|e| ClusterError::InvalidUrl {
            url: shown_url.clone(),
            reason: e.to_string(),
        })?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_or_else(|_| "replica".to_owned(), |h| h.trim().to_owned());
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let cluster = Self {
            client,
            shown_url,
            options,
            replica: format!("{host}-{}-{started:x}", std::process::id()),
            planning: Mutex::default(),
        };
        let mut connection = cluster.open().map_err(|e| ClusterError::Unreachable {
            url: cluster.shown_url.clone(),
            reason: e.to_string(),
        })?;
        ensure_group(&mut connection).map_err(|e| ClusterError::Unreachable {
            url: cluster.shown_url.clone(),
            reason: e.to_string(),
        })?;
        Ok(cluster)
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    fn heartbeat(&self) -> Duration {
        self.options.heartbeat()
    }

    /// Records that this process plans `scan_id` (`true`) or no longer does.
    fn planning(&self, scan_id: &str, planning: bool) {
        let mut scans = self.planning.lock().unwrap_or_else(PoisonError::into_inner);
        if planning {
            scans.insert(scan_id.to_owned());
        } else {
            scans.remove(scan_id);
        }
    }

    fn plans(&self, scan_id: &str) -> bool {
        self.planning
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(scan_id)
    }

    fn open(&self) -> RedisResult<Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(Duration::from_secs(2))?;
        // Longer than any BLOCK technic asks for, so only a dead server times a read out.
        connection.set_read_timeout(Some(Duration::from_secs(10)))?;
        connection.set_write_timeout(Some(Duration::from_secs(10)))?;
        Ok(connection)
    }

    fn link(&self) -> Link<'_> {
        Link {
            cluster: self,
            connection: None,
            outages: 0,
        }
    }
}

/// Creates the work stream's and the plans stream's consumer groups if they are not there (a
/// new Redis, or one restarted without its data).
fn ensure_group(connection: &mut Connection) -> RedisResult<()> {
    for (stream, group) in [(WORK_STREAM, WORKERS_GROUP), (PLANS_STREAM, PLANNERS_GROUP)] {
        let created: RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query(connection);
        match created {
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            other => other?,
        }
    }
    Ok(())
}

/// Whether an error means the connection or the server went away (try again on a new
/// connection) rather than a refused command.
fn is_gone(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(e.code(), Some("LOADING" | "NOGROUP"))
}

/// A connection that reconnects: an operation whose Redis went away is retried on a new
/// connection until `outage_limit` has passed, so a Redis restart costs a pause, not the scan.
struct Link<'a> {
    cluster: &'a Cluster,
    connection: Option<Connection>,
    /// Operations that succeeded only after Redis came back: what was written before may be
    /// lost (a restart loses the AOF's last second, or everything without one), so callers
    /// that count this write their state again.
    outages: usize,
}

impl Link<'_> {
    fn run<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + self.cluster.options.outage_limit;
        let mut pause = Duration::from_millis(50);
        let mut warned = false;
        loop {
            let error = match self
                .connection
                .take()
                .map_or_else(|| self.cluster.open(), Ok)
            {
                Ok(mut connection) => match op(&mut connection) {
                    Ok(value) => {
                        self.connection = Some(connection);
                        if warned {
                            self.outages += 1;
                            tracing::info!(redis = %self.cluster.shown_url, "Redis is back");
                        }
                        return Ok(value);
                    }
                    Err(e) if is_gone(&e) => {
                        if e.code() == Some("NOGROUP") {
                            let _created = ensure_group(&mut connection);
                            self.connection = Some(connection);
                        }
                        e
                    }
                    Err(e) => return Err(format!("{what}: {e}")),
                },
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{what}: Redis at {} did not answer for {} s ({error})",
                    self.cluster.shown_url,
                    self.cluster.options.outage_limit.as_secs()
                ));
            }
            if !warned {
                warned = true;
                tracing::warn!(redis = %self.cluster.shown_url, error = %error, "{what}: Redis went away; retrying");
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use technic_data::demo::DemoMarket;
    use technic_data::memory::MemorySource;
    use technic_data::{BarWindow, MarketData};

    use super::WireOutcome;
    use crate::scan::{Outcome, Scanner};
    use crate::stream::{EventLog, ScanMessage};

    /// Every f64 a worker sends comes back to the bit: the final ranking is computed from them.
    #[test]
    fn outcomes_cross_processes_to_the_bit() {
        let market =
            MemorySource::snapshot(&DemoMarket::new(), &BarWindow::last(300)).expect("demo");
        let universe = market.universe().expect("universe");
        let scanner = Scanner::new(Arc::new(market));
        let request = crate::ScanRequest::default().validate().expect("valid");
        let mut rated = 0;
        for info in universe.iter().take(40) {
            let (outcome, _) = scanner.evaluate_symbol(info, &request, None);
            let Outcome::Scanned(result, inputs) = outcome else {
                continue;
            };
            rated += 1;
            let json = serde_json::to_string(&WireOutcome::of(Outcome::Scanned(
                result.clone(),
                inputs.clone(),
            )))
            .expect("encodes");
            let decoded = serde_json::from_str::<WireOutcome>(&json).expect("decodes");
            let Outcome::Scanned(back, back_inputs) = decoded.into_outcome() else {
                panic!("a scanned outcome stays one");
            };
            assert_eq!(back, result);
            let bits = |x: Option<f64>| x.map(f64::to_bits);
            assert_eq!(bits(back_inputs.composite), bits(inputs.composite));
            assert_eq!(
                bits(back_inputs.alpha.momentum_12_1),
                bits(inputs.alpha.momentum_12_1)
            );
            assert_eq!(
                bits(back_inputs.alpha.vol_adjusted_return),
                bits(inputs.alpha.vol_adjusted_return)
            );
            assert_eq!(
                back.indicators
                    .0
                    .iter()
                    .map(|(_, v)| v.map(f64::to_bits))
                    .collect::<Vec<_>>(),
                result
                    .indicators
                    .0
                    .iter()
                    .map(|(_, v)| v.map(f64::to_bits))
                    .collect::<Vec<_>>()
            );
        }
        assert!(rated > 10, "the demo market rates most symbols");
    }

    /// A followed scan's messages are the planner's: the same text, and decoded to what encodes
    /// to it again.
    #[test]
    fn messages_read_back_from_their_json_are_the_same_messages() {
        let market =
            MemorySource::snapshot(&DemoMarket::new(), &BarWindow::last(300)).expect("demo");
        let scanner = Scanner::new(Arc::new(market));
        let request = crate::ScanRequest {
            max_symbols: Some(30),
            ..Default::default()
        }
        .validate()
        .expect("valid");
        let options = crate::ScanOptions::default();
        let log = EventLog::new(options.scan_id.clone());
        scanner
            .execute(&request, options, &log, &|_: &crate::ProgressSnapshot| {})
            .expect("scan");
        let copy = EventLog::new(log.scan_id());
        for message in log.after(0) {
            let json = message.to_json();
            let back = ScanMessage::from_json(&json).expect("decodes");
            // Encoded again, the same text (progress is rounded as written, not as computed).
            assert_eq!(serde_json::to_string(&back).expect("encodes"), *json);
            assert_eq!(back.to_json(), json);
            assert!(copy.append_relayed(back), "next in order");
        }
        assert!(copy.is_closed());
        assert!(
            !copy.append_relayed(ScanMessage::from_json(&log.after(0)[0].to_json()).expect("json")),
            "nothing after the final message"
        );
    }
}
