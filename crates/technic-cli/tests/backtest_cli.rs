//! `technic backtest` and `technic scan --as-of` as a user runs them.

use std::path::Path;
use std::process::{Command, Output};

fn sp500() -> String {
    technic_testkit::sp500().display().to_string()
}

/// Runs the binary with a home directory of its own, so tests never touch the user's stores.
fn technic(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_technic"))
        .args(args)
        .env("TECHNIC_HOME", home)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .expect("technic runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const SYMBOLS: &str = "AAPL,MSFT,XOM,JPM,KO,PFE,INTC,CSCO,WMT,GE,CARR";

/// A backtest of a few symbols, 2018-2020 unless `extra` gives its own dates.
fn backtest(home: &Path, extra: &[&str]) -> Output {
    let data = sp500();
    let mut args = vec!["backtest", "--data", &data, "-q", "--symbols", SYMBOLS];
    if !extra.contains(&"--from") {
        args.extend_from_slice(&["--from", "2018-01-01"]);
    }
    if !extra.contains(&"--to") {
        args.extend_from_slice(&["--to", "2020-12-31"]);
    }
    args.extend_from_slice(extra);
    technic(home, &args)
}

#[test]
fn a_backtest_prints_json_and_writes_a_self_contained_report() {
    let home = tempfile::tempdir().expect("home");
    let report = home.path().join("report.html");
    let output = backtest(
        home.path(),
        &[
            "--format",
            "json",
            "--factor",
            "tech_rating",
            "--factor",
            "rsi_14",
            "--horizons",
            "5,21",
            "--report",
            report.to_str().expect("path"),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let dates = json["dates"].as_array().expect("dates");
    assert_eq!(dates.len(), 36, "month-ends of 2018-2020");
    assert_eq!(dates[0], "2018-01-31");
    let factors: Vec<&str> = json["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(factors, ["tech_rating", "rsi_14"]);
    assert_eq!(json["provenance"]["survivorship_bias"], true);
    let html = std::fs::read_to_string(&report).expect("the report is written");
    assert!(html.contains("<svg"), "inline charts");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "nothing fetched from elsewhere"
    );
}

#[test]
fn the_table_says_where_the_numbers_came_from() {
    let home = tempfile::tempdir().expect("home");
    let output = backtest(home.path(), &["--every", "week", "--horizons", "1,5"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("tech_rating"), "{table}");
    assert!(table.to_lowercase().contains("survivorship"), "{table}");
}

#[test]
fn bad_input_names_the_flag_and_nothing_panics() {
    let home = tempfile::tempdir().expect("home");
    let cases: [(&[&str], &str); 9] = [
        (&["--factor", "nonsense"], "--factor"),
        (&["--horizons", "1,0"], "--horizons"),
        (&["--horizons", "-3"], "--horizons"),
        (
            &[
                "--every",
                "month",
                "--from",
                "2020-01-01",
                "--to",
                "2020-02-15",
            ],
            "--every",
        ),
        (&["--from", "2020-06-01", "--to", "2020-01-01"], "--from"),
        (&["--from", "2035-01-01", "--to", "2036-01-01"], "--from"),
        (&["--quantiles", "1"], "--quantiles"),
        (&["--cost-bps", "-5"], "--cost-bps"),
        (&["--lookback-days", "50"], "--lookback-days"),
    ];
    for (extra, flag) in cases {
        let output = backtest(home.path(), extra);
        let message = stderr(&output);
        assert!(!output.status.success(), "{extra:?} was accepted");
        assert!(message.contains(flag), "{extra:?}: {message}");
        assert!(!message.contains("panicked"), "{extra:?}: {message}");
    }
    let data = sp500();
    let output = technic(
        home.path(),
        &["backtest", "--data", &data, "--to", "1990-01-01", "-q"],
    );
    assert!(stderr(&output).contains("--to"), "{}", stderr(&output));
}

#[test]
fn scan_as_of_reads_nothing_after_the_date_and_says_it() {
    let home = tempfile::tempdir().expect("home");
    let data = sp500();
    let output = technic(
        home.path(),
        &[
            "scan",
            "--data",
            &data,
            "--symbols",
            "AAPL,MSFT,CARR",
            "--as-of",
            "2020-06-30",
            "--format",
            "json",
            "-q",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["as_of"], "2020-06-30");
    let results = json["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "CARR has too little history then");
    for result in results {
        assert_eq!(result["date"], "2020-06-30");
    }
    let carr = &json["diagnostics"][0];
    assert_eq!(carr["symbol"], "CARR");
    assert!(
        carr["message"]
            .as_str()
            .expect("message")
            .contains("bars of history"),
        "{carr}"
    );
    // A replay records nothing as the latest scan.
    assert!(!home.path().join("technic.db").exists());
    let bad = technic(home.path(), &["scan", "--as-of", "2020-13-01"]);
    assert!(stderr(&bad).contains("--as-of"), "{}", stderr(&bad));
}
