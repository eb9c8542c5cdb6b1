//! The tokenizer: one RESP element header (plus its payload, for scalars) at a time, borrowed
//! from the input.
//!
//! Everything that validates bytes lives here; [`Decoder`](crate::Decoder) adds the structural
//! checks (depth, element counts, where stream markers may appear) on top.

use crate::error::{Error, ErrorKind};
use crate::limits::Limits;

/// One element of a RESP reply, borrowed from the input: a scalar with its payload, or the
/// header of an aggregate whose elements follow as the next frames.
///
/// A complete reply is a sequence of frames in wire order; [`Frames`] iterates them without
/// allocating. Aggregates announce how many elements follow (entries, for maps and attributes,
/// each entry being a key frame then a value frame); streamed aggregates (`None` length) end
/// with [`Frame::End`]; a streamed string is [`Frame::StreamedString`] followed by chunks, the
/// last of which is empty.
///
/// ```
/// use resp_proto::{Decoder, Frame};
///
/// let input = b"*2\r\n$3\r\nfoo\r\n:42\r\n";
/// let (frames, len) = Decoder::new().decode_frames(input)?.expect("complete");
/// assert_eq!(len, input.len());
/// let frames: Vec<Frame<'_>> = frames.collect();
/// assert_eq!(frames, [Frame::Array(Some(2)), Frame::BulkString(b"foo"), Frame::Integer(42)]);
/// # Ok::<(), resp_proto::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Frame<'a> {
    /// `+OK`: a simple string.
    SimpleString(&'a [u8]),
    /// `-ERR message`: a simple error, its text without the leading `-`.
    Error(&'a [u8]),
    /// `:42`: a signed 64-bit integer.
    Integer(i64),
    /// `$3 foo`: a binary-safe string.
    BulkString(&'a [u8]),
    /// `$-1`, `*-1` (RESP2) or `_` (RESP3): no value.
    Null,
    /// `,3.14`: a double, including `inf`, `-inf` and `nan`.
    Double(f64),
    /// `#t` or `#f`.
    Boolean(bool),
    /// `(12345678901234567890`: an integer of any size, as its decimal digits.
    BigNumber(&'a [u8]),
    /// `!21 SYNTAX invalid syntax`: an error with a binary-safe message.
    BulkError(&'a [u8]),
    /// `=15 txt:Some string`: a string with a three-byte format hint (`txt`, `mkd`).
    Verbatim {
        /// The format hint.
        format: [u8; 3],
        /// The text after `xxx:`.
        text: &'a [u8],
    },
    /// `*N`: an array of N elements; `None` for a streamed array (`*?`).
    Array(Option<usize>),
    /// `%N`: a map of N entries; `None` for a streamed map (`%?`).
    Map(Option<usize>),
    /// `~N`: a set of N elements; `None` for a streamed set (`~?`).
    Set(Option<usize>),
    /// `>N`: an out-of-band push message of N elements (top level only).
    Push(usize),
    /// `|N`: N attribute entries, followed by the value they describe.
    Attribute(usize),
    /// `$?`: the start of a streamed string; chunks follow.
    StreamedString,
    /// `;N`: one chunk of a streamed string; the empty chunk `;0` ends the string.
    Chunk(&'a [u8]),
    /// `.`: the end of a streamed aggregate.
    End,
}

impl Frame<'_> {
    /// Whether this frame opens an aggregate (or a streamed string) whose elements follow.
    pub fn is_header(&self) -> bool {
        matches!(
            self,
            Frame::Array(_)
                | Frame::Map(_)
                | Frame::Set(_)
                | Frame::Push(_)
                | Frame::Attribute(_)
                | Frame::StreamedString
        )
    }
}

/// The result of reading one token.
pub(crate) enum Step<'a> {
    /// A token and the offset just past it.
    Token(Frame<'a>, usize),
    /// The input ends before the token does.
    NeedMore,
}

/// What the tokenizer keeps between calls for the reply it is reading.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Scan {
    /// Where the search for the end of a long simple line resumes; 0 when no search is under
    /// way. It must be reset to 0 whenever the token position changes.
    pub(crate) line_from: usize,
    /// Bytes looked at so far (payloads of length-prefixed strings are sliced, not looked at).
    /// A diagnostic, see [`Decoder::bytes_examined`](crate::Decoder::bytes_examined).
    pub(crate) examined: u64,
}

impl Scan {
    fn look(&mut self, bytes: usize) {
        self.examined = self.examined.saturating_add(bytes as u64);
    }
}

/// Longest numeric header accepted, in digits (`u64::MAX` has 20; leading zeros count too).
const MAX_DIGITS: usize = 20;
/// Longest double line accepted, in bytes (Redis sends at most 24 with `%.17g`).
const MAX_DOUBLE_LEN: usize = 512;

/// Reads the token that starts at `pos`.
///
/// `scan.line_from` lets a caller resume the search for the end of a long simple line where the
/// last attempt stopped, so a large simple string fed in small pieces costs linear time; it must
/// be reset to 0 whenever `pos` changes.
pub(crate) fn read_token<'a>(
    input: &'a [u8],
    pos: usize,
    limits: &Limits,
    scan: &mut Scan,
) -> Result<Step<'a>, Error> {
    let Some(&marker) = input.get(pos) else {
        return Ok(Step::NeedMore);
    };
    scan.look(1);
    let body = pos + 1;
    let step = match marker {
        b'+' => line(input, body, limits, scan)?.map(|(s, end)| (Frame::SimpleString(s), end)),
        b'-' => line(input, body, limits, scan)?.map(|(text, end)| (Frame::Error(text), end)),
        b':' => match number(input, body, ErrorKind::InvalidInteger, scan)? {
            None => None,
            Some((negative, magnitude, end)) => {
                let value = to_i64(negative, magnitude)
                    .ok_or(Error::new(ErrorKind::InvalidInteger, body))?;
                Some((Frame::Integer(value), end))
            }
        },
        b'$' => {
            if input.get(body) == Some(&b'?') {
                streamed_header(input, body, scan)?.map(|end| (Frame::StreamedString, end))
            } else {
                match length(input, body, true, scan)? {
                    None => None,
                    Some((None, end)) => Some((Frame::Null, end)),
                    Some((Some(len), end)) => blob(input, pos, end, len, limits, scan)?
                        .map(|(b, e)| (Frame::BulkString(b), e)),
                }
            }
        }
        b'*' | b'%' | b'~' => {
            let streamed = input.get(body) == Some(&b'?');
            let parsed = if streamed {
                streamed_header(input, body, scan)?.map(|end| (None, end))
            } else {
                match length(input, body, marker == b'*', scan)? {
                    None => None,
                    Some((None, end)) => return Ok(Step::Token(Frame::Null, end)),
                    Some((Some(n), end)) => {
                        if n > limits.aggregate_len() {
                            return Err(Error::new(ErrorKind::AggregateTooLong, pos));
                        }
                        Some((Some(n), end))
                    }
                }
            };
            parsed.map(|(n, end)| {
                let frame = match marker {
                    b'*' => Frame::Array(n),
                    b'%' => Frame::Map(n),
                    _ => Frame::Set(n),
                };
                (frame, end)
            })
        }
        b'>' | b'|' => match length(input, body, false, scan)? {
            None => None,
            Some((n, end)) => {
                let n = n.unwrap_or_default();
                if n > limits.aggregate_len() {
                    return Err(Error::new(ErrorKind::AggregateTooLong, pos));
                }
                let frame = if marker == b'>' {
                    Frame::Push(n)
                } else {
                    Frame::Attribute(n)
                };
                Some((frame, end))
            }
        },
        b'_' => {
            fixed(input, body, b"\r\n", ErrorKind::InvalidNull, scan)?.map(|e| (Frame::Null, e))
        }
        b'#' => {
            let letter = input.get(body).copied();
            scan.look(usize::from(letter.is_some()));
            let value = match letter {
                None => return Ok(Step::NeedMore),
                Some(b't') => true,
                Some(b'f') => false,
                Some(_) => return Err(Error::new(ErrorKind::InvalidBoolean, body)),
            };
            fixed(input, body + 1, b"\r\n", ErrorKind::MissingCrlf, scan)?
                .map(|e| (Frame::Boolean(value), e))
        }
        b',' => double(input, body, scan)?.map(|(value, end)| (Frame::Double(value), end)),
        b'(' => big_number(input, body, limits, scan)?
            .map(|(digits, end)| (Frame::BigNumber(digits), end)),
        b'!' => match length(input, body, false, scan)? {
            None => None,
            Some((len, end)) => {
                let len = len.unwrap_or_default();
                blob(input, pos, end, len, limits, scan)?.map(|(b, e)| (Frame::BulkError(b), e))
            }
        },
        b'=' => match length(input, body, false, scan)? {
            None => None,
            Some((len, end)) => {
                let len = len.unwrap_or_default();
                if len < 4 {
                    return Err(Error::new(ErrorKind::InvalidVerbatim, body));
                }
                match blob(input, pos, end, len, limits, scan)? {
                    None => None,
                    Some((payload, e)) => match payload {
                        [a, b, c, b':', text @ ..] => Some((
                            Frame::Verbatim {
                                format: [*a, *b, *c],
                                text,
                            },
                            e,
                        )),
                        _ => return Err(Error::new(ErrorKind::InvalidVerbatim, end)),
                    },
                }
            }
        },
        b';' => match length(input, body, false, scan)? {
            None => None,
            // The empty chunk that ends a streamed string is only a header: `;0\r\n`.
            Some((Some(0), end)) => Some((Frame::Chunk(&input[end..end]), end)),
            Some((len, end)) => {
                let len = len.unwrap_or_default();
                blob(input, pos, end, len, limits, scan)?.map(|(b, e)| (Frame::Chunk(b), e))
            }
        },
        b'.' => {
            fixed(input, body, b"\r\n", ErrorKind::MissingCrlf, scan)?.map(|end| (Frame::End, end))
        }
        other => return Err(Error::new(ErrorKind::UnknownType(other), pos)),
    };
    Ok(match step {
        Some((frame, end)) => Step::Token(frame, end),
        None => Step::NeedMore,
    })
}

/// Checks that `expected` follows at `at`; `Ok(None)` when the input stops inside it.
#[inline(always)]
fn fixed(
    input: &[u8],
    at: usize,
    expected: &[u8],
    kind: ErrorKind,
    scan: &mut Scan,
) -> Result<Option<usize>, Error> {
    for (i, &want) in expected.iter().enumerate() {
        let got = input.get(at + i);
        scan.look(usize::from(got.is_some()));
        match got {
            None => return Ok(None),
            Some(&got) if got == want => {}
            Some(_) => return Err(Error::new(kind, at + i)),
        }
    }
    Ok(Some(at + expected.len()))
}

/// `\r\n` at `at`, with a missing-terminator error otherwise.
#[inline]
fn crlf(input: &[u8], at: usize, scan: &mut Scan) -> Result<Option<usize>, Error> {
    if input.get(at..at + 2) == Some(b"\r\n") {
        scan.look(2);
        return Ok(Some(at + 2));
    }
    fixed(input, at, b"\r\n", ErrorKind::MissingCrlf, scan)
}

/// A decimal line: optional sign, at least one digit, `\r\n`. Returns sign, magnitude, end.
#[inline(always)]
fn number(
    input: &[u8],
    start: usize,
    kind: ErrorKind,
    scan: &mut Scan,
) -> Result<Option<(bool, u64, usize)>, Error> {
    let mut p = start;
    let negative = match input.get(p) {
        None => return Ok(None),
        Some(b'-') => {
            p += 1;
            true
        }
        Some(b'+') => {
            p += 1;
            false
        }
        Some(_) => false,
    };
    let digits = p;
    let mut value: u64 = 0;
    // Up to 19 digits cannot overflow a u64: no checks on the common path.
    let fast_end = input.len().min(digits + (MAX_DIGITS - 1));
    while p < fast_end {
        let d = input[p].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = value * 10 + u64::from(d);
        p += 1;
    }
    if p == digits + (MAX_DIGITS - 1)
        && let Some(&b) = input.get(p)
        && b.is_ascii_digit()
    {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(Error::new(kind, p))?;
        p += 1;
    }
    match input.get(p) {
        None => {
            scan.look(p - start);
            return Ok(None);
        }
        Some(b'\r') if p > digits => {}
        _ => return Err(Error::new(kind, p)),
    }
    scan.look(p - start);
    Ok(crlf(input, p, scan)?.map(|end| (negative, value, end)))
}

#[inline(always)]
fn to_i64(negative: bool, magnitude: u64) -> Option<i64> {
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A length line. `-1` is null where `null_allowed`; any other negative length is an error.
#[inline(always)]
fn length(
    input: &[u8],
    start: usize,
    null_allowed: bool,
    scan: &mut Scan,
) -> Result<Option<(Option<usize>, usize)>, Error> {
    match number(input, start, ErrorKind::InvalidLength, scan)? {
        None => Ok(None),
        Some((false, n, end)) => {
            let n = usize::try_from(n).map_err(|_| Error::new(ErrorKind::InvalidLength, start))?;
            Ok(Some((Some(n), end)))
        }
        Some((true, 1, end)) if null_allowed => Ok(Some((None, end))),
        Some((true, _, _)) => Err(Error::new(ErrorKind::InvalidLength, start)),
    }
}

/// The `?\r\n` of a streamed header; `at` points at the `?`.
fn streamed_header(input: &[u8], at: usize, scan: &mut Scan) -> Result<Option<usize>, Error> {
    scan.look(1);
    fixed(input, at + 1, b"\r\n", ErrorKind::InvalidLength, scan)
}

/// A length-prefixed payload of `len` bytes starting at `start`, then `\r\n`.
#[inline(always)]
fn blob<'a>(
    input: &'a [u8],
    header: usize,
    start: usize,
    len: usize,
    limits: &Limits,
    scan: &mut Scan,
) -> Result<Option<(&'a [u8], usize)>, Error> {
    if len > limits.bulk_len() {
        return Err(Error::new(ErrorKind::BulkTooLong, header));
    }
    let Some(payload_end) = start.checked_add(len) else {
        return Err(Error::new(ErrorKind::BulkTooLong, header));
    };
    if input.len() <= payload_end {
        return Ok(None);
    }
    let end = crlf(input, payload_end, scan)?;
    Ok(end.map(|end| (&input[start..payload_end], end)))
}

/// A simple line (simple string or error): no `\r` or `\n` inside, `\r\n` at the end.
#[inline(always)]
fn line<'a>(
    input: &'a [u8],
    start: usize,
    limits: &Limits,
    scan: &mut Scan,
) -> Result<Option<(&'a [u8], usize)>, Error> {
    let from = start.max(scan.line_from);
    let rest = input.get(from..).unwrap_or_default();
    // Most lines are short (`OK`, `QUEUED`): look at a few bytes before calling memchr.
    let quick = rest.len().min(16);
    let found = match rest[..quick].iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(i) => Some(i),
        None if quick == rest.len() => None,
        None => memchr::memchr2(b'\r', b'\n', &rest[quick..]).map(|i| i + quick),
    };
    match found {
        Some(i) => {
            let cr = from + i;
            scan.look(i + 1);
            // The length is checked first so that the outcome does not depend on how the
            // input was split: a prefix that is already too long fails the same way.
            if cr - start > limits.bulk_len() {
                return Err(Error::new(ErrorKind::LineTooLong, start));
            }
            if input[cr] == b'\n' {
                return Err(Error::new(ErrorKind::InvalidLine, cr));
            }
            match input.get(cr + 1) {
                None => {
                    scan.line_from = cr;
                    Ok(None)
                }
                Some(b'\n') => {
                    scan.look(1);
                    scan.line_from = 0;
                    Ok(Some((&input[start..cr], cr + 2)))
                }
                Some(_) => Err(Error::new(ErrorKind::InvalidLine, cr)),
            }
        }
        None => {
            scan.look(rest.len());
            if input.len() - start > limits.bulk_len() {
                return Err(Error::new(ErrorKind::LineTooLong, start));
            }
            scan.line_from = input.len();
            Ok(None)
        }
    }
}

