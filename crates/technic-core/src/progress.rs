//! The multi-stage progress model: four weighted stages, per-stage and overall progress, ETAs and
//! throughput.
//!
//! Time is an argument (`now`, seconds since the scan started) so the model never reads a clock:
//! the engine passes real time, tests pass whatever they like.
//!
//! Progress never moves backwards: a smaller count than one already seen is ignored.

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Stage {
    UniverseLoading,
    DataFetching,
    SymbolScanning,
    Finalization,
}

impl Stage {
    pub const ALL: [Stage; 4] = [
        Stage::UniverseLoading,
        Stage::DataFetching,
        Stage::SymbolScanning,
        Stage::Finalization,
    ];

    /// Shares of the overall progress (DESIGN.md); they sum to 1.
    pub fn weight(self) -> f64 {
        match self {
            Stage::UniverseLoading => 0.05,
            Stage::DataFetching => 0.20,
            Stage::SymbolScanning => 0.70,
            Stage::Finalization => 0.05,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::UniverseLoading => "universe_loading",
            Stage::DataFetching => "data_fetching",
            Stage::SymbolScanning => "symbol_scanning",
            Stage::Finalization => "finalization",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ScanStatus {
    Pending,
    Running,
    Completed,
    Stopped,
    Failed,
}

impl ScanStatus {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ScanStatus::Completed | ScanStatus::Stopped | ScanStatus::Failed
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct StageState {
    done: u64,
    total: u64,
    started_at: Option<f64>,
    finished_at: Option<f64>,
    /// Ended by a stop before its work was done: it keeps the share it had done.
    cut_short: bool,
}

impl StageState {
    fn progress(&self) -> f64 {
        match (self.finished_at, self.cut_short, self.total) {
            (Some(_), false, _) => 100.0,
            (_, _, 0) => 0.0,
            (_, _, total) => (self.done.min(total) as f64 / total as f64) * 100.0,
        }
    }
}

/// Tracks one scan's progress. Not thread-safe by itself; the engine keeps it behind a lock.
#[derive(Debug, Clone)]
pub struct ProgressTracker {
    scan_id: String,
    status: ScanStatus,
    current: Stage,
    stages: [StageState; 4],
    message: String,
}

impl ProgressTracker {
    pub fn new(scan_id: impl Into<String>) -> Self {
        Self {
            scan_id: scan_id.into(),
            status: ScanStatus::Pending,
            current: Stage::UniverseLoading,
            stages: [StageState::default(); 4],
            message: String::from("Waiting to start"),
        }
    }

    /// Enters `stage` with `total` items of work; earlier stages count as finished.
    pub fn start_stage(&mut self, stage: Stage, total: u64, now: f64, message: impl Into<String>) {
        self.status = ScanStatus::Running;
        for earlier in &Stage::ALL[..stage.index()] {
            let state = &mut self.stages[earlier.index()];
            state.finished_at.get_or_insert(now);
            state.started_at.get_or_insert(now);
        }
        self.current = stage;
        let state = &mut self.stages[stage.index()];
        *state = StageState {
            done: 0,
            total,
            started_at: Some(now),
            finished_at: None,
            cut_short: false,
        };
        self.message = message.into();
    }

    /// Records that `done` of the current stage's items are finished. Workers report out of order,
    /// so a smaller count than already seen is ignored: progress never goes backwards.
    pub fn advance(&mut self, done: u64, message: impl Into<String>) {
        let state = &mut self.stages[self.current.index()];
        if done >= state.done {
            state.done = done;
            self.message = message.into();
        }
    }

    pub fn finish_stage(&mut self, stage: Stage, now: f64) {
        let state = &mut self.stages[stage.index()];
        state.done = state.total;
        state.started_at.get_or_insert(now);
        state.finished_at = Some(now);
    }

    /// Ends `stage` where a stop left it, so a stopped scan's progress says how far it got instead
    /// of jumping to 100 % when the next stage starts.
    pub fn cut_short(&mut self, stage: Stage, now: f64) {
        let state = &mut self.stages[stage.index()];
        state.started_at.get_or_insert(now);
        state.finished_at.get_or_insert(now);
        state.cut_short = true;
    }

    /// Ends the scan; `Completed` also marks every stage finished.
    pub fn finish(&mut self, status: ScanStatus, now: f64, message: impl Into<String>) {
        if status == ScanStatus::Completed {
            for stage in Stage::ALL {
                if self.stages[stage.index()].finished_at.is_none() {
                    self.finish_stage(stage, now);
                }
            }
        }
        self.status = status;
        self.message = message.into();
    }

    pub fn status(&self) -> ScanStatus {
        self.status
    }

    /// Seconds each finished stage took, in stage order.
    pub fn stage_seconds(&self) -> Vec<(Stage, f64)> {
        Stage::ALL
            .iter()
            .filter_map(|&stage| {
                let s = &self.stages[stage.index()];
                Some((stage, s.finished_at? - s.started_at?))
            })
            .collect()
    }

    pub fn snapshot(&self, now: f64) -> ProgressSnapshot {
        let overall: f64 = Stage::ALL
            .iter()
            .map(|s| s.weight() * self.stages[s.index()].progress())
            .sum();
        let current = &self.stages[self.current.index()];
        let stage_elapsed = current.started_at.map_or(0.0, |t| (now - t).max(0.0));
        let stage_throughput = if stage_elapsed > 0.0 {
            current.done as f64 / stage_elapsed
        } else {
            0.0
        };
        let finished = self.status.is_finished();
        let stage_eta = if finished {
            Some(0.0)
        } else if stage_throughput > 0.0 {
            Some(current.total.saturating_sub(current.done) as f64 / stage_throughput)
        } else {
            None
        };
        // The overall rate so far extrapolated over what is left: simple, and honest about being an estimate.
        let overall_eta = if finished {
            Some(0.0)
        } else if overall > 0.0 && now > 0.0 {
            Some(now * (100.0 - overall) / overall)
        } else {
            None
        };
        ProgressSnapshot {
            scan_id: self.scan_id.clone(),
            status: self.status,
            current_stage: self.current,
            stages: StageTable(Stage::ALL.map(|s| (s, self.stages[s.index()].progress()))),
            overall_progress: round2(overall),
            overall_eta: overall_eta.map(round2),
            overall_eta_formatted: overall_eta.map(format_eta),
            stage_progress: round2(current.progress()),
            stage_eta: stage_eta.map(round2),
            stage_eta_formatted: stage_eta.map(format_eta),
            stage_throughput: round2(stage_throughput),
            elapsed: round2(now),
            message: self.message.clone(),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A point-in-time view of a scan's progress: the JSON shape of DESIGN.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProgressSnapshot {
    pub scan_id: String,
    pub status: ScanStatus,
    pub current_stage: Stage,
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, StageProgress>))]
    pub stages: StageTable,
    /// 0–100, the weighted sum of the stages' progress.
    pub overall_progress: f64,
    /// Seconds; `None` until there is a rate to extrapolate from.
    pub overall_eta: Option<f64>,
    pub overall_eta_formatted: Option<String>,
    pub stage_progress: f64,
    pub stage_eta: Option<f64>,
    pub stage_eta_formatted: Option<String>,
    /// Items of the current stage finished per second.
    pub stage_throughput: f64,
    /// Seconds since the scan started.
    pub elapsed: f64,
    pub message: String,
}

/// Each stage's progress (0–100), serialised as `{"stage": {"weight": w, "progress": p}, …}` in stage order.
#[derive(Debug, Clone, PartialEq)]
pub struct StageTable(pub [(Stage, f64); 4]);

impl StageTable {
    pub fn progress(&self, stage: Stage) -> f64 {
        self.0[stage.index()].1
    }
}

/// One stage's entry in `stages`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StageProgress {
    /// The stage's share of the overall progress.
    pub weight: f64,
    /// 0–100.
    pub progress: f64,
}

impl Serialize for StageTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4))?;
        for (stage, progress) in &self.0 {
            map.serialize_entry(
                stage.as_str(),
                &StageProgress {
                    weight: stage.weight(),
                    progress: round2(*progress),
                },
            )?;
        }
        map.end()
    }
}

