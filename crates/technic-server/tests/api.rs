//! The server on a real loopback listener, with real WebSocket and SSE clients.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use technic_core::Bars;
use technic_data::memory::MemorySource;
use technic_data::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo};
use technic_engine::Scanner;
use technic_server::{AppState, Config};
use technic_testkit::loopback::LoopbackServer;
use technic_testkit::markets::{Slowed, demo};

/// The demo market in memory, each read slowed by `delay` so scans last long enough to join,
/// leave and rejoin mid-scan.
async fn serve_demo(delay: Duration, config: Config) -> LoopbackServer {
    serve(
        Arc::new(Slowed {
            inner: demo(),
            delay,
        }),
        config,
    )
    .await
}

/// Behind an in-process bars cache, as `technic serve` runs by default.
async fn serve_demo_cached(delay: Duration, config: Config) -> LoopbackServer {
    let market = Slowed {
        inner: demo(),
        delay,
    };
    let cache: Arc<dyn technic_cache::Cache> = Arc::new(technic_cache::MemoryCache::new(64 << 20));
    let cached = technic_cache::CachedSource::new(market, cache, "demo", Duration::from_secs(60));
    serve(Arc::new(cached), config).await
}

async fn serve(source: Arc<dyn MarketData>, config: Config) -> LoopbackServer {
    serve_with_store(source, None, config).await
}

async fn serve_with_store(
    source: Arc<dyn MarketData>,
    store: Option<technic_learning::LearningStore>,
    config: Config,
) -> LoopbackServer {
    let scanner = Scanner::new(source);
    let state = AppState::new(scanner, store, config, tokio::runtime::Handle::current());
    LoopbackServer::start(|listener, shutdown| technic_server::serve(listener, state, shutdown))
        .await
}

/// Reads a WebSocket until the server closes it; returns the messages and the close frame's reason.
async fn ws_read(url: &str, stop_after: Option<usize>) -> (Vec<Value>, Option<(u16, String)>) {
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    let mut messages = Vec::new();
    while let Some(frame) = socket.next().await {
        match frame.expect("frame") {
            tokio_tungstenite::tungstenite::Message::Text(text) => {
                messages.push(serde_json::from_str(&text).expect("json"));
                if stop_after.is_some_and(|n| messages.len() >= n) {
                    let _closed = socket.close(None).await;
                    return (messages, None);
                }
            }
            tokio_tungstenite::tungstenite::Message::Close(frame) => {
                return (
                    messages,
                    frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                );
            }
            _ => {}
        }
    }
    (messages, None)
}

