//! technic's HTTP server: the axum app of DESIGN.md's "Server API" — REST, WebSocket and SSE
//! delivery of scans, and metrics.
//!
//! `app(state)` builds the router (tests drive it with `oneshot` or a real listener on port 0);
//! `serve(listener, state, shutdown)` runs it until `shutdown` resolves, then stops the running
//! scans so every stream ends with its final message, and drains.
//!
//! Architecture invariant: the server computes no indicators and holds no scan logic; it starts
//! scans in the engine's registry and delivers each scan's event log. A slow client never slows a
//! scan: every stream reads the log at its own pace.
//!
//! How connections are served, and why:
//! - `serve` runs hyper's HTTP/1 connections itself, not `axum::serve`: that has no header-read
//!   timeout, and its HTTP version sniffing waits with no deadline for a client's first bytes. A
//!   connection that has not sent a whole request head `HEADER_READ_TIMEOUT_SECONDS` after it
//!   opened, or after its last response, is closed.
//! - Every accepted connection has Nagle's algorithm off (`TCP_NODELAY`): a message is a few
//!   hundred bytes, and with it on each small write waited for the client's acknowledgement of the
//!   one before, which a client busy elsewhere delays by its delayed-ACK timer (40 ms).
//!   `STREAM_SEND_BUFFER_BYTES` bounds the kernel's send buffer per connection (unset, the OS sizes
//!   it).
//! - `bind` listens with a backlog of [`LISTEN_BACKLOG`] (4096), not tokio's 128: a connection the
//!   kernel has no room for waits a second for its handshake to be retried, and fifty users opening
//!   a scan and its streams at once overflowed 128.
//! - Every connection's writes fail once one has made no progress for twice the send timeout
//!   (`tokio-io-timeout` under the listener). That is what ends an SSE stream whose client stopped
//!   reading (hyper no longer polls its body, so the stream itself cannot notice); the client
//!   resumes with `Last-Event-ID`.
//! - On shutdown running scans are stopped, the registry refuses new ones (503: a request still on
//!   its way would otherwise start a scan nothing stops), and `serve` waits up to 10 s for every
//!   open stream to deliver its final message and for the learning writer's queue to empty; records
//!   left then are logged as not saved.

mod backtests;
mod bodies;
mod config;
mod error;
mod learning;
mod metrics;
mod openapi;
mod page;
mod routes;
mod screens;
mod streams;
mod symbols;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use learning::Learning;
use technic_data::clock::Clock;
use technic_engine::{OnFinish, RegistryError, ScanEntry, ScanRegistry, Scanner};
use technic_learning::{Completion, LearningStore};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use config::{Config, ConfigError, EARLY_TERMINATION_ON};
pub use error::ApiError;
pub use metrics::{Metrics, process_metrics};
pub use openapi::openapi;

/// Shared by every request.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    registry: ScanRegistry,
    /// Where scans learn; `None` runs without learning (tests, or a read-only deployment).
    learning: Option<Arc<Learning>>,
    /// One permit per open WebSocket or SSE stream (`MAX_CONCURRENT_STREAMS`).
    streams: Arc<Semaphore>,
    metrics: Metrics,
    /// `POST /backtest` jobs, running and recently finished.
    backtests: backtests::Backtests,
}

impl AppState {
    /// `runtime` runs the store writes that follow each scan (scans run on threads of their own).
    pub fn new(
        scanner: Scanner,
        store: Option<LearningStore>,
        config: Config,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        let metrics = Metrics::new();
        let clock = Arc::clone(scanner.clock());
        let learning = store.map(|store| Learning::new(store, Arc::clone(&clock)));
        let records = learning.as_ref().map(|learning| {
            let (records, queue) = tokio::sync::mpsc::channel(learning::MAX_PENDING_RECORDS);
            runtime.spawn(Arc::clone(learning).write_records(queue));
            records
        });
        let (finished_metrics, finished_learning) = (metrics.clone(), learning.clone());
        let finished_clock = Arc::clone(&clock);
        let on_finish: OnFinish = Arc::new(move |ended| {
            let Ok(outcome) = ended else {
                finished_metrics.scan_failed();
                return;
            };
            finished_metrics.scan_finished(outcome);
            if let (Some(learning), Some(records)) = (&finished_learning, &records) {
                let completion = match outcome.report.status {
                    technic_engine::ScanStatus::Completed => Completion::Completed,
                    _ => Completion::Stopped,
                };
                learning.queued();
                // On the scan's own thread (never the runtime's), which waits here only when
                // the queue is full.
                let queued = records.blocking_send(learning::Record {
                    scan_id: outcome.report.scan_id.clone(),
                    completion,
                    update: outcome.learning.clone(),
                    finished_at: finished_clock.wall(),
                });
                if let Err(unsent) = queued {
                    learning.written();
                    tracing::warn!(scan_id = %unsent.0.scan_id, "could not save what the scan learned: the server is stopping");
                }
            }
        });
        // What the server sends is public: a symbol's read error without the machine's paths.
        let scanner = scanner.with_source_errors_logged();
        let registry = ScanRegistry::new(Arc::new(scanner), config.retention, Some(on_finish))
            .with_max_running(config.max_concurrent_scans)
            .with_max_retained(config.max_retained_scans)
            .with_max_retained_bytes(config.max_retained_bytes);
        let streams = Arc::new(Semaphore::new(config.max_concurrent_streams));
        Self {
            inner: Arc::new(Inner {
                config,
                registry,
                learning,
                streams,
                metrics,
                backtests: backtests::Backtests::default(),
            }),
        }
    }

