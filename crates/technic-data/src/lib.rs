//! Market data for technic: the [`MarketData`] trait and its sources.
//!
//! - [`demo::DemoMarket`]: a deterministic synthetic market, always labelled as such.
//! - [`files::FileSource`]: a data directory of `bars/SYMBOL.csv[.gz|.parquet]` and an optional
//!   `universe.csv`.
//! - [`memory::MemorySource`]: a snapshot of another source held in memory.
//! - [`read_parquet_bars`] and [`write_parquet_bars`]: Parquet bar files, the local bar store's
//!   format, which [`files::FileSource`] also reads as `bars/SYMBOL.parquet`.
//!
//! Architecture invariant: sources hand out split- and dividend-adjusted [`Bars`] that satisfy the
//! core's bar invariants, or a [`DataError`] that names the file, the line and what is wrong. A bad
//! symbol is never a panic and never stops the other symbols. This crate knows nothing of scans or HTTP;
//! remote sources ([`DailyFeed`]s) live in their own crates.
//!
//! Besides `info`, `universe` and `bars(symbol, window)`, the trait carries what wrappers need:
//! `identity` (what tells one source's data from another's for shared cache keys: a directory's
//! absolute path, a URL; `info().description`, which clients see, names a data directory by its
//! name alone, never where it is), `bars_with_lookup` (whether a cache answered, for the scan's hit
//! and miss counts), `concurrent_reads` (a remote source's requests in flight, which the snapshot
//! stage uses instead of the core count) and [`DailyFeed`] (a remote source that answers one day
//! for the whole market, and its `today`). A new source implements [`MarketData`]: here if it reads
//! local files, in a crate of its own (like `technic-polygon`) if it needs HTTP, and as a
//! [`DailyFeed`] if the bar store should keep it.

mod bar_csv;
mod bar_parquet;
pub mod clock;
pub mod demo;
mod file_names;
pub mod files;
mod input;
pub mod memory;
mod page_checksums;

pub use file_names::{MAX_FILE_STEM_BYTES, symbol_file_stem, symbol_from_file_stem};

pub use bar_parquet::{
    ParquetSummary, parquet_bars_to_vec, parquet_summary, read_parquet_bars, replace_file,
    write_parquet_bars,
};
pub use clock::{Clock, SystemClock};
pub use input::{MAX_DECOMPRESSED_BYTES, MAX_FILE_BYTES, MAX_LINE_BYTES};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use technic_core::{Bar, BarError, Bars};

/// A member of the universe, with what is known about it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SymbolInfo {
    pub symbol: String,
    pub name: Option<String>,
    /// GICS sector; `None` when the source does not know it (e.g. a bar file with no universe row).
    pub sector: Option<String>,
    pub industry: Option<String>,
    pub market_cap: Option<f64>,
}

impl SymbolInfo {
    pub fn new(symbol: impl Into<String>) -> Self {
        Self {
            symbol: symbol.into(),
            name: None,
            sector: None,
            industry: None,
            market_cap: None,
        }
    }
}

/// Which bars to hand out. Sources may read less than the whole history to honour `last`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BarWindow {
    /// Keep only the newest `last` bars (after the date bounds).
    pub last: Option<usize>,
    pub from: Option<NaiveDate>,
    /// Inclusive; also what replays of history use to cut the data at a date.
    pub to: Option<NaiveDate>,
}

impl BarWindow {
    pub fn last(n: usize) -> Self {
        Self {
            last: Some(n),
            ..Self::default()
        }
    }

    /// Cuts a whole history to this window, for sources that hold or read everything anyway.
    pub fn apply(&self, bars: Bars) -> Bars {
        let mut bars = if self.from.is_some() || self.to.is_some() {
            bars.between(self.from, self.to)
        } else {
            bars
        };
        if let Some(n) = self.last {
            bars.keep_last(n);
        }
        bars
    }
}

