//! Opening the files of a data directory so that no file can hang a read or make it unbounded: only
//! regular files are read, and a file's size, a line's length and a `.csv.gz`'s decompressed size
//! have limits, each named with its value when it is exceeded.
//!
//! The limits are far above any real daily bar file (the longest of the S&P 500's, 5,400 rows,
//! is 400 KB; a century of daily bars would be about 2.5 MB) and low enough that a reader never
//! holds more than a few of them in memory.
//!
//! Every file a data directory reads is opened here: regular files only, checked before opening and
//! again on the open handle, which is opened non-blocking so a FIFO never waits for a writer.
//! [`MAX_FILE_BYTES`], [`MAX_LINE_BYTES`] and [`MAX_DECOMPRESSED_BYTES`] bound a read in time and
//! memory by themselves, not by what the file claims.

use std::fs::{File, FileType};
use std::io::Read;
use std::path::Path;

/// The longest line a bar or universe file may have. Real rows are under 200 bytes; a header
/// of a hundred long column names would still fit many times over.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The largest file read (for a `.csv.gz`, its compressed size).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The most a `.csv.gz` may inflate to.
pub const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// Why a file was not read: the message names what the file is or the limit with its value.
#[derive(Debug)]
pub(crate) enum Refusal {
    Io(std::io::Error),
    NotRegular(&'static str),
    TooLarge { bytes: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            Self::TooLarge { bytes } => write!(
                f,
                "it is {bytes} bytes, over the limit of {MAX_FILE_BYTES} bytes (64 MiB) for a data file"
            ),
        }
    }
}

impl From<Refusal> for std::io::Error {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

fn kind_of(file_type: FileType) -> Option<&'static str> {
    if file_type.is_file() {
        return None;
    }
    if file_type.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if file_type.is_char_device() {
            return Some("a character device");
        }
        if file_type.is_block_device() {
            return Some("a block device");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a file")
}

/// Opens `path` for reading if it is (or links to) a regular file no larger than
/// [`MAX_FILE_BYTES`], and returns it with its size.
///
/// The type is checked before opening, so a device is never even opened, and again on the open
/// handle, so a FIFO swapped in between cannot block: on Unix the open does not wait for a
/// writer (`O_NONBLOCK`, which changes nothing for reads of a regular file).
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64), Refusal> {
    let check = |metadata: std::fs::Metadata| match kind_of(metadata.file_type()) {
        Some(kind) => Err(Refusal::NotRegular(kind)),
        None if metadata.len() > MAX_FILE_BYTES => Err(Refusal::TooLarge {
            bytes: metadata.len(),
        }),
        None => Ok(metadata.len()),
    };
    check(std::fs::metadata(path).map_err(Refusal::Io)?)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(Refusal::Io)?;
    let len = check(file.metadata().map_err(Refusal::Io)?)?;
    Ok((file, len))
}

/// Which limit a [`Bounded`] reader hit; carried inside the `io::Error` it returns, so a caller
/// that gets the error back through another reader (the csv crate's) can still tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// A line longer than [`MAX_LINE_BYTES`]; the byte offset at which it begins.
    Line { start: u64 },
    /// More than [`MAX_DECOMPRESSED_BYTES`] of decompressed text.
    Decompressed,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Line { .. } => write!(
                f,
                "the line is longer than {MAX_LINE_BYTES} bytes (64 KiB), the limit for a line"
            ),
            Self::Decompressed => write!(
                f,
                "it decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes (64 MiB), the limit for a .csv.gz"
            ),
        }
    }
}

impl std::error::Error for Exceeded {}

impl Exceeded {
    /// The limit an error from a [`Bounded`] reader names, if it is one.
    pub(crate) fn of(error: &std::io::Error) -> Option<Self> {
        error.get_ref()?.downcast_ref::<Self>().copied()
    }
}

/// A reader that fails, instead of reading on, once a line grows past [`MAX_LINE_BYTES`] or the
/// whole past `total_limit` bytes.
///
/// Why not `Read::take`: it would end the text quietly, and a cut file would read as a short one.
/// The csv crate has no line limit of its own; it grows a record for as long as its line goes on.
#[derive(Debug)]
pub(crate) struct Bounded<R> {
    inner: R,
    read: u64,
    line_start: u64,
    total_limit: Option<(u64, Exceeded)>,
}

impl<R: Read> Bounded<R> {
    pub(crate) fn lines(inner: R) -> Self {
        Self {
            inner,
            read: 0,
            line_start: 0,
            total_limit: None,
        }
    }

    pub(crate) fn decompressed(inner: R) -> Self {
        Self {
            total_limit: Some((MAX_DECOMPRESSED_BYTES, Exceeded::Decompressed)),
            ..Self::lines(inner)
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let chunk = &buf[..n];
        // Every line end of the chunk, not only its last: a whole over-long line can arrive in
        // one read. One memchr per line, a small cost beside parsing the line's fields.
        let limit = MAX_LINE_BYTES as u64;
        for end in memchr::memchr2_iter(b'\n', b'\r', chunk) {
            let at = self.read + end as u64;
            if at - self.line_start > limit {
                return Err(std::io::Error::other(Exceeded::Line {
                    start: self.line_start,
                }));
            }
            self.line_start = at + 1;
        }
        self.read += n as u64;
        if self.read - self.line_start > limit {
            return Err(std::io::Error::other(Exceeded::Line {
                start: self.line_start,
            }));
        }
        if let Some((total, exceeded)) = self.total_limit
            && self.read > total
        {
            return Err(std::io::Error::other(exceeded));
        }
        Ok(n)
    }
}

/// Reads a whole small file (`universe.csv`) if it is a regular file within [`MAX_FILE_BYTES`].
pub(crate) fn read_regular(path: &Path) -> Result<Vec<u8>, Refusal> {
    let (file, len) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // `take` guards a file that grows while it is read; its size was checked when it was opened.
    file.take(MAX_FILE_BYTES)
        .read_to_end(&mut bytes)
        .map_err(Refusal::Io)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_refused_wherever_the_reads_end() {
        let mut text = b"short\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        text.extend(b"\nmore\n");
        // One read of everything, and reads of a few bytes: the over-long line is seen either way.
        let mut whole = Bounded::lines(&text[..]);
        let mut sink = vec![0u8; text.len() + 10];
        let err = whole.read(&mut sink).expect_err("too long");
        assert_eq!(Exceeded::of(&err), Some(Exceeded::Line { start: 6 }));
        let err = std::io::copy(
            &mut Bounded::lines(std::io::BufReader::with_capacity(7, &text[..])),
            &mut std::io::sink(),
        )
        .expect_err("too long");
        assert_eq!(Exceeded::of(&err), Some(Exceeded::Line { start: 6 }));

        let mut fits = b"a\r\n".to_vec();
        fits.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES));
        fits.extend(b"\r\n");
        let copied = std::io::copy(&mut Bounded::lines(&fits[..]), &mut std::io::sink())
            .expect("a line of exactly the limit is read");
        assert_eq!(copied, fits.len() as u64);
    }
}
