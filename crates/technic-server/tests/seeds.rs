//! The clients the seeds (../shared/seeds) wrote, unchanged, against a real server on loopback:
//! their Python flow (httpx and websockets: start, follow the WebSocket, stop) in
//! `tests/seeds/seed_client.py`, their browser code (`EventSource.onmessage`, the progress
//! WebSocket, REST polling) in headless Chromium from `tests/browser/seeds.mjs`; and the
//! compatibility rules those clients rely on, checked on the wire.
//!
//! The Python flow needs `httpx` and `websockets` (requirements-test.txt), the browser flow node,
//! Chromium and `npm ci` in `tests/browser`; `scripts/test` installs them. Without them each test
//! says so and passes, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use technic_engine::Scanner;
use technic_server::{AppState, Config};
use technic_testkit::loopback::LoopbackServer;
use technic_testkit::markets::{Slowed, demo};

/// The demo market, each read slowed a little so a scan lasts long enough to stop mid-way.
async fn serve_demo(config: Config) -> LoopbackServer {
    let market = Slowed {
        inner: demo(),
        delay: Duration::from_millis(5),
    };
    let state = AppState::new(
        Scanner::new(Arc::new(market)),
        None,
        config,
        tokio::runtime::Handle::current(),
    );
    LoopbackServer::start(|listener, shutdown| technic_server::serve(listener, state, shutdown))
        .await
}

/// Skips (or fails under `CI=true`) when a tool the test needs is missing.
fn missing(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI: {why}; scripts/test installs it"
    );
    eprintln!("SKIPPED {test}: {why}; scripts/test installs it");
}

