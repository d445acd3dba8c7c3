//! A data directory written by someone careless or hostile: malformed rows, implausible bars,
//! files that are not files, files too big to be bars. Each must cost its own symbol a clear
//! diagnostic (the file, the line, the rule), quickly and in bounded memory, and never a wrong
//! number.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use technic_core::{Bar, Bars};
use technic_data::files::{FileSource, universe_row_label};
use technic_data::{
    BarWindow, DataError, MAX_DECOMPRESSED_BYTES, MAX_FILE_BYTES, MAX_LINE_BYTES, MarketData,
    write_parquet_bars,
};
use technic_testkit::shared;

/// The real XOM file's header and a few of its newest rows (2021-04-13 … 2021-04-21).
fn xom_rows() -> (String, Vec<String>) {
    let text =
        std::fs::read_to_string(shared().join("data/sp500/bars/XOM.csv")).expect("XOM.csv reads");
    let mut lines = text.lines();
    let header = lines.next().expect("header").to_owned();
    let rows: Vec<String> = lines.map(str::to_owned).collect();
    (header, rows[rows.len() - 7..].to_vec())
}

/// A data directory holding the given bar files (and no universe file).
fn data_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("bars")).expect("mkdir bars");
    for (name, bytes) in files {
        std::fs::write(dir.path().join("bars").join(name), bytes).expect("write bar file");
    }
    dir
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(text).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The windows a scan (newest N, read from the end of a plain CSV), `technic indicators` (the
/// whole file) and a replay (up to a date) ask for.
fn windows() -> [BarWindow; 3] {
    [
        BarWindow::last(4),
        BarWindow::default(),
        BarWindow {
            to: NaiveDate::from_ymd_opt(2030, 1, 1),
            ..BarWindow::default()
        },
    ]
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2021, 4, 22).expect("date")
}

fn open(dir: &Path) -> FileSource {
    FileSource::open(dir)
        .expect("data dir opens")
        .with_today(today())
}

/// Reads `symbol` with every window, from `NAME.csv` and from its gzipped copy, and returns the
/// error each gives (panicking if one reads).
fn errors(text: &str, name: &str) -> Vec<String> {
    let dir = data_dir(&[
        (&format!("{name}.csv"), text.as_bytes()),
        (&format!("{name}GZ.csv.gz"), &gzip(text.as_bytes())),
    ]);
    let source = open(dir.path());
    let mut found = Vec::new();
    for symbol in [name.to_owned(), format!("{name}GZ")] {
        for window in windows() {
            let err = source
                .bars(&symbol, &window)
                .map(|bars| format!("read {} bars: {bars:?}", bars.len()))
                .expect_err(&format!("{symbol} {window:?} must be refused"));
            found.push(err.to_string());
        }
    }
    found
}

#[test]
fn a_row_that_does_not_match_the_header_is_its_own_diagnostic() {
    let (header, rows) = xom_rows();
    // Row 5 of the file is rows[3]: `2021-04-16,…`.
    let broken_row = |row: String| {
        let mut all = rows.clone();
        all[3] = row;
        format!("{header}\n{}\n", all.join("\n"))
    };
    let fields: Vec<&str> = rows[3].split(',').collect();
    let deleted_close = {
        let mut f = fields.clone();
        f.remove(4);
        f.join(",")
    };
    let unquoted_thousands = {
        let mut f: Vec<String> = fields.iter().map(|s| (*s).to_owned()).collect();
        f[6] = "21,123,332".into();
        f.join(",")
    };
    let merged = format!("{}{}", rows[3], rows[4]);
    let mut merged_rows = rows.clone();
    merged_rows[3] = merged;
    merged_rows.remove(4);
    let cases = [
        (
            "DEL",
            broken_row(deleted_close),
            "8 fields where the header has 9",
        ),
        (
            "COMMA",
            broken_row(unquoted_thousands),
            "11 fields where the header has 9",
        ),
        (
            "MERGE",
            format!("{header}\n{}\n", merged_rows.join("\n")),
            "17 fields where the header has 9",
        ),
    ];
    for (name, text, expected) in cases {
        for err in errors(&text, name) {
            assert!(
                err.contains(".csv") && err.contains("line 5: ") && err.contains(expected),
                "{name}: {err}"
            );
            assert!(
                err.contains("every row must have as many fields as the header"),
                "the rule is named: {err}"
            );
        }
    }
    // A plain six-column header over AlphaVantage's nine-column rows: adjusted_close would be
    // read as the volume.
    let text = format!("date,open,high,low,close,volume\n{}\n", rows.join("\n"));
    for err in errors(&text, "NARROW") {
        assert!(
            err.contains("NARROW") && err.contains(": 9 fields where the header has 6"),
            "the first row read (from the front or from the end) is refused: {err}"
        );
    }
}

