//! Rendering a scan report for people (table) and programs (CSV; JSON is serde's).

use std::fmt::Write as _;
use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Color, Table};
use technic_core::Signal;
use technic_engine::{DiagnosticKind, ScanReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

fn signal_color(signal: Signal) -> Color {
    match signal {
        Signal::StrongBuy => Color::Green,
        Signal::Buy => Color::DarkGreen,
        Signal::Hold => Color::Reset,
        Signal::Sell => Color::DarkRed,
        Signal::StrongSell => Color::Red,
    }
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

pub fn write_table(out: &mut impl Write, report: &ScanReport, top: usize) -> std::io::Result<()> {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header([
        "#", "Symbol", "Name", "Sector", "Signal", "Rating", "Alpha", "Close", "Chg %", "RSI 14",
        "ADX 14",
    ]);
    let shown = if top == 0 {
        report.results.len()
    } else {
        top.min(report.results.len())
    };
    for r in &report.results[..shown] {
        let name: String = r.name.as_deref().unwrap_or("").chars().take(28).collect();
        table.add_row(vec![
            Cell::new(r.rank),
            Cell::new(&r.symbol),
            Cell::new(name),
            Cell::new(r.sector.as_deref().unwrap_or("-")),
            Cell::new(r.signal).fg(signal_color(r.signal)),
            Cell::new(format!("{:.1}", r.tech_rating)).set_alignment(CellAlignment::Right),
            Cell::new(opt(r.alpha_score, 2)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.2}", r.close)).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:+.2}", r.change_pct)).set_alignment(CellAlignment::Right),
            Cell::new(opt(r.indicators.get("rsi_14"), 1)).set_alignment(CellAlignment::Right),
            Cell::new(opt(r.indicators.get("adx_14"), 1)).set_alignment(CellAlignment::Right),
        ]);
    }
    writeln!(out, "{table}")?;
    if shown < report.results.len() {
        writeln!(
            out,
            "Top {shown} of {} results (--top 0 shows all, --format json|csv for everything).",
            report.results.len()
        )?;
    }
    write!(out, "{}", summary(report))
}

/// Where the data came from, what happened to every symbol, and how long it took.
pub fn summary(report: &ScanReport) -> String {
    let mut text = String::new();
    let m = &report.metrics;
    let source = &report.data_source;
    let label = if source.synthetic {
        "SYNTHETIC DATA: "
    } else {
        ""
    };
    let as_of = report
        .as_of
        .map(|d| format!(", as of {d}"))
        .unwrap_or_default();
    let _ = writeln!(text, "Data: {label}{}{as_of}", source.description);
    if let Some(reason) = &report.stop_reason {
        let _ = writeln!(
            text,
            "Status: STOPPED early ({reason}); results so far are ranked below"
        );
    }
    let mut counts = [0usize; 5];
    for r in &report.results {
        counts[r.signal as usize] += 1;
    }
    let _ = writeln!(
        text,
        "Signals: {} STRONG_BUY, {} BUY, {} HOLD, {} SELL, {} STRONG_SELL; {} high-quality (BUY/STRONG_BUY, rating >= 70)",
        counts[4], counts[3], counts[2], counts[1], counts[0], m.high_quality_signals
    );
    let _ = writeln!(
        text,
        "Symbols: {} in universe, {} results, {} skipped, {} errors",
        m.symbols_total, m.results, m.skipped, m.errors
    );
    for d in report
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Error)
    {
        let _ = writeln!(text, "  error   {}: {}", d.symbol, d.message);
    }
    let skips: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.kind == DiagnosticKind::Skipped)
        .collect();
    for d in skips.iter().take(5) {
        let _ = writeln!(text, "  skipped {}: {}", d.symbol, d.message);
    }
    if skips.len() > 5 {
        let _ = writeln!(
            text,
            "  … and {} more skipped (all listed in --format json)",
            skips.len() - 5
        );
    }
    let stages: Vec<String> = m
        .stage_seconds
        .0
        .iter()
        .map(|(s, secs)| format!("{s} {:.1} ms", secs * 1e3))
        .collect();
    let first = m
        .time_to_first_result
        .map(|t| format!("first result after {:.1} ms, ", t * 1e3))
        .unwrap_or_default();
    let _ = writeln!(
        text,
        "Time: {:.1} ms ({first}{:.0} symbols/s, {:.0} bars/s; {})",
        m.seconds_total * 1e3,
        m.symbols_per_second,
        m.bars_per_second,
        stages.join(", ")
    );
    text
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

pub fn write_csv(out: &mut impl Write, report: &ScanReport) -> std::io::Result<()> {
    let indicator_columns: Vec<&str> = report
        .results
        .first()
        .map(|r| r.indicators.0.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    write!(
        out,
        "rank,symbol,name,sector,signal,tech_rating,alpha_score,high_quality,date,close,change_pct,volume,avg_volume_20,\
         trend_score,momentum_score,volume_score,volatility_score"
    )?;
    for column in &indicator_columns {
        write!(out, ",{column}")?;
    }
    writeln!(out)?;
    let cell = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for r in &report.results {
        write!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.rank,
            csv_field(&r.symbol),
            csv_field(r.name.as_deref().unwrap_or("")),
            csv_field(r.sector.as_deref().unwrap_or("")),
            r.signal,
            r.tech_rating,
            cell(r.alpha_score),
            r.high_quality,
            r.date,
            r.close,
            r.change_pct,
            r.volume,
            r.avg_volume_20,
            r.trend_score,
            r.momentum_score,
            r.volume_score,
            r.volatility_score
        )?;
        for (_, value) in &r.indicators.0 {
            write!(out, ",{}", cell(*value))?;
        }
        writeln!(out)?;
    }
    Ok(())
}
