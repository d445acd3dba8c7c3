//! The server load benchmark of docs/benchmarks.md, on ../shared/data/sp500, all on loopback:
//! 1. 50 concurrent scans with 200 subscribers across them (half WebSocket, half SSE): messages lost
//!    and duplicated, delivery latency p50/p99, time from `POST /scan/start` to the first result,
//!    peak and settled memory (resident set) after the scans are dropped, and the CPU each part
//!    used (the server's runtime, the clients, the scans and the rest). Two rounds on a server
//!    where every scan computes every symbol, then two on one that shares analyses between scans
//!    of the same bars, as `technic serve` runs;
//! 2. 1,000 subscribers that connect to one scan while it is idle, then receive it as it runs.
//!
//! In phase 1 each of the fifty users (its POST and its four subscribers) runs on a thread of its
//! own, as fifty client processes would, sharing the two cores with the server.
//! `LOAD_CLIENTS_LOW_PRIORITY=1` puts those threads at the lowest priority: an approximation of
//! clients on other machines, for telling the server's own latency from the competition for cores.
//!
//! Run with `cargo bench -p technic-server --bench load`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use serde_json::Value;
use technic_core::Bars;
use technic_data::files::FileSource;
use technic_data::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo};
use technic_engine::Scanner;
use technic_server::{AppState, Config};

/// The allocator of the `technic` binary, so the memory figures are the server's own.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Resident memory of this process, from /proc.
fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The allocator's own account: what is allocated (live objects) against what it holds.
fn allocator_mb() -> String {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let mb = |v: Result<usize, _>| v.map_or(0.0, |b| b as f64 / (1 << 20) as f64);
    format!(
        "allocated {:.0} MB, active {:.0} MB, resident {:.0} MB, metadata {:.0} MB, retained {:.0} MB",
        mb(stats::allocated::read()),
        mb(stats::active::read()),
        mb(stats::resident::read()),
        mb(stats::metadata::read()),
        mb(stats::retained::read()),
    )
}

/// What a thread's `schedstat` says (nanoseconds, unlike `stat`'s 10 ms ticks): the time it ran,
/// and the time it was ready to run but waited for a core.
#[derive(Debug, Default, Clone, Copy)]
struct Sched {
    ran: f64,
    waited: f64,
}

impl std::ops::Sub for Sched {
    type Output = Sched;
    fn sub(self, before: Sched) -> Sched {
        Sched {
            ran: self.ran - before.ran,
            waited: self.waited - before.waited,
        }
    }
}

impl std::iter::Sum for Sched {
    fn sum<I: Iterator<Item = Sched>>(iter: I) -> Sched {
        iter.fold(Sched::default(), |a, b| Sched {
            ran: a.ran + b.ran,
            waited: a.waited + b.waited,
        })
    }
}

fn thread_sched(task: &Path) -> Sched {
    let text = std::fs::read_to_string(task.join("schedstat")).unwrap_or_default();
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<f64>().map_or(0.0, |ns| ns / 1e9));
    Sched {
        ran: fields.next().unwrap_or(0.0),
        waited: fields.next().unwrap_or(0.0),
    }
}

/// `schedstat` of each live thread of this process named `name`, by thread id. `tokio-rt-worker`
/// is the server's runtime: its workers, and its blocking pool's threads (which only wait here).
fn threads_sched(name: &str) -> std::collections::HashMap<std::ffi::OsString, Sched> {
    std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| {
                let comm = comm.trim();
                // A name ending in a space is a prefix: scans' threads are `scan {id}`.
                comm == name || (name.ends_with(' ') && comm.starts_with(name))
            })
        })
        .map(|task| (task.file_name(), thread_sched(&task.path())))
        .collect()
}

/// What the threads named `name` did since `before` was taken, thread by thread: one that began in
/// between counts from zero; one that ended is left out (its CPU falls into "the rest").
fn threads_sched_since(
    name: &str,
    before: &std::collections::HashMap<std::ffi::OsString, Sched>,
) -> Sched {
    threads_sched(name)
        .iter()
        .map(|(tid, now)| *now - before.get(tid).copied().unwrap_or_default())
        .sum()
}