#[test]
fn implausible_bars_are_refused_with_the_line_and_the_rule() {
    let header = "date,open,high,low,close,volume";
    let good = [
        "2021-04-19,10,12,9,11,100",
        "2021-04-20,11,13,10,12,100",
        "2021-04-21,12,14,11,13,100",
    ];
    let with_third = |row: &str| format!("{header}\n{}\n{}\n{row}\n", good[0], good[1]);
    let cases = [
        (
            "CLOSEHIGH",
            "2021-04-21,12,14,11,14.5,100",
            "close 14.5 is above high 14",
        ),
        (
            "CLOSELOW",
            "2021-04-21,12,14,11,10.5,100",
            "close 10.5 is below low 11",
        ),
        (
            "OPENLOW",
            "2021-04-21,10,14,11,13,100",
            "open 10 is below low 11",
        ),
        (
            "OPENHIGH",
            "2021-04-21,15,14,11,13,100",
            "open 15 is above high 14",
        ),
        (
            "ZERO",
            "2021-04-21,12,14,0,13,100",
            "low is 0, expected a finite positive price",
        ),
        (
            "FUTURE",
            "2099-01-02,12,14,11,13,100",
            "date 2099-01-02 is after today, 2021-04-22 (UTC)",
        ),
    ];
    for (name, row, expected) in cases {
        for err in errors(&with_third(row), name) {
            assert!(
                err.contains(name) && err.contains("line 4: ") && err.contains(expected),
                "{name}: {err}"
            );
            if !matches!(name, "ZERO" | "FUTURE") {
                assert!(
                    err.contains("(open and close must lie between low and high)"),
                    "{err}"
                );
            }
        }
    }
    // The day after today (UTC) is today somewhere east of UTC: accepted. Two days after is not.
    let tomorrow = with_third("2021-04-23,12,14,11,13,100");
    let dir = data_dir(&[("TOMORROW.csv", tomorrow.as_bytes())]);
    let bars = open(dir.path())
        .bars("TOMORROW", &BarWindow::default())
        .expect("tomorrow in UTC is today east of it");
    assert_eq!(bars.last_date(), NaiveDate::from_ymd_opt(2021, 4, 23));
    // Without an injected date the system's is used: 2099 is refused, the real 2021 data is not.
    let far = data_dir(&[(
        "FAR.csv",
        with_third("2099-01-02,12,14,11,13,100").as_bytes(),
    )]);
    let err = FileSource::open(far.path())
        .expect("opens")
        .bars("FAR", &BarWindow::last(2))
        .expect_err("2099 is in the future")
        .to_string();
    assert!(
        err.contains("FAR.csv, line 4: date 2099-01-02 is after today"),
        "{err}"
    );
}

#[test]
fn a_header_naming_a_column_twice_is_refused() {
    let text = "date,open,high,low,close,volume,Close\n2021-04-21,12,14,11,13,100,13\n";
    for err in errors(text, "DUP") {
        assert!(
            err.contains("not a bar file: its header is ambiguous: columns 5 and 7 are both named 'close' (column names must be unique)"),
            "{err}"
        );
    }
}