/// A double line: Rust's float grammar, which covers `inf`, `-inf`, `nan` and exponents.
fn double(input: &[u8], start: usize, scan: &mut Scan) -> Result<Option<(f64, usize)>, Error> {
    let window = &input[start..input.len().min(start + MAX_DOUBLE_LEN + 2)];
    let Some(cr) = memchr::memchr(b'\r', window) else {
        scan.look(window.len());
        if window.len() > MAX_DOUBLE_LEN {
            return Err(Error::new(ErrorKind::InvalidDouble, start));
        }
        return Ok(None);
    };
    let text = &window[..cr];
    // The search, then the parse.
    scan.look(2 * cr);
    let value = core::str::from_utf8(text)
        .ok()
        .filter(|t| !t.is_empty() && !t.starts_with('+'))
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or(Error::new(ErrorKind::InvalidDouble, start))?;
    Ok(crlf(input, start + cr, scan)?.map(|end| (value, end)))
}

/// A big number: optional `-`, then at least one digit.
fn big_number<'a>(
    input: &'a [u8],
    start: usize,
    limits: &Limits,
    scan: &mut Scan,
) -> Result<Option<(&'a [u8], usize)>, Error> {
    let Some((digits, end)) = line(input, start, limits, scan)? else {
        return Ok(None);
    };
    scan.look(digits.len());
    let unsigned = digits.strip_prefix(b"-").unwrap_or(digits);
    if unsigned.is_empty() || !unsigned.iter().all(u8::is_ascii_digit) {
        return Err(Error::new(ErrorKind::InvalidBigNumber, start));
    }
    Ok(Some((digits, end)))
}

