//! The encoder: commands for a server, and any [`Value`] for a client, in RESP2 or RESP3.
//!
//! Encoding cannot fail and writes into a buffer the caller owns and reuses, so a warm buffer
//! means no allocation per command. Integers are formatted on the stack.

use alloc::vec::Vec;
use core::fmt::Write as _;

use bytes::BufMut;

use crate::value::Value;

/// The protocol version a value is encoded for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Protocol {
    /// RESP2, what every Redis server speaks by default.
    #[default]
    Resp2,
    /// RESP3, negotiated with `HELLO 3` (Redis 6 and later).
    Resp3,
}

/// Writes a command, an array of bulk strings, for example `SET key value`.
///
/// ```
/// let mut buf = Vec::new();
/// resp_proto::encode_command(&mut buf, ["SET", "key", "value"]);
/// assert_eq!(buf, b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
/// ```
pub fn encode_command<B, I>(buf: &mut B, args: I)
where
    B: BufMut + ?Sized,
    I: IntoIterator,
    I::IntoIter: ExactSizeIterator,
    I::Item: AsRef<[u8]>,
{
    let args = args.into_iter();
    // Small arguments are staged on the stack and written with one `put_slice`, so a typical
    // command costs one capacity check and a few short copies instead of 3 + 3n.
    let mut stage = Stage::new();
    stage.header(b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        if !stage.bulk(arg) {
            buf.put_slice(stage.take());
            if !stage.bulk(arg) {
                write_bulk(buf, arg);
            }
        }
    }
    buf.put_slice(stage.take());
}

/// A stack buffer for the small parts of a command.
struct Stage {
    bytes: [u8; STAGE],
    len: usize,
}

const STAGE: usize = 128;

impl Stage {
    fn new() -> Self {
        Stage {
            bytes: [0; STAGE],
            len: 0,
        }
    }

    /// Writes `marker`, `n` and `\r\n`. The caller made sure 24 bytes are free.
    #[inline(always)]
    fn header(&mut self, marker: u8, n: usize) {
        let at = self.len;
        let Some(window) = self.bytes.get_mut(at..at + 24) else {
            return;
        };
        if n < 10 {
            window[..4].copy_from_slice(&[marker, b'0' + n as u8, b'\r', b'\n']);
            self.len = at + 4;
        } else if n < 100 {
            let (tens, ones) = ((n / 10) as u8, (n % 10) as u8);
            window[..5].copy_from_slice(&[marker, b'0' + tens, b'0' + ones, b'\r', b'\n']);
            self.len = at + 5;
        } else {
            let mut digits = Digits::new();
            let text = digits.unsigned(n as u64);
            window[0] = marker;
            window[1..1 + text.len()].copy_from_slice(text);
            window[1 + text.len()..3 + text.len()].copy_from_slice(b"\r\n");
            self.len = at + 3 + text.len();
        }
    }

    /// Stages `$len\r\n<arg>\r\n` if it fits.
    #[inline(always)]
    fn bulk(&mut self, arg: &[u8]) -> bool {
        if arg.len() + 26 > STAGE - self.len {
            return false;
        }
        self.header(b'$', arg.len());
        let at = self.len;
        let Some(dst) = self.bytes.get_mut(at..at + arg.len() + 2) else {
            return false;
        };
        let (payload, crlf) = dst.split_at_mut(arg.len());
        payload.copy_from_slice(arg);
        crlf.copy_from_slice(b"\r\n");
        self.len = at + arg.len() + 2;
        true
    }

    fn take(&mut self) -> &[u8] {
        let len = core::mem::take(&mut self.len);
        &self.bytes[..len]
    }
}

/// Writes `*len\r\n`, the header of an array (a command is an array of `len` arguments).
pub fn write_array_header<B: BufMut + ?Sized>(buf: &mut B, len: usize) {
    write_header(buf, b'*', len as u64);
}

/// Writes one bulk string: `$len\r\n`, the bytes, `\r\n`.
pub fn write_bulk<B: BufMut + ?Sized>(buf: &mut B, bytes: &[u8]) {
    write_header(buf, b'$', bytes.len() as u64);
    buf.put_slice(bytes);
    buf.put_slice(b"\r\n");
}

/// Writes only the `$len\r\n` header of a bulk string, for a caller that sends the payload
/// itself (a vectored write of a large argument) followed by `\r\n`.
pub fn write_bulk_header<B: BufMut + ?Sized>(buf: &mut B, len: usize) {
    write_header(buf, b'$', len as u64);
}

/// Writes an integer argument as a bulk string of its decimal digits, without allocating.
///
/// ```
/// let mut buf = Vec::new();
/// resp_proto::write_bulk_integer(&mut buf, -42);
/// assert_eq!(buf, b"$3\r\n-42\r\n");
/// ```
pub fn write_bulk_integer<B: BufMut + ?Sized>(buf: &mut B, value: i64) {
    let mut digits = Digits::new();
    let text = digits.signed(value);
    write_bulk(buf, text);
}

