//! Prometheus metrics of one server (a registry per app, so tests do not share counters).

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};
use technic_core::priority::Tier;
use technic_engine::{ScanOutcome, ScanStatus};

// Metric names, help texts and buckets below are constants; the constructors only fail on invalid
// ones, so a failure is a programming error caught by the first test that builds an app.
const CONSTANT: &str = "metric options are constants and valid";

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub scans: IntCounterVec,
    pub early_terminations: IntCounter,
    pub active_scans: IntGauge,
    pub active_streams: IntGauge,
    /// Finished scans kept for their clients, and the estimate of the bytes they take.
    pub retained_scans: IntGauge,
    pub retained_scan_bytes: IntGauge,
    pub time_to_first_result: Histogram,
    pub scan_duration: Histogram,
    pub symbols_per_second: Gauge,
    pub delivery_latency: Histogram,
    pub websocket_errors: IntCounter,
    pub high_tier_signal_rate: Gauge,
    pub universe_signal_rate: Gauge,
    /// Reads answered by a cache, and reads that went to the source, by cache.
    pub cache_hits: IntCounterVec,
    pub cache_misses: IntCounterVec,
    /// Of the last finished scan's high-quality signals, the share prioritisation put in the high
    /// tier (the seeds' "priority accuracy"; unprioritised order would give the tier's share of
    /// the universe).
    pub priority_accuracy: Gauge,
    /// Streams opened, by transport, and those that resumed from a `seq` (a reconnection): their
    /// ratio is the seeds' reconnection rate.
    pub stream_connections: IntCounterVec,
    pub stream_reconnections: IntCounterVec,
    /// Seconds each stage of a finished scan took, by stage.
    pub stage_duration: HistogramVec,
    /// Request to response head (for a stream, until it starts), by route pattern, method and status.
    pub http_duration: HistogramVec,
    /// TCP connections accepted and not yet closed.
    pub open_connections: IntGauge,
    /// The memory limit of the process's control group (a container's limit), 0 when there is
    /// none; `process_resident_memory_bytes` over it is the share of the limit in use.
    pub memory_limit: IntGauge,
    /// The standard `process_*` metrics (memory, CPU, open files), kept apart from `registry`
    /// because its prefix would rename them and every dashboard expects the standard names.
    process: Registry,
}

fn histogram(name: &str, help: &str, start: f64, count: usize) -> Histogram {
    let buckets = prometheus::exponential_buckets(start, 2.0, count).expect(CONSTANT);
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect(CONSTANT)
}

