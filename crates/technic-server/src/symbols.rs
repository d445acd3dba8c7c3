//! One symbol's detail for the page's panel: `GET /symbols/{symbol}/bars` (its daily bars),
//! `GET /symbols/{symbol}/indicators` (indicator series aligned with those bars) and
//! `GET /symbols/{symbol}/history` (what the learning store remembers of it).
//!
//! Bars and indicators cover the window a scan reads: the newest `lookback_days` bars up to
//! `as_of`. The page asks with a result's own `bars` and `date`, so it gets the very bars the
//! scan rated and the series end on the values the result shows (TA-Lib's averages depend on
//! where the series starts, so any other window could differ in the last digits).
//!
//! A path's symbol is never trusted: it must be a ticker (the scan request's rule, `ticker`), and
//! a member of the source's universe, before the source is asked for its bars. So `../etc` or any
//! name the data does not list ends as a 404 naming it, and only universe members reach the data
//! layer, whose `symbol_file_stem` encodes every file name besides.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use technic_core::indicators::IndicatorSet;
use technic_data::{BarWindow, DataError, SourceInfo, SymbolInfo};
use technic_engine::{DEFAULT_LOOKBACK_DAYS, MAX_LOOKBACK_DAYS, TICKER_RULE};
use utoipa::ToSchema;

use crate::AppState;
use crate::bodies::ErrorBody;
use crate::error::{ApiError, ApiPath, ApiQuery};

/// The series the detail panel draws: the trend averages, the Bollinger bands, RSI and MACD.
pub const DEFAULT_INDICATORS: &str = "sma_50,sma_200,bb_20_2,rsi_14,macd_12_26_9";

/// The most indicators one request may ask for: each is a pass over up to `MAX_LOOKBACK_DAYS`
/// bars, and nothing else bounds what a query string may list.
pub const MAX_INDICATORS: usize = 16;

/// The window of bars: the newest `lookback_days` up to `as_of`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct BarsQuery {
    /// Bars to return, the newest last (default 400, a scan's default lookback; at most 10,000).
    lookback_days: Option<usize>,
    /// The last date of the window (YYYY-MM-DD, inclusive); default the newest bar.
    #[param(value_type = Option<String>)]
    as_of: Option<NaiveDate>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct IndicatorsQuery {
    /// As for `/bars`: the series are computed over exactly these bars.
    lookback_days: Option<usize>,
    #[param(value_type = Option<String>)]
    as_of: Option<NaiveDate>,
    /// Comma-separated indicator specs as `technic indicators` takes them (at most 16); default
    /// `sma_50,sma_200,bb_20_2,rsi_14,macd_12_26_9`.
    indicators: Option<String>,
}

/// One daily bar.
#[derive(Debug, Serialize, ToSchema)]
pub struct BarBody {
    #[schema(value_type = String)]
    pub date: NaiveDate,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

/// `GET /symbols/{symbol}/bars`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SymbolBars {
    pub symbol: String,
    pub name: Option<String>,
    pub sector: Option<String>,
    /// Where the bars come from; `synthetic` for the demo market.
    pub source: SourceInfo,
    pub lookback_days: usize,
    /// The window's last date as asked; `null` for the newest.
    #[schema(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
    /// Oldest first.
    pub bars: Vec<BarBody>,
}

/// `GET /symbols/{symbol}/indicators`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SymbolIndicators {
    pub symbol: String,
    pub lookback_days: usize,
    #[schema(value_type = Option<String>)]
    pub as_of: Option<NaiveDate>,
    /// The bars' dates, oldest first; every series has one value per date.
    #[schema(value_type = Vec<String>)]
    pub dates: Vec<NaiveDate>,
    /// Each output column (`sma_50`, `bb_upper`, `macd_hist`, …: the names scan results use) and
    /// its values, `null` during the indicator's warm-up.
    pub series: BTreeMap<String, Vec<Option<f64>>>,
}

/// `GET /symbols/{symbol}/history`: what earlier scans recorded of the symbol.
#[derive(Debug, Serialize, ToSchema)]
pub struct SymbolHistoryBody {
    pub symbol: String,
    /// Recorded scans that rated it (0: none yet).
    pub scans: u32,
    /// How many of those rated it a high-quality signal.
    pub signals: u32,
    /// `signals / scans`; `null` before the first scan.
    pub signal_rate: Option<f64>,
    /// The rating the last recorded scan gave it.
    pub last_rating: Option<f64>,
    /// The date of the data that scan saw (YYYY-MM-DD).
    pub last_scan_date: Option<String>,
    /// Its signal by as-of date, newest first (at most `HISTORY_DATES`): per date, what the last
    /// recorded scan of data of that date gave it.
    pub dated: Vec<DatedSignalBody>,
}

/// The most dated signals one answer carries: a year of daily scans.
pub const HISTORY_DATES: usize = 260;

