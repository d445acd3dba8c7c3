//! The renders (terminal table, CSV, HTML, JSON) and the errors of `analyse`, on a small panel
//! whose numbers are known by construction.

use chrono::NaiveDate;
use technic_backtest::{
    Dropped, Factor, ForwardReturns, Grid, Panel, Provenance, SignalCell, StatsError, StatsOptions,
    analyse, render_csv, render_html, render_table,
};
use technic_core::rating::Signal;

const SYMBOLS: usize = 12;
const DATES: usize = 8;

/// Twelve names over eight month-ends. The factor is the symbol's index, and the 21-day return
/// rises with it (a perfect IC of +1) except on the last date, which has no return (past the
/// data). The top third (symbols 8–11) is `STRONG_BUY` and high quality, the rest `HOLD`.
fn panel(survivorship_bias: bool) -> Panel {
    let dates: Vec<NaiveDate> = [
        "2020-01-31",
        "2020-02-28",
        "2020-03-31",
        "2020-04-30",
        "2020-05-29",
        "2020-06-30",
        "2020-07-31",
        "2020-08-31",
    ]
    .iter()
    .map(|d| d.parse().unwrap())
    .collect();
    let grid = |f: &dyn Fn(usize, usize) -> f64| Grid {
        values: (0..DATES * SYMBOLS)
            .map(|c| f(c / SYMBOLS, c % SYMBOLS))
            .collect(),
    };
    let rising = |d: usize, s: usize| {
        if d + 1 == DATES {
            f64::NAN
        } else {
            0.001 * s as f64 - 0.004 + 0.0001 * d as f64
        }
    };
    Panel {
        dates,
        symbols: (0..SYMBOLS).map(|s| format!("S{s:02}")).collect(),
        factors: vec![Factor {
            name: "rank <of> symbol".into(),
            values: grid(&|_, s| s as f64),
        }],
        forward_returns: vec![ForwardReturns {
            horizon: 21,
            values: grid(&rising),
        }],
        next_period_returns: grid(&rising),
        signals: (0..DATES * SYMBOLS)
            .map(|c| {
                let strong = c % SYMBOLS >= 8;
                Some(SignalCell {
                    signal: if strong {
                        Signal::StrongBuy
                    } else {
                        Signal::Hold
                    },
                    high_quality: strong,
                })
            })
            .collect(),
        provenance: Provenance {
            source: "a test panel".into(),
            survivorship_bias,
            dropped: vec![Dropped {
                reason: "too little history for the rating".into(),
                symbol_dates: 1234,
            }],
        },
    }
}

fn options() -> StatsOptions {
    StatsOptions {
        quantiles: 3,
        cost_bps: 10.0,
        splits: vec!["2020-05-01".parse().unwrap()],
    }
}

#[test]
fn the_numbers_of_a_panel_known_by_construction() {
    let report = analyse(&panel(true), &options()).unwrap();
    let h = &report.factors[0].horizons[0];
    assert_eq!(h.ic.dates, DATES - 1, "the last date has no 21-day return");
    assert_eq!(h.ic.mean, Some(1.0));
    assert_eq!(h.ic.positive_share, Some(1.0));
    assert_eq!(h.dropped.no_forward_return, SYMBOLS);
    assert_eq!(h.newey_west_lags, 0, "21 days on month-ends do not overlap");
    // Buckets of four names: mean of 0.001 × (0..4, 4..8, 8..12) − 0.004, plus the date's drift.
    let top_minus_bottom = h.spread.mean.unwrap();
    assert!(
        (top_minus_bottom - 0.008).abs() < 1e-12,
        "{top_minus_bottom}"
    );
    assert_eq!(h.spread.hit_rate, Some(1.0));
    assert!((h.quantiles[2].mean_excess.unwrap() - 0.004).abs() < 1e-12);
    assert!((h.quantiles[0].mean_excess.unwrap() + 0.004).abs() < 1e-12);
    assert_eq!(
        h.quantiles.iter().map(|q| q.mean_count).sum::<f64>(),
        SYMBOLS as f64
    );
    // Sub-periods split at 2020-05-01, and calendar years.
    assert_eq!(h.ic_by_period.len(), 2);
    assert_eq!(h.ic_by_period[0].label, "2020-01-31..2020-04-30");
    assert_eq!(h.ic_by_period[1].ic.dates, 3);
    assert_eq!(h.ic_by_year.len(), 1);
    // The same names stay on top: bought once, never traded again.
    let p = &report.factors[0].portfolio;
    assert_eq!(report.factors[0].turnover.mean, Some(0.0));
    assert!((p.periods[0].traded - 1.0).abs() < 1e-12);
    assert!(
        p.periods[1].traded > 0.0 && p.periods[1].traded < 0.01,
        "only drift is rebalanced"
    );
    assert_eq!(p.periods[0].holdings, 4);
    // STRONG_BUY is the top third: its excess is the top bucket's; selectivity a third.
    let strong = &report.signal_groups[0].groups[0];
    assert_eq!(strong.group, "STRONG_BUY");
    assert!((strong.mean_excess.unwrap() - 0.004).abs() < 1e-12);
    assert_eq!(strong.hit_rate, Some(1.0));
    // Its excess is the same every date (up to rounding): no spread, no t-stat (not 10¹⁶).
    assert_eq!(strong.t_stat, None);
    assert_eq!(strong.mean_count, 4.0);
    let hq = report
        .selectivity
        .iter()
        .find(|s| s.group == "HIGH_QUALITY")
        .unwrap();
    assert!((hq.mean.unwrap() - 1.0 / 3.0).abs() < 1e-12);
}

