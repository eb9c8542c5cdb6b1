//! [`BitfieldOps`]: the operations of one BITFIELD command, built in order.

use crate::{Cmd, ToArg, ToArgs};

/// What BITFIELD does when an INCRBY or SET overflows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BitfieldOverflow {
    /// Wrap around (the default).
    Wrap,
    /// Saturate at the minimum or maximum.
    Sat,
    /// Do nothing and reply nil for that operation.
    Fail,
}

impl BitfieldOverflow {
    /// The token sent.
    pub fn as_str(self) -> &'static str {
        match self {
            BitfieldOverflow::Wrap => "WRAP",
            BitfieldOverflow::Sat => "SAT",
            BitfieldOverflow::Fail => "FAIL",
        }
    }
}

/// The operations of one BITFIELD command (redis-py's `BitFieldOperation`), in order.
///
/// `OVERFLOW` is only sent when it changes what is in effect, which starts as `WRAP` (or as
/// the default given to [`BitfieldOps::with_default_overflow`]). Encodings (`u8`, `i5`) and
/// offsets (`0`, `#2`) are passed through.
///
/// ```
/// use redis_commands::{BitfieldOps, BitfieldOverflow, build};
///
/// let ops = BitfieldOps::new()
///     .set("u8", 0, 255)
///     .incrby_with("u8", 0, 10, BitfieldOverflow::Sat)
///     .get("u8", 0);
/// let cmd = build::bitfield("key", ops);
/// let args: Vec<&[u8]> = cmd.arg_bytes().collect();
/// assert_eq!(args[2..5], [&b"SET"[..], b"u8", b"0"]);
/// assert_eq!(args[6..8], [&b"OVERFLOW"[..], b"SAT"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct BitfieldOps {
    args: Cmd,
    overflow: Option<BitfieldOverflow>,
}

impl BitfieldOps {
    /// No operations yet; overflow is `WRAP`.
    pub fn new() -> Self {
        Self::default()
    }

    /// No operations yet, with `overflow` in effect from the start.
    pub fn with_default_overflow(overflow: BitfieldOverflow) -> Self {
        Self::new().overflow(overflow)
    }

    /// Sets the overflow behaviour for the operations that follow.
    pub fn overflow(mut self, overflow: BitfieldOverflow) -> Self {
        if self.overflow.unwrap_or(BitfieldOverflow::Wrap) != overflow {
            self.args.arg("OVERFLOW").arg(overflow.as_str());
            self.overflow = Some(overflow);
        }
        self
    }

    /// `GET encoding offset`.
    pub fn get(mut self, encoding: impl ToArg, offset: impl ToArg) -> Self {
        self.args.arg("GET").arg(encoding).arg(offset);
        self
    }

    /// `SET encoding offset value`.
    pub fn set(mut self, encoding: impl ToArg, offset: impl ToArg, value: i64) -> Self {
        self.args.arg("SET").arg(encoding).arg(offset).arg(value);
        self
    }

    /// `INCRBY encoding offset increment`.
    pub fn incrby(mut self, encoding: impl ToArg, offset: impl ToArg, increment: i64) -> Self {
        self.args
            .arg("INCRBY")
            .arg(encoding)
            .arg(offset)
            .arg(increment);
        self
    }

    /// `INCRBY` with an overflow behaviour (sent first when it changes what is in effect).
    pub fn incrby_with(
        self,
        encoding: impl ToArg,
        offset: impl ToArg,
        increment: i64,
        overflow: BitfieldOverflow,
    ) -> Self {
        self.overflow(overflow).incrby(encoding, offset, increment)
    }

    /// How many operations' arguments were added.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Whether no operation was added.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }
}

impl ToArgs for BitfieldOps {
    fn write_args(&self, out: &mut Vec<u8>) -> usize {
        out.extend_from_slice(self.args.packed_args());
        self.args.len()
    }

    fn arg_count(&self) -> usize {
        self.args.len()
    }
}
