//! Whether what the store holds can be trusted: files that no longer read as they were written,
//! imports and syncs that never finished, and temporary files their dead writers left.
//!
//! `verify` reads every file whole (page checksums, bar rules, footer against rows); `status`
//! includes it, so damaged files are listed, never silently left out, and a sync fetches them again
//! whole. An import or sync is recorded in the manifest's `unfinished` before its work and removed
//! when it ends; `status`, `StoredSource::info` and `OfflineStore::info` (the store alone, for
//! `--source store`) report one left by a killed process. Taking the lock removes the temporary
//! files (`.NAME.PID-N.tmp`) of processes that no longer run.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use technic_data::{DataError, symbol_from_file_stem};

use crate::{BarStore, StoreError, io_error};

/// A stored file that cannot be read as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DamagedFile {
    pub symbol: String,
    pub file: PathBuf,
    /// What failed: the checksum of a page of which column, an unreadable footer, a bar that
    /// breaks the bar rules.
    pub problem: String,
}

/// What [`BarStore::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Bar files read.
    pub files: usize,
    /// Bars in the files that read whole.
    pub bars: usize,
    pub damaged: Vec<DamagedFile>,
}

/// An import or sync that started and has not finished (see [`crate::Manifest::unfinished`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// Seconds since the epoch.
    pub at: u64,
    pub pid: u32,
}

/// An unfinished import or sync, as `technic data status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unfinished {
    /// `sync`, or `import DIR`.
    pub what: String,
    pub started_at: u64,
    pub pid: u32,
    /// Its process is still running (else it was killed, or its machine stopped).
    pub running: bool,
}

impl Unfinished {
    /// One line for people: what, and what to do.
    pub fn describe(&self) -> String {
        let started =
            chrono::DateTime::from_timestamp(i64::try_from(self.started_at).unwrap_or(0), 0)
                .map_or_else(
                    || "-".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
                );
        if self.running {
            format!(
                "{} in progress (process {}, started {started}); the store may still be missing symbols",
                self.what, self.pid
            )
        } else {
            format!(
                "{} did not finish (process {}, started {started}, no longer running); the store may be missing symbols or bars: run it again",
                self.what, self.pid
            )
        }
    }
}

impl BarStore {
    /// Records `what` as started, atomically, before its work begins: if this process dies, the
    /// record stays, and status and scans say the store may be incomplete.
    pub(crate) fn begin(&self, what: &str) -> Result<(), StoreError> {
        let started = Started {
            at: self.now_secs(),
            pid: std::process::id(),
        };
        self.update_manifest(|m| {
            m.unfinished.insert(what.to_owned(), started);
        })
    }

    /// Imports and syncs recorded as started and not finished.
    pub fn unfinished(&self) -> Vec<Unfinished> {
        self.manifest()
            .unfinished
            .into_iter()
            .map(|(what, started)| Unfinished {
                running: process_is_running(started.pid),
                what,
                started_at: started.at,
                pid: started.pid,
            })
            .collect()
    }

    /// What a scan of the store should say about it, if anything: an import or sync that has
    /// not finished.
    pub fn warning(&self) -> Option<String> {
        let unfinished = self.unfinished();
        (!unfinished.is_empty()).then(|| {
            let each: Vec<String> = unfinished.iter().map(Unfinished::describe).collect();
            format!("WARNING: the bar store's {}", each.join("; its "))
        })
    }

