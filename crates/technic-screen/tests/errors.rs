//! Broken expressions and the messages users get for them: each names the column and what to do.

use technic_screen::ErrorKind::{self, *};
use technic_screen::{MAX_DEPTH, MAX_LENGTH, Part, Screen, ScreenOptions};

fn options() -> ScreenOptions {
    ScreenOptions {
        sectors: [
            "Energy",
            "Utilities",
            "Information Technology",
            "Health Care",
        ]
        .map(String::from)
        .to_vec(),
        ..ScreenOptions::default()
    }
}

fn filter_error(expression: &str) -> (Part, technic_screen::ScreenError) {
    match Screen::compile(Some(expression), None, &options()) {
        Ok(_) => panic!("`{expression}` compiled"),
        Err(e) => e,
    }
}

/// (expression, kind, column, message)
const BROKEN: &[(&str, ErrorKind, usize, &str)] = &[
    (
        "rsi14 < 30",
        UnknownName,
        1,
        "unknown name `rsi14`; did you mean `rsi_14`?",
    ),
    (
        "sma50 > close",
        UnknownName,
        1,
        "unknown name `sma50`; did you mean `sma_50`?",
    ),
    (
        "clsoe > 10",
        UnknownName,
        1,
        "unknown name `clsoe`; did you mean `close`?",
    ),
    (
        "rsi_14 <",
        Syntax,
        9,
        "expected a value to compare with, found the end of the expression",
    ),
    (
        "rsi_14 < (3 +",
        Syntax,
        14,
        "expected a value after the operator, found the end of the expression",
    ),
    (
        "(close > 1",
        Syntax,
        11,
        "expected `)`, found the end of the expression",
    ),
    (
        "close > 1)",
        Syntax,
        10,
        "expected an operator or the end of the expression, found `)`",
    ),
    (
        "close >> 1",
        Syntax,
        8,
        "expected a value to compare with, found `>`",
    ),
    (
        "close > 1 and",
        Syntax,
        14,
        "expected a condition after `and`, found the end of the expression",
    ),
    (
        "and close > 1",
        Syntax,
        1,
        "expected a value (a number, a name, a 'string', a call or parentheses), found `and`",
    ),
    (
        "or",
        Syntax,
        1,
        "expected a value (a number, a name, a 'string', a call or parentheses), found `or`",
    ),
    (
        "close > 1 or or close < 2",
        Syntax,
        14,
        "expected a condition after `or`, found `or`",
    ),
    (
        "rsi_0 < 10",
        OutOfRange,
        1,
        "indicator 'rsi_0': '0' is not a period (a whole number from 1 to 100000)",
    ),
    (
        "rsi_1 < 10",
        OutOfRange,
        1,
        "indicator 'rsi_1': TA-Lib needs every period of rsi to be at least 2",
    ),
    (
        "sma_100001 > close",
        OutOfRange,
        1,
        "indicator 'sma_100001': '100001' is not a period (a whole number from 1 to 100000)",
    ),
    (
        "return_0 > 1",
        OutOfRange,
        1,
        "the period of `return_0` must be a whole number from 1 to 5000",
    ),
    (
        "avg_volume_0 > 1",
        OutOfRange,
        1,
        "the period of `avg_volume_0` must be a whole number from 1 to 5000",
    ),
    (
        "close[-1] > 1",
        Type,
        7,
        "`[n]` needs a whole number of bars from 0 to 5000 written as a number, but got `-1`",
    ),
    (
        "close[1.5] > 1",
        OutOfRange,
        7,
        "`[n]` needs a whole number of bars from 0 to 5000, got 1.5",
    ),
    (
        "close[10000] > 1",
        OutOfRange,
        7,
        "`[n]` needs a whole number of bars from 0 to 5000, got 10000",
    ),
    (
        "close[x] > 1",
        Type,
        7,
        "`[n]` needs a whole number of bars from 0 to 5000 written as a number, but got `x`",
    ),
    (
        "bb_20_2 > close",
        UnknownName,
        1,
        "`bb_20_2` has several outputs; name one of `bb_upper`, `bb_middle`, `bb_lower`",
    ),
    (
        "macd_hist_5_35 > 0",
        OutOfRange,
        1,
        "indicator 'macd_5_35': expected macd or macd_FAST_SLOW_SIGNAL, e.g. macd_12_26_9",
    ),
    (
        "foo(close) > 1",
        UnknownName,
        1,
        "unknown function `foo`; functions are crosses_above, crosses_below, rising, falling, highest, lowest, pct_rank, sector_pct_rank, zscore, screen",
    ),
    (
        "crosses_abov(sma_50, sma_200)",
        UnknownName,
        1,
        "unknown function `crosses_abov`; did you mean `crosses_above`?",
    ),
    (
        "crosses_above(sma_50)",
        Type,
        1,
        "`crosses_above` takes 2 arguments, `crosses_above(a, b)`, but got 1",
    ),
    (
        "rising(close)",
        Type,
        1,
        "`rising` takes 2 arguments, `rising(x, n)`, but got 1",
    ),
    (
        "rising(close, 0)",
        OutOfRange,
        15,
        "the second argument of `rising` needs a whole number of bars from 1 to 5000, got 0",
    ),
    (
        "rising(close, n)",
        Type,
        15,
        "the second argument of `rising` needs a whole number of bars from 1 to 5000 written as a number, but got `n`",
    ),
    (
        "highest(close, 5)",
        Type,
        1,
        "a filter must be true or false, but `highest(close, 5)` is a number; compare it, e.g. `highest(close, 5) > 0`",
    ),
    (
        "sector > 'Energy'",
        Type,
        1,
        "`>` does not compare text; text takes `==`, `!=` and `in (…)`, e.g. `sector == 'Energy'`",
    ),
    (
        "sector == 'Energi'",
        UnknownName,
        11,
        "unknown sector 'Energi'; did you mean 'Energy'?",
    ),
    (
        "sector in ('Energy', 'Utilitys')",
        UnknownName,
        22,
        "unknown sector 'Utilitys'; did you mean 'Utilities'?",
    ),
    (
        "sector in ('Energy', 5)",
        Type,
        22,
        "`in` lists quoted text here, e.g. ('Energy', 'Utilities'), but got `5`",
    ),
    (
        "close in ('Energy')",
        Type,
        11,
        "`in` lists numbers here, e.g. (1, 2, 3), but got `'Energy'`",
    ),
    (
        "signal == 'BUYY'",
        UnknownName,
        11,
        "unknown signal 'BUYY'; did you mean 'BUY'?",
    ),
    (
        "close",
        Type,
        1,
        "a filter must be true or false, but `close` is a number; compare it, e.g. `close > 0`",
    ),
    (
        "close + 1",
        Type,
        1,
        "a filter must be true or false, but `close + 1` is a number; compare it, e.g. `close + 1 > 0`",
    ),
    (
        "sector",
        Type,
        1,
        "a filter must be true or false, but `sector` is text; compare it, e.g. `sector == '…'`",
    ),
    (
        "close > 'Energy'",
        Type,
        9,
        "`>` compares like with like, but `'Energy'` is text and the other side is a number",
    ),
    (
        "'Energy' < sector",
        Type,
        1,
        "`<` does not compare text; text takes `==`, `!=` and `in (…)`, e.g. `sector == 'Energy'`",
    ),
    (
        "not close",
        Type,
        5,
        "`not` needs true/false, but `close` is a number; compare it, e.g. `close > 0`",
    ),
    (
        "close and rsi_14 < 30",
        Type,
        1,
        "`and` needs true/false, but `close` is a number; compare it, e.g. `close > 0`",
    ),
    (
        "close > 1 and volume",
        Type,
        15,
        "`and` needs true/false, but `volume` is a number; compare it, e.g. `volume > 0`",
    ),
    (
        "tech_rating[1] > 50",
        Type,
        1,
        "`tech_rating[1]` reads an earlier bar, but `tech_rating` is known only for the newest bar (result fields and cross-sectional functions have no past values)",
    ),
    (
        "rising(tech_rating, 3)",
        Type,
        8,
        "`rising` reads an earlier bar, but `tech_rating` is known only for the newest bar (result fields and cross-sectional functions have no past values)",
    ),
    (
        "crosses_above(alpha_score, 0.5)",
        Type,
        15,
        "`crosses_above` reads an earlier bar, but `alpha_score` is known only for the newest bar (result fields and cross-sectional functions have no past values)",
    ),
    (
        "pct_rank(pct_rank(close)) > 50",
        Type,
        10,
        "`pct_rank` cannot contain another cross-sectional function",
    ),
    (
        "pct_rank(close)[1] > 50",
        Type,
        1,
        "`pct_rank(close)[1]` reads an earlier bar, but `pct_rank(close)` is known only for the newest bar (result fields and cross-sectional functions have no past values)",
    ),
    (
        "1 < close < 2",
        Syntax,
        11,
        "comparisons do not chain (write `a < b and b < c`, or `b between a and c`)",
    ),
    (
        "close > 1e999",
        Syntax,
        9,
        "`1e999` is not a number (one decimal point at most, and within ±1.8e308)",
    ),
    (
        "close > 'abc",
        Syntax,
        9,
        "this string is not closed: its closing quote is missing",
    ),
    (
        "close > 1.2.3",
        Syntax,
        9,
        "`1.2.3` is not a number (one decimal point at most, and within ±1.8e308)",
    ),
    (
        "close ? 1",
        Syntax,
        7,
        "expected an operator or the end of the expression, found `?`",
    ),
    (
        "@close > 1",
        Syntax,
        1,
        "expected a value (a number, a name, a 'string', a call or parentheses), found `@`",
    ),
    (
        "close > 1 between 2 and 3",
        Syntax,
        11,
        "expected an operator or the end of the expression, found `between`",
    ),
    ("close between 1 3", Syntax, 17, "expected `and`, found `3`"),
    (
        "close in 1, 2",
        Syntax,
        10,
        "expected a list in parentheses after `in`, e.g. ('Energy', 'Utilities'), found `1`",
    ),
    (
        "close in ()",
        Syntax,
        11,
        "expected a list in parentheses after `in`, e.g. ('Energy', 'Utilities'), found `)`",
    ),
    (
        "sma_50 > ema_20 and rsi_14 >",
        Syntax,
        29,
        "expected a value to compare with, found the end of the expression",
    ),
    (
        "crosses_above",
        UnknownName,
        1,
        "unknown name `crosses_above`; `crosses_above` is a function: call it with arguments in parentheses",
    ),
    (
        "-sector > 1",
        Type,
        2,
        "`-` needs a number, but `sector` is text",
    ),
];

