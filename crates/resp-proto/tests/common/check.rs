//! The checks shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs` include this file with
//! `#[path]`) and by the stable tests: `tests/corpus.rs` replays the fuzz corpus and the crash
//! reproducers through them, `tests/properties.rs` feeds them proptest input, and the vector
//! tester builds on the stream drivers.
//!
//! It depends only on `resp-proto` and `bytes`, so the fuzz crate can include it as is. Every
//! check panics on failure, which is what both libFuzzer and libtest expect, and every loop is
//! bounded by the length of its input.

#![allow(dead_code)] // Each test binary and fuzz target uses a different subset.

use bytes::BytesMut;
use resp_proto::{Decoder, Error, Frame, Frames, Limits, List, Pairs, Protocol, Value};

/// How a byte stream decoded: its complete replies with their wire lengths, then why decoding
/// stopped (`Ok(())`: the rest is an incomplete reply, possibly empty).
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The complete replies, in order, with the number of bytes each took.
    pub(crate) replies: Vec<(Value, usize)>,
    /// `Err` when the stream is malformed.
    pub(crate) end: Result<(), Error>,
}

impl Outcome {
    /// Panics, naming `what`, unless both outcomes hold the same replies (compared exactly,
    /// NaN equal to NaN) and end the same way.
    pub(crate) fn assert_same(&self, other: &Outcome, what: &str) {
        assert_eq!(
            self.replies.len(),
            other.replies.len(),
            "{what}: reply counts differ: {self:?} vs {other:?}"
        );
        for (i, ((a, alen), (b, blen))) in self.replies.iter().zip(&other.replies).enumerate() {
            assert_eq!(alen, blen, "{what}: reply {i} lengths differ");
            if let Err(msg) = compare(a, b, Mode::Exact) {
                panic!("{what}: reply {i} differs: {msg}\n{a:?}\nvs\n{b:?}");
            }
        }
        assert_eq!(self.end, other.end, "{what}: the streams end differently");
    }
}

/// Where to cut an input into the pieces fed to a decoder, one call per piece.
///
/// Offsets are sorted and within `1..input.len()`; the empty list feeds the input whole.
pub(crate) fn bytewise_cuts(len: usize) -> Vec<usize> {
    (1..len).collect()
}

/// Decodes `input` with [`Decoder::decode`] on a `BytesMut` that grows by one piece per feed
/// (see [`bytewise_cuts`]), taking every complete reply after each feed.
///
/// Checks on the way that `Ok(None)` leaves the buffer as it was, that every reply consumes
/// bytes, and that an error is sticky: later calls, with or without more input, return it
/// again.
pub(crate) fn decode_owned(input: &[u8], limits: Limits, cuts: &[usize]) -> Outcome {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    let mut fed = 0;
    for cut in cuts.iter().copied().chain([input.len()]) {
        buf.extend_from_slice(&input[fed..cut]);
        fed = cut;
        // Each reply consumes at least one byte, so this many rounds always suffice.
        for _ in 0..=buf.len() {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(value)) => {
                    let used = before - buf.len();
                    assert!(used > 0, "decode returned a reply without consuming bytes");
                    replies.push((value, used));
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "Ok(None) must not consume bytes");
                    break;
                }
                Err(err) => {
                    assert_eq!(decoder.decode(&mut buf), Err(err), "errors are sticky");
                    buf.extend_from_slice(&input[fed..]);
                    assert_eq!(decoder.decode(&mut buf), Err(err), "errors are sticky");
                    assert_eq!(decoder.decode_frames(b"+OK\r\n").err(), Some(err));
                    return Outcome {
                        replies,
                        end: Err(err),
                    };
                }
            }
        }
    }
    Outcome {
        replies,
        end: Ok(()),
    }
}