    /// Reads every stored bar file whole: each page against its checksum, each bar against the
    /// bar rules, and the footer's row count and dates against the rows. Files are read on as
    /// many threads as there are cores.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let bars_dir = self.dir.join("bars");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&bars_dir).map_err(io_error(&bars_dir))? {
            let path = entry.map_err(io_error(&bars_dir))?.path();
            let stem = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".parquet"))
                .filter(|stem| !stem.is_empty())
                .map(|stem| symbol_from_file_stem(stem).to_ascii_uppercase());
            if let Some(symbol) = stem {
                files.push((symbol, path));
            }
        }
        files.sort();
        let report = Mutex::new(VerifyReport {
            files: files.len(),
            ..VerifyReport::default()
        });
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::thread::scope(|scope| {
            for _ in 0..threads.min(files.len()) {
                scope.spawn(|| {
                    while let Some((symbol, path)) = files.get(next.fetch_add(1, Ordering::Relaxed))
                    {
                        let checked = check_file(path);
                        let mut report = report.lock().unwrap_or_else(PoisonError::into_inner);
                        match checked {
                            Ok(rows) => report.bars += rows,
                            Err(problem) => report.damaged.push(DamagedFile {
                                symbol: symbol.clone(),
                                file: path.clone(),
                                problem,
                            }),
                        }
                    }
                });
            }
        });
        let mut report = report.into_inner().unwrap_or_else(PoisonError::into_inner);
        report.damaged.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        Ok(report)
    }

    /// Removes the temporary files (`.NAME.PID-N.tmp`) of processes that no longer run: a
    /// writer killed between writing and renaming leaves one. Called under the write lock; a
    /// live process's files (this one's included) are left alone, since a scan may be storing
    /// a symbol without the lock.
    pub(crate) fn remove_stale_temp_files(&self) {
        for dir in [self.dir.clone(), self.dir.join("bars")] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(temp_file_pid) else {
                    continue;
                };
                if pid == std::process::id() || process_is_running(pid) {
                    continue;
                }
                let path = entry.path();
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), pid, "removed a temporary file left by a process that no longer runs");
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "a stale temporary file could not be removed");
                    }
                }
            }
        }
    }
}

/// The rows of a bar file if it reads whole and agrees with its footer, else what is wrong.
fn check_file(path: &Path) -> Result<usize, String> {
    let problem = |e: DataError| match e {
        DataError::Damaged { reason, .. } => reason,
        other => other.to_string(),
    };
    let summary = technic_data::parquet_summary(path).map_err(problem)?;
    let bars = technic_data::read_parquet_bars(path).map_err(problem)?;
    let (first, last) = (bars.dates.first().copied(), bars.dates.last().copied());
    if summary.rows != bars.len() || summary.first != first || summary.last != last {
        let range = |a: Option<chrono::NaiveDate>, b: Option<chrono::NaiveDate>| {
            format!(
                "{} to {}",
                a.map_or("-".into(), |d| d.to_string()),
                b.map_or("-".into(), |d| d.to_string())
            )
        };
        return Err(format!(
            "its footer says {} rows from {}, its pages hold {} from {}",
            summary.rows,
            range(summary.first, summary.last),
            bars.len(),
            range(first, last)
        ));
    }
    Ok(bars.len())
}

/// The process id in a temporary file's name, `.NAME.PID-N.tmp` (see
/// [`technic_data::replace_file`]).
fn temp_file_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tail) = rest.rsplit_once('.')?;
    let (pid, counter) = tail.split_once('-')?;
    counter.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether a process with this id exists. Off Unix it is assumed to, so nothing is removed.
fn process_is_running(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        // Signal 0 checks without signalling: "no such process", or it exists (perhaps
        // another user's, which refuses the signal).
        !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_give_their_process() {
        assert_eq!(temp_file_pid(".AAPL.parquet.1234-0.tmp"), Some(1234));
        assert_eq!(temp_file_pid(".%2FX.parquet.77-12.tmp"), Some(77));
        assert_eq!(temp_file_pid(".store.json.5-3.tmp"), Some(5));
        assert_eq!(temp_file_pid("AAPL.parquet"), None);
        assert_eq!(temp_file_pid(".AAPL.parquet.tmp"), None);
        assert_eq!(temp_file_pid(".lock"), None);
    }

    #[test]
    fn this_process_runs_and_a_reaped_child_does_not() {
        assert!(process_is_running(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!process_is_running(pid));
    }
}
