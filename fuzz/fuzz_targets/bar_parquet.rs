#![no_main]
//! A Parquet bar file: footer, page headers, checksums and every column type the reader accepts.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(
    init: common::quiet_caught_panics(),
    |bytes: &[u8]| common::read_every_way(bytes, "parquet"));
