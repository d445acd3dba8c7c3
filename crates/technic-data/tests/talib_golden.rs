//! Every column of every TA-Lib reference file in ../shared/golden/talib, on the same adjusted bars
//! read by the files source: equal within 1e-9 and undefined on exactly the same warm-up rows.

mod common;

use technic_core::IndicatorSet;
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};

#[test]
fn every_golden_column_matches_talib() {
    let shared = common::shared();
    let source = FileSource::open(shared.join("data/sp500")).expect("sp500 opens");
    let manifest: String =
        std::fs::read_to_string(shared.join("golden/talib/MANIFEST.json")).expect("manifest");
    let set = IndicatorSet::default();
    let mut files = 0;
    let mut compared = 0;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(shared.join("golden/talib")).expect("golden dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        let symbol = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("symbol")
            .to_owned();
        assert!(
            manifest.contains(&format!("\"{symbol}\"")),
            "{symbol} is listed in MANIFEST.json"
        );
        let bars = source
            .bars(&symbol, &BarWindow::default())
            .expect("bars load");
        let frame = set.compute(&bars).expect("indicators");
        let (file_problems, n) = common::compare(&path, &bars, &frame);
        problems.extend(file_problems);
        compared += n;
        files += 1;
    }
    assert_eq!(files, 11, "all golden files were checked");
    assert!(
        problems.is_empty(),
        "{} disagreements with TA-Lib:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(compared > 500_000, "compared only {compared} values");
    eprintln!(
        "{files} golden files, {compared} values equal to TA-Lib within {}",
        common::TOLERANCE
    );
}

#[test]
fn golden_headers_are_the_default_columns() {
    let header = std::fs::read_to_string(common::shared().join("golden/talib/AAPL.csv"))
        .expect("golden file");
    let header: Vec<&str> = header
        .lines()
        .next()
        .expect("header")
        .split(',')
        .skip(1)
        .collect();
    assert_eq!(IndicatorSet::default().columns(), header);
}
