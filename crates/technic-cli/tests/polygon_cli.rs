//! `technic scan --source polygon` through the binary, against the loopback server of
//! technic-polygon's tests that answers like Polygon.io.

// Shared with technic-polygon's tests, which use the parts this file does not.
use technic_testkit::polygon_fake;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::NaiveDate;
use polygon_fake::{FakeOptions, KEY, PolygonFake};
use technic_testkit::sp500;

fn technic(fake: &PolygonFake, key: Option<&str>, args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("home");
    let mut command = Command::new(env!("CARGO_BIN_EXE_technic"));
    command
        .args(args)
        .env("TECHNIC_HOME", home.path())
        .env_remove("DATABASE_URL")
        .env_remove("POLYGON_API_KEY")
        .env("POLYGON_BASE_URL", &fake.base_url)
        .env("POLYGON_RATE_LIMIT", "1000/s");
    if let Some(key) = key {
        command.env("POLYGON_API_KEY", key);
    }
    command.output().expect("technic runs")
}

/// Whole weeks from the data's last day to today, so the source's "today" finds recent bars.
fn shift_to_now() -> u64 {
    let last: NaiveDate = "2021-04-21".parse().expect("date");
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let today = chrono::DateTime::from_timestamp(secs - 5 * 3600, 0)
        .expect("now")
        .date_naive();
    ((today - last).num_days().max(0) as u64) / 7 * 7
}

