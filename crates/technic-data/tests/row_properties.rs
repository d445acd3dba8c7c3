//! The row parser never makes up numbers: a bar file with one row's fields shuffled, a field
//! deleted, two fields or two rows run together, or a number split by an unquoted comma reads
//! either as the bars the file says (each column read under its header) or as a diagnostic
//! naming a line. Checked for the whole-file read and the read from the end, against a
//! deliberately naive reading of the same text.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use proptest::sample::Index;
use technic_data::files::FileSource;
use technic_data::{BarWindow, DataError, MarketData};

const PLAIN: &str = "date,open,high,low,close,volume";
const ALPHAVANTAGE: &str =
    "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient";

/// One valid row's values, in cents (prices) and shares.
#[derive(Debug, Clone)]
struct Row {
    gap_days: u64,
    low: u32,
    /// Offsets above low, each at most `range`.
    range: u32,
    open_at: u32,
    close_at: u32,
    volume: u32,
    /// The adjusted close as a fraction of the close, in quarters (1 = a quarter, 4 = the close).
    quarters: u32,
}

fn row() -> impl Strategy<Value = Row> {
    (
        1u64..5,
        100u32..100_000,
        0u32..5_000,
        any::<Index>(),
        any::<Index>(),
        0u32..10_000_000,
        1u32..=4,
    )
        .prop_map(|(gap_days, low, range, open, close, volume, quarters)| {
            let span = range as usize + 1;
            Row {
                gap_days,
                low,
                range,
                open_at: open.index(span) as u32,
                close_at: close.index(span) as u32,
                volume,
                quarters,
            }
        })
}

fn price(cents: u32) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The file's text, one valid row per `Row`, dates ascending from 2020-01-01.
fn file_text(adjusted: bool, rows: &[Row]) -> String {
    let mut date = NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    let mut lines = vec![(if adjusted { ALPHAVANTAGE } else { PLAIN }).to_owned()];
    for row in rows {
        date = date + Days::new(row.gap_days);
        let (open, high, low, close) = (
            price(row.low + row.open_at),
            price(row.low + row.range),
            price(row.low),
            price(row.low + row.close_at),
        );
        lines.push(if adjusted {
            let adjusted_close =
                f64::from(row.low + row.close_at) / 100.0 * f64::from(row.quarters) / 4.0;
            format!(
                "{date},{open},{high},{low},{close},{adjusted_close},{},0.0,1.0",
                row.volume
            )
        } else {
            format!("{date},{open},{high},{low},{close},{}", row.volume)
        });
    }
    lines.join("\n") + "\n"
}

#[derive(Debug, Clone)]
enum Mutation {
    /// The row's fields in another order (keys sorted give the permutation).
    Shuffle(Vec<u32>),
    Delete(Index),
    /// A field and the next one with the comma between them lost.
    MergeFields(Index),
    /// The row and the next one with the newline between them lost.
    MergeRows,
    /// A field split in two by a comma (`21,123,332` written without quotes).
    Split(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        prop::collection::vec(any::<u32>(), 9).prop_map(Mutation::Shuffle),
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::MergeFields),
        Just(Mutation::MergeRows),
        (any::<Index>(), any::<Index>()).prop_map(|(f, at)| Mutation::Split(f, at)),
    ]
}

/// Applies `mutation` to data row `which` (0-based, after the header).
fn mutate(text: &str, which: usize, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let at = 1 + which;
    let mut fields: Vec<String> = lines[at].split(',').map(str::to_owned).collect();
    let width = fields.len();
    match mutation {
        Mutation::Shuffle(keys) => {
            let mut order: Vec<usize> = (0..width).collect();
            order.sort_by_key(|&i| (keys[i], i));
            fields = order.iter().map(|&i| fields[i].clone()).collect();
        }
        Mutation::Delete(index) => {
            fields.remove(index.index(width));
        }
        Mutation::MergeFields(index) => {
            let i = index.index(width - 1);
            let next = fields.remove(i + 1);
            fields[i].push_str(&next);
        }
        Mutation::MergeRows => {
            if at + 1 < lines.len() {
                let next = lines.remove(at + 1);
                lines[at].push_str(&next);
            }
            return lines.join("\n") + "\n";
        }
        Mutation::Split(field, cut) => {
            let i = field.index(width);
            let chars: Vec<char> = fields[i].chars().collect();
            let cut = cut.index(chars.len() + 1);
            let (head, tail): (String, String) =
                (chars[..cut].iter().collect(), chars[cut..].iter().collect());
            fields[i] = head;
            fields.insert(i + 1, tail);
        }
    }
    lines[at] = fields.join(",");
    lines.join("\n") + "\n"
}

