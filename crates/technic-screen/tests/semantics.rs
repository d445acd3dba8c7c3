//! What each construct means, on bars whose values are known by construction.

use chrono::NaiveDate;
use technic_core::{Bar, Bars};
use technic_screen::{Fields, Screen, ScreenOptions, pct_ranks, zscores};

/// Bars whose closes are `closes` (open = close, high = close + 1, low = close / 2).
fn bars(closes: &[f64]) -> Bars {
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    let mut bars = Bars::with_capacity(closes.len());
    for (i, &close) in closes.iter().enumerate() {
        bars.push(Bar {
            date: start + chrono::Days::new(i as u64),
            open: close,
            high: close + 1.0,
            low: close / 2.0,
            close,
            volume: 100.0 * (i + 1) as f64,
        })
        .expect("bar");
    }
    bars
}

fn matches(filter: &str, closes: &[f64]) -> bool {
    let screen = Screen::compile(Some(filter), None, &ScreenOptions::default()).expect(filter);
    let captured = screen.capture(&bars(closes)).expect("capture");
    let exact = screen.judge(&[(&captured, Fields::default())])[0].matches;
    assert_eq!(
        screen.may_match(&captured, &Fields::default()),
        exact,
        "{filter}"
    );
    exact
}

#[test]
fn past_values_and_event_functions() {
    let up = [1.0, 2.0, 3.0, 4.0, 5.0];
    assert!(matches(
        "close == 5 and close[1] == 4 and close[4] == 1",
        &up
    ));
    assert!(
        !matches("close[5] < 100", &up),
        "before the first bar is missing"
    );
    assert!(
        matches("not (close[5] < 100)", &up),
        "not of a missing comparison is true"
    );
    assert!(matches("rising(close, 4)", &up));
    assert!(!matches("rising(close, 5)", &up), "needs 5 earlier bars");
    assert!(matches("falling(-close, 3)", &up));
    assert!(matches(
        "highest(close, 3) == 5 and lowest(close, 3) == 3",
        &up
    ));
    assert!(matches("highest(close[1], 2) == 4", &up));
    assert!(matches("return_2 == (5 / 3 - 1) * 100", &up));
    assert!(matches("change_pct == 25 and gap_pct == 25", &up));
    assert!(
        matches("avg_volume_2 == 450 and not (rel_volume > 0)", &up),
        "20 bars for rel_volume"
    );
    let cross = [5.0, 5.0, 5.0, 4.0, 6.0];
    assert!(matches("crosses_above(close, 5)", &cross));
    assert!(!matches("crosses_above(close[1], 5)", &cross));
    assert!(matches("crosses_below(close[1], 5)", &cross));
    assert!(matches(
        "close between 5.5 and 6 and close in (6, 7) and close not in (1)",
        &cross
    ));
    assert!(matches(
        "-close < 0 and 2 * 3 - 4 / 2 == 4 and -(2 - 3) == 1",
        &cross
    ));
}

#[test]
fn the_52_week_columns_are_rolling_over_252_bars() {
    let mut closes: Vec<f64> = (0..300).map(|i| 100.0 + f64::from(i % 50)).collect();
    closes[10] = 500.0; // out of the window
    closes[100] = 300.0; // in it
    assert!(matches("high_52w == 301 and low_52w == 50", &closes));
    assert!(matches(
        "pct_from_high_52w == (149 / 301 - 1) * 100",
        &closes
    ));
    assert!(
        !matches("high_52w > 0", &closes[..251]),
        "251 bars are not 52 weeks"
    );
}

#[test]
fn cross_sectional_functions_are_exact_in_the_judgement_and_open_while_streaming() {
    let screen = Screen::compile(
        Some("pct_rank(close) > 50 and sector_pct_rank(close) >= 100"),
        Some("zscore(close)"),
        &ScreenOptions::default(),
    )
    .expect("compiles");
    let histories: Vec<Bars> = [1.0, 2.0, 3.0, 4.0].iter().map(|c| bars(&[*c])).collect();
    let captured: Vec<_> = histories
        .iter()
        .map(|b| screen.capture(b).expect("capture"))
        .collect();
    let sectors = ["A", "A", "B", "B"];
    let rows: Vec<_> = captured
        .iter()
        .zip(sectors)
        .map(|(c, s)| {
            (
                c,
                Fields {
                    sector: Some(s),
                    ..Fields::default()
                },
            )
        })
        .collect();
    let verdicts = screen.judge(&rows);
    let matched: Vec<bool> = verdicts.iter().map(|v| v.matches).collect();
    // pct ranks 25, 50, 75, 100; sector ranks 50, 100, 50, 100.
    assert_eq!(matched, [false, false, false, true]);
    let z: Vec<f64> = verdicts.iter().map(|v| v.rank_value).collect();
    assert_eq!(z, zscores(&[1.0, 2.0, 3.0, 4.0]));
    // While streaming every symbol may match: the cross-section is not known yet.
    assert!(rows.iter().all(|(c, f)| screen.may_match(c, f)));
    // Under `not`, an undecided comparison counts the other way, so it still lets through.
    let negated = Screen::compile(
        Some("not (pct_rank(close) > 50) and close > 2"),
        None,
        &ScreenOptions::default(),
    )
    .expect("compiles");
    let streamed: Vec<bool> = rows.iter().map(|(c, f)| negated.may_match(c, f)).collect();
    assert_eq!(streamed, [false, false, true, true]);
    let exact: Vec<bool> = negated.judge(&rows).iter().map(|v| v.matches).collect();
    assert_eq!(exact, [false, false, false, false]);
}

#[test]
fn ranks_average_ties_as_pandas_does() {
    let ranks = pct_ranks(&[10.0, 20.0, 20.0, f64::NAN, 5.0]);
    assert_eq!(ranks[0], 2.0 / 4.0 * 100.0);
    assert_eq!(ranks[1], 3.5 / 4.0 * 100.0);
    assert_eq!(ranks[2], ranks[1]);
    assert!(ranks[3].is_nan());
    assert_eq!(ranks[4], 25.0);
    assert!(zscores(&[3.0, 3.0]).iter().all(|z| z.is_nan()));
}

#[test]
fn a_screen_needs_only_its_own_indicators() {
    let screen = Screen::compile(
        Some("rsi_2 < 10 and close > sma_200 and macd_hist > 0 and macd > 0 and atr_pct < 5"),
        Some("return_126"),
        &ScreenOptions::default(),
    )
    .expect("compiles");
    let names: Vec<String> = screen
        .indicators()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["rsi_2", "sma_200", "macd_12_26_9", "natr_14"]);
    assert_eq!(screen.history(), 1);
    let deep = Screen::compile(
        Some("crosses_above(sma_50[3], highest(close, 10))"),
        None,
        &ScreenOptions::default(),
    )
    .expect("compiles");
    // The longer of the two reaches, 9 bars back, and one more for the cross.
    assert_eq!(deep.history(), 9 + 1 + 1);
}
