//! `technic scan` and `technic indicators` on a data directory with files no bar reader should
//! trust: each is refused with the same words by both commands, and neither waits on a FIFO.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use technic_testkit::shared;

/// Runs the binary with a home of its own, killing it if it runs over a minute (a read blocked
/// on a FIFO used to hold it for ever).
fn technic(home: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_technic"))
        .args(args)
        .env("TECHNIC_HOME", home)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("technic runs");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("technic {args:?} ran over a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn scan_and_indicators_refuse_the_same_files_in_the_same_words() {
    let home = tempfile::tempdir().expect("home");
    let data = tempfile::tempdir().expect("data");
    let bars = data.path().join("bars");
    std::fs::create_dir(&bars).expect("mkdir");
    std::fs::copy(shared().join("data/sp500/bars/KO.csv"), bars.join("KO.csv")).expect("copy");
    let mut wide = b"date,open,high,low,close,volume".to_vec();
    wide.extend(b",x".repeat(40_000));
    wide.extend(b"\n2021-04-21,12,14,11,13,100\n");
    std::fs::write(bars.join("WIDE.csv"), wide).expect("write");
    #[cfg(unix)]
    {
        let made = Command::new("mkfifo")
            .arg(bars.join("PIPE.csv"))
            .status()
            .expect("mkfifo");
        assert!(made.success());
    }
    let dir = data.path().to_str().expect("utf-8 path");

    let scan = technic(home.path(), &["scan", "--data", dir, "--format", "json"]);
    assert!(
        scan.status.success(),
        "{}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).expect("json");
    let message = |symbol: &str| {
        report["diagnostics"]
            .as_array()
            .expect("diagnostics")
            .iter()
            .find(|d| d["symbol"] == symbol)
            .and_then(|d| d["message"].as_str())
            .unwrap_or_else(|| panic!("a diagnostic for {symbol}: {report}"))
            .to_owned()
    };
    let too_long = "WIDE.csv: not a bar file: its first line is longer than 65536 bytes (64 KiB)";
    assert!(message("WIDE").contains(too_long), "{}", message("WIDE"));
    assert_eq!(report["results"][0]["symbol"], "KO");

    let indicators = technic(home.path(), &["indicators", "WIDE", "--data", dir]);
    let stderr = String::from_utf8_lossy(&indicators.stderr);
    assert!(!indicators.status.success());
    assert!(stderr.contains(too_long), "{stderr}");

    #[cfg(unix)]
    {
        let fifo = "PIPE.csv: not a bar file: it is a named pipe (FIFO), not a regular file";
        assert!(message("PIPE").contains(fifo), "{}", message("PIPE"));
        let indicators = technic(home.path(), &["indicators", "PIPE", "--data", dir]);
        let stderr = String::from_utf8_lossy(&indicators.stderr);
        assert!(
            !indicators.status.success() && stderr.contains(fifo),
            "{stderr}"
        );
    }
}
