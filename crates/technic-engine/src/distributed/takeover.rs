//! A scan whose planner died, finished by another replica. Every distributed replica claims
//! (`XAUTOCLAIM`) the planners' entries idle past the visibility timeout; the claim is what
//! fences the old planner out (`publish.lua` appends only for the entry's holder), so the new
//! one reads the published log after it and finds all of it. It then replays the outcomes the
//! workers wrote, in the order the planner read them, streaming only what the planner had not,
//! and finalises the scan: the same ranking as in-process, since that depends only on the plan
//! and the outcomes.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use redis::streams::{StreamAutoClaimReply, StreamRangeReply};
use technic_core::progress::ProgressSnapshot;

use super::{Cluster, Link, PLANNERS_GROUP, PLANS_STREAM, PlannedSlot, ScanKeys, Settings};
use crate::registry::ScanEntry;
use crate::request::ValidScan;
use crate::scan::{ScanOptions, Scanner, Slot, StopHandle, Takeover};
use crate::stream::{EventLog, Payload, ScanMessage};

/// Planners' entries claimed at once.
const CLAIMED_AT_ONCE: usize = 16;

/// What Redis holds of a scan to take over.
type Published = (
    (Option<String>, Option<String>, Option<String>),
    Option<String>,
    Option<String>,
    StreamRangeReply,
);

