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
