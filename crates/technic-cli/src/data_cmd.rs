//! `technic data import|sync|status|verify`: the local bar store under technic's home.
//!
//! `technic data import DIR | sync [--symbols] [--dry-run] [--full] | status | verify`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use technic_barstore::{BarStore, StoreStatus, SyncReport};
use technic_data::files::FileSource;

use crate::{HomeArgs, home_dir};

#[derive(Debug, clap::Args)]
pub struct DataCmdArgs {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DataCommand {
    /// Copy a data directory (bars/SYMBOL.csv[.gz|.parquet], universe.csv) into the store.
    Import {
        /// The data directory.
        dir: PathBuf,
        #[command(flatten)]
        home: HomeArgs,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Bring the store up to date from Polygon.io (POLYGON_API_KEY): only bars newer than the
    /// last stored date are fetched, one grouped request per missing day or one per symbol,
    /// whichever is fewer.
    Sync {
        /// Also (or only) these symbols, comma-separated; ones not stored are fetched whole.
        #[arg(long, value_name = "LIST", value_delimiter = ',')]
        symbols: Option<Vec<String>>,
        /// Print the plan (what would be fetched, how many requests) and fetch nothing.
        #[arg(long)]
        dry_run: bool,
        /// Fetch every stored symbol's whole history again (one request each): picks up the
        /// dividend re-adjustments a daily update cannot see.
        #[arg(long, conflicts_with = "dry_run")]
        full: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        home: HomeArgs,
    },
    /// What the store holds: symbols, bars, dates, how current it is, damaged files, and
    /// imports or syncs that did not finish. Reads every file whole.
    Status {
        /// Print it as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        home: HomeArgs,
    },
    /// Read every stored file whole: page checksums, the bar rules, the footer against the
    /// rows. Prints each damaged file and exits with status 1 if there is any.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        home: HomeArgs,
    },
}

pub fn run(args: DataCmdArgs) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Import { dir, home, quiet } => import(&dir, &home, quiet),
        DataCommand::Sync {
            symbols,
            dry_run,
            full,
            json,
            home,
        } => sync(symbols, dry_run, full, json, &home),
        DataCommand::Status { json, home } => status(&home, json),
        DataCommand::Verify { json, home } => verify(&home, json),
    }
}

pub(crate) fn open_bar_store(home: &HomeArgs) -> anyhow::Result<BarStore> {
    let home = home_dir(home)?;
    BarStore::open_in(&home).with_context(|| format!("opening the bar store in {}", home.display()))
}

fn import(dir: &std::path::Path, home: &HomeArgs, quiet: bool) -> anyhow::Result<()> {
    let source =
        FileSource::open(dir).with_context(|| format!("technic data import {}", dir.display()))?;
    let store = open_bar_store(home)?;
    let started = Instant::now();
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} symbols  {per_sec}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    };
    let report = store
        .import(
            &source,
            &format!("import {}", dir.display()),
            &|done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            },
        )
        .with_context(|| format!("importing {} into {}", dir.display(), store.dir().display()))?;
    bar.finish_and_clear();
    outln!(
        "imported {} symbols ({} bars) from {} into {} in {:.2} s",
        report.symbols,
        report.bars,
        dir.display(),
        store.dir().display(),
        started.elapsed().as_secs_f64()
    )?;
    for (symbol, why) in &report.failed {
        eprintln!("not imported: {symbol}: {why}");
    }
    if !report.failed.is_empty() {
        eprintln!(
            "{} symbols not imported (the rest were); fix their files and import again",
            report.failed.len()
        );
    }
    Ok(())
}