impl Metrics {
    // Long on purpose: every metric's name, help and buckets in one list; there is no logic to split.
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::new_custom(Some("technic".into()), None).expect(CONSTANT),
            scans: IntCounterVec::new(
                Opts::new("scans_total", "Scans finished, by status"),
                &["status"],
            )
            .expect(CONSTANT),
            early_terminations: IntCounter::new(
                "early_terminations_total",
                "Scans stopped early (criteria or manual)",
            )
            .expect(CONSTANT),
            active_scans: IntGauge::new("active_scans", "Scans running now").expect(CONSTANT),
            active_streams: IntGauge::new("active_streams", "WebSocket and SSE streams open now")
                .expect(CONSTANT),
            retained_scans: IntGauge::new(
                "retained_scans",
                "Finished scans kept (MAX_RETAINED_SCANS, SCAN_RETENTION_SECONDS)",
            )
            .expect(CONSTANT),
            retained_scan_bytes: IntGauge::new(
                "retained_scan_bytes",
                "Estimated bytes of the finished scans kept (MAX_RETAINED_SCAN_BYTES)",
            )
            .expect(CONSTANT),
            time_to_first_result: histogram(
                "time_to_first_result_seconds",
                "Scan start to its first result",
                0.001,
                14,
            ),
            scan_duration: histogram("scan_duration_seconds", "Scan start to its end", 0.01, 14),
            symbols_per_second: Gauge::new(
                "symbols_per_second",
                "Throughput of the last finished scan",
            )
            .expect(CONSTANT),
            delivery_latency: histogram(
                "delivery_latency_seconds",
                "Message emitted by a scan to written to a stream",
                0.0001,
                16,
            ),
            websocket_errors: IntCounter::new(
                "websocket_errors_total",
                "WebSocket sends that failed or timed out",
            )
            .expect(CONSTANT),
            high_tier_signal_rate: Gauge::new(
                "priority_high_tier_signal_rate",
                "High-quality signals per high-tier symbol, last scan",
            )
            .expect(CONSTANT),
            universe_signal_rate: Gauge::new(
                "priority_universe_signal_rate",
                "High-quality signals per symbol, last scan",
            )
            .expect(CONSTANT),
            cache_hits: IntCounterVec::new(
                Opts::new("cache_hits_total", "Reads answered by a cache, by cache"),
                &["cache"],
            )
            .expect(CONSTANT),
            cache_misses: IntCounterVec::new(
                Opts::new(
                    "cache_misses_total",
                    "Reads a cache could not answer, by cache",
                ),
                &["cache"],
            )
            .expect(CONSTANT),
            priority_accuracy: Gauge::new(
                "priority_accuracy",
                "Share of the last scan's high-quality signals found in the high tier (0-1)",
            )
            .expect(CONSTANT),
            stream_connections: IntCounterVec::new(
                Opts::new(
                    "stream_connections_total",
                    "Streams opened, by transport (websocket, sse)",
                ),
                &["transport"],
            )
            .expect(CONSTANT),
            stream_reconnections: IntCounterVec::new(
                Opts::new(
                    "stream_reconnections_total",
                    "Streams opened that resumed after a seq (reconnections), by transport",
                ),
                &["transport"],
            )
            .expect(CONSTANT),
            stage_duration: HistogramVec::new(
                HistogramOpts::new(
                    "stage_duration_seconds",
                    "Seconds per stage of finished scans",
                )
                .buckets(prometheus::exponential_buckets(0.001, 2.0, 18).expect(CONSTANT)),
                &["stage"],
            )
            .expect(CONSTANT),
            http_duration: HistogramVec::new(
                HistogramOpts::new(
                    "http_request_duration_seconds",
                    "Request to response head, by route, method and status",
                )
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).expect(CONSTANT)),
                &["route", "method", "status"],
            )
            .expect(CONSTANT),
            open_connections: IntGauge::new(
                "open_connections",
                "TCP connections accepted and not yet closed",
            )
            .expect(CONSTANT),
            memory_limit: IntGauge::new(MEMORY_LIMIT, MEMORY_LIMIT_HELP).expect(CONSTANT),
            process: Registry::new(),
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 22] = [
            Box::new(metrics.scans.clone()),
            Box::new(metrics.early_terminations.clone()),
            Box::new(metrics.active_scans.clone()),
            Box::new(metrics.active_streams.clone()),
            Box::new(metrics.retained_scans.clone()),
            Box::new(metrics.retained_scan_bytes.clone()),
            Box::new(metrics.time_to_first_result.clone()),
            Box::new(metrics.scan_duration.clone()),
            Box::new(metrics.symbols_per_second.clone()),
            Box::new(metrics.delivery_latency.clone()),
            Box::new(metrics.websocket_errors.clone()),
            Box::new(metrics.high_tier_signal_rate.clone()),
            Box::new(metrics.universe_signal_rate.clone()),
            Box::new(metrics.cache_hits.clone()),
            Box::new(metrics.cache_misses.clone()),
            Box::new(metrics.priority_accuracy.clone()),
            Box::new(metrics.stream_connections.clone()),
            Box::new(metrics.stream_reconnections.clone()),
            Box::new(metrics.stage_duration.clone()),
            Box::new(metrics.http_duration.clone()),
            Box::new(metrics.open_connections.clone()),
            Box::new(metrics.memory_limit.clone()),
        ];
        for collector in collectors {
            metrics.registry.register(collector).expect(CONSTANT);
        }
        // The collector reads /proc, so Linux only (where technic is deployed).
        #[cfg(target_os = "linux")]
        metrics
            .process
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect(CONSTANT);
        for transport in ["websocket", "sse"] {
            // Present from the start, so a rate over them is 0 rather than absent.
            metrics.stream_connections.with_label_values(&[transport]);
            metrics.stream_reconnections.with_label_values(&[transport]);
        }
        metrics
    }

    /// Records a stream that opened from `from` (0: the beginning).
    pub fn stream_opened(&self, transport: &str, from: u64) {
        self.stream_connections
            .with_label_values(&[transport])
            .inc();
        if from > 0 {
            self.stream_reconnections
                .with_label_values(&[transport])
                .inc();
        }
    }

    /// Records a scan that could not run (its source failed, or it panicked).
    pub fn scan_failed(&self) {
        self.scans.with_label_values(&["failed"]).inc();
    }

    /// Records a finished scan.
    pub fn scan_finished(&self, outcome: &ScanOutcome) {
        let report = &outcome.report;
        let status = match report.status {
            ScanStatus::Completed => "completed",
            ScanStatus::Stopped => "stopped",
            _ => "failed",
        };
        self.scans.with_label_values(&[status]).inc();
        if report.metrics.early_terminated {
            self.early_terminations.inc();
        }
        if let Some(first) = report.metrics.time_to_first_result {
            self.time_to_first_result.observe(first);
        }
        self.scan_duration.observe(report.metrics.seconds_total);
        let m = &report.metrics;
        for (cache, hits, misses) in [
            ("snapshot", m.cache_hits, m.cache_misses),
            ("bars", m.source_cache_hits, m.source_cache_misses),
            ("analyses", m.analyses_shared, m.analyses_computed),
        ] {
            let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
            self.cache_hits
                .with_label_values(&[cache])
                .inc_by(count(hits));
            self.cache_misses
                .with_label_values(&[cache])
                .inc_by(count(misses));
        }
        self.symbols_per_second
            .set(report.metrics.symbols_per_second);
        if let (Some(high), Some(all)) = (
            report.metrics.high_tier_signal_rate,
            report.metrics.universe_signal_rate,
        ) {
            self.high_tier_signal_rate.set(high);
            self.universe_signal_rate.set(all);
        }
        for (stage, seconds) in &report.metrics.stage_seconds.0 {
            self.stage_duration
                .with_label_values(&[stage])
                .observe(*seconds);
        }
        if let Some(accuracy) = priority_accuracy(outcome) {
            self.priority_accuracy.set(accuracy);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.memory_limit.set(memory_limit_gauge_value());
        let mut families = self.registry.gather();
        families.extend(self.process.gather());
        encode(&families)
    }
}

