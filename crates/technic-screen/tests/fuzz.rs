//! Nothing panics on any input: random text and random token soups go through compile, capture,
//! streaming evaluation and the final judgement. `corpus.txt` keeps inputs worth replaying (one a
//! line, `\n` written as is), found by hand and by these properties.

use chrono::NaiveDate;
use proptest::prelude::*;
use technic_core::{Bar, Bars};
use technic_screen::{Fields, Screen, ScreenOptions};

fn bars(n: usize) -> Bars {
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    let mut bars = Bars::with_capacity(n);
    for i in 0..n {
        let close = 50.0 + (i as f64 / 7.0).sin() * 5.0 + i as f64 * 0.03;
        bars.push(Bar {
            date: start + chrono::Days::new(i as u64),
            open: close - 0.2,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume: 1e6 + (i % 5) as f64 * 1e4,
        })
        .expect("valid bar");
    }
    bars
}

fn options() -> ScreenOptions {
    ScreenOptions {
        sectors: vec!["Energy".into(), "Utilities".into()],
        ..ScreenOptions::default()
    }
}

/// Compiles `filter` (and the same text as a ranking) and, where it compiles, evaluates it on
/// short and long histories.
fn exercise(text: &str) {
    let histories = [bars(0), bars(3), bars(300)];
    for (filter, rank) in [(Some(text), None), (None, Some(text))] {
        let Ok(screen) = Screen::compile(filter, rank, &options()) else {
            continue;
        };
        let fields = Fields {
            tech_rating: 55.0,
            alpha_score: f64::NAN,
            sector: Some("Energy"),
            signal: Some("BUY"),
            ..Fields::default()
        };
        let mut captured = Vec::new();
        for bars in &histories {
            if let Ok(c) = screen.capture(bars) {
                screen.may_match(&c, &fields);
                captured.push(c);
            }
        }
        let rows: Vec<_> = captured.iter().map(|c| (c, fields)).collect();
        screen.judge(&rows);
    }
}

const TOKENS: &[&str] = &[
    "close",
    "open",
    "volume",
    "rsi_14",
    "rsi_2",
    "sma_50",
    "sma_200",
    "bb_upper",
    "macd_hist",
    "macd_12_26_9_hist",
    "bb_20_2.5_2.5_lower",
    "aroon_up_25",
    "sar",
    "obv",
    "return_5",
    "avg_volume_3",
    "rel_volume",
    "high_52w",
    "pct_from_high_52w",
    "gap_pct",
    "atr_pct",
    "tech_rating",
    "alpha_score",
    "sector",
    "signal",
    "crosses_above",
    "crosses_below",
    "rising",
    "falling",
    "highest",
    "lowest",
    "pct_rank",
    "sector_pct_rank",
    "zscore",
    "and",
    "or",
    "not",
    "in",
    "between",
    "(",
    ")",
    "[",
    "]",
    ",",
    "+",
    "-",
    "*",
    "/",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "=",
    "!",
    "0",
    "1",
    "2",
    "10",
    "1e3",
    "0.5",
    "1e999",
    "'Energy'",
    "'x",
    "\"BUY\"",
    "rsi14",
    "sma_0",
    "macd_5",
    "bb_1_2_3_4",
    "🙂",
    "\u{0}",
    " ",
    "\t",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_text_never_panics(text in ".{0,200}") {
        exercise(&text);
    }

    #[test]
    fn random_token_soups_never_panic(text in token_soup()) {
        exercise(&text);
    }

    #[test]
    fn well_formed_random_screens_evaluate(
        a in prop::sample::select(&TOKENS[..24]),
        b in prop::sample::select(&TOKENS[..24]),
        n in 0u32..400,
        op in prop::sample::select(&["<", ">", "<=", ">=", "==", "!="][..]),
    ) {
        exercise(&format!("{a}[{n}] {op} {b} or crosses_above({a}, {b}) or rising({b}, {}) and pct_rank({a}) > 50", n + 1));
    }
}

#[test]
fn the_corpus_replays_without_panics() {
    let corpus = include_str!("corpus.txt");
    let mut count = 0;
    for line in corpus.lines() {
        exercise(&line.replace("\\n", "\n"));
        count += 1;
    }
    assert!(count >= 30, "{count} corpus entries");
}
