//! REST endpoints.
//!
//! REST handlers start scans in the engine's registry, which also enforces `MAX_CONCURRENT_SCANS`
//! and keeps finished scans up to `MAX_RETAINED_SCANS` and `MAX_RETAINED_SCAN_BYTES` (shown in
//! `/metrics`). A request naming more than `MAX_SYMBOLS_PER_REQUEST` symbols is refused (422), and
//! one naming over 1,000 is checked on a blocking thread, never the runtime's. A legacy `POST
//! /scan` whose client gives up stops its scan. A scan that fails is logged and counted
//! (`technic_scans_total{status="failed"}`), and its clients are told what failed, not the source's
//! detail (the engine's `public_message`): where the data lives is the operator's to know. `/ready`
//! asks the learning store one query on its tables, not for its contents.
//!
//! A new endpoint is a handler here (or in a module of its own), its route in [`router`], its body
//! types in `bodies.rs`, its errors through `ApiError`, and its path in `openapi.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use technic_core::progress::{ProgressSnapshot, ProgressTracker};
use technic_engine::{
    Learned, Payload, ScanEntry, ScanMessage, ScanReport, ScanRequest, ScanStatus, ValidScan,
};

use crate::AppState;
use crate::bodies::{
    CacheStats, EarlyTermination, ErrorBody, Features, Health, Meta, PriorityAccuracy, Ready,
    ResultsPage, ScanStarted, ScanStats, StageWeight, StopAccepted,
};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::streams::ResumePoint;
use crate::{openapi, streams};

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
        .route("/backtest", post(crate::backtests::start))
        .route("/backtest/{id}", get(crate::backtests::status))
        .route("/backtest/{id}/report", get(crate::backtests::report))
        // Saved screens (screens.rs).
        .route(
            "/screens",
            get(crate::screens::list).post(crate::screens::create),
        )
        .route(
            "/screens/{name}",
            get(crate::screens::get_one)
                .put(crate::screens::put)
                .delete(crate::screens::delete),
        )
        .route(
            "/screens/validate",
            post(crate::screens::validate)
                .get(crate::screens::get_validate)
                .put(crate::screens::put_validate)
                .delete(crate::screens::delete_validate),
        )
        // One symbol's detail (symbols.rs).
        .route("/symbols/{symbol}/bars", get(crate::symbols::bars))
        .route(
            "/symbols/{symbol}/indicators",
            get(crate::symbols::indicators),
        )
        .route("/symbols/{symbol}/history", get(crate::symbols::history))
        .route("/health", get(health))
        .route("/meta", get(meta))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::document))
        .merge(crate::page::router())
        .fallback(crate::error::no_such_endpoint)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
}

/// How a start endpoint answers: at once (`/scan/start`, `/scan/stream`) or with the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    AtOnce,
    Waits,
}

/// Query parameters of the start endpoints. The seeds' clients (FastAPI handlers whose scalar
/// arguments are query parameters) send `?enable_prioritization=false`; honoured here, and anything
/// else is refused (422) rather than silently ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartQuery {
    /// The same as the body's `enable_prioritization`; the two may not disagree.
    enable_prioritization: Option<bool>,
    /// The same as the body's `enable_streaming`; the two may not disagree.
    enable_streaming: Option<bool>,
    /// The same as the body's `async_mode`.
    async_mode: Option<bool>,
}

