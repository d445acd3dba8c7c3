//! A data directory: `bars/SYMBOL.csv` (or `.csv.gz`, or `.parquet`) and an optional `universe.csv`
//! (`symbol,name,sector[,industry,market_cap]`, column names matched case-insensitively).
//!
//! A symbol two files of a kind name (`AAPL.csv`, `aapl.csv`) is refused rather than one picked. A
//! `universe.csv` row without a symbol is kept as the member `universe.csv:LINE`, whose bars are
//! that row's error ([`read_universe_rows`]), so one bad row is a diagnostic, not a failed scan;
//! [`read_universe`] stays strict, for files technic writes. Every bar file's name comes from
//! `symbol_file_stem` (`file_names.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use technic_core::Bars;

use crate::bar_csv::{Plausible, read_bar_file};
use crate::bar_parquet::read_parquet_window;
use crate::clock::Clock;
use crate::input::read_regular;
use crate::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo, symbol_from_file_stem};

#[derive(Debug)]
pub struct FileSource {
    dir: PathBuf,
    /// Listed once when opened, so a scan does not stat the directory per symbol.
    files: BTreeMap<String, PathBuf>,
    /// The union of `universe.csv` and the bar files, sorted: a bar file with no universe row is
    /// scanned with no sector; a universe row with no bar file ends the scan as an error.
    universe: Vec<SymbolInfo>,
    /// Symbols named by more than one file of the same kind (`AAPL.csv` and `aapl.csv`), with
    /// those files' names: which one holds the bars would be the directory order's choice.
    ambiguous: BTreeMap<String, Vec<String>>,
    /// Rows of `universe.csv` that name no symbol, by the label each has in the universe
    /// ([`universe_row_label`]): each is that row's error, not the whole universe's.
    bad_universe_rows: BTreeMap<String, (u64, String)>,
    /// The date bars may not be after (with a day's allowance); `None` reads `clock`'s UTC date
    /// at every read, so a long-running server moves with the calendar.
    today: Option<NaiveDate>,
    clock: Arc<dyn Clock>,
}

impl FileSource {
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, DataError> {
        let dir = dir.into();
        let bars_dir = dir.join("bars");
        let entries = std::fs::read_dir(&bars_dir).map_err(|e| DataError::NotADataDir {
            dir: dir.clone(),
            reason: format!(
                "cannot list {}: {e} (expected bars/SYMBOL.csv, .csv.gz or .parquet files)",
                bars_dir.display()
            ),
        })?;
        let mut files: BTreeMap<String, (usize, PathBuf)> = BTreeMap::new();
        let mut ambiguous: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|cause| DataError::Io {
                path: bars_dir.clone(),
                cause,
            })?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let lower = name.to_ascii_lowercase();
            // Preference when a symbol has several files: a plain CSV (it can be tail-read), then
            // gzip, then Parquet: listing order must not decide which one is used.
            let Some((rank, ext)) = [".csv", ".csv.gz", ".parquet"]
                .iter()
                .enumerate()
                .find(|(_, ext)| lower.ends_with(**ext) && name.len() > ext.len())
            else {
                continue;
            };
            let symbol =
                symbol_from_file_stem(&name[..name.len() - ext.len()]).to_ascii_uppercase();
            let candidate = (rank, entry.path());
            match files.get(&symbol) {
                Some((held, other)) if *held == rank => {
                    let name_of =
                        |path: &Path| path.file_name().map(|n| n.to_string_lossy().into_owned());
                    ambiguous
                        .entry(symbol)
                        .or_insert_with(|| name_of(other).into_iter().collect())
                        .push(name);
                }
                Some((held, _)) if *held < rank => {}
                _ => {
                    files.insert(symbol, candidate);
                }
            }
        }
        let files: BTreeMap<String, PathBuf> = files
            .into_iter()
            .map(|(symbol, (_, path))| (symbol, path))
            .collect();
        if files.is_empty() {
            return Err(DataError::NotADataDir {
                dir,
                reason: format!(
                    "{} holds no SYMBOL.csv, SYMBOL.csv.gz or SYMBOL.parquet files",
                    bars_dir.display()
                ),
            });
        }
        let listed = read_universe_rows(&dir.join("universe.csv"))?;
        let mut members: BTreeMap<String, SymbolInfo> = listed
            .members
            .into_iter()
            .map(|info| (info.symbol.clone(), info))
            .collect();
        let mut bad_universe_rows = BTreeMap::new();
        for (line, message) in listed.bad_rows {
            let label = universe_row_label(line);
            members.insert(label.clone(), SymbolInfo::new(label.clone()));
            bad_universe_rows.insert(label, (line, message));
        }
        for symbol in files.keys() {
            members
                .entry(symbol.clone())
                .or_insert_with(|| SymbolInfo::new(symbol.clone()));
        }
        Ok(Self {
            dir,
            files,
            universe: members.into_values().collect(),
            ambiguous,
            bad_universe_rows,
            today: None,
            clock: crate::clock::system(),
        })
    }

    /// Takes `today` as the date no bar may be after (allowing one more day for time zones ahead
    /// of UTC) instead of the system's UTC date: for tests and replays.
    #[must_use]
    pub fn with_today(mut self, today: NaiveDate) -> Self {
        self.today = Some(today);
        self
    }

    /// Reads today's date from `clock` (when no fixed date is set) instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The universe member a `universe.csv` row that names no symbol stands as (`universe.csv:7`),
