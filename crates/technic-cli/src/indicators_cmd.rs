//! `technic indicators SYMBOL`: whole indicator series as CSV on stdout.

use std::io::{BufWriter, Write};

use anyhow::Context;
use chrono::NaiveDate;
use technic_core::IndicatorSet;
use technic_data::BarWindow;

use crate::{DataArgs, open_source};

#[derive(Debug, clap::Args)]
pub struct IndicatorsArgs {
    /// The symbol, e.g. AAPL.
    symbol: String,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    home: crate::HomeArgs,
    /// First date printed (YYYY-MM-DD). Indicators still warm up on the history before it.
    #[arg(long, value_name = "DATE")]
    from: Option<NaiveDate>,
    /// Last date used and printed (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    to: Option<NaiveDate>,
    /// Comma-separated indicator specs, e.g. rsi_7,macd_5_35_5,bb_10_1.5 [default: the TA-Lib reference set]
    #[arg(long, value_name = "LIST")]
    indicators: Option<String>,
}

pub fn run(args: IndicatorsArgs) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    let set = match &args.indicators {
        Some(list) => IndicatorSet::parse_list(list).context("--indicators")?,
        None => IndicatorSet::default(),
    };
    let source = open_source(
        &args.data,
        &args.home,
        Some(std::slice::from_ref(&args.symbol)),
    )?;
    // The whole history up to --to, so values match a computation over the full series; --from only
    // trims what is printed.
    let window = BarWindow {
        to: args.to,
        ..BarWindow::default()
    };
    let bars = source
        .bars(&args.symbol, &window)
        .with_context(|| format!("loading {}", args.symbol))?;
    let first = args
        .from
        .map_or(0, |from| bars.dates.partition_point(|d| *d < from));
    if first >= bars.len() {
        let range = match (args.from, args.to) {
            (None, None) => String::new(),
            (from, to) => format!(
                " between {} and {}",
                from.map_or("the start".into(), |d| d.to_string()),
                to.map_or("the end".into(), |d| d.to_string())
            ),
        };
        anyhow::bail!("{} has no bars{range}", args.symbol.to_ascii_uppercase());
    }
    let frame = set.compute(&bars).context("computing indicators")?;
    if source.info().synthetic {
        eprintln!("note: {}", source.info().description);
    }

    let mut out = BufWriter::new(std::io::stdout().lock());
    write!(out, "timestamp")?;
    for column in &frame.columns {
        write!(out, ",{column}")?;
    }
    writeln!(out)?;
    for row in first..bars.len() {
        write!(out, "{}", bars.dates[row])?;
        for series in &frame.values {
            let value = series[row];
            if value.is_finite() {
                // Rust's shortest round-trip formatting: no precision is lost in the CSV.
                write!(out, ",{value}")?;
            } else {
                write!(out, ",")?;
            }
        }
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}
