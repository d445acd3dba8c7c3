//! `technic data import|sync|status` and `--source store` through the binary.

// Shared with technic-polygon's tests, which use the parts this file does not.
use technic_testkit::polygon_fake;

use std::path::Path;
use std::process::{Command, Output};

use polygon_fake::{FakeOptions, KEY, PolygonFake};
use technic_testkit::sp500;

fn technic(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_technic"));
    command
        .args(args)
        .env("TECHNIC_HOME", home)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("POLYGON_API_KEY")
        .env_remove("POLYGON_BASE_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("technic runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A data directory of a few real symbols and one file that is not a bar file.
fn small_data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("data");
    std::fs::create_dir(dir.path().join("bars")).expect("bars");
    for symbol in ["AAPL", "MSFT", "XOM", "KO", "BF.B"] {
        std::fs::copy(
            sp500().join(format!("bars/{symbol}.csv")),
            dir.path().join(format!("bars/{symbol}.csv")),
        )
        .expect("copy");
    }
    dir
}

#[test]
fn import_then_status_then_a_scan_of_the_store_alone() {
    let data = small_data_dir();
    let home = tempfile::tempdir().expect("home");
    let dir = data.path().to_str().expect("path");

    let import = technic(home.path(), &["data", "import", dir, "--quiet"], &[]);
    let (out, err) = (text(&import.stdout), text(&import.stderr));
    assert!(import.status.success(), "{out}{err}");
    assert!(out.contains("imported 4 symbols"), "{out}");
    assert!(
        err.contains("not imported: BF.B") && err.contains("BF.B.csv"),
        "the bad file is named, the rest imported: {err}"
    );

    let status = technic(home.path(), &["data", "status", "--json"], &[]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["symbols"], 4);
    assert_eq!(status["last"], "2021-04-21");
    assert_eq!(status["synced_through"], "2021-04-21");
    let human = text(&technic(home.path(), &["data", "status"], &[]).stdout);
    assert!(human.contains("symbols:        4"), "{human}");

    let scan = technic(
        home.path(),
        &["scan", "--source", "store", "--format", "json", "--quiet"],
        &[],
    );
    assert!(scan.status.success(), "{}", text(&scan.stderr));
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).expect("json");
    assert_eq!(report["results"].as_array().map(Vec::len), Some(4));
}

#[test]
fn sync_fetches_whole_histories_then_only_what_is_newer() {
    let fake = PolygonFake::start(FakeOptions::new(sp500()));
    let home = tempfile::tempdir().expect("home");
    let env = [
        ("POLYGON_API_KEY", KEY),
        ("POLYGON_BASE_URL", fake.base_url.as_str()),
        ("POLYGON_RATE_LIMIT", "1000/s"),
    ];

    let plan = technic(
        home.path(),
        &["data", "sync", "--symbols", "AAPL,KO", "--dry-run"],
        &env,
    );
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    assert!(
        text(&plan.stdout).contains("2 not stored"),
        "{}",
        text(&plan.stdout)
    );
    assert_eq!(fake.request_count(), 0, "a dry run fetches nothing");

    let first = technic(
        home.path(),
        &["data", "sync", "--symbols", "AAPL,KO", "--json"],
        &env,
    );
    assert!(first.status.success(), "{}", text(&first.stderr));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).expect("json");
    assert_eq!(report["fetched_whole"], serde_json::json!(["AAPL", "KO"]));
    assert_eq!(report["requests"], 2);

    // Their whole histories were asked up to the last finished session: nothing is newer, and
    // nothing is asked (the data ends in 2021; that the symbols stopped trading is not a gap).
    let second = technic(home.path(), &["data", "sync", "--json"], &env);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let report: serde_json::Value = serde_json::from_slice(&second.stdout).expect("json");
    assert_eq!(report["strategy"], "up to date");
    assert_eq!(report["requests"], 0);
    assert_eq!(report["bars_added"], 0);

    let full = technic(home.path(), &["data", "sync", "--full", "--json"], &env);
    assert!(full.status.success(), "{}", text(&full.stderr));
    let report: serde_json::Value = serde_json::from_slice(&full.stdout).expect("json");
    assert_eq!(report["refetched"], serde_json::json!(["AAPL", "KO"]));
    assert_eq!(report["requests"], 2);
}