/// so that the row ends a scan as its own error and the other rows are scanned.
pub fn universe_row_label(line: u64) -> String {
    format!("universe.csv:{line}")
}

impl MarketData for FileSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "files",
            // The directory's name alone: a server sends this to every client, and where its
            // data lives is the operator's business (`identity` has the whole path).
            description: format!(
                "data directory {}",
                self.dir
                    .file_name()
                    .unwrap_or(self.dir.as_os_str())
                    .to_string_lossy()
            ),
            synthetic: false,
        }
    }

    fn identity(&self) -> String {
        format!("data directory {}", self.dir.display())
    }

    fn universe(&self) -> Result<Vec<SymbolInfo>, DataError> {
        Ok(self.universe.clone())
    }

    fn bars(&self, symbol: &str, window: &BarWindow) -> Result<Bars, DataError> {
        if let Some((line, message)) = self.bad_universe_rows.get(symbol) {
            return Err(DataError::BadUniverse {
                path: self.dir.join("universe.csv"),
                line: *line,
                message: message.clone(),
            });
        }
        let symbol = symbol.to_ascii_uppercase();
        if let Some(names) = self.ambiguous.get(&symbol) {
            let mut names: Vec<String> = names.iter().map(|n| format!("bars/{n}")).collect();
            names.sort();
            let last = names.pop().unwrap_or_default();
            let all = if names.len() == 1 { "both" } else { "all" };
            return Err(DataError::Unavailable {
                reason: format!(
                    "its bars are ambiguous: {} and {last} {all} name it (file names are matched case-insensitively); remove or rename all but one",
                    names.join(", ")
                ),
                symbol,
            });
        }
        let plausible = Plausible::on(self.today.unwrap_or_else(|| self.clock.today_utc()));
        let Some(path) = self.files.get(&symbol) else {
            return Err(DataError::NoBarFile {
                symbol,
                dir: self.dir.join("bars"),
            });
        };
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        {
            return read_parquet_window(path, window, Some(plausible));
        }
        read_bar_file(path, window, plausible)
    }
}

/// Reads `universe.csv`; a missing file is an empty universe (the bar files still define one).
/// A row that cannot be read is the error of the whole file: for files technic wrote itself.
pub fn read_universe(path: &Path) -> Result<Vec<SymbolInfo>, DataError> {
    let listed = read_universe_rows(path)?;
    match listed.bad_rows.into_iter().next() {
        Some((line, message)) => Err(DataError::BadUniverse {
            path: path.to_owned(),
            line,
            message,
        }),
        None => Ok(listed.members),
    }
}

/// A `universe.csv` as read: its members, and the rows that could not be read, each with its
/// line and what is wrong with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UniverseRows {
    pub members: Vec<SymbolInfo>,
    pub bad_rows: Vec<(u64, String)>,
}