#[test]
fn the_table_prints_the_numbers_and_the_caveats() {
    let report = analyse(&panel(true), &options()).unwrap();
    let table = render_table(&report);
    for needle in [
        "Rank IC",
        "rank <of> symbol",
        "STRONG_BUY",
        "HIGH_QUALITY",
        "Selectivity",
        "Top-quantile long portfolio",
        "Survivorship bias",
        "Rank IC by sub-period",
        "2020-05-29..2020-08-31",
        "1,234 symbol-dates left out of the universe: too little history for the rating.",
        "rank <of> symbol at 21d: 12 symbol-dates without a forward return (the data ends first); \
         1 date without any name having both a value and a return.",
    ] {
        assert!(table.contains(needle), "missing {needle:?} in\n{table}");
    }
    // A bar per quantile: the bottom one left of the axis, the top one right of it.
    let bars: Vec<&str> = table
        .lines()
        .filter(|l| l.contains('|') && l.contains("names)"))
        .collect();
    assert_eq!(bars.len(), 3, "{table}");
    assert!(bars[0].contains("█|") && bars[2].contains("|█"), "{table}");

    let without = render_table(&analyse(&panel(false), &options()).unwrap());
    assert!(
        !without.contains("Survivorship"),
        "no survivorship caveat without the flag"
    );

    // Two factors losing the same symbol-dates: said once, for every factor.
    let mut twice = panel(true);
    let mut copy = twice.factors[0].clone();
    copy.name = "copy".into();
    twice.factors.push(copy);
    let table = render_table(&analyse(&twice, &options()).unwrap());
    assert!(
        table.contains("Every factor at 21d: 12 symbol-dates"),
        "{table}"
    );
    assert!(!table.contains("rank <of> symbol at 21d: 12"), "{table}");

    // A panel without scans has no signal sections, and says so.
    let mut unscanned = panel(false);
    unscanned.signals.iter_mut().for_each(|s| *s = None);
    let report = analyse(&unscanned, &options()).unwrap();
    let table = render_table(&report);
    assert!(table.contains("No scanned signals in the panel") && !table.contains("STRONG_BUY"));
    assert!(render_html(&report).contains("No scanned signals in the panel"));
}

#[test]
fn the_csv_has_one_row_per_factor_horizon_and_date() {
    let report = analyse(&panel(true), &options()).unwrap();
    let csv = render_csv(&report);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..5], ["factor", "horizon", "date", "names", "ic"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), DATES);
    assert_eq!(&rows[0][0], "rank <of> symbol");
    assert_eq!(&rows[0][2], "2020-01-31");
    assert_eq!(rows[0][4].parse::<f64>().unwrap(), 1.0);
    assert_eq!(
        &rows[DATES - 1][4],
        "",
        "no IC on the last date: an empty cell, not a zero"
    );
    let equity: f64 = rows[DATES - 1][12].parse().unwrap();
    assert_eq!(equity, report.factors[0].portfolio.equity[DATES - 1].long);
}

