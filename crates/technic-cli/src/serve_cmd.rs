//! `technic serve`: the HTTP API on a port, until Ctrl-C or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use technic_engine::Scanner;
use technic_server::{AppState, Config};

use crate::{DataArgs, HomeArgs, open_source, open_store};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 8000)]
    port: u16,
    /// Address to listen on (0.0.0.0 for every interface, as a container needs).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Keep bars in a cache (in process, or in Redis with REDIS_URL); false reads the source every time.
    #[arg(long, env = "USE_CACHE", default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    use_cache: bool,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    home: HomeArgs,
    /// Log one JSON object per line (for log collectors) instead of text.
    #[arg(long, env = "LOG_JSON")]
    log_json: bool,
    /// Scans run on `technic worker`s through Redis (needs --redis-url), and this replica
    /// serves every replica's scans.
    #[arg(long, env = "DISTRIBUTED")]
    distributed: bool,
    /// Distributed: a scan whose planning replica has not been heard of for this long is
    /// finished by another replica.
    #[arg(
        long,
        env = "SCAN_TAKEOVER_SECONDS",
        default_value_t = 5.0,
        value_name = "SECONDS"
    )]
    takeover_seconds: f64,
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `info`); colours only on a terminal.
fn init_logging(json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// Analyses kept for concurrent and repeated scans of the same bars: about 1 MB per 500 symbols
/// and set of scan settings (docs/benchmarks.md).
const SHARED_ANALYSES_BYTES: u64 = 64 << 20;

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_json);
    let config = Config::from_env()?;
    rayon::ThreadPoolBuilder::new()
        .num_threads(config.scan_workers())
        .build_global()
        .context("MAX_WORKERS: starting the scan threads")?;
    let source = open_source(&args.data, &args.home, None)?;
    let source = if args.use_cache {
        crate::with_cache(source, &args.data, None, true)?
    } else {
        source
    };
    let info = source.info();
    let mut scanner = Scanner::new(source)
        .with_low_priority_after_first()
        .with_shared_analyses(SHARED_ANALYSES_BYTES);
    if args.distributed {
        if !(args.takeover_seconds.is_finite() && args.takeover_seconds > 0.0) {
            anyhow::bail!(
                "--takeover-seconds / SCAN_TAKEOVER_SECONDS must be a number of seconds > 0, got {}",
                args.takeover_seconds
            );
        }
        let cluster = crate::worker_cmd::replica_cluster(
            args.data.redis_url.as_deref(),
            config.retention,
            Duration::from_secs_f64(args.takeover_seconds.min(86_400.0)),
        )?;
        scanner = scanner.with_cluster(cluster);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let store = open_store(&args.home).await?;
        let address = SocketAddr::new(args.host, args.port);
        let listener = technic_server::bind(address).with_context(|| format!("listening on {address} (--port / PORT)"))?;
        // The bound address, not the asked one: `--port 0` picks a free port and says which.
        let address = listener.local_addr().context("reading the bound address")?;
        let state = AppState::new(scanner, Some(store.clone()), config, tokio::runtime::Handle::current());
        tracing::info!(%address, data = %info.description, store = %store.location(), "technic serving");
        eprintln!("technic serving on http://{address} (data: {}; learning store: {})", info.description, store.location());
        technic_server::serve(listener, state, shutdown_signal()).await.context("serving")
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