/// Bars that break the plausibility rules but not the core's invariants, as Parquet.
fn implausible_parquet(path: &Path, close_above_high: bool) {
    let day = |d| NaiveDate::from_ymd_opt(2021, 4, d).expect("date");
    let mut bars = Bars::default();
    for (i, d) in [19, 20, 21].into_iter().enumerate() {
        let p = 10.0 + i as f64;
        bars.push(Bar {
            date: if !close_above_high && i == 2 {
                NaiveDate::from_ymd_opt(2099, 1, 2).expect("date")
            } else {
                day(d)
            },
            open: p,
            high: p + 2.0,
            low: p - 1.0,
            close: if close_above_high && i == 1 {
                p + 3.0
            } else {
                p + 1.0
            },
            volume: 100.0,
        })
        .expect("valid for the core");
    }
    write_parquet_bars(path, "X", &bars).expect("written");
}

#[test]
fn parquet_files_of_a_data_directory_are_held_to_the_same_rules() {
    let dir = data_dir(&[]);
    implausible_parquet(&dir.path().join("bars/HIGH.parquet"), true);
    implausible_parquet(&dir.path().join("bars/LATE.parquet"), false);
    let source = open(dir.path());
    for window in windows() {
        let err = source
            .bars("HIGH", &window)
            .expect_err("close above high")
            .to_string();
        assert!(
            err.contains("HIGH.parquet, line 2: close 14 is above high 13"),
            "{window:?}: {err}"
        );
        let err = source.bars("LATE", &window).expect_err("2099").to_string();
        assert!(
            err.contains("LATE.parquet, line 3: date 2099-01-02 is after today"),
            "{window:?}: {err}"
        );
    }
}

#[test]
fn bar_files_differing_only_in_case_make_the_symbol_ambiguous() {
    let text = b"date,open,high,low,close,volume\n2021-04-21,12,14,11,13,100\n";
    let dir = data_dir(&[("AAPL.csv", text), ("aapl.csv", text), ("MSFT.csv", text)]);
    let source = open(dir.path());
    for symbol in ["AAPL", "aapl"] {
        let err = source
            .bars(symbol, &BarWindow::default())
            .expect_err("ambiguous")
            .to_string();
        assert!(
            err.contains("ambiguous: bars/AAPL.csv and bars/aapl.csv both name it")
                && err.contains("matched case-insensitively"),
            "{err}"
        );
        assert!(
            !err.contains(&dir.path().display().to_string()),
            "no directory: {err}"
        );
    }
    assert_eq!(
        source
            .bars("MSFT", &BarWindow::default())
            .expect("MSFT")
            .len(),
        1
    );
    let symbols: Vec<String> = source
        .universe()
        .expect("universe")
        .into_iter()
        .map(|s| s.symbol)
        .collect();
    assert_eq!(
        symbols,
        ["AAPL", "MSFT"],
        "the ambiguous symbol is still a member, to be reported"
    );
}

/// Runs `read` on a thread and fails if it takes longer than `limit` (a read that blocks for
/// ever fails the test instead of hanging it).
fn within<T: Send + 'static>(limit: Duration, read: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = send.send(read());
    });
    let outcome = receive
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the read took over {limit:?}"));
    assert!(started.elapsed() <= limit);
    outcome
}

fn read_error(dir: &Path, symbol: &'static str, window: BarWindow) -> String {
    let source = open(dir);
    // Generous for a loaded machine running an unoptimised build: each read takes milliseconds,
    // but the largest (64 MiB inflated) about a second; before, these took minutes or for ever.
    within(Duration::from_secs(30), move || {
        source
            .bars(symbol, &window)
            .map(|bars| bars.len())
            .expect_err("refused")
            .to_string()
    })
}

