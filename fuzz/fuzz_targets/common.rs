//! One data directory per fuzzing process, its single bar file overwritten by every input: the
//! readers are reached through `FileSource`, the same public path a scan takes, so the fuzzer
//! exercises listing, layout detection, the tail read and the whole-file read alike.

use std::path::PathBuf;
use std::sync::OnceLock;

use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};

fn data_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // /dev/shm where there is one: every input is a file write, and a disk would be the bottleneck.
        let base = ["/dev/shm"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("technic-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bars")).expect("fuzz data directory");
        dir
    })
}

/// Reads `bytes` as `bars/FUZZ.<extension>` every way a scan or `technic indicators` does. Any
/// answer is fine, an error included; a panic, a hang or an allocation past libFuzzer's limit is
/// the finding.
pub fn read_every_way(bytes: &[u8], extension: &str) {
    let dir = data_dir();
    let path = dir.join("bars").join(format!("FUZZ.{extension}"));
    std::fs::write(&path, bytes).expect("write fuzz input");
    let Ok(source) = FileSource::open(dir) else {
        return;
    };
    for window in [
        BarWindow::default(),
        BarWindow::last(400),
        BarWindow::last(21),
    ] {
        if let Ok(bars) = source.bars("FUZZ", &window) {
            // What a reader hands out must hold the core's invariants whatever the file said.
            assert!(bars.len() <= window.last.unwrap_or(usize::MAX));
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// The Parquet reader turns the `parquet` crate's panics on malformed files into that file's
/// error (`catch_unwind`), by design. libFuzzer's panic hook aborts on every panic, caught or not,
/// so it would report each of those; with the default hook silenced, only a panic that escapes
/// the reader reaches the fuzz target's own `catch_unwind` and aborts.
pub fn quiet_caught_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}