const MEMORY_LIMIT: &str = "memory_limit_bytes";
const MEMORY_LIMIT_HELP: &str = "Memory limit of the process's control group (0: none)";

/// The standard `process_*` metrics and `technic_memory_limit_bytes` of this process, for a
/// process without a server's [`Metrics`] (`technic worker`): the memory alert and the resources
/// panels cover every process.
pub fn process_metrics() -> String {
    let registry = Registry::new_custom(Some("technic".into()), None).expect(CONSTANT);
    let limit = IntGauge::new(MEMORY_LIMIT, MEMORY_LIMIT_HELP).expect(CONSTANT);
    limit.set(memory_limit_gauge_value());
    registry.register(Box::new(limit)).expect(CONSTANT);
    let mut families = registry.gather();
    // Unprefixed, as every exporter names them (a registry's prefix would apply to them too).
    #[cfg(target_os = "linux")]
    families.extend(prometheus::core::Collector::collect(
        &prometheus::process_collector::ProcessCollector::for_self(),
    ));
    encode(&families)
}

fn encode(families: &[prometheus::proto::MetricFamily]) -> String {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(families, &mut out) {
        tracing::error!(error = %e, "encoding metrics");
    }
    String::from_utf8(out).unwrap_or_default()
}

fn memory_limit_gauge_value() -> i64 {
    memory_limit().map_or(0, |b| i64::try_from(b).unwrap_or(i64::MAX))
}

/// Of a finished scan's high-quality signals, the share in the high tier; `None` when it found
/// none or was not prioritised (no tiers).
fn priority_accuracy(outcome: &ScanOutcome) -> Option<f64> {
    let signals: Vec<_> = outcome
        .report
        .results
        .iter()
        .filter(|r| r.high_quality)
        .collect();
    if signals.is_empty() || signals.iter().all(|r| r.priority_tier.is_none()) {
        return None;
    }
    let high = signals
        .iter()
        .filter(|r| r.priority_tier == Some(Tier::High))
        .count();
    Some(high as f64 / signals.len() as f64)
}

/// The memory limit of this process's control group: cgroup v2's `memory.max`, else v1's
/// `memory.limit_in_bytes`; `None` when unlimited (v2 says `max`; v1 gives a number near
/// `i64::MAX`) or not in a control group.
fn memory_limit() -> Option<u64> {
    let read = |path: &str| std::fs::read_to_string(path).ok();
    let text = read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))?;
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&bytes| bytes < 1 << 60)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
