//! `technic backtest`: flags → a panel built by the engine (every symbol as `scan --as-of` would
//! see it at every date) → the statistics → table, JSON or CSV, and optionally an HTML report.
//!
//! The flags become a `BacktestRequest` (the scan's data flags through `ScanRequest::validate`);
//! refusals name the flag.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use technic_backtest::StatsOptions;
use technic_engine::backtest::{self, BacktestError, BacktestRequest, Every, PanelStage};
use technic_engine::{MAX_LOOKBACK_DAYS, MIN_BARS, ScanRequest};

use crate::output::Format;
use crate::{DataArgs, RatingArg, open_source};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EveryArg {
    /// Every trading day in the data.
    Day,
    /// The last trading day of each week.
    Week,
    /// The last trading day of each month.
    Month,
}

#[derive(Debug, clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Only these GICS sectors, comma-separated, e.g. "Energy,Health Care".
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    sectors: Option<Vec<String>>,
    /// Only these symbols, comma-separated, e.g. AAPL,MSFT.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    symbols: Option<Vec<String>>,
    /// Leave out a symbol on a date its close is below P.
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    min_price: Option<f64>,
    /// Leave out a symbol on a date its 20-day average volume is below V.
    #[arg(long, value_name = "V", allow_negative_numbers = true)]
    min_avg_volume: Option<f64>,
    /// Which rating: standard (fitted on 2001–2010, judged on 2011–2021) or classic (the one
    /// technic gave before; docs/rating.md).
    #[arg(long, value_enum, default_value_t = RatingArg::Standard)]
    rating: RatingArg,
    /// Trading days of history each evaluation reads [default: 400, at least 200].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    lookback_days: Option<i64>,
    /// First evaluation date (YYYY-MM-DD) [default: the data's first date].
    #[arg(long, value_name = "DATE")]
    from: Option<NaiveDate>,
    /// Last evaluation date (YYYY-MM-DD) [default: the data's last date].
    #[arg(long, value_name = "DATE")]
    to: Option<NaiveDate>,
    /// Which trading days are evaluation dates.
    #[arg(long, value_enum, default_value_t = EveryArg::Month)]
    every: EveryArg,
    /// Forward-return horizons in trading days, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "1,5,21,63",
        allow_negative_numbers = true
    )]
    horizons: Vec<i64>,
    /// A factor to judge (repeatable): tech_rating, alpha_score, trend_score, momentum_score,
    /// volume_score, volatility_score, signal, an indicator column such as rsi_14 or roc_63, or
    /// an expression such as 'return_126 / atr_pct' (README, "Screens") [default: all but
    /// indicator columns and expressions].
    #[arg(long = "factor", value_name = "NAME|EXPR", allow_hyphen_values = true)]
    factors: Vec<String>,
    /// Leave out a symbol on a date EXPR is false for it, e.g. 'close > sma_200' (README,
    /// "Screens"); evaluated on the date's window, with the date's placed rating.
    #[arg(long = "where", value_name = "EXPR")]
    filter: Option<String>,
    /// Restrict the universe by the saved screen NAME's filter (and --where, if given, too).
    #[arg(long, value_name = "NAME")]
    screen: Option<String>,
    /// Quantile buckets per date.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10,
        allow_negative_numbers = true
    )]
    quantiles: i64,
    /// Start a sub-period at DATE for the IC by sub-period (repeatable).
    #[arg(long = "split", value_name = "DATE")]
    splits: Vec<NaiveDate>,
    /// Trading cost per side, in basis points.
    #[arg(
        long,
        value_name = "BPS",
        default_value_t = 10.0,
        allow_negative_numbers = true
    )]
    cost_bps: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// No progress bar on stderr.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    home: crate::HomeArgs,
}

