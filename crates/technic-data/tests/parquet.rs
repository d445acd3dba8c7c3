//! Parquet bar files: a bit-exact round trip of the real data, the footer summary, interoperability
//! with pyarrow and pandas (run through Python, installed by the test command), and bad input.

// Only `shared` is used here; the rest of the module serves the TA-Lib tests.
#[allow(dead_code)]
mod common;

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use technic_core::Bars;
use technic_data::files::FileSource;
use technic_data::{
    BarWindow, DataError, MarketData, parquet_summary, read_parquet_bars, write_parquet_bars,
};
use technic_testkit::sp500;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("test date")
}

/// Equal bit for bit: `==` on f64 would let 0.0 pass for -0.0.
fn assert_same_bits(ours: &Bars, want: &Bars, what: &str) {
    assert_eq!(ours.dates, want.dates, "{what}: dates");
    for (name, a, b) in [
        ("open", &ours.open, &want.open),
        ("high", &ours.high, &want.high),
        ("low", &ours.low, &want.low),
        ("close", &ours.close, &want.close),
        ("volume", &ours.volume, &want.volume),
    ] {
        let bits = |v: &Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "{what}: {name}");
    }
}

#[test]
fn every_sp500_symbol_round_trips_bit_for_bit_and_a_parquet_directory_serves_the_same_data() {
    let csv = FileSource::open(sp500()).expect("sp500 opens");
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(out.path().join("bars")).expect("mkdir");
    std::fs::copy(
        sp500().join("universe.csv"),
        out.path().join("universe.csv"),
    )
    .expect("copy universe");
    let universe = csv.universe().expect("universe");
    let (mut written, mut unreadable) = (Vec::new(), Vec::new());
    for info in &universe {
        let symbol = &info.symbol;
        let Ok(bars) = csv.bars(symbol, &BarWindow::default()) else {
            unreadable.push(symbol.clone());
            continue;
        };
        let path = out.path().join(format!("bars/{symbol}.parquet"));
        write_parquet_bars(&path, symbol, &bars).expect("write");
        let back = read_parquet_bars(&path).expect("read back");
        assert_same_bits(&back, &bars, symbol);
        let summary = parquet_summary(&path).expect("summary");
        assert_eq!(
            (summary.rows, summary.first, summary.last),
            (bars.len(), bars.dates.first().copied(), bars.last_date()),
            "{symbol}: summary"
        );
        assert_eq!(summary.bytes, std::fs::metadata(&path).expect("stat").len());
        written.push((symbol.clone(), bars));
    }
    // BF.B's file is the provider's error body; PTC has a universe row and no file.
    assert_eq!(unreadable, ["BF.B", "PTC"]);
    assert!(written.len() >= 500, "wrote {} symbols", written.len());

    let parquet = FileSource::open(out.path()).expect("parquet dir opens");
    assert_eq!(parquet.universe().expect("universe"), universe);
    for symbol in &unreadable {
        let err = parquet
            .bars(symbol, &BarWindow::default())
            .expect_err("no file");
        assert!(
            matches!(err, DataError::NoBarFile { .. }),
            "{symbol}: {err}"
        );
    }
    for (i, (symbol, whole)) in written.iter().enumerate() {
        let ours = parquet.bars(symbol, &BarWindow::default()).expect("read");
        assert_same_bits(&ours, whole, symbol);
        // The CSV reader's windows: its tail read for every symbol, and (slower in a debug build)
        // a replay's cut at a date for some.
        let mut windows = vec![BarWindow::last(250)];
        if i % 20 == 0 {
            windows.push(BarWindow {
                last: Some(20),
                from: None,
                to: Some(date("2015-06-30")),
            });
        }
        for window in windows {
            let want = csv.bars(symbol, &window).expect("csv window");
            let ours = parquet.bars(symbol, &window).expect("parquet window");
            assert_same_bits(&ours, &want, &format!("{symbol} {window:?}"));
        }
    }
}

