//! Any replica's side: a scan another replica planned, followed from its log stream into a local
//! `EventLog` with the planner's own `seq` and JSON, so every stream and resume of the server
//! works on it as on a scan of its own.

use std::sync::Arc;

use redis::streams::StreamReadReply;

use super::{Cluster, ScanKeys};
use crate::registry::ScanEntry;
use crate::request::ValidScan;
use crate::stream::{Payload, ScanMessage};

/// How long one read of a followed log waits before it looks again.
const FOLLOW_WAIT_MS: u64 = 1000;

impl Cluster {
    /// The request of a scan some replica published, or `None` if Redis knows no such scan.
    pub(crate) fn published_request(&self, scan_id: &str) -> Result<Option<ValidScan>, String> {
        let keys = ScanKeys::of(scan_id);
        let request: Option<String> = self.link().run("looking a scan up", |c| {
            redis::cmd("HGET").arg(&keys.meta).arg("request").query(c)
        })?;
        request
            .map(|json| serde_json::from_str(&json).map_err(|e| format!("scan {scan_id}: {e}")))
            .transpose()
    }

    /// Copies the scan's log into `entry`: what is there now before returning (so a client
    /// resuming here from a `seq` another replica gave it finds it), the rest on a thread of its
    /// own until the final message.
    pub(crate) fn follow(self: &Arc<Self>, entry: Arc<ScanEntry>) {
        let keys = ScanKeys::of(&entry.scan_id);
        let mut link = self.link();
        match self.copy_available(&entry, &keys, &mut link, None) {
            Ok(true) => return,
            Ok(false) => {}
            Err(message) => return lost(&entry, &message),
        }
        let cluster = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("scan follower".into())
            .spawn(move || {
                let mut link = cluster.link();
                loop {
                    match cluster.copy_available(&entry, &keys, &mut link, Some(FOLLOW_WAIT_MS)) {
                        Ok(true) => return,
                        Ok(false) => {}
                        Err(message) => return lost(&entry, &message),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "no thread to follow a scan");
        }
    }

    /// Appends the messages after the copy's newest, waiting up to `wait_ms` for one; returns
    /// whether the final message has come.
    fn copy_available(
        &self,
        entry: &ScanEntry,
        keys: &ScanKeys,
        link: &mut super::Link<'_>,
        wait_ms: Option<u64>,
    ) -> Result<bool, String> {
        let after = entry.log.len();
        let reply: Option<StreamReadReply> = link.run("following a scan", |c| {
            let mut read = redis::cmd("XREAD");
            read.arg("COUNT").arg(10_000);
            if let Some(wait_ms) = wait_ms {
                read.arg("BLOCK").arg(wait_ms);
            }
            read.arg("STREAMS")
                .arg(&keys.log)
                .arg(format!("{after}-0"))
                .query(c)
        })?;
        if reply.is_none() && wait_ms.is_some() {
            let exists: bool = link.run("following a scan", |c| {
                redis::cmd("EXISTS").arg(&keys.meta).query(c)
            })?;
            if !exists {
                return Err(
                    "the scan is gone from Redis: the server that ran it stopped publishing it"
                        .to_owned(),
                );
            }
        }
        for stream_entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            let Some(json) = stream_entry.get::<String>("json") else {
                continue;
            };
            let message = ScanMessage::from_json(&json)
                .map_err(|e| format!("a message that does not decode: {e}"))?;
            if let Payload::Progress(snapshot) = &message.payload {
                entry.set_progress((**snapshot).clone());
            }
            let is_final = message.metadata.is_final;
            // The outcome is read before the final message is appended, so it is recorded the
            // moment the copy's readers see the end.
            let outcome = match (&message.payload, is_final) {
                (Payload::Error { message }, true) => Some(Err(message.clone())),
                (_, true) => Some(self.published_outcome(keys, link)?),
                _ => None,
            };
            let seq = message.metadata.seq;
            if !entry.log.append_relayed(message) {
                if seq > entry.log.len() + 1 && !entry.log.is_closed() {
                    return Err(format!(
                        "message {seq} came after {} (Redis lost part of the log)",
                        entry.log.len()
                    ));
                }
                continue;
            }
            if let Some(outcome) = outcome {
                entry.finish_followed(outcome);
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn published_outcome(
        &self,
        keys: &ScanKeys,
        link: &mut super::Link<'_>,
    ) -> Result<Result<Arc<crate::ScanOutcome>, String>, String> {
        let (report, error): (Option<String>, Option<String>) =
            link.run("reading a scan's report", |c| {
                redis::cmd("HMGET")
                    .arg(&keys.meta)
                    .arg("report")
                    .arg("error")
                    .query(c)
            })?;
        Ok(match (report, error) {
            (Some(report), _) => {
                let report = serde_json::from_str(&report)
                    .map_err(|e| format!("a report that does not decode: {e}"))?;
                Ok(Arc::new(crate::ScanOutcome {
                    report,
                    learning: crate::LearningUpdate::default(),
                }))
            }
            (None, Some(error)) => Err(error),
            (None, None) => Err("the scan's report is gone (expired)".to_owned()),
        })
    }
}

/// Ends a followed scan whose log this server can no longer read: its clients are told, never
/// left waiting.
fn lost(entry: &ScanEntry, message: &str) {
    tracing::error!(scan_id = %entry.scan_id, error = %message, "lost a followed scan");
    let message = format!("this server lost the scan's log: {message}");
    entry.log.append(
        Payload::Error {
            message: message.clone(),
        },
        entry.clock.utc(),
    );
    entry.finish_followed(Err(message));
}