/// A query value into the body's field, refusing a body that says otherwise.
fn merge_flag(name: &str, body: &mut Option<bool>, query: Option<bool>) -> Result<(), ApiError> {
    match (*body, query) {
        (Some(b), Some(q)) if b != q => Err(ApiError::Invalid(format!(
            "{name}: the query says {q} and the body says {b}; give it once"
        ))),
        (_, Some(q)) => {
            *body = Some(q);
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Applies the query parameters to the body, and refuses an `async_mode` the endpoint cannot honour.
fn with_query(
    mut request: ScanRequest,
    query: StartQuery,
    answer: Answer,
) -> Result<ScanRequest, ApiError> {
    merge_flag(
        "enable_prioritization",
        &mut request.enable_prioritization,
        query.enable_prioritization,
    )?;
    merge_flag(
        "enable_streaming",
        &mut request.enable_streaming,
        query.enable_streaming,
    )?;
    merge_flag("async_mode", &mut request.async_mode, query.async_mode)?;
    match (answer, request.async_mode) {
        (Answer::AtOnce, Some(false)) => Err(ApiError::Invalid(
            "async_mode: false asks to wait for the report, which is POST /scan; this endpoint answers at once".into(),
        )),
        (Answer::Waits, Some(true)) => Err(ApiError::Invalid(
            "async_mode: true asks for an answer at once, which is POST /scan/start; POST /scan waits for the report".into(),
        )),
        _ => Ok(request),
    }
}

/// Applies the server's defaults to what the request left open, then validates it.
fn prepare(
    state: &AppState,
    mut request: ScanRequest,
    force_streaming: bool,
    saved: &technic_engine::ScreenLibrary,
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
    Ok(request.validate_with(saved)?)
}

/// Refuses a request naming more symbols than `MAX_SYMBOLS_PER_REQUEST`: each costs work and
/// memory for as long as the scan is kept, and nothing else bounds how many a body may hold.
pub(crate) fn check_symbol_count(
    state: &AppState,
    symbols: Option<&[String]>,
) -> Result<(), ApiError> {
    let most = state.config().max_symbols_per_request;
    match symbols {
        Some(symbols) if symbols.len() > most => Err(ApiError::Invalid(format!(
            "symbols: at most {most} symbols per request (this server's MAX_SYMBOLS_PER_REQUEST), got {}",
            symbols.len()
        ))),
        _ => Ok(()),
    }
}

/// Requests naming more symbols than this are checked on a blocking thread, not the runtime's.
const SYMBOLS_CHECKED_OFF_THE_RUNTIME: usize = 1_000;

async fn learned(state: &AppState) -> Arc<Learned> {
    match state.learning() {
        Some(learning) => learning.for_scan(state.clock().wall()).await,
        None => Arc::default(),
    }
}

async fn launch(
    state: &AppState,
    request: ScanRequest,
    force_streaming: bool,
) -> Result<Arc<ScanEntry>, ApiError> {
    check_symbol_count(state, request.symbols.as_deref())?;
    let many = request
        .symbols
        .as_ref()
        .is_some_and(|s| s.len() > SYMBOLS_CHECKED_OFF_THE_RUNTIME);
    let saved =
        crate::screens::library_for(state, request.screen.is_some(), request.filter.as_deref())
            .await?;
    let valid = if many {
        let preparing = state.clone();
        tokio::task::spawn_blocking(move || prepare(&preparing, request, force_streaming, &saved))
            .await
            .map_err(|e| ApiError::Internal(format!("checking a request: {e}")))??
    } else {
        prepare(state, request, force_streaming, &saved)?
    };
    let learned = learned(state).await;
    let entry = state
        .registry_call(move |registry| registry.start(valid, learned))
        .await?;
    tracing::info!(scan_id = %entry.scan_id, "scan started");
    Ok(entry)
}

fn started(state: &AppState, entry: &ScanEntry) -> Response {
    let id = &entry.scan_id;
    let body = ScanStarted {
        scan_id: id.clone(),
        status: ScanStatus::Running,
        progress_url: format!("/scan/progress/{id}"),
        results_url: format!("/scan/results/{id}"),
        stats_url: format!("/scan/stats/{id}"),
        websocket_url: format!("/ws/results/{id}"),
        sse_url: format!("/events/results/{id}"),
        features: Features {
            prioritization: entry.request.prioritize,
            streaming: entry.request.streaming && state.config().enable_streaming,
            early_termination: !entry.request.termination.is_empty(),
        },
    };
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// Starts a scan and answers at once with where to follow it.
#[utoipa::path(post, path = "/scan/start", request_body = ScanRequest, params(StartQuery), responses(
    (status = 202, description = "Scan started", body = ScanStarted),
    (status = 400, description = "Body is not JSON", body = ErrorBody),
    (status = 413, description = "The body is larger than MAX_REQUEST_BYTES (refused before it is read when Content-Length says so)", body = ErrorBody),
    (status = 422, description = "A field or query parameter is unknown, of the wrong type or out of range, the query and the body disagree, `async_mode` is false, or `symbols` names more than MAX_SYMBOLS_PER_REQUEST; the message names it", body = ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_SCANS scans are running", body = ErrorBody),
    (status = 503, description = "Streaming asked for but turned off, or the server is shutting down", body = ErrorBody),
))]
pub(crate) async fn start(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StartQuery>,
    ApiJson(request): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    let request = with_query(request, query, Answer::AtOnce)?;
    let entry = launch(&state, request, false).await?;
    Ok(started(&state, &entry))
}

/// `POST /scan/start` with streaming on.
#[utoipa::path(post, path = "/scan/stream", request_body = ScanRequest, params(StartQuery), responses(
    (status = 202, description = "Scan started", body = ScanStarted),
    (status = 400, description = "Body is not JSON", body = ErrorBody),
    (status = 413, description = "The body is larger than MAX_REQUEST_BYTES (refused before it is read when Content-Length says so)", body = ErrorBody),
    (status = 422, description = "A field is unknown, of the wrong type or out of range", body = ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_SCANS scans are running", body = ErrorBody),
    (status = 503, description = "Streaming is turned off on this server, or the server is shutting down", body = ErrorBody),
))]
pub(crate) async fn start_streaming(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StartQuery>,
    ApiJson(request): ApiJson<ScanRequest>,
) -> Result<Response, ApiError> {
    let request = with_query(request, query, Answer::AtOnce)?;
    let entry = launch(&state, request, true).await?;
    Ok(started(&state, &entry))
}