/// Median time of `runs` calls of `read`.
fn median(runs: usize, mut read: impl FnMut() -> Bars) -> (Duration, Bars) {
    let mut times = Vec::with_capacity(runs);
    let mut last = Bars::default();
    for _ in 0..runs {
        let start = Instant::now();
        last = read();
        times.push(start.elapsed());
    }
    times.sort();
    (times[runs / 2], last)
}

#[test]
fn reading_a_parquet_file_is_timed_against_its_csv() {
    let csv = FileSource::open(sp500()).expect("sp500 opens");
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(out.path().join("bars")).expect("mkdir");
    let bars = csv.bars("AAPL", &BarWindow::default()).expect("AAPL");
    write_parquet_bars(&out.path().join("bars/AAPL.parquet"), "AAPL", &bars).expect("write");
    let parquet = FileSource::open(out.path()).expect("parquet dir opens");
    for window in [BarWindow::default(), BarWindow::last(250)] {
        let (csv_time, from_csv) = median(21, || csv.bars("AAPL", &window).expect("csv read"));
        let (parquet_time, from_parquet) =
            median(21, || parquet.bars("AAPL", &window).expect("parquet read"));
        assert_same_bits(&from_parquet, &from_csv, "AAPL");
        eprintln!(
            "AAPL, {} of {} bars ({window:?}): CSV {csv_time:?}, Parquet {parquet_time:?} (median of 21{})",
            from_csv.len(),
            bars.len(),
            if cfg!(debug_assertions) {
                "; a debug build: --release for representative times"
            } else {
                ""
            }
        );
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether pyarrow and pandas can be imported. Under CI their absence is a failure: the test
/// command installs them, so missing means the set-up is broken.
fn python_parquet_available(test: &str) -> bool {
    let ok = Command::new(python())
        .args(["-c", "import pyarrow, pandas"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let message = "the Python packages pyarrow and pandas are not importable (pip install -r requirements-test.txt)";
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: {message}"
        );
        eprintln!("SKIPPED {test}: {message}");
    }
    ok
}

/// Runs a Python script with `args`; its standard output, or a failure that shows its errors.
fn run_python(script: &str, args: &[&Path]) -> String {
    let output = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the Python script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// Checks with pyarrow what a technic file is, then prints its rows with `repr` floats, which
/// read back to the same bits.
const PYARROW_READS: &str = r#"
import sys
import pyarrow as pa
import pyarrow.parquet as pq

f = pq.ParquetFile(sys.argv[1], page_checksum_verification=True)
schema = f.schema_arrow
assert schema.field("date").type == pa.date32(), schema
for name in ["open", "high", "low", "close", "volume"]:
    assert schema.field(name).type == pa.float64(), schema
    assert not schema.field(name).nullable, schema
assert schema.names == ["date", "open", "high", "low", "close", "volume"], schema.names
assert f.metadata.metadata[b"technic.symbol"] == b"AAPL", f.metadata.metadata
group = f.metadata.row_group(0)
for i in range(group.num_columns):
    assert group.column(i).compression == "SNAPPY", group.column(i)
stats = group.column(0).statistics
assert stats is not None and stats.has_min_max, stats
print("stats", stats.min.isoformat(), stats.max.isoformat())
# Every page carries its CRC-32: pyarrow refuses a copy with one bit flipped in `high`'s newest page.
high = group.column(2)
end = high.data_page_offset + high.total_compressed_size
damaged = bytearray(open(sys.argv[1], "rb").read())
damaged[end - 10] ^= 0x40
open(sys.argv[1] + ".damaged", "wb").write(damaged)
try:
    pq.ParquetFile(sys.argv[1] + ".damaged", page_checksum_verification=True).read()
except Exception as e:
    assert "CRC" in str(e), e
else:
    raise AssertionError("pyarrow read a damaged page: the file has no page checksums")
table = f.read()
for row in table.to_pylist():
    print(row["date"].isoformat(), *(repr(row[c]) for c in ["open", "high", "low", "close", "volume"]))
"#;

#[test]
fn pyarrow_reads_technic_files_as_date32_and_doubles() {
    if !python_parquet_available("pyarrow_reads_technic_files_as_date32_and_doubles") {
        return;
    }
    let csv = FileSource::open(sp500()).expect("sp500 opens");
    let bars = csv.bars("AAPL", &BarWindow::default()).expect("AAPL");
    let out = tempfile::tempdir().expect("tempdir");
    let path = out.path().join("AAPL.parquet");
    write_parquet_bars(&path, "AAPL", &bars).expect("write");
    let printed = run_python(PYARROW_READS, &[&path]);
    let mut lines = printed.lines();
    let stats = lines.next().expect("stats line");
    assert_eq!(
        stats,
        format!(
            "stats {} {}",
            bars.dates[0],
            bars.last_date().expect("bars")
        )
    );
    let mut seen = Bars::default();
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 6, "{line}");
        let number = |i: usize| fields[i].parse::<f64>().expect("a float repr");
        seen.push(technic_core::Bar {
            date: date(fields[0]),
            open: number(1),
            high: number(2),
            low: number(3),
            close: number(4),
            volume: number(5),
        })
        .expect("pyarrow's rows are valid bars");
    }
    assert_same_bits(&seen, &bars, "AAPL as pyarrow reads it");
}

/// Writes the shared AAPL history the way a pandas user does (Yahoo layout, a datetime64[ns]
/// `Date` index, int64 volume, `to_parquet` defaults), once tz-naive and once tz-aware, and once
/// with a missing close (NaN, which pyarrow stores as null).
const PANDAS_WRITES: &str = r#"
import sys
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

source, out = sys.argv[1], sys.argv[2]
df = pd.read_csv(source, float_precision="round_trip")
yahoo = pd.DataFrame({
    "Date": pd.to_datetime(df["timestamp"]).astype("datetime64[ns]"),
    "Open": df["open"], "High": df["high"], "Low": df["low"], "Close": df["close"],
    "Adj Close": df["adjusted_close"], "Volume": df["volume"].astype("int64"),
}).set_index("Date")
yahoo.to_parquet(f"{out}/YAHOO.parquet")
yahoo.tz_localize("America/New_York").to_parquet(f"{out}/AWARE.parquet")
gap = yahoo.copy()
gap.iloc[2, gap.columns.get_loc("Close")] = np.nan
gap.to_parquet(f"{out}/GAP.parquet")
# Polars' default codec, which technic does not decode.
yahoo.to_parquet(f"{out}/ZSTD.parquet", compression="zstd")

schema = pq.ParquetFile(f"{out}/YAHOO.parquet").schema_arrow
assert schema.field("Date").type == pa.timestamp("ns"), schema
assert schema.field("Volume").type == pa.int64(), schema
assert schema.field("Adj Close").type == pa.float64(), schema
aware = pq.ParquetFile(f"{out}/AWARE.parquet").schema_arrow
assert aware.field("Date").type == pa.timestamp("ns", tz="America/New_York"), aware
assert pq.ParquetFile(f"{out}/GAP.parquet").schema_arrow.field("Close").nullable
print("written")
"#;

#[test]
fn pandas_yahoo_files_are_read_and_adjusted_like_the_csv() {
    if !python_parquet_available("pandas_yahoo_files_are_read_and_adjusted_like_the_csv") {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let printed = run_python(PANDAS_WRITES, &[&sp500().join("bars/AAPL.csv"), out.path()]);
    assert_eq!(printed.trim(), "written");
    let csv = FileSource::open(sp500()).expect("sp500 opens");
    let want = csv.bars("AAPL", &BarWindow::default()).expect("AAPL");
    assert!(
        want.close[0] < 1.0,
        "AAPL's first close is adjusted (77.62 as traded)"
    );
    for name in ["YAHOO", "AWARE"] {
        let path = out.path().join(format!("{name}.parquet"));
        let ours = read_parquet_bars(&path).expect(name);
        assert_same_bits(&ours, &want, name);
        let summary = parquet_summary(&path).expect("summary");
        assert_eq!(
            (summary.rows, summary.first, summary.last),
            (want.len(), want.dates.first().copied(), want.last_date()),
            "{name}: summary from pandas' statistics"
        );
    }
    let gap = out.path().join("GAP.parquet");
    let err = read_parquet_bars(&gap).expect_err("a null close");
    assert!(matches!(err, DataError::BadRow { line: 3, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("GAP.parquet, line 3: close is null"),
        "{text}"
    );
    let err = read_parquet_bars(&out.path().join("ZSTD.parquet")).expect_err("zstd");
    assert!(matches!(err, DataError::Unsupported { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is compressed with ZSTD")
            && err.to_string().contains("compression='snappy'"),
        "{err}"
    );
}

/// One column for [`write_file`]: values, and definition levels for an OPTIONAL column.
enum Values {
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Float(Vec<f32>),
    Double(Vec<f64>),
    Text(Vec<&'static str>),
}

/// Writes a Parquet file of any schema with the parquet crate's defaults, as another program would.
fn write_file(path: &Path, schema: &str, columns: Vec<(Values, Option<Vec<i16>>)>) {
    let schema = Arc::new(parse_message_type(schema).expect("schema parses"));
    let file = File::create(path).expect("create");
    let mut writer = SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::default()))
        .expect("writer");
    let mut group = writer.next_row_group().expect("row group");
    for (values, levels) in columns {
        let mut column = group.next_column().expect("column").expect("in schema");
        let levels = levels.as_deref();
        match values {
            Values::Int32(v) => column.typed::<Int32Type>().write_batch(&v, levels, None),
            Values::Int64(v) => column.typed::<Int64Type>().write_batch(&v, levels, None),
            Values::Float(v) => column.typed::<FloatType>().write_batch(&v, levels, None),
            Values::Double(v) => column.typed::<DoubleType>().write_batch(&v, levels, None),
            Values::Text(v) => {
                let v: Vec<ByteArray> = v.into_iter().map(ByteArray::from).collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&v, levels, None)
            }
        }
        .expect("write column");
        column.close().expect("close column");
    }
    group.close().expect("close row group");
    writer.close().expect("close file");
}

/// Days since 1970-01-01, as Parquet's DATE stores them.
fn days(text: &str) -> i32 {
    let epoch = date("1970-01-01");
    i32::try_from((date(text) - epoch).num_days()).expect("fits")
}

const PLAIN: &str = "message m {
    REQUIRED INT32 date (DATE); REQUIRED DOUBLE open; REQUIRED DOUBLE high;
    REQUIRED DOUBLE low; REQUIRED DOUBLE close; REQUIRED DOUBLE volume;
}";

fn plain(path: &Path, dates: &[&str], close: Vec<f64>) {
    let n = dates.len();
    write_file(
        path,
        PLAIN,
        vec![
            (Values::Int32(dates.iter().map(|d| days(d)).collect()), None),
            (Values::Double(vec![10.0; n]), None),
            (Values::Double(vec![12.0; n]), None),
            (Values::Double(vec![9.0; n]), None),
            (Values::Double(close), None),
            (Values::Double(vec![100.0; n]), None),
        ],
    );
}

#[test]
fn other_writers_physical_types_and_alphavantage_names_are_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Text dates, FLOAT and INT32 prices, INT64 volume, nullable columns without nulls, and the
    // AlphaVantage names in capitals: the adjustment applies.
    let path = dir.path().join("AV.parquet");
    write_file(
        &path,
        "message m {
            OPTIONAL BYTE_ARRAY TIMESTAMP (UTF8); OPTIONAL FLOAT OPEN; OPTIONAL INT32 HIGH;
            OPTIONAL DOUBLE LOW; OPTIONAL DOUBLE CLOSE; OPTIONAL DOUBLE ADJUSTED_CLOSE;
            OPTIONAL INT64 VOLUME; OPTIONAL DOUBLE DIVIDEND_AMOUNT;
        }",
        vec![
            (
                Values::Text(vec!["2020-01-02", "2020-01-03 00:00:00"]),
                Some(vec![1, 1]),
            ),
            (Values::Float(vec![100.0, 100.0]), Some(vec![1, 1])),
            (Values::Int32(vec![110, 120]), Some(vec![1, 1])),
            (Values::Double(vec![90.0, 95.0]), Some(vec![1, 1])),
            (Values::Double(vec![100.0, 110.0]), Some(vec![1, 1])),
            (Values::Double(vec![50.0, 55.0]), Some(vec![1, 1])),
            (Values::Int64(vec![1000, 2000]), Some(vec![1, 1])),
            (Values::Double(vec![]), Some(vec![0, 0])),
        ],
    );
    let bars = read_parquet_bars(&path).expect("AlphaVantage layout");
    assert_eq!(bars.dates, [date("2020-01-02"), date("2020-01-03")]);
    assert_eq!(
        (bars.open[0], bars.high[0], bars.low[0], bars.close[0]),
        (50.0, 55.0, 45.0, 50.0)
    );
    assert_eq!(bars.volume, [1000.0, 2000.0], "volume is left as given");
    let summary = parquet_summary(&path).expect("summary");
    assert_eq!(
        (summary.rows, summary.first, summary.last),
        (2, Some(date("2020-01-02")), Some(date("2020-01-03")))
    );

    // Millisecond timestamps, zone-aware: the UTC date, the time of day ignored.
    let path = dir.path().join("TS.parquet");
    let ms = |d: &str, hours: i64| i64::from(days(d)) * 86_400_000 + hours * 3_600_000;
    write_file(
        &path,
        "message m {
            REQUIRED INT64 Date (TIMESTAMP(MILLIS, true)); REQUIRED DOUBLE Open;
            REQUIRED DOUBLE High; REQUIRED DOUBLE Low; REQUIRED DOUBLE Close;
            REQUIRED DOUBLE Volume;
        }",
        vec![
            (
                Values::Int64(vec![ms("2021-03-01", 5), ms("2021-03-02", 21)]),
                None,
            ),
            (Values::Double(vec![1.0, 1.0]), None),
            (Values::Double(vec![2.0, 2.0]), None),
            (Values::Double(vec![1.0, 1.0]), None),
            (Values::Double(vec![2.0, 2.0]), None),
            (Values::Double(vec![0.0, 5.0]), None),
        ],
    );
    let bars = read_parquet_bars(&path).expect("timestamps");
    assert_eq!(bars.dates, [date("2021-03-01"), date("2021-03-02")]);
}