/// Like [`decode_owned`], but with [`Decoder::decode_frames`] over a `Vec<u8>` from which the
/// caller drops each complete reply; values are rebuilt from the frames by
/// [`value_from_frames`], independently of the decoder's own builder.
pub(crate) fn decode_borrowed(input: &[u8], limits: Limits, cuts: &[usize]) -> Outcome {
    let mut decoder = Decoder::with_limits(limits);
    let mut buf: Vec<u8> = Vec::new();
    let mut replies = Vec::new();
    let mut fed = 0;
    for cut in cuts.iter().copied().chain([input.len()]) {
        buf.extend_from_slice(&input[fed..cut]);
        fed = cut;
        for _ in 0..=buf.len() {
            match decoder.decode_frames(&buf) {
                Ok(Some((frames, used))) => {
                    assert!(used > 0, "decode_frames returned a reply of no bytes");
                    assert!(used <= buf.len(), "a reply longer than the input");
                    assert_eq!(frames.as_bytes(), &buf[..used]);
                    replies.push((value_from_frames(frames), used));
                    buf.drain(..used);
                }
                Ok(None) => break,
                Err(err) => {
                    assert_eq!(decoder.decode_frames(&buf).err(), Some(err), "sticky");
                    buf.extend_from_slice(&input[fed..]);
                    assert_eq!(decoder.decode_frames(&buf).err(), Some(err), "sticky");
                    let mut fresh = BytesMut::from(&b"+OK\r\n"[..]);
                    assert_eq!(decoder.decode(&mut fresh), Err(err), "sticky");
                    return Outcome {
                        replies,
                        end: Err(err),
                    };
                }
            }
        }
    }
    Outcome {
        replies,
        end: Ok(()),
    }
}

/// An aggregate being rebuilt by [`value_from_frames`].
enum Building {
    /// An array, set or push; `remaining` is `None` when streamed.
    List {
        make: fn(List) -> Value,
        items: Vec<Value>,
        remaining: Option<usize>,
    },
    /// A map or the entries of an attribute block.
    Pairs {
        attribute: bool,
        pairs: Vec<(Value, Value)>,
        key: Option<Value>,
        remaining: Option<usize>,
    },
    /// Attribute entries waiting for the value they describe.
    Attributed(Vec<(Value, Value)>),
    /// A streamed string's chunks so far.
    Text(Vec<u8>),
}