    pub fn registry(&self) -> &ScanRegistry {
        &self.inner.registry
    }

    /// The scan `id`: in this server's registry, or, distributed, looked up in Redis on a
    /// blocking thread, so a slow Redis never holds up the runtime's workers.
    pub(crate) async fn scan(&self, id: &str) -> Result<Arc<ScanEntry>, error::ApiError> {
        if let Some(entry) = self.registry().get_local(id) {
            return Ok(entry);
        }
        let id = id.to_owned();
        self.registry_call(move |registry| registry.get(&id)).await
    }

    /// Runs `call` on the registry: here when it cannot wait on Redis, else on a blocking thread.
    pub(crate) async fn registry_call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&ScanRegistry) -> Result<T, RegistryError> + Send + 'static,
    ) -> Result<T, error::ApiError> {
        if !self.registry().is_distributed() {
            return Ok(call(self.registry())?);
        }
        let state = self.clone();
        tokio::task::spawn_blocking(move || call(state.registry()))
            .await
            .map_err(|e| error::ApiError::Internal(format!("a scan registry call: {e}")))?
            .map_err(error::ApiError::from)
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    fn backtests(&self) -> &backtests::Backtests {
        &self.inner.backtests
    }

    fn learning(&self) -> Option<&Arc<Learning>> {
        self.inner.learning.as_ref()
    }

    /// The scanner's clock: what the server dates and ages by (see `technic_data::clock`).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.registry().scanner().clock()
    }
}

/// The router of every endpoint.
pub fn app(state: AppState) -> Router {
    let limit = state.config().max_request_bytes;
    routes::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::refuse_oversize_bodies,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_requests,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Observes each request's time to its response head in `technic_http_request_duration_seconds`,
/// labelled by the route's pattern (never the raw path, whose ids would make a series per scan)
/// and by a method from a fixed list, so no client can grow the number of series.
async fn time_requests(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = match *request.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state
        .metrics()
        .http_duration
        .with_label_values(&[&route, method, response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// How many connections the kernel may hold for `serve` before it accepts them. Tokio's `bind`
/// asks for 128 (the standard library's value): fifty users who each open a scan and four streams
/// at once overflowed it, and every connection that did waited for its SYN to be retried a second
/// later. The kernel caps it at `net.core.somaxconn` (4096 by default since Linux 5.4).
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `address` for `serve`, with a backlog of `LISTEN_BACKLOG`.
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As tokio's `bind` does: a restarted server rebinds at once, not after TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `state` on `listener` until `shutdown` resolves; then stops every running scan (their
/// streams end with a final message) and waits for connections to drain.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let janitor_state = state.clone();
    let janitor = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            let dropped = janitor_state.registry().purge();
            if dropped > 0 {
                tracing::info!(dropped, "finished scans past their retention dropped");
            }
        }
    });
    let reader = state.learning().cloned().map(|learning| {
        tokio::spawn(async move {
            // At once, so the first scans rarely find the copy still being read.
            loop {
                learning.refresh().await;
                tokio::time::sleep(learning::REREAD_AFTER).await;
            }
        })
    });
    let (stopping, state_after) = (state.clone(), state.clone());
    let listener = Connections {
        listener,
        send_buffer: state.config().send_buffer,
        write_timeout: state.config().send_timeout * 2,
    };
    let header_read_timeout = state.config().header_read_timeout;
    let open = state.metrics().open_connections.clone();
    let result = serve_connections(
        listener,
        app(state),
        (header_read_timeout, open),
        async move {
            shutdown.await;
            tracing::info!("shutting down: stopping running scans");
            stopping.registry().stop_all("server shutdown");
        },
    )
    .await;
    janitor.abort();
    if let Some(reader) = reader {
        reader.abort();
    }
    // Upgraded connections (WebSockets) and SSE bodies outlive the HTTP drain: give the stopped
    // scans time to write their final message, the open streams time to deliver it, and the
    // store time to take what the scans learned.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let pending_records = || state_after.learning().map_or(0, |l| l.pending());
    while (state_after.registry().running() > 0
        || state_after.metrics().active_streams.get() > 0
        || pending_records() > 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if pending_records() > 0 {
        tracing::warn!(
            scans = pending_records(),
            "stopping before what these scans learned was saved"
        );
    }
    result
}

/// Accepts connections and serves HTTP/1 on each (upgrades to WebSocket included) until
/// `shutdown` resolves; then stops accepting, lets every connection finish the request it is
/// answering, and waits for them. What `axum::serve` does, plus a header-read timeout: a client
/// that opens a connection and sends its request head slowly, or not at all, is cut off after
/// `header_read_timeout` instead of holding the socket for ever (the same deadline closes a
/// kept-alive connection idle between requests).
async fn serve_connections(
    mut listener: Connections,
    app: Router,
    (header_read_timeout, open): (Duration, prometheus::IntGauge),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::Listener as _;
    // hyper's HTTP/1 builder itself: hyper-util's `auto` builder (axum's) first waits, with no
    // deadline, for the bytes that tell HTTP/1 from HTTP/2, so a client that sends nothing at all
    // was never cut off.
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    // Every connection's task holds a receiver: a change asks them to finish, and the sender sees
    // `closed` once every one has ended.
    let (finish, finish_asked) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, _address) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = http
            .serve_connection(hyper_util::rt::TokioIo::new(io), service)
            .with_upgrades();
        let mut asked = finish_asked.clone();
        let open = open.clone();
        open.inc();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = asked.changed() => {
                    // Finishes the request in hand (an SSE stream until its scan's final
                    // message), then closes.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            // A client that hung up, or was too slow with its request head: nothing to report.
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            open.dec();
            drop(asked);
        });
    }
    drop(listener);
    drop(finish_asked);
    finish.send_replace(());
    finish.closed().await;
    Ok(())
}

