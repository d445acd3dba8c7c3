//! Parquet bar files: the format of technic's local bar store, and bar files written by pandas,
//! pyarrow or Polars.
//!
//! technic writes one row group of required columns `date` (INT32, logical type DATE) and `open`,
//! `high`, `low`, `close`, `volume` (DOUBLE), Snappy-compressed, with the symbol under the
//! key-value metadata key `technic.symbol` and min/max statistics, so a file's date range is known
//! from its footer alone. Reading accepts the column layouts the CSV reader accepts, with any of the
//! physical types other writers use, and validates and adjusts rows by the same rules.
//!
//! Written with the `parquet` crate's low-level column API, not Arrow (compile time), in 1,024-row
//! pages, each with its CRC-32 (`page_checksums.rs`), and atomically (a temporary file beside the
//! target, fsync, rename). A newest-N read skips older pages without decoding them, as the CSV tail
//! read does. Files written by pandas, pyarrow or Polars (timestamps, text dates, integer columns,
//! the CSV layouts' names) are read and adjusted like the CSV. A page that fails its checksum is
//! `DataError::Damaged`, naming the file and column.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Datelike, Days, NaiveDate};
use parquet::basic::{Compression, ConvertedType, LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::column::writer::{ColumnWriter, get_column_writer};
use parquet::data_type::{ByteArray, DataType, Int96};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{ChunkReader, FileReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnDescriptor, SchemaDescriptor};
use technic_core::{Bar, BarError, Bars};

use crate::bar_csv::{
    Columns, HeaderProblem, Plausible, RowError, adjust, normalise, parse_iso_date,
};
use crate::input::{Refusal, open_regular};
use crate::page_checksums::ChecksummedPages;
use crate::{BarWindow, DataError};

/// The key-value metadata entry that names the symbol of a technic-written file.
const SYMBOL_KEY: &str = "technic.symbol";

/// The layout technic writes. Columns are required: a bar has every value, and a reader that sees
/// no definition levels decodes the values straight into the vectors `Bars` keeps.
const SCHEMA: &str = "message technic_bars {
    REQUIRED INT32 date (DATE);
    REQUIRED DOUBLE open;
    REQUIRED DOUBLE high;
    REQUIRED DOUBLE low;
    REQUIRED DOUBLE close;
    REQUIRED DOUBLE volume;
}";

/// Rows per data page of a technic file. A read of the newest bars steps over the older pages
/// without decompressing them; on a 5,400-bar file 1,024 was fastest both for that and for a whole
/// read (smaller pages add headers to step over, larger ones more to decompress).
const PAGE_ROWS: usize = 1024;

/// `NaiveDate::num_days_from_ce` of 1970-01-01, the epoch of Parquet's DATE and TIMESTAMP.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The Julian day of 1970-01-01, the epoch of the legacy INT96 timestamps (Spark, Impala).
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;

/// A file reported only by the size Parquet's metadata claims could make a reader reserve memory
/// it will never fill; reservations stop here and vectors grow past it as values really arrive.
const MAX_RESERVED_ROWS: usize = 1 << 20;

/// A summary of a Parquet bar file, read from its footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParquetSummary {
    pub rows: usize,
    /// `None` when the file has no rows.
    pub first: Option<NaiveDate>,
    pub last: Option<NaiveDate>,
    /// The size of the file on disk.
    pub bytes: u64,
}

/// Encodes `bars` as technic's Parquet bar file, in memory.
///
/// Bars that break the core's invariants (possible, since `Bars`' fields are public) are refused,
/// so the store never holds a file its own reader would reject.
pub fn parquet_bars_to_vec(symbol: &str, bars: &Bars) -> Result<Vec<u8>, DataError> {
    let unwritable = |reason: String| DataError::Unavailable {
        symbol: symbol.to_owned(),
        reason,
    };
    check_writable(bars).map_err(unwritable)?;
    encode(symbol, bars, Vec::new())
        .map_err(|e| unwritable(format!("cannot encode bars as Parquet: {e}")))
}

/// Writes `bars` to `path` as technic's Parquet bar file, atomically: the bytes go to a temporary
/// file in the same directory, are synced to disk, and only then renamed over `path`, so a crash
/// never leaves a half-written file and a concurrent reader sees the old file or the new one.
pub fn write_parquet_bars(path: &Path, symbol: &str, bars: &Bars) -> Result<(), DataError> {
    let bytes = parquet_bars_to_vec(symbol, bars)?;
    replace_file(path, &bytes).map_err(|cause| DataError::Io {
        path: path.to_owned(),
        cause,
    })
}

/// Reads a Parquet bar file: technic's own, or one written by pandas, pyarrow or Polars in any of
/// the layouts the CSV reader accepts. Rows are validated and adjusted as CSV rows are; an error's
/// `line` is the 1-based row number.
pub fn read_parquet_bars(path: &Path) -> Result<Bars, DataError> {
    read_parquet_window(path, &BarWindow::default(), None)
}

