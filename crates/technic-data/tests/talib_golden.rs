//! Every column of every TA-Lib reference file in ../shared/golden/talib, on the same adjusted bars
//! read by the files source: equal within 1e-9 and undefined on exactly the same warm-up rows.

mod common;

use technic_core::IndicatorSet;
use technic_data::files::FileSource;

#[test]
fn every_golden_column_matches_talib() {
    let shared = technic_testkit::shared();
    let source = FileSource::open(shared.join("data/sp500")).expect("sp500 opens");
    let manifest =
        std::fs::read_to_string(shared.join("golden/talib/MANIFEST.json")).expect("manifest");
    let set = IndicatorSet::default();
    let mut tally = common::Tally::default();
    let mut files = 0;
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
        tally.check(&source, &set, &symbol, &path);
        files += 1;
    }
    assert_eq!(files, 11, "all golden files were checked");
    tally.assert_agrees(500_000);
}

#[test]
fn golden_headers_are_the_default_columns() {
    let header = std::fs::read_to_string(technic_testkit::shared().join("golden/talib/AAPL.csv"))
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
