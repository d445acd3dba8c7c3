//! `technic scan --where … --rank-by …` on the real S&P 500 directory.

use std::path::Path;
use std::process::{Command, Output};

use technic_testkit::sp500;

fn technic(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_technic"))
        .args(args)
        .env("TECHNIC_HOME", home)
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL")
        .output()
        .expect("technic runs")
}

fn scan_json(home: &Path, extra: &[&str]) -> serde_json::Value {
    let data = sp500();
    let mut args = vec![
        "scan",
        "--data",
        data.to_str().expect("utf-8"),
        "--quiet",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = technic(home, &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

#[test]
fn where_filters_and_rank_by_orders_the_results() {
    let home = tempfile::tempdir().expect("tempdir");
    let report = scan_json(
        home.path(),
        &[
            "--where",
            "rsi_14 < 45 and close > sma_200",
            "--rank-by",
            "-rsi_14",
        ],
    );
    let results = report["results"].as_array().expect("results");
    assert!(results.len() > 5, "{}", results.len());
    let rsi: Vec<f64> = results
        .iter()
        .map(|r| r["indicators"]["rsi_14"].as_f64().expect("rsi_14"))
        .collect();
    assert!(rsi.iter().all(|&v| v < 45.0));
    // `-rsi_14` ranks the lowest RSI first.
    assert!(rsi.windows(2).all(|w| w[0] <= w[1]), "{rsi:?}");
    for r in results {
        let close = r["close"].as_f64().expect("close");
        assert!(close > r["indicators"]["sma_200"].as_f64().expect("sma_200"));
    }
}

#[test]
fn a_bad_expression_names_the_flag_and_points_at_the_column() {
    let home = tempfile::tempdir().expect("tempdir");
    let data = sp500();
    let output = technic(
        home.path(),
        &[
            "scan",
            "--data",
            data.to_str().expect("utf-8"),
            "--where",
            "close > sma_200 and rsi14 < 30",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "--where: column 21: unknown name `rsi14`; did you mean `rsi_14`?\n  close > sma_200 and rsi14 < 30\n                      ^"
        ),
        "{stderr}"
    );
    let output = technic(
        home.path(),
        &[
            "scan",
            "--data",
            data.to_str().expect("utf-8"),
            "--rank-by",
            "sector",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--rank-by: column 1: a ranking must be a number"),
        "{stderr}"
    );
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn saved_screens_are_added_listed_run_and_removed() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let added = technic(
        h,
        &[
            "screens",
            "add",
            "uptrend-dip",
            "--where",
            "rsi_14 < 45 and close > sma_200",
            "--rank-by",
            "-rsi_14",
            "--description",
            "a dip in an uptrend",
        ],
    );
    assert_eq!(stdout_of(&added), "saved screen 'uptrend-dip'\n");
    let refused = technic(h, &["screens", "add", "typo", "--where", "rsi14 < 30"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("--where: column 1: unknown name `rsi14`")
    );
    let refused = technic(h, &["screens", "add", "../x", "--where", "close > 1"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is not a screen name"));

    // A screen saved by an older version that no longer compiles is listed with its error.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = technic_learning::LearningStore::open_in(h)
            .await
            .expect("store");
        store
            .save_screen(
                "legacy",
                Some("rsi(14) < 30"),
                None,
                None,
                std::time::SystemTime::now(),
            )
            .await
            .expect("save");
    });
    let list = stdout_of(&technic(h, &["screens", "list"]));
    assert!(list.contains("legacy\n  --where 'rsi(14) < 30'\n  does not compile: where: column 1: unknown function `rsi`"), "{list}");
    assert!(list.contains("uptrend-dip\n  a dip in an uptrend\n  --where 'rsi_14 < 45 and close > sma_200'\n  --rank-by '-rsi_14'"), "{list}");

    // `scan --screen` runs it exactly as the flags would.
    let by_name = scan_json(h, &["--screen", "uptrend-dip"]);
    let by_flags = scan_json(
        h,
        &[
            "--where",
            "rsi_14 < 45 and close > sma_200",
            "--rank-by",
            "-rsi_14",
        ],
    );
    let symbols = |r: &serde_json::Value| -> Vec<String> {
        r["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|x| x["symbol"].as_str().expect("symbol").to_owned())
            .collect()
    };
    assert!(!symbols(&by_name).is_empty());
    assert_eq!(symbols(&by_name), symbols(&by_flags));
    let missing = technic(h, &["scan", "--screen", "nope"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no saved screen named 'nope'"));

    assert_eq!(
        stdout_of(&technic(h, &["screens", "rm", "legacy"])),
        "removed screen 'legacy'\n"
    );
    let gone = technic(h, &["screens", "show", "legacy"]);
    assert!(!gone.status.success());
    assert!(
        stdout_of(&technic(h, &["screens", "show", "uptrend-dip"])).starts_with("uptrend-dip\n")
    );
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A saved screen referring to another, `--screen` narrowed by `--where`, a cycle refused, and
/// `technic backtest --screen … --where … --factor EXPR`.
#[test]
fn screens_chain_and_restrict_a_backtest() {
    let home = tempfile::tempdir().expect("tempdir");
    let h = home.path();
    let add = |name: &str, filter: &str| technic(h, &["screens", "add", name, "--where", filter]);
    assert!(add("uptrend", "close > sma_200").status.success());
    let chained = add("calm-uptrend", "screen('uptrend') and rsi_14 < 60");
    assert!(chained.status.success(), "{}", stderr_of(&chained));
    let cycle = add("uptrend", "screen('calm-uptrend')");
    assert!(!cycle.status.success());
    assert!(
        stderr_of(&cycle).contains(
            "saved screens refer to each other in a cycle: calm-uptrend → uptrend → calm-uptrend"
        ),
        "{}",
        stderr_of(&cycle)
    );
    let symbols = |r: &serde_json::Value| -> Vec<String> {
        let mut s: Vec<String> = r["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|x| x["symbol"].as_str().expect("symbol").to_owned())
            .collect();
        s.sort();
        s
    };
    let by_hand = symbols(&scan_json(
        h,
        &["--where", "close > sma_200 and rsi_14 < 60"],
    ));
    assert!(by_hand.len() > 20, "{}", by_hand.len());
    assert_eq!(
        symbols(&scan_json(h, &["--screen", "calm-uptrend"])),
        by_hand
    );
    assert_eq!(
        symbols(&scan_json(
            h,
            &["--screen", "uptrend", "--where", "rsi_14 < 60"]
        )),
        by_hand
    );
    let typo = technic(h, &["scan", "--where", "screen('uptrnd')"]);
    assert!(
        stderr_of(&typo)
            .contains("--where: column 1: no saved screen named 'uptrnd'; did you mean 'uptrend'?"),
        "{}",
        stderr_of(&typo)
    );

    let data = sp500();
    let backtest = |extra: &[&str]| {
        let mut args = vec![
            "backtest",
            "--data",
            data.to_str().expect("utf-8"),
            "-q",
            "--symbols",
            "AAPL,MSFT,XOM,JPM,KO,PFE,INTC,CSCO,WMT,GE",
            "--from",
            "2018-01-01",
            "--to",
            "2019-12-31",
            "--horizons",
            "21",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let output = technic(h, &args);
        assert!(output.status.success(), "{}", stderr_of(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).expect("JSON")
    };
    let dropped = |report: &serde_json::Value| -> u64 {
        report["provenance"]["dropped"]
            .as_array()
            .expect("dropped")
            .iter()
            .find(|d| d["reason"] == "not matched by the screen (`where`)")
            .map_or(0, |d| d["symbol_dates"].as_u64().expect("count"))
    };
    let plain = backtest(&["--factor", "tech_rating"]);
    let screened = backtest(&["--screen", "uptrend", "--factor", "return_126 / atr_pct"]);
    let narrowed = backtest(&["--screen", "uptrend", "--where", "rsi_14 < 60"]);
    assert_eq!(dropped(&plain), 0);
    assert!(dropped(&screened) > 0);
    assert!(dropped(&narrowed) > dropped(&screened));
    assert_eq!(screened["factors"][0]["name"], "return_126 / atr_pct");
}
