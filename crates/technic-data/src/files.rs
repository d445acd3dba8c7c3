//! A data directory: `bars/SYMBOL.csv` (or `.csv.gz`, or `.parquet`) and an optional `universe.csv`
//! (`symbol,name,sector[,industry,market_cap]`, column names matched case-insensitively).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use technic_core::Bars;

use crate::bar_csv::read_bar_file;
use crate::bar_parquet::read_parquet_window;
use crate::{BarWindow, DataError, MarketData, SourceInfo, SymbolInfo};

#[derive(Debug)]
pub struct FileSource {
    dir: PathBuf,
    /// Listed once when opened, so a scan does not stat the directory per symbol.
    files: BTreeMap<String, PathBuf>,
    /// The union of `universe.csv` and the bar files, sorted: a bar file with no universe row is
    /// scanned with no sector; a universe row with no bar file ends the scan as an error.
    universe: Vec<SymbolInfo>,
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
            let symbol = name[..name.len() - ext.len()].to_ascii_uppercase();
            let candidate = (rank, entry.path());
            match files.get(&symbol) {
                Some((held, _)) if *held <= rank => {}
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
        let mut members: BTreeMap<String, SymbolInfo> = read_universe(&dir.join("universe.csv"))?
            .into_iter()
            .map(|info| (info.symbol.clone(), info))
            .collect();
        for symbol in files.keys() {
            members
                .entry(symbol.clone())
                .or_insert_with(|| SymbolInfo::new(symbol.clone()));
        }
        Ok(Self {
            dir,
            files,
            universe: members.into_values().collect(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
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
        let symbol = symbol.to_ascii_uppercase();
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
            return read_parquet_window(path, window);
        }
        read_bar_file(path, window)
    }
}

/// Reads `universe.csv`; a missing file is an empty universe (the bar files still define one).
pub fn read_universe(path: &Path) -> Result<Vec<SymbolInfo>, DataError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(cause) => {
            return Err(DataError::Io {
                path: path.to_owned(),
                cause,
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
    let mut members = Vec::new();
    for record in rows.records() {
        let record =
            record.map_err(|e| bad(e.position().map_or(0, |p| p.line()), e.to_string()))?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |col: Option<usize>| {
            col.and_then(|c| record.get(c))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let symbol = field(Some(symbol_col)).ok_or_else(|| bad(line, "empty symbol".into()))?;
        // Informational only, and often written "2.1T" by hand: an unreadable value is left
        // unknown rather than failing the universe (and so the whole scan) over one cell.
        let market_cap = field(cap_col).and_then(|raw| raw.parse::<f64>().ok());
        members.push(SymbolInfo {
            symbol: symbol.to_ascii_uppercase(),
            name: field(name_col).map(str::to_owned),
            sector: field(sector_col).map(str::to_owned),
            industry: field(industry_col).map(str::to_owned),
            market_cap,
        });
    }
    Ok(members)
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