/// The frames of one complete, already validated reply, in wire order.
///
/// Obtained from [`Decoder::decode_frames`](crate::Decoder::decode_frames); iterating allocates
/// nothing.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    input: &'a [u8],
    pos: usize,
    /// A scalar reply's one frame, already read by the decoder.
    first: Option<Frame<'a>>,
}

impl<'a> Frames<'a> {
    /// Frames over a reply that the decoder has validated to be exactly `input`.
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Frames {
            input,
            pos: 0,
            first: None,
        }
    }

    /// The frames of a scalar reply, `input`, already read as `frame`.
    pub(crate) fn single(input: &'a [u8], frame: Frame<'a>) -> Self {
        Frames {
            input,
            pos: input.len(),
            first: Some(frame),
        }
    }

    /// The bytes of the whole reply.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.input
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Frame<'a>;

    #[inline]
    fn next(&mut self) -> Option<Frame<'a>> {
        if let Some(frame) = self.first.take() {
            return Some(frame);
        }
        const UNLIMITED: Limits = Limits::new()
            .max_bulk_len(usize::MAX)
            .max_aggregate_len(usize::MAX)
            .max_depth(usize::MAX);
        let mut scan = Scan::default();
        match read_token(self.input, self.pos, &UNLIMITED, &mut scan) {
            Ok(Step::Token(frame, end)) => {
                self.pos = end;
                Some(frame)
            }
            // The input was validated as one complete reply, so this is its end.
            Ok(Step::NeedMore) | Err(_) => {
                self.pos = self.input.len();
                None
            }
        }
    }
}
