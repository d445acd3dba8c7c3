//! What scans learn and what they hand back to be remembered. Plain data: the engine never touches
//! a database; the caller loads [`Learned`] before a scan and stores the [`LearningUpdate`] after.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use technic_core::alpha::AlphaReference;
use technic_core::priority::SymbolHistory;
use technic_core::rating::Signal;

/// What earlier scans left, as the engine needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learned {
    /// Per symbol (upper case).
    pub histories: HashMap<String, SymbolHistory>,
    /// The last completed scan's alpha distribution, if fresh enough to score streamed results.
    pub alpha_reference: Option<AlphaReference>,
}

/// One scanned symbol's outcome, to be added to its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolOutcome {
    pub symbol: String,
    pub tech_rating: f64,
    pub high_quality: bool,
    /// ISO date of the newest bar the scan saw.
    pub date: String,
    /// The signal the rating gave, kept in the symbol's dated history.
    pub signal: Signal,
    /// Its alpha score in the scan's final ranking (none when the scan could not score it).
    pub alpha_score: Option<f64>,
}

/// A sector's figures in one completed scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectorStats {
    pub sector: String,
    pub symbols: usize,
    pub mean_rating: f64,
    pub signal_rate: f64,
}

/// What one scan hands back to be remembered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LearningUpdate {
    pub outcomes: Vec<SymbolOutcome>,
    /// Only from a completed scan: a stopped one saw part of the universe, so its distribution and
    /// sector figures would mislead the next scan.
    pub alpha_reference: Option<AlphaReference>,
    pub sector_stats: Vec<SectorStats>,
}

impl Learned {
    /// Folds a scan's outcomes into the histories, as the store does; used by replays that keep
    /// what they learn in memory.
    pub fn apply(&mut self, update: &LearningUpdate) {
        for outcome in &update.outcomes {
            let history = self.histories.entry(outcome.symbol.clone()).or_default();
            history.scans += 1;
            history.signals += u32::from(outcome.high_quality);
            history.last_rating = Some(outcome.tech_rating);
            history.last_scan_date = Some(outcome.date.clone());
        }
        if let Some(reference) = &update.alpha_reference
            && self
                .alpha_reference
                .as_ref()
                .is_none_or(|stored| reference.breadth() >= stored.breadth())
        {
            self.alpha_reference = Some(reference.clone());
        }
    }
}
