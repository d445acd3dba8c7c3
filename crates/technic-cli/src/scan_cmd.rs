//! `technic scan`: flags → a validated scan request → the engine → table, JSON or CSV.
//!
//! clap flags become a `ScanRequest`; the engine validates it and errors are reported against the
//! flag typed. The progress bar (indicatif) is drawn on stderr only when stdout is a terminal and
//! neither `--quiet` nor `--stream` is given. `--stream` prints the engine's messages as NDJSON
//! from a subscription while the scan runs, and stops the scan when nobody reads; Ctrl-C stops it
//! through its `StopHandle`. `--as-of DATE` passes the date to the engine (`ScanOptions::as_of`),
//! which cuts every read at it; a replay neither loads nor records learning. Otherwise the learning
//! store is loaded before and written after (a scan saves what it learned whether or not its output
//! was read), on a small tokio runtime of the command's own.

use std::io::{BufWriter, IsTerminal, Write};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use technic_core::termination::StopReason;
use technic_engine::{
    EventLog, MAX_LOOKBACK_DAYS, MIN_BARS, ProgressSnapshot, ScanError, ScanOptions, ScanRequest,
    Scanner, TerminationRequest,
};
use technic_learning::Completion;

use crate::output::{self, Format};
use crate::{DataArgs, RatingArg, open_source};

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
    /// Which rating: standard (fitted on 2001–2010, judged on 2011–2021) or classic (the one
    /// technic gave before; docs/rating.md).
    #[arg(long, value_enum, default_value_t = RatingArg::Standard)]
    rating: RatingArg,
    /// Keep only symbols for which EXPR is true, e.g. 'rsi_2 < 10 and close > sma_200'
    /// (README, "Screens").
    #[arg(long = "where", value_name = "EXPR")]
    filter: Option<String>,
    /// Rank results by EXPR, highest first ('-EXPR' for lowest first), e.g. 'return_126'.
    #[arg(long, value_name = "EXPR", allow_hyphen_values = true)]
    rank_by: Option<String>,
    /// Run the saved screen NAME (`technic screens add`); --where narrows it (both must hold)
    /// and --rank-by overrides its ranking.
    #[arg(long, value_name = "NAME")]
    screen: Option<String>,
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
    /// Print every message (result, progress, complete) as one JSON line the moment it happens.
    #[arg(long, conflicts_with = "format")]
    stream: bool,
    /// Scan in alphabetical order instead of likeliest signals first.
    #[arg(long)]
    no_prioritization: bool,
    /// Stop after N high-quality signals.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    max_signals: Option<i64>,
    /// With --max-signals: the rating a buy signal needs to count (default 70).
    #[arg(long, value_name = "R", allow_negative_numbers = true)]
    min_signal_rating: Option<f64>,
    /// Stop after scanning P percent of the symbols.
    #[arg(long, value_name = "P", allow_negative_numbers = true)]
    max_percent: Option<f64>,
    /// Stop after S seconds.
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    timeout: Option<f64>,
    /// The scan as it would have run at DATE's close (YYYY-MM-DD): only bars dated on or before it
    /// are read. Nothing is learned from such a scan, and nothing learned is used.
    #[arg(long, value_name = "DATE")]
    as_of: Option<chrono::NaiveDate>,
    #[command(flatten)]
    home: crate::HomeArgs,
}

