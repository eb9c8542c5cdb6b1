//! Code written by `cargo xtask codegen` from `spec/` (the Redis command specification and
//! the project's overrides). Never edit these files by hand: a test fails when they differ
//! from what the generator writes.

pub mod builders;
pub(crate) mod commands;
pub(crate) mod enums;
pub(crate) mod keyspecs;
pub(crate) mod options;
pub(crate) mod pipeline;
pub(crate) mod table;
