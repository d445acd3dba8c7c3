//! The OpenAPI document: derived from the handlers, served as-is, covering every endpoint, and
//! snapshot-tested so any change to the API's shapes shows up in review.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use technic_data::demo::DemoMarket;
use technic_engine::Scanner;
use technic_server::{AppState, Config};
use tower::ServiceExt;

/// The document; reviewed whenever the snapshot changes (`cargo insta review`, or accept the
/// `.snap.new` file).
#[test]
fn document_matches_the_snapshot() {
    insta::assert_json_snapshot!("openapi", technic_server::openapi());
}

#[test]
fn every_endpoint_of_the_brief_is_documented() {
    let document = serde_json::to_value(technic_server::openapi()).expect("encode");
    let paths = document["paths"].as_object().expect("paths");
    for (method, path) in [
        ("post", "/scan"),
        ("post", "/scan/start"),
        ("post", "/scan/stream"),
        ("get", "/scan/progress/{id}"),
        ("get", "/scan/results/{id}"),
        ("get", "/scan/stream/{id}"),
        ("get", "/events/results/{id}"),
        ("get", "/scan/ws/{id}"),
        ("get", "/ws/results/{id}"),
        ("get", "/scan/stats/{id}"),
        ("post", "/scan/stop/{id}"),
        ("get", "/health"),
        ("get", "/meta"),
        ("get", "/ready"),
        ("get", "/metrics"),
        ("get", "/symbols/{symbol}/bars"),
        ("get", "/symbols/{symbol}/indicators"),
        ("get", "/symbols/{symbol}/history"),
        ("post", "/screens/validate"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    // The request schema must reject what the server rejects: unknown fields.
    let request = &document["components"]["schemas"]["ScanRequest"];
    assert_eq!(
        request["additionalProperties"],
        serde_json::json!(false),
        "ScanRequest schema: {request}"
    );
}

#[tokio::test]
async fn the_server_serves_the_same_document() {
    let state = AppState::new(
        Scanner::new(Arc::new(DemoMarket::new())),
        None,
        Config::default(),
        tokio::runtime::Handle::current(),
    );
    let response = technic_server::app(state)
        .oneshot(
            Request::get("/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let served: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let expected = serde_json::to_value(technic_server::openapi()).expect("encode");
    assert_eq!(served, expected);
}

/// `GET /meta`: the constants the page would otherwise copy, as the engine and config have them.
#[tokio::test]
async fn meta_names_the_stages_sectors_keep_alive_and_source() {
    let config = Config {
        keep_alive: std::time::Duration::from_secs(7),
        ..Config::default()
    };
    let state = AppState::new(
        Scanner::new(Arc::new(DemoMarket::new())),
        None,
        config,
        tokio::runtime::Handle::current(),
    );
    let response = technic_server::app(state)
        .oneshot(Request::get("/meta").body(Body::empty()).expect("request"))
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let meta: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let stages = meta["stages"].as_array().expect("stages");
    let names: Vec<&str> = stages.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "universe_loading",
            "data_fetching",
            "symbol_scanning",
            "finalization"
        ]
    );
    let total: f64 = stages.iter().filter_map(|s| s["weight"].as_f64()).sum();
    assert!((total - 1.0).abs() < 1e-9, "weights sum to 1: {total}");
    assert_eq!(
        meta["sectors"],
        serde_json::json!(technic_engine::GICS_SECTORS)
    );
    assert_eq!(meta["keep_alive_seconds"], 7.0);
    assert_eq!(meta["data_source"]["synthetic"], true);
}
