//! Screens over HTTP on a real loopback server: `where` and `rank_by` in a scan request, and a
//! 422 that names the field and the column of a mistake.

use std::sync::Arc;

use serde_json::{Value, json};
use technic_data::files::FileSource;
use technic_engine::Scanner;
use technic_server::{AppState, Config};
use technic_testkit::loopback::LoopbackServer;
use technic_testkit::sp500;

async fn serve_sp500() -> LoopbackServer {
    serve_sp500_with_store(None).await
}

async fn serve_sp500_with_store(store: Option<technic_learning::LearningStore>) -> LoopbackServer {
    let source = Arc::new(FileSource::open(sp500()).expect("data dir opens"));
    let state = AppState::new(
        Scanner::new(source),
        store,
        Config::default(),
        tokio::runtime::Handle::current(),
    );
    LoopbackServer::start(|listener, shutdown| technic_server::serve(listener, state, shutdown))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_expression_is_a_422_naming_the_field_and_the_column() {
    let server = serve_sp500().await;
    let cases = [
        (
            json!({ "where": "close > sma_200 and rsi14 < 30" }),
            "where",
            21,
            "where: column 21: unknown name `rsi14`; did you mean `rsi_14`?",
        ),
        (
            json!({ "where": "close > sma_200", "rank_by": "return_126 +" }),
            "rank_by",
            13,
            "rank_by: column 13: expected a value after the operator, found the end of the expression",
        ),
        (
            json!({ "where": "sector == 'Energi'" }),
            "where",
            11,
            "where: column 11: unknown sector 'Energi'; did you mean 'Energy'?",
        ),
        (
            json!({ "where": "rsi_0 < 5" }),
            "where",
            1,
            "where: column 1: indicator 'rsi_0': '0' is not a period (a whole number from 1 to 100000)",
        ),
    ];
    for (request, field, column, message) in cases {
        for path in ["/scan/start", "/scan"] {
            let (status, body) = server.post(path, request.clone()).await;
            assert_eq!(status, 422, "{path} {request}: {body}");
            let error = &body["error"];
            assert_eq!(error["code"], "invalid_request");
            assert_eq!(error["field"], field, "{body}");
            assert_eq!(error["column"], column, "{body}");
            assert_eq!(error["message"], message, "{body}");
        }
    }
    // Other refusals name their field too, without a column.
    let (status, body) = server.post("/scan/start", json!({ "min_price": -1 })).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "min_price");
    assert!(body["error"].get("column").is_none(), "{body}");
    // A 10,000-character expression is refused with the limit named.
    let long = "close > 1 and ".repeat(714) + "close > 1";
    let (status, body) = server.post("/scan/start", json!({ "where": long })).await;
    assert_eq!(status, 422);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("the limit is 2000")),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_screened_scan_returns_only_matches_in_rank_by_order() {
    let server = serve_sp500().await;
    let (status, report) = server
        .post(
            "/scan",
            json!({
                "where": "close > sma_50 and rsi_14 between 40 and 60 and sector in ('Information Technology', 'Health Care')",
                "rank_by": "rsi_14",
                "enable_prioritization": false,
            }),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let results = report["results"].as_array().expect("results");
    assert!(results.len() >= 5, "{}", results.len());
    let mut previous = f64::INFINITY;
    for (i, r) in results.iter().enumerate() {
        let indicators = &r["indicators"];
        let rsi = indicators["rsi_14"].as_f64().expect("rsi_14");
        assert!(r["close"].as_f64() > indicators["sma_50"].as_f64(), "{r}");
        assert!((40.0..=60.0).contains(&rsi));
        assert!(
            ["Information Technology", "Health Care"]
                .contains(&r["sector"].as_str().expect("sector"))
        );
        assert!(rsi <= previous, "ranked by rsi_14, highest first");
        previous = rsi;
        assert_eq!(r["rank"], i + 1);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_screens_over_rest() {
    use reqwest::Method;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = technic_learning::LearningStore::open_in(dir.path())
        .await
        .expect("store");
    let server = serve_sp500_with_store(Some(store.clone())).await;
    let (status, created) = server
        .send(
            Method::POST,
            "/screens",
            Some(json!({ "name": "golden-cross", "where": "crosses_above(sma_50, sma_200)", "rank_by": "return_20" })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["where"], "crosses_above(sma_50, sma_200)");
    assert!(created.get("error").is_none());
    let (status, body) = server
        .send(
            Method::POST,
            "/screens",
            Some(json!({ "name": "golden-cross", "where": "close > 1" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = server
        .send(
            Method::POST,
            "/screens",
            Some(json!({ "name": "typo", "where": "close > smaa_50" })),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        (
            body["error"]["field"].clone(),
            body["error"]["column"].clone()
        ),
        (json!("where"), json!(9))
    );
    let (status, body) = server
        .send(
            Method::POST,
            "/screens",
            Some(json!({ "name": "../etc", "where": "close > 1" })),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("name")),
        "{body}"
    );

    let (status, replaced) = server
        .send(
            Method::PUT,
            "/screens/golden-cross",
            Some(json!({ "where": "crosses_above(sma_20, sma_50)" })),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["created_at"], created["created_at"]);
    let (status, _) = server
        .send(
            Method::PUT,
            "/screens/volume",
            Some(json!({ "where": "rel_volume > 2" })),
        )
        .await;
    assert_eq!(status, 201);
    // One saved by an earlier version that no longer compiles is listed with its error.
    store
        .save_screen(
            "legacy",
            Some("rsi(14) < 30"),
            None,
            None,
            std::time::SystemTime::now(),
        )
        .await
        .expect("save");
    let (status, list) = server.send(Method::GET, "/screens", None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["golden-cross", "legacy", "volume"]);
    assert!(
        list[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown function `rsi`")),
        "{list}"
    );
    let (status, one) = server
        .send(Method::GET, "/screens/golden-cross", None)
        .await;
    assert_eq!(
        (status, one["where"].clone()),
        (200, json!("crosses_above(sma_20, sma_50)"))
    );

    let (status, _) = server.send(Method::DELETE, "/screens/legacy", None).await;
    assert_eq!(status, 204);
    let (status, body) = server.send(Method::DELETE, "/screens/legacy", None).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = server.send(Method::GET, "/screens/legacy", None).await;
    assert_eq!(status, 404);
    server.stop().await;

    // Without a learning store, the endpoints say so.
    let server = serve_sp500().await;
    let (status, body) = server.send(Method::GET, "/screens", None).await;
    assert_eq!(status, 503, "{body}");
    server.stop().await;
}

fn symbols_of(report: &Value) -> Vec<String> {
    let mut symbols: Vec<String> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["symbol"].as_str().expect("symbol").to_owned())
        .collect();
    symbols.sort();
    symbols
}

/// A scan request naming a saved `screen`, alone and narrowed by `where`; screens chained by
/// `screen('name')`; a cycle refused on saving; a screen whose base is removed reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_may_name_a_saved_screen_and_screens_chain() {
    use reqwest::Method;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = technic_learning::LearningStore::open_in(dir.path())
        .await
        .expect("store");
    let server = serve_sp500_with_store(Some(store.clone())).await;
    let save = |name: &str, body: Value| {
        let path = format!("/screens/{name}");
        let server = &server;
        async move { server.send(Method::PUT, &path, Some(body)).await }
    };
    let (status, body) = save(
        "uptrend",
        json!({ "where": "close > sma_200 and sma_50 > sma_200", "rank_by": "return_126" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = save(
        "calm-uptrend",
        json!({ "where": "screen('uptrend') and rsi_14 < 60" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let scan = |request: Value| {
        let server = &server;
        async move {
            let (status, report) = server.post("/scan", request).await;
            assert_eq!(status, 200, "{report}");
            report
        }
    };
    let by_name = scan(json!({ "screen": "uptrend", "enable_prioritization": false })).await;
    let by_text = scan(json!({
        "where": "close > sma_200 and sma_50 > sma_200",
        "rank_by": "return_126",
        "enable_prioritization": false,
    }))
    .await;
    assert!(
        symbols_of(&by_name).len() >= 20,
        "{}",
        symbols_of(&by_name).len()
    );
    // The same results in the same order: the saved screen's filter and ranking.
    let order = |report: &Value| -> Vec<Value> {
        report["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["symbol"].clone())
            .collect()
    };
    assert_eq!(order(&by_name), order(&by_text));

    // `screen` with `where`: both hold.
    let narrowed = scan(json!({ "screen": "uptrend", "where": "rsi_14 < 60" })).await;
    let by_hand =
        scan(json!({ "where": "close > sma_200 and sma_50 > sma_200 and rsi_14 < 60" })).await;
    assert_eq!(symbols_of(&narrowed), symbols_of(&by_hand));
    assert!(symbols_of(&narrowed).len() < symbols_of(&by_name).len());
    // A chained saved screen, by name and inside `where`.
    let chained = scan(json!({ "screen": "calm-uptrend" })).await;
    assert_eq!(symbols_of(&chained), symbols_of(&by_hand));
    let inline = scan(json!({ "where": "screen('uptrend') and rsi_14 < 60" })).await;
    assert_eq!(symbols_of(&inline), symbols_of(&by_hand));

    // An unknown name is a 422 naming the field, with the nearest saved screen.
    let (status, body) = server.post("/scan", json!({ "screen": "uptrnd" })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "screen");
    assert_eq!(
        body["error"]["message"],
        "screen: no saved screen named 'uptrnd'; did you mean 'uptrend'?"
    );
    let (status, body) = server
        .post(
            "/scan/start",
            json!({ "where": "rsi_2 < 10 and screen('calm_uptrend')" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "where");
    assert_eq!(body["error"]["column"], 16, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("did you mean 'calm-uptrend'?")),
        "{body}"
    );

    // A screen that would refer to itself through another is refused, naming the cycle.
    let (status, body) = save("uptrend", json!({ "where": "screen('calm-uptrend')" })).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m
            .contains("saved screens refer to each other in a cycle: calm-uptrend → uptrend → calm-uptrend")),
        "{body}"
    );

    // Removing the base leaves the chained screen listed, with why it no longer compiles.
    let (status, _) = server.send(Method::DELETE, "/screens/uptrend", None).await;
    assert_eq!(status, 204);
    let (status, one) = server
        .send(Method::GET, "/screens/calm-uptrend", None)
        .await;
    assert_eq!(status, 200, "{one}");
    assert!(
        one["error"]
            .as_str()
            .is_some_and(|e| e.contains("no saved screen named 'uptrend'")),
        "{one}"
    );
    let (status, body) = server
        .post("/scan", json!({ "screen": "calm-uptrend" }))
        .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (422, json!("screen")),
        "{body}"
    );
    server.stop().await;
}