#[test]
fn bad_files_are_refused_with_the_file_the_row_and_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bars_dir = dir.path().join("bars");
    std::fs::create_dir(&bars_dir).expect("mkdir");
    let reason = |symbol: &str| {
        read_parquet_bars(&bars_dir.join(format!("{symbol}.parquet"))).expect_err(symbol)
    };

    std::fs::write(
        bars_dir.join("TEXT.parquet"),
        "date,open,high,low,close,volume\n2020-01-02,1,2,1,2,3\n",
    )
    .expect("write");
    let err = reason("TEXT");
    assert!(matches!(err, DataError::NotABarFile { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("TEXT.parquet: not a bar file: not a Parquet file"),
        "{err}"
    );
    std::fs::write(bars_dir.join("EMPTY.parquet"), "").expect("write");
    assert!(
        matches!(reason("EMPTY"), DataError::NotABarFile { .. }),
        "an empty file"
    );
    // A Parquet file cut short (a copy interrupted) still begins with the marker.
    let good = dir.path().join("GOOD.parquet");
    plain(&good, &["2020-01-02", "2020-01-03"], vec![11.0, 11.0]);
    let bytes = std::fs::read(&good).expect("read");
    std::fs::write(bars_dir.join("CUT.parquet"), &bytes[..bytes.len() / 2]).expect("write");
    assert!(
        matches!(reason("CUT"), DataError::NotABarFile { .. }),
        "a truncated file"
    );

    write_file(
        &bars_dir.join("NOCLOSE.parquet"),
        "message m {
            REQUIRED INT32 date (DATE); REQUIRED DOUBLE open; REQUIRED DOUBLE high;
            REQUIRED DOUBLE low; REQUIRED DOUBLE volume;
        }",
        vec![
            (Values::Int32(vec![days("2020-01-02")]), None),
            (Values::Double(vec![1.0]), None),
            (Values::Double(vec![2.0]), None),
            (Values::Double(vec![1.0]), None),
            (Values::Double(vec![3.0]), None),
        ],
    );
    let err = reason("NOCLOSE").to_string();
    assert!(
        err.contains("NOCLOSE.parquet: not a bar file: it has no close column")
            && err.contains("found 'date, open, high, low, volume'"),
        "{err}"
    );

    plain(
        &bars_dir.join("ORDER.parquet"),
        &["2020-01-02", "2020-01-06", "2020-01-03", "2020-01-07"],
        vec![11.0; 4],
    );
    let err = reason("ORDER");
    assert!(matches!(err, DataError::BadBar { line: 3, .. }), "{err:?}");
    assert!(
        err.to_string().contains(
            "ORDER.parquet, line 3: date 2020-01-03 is not after the previous bar's date 2020-01-06"
        ),
        "{err}"
    );
    plain(
        &bars_dir.join("REPEAT.parquet"),
        &["2020-01-02", "2020-01-02"],
        vec![11.0; 2],
    );
    assert!(
        matches!(reason("REPEAT"), DataError::BadBar { line: 2, .. }),
        "a repeated date"
    );
    plain(
        &bars_dir.join("NEG.parquet"),
        &["2020-01-02", "2020-01-03"],
        vec![11.0, -1.0],
    );
    let err = reason("NEG").to_string();
    assert!(
        err.contains("NEG.parquet, line 2: close is -1, expected a finite positive price"),
        "{err}"
    );

    write_file(
        &bars_dir.join("NULL.parquet"),
        "message m {
            REQUIRED INT32 date (DATE); REQUIRED DOUBLE open; REQUIRED DOUBLE high;
            REQUIRED DOUBLE low; OPTIONAL DOUBLE close; REQUIRED DOUBLE volume;
        }",
        vec![
            (
                Values::Int32(vec![
                    days("2020-01-02"),
                    days("2020-01-03"),
                    days("2020-01-06"),
                ]),
                None,
            ),
            (Values::Double(vec![1.0; 3]), None),
            (Values::Double(vec![2.0; 3]), None),
            (Values::Double(vec![1.0; 3]), None),
            (Values::Double(vec![2.0, 2.0]), Some(vec![1, 0, 1])),
            (Values::Double(vec![3.0; 3]), None),
        ],
    );
    let err = reason("NULL");
    assert!(matches!(err, DataError::BadRow { line: 2, .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("NULL.parquet, line 2: close is null"),
        "{err}"
    );

    write_file(
        &bars_dir.join("INTDATE.parquet"),
        "message m {
            REQUIRED INT64 date; REQUIRED DOUBLE open; REQUIRED DOUBLE high;
            REQUIRED DOUBLE low; REQUIRED DOUBLE close; REQUIRED DOUBLE volume;
        }",
        vec![
            (Values::Int64(vec![20200102]), None),
            (Values::Double(vec![1.0]), None),
            (Values::Double(vec![2.0]), None),
            (Values::Double(vec![1.0]), None),
            (Values::Double(vec![2.0]), None),
            (Values::Double(vec![3.0]), None),
        ],
    );
    let err = reason("INTDATE").to_string();
    assert!(
        err.contains("INTDATE.parquet: not a bar file: its date column 'date' holds INT64 values"),
        "{err}"
    );

    // In a scan, each bad symbol gets its own error and the good one still reads.
    std::fs::rename(&good, bars_dir.join("GOOD.parquet")).expect("move");
    let source = FileSource::open(dir.path()).expect("open");
    let symbols: Vec<String> = source
        .universe()
        .expect("universe")
        .into_iter()
        .map(|s| s.symbol)
        .collect();
    assert_eq!(
        symbols,
        [
            "CUT", "EMPTY", "GOOD", "INTDATE", "NEG", "NOCLOSE", "NULL", "ORDER", "REPEAT", "TEXT"
        ]
    );
    for symbol in &symbols {
        let result = source.bars(symbol, &BarWindow::default());
        if symbol == "GOOD" {
            assert_eq!(result.expect("GOOD reads").close, [11.0, 11.0]);
        } else {
            let err = result.expect_err(symbol).to_string();
            assert!(
                err.contains(&format!("{symbol}.parquet")),
                "{symbol}: {err}"
            );
        }
    }
}
