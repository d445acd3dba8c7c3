//! What a scan hands back: ranked results, a diagnostic for every symbol that is not a result, and
//! metrics. These are the JSON shapes of `technic scan --format json`.
//!
//! The whole [`ScanReport`] is what a scan hands back: what `technic scan` prints without
//! `--stream` and what the server's `/scan/results` gives as `final`. The stream's `complete`
//! message carries a [`ScanSummary`] instead: the ranking as each result's symbol, rank and exact
//! alpha score, the diagnostics and the metrics, not the results again (a subscriber of the results
//! already has them, and whole they made the final message 690 KiB for 506 symbols;
//! docs/benchmarks.md). The progress-only WebSocket, which carries no results, ends with the
//! summary too.

use chrono::NaiveDate;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use technic_core::evaluate::Evaluation;
use technic_core::priority::Tier;
use technic_core::progress::ScanStatus;
use technic_core::rating::{Signal, TrendDirection};
use technic_data::{SourceInfo, SymbolInfo};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanResult {
    /// 1 = best, after the final ranking (tech_rating, then alpha_score, then symbol).
    pub rank: usize,
    pub symbol: String,
    pub name: Option<String>,
    pub sector: Option<String>,
    pub signal: Signal,
    pub tech_rating: f64,
    /// Percentile (0–1) of the multi-factor composite within this scan's results; `None` when the
    /// symbol lacks every factor.
    pub alpha_score: Option<f64>,
    pub high_quality: bool,
    pub date: NaiveDate,
    pub close: f64,
    /// Change of the latest close against the previous one, in percent.
    pub change_pct: f64,
    pub volume: f64,
    pub avg_volume_20: f64,
    pub trend_direction: TrendDirection,
    pub trend_score: f64,
    pub momentum_score: f64,
    pub volume_score: f64,
    pub volatility_score: f64,
    pub bars: usize,
    /// The symbol's priority tier; `None` when prioritisation is off.
    pub priority_tier: Option<Tier>,
    /// Batch of the scan order this symbol was in (batches of the engine's batch size, from 1).
    pub batch_number: usize,
    /// Place in the scan order, from 1.
    pub position: usize,
    /// Symbols finished when this result was emitted (this one included), and those left.
    pub total_processed: usize,
    pub total_remaining: usize,
    /// Latest value of every indicator column, `null` during its warm-up.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, Option<f64>>))]
    pub indicators: IndicatorValues,
}

impl ScanResult {
    /// A rated symbol's result before the scan places and ranks it (rank, alpha score, tier and
    /// positions are the scan's to fill in).
    pub fn new(info: &SymbolInfo, evaluation: Evaluation) -> Self {
        let rating = evaluation.rating;
        Self {
            rank: 0,
            symbol: info.symbol.clone(),
            name: info.name.clone(),
            sector: info.sector.clone(),
            signal: rating.signal,
            tech_rating: rating.tech_rating,
            alpha_score: None,
            high_quality: evaluation.high_quality,
            date: evaluation.date,
            close: evaluation.close,
            change_pct: evaluation.change_pct,
            volume: evaluation.volume,
            avg_volume_20: evaluation.avg_volume_20,
            trend_direction: rating.trend_direction,
            trend_score: rating.trend_score,
            momentum_score: rating.momentum_score,
            volume_score: rating.volume_score,
            volatility_score: rating.volatility_score,
            bars: evaluation.bars,
            priority_tier: None,
            batch_number: 0,
            position: 0,
            total_processed: 0,
            total_remaining: 0,
            indicators: OrderedMap(evaluation.indicators),
        }
    }
}

/// Name–value pairs kept in their order and serialised as one JSON object (a map type would sort
/// them or need a dependency; the order, e.g. indicator columns or stages, is part of the output).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<K, V>(pub Vec<(K, V)>);

impl<K: Serialize, V: Serialize> Serialize for OrderedMap<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// A key of an [`OrderedMap`] read back from JSON.
pub trait MapKey: Sized {
    fn from_key(key: String) -> Self;
}

impl MapKey for String {
    fn from_key(key: String) -> Self {
        key
    }
}

/// Stage names: the only `&'static str` keys technic writes.
impl MapKey for &'static str {
    fn from_key(key: String) -> Self {
        technic_core::progress::Stage::ALL
            .into_iter()
            .map(technic_core::progress::Stage::as_str)
            .find(|name| *name == key)
            .unwrap_or("unknown")
    }
}

