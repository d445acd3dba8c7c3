//! One self-contained HTML page: tables, the caveats and inline SVG charts drawn with plotters'
//! SVG backend. Nothing is fetched: no script, no font, no stylesheet from anywhere else.

use std::error::Error;
use std::fmt::Write;

use chrono::{Datelike, NaiveDate};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::format::{caveats, num, pct, primary_horizon, share};
use crate::report::{FactorReport, Report};

type DrawResult = Result<(), Box<dyn Error>>;

const WIDTH: u32 = 880;
const HEIGHT: u32 = 300;
/// Line colours, cycled (Okabe–Ito, readable by the colour-blind).
const COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:920px;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em;font-variant-numeric:tabular-nums}\
th,td{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}\
.caveats{background:#fff6e0;border-left:4px solid #e69f00;padding:.5em 1em}svg{display:block;margin:.5em 0}";

/// One self-contained HTML file (inline SVG, no CDN): the IC table, the caveats, and per factor
/// its IC over time, decile bars and equity curves, then selectivity over time.
pub fn render_html(report: &Report) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>technic backtest: {}</title>\
         <style>{STYLE}</style></head><body><h1>Backtest of {}</h1><p>{} evaluation dates, {} to {}; {} symbols; \
         {} quantiles; costs {} bps per side.</p>",
        escape(&report.provenance.source),
        escape(&report.provenance.source),
        report.dates.len(),
        report
            .dates
            .first()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        report
            .dates
            .last()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        report.symbols,
        report.quantiles,
        report.cost_bps,
    );
    let caveats = caveats(report);
    if !caveats.is_empty() {
        html.push_str("<div class=\"caveats\"><h2>Caveats</h2><ul>");
        for caveat in caveats {
            let _ = write!(html, "<li>{}</li>", escape(&caveat));
        }
        html.push_str("</ul></div>");
    }
    ic_table(&mut html, report);
    for factor in &report.factors {
        factor_section(&mut html, factor);
    }
    signal_table(&mut html, report);
    html.push_str(
        "<h2>Selectivity over time</h2><p>Share of the scanned universe each signal flags.</p>",
    );
    let series: Vec<(String, Vec<(f64, f64)>)> = report
        .selectivity
        .iter()
        .map(|s| {
            let points = s
                .series
                .iter()
                .filter_map(|d| d.value.map(|v| (year_fraction(d.date), v)));
            (s.group.clone(), points.collect())
        })
        .collect();
    html.push_str(&svg(|area| line_chart(area, &series, true)));
    html.push_str("</body></html>\n");
    html
}

fn ic_table(html: &mut String, report: &Report) {
    html.push_str(
        "<h2>Rank IC</h2><table><tr><th>factor</th><th>horizon</th><th>mean IC</th><th>std</th>\
         <th>t (Newey–West)</th><th>IR</th><th>&gt;0</th><th>dates</th><th>lags</th><th>top−bottom</th>\
         <th>t</th><th>hit</th><th>top turnover</th></tr>",
    );
    for factor in &report.factors {
        for h in &factor.horizons {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}d</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&factor.name),
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
                share(factor.turnover.mean),
            );
        }
    }
    html.push_str("</table>");
}

fn factor_section(html: &mut String, factor: &FactorReport) {
    let name = escape(&factor.name);
    let _ = write!(html, "<h2>{name}</h2><h3>IC over time</h3>");
    let series: Vec<(String, Vec<(f64, f64)>)> = factor
        .horizons
        .iter()
        .map(|h| {
            let points = h
                .series
                .iter()
                .filter_map(|d| d.ic.map(|ic| (year_fraction(d.date), ic)));
            (format!("{}d", h.horizon), points.collect())
        })
        .collect();
    html.push_str(&svg(|area| line_chart(area, &series, false)));
    if let Some(h) = primary_horizon(factor) {
        let _ = write!(
            html,
            "<h3>Mean excess return by quantile, {}d</h3><p>Quantile 1 holds the lowest values.</p>",
            h.horizon
        );
        let bars: Vec<f64> = h
            .quantiles
            .iter()
            .map(|q| q.mean_excess.filter(|v| v.is_finite()).unwrap_or(0.0))
            .collect();
        html.push_str(&svg(|area| bar_chart(area, &bars)));
    }
    let p = &factor.portfolio;
    let _ = write!(
        html,
        "<h3>Top-quantile long portfolio (net) against the equal-weight universe</h3>\
         <table><tr><th></th><th>CAGR</th><th>volatility</th><th>Sharpe</th><th>max drawdown</th></tr>\
         <tr><td>top quantile, net</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\
         <tr><td>equal-weight universe</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        pct(p.long.cagr, 1),
        share(p.long.volatility),
        num(p.long.sharpe, 2),
        share(p.long.max_drawdown),
        pct(p.benchmark.cagr, 1),
        share(p.benchmark.volatility),
        num(p.benchmark.sharpe, 2),
        share(p.benchmark.max_drawdown),
    );
    let curves = vec![
        (
            "top quantile, net".to_string(),
            p.equity
                .iter()
                .map(|e| (year_fraction(e.date), e.long))
                .collect(),
        ),
        (
            "equal-weight universe".to_string(),
            p.equity
                .iter()
                .map(|e| (year_fraction(e.date), e.benchmark))
                .collect(),
        ),
    ];
    html.push_str(&svg(|area| line_chart(area, &curves, false)));
}

