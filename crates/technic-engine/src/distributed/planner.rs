//! The accepting replica's side: queue a planned scan's batches, take its outcomes back in the
//! order workers finish them (each position once), and copy its log and report to Redis for the
//! other replicas.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::collections::HashSet;

use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use technic_core::termination::StopReason;

use super::{
    Cluster, Link, PLANNERS_GROUP, PLANS_STREAM, PlannedSlot, ScanKeys, Settings, WORK_STREAM,
    WireOutcome, WireSymbol,
};
use crate::registry::ScanEntry;
use crate::scan::{BATCH_SIZE, Context, Outcome, Scanner};

/// Appends to a scan's log only while this replica plans it (see the script).
const PUBLISH_SCRIPT: &str = include_str!("publish.lua");

/// How long one read of outcomes waits: also how soon a stop asked on another replica is seen.
const OUTCOME_WAIT_MS: u64 = 200;

/// What the stop key says once the planner is done: workers skip what is left of the scan.
const ENDED: &str = "the scan ended";

impl Cluster {
    /// Evaluates a planned scan's symbols on the workers and feeds each outcome, once, to
    /// `Scanner::finish`, as the in-process workers do; returns when every symbol is in or the
    /// scan stopped. An `Err` is a Redis that stayed away longer than `outage_limit`. Workers
    /// are told the scan ended when its final message is published (`publish.lua`).
    pub(crate) fn scan_remotely(
        &self,
        scanner: &Scanner,
        ctx: &Context<'_>,
        bars_loaded: &AtomicUsize,
    ) -> Result<(), String> {
        let keys = ScanKeys::of(&ctx.options.scan_id);
        let mut link = self.link();
        let mut taken = Taken::new(ctx.slots.len());
        match &ctx.takeover {
            Some(takeover) if takeover.queued => {
                self.catch_up(scanner, ctx, &keys, &mut link, &mut taken, bars_loaded)?;
            }
            _ => queue(ctx, &keys, &mut link, |_, _| false)?,
        }
        self.collect(scanner, ctx, &keys, &mut link, &mut taken, bars_loaded)
    }

    /// A scan taken over from a planner that died: the outcomes the workers wrote so far, in
    /// the order the planner read them, then its batches that are neither done nor still
    /// queued (the planner may have died queueing them) queued again.
    fn catch_up(
        &self,
        scanner: &Scanner,
        ctx: &Context<'_>,
        keys: &ScanKeys,
        link: &mut Link<'_>,
        taken: &mut Taken,
        bars_loaded: &AtomicUsize,
    ) -> Result<(), String> {
        let (asked, outcomes, work): (Option<String>, StreamRangeReply, StreamRangeReply) = link
            .run("reading a taken-over scan's outcomes", |c| {
                redis::pipe()
                    .atomic()
                    .cmd("GET")
                    .arg(&keys.stop)
                    .cmd("XRANGE")
                    .arg(&keys.outcomes)
                    .arg("-")
                    .arg("+")
                    .cmd("XRANGE")
                    .arg(WORK_STREAM)
                    .arg("-")
                    .arg("+")
                    .query(c)
            })?;
        // A stop asked before the planner died: what it streamed stands, nothing else counts.
        if let Some(who) = asked {
            ctx.options.stop.stop(StopReason::Manual(who));
        }
        for entry in &outcomes.ids {
            taken.take(scanner, ctx, entry, bars_loaded);
        }
        if ctx.options.stop.is_stopped() {
            return Ok(());
        }
        let scan_id = ctx.options.scan_id.as_str();
        let queued: HashSet<usize> = work
            .ids
            .iter()
            .filter_map(super::worker::decode)
            .filter(|batch| batch.scan_id == scan_id)
            .map(|batch| batch.first)
            .collect();
        let seen = &taken.seen;
        queue(ctx, keys, link, |first, len| {
            queued.contains(&first) || seen[first..first + len].iter().all(|s| *s)
        })
    }

