//! REST endpoints.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use technic_engine::{Learned, Payload, ScanEntry, ScanRequest, ScanStatus, ValidScan};

use crate::AppState;
use crate::error::{ApiError, ApiJson};
use crate::streams;

/// How old the last completed scan's alpha distribution may be and still score streamed results.
const ALPHA_REFERENCE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scan", post(legacy_scan))
        .route("/scan/start", post(start))
        .route("/scan/stream", post(start_streaming))
        .route("/scan/progress/{id}", get(progress))
        .route("/scan/results/{id}", get(results))
        .route("/scan/stream/{id}", get(stream_or_results))
        .route("/scan/stats/{id}", get(stats))
        .route("/scan/stop/{id}", post(stop))
        .route("/events/results/{id}", get(streams::sse_results))
        .route("/scan/ws/{id}", get(streams::ws_progress))
        .route("/ws/results/{id}", get(streams::ws_results))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
}

/// Applies the server's defaults to what the request left open, then validates it.
fn prepare(
    state: &AppState,
    mut request: ScanRequest,
    force_streaming: bool,
) -> Result<ValidScan, ApiError> {
    let config = state.config();
    request.enable_prioritization = request
        .enable_prioritization
        .or(Some(config.enable_prioritization));
    if force_streaming {
        request.enable_streaming = Some(true);
    }
    if request.enable_streaming == Some(true) && !config.enable_streaming {
        return Err(ApiError::Unavailable(
            "streaming is turned off on this server (ENABLE_STREAMING=false)".into(),
        ));
    }
    if request.termination_criteria.is_none() {
        request
            .termination_criteria
            .clone_from(&config.early_termination_default);
    }
    Ok(request.validate()?)
}

async fn learned(state: &AppState) -> Learned {
    match state.store() {
        Some(store) => store
            .load(ALPHA_REFERENCE_MAX_AGE, SystemTime::now())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "scanning without what earlier scans learned");
                Learned::default()
            }),
        None => Learned::default(),
    }
}

async fn launch(
    state: &AppState,
    request: ScanRequest,
    force_streaming: bool,
) -> Result<Arc<ScanEntry>, ApiError> {
    let valid = prepare(state, request, force_streaming)?;
    let learned = learned(state).await;
    let entry = state.registry().start(valid, learned);
    tracing::info!(scan_id = %entry.scan_id, "scan started");
    Ok(entry)
}

