//! Fuzz target `limits`. The first three bytes pick small limits; under them decoding never panics,
//! the entry points agree whole and byte by byte, and every reply respects the limits.
//!
//! The check is `check::limits` in `tests/common/check.rs`, shared with the stable replay
//! test `tests/corpus.rs`.

#![no_main]

#[path = "../../tests/common/check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::limits(data));
