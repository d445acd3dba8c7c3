//! CSV: one row per (factor, horizon, date) of the per-date series.

use crate::report::Report;

/// The columns, in order.
const HEADER: [&str; 14] = [
    "factor",
    "horizon",
    "date",
    "names",
    "ic",
    "top_return",
    "bottom_return",
    "universe_return",
    "top_minus_bottom",
    "top_turnover",
    "long_net_return",
    "benchmark_return",
    "long_equity",
    "benchmark_equity",
];

/// CSV: one row per (factor, horizon, date) of the per-date series, with a header. An
/// undefined value is an empty cell. The per-factor series (turnover, the portfolio's return
/// from that date to the next and its equity on that date) repeat on each horizon's rows.
pub fn render_csv(report: &Report) -> String {
    // The csv crate quotes factor names that hold commas or quotes (expressions will).
    let mut writer = csv::Writer::from_writer(Vec::new());
    let cell = |v: Option<f64>| {
        v.filter(|v| v.is_finite())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| h.to_string()).collect()];
    for factor in &report.factors {
        for h in &factor.horizons {
            for (i, d) in h.series.iter().enumerate() {
                let period = factor.portfolio.periods.get(i);
                let equity = factor.portfolio.equity.get(i);
                rows.push(vec![
                    factor.name.clone(),
                    h.horizon.to_string(),
                    d.date.to_string(),
                    d.names.to_string(),
                    cell(d.ic),
                    cell(d.top_return),
                    cell(d.bottom_return),
                    cell(d.universe_return),
                    cell(d.top_minus_bottom),
                    cell(factor.turnover.series.get(i).and_then(|t| t.value)),
                    cell(period.map(|p| p.net_return)),
                    cell(period.map(|p| p.benchmark_return)),
                    cell(equity.map(|e| e.long)),
                    cell(equity.map(|e| e.benchmark)),
                ]);
            }
        }
    }
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// The panel itself as CSV, one row per (date, symbol): `date,asset,factor_<name>…,fwd_<h>…`, an
/// undefined value an empty cell, every float written so it reads back to the same bits. This is
/// the interchange alphalens reads (`scripts/alphalens_reference.py`), for the reference test and
/// the peer benchmark.
pub fn render_panel_csv(panel: &crate::Panel) -> String {
    use std::fmt::Write as _;
    fn cell(out: &mut String, value: f64) {
        if value.is_finite() {
            let _ = write!(out, ",{value:?}");
        } else {
            out.push(',');
        }
    }
    let mut csv = String::from("date,asset");
    for f in &panel.factors {
        let _ = write!(csv, ",factor_{}", f.name);
    }
    for r in &panel.forward_returns {
        let _ = write!(csv, ",fwd_{}", r.horizon);
    }
    csv.push('\n');
    for (d, date) in panel.dates.iter().enumerate() {
        for (s, symbol) in panel.symbols.iter().enumerate() {
            let at = panel.cell(d, s);
            let _ = write!(csv, "{date},{symbol}");
            for f in &panel.factors {
                cell(&mut csv, f.values.values[at]);
            }
            for r in &panel.forward_returns {
                cell(&mut csv, r.values.values[at]);
            }
            csv.push('\n');
        }
    }
    csv
}
