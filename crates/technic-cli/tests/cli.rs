//! The `technic` binary as a user runs it: flags, output formats, errors, and the indicators CSV.

use std::path::Path;
use std::process::{Command, Output};
use technic_testkit::shared;

/// Runs the binary with a home directory of its own, so tests never touch the user's learning store.
fn technic(args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("home");
    technic_at(home.path(), args)
}

fn technic_at(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_technic"))
        .args(args)
        .env("TECHNIC_HOME", home)
        .env_remove("DATABASE_URL")
        .output()
        .expect("technic runs")
}

fn sp500() -> String {
    shared().join("data/sp500").display().to_string()
}

fn stdout_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON object")
}

#[test]
fn json_scan_of_real_data_has_the_documented_shape() {
    let output = technic(&["scan", "--data", &sp500(), "--format", "json"]);
    let report = stdout_json(&output);
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 503);
    for field in [
        "symbol",
        "name",
        "sector",
        "signal",
        "tech_rating",
        "alpha_score",
        "close",
        "change_pct",
        "indicators",
    ] {
        assert!(results[0].get(field).is_some(), "result has {field}");
    }
    assert!(
        results[0]["indicators"]["rsi_14"].is_number()
            && results[0]["indicators"]["macd_hist"].is_number()
    );
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 3);
    assert!(diagnostics.iter().all(|d| {
        ["symbol", "kind", "message"]
            .iter()
            .all(|f| d.get(f).is_some())
    }));
    assert_eq!(report["data_source"]["kind"], "files");
    assert_eq!(report["data_source"]["synthetic"], false);
    let metrics = &report["metrics"];
    assert_eq!(metrics["symbols_total"], 506);
    assert!(
        metrics["symbols_per_second"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    );
    for stage in [
        "universe_loading",
        "data_fetching",
        "symbol_scanning",
        "finalization",
    ] {
        assert!(
            metrics["stage_seconds"][stage].is_number(),
            "seconds for {stage}"
        );
    }
    // Not a terminal: no progress bar on stderr, only the summary.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ETA") && stderr.contains("506 in universe"),
        "{stderr}"
    );
}

#[test]
fn the_demo_market_is_the_default_and_says_it_is_synthetic() {
    let table = technic(&["scan", "--max-symbols", "40"]);
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("SYNTHETIC DATA") && text.contains("Top 25 of"),
        "{text}"
    );
    let report = stdout_json(&technic(&["scan", "--format", "json", "--quiet"]));
    assert_eq!(report["data_source"]["synthetic"], true);
    assert_eq!(report["results"].as_array().map(Vec::len), Some(500));
    let quiet = technic(&["scan", "--format", "csv", "--quiet", "--max-symbols", "5"]);
    assert!(quiet.stderr.is_empty(), "--quiet prints nothing on stderr");
    let csv = String::from_utf8_lossy(&quiet.stdout);
    assert_eq!(csv.lines().count(), 6, "header and 5 rows");
    assert!(csv.starts_with("rank,symbol,name,sector,signal,tech_rating,alpha_score"));
}

#[test]
fn bad_flags_are_refused_naming_the_flag() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["--min-tech-rating", "150"],
            "--min-tech-rating: must be between 0 and 100",
        ),
        (&["--min-price", "-5"], "--min-price: must be a number >= 0"),
        (
            &["--max-symbols", "-3"],
            "--max-symbols: must be a whole number >= 1, got -3",
        ),
        (&["--max-symbols", "0"], "--max-symbols: must be at least 1"),
        (
            &["--sectors", "Tech"],
            "--sectors: unknown sector 'Tech'; expected one of: Communication Services",
        ),
        (
            &["--lookback-days", "50"],
            "--lookback-days: must be between 200",
        ),
        (
            &["--lookback-days", "-5"],
            "--lookback-days: must be between 200 and 10000 trading days, got -5",
        ),
        (&["--format", "xml"], "possible values: table, json, csv"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["scan"];
        all.extend_from_slice(args);
        let output = technic(&all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} fails");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    let output = technic(&["scan", "--data", "/nonexistent/dir"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success()
            && stderr.contains("--data /nonexistent/dir")
            && stderr.contains("not a data directory"),
        "{stderr}"
    );
}

