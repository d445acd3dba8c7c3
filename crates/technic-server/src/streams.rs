//! Live delivery of a scan's log: Server-Sent Events and WebSocket.
//!
//! Every stream is a reader of the scan's `EventLog` from its own start point (`Last-Event-ID`,
//! `?from_seq=N`, `?since_seq=N`), so all subscribers get every message in `seq` order and none can
//! slow the scan or each other. A stream holds one `MAX_CONCURRENT_STREAMS` permit while open.
//!
//! Delivery, and why it is shaped so:
//! - A start point past the scan's newest message is refused (422); an SSE client that already has
//!   a finished scan's final message gets 204, which is what stops an `EventSource` reconnecting.
//! - What is already in the log goes out in one write: on a WebSocket one flush of up to 64
//!   messages or 64 KiB; on SSE one body frame (64 KiB and the message that crosses it). The SSE
//!   events are formatted by hand because axum's `Sse` makes a frame per event and hyper writes at
//!   most 16 frames per system call.
//! - A WebSocket subscriber that stops reading is closed once a write to it (a batch or a ping) has
//!   waited the send timeout: code 4000, with the `from_seq` to resume from. No per-subscriber
//!   buffer exists, so a slow client costs nothing but its socket.
//! - An idle stream sends a keep-alive (an SSE comment, a WebSocket ping) every
//!   `STREAM_KEEPALIVE_SECONDS`. The stream timeout ends abandoned streams: a WebSocket whose
//!   client has sent nothing for that long (every client answers pings, which go at least twice
//!   within the timeout) is closed with 4001 and the `from_seq` to resume from, however quiet the
//!   scan; an SSE client cannot answer, so an SSE stream ends when nothing new has come from the
//!   log for that long (a deadline from the last batch read, which keep-alives do not move), with a
//!   `timeout` event naming the `Last-Event-ID` to resume with.
//! - The messages' JSON is encoded once, on the scan's thread as it is appended, so a delivery only
//!   copies bytes.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use technic_engine::{Payload, ScanEntry, ScanMessage, Subscription};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::AppState;
use crate::bodies::ErrorBody;
use crate::error::{ApiError, ApiPath, ApiQuery};

/// Which messages a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carry {
    /// Everything: results, progress, completion, errors.
    All,
    /// Progress and the final message only.
    Progress,
}

impl Carry {
    fn wants(self, message: &ScanMessage) -> bool {
        self == Carry::All || !matches!(message.payload, Payload::Result(_))
    }
}

/// An open stream's hold on a slot, counted in `technic_active_streams` while it lives.
struct StreamSlot {
    _permit: OwnedSemaphorePermit,
    state: AppState,
}

