//! The `technic` binary: parses flags, opens a market-data source, and hands the work to the
//! library crates. It holds no scanning logic of its own.

mod indicators_cmd;
mod output;
mod scan_cmd;
mod serve_cmd;

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
}

/// `--source polygon`, the data directory given by `--data`, or the built-in demo market.
/// `symbols` restricts a Polygon.io universe, so a scan of a few symbols does not page through
/// the list of every US stock first.
fn open_source(data: &DataArgs, symbols: Option<&[String]>) -> anyhow::Result<Arc<dyn MarketData>> {
    Ok(match (data.source, data.data.as_deref()) {
        (Some(SourceKind::Polygon), _) => {
            let mut config =
                technic_polygon::PolygonConfig::from_vars(|name| std::env::var(name).ok())
                    .context("--source polygon")?;
            config.symbols = symbols.map(<[String]>::to_vec);
            Arc::new(technic_polygon::PolygonSource::new(config).context("--source polygon")?)
        }
        (_, Some(dir)) => {
            Arc::new(FileSource::open(dir).with_context(|| format!("--data {}", dir.display()))?)
        }
        (_, None) => Arc::new(DemoMarket::new()),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SourceKind {
    /// The built-in synthetic market.
    Demo,
    /// Polygon.io REST: needs POLYGON_API_KEY; POLYGON_BASE_URL, POLYGON_RATE_LIMIT (default
    /// 5/min, the free tier), POLYGON_MAX_CONCURRENCY and POLYGON_MAX_ATTEMPTS are optional.
    Polygon,
}

fn data_flag_help() -> &'static str {
    "Data directory with bars/SYMBOL.csv[.gz] and optional universe.csv [default: the built-in synthetic demo market]"
}

/// Where technic keeps what it learns (and, later, its bar store).
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
pub(crate) async fn open_store(args: &HomeArgs) -> anyhow::Result<technic_store::LearningStore> {
    Ok(match &args.database_url {
        Some(url) => technic_store::LearningStore::open(url)
            .await
            .context("--database-url / DATABASE_URL")?,
        None => technic_store::LearningStore::open_in(&home_dir(args)?)
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Scan(args) => scan_cmd::run(args),
        Command::Indicators(args) => indicators_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`technic indicators AAPL | head`) is not a failure.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
