//! Test support: a loopback server that answers like Polygon.io.

// Shared with the bar store's and the CLI's tests and the sync benchmark, which use parts these
// tests do not.
#[allow(dead_code)]
pub mod polygon_fake;
