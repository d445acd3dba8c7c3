//! `technic scan`: flags → a validated scan request → the engine → table, JSON or CSV.

use std::io::{BufWriter, IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use technic_engine::{
    MAX_LOOKBACK_DAYS, MIN_BARS, ProgressSnapshot, ScanError, ScanRequest, Scanner,
};

use crate::output::{self, Format};
use crate::{DataArgs, open_source};

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Scan at most N symbols.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_symbols: Option<i64>,
    /// Keep only results rated at least R (0-100).
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    min_tech_rating: Option<f64>,
    /// Only these GICS sectors, comma-separated, e.g. "Energy,Health Care".
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    sectors: Option<Vec<String>>,
    /// Only these symbols, comma-separated, e.g. AAPL,MSFT.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    symbols: Option<Vec<String>>,
    /// Skip symbols whose latest close is below P.
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    min_price: Option<f64>,
    /// Skip symbols whose 20-day average volume is below V.
    #[arg(long, value_name = "V", allow_negative_numbers = true)]
    min_avg_volume: Option<f64>,
    /// Trading days of history per symbol [default: 400, at least 200].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    lookback_days: Option<i64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Table only: show the best N results (0 = all).
    #[arg(long, value_name = "N", default_value_t = 25)]
    top: usize,
    /// No progress bar and no summary on stderr.
    #[arg(long, short)]
    quiet: bool,
}

/// The request field a flag fills, so engine errors can be reported against the flag typed.
fn flag_of(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

/// Counts arrive as signed integers so that `--max-symbols -3` is reported by us, naming the flag
/// and what it accepts, instead of as a parse failure.
fn count(flag: &str, value: Option<i64>, accepts: &str) -> anyhow::Result<Option<usize>> {
    value
        .map(|v| {
            usize::try_from(v).map_err(|_| anyhow::anyhow!("{flag}: must be {accepts}, got {v}"))
        })
        .transpose()
}

fn request(args: &ScanArgs) -> anyhow::Result<ScanRequest> {
    Ok(ScanRequest {
        max_symbols: count("--max-symbols", args.max_symbols, "a whole number >= 1")?,
        min_tech_rating: args.min_tech_rating,
        sectors: args.sectors.clone(),
        symbols: args.symbols.clone(),
        min_price: args.min_price,
        min_avg_volume: args.min_avg_volume,
        lookback_days: count(
            "--lookback-days",
            args.lookback_days,
            &format!("between {MIN_BARS} and {MAX_LOOKBACK_DAYS} trading days"),
        )?,
        ..ScanRequest::default()
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

fn describe(snapshot: &ProgressSnapshot) -> String {
    let eta = snapshot
        .overall_eta_formatted
        .as_deref()
        .map(|eta| format!(" · ETA {eta}"))
        .unwrap_or_default();
    let rate = if snapshot.stage_throughput > 0.0 {
        format!(" · {:.0}/s", snapshot.stage_throughput)
    } else {
        String::new()
    };
    format!(
        "{}: {}{rate}{eta}",
        snapshot.current_stage.as_str(),
        snapshot.message
    )
}

pub fn run(args: ScanArgs) -> anyhow::Result<()> {
    let request = request(&args)?;
    let source = open_source(args.data.data.as_deref())?;
    let scanner = Scanner::new(source);
    // A progress bar only for a person watching: never in a pipe, a file or with --quiet.
    let interactive = std::io::stdout().is_terminal() && !args.quiet;
    let bar = progress_bar(interactive);
    let observer = |snapshot: &ProgressSnapshot| {
        bar.set_position(snapshot.overall_progress.floor() as u64);
        bar.set_message(describe(snapshot));
    };
    let report = match scanner.run(&request, &observer) {
        Ok(report) => report,
        Err(ScanError::InvalidRequest(e)) => anyhow::bail!("{}: {}", flag_of(e.field), e.message),
        Err(e) => return Err(e).context("scan failed"),
    };
    bar.finish_and_clear();

    let mut out = BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report).context("writing JSON")?;
            writeln!(out)?;
        }
        Format::Csv => output::write_csv(&mut out, &report)?,
        Format::Table => output::write_table(&mut out, &report, args.top)?,
    }
    out.flush()?;
    drop(out);
    if !args.quiet && args.format != Format::Table {
        // The table carries its own summary; for machine formats it goes to stderr, out of the data.
        eprint!("{}", output::summary(&report));
    }
    Ok(())
}
