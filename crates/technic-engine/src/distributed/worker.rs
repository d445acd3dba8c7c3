//! `technic worker`: threads that take batches from the work stream's consumer group, evaluate
//! each symbol exactly as an in-process scan does, and write each outcome to the scan's outcome
//! stream the moment it is done.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingCountReply, StreamReadReply};

use super::{
    Cluster, Link, ScanKeys, Settings, WORK_STREAM, WORKERS_GROUP, WireOutcome, WireSymbol,
};
use crate::scan::{Outcome, Scanner};

/// How long a worker waits for a batch before it looks for a dead worker's batch again.
const READ_WAIT_MS: u64 = 1000;

/// Settings of this many scans are kept per thread, so a batch costs no read of them.
const SETTINGS_KEPT: usize = 64;

/// What a worker process reports about itself (`technic worker`'s `/metrics`).
#[derive(Debug, Default)]
pub struct WorkerStats {
    /// Batches being evaluated now.
    pub in_flight_batches: AtomicU64,
    /// Symbols evaluated and written back since the process started.
    pub symbols_processed: AtomicU64,
}

/// Counts a batch in flight for as long as it lives, however its processing ends.
struct InFlight<'a>(&'a WorkerStats);

impl<'a> InFlight<'a> {
    fn start(stats: &'a WorkerStats) -> Self {
        stats.in_flight_batches.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight_batches.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Batches evaluated at once (`MAX_WORKERS`), each on a thread with its own connection.
    pub threads: usize,
    /// Consumer names start with this (host and process id): unique per process, so a restarted
    /// worker never takes a dead one's pending batches as its own without claiming them.
    pub name: String,
    /// Shared with whatever reports them (the worker's metrics endpoint).
    pub stats: Arc<WorkerStats>,
}

/// Runs until `shutdown` is set (each thread finishes its batch first), or until Redis stays
/// away longer than the cluster's `outage_limit`.
pub fn run_worker(
    scanner: Arc<Scanner>,
    cluster: Arc<Cluster>,
    options: &WorkerOptions,
    shutdown: Arc<AtomicBool>,
) -> Result<(), String> {
    let threads: Vec<_> = (0..options.threads.max(1))
        .map(|i| {
            let (scanner, cluster, shutdown, stats) = (
                Arc::clone(&scanner),
                Arc::clone(&cluster),
                Arc::clone(&shutdown),
                Arc::clone(&options.stats),
            );
            let consumer = format!("{}-{i}", options.name);
            std::thread::Builder::new()
                .name(format!("worker {i}"))
                .spawn(move || Thread::new(&scanner, &cluster, consumer, stats).run(&shutdown))
                .map_err(|e| format!("starting a worker thread: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let mut failure = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("a worker thread panicked".to_owned()),
        }
    }
    failure.map_or(Ok(()), Err)
}

/// One consumer of the group.
struct Thread<'a> {
    scanner: &'a Scanner,
    cluster: &'a Cluster,
    link: Link<'a>,
    consumer: String,
    settings: HashMap<String, Arc<Settings>>,
    stats: Arc<WorkerStats>,
}

/// A batch as queued.
pub(super) struct Batch {
    id: String,
    pub(super) scan_id: String,
    pub(super) first: usize,
    symbols: Vec<WireSymbol>,
}

impl<'a> Thread<'a> {
    fn new(
        scanner: &'a Scanner,
        cluster: &'a Cluster,
        consumer: String,
        stats: Arc<WorkerStats>,
    ) -> Self {
        Self {
            scanner,
            cluster,
            link: cluster.link(),
            consumer,
            settings: HashMap::new(),
            stats,
        }
    }

    fn run(mut self, shutdown: &AtomicBool) -> Result<(), String> {
        while !shutdown.load(Ordering::SeqCst) {
            // A dead worker's batch first: it has waited longest.
            if let Some((entry, deliveries)) = self.claim()? {
                self.process(&entry, deliveries)?;
            } else if let Some(entry) = self.read()? {
                self.process(&entry, 1)?;
            }
        }
        Ok(())
    }

    /// A batch pending with its consumer longer than the visibility timeout, and how many times
    /// it has been delivered (this one included).
    fn claim(&mut self) -> Result<Option<(StreamId, usize)>, String> {
        let idle_ms = self.cluster.options.visibility.as_millis();
        let consumer = &self.consumer;
        let reply: StreamAutoClaimReply = self.link.run("claiming a dead worker's batch", |c| {
            redis::cmd("XAUTOCLAIM")
                .arg(WORK_STREAM)
                .arg(WORKERS_GROUP)
                .arg(consumer)
                .arg(u64::try_from(idle_ms).unwrap_or(u64::MAX))
                .arg("0-0")
                .arg("COUNT")
                .arg(1)
                .query(c)
        })?;
        let Some(entry) = reply.claimed.into_iter().next() else {
            return Ok(None);
        };
        let pending: StreamPendingCountReply =
            self.link.run("reading a batch's deliveries", |c| {
                redis::cmd("XPENDING")
                    .arg(WORK_STREAM)
                    .arg(WORKERS_GROUP)
                    .arg(&entry.id)
                    .arg(&entry.id)
                    .arg(1)
                    .query(c)
            })?;
        let deliveries = pending.ids.first().map_or(1, |p| p.times_delivered);
        tracing::info!(batch = %entry.id, deliveries, "claimed a batch whose worker stopped answering");
        Ok(Some((entry, deliveries)))
    }

    fn read(&mut self) -> Result<Option<StreamId>, String> {
        let consumer = &self.consumer;
        let reply: Option<StreamReadReply> = self.link.run("reading a batch", |c| {
            redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(WORKERS_GROUP)
                .arg(consumer)
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(READ_WAIT_MS)
                .arg("STREAMS")
                .arg(WORK_STREAM)
                .arg(">")
                .query(c)
        })?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .next())
    }

    fn process(&mut self, entry: &StreamId, deliveries: usize) -> Result<(), String> {
        let stats = Arc::clone(&self.stats);
        let _in_flight = InFlight::start(&stats);
        let batch = decode(entry);
        if let Some(batch) = &batch {
            self.evaluate(batch, deliveries)?;
        } else {
            tracing::warn!(batch = %entry.id, "a batch that does not decode; dropped");
        }
        // Acknowledged only once every outcome is written: a worker that dies before leaves the
        // batch pending, to be claimed by another. Deleted too: the stream holds only work to do.
        self.link.run("acknowledging a batch", |c| {
            redis::pipe()
                .cmd("XACK")
                .arg(WORK_STREAM)
                .arg(WORKERS_GROUP)
                .arg(&entry.id)
                .ignore()
                .cmd("XDEL")
                .arg(WORK_STREAM)
                .arg(&entry.id)
                .ignore()
                .query::<()>(c)
        })
    }

    fn evaluate(&mut self, batch: &Batch, deliveries: usize) -> Result<(), String> {
        let keys = ScanKeys::of(&batch.scan_id);
        let Some(settings) = self.settings_of(&batch.scan_id, &keys)? else {
            return Ok(()); // The scan ended (or expired): nothing to do.
        };
        let poisoned = deliveries > self.cluster.options.max_deliveries;
        if poisoned {
            tracing::warn!(batch = %batch.id, scan_id = %batch.scan_id, deliveries, "a batch delivered too often; its symbols become errors");
        }
        let running_ttl = self.cluster.options.running_ttl();
        for (offset, symbol) in batch.symbols.iter().enumerate() {
            let (outcome, bars) = if poisoned {
                let message = format!(
                    "not evaluated: its batch was taken {deliveries} times and every worker that took it stopped before finishing"
                );
                (Outcome::Failed(message), 0)
            } else {
                self.evaluate_one(symbol, &settings)
            };
            let outcome = serde_json::to_string(&WireOutcome::of(outcome))
                .map_err(|e| format!("encoding an outcome: {e}"))?;
            // The outcome and the stop key in one round trip: a stop reaches the worker before
            // its next symbol.
            let stop: Option<String> = self.link.run("writing an outcome", |c| {
                let (_id, _expiring, stop): (String, i64, Option<String>) = redis::pipe()
                    .cmd("XADD")
                    .arg(&keys.outcomes)
                    .arg("*")
                    .arg("position")
                    .arg(batch.first + offset)
                    .arg("outcome")
                    .arg(&outcome)
                    .arg("bars")
                    .arg(bars)
                    .cmd("EXPIRE")
                    .arg(&keys.outcomes)
                    .arg(running_ttl)
                    .cmd("GET")
                    .arg(&keys.stop)
                    .query(c)?;
                Ok(stop)
            })?;
            self.stats.symbols_processed.fetch_add(1, Ordering::Relaxed);
            if stop.is_some() {
                // The planner is done with the outcomes (it deleted them as it set the key):
                // this one would only outlive the scan.
                self.link.run("dropping a late outcome", |c| {
                    redis::cmd("DEL").arg(&keys.outcomes).query::<()>(c)
                })?;
                break;
            }
        }
        Ok(())
    }

    fn evaluate_one(&self, symbol: &WireSymbol, settings: &Settings) -> (Outcome, usize) {
        let info = symbol.info();
        // A symbol that panics the evaluator is that symbol's error, not the worker's end.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.scanner
                .evaluate_symbol(&info, &settings.request, settings.as_of)
        }))
        .unwrap_or_else(|_| {
            tracing::error!(symbol = %info.symbol, "the evaluation panicked");
            (
                Outcome::Failed("the evaluation failed (internal error)".to_owned()),
                0,
            )
        })
    }

    /// The scan's settings, or `None` if it has ended or stopped (its stop key is set, or its
    /// settings are gone).
    fn settings_of(
        &mut self,
        scan_id: &str,
        keys: &ScanKeys,
    ) -> Result<Option<Arc<Settings>>, String> {
        let kept = self.settings.contains_key(scan_id);
        let (stop, settings): (Option<String>, Option<String>) =
            self.link.run("reading a scan's settings", |c| {
                let mut pipe = redis::pipe();
                pipe.cmd("GET").arg(&keys.stop);
                if kept {
                    let (stop,): (Option<String>,) = pipe.query(c)?;
                    Ok((stop, None))
                } else {
                    pipe.cmd("GET").arg(&keys.settings).query(c)
                }
            })?;
        if stop.is_some() {
            self.settings.remove(scan_id);
            return Ok(None);
        }
        if let Some(kept) = self.settings.get(scan_id) {
            return Ok(Some(Arc::clone(kept)));
        }
        let Some(settings) = settings else {
            return Ok(None);
        };
        let settings: Settings = serde_json::from_str(&settings)
            .map_err(|e| format!("scan {scan_id}: settings that do not decode: {e}"))?;
        if self.settings.len() >= SETTINGS_KEPT {
            self.settings.clear();
        }
        let settings = Arc::new(settings);
        self.settings
            .insert(scan_id.to_owned(), Arc::clone(&settings));
        Ok(Some(settings))
    }
}