/// One as-of date of a symbol's signal history.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatedSignalBody {
    /// The date of the newest bar the scan saw (YYYY-MM-DD).
    pub as_of: String,
    /// `STRONG_BUY`, `BUY`, `HOLD`, `SELL` or `STRONG_SELL`.
    pub signal: String,
    pub tech_rating: f64,
    pub alpha_score: Option<f64>,
    pub high_quality: bool,
}

/// The universe member a path names, or why not: 422 for what is no ticker, 404 for a ticker the
/// source does not list. Reads the universe, so it runs on a blocking thread.
fn member(state: &AppState, raw: &str) -> Result<SymbolInfo, ApiError> {
    let Some(symbol) = technic_engine::ticker(raw) else {
        return Err(ApiError::InvalidField {
            field: "symbol",
            column: None,
            message: format!(
                "symbol: {} is not a ticker symbol ({TICKER_RULE})",
                quoted(raw)
            ),
        });
    };
    let universe = state
        .registry()
        .scanner()
        .source()
        .universe()
        .map_err(|e| {
            tracing::warn!(error = %e, "reading the universe for a symbol's detail failed");
            ApiError::Unavailable(format!(
                "could not read the universe: {}",
                e.public_message()
            ))
        })?;
    universe
        .into_iter()
        .find(|info| info.symbol.eq_ignore_ascii_case(&symbol))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no symbol {} in this server's data ({})",
                quoted(&symbol),
                state.registry().source_info().description
            ))
        })
}

/// A user's text in a message: escaped and cut short, since it may be anything.
fn quoted(text: &str) -> String {
    let shown: String = text.chars().take(40).collect();
    format!("{shown:?}")
}

fn window(lookback_days: Option<usize>, as_of: Option<NaiveDate>) -> Result<BarWindow, ApiError> {
    let lookback_days = lookback_days.unwrap_or(DEFAULT_LOOKBACK_DAYS);
    if !(1..=MAX_LOOKBACK_DAYS).contains(&lookback_days) {
        return Err(ApiError::InvalidField {
            field: "lookback_days",
            column: None,
            message: format!(
                "lookback_days: must be from 1 to {MAX_LOOKBACK_DAYS}, got {lookback_days}"
            ),
        });
    }
    Ok(BarWindow {
        last: Some(lookback_days),
        from: None,
        to: as_of,
    })
}

/// The member's bars in `window`, on a blocking thread (sources read files or the network).
async fn read(
    state: &AppState,
    raw: String,
    window: BarWindow,
) -> Result<(SymbolInfo, technic_core::Bars), ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let info = member(&state, &raw)?;
        let bars = state
            .registry()
            .scanner()
            .source()
            .bars(&info.symbol, &window)
            .map_err(|e| data_error(&info.symbol, &e))?;
        if bars.is_empty() {
            let until = window
                .to
                .map_or_else(String::new, |date| format!(" on or before {date}"));
            return Err(ApiError::NotFound(format!(
                "{} has no bars{until}",
                info.symbol
            )));
        }
        Ok((info, bars))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("reading a symbol's bars: {e}")))?
}

/// A source's failure for one symbol, told without the machine's paths.
fn data_error(symbol: &str, e: &DataError) -> ApiError {
    match e {
        DataError::UnknownSymbol { .. }
        | DataError::NoBarFile { .. }
        | DataError::NoData { .. } => {
            ApiError::NotFound(format!("no bars for {symbol}: {}", e.public_message()))
        }
        _ => {
            tracing::warn!(%symbol, error = %e, "reading a symbol's bars failed");
            ApiError::Unavailable(format!(
                "could not read the bars of {symbol}: {}",
                e.public_message()
            ))
        }
    }
}

/// The symbol's daily bars over a scan's window.
#[utoipa::path(get, path = "/symbols/{symbol}/bars", operation_id = "symbol_bars", params(("symbol" = String, Path, description = "Ticker, e.g. AAPL (any letter case)"), BarsQuery), responses(
    (status = 200, description = "The bars, oldest first", body = SymbolBars),
    (status = 404, description = "The source lists no such symbol, or it has no bars in the window", body = ErrorBody),
    (status = 422, description = "Not a ticker symbol, or a query parameter out of range; the message names it", body = ErrorBody),
    (status = 503, description = "The market data source failed", body = ErrorBody),
))]
pub(crate) async fn bars(
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<BarsQuery>,
) -> Result<Json<SymbolBars>, ApiError> {
    let window = window(query.lookback_days, query.as_of)?;
    let (info, bars) = read(&state, symbol, window).await?;
    let rows = (0..bars.len())
        .filter_map(|i| bars.get(i))
        .map(|bar| BarBody {
            date: bar.date,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
        })
        .collect();
    Ok(Json(SymbolBars {
        symbol: info.symbol,
        name: info.name,
        sector: info.sector,
        source: state.registry().source_info(),
        lookback_days: window.last.unwrap_or(DEFAULT_LOOKBACK_DAYS),
        as_of: query.as_of,
        bars: rows,
    }))
}