/// Reads `universe.csv`, keeping a row that cannot be read (no symbol, broken quoting) as that
/// row's problem rather than failing the file; a file without a usable header is still an error.
/// A missing file is an empty universe (the bar files still define one).
pub fn read_universe_rows(path: &Path) -> Result<UniverseRows, DataError> {
    let text = match read_regular(path) {
        Ok(text) => text,
        Err(crate::input::Refusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(UniverseRows::default());
        }
        Err(refusal) => {
            return Err(DataError::Io {
                path: path.to_owned(),
                cause: refusal.into(),
            });
        }
    };
    let bad = |line: u64, message: String| DataError::BadUniverse {
        path: path.to_owned(),
        line,
        message,
    };
    let mut rows = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&text[..]);
    let header: Vec<String> = rows
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let symbol_col = find(&["symbol", "ticker"])
        .ok_or_else(|| bad(1, "no 'symbol' column in the header".into()))?;
    let (name_col, sector_col) = (
        find(&["name", "security", "company"]),
        find(&["sector", "gics sector"]),
    );
    let (industry_col, cap_col) = (
        find(&["industry", "gics sub-industry"]),
        find(&["market_cap", "marketcap"]),
    );
    let mut listed = UniverseRows::default();
    for record in rows.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                listed.bad_rows.push((line, e.to_string()));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |col: Option<usize>| {
            col.and_then(|c| record.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let Some(symbol) = field(Some(symbol_col)) else {
            listed.bad_rows.push((
                line,
                "the row has no symbol (its symbol field is empty)".into(),
            ));
            continue;
        };
        // Informational only, and often written "2.1T" by hand: an unreadable value is left
        // unknown rather than failing the universe (and so the whole scan) over one cell.
        let market_cap = field(cap_col).and_then(|raw| raw.parse::<f64>().ok());
        listed.members.push(SymbolInfo {
            symbol: symbol.to_ascii_uppercase(),
            name: field(name_col).map(str::to_owned),
            sector: field(sector_col).map(str::to_owned),
            industry: field(industry_col).map(str::to_owned),
            market_cap,
        });
    }
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universe_is_the_union_of_the_universe_file_and_the_bar_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("bars")).expect("mkdir");
        let bars = "date,open,high,low,close,volume\n2020-01-01,1,2,1,2,3\n";
        std::fs::write(dir.path().join("bars/AAA.csv"), bars).expect("write");
        std::fs::write(dir.path().join("bars/ORPHAN.csv"), bars).expect("write");
        std::fs::write(dir.path().join("bars/notes.txt"), "ignored").expect("write");
        std::fs::write(dir.path().join("bars/AAA.parquet"), "not read").expect("write");
        std::fs::write(dir.path().join("bars/AAA.csv.gz"), "not read either").expect("write");
        std::fs::write(
            dir.path().join("universe.csv"),
            "Symbol,Name,Sector\nAAA,\"Aaa, Inc.\",Energy\nNOFILE,No File Corp,Utilities\n",
        )
        .expect("write");
        let source = FileSource::open(dir.path()).expect("open");
        let universe = source.universe().expect("universe");
        let symbols: Vec<&str> = universe.iter().map(|s| s.symbol.as_str()).collect();
        assert_eq!(symbols, ["AAA", "NOFILE", "ORPHAN"]);
        assert_eq!(universe[0].name.as_deref(), Some("Aaa, Inc."));
        assert_eq!(universe[2].sector, None);
        assert_eq!(
            source
                .bars("aaa", &BarWindow::default())
                .expect("case-insensitive")
                .len(),
            1
        );
        let err = source
            .bars("NOFILE", &BarWindow::default())
            .expect_err("no file")
            .to_string();
        assert!(err.contains("no bar file for NOFILE"), "{err}");
    }

    #[test]
    fn file_names_are_decoded_into_symbols() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("bars")).expect("mkdir");
        let bars = "date,open,high,low,close,volume\n2020-01-01,1,2,1,2,3\n";
        for name in ["%2FX.csv", "brk%2fb.csv", "BF.B.csv", "50%.csv"] {
            std::fs::write(dir.path().join("bars").join(name), bars).expect("write");
        }
        let source = FileSource::open(dir.path()).expect("open");
        let universe = source.universe().expect("universe");
        let symbols: Vec<&str> = universe.iter().map(|s| s.symbol.as_str()).collect();
        assert_eq!(symbols, ["/X", "50%", "BF.B", "BRK/B"]);
        for symbol in symbols {
            assert_eq!(
                source
                    .bars(symbol, &BarWindow::default())
                    .expect("read")
                    .len(),
                1
            );
        }
    }

    #[test]
    fn a_directory_without_bars_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = FileSource::open(dir.path())
            .expect_err("no bars dir")
            .to_string();
        assert!(
            err.contains("not a data directory") && err.contains("bars"),
            "{err}"
        );
    }
}
