//! The result stream of one scan: an append-only log of messages numbered `seq` = 1, 2, 3, … with no
//! gaps, which any number of consumers read from any point.
//!
//! Why a log and not a broadcast channel: a consumer that connects late, or reconnects after the
//! last `seq` it saw, must get everything after it, and a slow consumer must never slow the scan.
//! A log gives both: appending never waits for readers, and each reader keeps its own position.
//! Readers take every message available at once (a batch), so the per-message cost stays low
//! without holding back the first result.
//!
//! The messages are `result`, `progress`, `complete` and `error`; a final message (`complete` or
//! `error`) closes the log, and nothing is appended after it. Any number of [`Subscription`]s read
//! it, blocking or async.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use technic_core::progress::ProgressSnapshot;

use crate::report::{ScanResult, ScanSummary};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Payload {
    Result(Box<ScanResult>),
    Progress(Box<ProgressSnapshot>),
    /// The final ranking, diagnostics, metrics and stage timings.
    Complete(Box<ScanSummary>),
    /// The scan itself failed (one symbol's failure is a diagnostic, never this).
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Metadata {
    pub timestamp: DateTime<Utc>,
    pub scan_id: String,
    pub seq: u64,
    /// True on the last message of the scan (`complete` or `error`).
    pub is_final: bool,
}

/// One message as DESIGN.md shapes it: `{"type", "data", "metadata"}`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanMessage {
    #[serde(flatten)]
    pub payload: Payload,
    pub metadata: Metadata,
    /// The JSON text, made once on first use and shared by every subscriber: with a thousand
    /// subscribers, encoding per subscriber cost more than the scan.
    #[serde(skip)]
    json: std::sync::OnceLock<Arc<str>>,
}

impl PartialEq for ScanMessage {
    fn eq(&self, other: &Self) -> bool {
        self.payload == other.payload && self.metadata == other.metadata
    }
}

impl ScanMessage {
    pub fn new(payload: Payload, metadata: Metadata) -> Self {
        Self {
            payload,
            metadata,
            json: std::sync::OnceLock::new(),
        }
    }

    /// A message from its JSON text, as another process encoded it (a scan followed from a server
    /// replica that did not start it): the text is kept and handed out as is.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        // Not through `serde_json::Value`: its objects sort their keys, and a result's indicator
        // columns keep their order.
        #[derive(Deserialize)]
        struct Wire {
            #[serde(flatten)]
            payload: Payload,
            metadata: Metadata,
        }
        let wire: Wire = serde_json::from_str(json)?;
        let message = Self::new(wire.payload, wire.metadata);
        let _kept = message.json.set(json.into());
        Ok(message)
    }

    /// The message as JSON text, encoded once.
    pub fn to_json(&self) -> Arc<str> {
        Arc::clone(self.json.get_or_init(|| {
            serde_json::to_string(self)
                .unwrap_or_else(|e| {
                    format!(r#"{{"type":"error","data":{{"message":"encoding failed: {e}"}}}}"#)
                })
                .into()
        }))
    }
}

#[derive(Debug, Default)]
struct LogState {
    /// `messages[i]` has `seq == i + 1`.
    messages: Vec<Arc<ScanMessage>>,
    closed: bool,
}

/// The log of one scan's messages.
#[derive(Debug)]
pub struct EventLog {
    scan_id: String,
    state: Mutex<LogState>,
    /// Wakes blocking readers.
    appended: Condvar,
    /// Wakes async readers; carries the newest `seq`.
    newest: tokio::sync::watch::Sender<u64>,
    /// Whether `append` encodes each message's JSON before readers are woken.
    encode_on_append: bool,
}

impl EventLog {
    pub fn new(scan_id: impl Into<String>) -> Arc<Self> {
        Self::build(scan_id.into(), false)
    }

    /// A log whose messages are encoded as JSON when appended, on the scan's thread, before any
    /// reader is woken. For a server: its subscribers then only copy bytes, and the encoding
    /// (about 7 % of a loaded server's runtime, done by whichever reader came first) runs on the
    /// scan's threads, which after their first symbol run at the lowest priority instead of
    /// competing with the threads that answer requests.
    pub fn encoded_on_append(scan_id: impl Into<String>) -> Arc<Self> {
        Self::build(scan_id.into(), true)
    }

    fn build(scan_id: String, encode_on_append: bool) -> Arc<Self> {
        Arc::new(Self {
            scan_id,
            state: Mutex::default(),
            appended: Condvar::new(),
            newest: tokio::sync::watch::Sender::new(0),
            encode_on_append,
        })
    }

