//! technic's compute core: bars in, numbers out.
//!
//! Architecture invariant: this crate does no IO (no files, no network, no clock reads) and no async.
//! Time enters as arguments ([`progress`]), data enters as [`Bars`]. That keeps every computation
//! deterministic and testable on plain arrays, and lets the engine run it on any thread pool.

pub mod alpha;
pub mod bars;
pub mod evaluate;
pub mod indicators;
pub mod priority;
pub mod progress;
pub mod rating;
pub mod termination;

pub use bars::{Bar, BarError, Bars};
pub use indicators::{Indicator, IndicatorError, IndicatorSet};
pub use rating::{Rating, Signal, SignalQuality};
