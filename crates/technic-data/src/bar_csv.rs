//! Reading bar files: column layouts, the split/dividend adjustment, validation with line numbers,
//! and the tail read that lets a scan touch only the bars its lookback needs.
//!
//! Layouts: AlphaVantage, Yahoo and plain, header names matched case-insensitively; `factor =
//! adjusted_close / close` is applied to open, high, low and close. Every row read must have the
//! header's width (a shifted row would be read as numbers the file never gave) and be plausible
//! (`Plausible`: no date after today UTC plus a day, which `FileSource::with_today` fixes for
//! tests; open and close within low and high).
//!
//! A plain CSV asked for its newest N bars is read from the end, so a scan's cost does not grow
//! with the length of the history on disk (rows older than the window are neither read nor
//! validated); `.csv.gz`, date-bounded reads and unusual shapes (a blank first line, `\r`-only line
//! ends) are read front to back, keeping only the window. Line numbers in errors are computed from
//! byte offsets when an error is reported, so they are right for `\r\n` files too. A message about
//! a file that is not a bar file describes its shape, never quotes its text.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use chrono::NaiveDate;
use csv::ByteRecord;
use technic_core::{Bar, BarError, Bars};

use crate::input::{Bounded, Exceeded, MAX_LINE_BYTES, Refusal, open_regular};
use crate::{BarWindow, DataError};

/// Where each needed column sits in a file's rows, found from its header.
#[derive(Debug, Clone, Copy)]
struct Layout {
    date: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
    /// Present in the AlphaVantage and Yahoo layouts; when present, prices are adjusted by it.
    adjusted_close: Option<usize>,
    /// The header's number of fields, which every row must have: a row with a field lost or
    /// added (an unquoted `21,123,332`, two rows run together) would otherwise be read with its
    /// later columns shifted, as numbers the file never gave.
    width: usize,
    plausible: Plausible,
}

/// What a row of a data directory's file must satisfy to be believed, beyond the core's bar
/// invariants (finite positive prices, high not below low, volume not negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plausible {
    /// The newest date a bar may have.
    latest: NaiveDate,
}

impl Plausible {
    /// The rules on `today` (UTC). A bar's date is the calendar date where it was traded, which
    /// is at most one day after the UTC date (time zones reach UTC+14, and none is more than a
    /// day ahead), so one day more is allowed: any later date cannot be today anywhere on Earth.
    pub(crate) fn on(today: NaiveDate) -> Self {
        Self {
            latest: today.succ_opt().unwrap_or(today),
        }
    }

    /// Checks a raw (not yet adjusted) bar the core already validated.
    pub(crate) fn check(&self, bar: &Bar) -> Result<(), RowError> {
        if bar.date > self.latest {
            let today = self.latest.pred_opt().unwrap_or(self.latest);
            return Err(RowError::Message(format!(
                "date {} is after today, {today} (UTC): a bar cannot be dated in the future",
                bar.date
            )));
        }
        for (name, value) in [("open", bar.open), ("close", bar.close)] {
            let (side, bound, limit) = if value > bar.high {
                ("above", "high", bar.high)
            } else if value < bar.low {
                ("below", "low", bar.low)
            } else {
                continue;
            };
            return Err(RowError::Message(format!(
                "{name} {value} is {side} {bound} {limit} (open and close must lie between low and high)"
            )));
        }
        Ok(())
    }
}

/// Header names are compared lower-cased with spaces, `_` and `-` removed, so `Adj Close`,
/// `adjusted_close` and `AdjClose` all match.
pub(crate) fn normalise(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .trim()
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '"'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where each column a bar file needs sits among its columns, found by name; shared by every
/// file format so they all accept the same layouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Columns {
    pub(crate) date: usize,
    pub(crate) open: usize,
    pub(crate) high: usize,
    pub(crate) low: usize,
    pub(crate) close: usize,
    pub(crate) volume: usize,
    pub(crate) adjusted_close: Option<usize>,
}

/// Why a header names no usable set of bar columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// The first column a bar needs that it lacks.
    Missing(&'static str),
    /// Two columns of the same name (as [`normalise`]d), 0-based: which one holds the values
    /// would be a guess.
    Duplicate {
        name: String,
        first: usize,
        second: usize,
    },
}

