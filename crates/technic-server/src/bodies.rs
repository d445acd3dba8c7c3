//! The JSON bodies the REST endpoints answer with. They are types rather than ad-hoc JSON so the
//! OpenAPI document (`/openapi.json`) is derived from exactly what the handlers send.

use serde::Serialize;
use technic_core::progress::ScanStatus;
use technic_data::SourceInfo;
use technic_engine::{ScanMessage, ScanReport};
use utoipa::ToSchema;

/// `POST /scan/start` and `POST /scan/stream`: where to follow the scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanStarted {
    pub scan_id: String,
    pub status: ScanStatus,
    pub progress_url: String,
    pub results_url: String,
    pub stats_url: String,
    pub websocket_url: String,
    pub sse_url: String,
    pub features: Features,
}

/// What this scan does, after the server's defaults were applied to the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Features {
    pub prioritization: bool,
    /// Whether the WebSocket and SSE URLs deliver results live (`ENABLE_STREAMING`).
    pub streaming: bool,
    pub early_termination: bool,
}

/// `GET /scan/results/{id}`: the result messages after `since_seq`, and the final report once the
/// scan has ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultsPage {
    pub scan_id: String,
    pub status: ScanStatus,
    /// The newest `seq` this page covers (every kind of message counts): pass it as `since_seq`
    /// to get only what came after.
    pub last_seq: u64,
    /// `result` messages, in `seq` order.
    pub results: Vec<ScanMessage>,
    /// True once the scan has ended; `final` or `error` then says how.
    pub complete: bool,
    /// The ranked report, once the scan has finished.
    pub r#final: Option<ScanReport>,
    /// Why the scan failed, when it did.
    pub error: Option<String>,
}

/// `GET /scan/stats/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanStats {
    pub scan_id: String,
    pub status: ScanStatus,
    /// Seconds from the start to the first result; `null` until the scan ends.
    pub time_to_first_result: Option<f64>,
    pub symbols_per_second: f64,
    pub symbols_total: Option<usize>,
    pub symbols_scanned: Option<usize>,
    pub results: usize,
    /// High-quality signals.
    pub signals: usize,
    /// 0–100.
    pub overall_progress: f64,
    /// How well the priority order front-loaded signals; `null` until the scan ends.
    pub priority_accuracy: Option<PriorityAccuracy>,
    pub early_termination: EarlyTermination,
    pub cache: CacheStats,
    pub seconds_total: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriorityAccuracy {
    pub high_tier_signal_rate: Option<f64>,
    pub universe_signal_rate: Option<f64>,
    pub first_signal_position: Option<usize>,
    pub symbols_to_5_signals: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EarlyTermination {
    pub terminated: bool,
    pub reason: Option<String>,
}

/// Reads answered from a cache and those that went to the source; `null` until the scan ends.
#[derive(Debug, Serialize, ToSchema)]
pub struct CacheStats {
    /// Priority snapshots shared with other scans of the same data.
    pub hits: Option<usize>,
    pub misses: Option<usize>,
    /// Bar reads the source answered from its cache (Redis or in-process) or local bar store,
    /// and those it had to fetch.
    pub source_hits: Option<usize>,
    pub source_misses: Option<usize>,
}

/// `POST /scan/stop/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StopAccepted {
    pub scan_id: String,
    /// Always `stopping`: the scan finishes the symbols already under way, then ends `stopped`.
    pub status: String,
    pub message: String,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    pub active_scans: usize,
    pub active_streams: i64,
    pub data_source: SourceInfo,
}

/// `GET /meta`: what a client needs to describe scans without copying the server's constants.
#[derive(Debug, Serialize, ToSchema)]
pub struct Meta {
    pub version: String,
    pub data_source: SourceInfo,
    /// The progress stages in order, with their shares of the overall progress (summing to 1).
    pub stages: Vec<StageWeight>,
    /// The sectors a request's `sectors` may name.
    pub sectors: Vec<String>,
    /// The longest a WebSocket subscriber that asked for keep-alives (`?keep_alive=true`) waits
    /// between two frames while its stream is healthy.
    pub keep_alive_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StageWeight {
    /// As in progress snapshots (`universe_loading`, ...).
    pub name: String,
    pub weight: f64,
}

/// `GET /ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    pub status: String,
}

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `bad_json`, `invalid_request`, `not_found`, `conflict`,
    /// `too_many_streams`, `unavailable`, `internal`.
    pub code: String,
    /// For people: names the field or the scan that is wrong.
    pub message: String,
    /// The request field that is wrong, when one is (`where`, `min_price`,
    /// `termination_criteria.max_signals`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For an expression field (`where`, `rank_by`): the character column (1 = first) of the
    /// mistake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}
