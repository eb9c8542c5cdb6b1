//! Fuzz target `parse_oneshot`. The whole input at once through `Decoder::decode` and
//! `Decoder::decode_frames`: no panic, both agree, every reply round-trips.
//!
//! The check is `check::parse_oneshot` in `tests/common/check.rs`, shared with the stable replay
//! test `tests/corpus.rs`.

#![no_main]

#[path = "../../tests/common/check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::parse_oneshot(data));