impl std::fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(column) => write!(f, "it has no {column} column"),
            Self::Duplicate {
                name,
                first,
                second,
            } => {
                let name: String = name.chars().take(40).collect();
                write!(
                    f,
                    "columns {} and {} are both named '{name}' (column names must be unique)",
                    first + 1,
                    second + 1
                )
            }
        }
    }
}

impl Columns {
    /// Finds the columns among `names` (already [`normalise`]d): the first missing one is the
    /// error, then any name given twice.
    pub(crate) fn find(names: &[String]) -> Result<Self, HeaderProblem> {
        use HeaderProblem::Missing;
        let find = |aliases: &[&str]| names.iter().position(|n| aliases.contains(&n.as_str()));
        let columns = Self {
            date: find(&["timestamp", "date", "datetime", "time", "day"]).ok_or(Missing("date"))?,
            open: find(&["open"]).ok_or(Missing("open"))?,
            high: find(&["high"]).ok_or(Missing("high"))?,
            low: find(&["low"]).ok_or(Missing("low"))?,
            close: find(&["close"]).ok_or(Missing("close"))?,
            volume: find(&["volume", "vol"]).ok_or(Missing("volume"))?,
            adjusted_close: find(&["adjustedclose", "adjclose"]),
        };
        let mut seen = std::collections::HashMap::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            // A nameless column (pandas' unnamed index, say) is not a name given twice.
            if name.is_empty() {
                continue;
            }
            if let Some(first) = seen.insert(name.as_str(), index) {
                return Err(HeaderProblem::Duplicate {
                    name: name.clone(),
                    first,
                    second: index,
                });
            }
        }
        Ok(columns)
    }
}

impl Layout {
    fn from_header(
        path: &Path,
        header: &ByteRecord,
        plausible: Plausible,
    ) -> Result<Self, DataError> {
        let names: Vec<String> = header.iter().map(normalise).collect();
        // The message describes the line's shape, never its text: the file may be anything a
        // link points at (`/etc/passwd`), and messages reach a server's clients.
        let columns = Columns::find(&names).map_err(|problem| DataError::NotABarFile {
            path: path.to_owned(),
            reason: match problem {
                HeaderProblem::Missing(column) => format!(
                    "expected a header with date (or timestamp), open, high, low, close and volume columns, found a first line of {} comma-separated field{} with no {column} column",
                    header.len(),
                    if header.len() == 1 { "" } else { "s" }
                ),
                duplicate @ HeaderProblem::Duplicate { .. } => {
                    format!("its header is ambiguous: {duplicate}")
                }
            },
        })?;
        let Columns {
            date,
            open,
            high,
            low,
            close,
            volume,
            adjusted_close,
        } = columns;
        Ok(Self {
            date,
            open,
            high,
            low,
            close,
            volume,
            adjusted_close,
            width: header.len(),
            plausible,
        })
    }

    /// Parses and adjusts one row. The raw values are validated before adjusting, so a message
    /// quotes what the file says.
    fn parse(&self, record: &ByteRecord) -> Result<Bar, RowError> {
        if record.len() != self.width {
            return Err(RowError::Message(format!(
                "{} fields where the header has {} (every row must have as many fields as the header)",
                record.len(),
                self.width
            )));
        }
        // Fields are borrowed, not copied: this runs for every row a scan reads.
        let text = |i: usize| std::str::from_utf8(&record[i]).map(str::trim);
        let number = |i: usize, column: &str| -> Result<f64, RowError> {
            text(i)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .ok_or_else(|| {
                    RowError::Message(format!("{column} '{}' is not a number", quoted(&record[i])))
                })
        };
        let date = text(self.date)
            .ok()
            .and_then(parse_iso_date)
            .ok_or_else(|| {
                RowError::Message(format!(
                    "date '{}' is not a date (expected YYYY-MM-DD)",
                    quoted(&record[self.date])
                ))
            })?;
        let raw = Bar {
            date,
            open: number(self.open, "open")?,
            high: number(self.high, "high")?,
            low: number(self.low, "low")?,
            close: number(self.close, "close")?,
            volume: number(self.volume, "volume")?,
        };
        raw.validate().map_err(RowError::Bar)?;
        self.plausible.check(&raw)?;
        let Some(adjusted_index) = self.adjusted_close else {
            return Ok(raw);
        };
        adjust(raw, number(adjusted_index, "adjusted close")?)
    }
}

