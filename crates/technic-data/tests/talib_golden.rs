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

/// The fused ADX/+DI/-DI pass gives TA-Lib's three functions' values to the bit on every symbol of
/// the real data, at the scan's default period and two others.
#[test]
fn fused_directional_is_talib_to_the_bit_on_every_symbol() {
    use technic_core::indicators::trend;
    use technic_data::{BarWindow, MarketData};
    let source = FileSource::open(technic_testkit::sp500()).expect("sp500 opens");
    let universe = source.universe().expect("universe");
    assert!(universe.len() > 500, "the whole S&P 500 is checked");
    for info in &universe {
        let symbol = &info.symbol;
        let Ok(bars) = source.bars(symbol, &BarWindow::default()) else {
            continue; // the data's README lists symbols whose file is damaged on purpose
        };
        let (h, l, c) = (&bars.high, &bars.low, &bars.close);
        for n in [14, 5, 30] {
            let fused = trend::directional(h, l, c, n).expect("directional");
            for (name, fused, talib) in [
                ("adx", &fused.adx, trend::adx(h, l, c, n).expect("adx")),
                (
                    "plus_di",
                    &fused.plus_di,
                    trend::plus_di(h, l, c, n).expect("+di"),
                ),
                (
                    "minus_di",
                    &fused.minus_di,
                    trend::minus_di(h, l, c, n).expect("-di"),
                ),
            ] {
                let first_difference = fused
                    .iter()
                    .zip(&talib)
                    .position(|(a, b)| a.to_bits() != b.to_bits());
                assert_eq!(first_difference, None, "{symbol} {name}_{n}");
            }
        }
    }
}