impl StreamSlot {
    fn take(state: &AppState) -> Result<Self, ApiError> {
        if !state.config().enable_streaming {
            return Err(ApiError::Unavailable(
                "streaming is turned off on this server (ENABLE_STREAMING=false)".into(),
            ));
        }
        let permit = Arc::clone(&state.inner.streams)
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyStreams(state.config().max_concurrent_streams))?;
        state.metrics().active_streams.inc();
        Ok(Self {
            _permit: permit,
            state: state.clone(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.state.metrics().active_streams.dec();
    }
}

/// How a reader's messages end.
enum Next {
    Message(Arc<ScanMessage>),
    /// The final message was delivered.
    Done,
    /// Nothing new for `STREAM_TIMEOUT_SECONDS`: the stream is ended; the client may resume.
    Stalled,
}

struct Reader {
    subscription: Subscription,
    pending: VecDeque<Arc<ScanMessage>>,
    carry: Carry,
    /// For SSE, whose client cannot show it is still there: how long the stream may have nothing
    /// new, and when that runs out. A deadline, not a timeout restarted by each `next`: the
    /// delivery loops drop a waiting `next` to send a keep-alive, and a timeout restarted then
    /// would never expire while keep-alives come more often. `None` for a WebSocket, whose client
    /// answers pings instead.
    idle: Option<(Duration, Instant)>,
}

impl Reader {
    fn new(entry: &ScanEntry, from: u64, carry: Carry, idle_timeout: Option<Duration>) -> Self {
        Self {
            subscription: entry.log.subscribe(from),
            pending: VecDeque::new(),
            carry,
            idle: idle_timeout.map(|timeout| (timeout, Instant::now() + timeout)),
        }
    }

    /// The next message already fetched, without waiting.
    fn ready(&mut self) -> Option<Arc<ScanMessage>> {
        while let Some(message) = self.pending.pop_front() {
            if self.carry.wants(&message) {
                return Some(message);
            }
        }
        None
    }

    async fn next(&mut self) -> Next {
        loop {
            if let Some(message) = self.pending.pop_front() {
                if self.carry.wants(&message) {
                    return Next::Message(message);
                }
                continue;
            }
            if self.subscription.is_done() {
                return Next::Done;
            }
            // Cancel-safe: `next_batch` takes messages only when it returns.
            let batch = match self.idle {
                Some((timeout, deadline)) => {
                    let Ok(batch) =
                        tokio::time::timeout_at(deadline, self.subscription.next_batch()).await
                    else {
                        return Next::Stalled;
                    };
                    self.idle = Some((timeout, Instant::now() + timeout));
                    batch
                }
                None => self.subscription.next_batch().await,
            };
            self.pending.extend(batch);
        }
    }
}

fn kind(message: &ScanMessage) -> &'static str {
    match message.payload {
        Payload::Result(_) => "result",
        Payload::Progress(_) => "progress",
        Payload::Complete(_) => "complete",
        Payload::Error { .. } => "error",
    }
}

/// Where a stream or a results page starts, and which parameter said so (for the error message).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResumePoint {
    seq: u64,
    given_by: &'static str,
}

impl ResumePoint {
    /// From a query parameter; absent, from the beginning.
    pub(crate) fn query(seq: Option<u64>, name: &'static str) -> Self {
        Self {
            seq: seq.unwrap_or(0),
            given_by: name,
        }
    }

    /// The seq, if the scan has got that far. Every seq a client holds came from this scan's log,
    /// so one past its newest message is a wrong cursor (another scan's, or made up): said at once
    /// rather than a stream that waits for messages that may never come, or that ends with no
    /// final message when the scan ends short of it.
    pub(crate) fn check(self, entry: &ScanEntry) -> Result<u64, ApiError> {
        let newest = entry.log.len();
        if self.seq > newest {
            return Err(ApiError::Invalid(format!(
                "{}: {} is past the newest message of scan {} (seq {newest}); resume from a seq this scan sent",
                self.given_by, self.seq, entry.scan_id
            )));
        }
        Ok(self.seq)
    }
}

/// The start point: `Last-Event-ID` (what an SSE client sends when it reconnects) wins over the query.
fn start_seq(headers: &HeaderMap, query: ResumePoint) -> Result<ResumePoint, ApiError> {
    match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|seq| ResumePoint {
                seq,
                given_by: "Last-Event-ID",
            })
            .ok_or_else(|| {
                ApiError::Invalid(format!(
                    "Last-Event-ID: expected a seq number, got {value:?}"
                ))
            }),
        None => Ok(query),
    }
}

/// How a stream writes its messages (`?events=`).
///
/// `named`, what the page uses: each SSE event is named by its message's `type` (`result`,
/// `progress`, …), for `addEventListener`. `plain`, what the seeds' clients expect: SSE events are
/// unnamed, so `EventSource.onmessage` receives them (the type is in the data, as always), and a
/// progress message also carries its snapshot's fields at the top level (`overall_progress`,
/// `current_stage`, `stages`, …) beside `type`, `data` and `metadata`, so code written for the
/// seeds' bare progress objects reads it unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Events {
    Named,
    Plain,
}

impl Events {
    /// The message as this style writes it. The plain progress form is encoded per stream: only
    /// progress messages (at most about a hundred per stage) pay for it, and only for the clients
    /// that ask for it.
    fn wire(self, message: &ScanMessage) -> Arc<str> {
        match (&message.payload, self) {
            (Payload::Progress(snapshot), Events::Plain) => flat_progress(message, snapshot),
            _ => message.to_json(),
        }
    }
}