/// What the file says, read naively: each data line split on commas, each column taken under
/// its header name, adjusted by `adjusted_close / close` when the file has one; `None` for a line
/// that does not have the header's width or whose fields are not numbers.
fn what_the_file_says(text: &str) -> Vec<Option<(NaiveDate, [f64; 5])>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect("column");
    let adjusted = header.iter().position(|h| *h == "adjusted_close");
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return None;
            }
            let number = |i: usize| fields[i].trim().parse::<f64>().ok();
            let date_column = if adjusted.is_some() {
                "timestamp"
            } else {
                "date"
            };
            let date =
                NaiveDate::parse_from_str(fields[column(date_column)].trim(), "%Y-%m-%d").ok()?;
            let (open, high, low, close, volume) = (
                number(column("open"))?,
                number(column("high"))?,
                number(column("low"))?,
                number(column("close"))?,
                number(column("volume"))?,
            );
            let factor = match adjusted {
                Some(i) => number(i)? / close,
                None => 1.0,
            };
            Some((
                date,
                [
                    open * factor,
                    high * factor,
                    low * factor,
                    close * factor,
                    volume,
                ],
            ))
        })
        .collect()
}

fn check(text: &str, window: &BarWindow) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("bars")).expect("mkdir");
    std::fs::write(dir.path().join("bars/X.csv"), text).expect("write");
    let today = NaiveDate::from_ymd_opt(2030, 1, 1).expect("date");
    let source = FileSource::open(dir.path())
        .expect("opens")
        .with_today(today);
    let said = what_the_file_says(text);
    match source.bars("X", window) {
        Ok(bars) => {
            let newest = &said[said.len() - bars.len().min(said.len())..];
            prop_assert_eq!(
                bars.len(),
                window.last.unwrap_or(usize::MAX).min(said.len())
            );
            for (i, expected) in newest.iter().enumerate() {
                let Some(expected) = expected else {
                    return Err(TestCaseError::fail(format!(
                        "a malformed row was read as {:?}",
                        bars.get(i)
                    )));
                };
                let got = (
                    bars.dates[i],
                    [
                        bars.open[i],
                        bars.high[i],
                        bars.low[i],
                        bars.close[i],
                        bars.volume[i],
                    ],
                );
                prop_assert_eq!(&got, expected, "bar {} of {:?}", i, window);
            }
        }
        Err(err @ (DataError::BadRow { line, .. } | DataError::BadBar { line, .. })) => {
            let lines = text.lines().count() as u64;
            prop_assert!(
                (2..=lines).contains(&line),
                "{err} names line {line} of {lines}"
            );
        }
        Err(other) => {
            return Err(TestCaseError::fail(format!(
                "a row's problem must be a row's diagnostic: {other}"
            )));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn a_damaged_row_is_the_file_s_numbers_or_a_diagnostic(
        adjusted in any::<bool>(),
        rows in prop::collection::vec(row(), 2..7),
        which in any::<Index>(),
        mutation in mutation(),
        last in 1usize..8,
    ) {
        let text = file_text(adjusted, &rows);
        let damaged = mutate(&text, which.index(rows.len()), &mutation);
        check(&damaged, &BarWindow::default())?;
        check(&damaged, &BarWindow::last(last))?;
    }

    #[test]
    fn an_undamaged_file_reads_as_written(
        adjusted in any::<bool>(),
        rows in prop::collection::vec(row(), 1..7),
    ) {
        let text = file_text(adjusted, &rows);
        prop_assert!(what_the_file_says(&text).iter().all(Option::is_some));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("bars")).expect("mkdir");
        std::fs::write(dir.path().join("bars/X.csv"), &text).expect("write");
        let bars = FileSource::open(dir.path())
            .expect("opens")
            .bars("X", &BarWindow::default());
        prop_assert!(bars.is_ok(), "{:?}", bars.err());
        check(&text, &BarWindow::default())?;
    }
}