/// CPU time of the whole process so far, exited threads included (user + system, in ticks).
fn process_cpu_seconds() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
            let mut fields = s.rsplit_once(')')?.1.split_whitespace().skip(11);
            Some(fields.next()?.parse::<f64>().ok()? + fields.next()?.parse::<f64>().ok()?)
        });
    // USER_HZ is 100 on every Linux this runs on.
    ticks.map_or(0.0, |t| t / 100.0)
}

/// The kernel's TCP counters (`TcpExt` of /proc/net/netstat, the network namespace's, so
/// loopback's) that tell a delivery stalled in TCP itself: retransmission timeouts (at least
/// 200 ms each; a SYN's or SYN-ACK's, one second), tail-loss probes, zero-window probes, zero
/// windows advertised, and connections a listener had no room for (their handshake is retried a
/// second later).
fn tcp_stall_counters() -> [u64; 5] {
    const NAMES: [&str; 5] = [
        "TCPTimeouts",
        "TCPLossProbes",
        "TCPWinProbe",
        "TCPToZeroWindowAdv",
        "ListenOverflows",
    ];
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return [0; 5];
    };
    let table: std::collections::HashMap<&str, u64> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .filter_map(|(name, value)| Some((name, value.parse().ok()?)))
        .collect();
    NAMES.map(|name| table.get(name).copied().unwrap_or(0))
}

/// Time the hypervisor ran other guests while this machine's cores wanted to run (the `steal`
/// column of /proc/stat's `cpu` line), in seconds: a pause of the whole machine the process
/// cannot see any other way.
fn steal_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("cpu "))
        .and_then(|l| l.split_whitespace().nth(8)?.parse::<f64>().ok())
        // USER_HZ is 100 on every Linux this runs on.
        .map_or(0.0, |ticks| ticks / 100.0)
}

/// A thread that only sleeps 1 ms at a time and notes each wake-up later than `STALL_SECONDS`:
/// when it and the subscribers are late at the same moment, the whole process (or machine)
/// stalled, not the server's delivery.
struct StallMeter {
    stalls: Mutex<Vec<(Instant, f64)>>,
}

const STALL_SECONDS: f64 = 0.05;

impl StallMeter {
    fn start(running: Arc<AtomicBool>) -> Arc<StallMeter> {
        let meter = Arc::new(StallMeter {
            stalls: Mutex::new(Vec::new()),
        });
        let own = Arc::clone(&meter);
        std::thread::Builder::new()
            .name("bench-stalls".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    std::thread::sleep(Duration::from_millis(1));
                    let slept = before.elapsed().as_secs_f64();
                    if slept > STALL_SECONDS {
                        own.stalls
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((before, slept));
                    }
                }
            })
            .expect("stall meter thread");
        meter
    }

    /// The stalls that began at or after `since`.
    fn since(&self, since: Instant) -> Vec<(Instant, f64)> {
        self.stalls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(at, _)| *at >= since)
            .copied()
            .collect()
    }
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    seqs: Vec<u64>,
    final_seq: Option<u64>,
    /// Seconds from the message's emission to its arrival here.
    latencies: Vec<f64>,
    first_result_at: Option<Instant>,
    /// The receiving thread's time waiting for a core so far, read when the first result came.
    waited_at_first_result: f64,
    /// When the WebSocket handshake completed or the SSE response's headers arrived.
    connected_at: Option<Instant>,
    websocket: bool,
    /// When each message later than `LATE_SECONDS` arrived: whether the late ones came in one
    /// burst (a pause of everything) or spread over the round (a slow path).
    late_arrivals: Vec<Instant>,
    /// How many of them were results, progress and final messages.
    late_kinds: [usize; 3],
    /// The final message's size: it carries the whole ranking, so every subscriber of every scan
    /// takes one this large at its scan's end.
    final_bytes: usize,
}

/// The envelope of a message; `data` is skipped, not built, so the client's parsing cost (it shares
/// the two cores with the server) stays small next to the server's work.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    metadata: Meta,
}

#[derive(serde::Deserialize)]
struct Meta {
    seq: u64,
    is_final: bool,
    timestamp: String,
}

