//! Chained screens: `screen('name')` is the saved screen's filter, resolved when compiling; a
//! cycle, an unknown name and a broken saved screen are errors that say which screens.

use chrono::NaiveDate;
use technic_core::{Bar, Bars};
use technic_screen::{ErrorKind, Fields, MAX_CHAIN, Part, SavedText, Screen, ScreenOptions};

fn saved(screens: &[(&str, Option<&str>, Option<&str>)]) -> ScreenOptions {
    ScreenOptions {
        saved: screens
            .iter()
            .map(|(name, filter, rank_by)| {
                let texts = SavedText {
                    filter: filter.map(str::to_owned),
                    rank_by: rank_by.map(str::to_owned),
                };
                ((*name).to_owned(), texts)
            })
            .collect(),
        ..ScreenOptions::default()
    }
}

/// Closes that rise, fall or wander: enough shapes that two different filters disagree on some.
fn universe() -> Vec<Bars> {
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    (0..40)
        .map(|k| {
            let mut bars = Bars::with_capacity(260);
            for i in 0..260 {
                let t = i as f64;
                let close = 50.0
                    + f64::from(k)
                    + (t * (0.05 + 0.01 * f64::from(k % 7))).sin() * 10.0
                    + t * (f64::from(k % 5) - 2.0) * 0.05;
                bars.push(Bar {
                    date: start + chrono::Days::new(i),
                    open: close,
                    high: close + 1.0,
                    low: close - 1.0,
                    close,
                    volume: 1000.0 + t,
                })
                .expect("bar");
            }
            bars
        })
        .collect()
}

fn verdicts(screen: &Screen) -> Vec<(bool, u64)> {
    let universe = universe();
    let captured: Vec<_> = universe
        .iter()
        .map(|bars| screen.capture(bars).expect("capture"))
        .collect();
    let rows: Vec<_> = captured.iter().map(|c| (c, Fields::default())).collect();
    screen
        .judge(&rows)
        .into_iter()
        .map(|v| (v.matches, v.rank_value.to_bits()))
        .collect()
}

fn error(filter: &str, options: &ScreenOptions) -> (Part, technic_screen::ScreenError) {
    match Screen::compile(Some(filter), None, options) {
        Ok(_) => panic!("`{filter}` compiled"),
        Err(e) => e,
    }
}

#[test]
fn a_chained_screen_means_its_saved_filter() {
    let options = saved(&[
        (
            "uptrend",
            Some("close > sma_50 and rising(sma_20, 3)"),
            None,
        ),
        (
            "calm",
            Some("screen('uptrend') and rsi_14 < 65"),
            Some("return_20"),
        ),
    ]);
    let chained =
        Screen::compile(Some("screen('calm') or close < 45"), None, &options).expect("compiles");
    let inline = Screen::compile(
        Some("((close > sma_50 and rising(sma_20, 3)) and rsi_14 < 65) or close < 45"),
        None,
        &options,
    )
    .expect("compiles");
    let (chained, inline) = (verdicts(&chained), verdicts(&inline));
    assert_eq!(chained, inline);
    let matched = chained.iter().filter(|(m, _)| *m).count();
    assert!(
        0 < matched && matched < chained.len(),
        "{matched} of 40 match"
    );
    let screen = Screen::compile(Some("screen('calm')"), None, &options).expect("compiles");
    assert_eq!(screen.screens(), ["calm", "uptrend"]);
    assert_eq!(screen.history(), 4, "the saved screen's look-back counts");
}