#[test]
fn data_commands_say_what_is_missing() {
    let home = tempfile::tempdir().expect("home");
    let no_key = technic(home.path(), &["data", "sync", "--symbols", "AAPL"], &[]);
    assert!(!no_key.status.success());
    assert!(
        text(&no_key.stderr).contains("POLYGON_API_KEY"),
        "{}",
        text(&no_key.stderr)
    );

    let empty = technic(
        home.path(),
        &["data", "sync"],
        &[
            ("POLYGON_API_KEY", KEY),
            ("POLYGON_BASE_URL", "http://127.0.0.1:9"),
        ],
    );
    assert!(!empty.status.success());
    assert!(
        text(&empty.stderr).contains("is empty") && text(&empty.stderr).contains("--symbols"),
        "{}",
        text(&empty.stderr)
    );

    let scan = technic(home.path(), &["scan", "--source", "store"], &[]);
    assert!(!scan.status.success());
    assert!(
        text(&scan.stderr).contains("technic data import"),
        "{}",
        text(&scan.stderr)
    );

    let missing = technic(
        home.path(),
        &["data", "import", "/nonexistent/technic-data"],
        &[],
    );
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("/nonexistent/technic-data"),
        "{}",
        text(&missing.stderr)
    );
}

/// The Redis the test command starts (`TECHNIC_TEST_REDIS_URL`), if it answers. Under CI its
/// absence is a failure; run by hand without it, the test says it skipped.
fn test_redis(test: &str) -> Option<String> {
    let url =
        std::env::var("TECHNIC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let address = url
        .trim_start_matches("redis://")
        .split(['/', '?'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_owned();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| {
            std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_millis(500)).is_ok()
        });
    if reachable {
        return Some(url);
    }
    let message = format!("Redis is not reachable at {address}; scripts/test starts it");
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI: {message}"
    );
    eprintln!("SKIPPED {test}: {message}");
    None
}