/// The rows of `path` within `window`, checked as the CSV reader checks them: every row up to the
/// first one after `window.to` is validated, that one included; a window of only the newest `last`
/// bars skips the older rows without decoding them, as the CSV reader's tail read does, so a
/// scan's cost does not grow with the length of the history on disk. A data directory's files
/// are also held to `plausible`; the bar store's own files, written from checked bars, are not.
pub(crate) fn read_parquet_window(
    path: &Path,
    window: &BarWindow,
    plausible: Option<Plausible>,
) -> Result<Bars, DataError> {
    guarded(path, || {
        let reader = open_whole(path)?;
        let schema = reader.metadata().file_metadata().schema_descr_ptr();
        let columns = find_columns(path, &schema)?;
        let date_kind = date_kind(&schema.column(columns.date)).map_err(|r| not_bars(path, r))?;
        let mut wanted = vec![
            columns.date,
            columns.open,
            columns.high,
            columns.low,
            columns.close,
            columns.volume,
        ];
        wanted.extend(columns.adjusted_close);
        let skip = match (window.last, window.from, window.to) {
            (Some(last), None, None) => {
                let total: usize = row_counts(path, &reader)?.iter().sum();
                total.saturating_sub(last)
            }
            _ => 0,
        };
        let mut raw = read_raw(path, &reader, &wanted, skip)?.into_iter();
        // `read_raw` returns one column per index asked for; this is only never a panic.
        let missing = || not_bars(path, "a column could not be read".into());
        let dates = Dates::new(raw.next().ok_or_else(missing)?, date_kind);
        let mut number = |index: usize| {
            let column = raw.next().ok_or_else(missing)?;
            numbers(&schema, index, column).map_err(|reason| not_bars(path, reason))
        };
        let table = Table {
            rows: dates.raw.len(),
            first_row: skip,
            open: number(columns.open)?,
            high: number(columns.high)?,
            low: number(columns.low)?,
            close: number(columns.close)?,
            volume: number(columns.volume)?,
            adjusted_close: columns.adjusted_close.map(&mut number).transpose()?,
            dates,
            plausible,
        };
        table.into_bars(path, window)
    })
}

/// Rows and first and last date of a Parquet bar file, from the statistics in its footer; files
/// without them (some writers turn them off) have their date column read instead.
pub fn parquet_summary(path: &Path) -> Result<ParquetSummary, DataError> {
    guarded(path, || {
        let reader = open_footer(path)?;
        let bytes = std::fs::metadata(path)
            .map_err(|cause| DataError::Io {
                path: path.to_owned(),
                cause,
            })?
            .len();
        let metadata = reader.metadata();
        let schema = metadata.file_metadata().schema_descr_ptr();
        let columns = find_columns(path, &schema)?;
        let kind = date_kind(&schema.column(columns.date)).map_err(|r| not_bars(path, r))?;
        let rows = row_counts(path, &reader)?.iter().sum();
        let mut range: Option<(NaiveDate, NaiveDate)> = None;
        let mut complete = true;
        for group in metadata.row_groups() {
            if group.num_rows() == 0 {
                continue;
            }
            let Some((min, max)) = group
                .column(columns.date)
                .statistics()
                .and_then(|s| kind.range(s))
            else {
                complete = false;
                break;
            };
            range = Some(range.map_or((min, max), |(a, b)| (a.min(min), b.max(max))));
        }
        if !complete {
            let raw = read_raw(path, &reader, &[columns.date], 0)?;
            let raw = raw
                .into_iter()
                .next()
                .ok_or_else(|| not_bars(path, "the date column could not be read".into()))?;
            let dates = Dates::new(raw, kind);
            range = (0..dates.raw.len())
                .filter_map(|row| dates.get(row).ok())
                .fold(None, |range, d| {
                    Some(range.map_or((d, d), |(a, b): (NaiveDate, NaiveDate)| {
                        (a.min(d), b.max(d))
                    }))
                });
        }
        Ok(ParquetSummary {
            rows,
            first: range.map(|(first, _)| first),
            last: range.map(|(_, last)| last),
            bytes,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Writing

fn check_writable(bars: &Bars) -> Result<(), String> {
    let n = bars.dates.len();
    let lengths = [
        bars.open.len(),
        bars.high.len(),
        bars.low.len(),
        bars.close.len(),
        bars.volume.len(),
    ];
    if lengths.iter().any(|&len| len != n) {
        return Err(format!(
            "the bar columns have different lengths: {n} dates, and {lengths:?} open, high, low, close and volume values"
        ));
    }
    for (i, bar) in (0..n).filter_map(|i| bars.get(i).map(|bar| (i, bar))) {
        let order = match i.checked_sub(1).map(|p| bars.dates[p]) {
            Some(previous) if bar.date <= previous => Err(BarError::DateNotAscending {
                date: bar.date,
                previous,
            }),
            _ => Ok(()),
        };
        bar.validate()
            .and(order)
            .map_err(|problem| format!("bar {} ({}): {problem}", i + 1, bar.date))?;
    }
    Ok(())
}

fn encode<W: Write + Send>(symbol: &str, bars: &Bars, sink: W) -> Result<W, ParquetError> {
    encode_with(symbol, bars, sink, true)
}

/// Encodes `bars`, each page with its checksum unless `with_crc` is false (the tests that compare
/// with the parquet crate's own page writer).
fn encode_with<W: Write + Send>(
    symbol: &str,
    bars: &Bars,
    sink: W,
    with_crc: bool,
) -> Result<W, ParquetError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let properties = Arc::new(writer_properties(symbol));
    let descriptor = SchemaDescriptor::new(Arc::clone(&schema));
    let mut writer = SerializedFileWriter::new(sink, schema, Arc::clone(&properties))?;
    let mut group = writer.next_row_group()?;
    let days: Vec<i32> = bars
        .dates
        .iter()
        .map(|d| d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE)
        .collect();
    let columns = [
        Values::Days(&days),
        Values::Numbers(&bars.open),
        Values::Numbers(&bars.high),
        Values::Numbers(&bars.low),
        Values::Numbers(&bars.close),
        Values::Numbers(&bars.volume),
    ];
    for (index, values) in columns.into_iter().enumerate() {
        let mut chunk = Vec::new();
        let column = get_column_writer(
            descriptor.column(index),
            Arc::clone(&properties),
            Box::new(ChecksummedPages::new(&mut chunk, with_crc)),
        );
        let closed = match (column, values) {
            (ColumnWriter::Int32ColumnWriter(mut column), Values::Days(days)) => {
                column.write_batch(days, None, None)?;
                column.close()?
            }
            (ColumnWriter::DoubleColumnWriter(mut column), Values::Numbers(numbers)) => {
                column.write_batch(numbers, None, None)?;
                column.close()?
            }
            _ => {
                return Err(ParquetError::General(format!(
                    "column {index} of the schema does not have the type of its bars"
                )));
            }
        };
        group.append_column(&bytes::Bytes::from(chunk), closed)?;
    }
    group.close()?;
    writer.into_inner()
}

/// One column's values, in the physical type the schema gives it.
enum Values<'a> {
    Days(&'a [i32]),
    Numbers(&'a [f64]),
}

fn writer_properties(symbol: &str) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        // Adjusted prices are nearly all distinct: a dictionary would only be built to be dropped.
        .set_dictionary_enabled(false)
        // Chunk statistics put each column's min and max in the footer, which is all a summary
        // needs; page statistics would add a column index nobody reads for one row group.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(PAGE_ROWS)
        .set_key_value_metadata(Some(vec![KeyValue::new(
            SYMBOL_KEY.to_owned(),
            symbol.to_owned(),
        )]))
        .build()
}

/// Tells temporary files of one process apart when several threads write the same path.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `path` with `bytes` atomically: a temporary file beside it, synced, then renamed over
/// it, so a reader (or a crash) never sees half a file. Also what the bar store writes its other
/// files with.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )
    })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // The temporary name does not end in `.parquet`, so a data directory listed meanwhile never
    // offers it as a symbol's bar file.
    let temp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        // Best effort: the error worth reporting is the one that stopped the write.
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    // The rename is durable only once the directory is synced. Best effort: some file systems
    // refuse to sync a directory, and the file itself is complete either way.
    #[cfg(unix)]
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reading

/// The parquet crate asserts on some malformed input instead of returning an error. A bad file
/// must cost only its own symbol, never the scan, so a panic while decoding becomes its error.
fn guarded<T>(path: &Path, read: impl FnOnce() -> Result<T, DataError>) -> Result<T, DataError> {
    catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(not_bars(
            path,
            format!("the Parquet decoder failed on it: {message}"),
        ))
    })
}

