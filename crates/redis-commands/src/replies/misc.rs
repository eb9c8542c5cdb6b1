//! Smaller structured replies: LCS IDX and the multi-key pops (LMPOP, ZMPOP and their
//! blocking forms).

use resp_proto::Value;

use super::util::{Record, convert, leading};
use crate::reply::{ConversionError, FromReply};

/// The reply to `LCS key1 key2 IDX [MINMATCHLEN n] [WITHMATCHLEN]` (Redis 7.0+): the matching
/// ranges of the longest common subsequence and its length.
///
/// RESP3 sends a map, RESP2 a flat list, both with `matches` and `len`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LcsIdx {
    /// The matches, from the end of the strings towards the start, as the server sends them.
    pub matches: Vec<LcsMatch>,
    /// The length of the longest common subsequence.
    pub len: u64,
}

/// One match of an [`LcsIdx`] reply: a range in each string, both inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LcsMatch {
    /// The range `(start, end)` in the first key.
    pub key1: (u64, u64),
    /// The range `(start, end)` in the second key.
    pub key2: (u64, u64),
    /// The match length, with `WITHMATCHLEN` only.
    pub len: Option<u64>,
}

impl FromReply for LcsIdx {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "LcsIdx")?;
        Ok(LcsIdx {
            matches: r.or_default("matches")?,
            len: r.req("len")?,
        })
    }
}

impl FromReply for LcsMatch {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([key1, key2], mut rest) = leading(value, "LcsMatch")?;
        Ok(LcsMatch {
            key1: convert(key1, "range in key1")?,
            key2: convert(key2, "range in key2")?,
            len: rest
                .next()
                .map(|l| convert(l, "match length"))
                .transpose()?,
        })
    }
}

/// The reply to `LMPOP`, `BLMPOP`, `ZMPOP` and `BZMPOP`: the key popped from and the
/// elements popped, `[key, [element, ...]]`.
///
/// When nothing was popped (every key empty, or the blocking form timed out) the server
/// sends a null: ask for `Option<PoppedFrom<T>>`. For the sorted-set forms, each element is
/// a member and its score: `PoppedFrom<(String, f64)>` reads both the RESP2 and the RESP3
/// shape.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PoppedFrom<T> {
    /// The key the elements were popped from.
    pub key: String,
    /// The elements, in the order they were popped.
    pub values: Vec<T>,
}

impl<T: FromReply> FromReply for PoppedFrom<T> {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([key, values], _) = leading(value, "PoppedFrom")?;
        Ok(PoppedFrom {
            key: convert(key, "key")?,
            values: convert(values, "popped elements")?,
        })
    }
}