#[test]
fn a_scan_of_two_symbols_reads_polygon_and_a_missing_key_is_named() {
    let fake = PolygonFake::start(FakeOptions {
        shift_days: shift_to_now(),
        page_size: 100,
        ..FakeOptions::new(sp500())
    });
    let output = technic(
        &fake,
        Some(KEY),
        &[
            "scan",
            "--source",
            "polygon",
            "--symbols",
            "AAPL,MSFT",
            "--format",
            "json",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(report["data_source"]["kind"], "polygon");
    let mut seen: Vec<&str> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .chain(report["diagnostics"].as_array().expect("diagnostics"))
        .filter_map(|r| r["symbol"].as_str())
        .collect();
    seen.sort();
    assert_eq!(seen, ["AAPL", "MSFT"], "{report}");
    assert!(
        report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .all(|d| d["kind"] != "error"),
        "{report}"
    );
    // Two ticker details, then each symbol's snapshot and lookback, a few pages each.
    assert!(fake.request_count() >= 6, "{}", fake.request_count());

    let output = technic(
        &fake,
        None,
        &["scan", "--source", "polygon", "--symbols", "AAPL"],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--source polygon") && stderr.contains("POLYGON_API_KEY is not set"),
        "{stderr}"
    );

    let output = technic(
        &fake,
        Some("wrong"),
        &["scan", "--source", "polygon", "--symbols", "AAPL"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("POLYGON_API_KEY is missing or unknown"),
        "{stderr}"
    );
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path.strip_prefix(dir).expect("inside").to_owned());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn path_like_symbols_are_stored_inside_the_home_and_nothing_is_written_outside() {
    // A Polygon-like server that answers for `../../../AB` and `/X` (AAPL's and MSFT's bars,
    // under the file names those tickers are encoded to).
    let root = tempfile::tempdir().expect("root");
    let data = root.path().join("fake-data");
    std::fs::create_dir_all(data.join("bars")).expect("bars");
    for (stem, real) in [("%2E.%2F..%2F..%2FAB", "AAPL"), ("%2FX", "MSFT")] {
        std::fs::copy(
            sp500().join(format!("bars/{real}.csv")),
            data.join(format!("bars/{stem}.csv")),
        )
        .expect("copy");
    }
    let fake = PolygonFake::start(FakeOptions {
        shift_days: shift_to_now(),
        ..FakeOptions::new(data)
    });
    // Deep enough that `bars/../../../AB.parquet` would still be inside `root`.
    let home = root.path().join("a/b/home");
    for symbol in ["../../../AB", "/X"] {
        let output = Command::new(env!("CARGO_BIN_EXE_technic"))
            .args(["scan", "--source", "polygon", "--symbols", symbol])
            .args(["--home", home.to_str().expect("home"), "--format", "json"])
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env("POLYGON_API_KEY", KEY)
            .env("POLYGON_BASE_URL", &fake.base_url)
            .env("POLYGON_RATE_LIMIT", "1000/s")
            .output()
            .expect("technic runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{symbol}: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let results = report["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "{symbol}: {}", report["diagnostics"]);
        assert_eq!(results[0]["symbol"], symbol);
    }
    let stored: Vec<PathBuf> = files_under(root.path())
        .into_iter()
        .filter(|p| !p.starts_with("fake-data"))
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(
        stored,
        [
            "a/b/home/store/bars/%2E.%2F..%2F..%2FAB.parquet",
            "a/b/home/store/bars/%2FX.parquet"
        ]
        .map(PathBuf::from),
        "each symbol's file is inside the store, under its encoded name"
    );
    let outside: Vec<PathBuf> = files_under(root.path())
        .into_iter()
        .filter(|p| !p.starts_with("fake-data") && !p.starts_with("a/b/home"))
        .collect();
    assert_eq!(
        outside,
        Vec::<PathBuf>::new(),
        "nothing written outside the home"
    );
    assert!(
        !Path::new("/X.parquet").exists(),
        "nothing written at the root"
    );

    // Read back offline, through the store's own listing.
    let output = Command::new(env!("CARGO_BIN_EXE_technic"))
        .args(["scan", "--source", "store", "--symbols", "/X,../../../AB"])
        .args(["--home", home.to_str().expect("home"), "--format", "json"])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .output()
        .expect("technic runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        report["results"].as_array().expect("results").len(),
        2,
        "{}",
        report["diagnostics"]
    );
}

/// The same through `POST /scan` of `technic serve --source polygon`.
#[test]
fn path_like_symbols_posted_to_a_polygon_server_are_stored_inside_the_home() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;

    let root = tempfile::tempdir().expect("root");
    let data = root.path().join("fake-data");
    std::fs::create_dir_all(data.join("bars")).expect("bars");
    for (stem, real) in [("%2E.%2F..%2F..%2FAB", "AAPL"), ("%2FX", "MSFT")] {
        std::fs::copy(
            sp500().join(format!("bars/{real}.csv")),
            data.join(format!("bars/{stem}.csv")),
        )
        .expect("copy");
    }
    let fake = PolygonFake::start(FakeOptions {
        shift_days: shift_to_now(),
        tickers: vec!["../../../AB".into(), "/X".into()],
        ..FakeOptions::new(data)
    });
    let home = root.path().join("a/b/home");
    let mut server = Command::new(env!("CARGO_BIN_EXE_technic"))
        .args(["serve", "--port", "0", "--source", "polygon"])
        .env("TECHNIC_HOME", &home)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("RUST_LOG")
        .env("POLYGON_API_KEY", KEY)
        .env("POLYGON_BASE_URL", &fake.base_url)
        .env("POLYGON_RATE_LIMIT", "1000/s")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("technic serve starts");
    let stderr = server.stderr.take().expect("stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ignored = lines_tx.send(line);
        }
    });
    let address = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server says where it listens");
        if let Some(rest) = line.split("serving on http://").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    let body = r#"{"symbols": ["../../../AB", "/X"]}"#;
    let mut connection = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        connection,
        "POST /scan HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut response = String::new();
    connection.read_to_string(&mut response).expect("response");
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    assert!(response.starts_with("HTTP/1.1 200"), "{response:.600}");
    assert!(
        response.contains(r#""symbol":"/X""#) && response.contains(r#""symbol":"../../../AB""#),
        "both scanned: {response:.2000}"
    );
    let written: Vec<PathBuf> = files_under(root.path())
        .into_iter()
        .filter(|p| !p.starts_with("fake-data") && !p.starts_with("a/b/home"))
        .collect();
    assert_eq!(
        written,
        Vec::<PathBuf>::new(),
        "nothing written outside the home"
    );
    let stored: Vec<PathBuf> = files_under(&home.join("store/bars"));
    assert_eq!(
        stored,
        ["%2E.%2F..%2F..%2FAB.parquet", "%2FX.parquet"].map(PathBuf::from)
    );
}