fn not_bars(path: &Path, reason: String) -> DataError {
    DataError::NotABarFile {
        path: path.to_owned(),
        reason,
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |cause| DataError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// Opens a Parquet file if it is a regular file within the size limit.
fn open(path: &Path) -> Result<(File, u64), DataError> {
    open_regular(path).map_err(|refusal| match refusal {
        Refusal::Io(cause) => io_error(path)(cause),
        refusal => not_bars(path, refusal.to_string()),
    })
}

/// Opens a file reading only its footer, for a summary.
fn open_footer(path: &Path) -> Result<SerializedFileReader<File>, DataError> {
    let (file, _) = open(path)?;
    let mut probe = file.try_clone().map_err(io_error(path))?;
    SerializedFileReader::new(file).map_err(|error| {
        let mut marker = |from: SeekFrom| -> Option<[u8; 4]> {
            let mut buf = [0u8; 4];
            probe.seek(from).ok()?;
            probe.read_exact(&mut buf).ok()?;
            Some(buf)
        };
        let (head, tail) = (marker(SeekFrom::Start(0)), marker(SeekFrom::End(-4)));
        refused(path, head, tail, &error)
    })
}

/// Opens a file read whole into memory: a bar file is small, and the decoder then slices one
/// buffer instead of opening, seeking and reading the file again for every column chunk and page.
fn open_whole(path: &Path) -> Result<SerializedFileReader<impl ChunkReader + 'static>, DataError> {
    let (file, len) = open(path)?;
    let len = usize::try_from(len).map_err(|_| {
        not_bars(
            path,
            format!("its size, {len} bytes, exceeds this machine's memory"),
        )
    })?;
    let bytes = file
        .get_bytes(0, len)
        .map_err(|e| io_error(path)(std::io::Error::other(e.to_string())))?;
    let marker = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|m| <[u8; 4]>::try_from(m).ok())
    };
    let (head, tail) = (marker(0), len.checked_sub(4).and_then(marker));
    SerializedFileReader::new(bytes).map_err(|error| refused(path, head, tail, &error))
}

/// Why a file's footer could not be read, in terms a user can act on: the decoder's own message
/// ("Invalid Parquet file. Corrupt footer") does not say the file is not Parquet at all. `head`
/// and `tail` are the file's first and last four bytes.
fn refused(
    path: &Path,
    head: Option<[u8; 4]>,
    tail: Option<[u8; 4]>,
    error: &ParquetError,
) -> DataError {
    match (head.as_ref(), tail.as_ref()) {
        (Some(b"PAR1"), Some(b"PARE")) | (Some(b"PARE"), _) => DataError::Unsupported {
            path: path.to_owned(),
            reason: "the Parquet file is encrypted".into(),
        },
        (Some(b"PAR1"), Some(b"PAR1")) => {
            not_bars(path, format!("its Parquet footer cannot be read: {error}"))
        }
        _ => not_bars(
            path,
            "not a Parquet file: it does not begin and end with the marker PAR1".into(),
        ),
    }
}

/// The bar columns among the file's top-level columns, by the names the CSV reader accepts.
fn find_columns(path: &Path, schema: &SchemaDescriptor) -> Result<Columns, DataError> {
    let leaves = schema.columns();
    // A field nested in a struct or list is not a bar column; an empty name matches nothing.
    let names: Vec<String> = leaves
        .iter()
        .map(|c| {
            if c.path().parts().len() == 1 {
                normalise(c.name().as_bytes())
            } else {
                String::new()
            }
        })
        .collect();
    Columns::find(&names).map_err(|problem| {
        let missing = match problem {
            HeaderProblem::Missing(missing) => missing,
            duplicate @ HeaderProblem::Duplicate { .. } => {
                return not_bars(path, format!("its columns are ambiguous: {duplicate}"));
            }
        };
        let shown = leaves
            .iter()
            .map(|c| c.path().string())
            .collect::<Vec<_>>()
            .join(", ");
        let shown: String = shown.chars().take(120).collect();
        not_bars(
            path,
            format!(
                "it has no {missing} column (expected date (or timestamp), open, high, low, close and volume columns, found '{shown}')"
            ),
        )
    })
}