/// Writes a marker, a non-negative number and `\r\n`.
#[inline]
fn write_header<B: BufMut + ?Sized>(buf: &mut B, marker: u8, n: u64) {
    // Nearly every header of a command (`*3`, `$3`, `$16`) has one or two digits: those are
    // written with one fixed-size copy, inlined into the caller.
    if n < 10 {
        buf.put_slice(&[marker, b'0' + n as u8, b'\r', b'\n']);
        return;
    }
    if n < 100 {
        let (tens, ones) = (n / 10, n % 10);
        buf.put_slice(&[marker, b'0' + tens as u8, b'0' + ones as u8, b'\r', b'\n']);
        return;
    }
    write_long_header(buf, marker, n);
}

/// [`write_header`] for numbers of three digits or more.
#[inline(never)]
fn write_long_header<B: BufMut + ?Sized>(buf: &mut B, marker: u8, n: u64) {
    let mut digits = Digits::new();
    let text = digits.unsigned(n);
    let mut line = [0u8; 23];
    line[0] = marker;
    line[1..=text.len()].copy_from_slice(text);
    line[text.len() + 1] = b'\r';
    line[text.len() + 2] = b'\n';
    buf.put_slice(&line[..text.len() + 3]);
}

/// Stack space for the decimal digits of a 64-bit integer.
struct Digits([u8; 20]);

impl Digits {
    fn new() -> Self {
        Digits([0; 20])
    }

