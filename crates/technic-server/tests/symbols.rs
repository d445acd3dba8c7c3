//! `GET /symbols/{symbol}/bars`, `…/indicators` and `…/history` on the real S&P 500 data: the
//! window a scan read comes back bar for bar, the series end on the scan result's values and equal
//! technic-core's, and every bad path or query is refused with a message naming it.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use technic_core::indicators::IndicatorSet;
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};
use technic_engine::Scanner;
use technic_server::{AppState, Config};
use technic_testkit::sp500;
use tower::ServiceExt;

fn state(store: Option<technic_learning::LearningStore>) -> AppState {
    let source = FileSource::open(sp500()).expect("the S&P 500 data opens");
    AppState::new(
        Scanner::new(Arc::new(source)),
        store,
        Config::default(),
        tokio::runtime::Handle::current(),
    )
}

async fn call(state: &AppState, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = Request::builder().method(method).uri(path);
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .expect("request");
    let response = technic_server::app(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(state: &AppState, path: &str) -> (u16, Value) {
    call(state, "GET", path, None).await
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_detail_shows_the_bars_and_series_a_scan_rated() {
    let state = state(None);
    let (status, report) = call(
        &state,
        "POST",
        "/scan",
        Some(json!({"symbols": ["AAPL", "MSFT", "XOM"], "async_mode": false})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let results = report["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "{report}");
    let source = FileSource::open(sp500()).expect("open");
    for result in results {
        let symbol = result["symbol"].as_str().expect("symbol");
        let date = result["date"].as_str().expect("date");
        let lookback = result["bars"].as_u64().expect("bars");
        let query = format!("lookback_days={lookback}&as_of={date}");

        let (status, bars) = get(&state, &format!("/symbols/{symbol}/bars?{query}")).await;
        assert_eq!(status, 200, "{bars}");
        let rows = bars["bars"].as_array().expect("bars");
        assert_eq!(rows.len() as u64, lookback, "{symbol}: the scan's window");
        let last = rows.last().expect("a bar");
        assert_eq!(last["date"], result["date"], "{symbol}");
        assert_eq!(
            last["close"], result["close"],
            "{symbol}: the last bar's close is the result's"
        );
        assert_eq!(bars["source"]["synthetic"], false);
        assert_eq!(bars["sector"], result["sector"]);

        let (status, series) = get(&state, &format!("/symbols/{symbol}/indicators?{query}")).await;
        assert_eq!(status, 200, "{series}");
        let dates: Vec<&Value> = rows.iter().map(|r| &r["date"]).collect();
        assert_eq!(
            series["dates"]
                .as_array()
                .expect("dates")
                .iter()
                .collect::<Vec<_>>(),
            dates,
            "{symbol}: the series are aligned with the bars"
        );
        // Each series ends on the value the scan reported for the same column.
        for column in [
            "sma_50",
            "sma_200",
            "bb_upper",
            "bb_middle",
            "bb_lower",
            "rsi_14",
            "macd",
            "macd_signal",
            "macd_hist",
        ] {
            let values = series["series"][column].as_array().expect(column);
            assert_eq!(values.len(), rows.len(), "{symbol} {column}");
            assert_eq!(
                values.last().expect("a value"),
                &result["indicators"][column],
                "{symbol} {column}: the series ends on the result's value"
            );
        }
        // And every value is technic-core's over the same bars, read here independently.
        let window = BarWindow {
            last: Some(lookback as usize),
            from: None,
            to: Some(date.parse().expect("date")),
        };
        let core = IndicatorSet::parse_list(technic_server_default())
            .expect("set")
            .compute(&source.bars(symbol, &window).expect("bars"))
            .expect("compute");
        for (name, expected) in core.columns.iter().zip(&core.values) {
            let got: Vec<Option<f64>> = series["series"][name]
                .as_array()
                .expect(name)
                .iter()
                .map(Value::as_f64)
                .collect();
            let expected: Vec<Option<f64>> = expected
                .iter()
                .map(|v| v.is_finite().then_some(*v))
                .collect();
            assert_eq!(got, expected, "{symbol} {name}");
        }
    }
}

fn technic_server_default() -> &'static str {
    "sma_50,sma_200,bb_20_2,rsi_14,macd_12_26_9"
}

#[tokio::test]
async fn bars_default_to_a_scans_lookback_and_symbols_to_any_case() {
    let state = state(None);
    let (status, body) = get(&state, "/symbols/aapl/bars").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["symbol"], "AAPL");
    assert_eq!(body["bars"].as_array().expect("bars").len(), 400);
    assert_eq!(body["lookback_days"], 400);
    let (status, body) = get(
        &state,
        "/symbols/AAPL/bars?lookback_days=5&as_of=2021-01-08",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let dates: Vec<&str> = body["bars"]
        .as_array()
        .expect("bars")
        .iter()
        .map(|b| b["date"].as_str().expect("date"))
        .collect();
    assert_eq!(
        dates,
        [
            "2021-01-04",
            "2021-01-05",
            "2021-01-06",
            "2021-01-07",
            "2021-01-08"
        ]
    );
    let (status, body) = get(
        &state,
        "/symbols/AAPL/indicators?indicators=rsi_2,obv&lookback_days=30",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&String> = body["series"].as_object().expect("series").keys().collect();
    assert_eq!(names, ["obv", "rsi_2"]);
}

#[tokio::test]
async fn bad_symbols_and_queries_are_refused_by_name() {
    let state = state(None);
    // (path, status, what the message must say)
    let cases = [
        ("/symbols/NOPE/bars", 404, "no symbol \"NOPE\""),
        ("/symbols/NOPE/indicators", 404, "no symbol \"NOPE\""),
        // A path that would climb out of the data directory: refused before any file is named.
        (
            "/symbols/..%2F..%2Fetc%2Fpasswd/bars",
            422,
            "not a ticker symbol",
        ),
        ("/symbols/..%2FETC/bars", 404, "no symbol \"../ETC\""),
        ("/symbols/%2E%2E/bars", 404, "no symbol \"..\""),
        ("/symbols/A%20B/bars", 422, "\"A B\" is not a ticker symbol"),
        ("/symbols/%00/bars", 422, "is not a ticker symbol"),
        ("/symbols/ABCDEFGHIJKLMNOP/bars", 422, "up to 12 letters"),
        ("/symbols/%FF/bars", 400, ""),
        (
            "/symbols/AAPL/bars?lookback_days=0",
            422,
            "lookback_days: must be from 1 to 10000",
        ),
        (
            "/symbols/AAPL/bars?lookback_days=10001",
            422,
            "lookback_days",
        ),
        ("/symbols/AAPL/bars?lookback_days=-1", 422, "lookback_days"),
        ("/symbols/AAPL/bars?as_of=yesterday", 422, "as_of"),
        (
            "/symbols/AAPL/bars?as_of=1990-01-01",
            404,
            "AAPL has no bars on or before 1990-01-01",
        ),
        (
            "/symbols/AAPL/bars?lookback=5",
            422,
            "unknown field `lookback`",
        ),
        (
            "/symbols/AAPL/indicators?indicators=rsi14",
            422,
            "indicators: unknown indicator 'rsi14'",
        ),
        (
            "/symbols/AAPL/indicators?indicators=sma_0",
            422,
            "indicators: indicator 'sma_0'",
        ),
        (
            "/symbols/AAPL/indicators?indicators=",
            422,
            "at least one indicator",
        ),
        (
            "/symbols/AAPL/indicators?indicators=sma_1,sma_2,sma_3,sma_4,sma_5,sma_6,sma_7,sma_8,sma_9,sma_10,sma_11,sma_12,sma_13,sma_14,sma_15,sma_16,sma_17",
            422,
            "at most 16 indicators",
        ),
        ("/symbols/AAPL/history", 503, "no learning store"),
    ];
    for (path, expected, says) in cases {
        let (status, body) = get(&state, path).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(message(&body).contains(says), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_hostile_symbol_never_reaches_a_file_outside_the_data() {
    // A data directory with one symbol, and beside its bars/ a valid bar file that `../EVIL`
    // would name if a symbol were joined into a path as it is.
    let home = tempfile::tempdir().expect("tempdir");
    let data = home.path().join("data");
    std::fs::create_dir_all(data.join("bars")).expect("mkdir");
    let csv = "date,open,high,low,close,volume\n2021-01-04,1,2,1,2,100\n2021-01-05,2,3,2,3,100\n";
    std::fs::write(data.join("bars/AAA.csv"), csv).expect("write");
    std::fs::write(data.join("EVIL.csv"), csv).expect("write");
    std::fs::write(home.path().join("EVIL.csv"), csv).expect("write");
    let state = AppState::new(
        Scanner::new(Arc::new(FileSource::open(&data).expect("open"))),
        None,
        Config::default(),
        tokio::runtime::Handle::current(),
    );
    let (status, body) = get(&state, "/symbols/AAA/bars").await;
    assert_eq!(status, 200, "{body}");
    for path in [
        "/symbols/..%2FEVIL/bars",
        "/symbols/..%2F..%2FEVIL/bars",
        "/symbols/%2FEVIL/indicators",
        "/symbols/EVIL/bars",
    ] {
        let (status, body) = get(&state, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(message(&body).starts_with("no symbol"), "{path}: {body}");
        assert!(
            !message(&body).contains(&home.path().display().to_string()),
            "no path of the machine in {body}"
        );
    }
}

#[tokio::test]
async fn the_history_is_what_the_learning_store_recorded() {
    let home = tempfile::tempdir().expect("tempdir");
    let store = technic_learning::LearningStore::open_in(home.path())
        .await
        .expect("store");
    let state = state(Some(store.clone()));
    let (status, body) = get(&state, "/symbols/AAPL/history").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scans"], 0, "nothing recorded yet: {body}");
    assert_eq!(body["signal_rate"], Value::Null);
    assert_eq!(body["dated"], json!([]), "no dated signal yet");

    let (status, report) = call(
        &state,
        "POST",
        "/scan",
        Some(json!({"symbols": ["AAPL", "MSFT"], "async_mode": false})),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let aapl = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["symbol"] == "AAPL")
        .expect("AAPL rated")
        .clone();
    // The record is written after the scan ends, off the request; wait for it.
    let mut body = Value::Null;
    for _ in 0..200 {
        body = get(&state, "/symbols/aapl/history").await.1;
        if body["scans"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(body["symbol"], "AAPL");
    assert_eq!(body["scans"], 1, "{body}");
    let signals = u64::from(aapl["high_quality"] == true);
    assert_eq!(body["signals"], signals);
    assert_eq!(body["signal_rate"].as_f64(), Some(signals as f64));
    assert_eq!(body["last_rating"], aapl["tech_rating"]);
    assert_eq!(body["last_scan_date"], aapl["date"]);
    assert_eq!(
        body["dated"],
        json!([{
            "as_of": aapl["date"],
            "signal": aapl["signal"],
            "tech_rating": aapl["tech_rating"],
            "alpha_score": aapl["alpha_score"],
            "high_quality": aapl["high_quality"],
        }]),
        "the scan's signal, dated by its data"
    );
    let (status, body) = get(&state, "/symbols/NOPE/history").await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn expressions_are_checked_without_running_anything() {
    let state = state(None);
    let (status, body) = call(
        &state,
        "POST",
        "/screens/validate",
        Some(json!({"where": "rsi_14 < 30 and close > sma_200", "rank_by": "-rsi_14"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"valid": true}));
    let (status, body) = call(
        &state,
        "POST",
        "/screens/validate",
        Some(json!({"where": "rsi14 < 30"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "where");
    assert_eq!(body["error"]["column"], 1);
    assert!(message(&body).contains("rsi_14"), "a suggestion: {body}");
    let (status, body) = call(
        &state,
        "POST",
        "/screens/validate",
        Some(json!({"where": "close > 1", "rank_by": "close +"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["field"], "rank_by");
    assert!(body["error"]["column"].as_u64().is_some(), "{body}");
    let (status, body) = call(
        &state,
        "POST",
        "/screens/validate",
        Some(json!({"where": "close > 1", "name": "x"})),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused: {body}");
}