/// How a date column's values become dates.
#[derive(Debug, Clone, Copy)]
enum DateKind {
    /// INT32 days since 1970-01-01 (the DATE logical type).
    Days,
    /// INT64 timestamps, in ticks of which this many make a day. A timestamp's date is its calendar
    /// date as stored (UTC for a zone-aware one), the time ignored as the CSV reader ignores it:
    /// right for US sessions stamped at local midnight or at the close, which are both that date
    /// in UTC.
    Ticks(i64),
    /// Legacy INT96 timestamps: nanoseconds of a Julian day.
    Int96,
    /// Text, `YYYY-MM-DD` optionally followed by a time.
    Text,
}

fn date_kind(column: &ColumnDescriptor) -> Result<DateKind, String> {
    const DAY_MILLIS: i64 = 86_400_000;
    let kind = match (
        column.physical_type(),
        column.logical_type_ref(),
        column.converted_type(),
    ) {
        (PhysicalType::INT32, Some(LogicalType::Date), _)
        | (PhysicalType::INT32, None, ConvertedType::DATE) => Some(DateKind::Days),
        (PhysicalType::INT64, Some(LogicalType::Timestamp(t)), _) => {
            Some(DateKind::Ticks(match t.unit {
                TimeUnit::MILLIS => DAY_MILLIS,
                TimeUnit::MICROS => DAY_MILLIS * 1_000,
                TimeUnit::NANOS => DAY_MILLIS * 1_000_000,
            }))
        }
        (PhysicalType::INT64, None, ConvertedType::TIMESTAMP_MILLIS) => {
            Some(DateKind::Ticks(DAY_MILLIS))
        }
        (PhysicalType::INT64, None, ConvertedType::TIMESTAMP_MICROS) => {
            Some(DateKind::Ticks(DAY_MILLIS * 1_000))
        }
        (PhysicalType::INT96, ..) => Some(DateKind::Int96),
        (PhysicalType::BYTE_ARRAY, None | Some(LogicalType::String), _) => Some(DateKind::Text),
        _ => None,
    };
    kind.ok_or_else(|| {
        format!(
            "its date column '{}' holds {} values; expected DATE, TIMESTAMP or YYYY-MM-DD text",
            column.name(),
            describe(column)
        )
    })
}

fn describe(column: &ColumnDescriptor) -> String {
    match column.logical_type_ref() {
        Some(logical) => format!("{} ({logical:?})", column.physical_type()),
        None => column.physical_type().to_string(),
    }
}