#[cfg(unix)]
#[test]
fn only_regular_files_are_read() {
    let dir = data_dir(&[]);
    let bars = dir.path().join("bars");
    let status = std::process::Command::new("mkfifo")
        .arg(bars.join("PIPE.csv"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    std::os::unix::fs::symlink("/dev/zero", bars.join("ZERO.csv")).expect("symlink");
    std::os::unix::fs::symlink("/dev/zero", bars.join("ZEROGZ.csv.gz")).expect("symlink");
    std::os::unix::fs::symlink("/dev/zero", bars.join("ZEROPQ.parquet")).expect("symlink");
    std::fs::create_dir(bars.join("DIR.csv")).expect("a directory named like a bar file");
    for window in windows() {
        let err = read_error(dir.path(), "PIPE", window);
        assert!(
            err.contains("PIPE.csv: not a bar file: it is a named pipe (FIFO), not a regular file"),
            "{err}"
        );
        for symbol in ["ZERO", "ZEROGZ", "ZEROPQ"] {
            let err = read_error(dir.path(), symbol, window);
            assert!(
                err.contains("it is a character device, not a regular file"),
                "{err}"
            );
        }
        let err = read_error(dir.path(), "DIR", window);
        assert!(
            err.contains("it is a directory, not a regular file"),
            "{err}"
        );
    }
    // A universe.csv that is a FIFO fails the opening with the same words, at once.
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("universe.csv"))
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    std::fs::write(bars.join("OK.csv"), "date,open,high,low,close,volume\n").expect("write");
    let path = dir.path().to_owned();
    let err = within(Duration::from_secs(10), move || {
        FileSource::open(path)
            .map(|_| ())
            .expect_err("a FIFO universe")
            .to_string()
    });
    assert!(
        err.contains("universe.csv: cannot read: it is a named pipe (FIFO), not a regular file"),
        "{err}"
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused_without_being_read() {
    let dir = data_dir(&[]);
    let path = dir.path().join("bars/HUGE.csv");
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(b"date,open,high,low,close,volume\n")
        .expect("header");
    // Sparse: a gigabyte that costs the disk nothing.
    file.set_len(1 << 30).expect("sparse 1 GiB");
    for window in windows() {
        let err = read_error(dir.path(), "HUGE", window);
        assert!(
            err.contains(&format!(
                "HUGE.csv: not a bar file: it is 1073741824 bytes, over the limit of {MAX_FILE_BYTES} bytes (64 MiB)"
            )),
            "{err}"
        );
    }
}

#[test]
fn a_line_over_the_limit_fails_fast_wherever_it_is() {
    let header = b"date,open,high,low,close,volume\n";
    let dir = data_dir(&[]);
    // A header, then 48 MiB (within the size limit) without a newline: the tail read used to read
    // the whole file looking for one.
    let path = dir.path().join("bars/NOEOL.csv");
    let mut file = std::fs::File::create(&path).expect("create");
    file.write_all(header).expect("header");
    file.write_all(b"2021-04-21,12,14,11,13,100").expect("row");
    file.set_len(48 << 20).expect("sparse");
    drop(file);
    for window in windows() {
        let err = read_error(dir.path(), "NOEOL", window);
        assert!(
            err.contains(&format!(
                "NOEOL.csv, line 2: the line is longer than {MAX_LINE_BYTES} bytes (64 KiB), the limit for a line"
            )),
            "{window:?}: {err}"
        );
    }
    // A header line over the limit is refused by every read, whole-file ones included.
    let mut long_header = b"date,open,high,low,close,volume".to_vec();
    long_header.extend(b",x".repeat(MAX_LINE_BYTES / 2));
    long_header.extend(b"\n2021-04-21,12,14,11,13,100\n");
    std::fs::write(dir.path().join("bars/WIDE.csv"), &long_header).expect("write");
    for window in windows() {
        let err = read_error(dir.path(), "WIDE", window);
        assert!(
            err.contains(&format!(
                "WIDE.csv: not a bar file: its first line is longer than {MAX_LINE_BYTES} bytes"
            )),
            "{window:?}: {err}"
        );
    }
}

/// `copies` gzip members of `chunk`, one after another: a valid `.csv.gz` that inflates to
/// `chunk` repeated, built without compressing the whole.
fn gzip_repeated(prefix: &[u8], chunk: &[u8], copies: usize) -> Vec<u8> {
    let member = gzip(chunk);
    let mut bytes = gzip(prefix);
    for _ in 0..copies {
        bytes.extend_from_slice(&member);
    }
    bytes
}

#[test]
fn a_gzip_bomb_fails_fast() {
    let dir = data_dir(&[]);
    // 1.5 GiB of one line, in a file of about 1.5 MB.
    let one_line = gzip_repeated(
        b"date,open,high,low,close,volume\n",
        &vec![b'7'; 1 << 20],
        1536,
    );
    assert!(one_line.len() < 4 << 20, "{} bytes", one_line.len());
    std::fs::write(dir.path().join("bars/BOMB.csv.gz"), one_line).expect("write");
    // Blank lines (which readers skip), each 32 KiB of spaces, past the decompressed limit.
    let mut spaces = vec![b' '; 1 << 20];
    for at in (0..spaces.len()).step_by(32 << 10) {
        spaces[at] = b'\n';
    }
    let blank = gzip_repeated(
        b"date,open,high,low,close,volume\n",
        &spaces,
        usize::try_from(MAX_DECOMPRESSED_BYTES >> 20).expect("small") + 1,
    );
    std::fs::write(dir.path().join("bars/BLANK.csv.gz"), blank).expect("write");
    for window in windows() {
        let err = read_error(dir.path(), "BOMB", window);
        assert!(
            err.contains("BOMB.csv.gz, line 2: the line is longer than 65536 bytes"),
            "{err}"
        );
        let err = read_error(dir.path(), "BLANK", window);
        assert!(
            err.contains(&format!(
                "BLANK.csv.gz: not a bar file: it decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes (64 MiB), the limit for a .csv.gz"
            )),
            "{err}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_diagnostic_describes_a_non_bar_file_without_quoting_it() {
    let dir = data_dir(&[]);
    let secret = dir.path().join("secret");
    std::fs::write(
        &secret,
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin\n",
    )
    .expect("write");
    std::os::unix::fs::symlink(&secret, dir.path().join("bars/XOM.csv")).expect("symlink");
    for window in windows() {
        let err = read_error(dir.path(), "XOM", window);
        assert!(
            err.contains("XOM.csv: not a bar file: expected a header with date (or timestamp), open, high, low, close and volume columns, found a first line of 1 comma-separated field with no date column"),
            "{err}"
        );
        assert!(!err.contains("root") && !err.contains("bash"), "{err}");
    }
}

#[test]
fn a_universe_row_without_a_symbol_is_that_rows_error() {
    let text = b"date,open,high,low,close,volume\n2021-04-21,12,14,11,13,100\n";
    let dir = data_dir(&[("AAA.csv", text), ("BBB.csv", text)]);
    std::fs::write(
        dir.path().join("universe.csv"),
        "symbol,name,sector\nAAA,Aaa Inc,Energy\n,Nameless Corp,Utilities\nBBB,Bbb Inc,Energy\n",
    )
    .expect("write universe");
    let source = open(dir.path());
    let universe = source.universe().expect("the universe is read");
    let symbols: Vec<&str> = universe.iter().map(|s| s.symbol.as_str()).collect();
    let label = universe_row_label(3);
    assert_eq!(symbols, ["AAA", "BBB", label.as_str()]);
    assert_eq!(universe[1].sector.as_deref(), Some("Energy"));
    let err = source
        .bars(&label, &BarWindow::default())
        .expect_err("the row's error");
    assert!(
        matches!(err, DataError::BadUniverse { line: 3, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("universe.csv, line 3: the row has no symbol"),
        "{err}"
    );
    assert_eq!(
        source
            .bars("BBB", &BarWindow::default())
            .expect("BBB")
            .len(),
        1
    );
    // The strict reader (for the files technic writes itself) still refuses the file.
    let err =
        technic_data::files::read_universe(&dir.path().join("universe.csv")).expect_err("strict");
    assert!(err.to_string().contains("line 3"), "{err}");
}
