//! Number formats and the caveats, shared by the table and the HTML page.

use crate::report::{FactorReport, HorizonReport, Report};

/// A fraction as a signed percentage, or a dash where it is undefined.
pub fn pct(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{:+.*}%", decimals, v * 100.0),
        _ => "—".into(),
    }
}

/// A share (0..1) as an unsigned percentage.
pub fn share(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{:.1}%", v * 100.0),
        _ => "—".into(),
    }
}

pub fn num(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "—".into(),
    }
}

/// The horizon a factor's decile chart shows: the longest whose return windows do not overlap
/// from one date to the next (21 days on month-ends, 1 day on a daily schedule), else the
/// shortest: the one whose per-date numbers are independent.
pub fn primary_horizon(factor: &FactorReport) -> Option<&HorizonReport> {
    factor
        .horizons
        .iter()
        .rev()
        .find(|h| h.newey_west_lags == 0)
        .or_else(|| factor.horizons.first())
}

/// What the reader must know before trusting the numbers, one sentence each.
pub fn caveats(report: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if report.provenance.survivorship_bias {
        out.push(
            "Survivorship bias: the universe is today's members only, so names that were \
             delisted, acquired or dropped from the index before today are missing from every \
             date; results look better than a trader living through those dates could have had."
                .into(),
        );
    }
    for dropped in &report.provenance.dropped {
        out.push(format!(
            "{} symbol-dates left out of the universe: {}.",
            thousands(dropped.symbol_dates),
            dropped.reason
        ));
    }
    for factor in &report.factors {
        out.extend(factor_caveats(factor));
    }
    out
}

fn factor_caveats(factor: &FactorReport) -> Vec<String> {
    let mut out = Vec::new();
    let no_value = factor
        .horizons
        .first()
        .map_or(0, |h| h.dropped.no_factor_value);
    if no_value > 0 {
        out.push(format!(
            "{}: {} scanned symbol-dates have no value (left out of its statistics).",
            factor.name,
            thousands(no_value)
        ));
    }
    for h in &factor.horizons {
        let mut parts = Vec::new();
        if h.dropped.no_forward_return > 0 {
            parts.push(format!(
                "{} symbol-dates without a {}-day forward return (the data ends first)",
                thousands(h.dropped.no_forward_return),
                h.horizon
            ));
        }
        let s = &h.skipped;
        if s.too_few_names > 0 {
            parts.push(format!(
                "{} dates with fewer names than quantiles skipped",
                s.too_few_names
            ));
        }
        if s.constant > 0 {
            parts.push(format!(
                "{} dates with constant values have no IC",
                s.constant
            ));
        }
        if s.tied_quantile_edges > 0 {
            parts.push(format!(
                "{} dates whose tied values make quantile edges coincide have no quantiles",
                s.tied_quantile_edges
            ));
        }
        if !parts.is_empty() {
            out.push(format!(
                "{} at {}d: {}.",
                factor.name,
                h.horizon,
                parts.join("; ")
            ));
        }
    }
    if factor.portfolio.missing_returns > 0 {
        out.push(format!(
            "{}: {} top-quantile holdings had no close on the next date and sat out that period.",
            factor.name,
            thousands(factor.portfolio.missing_returns)
        ));
    }
    out
}

pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