fn from_days(days: i64) -> Option<NaiveDate> {
    i32::try_from(days)
        .ok()?
        .checked_add(UNIX_EPOCH_DAYS_FROM_CE)
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

impl DateKind {
    /// Days since 1970-01-01 of an integer date or timestamp.
    fn day_number(self, value: i64) -> Option<i64> {
        match self {
            DateKind::Days => Some(value),
            DateKind::Ticks(per_day) => Some(value.div_euclid(per_day)),
            DateKind::Int96 | DateKind::Text => None,
        }
    }

    fn date_of(self, value: i64) -> Option<NaiveDate> {
        from_days(self.day_number(value)?)
    }

    fn from_int96(value: &Int96) -> Option<NaiveDate> {
        // The third word is the Julian day; the first two, nanoseconds within it, are a time of day.
        from_days(i64::from(value.data()[2]) - UNIX_EPOCH_JULIAN_DAY)
    }

    fn from_text(value: &[u8]) -> Option<NaiveDate> {
        parse_iso_date(std::str::from_utf8(value).ok()?.trim())
    }

    /// The dates of a column chunk's min and max statistics, when it has both.
    fn range(self, statistics: &Statistics) -> Option<(NaiveDate, NaiveDate)> {
        let pair = |min: Option<NaiveDate>, max: Option<NaiveDate>| min.zip(max);
        match (self, statistics) {
            (DateKind::Days, Statistics::Int32(s)) => pair(
                self.date_of(i64::from(*s.min_opt()?)),
                self.date_of(i64::from(*s.max_opt()?)),
            ),
            (DateKind::Ticks(_), Statistics::Int64(s)) => {
                pair(self.date_of(*s.min_opt()?), self.date_of(*s.max_opt()?))
            }
            // INT96 statistics are not ordered by time (their sort order is undefined).
            (DateKind::Text, Statistics::ByteArray(s)) => pair(
                Self::from_text(s.min_opt()?.data()),
                Self::from_text(s.max_opt()?.data()),
            ),
            _ => None,
        }
    }
}

/// A column's values, one per row; for a nullable column `valid` says which rows have one (the
/// others hold a default value).
#[derive(Debug, Default)]
struct Dense<T> {
    values: Vec<T>,
    valid: Option<Vec<bool>>,
}

impl<T: Default> Dense<T> {
    fn get(&self, row: usize) -> Option<&T> {
        match &self.valid {
            Some(valid) if valid.get(row) != Some(&true) => None,
            _ => self.values.get(row),
        }
    }

    /// Appends the `rows` rows of a column chunk that follow its first `skip`.
    fn append<D: DataType<T = T>>(
        &mut self,
        mut reader: ColumnReaderImpl<D>,
        skip: usize,
        rows: usize,
        max_def: i16,
    ) -> Result<(), ParquetError> {
        let skipped = reader.skip_records(skip)?;
        if skipped != skip {
            return Err(ParquetError::General(format!(
                "a column chunk ends after {skipped} rows, its row group has more"
            )));
        }
        if max_def == 0 {
            let before = self.values.len();
            reader.read_records(rows, None, None, &mut self.values)?;
            let read = self.values.len() - before;
            if read != rows {
                return Err(ParquetError::General(format!(
                    "a column chunk holds {read} values for {rows} rows"
                )));
            }
            return Ok(());
        }
        let (mut levels, mut present) = (Vec::new(), Vec::new());
        reader.read_records(rows, Some(&mut levels), None, &mut present)?;
        if levels.len() != rows {
            return Err(ParquetError::General(format!(
                "a column chunk holds {} rows, its row group {rows}",
                levels.len()
            )));
        }
        let valid = self.valid.get_or_insert_with(Vec::new);
        let mut present = present.into_iter();
        for level in levels {
            let is_valid = level == max_def;
            valid.push(is_valid);
            self.values.push(if is_valid {
                present.next().unwrap_or_default()
            } else {
                T::default()
            });
        }
        Ok(())
    }

    fn map<U>(self, f: impl Fn(T) -> U) -> Dense<U> {
        Dense {
            values: self.values.into_iter().map(f).collect(),
            valid: self.valid,
        }
    }
}

/// A column as decoded, in its physical type.
#[derive(Debug)]
enum Raw {
    Int32(Dense<i32>),
    Int64(Dense<i64>),
    Int96(Dense<Int96>),
    Float(Dense<f32>),
    Double(Dense<f64>),
    Bytes(Dense<ByteArray>),
}

impl Raw {
    fn new(physical: PhysicalType) -> Option<Self> {
        Some(match physical {
            PhysicalType::INT32 => Raw::Int32(Dense::default()),
            PhysicalType::INT64 => Raw::Int64(Dense::default()),
            PhysicalType::INT96 => Raw::Int96(Dense::default()),
            PhysicalType::FLOAT => Raw::Float(Dense::default()),
            PhysicalType::DOUBLE => Raw::Double(Dense::default()),
            PhysicalType::BYTE_ARRAY => Raw::Bytes(Dense::default()),
            _ => return None,
        })
    }

    fn reserve(&mut self, rows: usize) {
        let rows = rows.min(MAX_RESERVED_ROWS);
        match self {
            Raw::Int32(d) => d.values.reserve(rows),
            Raw::Int64(d) => d.values.reserve(rows),
            Raw::Int96(d) => d.values.reserve(rows),
            Raw::Float(d) => d.values.reserve(rows),
            Raw::Double(d) => d.values.reserve(rows),
            Raw::Bytes(d) => d.values.reserve(rows),
        }
    }

    fn len(&self) -> usize {
        match self {
            Raw::Int32(d) => d.values.len(),
            Raw::Int64(d) => d.values.len(),
            Raw::Int96(d) => d.values.len(),
            Raw::Float(d) => d.values.len(),
            Raw::Double(d) => d.values.len(),
            Raw::Bytes(d) => d.values.len(),
        }
    }

    fn append(
        &mut self,
        reader: ColumnReader,
        skip: usize,
        rows: usize,
        max_def: i16,
    ) -> Result<(), ParquetError> {
        match (self, reader) {
            (Raw::Int32(d), ColumnReader::Int32ColumnReader(r)) => d.append(r, skip, rows, max_def),
            (Raw::Int64(d), ColumnReader::Int64ColumnReader(r)) => d.append(r, skip, rows, max_def),
            (Raw::Int96(d), ColumnReader::Int96ColumnReader(r)) => d.append(r, skip, rows, max_def),
            (Raw::Float(d), ColumnReader::FloatColumnReader(r)) => d.append(r, skip, rows, max_def),
            (Raw::Double(d), ColumnReader::DoubleColumnReader(r)) => {
                d.append(r, skip, rows, max_def)
            }
            (Raw::Bytes(d), ColumnReader::ByteArrayColumnReader(r)) => {
                d.append(r, skip, rows, max_def)
            }
            _ => Err(ParquetError::General(
                "a column chunk's type differs from its column's".into(),
            )),
        }
    }
}

fn row_counts<R: ChunkReader + 'static>(
    path: &Path,
    reader: &SerializedFileReader<R>,
) -> Result<Vec<usize>, DataError> {
    reader
        .metadata()
        .row_groups()
        .iter()
        .map(|group| {
            usize::try_from(group.num_rows()).map_err(|_| {
                not_bars(
                    path,
                    format!("a row group claims {} rows", group.num_rows()),
                )
            })
        })
        .collect()
}

/// Decodes the columns at `indices` (leaf column indices), all but the file's first `skip` rows:
/// whole row groups and pages of skipped rows are not even decompressed.
fn read_raw<R: ChunkReader + 'static>(
    path: &Path,
    reader: &SerializedFileReader<R>,
    indices: &[usize],
    mut skip: usize,
) -> Result<Vec<Raw>, DataError> {
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let counts = row_counts(path, reader)?;
    let total = counts
        .iter()
        .fold(0usize, |a, &b| a.saturating_add(b))
        .saturating_sub(skip);
    let mut columns = Vec::with_capacity(indices.len());
    for &index in indices {
        let descr = schema.column(index);
        if descr.max_rep_level() > 0 {
            return Err(not_bars(
                path,
                format!(
                    "its column '{}' holds lists, not one value per row",
                    descr.name()
                ),
            ));
        }
        let mut raw = Raw::new(descr.physical_type()).ok_or_else(|| {
            not_bars(
                path,
                format!(
                    "its column '{}' holds {} values",
                    descr.name(),
                    describe(&descr)
                ),
            )
        })?;
        raw.reserve(total);
        columns.push(raw);
    }
    for (group_index, &rows) in counts.iter().enumerate() {
        if skip >= rows {
            skip -= rows;
            continue;
        }
        let metadata = reader.metadata().row_group(group_index);
        for &index in indices {
            let codec = metadata.column(index).compression();
            if !matches!(codec, Compression::UNCOMPRESSED | Compression::SNAPPY) {
                let name = format!("{codec:?}");
                let name = name.split('(').next().unwrap_or_default();
                return Err(DataError::Unsupported {
                    path: path.to_owned(),
                    reason: format!(
                        "column '{}' is compressed with {name}; technic reads uncompressed and Snappy-compressed Parquet (pandas' and pyarrow's default): rewrite it with compression='snappy'",
                        schema.column(index).name()
                    ),
                });
            }
        }
        let group = reader
            .get_row_group(group_index)
            .map_err(|e| not_bars(path, format!("row group {group_index} cannot be read: {e}")))?;
        for (&index, raw) in indices.iter().zip(columns.iter_mut()) {
            let descr = schema.column(index);
            let failed = |e: ParquetError| {
                if is_checksum_mismatch(&e) {
                    return DataError::Damaged {
                        path: path.to_owned(),
                        reason: format!(
                            "a page of column '{}' does not match its checksum: the file changed after it was written",
                            descr.name()
                        ),
                    };
                }
                not_bars(
                    path,
                    format!("its column '{}' cannot be decoded: {e}", descr.name()),
                )
            };
            let column = group.get_column_reader(index).map_err(failed)?;
            raw.append(column, skip, rows - skip, descr.max_def_level())
                .map_err(failed)?;
        }
        skip = 0;
    }
    Ok(columns)
}

