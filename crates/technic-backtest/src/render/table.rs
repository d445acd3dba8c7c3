//! The compact terminal report.

use std::fmt::Write;

use super::format::{caveats, num, pct, primary_horizon, share, thousands};
use crate::report::{FactorReport, Report};

/// Half the width of a decile bar: negative values grow left of the axis, positive right.
const BAR_HALF_WIDTH: usize = 20;

/// The compact terminal table: IC table, decile bars in text, signal groups, selectivity, the
/// long portfolios and the caveats.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    header(&mut out, report);
    ic_table(&mut out, report);
    for factor in &report.factors {
        deciles(&mut out, factor);
    }
    signal_groups(&mut out, report);
    selectivity(&mut out, report);
    portfolios(&mut out, report);
    let caveats = caveats(report);
    if !caveats.is_empty() {
        out.push_str("\nCaveats\n");
        for caveat in caveats {
            let _ = writeln!(out, "  * {caveat}");
        }
    }
    out
}

fn header(out: &mut String, report: &Report) {
    let (first, last) = (report.dates.first(), report.dates.last());
    let _ = writeln!(
        out,
        "Backtest of {} · {} dates {} to {} · {} symbols · {} quantiles · cost {} bps per side",
        report.provenance.source,
        report.dates.len(),
        first.map(|d| d.to_string()).unwrap_or_default(),
        last.map(|d| d.to_string()).unwrap_or_default(),
        thousands(report.symbols),
        report.quantiles,
        report.cost_bps
    );
}

fn ic_table(out: &mut String, report: &Report) {
    out.push_str(
        "\nRank IC (Spearman per date; t-stat with Newey–West errors over `lags` dates)\n",
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>4} {:>8} {:>7} {:>7} {:>7} {:>6} {:>6} {:>4}   {:>9} {:>7} {:>6}",
        "factor", "h", "mean IC", "std", "t", "IR", ">0", "dates", "lags", "top−bot", "t", "hit"
    );
    for factor in &report.factors {
        for h in &factor.horizons {
            let _ = writeln!(
                out,
                "  {:<22} {:>3}d {:>8} {:>7} {:>7} {:>7} {:>6} {:>6} {:>4}   {:>9} {:>7} {:>6}",
                truncate(&factor.name, 22),
                h.horizon,
                num(h.ic.mean, 4),
                num(h.ic.std, 3),
                num(h.ic.t_stat, 2),
                num(h.ic.information_ratio, 2),
                share(h.ic.positive_share),
                h.ic.dates,
                h.newey_west_lags,
                pct(h.spread.mean, 2),
                num(h.spread.t_stat, 2),
                share(h.spread.hit_rate),
            );
        }
    }
}

fn deciles(out: &mut String, factor: &FactorReport) {
    let Some(h) = primary_horizon(factor) else {
        return;
    };
    let _ = writeln!(
        out,
        "\n{} at {}d: mean excess return over the equal-weight universe by quantile (1 = lowest)",
        factor.name, h.horizon
    );
    let largest = h
        .quantiles
        .iter()
        .filter_map(|q| q.mean_excess)
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    for q in &h.quantiles {
        let _ = writeln!(
            out,
            "  {:>2} {:>8} {}  ({:.0} names)",
            q.quantile,
            pct(q.mean_excess, 2),
            bar(q.mean_excess, largest),
            q.mean_count
        );
    }
}

/// A bar of `value` against the largest magnitude, left of the axis when negative.
fn bar(value: Option<f64>, largest: f64) -> String {
    let cells = match value {
        Some(v) if v.is_finite() && largest > 0.0 => {
            ((v.abs() / largest) * BAR_HALF_WIDTH as f64).round() as usize
        }
        _ => 0,
    };
    let negative = value.is_some_and(|v| v < 0.0);
    let (left, right) = if negative { (cells, 0) } else { (0, cells) };
    format!(
        "{}{}|{}{}",
        " ".repeat(BAR_HALF_WIDTH - left),
        "█".repeat(left),
        "█".repeat(right),
        " ".repeat(BAR_HALF_WIDTH - right)
    )
}

fn signal_groups(out: &mut String, report: &Report) {
    if report.signal_groups.is_empty() {
        return;
    }
    out.push_str("\nSignal groups: mean excess return over the scanned universe per date (t-stat), hit rate\n");
    let _ = write!(out, "  {:<17} {:>8}", "group", "n/date");
    for horizon in &report.signal_groups {
        let _ = write!(out, " {:>25}", format!("{}d", horizon.horizon));
    }
    out.push('\n');
    let groups = report.signal_groups[0].groups.len();
    for g in 0..groups {
        let first = &report.signal_groups[0].groups[g];
        let _ = write!(out, "  {:<17} {:>8.1}", first.group, first.mean_count);
        for horizon in &report.signal_groups {
            let s = &horizon.groups[g];
            let cell = format!(
                "{} ({}) {}",
                pct(s.mean_excess, 2),
                num(s.t_stat, 1),
                share(s.hit_rate)
            );
            let _ = write!(out, " {cell:>25}");
        }
        out.push('\n');
    }
}

fn selectivity(out: &mut String, report: &Report) {
    out.push_str("\nSelectivity: share of the scanned universe flagged per date\n");
    let _ = writeln!(
        out,
        "  {:<17} {:>7} {:>7} {:>7}",
        "signal", "mean", "min", "max"
    );
    for s in &report.selectivity {
        let _ = writeln!(
            out,
            "  {:<17} {:>7} {:>7} {:>7}",
            s.group,
            share(s.mean),
            share(s.min),
            share(s.max)
        );
    }
}

fn portfolios(out: &mut String, report: &Report) {
    if report.factors.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nTop-quantile long portfolio, rebalanced each date, net of {} bps per side, against the \
         equal-weight universe of the names the factor has a value for (before costs)",
        report.cost_bps
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>8} {:>8} {:>7} {:>8} {:>9}   {:>9} {:>7} {:>8}",
        "factor", "CAGR", "vol", "Sharpe", "max DD", "turnover", "univ CAGR", "Sharpe", "max DD"
    );
    for factor in &report.factors {
        let (p, b) = (&factor.portfolio.long, &factor.portfolio.benchmark);
        let _ = writeln!(
            out,
            "  {:<22} {:>8} {:>8} {:>7} {:>8} {:>9}   {:>9} {:>7} {:>8}",
            truncate(&factor.name, 22),
            pct(p.cagr, 1),
            share(p.volatility),
            num(p.sharpe, 2),
            share(p.max_drawdown),
            share(factor.turnover.mean),
            pct(b.cagr, 1),
            num(b.sharpe, 2),
            share(b.max_drawdown),
        );
    }
}

fn truncate(name: &str, width: usize) -> String {
    if name.chars().count() <= width {
        name.to_string()
    } else {
        let mut short: String = name.chars().take(width - 1).collect();
        short.push('…');
        short
    }
}
