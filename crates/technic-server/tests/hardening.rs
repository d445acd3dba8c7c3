//! The server against clients that are slow, hostile or careless, on a real loopback listener:
//! raw sockets for what an HTTP client library would not send.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use technic_data::MarketData;
use technic_engine::Scanner;
use technic_server::{AppState, Config};
use technic_testkit::loopback::LoopbackServer;
use technic_testkit::markets::demo;
use technic_testkit::sp500;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn shared_demo() -> Arc<dyn MarketData> {
    Arc::new(demo())
}

/// Bound as `technic serve` binds, so the listener's options are the server's.
async fn serve(source: Arc<dyn MarketData>, config: Config) -> LoopbackServer {
    let state = AppState::new(
        Scanner::new(source),
        None,
        config,
        tokio::runtime::Handle::current(),
    );
    let listener = technic_server::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
    LoopbackServer::start_on(listener, |listener, shutdown| {
        technic_server::serve(listener, state, shutdown)
    })
}

/// Everything the server sends on `stream` until it closes the connection, or `None` if it is
/// still open after `wait`.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buffer = [0_u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

fn json_body(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {response}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declared_body_over_the_limit_is_refused_at_once_and_the_connection_closed() {
    let server = serve(shared_demo(), Config::default()).await;
    let mut stream = TcpStream::connect(server.address()).await.expect("connect");
    // 10 GB declared, none of it sent: the answer must not wait for the body.
    stream
        .write_all(
            b"POST /scan/start HTTP/1.1\r\nHost: technic\r\nContent-Type: application/json\r\n\
              Content-Length: 10000000000\r\n\r\n",
        )
        .await
        .expect("write");
    let response = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("answered and closed at once, without reading the declared body");
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    let body = json_body(&response);
    assert_eq!(body["error"]["code"], "payload_too_large", "{response}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("MAX_REQUEST_BYTES = 1048576")),
        "{response}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chunked_body_over_the_limit_gets_the_json_413_too() {
    let config = Config {
        max_request_bytes: 4096,
        ..Config::default()
    };
    let server = serve(shared_demo(), config).await;
    let symbols: Vec<String> = (0..1000).map(|i| format!("S{i}")).collect();
    let body = serde_json::to_vec(&json!({ "symbols": symbols })).expect("json");
    assert!(body.len() > 4096);
    let stream = futures_util::stream::iter(
        body.chunks(1000)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let response = reqwest::Client::new()
        .post(server.url("/scan/start"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_slow_with_its_request_head_is_cut_off_after_the_header_timeout() {
    let config = Config {
        header_read_timeout: Duration::from_secs(1),
        ..Config::default()
    };
    let server = serve(shared_demo(), config).await;
    // Half a request head, then nothing: held for ever before.
    let mut slow = TcpStream::connect(server.address()).await.expect("connect");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: tech")
        .await
        .expect("write");
    // A connection that sends nothing at all.
    let mut silent = TcpStream::connect(server.address()).await.expect("connect");
    let started = Instant::now();
    assert!(
        read_until_closed(&mut slow, Duration::from_secs(10))
            .await
            .is_some(),
        "a partial request head still held after 10 s"
    );
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(10))
            .await
            .is_some(),
        "a silent connection still held after 10 s"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "cut off early: {took:?}"
    );

    // A client that sends its request in time is served as before.
    let mut prompt = TcpStream::connect(server.address()).await.expect("connect");
    prompt
        .write_all(b"GET /health HTTP/1.1\r\nHost: technic\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let response = read_until_closed(&mut prompt, Duration::from_secs(5))
        .await
        .expect("answered");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn symbols_past_the_limit_are_refused_naming_the_field_and_the_limit() {
    let config = Config {
        max_symbols_per_request: 100,
        ..Config::default()
    };
    let server = serve(shared_demo(), config).await;
    let symbols: Vec<String> = (0..101).map(|i| format!("S{i}")).collect();
    for path in ["/scan/start", "/scan/stream", "/scan"] {
        let (status, body) = server.post(path, &json!({ "symbols": symbols })).await;
        assert_eq!(status, 422, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("symbols:")
                && message.contains("at most 100")
                && message.contains("MAX_SYMBOLS_PER_REQUEST")
                && message.contains("got 101"),
            "{path}: {message}"
        );
    }
    let (status, body) = server
        .post("/scan/start", &json!({ "symbols": &symbols[..100] }))
        .await;
    assert_eq!(status, 202, "at the limit: {body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_request_is_checked_in_linear_time_off_the_runtime() {
    // 150,000 distinct symbols (1.4 MB) where an operator allows them: the duplicate check was
    // quadratic, on the runtime (100,000 took 20 s, and /health waited). The bound is generous.
    let config = Config {
        max_symbols_per_request: 200_000,
        max_request_bytes: 4 << 20,
        ..Config::default()
    };
    let server = Arc::new(serve(shared_demo(), config).await);
    let symbols: Vec<String> = (0..150_000).map(|i| format!("SYM{i}")).collect();
    let body = json!({ "symbols": symbols, "max_symbols": 1 });
    let started = Instant::now();
    let posting = {
        let server = Arc::clone(&server);
        tokio::spawn(async move { server.post("/scan/start", &body).await })
    };
    let mut slowest_health = Duration::ZERO;
    while !posting.is_finished() {
        let asked = Instant::now();
        let (status, _) = server.get("/health").await;
        assert_eq!(status, 200);
        slowest_health = slowest_health.max(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, answer) = posting.await.expect("post");
    let took = started.elapsed();
    assert_eq!(status, 202, "{answer}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        slowest_health < Duration::from_secs(2),
        "/health waited {slowest_health:?} behind the request"
    );
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finished_scans_past_the_byte_bound_are_dropped_oldest_first_as_metrics_show() {
    let request = json!({ "max_symbols": 10 });
    // One scan's size, on a server of its own, to set a bound that holds two and not three.
    let sizing = serve(shared_demo(), Config::default()).await;
    let (status, _) = sizing.post("/scan", &request).await;
    assert_eq!(status, 200);
    assert_eq!(sizing.metric("technic_retained_scans").await, 1.0);
    let one = sizing.metric("technic_retained_scan_bytes").await;
    assert!(one > 5_000.0, "ten results and their log: {one} bytes?");
    sizing.stop().await;

    let bound = (one * 2.5) as u64;
    let config = Config {
        max_retained_bytes: bound,
        ..Config::default()
    };
    let server = serve(shared_demo(), config).await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (status, report) = server.post("/scan", &request).await;
        assert_eq!(status, 200, "{report}");
        ids.push(report["scan_id"].as_str().expect("id").to_owned());
    }
    assert_eq!(server.metric("technic_retained_scans").await, 2.0);
    let bytes = server.metric("technic_retained_scan_bytes").await;
    assert!(bytes <= bound as f64, "{bytes} retained, bound {bound}");
    for dropped in &ids[..2] {
        let (status, _) = server.get(&format!("/scan/results/{dropped}")).await;
        assert_eq!(status, 404, "{dropped} dropped, the oldest first");
    }
    for kept in &ids[2..] {
        let (status, _) = server.get(&format!("/scan/results/{kept}")).await;
        assert_eq!(status, 200, "{kept} kept");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_path_that_is_not_utf8_answers_the_json_error() {
    let server = serve(shared_demo(), Config::default()).await;
    for path in [
        "/scan/progress/%FF",
        "/scan/results/%C3%28",
        "/scan/stats/%FF",
        "/scan/stream/%FF",
        "/events/results/%FF",
        "/ws/results/%FF",
    ] {
        let response = reqwest::get(server.url(path)).await.expect("get");
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let body: Value = response.json().await.expect("a JSON error body");
        assert_eq!(body["error"]["code"], "bad_path", "{path}: {body}");
    }
    let response = reqwest::Client::new()
        .post(server.url("/scan/stop/%FF"))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status().as_u16(), 400);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durations_past_a_year_are_refused_by_name() {
    let server = serve(shared_demo(), Config::default()).await;
    for seconds in [1e308, 1e20] {
        let (status, body) = server
            .post(
                "/scan/start",
                &json!({ "termination_criteria": { "timeout_seconds": seconds } }),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("termination_criteria.timeout_seconds:")),
            "{body}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_and_reports_name_the_data_directory_but_not_where_it_is() {
    let data = tempfile::tempdir().expect("data");
    let dir = data.path().join("prices");
    std::fs::create_dir_all(dir.join("bars")).expect("bars");
    for symbol in ["AAPL", "MSFT", "XOM"] {
        std::fs::copy(
            sp500().join(format!("bars/{symbol}.csv")),
            dir.join(format!("bars/{symbol}.csv")),
        )
        .expect("copy");
    }
    let source = technic_data::files::FileSource::open(&dir).expect("open");
    assert!(
        source.identity().contains(&dir.display().to_string()),
        "the operator's identity of the source keeps the path (cache keys need it)"
    );
    let server = serve(Arc::new(source), Config::default()).await;
    let secret = data.path().display().to_string();
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(
        health["data_source"]["description"], "data directory prices",
        "{health}"
    );
    let (status, report) = server.post("/scan", &json!({})).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["data_source"]["description"],
        "data directory prices"
    );
    let id = report["scan_id"].as_str().expect("id");
    for path in [format!("/scan/results/{id}"), String::from("/health")] {
        let text = reqwest::get(server.url(&path))
            .await
            .expect("get")
            .text()
            .await
            .expect("text");
        assert!(!text.contains(&secret), "{path} names {secret}: {text}");
    }
    server.stop().await;
}