/// The legacy batch scan: waits for the end and returns the whole report at once.
#[utoipa::path(post, path = "/scan", request_body = ScanRequest, params(StartQuery), responses(
    (status = 200, description = "The finished scan's report", body = ScanReport),
    (status = 400, description = "Body is not JSON", body = ErrorBody),
    (status = 413, description = "The body is larger than MAX_REQUEST_BYTES (refused before it is read when Content-Length says so)", body = ErrorBody),
    (status = 422, description = "A field is unknown, of the wrong type or out of range", body = ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_SCANS scans are running", body = ErrorBody),
    (status = 503, description = "The server is shutting down", body = ErrorBody),
))]
pub(crate) async fn legacy_scan(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<StartQuery>,
    ApiJson(request): ApiJson<ScanRequest>,
) -> Result<Json<ScanReport>, ApiError> {
    let request = with_query(request, query, Answer::Waits)?;
    let entry = launch(&state, request, false).await?;
    // A client that gives up (a timeout, Ctrl-C) drops this handler: the scan it asked for stops
    // rather than run to the end for nobody, holding compute that retries would ask for again.
    let _abandoned = StopWhenAbandoned {
        state: state.clone(),
        entry: Arc::clone(&entry),
    };
    let waiting = state.clone();
    let waited = Arc::clone(&entry);
    let outcome = tokio::task::spawn_blocking(move || waiting.registry().wait(&waited))
        .await
        .map_err(|e| ApiError::Internal(format!("waiting for scan {}: {e}", entry.scan_id)))?
        .map_err(ApiError::Internal)?;
    Ok(Json(outcome.report.clone()))
}

/// Stops a legacy scan whose handler is dropped before the scan ends.
struct StopWhenAbandoned {
    state: AppState,
    entry: Arc<ScanEntry>,
}

impl Drop for StopWhenAbandoned {
    fn drop(&mut self) {
        // A scan that has finished (the usual case: the handler returned) is refused by `stop`
        // as already finished, the only error, and then there is nothing to stop.
        let _finished = self
            .state
            .registry()
            .stop(&self.entry.scan_id, "client disconnected");
    }
}

fn status_of(entry: &ScanEntry) -> ScanStatus {
    match entry.outcome() {
        None => ScanStatus::Running,
        Some(Ok(outcome)) => outcome.report.status,
        Some(Err(_)) => ScanStatus::Failed,
    }
}