/// The listener `serve` accepts through: each connection's kernel send buffer bounded if
/// `STREAM_SEND_BUFFER_BYTES` says so, and its writes failed (the connection dropped) once one has
/// made no progress for `write_timeout`. That is what ends an SSE stream whose client stopped
/// reading: hyper stops polling a body it cannot write, so nothing inside the stream would notice.
/// Twice the WebSocket send timeout, so a stalled WebSocket is first closed by its own loop, with
/// the point to resume from.
struct Connections {
    listener: TcpListener,
    send_buffer: Option<usize>,
    write_timeout: Duration,
}

impl axum::serve::Listener for Connections {
    type Io = std::pin::Pin<Box<tokio_io_timeout::TimeoutStream<tokio::net::TcpStream>>>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, address) = axum::serve::Listener::accept(&mut self.listener).await;
        // Without it Nagle's algorithm holds each small write (a message is a few hundred bytes)
        // until the client acknowledges the one before, and a client whose thread waits for a
        // core acknowledges only when its delayed-ACK timer (40 ms) fires: under load, messages
        // waited up to that long in the kernel.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::warn!(error = %e, "could not turn off Nagle's algorithm on a connection");
        }
        if let Some(bytes) = self.send_buffer
            && let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(bytes)
        {
            tracing::warn!(error = %e, "could not bound a connection's send buffer");
        }
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(self.write_timeout));
        (Box::pin(stream), address)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn many_connections_at_once_wait_to_be_accepted_instead_of_being_dropped() {
        let listener = bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let address = listener.local_addr().expect("address");
        // Well above tokio's default backlog (128), within the kernel's cap.
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(4096);
        let clients = 400.min(somaxconn);
        // Nothing accepts: every connection must complete into the queue. One the queue has no
        // room for has its SYN dropped and retried a second later, then every two, four…
        let connects = (0..clients).map(|_| tokio::net::TcpStream::connect(address));
        let connected = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::future::try_join_all(connects),
        )
        .await
        .expect("connections left waiting: the listen backlog overflowed")
        .expect("connect");
        assert_eq!(connected.len(), clients);
        drop(listener);
    }

    #[tokio::test]
    async fn accepted_connections_send_small_writes_at_once_and_keep_their_send_buffer_bound() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let mut connections = Connections {
            listener,
            send_buffer: Some(64 * 1024),
            write_timeout: Duration::from_secs(1),
        };
        let _client = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let (accepted, _) = axum::serve::Listener::accept(&mut connections).await;
        let stream = accepted.get_ref();
        assert!(
            stream.nodelay().expect("TCP_NODELAY readable"),
            "Nagle's algorithm left on: small messages wait for the client's delayed ACK"
        );
        // Linux doubles the value asked for (bookkeeping); what matters is that it was set.
        let send_buffer = socket2::SockRef::from(stream)
            .send_buffer_size()
            .expect("SO_SNDBUF readable");
        assert!(
            (64 * 1024..=2 * 64 * 1024).contains(&send_buffer),
            "send buffer {send_buffer} bytes, asked for 65536"
        );
    }
}
