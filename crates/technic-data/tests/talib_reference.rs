//! TA-Lib itself (its Python package, installed by the test command) at periods other than the
//! golden files', on several symbols, so nothing is tuned to one parameter set.

mod common;

use std::path::Path;
use std::process::Command;

use technic_core::IndicatorSet;
use technic_data::files::FileSource;

/// The same columns `scripts/talib_reference.py --set periods` writes, in our spec syntax.
const SPECS: &str = "sma_7,sma_33,ema_5,ema_100,wma_9,kama_10,rsi_5,rsi_21,macd_5_35_5,bb_10_1.5_2.5,atr_7,natr_21,\
                     adx_9,plus_di_9,minus_di_9,stoch_5_3_3,cci_10,mfi_7,roc_3,willr_7,aroon_10,sar_0.01_0.1,obv";

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether TA-Lib's Python package can be imported. Under CI its absence is a failure: the test
/// command installs it, so missing means the set-up is broken.
fn talib_available() -> bool {
    let ok = Command::new(python())
        .args(["-c", "import talib"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let message =
            "the Python package ta-lib is not importable (pip install -r requirements-test.txt)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: {message}"
        );
        eprintln!("SKIPPED talib_reference: {message}");
    }
    ok
}

#[test]
fn other_periods_match_talib_run_now() {
    if !talib_available() {
        return;
    }
    let shared = technic_testkit::shared();
    let data = shared.join("data/sp500");
    let source = FileSource::open(&data).expect("sp500 opens");
    let set = IndicatorSet::parse_list(SPECS).expect("specs parse");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/talib_reference.py");
    let out = tempfile::tempdir().expect("tempdir");
    let mut tally = common::Tally::default();
    for symbol in ["AAPL", "NVDA", "KO", "XOM", "VTRS", "ABMD"] {
        let reference = out.path().join(format!("{symbol}.csv"));
        let status = Command::new(python())
            .arg(&script)
            .args([
                "--data".as_ref(),
                data.as_os_str(),
                "--symbol".as_ref(),
                symbol.as_ref(),
                "--out".as_ref(),
                reference.as_os_str(),
            ])
            .status()
            .expect("python runs");
        assert!(status.success(), "talib_reference.py failed for {symbol}");
        let header = std::fs::read_to_string(&reference).expect("reference written");
        let columns: Vec<&str> = header
            .lines()
            .next()
            .expect("header")
            .split(',')
            .skip(1)
            .collect();
        assert_eq!(
            set.columns(),
            columns,
            "the script and this test ask for the same columns"
        );
        tally.check(&source, &set, symbol, &reference);
    }
    tally.assert_agrees(100_000);
}
