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

/// Whether any date of the panel was scanned (a panel may carry factors only).
pub fn has_signals(report: &Report) -> bool {
    report.selectivity.iter().any(|s| s.mean.is_some())
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
    // The same sentence for several factors (every factor loses the same symbol-dates at the
    // end of the data) is said once, naming them.
    let mut sentences: Vec<(String, Vec<&str>)> = Vec::new();
    for factor in &report.factors {
        for sentence in factor_caveats(factor) {
            match sentences.iter_mut().find(|(s, _)| *s == sentence) {
                Some((_, names)) => names.push(&factor.name),
                None => sentences.push((sentence, vec![&factor.name])),
            }
        }
    }
    for (sentence, names) in sentences {
        let who = if names.len() == report.factors.len() && names.len() > 1 {
            "Every factor".to_string()
        } else {
            names.join(", ")
        };
        out.push(format!("{who}{sentence}"));
    }
    out
}

/// A factor's caveats, each to follow its name (or names).
fn factor_caveats(factor: &FactorReport) -> Vec<String> {
    let mut out = Vec::new();
    let no_value = factor
        .horizons
        .first()
        .map_or(0, |h| h.dropped.no_factor_value);
    if no_value > 0 {
        out.push(format!(
            ": {} scanned symbol-dates without a value, left out of its statistics.",
            thousands(no_value)
        ));
    }
    for h in &factor.horizons {
        let mut parts = Vec::new();
        if h.dropped.no_forward_return > 0 {
            parts.push(format!(
                "{} symbol-dates without a forward return (the data ends first)",
                thousands(h.dropped.no_forward_return)
            ));
        }
        let s = &h.skipped;
        if s.empty > 0 {
            parts.push(format!(
                "{} without any name having both a value and a return",
                dates(s.empty)
            ));
        }
        if s.too_few_names > 0 {
            parts.push(format!(
                "{} with fewer names than quantiles skipped",
                dates(s.too_few_names)
            ));
        }
        if s.constant > 0 {
            parts.push(format!(
                "{} with constant values without an IC",
                dates(s.constant)
            ));
        }
        if s.tied_quantile_edges > 0 {
            parts.push(format!(
                "{} whose tied values make quantile edges coincide without quantiles",
                dates(s.tied_quantile_edges)
            ));
        }
        if !parts.is_empty() {
            out.push(format!(" at {}d: {}.", h.horizon, parts.join("; ")));
        }
    }
    if factor.portfolio.missing_returns > 0 {
        out.push(format!(
            ": {} top-quantile holdings had no close on the next date and sat out that period.",
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

fn dates(n: usize) -> String {
    if n == 1 {
        "1 date".into()
    } else {
        format!("{} dates", thousands(n))
    }
}