/// A progress message with its snapshot's fields also at the top level; the envelope's own keys
/// (`type`, `data`, `metadata`) win over a snapshot field of the same name.
fn flat_progress(
    message: &ScanMessage,
    snapshot: &technic_core::progress::ProgressSnapshot,
) -> Arc<str> {
    let envelope = message.to_json();
    let (Ok(serde_json::Value::Object(mut fields)), Ok(serde_json::Value::Object(outer))) = (
        serde_json::to_value(snapshot),
        serde_json::from_str::<serde_json::Value>(&envelope),
    ) else {
        return envelope;
    };
    fields.extend(outer);
    serde_json::to_string(&fields).map_or(envelope, Arc::from)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FromQuery {
    /// Resume after this `seq` (the last one the client has).
    from_seq: Option<u64>,
    /// The same as `from_seq`.
    since_seq: Option<u64>,
    /// `named` or `plain` (see the endpoint for its default): `plain` sends unnamed SSE events and
    /// progress messages with the snapshot's fields also at the top level.
    #[param(inline)]
    events: Option<Events>,
    /// WebSocket only: `true` adds a text frame `{"type":"keep_alive"}` to every ping (at least
    /// every `STREAM_KEEPALIVE_SECONDS`), for a client that cannot see pings (a browser's script)
    /// yet wants to tell a stalled stream from a quiet one. It has no `metadata.seq`: it is not
    /// part of the scan's log. Off by default, so existing clients see only ScanMessages.
    keep_alive: Option<bool>,
}

impl FromQuery {
    fn resume_point(&self) -> ResumePoint {
        match (self.from_seq, self.since_seq) {
            (None, Some(since)) => ResumePoint::query(Some(since), "since_seq"),
            (from, _) => ResumePoint::query(from, "from_seq"),
        }
    }
}

/// Appends one event in the SSE wire format; a line break in `data` starts another `data:` line,
/// as the format requires (serde_json never writes one, so a message is one line).
fn push_event(out: &mut String, id: Option<u64>, event: Option<&str>, data: &str) {
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    if let Some(event) = event {
        let _ = writeln!(out, "event: {event}");
    }
    for line in data.split('\n') {
        let _ = writeln!(out, "data: {line}");
    }
    out.push('\n');
}

/// What one step of an SSE stream writes.
enum SseStep {
    Next(Next),
    KeepAlive,
}

/// Builds an SSE response of the scan's messages after the client's start point.
///
/// The events are written by hand rather than with axum's `Sse`: it makes one body frame per
/// event, and hyper writes at most 16 frames per system call, so a subscriber that is behind got
/// its backlog a few hundred bytes at a time. Here everything already in the log (until a frame
/// passes `BATCH_BYTES`) goes out as one frame, as on the WebSocket.
pub(crate) async fn sse(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    query: ResumePoint,
    events: Events,
) -> Result<Response, ApiError> {
    let entry = state.scan(id).await?;
    let from = start_seq(headers, query)?.check(&entry)?;
    if entry.log.is_closed() && from >= entry.log.len() {
        // The client has every message of a scan that has ended. 204 is what tells an
        // `EventSource` to stop reconnecting; an empty 200 had it back every few seconds, taking a
        // stream slot each time, until the scan was dropped.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let slot = StreamSlot::take(state)?;
    state.metrics().stream_opened("sse", from);
    let reader = Reader::new(
        &entry,
        from,
        Carry::All,
        Some(state.config().stream_timeout),
    );
    let latency = state.metrics().delivery_latency.clone();
    let keep_alive = state.config().keep_alive;
    let events = stream::unfold((reader, slot, false), move |(mut reader, slot, ended)| {
        let latency = latency.clone();
        async move {
            if ended {
                return None;
            }
            let step = tokio::select! {
                // What is already in the log first, without arming the keep-alive's timer.
                biased;
                next = reader.next() => SseStep::Next(next),
                () = tokio::time::sleep(keep_alive) => SseStep::KeepAlive,
            };
            let mut out = String::new();
            let mut ended = false;
            match step {
                SseStep::KeepAlive => out.push_str(":\n\n"),
                SseStep::Next(Next::Message(mut message)) => loop {
                    latency.observe(elapsed_since(&message));
                    let seq = message.metadata.seq;
                    let name = (events == Events::Named).then(|| kind(&message));
                    push_event(&mut out, Some(seq), name, &events.wire(&message));
                    match reader.ready() {
                        Some(more) if out.len() < BATCH_BYTES => message = more,
                        Some(more) => {
                            reader.pending.push_front(more);
                            break;
                        }
                        None => break,
                    }
                },
                SseStep::Next(Next::Done) => return None,
                SseStep::Next(Next::Stalled) => {
                    let seq = reader.subscription.position();
                    push_event(
                        &mut out,
                        None,
                        Some("timeout"),
                        &format!(
                            "nothing new for the stream timeout; reconnect with Last-Event-ID: {seq} to resume"
                        ),
                    );
                    ended = true;
                }
            }
            Some((Ok::<_, Infallible>(Bytes::from(out)), (reader, slot, ended)))
        }
    });
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Server-Sent Events of the scan's messages; each event's id is its `seq`, so `Last-Event-ID` resumes.
#[utoipa::path(get, path = "/events/results/{id}", params(("id" = String, Path, description = "Scan id"), FromQuery), responses(
    (status = 200, description = "Events `result`, `progress`, `complete`, `error`; data is a ScanMessage. With `?events=plain` the events are unnamed (`EventSource.onmessage`) and progress messages also carry the snapshot's fields at the top level", body = ScanMessage, content_type = "text/event-stream"),
    (status = 204, description = "The scan has ended and the start point is its final message: nothing to send (an EventSource stops reconnecting)"),
    (status = 404, description = "No such scan", body = ErrorBody),
    (status = 422, description = "`from_seq`, `since_seq` or `Last-Event-ID` is not a seq or is past the scan's newest message", body = ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_STREAMS streams are open", body = ErrorBody),
))]
pub async fn sse_results(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<FromQuery>,
) -> Result<Response, ApiError> {
    sse(
        &state,
        &id,
        &headers,
        query.resume_point(),
        query.events.unwrap_or(Events::Named),
    )
    .await
}

/// WebSocket of results, progress and completion, one ScanMessage per text frame.
#[utoipa::path(get, path = "/ws/results/{id}", params(("id" = String, Path, description = "Scan id"), FromQuery), responses(
    (status = 101, description = "Upgraded; text frames carry ScanMessages in `seq` order", body = ScanMessage),
    (status = 404, description = "No such scan", body = ErrorBody),
    (status = 422, description = "`from_seq`, `since_seq` or `Last-Event-ID` is not a seq or is past the scan's newest message", body = ErrorBody),
    (status = 426, description = "Not a WebSocket handshake", body = ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_STREAMS streams are open", body = ErrorBody),
))]
pub async fn ws_results(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<FromQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let events = query.events.unwrap_or(Events::Named);
    websocket(
        state,
        id,
        query.resume_point(),
        (Carry::All, events, query.keep_alive.unwrap_or(false)),
        upgrade,
    )
    .await
}

