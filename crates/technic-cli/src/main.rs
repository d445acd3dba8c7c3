//! The `technic` binary: parses flags, opens a market-data source, and hands the work to the
//! library crates. It holds no scanning logic of its own.
//!
//! Every command but `serve` installs a log subscriber on stderr at `warn` (`RUST_LOG` overrides),
//! so library warnings (a Redis outage) reach the user. Output goes through writes that return
//! errors, never `println!`: a stdout closed by its reader (`| head`) ends the command with exit 0
//! and no message (`main` recognises the broken pipe, from io and from serde_json). Sources:
//! `--data DIR`, `--source polygon` (through the bar store), `--source store` (offline) or the demo
//! market, put behind a cache where configured ([`open_source`]; a new source gets a
//! [`SourceKind`]).

mod backtest_cmd;
/// `println!` that returns the error instead of panicking: a reader that stops early (`| head`)
/// closes stdout, which is a normal end (`main` exits 0 quietly), not a crash.
macro_rules! outln {
    ($($arg:tt)*) => {
        std::io::Write::write_fmt(&mut std::io::stdout(), format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod data_cmd;
#[cfg(test)]
mod env_file;
mod indicators_cmd;
mod output;
mod scan_cmd;
mod screens_cmd;
mod serve_cmd;
mod worker_cmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use technic_data::MarketData;

/// jemalloc, for the server: with its background threads it hands memory back to the system after
/// a burst of scans is dropped. The system allocator kept it (docs/benchmarks.md: 373 MB resident
/// after fifty scans were dropped, against 81 MB with jemalloc, from a 20 MB baseline).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use technic_data::demo::DemoMarket;
use technic_data::files::FileSource;

#[derive(Debug, Parser)]
#[command(
    name = "technic",
    version,
    about = "A fast, TA-Lib-exact stock-market technical scanner"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan a universe and print the ranked results.
    Scan(scan_cmd::ScanArgs),
    /// Print a symbol's indicator series as CSV.
    Indicators(indicators_cmd::IndicatorsArgs),
    /// Serve the HTTP API: REST, WebSocket and SSE scans, metrics.
    Serve(serve_cmd::ServeArgs),
    /// Evaluate distributed scans' batches from Redis (`serve --distributed` queues them).
    Worker(worker_cmd::WorkerArgs),
    /// The local bar store: import a data directory, sync from Polygon.io, status.
    Data(data_cmd::DataCmdArgs),
    /// What the scanner's signals were worth: every date evaluated as `scan --as-of` would, then
    /// rank IC, quantiles, signal groups and a long portfolio.
    Backtest(backtest_cmd::BacktestArgs),
    /// Saved screens: add, list, show, rm (README, "Screens").
    Screens(screens_cmd::ScreensArgs),
}

/// `--source polygon` (through the bar store in the home directory), `--source store` (the store
/// alone, offline), the data directory given by `--data`, or the built-in demo market.
/// `symbols` restricts a Polygon.io universe, so a scan of a few symbols does not page through
/// the list of every US stock first.
fn open_source(
    data: &DataArgs,
    home: &HomeArgs,
    symbols: Option<&[String]>,
) -> anyhow::Result<Arc<dyn MarketData>> {
    Ok(match (data.source, data.data.as_deref()) {
        (Some(SourceKind::Polygon), _) => {
            let mut config =
                technic_polygon::PolygonConfig::from_vars(|name| std::env::var(name).ok())
                    .context("--source polygon")?;
            config.symbols = symbols.map(<[String]>::to_vec);
            let feed = technic_polygon::PolygonSource::new(config).context("--source polygon")?;
            let store = data_cmd::open_bar_store(home).context("--source polygon")?;
            Arc::new(technic_barstore::StoredSource::new(
                Arc::new(store),
                feed,
                symbols.map(<[String]>::to_vec),
            ))
        }
        (Some(SourceKind::Store), _) => {
            let store = data_cmd::open_bar_store(home).context("--source store")?;
            if store.symbols().is_empty() {
                anyhow::bail!(
                    "--source store: the bar store in {} is empty; fill it with `technic data import DIR` or `technic data sync --symbols …`",
                    store.dir().display()
                );
            }
            Arc::new(technic_barstore::OfflineStore::new(store).context("--source store")?)
        }
        (_, Some(dir)) => {
            // Absolute, so that the cache namespace (derived from the identity) of `--data
            // data` run from two directories is not one.
            let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
            Arc::new(
                FileSource::open(&absolute).with_context(|| format!("--data {}", dir.display()))?,
            )
        }
        (_, None) => Arc::new(DemoMarket::new()),
    })
}

/// `--rating` of `scan` and `backtest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum RatingArg {
    /// The composite's percentile in the scanned cross-section (the default).
    Standard,
    /// The rating technic gave before the backtest showed it ranks backwards.
    Classic,
}

impl RatingArg {
    fn as_str(self) -> &'static str {
        match self {
            RatingArg::Standard => "standard",
            RatingArg::Classic => "classic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SourceKind {
    /// The built-in synthetic market.
    Demo,
    /// Polygon.io REST: needs POLYGON_API_KEY; POLYGON_BASE_URL, POLYGON_RATE_LIMIT (default
    /// 5/min, the free tier), POLYGON_MAX_CONCURRENCY and POLYGON_MAX_ATTEMPTS are optional.
    /// What is fetched is kept in the bar store under --home; later scans fetch only newer bars.
    Polygon,
    /// The bar store under --home alone, without the network.
    Store,
}

fn data_flag_help() -> &'static str {
    "Data directory with bars/SYMBOL.csv[.gz] and optional universe.csv [default: the built-in synthetic demo market]"
}

/// Where technic keeps what it learns and its bar store.
#[derive(Debug, Clone, clap::Args)]
struct HomeArgs {
    /// technic's home directory [default: the per-user data directory, e.g. ~/.local/share/technic]
    #[arg(long, value_name = "DIR", env = "TECHNIC_HOME")]
    home: Option<PathBuf>,
    /// PostgreSQL URL for the learning store; without it an SQLite file in the home directory is used.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

fn home_dir(args: &HomeArgs) -> anyhow::Result<PathBuf> {
    match &args.home {
        Some(home) => Ok(home.clone()),
        None => dirs::data_dir().map(|d| d.join("technic")).context(
            "no per-user data directory is known here; give --home DIR or set TECHNIC_HOME",
        ),
    }
}

/// The learning store: PostgreSQL when a URL is configured, else `technic.db` in the home directory.
pub(crate) async fn open_store(args: &HomeArgs) -> anyhow::Result<technic_learning::LearningStore> {
    Ok(match &args.database_url {
        Some(url) => technic_learning::LearningStore::open(url)
            .await
            .context("--database-url / DATABASE_URL")?,
        None => technic_learning::LearningStore::open_in(&home_dir(args)?)
            .await
            .context("--home / TECHNIC_HOME")?,
    })
}

#[derive(Debug, Clone, clap::Args)]
struct DataArgs {
    #[arg(long, value_name = "DIR", help = data_flag_help(), conflicts_with = "source")]
    data: Option<PathBuf>,
    /// Where bars come from when not a --data directory [default: demo]
    #[arg(long, value_enum)]
    source: Option<SourceKind>,
    /// Redis URL for a cache of bars shared by every technic process (redis://host:6379/0);
    /// without it `serve` caches in-process and `scan` does not cache.
    #[arg(long, value_name = "URL", env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
}

/// How long cached bars are reused: sources change at most once a session, and a data directory
/// edited by hand is seen again within this.
const BARS_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The in-process cache's bound: a 500-symbol universe's scan windows take about 10 MB.
const MEMORY_CACHE_BYTES: u64 = 256 << 20;

/// Puts `source` behind Redis when a URL is configured, else behind an in-process cache when
/// `in_process` (a server scans the same data again and again; a one-off scan would only pay).
fn with_cache(
    source: Arc<dyn MarketData>,
    data: &DataArgs,
    symbols: Option<&[String]>,
    in_process: bool,
) -> anyhow::Result<Arc<dyn MarketData>> {
    let url = data.redis_url.as_deref().filter(|u| !u.trim().is_empty());
    if url.is_none() && !in_process {
        return Ok(source);
    }
    let cache =
        technic_cache::from_url(url, MEMORY_CACHE_BYTES).context("--redis-url / REDIS_URL")?;
    if let Some(url) = url {
        tracing::info!(redis = %technic_cache::redact_url(url), "bars cached in Redis");
    }
    // A Polygon universe restricted to some symbols is another universe: its listing must not
    // answer for the whole market's (bars are per symbol, so they are shared either way).
    let restriction = match (data.source, symbols) {
        (Some(SourceKind::Polygon), Some(symbols)) => symbols.join(","),
        _ => String::new(),
    };
    let namespace = cache_namespace(&source.info(), &source.identity(), &restriction);
    Ok(Arc::new(technic_cache::CachedSource::new(
        source,
        cache,
        namespace,
        BARS_CACHE_TTL,
    )))
}

/// Keys of different sources must not meet in a shared Redis: the source's kind and a stable
/// hash (FNV-1a, the same in every build, unlike std's hasher) of its identity, which names
/// its directory (made absolute when opened) or URL, and of the universe's restriction.
fn cache_namespace(info: &technic_data::SourceInfo, identity: &str, restriction: &str) -> String {
    let hash = identity
        .bytes()
        .chain([0])
        .chain(restriction.bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{}:{hash:016x}", info.kind)
}

/// Warnings (a Redis cache that stopped answering, a store that could not be read) and errors go
/// to stderr, out of the data on stdout; `RUST_LOG` asks for more (or less). `serve` sets up its
/// own, at `info`, with JSON as an option.
fn init_logging() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Whether `error` comes from writing to a stdout its reader has closed (`technic … | head`).
fn is_closed_output(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        init_logging();
    }
    let outcome = match cli.command {
        Command::Scan(args) => scan_cmd::run(args),
        Command::Indicators(args) => indicators_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Worker(args) => worker_cmd::run(args),
        Command::Data(args) => data_cmd::run(args),
        Command::Backtest(args) => backtest_cmd::run(args),
        Command::Screens(args) => screens_cmd::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`technic indicators AAPL | head`) is not a failure.
        Err(e) if is_closed_output(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
