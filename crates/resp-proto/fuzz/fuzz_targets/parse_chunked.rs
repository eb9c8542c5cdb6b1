//! Fuzz target `parse_chunked`. The first byte picks a chunking mode (whole, byte by byte, one
//! split, 4-byte, random pieces), the second its parameter; the rest, fed in those pieces, decodes
//! exactly as it does whole.
//!
//! The check is `check::parse_chunked` in `tests/common/check.rs`, shared with the stable replay
//! test `tests/corpus.rs`.

#![no_main]

#[path = "../../tests/common/check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::parse_chunked(data));