/// The flag a backtest request field comes from.
fn flag_of(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

fn request(args: &BacktestArgs) -> anyhow::Result<BacktestRequest> {
    let lookback_days = args
        .lookback_days
        .map(|v| {
            usize::try_from(v).map_err(|_| {
                anyhow::anyhow!(
                    "--lookback-days: must be between {MIN_BARS} and {MAX_LOOKBACK_DAYS} trading days, got {v}"
                )
            })
        })
        .transpose()?;
    let scan = ScanRequest {
        sectors: args.sectors.clone(),
        symbols: args.symbols.clone(),
        min_price: args.min_price,
        min_avg_volume: args.min_avg_volume,
        lookback_days,
        rating: Some(args.rating.as_str().to_owned()),
        filter: args.filter.clone(),
        screen: args.screen.clone(),
        ..ScanRequest::default()
    }
    .validate_with(&crate::screens_cmd::library_for(
        &args.home,
        args.screen.is_some(),
        args.filter.as_deref(),
    )?)
    .map_err(|e| anyhow::anyhow!("{}: {}", flag_of(e.field), e.message))?;
    let horizons = args
        .horizons
        .iter()
        .map(|&h| match usize::try_from(h) {
            Ok(h) if h >= 1 => Ok(h),
            _ => Err(anyhow::anyhow!(
                "--horizons: a horizon is a number of trading days, at least 1 (got {h})"
            )),
        })
        .collect::<anyhow::Result<Vec<usize>>>()?;
    Ok(BacktestRequest {
        scan,
        from: args.from,
        to: args.to,
        every: match args.every {
            EveryArg::Day => Every::Day,
            EveryArg::Week => Every::Week,
            EveryArg::Month => Every::Month,
        },
        horizons,
        factors: args.factors.clone(),
    })
}

fn stats_options(args: &BacktestArgs) -> anyhow::Result<StatsOptions> {
    let quantiles = usize::try_from(args.quantiles)
        .ok()
        .filter(|q| *q >= 2)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--quantiles: must be a whole number >= 2, got {}",
                args.quantiles
            )
        })?;
    if !args.cost_bps.is_finite() || args.cost_bps < 0.0 {
        anyhow::bail!("--cost-bps: must be a number >= 0, got {}", args.cost_bps);
    }
    Ok(StatsOptions {
        quantiles,
        cost_bps: args.cost_bps,
        splits: args.splits.clone(),
    })
}

fn progress_bar(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr_with_hz(20));
    let style =
        ProgressStyle::with_template("{spinner:.green} [{bar:30.cyan/blue}] {pos:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

pub fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let request = request(&args)?;
    let options = stats_options(&args)?;
    let source = open_source(&args.data, &args.home, args.symbols.as_deref())?;
    let source = crate::with_cache(source, &args.data, args.symbols.as_deref(), false)?;

    let interactive = std::io::stderr().is_terminal() && !args.quiet;
    let bar = progress_bar(interactive);
    // Loading is the first half of the bar, evaluating the second; statistics are quick.
    let progress = |stage: PanelStage, done: usize, total: usize| {
        let (offset, name) = match stage {
            PanelStage::Loading => (0, "loading"),
            PanelStage::Evaluating => (50, "evaluating"),
        };
        bar.set_position(offset + (done * 50 / total.max(1)) as u64);
        bar.set_message(format!("{name}: {done}/{total} symbols"));
    };
    let panel = backtest::build_panel(&*source, &request, &progress).map_err(|e| match e {
        BacktestError::Invalid { field, message } => {
            anyhow::anyhow!("{}: {message}", flag_of(field))
        }
        other => anyhow::Error::new(other),
    })?;
    bar.set_message("statistics");
    let report = technic_engine::backtest::analyse(&panel, &options)
        .map_err(|e| anyhow::anyhow!("the statistics could not be computed: {e}"))?;
    bar.finish_and_clear();

    // The HTML first: written or refused before anything is printed, so a bad path is not found
    // only after the table has scrolled by.
    if let Some(path) = &args.report {
        std::fs::write(path, technic_backtest::render_html(&report))
            .with_context(|| format!("--report {}: cannot write", path.display()))?;
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report).context("writing JSON")?;
            writeln!(out)?;
        }
        Format::Csv => out.write_all(technic_backtest::render_csv(&report).as_bytes())?,
        Format::Table => out.write_all(technic_backtest::render_table(&report).as_bytes())?,
    }
    out.flush()?;
    Ok(())
}
