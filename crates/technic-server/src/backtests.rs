//! `POST /backtest`, `GET /backtest/{id}` and `GET /backtest/{id}/report`: `technic backtest` as a
//! job of the server, on the server's market data, with stage progress like a scan's.
//!
//! A backtest is heavy (seconds of every core) and its report is large (every per-date series), so
//! jobs are bounded twice: at most `MAX_CONCURRENT_SCANS` run at once (each is refused with 429
//! beyond that, like a scan), and only the newest [`KEPT_FINISHED`] finished ones are kept.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use technic_backtest::{Report, StatsOptions};
use technic_engine::ScanRequest;
use technic_engine::backtest::{BacktestError, BacktestRequest, Every, PanelStage, build_panel};

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath};

/// Finished backtests kept for `GET`; the oldest is dropped beyond this.
pub const KEPT_FINISHED: usize = 16;

/// The body of `POST /backtest`: the scan's data selection and filters, and the backtest's own
/// dates, horizons, factors and statistics, as `technic backtest` takes them.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestBody {
    pub symbols: Option<Vec<String>>,
    pub sectors: Option<Vec<String>>,
    pub min_price: Option<f64>,
    pub min_avg_volume: Option<f64>,
    pub lookback_days: Option<usize>,
    /// `standard` (default) or `classic`.
    pub rating: Option<String>,
    /// First and last evaluation date (YYYY-MM-DD); default the data's first and last.
    #[schema(value_type = Option<String>)]
    pub from: Option<NaiveDate>,
    #[schema(value_type = Option<String>)]
    pub to: Option<NaiveDate>,
    /// `day`, `week` or `month` (default).
    pub every: Option<String>,
    /// Trading days; default 1, 5, 21, 63.
    pub horizons: Option<Vec<usize>>,
    /// Factor names or expressions (e.g. `return_126 / atr_pct`). Default: the rating, the alpha
    /// score, each sub-score and the signal.
    pub factors: Option<Vec<String>>,
    /// A screen's filter: a symbol is left out on a date it is false (e.g. `close > sma_200`).
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// A saved screen whose filter restricts the universe (with `where`, both must hold).
    pub screen: Option<String>,
    /// Quantile buckets per date, at least 2 (default 10).
    pub quantiles: Option<usize>,
    /// Cost per side in basis points (default 10).
    pub cost_bps: Option<f64>,
    /// Sub-period boundaries.
    #[schema(value_type = Option<Vec<String>>)]
    pub splits: Option<Vec<NaiveDate>>,
}

/// A backtest's stage, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BacktestStage {
    Loading,
    Evaluating,
    Statistics,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BacktestStatus {
    Running,
    Completed,
    Failed,
}

/// What `GET /backtest/{id}` answers; once completed it also holds `report`, the whole report in
/// the shape of `technic backtest --format json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BacktestState {
    pub backtest_id: String,
    pub status: BacktestStatus,
    pub stage: BacktestStage,
    /// Symbols done and in all within the stage (loading and evaluating count symbols).
    pub stage_done: usize,
    pub stage_total: usize,
    /// 0–100 over the three stages (loading and evaluating each half of the first 95).
    pub overall_progress: f64,
    /// Why it failed, naming the request field when the request was at fault.
    pub error: Option<String>,
    pub report_url: String,
}

/// The answer of `GET /backtest/{id}`: the state, and the report beside it once there is one.
#[derive(Serialize)]
struct Answer<'a> {
    #[serde(flatten)]
    state: &'a BacktestState,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a Report>,
}

#[derive(Debug)]
struct Job {
    state: Mutex<BacktestState>,
    /// The report and its HTML page, set once when the backtest completes.
    done: OnceLock<(Report, String)>,
}

/// Every backtest this server knows of.
#[derive(Debug, Default)]
pub struct Backtests {
    jobs: Mutex<HashMap<String, Arc<Job>>>,
    /// Finished ids, oldest first, for dropping beyond [`KEPT_FINISHED`].
    finished: Mutex<VecDeque<String>>,
}