/// Read back in the order written (results relayed between server replicas and workers).
impl<'de, K: MapKey, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: MapKey, V: Deserialize<'de>> serde::de::Visitor<'de> for Entries<K, V> {
            type Value = OrderedMap<K, V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((key, value)) = map.next_entry::<String, V>()? {
                    entries.push((K::from_key(key), value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// Latest value of each indicator column, `None` during its warm-up.
pub type IndicatorValues = OrderedMap<String, Option<f64>>;

impl IndicatorValues {
    pub fn get(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).and_then(|(_, v)| *v)
    }
}

/// Seconds per stage, in stage order.
pub type StageSeconds = OrderedMap<&'static str, f64>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DiagnosticKind {
    /// Data fine, but the symbol was filtered out or has too little history.
    Skipped,
    /// The symbol's data could not be used; the message names the file, line and problem.
    Error,
}

/// Why a symbol is not a result, finer than `DiagnosticKind`: `skipped` covers the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DiagnosticCause {
    /// Removed by the request's filters: `min_price`, `min_avg_volume`, `min_tech_rating` or the
    /// screen.
    Filtered,
    /// No bars, too little history, or none of the rating's readings.
    NoData,
    /// The scan stopped before reaching it.
    NotScanned,
    /// The symbol's data could not be used (`kind` = `error`).
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Diagnostic {
    pub symbol: String,
    pub kind: DiagnosticKind,
    /// Absent only from reports of servers older than this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<DiagnosticCause>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanMetrics {
    /// Symbols the scan set out to process (after the universe filters).
    pub symbols_total: usize,
    /// Symbols whose indicators were computed.
    pub symbols_scanned: usize,
    pub results: usize,
    /// Diagnostics of kind `skipped`: `filtered_out + no_data + not_scanned`.
    pub skipped: usize,
    pub errors: usize,
    /// The parts of `skipped`, so that `results + filtered_out + no_data + not_scanned + errors =
    /// symbols_total`; 0 in reports of servers older than these fields.
    #[serde(default)]
    pub filtered_out: usize,
    #[serde(default)]
    pub no_data: usize,
    #[serde(default)]
    pub not_scanned: usize,
    pub high_quality_signals: usize,
    pub bars_loaded: usize,
    pub seconds_total: f64,
    /// Seconds per stage, in stage order.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, f64>))]
    pub stage_seconds: StageSeconds,
    pub symbols_per_second: f64,
    pub bars_per_second: f64,
    /// Seconds from the start of the scan to its first result.
    pub time_to_first_result: Option<f64>,
    pub early_terminated: bool,
    /// Prioritisation quality: the place, in the order symbols finished, of the first high-quality
    /// signal, and the number of symbols finished when the fifth arrived.
    pub first_signal_position: Option<usize>,
    pub symbols_to_5_signals: Option<usize>,
    /// High-quality signals per symbol scanned in the `high` tier, and over all symbols scanned.
    pub high_tier_signal_rate: Option<f64>,
    pub universe_signal_rate: Option<f64>,
    /// Priority snapshots answered from the scanner's snapshot cache (concurrent and repeated
    /// scans of the same data share them for a minute), and those read from the source.
    pub cache_hits: usize,
    pub cache_misses: usize,
    /// Bar reads the source answered from its cache (Redis or in-process, or the local bar
    /// store), and those it had to fetch; both 0 for a source without a cache.
    pub source_cache_hits: usize,
    pub source_cache_misses: usize,
    /// Symbols whose analysis (indicators, rating) another scan had computed from the same bars,
    /// and those this scan computed itself; both 0 unless the scanner shares analyses (`technic
    /// serve` does).
    pub analyses_shared: usize,
    /// Symbols whose analysis this scan computed (and shared, if the scanner shares analyses).
    pub analyses_computed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanReport {
    pub scan_id: String,
    pub status: ScanStatus,
    /// Why the scan stopped early (`status` = `stopped`).
    pub stop_reason: Option<String>,
    pub data_source: SourceInfo,
    /// The newest bar date among the results.
    pub as_of: Option<NaiveDate>,
    pub results: Vec<ScanResult>,
    pub diagnostics: Vec<Diagnostic>,
    pub metrics: ScanMetrics,
}

/// A result's final place in the ranking: what the final message says of each result, whose other
/// fields its subscribers already have from the result's own message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RankedSymbol {
    pub symbol: String,
    /// 1 = best.
    pub rank: usize,
    /// The exact percentile over everything rated, which replaces the streamed estimate.
    pub alpha_score: Option<f64>,
    /// The final rating, signal and quality: under the standard rating, the exact percentile in
    /// the scan's cross-section, which replaces the streamed placement.
    pub tech_rating: f64,
    pub signal: Signal,
    pub high_quality: bool,
}

// The results were each streamed as they came, so the final message names them instead of
// repeating them: with every result whole, the final message of a 506-symbol scan was 690 KiB,
// every subscriber of every scan took one at its scan's end, and fifty scans ending together held
// the delivery of everything else by up to 150 ms (docs/benchmarks.md).
/// What a scan's final (`complete`) message carries: the ranking of the results already streamed
/// (symbol, rank, final alpha score and rating), the diagnostics and the metrics. The whole report, results
/// included, is at the scan's `results_url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanSummary {
    pub scan_id: String,
    pub status: ScanStatus,
    /// Why the scan stopped early (`status` = `stopped`).
    pub stop_reason: Option<String>,
    pub data_source: SourceInfo,
    /// The newest bar date among the results.
    pub as_of: Option<NaiveDate>,
    /// Every result, best first.
    pub ranking: Vec<RankedSymbol>,
    /// Every symbol that is not a result, and why (these are not streamed).
    pub diagnostics: Vec<Diagnostic>,
    pub metrics: ScanMetrics,
}

impl ScanReport {
    pub fn summary(&self) -> ScanSummary {
        ScanSummary {
            scan_id: self.scan_id.clone(),
            status: self.status,
            stop_reason: self.stop_reason.clone(),
            data_source: self.data_source.clone(),
            as_of: self.as_of,
            ranking: self
                .results
                .iter()
                .map(|r| RankedSymbol {
                    symbol: r.symbol.clone(),
                    rank: r.rank,
                    alpha_score: r.alpha_score,
                    tech_rating: r.tech_rating,
                    signal: r.signal,
                    high_quality: r.high_quality,
                })
                .collect(),
            diagnostics: self.diagnostics.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