fn sync(
    symbols: Option<Vec<String>>,
    dry_run: bool,
    full: bool,
    json: bool,
    home: &HomeArgs,
) -> anyhow::Result<()> {
    let store = Arc::new(open_bar_store(home)?);
    let config = technic_polygon::PolygonConfig::from_vars(|name| std::env::var(name).ok())
        .context("technic data sync fetches from Polygon.io")?;
    let feed = technic_polygon::PolygonSource::new(config).context("technic data sync")?;
    let mut members: Vec<String> = store.symbols().into_keys().collect();
    if let Some(extra) = &symbols {
        members.extend(extra.iter().map(|s| s.trim().to_ascii_uppercase()));
        members.sort();
        members.dedup();
    }
    if members.is_empty() {
        anyhow::bail!(
            "the store in {} is empty: give --symbols AAPL,MSFT,… or `technic data import DIR` first",
            store.dir().display()
        );
    }
    let plan = store.plan(&feed, &members, true);
    if dry_run {
        if json {
            outln!("{}", serde_json::to_string_pretty(&plan)?)?;
        } else {
            outln!(
                "up to {}: {} ({} requests): {} missing days for {} symbols, {} symbols fetched per ticker, {} not stored",
                plan.today,
                plan.strategy,
                plan.requests,
                plan.days.len(),
                plan.grouped.len(),
                plan.per_ticker.len(),
                plan.missing.len()
            )?;
        }
        return Ok(());
    }
    let started = Instant::now();
    let report = if full {
        store.sync_full(&feed, &members)
    } else {
        store.sync(&feed, &members, true)
    }
    .with_context(|| format!("syncing the bar store in {}", store.dir().display()))?;
    let requests = feed.requests_sent();
    if json {
        let mut value = serde_json::to_value(&report)?;
        value["requests"] = requests.into();
        value["seconds"] = started.elapsed().as_secs_f64().into();
        outln!("{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        print_sync(&report, requests, started.elapsed().as_secs_f64())?;
    }
    if report.failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} could not be brought up to date (what was stored before is kept); run `technic data sync` again",
            report.failed.len()
        )
    }
}

fn print_sync(report: &SyncReport, requests: u64, seconds: f64) -> std::io::Result<()> {
    outln!(
        "{}: {} days fetched, {} symbols updated (+{} bars), {} stored whole, {} re-fetched after a re-adjustment; {} requests in {:.2} s; synced through {}",
        report.strategy,
        report.days_fetched.len(),
        report.symbols_updated,
        report.bars_added,
        report.fetched_whole.len(),
        report.refetched.len(),
        requests,
        seconds,
        report
            .synced_through
            .map_or_else(|| "-".to_owned(), |d| d.to_string())
    )?;
    for (what, why) in &report.failed {
        eprintln!("not brought up to date: {what}: {why}");
    }
    Ok(())
}

fn status(home: &HomeArgs, json: bool) -> anyhow::Result<()> {
    let store = open_bar_store(home)?;
    let status = store
        .status()
        .with_context(|| format!("reading the bar store in {}", store.dir().display()))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&status)?)?;
    } else {
        print_status(&status)?;
    }
    Ok(())
}

fn verify(home: &HomeArgs, json: bool) -> anyhow::Result<()> {
    let store = open_bar_store(home)?;
    let started = Instant::now();
    let report = store
        .verify()
        .with_context(|| format!("verifying the bar store in {}", store.dir().display()))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        outln!(
            "{} files read whole ({} bars) in {:.2} s: {} damaged",
            report.files,
            report.bars,
            started.elapsed().as_secs_f64(),
            report.damaged.len()
        )?;
        for damaged in &report.damaged {
            outln!(
                "damaged: {} ({}): {}",
                damaged.symbol,
                damaged.file.display(),
                damaged.problem
            )?;
        }
    }
    if report.damaged.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} damaged files in {}: fetch them again (`technic data sync --full --symbols …`) or import them again",
            report.damaged.len(),
            store.dir().display()
        )
    }
}

fn print_status(s: &StoreStatus) -> std::io::Result<()> {
    let date = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
    outln!("store:          {}", s.dir.display())?;
    for unfinished in &s.unfinished {
        outln!("UNFINISHED:     {}", unfinished.describe())?;
    }
    for damaged in &s.damaged {
        outln!(
            "DAMAGED:        {} ({}): {}",
            damaged.symbol,
            damaged.file.display(),
            damaged.problem
        )?;
    }
    if s.symbols == 0 {
        outln!("empty: `technic data import DIR` or `technic data sync --symbols …` fills it")?;
        return Ok(());
    }
    outln!(
        "symbols:        {} ({} bars, {:.1} MB)",
        s.symbols,
        s.bars,
        s.bytes as f64 / 1e6
    )?;
    outln!("dates:          {} to {}", date(s.first), date(s.last))?;
    outln!("synced through: {}", date(s.synced_through))?;
    if !s.behind.is_empty() {
        let shown: Vec<&str> = s.behind.iter().take(10).map(String::as_str).collect();
        outln!(
            "behind:         {} symbols end before {} ({}{})",
            s.behind.len(),
            date(s.last),
            shown.join(", "),
            if s.behind.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        )?;
    }
    outln!("from:           {}", s.origins.join("; "))?;
    if let Some(age) = s.universe_age_secs {
        outln!("universe saved: {:.1} h ago", age as f64 / 3600.0)?;
    }
    Ok(())
}