#[test]
fn the_html_is_one_self_contained_file() {
    let report = analyse(&panel(true), &options()).unwrap();
    let html = render_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // IC over time, decile bars and equity curves for the factor, then selectivity.
    assert_eq!(html.matches("<svg").count(), 4, "four charts");
    assert!(html.contains("Survivorship bias"));
    assert!(html.contains("rank &lt;of&gt; symbol"), "names are escaped");
    assert!(html.contains("Mean IC by year") && html.contains("<td>2020</td><td>1.0000</td>"));
    assert!(
        html.contains("<td>2020-01-31..2020-04-30</td>"),
        "sub-periods too"
    );
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("<link"));
    let outside = html
        .match_indices("http")
        .filter(|(i, _)| !html[*i..].starts_with("http://www.w3.org/2000/svg"))
        .count();
    assert_eq!(outside, 0, "nothing but the SVG namespace is a URL");
}

#[test]
fn json_carries_the_per_date_series_and_null_for_undefined() {
    let report = analyse(&panel(true), &options()).unwrap();
    let json = serde_json::to_value(&report).unwrap();
    let series = &json["factors"][0]["horizons"][0]["series"];
    assert_eq!(series.as_array().unwrap().len(), DATES);
    assert_eq!(series[DATES - 1]["ic"], serde_json::Value::Null);
    assert_eq!(
        json["selectivity"][0]["series"].as_array().unwrap().len(),
        DATES
    );
    assert_eq!(
        json["factors"][0]["portfolio"]["equity"]
            .as_array()
            .unwrap()
            .len(),
        DATES
    );
    assert_eq!(json["provenance"]["survivorship_bias"], true);
}

#[test]
fn bad_panels_and_options_are_refused_by_name() {
    let good = panel(false);
    let check = |panel: &Panel, options: &StatsOptions, expected: &str| {
        let error = analyse(panel, options).unwrap_err();
        assert!(
            error.to_string().contains(expected),
            "{error} lacks {expected:?}"
        );
    };
    assert_eq!(
        analyse(
            &good,
            &StatsOptions {
                quantiles: 1,
                ..options()
            }
        ),
        Err(StatsError::Quantiles(1))
    );
    check(
        &good,
        &StatsOptions {
            cost_bps: f64::NAN,
            ..options()
        },
        "cost_bps",
    );
    check(
        &good,
        &StatsOptions {
            cost_bps: -1.0,
            ..options()
        },
        "cost_bps",
    );

    let mut short = good.clone();
    short.dates.truncate(2);
    assert_eq!(analyse(&short, &options()), Err(StatsError::TooFewDates(2)));

    let mut unsorted = good.clone();
    unsorted.dates.swap(2, 3);
    check(
        &unsorted,
        &options(),
        "strictly ascending: 2020-04-30 is followed by 2020-03-31",
    );

    let mut ragged = good.clone();
    ragged.factors[0].values.values.pop();
    check(
        &ragged,
        &options(),
        "factor `rank <of> symbol` has 95 cells; 8 dates × 12 symbols = 96",
    );

    let mut zero = good.clone();
    zero.forward_returns[0].horizon = 0;
    check(&zero, &options(), "horizon is 0");

    let mut twice = good.clone();
    twice.forward_returns.push(twice.forward_returns[0].clone());
    check(
        &twice,
        &options(),
        "horizons must be strictly ascending: 21 is followed by 21",
    );

    let mut signals = good.clone();
    signals.signals.truncate(5);
    check(&signals, &options(), "signals has 5 cells");

    let mut next = good.clone();
    next.next_period_returns.values.clear();
    check(&next, &options(), "next_period_returns has 0 cells");

    let mut empty = good;
    empty.symbols.clear();
    check(&empty, &options(), "no symbols");
}

#[test]
fn absurd_values_are_reported_not_panicked_on() {
    let mut absurd = panel(true);
    for (i, v) in absurd.factors[0].values.values.iter_mut().enumerate() {
        *v = [f64::MAX, -f64::MAX, f64::INFINITY, 0.0, f64::MIN_POSITIVE][i % 5];
    }
    for (i, v) in absurd.next_period_returns.values.iter_mut().enumerate() {
        *v = [1e300, -1.0, -0.999_999, f64::NEG_INFINITY][i % 4];
    }
    absurd.forward_returns[0]
        .values
        .values
        .iter_mut()
        .for_each(|v| *v *= 1e305);
    let report = analyse(&absurd, &options()).unwrap();
    assert!(render_table(&report).contains("Rank IC"));
    assert!(render_html(&report).ends_with("</html>\n"));
    assert_eq!(render_csv(&report).lines().count(), 1 + DATES);
    serde_json::to_string(&report).expect("serializes");
}