impl Backtests {
    fn running(&self) -> usize {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|job| {
                job.state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .status
                    == BacktestStatus::Running
            })
            .count()
    }

    fn get(&self, id: &str) -> Result<Arc<Job>, ApiError> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no backtest with id {id}")))
    }

    fn finish(&self, id: &str) {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        finished.push_back(id.to_owned());
        while finished.len() > KEPT_FINISHED {
            if let Some(oldest) = finished.pop_front() {
                self.jobs
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&oldest);
            }
        }
    }
}

/// The body checked into the engine's request and the statistics' options; an error names the
/// field as the body spells it.
fn validate(
    body: BacktestBody,
    saved: &technic_engine::ScreenLibrary,
) -> Result<(BacktestRequest, StatsOptions), ApiError> {
    let scan = ScanRequest {
        symbols: body.symbols,
        sectors: body.sectors,
        min_price: body.min_price,
        min_avg_volume: body.min_avg_volume,
        lookback_days: body.lookback_days,
        rating: body.rating,
        filter: body.filter,
        screen: body.screen,
        ..ScanRequest::default()
    }
    .validate_with(saved)?;
    let every = match body
        .every
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("month") => Every::Month,
        Some("week") => Every::Week,
        Some("day") => Every::Day,
        Some(other) => {
            return Err(ApiError::Invalid(format!(
                "every: must be \"day\", \"week\" or \"month\", got \"{other}\""
            )));
        }
    };
    let options = StatsOptions {
        quantiles: body.quantiles.unwrap_or(10),
        cost_bps: body.cost_bps.unwrap_or(10.0),
        splits: body.splits.unwrap_or_default(),
    };
    options
        .check()
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    Ok((
        BacktestRequest {
            scan,
            from: body.from,
            to: body.to,
            every,
            horizons: body.horizons.unwrap_or_default(),
            factors: body.factors.unwrap_or_default(),
        },
        options,
    ))
}

fn progress(stage: BacktestStage, done: usize, total: usize) -> f64 {
    let within = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    match stage {
        BacktestStage::Loading => 47.5 * within,
        BacktestStage::Evaluating => 47.5 + 47.5 * within,
        BacktestStage::Statistics => 95.0,
        BacktestStage::Done => 100.0,
    }
}

/// Starts a backtest on the server's market data and answers at once with where to follow it.
#[utoipa::path(post, path = "/backtest", operation_id = "start_backtest", request_body = BacktestBody, responses(
    (status = 202, description = "Backtest started; poll `GET /backtest/{id}`", body = BacktestState),
    (status = 400, description = "Body is not JSON", body = crate::bodies::ErrorBody),
    (status = 413, description = "The body is larger than MAX_REQUEST_BYTES", body = crate::bodies::ErrorBody),
    (status = 422, description = "A field is unknown or out of range; the message names it", body = crate::bodies::ErrorBody),
    (status = 429, description = "MAX_CONCURRENT_SCANS backtests are running", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn start(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BacktestBody>,
) -> Result<Response, ApiError> {
    crate::routes::check_symbol_count(&state, body.symbols.as_deref())?;
    let saved =
        crate::screens::library_for(&state, body.screen.is_some(), body.filter.as_deref()).await?;
    let (request, options) = validate(body, &saved)?;
    technic_engine::backtest::check(&request).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let backtests = state.backtests();
    let limit = state.config().max_concurrent_scans;
    if backtests.running() >= limit {
        return Err(ApiError::TooManyBacktests(limit));
    }
    let id = technic_engine::new_scan_id();
    let job = Arc::new(Job {
        state: Mutex::new(BacktestState {
            backtest_id: id.clone(),
            status: BacktestStatus::Running,
            stage: BacktestStage::Loading,
            stage_done: 0,
            stage_total: 0,
            overall_progress: 0.0,
            error: None,
            report_url: format!("/backtest/{id}/report"),
        }),
        done: OnceLock::new(),
    });
    backtests
        .jobs
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id.clone(), Arc::clone(&job));
    let answer = job
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let running = state.clone();
    // A thread of its own: the panel is built on rayon's pool and takes seconds, which must not
    // hold a runtime worker.
    std::thread::spawn(move || {
        // A panic in a source or the statistics must not leave the job "running" for ever (and
        // holding one of the MAX_CONCURRENT_SCANS slots): it ends as failed, the detail logged.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&running, &id, &job, &request, &options);
        }));
        if outcome.is_err() {
            tracing::error!(backtest_id = %id, "backtest panicked");
            let mut s = job.state.lock().unwrap_or_else(PoisonError::into_inner);
            s.status = BacktestStatus::Failed;
            s.error = Some("internal error; see the server log".to_owned());
            drop(s);
            running.backtests().finish(&id);
        }
    });
    tracing::info!(backtest_id = %answer.backtest_id, "backtest started");
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