fn started(state: &AppState, entry: &ScanEntry) -> Response {
    let id = &entry.scan_id;
    let streaming = entry.request.streaming && state.config().enable_streaming;
    let body = json!({
        "scan_id": id,
        "status": "running",
        "progress_url": format!("/scan/progress/{id}"),
        "results_url": format!("/scan/results/{id}"),
        "stats_url": format!("/scan/stats/{id}"),
        "websocket_url": format!("/ws/results/{id}"),
        "sse_url": format!("/events/results/{id}"),
        "features": {
            "prioritization": entry.request.prioritize,
            "streaming": streaming,
            "early_termination": !entry.request.termination.is_empty(),
        },
    });
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

async fn start(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    let entry = launch(&state, request, false).await?;
    Ok(started(&state, &entry))
}

async fn start_streaming(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    let entry = launch(&state, request, true).await?;
    Ok(started(&state, &entry))
}

/// The legacy batch scan: waits for the end and returns everything at once.
async fn legacy_scan(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ScanRequest>,
) -> Result<Json<Value>, ApiError> {
    let entry = launch(&state, request, false).await?;
    let waiting = state.clone();
    let waited = Arc::clone(&entry);
    let outcome = tokio::task::spawn_blocking(move || waiting.registry().wait(&waited))
        .await
        .map_err(|e| ApiError::Internal(format!("waiting for scan {}: {e}", entry.scan_id)))?
        .map_err(ApiError::Internal)?;
    let report = &outcome.report;
    Ok(Json(json!({
        "scan_id": report.scan_id,
        "status": report.status,
        "stop_reason": report.stop_reason,
        "results": report.results,
        "diagnostics": report.diagnostics,
        "metrics": report.metrics,
        "data_source": report.data_source,
    })))
}

fn status_of(entry: &ScanEntry) -> Value {
    match entry.outcome() {
        None => json!("running"),
        Some(Ok(outcome)) => json!(outcome.report.status),
        Some(Err(_)) => json!(ScanStatus::Failed),
    }
}

async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.registry().get(&id)?;
    let snapshot = entry.progress();
    Ok(Json(match snapshot {
        Some(snapshot) => {
            serde_json::to_value(snapshot).map_err(|e| ApiError::Internal(e.to_string()))?
        }
        None => json!({ "scan_id": id, "status": "pending", "overall_progress": 0.0 }),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinceQuery {
    since_seq: Option<u64>,
}

fn results_body(entry: &ScanEntry, since: u64) -> Result<Value, ApiError> {
    let messages = entry.log.after(since);
    let last_seq = messages.last().map_or(since, |m| m.metadata.seq);
    let results: Vec<_> = messages
        .iter()
        .filter(|m| matches!(m.payload, Payload::Result(_)))
        .map(|m| (**m).clone())
        .collect();
    let (report, error) = match entry.outcome() {
        Some(Ok(outcome)) => (Some(outcome.report.clone()), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    Ok(json!({
        "scan_id": entry.scan_id,
        "status": status_of(entry),
        "last_seq": last_seq,
        "results": results,
        "complete": entry.log.is_closed(),
        "final": report,
        "error": error,
    }))
}

async fn results(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<SinceQuery>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.registry().get(&id)?;
    Ok(Json(results_body(&entry, query.since_seq.unwrap_or(0))?))
}

/// SSE of progress and results for clients that ask for `text/event-stream`; the JSON of the
/// current results for the others.
async fn stream_or_results(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(query): Query<SinceQuery>,
) -> Result<Response, ApiError> {
    let wants_events = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if wants_events {
        return streams::sse(&state, &id, &headers, query.since_seq)
            .map(IntoResponse::into_response);
    }
    let entry = state.registry().get(&id)?;
    Ok(Json(results_body(&entry, query.since_seq.unwrap_or(0))?).into_response())
}

async fn stats(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.registry().get(&id)?;
    let messages = entry.log.after(0);
    let results: Vec<_> = messages
        .iter()
        .filter_map(|m| match &m.payload {
            Payload::Result(r) => Some(r),
            _ => None,
        })
        .collect();
    let progress = entry.progress();
    let body = match entry.outcome() {
        Some(Ok(outcome)) => {
            let m = &outcome.report.metrics;
            json!({
                "scan_id": id,
                "status": outcome.report.status,
                "time_to_first_result": m.time_to_first_result,
                "symbols_per_second": m.symbols_per_second,
                "symbols_total": m.symbols_total,
                "symbols_scanned": m.symbols_scanned,
                "results": m.results,
                "signals": m.high_quality_signals,
                "priority_accuracy": {
                    "high_tier_signal_rate": m.high_tier_signal_rate,
                    "universe_signal_rate": m.universe_signal_rate,
                    "first_signal_position": m.first_signal_position,
                    "symbols_to_5_signals": m.symbols_to_5_signals,
                },
                "early_termination": { "terminated": m.early_terminated, "reason": outcome.report.stop_reason },
                "cache": { "hits": null, "misses": null, "note": "no cache in this build" },
                "seconds_total": m.seconds_total,
            })
        }
        _ => json!({
            "scan_id": id,
            "status": status_of(&entry),
            "time_to_first_result": null,
            "symbols_per_second": progress.as_ref().map_or(0.0, |p| p.stage_throughput),
            "results": results.len(),
            "signals": results.iter().filter(|r| r.high_quality).count(),
            "overall_progress": progress.as_ref().map_or(0.0, |p| p.overall_progress),
            "early_termination": { "terminated": false, "reason": null },
            "cache": { "hits": null, "misses": null, "note": "no cache in this build" },
        }),
    };
    Ok(Json(body))
}

async fn stop(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = state.registry().stop(&id, "POST /scan/stop")?;
    tracing::info!(scan_id = %entry.scan_id, "stop requested");
    Ok(Json(
        json!({ "scan_id": id, "status": "stopping", "message": "results so far are kept and ranked" }),
    ))
}

async fn health(State(state): State<AppState>) -> Json<Value> {
    state
        .metrics()
        .active_scans
        .set(i64::try_from(state.registry().running()).unwrap_or(i64::MAX));
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "active_scans": state.registry().running(),
        "active_streams": state.metrics().active_streams.get(),
        "data_source": state.registry().source_info(),
    }))
}

/// Ready when the learning store (if any) answers.
async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if let Some(store) = state.store() {
        store
            .load(Duration::ZERO, SystemTime::now())
            .await
            .map_err(|e| ApiError::Unavailable(format!("learning store: {e}")))?;
    }
    Ok(Json(json!({ "status": "ready" })))
}

async fn metrics(State(state): State<AppState>) -> Response {
    state
        .metrics()
        .active_scans
        .set(i64::try_from(state.registry().running()).unwrap_or(i64::MAX));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
        .into_response()
}