/// What a source is, for every output that reports where its numbers came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceInfo {
    /// `demo` or `files`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: &'static str,
    /// Human-readable; for synthetic data it says so.
    pub description: String,
    pub synthetic: bool,
}

/// Read back from JSON a server replica relayed: `kind` names one of technic's sources, so it is
/// matched to that name rather than kept as a string of its own.
impl<'de> serde::Deserialize<'de> for SourceInfo {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Wire {
            kind: String,
            description: String,
            synthetic: bool,
        }
        const KINDS: [&str; 5] = ["demo", "files", "polygon", "store", "memory"];
        let wire = Wire::deserialize(deserializer)?;
        let kind = KINDS
            .into_iter()
            .find(|k| *k == wire.kind)
            .unwrap_or("unknown");
        Ok(SourceInfo {
            kind,
            description: wire.description,
            synthetic: wire.synthetic,
        })
    }
}

/// Why a symbol's bars (or the universe) could not be loaded. Each variant names the file and,
/// where there is one, the line.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    // Fields are not named `source`: thiserror would chain them, and `{:#}` would print the cause twice.
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: not a bar file: {reason}")]
    NotABarFile { path: PathBuf, reason: String },
    #[error("{path}, line {line}: {message}")]
    BadRow {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}, line {line}: {problem}")]
    BadBar {
        path: PathBuf,
        line: u64,
        problem: BarError,
    },
    /// The file is not what was written: a page fails its checksum (bit rot, a bad disk).
    #[error("{path}: damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("{path}: unsupported bar file format: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error(
        "no bar file for {symbol} in {dir} (looked for {symbol}.csv, {symbol}.csv.gz and {symbol}.parquet)"
    )]
    NoBarFile { symbol: String, dir: PathBuf },
    #[error("{symbol} is not in this source")]
    UnknownSymbol { symbol: String },
    /// A symbol no bar file can be named after (empty, or too long once encoded). `symbol` is
    /// already quoted and cut short: it may be anything.
    #[error("symbol {symbol}: {reason}")]
    BadSymbol { symbol: String, reason: String },
    #[error("{symbol}: {reason}")]
    Unavailable { symbol: String, reason: String },
    /// The source answered, and has no bars for the symbol (unknown, delisted, not yet listed):
    /// unlike `Unavailable`, asking again at once would get the same answer.
    #[error("{symbol}: {reason}")]
    NoData { symbol: String, reason: String },
    #[error("universe file {path}, line {line}: {message}")]
    BadUniverse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{dir}: not a data directory: {reason}")]
    NotADataDir { dir: PathBuf, reason: String },
    /// A remote source's failure that concerns no one symbol (the universe, a setting); the
    /// message is the source's own and already says which service answered what.
    #[error("{message}")]
    Service { message: String },
}

impl DataError {
    /// The message with no path of the machine in it: a file is named by its name alone, a
    /// directory not at all. For messages a server sends to its clients, who have no business
    /// knowing where its data lives; the full message is for its log and its operator.
    pub fn public_message(&self) -> String {
        fn name(path: &std::path::Path) -> String {
            path.file_name().map_or_else(
                || "the data file".to_owned(),
                |name| name.to_string_lossy().into_owned(),
            )
        }
        match self {
            Self::Io { path, cause } => format!("{}: cannot read: {cause}", name(path)),
            Self::NotABarFile { path, reason } => {
                format!("{}: not a bar file: {reason}", name(path))
            }
            Self::BadRow {
                path,
                line,
                message,
            } => format!("{}, line {line}: {message}", name(path)),
            Self::BadBar {
                path,
                line,
                problem,
            } => format!("{}, line {line}: {problem}", name(path)),
            Self::Damaged { path, reason } => format!("{}: damaged: {reason}", name(path)),
            Self::Unsupported { path, reason } => {
                format!("{}: unsupported bar file format: {reason}", name(path))
            }
            Self::NoBarFile { symbol, .. } => format!(
                "no bar file for {symbol} in the data directory (looked for {symbol}.csv, {symbol}.csv.gz and {symbol}.parquet)"
            ),
            Self::BadUniverse { path, line, .. } => {
                format!("universe file {}, line {line}: unreadable", name(path))
            }
            Self::NotADataDir { .. } => "the data directory is not one".to_owned(),
            Self::UnknownSymbol { .. }
            | Self::BadSymbol { .. }
            | Self::Unavailable { .. }
            | Self::NoData { .. }
            | Self::Service { .. } => self.to_string(),
        }
    }
}

