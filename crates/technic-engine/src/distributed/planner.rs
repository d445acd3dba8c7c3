//! The accepting replica's side: queue a planned scan's batches, take its outcomes back in the
//! order workers finish them (each position once), and copy its log and report to Redis for the
//! other replicas.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redis::streams::StreamReadReply;
use technic_core::termination::StopReason;

use super::{Cluster, Link, ScanKeys, Settings, WORK_STREAM, WireOutcome, WireSymbol};
use crate::registry::ScanEntry;
use crate::scan::{BATCH_SIZE, Context, Scanner};

/// How long one read of outcomes waits: also how soon a stop asked on another replica is seen.
const OUTCOME_WAIT_MS: u64 = 200;

/// What the stop key says once the planner is done: workers skip what is left of the scan.
const ENDED: &str = "the scan ended";

impl Cluster {
    /// Evaluates a planned scan's symbols on the workers and feeds each outcome, once, to
    /// `Scanner::finish`, as the in-process workers do; returns when every symbol is in or the
    /// scan stopped. An `Err` is a Redis that stayed away longer than `outage_limit`.
    pub(crate) fn scan_remotely(
        &self,
        scanner: &Scanner,
        ctx: &Context<'_>,
        bars_loaded: &AtomicUsize,
    ) -> Result<(), String> {
        let scan_id = ctx.options.scan_id.as_str();
        let keys = ScanKeys::of(scan_id);
        let mut link = self.link();
        queue(ctx, &keys, &mut link, None)?;
        let result = self.collect(scanner, ctx, &keys, &mut link, bars_loaded);
        // Whatever ended the collection, workers drop what is left of the scan, and the
        // outcomes are no longer needed.
        let retention = self.options.retention_seconds();
        let _told = link.run("ending the scan's batches", |c| {
            redis::pipe()
                .cmd("SET")
                .arg(&keys.stop)
                .arg(ENDED)
                .arg("EX")
                .arg(retention)
                .ignore()
                .del(&keys.outcomes)
                .ignore()
                .del(&keys.settings)
                .ignore()
                .query::<()>(c)
        });
        result
    }