/// Rebuilds the value of one validated reply from its frames, iteratively, merging consecutive
/// attribute blocks as the decoder documents.
///
/// Written separately from the decoder's own builder so that each checks the other. Panics if
/// the frames do not form exactly one reply.
pub(crate) fn value_from_frames(frames: Frames<'_>) -> Value {
    let mut stack: Vec<Building> = Vec::new();
    let mut frames = frames.peekable();
    while let Some(frame) = frames.next() {
        let value = match frame {
            Frame::SimpleString(s) => Value::SimpleString(s.to_vec().into()),
            Frame::Error(s) => Value::Error(s.to_vec().into()),
            Frame::Integer(i) => Value::Integer(i),
            Frame::BulkString(s) => Value::BulkString(s.to_vec().into()),
            Frame::Null => Value::Null,
            Frame::Double(d) => Value::Double(d),
            Frame::Boolean(b) => Value::Boolean(b),
            Frame::BigNumber(s) => Value::BigNumber(s.to_vec().into()),
            Frame::BulkError(s) => Value::BulkError(s.to_vec().into()),
            Frame::Verbatim { format, text } => Value::Verbatim {
                format,
                text: text.to_vec().into(),
            },
            Frame::Array(Some(0)) => Value::Array(List::new()),
            Frame::Set(Some(0)) => Value::Set(List::new()),
            Frame::Push(0) => Value::Push(List::new()),
            Frame::Map(Some(0)) => Value::Map(Pairs::new()),
            Frame::Array(n) => {
                stack.push(list(Value::Array, n));
                continue;
            }
            Frame::Set(n) => {
                stack.push(list(Value::Set, n));
                continue;
            }
            Frame::Push(n) => {
                stack.push(list(Value::Push, Some(n)));
                continue;
            }
            Frame::Map(n) => {
                stack.push(Building::Pairs {
                    attribute: false,
                    pairs: Vec::new(),
                    key: None,
                    remaining: n,
                });
                continue;
            }
            Frame::Attribute(n) => {
                let mut pairs = Vec::new();
                if let Some(Building::Attributed(earlier)) = stack.last_mut() {
                    pairs = std::mem::take(earlier);
                    stack.pop();
                }
                stack.push(if n == 0 {
                    Building::Attributed(pairs)
                } else {
                    Building::Pairs {
                        attribute: true,
                        pairs,
                        key: None,
                        remaining: Some(n),
                    }
                });
                continue;
            }
            Frame::StreamedString => {
                stack.push(Building::Text(Vec::new()));
                continue;
            }
            Frame::Chunk(chunk) => {
                let Some(Building::Text(text)) = stack.last_mut() else {
                    panic!("a chunk outside a streamed string");
                };
                if !chunk.is_empty() {
                    text.extend_from_slice(chunk);
                    continue;
                }
                let text = std::mem::take(text);
                stack.pop();
                Value::BulkString(text.into())
            }
            Frame::End => match stack.pop() {
                Some(Building::List {
                    make,
                    items,
                    remaining: None,
                }) => make(items.into()),
                Some(Building::Pairs {
                    attribute: false,
                    pairs,
                    key: None,
                    remaining: None,
                }) => Value::Map(pairs.into()),
                _ => panic!("an end marker outside a streamed aggregate"),
            },
            other => panic!("a frame this checker does not know: {other:?}"),
        };
        if let Some(done) = hand_up(&mut stack, value) {
            assert!(frames.peek().is_none(), "frames after the end of the reply");
            return done;
        }
    }
    panic!("the frames end before the reply does");
}

fn list(make: fn(List) -> Value, remaining: Option<usize>) -> Building {
    Building::List {
        make,
        items: Vec::new(),
        remaining,
    }
}

/// Gives a complete value to the innermost open aggregate, closing those it completes; returns
/// the reply once the outermost one is complete.
fn hand_up(stack: &mut Vec<Building>, mut value: Value) -> Option<Value> {
    // Each round closes one aggregate, so the stack length bounds the rounds.
    for _ in 0..=stack.len() {
        let Some(top) = stack.last_mut() else {
            return Some(value);
        };
        match top {
            Building::List {
                make,
                items,
                remaining,
            } => {
                items.push(value);
                match remaining {
                    Some(1) => {
                        let done = make(std::mem::take(items).into());
                        stack.pop();
                        value = done;
                    }
                    Some(n) => {
                        *n -= 1;
                        return None;
                    }
                    None => return None,
                }
            }
            Building::Pairs {
                attribute,
                pairs,
                key,
                remaining,
            } => {
                let Some(k) = key.take() else {
                    *key = Some(value);
                    return None;
                };
                pairs.push((k, value));
                match remaining {
                    Some(1) => {
                        let pairs = std::mem::take(pairs);
                        if *attribute {
                            *top = Building::Attributed(pairs);
                            return None;
                        }
                        stack.pop();
                        value = Value::Map(pairs.into());
                    }
                    Some(n) => {
                        *n -= 1;
                        return None;
                    }
                    None => return None,
                }
            }
            Building::Attributed(pairs) => {
                let attributes = std::mem::take(pairs).into();
                stack.pop();
                value = Value::Attribute {
                    attributes,
                    value: Box::new(value),
                };
            }
            Building::Text(_) => panic!("a value inside a streamed string"),
        }
    }
    unreachable!("each round pops or returns")
}