impl Cluster {
    /// Looks for scans whose planner stopped, several times per visibility timeout, on a thread
    /// of its own that ends with the scanner (`scanner` has this cluster).
    pub fn watch_planners(self: &Arc<Self>, scanner: Weak<Scanner>) {
        let cluster = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("planner watch".into())
            .spawn(move || {
                let mut link = cluster.link();
                loop {
                    std::thread::sleep(cluster.heartbeat());
                    let Some(scanner) = scanner.upgrade() else {
                        return;
                    };
                    match cluster.claim_orphans(&mut link) {
                        Ok(claimed) => {
                            for (entry_id, scan_id) in claimed {
                                cluster.start_takeover(&scanner, entry_id, scan_id);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not look for scans whose planner stopped");
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread to watch for scans whose planner stopped");
        }
    }

    /// Planners' entries idle past the visibility timeout, now this replica's: each entry's id
    /// and its scan's.
    fn claim_orphans(&self, link: &mut Link<'_>) -> Result<Vec<(String, String)>, String> {
        let idle_ms = u64::try_from(self.options.visibility.as_millis()).unwrap_or(u64::MAX);
        let reply: StreamAutoClaimReply =
            link.run("looking for scans whose planner stopped", |c| {
                redis::cmd("XAUTOCLAIM")
                    .arg(PLANS_STREAM)
                    .arg(PLANNERS_GROUP)
                    .arg(&self.replica)
                    .arg(idle_ms)
                    .arg("0-0")
                    .arg("COUNT")
                    .arg(CLAIMED_AT_ONCE)
                    .query(c)
            })?;
        Ok(reply
            .claimed
            .into_iter()
            .map(|entry| {
                let scan_id = entry.get("scan").unwrap_or_default();
                (entry.id, scan_id)
            })
            .collect())
    }

    fn start_takeover(self: &Arc<Self>, scanner: &Arc<Scanner>, entry_id: String, scan_id: String) {
        // This replica's own scan, whose publisher stalled: it is still this replica's.
        if self.plans(&scan_id) {
            return;
        }
        self.planning(&scan_id, true);
        let (cluster, scanner, taken) = (Arc::clone(self), Arc::clone(scanner), scan_id.clone());
        let spawned = std::thread::Builder::new()
            .name("scan takeover".into())
            .spawn(move || {
                let started = cluster.take_over(&scanner, &entry_id, &scan_id);
                if let Err(e) = &started {
                    tracing::error!(%scan_id, error = %e, "could not take a scan over");
                }
                if !matches!(started, Ok(true)) {
                    cluster.planning(&scan_id, false);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread to take a scan over");
            self.planning(&taken, false);
        }
    }

    /// Finishes the scan of a planners' entry this replica claimed; `Ok(false)` if there was
    /// nothing to finish (the scan ended or expired: its entry is dropped).
    fn take_over(
        self: &Arc<Self>,
        scanner: &Scanner,
        entry_id: &str,
        scan_id: &str,
    ) -> Result<bool, String> {
        let keys = ScanKeys::of(scan_id);
        let mut link = self.link();
        let ((request, status, planner), settings, plan, published): Published =
            link.run("reading a scan to take over", |c| {
                redis::pipe()
                    .atomic()
                    .cmd("HMGET")
                    .arg(&keys.meta)
                    .arg("request")
                    .arg("status")
                    .arg("planner")
                    .cmd("GET")
                    .arg(&keys.settings)
                    .cmd("GET")
                    .arg(&keys.plan)
                    .cmd("XRANGE")
                    .arg(&keys.log)
                    .arg("-")
                    .arg("+")
                    .query(c)
            })?;
        let running = status.as_deref() == Some("running") && planner.as_deref() == Some(entry_id);
        let Some(request) = request.filter(|_| running) else {
            forget(&mut link, entry_id)?;
            return Ok(false);
        };
        let request: ValidScan = serde_json::from_str(&request)
            .map_err(|e| format!("scan {scan_id}: a request that does not decode: {e}"))?;
        let (log, streamed) = replay(scan_id, &published)?;
        if log.is_closed() {
            forget(&mut link, entry_id)?;
            return Ok(false);
        }
        let plan = decode_plan(scan_id, plan)?;
        let as_of = settings
            .and_then(|s| serde_json::from_str::<Settings>(&s).ok())
            .and_then(|s| s.as_of);
        tracing::warn!(
            scan_id,
            messages = log.len(),
            planned = plan.is_some(),
            "taking over a scan whose planner stopped"
        );
        let entry = Arc::new(ScanEntry::new(
            scan_id.to_owned(),
            request.clone(),
            Arc::clone(&log),
            StopHandle::default(),
            Arc::clone(scanner.clock()),
        ));
        self.publish_from(Arc::clone(&entry), log.len());
        let takeover = Takeover {
            queued: plan.is_some(),
            plan,
            streamed,
        };
        // What earlier scans learned stays with the replica that planned it: results streamed
        // from here on are placed among the prior (the final ranking does not depend on it).
        let options = ScanOptions {
            scan_id: scan_id.to_owned(),
            stop: entry.stop.clone(),
            as_of,
            ..ScanOptions::default()
        };
        let observer = |snapshot: &ProgressSnapshot| entry.set_progress(snapshot.clone());
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scanner.take_over(&request, options, &log, &observer, takeover)
        }));
        let outcome = match ran {
            Ok(Ok(outcome)) => Ok(Arc::new(outcome)),
            Ok(Err(e)) => Err(e.public_message()),
            Err(_) => Err("the scan ended unexpectedly (internal error)".to_owned()),
        };
        entry.finish_followed(outcome);
        Ok(true)
    }
}

/// The scan's log as Redis has it, and the positions whose results it already streamed.
fn replay(
    scan_id: &str,
    published: &StreamRangeReply,
) -> Result<(Arc<EventLog>, HashSet<usize>), String> {
    let log = EventLog::encoded_on_append(scan_id);
    let mut streamed = HashSet::new();
    for entry in &published.ids {
        let json: String = entry.get("json").unwrap_or_default();
        let message = ScanMessage::from_json(&json)
            .map_err(|e| format!("scan {scan_id}: a message that does not decode: {e}"))?;
        if let Payload::Result(result) = &message.payload {
            streamed.insert(result.position.saturating_sub(1));
        }
        if !log.append_relayed(message) {
            return Err(format!("scan {scan_id}: its log in Redis has a gap"));
        }
    }
    Ok((log, streamed))
}

/// The planner's plan, if it had written one.
fn decode_plan(scan_id: &str, plan: Option<String>) -> Result<Option<Vec<Slot>>, String> {
    let plan = plan
        .map(|plan| serde_json::from_str::<Vec<PlannedSlot>>(&plan))
        .transpose()
        .map_err(|e| format!("scan {scan_id}: a plan that does not decode: {e}"))?;
    Ok(plan.map(|plan| {
        plan.into_iter()
            .map(|slot| Slot {
                info: slot.symbol.info(),
                tier: slot.tier,
            })
            .collect()
    }))
}

/// Drops a planners' entry whose scan has nothing left to finish.
fn forget(link: &mut Link<'_>, entry_id: &str) -> Result<(), String> {
    link.run("dropping a finished scan's planner entry", |c| {
        redis::pipe()
            .cmd("XACK")
            .arg(PLANS_STREAM)
            .arg(PLANNERS_GROUP)
            .arg(entry_id)
            .ignore()
            .cmd("XDEL")
            .arg(PLANS_STREAM)
            .arg(entry_id)
            .ignore()
            .query::<()>(c)
    })
}