/// Indicator series over the same bars as `/bars`, computed by technic's TA-Lib kernels.
#[utoipa::path(get, path = "/symbols/{symbol}/indicators", operation_id = "symbol_indicators", params(("symbol" = String, Path, description = "Ticker, e.g. AAPL (any letter case)"), IndicatorsQuery), responses(
    (status = 200, description = "One series per output column, aligned with `dates`", body = SymbolIndicators),
    (status = 404, description = "The source lists no such symbol, or it has no bars in the window", body = ErrorBody),
    (status = 422, description = "Not a ticker symbol, an unknown indicator or a parameter out of range; the message names it", body = ErrorBody),
    (status = 503, description = "The market data source failed", body = ErrorBody),
))]
pub(crate) async fn indicators(
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
    ApiQuery(query): ApiQuery<IndicatorsQuery>,
) -> Result<Json<SymbolIndicators>, ApiError> {
    let window = window(query.lookback_days, query.as_of)?;
    let specs = query.indicators.as_deref().unwrap_or(DEFAULT_INDICATORS);
    let invalid = |message: String| ApiError::InvalidField {
        field: "indicators",
        column: None,
        message: format!("indicators: {message}"),
    };
    let set = IndicatorSet::parse_list(specs).map_err(|e| invalid(e.to_string()))?;
    if set.indicators().is_empty() {
        return Err(invalid("name at least one indicator, e.g. rsi_14".into()));
    }
    if set.indicators().len() > MAX_INDICATORS {
        return Err(invalid(format!(
            "at most {MAX_INDICATORS} indicators per request, got {}",
            set.indicators().len()
        )));
    }
    let (info, bars) = read(&state, symbol, window).await?;
    let frame = tokio::task::spawn_blocking(move || set.compute(&bars).map(|f| (f, bars.dates)))
        .await
        .map_err(|e| ApiError::Internal(format!("computing indicators: {e}")))?
        .map_err(|e| invalid(e.to_string()))?;
    let (frame, dates) = frame;
    let series = frame
        .columns
        .into_iter()
        .zip(frame.values)
        .map(|(name, values)| {
            let values = values
                .into_iter()
                .map(|v| v.is_finite().then_some(v))
                .collect();
            (name, values)
        })
        .collect();
    Ok(Json(SymbolIndicators {
        symbol: info.symbol,
        lookback_days: window.last.unwrap_or(DEFAULT_LOOKBACK_DAYS),
        as_of: query.as_of,
        dates,
        series,
    }))
}

/// The symbol's record in the learning store and its signal by as-of date.
#[utoipa::path(get, path = "/symbols/{symbol}/history", operation_id = "symbol_history", params(("symbol" = String, Path, description = "Ticker, e.g. AAPL (any letter case)")), responses(
    (status = 200, description = "Its record and dated signals; zero scans and no dates when none has rated it yet", body = SymbolHistoryBody),
    (status = 404, description = "The source lists no such symbol", body = ErrorBody),
    (status = 422, description = "Not a ticker symbol", body = ErrorBody),
    (status = 503, description = "The server has no learning store", body = ErrorBody),
))]
pub(crate) async fn history(
    State(state): State<AppState>,
    ApiPath(symbol): ApiPath<String>,
) -> Result<Json<SymbolHistoryBody>, ApiError> {
    let Some(learning) = state.learning().cloned() else {
        return Err(ApiError::Unavailable(
            "this server has no learning store, so no signal history".into(),
        ));
    };
    let checking = state.clone();
    let info = tokio::task::spawn_blocking(move || member(&checking, &symbol))
        .await
        .map_err(|e| ApiError::Internal(format!("checking a symbol: {e}")))??;
    // The server's copy of the store (read at start, every 30 s, and updated by each record it
    // writes): no query per panel opened.
    let learned = learning.for_scan(state.clock().wall()).await;
    // The dated signals are read from the store itself: the copy in memory keeps summaries only.
    let dated = learning
        .store()
        .signal_history(&info.symbol, HISTORY_DATES)
        .await
        .map_err(|e| ApiError::Internal(format!("reading {}'s dated signals: {e}", info.symbol)))?
        .into_iter()
        .map(|d| DatedSignalBody {
            as_of: d.as_of,
            signal: d.signal,
            tech_rating: d.tech_rating,
            alpha_score: d.alpha_score,
            high_quality: d.high_quality,
        })
        .collect();
    let history = learned.histories.get(&info.symbol);
    let scans = history.map_or(0, |h| h.scans);
    let signals = history.map_or(0, |h| h.signals);
    Ok(Json(SymbolHistoryBody {
        symbol: info.symbol.clone(),
        scans,
        signals,
        signal_rate: (scans > 0).then(|| f64::from(signals) / f64::from(scans)),
        last_rating: history.and_then(|h| h.last_rating),
        last_scan_date: history.and_then(|h| h.last_scan_date.clone()),
        dated,
    }))
}