/// Whether the decoder refused a page whose CRC-32 differs from its header's. The parquet crate
/// has no error kind for it, only this message.
fn is_checksum_mismatch(error: &ParquetError) -> bool {
    error.to_string().contains("CRC checksum mismatch")
}

/// A price or volume column as f64, whatever its physical type.
fn numbers(schema: &SchemaDescriptor, index: usize, raw: Raw) -> Result<Dense<f64>, String> {
    let descr = schema.column(index);
    // Integer decimals store value × 10^scale.
    let scale = match descr.logical_type_ref() {
        Some(LogicalType::Decimal(decimal)) => decimal.scale,
        _ if descr.converted_type() == ConvertedType::DECIMAL => descr.type_scale(),
        _ => 0,
    };
    let divisor = 10f64.powi(scale);
    Ok(match raw {
        Raw::Double(d) => d,
        Raw::Float(d) => d.map(f64::from),
        Raw::Int32(d) => d.map(|v| f64::from(v) / divisor),
        Raw::Int64(d) => d.map(|v| v as f64 / divisor),
        Raw::Int96(_) | Raw::Bytes(_) => {
            return Err(format!(
                "its column '{}' holds {} values; expected numbers",
                descr.name(),
                describe(&descr)
            ));
        }
    })
}

struct Dates {
    raw: Raw,
    kind: DateKind,
    /// The day number last converted, and its date. Bars are days apart, and stepping from the
    /// previous date is several times cheaper than chrono's conversion from scratch, which was a
    /// fifth of the time of reading a technic file.
    last: Cell<Option<(i64, NaiveDate)>>,
}

impl Dates {
    fn new(raw: Raw, kind: DateKind) -> Self {
        Self {
            raw,
            kind,
            last: Cell::new(None),
        }
    }

    fn date_of(&self, value: i64) -> Option<NaiveDate> {
        let day = self.kind.day_number(value)?;
        let step = self
            .last
            .get()
            .and_then(|(previous, date)| Some((day.checked_sub(previous)?, date)));
        let date = match step {
            Some((days, date)) if (0..=366).contains(&days) => {
                date.checked_add_days(Days::new(days.unsigned_abs()))
            }
            _ => from_days(day),
        }?;
        self.last.set(Some((day, date)));
        Some(date)
    }

    fn get(&self, row: usize) -> Result<NaiveDate, RowError> {
        let null = || RowError::Message("date is null".into());
        let out_of_range = |value: String| {
            RowError::Message(format!("date {value} is outside the range of dates"))
        };
        match &self.raw {
            Raw::Int32(d) => {
                let value = *d.get(row).ok_or_else(null)?;
                self.date_of(i64::from(value))
                    .ok_or_else(|| out_of_range(value.to_string()))
            }
            Raw::Int64(d) => {
                let value = *d.get(row).ok_or_else(null)?;
                self.date_of(value)
                    .ok_or_else(|| out_of_range(value.to_string()))
            }
            Raw::Int96(d) => {
                let value = d.get(row).ok_or_else(null)?;
                DateKind::from_int96(value).ok_or_else(|| out_of_range(format!("{value:?}")))
            }
            Raw::Bytes(d) => {
                let value = d.get(row).ok_or_else(null)?.data();
                DateKind::from_text(value).ok_or_else(|| {
                    let raw = String::from_utf8_lossy(value).trim().to_owned();
                    RowError::Message(format!("date '{raw}' is not a date (expected YYYY-MM-DD)"))
                })
            }
            Raw::Float(_) | Raw::Double(_) => Err(RowError::Message(
                "the date column holds numbers, not dates".into(),
            )),
        }
    }
}

fn value(column: &Dense<f64>, row: usize, name: &str) -> Result<f64, RowError> {
    column
        .get(row)
        .copied()
        .ok_or_else(|| RowError::Message(format!("{name} is null")))
}

struct Table {
    rows: usize,
    /// The file's row number of the first row read, for error messages; rows before it were skipped.
    first_row: usize,
    dates: Dates,
    open: Dense<f64>,
    high: Dense<f64>,
    low: Dense<f64>,
    close: Dense<f64>,
    volume: Dense<f64>,
    adjusted_close: Option<Dense<f64>>,
    plausible: Option<Plausible>,
}

impl Table {
    fn bar(&self, row: usize) -> Result<Bar, RowError> {
        let raw = Bar {
            date: self.dates.get(row)?,
            open: value(&self.open, row, "open")?,
            high: value(&self.high, row, "high")?,
            low: value(&self.low, row, "low")?,
            close: value(&self.close, row, "close")?,
            volume: value(&self.volume, row, "volume")?,
        };
        raw.validate().map_err(RowError::Bar)?;
        if let Some(plausible) = &self.plausible {
            plausible.check(&raw)?;
        }
        match &self.adjusted_close {
            Some(adjusted) => adjust(raw, value(adjusted, row, "adjusted close")?),
            None => Ok(raw),
        }
    }

