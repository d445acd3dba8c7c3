//! Prometheus metrics of one server (a registry per app, so tests do not share counters).

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
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
}

fn histogram(name: &str, help: &str, start: f64, count: usize) -> Histogram {
    let buckets = prometheus::exponential_buckets(start, 2.0, count).expect(CONSTANT);
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect(CONSTANT)
}

impl Metrics {
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
        };
        let collectors: [Box<dyn prometheus::core::Collector>; 15] = [
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
        ];
        for collector in collectors {
            metrics.registry.register(collector).expect(CONSTANT);
        }
        metrics
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
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