/// How [`compare`] relates the expected value to the actual one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The same tree; doubles equal bit for bit, or both NaN.
    Exact,
    /// `actual` is the decoding of `expected` encoded in RESP3: simple strings and errors
    /// holding `\r` or `\n` come back as bulk strings and bulk errors, big numbers that are not
    /// `-?[0-9]+` as bulk strings, and attribute blocks directly describing attribute blocks
    /// come back merged.
    Resp3,
    /// `actual` is the decoding of `expected` encoded in RESP2, with the downgrade that
    /// [`Value::encode`] documents: maps become flat arrays, sets and pushes arrays, doubles and
    /// big numbers bulk strings, booleans integers, bulk errors simple errors (line breaks
    /// turned to spaces), verbatim strings bulk strings of their text; attributes are left out.
    Resp2,
}

/// Whether two doubles are the same: equal bits, or both NaN.
pub(crate) fn same_double(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Whether `text` is a well-formed big number: an optional `-`, then at least one digit.
fn is_big_number(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

fn has_line_break(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b == b'\r' || b == b'\n')
}

/// Compares `expected` with `actual` under `mode`, iteratively (any depth is fine), and says
/// where they first differ.
pub(crate) fn compare(expected: &Value, actual: &Value, mode: Mode) -> Result<(), String> {
    let mut pending: Vec<(&Value, &Value, usize)> = vec![(expected, actual, 0)];
    while let Some((e, a, depth)) = pending.pop() {
        let fail = || Err(format!("at depth {depth}: expected {e:?}, got {a:?}"));
        let ok = match (mode, e, a) {
            // Attributes vanish in RESP2.
            (Mode::Resp2, Value::Attribute { value, .. }, _) => {
                pending.push((value, a, depth));
                true
            }
            (Mode::Resp3, Value::Attribute { .. }, Value::Attribute { attributes, value }) => {
                // Gather the chain of attribute blocks the decoder merges.
                let mut expected_pairs = Vec::new();
                let mut inner = e;
                while let Value::Attribute { attributes, value } = inner {
                    expected_pairs.extend(attributes.iter());
                    inner = value;
                }
                if expected_pairs.len() != attributes.len() {
                    return fail();
                }
                for ((ek, ev), (ak, av)) in expected_pairs.into_iter().zip(attributes.iter()) {
                    pending.push((ek, ak, depth + 1));
                    pending.push((ev, av, depth + 1));
                }
                pending.push((inner, value, depth + 1));
                true
            }
            (_, Value::SimpleString(x), Value::SimpleString(y)) => x == y,
            (Mode::Resp3 | Mode::Resp2, Value::SimpleString(x), Value::BulkString(y)) => {
                has_line_break(x) && x == y
            }
            (Mode::Resp3, Value::Error(x), Value::BulkError(y)) => has_line_break(x) && x == y,
            (Mode::Resp3, Value::BigNumber(x), Value::BulkString(y)) => !is_big_number(x) && x == y,
            (_, Value::Error(x), Value::Error(y)) => {
                if mode == Mode::Resp2 {
                    spaced(x) == **y
                } else {
                    x == y
                }
            }
            (Mode::Resp2, Value::BulkError(x), Value::Error(y)) => spaced(x) == **y,
            (_, Value::Integer(x), Value::Integer(y)) => x == y,
            (_, Value::BulkString(x), Value::BulkString(y)) => x == y,
            (_, Value::Null, Value::Null) => true,
            (Mode::Resp2, Value::Double(x), Value::BulkString(y)) => std::str::from_utf8(y)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_some_and(|y| same_double(*x, y)),
            (_, Value::Double(x), Value::Double(y)) => same_double(*x, *y),
            (Mode::Resp2, Value::Boolean(x), Value::Integer(y)) => i64::from(*x) == *y,
            (_, Value::Boolean(x), Value::Boolean(y)) => x == y,
            (Mode::Resp2, Value::BigNumber(x), Value::BulkString(y)) => x == y,
            (_, Value::BigNumber(x), Value::BigNumber(y)) => x == y,
            (_, Value::BulkError(x), Value::BulkError(y)) => x == y,
            (Mode::Resp2, Value::Verbatim { text, .. }, Value::BulkString(y)) => text == y,
            (
                _,
                Value::Verbatim {
                    format: f1,
                    text: t1,
                },
                Value::Verbatim {
                    format: f2,
                    text: t2,
                },
            ) => f1 == f2 && t1 == t2,
            (Mode::Resp2, Value::Set(x) | Value::Push(x), Value::Array(y)) => {
                push_lists(&mut pending, x, y, depth)
            }
            (_, Value::Array(x), Value::Array(y))
            | (_, Value::Set(x), Value::Set(y))
            | (_, Value::Push(x), Value::Push(y)) => push_lists(&mut pending, x, y, depth),
            (Mode::Resp2, Value::Map(x), Value::Array(y)) => {
                if x.len() * 2 != y.len() {
                    return fail();
                }
                for ((k, v), pair) in x.iter().zip(y.chunks(2)) {
                    pending.push((k, &pair[0], depth + 1));
                    pending.push((v, &pair[1], depth + 1));
                }
                true
            }
            (_, Value::Map(x), Value::Map(y)) => {
                if x.len() != y.len() {
                    return fail();
                }
                for ((ek, ev), (ak, av)) in x.iter().zip(y.iter()) {
                    pending.push((ek, ak, depth + 1));
                    pending.push((ev, av, depth + 1));
                }
                true
            }
            (
                Mode::Exact,
                Value::Attribute {
                    attributes: x,
                    value: v,
                },
                Value::Attribute {
                    attributes: y,
                    value: w,
                },
            ) => {
                if x.len() != y.len() {
                    return fail();
                }
                for ((ek, ev), (ak, av)) in x.iter().zip(y.iter()) {
                    pending.push((ek, ak, depth + 1));
                    pending.push((ev, av, depth + 1));
                }
                pending.push((v, w, depth + 1));
                true
            }
            _ => false,
        };
        if !ok {
            return fail();
        }
    }
    Ok(())
}

/// Queues the elements of two lists for comparison; false when their lengths differ.
fn push_lists<'v>(
    pending: &mut Vec<(&'v Value, &'v Value, usize)>,
    expected: &'v [Value],
    actual: &'v [Value],
    depth: usize,
) -> bool {
    if expected.len() != actual.len() {
        return false;
    }
    pending.extend(expected.iter().zip(actual).map(|(x, y)| (x, y, depth + 1)));
    true
}