    pub fn scan_id(&self) -> &str {
        &self.scan_id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a message, numbering it; a final message closes the log. Returns its `seq`, or
    /// `None` if the log was already closed (nothing is appended after the final message).
    pub fn append(&self, payload: Payload, timestamp: DateTime<Utc>) -> Option<u64> {
        let is_final = matches!(payload, Payload::Complete(_) | Payload::Error { .. });
        let (seq, message) = {
            let mut state = self.lock();
            if state.closed {
                return None;
            }
            let seq = state.messages.len() as u64 + 1;
            let metadata = Metadata {
                timestamp,
                scan_id: self.scan_id.clone(),
                seq,
                is_final,
            };
            let message = Arc::new(ScanMessage::new(payload, metadata));
            state.messages.push(Arc::clone(&message));
            state.closed = is_final;
            (seq, message)
        };
        // Outside the lock, so readers of earlier messages are not held up.
        if self.encode_on_append {
            message.to_json();
        }
        self.appended.notify_all();
        self.newest.send_replace(seq);
        Some(seq)
    }

    /// Appends a message another process numbered (a followed scan), if it is the next one:
    /// returns whether it was appended. A repeat or a gap is refused, so the copy stays the log.
    pub fn append_relayed(&self, message: ScanMessage) -> bool {
        let seq = message.metadata.seq;
        {
            let mut state = self.lock();
            if state.closed || seq != state.messages.len() as u64 + 1 {
                return false;
            }
            state.closed = message.metadata.is_final;
            state.messages.push(Arc::new(message));
        }
        self.appended.notify_all();
        self.newest.send_replace(seq);
        true
    }

    /// Every message with `seq > after`, in order.
    pub fn after(&self, after: u64) -> Vec<Arc<ScanMessage>> {
        let state = self.lock();
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(state.messages.len());
        state.messages[start..].to_vec()
    }

    pub fn len(&self) -> u64 {
        self.lock().messages.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// A reader that starts after `after` (0 = from the beginning).
    pub fn subscribe(self: &Arc<Self>, after: u64) -> Subscription {
        Subscription {
            log: Arc::clone(self),
            next_after: after,
            newest: self.newest.subscribe(),
        }
    }
}

/// One consumer's position in a log. Dropping it costs the scan nothing.
#[derive(Debug)]
pub struct Subscription {
    log: Arc<EventLog>,
    next_after: u64,
    newest: tokio::sync::watch::Receiver<u64>,
}

impl Subscription {
    /// The `seq` of the last message handed out.
    pub fn position(&self) -> u64 {
        self.next_after
    }

    fn take(&mut self) -> Vec<Arc<ScanMessage>> {
        let batch = self.log.after(self.next_after);
        if let Some(last) = batch.last() {
            self.next_after = last.metadata.seq;
        }
        batch
    }

    /// Waits up to `timeout` for messages; returns them all (empty on time-out or at the end).
    pub fn next_batch_blocking(&mut self, timeout: Duration) -> Vec<Arc<ScanMessage>> {
        {
            let state = self.log.lock();
            let wanted = self.next_after;
            let _unused = self
                .log
                .appended
                .wait_timeout_while(state, timeout, |s| {
                    s.messages.len() as u64 <= wanted && !s.closed
                })
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.take()
    }

    /// Waits for messages without blocking a thread; empty only once the log is closed and read.
    pub async fn next_batch(&mut self) -> Vec<Arc<ScanMessage>> {
        loop {
            let batch = self.take();
            if !batch.is_empty() || (self.log.is_closed() && self.log.len() <= self.next_after) {
                return batch;
            }
            if self.newest.changed().await.is_err() {
                return self.take();
            }
        }
    }

    /// True once the final message has been handed out.
    pub fn is_done(&self) -> bool {
        self.log.is_closed() && self.log.len() <= self.next_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> Payload {
        Payload::Error {
            message: text.into(),
        }
    }

    fn progress() -> Payload {
        Payload::Progress(Box::new(
            technic_core::progress::ProgressTracker::new("s").snapshot(0.0),
        ))
    }

    #[test]
    fn a_log_for_subscribers_has_each_message_encoded_before_it_is_read() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let encoded = EventLog::encoded_on_append("s");
        let plain = EventLog::new("s");
        for log in [&encoded, &plain] {
            log.append(progress(), now);
        }
        let message = &encoded.after(0)[0];
        let json = message.json.get().expect("encoded when appended");
        assert_eq!(json, &message.to_json(), "the same text a reader gets");
        assert!(
            plain.after(0)[0].json.get().is_none(),
            "a plain log encodes only when asked"
        );
    }

    #[test]
    fn seq_counts_from_one_and_readers_resume_anywhere() {
        let log = EventLog::new("s");
        let now = DateTime::<Utc>::UNIX_EPOCH;
        for _ in 0..5 {
            log.append(progress(), now);
        }
        assert_eq!(
            log.after(0)
                .iter()
                .map(|m| m.metadata.seq)
                .collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(log.after(3).len(), 2);
        assert!(log.after(99).is_empty());
        assert_eq!(log.append(error("boom"), now), Some(6));
        assert!(log.is_closed());
        assert_eq!(
            log.append(error("late"), now),
            None,
            "nothing after the final message"
        );
        let mut sub = log.subscribe(4);
        let batch = sub.next_batch_blocking(Duration::from_millis(1));
        assert_eq!(
            batch.iter().map(|m| m.metadata.seq).collect::<Vec<_>>(),
            [5, 6]
        );
        assert!(batch[1].metadata.is_final && sub.is_done());
    }

    #[tokio::test]
    async fn async_readers_wake_on_append() {
        let log = EventLog::new("s");
        let mut sub = log.subscribe(0);
        let writer = Arc::clone(&log);
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.append(error("done"), DateTime::<Utc>::UNIX_EPOCH);
        });
        let batch = sub.next_batch().await;
        assert_eq!(batch.len(), 1);
        assert!(sub.next_batch().await.is_empty());
        handle.join().expect("writer");
    }
}