/// The flag that fills a request field, so engine errors are reported against the flag typed.
fn flag_of(field: &str) -> String {
    match field {
        "termination_criteria.max_percent_scanned" => "--max-percent".into(),
        "termination_criteria.timeout_seconds" => "--timeout".into(),
        other => format!(
            "--{}",
            other
                .trim_start_matches("termination_criteria.")
                .replace('_', "-")
        ),
    }
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
        rating: Some(args.rating.as_str().to_owned()),
        filter: args.filter.clone(),
        rank_by: args.rank_by.clone(),
        screen: args.screen.clone(),
        enable_prioritization: Some(!args.no_prioritization),
        enable_streaming: Some(args.stream),
        termination_criteria: Some(TerminationRequest {
            max_signals: count("--max-signals", args.max_signals, "a whole number >= 1")?,
            min_signal_rating: args.min_signal_rating,
            max_percent_scanned: args.max_percent,
            timeout_seconds: args.timeout,
        }),
        async_mode: None,
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

/// A refused request as the user typed it: an expression's error points at its column under it.
fn request_error(args: &ScanArgs, e: &technic_engine::RequestError) -> anyhow::Error {
    let typed = match e.field {
        "where" => args.filter.as_deref(),
        "rank_by" => args.rank_by.as_deref(),
        _ => None,
    };
    match (typed, e.column) {
        (Some(typed), Some(column)) if !typed.contains('\n') && typed.len() <= 200 => {
            anyhow::anyhow!(
                "{}: {}\n  {typed}\n  {}^",
                flag_of(e.field),
                e.message,
                " ".repeat(column - 1)
            )
        }
        _ => anyhow::anyhow!("{}: {}", flag_of(e.field), e.message),
    }
}

pub fn run(args: ScanArgs) -> anyhow::Result<()> {
    let request = request(&args)?;
    let saved =
        crate::screens_cmd::library_for(&args.home, args.screen.is_some(), args.filter.as_deref())?;
    let valid = request
        .validate_with(&saved)
        .map_err(|e| request_error(&args, &e))?;
    let source = open_source(&args.data, &args.home, args.symbols.as_deref())?;
    let source = crate::with_cache(source, &args.data, args.symbols.as_deref(), false)?;
    let scanner = Scanner::new(source);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // A replay neither reads what later scans learned (it did not exist at that close) nor
    // records itself as the latest scan.
    let store = match args.as_of {
        Some(_) => None,
        None => Some(runtime.block_on(crate::open_store(&args.home))?),
    };
    let learned = learned_before(store.as_ref(), &runtime)?;

    let options = ScanOptions {
        learned: std::sync::Arc::new(learned),
        as_of: args.as_of,
        ..ScanOptions::default()
    };
    let stop = options.stop.clone();
    // Ctrl-C stops the scan the way a criterion would: results so far are kept, ranked and printed.
    // A second Ctrl-C is the shell's business again only after this handler is gone, i.e. on exit.
    ctrlc::set_handler(move || stop.stop(StopReason::Manual("Ctrl-C".into())))
        .context("installing the Ctrl-C handler")?;
    let log = EventLog::new(options.scan_id.clone());

    // A progress bar only for a person watching: never in a pipe, a file, with --quiet or --stream.
    let interactive = std::io::stdout().is_terminal() && !args.quiet && !args.stream;
    let bar = progress_bar(interactive);
    let observer = |snapshot: &ProgressSnapshot| {
        bar.set_position(snapshot.overall_progress.floor() as u64);
        bar.set_message(describe(snapshot));
    };
    let outcome = scan_while_streaming(&args, &scanner, &valid, options, &log, &observer);
    bar.finish_and_clear();
    let (outcome, printed) = outcome;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(ScanError::InvalidRequest(e)) => anyhow::bail!("{}: {}", flag_of(e.field), e.message),
        Err(e) => return Err(e).context("scan failed"),
    };
    let completion = match outcome.report.status {
        technic_engine::ScanStatus::Completed => Completion::Completed,
        _ => Completion::Stopped,
    };
    let report = &outcome.report;

    // Saved whether or not the output could be written (a reader that stopped early closes it):
    // the scan ran, and what it learned is kept. After printing, so that a store that is down
    // does not cost the user the results.
    let printed = match printed {
        Some(printed) => printed,
        None => print_report(&args, report),
    };
    if printed.is_ok() && !args.quiet && (args.stream || args.format != Format::Table) {
        // The table carries its own summary; for machine formats it goes to stderr, out of the data.
        eprint!("{}", output::summary(report));
    }
    // An as-of replay records nothing.
    let Some(store) = store else { return printed };
    runtime
        .block_on(store.record(
            &outcome.report.scan_id,
            completion,
            &outcome.learning,
            SystemTime::now(),
        ))
        .with_context(|| format!("saving what this scan learned to {}", store.location()))?;
    printed
}

/// What earlier scans learned, from the store; nothing for a replay, which has no store.
fn learned_before(
    store: Option<&technic_learning::LearningStore>,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<technic_engine::Learned> {
    let Some(store) = store else {
        return Ok(technic_engine::Learned::default());
    };
    runtime
        .block_on(store.load(ALPHA_REFERENCE_MAX_AGE, SystemTime::now()))
        .with_context(|| {
            format!(
                "reading what earlier scans learned from {}",
                store.location()
            )
        })
}

/// Runs the scan; with `--stream`, prints each message as it comes on a thread of its own, and
/// stops the scan if nobody reads the output any more.
fn scan_while_streaming(
    args: &ScanArgs,
    scanner: &Scanner,
    valid: &technic_engine::ValidScan,
    options: ScanOptions,
    log: &std::sync::Arc<EventLog>,
    observer: &dyn technic_engine::ScanObserver,
) -> (
    Result<technic_engine::ScanOutcome, ScanError>,
    Option<anyhow::Result<()>>,
) {
    let stop_for_closed_output = options.stop.clone();
    std::thread::scope(|scope| {
        let printer = args.stream.then(|| {
            scope.spawn(|| {
                let printed = print_stream(log);
                if printed.is_err() {
                    // Nobody reads the rest (`| head` closed the pipe): stop scanning for nobody.
                    stop_for_closed_output.stop(StopReason::Manual("closed output".into()));
                }
                printed
            })
        });
        let outcome = scanner.execute(valid, options, log, observer);
        let printed = printer.map(|p| {
            p.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the stream printer panicked")))
        });
        (outcome, printed)
    })
}

fn print_report(args: &ScanArgs, report: &technic_engine::ScanReport) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, report).context("writing JSON")?;
            writeln!(out)?;
        }
        Format::Csv => output::write_csv(&mut out, report)?,
        Format::Table => output::write_table(&mut out, report, args.top)?,
    }
    out.flush()?;
    Ok(())
}

/// How old the last completed scan's alpha distribution may be and still score streamed results.
const ALPHA_REFERENCE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Prints every message of the scan as one JSON line, as it arrives, until the final one.
fn print_stream(log: &std::sync::Arc<EventLog>) -> anyhow::Result<()> {
    let mut subscription = log.subscribe(0);
    let stdout = std::io::stdout();
    while !subscription.is_done() {
        let batch = subscription.next_batch_blocking(Duration::from_millis(200));
        let mut out = stdout.lock();
        for message in batch {
            writeln!(out, "{}", message.to_json())?;
        }
        out.flush()?;
    }
    Ok(())
}