#[test]
fn scans_in_two_processes_share_bars_through_redis() {
    let Some(redis) = test_redis("scans_in_two_processes_share_bars_through_redis") else {
        return;
    };
    let data = small_data_dir();
    std::fs::remove_file(data.path().join("bars/BF.B.csv")).expect("only good files");
    let home = tempfile::tempdir().expect("home");
    let dir = data.path().to_str().expect("path");
    let scan = || {
        let output = technic(
            home.path(),
            &["scan", "--data", dir, "--format", "json", "--quiet"],
            &[("REDIS_URL", redis.as_str())],
        );
        assert!(output.status.success(), "{}", text(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        let metrics = &report["metrics"];
        // What the bars decide (finish order, and so `total_processed`, varies run to run).
        let computed: Vec<serde_json::Value> = report["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                serde_json::json!([r["symbol"], r["tech_rating"], r["signal"], r["indicators"]])
            })
            .collect();
        (
            metrics["source_cache_hits"].as_u64(),
            metrics["source_cache_misses"].as_u64(),
            computed,
        )
    };
    // A fresh directory is a fresh namespace: the first process reads every file (a snapshot
    // and a history per symbol), the second reads none.
    let (hits, misses, first) = scan();
    assert_eq!((hits, misses), (Some(0), Some(8)));
    let (hits, misses, second) = scan();
    assert_eq!((hits, misses), (Some(8), Some(0)));
    assert_eq!(first, second, "the same results from cached bars");
}

/// Flips one bit in the newest data page of `column` (a bar file's leaf column index): inside
/// the page's data, past its header, so only the page's checksum can tell.
fn flip_a_bit_in_the_newest_page(path: &Path, column: usize) {
    use parquet::file::reader::FileReader;
    let reader = parquet::file::serialized_reader::SerializedFileReader::new(
        std::fs::File::open(path).expect("open"),
    )
    .expect("footer");
    let chunk = reader.metadata().row_group(0).column(column).clone();
    let end = usize::try_from(chunk.data_page_offset() + chunk.compressed_size()).expect("offset");
    let mut bytes = std::fs::read(path).expect("read");
    bytes[end - 10] ^= 0x40;
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_flipped_bit_in_a_stored_page_is_the_symbols_error_and_status_and_verify_name_it() {
    let data = small_data_dir();
    let home = tempfile::tempdir().expect("home");
    let dir = data.path().to_str().expect("path");
    let import = technic(home.path(), &["data", "import", dir, "--quiet"], &[]);
    assert!(import.status.success(), "{}", text(&import.stderr));
    let intact = technic(home.path(), &["data", "verify"], &[]);
    assert!(
        intact.status.success(),
        "{}{}",
        text(&intact.stdout),
        text(&intact.stderr)
    );
    assert!(
        text(&intact.stdout).contains("4 files read whole"),
        "{}",
        text(&intact.stdout)
    );

    // KO's newest `high` page, which a scan reads.
    let ko = home.path().join("store/bars/KO.parquet");
    flip_a_bit_in_the_newest_page(&ko, 2);

    let scan = technic(
        home.path(),
        &["scan", "--source", "store", "--format", "json"],
        &[],
    );
    assert!(scan.status.success(), "{}", text(&scan.stderr));
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).expect("json");
    let results: Vec<&str> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["symbol"].as_str())
        .collect();
    assert!(
        !results.contains(&"KO"),
        "no numbers from a damaged file: {results:?}"
    );
    assert_eq!(results.len(), 3, "the others are scanned: {results:?}");
    let ko_error = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .find(|d| d["symbol"] == "KO")
        .expect("KO is reported");
    assert_eq!(ko_error["kind"], "error");
    let message = ko_error["message"].as_str().expect("message");
    assert!(
        message.contains("KO.parquet")
            && message.contains("damaged")
            && message.contains("column 'high'")
            && message.contains("checksum"),
        "{message}"
    );

    let status = technic(home.path(), &["data", "status", "--json"], &[]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["files"], 4);
    let damaged = status["damaged"].as_array().expect("damaged");
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0]["symbol"], "KO");
    assert!(
        damaged[0]["file"]
            .as_str()
            .expect("file")
            .ends_with("KO.parquet")
    );
    let human = text(&technic(home.path(), &["data", "status"], &[]).stdout);
    assert!(human.contains("DAMAGED") && human.contains("KO"), "{human}");

    let verify = technic(home.path(), &["data", "verify"], &[]);
    let (out, err) = (text(&verify.stdout), text(&verify.stderr));
    assert_eq!(verify.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains("damaged: KO") && out.contains("KO.parquet") && out.contains("checksum"),
        "{out}"
    );
    assert!(err.contains("1 damaged files"), "{err}");
    let verify = technic(home.path(), &["data", "verify", "--json"], &[]);
    assert_eq!(verify.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&verify.stdout).expect("json");
    assert_eq!(json["files"], 4);
    assert_eq!(json["damaged"][0]["symbol"], "KO");
}

fn parquet_files(bars: &Path) -> usize {
    std::fs::read_dir(bars).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            .count()
    })
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    names.sort();
    names
}

