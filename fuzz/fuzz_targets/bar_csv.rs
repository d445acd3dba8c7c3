#![no_main]
//! A plain CSV bar file, read whole and from its end.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(
    init: common::quiet_caught_panics(),
    |bytes: &[u8]| common::read_every_way(bytes, "csv"));