/// Whether a read was answered by a cache, for the scan's hit and miss counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The source has no cache in front of it.
    Uncached,
    Hit,
    Miss,
}

/// A source of daily bars. Implementations are shared across the scan's worker threads.
pub trait MarketData: Send + Sync {
    /// What clients are shown: the description names no path of this machine.
    fn info(&self) -> SourceInfo;

    /// What tells this source's data apart from another's of its kind, for the keys of a cache
    /// several processes share: a directory's absolute path, a URL. For the operator only, never
    /// sent to clients (which is why it is not in [`SourceInfo`]). By default the description.
    fn identity(&self) -> String {
        self.info().description
    }

    /// Every symbol the source can be asked about, sorted by symbol.
    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError>;

    /// The symbol's adjusted bars within `window`, oldest first.
    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError>;

    /// Reads worth having in flight at once when they wait on a network (a remote source's
    /// concurrency limit); `None` for local sources, whose reads want no more threads than cores.
    fn concurrent_reads(&self) -> Option<usize> {
        None
    }

    /// [`MarketData::bars`], saying whether a cache answered. Only caching wrappers (and the
    /// bar store) override it.
    fn bars_with_lookup(
        &self,
        symbol: &str,
        window: &BarWindow,
    ) -> (Result<Bars, DataError>, Lookup) {
        (self.bars(symbol, window), Lookup::Uncached)
    }
}

/// A shared source is a source: lets wrappers (a cache, a store) take an `Arc<dyn MarketData>`.
impl<T: MarketData + ?Sized> MarketData for Arc<T> {
    fn info(&self) -> SourceInfo {
        (**self).info()
    }

    fn identity(&self) -> String {
        (**self).identity()
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        (**self).universe()
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        (**self).bars(symbol, window)
    }

    fn concurrent_reads(&self) -> Option<usize> {
        (**self).concurrent_reads()
    }

    fn bars_with_lookup(
        &self,
        symbol: &str,
        window: &BarWindow,
    ) -> (Result<Bars, DataError>, Lookup) {
        (**self).bars_with_lookup(symbol, window)
    }
}

/// A remote source that publishes every symbol's bar of a day in one answer (Polygon.io's grouped
/// daily aggregates): what lets a local store catch up a day at a time instead of a symbol at a time.
pub trait DailyFeed: MarketData {
    /// The newest date whose session may have bars (today where the market is, unless configured).
    fn today(&self) -> NaiveDate;

    /// Every symbol's adjusted bar of `date`, keyed by symbol; empty when the market did not trade.
    fn day(&self, date: NaiveDate) -> Result<Arc<HashMap<String, Bar>>, DataError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_message_names_files_by_name_and_no_directory() {
        let io = DataError::Io {
            path: "/srv/private/bars/AAPL.parquet".into(),
            cause: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(io.to_string().contains("/srv/private"));
        assert_eq!(
            io.public_message(),
            "AAPL.parquet: cannot read: permission denied"
        );
        let missing = DataError::NoBarFile {
            symbol: "MSFT".into(),
            dir: "/srv/private/bars".into(),
        };
        assert!(!missing.public_message().contains("/srv"));
        assert!(missing.public_message().starts_with("no bar file for MSFT"));
        let remote = DataError::Unavailable {
            symbol: "MSFT".into(),
            reason: "Polygon.io answered 429 Too Many Requests".into(),
        };
        assert_eq!(remote.public_message(), remote.to_string());
    }
}
