//! Replays what `scripts/fuzz` kept for the bar readers: its minimised corpus (the inputs that
//! reach the most distinct code) and every input that once crashed, hung or ran away with memory
//! (`found-*`). Each is read the ways a scan and `technic indicators` read a file; every answer
//! must be an error or bars that hold the core's invariants, never a panic.

use std::path::{Path, PathBuf};

use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};

fn kept_inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    inputs.sort();
    inputs
}

/// Every input as `bars/FUZZ.<extension>` of a fresh data directory, read whole and from its end.
/// Returns how many were read as bars, so a run that refused everything can be told apart.
fn replay(target: &str, extension: &str) -> usize {
    let inputs = kept_inputs(target);
    assert!(
        !inputs.is_empty(),
        "no kept inputs for {target}: run scripts/fuzz {target}"
    );
    let mut read_as_bars = 0;
    for input in &inputs {
        let bytes = std::fs::read(input).expect("kept input");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("bars")).expect("bars dir");
        std::fs::write(dir.path().join(format!("bars/FUZZ.{extension}")), &bytes).expect("write");
        let Ok(source) = FileSource::open(dir.path()) else {
            continue;
        };
        for window in [
            BarWindow::default(),
            BarWindow::last(400),
            BarWindow::last(21),
        ] {
            if let Ok(bars) = source.bars("FUZZ", &window) {
                // Pushing every bar again re-checks the core's invariants (finite positive
                // prices, high >= low, dates strictly increasing) on what the reader handed out.
                let mut checked = technic_core::Bars::with_capacity(bars.len());
                for bar in (0..bars.len()).filter_map(|i| bars.get(i)) {
                    checked.push(bar).unwrap_or_else(|e| {
                        panic!("{}: bars breaking the invariants: {e}", input.display())
                    });
                }
                assert!(bars.len() <= window.last.unwrap_or(usize::MAX));
                read_as_bars += 1;
            }
        }
    }
    read_as_bars
}

#[test]
fn kept_csv_inputs_are_read_or_refused_never_a_panic() {
    // The corpus grows from real files, so some of it must still read as bars: a reader that
    // refused everything would pass a no-panic check and be useless.
    assert!(replay("bar_csv", "csv") > 0);
}

#[test]
fn kept_gzip_inputs_are_read_or_refused_never_a_panic() {
    assert!(replay("bar_csv_gz", "csv.gz") > 0);
}

#[test]
fn kept_parquet_inputs_are_read_or_refused_never_a_panic() {
    // Includes a file on which the `parquet` crate itself panics: the reader must make it an error.
    assert!(replay("bar_parquet", "parquet") > 0);
}
