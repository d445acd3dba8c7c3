//! `technic worker`: evaluates distributed scans' batches from Redis until Ctrl-C (a SIGTERM or
//! SIGKILL ends it at once: its batch in hand is claimed by another worker).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use technic_engine::Scanner;
use technic_engine::distributed::{
    Cluster, ClusterOptions, WorkerOptions, WorkerStats, run_worker, work_backlog,
};

use crate::{DataArgs, HomeArgs, open_source};

/// How long a replica's scan waits for a Redis that went away before it ends with an error.
const SCAN_OUTAGE_LIMIT: Duration = Duration::from_secs(30);

/// The cluster at `redis_url`, connected once so a wrong URL stops the process now.
fn connect(
    redis_url: Option<&str>,
    flag: &str,
    options: ClusterOptions,
) -> anyhow::Result<Arc<Cluster>> {
    let url = redis_url
        .filter(|u| !u.trim().is_empty())
        .with_context(|| format!("{flag} needs --redis-url or REDIS_URL"))?;
    Ok(Arc::new(
        Cluster::connect(url, options).context("--redis-url / REDIS_URL")?,
    ))
}

/// `serve --distributed`'s cluster: finished scans kept in Redis for `retention`
/// (`SCAN_RETENTION_SECONDS`, as the server reads it); a scan whose planner is silent for
/// `takeover` finished by another replica.
pub fn replica_cluster(
    redis_url: Option<&str>,
    retention: Duration,
    takeover: Duration,
) -> anyhow::Result<Arc<Cluster>> {
    let options = ClusterOptions {
        retention,
        visibility: takeover,
        outage_limit: SCAN_OUTAGE_LIMIT,
        ..ClusterOptions::default()
    };
    connect(redis_url, "--distributed / DISTRIBUTED", options)
}

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    home: HomeArgs,
    /// A batch pending this long with a worker that stopped answering is taken by another.
    #[arg(
        long,
        env = "WORKER_VISIBILITY_SECONDS",
        default_value_t = 5.0,
        value_name = "SECONDS"
    )]
    worker_visibility_seconds: f64,
    /// Deliveries of one batch before its symbols become error diagnostics.
    #[arg(
        long,
        env = "WORKER_MAX_DELIVERIES",
        default_value_t = 3,
        value_name = "N"
    )]
    worker_max_deliveries: usize,
    /// Batches evaluated at once [default: the number of cores]
    #[arg(long, env = "MAX_WORKERS", value_name = "N")]
    max_workers: Option<usize>,
    /// How long a finished scan's keys stay in Redis, as `serve` has it (bounds what an outcome
    /// written after its scan ended may keep).
    #[arg(
        long,
        env = "SCAN_RETENTION_SECONDS",
        default_value_t = 3600.0,
        value_name = "SECONDS"
    )]
    scan_retention_seconds: f64,
    /// Port of the worker's /health, /ready and /metrics (as `serve`'s). A port another process
    /// holds (several workers on one machine) is logged and the worker runs without them.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    port: u16,
    /// Address of the worker's /health, /ready and /metrics (0.0.0.0 in a container).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
}

pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    if !(args.scan_retention_seconds.is_finite() && args.scan_retention_seconds >= 0.0) {
        anyhow::bail!(
            "--scan-retention-seconds / SCAN_RETENTION_SECONDS must be a number of seconds >= 0, got {}",
            args.scan_retention_seconds
        );
    }
    let retention = Duration::from_secs_f64(args.scan_retention_seconds.min(1e9));
    if !(args.worker_visibility_seconds.is_finite() && args.worker_visibility_seconds > 0.0) {
        anyhow::bail!(
            "--worker-visibility-seconds / WORKER_VISIBILITY_SECONDS must be a number of seconds > 0, got {}",
            args.worker_visibility_seconds
        );
    }
    if args.worker_max_deliveries == 0 {
        anyhow::bail!("--worker-max-deliveries / WORKER_MAX_DELIVERIES must be at least 1");
    }
    let options = ClusterOptions {
        visibility: Duration::from_secs_f64(args.worker_visibility_seconds.min(86_400.0)),
        max_deliveries: args.worker_max_deliveries,
        retention,
        // A worker has no client to answer: it waits for Redis however long it is away.
        outage_limit: Duration::from_secs(365 * 86_400),
    };
    let cluster = connect(args.data.redis_url.as_deref(), "technic worker", options)?;
    let source = open_source(&args.data, &args.home, None)?;
    let source = crate::with_cache(source, &args.data, None, true)?;
    let threads = match args.max_workers {
        Some(0) => anyhow::bail!("--max-workers / MAX_WORKERS must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&shutdown);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "worker".to_owned(), |h| h.trim().to_owned());
    let options = WorkerOptions {
        threads,
        name: format!("{host}-{}", std::process::id()),
        stats: Arc::new(WorkerStats::default()),
    };
    status::start(
        SocketAddr::new(args.host, args.port),
        Arc::clone(&cluster),
        Arc::clone(&options.stats),
    );
    eprintln!(
        "technic worker {} ({threads} threads, data: {})",
        options.name,
        source.info().description
    );
    let scanner = Arc::new(Scanner::new(source).with_source_errors_logged());
    run_worker(scanner, cluster, &options, shutdown).map_err(|e| anyhow::anyhow!(e))
}

/// The worker's `/health`, `/ready` and `/metrics`, on a thread of their own: the probes and the
/// metrics of deploy/ (k8s, compose, alert rules, dashboard) read them.
mod status {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use axum::Router;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tokio::sync::Mutex;

    use super::{Cluster, WorkerStats, work_backlog};

    /// A backlog read older than this makes the worker not ready (Redis is not answering).
    const FRESH: Duration = Duration::from_secs(15);

    #[derive(Clone)]
    struct Status {
        cluster: Arc<Cluster>,
        stats: Arc<WorkerStats>,
        /// The last backlog read and when it was made.
        backlog: Arc<Mutex<Option<(u64, Instant)>>>,
    }

    pub fn start(address: SocketAddr, cluster: Arc<Cluster>, stats: Arc<WorkerStats>) {
        let status = Status {
            cluster,
            stats,
            backlog: Arc::new(Mutex::new(None)),
        };
        let spawned = std::thread::Builder::new()
            .name("worker status".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => return tracing::warn!("worker status endpoint not started: {e}"),
                };
                runtime.block_on(serve(address, status));
            });
        if let Err(e) = spawned {
            tracing::warn!("worker status endpoint not started: {e}");
        }
    }

    async fn serve(address: SocketAddr, status: Status) {
        let listener = match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => listener,
            Err(e) => {
                return tracing::warn!(
                    "worker /health, /ready and /metrics not served: listening on {address} (--port / PORT): {e}"
                );
            }
        };
        // The bound address: `--port 0` picks a free port and says which.
        let address = listener.local_addr().unwrap_or(address);
        tracing::info!("worker /health, /ready and /metrics on http://{address}");
        let app = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/ready", get(ready))
            .route("/metrics", get(metrics))
            .with_state(status);
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!("worker status endpoint stopped: {e}");
        }
    }

    /// Reads the backlog from Redis (off the runtime's thread; at most one read at a time).
    async fn backlog(status: &Status) -> Option<u64> {
        let mut last = status.backlog.lock().await;
        if let Some((value, at)) = *last
            && at.elapsed() < Duration::from_secs(1)
        {
            return Some(value);
        }
        let cluster = Arc::clone(&status.cluster);
        match tokio::task::spawn_blocking(move || work_backlog(&cluster)).await {
            Ok(Ok(value)) => {
                *last = Some((value, Instant::now()));
                Some(value)
            }
            Ok(Err(e)) => {
                tracing::warn!("worker backlog: {e}");
                last.filter(|(_, at)| at.elapsed() < FRESH).map(|(v, _)| v)
            }
            Err(_) => None,
        }
    }

    async fn ready(State(status): State<Status>) -> (StatusCode, &'static str) {
        match backlog(&status).await {
            Some(_) => (StatusCode::OK, "ready"),
            None => (StatusCode::SERVICE_UNAVAILABLE, "Redis is not answering"),
        }
    }

    /// Three values read at scrape time, in Prometheus' text format (a registry would only copy
    /// them), and the process's memory, CPU and memory limit as a server shows them.
    async fn metrics(State(status): State<Status>) -> String {
        let mut text = String::new();
        if let Some(backlog) = backlog(&status).await {
            text.push_str(&format!(
                "# HELP technic_worker_backlog Symbols queued for the worker group and not yet done.\n\
                 # TYPE technic_worker_backlog gauge\ntechnic_worker_backlog {backlog}\n"
            ));
        }
        let in_flight = status.stats.in_flight_batches.load(Ordering::Relaxed);
        let processed = status.stats.symbols_processed.load(Ordering::Relaxed);
        text.push_str(&format!(
            "# HELP technic_worker_in_flight_batches Batches this worker is evaluating.\n\
             # TYPE technic_worker_in_flight_batches gauge\ntechnic_worker_in_flight_batches {in_flight}\n\
             # HELP technic_worker_symbols_processed_total Symbols this worker evaluated and wrote back.\n\
             # TYPE technic_worker_symbols_processed_total counter\ntechnic_worker_symbols_processed_total {processed}\n"
        ));
        text.push_str(&technic_server::process_metrics());
        text
    }
}