    /// Validates rows in order and keeps those in `window`. Kept values are written back over the
    /// columns' own vectors, which then become the `Bars`: a technic file is read with no copy of
    /// its prices.
    fn into_bars(mut self, path: &Path, window: &BarWindow) -> Result<Bars, DataError> {
        let columns = [&self.open, &self.high, &self.low, &self.close, &self.volume];
        for column in columns.into_iter().chain(&self.adjusted_close) {
            if column.values.len() != self.rows {
                return Err(not_bars(
                    path,
                    "its columns have different numbers of rows".into(),
                ));
            }
        }
        let mut dates = Vec::with_capacity(self.rows.min(MAX_RESERVED_ROWS));
        let mut previous: Option<NaiveDate> = None;
        for row in 0..self.rows {
            let line = (self.first_row + row) as u64 + 1;
            let bar = self.bar(row).map_err(|e| e.at(path, line))?;
            if let Some(previous) = previous
                && bar.date <= previous
            {
                return Err(RowError::Bar(BarError::DateNotAscending {
                    date: bar.date,
                    previous,
                })
                .at(path, line));
            }
            previous = Some(bar.date);
            if window.to.is_some_and(|to| bar.date > to) {
                break;
            }
            if window.from.is_some_and(|from| bar.date < from) {
                continue;
            }
            let kept = dates.len();
            dates.push(bar.date);
            self.open.values[kept] = bar.open;
            self.high.values[kept] = bar.high;
            self.low.values[kept] = bar.low;
            self.close.values[kept] = bar.close;
            self.volume.values[kept] = bar.volume;
        }
        let kept = dates.len();
        let take = |column: Dense<f64>| {
            let mut values = column.values;
            values.truncate(kept);
            values
        };
        let mut bars = Bars {
            dates,
            open: take(self.open),
            high: take(self.high),
            low: take(self.low),
            close: take(self.close),
            volume: take(self.volume),
        };
        if let Some(last) = window.last {
            bars.keep_last(last);
        }
        Ok(bars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::data_type::{DoubleType, Int32Type};
    use parquet::file::writer::SerializedRowGroupWriter;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn sample(n: u32) -> Bars {
        let mut bars = Bars::default();
        for i in 0..n {
            let p = 100.0 + f64::from(i % 13) * 0.37;
            bars.push(Bar {
                date: day(2020, 1, 1) + chrono::Days::new(u64::from(i)),
                open: p,
                high: p + 1.5,
                low: p - 1.25,
                close: p + 0.1,
                volume: f64::from(i) * 1000.0,
            })
            .expect("valid bar");
        }
        bars
    }

    #[test]
    fn dates_survive_the_epoch_conversion_both_ways() {
        for date in [
            day(1970, 1, 1),
            day(1969, 12, 31),
            day(1900, 2, 28),
            day(2038, 1, 19),
        ] {
            let days = date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE;
            assert_eq!(DateKind::Days.date_of(i64::from(days)), Some(date));
        }
        // One nanosecond before midnight is still the previous day, before the epoch too.
        let nanos_per_day = 86_400_000_000_000;
        assert_eq!(
            DateKind::Ticks(nanos_per_day).date_of(-1),
            Some(day(1969, 12, 31))
        );
        assert_eq!(DateKind::Days.date_of(i64::MAX), None);
    }

    #[test]
    fn windows_keep_what_the_csv_reader_keeps() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("W.parquet");
        let bars = sample(40);
        write_parquet_bars(&path, "W", &bars).expect("write");
        let (from, to) = (day(2020, 1, 5), day(2020, 1, 20));
        for window in [
            BarWindow::default(),
            BarWindow::last(0),
            BarWindow::last(7),
            BarWindow::last(400),
            BarWindow {
                last: Some(3),
                from: Some(from),
                to: Some(to),
            },
            BarWindow {
                last: None,
                from: Some(from),
                to: None,
            },
            BarWindow {
                last: None,
                from: None,
                to: Some(to),
            },
        ] {
            let mut want = bars.between(window.from, window.to);
            want.keep_last(window.last.unwrap_or(usize::MAX));
            assert_eq!(
                read_parquet_window(&path, &window, None).expect("read"),
                want,
                "{window:?}"
            );
        }
    }

    #[test]
    fn broken_bars_are_not_written_and_leave_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("B.parquet");
        let mut bars = sample(5);
        bars.high[3] = 1.0;
        let err = write_parquet_bars(&path, "B", &bars)
            .expect_err("high below low")
            .to_string();
        assert!(
            err.contains("B: bar 4 (2020-01-04): high 1 is below low"),
            "{err}"
        );
        let mut short = sample(5);
        short.volume.pop();
        let err = parquet_bars_to_vec("S", &short)
            .expect_err("ragged columns")
            .to_string();
        assert!(err.contains("different lengths"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(left.is_empty(), "nothing written, no temp file: {left:?}");
    }

    #[test]
    fn a_rewrite_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("R.parquet");
        write_parquet_bars(&path, "R", &sample(10)).expect("first write");
        write_parquet_bars(&path, "R", &sample(20)).expect("second write");
        assert_eq!(read_parquet_bars(&path).expect("read"), sample(20));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["R.parquet"]);
    }