    fn unsigned(&mut self, mut n: u64) -> &[u8] {
        let mut at = self.0.len();
        loop {
            at -= 1;
            self.0[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        &self.0[at..]
    }

    fn signed(&mut self, n: i64) -> &[u8] {
        if n >= 0 {
            return self.unsigned(n as u64);
        }
        let len = self.unsigned(n.unsigned_abs()).len();
        // `u64::MAX` has 20 digits but `i64::MIN` only 19, so one byte is free for the sign.
        let at = self.0.len() - len - 1;
        self.0[at] = b'-';
        &self.0[at..]
    }
}

impl Value {
    /// Writes this value in the given protocol version.
    ///
    /// RESP3 output is exact. RESP2 has fewer types, so RESP3-only values are downgraded the way
    /// Redis itself does for RESP2 clients: maps become flat arrays of keys and values, sets
    /// and pushes become arrays, doubles and big numbers become bulk strings, booleans become
    /// integers 1 and 0, bulk errors become simple errors, verbatim strings become bulk
    /// strings of their text, and attributes are left out.
    ///
    /// A simple string holding `\r` or `\n` (which a decoder never produces) is written as a
    /// bulk string so the output stays well framed; a simple error holding them becomes a bulk
    /// error in RESP3 and has them replaced by spaces in RESP2. Likewise, a big number that is
    /// not an optional `-` and decimal digits is written as a bulk string.
    ///
    /// ```
    /// use resp_proto::{Protocol, Value};
    ///
    /// let value = Value::Map(vec![(Value::Integer(1), Value::Boolean(true))].into());
    /// let mut resp3 = Vec::new();
    /// value.encode(&mut resp3, Protocol::Resp3);
    /// assert_eq!(resp3, b"%1\r\n:1\r\n#t\r\n");
    /// let mut resp2 = Vec::new();
    /// value.encode(&mut resp2, Protocol::Resp2);
    /// assert_eq!(resp2, b"*2\r\n:1\r\n:1\r\n");
    /// ```
    pub fn encode<B: BufMut + ?Sized>(&self, buf: &mut B, protocol: Protocol) {
        let resp3 = protocol == Protocol::Resp3;
        let mut work: Vec<Work<'_>> = Vec::new();
        let mut next = Some(self);
        loop {
            let value = match next.take() {
                Some(value) => value,
                None => match work.last_mut() {
                    None => return,
                    Some(Work::Values(iter)) => match iter.next() {
                        Some(value) => value,
                        None => {
                            work.pop();
                            continue;
                        }
                    },
                    Some(Work::Pairs(iter, pending)) => match pending.take() {
                        Some(value) => value,
                        None => match iter.next() {
                            Some((key, value)) => {
                                *pending = Some(value);
                                key
                            }
                            None => {
                                work.pop();
                                continue;
                            }
                        },
                    },
                },
            };
            match value {
                Value::SimpleString(s) => {
                    if s.iter().any(|&b| b == b'\r' || b == b'\n') {
                        write_bulk(buf, s);
                    } else {
                        line(buf, b'+', s);
                    }
                }
                Value::Error(s) => {
                    if !s.iter().any(|&b| b == b'\r' || b == b'\n') {
                        line(buf, b'-', s);
                    } else if resp3 {
                        blob(buf, b'!', s);
                    } else {
                        error_line(buf, s);
                    }
                }
                Value::Integer(i) => integer(buf, *i),
                Value::BulkString(s) => write_bulk(buf, s),
                Value::Null if resp3 => buf.put_slice(b"_\r\n"),
                Value::Null => buf.put_slice(b"$-1\r\n"),
                Value::Array(items) => {
                    write_header(buf, b'*', items.len() as u64);
                    work.push(Work::Values(items.iter()));
                }
                Value::Set(items) => {
                    write_header(buf, if resp3 { b'~' } else { b'*' }, items.len() as u64);
                    work.push(Work::Values(items.iter()));
                }
                Value::Push(items) => {
                    write_header(buf, if resp3 { b'>' } else { b'*' }, items.len() as u64);
                    work.push(Work::Values(items.iter()));
                }
                Value::Map(pairs) => {
                    if resp3 {
                        write_header(buf, b'%', pairs.len() as u64);
                    } else {
                        write_header(buf, b'*', 2 * pairs.len() as u64);
                    }
                    work.push(Work::Pairs(pairs.iter(), None));
                }
                Value::Double(d) => {
                    let mut text = DoubleText::new();
                    text.write(*d);
                    if resp3 {
                        line(buf, b',', text.as_bytes());
                    } else {
                        write_bulk(buf, text.as_bytes());
                    }
                }
                Value::Boolean(b) if resp3 => buf.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
                Value::Boolean(b) => integer(buf, i64::from(*b)),
                Value::BigNumber(s) if resp3 && is_big_number(s) => line(buf, b'(', s),
                Value::BigNumber(s) => write_bulk(buf, s),
                Value::BulkError(s) if resp3 => blob(buf, b'!', s),
                Value::BulkError(s) => error_line(buf, s),
                Value::Verbatim { format, text } if resp3 => {
                    write_header(buf, b'=', text.len() as u64 + 4);
                    buf.put_slice(format);
                    buf.put_u8(b':');
                    buf.put_slice(text);
                    buf.put_slice(b"\r\n");
                }
                Value::Verbatim { text, .. } => write_bulk(buf, text),
                Value::Attribute { attributes, value } => {
                    next = Some(value);
                    if resp3 {
                        write_header(buf, b'|', attributes.len() as u64);
                        work.push(Work::Values(core::slice::from_ref(&**value).iter()));
                        work.push(Work::Pairs(attributes.iter(), None));
                        next = None;
                    }
                }
            }
        }
    }
}

/// What is left to encode of an aggregate.
enum Work<'a> {
    Values(core::slice::Iter<'a, Value>),
    Pairs(core::slice::Iter<'a, (Value, Value)>, Option<&'a Value>),
}

fn line<B: BufMut + ?Sized>(buf: &mut B, marker: u8, text: &[u8]) {
    buf.put_u8(marker);
    buf.put_slice(text);
    buf.put_slice(b"\r\n");
}

fn blob<B: BufMut + ?Sized>(buf: &mut B, marker: u8, payload: &[u8]) {
    write_header(buf, marker, payload.len() as u64);
    buf.put_slice(payload);
    buf.put_slice(b"\r\n");
}

/// A RESP2 simple error, with line breaks replaced by spaces to keep the framing.
fn error_line<B: BufMut + ?Sized>(buf: &mut B, text: &[u8]) {
    buf.put_u8(b'-');
    for chunk in text.split(|&b| b == b'\r' || b == b'\n').enumerate() {
        if chunk.0 > 0 {
            buf.put_u8(b' ');
        }
        buf.put_slice(chunk.1);
    }
    buf.put_slice(b"\r\n");
}

/// Whether `text` is what a big number line may hold: an optional `-`, then decimal digits.
fn is_big_number(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn integer<B: BufMut + ?Sized>(buf: &mut B, value: i64) {
    let mut digits = Digits::new();
    line(buf, b':', digits.signed(value));
}

/// Stack space for a double's text: `inf`, `-inf`, `nan`, or the shortest form that reads
/// back as the same number (Rust's `Debug` format, which switches to exponents for very large
/// and very small magnitudes, so the text stays short).
struct DoubleText {
    bytes: [u8; 32],
    len: usize,
}

impl DoubleText {
    fn new() -> Self {
        DoubleText {
            bytes: [0; 32],
            len: 0,
        }
    }

    fn write(&mut self, value: f64) {
        if value.is_nan() {
            self.push_str("nan");
        } else if value.is_infinite() {
            self.push_str(if value > 0.0 { "inf" } else { "-inf" });
        } else {
            // Formatting into a fixed buffer cannot fail: the text of a finite f64 in Debug
            // form is at most 24 bytes.
            let _ = write!(self, "{value:?}");
        }
    }

    fn push_str(&mut self, s: &str) {
        let end = (self.len + s.len()).min(self.bytes.len());
        let take = end - self.len;
        self.bytes[self.len..end].copy_from_slice(&s.as_bytes()[..take]);
        self.len = end;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl core::fmt::Write for DoubleText {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_str(s);
        Ok(())
    }
}