/// Runs a client program to its end and returns the JSON object on its last stdout line.
async fn run_client(mut command: Command) -> Value {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("the client starts");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "client failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("the client printed no facts:\n{stdout}\n{stderr}"))
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The symbols of a results page's results, in `seq` order.
fn result_symbols(page: &Value) -> Vec<String> {
    page["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|m| m["data"]["symbol"].as_str().expect("symbol").to_owned())
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

fn numbers(value: &Value) -> Vec<f64> {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"))
}

/// Progress figures as a client sees them: numbers from 0 to 100 that never go back.
fn assert_progress_readable(values: &[f64], what: &str) {
    assert!(!values.is_empty(), "{what}: no progress seen");
    assert!(
        values.iter().all(|p| (0.0..=100.0).contains(p)),
        "{what}: {values:?}"
    );
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "{what}: progress went back: {values:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_python_client_starts_follows_and_stops_scans() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let has_packages = Command::new(&python)
        .args(["-c", "import httpx, websockets"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_packages {
        missing(
            "seeds' Python client",
            &format!("{python} lacks httpx or websockets (requirements-test.txt)"),
        );
        return;
    }
    let server = serve_demo(Config::default()).await;
    let mut command = Command::new(&python);
    command
        .arg(tests_dir().join("seeds/seed_client.py"))
        .arg(server.url(""));
    let facts = run_client(command).await;

    // The prioritised, streamed scan with the seeds' termination criteria.
    let first = &facts["prioritized"];
    let id = first["scan_id"].as_str().expect("scan_id");
    let page = server.results_when_complete(id).await;
    assert_eq!(strings(&first["symbols"]), result_symbols(&page));
    let seqs: Vec<u64> = serde_json::from_value(first["seqs"].clone()).expect("seqs");
    let every: Vec<u64> = (1..=page["last_seq"].as_u64().expect("last_seq")).collect();
    assert_eq!(seqs, every, "every message once, in order");
    assert_eq!(
        first["features"],
        json!({"prioritization": true, "streaming": true, "early_termination": true})
    );
    assert_eq!(first["status"], page["final"]["status"]);
    assert_eq!(first["polled_status"], page["final"]["status"]);
    // The progress socket: the seeds' top-level fields, the same figures as the envelope's.
    let progress_ws: Vec<Value> =
        serde_json::from_value(first["progress_ws"].clone()).expect("progress");
    let top: Vec<f64> = progress_ws
        .iter()
        .map(|p| p["overall_progress"].as_f64().expect("number"))
        .collect();
    assert_eq!(top, numbers(&first["progress_results_ws"]));
    assert_progress_readable(&top, "progress WebSocket");
    assert!(progress_ws.iter().all(|p| p["stages"]
        == json!([
            "data_fetching",
            "finalization",
            "symbol_scanning",
            "universe_loading"
        ])));
    assert_eq!(first["progress_ws_last_type"], "complete");

    // The stopped scan: the query parameter was honoured, the stop kept what was found.
    let second = &facts["stopped"];
    let id = second["scan_id"].as_str().expect("scan_id");
    let page = server.results_when_complete(id).await;
    assert_eq!(second["features"]["prioritization"], false);
    assert_eq!(second["stop_status"], 200);
    assert_eq!(second["status"], "stopped");
    assert_eq!(page["final"]["status"], "stopped");
    assert_eq!(strings(&second["symbols"]), result_symbols(&page));
    let universe = page["final"]["metrics"]["symbols_total"]
        .as_u64()
        .expect("symbols_total");
    assert!(
        (second["symbols"].as_array().expect("list").len() as u64) < universe,
        "stopped before the end"
    );
    server.stop().await;
}

/// Node and Chromium, or why they are missing.
fn browser_tools() -> Result<PathBuf, String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Err("node is not installed".into());
    }
    if !chromium.is_file() {
        return Err(format!("no Chromium at {}", chromium.display()));
    }
    if !tests_dir()
        .join("browser/node_modules/playwright-core")
        .is_dir()
    {
        return Err("playwright-core is not installed (npm ci in tests/browser)".into());
    }
    Ok(chromium)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_browser_code_reads_event_source_messages_and_progress() {
    let chromium = match browser_tools() {
        Ok(chromium) => chromium,
        Err(why) => {
            missing("seeds' browser code", &why);
            return;
        }
    };
    let server = serve_demo(Config::default()).await;
    let mut command = Command::new("node");
    command
        .arg(tests_dir().join("browser/seeds.mjs"))
        .arg(server.url(""))
        .env("CHROMIUM", chromium)
        .current_dir(tests_dir().join("browser"));
    let facts = run_client(command).await;
    let id = facts["scan_id"].as_str().expect("scan_id");
    let page = server.results_when_complete(id).await;
    let last_seq = page["last_seq"].as_u64().expect("last_seq");

    // `onmessage` saw every message of the scan, each once, with its seq as the event id.
    let sse = &facts["sse"];
    let ids: Vec<u64> = serde_json::from_value(sse["ids"].clone()).expect("ids");
    assert_eq!(ids, (1..=last_seq).collect::<Vec<_>>());
    assert_eq!(strings(&sse["results"]), result_symbols(&page));
    assert!(!result_symbols(&page).is_empty());
    let types = strings(&sse["types"]);
    assert_eq!(types.last().map(String::as_str), Some("complete"));
    assert!(types.iter().any(|t| t == "progress"));
    // `progress.overall_progress` is a number on every progress message, not `undefined`.
    let overall = numbers(&sse["overall"]);
    assert_eq!(
        overall.len(),
        types.iter().filter(|t| *t == "progress").count()
    );
    assert_progress_readable(&overall, "EventSource");

    // The progress WebSocket: the seeds' fields, the same figures as the SSE's.
    let ws = &facts["ws"];
    assert_eq!(numbers(&ws["overall"]), overall);
    assert_eq!(ws["last"], "complete");
    let stages: Vec<(String, f64)> = serde_json::from_value(ws["stages"].clone()).expect("stages");
    assert!(
        stages.iter().any(|(stage, _)| stage == "symbol_scanning"),
        "{stages:?}"
    );
    // REST polling ended on the scan's final status.
    let polled: Vec<(String, f64)> =
        serde_json::from_value(facts["polled"].clone()).expect("polled");
    assert_eq!(
        polled.last().map(|(status, _)| status.as_str()),
        page["final"]["status"].as_str()
    );
    server.stop().await;
}

/// An SSE stream read to its end: `(event name, data)` pairs.
async fn sse_events(url: &str) -> Vec<(String, Value)> {
    let response = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    assert_eq!(response.status().as_u16(), 200, "{url}");
    let mut body = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
    }
    text.split("\n\n")
        .filter(|block| block.lines().any(|l| l.starts_with("data: ")))
        .map(|block| {
            let event = block
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("message")
                .to_owned();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            (event, serde_json::from_str(&data).expect("json data"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_parameters_are_honoured_or_refused_and_both_event_styles_are_served() {
    let on = |name: &str| (name == "EARLY_TERMINATION_DEFAULT").then(|| "true".to_owned());
    let server = serve_demo(Config::from_lookup(on).expect("valid")).await;

    // Refused, naming what is wrong, rather than silently ignored.
    for (path, body, says) in [
        ("/scan/start?priority=high", json!({}), "priority"),
        (
            "/scan/start?enable_prioritization=false",
            json!({"enable_prioritization": true}),
            "enable_prioritization: the query says false and the body says true",
        ),
        ("/scan/start", json!({"async_mode": false}), "POST /scan"),
        ("/scan/stream?async_mode=false", json!({}), "POST /scan"),
        ("/scan", json!({"async_mode": true}), "POST /scan/start"),
        (
            "/scan/start?enable_streaming=maybe",
            json!({}),
            "enable_streaming",
        ),
    ] {
        let (status, error) = server.post(path, body).await;
        assert_eq!(status, 422, "{path}: {error}");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(says), "{path}: {message}");
    }

    // EARLY_TERMINATION_DEFAULT=true gives requests without criteria the documented ones.
    let (status, started) = server
        .post(
            "/scan/start?enable_streaming=true",
            json!({"max_symbols": 30, "async_mode": true}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["features"]["early_termination"], true);
    assert_eq!(started["features"]["streaming"], true);
    let id = started["scan_id"].as_str().expect("scan_id").to_owned();
    let page = server.results_when_complete(&id).await;
    let last_seq = page["last_seq"].as_u64().expect("last_seq") as usize;

    let named = sse_events(&server.url(&format!("/events/results/{id}"))).await;
    let plain = sse_events(&server.url(&format!("/events/results/{id}?events=plain"))).await;
    let seeds = sse_events(&server.url(&format!("/scan/stream/{id}"))).await;
    let seeds_named = sse_events(&server.url(&format!("/scan/stream/{id}?events=named"))).await;
    for events in [&named, &plain, &seeds, &seeds_named] {
        assert_eq!(events.len(), last_seq);
    }
    // Named: each event is its type, and the message is the envelope alone (today's clients).
    for (events, style) in [(&named, "named"), (&seeds_named, "named")] {
        for (event, data) in events {
            assert_eq!(Some(event.as_str()), data["type"].as_str(), "{style}");
            if event == "progress" {
                assert!(data.get("overall_progress").is_none(), "{data}");
                assert!(data["data"]["overall_progress"].is_number());
            }
        }
    }
    // Plain: every event reaches `onmessage`, progress readable at the top level and in `data`.
    for events in [&plain, &seeds] {
        assert!(events.iter().all(|(event, _)| event == "message"));
        let progress: Vec<&Value> = events
            .iter()
            .filter(|(_, d)| d["type"] == "progress")
            .map(|(_, d)| d)
            .collect();
        assert!(!progress.is_empty());
        for data in progress {
            assert_eq!(data["overall_progress"], data["data"]["overall_progress"]);
            assert_eq!(data["current_stage"], data["data"]["current_stage"]);
            assert_eq!(data["stages"], data["data"]["stages"]);
            assert!(data["metadata"]["seq"].is_u64());
        }
    }
    // Other messages are the same in both styles.
    for ((_, a), (_, b)) in named.iter().zip(&plain) {
        if a["type"] != "progress" {
            assert_eq!(a, b);
        }
    }
    let refused = reqwest::Client::new()
        .get(server.url(&format!("/events/results/{id}?events=loud")))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("sse");
    assert_eq!(refused.status().as_u16(), 422);
    server.stop().await;
}
