//! The OpenAPI document, derived from the handlers' annotations and the types they send and take,
//! so it cannot drift from what the server does. Served at `/openapi.json`.
//!
//! Every REST body is a type (`bodies.rs`, and the engine's `ScanRequest`, `ScanMessage`,
//! `ScanReport`), and `tests/openapi.rs` holds the document as a snapshot, so a change to the API
//! is a reviewed diff. A new endpoint's handler goes in `paths(...)` below.

use axum::Json;
use utoipa::OpenApi;

use crate::{backtests, bodies, routes, screens, streams, symbols};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "technic",
        description = "Stock-market technical scans: start one, follow its results live (WebSocket, SSE or polling), stop it, read its statistics; backtest the signals point in time."
    ),
    paths(
        routes::legacy_scan,
        routes::start,
        routes::start_streaming,
        routes::progress,
        routes::results,
        routes::stream_or_results,
        routes::stats,
        routes::stop,
        streams::sse_results,
        streams::ws_progress,
        streams::ws_results,
        backtests::start,
        backtests::status,
        backtests::report,
        screens::list,
        screens::create,
        screens::get_one,
        screens::put,
        screens::delete,
        screens::validate,
        symbols::bars,
        symbols::indicators,
        symbols::history,
        routes::health,
        routes::meta,
        routes::ready,
        routes::metrics,
    ),
    components(schemas(bodies::ErrorBody, technic_engine::Payload))
)]
struct ApiDoc;

/// The document, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "This document")))]
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}