/// WebSocket of progress and the final message. The final message ranks results this stream does
/// not carry; the results themselves are at the scan's `results_url`.
#[utoipa::path(get, path = "/scan/ws/{id}", params(("id" = String, Path, description = "Scan id"), FromQuery), responses(
    (status = 101, description = "Upgraded; text frames carry progress ScanMessages and the final one (its ranking names results this stream does not carry: read them at the scan's results_url). By default (`?events=plain`) a progress message also carries its snapshot's fields at the top level (`overall_progress`, `current_stage`, ...), as the seeds' clients read them; `?events=named` sends the envelope only", body = ScanMessage),
    (status = 404, description = "No such scan", body = ErrorBody),
    (status = 422, description = "`from_seq`, `since_seq` or `Last-Event-ID` is not a seq or is past the scan's newest message", body = ErrorBody),
    (status = 426, description = "Not a WebSocket handshake", body = ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_STREAMS streams are open", body = ErrorBody),
))]
pub async fn ws_progress(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<FromQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // The seeds' progress socket: their clients read `progress.overall_progress` unchanged.
    let events = query.events.unwrap_or(Events::Plain);
    websocket(
        state,
        id,
        query.resume_point(),
        (Carry::Progress, events, query.keep_alive.unwrap_or(false)),
        upgrade,
    )
    .await
}

