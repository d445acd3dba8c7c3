//! A `universe.csv` row that names no symbol ends a scan as that row's error; the other members
//! are scanned.

use std::sync::Arc;

use technic_data::files::{FileSource, universe_row_label};
use technic_engine::{DiagnosticKind, ProgressSnapshot, ScanRequest, ScanStatus, Scanner};
use technic_testkit::sp500;

#[test]
fn a_universe_row_without_a_symbol_is_its_own_diagnostic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bars = dir.path().join("bars");
    std::fs::create_dir(&bars).expect("mkdir");
    for symbol in ["KO", "XOM"] {
        std::fs::copy(
            sp500().join(format!("bars/{symbol}.csv")),
            bars.join(format!("{symbol}.csv")),
        )
        .expect("copy");
    }
    std::fs::write(
        dir.path().join("universe.csv"),
        "symbol,name,sector\nKO,Coca-Cola Company (The),Consumer Staples\n,,Energy\nXOM,Exxon Mobil Corp.,Energy\n",
    )
    .expect("write universe");
    let scanner = Scanner::new(Arc::new(FileSource::open(dir.path()).expect("opens")));
    let report = scanner
        .run(&ScanRequest::default(), &|_: &ProgressSnapshot| {})
        .expect("the scan runs");
    assert_eq!(report.status, ScanStatus::Completed);
    let mut scanned: Vec<&str> = report.results.iter().map(|r| r.symbol.as_str()).collect();
    scanned.sort_unstable();
    assert_eq!(scanned, ["KO", "XOM"]);
    let label = universe_row_label(3);
    let row = report
        .diagnostics
        .iter()
        .find(|d| d.symbol == label)
        .expect("the row's diagnostic");
    assert_eq!(row.kind, DiagnosticKind::Error);
    assert!(
        row.message
            .contains("universe.csv, line 3: the row has no symbol"),
        "{}",
        row.message
    );
    assert_eq!(report.diagnostics.len(), 1);
}