/// A field as a message quotes it: trimmed, and cut short, so that a message stays a line.
fn quoted(field: &[u8]) -> String {
    const SHOWN: usize = 40;
    let text = String::from_utf8_lossy(field);
    let text = text.trim();
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Applies the split and dividend adjustment of a row whose file has an adjusted close: open,
/// high, low and close times `adjusted / close`, volume as given. `raw` is already validated.
pub(crate) fn adjust(raw: Bar, adjusted: f64) -> Result<Bar, RowError> {
    let factor = adjusted / raw.close;
    if !(factor.is_finite() && factor > 0.0) {
        return Err(RowError::Message(format!(
            "adjusted close {adjusted} with close {} gives no valid adjustment factor",
            raw.close
        )));
    }
    Ok(Bar {
        open: raw.open * factor,
        high: raw.high * factor,
        low: raw.low * factor,
        // Not `adjusted` itself: `close * (adjusted / close)` can differ from it by an ulp, and
        // OBV, which compares consecutive closes for equality, then counts a day differently
        // from TA-Lib run on the documented adjustment (seen on KO, 2004-06-14).
        close: raw.close * factor,
        ..raw
    })
}

/// `YYYY-MM-DD`, optionally followed by a time (`2020-01-02 00:00:00`, `2020-01-02T…`), which is
/// ignored for daily bars. Hand-parsed because chrono's format-string parser dominated load time.
pub(crate) fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() < 10
        || b[4] != b'-'
        || b[7] != b'-'
        || (b.len() > 10 && !matches!(b[10], b' ' | b'T'))
    {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(
        i32::try_from(digits(0..4)?).ok()?,
        digits(5..7)?,
        digits(8..10)?,
    )
}

pub(crate) enum RowError {
    Message(String),
    Bar(BarError),
}

impl RowError {
    pub(crate) fn at(self, path: &Path, line: u64) -> DataError {
        match self {
            RowError::Message(message) => DataError::BadRow {
                path: path.to_owned(),
                line,
                message,
            },
            RowError::Bar(problem) => DataError::BadBar {
                path: path.to_owned(),
                line,
                problem,
            },
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |cause| DataError::Io {
        path: path.to_owned(),
        cause,
    }
}

/// Opens a bar file if it is a regular file within the size limit.
fn open(path: &Path) -> Result<(File, u64), DataError> {
    open_regular(path).map_err(|refusal| match refusal {
        Refusal::Io(cause) => DataError::Io {
            path: path.to_owned(),
            cause,
        },
        refusal => DataError::NotABarFile {
            path: path.to_owned(),
            reason: refusal.to_string(),
        },
    })
}

/// The error of a line longer than [`MAX_LINE_BYTES`], beginning at byte `start`.
fn long_line(path: &Path, start: u64) -> DataError {
    let line = line_at(path, start);
    if line <= 1 {
        return DataError::NotABarFile {
            path: path.to_owned(),
            reason: format!(
                "its first line is longer than {MAX_LINE_BYTES} bytes (64 KiB), the limit for a line, so it has no CSV header"
            ),
        };
    }
    DataError::BadRow {
        path: path.to_owned(),
        line,
        message: Exceeded::Line { start }.to_string(),
    }
}

fn csv_error(path: &Path, error: csv::Error) -> DataError {
    let line = error.position().map_or(0, |p| line_at(path, p.byte()));
    match error.into_kind() {
        csv::ErrorKind::Io(cause) => match Exceeded::of(&cause) {
            Some(Exceeded::Line { start }) => long_line(path, start),
            Some(exceeded @ Exceeded::Decompressed) => DataError::NotABarFile {
                path: path.to_owned(),
                reason: exceeded.to_string(),
            },
            None => DataError::Io {
                path: path.to_owned(),
                cause,
            },
        },
        other => DataError::BadRow {
            path: path.to_owned(),
            line,
            message: format!("{other:?}"),
        },
    }
}

/// The 1-based line of the file (decompressed, for `.gz`) on which byte `offset` lies.
///
/// Computed from the byte offset, and only when an error is reported: the csv crate's own line
/// count lags by one on `\r\n` files, and counting lines for every row would cost every scan.
fn line_at(path: &Path, offset: u64) -> u64 {
    // A line ends at `\n`, or at a `\r` not followed by `\n` (old Mac files). Counted a buffer at
    // a time: the offset can be megabytes into the file.
    let count = |source: &mut dyn Read| -> std::io::Result<u64> {
        let mut source = source.take(offset);
        let mut buf = vec![0u8; 64 * 1024];
        let (mut lines, mut cr_before) = (0u64, false);
        loop {
            let n = source.read(&mut buf)?;
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            lines += u64::from(cr_before && chunk[0] != b'\n');
            lines += memchr::memchr_iter(b'\n', chunk).count() as u64;
            lines += memchr::memchr_iter(b'\r', chunk)
                .filter(|&i| chunk.get(i + 1).is_some_and(|&b| b != b'\n'))
                .count() as u64;
            cr_before = chunk.last() == Some(&b'\r');
        }
        Ok(lines + u64::from(cr_before))
    };
    let newlines = open(path).map_err(|_| ()).and_then(|(file, _)| {
        let counted = if is_gzip(path) {
            count(&mut flate2::read::MultiGzDecoder::new(BufReader::new(file)))
        } else {
            count(&mut BufReader::new(file))
        };
        counted.map_err(|_| ())
    });
    newlines.map_or(0, |n| n + 1)
}

fn is_gzip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// A row of nothing but blanks (a trailing `   ` line, say) is not data; every reader skips it.
fn is_blank(record: &ByteRecord) -> bool {
    record.iter().all(|field| field.trim_ascii().is_empty())
}

fn reader<R: Read>(source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(source)
}

/// Reads a bar file within `window`, each row checked by the core's rules and `plausible`. A
/// plain CSV asked only for its newest bars is read from the end, so a scan's cost does not grow
/// with the length of the history on disk.
pub(crate) fn read_bar_file(
    path: &Path,
    window: &BarWindow,
    plausible: Plausible,
) -> Result<Bars, DataError> {
    let gzipped = is_gzip(path);
    match (gzipped, window.last, window.from, window.to) {
        (false, Some(last), None, None) => read_tail(path, last, plausible),
        (true, ..) => {
            let (file, _) = open(path)?;
            let text =
                Bounded::decompressed(flate2::read::MultiGzDecoder::new(BufReader::new(file)));
            read_stream(path, text, window, plausible)
        }
        // The csv reader buffers what it reads: no BufReader of ours.
        (false, ..) => read_stream(path, Bounded::lines(open(path)?.0), window, plausible),
    }
}

/// Reads every row (validating all of them), keeping at most `window.last` bars in a ring so memory
/// stays bounded by the window, not the file.
fn read_stream<R: Read>(
    path: &Path,
    source: Bounded<R>,
    window: &BarWindow,
    plausible: Plausible,
) -> Result<Bars, DataError> {
    let mut rows = reader(source);
    let mut record = ByteRecord::new();
    if !rows
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        return Err(DataError::NotABarFile {
            path: path.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    let layout = Layout::from_header(path, &record, plausible)?;
    let capacity = window.last.unwrap_or(1024);
    let mut kept: VecDeque<Bar> = VecDeque::with_capacity(capacity.min(1 << 16));
    let mut previous: Option<NaiveDate> = None;
    while rows
        .read_byte_record(&mut record)
        .map_err(|e| csv_error(path, e))?
    {
        if is_blank(&record) {
            continue;
        }
        let line = || line_at(path, record.position().map_or(0, |p| p.byte()));
        let bar = layout.parse(&record).map_err(|e| e.at(path, line()))?;
        if let Some(previous) = previous
            && bar.date <= previous
        {
            return Err(RowError::Bar(BarError::DateNotAscending {
                date: bar.date,
                previous,
            })
            .at(path, line()));
        }
        previous = Some(bar.date);
        if window.to.is_some_and(|to| bar.date > to) {
            break;
        }
        if window.from.is_some_and(|from| bar.date < from) {
            continue;
        }
        if window.last.is_some_and(|last| kept.len() == last) {
            kept.pop_front();
        }
        kept.push_back(bar);
    }
    let mut bars = Bars::with_capacity(kept.len());
    for bar in kept {
        // Order was checked as rows were read, so this only re-checks values already validated.
        bars.push(bar).map_err(|problem| DataError::BadBar {
            path: path.to_owned(),
            line: 0,
            problem,
        })?;
    }
    Ok(bars)
}

/// The first line of a file and where it ends (`None` when it has no newline), reading no more
/// than a line may hold.
fn read_head(
    path: &Path,
    file: &mut File,
    len: u64,
) -> Result<(Vec<u8>, Option<usize>), DataError> {
    let most = len.min(MAX_LINE_BYTES as u64 + 1);
    let mut head = Vec::new();
    let mut want = 4096u64;
    loop {
        head.clear();
        file.seek(SeekFrom::Start(0)).map_err(io(path))?;
        (&mut *file)
            .take(want.min(most))
            .read_to_end(&mut head)
            .map_err(io(path))?;
        let end = memchr::memchr(b'\n', &head);
        if end.is_some() || head.len() as u64 >= most {
            return Ok((head, end));
        }
        want *= 4;
    }
}

/// Reads the header, then only as much of the file's end as holds the newest `last` rows.
fn read_tail(path: &Path, last: usize, plausible: Plausible) -> Result<Bars, DataError> {
    let (mut file, len) = open(path)?;
    let (head, header_end) = read_head(path, &mut file, len)?;
    // Shapes the backwards scan does not handle (a blank line before the header, old Mac `\r`-only
    // line ends) are rare: read them front to back instead, which handles every shape.
    let blank_first_line = header_end.is_some_and(|end| head[..end].trim_ascii().is_empty());
    let carriage_returns_only = header_end.is_none() && memchr::memchr(b'\r', &head).is_some();
    if blank_first_line || carriage_returns_only {
        let (file, _) = open(path)?;
        return read_stream(
            path,
            Bounded::lines(file),
            &BarWindow::last(last),
            plausible,
        );
    }
    let header_end = match header_end {
        Some(i) if i <= MAX_LINE_BYTES => i,
        None if len <= MAX_LINE_BYTES as u64 => head.len(),
        _ => return Err(long_line(path, 0)),
    };
    let data_start = (header_end as u64 + 1).min(len);

    // A first guess at the bytes that hold `last` rows; grown until they do. Each line is checked
    // against the limit as it is found, so memory stays bounded even by a file with no newline.
    let mut guess = (last as u64 + 2) * 96;
    let (body_start, mut buf) = loop {
        let start = len.saturating_sub(guess).max(data_start);
        let mut buf = Vec::with_capacity((len - start) as usize);
        file.seek(SeekFrom::Start(start)).map_err(io(path))?;
        (&mut file)
            .take(len - start)
            .read_to_end(&mut buf)
            .map_err(io(path))?;
        let at_first_row = start == data_start;
        match start_of_last_lines(&buf, last, at_first_row) {
            Ok(Some(offset)) => break (start + offset as u64, buf.split_off(offset)),
            Ok(None) if at_first_row => break (start, buf),
            Ok(None) => guess *= 4,
            Err(LongLine { begins_at }) => {
                return Err(long_line(path, start + begins_at as u64));
            }
        }
    };

    // One reader for header and rows: building a CSV reader costs more than parsing a few hundred rows.
    let mut text = head[..header_end].to_vec();
    text.push(b'\n');
    text.append(&mut buf);
    let mut rows = Rows::new(&text);
    let mut record = ByteRecord::new();
    if !rows.next(&mut record).map_err(|e| csv_error(path, e))? {
        return Err(DataError::NotABarFile {
            path: path.to_owned(),
            reason: "the file is empty".into(),
        });
    }
    let layout = Layout::from_header(path, &record, plausible)?;
    let mut bars = Bars::with_capacity(last);
    // Byte `b` of `text` past the header is byte `body_start + b - (header_end + 1)` of the file.
    let header_len = header_end as u64 + 1;
    let file_line = |record: &ByteRecord| {
        let byte = record.position().map_or(header_len, |p| p.byte());
        line_at(path, body_start + byte.saturating_sub(header_len))
    };
    while bars.len() < last && rows.next(&mut record).map_err(|e| csv_error(path, e))? {
        if is_blank(&record) {
            continue;
        }
        let bar = layout
            .parse(&record)
            .map_err(|e| e.at(path, file_line(&record)))?;
        bars.push(bar).map_err(|problem| DataError::BadBar {
            path: path.to_owned(),
            line: file_line(&record),
            problem,
        })?;
    }
    Ok(bars)
}

/// Rows of a small in-memory CSV text.
///
/// Why not always the csv crate: building its reader (it compiles a parsing automaton) costs more
/// than parsing the couple of dozen rows a priority snapshot reads, and was a quarter of a scan's
/// time. Bar files are plain unquoted numbers, so text without a `"` is split on commas directly;
/// anything quoted goes to the csv crate, which handles every CSV rule.
enum Rows<'a> {
    Plain { text: &'a [u8], at: usize },
    Csv(csv::Reader<&'a [u8]>),
}

impl<'a> Rows<'a> {
    fn new(text: &'a [u8]) -> Self {
        if memchr::memchr(b'"', text).is_some() {
            Rows::Csv(reader(text))
        } else {
            Rows::Plain { text, at: 0 }
        }
    }

    /// Fills `record` with the next row (its position's byte offset set, as the csv crate does).
    fn next(&mut self, record: &mut ByteRecord) -> Result<bool, csv::Error> {
        let (text, at) = match self {
            Rows::Csv(rows) => return rows.read_byte_record(record),
            Rows::Plain { text, at } => (*text, at),
        };
        while *at < text.len() {
            let start = *at;
            let end = memchr::memchr(b'\n', &text[start..]).map_or(text.len(), |i| start + i);
            *at = end + 1;
            let line = text[start..end]
                .strip_suffix(b"\r")
                .unwrap_or(&text[start..end]);
            if line.trim_ascii().is_empty() {
                continue;
            }
            record.clear();
            for field in line.split(|&b| b == b',') {
                record.push_field(field);
            }
            let mut position = csv::Position::new();
            position.set_byte(start as u64);
            record.set_position(Some(position));
            return Ok(true);
        }
        Ok(false)
    }
}

/// A line of a tail read's buffer longer than [`MAX_LINE_BYTES`], from `begins_at` in the buffer
/// (0 for a line cut by the buffer's start, which is at least that long).
#[derive(Debug, PartialEq, Eq)]
struct LongLine {
    begins_at: usize,
}

/// Offset in `buf` where the newest `last` non-blank lines begin; `None` if `buf` holds fewer.
/// Unless `at_first_row`, the first line of `buf` is assumed cut and never counted. A line looked
/// at that is longer than the limit is an error.
fn start_of_last_lines(
    buf: &[u8],
    last: usize,
    at_first_row: bool,
) -> Result<Option<usize>, LongLine> {
    if last == 0 {
        return Ok(Some(buf.len()));
    }
    let mut found = 0;
    let mut end = buf.len();
    while let Some(newline) = memchr::memrchr(b'\n', &buf[..end]) {
        let line = &buf[newline + 1..end];
        if line.len() > MAX_LINE_BYTES {
            return Err(LongLine {
                begins_at: newline + 1,
            });
        }
        if !line.trim_ascii().is_empty() {
            found += 1;
            if found == last {
                return Ok(Some(newline + 1));
            }
        }
        end = newline;
    }
    if end > MAX_LINE_BYTES {
        return Err(LongLine { begins_at: 0 });
    }
    // The first line of the buffer has no newline before it: it counts only if it is whole.
    Ok((at_first_row && !buf[..end].trim_ascii().is_empty() && found + 1 == last).then_some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads as a data directory does on a fixed day, later than every date of these tests.
    fn read_bar_file(path: &Path, window: &BarWindow) -> Result<Bars, DataError> {
        let today = NaiveDate::from_ymd_opt(2024, 6, 3).expect("date");
        super::read_bar_file(path, window, Plausible::on(today))
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    const ALPHAVANTAGE: &str = "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n\
        2020-01-02,100,110,90,100,50,1000,0,1\n\
        2020-01-03,100,120,95,110,55,2000,0,1\n\
        2020-01-06,110,115,100,105,105,3000,0,2\n";

    #[test]
    fn alphavantage_layout_is_adjusted_by_adjusted_close_over_close() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "X.csv", ALPHAVANTAGE);
        let bars = read_bar_file(&path, &BarWindow::default()).expect("valid file");
        assert_eq!(bars.len(), 3);
        assert_eq!(
            (bars.open[0], bars.high[0], bars.low[0], bars.close[0]),
            (50.0, 55.0, 45.0, 50.0)
        );
        assert_eq!(bars.volume[0], 1000.0, "volume is left as given");
        assert_eq!(bars.close[2], 105.0);
    }

    #[test]
    fn yahoo_and_plain_layouts_are_read_case_insensitively() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yahoo = write(
            &dir,
            "Y.csv",
            "Date,Open,High,Low,Close,Adj Close,Volume\r\n2021-03-01,10,12,9,10,5,77\r\n",
        );
        let bars = read_bar_file(&yahoo, &BarWindow::default()).expect("yahoo");
        assert_eq!(
            (bars.high[0], bars.close[0], bars.volume[0]),
            (6.0, 5.0, 77.0)
        );
        let plain = write(
            &dir,
            "P.csv",
            "DATE,OPEN,HIGH,LOW,CLOSE,VOLUME\n2021-03-01,10,12,9,11,5\n",
        );
        let bars = read_bar_file(&plain, &BarWindow::default()).expect("plain");
        assert_eq!(bars.close[0], 11.0, "no adjusted column: prices as given");
    }

    #[test]
    fn tail_read_matches_the_full_read_for_any_window() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut text = String::from("date,open,high,low,close,volume\n");
        let start = NaiveDate::from_ymd_opt(2000, 1, 1).expect("date");
        for i in 0..500u32 {
            let d = start + chrono::Days::new(u64::from(i));
            let p = 100.0 + f64::from(i % 17);
            text.push_str(&format!("{d},{p},{},{},{p},{}\n", p + 1.0, p - 1.0, i * 10));
        }
        let path = write(&dir, "T.csv", &text);
        let full = read_bar_file(&path, &BarWindow::default()).expect("full");
        for last in [0, 1, 2, 7, 100, 499, 500, 501, 10_000] {
            let mut expected = full.clone();
            expected.keep_last(last);
            assert_eq!(
                read_bar_file(&path, &BarWindow::last(last)).expect("tail"),
                expected,
                "last {last}"
            );
        }
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let not_bars = write(
            &dir,
            "BF.B.csv",
            "{\n    \"Error Message\": \"Invalid API call.\"\n}\n",
        );
        let err = read_bar_file(&not_bars, &BarWindow::last(100))
            .expect_err("not a bar file")
            .to_string();
        assert!(
            err.contains("BF.B.csv")
                && err.contains("not a bar file")
                && err
                    .contains("found a first line of 1 comma-separated field with no date column")
                && !err.contains('{'),
            "the shape of the file, not its text: {err}"
        );

        let mut lines = String::from("date,open,high,low,close,volume\n");
        for day in 1..=9 {
            lines.push_str(&format!("2020-01-0{day},1,2,1,2,10\n"));
        }
        let bad_number = lines.replace("2020-01-05,1,2,1,2,10", "2020-01-05,1,2,1,oops,10");
        let path = write(&dir, "N.csv", &bad_number);
        for window in [BarWindow::default(), BarWindow::last(6)] {
            let err = read_bar_file(&path, &window)
                .expect_err("bad number")
                .to_string();
            assert!(
                err.contains("N.csv, line 6: close 'oops' is not a number"),
                "{err}"
            );
        }
        let repeated = lines.replace("2020-01-07", "2020-01-06");
        let path = write(&dir, "R.csv", &repeated);
        for window in [BarWindow::default(), BarWindow::last(5)] {
            let err = read_bar_file(&path, &window)
                .expect_err("repeated date")
                .to_string();
            assert!(
                err.contains("R.csv, line 8: date 2020-01-06 is not after"),
                "{err}"
            );
        }
        let inverted = lines.replace("2020-01-08,1,2,1,2,10", "2020-01-08,1,1,2,2,10");
        let path = write(&dir, "H.csv", &inverted);
        let err = read_bar_file(&path, &BarWindow::last(3))
            .expect_err("high < low")
            .to_string();
        assert!(
            err.contains("H.csv, line 9: high 1 is below low 2"),
            "{err}"
        );
        let short = write(
            &dir,
            "S.csv",
            "date,open,high,low,close,volume\n2020-01-01,1,2\n",
        );
        let err = read_bar_file(&short, &BarWindow::default())
            .expect_err("short row")
            .to_string();
        assert!(
            err.contains("line 2: 3 fields where the header has 6"),
            "{err}"
        );
        let bad_date = write(
            &dir,
            "D.csv",
            "date,open,high,low,close,volume\n01/02/2020,1,2,1,2,3\n",
        );
        let err = read_bar_file(&bad_date, &BarWindow::default())
            .expect_err("bad date")
            .to_string();
        assert!(
            err.contains("date '01/02/2020' is not a date (expected YYYY-MM-DD)"),
            "{err}"
        );
    }

    #[test]
    fn line_endings_and_blank_lines_do_not_change_bars_or_line_numbers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows: Vec<String> = (1..=9)
            .map(|d| format!("2020-01-0{d},1,2,1,2,10"))
            .collect();
        let expected = {
            let mut text = String::from("date,open,high,low,close,volume\n");
            text.push_str(&rows.join("\n"));
            read_bar_file(&write(&dir, "REF.csv", &text), &BarWindow::default()).expect("reference")
        };
        for (name, eol, lead, trail) in [
            ("LF", "\n", "", "\n"),
            ("CRLF", "\r\n", "", "\r\n"),
            ("CR", "\r", "", "\r"),
            ("LEAD", "\n", "\n\n", "\n"),
            ("TRAIL", "\n", "", "\n   \n\n"),
            ("NOEOL", "\r\n", "", ""),
        ] {
            let text = format!(
                "{lead}date,open,high,low,close,volume{eol}{}{trail}",
                rows.join(eol)
            );
            let path = write(&dir, &format!("{name}.csv"), &text);
            for window in [
                BarWindow::default(),
                BarWindow::last(4),
                BarWindow::last(50),
            ] {
                let mut want = expected.clone();
                want.keep_last(window.last.unwrap_or(usize::MAX));
                assert_eq!(
                    read_bar_file(&path, &window).expect(name),
                    want,
                    "{name} {window:?}"
                );
            }
            // Row 2020-01-06 is line 7 of the LF file; blank leading lines push it down.
            let broken = text.replace("2020-01-06,1,2,1,2,10", "2020-01-06,1,1,2,2,10");
            let path = write(&dir, &format!("{name}-bad.csv"), &broken);
            let line = 7 + lead.len();
            for window in [BarWindow::default(), BarWindow::last(5)] {
                let err = read_bar_file(&path, &window)
                    .expect_err("high < low")
                    .to_string();
                assert!(
                    err.contains(&format!("line {line}: high 1 is below low 2")),
                    "{name}: {err}"
                );
            }
        }
    }

    #[test]
    fn quoted_fields_are_read_by_the_full_csv_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "\"date\",\"open\",\"high\",\"low\",\"close\",\"volume\"\n\"2020-01-02\",1,2,1,\"2\",\"1,000\"\n";
        let err = read_bar_file(&write(&dir, "Q.csv", text), &BarWindow::last(5))
            .expect_err("1,000 is not a number");
        assert!(
            err.to_string().contains("volume '1,000' is not a number"),
            "{err}"
        );
        let ok = text.replace("\"1,000\"", "\"1000\"");
        let bars = read_bar_file(&write(&dir, "Q2.csv", &ok), &BarWindow::last(5))
            .expect("quoted numbers");
        assert_eq!((bars.close[0], bars.volume[0]), (2.0, 1000.0));
    }

    #[test]
    fn gzip_files_and_date_windows_are_read() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("G.csv.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&path).expect("create"),
            flate2::Compression::fast(),
        );
        encoder
            .write_all(ALPHAVANTAGE.as_bytes())
            .expect("write gz");
        encoder.finish().expect("finish gz");
        let window = BarWindow {
            last: Some(1),
            from: None,
            to: NaiveDate::from_ymd_opt(2020, 1, 3),
        };
        let bars = read_bar_file(&path, &window).expect("gz");
        assert_eq!(
            bars.dates,
            vec![NaiveDate::from_ymd_opt(2020, 1, 3).expect("date")]
        );
    }
}