async fn websocket(
    state: AppState,
    id: String,
    from: ResumePoint,
    (carry, events, keep_alive): (Carry, Events, bool),
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Checked before the upgrade, so an unknown scan, a wrong cursor or a full server is a plain
    // HTTP error.
    let entry = state.scan(&id).await?;
    let from = from.check(&entry)?;
    let upgrade = upgrade.map_err(|e| ApiError::NotWebSocket(e.body_text()))?;
    let slot = StreamSlot::take(&state)?;
    state.metrics().stream_opened("websocket", from);
    Ok(upgrade
        .read_buffer_size(WS_READ_BUFFER)
        .max_message_size(WS_MAX_INCOMING)
        .max_frame_size(WS_MAX_INCOMING)
        .on_upgrade(move |socket| {
            deliver(
                socket,
                entry,
                from,
                (carry, events, keep_alive),
                state,
                slot,
            )
        }))
}

/// A subscriber sends only pings, pongs and a close (a close reason is at most 123 bytes): with
/// tungstenite's defaults (64 MiB messages) each open stream could make the server buffer that much.
const WS_MAX_INCOMING: usize = 4096;

/// A subscriber only sends pings, pongs and a close, and tungstenite zeroes the whole read buffer
/// before every read attempt: at its 128 KiB default that memset (once per message sent, as the
/// delivery loop polls for incoming frames) was the server's largest cost under load.
const WS_READ_BUFFER: usize = 4096;

/// Most messages written to one WebSocket before it is flushed, and bytes to one WebSocket or SSE
/// stream: what is already in the log goes out in one write instead of one per message (for a
/// subscriber that is behind), while one write stays small enough for the send timeout to mean
/// what it says for a single message.
const WS_BATCH: usize = 64;
const BATCH_BYTES: usize = 64 * 1024;

/// Close codes in the private range: 4000 = too slow, 4001 = no answer to pings (abandoned); the
/// reason carries the seq to resume from.
const CLOSE_TOO_SLOW: u16 = 4000;
/// Sent with each ping to a subscriber that asked (`?keep_alive=true`).
const KEEP_ALIVE_FRAME: &str = r#"{"type":"keep_alive"}"#;
const CLOSE_STALLED: u16 = 4001;