/// The message's type and metadata. The server writes `{"type", "data", "metadata"}` in that
/// order, so the metadata object is read from the tail and the (large) data never scanned: this
/// client shares the two cores with the server it measures. Any other layout is parsed whole.
fn envelope(text: &str) -> Option<Envelope> {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(rename = "type", borrow)]
        kind: &'a str,
    }
    let fast = || {
        let kind_end = text.find(",\"data\":")?;
        let head = format!("{}}}", &text[..kind_end]);
        let kind: Kind<'_> = serde_json::from_str(&head).ok()?;
        let meta_start = text.rfind(",\"metadata\":")? + ",\"metadata\":".len();
        let metadata: Meta = serde_json::from_str(text[meta_start..].strip_suffix('}')?).ok()?;
        Some(Envelope {
            kind: kind.kind.to_owned(),
            metadata,
        })
    };
    fast().or_else(|| serde_json::from_str::<Envelope>(text).ok())
}

fn record(seen: &mut Seen, text: &str) {
    let arrived = SystemTime::now();
    let Some(message) = envelope(text) else {
        return;
    };
    seen.seqs.push(message.metadata.seq);
    if message.metadata.is_final {
        seen.final_seq = Some(message.metadata.seq);
        seen.final_bytes = text.len();
    }
    if message.kind == "result" && seen.first_result_at.is_none() {
        seen.first_result_at = Some(Instant::now());
        seen.waited_at_first_result = thread_sched(Path::new("/proc/thread-self")).waited;
    }
    if let Some(stamp) = chrono_parse(&message.metadata.timestamp) {
        let latency = arrived
            .duration_since(stamp)
            .map_or(0.0, |d| d.as_secs_f64());
        seen.latencies.push(latency);
        if latency > LATE_SECONDS {
            seen.late_arrivals.push(Instant::now());
            let kind = match message.kind.as_str() {
                "result" => 0,
                "progress" => 1,
                _ => 2,
            };
            seen.late_kinds[kind] += 1;
        }
    }
}

/// RFC 3339 with fractional seconds, UTC (`2024-01-15T10:30:45.123456789Z`), as the server writes it.
fn chrono_parse(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + min * 60 + s).ok()?;
    let nanos: u32 = format!("{frac:0<9}")[..9].parse().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

async fn subscribe_ws(url: String) -> Seen {
    let mut seen = Seen {
        websocket: true,
        ..Seen::default()
    };
    // A smaller read buffer than tungstenite's 128 KiB, which it zeroes before every read: this
    // client shares the two cores with the server it measures.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024);
    let Ok((mut socket, _)) =
        tokio_tungstenite::connect_async_with_config(&url, Some(config), false).await
    else {
        return seen;
    };
    seen.connected_at = Some(Instant::now());
    while let Some(Ok(frame)) = socket.next().await {
        match frame {
            tokio_tungstenite::tungstenite::Message::Text(text) => record(&mut seen, &text),
            tokio_tungstenite::tungstenite::Message::Close(_) => break,
            _ => {}
        }
    }
    seen
}

async fn subscribe_sse(client: reqwest::Client, url: String) -> Seen {
    let mut seen = Seen::default();
    let Ok(response) = client
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
    else {
        return seen;
    };
    seen.connected_at = Some(Instant::now());
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(Ok(chunk)) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        // Events are cut from a moving start and the consumed part dropped once per chunk: a
        // chunk holds hundreds of events under load, and draining the buffer per event (moving
        // the rest each time) made this client, not the server, what the latency measured.
        let mut start = 0;
        while let Some(end) = buffer[start..].find("\n\n") {
            let block = &buffer[start..start + end];
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
                .collect();
            if !data.is_empty() {
                record(&mut seen, &data);
            }
            start += end + 2;
        }
        buffer.drain(..start);
    }
    seen
}

/// Starts a scan with default settings and returns its id.
async fn start_scan(client: &reqwest::Client, base: &str) -> String {
    let body: Value = client
        .post(format!("http://{base}/scan/start"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    body["scan_id"].as_str().expect("id").to_owned()
}

/// The clients' own runtime and threads: on the server's runtime their parsing queued behind (and
/// ahead of) the server's writes in the same two workers, so a message's latency included other
/// clients' work. Here the OS shares the cores between the two, as between two processes.
fn clients() -> &'static tokio::runtime::Runtime {
    static CLIENTS: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    CLIENTS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bench-client")
            .enable_all()
            .build()
            .expect("client runtime")
    })
}