    #[test]
    fn the_symbol_is_in_the_key_value_metadata() {
        let bytes = parquet_bars_to_vec("BRK.B", &sample(3)).expect("encode");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("BRK.B.parquet");
        std::fs::write(&path, &bytes).expect("write");
        let reader = open_footer(&path).expect("open");
        let metadata = reader.metadata().file_metadata();
        let symbol = metadata
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == SYMBOL_KEY))
            .and_then(|e| e.value.clone());
        assert_eq!(symbol.as_deref(), Some("BRK.B"));
        let group = reader.metadata().row_group(0);
        assert!(
            group
                .columns()
                .iter()
                .all(|c| c.compression() == Compression::SNAPPY),
            "every column is Snappy-compressed"
        );
    }

    fn write_column<T: DataType, W: Write + Send>(
        group: &mut SerializedRowGroupWriter<'_, W>,
        values: &[T::T],
    ) -> Result<(), ParquetError> {
        let mut column = group.next_column()?.ok_or_else(|| {
            ParquetError::General("the schema has fewer columns than bars".into())
        })?;
        column.typed::<T>().write_batch(values, None, None)?;
        column.close()
    }

    #[test]
    fn pages_are_written_as_the_parquet_crate_writes_them_plus_a_checksum() {
        let bars = sample(2500);
        // The crate's own page writer, with technic's properties.
        let schema = Arc::new(parse_message_type(SCHEMA).expect("schema"));
        let mut writer =
            SerializedFileWriter::new(Vec::new(), schema, Arc::new(writer_properties("S")))
                .expect("writer");
        let mut group = writer.next_row_group().expect("row group");
        let days: Vec<i32> = bars
            .dates
            .iter()
            .map(|d| d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE)
            .collect();
        write_column::<Int32Type, _>(&mut group, &days).expect("dates");
        for series in [&bars.open, &bars.high, &bars.low, &bars.close, &bars.volume] {
            write_column::<DoubleType, _>(&mut group, series).expect("values");
        }
        group.close().expect("close group");
        let crates_own = writer.into_inner().expect("bytes");

        let ours_without_crc = encode_with("S", &bars, Vec::new(), false).expect("encode");
        assert_eq!(
            ours_without_crc, crates_own,
            "the same bytes but for the checksums"
        );
        let ours = parquet_bars_to_vec("S", &bars).expect("encode");
        // Three data pages per column (2,500 rows, 1,024 per page), each with a checksum field
        // of up to five bytes and its field header.
        assert!(
            ours.len() > crates_own.len() + 6 * 3 * 2,
            "{} bytes with checksums, {} without",
            ours.len(),
            crates_own.len()
        );
    }

    #[test]
    fn a_flipped_bit_in_any_page_is_reported_as_damage_naming_the_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bars = sample(2500);
        let path = dir.path().join("ROT.parquet");
        write_parquet_bars(&path, "ROT", &bars).expect("write");
        let pristine = std::fs::read(&path).expect("read");
        let metadata = SerializedFileReader::new(File::open(&path).expect("open"))
            .expect("footer")
            .metadata()
            .clone();
        let group = metadata.row_group(0);
        for (index, name) in ["date", "open", "high", "low", "close", "volume"]
            .iter()
            .enumerate()
        {
            let chunk = group.column(index);
            // A bit near the end of the chunk: inside its last page's data, past any header.
            let end = (chunk.data_page_offset() + chunk.compressed_size()) as usize;
            let mut damaged = pristine.clone();
            damaged[end - 10] ^= 0x10;
            std::fs::write(&path, &damaged).expect("damage");
            let err = read_parquet_bars(&path).expect_err("damage is seen");
            assert!(
                matches!(err, DataError::Damaged { .. }),
                "column {name}: {err}"
            );
            let message = err.to_string();
            assert!(
                message.contains("ROT.parquet")
                    && message.contains(&format!("column '{name}'"))
                    && message.contains("checksum"),
                "{message}"
            );
        }
        std::fs::write(&path, &pristine).expect("restore");
        assert_eq!(read_parquet_bars(&path).expect("intact"), bars);
    }

    /// Writes `bars` unchecked in technic's schema, `group_rows` rows per row group, as another
    /// program might.
    fn write_groups(path: &Path, bars: &Bars, group_rows: usize) {
        let schema = Arc::new(parse_message_type(SCHEMA).expect("schema"));
        let file = File::create(path).expect("create");
        let mut writer =
            SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::default()))
                .expect("writer");
        for start in (0..bars.len()).step_by(group_rows) {
            let end = (start + group_rows).min(bars.len());
            let mut group = writer.next_row_group().expect("row group");
            let days: Vec<i32> = bars.dates[start..end]
                .iter()
                .map(|d| d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE)
                .collect();
            write_column::<Int32Type, File>(&mut group, &days).expect("dates");
            for series in [&bars.open, &bars.high, &bars.low, &bars.close, &bars.volume] {
                write_column::<DoubleType, File>(&mut group, &series[start..end]).expect("values");
            }
            group.close().expect("close group");
        }
        writer.close().expect("close");
    }

    #[test]
    fn tail_reads_skip_pages_and_row_groups_and_match_the_whole_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bars = sample(3000);
        let pages = dir.path().join("PAGES.parquet");
        write_parquet_bars(&pages, "PAGES", &bars).expect("write");
        let reader = open_footer(&pages).expect("open");
        let group = reader.get_row_group(0).expect("row group");
        let page_count = group
            .get_column_page_reader(5)
            .expect("pages")
            .collect::<Result<Vec<_>, _>>()
            .expect("pages")
            .len();
        assert_eq!(page_count, 3000usize.div_ceil(PAGE_ROWS), "pages to skip");
        let groups = dir.path().join("GROUPS.parquet");
        write_groups(&groups, &bars, 700);
        assert_eq!(
            open_footer(&groups)
                .expect("open")
                .metadata()
                .num_row_groups(),
            5
        );
        for path in [&pages, &groups] {
            for last in [0, 1, 299, 300, 700, 1023, 1024, 1025, 2999, 3000, 5000] {
                let mut want = bars.clone();
                want.keep_last(last);
                assert_eq!(
                    read_parquet_window(path, &BarWindow::last(last), None).expect("tail"),
                    want,
                    "{} last {last}",
                    path.display()
                );
            }
            let summary = parquet_summary(path).expect("summary");
            assert_eq!(
                (summary.rows, summary.first, summary.last),
                (3000, Some(bars.dates[0]), bars.last_date())
            );
        }
    }

    #[test]
    fn a_tail_read_reports_the_row_number_in_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("T.parquet");
        let mut bars = sample(3000);
        bars.low[2899] = bars.high[2899] + 1.0;
        write_groups(&path, &bars, 700);
        for window in [BarWindow::default(), BarWindow::last(200)] {
            let err = read_parquet_window(&path, &window, None)
                .expect_err("high < low")
                .to_string();
            assert!(
                err.contains("T.parquet, line 2900: high") && err.contains("is below low"),
                "{window:?}: {err}"
            );
        }
        // Like the CSV tail read, rows older than the window are not read, so not checked.
        assert_eq!(
            read_parquet_window(&path, &BarWindow::last(100), None)
                .expect("newest 100 rows are valid")
                .len(),
            100
        );
    }
}