/// A RESP2 simple error's text: each `\r` and `\n` becomes a space.
fn spaced(text: &[u8]) -> Vec<u8> {
    text.iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect()
}

/// Encodes `value` in `protocol`.
pub(crate) fn encode(value: &Value, protocol: Protocol) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out, protocol);
    out
}

/// Decodes exactly one reply that must fill `input`, through both entry points, and checks
/// they agree.
pub(crate) fn decode_exactly(input: &[u8], limits: Limits) -> Value {
    let mut buf = BytesMut::from(input);
    let owned = Decoder::with_limits(limits).decode(&mut buf);
    let Ok(Some(owned)) = owned else {
        panic!("{input:?} does not decode: {owned:?}");
    };
    assert!(buf.is_empty(), "{input:?}: {} bytes left over", buf.len());
    let mut decoder = Decoder::with_limits(limits);
    let Ok(Some((frames, len))) = decoder.decode_frames(input) else {
        panic!("{input:?} does not decode as frames");
    };
    assert_eq!(len, input.len());
    let borrowed = value_from_frames(frames);
    if let Err(msg) = compare(&owned, &borrowed, Mode::Exact) {
        panic!("decode and decode_frames disagree on {input:?}: {msg}");
    }
    owned
}

/// The round trip of a decoded value: re-encoded in RESP3 it decodes to the same value, and
/// re-encodes to the same bytes; re-encoded in RESP2 it decodes to its documented downgrade.
///
/// `limits` are those the value was decoded under; the re-encodings are decoded with the
/// default length limits (merged attribute blocks may be longer than each block was) and at
/// least the same depth.
pub(crate) fn roundtrip_value(value: &Value, limits: Limits) {
    let relaxed = Limits::default().max_depth(limits.depth().max(Limits::DEFAULT_MAX_DEPTH));
    let resp3 = encode(value, Protocol::Resp3);
    let back = decode_exactly(&resp3, relaxed);
    if let Err(msg) = compare(value, &back, Mode::Exact) {
        panic!("RESP3 round trip of {value:?} differs: {msg}");
    }
    assert_eq!(
        encode(&back, Protocol::Resp3),
        resp3,
        "RESP3 is not canonical"
    );
    let resp2 = encode(value, Protocol::Resp2);
    let back = decode_exactly(&resp2, relaxed);
    if let Err(msg) = compare(value, &back, Mode::Resp2) {
        panic!("RESP2 round trip of {value:?} differs: {msg}");
    }
}

