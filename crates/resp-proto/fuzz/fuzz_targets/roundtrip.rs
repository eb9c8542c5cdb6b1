//! Fuzz target `roundtrip`. Every reply the input holds, encoded again, decodes to the same value
//! in RESP3 and to its documented downgrade in RESP2.
//!
//! The check is `check::roundtrip` in `tests/common/check.rs`, shared with the stable replay
//! test `tests/corpus.rs`.

#![no_main]

#[path = "../../tests/common/check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::roundtrip(data));