pub(super) fn decode(entry: &StreamId) -> Option<Batch> {
    let symbols: String = entry.get("symbols")?;
    Some(Batch {
        id: entry.id.clone(),
        scan_id: entry.get("scan")?,
        first: entry.get("first")?,
        symbols: serde_json::from_str(&symbols).ok()?,
    })
}

/// Symbols queued for the worker group and not yet done: every batch still in the work stream
/// (acknowledged batches are deleted), waiting or in a worker's hands. One read, no retries: a
/// metrics scrape must not wait out a Redis outage.
pub fn work_backlog(cluster: &Cluster) -> Result<u64, String> {
    let mut connection = cluster
        .client
        .get_connection_with_timeout(std::time::Duration::from_secs(2))
        .map_err(|e| format!("Redis: {e}"))?;
    connection
        .set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .map_err(|e| format!("Redis: {e}"))?;
    let entries: Vec<StreamId> = redis::cmd("XRANGE")
        .arg(WORK_STREAM)
        .arg("-")
        .arg("+")
        .query::<redis::streams::StreamRangeReply>(&mut connection)
        .map_err(|e| format!("reading the work stream: {e}"))?
        .ids;
    Ok(entries
        .iter()
        .filter_map(decode)
        .map(|batch| batch.symbols.len() as u64)
        .sum())
}