#[test]
fn an_import_killed_midway_is_reported_unfinished_until_an_import_finishes_it() {
    let home = tempfile::tempdir().expect("home");
    let bars = home.path().join("store/bars");
    let sp500_dir = sp500();
    let mut child = Command::new(env!("CARGO_BIN_EXE_technic"))
        .args([
            "data",
            "import",
            sp500_dir.to_str().expect("path"),
            "--quiet",
        ])
        .env("TECHNIC_HOME", home.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("technic runs");
    let started = std::time::Instant::now();
    while parquet_files(&bars) < 5 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "the import stored nothing in two minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let stored = parquet_files(&bars);
    assert!(
        stored < 400,
        "the import was killed before it finished ({stored} files stored)"
    );
    // What a writer killed between writing and renaming leaves (the kill may or may not have
    // caught one): a temporary file named after a process that no longer runs.
    let mut dead = Command::new("true").spawn().expect("spawn");
    let dead_pid = dead.id();
    dead.wait().expect("reaped");
    std::fs::write(
        bars.join(format!(".ZZZZ.parquet.{dead_pid}-0.tmp")),
        b"half",
    )
    .expect("tmp");
    assert!(!temp_files(&bars).is_empty());

    let status = technic(home.path(), &["data", "status", "--json"], &[]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let unfinished = status["unfinished"].as_array().expect("unfinished");
    assert_eq!(unfinished.len(), 1, "{status}");
    assert!(
        unfinished[0]["what"]
            .as_str()
            .expect("what")
            .starts_with("import "),
        "{status}"
    );
    assert_eq!(unfinished[0]["running"], false);
    let human = text(&technic(home.path(), &["data", "status"], &[]).stdout);
    assert!(
        human.contains("UNFINISHED") && human.contains("did not finish"),
        "{human}"
    );
    let scan = technic(
        home.path(),
        &[
            "scan",
            "--source",
            "store",
            "--format",
            "json",
            "--max-symbols",
            "3",
        ],
        &[],
    );
    assert!(scan.status.success(), "{}", text(&scan.stderr));
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).expect("json");
    let description = report["data_source"]["description"].as_str().expect("text");
    assert!(description.contains("did not finish"), "{description}");

    let again = technic(
        home.path(),
        &[
            "data",
            "import",
            sp500_dir.to_str().expect("path"),
            "--quiet",
        ],
        &[],
    );
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(
        temp_files(&bars),
        Vec::<String>::new(),
        "stale temporary files removed"
    );
    let status = technic(home.path(), &["data", "status", "--json"], &[]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["unfinished"], serde_json::json!([]));
    assert!(
        status["symbols"].as_u64().expect("symbols") > 500,
        "{status}"
    );
    let scan = technic(
        home.path(),
        &[
            "scan",
            "--source",
            "store",
            "--format",
            "json",
            "--max-symbols",
            "3",
        ],
        &[],
    );
    let report: serde_json::Value = serde_json::from_slice(&scan.stdout).expect("json");
    let description = report["data_source"]["description"].as_str().expect("text");
    assert!(!description.contains("WARNING"), "{description}");
}

#[test]
fn a_sync_killed_midway_is_reported_unfinished_until_a_sync_finishes() {
    // Slow answers, so the sync is surely still fetching when it is killed.
    let fake = PolygonFake::start(FakeOptions {
        latency: std::time::Duration::from_millis(300),
        ..FakeOptions::new(sp500())
    });
    let home = tempfile::tempdir().expect("home");
    let env = [
        ("POLYGON_API_KEY", KEY),
        ("POLYGON_BASE_URL", fake.base_url.as_str()),
        ("POLYGON_RATE_LIMIT", "1000/s"),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_technic"))
        .args([
            "data",
            "sync",
            "--symbols",
            "AAPL,KO,MSFT,XOM,PG,JNJ,CAT,HD",
        ])
        .env("TECHNIC_HOME", home.path())
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("technic runs");
    let started = std::time::Instant::now();
    while fake.request_count() == 0 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the sync asked nothing in a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let status = technic(home.path(), &["data", "status", "--json"], &[]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    let unfinished = status["unfinished"].as_array().expect("unfinished");
    assert_eq!(unfinished.len(), 1, "{status}");
    assert_eq!(unfinished[0]["what"], "sync");
    assert_eq!(unfinished[0]["running"], false);

    let again = technic(home.path(), &["data", "sync", "--symbols", "AAPL,KO"], &env);
    assert!(again.status.success(), "{}", text(&again.stderr));
    let status = technic(home.path(), &["data", "status", "--json"], &[]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["unfinished"], serde_json::json!([]), "{status}");
}
