//! technic's compute core: bars in, numbers out.
//!
//! Architecture invariant: this crate does no IO (no files, no network, no clock reads) and no async.
//! Time enters as arguments ([`progress`]), data enters as [`Bars`]. That keeps every computation
//! deterministic and testable on plain arrays, and lets the engine run it on any thread pool.
//!
//! Its dependencies are `ta-lib` (the TA-Lib project's own Rust port, pinned `=0.8.3`), `chrono`,
//! `serde` (derive only) and `thiserror`, plus `utoipa` behind the off-by-default `openapi` feature
//! (schema derives for the server's OpenAPI document, nothing else; `technic-data` and
//! `technic-engine` have the same feature). `tests/boundary.rs` fails if tokio, reqwest, redis,
//! sqlx, serde_json, rayon or the like appear. Indicator values equal TA-Lib's on the same input
//! (`technic-data/tests/talib_*.rs`).

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
