//! One scan end to end: universe → bars → indicators, rating and signal per symbol → alpha ranks
//! and the final ranking, in the four weighted stages of the progress model, on all cores.
//!
//! Architecture invariants: the engine never fails a scan because one symbol failed (each symbol
//! ends as a result, a skip with its reason, or an error); a scan holds at most `lookback_days` bars
//! per symbol (the backtest panel holds whole histories); it knows nothing about HTTP or terminals (progress goes to a [`ScanObserver`]).
//!
//! No HTTP, no database, no terminal output; time comes from an injected [`Clock`].

mod analyses;
pub mod backtest;
pub mod distributed;
mod fair;
mod filter;
mod learning;
mod registry;
mod report;
mod request;
mod runners;
mod scan;
mod screening;
mod snapshots;
mod stream;

pub use filter::{BuiltinFilters, Filter, FilterName, Place, Refusal};
pub use learning::{Learned, LearningUpdate, SectorStats, SymbolOutcome};
pub use registry::{OnFinish, RegistryError, Retained, ScanEntry, ScanRegistry};
pub use report::{
    Diagnostic, DiagnosticCause, DiagnosticKind, IndicatorValues, OrderedMap, RankedSymbol,
    ScanMetrics, ScanReport, ScanResult, ScanSummary,
};
pub use request::{
    DEFAULT_LOOKBACK_DAYS, GICS_SECTORS, MAX_LOOKBACK_DAYS, MAX_TIMEOUT_SECONDS, RequestError,
    ScanRequest, TICKER_RULE, TerminationRequest, ValidScan, ticker,
};
pub use scan::{
    BATCH_SIZE, Clock, MIN_BARS, ScanError, ScanObserver, ScanOptions, ScanOutcome, Scanner,
    StopHandle, SystemClock, new_scan_id,
};
pub use screening::{ScreenLibrary, ScreenSpec};
pub use stream::{EventLog, Metadata, Payload, ScanMessage, Subscription};
pub use technic_core::progress::{ProgressSnapshot, ScanStatus, Stage};
pub use technic_screen::SavedText;