/// Fuzz target `parse_oneshot`: the whole input at once through both entry points; they must
/// agree, and every reply must round-trip.
pub(crate) fn parse_oneshot(data: &[u8]) {
    let limits = Limits::default();
    let owned = decode_owned(data, limits, &[]);
    let borrowed = decode_borrowed(data, limits, &[]);
    owned.assert_same(&borrowed, "decode vs decode_frames");
    let used: usize = owned.replies.iter().map(|(_, len)| len).sum();
    assert!(used <= data.len());
    for (value, _) in &owned.replies {
        roundtrip_value(value, limits);
    }
}

/// Where to cut `input` for a chunking `mode` (as the OSS-Fuzz hiredis target does): whole,
/// byte by byte, one split at `param`, 4-byte pieces, or pseudo-random pieces of 1 to 16 bytes
/// seeded by `param`.
pub(crate) fn chunking(mode: u8, param: u8, len: usize) -> Vec<usize> {
    match mode % 5 {
        0 => Vec::new(),
        1 => bytewise_cuts(len),
        2 => {
            let at = usize::from(param) % (len + 1);
            if at == 0 || at == len {
                Vec::new()
            } else {
                vec![at]
            }
        }
        3 => (4..len).step_by(4).collect(),
        _ => {
            let mut state = u32::from(param) | 0x9e37_7900;
            let mut cuts = Vec::new();
            let mut at = 0;
            // Each round advances by at least one byte.
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                at += 1 + (state % 16) as usize;
                if at >= len {
                    break;
                }
                cuts.push(at);
            }
            cuts
        }
    }
}

/// Fuzz target `parse_chunked`: `data[0]` picks a chunking mode and `data[1]` its parameter;
/// the rest, fed in those pieces to both entry points, must decode exactly as it does whole.
pub(crate) fn parse_chunked(data: &[u8]) {
    let [mode, param, input @ ..] = data else {
        return;
    };
    let limits = Limits::default();
    let whole = decode_owned(input, limits, &[]);
    let cuts = chunking(*mode, *param, input.len());
    decode_owned(input, limits, &cuts).assert_same(&whole, "decode, chunked vs whole");
    decode_borrowed(input, limits, &cuts).assert_same(&whole, "decode_frames, chunked vs whole");
}

/// Fuzz target `roundtrip`: every reply the input holds, encoded again, decodes to the same
/// value (RESP3) or to its downgrade (RESP2).
pub(crate) fn roundtrip(data: &[u8]) {
    let limits = Limits::default();
    for (value, _) in decode_owned(data, limits, &[]).replies {
        roundtrip_value(&value, limits);
    }
}

/// The small limits that the `limits` target reads from the first three bytes of its input: a
/// byte of 128 or more keeps the default, a smaller one sets a tiny limit.
pub(crate) fn limits_from(bytes: [u8; 3]) -> Limits {
    let mut limits = Limits::default();
    if bytes[0] < 128 {
        limits = limits.max_depth(usize::from(bytes[0] % 8));
    }
    if bytes[1] < 128 {
        limits = limits.max_bulk_len(usize::from(bytes[1] % 64));
    }
    if bytes[2] < 128 {
        limits = limits.max_aggregate_len(usize::from(bytes[2] % 16));
    }
    limits
}