    fn collect(
        &self,
        scanner: &Scanner,
        ctx: &Context<'_>,
        keys: &ScanKeys,
        link: &mut Link<'_>,
        bars_loaded: &AtomicUsize,
    ) -> Result<(), String> {
        let total = ctx.slots.len();
        let mut seen = vec![false; total];
        let mut received = 0;
        let mut last_id = String::from("0-0");
        let stop = &ctx.options.stop;
        let mut outages = link.outages;
        while received < total && !stop.is_stopped() {
            if link.outages != outages {
                outages = link.outages;
                tracing::warn!(scan_id = %ctx.options.scan_id, "Redis came back: queueing again the batches not finished");
                queue(ctx, keys, link, Some(&seen))?;
            }
            // The stop key first, in the same round trip: outcomes read with a stop already
            // asked are dropped, as in-process workers drop a symbol finished after a stop.
            let (asked, reply): (Option<String>, Option<StreamReadReply>) =
                link.run("reading outcomes", |c| {
                    redis::pipe()
                        .expire(&keys.settings, self.options.running_ttl() as i64)
                        .ignore()
                        .cmd("GET")
                        .arg(&keys.stop)
                        .cmd("XREAD")
                        .arg("COUNT")
                        .arg(500)
                        .arg("BLOCK")
                        .arg(OUTCOME_WAIT_MS)
                        .arg("STREAMS")
                        .arg(&keys.outcomes)
                        .arg(&last_id)
                        .query(c)
                })?;
            if let Some(who) = asked {
                stop.stop(StopReason::Manual(who));
                break;
            }
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                last_id.clone_from(&entry.id);
                let position: Option<usize> = entry.get("position");
                let outcome: Option<String> = entry.get("outcome");
                let (Some(position), Some(outcome)) = (position, outcome) else {
                    continue;
                };
                // A batch reclaimed after its worker died is evaluated again: the first
                // outcome of a position is the one, the same as any repeat (evaluation is pure).
                if position >= total || seen[position] {
                    continue;
                }
                let Ok(outcome) = serde_json::from_str::<WireOutcome>(&outcome) else {
                    tracing::warn!(position, "an outcome that does not decode; ignored");
                    continue;
                };
                seen[position] = true;
                received += 1;
                bars_loaded.fetch_add(entry.get("bars").unwrap_or(0), Ordering::Relaxed);
                scanner.finish(ctx, position, outcome.into_outcome(), total);
            }
        }
        Ok(())
    }

    /// Records the scan in Redis before returning, so any replica knows it as soon as its id is
    /// handed out, then copies its log there as it is appended, on a thread of its own; the
    /// final message only once the report is stored beside it, so whoever sees the end can
    /// read the results.
    pub(crate) fn publish(self: &Arc<Self>, entry: Arc<ScanEntry>) {
        if let Err(e) = self.record(&entry) {
            tracing::error!(scan_id = %entry.scan_id, error = %e, "could not record a scan in Redis");
        }
        let cluster = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("scan publisher".into())
            .spawn(move || {
                if let Err(e) = cluster.copy_log(&entry) {
                    tracing::error!(scan_id = %entry.scan_id, error = %e, "could not publish a scan to Redis");
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread to publish a scan to Redis");
        }
    }

    fn record(&self, entry: &ScanEntry) -> Result<(), String> {
        let keys = ScanKeys::of(&entry.scan_id);
        let request = serde_json::to_string(&entry.request).map_err(|e| e.to_string())?;
        self.link().run("recording the scan", |c| {
            redis::pipe()
                .hset(&keys.meta, "request", &request)
                .ignore()
                .hset(&keys.meta, "status", "running")
                .ignore()
                .expire(&keys.meta, self.options.running_ttl() as i64)
                .ignore()
                .query::<()>(c)
        })
    }

    /// Each round appends whatever the local log holds past the newest message in Redis, so a
    /// Redis that lost its last writes in a restart (or everything, without its AOF) gets them
    /// again, in order and without a gap; the subscription only says when there is more.
    fn copy_log(&self, entry: &ScanEntry) -> Result<(), String> {
        let keys = ScanKeys::of(&entry.scan_id);
        let mut link = self.link();
        let mut subscription = entry.log.subscribe(0);
        loop {
            let batch = subscription.next_batch_blocking(Duration::from_secs(1));
            let ended = batch.last().is_some_and(|m| m.metadata.is_final);
            // The final message goes with the report, once the registry has recorded it.
            let end = if ended {
                let (field, value) = match wait_for_outcome(entry) {
                    Some(Ok(outcome)) => (
                        "report",
                        serde_json::to_string(&outcome.report).map_err(|e| e.to_string())?,
                    ),
                    Some(Err(message)) => ("error", message),
                    None => ("error", "the scan ended without an outcome".to_owned()),
                };
                Some((field, value))
            } else {
                None
            };
            if batch.is_empty() && !subscription.is_done() {
                // Quiet, not dead: the keys outlive their running TTL.
                let ttl = self.options.running_ttl() as i64;
                link.run("keeping the scan's keys", |c| {
                    redis::pipe()
                        .expire(&keys.log, ttl)
                        .ignore()
                        .expire(&keys.meta, ttl)
                        .ignore()
                        .query::<()>(c)
                })?;
                continue;
            }
            let retention = self.options.retention_seconds() as i64;
            link.run("publishing the scan's log", |c| {
                let kept = published_len(&keys, c)?;
                let mut pipe = redis::pipe();
                for message in entry.log.after(kept) {
                    if message.metadata.is_final && end.is_none() {
                        break;
                    }
                    append(&mut pipe, &keys.log, &message);
                }
                match &end {
                    Some((field, value)) => {
                        pipe.hset(&keys.meta, *field, value)
                            .ignore()
                            .hset(&keys.meta, "status", "finished")
                            .ignore();
                        for key in [&keys.meta, &keys.log, &keys.stop] {
                            pipe.expire(key, retention).ignore();
                        }
                    }
                    None => {
                        for key in [&keys.log, &keys.meta] {
                            pipe.expire(key, self.options.running_ttl() as i64).ignore();
                        }
                    }
                }
                pipe.query::<()>(c)
            })?;
            if end.is_some() || subscription.is_done() {
                return Ok(());
            }
        }
    }

    /// Asks a scan that another replica runs to stop (its planner reads this key).
    pub(crate) fn request_stop(&self, scan_id: &str, who: &str) -> Result<(), String> {
        let keys = ScanKeys::of(scan_id);
        self.link().run("asking a scan to stop", |c| {
            redis::cmd("SET")
                .arg(&keys.stop)
                .arg(who)
                .arg("NX")
                .arg("EX")
                .arg(self.options.running_ttl())
                .query::<()>(c)
        })
    }
}

/// Writes the scan's settings and queues its batches: all of them, or those holding a position
/// not yet `seen` (again after Redis lost them: a repeat is harmless, the first outcome of a
/// position is kept).
fn queue(
    ctx: &Context<'_>,
    keys: &ScanKeys,
    link: &mut Link<'_>,
    seen: Option<&[bool]>,
) -> Result<(), String> {
    let running_ttl = link.cluster.options.running_ttl();
    let scan_id = ctx.options.scan_id.as_str();
    let settings = serde_json::to_string(&Settings {
        request: ctx.request.clone(),
        as_of: ctx.options.as_of,
    })
    .map_err(|e| format!("encoding the scan's settings: {e}"))?;
    link.run("queueing the scan's batches", |c| {
        let mut pipe = redis::pipe();
        pipe.set_ex(&keys.settings, &settings, running_ttl).ignore();
        for (index, batch) in ctx.slots.chunks(BATCH_SIZE).enumerate() {
            let first = index * BATCH_SIZE;
            if seen.is_some_and(|seen| seen[first..first + batch.len()].iter().all(|s| *s)) {
                continue;
            }
            let symbols: Vec<WireSymbol> = batch
                .iter()
                .map(|slot| WireSymbol::of(&slot.info))
                .collect();
            let symbols = serde_json::to_string(&symbols).unwrap_or_default();
            pipe.cmd("XADD")
                .arg(WORK_STREAM)
                .arg("*")
                .arg("scan")
                .arg(scan_id)
                .arg("first")
                .arg(first)
                .arg("symbols")
                .arg(symbols)
                .ignore();
        }
        pipe.query::<()>(c)
    })
}

fn append(pipe: &mut redis::Pipeline, key: &str, message: &crate::ScanMessage) {
    // The entry id is the seq: a follower resumes after `{seq}-0`, and an append repeated after
    // a lost connection is refused instead of copied twice.
    pipe.cmd("XADD")
        .arg(key)
        .arg(format!("{}-0", message.metadata.seq))
        .arg("json")
        .arg(&*message.to_json())
        .ignore();
}

/// The `seq` of the newest message of the scan's log in Redis (0 for none).
fn published_len(keys: &ScanKeys, connection: &mut redis::Connection) -> redis::RedisResult<u64> {
    let newest: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
        .arg(&keys.log)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(connection)?;
    Ok(newest
        .ids
        .first()
        .and_then(|entry| entry.id.split('-').next()?.parse().ok())
        .unwrap_or(0))
}

/// The registry records the outcome just after the scan appends its final message.
fn wait_for_outcome(entry: &ScanEntry) -> Option<Result<Arc<crate::ScanOutcome>, String>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(outcome) = entry.outcome() {
            return Some(outcome);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
