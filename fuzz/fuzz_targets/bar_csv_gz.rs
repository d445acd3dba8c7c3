#![no_main]
//! A gzip-compressed CSV: the decompressed-size and line limits are what this one reaches.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(
    init: common::quiet_caught_panics(),
    |bytes: &[u8]| common::read_every_way(bytes, "csv.gz"));