/// Runs one user's client (its POST and its subscribers) on a thread and runtime of its own, as
/// a process of its own would: in one shared runtime a user's response waited in the queue
/// behind other users' parsing, which no real user's client does.
fn as_user<T: Send + 'static>(
    work: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::Builder::new()
        .name("bench-user".into())
        .spawn(move || {
            if std::env::var("LOAD_CLIENTS_LOW_PRIORITY").is_ok_and(|v| v == "1") {
                thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
                    .expect("a thread may lower its own priority");
            }
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("user runtime")
                .block_on(work())
        })
        .expect("user thread")
}

/// `count` subscribers from seq 0, alternately WebSocket and SSE, spawned on `runtime`.
fn subscribe_all(
    runtime: &tokio::runtime::Handle,
    client: &reqwest::Client,
    base: &str,
    id: &str,
    count: usize,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    (0..count)
        .map(|k| {
            if k % 2 == 0 {
                runtime.spawn(subscribe_ws(format!("ws://{base}/ws/results/{id}")))
            } else {
                runtime.spawn(subscribe_sse(
                    client.clone(),
                    format!("http://{base}/events/results/{id}"),
                ))
            }
        })
        .collect()
}

/// Prints a table row with the p50 and p99 of `values` (milliseconds).
fn p50_p99_row(figure: &str, values: &mut [f64], decimals: usize) {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| {
        values
            .get(((values.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "| {figure} p50 / p99 | {:.decimals$} ms / {:.decimals$} ms |",
        at(0.5),
        at(0.99)
    );
}

/// Lost and duplicated messages of one subscriber that started at seq 0.
fn integrity(seen: &Seen) -> (u64, u64) {
    let Some(last) = seen.final_seq else {
        return (u64::MAX, 0);
    };
    let mut sorted = seen.seqs.clone();
    sorted.sort_unstable();
    let before = sorted.len() as u64;
    sorted.dedup();
    let duplicated = before - sorted.len() as u64;
    let lost = last - sorted.len() as u64;
    (lost, duplicated)
}

/// A source whose reads wait until the gate opens: subscribers connect while the scan is idle.
struct Gated {
    inner: Arc<dyn MarketData>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl MarketData for Gated {
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.inner.universe()
    }
    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        let (lock, opened) = &*self.gate;
        let mut open = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while !*open {
            open = opened
                .wait(open)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(open);
        self.inner.bars(symbol, window)
    }
}

/// A server on loopback. `share_analyses` as `technic serve` runs; off, every scan computes every
/// symbol (the load of fifty scans of fifty different settings). `store`: where scans learn, as
/// `technic serve` keeps it (SQLite in its home directory); each finished scan writes to it.
async fn start_server(
    source: Arc<dyn MarketData>,
    config: Config,
    share_analyses: bool,
    store: Option<technic_learning::LearningStore>,
) -> (String, AppState) {
    // As `technic serve` sizes it: one scan worker per core but one.
    let scanner = Scanner::new(source)
        .with_workers(config.scan_workers())
        .with_low_priority_after_first();
    let scanner = if share_analyses {
        scanner.with_shared_analyses(64 << 20)
    } else {
        scanner
    };
    let state = AppState::new(scanner, store, config, tokio::runtime::Handle::current());
    let listener = technic_server::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
    let base = format!("127.0.0.1:{}", listener.local_addr().expect("addr").port());
    tokio::spawn(technic_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (base, state)
}

fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let data: PathBuf = std::env::var_os("TECHNIC_SHARED")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            PathBuf::from,
        )
        .join("data/sp500");
    // Behind the in-process bars cache, as `technic serve` runs by default.
    let files: Arc<dyn MarketData> = Arc::new(technic_cache::CachedSource::new(
        FileSource::open(&data).expect("sp500"),
        Arc::new(technic_cache::MemoryCache::new(256 << 20)),
        "sp500",
        Duration::from_secs(15 * 60),
    ));
    let peak = Arc::new(AtomicU64::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let (peak_w, sampling_w) = (Arc::clone(&peak), Arc::clone(&sampling));
    // On a thread of its own: reading /proc blocks, and on the server's runtime it held one of
    // the two workers for a few hundred microseconds a hundred times a second.
    std::thread::spawn(move || {
        while sampling_w.load(Ordering::Relaxed) {
            peak_w.fetch_max((rss_mb() * 1000.0) as u64, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let stalls = StallMeter::start(Arc::clone(&sampling));

    // Phase 1: 50 scans, 200 subscribers.
    let config = Config {
        max_concurrent_streams: 5000,
        retention: Duration::from_millis(1),
        ..Config::default()
    };
    let (base, state) = start_server(Arc::clone(&files), config.clone(), false, None).await;
    // One warm-up scan, so the baseline includes the page cache, the bars cache (`files`, which
    // both servers below read through) and the thread pools.
    warm_up(&base, &state, serde_json::json!({})).await;
    let baseline = rss_mb();
    println!("baseline: {baseline:.0} MB ({})", allocator_mb());
    peak.store((baseline * 1000.0) as u64, Ordering::Relaxed);

    // Every scan computes every symbol: the load of fifty scans with fifty different settings.
    let label = "every scan computing every symbol, round";
    // Twice: if memory kept what the first round dropped, it would grow in the second.
    for round in ["1", "2"] {
        let label = format!("{label} {round}");
        phase_one(&base, &state, &stalls, baseline, &peak, &label).await;
    }

    // As `technic serve` runs: scans of the same bars share each symbol's analysis. In the first
    // round the fifty scans share what they compute among themselves; in the second (within the
    // analyses' 15 minutes) everything was computed by the first.
    let home = tempfile::tempdir().expect("temporary home");
    let store = technic_learning::LearningStore::open_in(home.path())
        .await
        .expect("learning store");
    let (base, state) = start_server(Arc::clone(&files), config.clone(), true, Some(store)).await;
    // Its warm-up fills the snapshot cache (a minute's priority order, whatever the settings) but
    // not the analyses of the settings measured: it scans another lookback.
    warm_up(&base, &state, serde_json::json!({ "lookback_days": 300 })).await;
    let baseline = rss_mb();
    peak.store((baseline * 1000.0) as u64, Ordering::Relaxed);
    let label = "analyses shared (as `technic serve` runs)";
    for round in ["nothing computed before", "a round later"] {
        let label = format!("{label}, {round}");
        phase_one(&base, &state, &stalls, baseline, &peak, &label).await;
    }

    // Phase 2: 1,000 subscribers connect to one scan while it is idle, then it runs.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let gated: Arc<dyn MarketData> = Arc::new(Gated {
        inner: Arc::clone(&files),
        gate: Arc::clone(&gate),
    });
    let (base, state) = start_server(gated, config, true, None).await;
    let client = reqwest::Client::new();
    let id = start_scan(&client, &base).await;
    let connect_started = Instant::now();
    let subscribers = subscribe_all(clients().handle(), &client, &base, &id, 1000);
    // Wait until all are connected (the server counts open streams), then open the gate.
    while state.metrics().active_streams.get() < 1000
        && connect_started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connected = connect_started.elapsed().as_secs_f64();
    let busy_started = Instant::now();
    {
        let (lock, opened) = &*gate;
        *lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        opened.notify_all();
    }
    let (mut lost, mut duplicated, mut messages, mut latencies) = (0u64, 0u64, 0usize, Vec::new());
    for s in subscribers {
        let seen = s.await.expect("subscriber");
        let (l, d) = integrity(&seen);
        lost = lost.saturating_add(l);
        duplicated += d;
        messages += seen.seqs.len();
        latencies.extend(seen.latencies.iter().map(|l| l * 1e3));
    }
    sampling.store(false, Ordering::Relaxed);
    println!(
        "\nPhase 2: 1,000 subscribers (500 WebSocket, 500 SSE) on one scan: connected in {connected:.2} s while it was idle, then all served in {:.2} s\n",
        busy_started.elapsed().as_secs_f64()
    );
    println!("| figure | value |\n| --- | ---: |");
    println!("| messages delivered | {messages} |");
    println!("| messages lost | {lost} |");
    println!("| messages duplicated | {duplicated} |");
    p50_p99_row("delivery latency", &mut latencies, 1);
}

/// One scan, waited for, then dropped.
async fn warm_up(base: &str, state: &AppState, request: Value) {
    let warm: Value = reqwest::Client::new()
        .post(format!("http://{base}/scan"))
        .json(&request)
        .send()
        .await
        .expect("warm-up scan")
        .json()
        .await
        .expect("warm-up report");
    assert_eq!(warm["status"], "completed");
    tokio::time::sleep(Duration::from_millis(50)).await;
    state.registry().purge();
}

/// What one user of phase 1 did and saw.
struct User {
    /// When it sent `POST /scan/start`.
    posted: Instant,
    /// Its thread's time waiting for a core then (its subscribers run on the same thread).
    waited_at_post: f64,
    /// Its four subscribers.
    seen: Vec<Seen>,
    answered_ms: f64,
    /// From the `POST` to the server's handler (the answer's time less the scan's age).
    reached_handler_ms: f64,
    /// What its thread ran (its `POST`, its subscribers and their parsing) and waited for a core.
    sched: Sched,
    id: String,
}

/// A message this late counts as late in phase 1's table.
const LATE_SECONDS: f64 = 0.05;

/// Phase 1: 50 scans with 4 subscribers each; prints the figures.
async fn phase_one(
    base: &str,
    state: &AppState,
    stalls: &StallMeter,
    baseline: f64,
    peak: &AtomicU64,
    label: &str,
) {
    let started = Instant::now();
    let tcp_before = tcp_stall_counters();
    let steal_before = steal_seconds();
    let (server_cpu, process_cpu) = (threads_sched("tokio-rt-worker"), process_cpu_seconds());
    // The first 100 ms, when the fifty `POST`s and the first subscribers are answered, measured on
    // their own (the users' threads are new, so they count from zero).
    let burst = {
        let server_before = server_cpu.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            (
                threads_sched_since("tokio-rt-worker", &server_before),
                threads_sched_since("bench-user", &Default::default()),
                threads_sched_since("scan ", &Default::default()),
            )
        })
    };
    // Fifty users press "scan" at the same moment.
    let together = Arc::new(std::sync::Barrier::new(50));
    let mut users = Vec::new();
    for _ in 0..50 {
        let (base, state, together) = (base.to_owned(), state.clone(), Arc::clone(&together));
        users.push(as_user(move || {
            Box::pin(async move {
                let client = reqwest::Client::new();
                // Blocking is fine here: nothing else runs on this user's runtime.
                together.wait();
                let posted = Instant::now();
                let waited_at_post = thread_sched(Path::new("/proc/thread-self")).waited;
                let id = start_scan(&client, &base).await;
                let answered_ms = posted.elapsed().as_secs_f64() * 1e3;
                // The registry's age of the scan splits the answer's time at the handler: both
                // read together, after the lookup, so a wait for the registry skews neither.
                let entry = state.registry().get(&id).expect("the scan just started");
                let (since_posted, since_handler) = (posted.elapsed(), entry.age());
                drop(entry);
                let reached_handler_ms =
                    since_posted.saturating_sub(since_handler).as_secs_f64() * 1e3;
                let runtime = tokio::runtime::Handle::current();
                let subscribers = subscribe_all(&runtime, &client, &base, &id, 4);
                let mut seen = Vec::new();
                for s in subscribers {
                    seen.push(s.await.expect("subscriber"));
                }
                User {
                    posted,
                    waited_at_post,
                    seen,
                    answered_ms,
                    reached_handler_ms,
                    sched: thread_sched(Path::new("/proc/thread-self")),
                    id,
                }
            })
        }));
    }
    let all = tokio::task::spawn_blocking(move || {
        users
            .into_iter()
            .map(|user| user.join().expect("user"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("users");
    let elapsed = started.elapsed().as_secs_f64();
    let server = threads_sched_since("tokio-rt-worker", &server_cpu);
    let server_cpu = server.ran;
    let process_cpu = process_cpu_seconds() - process_cpu;
    let clients: Sched = all.iter().map(|user| user.sched).sum();
    let clients_cpu = clients.ran;
    let tcp = {
        let after = tcp_stall_counters();
        [0, 1, 2, 3, 4].map(|i| after[i].saturating_sub(tcp_before[i]))
    };
    let steal = steal_seconds() - steal_before;
    let round_stalls = stalls.since(started);
    // A scan ends after its last message once it has handed its record to the learning store's
    // writer (it waits only if the writer's queue is full).
    let round_over = Instant::now();
    let scans: Vec<_> = all
        .iter()
        .filter_map(|user| state.registry().get(&user.id).ok())
        .collect();
    while !scans.iter().all(|scan| scan.is_finished())
        && round_over.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        scans.iter().all(|scan| scan.is_finished()),
        "scans still running a minute after their last message"
    );
    let ended_ms = round_over.elapsed().as_secs_f64() * 1e3;
    drop(scans);
    let (mut lost, mut duplicated, mut messages) = (0u64, 0u64, 0usize);
    let (mut late_messages, mut late_websockets, mut late_sse) = (0usize, 0usize, 0usize);
    let (mut late_scans, mut late_window) = (0usize, None::<(Instant, Instant)>);
    let mut late_kinds = [0usize; 3];
    let (mut latencies, mut first, mut connected) = (Vec::new(), Vec::new(), Vec::new());
    let mut answered: Vec<f64> = all.iter().map(|user| user.answered_ms).collect();
    let mut reached: Vec<f64> = all.iter().map(|user| user.reached_handler_ms).collect();
    // The engine's own figure: from the scan's start on its thread to its first result.
    let outcomes: Vec<_> = all
        .iter()
        .filter_map(|user| state.registry().get(&user.id).ok())
        .filter_map(|entry| entry.outcome()?.ok())
        .collect();
    let mut engine_first: Vec<f64> = outcomes
        .iter()
        .filter_map(|outcome| outcome.report.metrics.time_to_first_result)
        .map(|seconds| seconds * 1e3)
        .collect();
    let mut setup: Vec<f64> = outcomes
        .iter()
        .map(|outcome| {
            let stages = &outcome.report.metrics.stage_seconds.0;
            stages
                .iter()
                .filter(|(stage, _)| *stage == "universe_loading" || *stage == "data_fetching")
                .map(|(_, seconds)| seconds * 1e3)
                .sum()
        })
        .collect();
    let (shared, computed) = outcomes.iter().fold((0, 0), |(s, c), outcome| {
        let m = &outcome.report.metrics;
        (s + m.analyses_shared, c + m.analyses_computed)
    });
    drop(outcomes);
    let mut first_own_core = Vec::new();
    for User {
        posted,
        waited_at_post,
        seen,
        ..
    } in &all
    {
        if let Some(earliest) = seen
            .iter()
            .filter(|s| s.first_result_at.is_some())
            .min_by_key(|s| s.first_result_at)
        {
            let at = earliest.first_result_at.unwrap_or(*posted);
            let ms = at.duration_since(*posted).as_secs_f64() * 1e3;
            first.push(ms);
            // The part of it this user's client spent ready to run but without a core: a
            // client on a machine of its own would not have waited it.
            first_own_core.push(ms - (earliest.waited_at_first_result - waited_at_post) * 1e3);
        }
        if let Some(at) = seen.iter().filter_map(|s| s.connected_at).min() {
            connected.push(at.duration_since(*posted).as_secs_f64() * 1e3);
        }
        let late_here: Vec<Instant> = seen
            .iter()
            .flat_map(|s| s.late_arrivals.iter().copied())
            .collect();
        if let (Some(&first_late), Some(&last_late)) =
            (late_here.iter().min(), late_here.iter().max())
        {
            late_scans += 1;
            late_window = Some(late_window.map_or((first_late, last_late), |(a, b)| {
                (a.min(first_late), b.max(last_late))
            }));
        }
        for s in seen {
            let (l, d) = integrity(s);
            lost = lost.saturating_add(l);
            duplicated += d;
            messages += s.seqs.len();
            latencies.extend(s.latencies.iter().map(|l| l * 1e3));
            let late = s.latencies.iter().filter(|&&l| l > LATE_SECONDS).count();
            if late > 0 {
                late_messages += late;
                for (total, of_this) in late_kinds.iter_mut().zip(s.late_kinds) {
                    *total += of_this;
                }
                if s.websocket {
                    late_websockets += 1;
                } else {
                    late_sse += 1;
                }
            }
        }
    }
    let peak_mb = peak.load(Ordering::Relaxed) as f64 / 1000.0;
    let entries: Vec<_> = all
        .iter()
        .filter_map(|user| state.registry().get(&user.id).ok())
        .map(|entry| Arc::downgrade(&entry))
        .collect();
    let final_kib = all
        .iter()
        .flat_map(|user| &user.seen)
        .map(|s| s.final_bytes)
        .max()
        .unwrap_or(0) as f64
        / 1024.0;
    drop(all);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let dropped = state.registry().purge();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alive = entries.iter().filter(|e| e.upgrade().is_some()).count();
    assert_eq!(alive, 0, "scans still referenced after they were dropped");
    let soon = rss_mb();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let settled = rss_mb();
    println!(
        "resident memory 0.5 s after the drop: {soon:.0} MB; 12.5 s after: {settled:.0} MB ({})",
        allocator_mb()
    );
    println!(
        "Phase 1, {label}: 50 concurrent scans of ../shared/data/sp500 (506 symbols each), 200 subscribers (100 WebSocket, 100 SSE), {elapsed:.2} s in all\n"
    );
    println!("| figure | value |\n| --- | ---: |");
    println!("| messages delivered | {messages} |");
    println!("| messages lost | {lost} |");
    println!("| messages duplicated | {duplicated} |");
    println!("| the largest final message | {final_kib:.0} KiB |");
    println!("| symbol analyses shared / computed | {shared} / {computed} |");
    p50_p99_row("delivery latency", &mut latencies, 2);
    // Whether the slowest messages are spread over the subscribers or a few connections' stalls.
    println!(
        "| messages later than {LATE_SECONDS} s: how many; on how many WebSocket / SSE subscribers | {late_messages}; {late_websockets} / {late_sse} |"
    );
    let into_round = |at: Instant| at.duration_since(started).as_secs_f64();
    println!(
        "| late messages: results / progress / final; on how many scans; arrived from / to, seconds into the round | {} / {} / {}; {late_scans}; {} |",
        late_kinds[0],
        late_kinds[1],
        late_kinds[2],
        late_window.map_or("-".to_owned(), |(a, b)| format!(
            "{:.2} / {:.2}",
            into_round(a),
            into_round(b)
        ))
    );
    let longest = round_stalls
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or("-".to_owned(), |(at, slept)| {
            format!("{:.0} ms at {:.2} s", slept * 1e3, into_round(*at))
        });
    println!(
        "| a thread that only sleeps 1 ms, woken more than {:.0} ms late: how many; longest | {}; {longest} |",
        STALL_SECONDS * 1e3,
        round_stalls.len()
    );
    println!("| CPU stolen by the hypervisor during the round | {steal:.2} s |");
    println!(
        "| TCP during the round: retransmission timeouts / tail-loss probes / zero-window probes / zero windows advertised / listen overflows | {} / {} / {} / {} / {} |",
        tcp[0], tcp[1], tcp[2], tcp[3], tcp[4]
    );
    p50_p99_row("POST /scan/start to first result", &mut first, 1);
    p50_p99_row(
        "POST /scan/start to first result, less the client's own wait for a core",
        &mut first_own_core,
        1,
    );
    p50_p99_row("POST /scan/start answered (scan id)", &mut answered, 1);
    p50_p99_row(
        "POST /scan/start reached the server's handler",
        &mut reached,
        1,
    );
    p50_p99_row(
        "POST /scan/start to its first subscriber connected",
        &mut connected,
        1,
    );
    p50_p99_row("a scan's set-up (universe, priority order)", &mut setup, 1);
    p50_p99_row(
        "scan start to first result in the engine",
        &mut engine_first,
        1,
    );
    println!(
        "| CPU: server runtime / clients / scans and the rest, of {:.2} s on {} cores | {server_cpu:.2} s / {clients_cpu:.2} s / {:.2} s |",
        elapsed * cores(),
        cores(),
        (process_cpu - server_cpu - clients_cpu).max(0.0),
    );
    // Ready to run but not running: the competition for the two cores, which clients on other
    // machines would not add to.
    println!(
        "| time ready but waiting for a core: server runtime / clients | {:.2} s / {:.2} s |",
        server.waited, clients.waited,
    );
    let (burst_server, burst_clients, burst_scans) = burst.join().expect("burst sampler");
    println!(
        "| first 100 ms, ran / waited for a core: server runtime; clients; scans | {:.0} / {:.0} ms; {:.0} / {:.0} ms; {:.0} / {:.0} ms |",
        burst_server.ran * 1e3,
        burst_server.waited * 1e3,
        burst_clients.ran * 1e3,
        burst_clients.waited * 1e3,
        burst_scans.ran * 1e3,
        burst_scans.waited * 1e3,
    );
    println!("| scans ended, after the last subscriber's last message | {ended_ms:.0} ms |");
    println!(
        "| resident memory: baseline / peak / settled after {dropped} scans dropped | {baseline:.0} MB / {peak_mb:.0} MB / {settled:.0} MB |"
    );
}