/// The bytes [`limits_from`] reads back as `limits`, when each is tiny or the default.
pub(crate) fn limits_header(limits: Limits) -> [u8; 3] {
    let pick = |value: usize, default: usize| {
        if value == default {
            255
        } else {
            u8::try_from(value).unwrap_or(127).min(127)
        }
    };
    [
        pick(limits.depth(), Limits::DEFAULT_MAX_DEPTH),
        pick(limits.bulk_len(), Limits::DEFAULT_MAX_BULK_LEN),
        pick(limits.aggregate_len(), Limits::DEFAULT_MAX_AGGREGATE_LEN),
    ]
}

/// Fuzz target `limits`: under small limits read from the first three bytes, decoding never
/// panics, both entry points agree whole and byte by byte, every reply respects the limits and
/// round-trips.
pub(crate) fn limits(data: &[u8]) {
    let [a, b, c, input @ ..] = data else {
        return;
    };
    let limits = limits_from([*a, *b, *c]);
    let whole = decode_owned(input, limits, &[]);
    decode_borrowed(input, limits, &[]).assert_same(&whole, "decode_frames vs decode");
    let cuts = bytewise_cuts(input.len());
    decode_owned(input, limits, &cuts).assert_same(&whole, "decode, bytewise vs whole");
    decode_borrowed(input, limits, &cuts).assert_same(&whole, "decode_frames, bytewise");
    for (value, _) in &whole.replies {
        assert_within_limits(value, limits);
        roundtrip_value(value, limits);
    }
}

/// Panics unless a decoded value respects `limits`: every non-empty aggregate (and every
/// attribute block, which opens a level too) sits at a depth below the limit, strings and lines
/// are within the bulk limit, and arrays, sets, pushes and maps within the aggregate limit
/// (attribute blocks are not counted: the decoder merges consecutive ones).
pub(crate) fn assert_within_limits(value: &Value, limits: Limits) {
    let mut pending = vec![(value, 0usize)];
    while let Some((v, depth)) = pending.pop() {
        let opens = match v {
            Value::Array(l) | Value::Set(l) | Value::Push(l) => {
                assert!(
                    l.len() <= limits.aggregate_len(),
                    "aggregate over the limit"
                );
                pending.extend(l.iter().map(|x| (x, depth + 1)));
                !l.is_empty()
            }
            Value::Map(p) => {
                assert!(p.len() <= limits.aggregate_len(), "map over the limit");
                for (k, x) in p.iter() {
                    pending.push((k, depth + 1));
                    pending.push((x, depth + 1));
                }
                !p.is_empty()
            }
            Value::Attribute { attributes, value } => {
                for (k, x) in attributes.iter() {
                    pending.push((k, depth + 1));
                    pending.push((x, depth + 1));
                }
                pending.push((value, depth + 1));
                true
            }
            Value::SimpleString(s)
            | Value::Error(s)
            | Value::BulkString(s)
            | Value::BigNumber(s)
            | Value::BulkError(s) => {
                assert!(s.len() <= limits.bulk_len(), "string over the bulk limit");
                false
            }
            Value::Verbatim { text, .. } => {
                assert!(
                    text.len() + 4 <= limits.bulk_len(),
                    "verbatim over the limit"
                );
                false
            }
            _ => false,
        };
        if opens {
            assert!(
                depth < limits.depth(),
                "aggregate at depth {depth} over the limit"
            );
        }
    }
}

/// The check behind a fuzz target.
pub(crate) type Target = fn(&[u8]);

/// Every fuzz target, by name, for replaying a corpus.
pub(crate) const TARGETS: [(&str, Target); 4] = [
    ("parse_oneshot", parse_oneshot),
    ("parse_chunked", parse_chunked),
    ("roundtrip", roundtrip),
    ("limits", limits),
];