#[test]
fn indicators_prints_the_golden_columns_with_talib_values() {
    let output = technic(&["indicators", "AAPL", "--data", &sp500()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ours = String::from_utf8(output.stdout).expect("utf-8");
    let golden = std::fs::read_to_string(shared().join("golden/talib/AAPL.csv")).expect("golden");
    let (ours_lines, golden_lines): (Vec<&str>, Vec<&str>) =
        (ours.lines().collect(), golden.lines().collect());
    assert_eq!(ours_lines[0], golden_lines[0], "same header");
    assert_eq!(ours_lines.len(), golden_lines.len(), "one row per bar");
    for (o, g) in ours_lines.iter().zip(&golden_lines).skip(1).step_by(97) {
        for (a, b) in o.split(',').zip(g.split(',')).skip(1) {
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => assert!(
                    (x - y).abs() / y.abs().max(1.0) <= 1e-9,
                    "{a} vs {b} in\n{o}\n{g}"
                ),
                _ => assert_eq!(a.is_empty(), b.is_empty(), "same warm-up in\n{o}\n{g}"),
            }
        }
    }
}

#[test]
fn indicators_honours_dates_and_custom_specs() {
    let output = technic(&[
        "indicators",
        "MSFT",
        "--data",
        &sp500(),
        "--from",
        "2021-04-01",
        "--to",
        "2021-04-09",
        "--indicators",
        "rsi_7,macd_5_35_5",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "timestamp,rsi_7,macd_5_35_5,macd_signal_5_35_5,macd_hist_5_35_5"
    );
    assert_eq!(
        lines.len(),
        1 + 6,
        "six trading days from 2021-04-01 to 2021-04-09 (Good Friday closed)"
    );
    assert!(lines[1].starts_with("2021-04-01,") && lines[6].starts_with("2021-04-09,"));
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.split(',').skip(1).all(|v| v.parse::<f64>().is_ok())),
        "warmed up on earlier history"
    );

    for (args, expected) in [
        (
            vec![
                "indicators",
                "MSFT",
                "--data",
                &sp500(),
                "--indicators",
                "rsi_1",
            ],
            "rsi_1",
        ),
        (
            vec!["indicators", "BF.B", "--data", &sp500()],
            "not a bar file",
        ),
        (
            vec![
                "indicators",
                "MSFT",
                "--from",
                "2021-02-01",
                "--to",
                "2021-01-01",
            ],
            "--from 2021-02-01 is after --to 2021-01-01",
        ),
        (
            vec![
                "indicators",
                "MSFT",
                "--data",
                &sp500(),
                "--to",
                "1990-01-01",
            ],
            "MSFT has no bars between the start and 1990-01-01",
        ),
    ] {
        let output = technic(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn stream_prints_each_message_as_a_json_line_with_gapless_seq() {
    let output = technic(&[
        "scan",
        "--data",
        &sp500(),
        "--stream",
        "--quiet",
        "--max-signals",
        "5",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let messages: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON message"))
        .collect();
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m["metadata"]["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=messages.len() as u64).collect::<Vec<_>>());
    let results: Vec<&serde_json::Value> =
        messages.iter().filter(|m| m["type"] == "result").collect();
    assert_eq!(
        results.len(),
        5,
        "max_signals 5 and the first five results are all signals"
    );
    for field in [
        "symbol",
        "signal",
        "tech_rating",
        "priority_tier",
        "batch_number",
        "position",
        "total_processed",
        "total_remaining",
    ] {
        assert!(
            results[0]["data"].get(field).is_some(),
            "result has {field}"
        );
    }
    let last = messages.last().expect("messages");
    assert_eq!(
        (
            last["type"].as_str(),
            last["metadata"]["is_final"].as_bool()
        ),
        (Some("complete"), Some(true))
    );
    assert_eq!(last["data"]["status"], "stopped");
    assert!(
        last["data"]["stop_reason"]
            .as_str()
            .is_some_and(|r| r.contains("max_signals"))
    );
}

#[test]
fn learning_is_kept_in_the_home_directory_between_runs() {
    let home = tempfile::tempdir().expect("home");
    for _ in 0..2 {
        let output = technic_at(
            home.path(),
            &["scan", "--max-symbols", "50", "--format", "json", "--quiet"],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(
        home.path().join("technic.db").is_file(),
        "the SQLite learning store is in --home"
    );
    // The second run had the first run's alpha distribution: streamed results were scored with it.
    let output = technic_at(
        home.path(),
        &["scan", "--max-symbols", "50", "--stream", "--quiet"],
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let first_result = text
        .lines()
        .find(|l| l.contains("\"type\":\"result\""))
        .expect("a result");
    let message: serde_json::Value = serde_json::from_str(first_result).expect("json");
    assert!(message["data"]["alpha_score"].is_number(), "{first_result}");
}

#[test]
fn termination_flags_are_validated_by_name() {
    for (args, expected) in [
        (
            vec!["scan", "--max-percent", "150"],
            "--max-percent: must be a percentage above 0 and at most 100, got 150",
        ),
        (
            vec!["scan", "--timeout", "0"],
            "--timeout: must be a number of seconds above 0 and at most 31536000 (a year), got 0",
        ),
        // Accepted before, and the scan's deadline then overflowed: a panic, exit 101.
        (
            vec!["scan", "--timeout", "1e20"],
            "--timeout: must be a number of seconds above 0 and at most 31536000 (a year), got 100000000000000000000",
        ),
        (
            vec!["scan", "--max-signals", "0"],
            "--max-signals: must be at least 1",
        ),
        (
            vec!["scan", "--max-signals", "2", "--min-signal-rating", "101"],
            "--min-signal-rating: must be between 0 and 100",
        ),
    ] {
        let output = technic(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success() && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
    let output = technic(&[
        "scan",
        "--max-percent",
        "10",
        "--no-prioritization",
        "--format",
        "json",
        "--quiet",
    ]);
    let report = stdout_json(&output);
    assert_eq!(report["status"], "stopped");
    assert_eq!(report["results"].as_array().map(Vec::len), Some(50));
    assert!(report["results"][0]["priority_tier"].is_null());
}

/// `technic serve` as an operator runs it: JSON logs name each stage of each scan, and SIGTERM
/// stops it cleanly.
#[test]
fn serve_logs_every_stage_as_json_and_exits_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let home = tempfile::tempdir().expect("home");
    let mut server = Command::new(env!("CARGO_BIN_EXE_technic"))
        .args(["serve", "--port", "0", "--log-json", "--data", &sp500()])
        .env("TECHNIC_HOME", home.path())
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("technic serve starts");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = server.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ignored = lines_tx.send(line);
        }
    });
    let wait = std::time::Duration::from_secs(30);
    let address = loop {
        let line = lines
            .recv_timeout(wait)
            .expect("the server says where it listens");
        if let Some(rest) = line.split("serving on http://").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };

    let body = r#"{"max_symbols": 40}"#;
    let mut connection = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        connection,
        "POST /scan HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    connection.read_to_string(&mut response).expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response:.300}");
    let scan_id = response
        .split("\"scan_id\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("scan_id in the response")
        .to_owned();

    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = server.wait().expect("exit");
    assert!(exit.success(), "SIGTERM ends the server cleanly: {exit}");

    let logs: Vec<serde_json::Value> = lines
        .try_iter()
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect();
    let stages: Vec<&str> = logs
        .iter()
        .filter(|log| {
            log["fields"]["message"] == "stage started" && log["fields"]["scan_id"] == scan_id
        })
        .filter_map(|log| log["fields"]["stage"].as_str())
        .collect();
    assert_eq!(
        stages,
        [
            "universe_loading",
            "data_fetching",
            "symbol_scanning",
            "finalization"
        ],
        "stage logs of {scan_id}"
    );
    let finished = logs
        .iter()
        .find(|log| log["fields"]["message"] == "scan finished")
        .expect("a log line for the finished scan");
    assert_eq!(finished["fields"]["results"].as_u64(), Some(40));
    assert!(
        logs.iter()
            .any(|log| log["fields"]["message"] == "shutting down: stopping running scans"),
        "the shutdown is logged"
    );
}