fn run(state: &AppState, id: &str, job: &Job, request: &BacktestRequest, options: &StatsOptions) {
    let set = |stage: BacktestStage, done: usize, total: usize| {
        let mut s = job.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.stage = stage;
        s.stage_done = done;
        s.stage_total = total;
        s.overall_progress = progress(stage, done, total);
    };
    let source = state.registry().scanner().source();
    let panel = build_panel(source, request, &|stage, done, total| {
        let stage = match stage {
            PanelStage::Loading => BacktestStage::Loading,
            PanelStage::Evaluating => BacktestStage::Evaluating,
        };
        set(stage, done, total);
    });
    let outcome = panel
        .map_err(|e| match e {
            BacktestError::Invalid { .. } => e.to_string(),
            BacktestError::Universe(_) => {
                tracing::error!(backtest_id = %id, error = %e, "backtest failed");
                "could not read the universe: the market data source failed (the detail is in the log)".to_owned()
            }
        })
        .and_then(|panel| {
            set(BacktestStage::Statistics, 0, 1);
            technic_engine::backtest::analyse(&panel, options).map_err(|e| e.to_string())
        });
    let mut s = job.state.lock().unwrap_or_else(PoisonError::into_inner);
    match outcome {
        Ok(report) => {
            let html = technic_backtest::render_html(&report);
            let _first = job.done.set((report, html));
            s.status = BacktestStatus::Completed;
            s.stage = BacktestStage::Done;
            s.overall_progress = 100.0;
        }
        Err(message) => {
            s.status = BacktestStatus::Failed;
            s.error = Some(message);
        }
    }
    tracing::info!(backtest_id = %id, status = ?s.status, "backtest finished");
    drop(s);
    state.backtests().finish(id);
}

/// A backtest's status and stage progress; the whole report once it has completed.
#[utoipa::path(get, path = "/backtest/{id}", operation_id = "backtest_status", params(("id" = String, Path, description = "Backtest id")), responses(
    (status = 200, description = "Status, progress and (once completed) the report", body = BacktestState),
    (status = 404, description = "No backtest with this id (or dropped: only the newest 16 finished are kept)", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = state.backtests().get(&id)?;
    let current = job
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    Ok(Json(Answer {
        state: &current,
        report: job.done.get().map(|(report, _)| report),
    })
    .into_response())
}

/// The self-contained HTML report (inline SVG charts) of a completed backtest.
#[utoipa::path(get, path = "/backtest/{id}/report", operation_id = "backtest_report", params(("id" = String, Path, description = "Backtest id")), responses(
    (status = 200, description = "The report page", content_type = "text/html"),
    (status = 404, description = "No backtest with this id", body = crate::bodies::ErrorBody),
    (status = 409, description = "Still running, or it failed", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn report(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let job = state.backtests().get(&id)?;
    match job.done.get() {
        Some((_, html)) => Ok((
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html.clone(),
        )
            .into_response()),
        None => {
            let s = job.state.lock().unwrap_or_else(PoisonError::into_inner);
            Err(ApiError::Conflict(match s.status {
                BacktestStatus::Failed => format!(
                    "backtest {id} failed, so it has no report: {}",
                    s.error.as_deref().unwrap_or("unknown error")
                ),
                _ => format!(
                    "backtest {id} is still running ({:.0} %); the report is ready when GET /backtest/{id} says completed",
                    s.overall_progress
                ),
            }))
        }
    }
}
