//! Helpers shared by the TA-Lib conformance tests.

use std::path::Path;

use technic_core::indicators::IndicatorFrame;
use technic_core::{Bars, IndicatorSet};
use technic_data::files::FileSource;
use technic_data::{BarWindow, MarketData};

/// TA-Lib's relative tolerance for these tests: |ours - ref| / max(1, |ref|).
pub const TOLERANCE: f64 = 1e-9;

/// Compares every column and row of a reference CSV (`timestamp,<columns>`, empty = NaN) with ours.
/// Returns one line per disagreement (at most a few per column) and the number of values compared.
pub fn compare(reference: &Path, bars: &Bars, ours: &IndicatorFrame) -> (Vec<String>, usize) {
    let mut rows = csv::Reader::from_path(reference).expect("reference CSV opens");
    let header: Vec<String> = rows
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let mut problems = Vec::new();
    let mut compared = 0;
    for column in &header[1..] {
        if ours.column(column).is_none() {
            problems.push(format!(
                "{}: we have no column {column}",
                reference.display()
            ));
        }
    }
    let mut per_column = vec![0usize; header.len()];
    let mut row_count = 0;
    for (row, record) in rows.records().enumerate() {
        row_count += 1;
        let record = record.expect("reference row parses");
        assert_eq!(
            record[0],
            bars.dates[row].to_string(),
            "{}: row {row} date",
            reference.display()
        );
        for (col, name) in header.iter().enumerate().skip(1) {
            let Some(series) = ours.column(name) else {
                continue;
            };
            let (ours, cell) = (series[row], record[col].trim());
            let agree = if cell.is_empty() {
                ours.is_nan()
            } else {
                let reference: f64 = cell.parse().expect("reference value");
                compared += 1;
                (ours - reference).abs() / reference.abs().max(1.0) <= TOLERANCE
            };
            if !agree && per_column[col] < 3 {
                per_column[col] += 1;
                problems.push(format!(
                    "{} {name} on {}: ours {ours}, TA-Lib '{cell}'",
                    reference.display(),
                    &record[0]
                ));
            }
        }
    }
    assert_eq!(
        row_count,
        bars.len(),
        "{}: one reference row per bar",
        reference.display()
    );
    (problems, compared)
}

/// What the comparisons of one test found, over all the symbols it checked.
#[derive(Debug, Default)]
pub struct Tally {
    pub problems: Vec<String>,
    pub compared: usize,
}

impl Tally {
    /// Computes `set` over the symbol's whole history and compares it with `reference`.
    pub fn check(
        &mut self,
        source: &FileSource,
        set: &IndicatorSet,
        symbol: &str,
        reference: &Path,
    ) {
        let bars = source
            .bars(symbol, &BarWindow::default())
            .expect("bars load");
        let frame = set.compute(&bars).expect("indicators");
        let (problems, compared) = compare(reference, &bars, &frame);
        self.problems.extend(problems);
        self.compared += compared;
    }

    /// Fails on any disagreement, or if fewer than `at_least` values were compared (a test that
    /// compared nothing must not pass).
    pub fn assert_agrees(&self, at_least: usize) {
        assert!(
            self.problems.is_empty(),
            "{} disagreements with TA-Lib:\n{}",
            self.problems.len(),
            self.problems.join("\n")
        );
        assert!(
            self.compared >= at_least,
            "compared only {} values",
            self.compared
        );
        eprintln!(
            "{} values equal to TA-Lib within {TOLERANCE}",
            self.compared
        );
    }
}
