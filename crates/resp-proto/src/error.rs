//! The decoder's error type.

use core::fmt;

/// Why a byte stream is not valid RESP, and where.
///
/// Decoding errors are final for the stream they came from: once a reply is malformed, nothing
/// after it can be trusted to be aligned, so a [`Decoder`](crate::Decoder) that returned an error
/// keeps returning it until [`Decoder::reset`](crate::Decoder::reset). A connection that sees one
/// should be closed.
///
/// "Not enough bytes yet" is never an error: decoders return `Ok(None)` for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    offset: usize,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        Error { kind, offset }
    }

    /// What is wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Byte offset of the offending byte, counted from the first byte of the reply being decoded.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {} of the reply", self.kind, self.offset)
    }
}

impl core::error::Error for Error {}

/// The kinds of [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The first byte of a value is not a RESP2 or RESP3 type marker.
    UnknownType(u8),
    /// A length is not a decimal number, is negative other than the null length `-1`, or overflows.
    InvalidLength,
    /// An integer reply (`:`) is not a decimal number that fits in an `i64`.
    InvalidInteger,
    /// A double (`,`) is not a decimal number, `inf`, `-inf` or `nan`.
    InvalidDouble,
    /// A boolean is something other than `#t` or `#f`.
    InvalidBoolean,
    /// A big number (`(`) has characters other than an optional `-` and decimal digits.
    InvalidBigNumber,
    /// A null (`_`) has content before its line end.
    InvalidNull,
    /// A verbatim string (`=`) is shorter than four bytes or lacks the `xxx:` format prefix.
    InvalidVerbatim,
    /// A line or a payload is not terminated by `\r\n`.
    MissingCrlf,
    /// A simple string or error contains a bare `\r` or `\n`.
    InvalidLine,
    /// A line (simple string, error, big number) is longer than the bulk length limit allows.
    LineTooLong,
    /// A bulk string, bulk error or verbatim string declares a length above
    /// [`Limits::max_bulk_len`](crate::Limits::max_bulk_len) (also applies to the sum of the
    /// chunks of a streamed string).
    BulkTooLong,
    /// An aggregate declares more elements than
    /// [`Limits::max_aggregate_len`](crate::Limits::max_aggregate_len).
    AggregateTooLong,
    /// Aggregates are nested deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    TooDeep,
    /// A push (`>`) appears inside an aggregate or among the entries of an attribute block;
    /// RESP3 only allows it at the top level (where attributes may describe it).
    NestedPush,
    /// A streamed-string chunk (`;`) or an end marker (`.`) appears where it is not allowed, or a
    /// streamed string contains something other than chunks.
    UnexpectedStreamMarker,
    /// A streamed map ended (`.`) after a key but before its value.
    IncompleteMapEntry,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnknownType(b) if b.is_ascii_graphic() => {
                write!(f, "unknown RESP type byte '{}'", *b as char)
            }
            ErrorKind::UnknownType(b) => write!(f, "unknown RESP type byte 0x{b:02x}"),
            ErrorKind::InvalidLength => f.write_str("invalid length"),
            ErrorKind::InvalidInteger => f.write_str("invalid integer"),
            ErrorKind::InvalidDouble => f.write_str("invalid double"),
            ErrorKind::InvalidBoolean => f.write_str("invalid boolean (expected #t or #f)"),
            ErrorKind::InvalidBigNumber => f.write_str("invalid big number"),
            ErrorKind::InvalidNull => f.write_str("invalid null (expected _\\r\\n)"),
            ErrorKind::InvalidVerbatim => f.write_str("invalid verbatim string"),
            ErrorKind::MissingCrlf => f.write_str("missing \\r\\n terminator"),
            ErrorKind::InvalidLine => f.write_str("bare \\r or \\n inside a line"),
            ErrorKind::LineTooLong => f.write_str("line longer than the bulk length limit"),
            ErrorKind::BulkTooLong => f.write_str("bulk length above the configured limit"),
            ErrorKind::AggregateTooLong => {
                f.write_str("aggregate length above the configured limit")
            }
            ErrorKind::TooDeep => f.write_str("nesting deeper than the configured limit"),
            ErrorKind::NestedPush => f.write_str("push message inside an aggregate"),
            ErrorKind::UnexpectedStreamMarker => f.write_str("unexpected streamed-type marker"),
            ErrorKind::IncompleteMapEntry => {
                f.write_str("streamed map ended between key and value")
            }
        }
    }
}