// Long on purpose: one `select!` over the log, the pings, the client and the abandonment timer,
// whose arms share the sink and the resume point; split up, each piece would take all of them.
async fn deliver(
    socket: WebSocket,
    entry: Arc<ScanEntry>,
    from: u64,
    (carry, events, keep_alive): (Carry, Events, bool),
    state: AppState,
    _slot: StreamSlot,
) {
    let (mut sink, mut incoming) = socket.split();
    // A WebSocket is abandoned when its client stops answering, not when the scan is quiet: every
    // client answers pings, so a healthy one on a scan with nothing new stays open.
    let abandoned_after = state.config().stream_timeout;
    // One timer for the stream's life, moved on when the client is heard from: the delivery loop
    // below goes round once per batch, and a timer made each time would cost as much again.
    let abandoned = tokio::time::sleep(abandoned_after);
    tokio::pin!(abandoned);
    let mut reader = Reader::new(&entry, from, carry, None);
    // At least two pings within the timeout, so one late answer does not end a healthy stream.
    let ping_every = state
        .config()
        .keep_alive
        .min(abandoned_after / 2)
        .max(Duration::from_millis(1));
    let mut ping = tokio::time::interval(ping_every);
    // After a long send, one ping, not one for every period missed.
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let send_timeout = state.config().send_timeout;
    let metrics = state.metrics().clone();
    let close = |code: u16, reason: String| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    // The last seq the client surely has: everything up to it was flushed.
    let mut delivered = from;
    loop {
        tokio::select! {
            next = reader.next() => {
                let mut batch = Vec::new();
                let frame = match next {
                    Next::Message(message) => {
                        let mut bytes = message.to_json().len();
                        batch.push(message);
                        while batch.len() < WS_BATCH && bytes < BATCH_BYTES && let Some(more) = reader.ready() {
                            bytes += more.to_json().len();
                            batch.push(more);
                        }
                        None
                    }
                    Next::Done => Some(close(1000, "scan finished".into())),
                    // Not given without an idle timeout; closed as abandoned below.
                    Next::Stalled => Some(close(CLOSE_STALLED, format!("nothing new for the stream timeout; resume with ?from_seq={delivered}"))),
                };
                let closing = frame.is_some();
                let last_in_batch = batch.last().map(|m| m.metadata.seq);
                let frames = batch
                    .into_iter()
                    .map(|message| {
                        metrics.delivery_latency.observe(elapsed_since(&message));
                        Message::Text((&*events.wire(&message)).into())
                    })
                    .chain(frame);
                let send = async {
                    for frame in frames {
                        sink.feed(frame).await?;
                    }
                    sink.flush().await
                };
                match tokio::time::timeout(send_timeout, send).await {
                    Ok(Ok(())) if !closing => delivered = last_in_batch.unwrap_or(delivered),
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => {
                        metrics.websocket_errors.inc();
                        break;
                    }
                    Err(_) => {
                        // The client is not reading: close it with the point to resume from.
                        metrics.websocket_errors.inc();
                        let reason = format!("client too slow; resume with ?from_seq={delivered}");
                        let _closing = tokio::time::timeout(Duration::from_secs(1), sink.send(close(CLOSE_TOO_SLOW, reason))).await;
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                // A client that stopped reading can leave even a ping unsendable: the same timeout.
                let ping_frames = async {
                    sink.feed(Message::Ping(Vec::new().into())).await?;
                    if keep_alive {
                        sink.feed(Message::Text(KEEP_ALIVE_FRAME.into())).await?;
                    }
                    sink.flush().await
                };
                match tokio::time::timeout(send_timeout, ping_frames).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) | Err(_) => {
                        metrics.websocket_errors.inc();
                        break;
                    }
                }
            }
            received = incoming.next() => match received {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => abandoned.as_mut().reset(Instant::now() + abandoned_after),
            },
            () = &mut abandoned => {
                // A frame that came while this loop was busy elsewhere (a long send, a stalled
                // runtime) is the client still there: `select!` may have picked the timer first.
                match futures_util::FutureExt::now_or_never(incoming.next()) {
                    Some(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => break,
                    Some(Some(Ok(_))) => {
                        abandoned.as_mut().reset(Instant::now() + abandoned_after);
                        continue;
                    }
                    None => {}
                }
                metrics.websocket_errors.inc();
                let reason = format!("no answer to pings for the stream timeout; resume with ?from_seq={delivered}");
                let _closing = tokio::time::timeout(Duration::from_secs(1), sink.send(close(CLOSE_STALLED, reason))).await;
                break;
            }
        }
    }
}

/// Delivery latency: from the message's timestamp (when the scan emitted it) to now.
fn elapsed_since(message: &ScanMessage) -> f64 {
    let emitted = std::time::SystemTime::from(message.metadata.timestamp);
    std::time::SystemTime::now()
        .duration_since(emitted)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_in_the_wire_format_and_a_line_break_starts_another_data_line() {
        let mut out = String::new();
        push_event(&mut out, Some(7), Some("result"), r#"{"a":1}"#);
        push_event(&mut out, None, Some("timeout"), "first\nsecond");
        push_event(&mut out, Some(8), None, "{}");
        assert_eq!(
            out,
            "id: 7\nevent: result\ndata: {\"a\":1}\n\nevent: timeout\ndata: first\ndata: second\n\nid: 8\ndata: {}\n\n"
        );
    }
}