    fn collect(
        &self,
        scanner: &Scanner,
        ctx: &Context<'_>,
        keys: &ScanKeys,
        link: &mut Link<'_>,
        taken: &mut Taken,
        bars_loaded: &AtomicUsize,
    ) -> Result<(), String> {
        let total = ctx.slots.len();
        let stop = &ctx.options.stop;
        let mut outages = link.outages;
        let ttl = self.options.running_ttl() as i64;
        while taken.received < total && !stop.is_stopped() {
            if link.outages != outages {
                outages = link.outages;
                tracing::warn!(scan_id = %ctx.options.scan_id, "Redis came back: queueing again the batches not finished");
                let seen = &taken.seen;
                queue(ctx, keys, link, |first, len| {
                    seen[first..first + len].iter().all(|s| *s)
                })?;
            }
            // The stop key first, in the same round trip: outcomes read with a stop already
            // asked are dropped, as in-process workers drop a symbol finished after a stop.
            let (asked, reply): (Option<String>, Option<StreamReadReply>) =
                link.run("reading outcomes", |c| {
                    redis::pipe()
                        .expire(&keys.settings, ttl)
                        .ignore()
                        .expire(&keys.plan, ttl)
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
                        .arg(&taken.last_id)
                        .query(c)
                })?;
            if let Some(who) = asked {
                stop.stop(StopReason::Manual(who));
                break;
            }
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                taken.take(scanner, ctx, &entry, bars_loaded);
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
        self.publish_from(entry, 0);
    }

    /// Copies `entry`'s log to Redis past `published` (what is known to be there already) on a
    /// thread of its own, for as long as this replica plans the scan.
    pub(super) fn publish_from(self: &Arc<Self>, entry: Arc<ScanEntry>, published: u64) {
        self.planning(&entry.scan_id, true);
        let cluster = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("scan publisher".into())
            .spawn(move || {
                if let Err(e) = cluster.copy_log(&entry, published) {
                    tracing::error!(scan_id = %entry.scan_id, error = %e, "could not publish a scan to Redis");
                }
                cluster.planning(&entry.scan_id, false);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread to publish a scan to Redis");
        }
    }

    fn record(&self, entry: &ScanEntry) -> Result<(), String> {
        let keys = ScanKeys::of(&entry.scan_id);
        let request = serde_json::to_string(&entry.request).map_err(|e| e.to_string())?;
        let mut link = self.link();
        link.run("recording the scan", |c| {
            redis::pipe()
                .hset(&keys.meta, "request", &request)
                .ignore()
                .hset(&keys.meta, "status", "running")
                .ignore()
                .expire(&keys.meta, self.options.running_ttl() as i64)
                .ignore()
                .query::<()>(c)
        })?;
        // Its entry in the planners' group, which says this replica plans it.
        match self.fenced_append(&mut link, &keys, &[], None)? {
            Some(_) => Ok(()),
            None => Err("another replica plans a scan with the same id".to_owned()),
        }
    }

    /// Appends `messages` to the scan's log in Redis if this replica still plans the scan, and
    /// with `end` (the report or the error, beside the final message) ends it there; returns
    /// the newest seq in Redis, or `None` if another replica took the scan over.
    fn fenced_append(
        &self,
        link: &mut Link<'_>,
        keys: &ScanKeys,
        messages: &[Arc<crate::ScanMessage>],
        end: Option<(&str, &str)>,
    ) -> Result<Option<u64>, String> {
        let (end_field, end_value) = end.unwrap_or(("", ""));
        let published: i64 = link.run("publishing the scan's log", |c| {
            // EVAL rather than EVALSHA: the script is small beside the messages it carries,
            // and a Redis restarted without its script cache needs no second round trip.
            let mut eval = redis::cmd("EVAL");
            eval.arg(PUBLISH_SCRIPT)
                .arg(7)
                .arg(PLANS_STREAM)
                .arg(&keys.meta)
                .arg(&keys.log)
                .arg(&keys.stop)
                .arg(&keys.outcomes)
                .arg(&keys.settings)
                .arg(&keys.plan)
                .arg(PLANNERS_GROUP)
                .arg(&self.replica)
                .arg(keys.scan_id())
                .arg(self.options.running_ttl())
                .arg(self.options.retention_seconds())
                .arg(end_field)
                .arg(end_value)
                .arg(ENDED);
            for message in messages {
                eval.arg(message.metadata.seq).arg(&*message.to_json());
            }
            eval.query(c)
        })?;
        Ok(u64::try_from(published).ok())
    }

    /// Each round appends whatever the local log holds past the newest message in Redis, so a
    /// Redis that lost its last writes in a restart (or everything, without its AOF) gets them
    /// again, in order and without a gap. A round runs at least every `heartbeat`, messages or
    /// not: it is what keeps the scan this replica's. Ends with an `Err`, and stops the local
    /// scan, if another replica took the scan over (this one stalled past the visibility
    /// timeout).
    fn copy_log(&self, entry: &ScanEntry, mut published: u64) -> Result<(), String> {
        let keys = ScanKeys::of(&entry.scan_id);
        let mut link = self.link();
        let mut subscription = entry.log.subscribe(published);
        let mut end: Option<(&str, String)> = None;
        loop {
            if entry.log.len() <= published {
                let _wake = subscription.next_batch_blocking(self.heartbeat());
            }
            let messages = entry.log.after(published);
            let ended = messages.last().is_some_and(|m| m.metadata.is_final);
            // The final message goes with the report, once the registry has recorded it.
            if ended && end.is_none() {
                end = Some(match wait_for_outcome(entry) {
                    Some(Ok(outcome)) => (
                        "report",
                        serde_json::to_string(&outcome.report).map_err(|e| e.to_string())?,
                    ),
                    Some(Err(message)) => ("error", message),
                    None => ("error", "the scan ended without an outcome".to_owned()),
                });
            }
            let this_end = end
                .as_ref()
                .filter(|_| ended)
                .map(|(field, value)| (*field, value.as_str()));
            let Some(newest) = self.fenced_append(&mut link, &keys, &messages, this_end)? else {
                entry.stop.stop(StopReason::Manual(
                    "another replica took the scan over".to_owned(),
                ));
                return Err("another replica took the scan over (this one stalled)".to_owned());
            };
            published = newest;
            if ended && messages.last().is_some_and(|m| m.metadata.seq == newest) {
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

/// The outcomes a scan has taken: each position's first one (a batch reclaimed after its worker
/// died is evaluated again; any repeat is the same, evaluation being pure).
struct Taken {
    seen: Vec<bool>,
    received: usize,
    /// The outcome stream's entry read last.
    last_id: String,
    /// The first position not read yet; positions are in priority order.
    first_unseen: usize,
    /// Outcomes read while a higher tier still had symbols out. Workers start several batches
    /// at once, so a low tier's symbol can come back first; held until its betters are in, the
    /// likeliest results stream first, as they do in process.
    held: Vec<(usize, Outcome)>,
}

impl Taken {
    fn new(total: usize) -> Self {
        Self {
            seen: vec![false; total],
            received: 0,
            last_id: String::from("0-0"),
            first_unseen: 0,
            held: Vec::new(),
        }
    }

    fn take(
        &mut self,
        scanner: &Scanner,
        ctx: &Context<'_>,
        entry: &StreamId,
        bars_loaded: &AtomicUsize,
    ) {
        self.last_id.clone_from(&entry.id);
        let position: Option<usize> = entry.get("position");
        let outcome: Option<String> = entry.get("outcome");
        let (Some(position), Some(outcome)) = (position, outcome) else {
            return;
        };
        if position >= self.seen.len() || self.seen[position] {
            return;
        }
        let Ok(outcome) = serde_json::from_str::<WireOutcome>(&outcome) else {
            tracing::warn!(position, "an outcome that does not decode; ignored");
            return;
        };
        self.seen[position] = true;
        self.received += 1;
        bars_loaded.fetch_add(entry.get("bars").unwrap_or(0), Ordering::Relaxed);
        while self.seen.get(self.first_unseen).is_some_and(|seen| *seen) {
            self.first_unseen += 1;
        }
        self.held.push((position, outcome.into_outcome()));
        // The tier of the first symbol still out: nothing below it streams yet.
        let front = ctx.slots.get(self.first_unseen).and_then(|slot| slot.tier);
        let (mut ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(position, _)| match (ctx.slots[*position].tier, front) {
                (Some(tier), Some(front)) => tier <= front,
                _ => true,
            });
        self.held = waiting;
        // The symbol just in may be the last of its tier, released with the lower ones it held
        // back: the better tier first, each in the order read.
        ready.sort_by_key(|(position, _)| ctx.slots[*position].tier);
        for (position, outcome) in ready {
            scanner.finish(ctx, position, outcome, self.seen.len());
        }
    }
}

/// Writes the scan's settings and plan and queues its batches, but those `skip(first, len)`
/// names (again after Redis lost them: a repeat is harmless, the first outcome of a position is
/// kept). One transaction: a replica that takes the scan over finds the plan and every batch,
/// or neither.
fn queue(
    ctx: &Context<'_>,
    keys: &ScanKeys,
    link: &mut Link<'_>,
    skip: impl Fn(usize, usize) -> bool,
) -> Result<(), String> {
    let running_ttl = link.cluster.options.running_ttl();
    let scan_id = ctx.options.scan_id.as_str();
    let settings = serde_json::to_string(&Settings {
        request: ctx.request.clone(),
        as_of: ctx.options.as_of,
    })
    .map_err(|e| format!("encoding the scan's settings: {e}"))?;
    let plan: Vec<PlannedSlot> = ctx
        .slots
        .iter()
        .map(|slot| PlannedSlot {
            symbol: WireSymbol::of(&slot.info),
            tier: slot.tier,
        })
        .collect();
    let plan = serde_json::to_string(&plan).map_err(|e| format!("encoding the plan: {e}"))?;
    link.run("queueing the scan's batches", |c| {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.set_ex(&keys.settings, &settings, running_ttl).ignore();
        pipe.set_ex(&keys.plan, &plan, running_ttl).ignore();
        for (index, batch) in ctx.slots.chunks(BATCH_SIZE).enumerate() {
            let first = index * BATCH_SIZE;
            if skip(first, batch.len()) {
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