fn signal_table(html: &mut String, report: &Report) {
    html.push_str("<h2>Signal groups</h2><p>Mean excess return over the scanned universe per date (t-stat), hit rate, names per date.</p><table><tr><th>group</th><th>per date</th>");
    for horizon in &report.signal_groups {
        let _ = write!(html, "<th>{}d</th>", horizon.horizon);
    }
    html.push_str("</tr>");
    let groups = report.signal_groups.first().map_or(0, |h| h.groups.len());
    for g in 0..groups {
        let first = &report.signal_groups[0].groups[g];
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.1}</td>",
            escape(&first.group),
            first.mean_count
        );
        for horizon in &report.signal_groups {
            let s = &horizon.groups[g];
            let _ = write!(
                html,
                "<td>{} ({}) {}</td>",
                pct(s.mean_excess, 2),
                num(s.t_stat, 1),
                share(s.hit_rate)
            );
        }
        html.push_str("</tr>");
    }
    html.push_str("</table>");
}

/// Draws into an SVG string; a chart that cannot be drawn says so instead of failing the page.
fn svg(draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult) -> String {
    let mut buffer = String::new();
    let outcome = {
        let area = SVGBackend::with_string(&mut buffer, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&area).and_then(|()| area.present().map_err(Into::into))
    };
    match outcome {
        Ok(()) => buffer,
        Err(error) => format!("<p>(chart not drawn: {})</p>", escape(&error.to_string())),
    }
}

/// Lines over time (x in fractional years). `as_share` formats the y axis in percent.
fn line_chart(
    area: &DrawingArea<SVGBackend, Shift>,
    series: &[(String, Vec<(f64, f64)>)],
    as_share: bool,
) -> DrawResult {
    area.fill(&WHITE)?;
    let points = || {
        series
            .iter()
            .flat_map(|(_, p)| p.iter())
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    };
    let Some((x_range, y_range)) = ranges(points()) else {
        area.draw(&Text::new("no data", (20, 20), ("sans-serif", 14)))?;
        return Ok(());
    };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(x_range, y_range)?;
    chart
        .configure_mesh()
        .x_labels(10)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| {
            if as_share {
                format!("{:.0}%", y * 100.0)
            } else {
                format!("{y:.2}")
            }
        })
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (i, (label, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let finite = points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        chart
            .draw_series(LineSeries::new(finite, colour.stroke_width(1)))?
            .label(label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

/// One bar per quantile, green above zero and red below, on a y axis in percent.
fn bar_chart(area: &DrawingArea<SVGBackend, Shift>, values: &[f64]) -> DrawResult {
    area.fill(&WHITE)?;
    let largest = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let half = if largest > 0.0 { largest * 1.1 } else { 0.001 };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..values.len() as f64 + 0.5, -half..half)?;
    chart
        .configure_mesh()
        .x_labels(values.len())
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{:.2}%", y * 100.0))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
        let x = i as f64 + 1.0;
        let colour = if v >= 0.0 { COLOURS[2] } else { COLOURS[1] };
        Rectangle::new([(x - 0.35, 0.0), (x + 0.35, v)], colour.filled())
    }))?;
    Ok(())
}

/// The x and y ranges of the points, widened a little (and made non-empty).
fn ranges<'a>(
    points: impl Iterator<Item = &'a (f64, f64)>,
) -> Option<(std::ops::Range<f64>, std::ops::Range<f64>)> {
    let mut bounds: Option<(f64, f64, f64, f64)> = None;
    for &(x, y) in points {
        bounds = Some(match bounds {
            None => (x, x, y, y),
            Some((x0, x1, y0, y1)) => (x0.min(x), x1.max(x), y0.min(y), y1.max(y)),
        });
    }
    let (x0, x1, y0, y1) = bounds?;
    let pad = |lo: f64, hi: f64| {
        let span = hi - lo;
        let pad = if span > 0.0 {
            span * 0.05
        } else {
            lo.abs().max(1.0) * 0.05
        };
        lo - pad..hi + pad
    };
    Some((pad(x0, x1), pad(y0, y1)))
}

/// A date as a year with a fraction, the x axis of every time chart.
fn year_fraction(date: NaiveDate) -> f64 {
    date.year() as f64 + f64::from(date.ordinal0()) / 365.25
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