#[test]
fn a_named_base_is_narrowed_by_where_and_gives_its_ranking_unless_one_is_given() {
    let options = saved(&[("uptrend", Some("close > sma_50"), Some("return_20"))]);
    let based =
        Screen::compile_on(Some("uptrend"), Some("rsi_14 < 65"), None, &options).expect("compiles");
    let inline = Screen::compile(
        Some("close > sma_50 and rsi_14 < 65"),
        Some("return_20"),
        &options,
    )
    .expect("compiles");
    assert_eq!(verdicts(&based), verdicts(&inline));
    let reranked =
        Screen::compile_on(Some("uptrend"), None, Some("-rsi_14"), &options).expect("compiles");
    let inline = Screen::compile(Some("close > sma_50"), Some("-rsi_14"), &options).expect("ok");
    assert_eq!(verdicts(&reranked), verdicts(&inline));

    let (part, e) = Screen::compile_on(Some("uptrnd"), None, None, &options).expect_err("unknown");
    assert_eq!(part, Part::Screen);
    assert_eq!(
        e.message,
        "no saved screen named 'uptrnd'; did you mean 'uptrend'?"
    );
    let broken = saved(&[("old", Some("close > 1"), Some("rsi(14)"))]);
    let (part, e) = Screen::compile_on(Some("old"), None, None, &broken).expect_err("broken");
    assert_eq!(part, Part::Screen);
    assert!(
        e.message.starts_with(
            "the ranking of saved screen 'old' does not compile: column 1: unknown function `rsi`"
        ),
        "{}",
        e.message
    );
}

#[test]
fn cycles_unknown_names_and_broken_screens_are_errors_naming_the_screens() {
    let options = saved(&[
        ("a", Some("screen('b') and close > 1"), None),
        ("b", Some("rsi_2 < 10 or screen('c')"), None),
        ("c", Some("screen('a')"), None),
        ("self", Some("screen('self')"), None),
        ("ranking-only", None, Some("return_20")),
        ("broken", Some("close > smaa_50"), None),
    ]);
    let (part, e) = error("close > 1 and screen('a')", &options);
    assert_eq!(
        (part, e.kind, e.column),
        (Part::Where, ErrorKind::Cycle, 15)
    );
    assert_eq!(
        e.message,
        "saved screens refer to each other in a cycle: a → b → c → a"
    );
    let (_, e) = error("screen('self')", &options);
    assert_eq!(
        e.message,
        "saved screens refer to each other in a cycle: self → self"
    );
    let (_, e) = error("screen('A')", &options);
    assert_eq!((e.kind, e.column), (ErrorKind::UnknownName, 1));
    assert_eq!(e.message, "no saved screen named 'A'; did you mean 'a'?");
    let (_, e) = error("screen('ranking-only')", &options);
    assert_eq!(e.kind, ErrorKind::Type);
    assert_eq!(
        e.message,
        "saved screen 'ranking-only' has no `where` to refer to, only a ranking"
    );
    let (_, e) = error("rsi_2 < 5 or screen('broken')", &options);
    assert_eq!((e.kind, e.column), (ErrorKind::UnknownName, 14));
    assert_eq!(
        e.message,
        "saved screen 'broken' does not compile: column 9: unknown name `smaa_50`; did you mean `sma_50`?"
    );
    let (_, e) = error("screen(uptrend)", &options);
    assert_eq!(e.kind, ErrorKind::Type);
    assert!(e.message.contains("in quotes"), "{}", e.message);
    let (_, e) = error("screen('a', 'b')", &options);
    assert_eq!(e.kind, ErrorKind::Type);
    let (_, e) = error("screen('x')", &ScreenOptions::default());
    assert_eq!(
        e.message,
        "no saved screen named 'x'; there are no saved screens"
    );
}

#[test]
fn a_chain_deeper_than_the_limit_is_refused_naming_it() {
    let mut screens: Vec<(String, String)> = (0..=MAX_CHAIN)
        .map(|i| (format!("s{i}"), format!("screen('s{}')", i + 1)))
        .collect();
    screens.push((format!("s{}", MAX_CHAIN + 1), "close > 1".to_owned()));
    let refs: Vec<(&str, Option<&str>, Option<&str>)> = screens
        .iter()
        .map(|(n, f)| (n.as_str(), Some(f.as_str()), None))
        .collect();
    let options = saved(&refs);
    let (_, e) = error("screen('s0')", &options);
    assert_eq!(e.kind, ErrorKind::TooDeep);
    assert!(
        e.message.starts_with(&format!(
            "saved screens refer to one another more than {MAX_CHAIN} deep"
        )),
        "{}",
        e.message
    );
    // One level less compiles.
    Screen::compile(Some("screen('s2')"), None, &options).expect("within the limit");
}
