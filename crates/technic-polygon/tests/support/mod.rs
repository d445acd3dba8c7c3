//! Test support: a loopback server that answers like Polygon.io.

pub mod polygon_fake;
