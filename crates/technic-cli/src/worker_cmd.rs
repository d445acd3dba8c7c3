//! `technic worker`: evaluates distributed scans' batches from Redis until Ctrl-C (a SIGTERM or
//! SIGKILL ends it at once: its batch in hand is claimed by another worker).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use technic_engine::Scanner;
use technic_engine::distributed::{Cluster, ClusterOptions, WorkerOptions, run_worker};

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
/// (`SCAN_RETENTION_SECONDS`, as the server reads it).
pub fn replica_cluster(
    redis_url: Option<&str>,
    retention: Duration,
) -> anyhow::Result<Arc<Cluster>> {
    let options = ClusterOptions {
        retention,
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
    };
    eprintln!(
        "technic worker {} ({threads} threads, data: {})",
        options.name,
        source.info().description
    );
    let scanner = Arc::new(Scanner::new(source).with_source_errors_logged());
    run_worker(scanner, cluster, &options, shutdown).map_err(|e| anyhow::anyhow!(e))
}