/// Read back as written (a snapshot relayed between server replicas): stages by name, in any
/// order; a stage missing is at 0.
impl<'de> Deserialize<'de> for StageTable {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = std::collections::HashMap::<Stage, StageProgress>::deserialize(deserializer)?;
        Ok(StageTable(Stage::ALL.map(|stage| {
            (
                stage,
                entries.get(&stage).map_or(0.0, |entry| entry.progress),
            )
        })))
    }
}

/// `"2m 1s"`, `"45s"`, `"1h 5m"`; sub-second estimates read `"<1s"`.
pub fn format_eta(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return String::from("unknown");
    }
    if seconds < 0.5 && seconds > 0.0 {
        return String::from("<1s");
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_cut_short_keeps_its_share_when_the_next_one_starts() {
        let mut tracker = ProgressTracker::new("s");
        tracker.start_stage(Stage::SymbolScanning, 100, 1.0, "scanning");
        tracker.advance(25, "25 of 100");
        tracker.cut_short(Stage::SymbolScanning, 2.0);
        tracker.start_stage(Stage::Finalization, 1, 2.0, "ranking");
        tracker.finish(ScanStatus::Stopped, 2.5, "stopped");
        let snapshot = tracker.snapshot(2.5);
        assert_eq!(snapshot.stages.progress(Stage::SymbolScanning), 25.0);
        // Earlier stages finished, scanning a quarter done, finalisation not finished.
        let expected = (0.05 + 0.20 + 0.70 * 0.25) * 100.0;
        assert!(
            (snapshot.overall_progress - expected).abs() < 0.01,
            "{} vs {expected}",
            snapshot.overall_progress
        );
    }

    #[test]
    fn eta_formats_like_the_brief() {
        assert_eq!(format_eta(120.5), "2m 1s");
        assert_eq!(format_eta(90.3), "1m 30s");
        assert_eq!(format_eta(45.0), "45s");
        assert_eq!(format_eta(3900.0), "1h 5m");
        assert_eq!(format_eta(0.2), "<1s");
        assert_eq!(format_eta(0.0), "0s");
    }

    #[test]
    fn overall_progress_is_the_weighted_sum_and_etas_follow_throughput() {
        let mut t = ProgressTracker::new("scan_1");
        t.start_stage(Stage::UniverseLoading, 1, 0.0, "Loading universe");
        t.start_stage(Stage::DataFetching, 10, 1.0, "Fetching");
        t.start_stage(Stage::SymbolScanning, 100, 2.0, "Scanning");
        t.advance(45, "Scanning AAPL (45/100)");
        let s = t.snapshot(11.0);
        assert_eq!(s.status, ScanStatus::Running);
        assert_eq!(s.current_stage, Stage::SymbolScanning);
        assert_eq!(s.stages.progress(Stage::DataFetching), 100.0);
        assert_eq!(s.overall_progress, 56.5); // 5 + 20 + 0.7 * 45
        assert_eq!(s.stage_progress, 45.0);
        assert_eq!(s.stage_throughput, 5.0); // 45 items in 9 s
        assert_eq!(s.stage_eta, Some(11.0)); // 55 left at 5/s
        assert_eq!(s.stage_eta_formatted.as_deref(), Some("11s"));
        assert_eq!(s.overall_eta, Some(round2(11.0 * 43.5 / 56.5)));
        t.finish(ScanStatus::Completed, 12.0, "Done");
        let done = t.snapshot(12.0);
        assert_eq!(done.overall_progress, 100.0);
        assert_eq!(done.overall_eta, Some(0.0));
        assert_eq!(t.stage_seconds().len(), 4);
    }

    #[test]
    fn late_reports_of_smaller_counts_do_not_move_progress_back() {
        let mut t = ProgressTracker::new("s");
        t.start_stage(Stage::SymbolScanning, 10, 0.0, "Scanning");
        t.advance(8, "Scanning B (8/10)");
        t.advance(7, "Scanning A (7/10)");
        let s = t.snapshot(1.0);
        assert_eq!(
            (s.stage_progress, s.message.as_str()),
            (80.0, "Scanning B (8/10)")
        );
    }

    #[test]
    fn a_stage_with_no_rate_yet_has_no_eta() {
        let mut t = ProgressTracker::new("s");
        t.start_stage(Stage::DataFetching, 10, 0.0, "Fetching");
        let s = t.snapshot(0.0);
        assert_eq!(s.stage_eta, None);
        assert_eq!(s.overall_eta_formatted, None);
    }
}