#[test]
fn every_broken_filter_gets_its_message() {
    assert!(BROKEN.len() >= 40);
    let mut wrong = Vec::new();
    for &(expression, kind, column, message) in BROKEN {
        let (part, error) = filter_error(expression);
        if (part, error.kind, error.column, error.message.as_str())
            != (Part::Where, kind, column, message)
        {
            wrong.push(format!(
                "{expression:?}: got {part:?} {:?} {}",
                error.kind, error
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_ranking_error_names_the_rank_by_part() {
    let error = Screen::compile(Some("close > 1"), Some("rsi_14 > 50"), &options()).unwrap_err();
    assert_eq!(error.0, Part::RankBy);
    assert_eq!(error.0.field(), "rank_by");
    assert_eq!(
        error.1.message,
        "a ranking must be a number, but `rsi_14 > 50` is true/false"
    );
    let error = Screen::compile(None, Some("return_126 +"), &options()).unwrap_err();
    assert_eq!(
        (error.0, error.1.kind, error.1.column),
        (Part::RankBy, Syntax, 13)
    );
    let error = Screen::compile(Some("close >"), Some("return_126"), &options()).unwrap_err();
    assert_eq!(error.0.field(), "where");
}

#[test]
fn huge_and_deep_expressions_are_refused_with_the_limit_named() {
    let long = "close > 1 and ".repeat(800) + "close > 1";
    assert!(long.len() > 10_000);
    let (_, error) = filter_error(&long);
    assert_eq!(error.kind, TooLong);
    assert_eq!(
        error.message,
        format!(
            "the expression is {} characters long; the limit is {MAX_LENGTH}",
            long.chars().count()
        )
    );
    assert_eq!(error.column, MAX_LENGTH + 1);

    for deep in [
        format!("{}close > 1{}", "(".repeat(900), ")".repeat(900)),
        format!("{}close > 1", "not ".repeat(400)),
        format!("{}close > 1", "-".repeat(1_500)),
        format!("{}close{} > 1", "highest(".repeat(100), ", 2)".repeat(100)),
        "(".repeat(1_999),
        format!("close{}", "[1]".repeat(600)),
    ] {
        let (_, error) = filter_error(&deep);
        assert_eq!(error.kind, TooDeep, "{}", &deep[..40]);
        assert!(
            error
                .message
                .contains(&format!("deeper than {MAX_DEPTH} levels")),
            "{error}"
        );
    }
    // At the limit itself, it compiles.
    let at_limit = format!(
        "{}close > 1{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    assert!(Screen::compile(Some(&at_limit), None, &options()).is_ok());
    let (_, error) = filter_error("   ");
    assert_eq!(
        (error.kind, error.message.as_str()),
        (Syntax, "the expression is empty")
    );
}