/// Reads an SSE stream until it ends (or `stop_after` events); returns `(id, event, data)` triples.
async fn sse_read(
    url: &str,
    last_event_id: Option<u64>,
    stop_after: Option<usize>,
) -> Vec<(Option<u64>, String, String)> {
    let mut request = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = request.send().await.expect("sse");
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.bytes_stream();
    let (mut buffer, mut events) = (String::new(), Vec::new());
    while let Some(chunk) = body.next().await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::from("message"), String::new());
            for line in block.lines() {
                if let Some(v) = line
                    .strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
                {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    event = v.trim().to_owned();
                } else if let Some(v) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    data.push_str(v);
                }
            }
            if data.is_empty() {
                if block
                    .lines()
                    .all(|line| line.is_empty() || line.starts_with(':'))
                {
                    events.push((None, "keep-alive".into(), String::new()));
                }
                continue;
            }
            events.push((id, event, data));
            if stop_after.is_some_and(|n| events.len() >= n) {
                return events;
            }
        }
    }
    events
}

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["metadata"]["seq"].as_u64().expect("seq"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_scan_is_seen_identically_by_websocket_sse_and_polling() {
    let server = serve_demo(Duration::from_millis(2), Config::default()).await;
    let id = server.start_scan(json!({ "max_symbols": 120 })).await;
    let ws_url = server.ws(&format!("/ws/results/{id}"));
    let sse_url = server.url(&format!("/events/results/{id}"));
    let ws = tokio::spawn(async move { ws_read(&ws_url, None).await });
    let sse = tokio::spawn(async move { sse_read(&sse_url, None, None).await });
    // Polling: results after the last seq seen, until the scan is complete.
    let mut polled = Vec::new();
    let mut since = 0;
    loop {
        let (status, body) = server
            .get(&format!("/scan/results/{id}?since_seq={since}"))
            .await;
        assert_eq!(status, 200);
        polled.extend(body["results"].as_array().expect("results").iter().cloned());
        since = body["last_seq"].as_u64().expect("last_seq");
        if body["complete"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ws_messages, close) = ws.await.expect("ws task");
    assert_eq!(
        close.map(|c| c.0),
        Some(1000),
        "closed normally after the final message"
    );
    let n = ws_messages.len() as u64;
    assert_eq!(
        seqs(&ws_messages),
        (1..=n).collect::<Vec<_>>(),
        "WebSocket: every seq once, in order"
    );
    assert_eq!(
        ws_messages.last().map(|m| m["type"].clone()),
        Some(json!("complete"))
    );

    let sse_events = sse.await.expect("sse task");
    let sse_messages: Vec<Value> = sse_events
        .iter()
        .map(|(_, _, data)| serde_json::from_str(data).expect("json"))
        .collect();
    assert_eq!(
        sse_messages, ws_messages,
        "SSE delivers exactly what the WebSocket did"
    );
    assert!(
        sse_events.iter().all(
            |(id, event, data)| id.is_some() && data.contains(&format!("\"type\":\"{event}\""))
        )
    );

    let ws_results: Vec<&Value> = ws_messages
        .iter()
        .filter(|m| m["type"] == "result")
        .collect();
    assert_eq!(
        polled.iter().collect::<Vec<_>>(),
        ws_results,
        "polling sees the same results"
    );
    let (_, final_body) = server.get(&format!("/scan/results/{id}")).await;
    let report = final_body["final"]["results"]
        .as_array()
        .expect("final results");
    assert_eq!(report.len(), ws_results.len());
    // The final message ranks the results already streamed, as the final report does, without
    // sending them again.
    let complete = &ws_messages.last().expect("final message")["data"];
    assert!(
        complete.get("results").is_none(),
        "results sent twice: {complete}"
    );
    let place = |r: &Value| {
        (
            r["symbol"].clone(),
            r["rank"].clone(),
            r["alpha_score"].clone(),
        )
    };
    let ranking: Vec<_> = complete["ranking"]
        .as_array()
        .expect("ranking")
        .iter()
        .map(place)
        .collect();
    let reported: Vec<_> = report.iter().map(place).collect();
    assert_eq!(
        ranking, reported,
        "the final message ranks as the report does"
    );
    let streamed: std::collections::BTreeSet<&str> = ws_results
        .iter()
        .filter_map(|m| m["data"]["symbol"].as_str())
        .collect();
    assert!(
        ranking
            .iter()
            .all(|(symbol, _, _)| symbol.as_str().is_some_and(|s| streamed.contains(s))),
        "every ranked symbol came as a result"
    );
    assert_eq!(complete["metrics"], final_body["final"]["metrics"]);
    assert_eq!(complete["diagnostics"], final_body["final"]["diagnostics"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clients_that_disconnect_resume_with_nothing_lost_or_repeated() {
    let server = serve_demo(Duration::from_millis(3), Config::default()).await;
    let id = server.start_scan(json!({ "max_symbols": 150 })).await;
    // WebSocket: read a few messages, hang up, resume from the last seq seen, many times.
    let mut ws_all: Vec<Value> = Vec::new();
    let mut chunk = 3;
    loop {
        let from = ws_all
            .last()
            .map_or(0, |m| m["metadata"]["seq"].as_u64().expect("seq"));
        let (batch, close) = ws_read(
            &server.ws(&format!("/ws/results/{id}?from_seq={from}")),
            Some(chunk),
        )
        .await;
        ws_all.extend(batch);
        chunk = chunk % 17 + 5;
        if close.is_some()
            || ws_all
                .last()
                .is_some_and(|m| m["metadata"]["is_final"] == true)
        {
            break;
        }
    }
    let n = ws_all.len() as u64;
    assert!(n > 100);
    assert_eq!(
        seqs(&ws_all),
        (1..=n).collect::<Vec<_>>(),
        "WebSocket resumes without gap or duplicate"
    );

    // SSE: the same with Last-Event-ID.
    let mut sse_all: Vec<(Option<u64>, String, String)> = Vec::new();
    let mut chunk = 4;
    loop {
        let last = sse_all.last().and_then(|(id, ..)| *id);
        let url = server.url(&format!("/events/results/{id}"));
        let batch = sse_read(&url, last, Some(chunk)).await;
        let ended = batch.len() < chunk;
        sse_all.extend(batch);
        chunk = chunk % 19 + 6;
        if ended {
            break;
        }
    }
    let ids: Vec<u64> = sse_all.iter().map(|(id, ..)| id.expect("id")).collect();
    assert_eq!(
        ids,
        (1..=n).collect::<Vec<_>>(),
        "SSE resumes without gap or duplicate"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stream_limit_is_enforced_with_a_clear_error() {
    let config = Config {
        max_concurrent_streams: 2,
        ..Config::default()
    };
    let server = serve_demo(Duration::from_millis(20), config).await;
    let id = server.start_scan(json!({ "max_symbols": 60 })).await;
    let url = server.url(&format!("/events/results/{id}"));
    let open = |url: String| async move {
        reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("sse")
    };
    let (first, second) = (open(url.clone()).await, open(url.clone()).await);
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open(url.clone()).await;
    assert_eq!(third.status().as_u16(), 429);
    let body: Value = third.json().await.expect("json error");
    assert_eq!(body["error"]["code"], "too_many_streams");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("MAX_CONCURRENT_STREAMS = 2"))
    );
    let ws = tokio_tungstenite::connect_async(server.ws(&format!("/ws/results/{id}"))).await;
    assert!(
        ws.is_err(),
        "a WebSocket over the limit is refused before the upgrade"
    );
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        open(url).await.status().as_u16(),
        200,
        "a closed stream frees its slot"
    );
    drop(second);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_error_has_its_status_and_names_what_is_wrong() {
    let server = serve_demo_cached(Duration::ZERO, Config::default()).await;
    let raw = reqwest::Client::new()
        .post(server.url("/scan/start"))
        .header("content-type", "application/json")
        .body("{bad")
        .send()
        .await
        .expect("post");
    assert_eq!(raw.status().as_u16(), 400);
    let body: Value = raw.json().await.expect("json");
    assert_eq!(body["error"]["code"], "bad_json");

    let cases = [
        (json!({ "max_symbol": 5 }), "max_symbol"),
        (json!({ "min_price": -1 }), "min_price"),
        (json!({ "min_tech_rating": 120 }), "min_tech_rating"),
        (json!({ "sectors": ["Tech"] }), "sectors"),
        (
            json!({ "termination_criteria": { "max_percent_scanned": 150 } }),
            "termination_criteria.max_percent_scanned",
        ),
        (json!({ "max_symbols": "ten" }), "max_symbols"),
    ];
    for (request, field) in cases {
        let (status, body) = server.post("/scan/start", request.clone()).await;
        assert_eq!(status, 422, "{request}");
        assert_eq!(body["error"]["code"], "invalid_request");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(field)),
            "{request}: {body}"
        );
    }
    for path in [
        "/scan/progress/nope",
        "/scan/results/nope",
        "/scan/stats/nope",
        "/scan/stream/nope",
        "/events/results/nope",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _) = server.post("/scan/stop/nope", json!({})).await;
    assert_eq!(status, 404);
    let (status, body) = server.get("/scan/results/x?since=3").await;
    assert_eq!(status, 422, "an unknown query parameter: {body}");
    assert_eq!(body["error"]["code"], "invalid_request");

    // The legacy batch endpoint waits and returns everything; stopping it afterwards is a conflict.
    let (status, body) = server.post("/scan", json!({ "max_symbols": 30 })).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "completed");
    assert_eq!(
        body["results"].as_array().map(Vec::len).unwrap_or(0)
            + body["diagnostics"].as_array().map(Vec::len).unwrap_or(0),
        30
    );
    let id = body["scan_id"].as_str().expect("id");
    let (status, body) = server.post(&format!("/scan/stop/{id}"), json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("conflict"))
    );

    // A second scan of the same symbols takes every priority snapshot from the cache.
    let (_, again) = server.post("/scan", json!({ "max_symbols": 30 })).await;
    let (status, stats) = server
        .get(&format!(
            "/scan/stats/{}",
            again["scan_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            stats["cache"]["hits"].clone(),
            stats["cache"]["misses"].clone()
        ),
        (json!(30), json!(0)),
        "{stats}"
    );
    // And the bars of every symbol from the source's cache: the first scan read 30 snapshots
    // and 30 histories from the source, this one only the histories, all cached.
    assert_eq!(
        (
            stats["cache"]["source_hits"].clone(),
            stats["cache"]["source_misses"].clone()
        ),
        (json!(30), json!(0)),
        "{stats}"
    );

    let (status, health) = server.get("/health").await;
    assert_eq!((status, health["status"].clone()), (200, json!("ok")));
    let metrics = server.metrics().await;
    for name in [
        "technic_scans_total{status=\"completed\"} 2",
        "technic_time_to_first_result_seconds_count 2",
        "technic_active_streams 0",
        "technic_cache_misses_total{cache=\"snapshot\"} 30",
        "technic_cache_hits_total{cache=\"snapshot\"} 30",
        "technic_cache_misses_total{cache=\"bars\"} 60",
        "technic_cache_hits_total{cache=\"bars\"} 30",
    ] {
        assert!(metrics.contains(name), "metrics has {name}");
    }
    server.stop().await;
}

/// What a request answers: its status, the error's code and message (empty when not JSON).
async fn answer(request: reqwest::RequestBuilder) -> (u16, String, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let field = |name: &str| body["error"][name].as_str().unwrap_or("").to_owned();
    (status, field("code"), field("message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_router_and_query_errors_are_json_too_and_a_cursor_past_the_end_is_refused() {
    let server = serve_demo_cached(Duration::ZERO, Config::default()).await;
    let client = reqwest::Client::new();
    let (status, body) = server.post("/scan", json!({ "max_symbols": 5 })).await;
    assert_eq!(status, 200);
    let id = body["scan_id"].as_str().expect("id").to_owned();
    let (_, page) = server.get(&format!("/scan/results/{id}")).await;
    let last = page["last_seq"].as_u64().expect("last_seq");
    assert!(page["complete"] == true && last > 5, "{page}");

    // Query values of the wrong type, an unknown path, a wrong method, a plain GET of a WebSocket.
    let cases = [
        (
            client.get(server.url(&format!("/scan/results/{id}?since_seq=abc"))),
            422,
            "invalid_request",
            "since_seq",
        ),
        (
            client.get(server.url(&format!("/ws/results/{id}?from_seq=-1"))),
            422,
            "invalid_request",
            "from_seq",
        ),
        (
            client.get(server.url("/scan/resutls/x")),
            404,
            "not_found",
            "/scan/resutls/x",
        ),
        (
            client.get(server.url("/scan/start")),
            405,
            "method_not_allowed",
            "/scan/start",
        ),
        (
            client.get(server.url(&format!("/ws/results/{id}"))),
            426,
            "websocket_required",
            "WebSocket",
        ),
        (
            client.get(server.url("/ws/results/nope")),
            404,
            "not_found",
            "nope",
        ),
    ];
    for (request, status, code, named) in cases {
        let (got, got_code, message) = answer(request).await;
        assert_eq!((got, got_code.as_str()), (status, code), "{message}");
        assert!(message.contains(named), "{message} names {named}");
    }

    // A cursor past the newest message cannot be this scan's: refused, naming where it came from.
    let past = last + 1;
    let cursors = [
        (
            client.get(server.url(&format!("/scan/results/{id}?since_seq={past}"))),
            "since_seq",
        ),
        (
            client
                .get(server.url(&format!("/scan/stream/{id}?since_seq={past}")))
                .header("accept", "text/event-stream"),
            "since_seq",
        ),
        (
            client
                .get(server.url(&format!("/events/results/{id}")))
                .header("last-event-id", past.to_string()),
            "Last-Event-ID",
        ),
    ];
    for (request, named) in cursors {
        let (status, code, message) = answer(request).await;
        assert_eq!(
            (status, code.as_str()),
            (422, "invalid_request"),
            "{message}"
        );
        assert!(
            message.contains(named) && message.contains(&format!("seq {last}")),
            "{message}"
        );
    }
    let refused =
        tokio_tungstenite::connect_async(server.ws(&format!("/ws/results/{id}?from_seq={past}")))
            .await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 422);
        }
        other => panic!("a WebSocket past the end is refused before the upgrade: {other:?}"),
    }

    // An EventSource that has the final message is told there is nothing more (204, so it stops
    // reconnecting); one a message short gets that message.
    let sse = |from: u64| {
        client
            .get(server.url(&format!("/events/results/{id}")))
            .header("accept", "text/event-stream")
            .header("last-event-id", from.to_string())
            .send()
    };
    assert_eq!(sse(last).await.expect("sse").status().as_u16(), 204);
    let short = sse(last - 1).await.expect("sse");
    assert_eq!(short.status().as_u16(), 200);
    let text = short.text().await.expect("events");
    assert!(
        text.starts_with(&format!("id: {last}\nevent: complete\n")),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn running_scans_are_limited_with_a_clear_error() {
    let config = Config {
        max_concurrent_scans: 1,
        ..Config::default()
    };
    let server = serve_demo(Duration::from_millis(20), config).await;
    let first = server.start_scan(json!({ "max_symbols": 200 })).await;
    let (status, body) = server.post("/scan/start", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (429, json!("too_many_scans"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("MAX_CONCURRENT_SCANS = 1")),
        "{body}"
    );
    let (status, _) = server.post(&format!("/scan/stop/{first}"), json!({})).await;
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while server.get(&format!("/scan/results/{first}")).await.1["complete"] != true {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stopped scan ends"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.start_scan(json!({ "max_symbols": 5 })).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_legacy_scan_whose_client_gives_up_is_stopped() {
    // 20 ms a symbol: 200 symbols would take four seconds on one worker.
    let server = serve_demo(Duration::from_millis(20), Config::default()).await;
    let gave_up = reqwest::Client::new()
        .post(server.url("/scan"))
        .json(&json!({ "max_symbols": 200 }))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()));
    let stopped = "technic_scans_total{status=\"stopped\"} 1";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !server.metrics().await.contains(stopped) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the abandoned scan was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

/// A source whose universe cannot be read.
struct Unreadable;

impl MarketData for Unreadable {
    fn info(&self) -> SourceInfo {
        demo().info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        Err(DataError::Io {
            path: "/srv/private/universe.csv".into(),
            cause: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        })
    }
    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        demo().bars(symbol, window)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scan_that_fails_is_counted_and_streams_end_with_its_error() {
    let server = serve(Arc::new(Unreadable), Config::default()).await;
    let id = server.start_scan(json!({})).await;
    let (messages, close) = ws_read(&server.ws(&format!("/ws/results/{id}")), None).await;
    let last = messages.last().expect("the error message");
    assert_eq!(last["type"], "error", "{last}");
    assert!(last["metadata"]["is_final"] == true);
    assert_eq!(close.map(|(code, _)| code), Some(1000));
    // The stream ends when the error is logged; the outcome is recorded just after.
    let page = server.results_when_complete(&id).await;
    assert_eq!(page["status"], "failed", "{page}");
    // What failed is said; the source's detail (here a path on the server) is logged, not sent.
    let (_, progress) = server.get(&format!("/scan/progress/{id}")).await;
    for told in [&last["data"], &page, &progress] {
        let text = told.to_string();
        assert!(text.contains("could not load the universe"), "{text}");
        assert!(
            !text.contains("/srv/private"),
            "internal detail leaked: {text}"
        );
    }
    // Counted before the outcome is recorded, so by now.
    assert!(
        server
            .metrics()
            .await
            .contains("technic_scans_total{status=\"failed\"} 1"),
        "a failed scan is counted"
    );
    server.stop().await;
}

/// The demo market, but one symbol's bar file on the server is broken.
struct OneBrokenFile {
    broken: String,
}

impl MarketData for OneBrokenFile {
    fn info(&self) -> SourceInfo {
        demo().info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        demo().universe()
    }
    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        if symbol == self.broken {
            return Err(DataError::BadRow {
                path: format!("/srv/private/bars/{symbol}.csv").into(),
                line: 7,
                message: "unparseable date \"2024-13-01\"".into(),
            });
        }
        demo().bars(symbol, window)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_symbol_whose_file_is_broken_is_reported_without_the_servers_paths() {
    let broken = demo().universe().expect("universe")[0].symbol.clone();
    let source = OneBrokenFile {
        broken: broken.clone(),
    };
    let server = serve(Arc::new(source), Config::default()).await;
    let (status, report) = server
        .post("/scan", json!({ "symbols": [broken.clone()] }))
        .await;
    assert_eq!(status, 200, "{report}");
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    assert_eq!(diagnostics.len(), 1, "{report}");
    assert_eq!(diagnostics[0]["symbol"], json!(broken));
    // Which file and line, and what is wrong with it: what a user can act on.
    let message = diagnostics[0]["message"].as_str().expect("message");
    assert_eq!(
        message,
        format!("{broken}.csv, line 7: unparseable date \"2024-13-01\"")
    );
    assert!(
        !report.to_string().contains("/srv/private"),
        "where the server keeps its data leaked: {report}"
    );
    server.stop().await;
}

/// A learning store as `technic serve` keeps it: SQLite in a home directory of its own.
async fn sqlite_store() -> (tempfile::TempDir, technic_learning::LearningStore) {
    let home = tempfile::tempdir().expect("temp dir");
    let store = technic_learning::LearningStore::open_in(home.path())
        .await
        .expect("store");
    (home, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_scans_learn_is_saved_before_the_server_stops() {
    let (_home, store) = sqlite_store().await;
    let server = serve_with_store(Arc::new(demo()), Some(store.clone()), Config::default()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, report) = server.post("/scan", json!({ "max_symbols": 20 })).await;
        assert_eq!(
            (status, report["status"].clone()),
            (200, json!("completed"))
        );
        ids.push(report["scan_id"].clone());
    }
    // Stopped the moment the last report is out: its record may still be queued.
    server.stop().await;
    let learned = store
        .load(Duration::from_secs(3600), std::time::SystemTime::now())
        .await
        .expect("load");
    assert_eq!(learned.histories.len(), 20, "{ids:?}");
    assert!(
        learned.histories.values().all(|h| h.scans == 3),
        "every scan recorded once: {:?}",
        learned
            .histories
            .values()
            .map(|h| h.scans)
            .collect::<Vec<_>>()
    );
    assert!(
        learned.alpha_reference.is_some(),
        "a completed scan's distribution"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_follows_the_learning_store_and_does_not_leak_its_errors() {
    let (home, store) = sqlite_store().await;
    let server = serve_with_store(Arc::new(demo()), Some(store), Config::default()).await;
    let (status, body) = server.get("/ready").await;
    assert_eq!((status, body["status"].clone()), (200, json!("ready")));
    // The database file is overwritten under the open store: every read now fails.
    std::fs::write(home.path().join("technic.db"), vec![0x5a_u8; 8192]).expect("overwrite");
    let (status, body) = server.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("learning store"), "{message}");
    let home_text = home.path().display().to_string();
    assert!(
        !message.contains(&home_text) && !message.contains("database"),
        "the driver's detail is logged, not sent: {message}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_keeps_results_and_streams_end_with_the_stopped_scan() {
    let server = serve_demo(Duration::from_millis(20), Config::default()).await;
    let id = server.start_scan(json!({})).await;
    let ws_url = server.ws(&format!("/ws/results/{id}"));
    let ws = tokio::spawn(async move { ws_read(&ws_url, None).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = server.post(&format!("/scan/stop/{id}"), json!({})).await;
    assert_eq!((status, body["status"].clone()), (200, json!("stopping")));
    let (messages, _) = tokio::time::timeout(Duration::from_secs(10), ws)
        .await
        .expect("ends")
        .expect("task");
    let last = messages.last().expect("messages");
    assert_eq!(last["type"], "complete");
    assert_eq!(last["data"]["status"], "stopped");
    assert!(
        last["data"]["stop_reason"]
            .as_str()
            .is_some_and(|r| r.contains("POST /scan/stop"))
    );
    let (_, stats) = server.get(&format!("/scan/stats/{id}")).await;
    assert_eq!(stats["early_termination"]["terminated"], true);
    let progress = stats["overall_progress"]
        .as_f64()
        .expect("overall_progress");
    assert!(
        progress < 100.0,
        "a stopped scan reports how far it got, not 100 %: {stats}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_stream_times_out_with_the_point_to_resume_from() {
    let config = Config {
        stream_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let server = serve_demo(Duration::from_millis(600), config).await;
    let id = server
        .start_scan(json!({ "max_symbols": 50, "enable_prioritization": false }))
        .await;
    // Reads take 0.6 s, the stream timeout is 0.3 s: the SSE stream says so and ends.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let events = sse_read(&server.url(&format!("/events/results/{id}")), None, None).await;
    let last = events.last().expect("events");
    assert_eq!(last.1, "timeout");
    assert!(last.2.contains("Last-Event-ID"), "{}", last.2);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_streams_get_keep_alives_and_only_abandoned_ones_time_out() {
    let config = Config {
        stream_timeout: Duration::from_millis(1500),
        keep_alive: Duration::from_millis(100),
        ..Config::default()
    };
    // Reads take 4 s: after its first progress messages the scan is quiet for that long.
    let server = serve_demo(Duration::from_secs(4), config).await;
    let id = server
        .start_scan(json!({ "max_symbols": 50, "enable_prioritization": false }))
        .await;
    let ws_url = server.ws(&format!("/ws/results/{id}"));
    // A client that stops reading (so answers no ping) on the quiet scan: abandoned.
    let (abandoned, _) = tokio_tungstenite::connect_async(ws_url.clone())
        .await
        .expect("ws");
    // A healthy client (tungstenite answers every ping it reads): it stays past the timeout.
    let healthy = tokio::spawn(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.expect("ws");
        let (mut pings, mut first_result_after, mut close) = (0, None, None);
        let connected = std::time::Instant::now();
        while let Some(Ok(frame)) = socket.next().await {
            match frame {
                tokio_tungstenite::tungstenite::Message::Ping(_) => pings += 1,
                tokio_tungstenite::tungstenite::Message::Text(text) => {
                    let message: Value = serde_json::from_str(&text).expect("json");
                    if message["type"] == "result" {
                        first_result_after = Some(connected.elapsed());
                        break;
                    }
                }
                tokio_tungstenite::tungstenite::Message::Close(frame) => {
                    close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    break;
                }
                _ => {}
            }
        }
        (pings, first_result_after, close)
    });
    let events = sse_read(&server.url(&format!("/events/results/{id}")), None, None).await;
    let keep_alives = events.iter().filter(|e| e.1 == "keep-alive").count();
    // The stream timeout counts from the last message, not from the last keep-alive.
    assert!(keep_alives >= 3, "SSE keep-alives: {keep_alives}");
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("timeout"));
    assert!(
        !events.iter().any(|e| e.1 == "result"),
        "ended before the first result"
    );
    // Past the timeout, before the first result: the SSE stream and the abandoned WebSocket are
    // closed, the healthy one is open.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.lines().any(|l| l == "technic_active_streams 1"),
        "only the healthy WebSocket is open: {metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "technic_websocket_errors_total 1"),
        "the abandoned WebSocket is counted: {metrics}"
    );
    let (pings, first_result_after, close) = tokio::time::timeout(Duration::from_secs(10), healthy)
        .await
        .expect("the healthy WebSocket gets a result")
        .expect("task");
    assert_eq!(close, None, "the healthy WebSocket was not closed");
    assert!(pings >= 10, "WebSocket pings: {pings}");
    assert!(
        first_result_after.is_some_and(|after| after > Duration::from_millis(1500)),
        "its first result came after the stream timeout: {first_result_after:?}"
    );
    drop(abandoned);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_stops_scans_and_every_stream_gets_the_final_message() {
    let server = serve_demo(Duration::from_millis(200), Config::default()).await;
    let id = server.start_scan(json!({ "max_symbols": 50 })).await;
    // Shutdown stops the scan; an open WebSocket receives the final message and is closed.
    let ws_url = server.ws(&format!("/ws/results/{id}"));
    let ws = tokio::spawn(async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.expect("ws");
        let mut last = Value::Null;
        while let Some(Ok(frame)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                last = serde_json::from_str(&text).expect("json");
            }
        }
        let _closed = socket
            .send(tokio_tungstenite::tungstenite::Message::Close(None))
            .await;
        last
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.stop().await;
    let last = tokio::time::timeout(Duration::from_secs(10), ws)
        .await
        .expect("ws ends")
        .expect("task");
    assert_eq!(last["type"], "complete");
    assert_eq!(last["data"]["status"], "stopped");
    assert!(
        last["data"]["stop_reason"]
            .as_str()
            .is_some_and(|r| r.contains("server shutdown"))
    );
}

/// A server on the S&P 500 (megabytes of messages per scan) whose connections' kernel send buffers
/// are bounded (`STREAM_SEND_BUFFER_BYTES`), so a client that does not read stalls its writes.
async fn stalling_server(send_timeout: Duration) -> LoopbackServer {
    let sp500 = std::env::var_os("TECHNIC_SHARED")
        .map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            std::path::PathBuf::from,
        )
        .join("data/sp500");
    let source = technic_data::files::FileSource::open(&sp500).expect("the S&P 500 data opens");
    let config = Config {
        send_timeout,
        send_buffer: Some(64 * 1024),
        ..Config::default()
    };
    serve(Arc::new(source), config).await
}

/// A WebSocket subscriber that stops reading: once the server's writes to it have waited the send
/// timeout, it is closed (the scan and the other subscribers go on at full speed), and it resumes
/// from the last message it got with nothing lost or repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_stops_reading_is_closed_and_resumes_with_nothing_lost() {
    let server = stalling_server(Duration::from_millis(300)).await;
    let id = server.start_scan(json!({})).await;
    let path = format!("/ws/results/{id}");
    let url = server.ws(&path);
    let (stream, _) = server.tiny_receive_buffer_connection().await;
    let (mut slow, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .expect("handshake");
    let reader = tokio::spawn({
        let url = server.ws(&path);
        async move { ws_read(&url, None).await }
    });
    let (everything, _) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reading subscriber is served while the other one stalls")
        .expect("reader");
    assert!(
        everything
            .last()
            .is_some_and(|m| m["metadata"]["is_final"] == true)
    );
    tokio::time::sleep(Duration::from_millis(600)).await;

    // Now read what the server managed to send before it gave up.
    let (mut got, mut close) = (Vec::new(), None);
    while let Some(frame) = slow.next().await {
        match frame {
            Ok(tokio_tungstenite::tungstenite::Message::Text(text)) => {
                got.push(serde_json::from_str::<Value>(&text).expect("json"));
            }
            Ok(tokio_tungstenite::tungstenite::Message::Close(frame)) => {
                close = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(
        got.len() < everything.len(),
        "the stalled subscriber was cut off ({} of {} messages)",
        got.len(),
        everything.len()
    );
    let last = seqs(&got).last().copied().unwrap_or(0);
    // The close frame, when it got through the full buffers, says where to resume: never after
    // what the client has (messages between are sent again; a client skips what it has).
    let from = match &close {
        Some((code, reason)) => {
            assert_eq!(*code, 4000, "{reason}");
            let hint: u64 = reason
                .rsplit("from_seq=")
                .next()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("a from_seq in {reason:?}"));
            assert!(
                hint <= last,
                "resume hint {hint} is after the last received {last}"
            );
            hint
        }
        None => last,
    };
    let (rest, _) = ws_read(&server.ws(&format!("{path}?from_seq={from}")), None).await;
    let mut resumed = seqs(&got);
    resumed.extend(seqs(&rest).into_iter().filter(|seq| *seq > last));
    assert_eq!(resumed, seqs(&everything), "nothing lost or repeated");

    let metrics = server.metrics().await;
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with("technic_websocket_errors_total"))
        .and_then(|l| l.split_whitespace().last()?.parse().ok())
        .expect("the websocket error counter");
    assert!(errors >= 1.0, "the cut-off is counted: {errors}");
    server.stop().await;
}

/// An SSE subscriber that stops reading: hyper stops polling a body it cannot write, so the stream
/// itself never notices; the connection's write timeout drops it, the stream slot is freed, and the
/// client resumes with `Last-Event-ID` with nothing lost or repeated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sse_subscriber_that_stops_reading_is_dropped_and_resumes_with_nothing_lost() {
    use http_body_util::BodyExt;
    let server = stalling_server(Duration::from_millis(200)).await;
    let id = server.start_scan(json!({})).await;
    let url = server.url(&format!("/events/results/{id}"));
    let (stream, address) = server.tiny_receive_buffer_connection().await;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    let driving = tokio::spawn(connection);
    let request = hyper::Request::get(format!("/events/results/{id}"))
        .header("host", address.to_string())
        .header("accept", "text/event-stream")
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .expect("request");
    let mut response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status().as_u16(), 200);

    // Another subscriber gets the whole scan meanwhile; the stalled one reads nothing for a while.
    let everything = tokio::time::timeout(Duration::from_secs(60), sse_read(&url, None, None))
        .await
        .expect("the reading subscriber is served while the other one stalls");
    assert!(
        everything
            .last()
            .is_some_and(|(_, event, _)| event == "complete")
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // What arrived before the server gave up, then the end of the connection.
    let mut text = String::new();
    let ended_early = loop {
        match response.body_mut().frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Some(Err(_)) => break true,
            None => break false,
        }
    };
    drop(driving);
    // A partly received last event is not counted: resume after the last complete one.
    let complete = text.rfind("\n\n").map_or("", |end| &text[..end]);
    let got: Vec<u64> = complete
        .split("\n\n")
        .filter_map(|block| {
            block.lines().find_map(|l| {
                l.strip_prefix("id:")
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
        })
        .collect();
    let all: Vec<u64> = everything.iter().filter_map(|(id, ..)| *id).collect();
    assert!(
        ended_early && got.len() < all.len(),
        "the stalled subscriber was dropped ({} of {} events, ended early: {ended_early})",
        got.len(),
        all.len()
    );
    let last = got.last().copied().unwrap_or(0);
    let rest = sse_read(&url, Some(last), None).await;
    let mut resumed = got.clone();
    resumed.extend(rest.iter().filter_map(|(id, ..)| *id));
    assert_eq!(resumed, all, "nothing lost or repeated");

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = server.metrics().await;
        if metrics.lines().any(|l| l == "technic_active_streams 0") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped stream's slot was not freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
}

/// `POST /backtest` runs `technic backtest` as a job: stage progress while it runs, the whole
/// report as JSON and a self-contained HTML page once done; bad requests are refused naming the
/// field, with the scans' error envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backtests_run_as_jobs_with_progress_a_json_report_and_an_html_page() {
    // Each read waits 20 ms, so the job is still loading when it is first asked for its page.
    let server = serve_demo(Duration::from_millis(20), Config::default()).await;
    let symbols: Vec<String> = demo().universe().expect("universe")[..30]
        .iter()
        .map(|s| s.symbol.clone())
        .collect();
    let (status, started) = server
        .post(
            "/backtest",
            json!({"symbols": symbols, "every": "week", "horizons": [1, 5],
                   "factors": ["tech_rating", "rsi_14", "return_5"], "rating": "standard"}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["status"], "running");
    let id = started["backtest_id"]
        .as_str()
        .expect("backtest_id")
        .to_owned();
    assert_eq!(started["report_url"], format!("/backtest/{id}/report"));

    let early = reqwest::get(server.url(&format!("/backtest/{id}/report")))
        .await
        .expect("get");
    assert_eq!(early.status().as_u16(), 409, "no report before the end");
    let early: Value = early.json().await.expect("json");
    assert_eq!(early["error"]["code"], "conflict");

    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut stages = Vec::new();
    let done = loop {
        let (status, state) = server.get(&format!("/backtest/{id}")).await;
        assert_eq!(status, 200, "{state}");
        stages.push(state["stage"].as_str().expect("stage").to_owned());
        if state["status"] != "running" {
            break state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never finished: {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["overall_progress"], 100.0);
    assert!(stages.contains(&"loading".to_owned()), "{stages:?}");
    let factors: Vec<&str> = done["report"]["factors"]
        .as_array()
        .expect("factors")
        .iter()
        .map(|f| f["name"].as_str().expect("name"))
        .collect();
    assert_eq!(factors, ["tech_rating", "rsi_14", "return_5"]);
    assert!(done["report"]["dates"].as_array().expect("dates").len() >= 3);

    let page = reqwest::get(server.url(&format!("/backtest/{id}/report")))
        .await
        .expect("get");
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    let html = page.text().await.expect("text");
    assert!(
        html.contains("<svg") && !html.contains("<script src"),
        "self-contained"
    );

    for (body, field) in [
        (json!({"factors": ["no_such_factor"]}), "factor"),
        (json!({"horizons": [0]}), "horizons"),
        (json!({"every": "year"}), "every"),
        (json!({"quantiles": 1}), "quantiles"),
        (json!({"rating": "best"}), "rating"),
        (json!({"symbols": ["AAPL"], "colour": "red"}), "colour"),
    ] {
        let (status, error) = server.post("/backtest", body.clone()).await;
        assert_eq!(status, 422, "{body}: {error}");
        let message = error["error"]["message"].as_str().expect("message");
        assert!(message.contains(field), "{body}: {message}");
    }
    let (status, failed) = server
        .post(
            "/backtest",
            json!({"symbols": symbols, "from": "2099-01-01"}),
        )
        .await;
    assert_eq!(status, 202, "{failed}");
    let id = failed["backtest_id"].as_str().expect("id").to_owned();
    let failed = loop {
        let (_, state) = server.get(&format!("/backtest/{id}")).await;
        if state["status"] != "running" {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["error"]
            .as_str()
            .expect("error")
            .starts_with("from:"),
        "{failed}"
    );
    let (status, missing) = server.get("/backtest/no-such-id").await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "not_found");
    server.stop().await;
}

/// A source whose every read panics, as a bug in a source would.
struct PanickingMarket(MemorySource);

impl MarketData for PanickingMarket {
    fn info(&self) -> SourceInfo {
        self.0.info()
    }
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        self.0.universe()
    }
    fn bars(&self, _symbol: &str, _window: &BarWindow) -> Result<Bars, DataError> {
        panic!("a bug in the source")
    }
}

/// A backtest whose source panics ends as failed, says nothing of the panic's text, and gives its
/// slot back: with one slot, the next backtest still starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backtest_that_panics_fails_and_frees_its_slot() {
    let config = Config {
        max_concurrent_scans: 1,
        ..Config::default()
    };
    let server = serve(Arc::new(PanickingMarket(demo())), config).await;
    for _ in 0..2 {
        let (status, started) = server
            .post("/backtest", json!({"every": "week", "horizons": [1]}))
            .await;
        assert_eq!(status, 202, "{started}");
        let id = started["backtest_id"].as_str().expect("id").to_owned();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let ended = loop {
            let (_, state) = server.get(&format!("/backtest/{id}")).await;
            if state["status"] != "running" {
                break state;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running: {state}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(ended["status"], "failed", "{ended}");
        let error = ended["error"].as_str().expect("error");
        assert!(!error.contains("a bug in the source"), "{error}");
    }
    server.stop().await;
}