/// The scan's latest progress snapshot (`pending` before its first).
#[utoipa::path(get, path = "/scan/progress/{id}", params(("id" = String, Path, description = "Scan id")), responses(
    (status = 200, description = "Progress", body = ProgressSnapshot),
    (status = 404, description = "No such scan (or dropped after its retention)", body = ErrorBody),
))]
pub(crate) async fn progress(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ProgressSnapshot>, ApiError> {
    let entry = state.scan(&id).await?;
    Ok(Json(
        entry
            .progress()
            .unwrap_or_else(|| ProgressTracker::new(id).snapshot(0.0)),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinceQuery {
    /// Only messages after this `seq`.
    since_seq: Option<u64>,
}

fn results_body(entry: &ScanEntry, since: u64) -> ResultsPage {
    // The outcome before the log: it is recorded only after the log is closed, so a page that
    // says `complete` holds every message. Read the other way round, the scan could finish in
    // between and the page say `complete` without the last results.
    let (report, error) = match entry.outcome() {
        Some(Ok(outcome)) => (Some(outcome.report.clone()), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let messages = entry.log.after(since);
    let last_seq = messages.last().map_or(since, |m| m.metadata.seq);
    let results: Vec<_> = messages
        .iter()
        .filter(|m| matches!(m.payload, Payload::Result(_)))
        .map(|m| (**m).clone())
        .collect();
    ResultsPage {
        scan_id: entry.scan_id.clone(),
        status: status_of(entry),
        last_seq,
        results,
        // Once the outcome is recorded, not when the log closes: between the two, a poller told
        // `complete` would find neither the final report nor the error.
        complete: report.is_some() || error.is_some(),
        r#final: report,
        error,
    }
}

/// Results so far, or all of them and the final report once the scan has ended.
#[utoipa::path(get, path = "/scan/results/{id}", params(("id" = String, Path, description = "Scan id"), SinceQuery), responses(
    (status = 200, description = "Results after `since_seq`", body = ResultsPage),
    (status = 404, description = "No such scan", body = ErrorBody),
    (status = 422, description = "`since_seq` is not a seq or is past the scan's newest message", body = ErrorBody),
))]
pub(crate) async fn results(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<SinceQuery>,
) -> Result<Json<ResultsPage>, ApiError> {
    let entry = state.scan(&id).await?;
    let since = ResumePoint::query(query.since_seq, "since_seq").check(&entry)?;
    Ok(Json(results_body(&entry, since)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    /// Only messages after this `seq`.
    since_seq: Option<u64>,
    /// For events: `plain` (the default here: unnamed events, progress fields at the top level) or
    /// `named` (events named by type, as `/events/results/{id}` sends by default).
    #[param(inline)]
    events: Option<streams::Events>,
}

/// SSE of progress and results for clients that ask for `text/event-stream`; the JSON of the
/// current results for the others.
///
/// This is the seeds' SSE address, and their browser code listens with `EventSource.onmessage`,
/// which only unnamed events reach: so its events are plain unless `?events=named` says otherwise.
#[utoipa::path(get, path = "/scan/stream/{id}", params(("id" = String, Path, description = "Scan id"), StreamQuery), responses(
    (status = 200, description = "With `Accept: text/event-stream`: every message as an SSE event whose id is its `seq`, unnamed (`onmessage`) and with progress fields also at the top level unless `?events=named`. Otherwise the results so far.", content(
        (ResultsPage = "application/json"),
        (ScanMessage = "text/event-stream"),
    )),
    (status = 204, description = "Asked for events of a scan that has ended, from its final message: nothing to send"),
    (status = 404, description = "No such scan", body = ErrorBody),
    (status = 422, description = "`since_seq` is not a seq or is past the scan's newest message", body = ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_STREAMS streams are open", body = ErrorBody),
))]
pub(crate) async fn stream_or_results(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Response, ApiError> {
    let since = ResumePoint::query(query.since_seq, "since_seq");
    let wants_events = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    if wants_events {
        let events = query.events.unwrap_or(streams::Events::Plain);
        return streams::sse(&state, &id, &headers, since, events).await;
    }
    let entry = state.scan(&id).await?;
    Ok(Json(results_body(&entry, since.check(&entry)?)).into_response())
}

/// Time to first result, throughput, signals, priority accuracy, early termination, cache use.
#[utoipa::path(get, path = "/scan/stats/{id}", params(("id" = String, Path, description = "Scan id")), responses(
    (status = 200, description = "Statistics; the figures known only at the end are `null` while it runs", body = ScanStats),
    (status = 404, description = "No such scan", body = ErrorBody),
))]
pub(crate) async fn stats(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ScanStats>, ApiError> {
    let entry = state.scan(&id).await?;
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
            ScanStats {
                scan_id: id,
                status: outcome.report.status,
                time_to_first_result: m.time_to_first_result,
                symbols_per_second: m.symbols_per_second,
                symbols_total: Some(m.symbols_total),
                symbols_scanned: Some(m.symbols_scanned),
                results: m.results,
                signals: m.high_quality_signals,
                // A stopped scan ends short of 100 %: the last snapshot says how far it got.
                overall_progress: progress.as_ref().map_or(100.0, |p| p.overall_progress),
                priority_accuracy: Some(PriorityAccuracy {
                    high_tier_signal_rate: m.high_tier_signal_rate,
                    universe_signal_rate: m.universe_signal_rate,
                    first_signal_position: m.first_signal_position,
                    symbols_to_5_signals: m.symbols_to_5_signals,
                }),
                early_termination: EarlyTermination {
                    terminated: m.early_terminated,
                    reason: outcome.report.stop_reason.clone(),
                },
                cache: CacheStats {
                    hits: Some(m.cache_hits),
                    misses: Some(m.cache_misses),
                    source_hits: Some(m.source_cache_hits),
                    source_misses: Some(m.source_cache_misses),
                },
                seconds_total: Some(m.seconds_total),
            }
        }
        _ => ScanStats {
            status: status_of(&entry),
            scan_id: id,
            time_to_first_result: None,
            symbols_per_second: progress.as_ref().map_or(0.0, |p| p.stage_throughput),
            symbols_total: None,
            symbols_scanned: None,
            results: results.len(),
            signals: results.iter().filter(|r| r.high_quality).count(),
            overall_progress: progress.as_ref().map_or(0.0, |p| p.overall_progress),
            priority_accuracy: None,
            early_termination: EarlyTermination {
                terminated: false,
                reason: None,
            },
            cache: CacheStats {
                hits: None,
                misses: None,
                source_hits: None,
                source_misses: None,
            },
            seconds_total: None,
        },
    };
    Ok(Json(body))
}

