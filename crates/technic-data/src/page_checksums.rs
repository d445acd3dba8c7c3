//! Data pages written with their CRC-32, so that a reader can tell a page that changed on disk
//! (bit rot, a bad sector, a stray write) from the numbers that were written.
//!
//! The parquet crate verifies a page's `crc` when its header has one (its `crc` feature), but its
//! writer leaves the field out, and the page header type is private to it. So technic's columns
//! are encoded by the crate's own column writer into a [`PageWriter`] of ours, which writes each
//! page's header with the checksum, and the finished chunk is appended to the row group
//! (`SerializedRowGroupWriter::append_column`, which moves the chunk's offsets into place).
//! Only the header is ours: a few integers in Thrift's compact protocol, the form
//! `SerializedPageWriter` writes (the tests check the two agree to the byte without the checksum).

use parquet::basic::PageType;
use parquet::column::page::{CompressedPage, Page, PageWriteSpec, PageWriter};
use parquet::errors::ParquetError;

/// Collects a column chunk's pages, each behind a header carrying its CRC-32.
#[derive(Debug)]
pub(crate) struct ChecksummedPages<'a> {
    sink: &'a mut Vec<u8>,
    with_crc: bool,
}

impl<'a> ChecksummedPages<'a> {
    /// `with_crc` false writes what `SerializedPageWriter` writes, for the tests to compare.
    pub(crate) fn new(sink: &'a mut Vec<u8>, with_crc: bool) -> Self {
        Self { sink, with_crc }
    }
}

impl PageWriter for ChecksummedPages<'_> {
    fn write_page(&mut self, page: CompressedPage) -> Result<PageWriteSpec, ParquetError> {
        let start = self.sink.len();
        // The checksum covers the page's bytes as stored (compressed), as the format specifies
        // and as the reader checks them.
        let crc = self.with_crc.then(|| crc32fast::hash(page.data()));
        write_header(self.sink, &page, crc)?;
        let header_size = self.sink.len() - start;
        self.sink.extend_from_slice(page.data());
        let mut spec = PageWriteSpec::new();
        spec.page_type = page.page_type();
        spec.uncompressed_size = page.uncompressed_size() + header_size;
        spec.compressed_size = page.compressed_size() + header_size;
        spec.offset = start as u64;
        spec.bytes_written = (self.sink.len() - start) as u64;
        spec.num_values = page.num_values();
        Ok(spec)
    }

    fn close(&mut self) -> Result<(), ParquetError> {
        Ok(())
    }
}

/// Thrift compact protocol type ids.
const I32: u8 = 5;
const STRUCT: u8 = 12;

/// Writes the `PageHeader` of a version 1 data page, the only kind technic writes (no
/// dictionary: see the writer's properties; no page statistics: chunk statistics only).
fn write_header(
    out: &mut Vec<u8>,
    page: &CompressedPage,
    crc: Option<u32>,
) -> Result<(), ParquetError> {
    let Page::DataPage {
        num_values,
        encoding,
        def_level_encoding,
        rep_level_encoding,
        statistics,
        ..
    } = page.compressed_page()
    else {
        return Err(ParquetError::General(format!(
            "technic writes only version 1 data pages, not {:?}",
            page.page_type()
        )));
    };
    if statistics.is_some() || page.page_type() != PageType::DATA_PAGE {
        return Err(ParquetError::General(
            "technic writes data pages without page statistics".into(),
        ));
    }
    let size = |bytes: usize| {
        i32::try_from(bytes)
            .map_err(|_| ParquetError::General(format!("a page of {bytes} bytes is too large")))
    };
    let count = i32::try_from(*num_values)
        .map_err(|_| ParquetError::General(format!("a page of {num_values} values")))?;
    let mut header = Fields::new(out);
    header.i32(1, page.page_type() as i32);
    header.i32(2, size(page.uncompressed_size())?);
    header.i32(3, size(page.compressed_size())?);
    if let Some(crc) = crc {
        // Thrift has no unsigned integers: the format stores the CRC's bits as an i32.
        header.i32(4, i32::from_ne_bytes(crc.to_ne_bytes()));
    }
    header.field(5, STRUCT);
    let mut data_page = Fields::new(&mut *header.out);
    data_page.i32(1, count);
    data_page.i32(2, *encoding as i32);
    data_page.i32(3, *def_level_encoding as i32);
    data_page.i32(4, *rep_level_encoding as i32);
    data_page.stop();
    header.stop();
    Ok(())
}

/// The fields of one compact-protocol struct, written in increasing id order.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    last_id: i16,
}

impl<'a> Fields<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self { out, last_id: 0 }
    }

    fn field(&mut self, id: i16, kind: u8) {
        // Ids here are 1 to 5, so the delta always fits the short form's four bits.
        let delta = (id - self.last_id) as u8;
        self.out.push((delta << 4) | kind);
        self.last_id = id;
    }

    fn i32(&mut self, id: i16, value: i32) {
        self.field(id, I32);
        // Zigzag, then a little-endian base-128 varint.
        let mut zigzag = ((value << 1) ^ (value >> 31)) as u32;
        while zigzag >= 0x80 {
            self.out.push((zigzag as u8) | 0x80);
            zigzag >>= 7;
        }
        self.out.push(zigzag as u8);
    }

    fn stop(self) {
        self.out.push(0);
    }
}
