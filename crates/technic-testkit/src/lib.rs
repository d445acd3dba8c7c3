//! What the tests and benchmarks of every technic crate share, in one place instead of a copy in
//! each: where `../shared` (the real market data, TA-Lib's golden values, recorded Polygon
//! responses) is, a [`ManualClock`] tests move instead of sleeping, [`polygon_fake`], the loopback stand-in for Polygon.io, and for the distributed
//! tests and benchmark, [`processes`] (Redis, replicas and workers as real processes) and
//! [`clients`] (REST, SSE and WebSocket as a client sees them).
//!
//! A dev-dependency only: no library or binary of technic depends on it.

use std::path::{Path, PathBuf};

pub use clock::ManualClock;

pub mod clients;
pub mod clock;
pub mod databases;
pub mod loopback;
pub mod markets;
pub mod polygon_fake;
pub mod processes;

/// `../shared` beside the workspace, or `$TECHNIC_SHARED`. Panics with what to do when the market
/// data is not there, rather than letting a test fail on a missing file further on.
pub fn shared() -> PathBuf {
    let dir = std::env::var_os("TECHNIC_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    assert!(
        dir.join("data/sp500/bars").is_dir(),
        "the shared test data is not at {}: clone the project beside ../shared, or set TECHNIC_SHARED",
        dir.display()
    );
    dir
}

/// The real S&P 500 data directory: `bars/` of 505 histories and a `universe.csv`.
pub fn sp500() -> PathBuf {
    shared().join("data/sp500")
}