/// Stops a running scan; the results so far are kept and ranked.
#[utoipa::path(post, path = "/scan/stop/{id}", params(("id" = String, Path, description = "Scan id")), responses(
    (status = 200, description = "Stopping", body = StopAccepted),
    (status = 404, description = "No such scan", body = ErrorBody),
    (status = 409, description = "The scan has already finished", body = ErrorBody),
))]
pub(crate) async fn stop(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<StopAccepted>, ApiError> {
    let stopped = id.clone();
    let entry = state
        .registry_call(move |registry| registry.stop(&stopped, "POST /scan/stop"))
        .await?;
    tracing::info!(scan_id = %entry.scan_id, "stop requested");
    Ok(Json(StopAccepted {
        scan_id: id,
        status: String::from("stopping"),
        message: String::from("results so far are kept and ranked"),
    }))
}

#[utoipa::path(get, path = "/health", responses((status = 200, description = "Alive", body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Json<Health> {
    state
        .metrics()
        .active_scans
        .set(i64::try_from(state.registry().running()).unwrap_or(i64::MAX));
    Json(Health {
        status: String::from("ok"),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        active_scans: state.registry().running(),
        active_streams: state.metrics().active_streams.get(),
        data_source: state.registry().source_info(),
    })
}

/// The data source, progress stages, sectors and keep-alive period, for clients (the web page)
/// that would otherwise copy them.
#[utoipa::path(get, path = "/meta", responses((status = 200, description = "Constants of this server's scans", body = Meta)))]
pub(crate) async fn meta(State(state): State<AppState>) -> Json<Meta> {
    let config = state.config();
    // As `streams::deliver` spaces its pings: at least two within the stream timeout.
    let keep_alive = config.keep_alive.min(config.stream_timeout / 2);
    Json(Meta {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_source: state.registry().source_info(),
        stages: technic_core::progress::Stage::ALL
            .iter()
            .map(|stage| StageWeight {
                name: stage.as_str().to_owned(),
                weight: stage.weight(),
            })
            .collect(),
        sectors: technic_engine::GICS_SECTORS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        keep_alive_seconds: keep_alive.as_secs_f64(),
    })
}

/// Ready when the learning store (if any) answers.
#[utoipa::path(get, path = "/ready", responses(
    (status = 200, description = "Ready", body = Ready),
    (status = 503, description = "The learning store does not answer", body = ErrorBody),
))]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Ready>, ApiError> {
    if let Some(store) = state.learning().map(|l| l.store()) {
        store.check().await.map_err(|e| {
            // The driver's text can name hosts, files and tables: the log's, not a prober's.
            // A warning, not an error: probes ask every few seconds while it is down.
            tracing::warn!(error = %e, "readiness: the learning store does not answer");
            ApiError::Unavailable(
                "the learning store does not answer (the detail is in the server's log)".to_owned(),
            )
        })?;
    }
    Ok(Json(Ready {
        status: String::from("ready"),
    }))
}

#[utoipa::path(get, path = "/metrics", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    state
        .metrics()
        .active_scans
        .set(i64::try_from(state.registry().running()).unwrap_or(i64::MAX));
    let retained = state.registry().retained();
    let metrics = state.metrics();
    metrics
        .retained_scans
        .set(i64::try_from(retained.scans).unwrap_or(i64::MAX));
    metrics
        .retained_scan_bytes
        .set(i64::try_from(retained.bytes).unwrap_or(i64::MAX));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
        .into_response()
}
