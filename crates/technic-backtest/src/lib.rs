//! What a scanner's factors were worth: statistics over a point-in-time panel.
//!
//! The panel is built elsewhere (the engine evaluates every symbol as of every date, exactly as
//! `technic scan --as-of` would); this crate only does arithmetic on it, so it has no IO, no
//! threads and no clock, and its numbers can be checked against a reference implementation
//! (alphalens) on the very same inputs.
//!
//! Rules: `serde` derive only (serde_json is a dev-dependency; `tests/boundary.rs` fails if a
//! runtime, a thread pool, a JSON codec or a data crate is added); the same panel and options give
//! the same report, bit for bit. A panel of the wrong shape or bad options are a `StatsError`
//! naming the part that is wrong, never a panic. Missing values (NaN, ±∞) are dropped per statistic
//! and counted, never read as zero. IC, quantile returns, turnover and the Newey–West t-stats equal
//! alphalens-reloaded's and statsmodels' within 1e-9 on real data (`tests/alphalens_reference.rs`);
//! docs/backtest.md defines each statistic and where it differs from alphalens.

mod analyse;
mod arith;
mod factor;
mod portfolio;
mod render;
mod report;
mod signals;

use chrono::NaiveDate;
use serde::Serialize;
use technic_core::rating::Signal;

pub use analyse::{FactorJob, analyse, analyse_with};
pub use render::{render_csv, render_html, render_panel_csv, render_table};
pub use report::*;

/// Values for every (date, symbol) cell, row-major by date: `values[date * symbols + symbol]`.
/// `NaN` means "no value": the symbol was not in the universe that date, or the value is undefined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grid {
    pub values: Vec<f64>,
}

/// A factor to judge: higher values are expected to precede higher returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Factor {
    /// As the user named it (`tech_rating`, `rsi_14`, …).
    pub name: String,
    pub values: Grid,
}

/// Forward return over `horizon` trading days: adjusted close at t to adjusted close at t+h,
/// as a fraction (0.01 = 1 %). `NaN` where t+h is beyond the data: never a zero.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForwardReturns {
    pub horizon: usize,
    pub values: Grid,
}

/// The signal a scan gave a (date, symbol), for the signal-group tables and selectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignalCell {
    pub signal: Signal,
    pub high_quality: bool,
}

/// Everything the statistics need, point in time. Built by the engine; read-only here.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Panel {
    /// Evaluation dates, ascending.
    pub dates: Vec<NaiveDate>,
    /// Every symbol that appears on any date, in a fixed order.
    pub symbols: Vec<String>,
    pub factors: Vec<Factor>,
    /// One entry per horizon, ascending by horizon.
    pub forward_returns: Vec<ForwardReturns>,
    /// Return from each evaluation date's close to the next evaluation date's close (adjusted),
    /// what a portfolio rebalanced on the dates earns; `NaN` on the last date and where the
    /// symbol has no close on the next date.
    pub next_period_returns: Grid,
    /// `signals[date * symbols + symbol]`; `None` where the symbol was not scanned that date.
    pub signals: Vec<Option<SignalCell>>,
    /// Where the numbers came from and what was left out, for the caveats printed with them.
    pub provenance: Provenance,
}

/// What the report must say beside its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The data source's description (e.g. "data directory sp500").
    pub source: String,
    /// True when the universe is today's members only (a list of current constituents): the
    /// results then carry survivorship bias, and the report says so.
    pub survivorship_bias: bool,
    /// Symbol-dates left out, grouped by reason (too little history, below --min-price, …).
    pub dropped: Vec<Dropped>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub reason: String,
    pub symbol_dates: usize,
}

impl Panel {
    pub fn cell(&self, date: usize, symbol: usize) -> usize {
        date * self.symbols.len() + symbol
    }
}

/// How to judge the panel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatsOptions {
    /// Quantile buckets per date (alphalens' `quantiles`), at least 2.
    pub quantiles: usize,
    /// Trading cost per side, in basis points, charged on the long portfolio's turnover.
    pub cost_bps: f64,
    /// Sub-period boundaries (`--split DATE`): each date starts a new sub-period (any order).
    pub splits: Vec<NaiveDate>,
}

impl Default for StatsOptions {
    fn default() -> Self {
        Self {
            quantiles: 10,
            cost_bps: 10.0,
            splits: Vec::new(),
        }
    }
}

impl StatsOptions {
    /// The checks of the options alone, before any panel is built: a server or CLI can refuse a
    /// request at once instead of after minutes of evaluation.
    pub fn check(&self) -> Result<(), StatsError> {
        if self.quantiles < 2 {
            return Err(StatsError::Quantiles(self.quantiles));
        }
        if !(self.cost_bps.is_finite() && self.cost_bps >= 0.0) {
            return Err(StatsError::CostBps(self.cost_bps));
        }
        Ok(())
    }
}

/// Why the statistics could not be computed: always a property of the request or the panel,
/// named so the user can act on it.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StatsError {
    #[error("the panel has {0} dates; at least 3 are needed")]
    TooFewDates(usize),
    #[error("quantiles must be at least 2 (got {0})")]
    Quantiles(usize),
    #[error("the panel is malformed: {0}")]
    Malformed(String),
    #[error("cost_bps must be a finite number of basis points, zero or more (got {0})")]
    CostBps(f64),
}
