//! The incremental decoder: structural validation of one reply at a time, then either borrowed
//! frames or an owned, zero-copy [`Value`].

use alloc::boxed::Box;
use alloc::vec::Vec;

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, ErrorKind};
use crate::frame::{Frame, Frames, Scan, Step, read_token};
use crate::limits::Limits;
use crate::value::{List, Pairs, Value};

/// Scratch stacks deeper than this are freed after the reply that needed them.
const RETAINED_STACK: usize = 64;
/// Token records beyond this many are freed after the reply that needed them (32 KiB).
const RETAINED_RECORDS: usize = 1024;

/// An incremental RESP2/RESP3 decoder.
///
/// # Driving it
///
/// Append bytes from the network to a buffer, then call [`Decoder::decode`] (owned values) or
/// [`Decoder::decode_frames`] (borrowed frames) until it returns `Ok(None)`, which means "the
/// next reply is not complete yet: read more bytes and call again". The decoder remembers how
/// far it validated the incomplete reply, so a reply fed in many small pieces costs time
/// linear in its size, never a re-parse from its start. Between two calls that return
/// `Ok(None)` the caller must only append to the buffer, never change what is already in it.
///
/// An `Err` is final: the stream is no longer aligned on reply boundaries, and the decoder
/// returns the same error until [`Decoder::reset`] (which a caller only uses with a fresh
/// stream).
///
/// ```
/// use bytes::BytesMut;
/// use resp_proto::{Decoder, Value};
///
/// let mut decoder = Decoder::new();
/// let mut buf = BytesMut::from(&b"*2\r\n:1\r\n"[..]);
/// assert_eq!(decoder.decode(&mut buf)?, None); // half a reply: wait for more
/// buf.extend_from_slice(b":2\r\n+OK\r\n");
/// let first = decoder.decode(&mut buf)?.expect("complete");
/// assert_eq!(first, Value::Array(vec![Value::Integer(1), Value::Integer(2)].into()));
/// assert_eq!(decoder.decode(&mut buf)?, Some(Value::SimpleString("OK".into())));
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// # Ok::<(), resp_proto::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// Offset, within the current reply, of the next element to validate.
    pos: usize,
    /// Where the search for the end of a long simple line resumes, and the bytes examined.
    scan: Scan,
    /// Aggregates opened and not yet complete.
    open: Vec<Level>,
    /// Scratch space for building values, kept to avoid reallocating.
    build: Vec<Partial>,
    /// The tokens of the reply being validated, recorded for [`Decoder::decode`] so that the
    /// value is built without reading the bytes a second time.
    records: Vec<Rec>,
    /// Whether `records` holds every token of the current reply so far.
    recording: bool,
    /// The first error; every later call returns it.
    failed: Option<Error>,
    /// How far the one-pass path got into a flat aggregate that has not fully arrived.
    flat: Option<FlatScan>,
    /// Where each element the one-pass path scanned lies in the buffer (`None`: a null), so
    /// that the values are built without scanning the bytes again.
    flat_ranges: Vec<Option<core::ops::Range<usize>>>,
}

/// Element ranges kept between replies: more are freed after a large reply.
const RETAINED_RANGES: usize = 4096;

/// The progress of [`Decoder::decode`]'s one-pass path through a flat aggregate.
#[derive(Debug, Clone, Copy)]
struct FlatScan {
    kind: u8,
    count: usize,
    done: usize,
    at: usize,
}

/// What the one-pass path made of the front of the buffer.
enum Flat {
    Value(Value),
    NeedMore,
    /// Not a flat aggregate (or malformed): the general path decides.
    No,
}

/// One element as the one-pass path sees it.
enum FlatStep {
    /// A bulk string's payload range (`None`: a null) and where the next element starts.
    Element(Option<core::ops::Range<usize>>, usize),
    NeedMore,
    No,
}

/// An aggregate being validated.
#[derive(Debug, Clone, Copy)]
struct Level {
    kind: LevelKind,
    /// Elements still expected (fixed-length) or seen so far (streamed).
    count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LevelKind {
    Fixed { attribute: bool },
    Streamed { map: bool },
    StreamedString,
}

impl Decoder {
    /// A decoder with the default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Decoder {
            limits,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets any partly validated reply and any error, for use with a new stream. Also sets
    /// [`Decoder::bytes_examined`] back to 0.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.scan = Scan::default();
        self.open.clear();
        self.records.clear();
        self.recording = false;
        self.failed = None;
        self.flat = None;
        self.flat_ranges.clear();
    }

    /// A diagnostic: how many input bytes the decoder has looked at while validating, since it
    /// was created or last [reset](Decoder::reset).
    ///
    /// Bytes that are looked at again when a call resumes an incomplete reply count again; the
    /// payloads of bulk strings, bulk errors, verbatim strings and chunks are sliced without
    /// being looked at and do not count, nor does building the [`Value`] of a complete reply.
    /// Tests use it to check that feeding a reply in many small pieces costs work linear in its
    /// size: about its length plus a few dozen bytes per call.
    pub fn bytes_examined(&self) -> u64 {
        self.scan.examined
    }

    /// Decodes the reply at the front of `buf`, removing its bytes from `buf`.
    ///
    /// Returns `Ok(None)` when `buf` does not hold a complete reply yet; nothing is removed then.
    /// The payloads of the returned value share `buf`'s memory: no payload byte is copied
    /// (streamed strings, whose chunks must be joined, are the one exception).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Value>, Error> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let first = if self.pos == 0 {
            // The commonest reply of all (SET, pipelines of writes): no token scan needed.
            // (The limit on line length applies to it too.)
            if buf.starts_with(b"+OK\r\n") && self.limits.bulk_len() >= 2 {
                buf.advance(5);
                self.scan.line_from = 0;
                self.scan.examined = self.scan.examined.saturating_add(5);
                return Ok(Some(Value::SimpleString(Bytes::from_static(b"OK"))));
            }
            match self.decode_flat(buf) {
                Flat::Value(value) => return Ok(Some(value)),
                Flat::NeedMore => return Ok(None),
                Flat::No => {}
            }
            match self.decode_scalar(buf)? {
                Fast::Value(value) => return Ok(Some(value)),
                Fast::NeedMore => return Ok(None),
                Fast::Header(rec, end) => {
                    self.records.clear();
                    self.recording = true;
                    Some((rec, end))
                }
            }
        } else {
            None
        };
        let Some(len) = self.validate(buf, first)? else {
            return Ok(None);
        };
        let reply = buf.split_to(len).freeze();
        self.build_value(&reply).map(Some)
    }

    /// Validates the reply at the front of `input` and returns its frames and its length.
    ///
    /// Returns `Ok(None)` when `input` does not hold a complete reply yet. Call again with the
    /// same input extended by newly received bytes; validation resumes where it stopped. After
    /// a complete reply the caller drops `len` bytes from the front of its buffer before the
    /// next call. Nothing is allocated once the decoder is warm.
    #[inline]
    pub fn decode_frames<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<Option<(Frames<'a>, usize)>, Error> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        // Progress of `decode`'s one-pass path does not apply to this entry point.
        self.flat = None;
        self.flat_ranges.clear();
        if self.pos == 0 {
            // A scalar reply is one token: read it once, hand it over already read.
            let step = read_token(input, 0, &self.limits, &mut self.scan).inspect_err(|e| {
                self.failed = Some(*e);
            })?;
            let first = match step {
                Step::NeedMore => return Ok(None),
                Step::Token(frame, end)
                    if !frame.is_header() && !matches!(frame, Frame::Chunk(_) | Frame::End) =>
                {
                    self.scan.line_from = 0;
                    return Ok(Some((Frames::single(&input[..end], frame), end)));
                }
                Step::Token(frame, end) => (Rec::of(frame, input), end),
            };
            self.recording = false;
            return Ok(self
                .validate(input, Some(first))?
                .map(|len| (Frames::new(&input[..len]), len)));
        }
        Ok(self
            .validate(input, None)?
            .map(|len| (Frames::new(&input[..len]), len)))
    }

    /// Fast path for a reply that is a single scalar: one pass, no validation stack.
    fn decode_scalar(&mut self, buf: &mut BytesMut) -> Result<Fast, Error> {
        let step = read_token(buf, 0, &self.limits, &mut self.scan).inspect_err(|e| {
            self.failed = Some(*e);
        })?;
        let Step::Token(frame, end) = step else {
            return Ok(Fast::NeedMore);
        };
        // The token is complete: a search for the end of a line must not resume in the next
        // reply.
        self.scan.line_from = 0;
        let base = buf.as_ptr() as usize;
        let span = |payload: &[u8]| {
            let start = payload.as_ptr() as usize - base;
            start..start + payload.len()
        };
        let value = match frame {
            Frame::Integer(i) => Value::Integer(i),
            Frame::Null => Value::Null,
            Frame::Boolean(b) => Value::Boolean(b),
            Frame::Double(d) => Value::Double(d),
            Frame::SimpleString(b"OK") => Value::SimpleString(Bytes::from_static(b"OK")),
            Frame::SimpleString(b"QUEUED") => Value::SimpleString(Bytes::from_static(b"QUEUED")),
            Frame::SimpleString(b"PONG") => Value::SimpleString(Bytes::from_static(b"PONG")),
            Frame::SimpleString(s) => {
                let range = span(s);
                return Ok(Fast::Value(Value::SimpleString(take_payload(
                    buf, range, end,
                ))));
            }
            Frame::Error(s) => {
                let range = span(s);
                return Ok(Fast::Value(Value::Error(take_payload(buf, range, end))));
            }
            Frame::BulkString(s) => {
                let range = span(s);
                return Ok(Fast::Value(Value::BulkString(take_payload(
                    buf, range, end,
                ))));
            }
            Frame::BigNumber(s) => {
                let range = span(s);
                return Ok(Fast::Value(Value::BigNumber(take_payload(buf, range, end))));
            }
            Frame::BulkError(s) => {
                let range = span(s);
                return Ok(Fast::Value(Value::BulkError(take_payload(buf, range, end))));
            }
            Frame::Verbatim { format, text } => {
                let range = span(text);
                return Ok(Fast::Value(Value::Verbatim {
                    format,
                    text: take_payload(buf, range, end),
                }));
            }
            Frame::Array(Some(0)) => Value::Array(List::new()),
            Frame::Set(Some(0)) => Value::Set(List::new()),
            Frame::Map(Some(0)) => Value::Map(Pairs::new()),
            Frame::Push(0) => Value::Push(List::new()),
            // An aggregate or stream marker: the structural path goes on from it.
            header => return Ok(Fast::Header(Rec::of(header, buf), end)),
        };
        buf.advance(end);
        Ok(Fast::Value(value))
    }

    /// The commonest aggregate (pub/sub messages, LRANGE, MGET, HGETALL under RESP2): an
    /// array, push or set of bulk strings and nulls, decoded with one scan and one build.
    /// The scan records where each element lies, and the build slices those ranges without
    /// reading the bytes again. When the reply has not fully arrived, the scan's progress is
    /// kept and the next call resumes it (each byte is scanned once). Anything else (another element type, a limit exceeded,
    /// anything malformed) gives [`Flat::No`] having consumed nothing, and the general path
    /// takes the reply from its start.
    fn decode_flat(&mut self, buf: &mut BytesMut) -> Flat {
        let bytes = &buf[..];
        let mut scan = match self.flat.take() {
            Some(scan) => scan,
            None => {
                let Some(&kind) = bytes.first() else {
                    return Flat::No;
                };
                if !matches!(kind, b'*' | b'>' | b'~') || self.limits.depth() == 0 {
                    return Flat::No;
                }
                let Some((count, first)) = flat_len(bytes, 1) else {
                    return Flat::No;
                };
                if count == 0 || count > self.limits.aggregate_len() {
                    return Flat::No;
                }
                self.scan.examined = self.scan.examined.saturating_add(first as u64);
                self.flat_ranges.clear();
                FlatScan {
                    kind,
                    count,
                    done: 0,
                    at: first,
                }
            }
        };
        while scan.done < scan.count {
            match flat_step(bytes, scan.at, self.limits.bulk_len()) {
                FlatStep::Element(payload, next) => {
                    // Payloads are sliced, not looked at.
                    let sliced = payload.as_ref().map_or(0, |p| p.len());
                    let looked = next - scan.at - sliced;
                    self.scan.examined = self.scan.examined.saturating_add(looked as u64);
                    // Recorded as the elements arrive, never reserved from the count.
                    self.flat_ranges.push(payload);
                    scan.at = next;
                    scan.done += 1;
                }
                FlatStep::NeedMore => {
                    self.flat = Some(scan);
                    return Flat::NeedMore;
                }
                FlatStep::No => {
                    self.flat_ranges.clear();
                    return Flat::No;
                }
            }
        }
        self.scan.line_from = 0;
        // Every element has arrived: now the values are allocated, sharing one buffer.
        let reply = buf.split_to(scan.at).freeze();
        let items: Vec<Value> = self
            .flat_ranges
            .drain(..)
            .map(|payload| match payload {
                Some(range) => Value::BulkString(reply.slice(range)),
                None => Value::Null,
            })
            .collect();
        if self.flat_ranges.capacity() > RETAINED_RANGES {
            self.flat_ranges = Vec::new();
        }
        let list = List::from(items);
        Flat::Value(match scan.kind {
            b'*' => Value::Array(list),
            b'>' => Value::Push(list),
            _ => Value::Set(list),
        })
    }

    /// Structural validation, resumable: returns the length of the complete reply at the front
    /// of `input`, or `None` when more bytes are needed.
    fn validate(
        &mut self,
        input: &[u8],
        first: Option<(Rec, usize)>,
    ) -> Result<Option<usize>, Error> {
        match self.validate_inner(input, first) {
            Ok(Some(len)) => {
                self.pos = 0;
                self.scan.line_from = 0;
                // A very deep reply grew the stack; do not keep that memory for the next one.
                if self.open.capacity() > RETAINED_STACK {
                    self.open = Vec::new();
                }
                Ok(Some(len))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.failed = Some(err);
                Err(err)
            }
        }
    }

    fn validate_inner(
        &mut self,
        input: &[u8],
        mut first: Option<(Rec, usize)>,
    ) -> Result<Option<usize>, Error> {
        loop {
            let start = self.pos;
            let (frame, end) = match first.take() {
                Some((rec, end)) => (rec.frame(input), end),
                None => match read_token(input, start, &self.limits, &mut self.scan)? {
                    Step::Token(frame, end) => (frame, end),
                    Step::NeedMore => return Ok(None),
                },
            };
            self.pos = end;
            self.scan.line_from = 0;
            if self.recording {
                self.records.push(Rec::of(frame, input));
            }
            if let Some(&Level {
                kind: LevelKind::StreamedString,
                count,
            }) = self.open.last()
            {
                let Frame::Chunk(chunk) = frame else {
                    return Err(Error::new(ErrorKind::UnexpectedStreamMarker, start));
                };
                if chunk.is_empty() {
                    self.open.pop();
                } else {
                    let total = count + chunk.len() as u64;
                    if total > self.limits.bulk_len() as u64 {
                        return Err(Error::new(ErrorKind::BulkTooLong, start));
                    }
                    if let Some(level) = self.open.last_mut() {
                        level.count = total;
                    }
                    continue;
                }
            } else {
                let opened = match frame {
                    Frame::Array(n) | Frame::Set(n) => {
                        self.open_aggregate(n.map(|n| n as u64), false, false, start)?
                    }
                    Frame::Map(n) => {
                        let elements = n.map(|n| (n as u64).saturating_mul(2));
                        self.open_aggregate(elements, true, false, start)?
                    }
                    Frame::Push(n) => {
                        // A push belongs at the top level, or as the value that top-level
                        // attributes describe (the last element of each open attribute block),
                        // never inside an aggregate nor as an attribute entry.
                        let nested = self.open.iter().any(|l| {
                            l.kind != LevelKind::Fixed { attribute: true } || l.count != 1
                        });
                        if nested {
                            return Err(Error::new(ErrorKind::NestedPush, start));
                        }
                        self.open_aggregate(Some(n as u64), false, false, start)?
                    }
                    Frame::Attribute(n) => {
                        // The entries, then the value they describe.
                        let elements = (n as u64).saturating_mul(2).saturating_add(1);
                        self.open_aggregate(Some(elements), false, true, start)?
                    }
                    Frame::StreamedString => {
                        let level = Level {
                            kind: LevelKind::StreamedString,
                            count: 0,
                        };
                        self.open.push(level);
                        true
                    }
                    Frame::Chunk(_) => {
                        return Err(Error::new(ErrorKind::UnexpectedStreamMarker, start));
                    }
                    Frame::End => match self.open.last() {
                        Some(&Level {
                            kind: LevelKind::Streamed { map },
                            count,
                        }) => {
                            if map && count % 2 == 1 {
                                return Err(Error::new(ErrorKind::IncompleteMapEntry, start));
                            }
                            self.open.pop();
                            false
                        }
                        _ => return Err(Error::new(ErrorKind::UnexpectedStreamMarker, start)),
                    },
                    _ => false,
                };
                if opened {
                    continue;
                }
            }
            // An element is complete: count it against the aggregates it closes.
            loop {
                let Some(level) = self.open.last_mut() else {
                    return Ok(Some(self.pos));
                };
                match level.kind {
                    LevelKind::Fixed { .. } => {
                        level.count -= 1;
                        if level.count > 0 {
                            break;
                        }
                        self.open.pop();
                    }
                    LevelKind::Streamed { map } => {
                        level.count += 1;
                        let entries = if map {
                            level.count.div_ceil(2)
                        } else {
                            level.count
                        };
                        if entries > self.limits.aggregate_len() as u64 {
                            return Err(Error::new(ErrorKind::AggregateTooLong, start));
                        }
                        break;
                    }
                    LevelKind::StreamedString => break,
                }
            }
        }
    }

    /// Opens an aggregate of `elements` wire elements (`None`: streamed). Returns whether it
    /// is open, that is, whether elements follow.
    fn open_aggregate(
        &mut self,
        elements: Option<u64>,
        map: bool,
        attribute: bool,
        at: usize,
    ) -> Result<bool, Error> {
        if elements == Some(0) {
            return Ok(false);
        }
        if self.open.len() >= self.limits.depth() {
            return Err(Error::new(ErrorKind::TooDeep, at));
        }
        let level = match elements {
            Some(count) => Level {
                kind: LevelKind::Fixed { attribute },
                count,
            },
            None => Level {
                kind: LevelKind::Streamed { map },
                count: 0,
            },
        };
        self.open.push(level);
        Ok(true)
    }

    /// Builds the value of a validated reply, slicing payloads out of `reply`.
    fn build_value(&mut self, reply: &Bytes) -> Result<Value, Error> {
        let base = reply.as_ptr() as usize;
        let slice = |payload: &[u8]| {
            let start = payload.as_ptr() as usize - base;
            reply.slice(start..start + payload.len())
        };
        if self.build.capacity() > RETAINED_STACK {
            self.build = Vec::new();
        }
        let records = core::mem::take(&mut self.records);
        let recorded = core::mem::take(&mut self.recording);
        let mut from_records = records.iter();
        let mut from_bytes = Frames::new(reply);
        let mut next_frame = || {
            if recorded {
                from_records.next().map(|rec| rec.frame(reply))
            } else {
                from_bytes.next()
            }
        };
        let result = build(reply, &mut self.build, &mut next_frame, slice);
        self.records = records;
        self.records.clear();
        if self.records.capacity() > RETAINED_RECORDS {
            self.records = Vec::new();
        }
        result
    }
}

/// Builds a value from the frames of a complete, validated reply.
fn build<'a>(
    reply: &'a Bytes,
    stack: &mut Vec<Partial>,
    next_frame: &mut impl FnMut() -> Option<Frame<'a>>,
    slice: impl Fn(&[u8]) -> Bytes,
) -> Result<Value, Error> {
    {
        stack.clear();
        while let Some(frame) = next_frame() {
            let value = match frame {
                Frame::SimpleString(s) => Value::SimpleString(slice(s)),
                Frame::Error(s) => Value::Error(slice(s)),
                Frame::Integer(i) => Value::Integer(i),
                Frame::BulkString(s) => Value::BulkString(slice(s)),
                Frame::Null => Value::Null,
                Frame::Double(d) => Value::Double(d),
                Frame::Boolean(b) => Value::Boolean(b),
                Frame::BigNumber(s) => Value::BigNumber(slice(s)),
                Frame::BulkError(s) => Value::BulkError(slice(s)),
                Frame::Verbatim { format, text } => Value::Verbatim {
                    format,
                    text: slice(text),
                },
                Frame::Array(Some(0)) => Value::Array(List::new()),
                Frame::Set(Some(0)) => Value::Set(List::new()),
                Frame::Map(Some(0)) => Value::Map(Pairs::new()),
                Frame::Push(0) => Value::Push(List::new()),
                Frame::Array(n) => {
                    stack.push(Partial::list(ListKind::Array, n));
                    continue;
                }
                Frame::Set(n) => {
                    stack.push(Partial::list(ListKind::Set, n));
                    continue;
                }
                Frame::Push(n) => {
                    stack.push(Partial::list(ListKind::Push, Some(n)));
                    continue;
                }
                Frame::Map(n) => {
                    stack.push(Partial::pairs(false, n));
                    continue;
                }
                Frame::Attribute(n) => {
                    // Consecutive attribute blocks merge into one: the new entries go after
                    // the earlier ones, in the same vector (moving the earlier entries into a
                    // new one at every block would cost quadratic time for a long chain).
                    if let Some(Partial::Attributed(pairs)) = stack.last_mut() {
                        let mut earlier = core::mem::take(pairs).into_vec();
                        stack.pop();
                        // The reply is complete and validated: the `n` entries are there.
                        earlier.reserve(n);
                        stack.push(Partial::Pairs {
                            attribute: true,
                            pairs: earlier,
                            key: None,
                            remaining: Some(n),
                        });
                    } else {
                        stack.push(Partial::pairs(true, Some(n)));
                    }
                    if n == 0
                        && let Some(Partial::Pairs { pairs, .. }) = stack.pop()
                    {
                        stack.push(Partial::Attributed(pairs.into()));
                    }
                    continue;
                }
                Frame::StreamedString => {
                    stack.push(Partial::String(Vec::new()));
                    continue;
                }
                Frame::Chunk(chunk) => {
                    if let Some(Partial::String(text)) = stack.last_mut()
                        && !chunk.is_empty()
                    {
                        text.extend_from_slice(chunk);
                        continue;
                    }
                    match stack.pop() {
                        Some(Partial::String(text)) => Value::BulkString(Bytes::from(text)),
                        _ => return Err(Error::new(ErrorKind::UnexpectedStreamMarker, 0)),
                    }
                }
                Frame::End => match stack.pop() {
                    Some(mut partial) => partial.finish(),
                    None => return Err(Error::new(ErrorKind::UnexpectedStreamMarker, 0)),
                },
            };
            if let Some(done) = emit(stack, value) {
                return Ok(done);
            }
        }
        // Validation guarantees a complete reply; reaching here means it was not.
        Err(Error::new(ErrorKind::MissingCrlf, reply.len()))
    }
}

/// What the single-scalar fast path found.
enum Fast {
    Value(Value),
    NeedMore,
    /// The reply starts with this header token, which ends at the offset.
    Header(Rec, usize),
}

/// Removes the first `end` bytes of `buf` and returns the `range` within them: one reference
/// count increment, instead of split, slice and drop.
/// A length of the one-pass path: ASCII digits (at most 18) from `at`, then `\r\n`;
/// returns it and where the line ends, or `None` (incomplete or malformed alike).
fn flat_len(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    match flat_len_step(bytes, at) {
        FlatLen::Done(n, end) => Some((n, end)),
        FlatLen::NeedMore | FlatLen::No => None,
    }
}

enum FlatLen {
    Done(usize, usize),
    NeedMore,
    No,
}

/// Whether `want` is at `at`: `Done` when all of it is, `NeedMore` when what has arrived so
/// far matches, `No` at the first byte that differs (the general path reports that byte at
/// once, so the one-pass path must not wait for more).
fn flat_expect(bytes: &[u8], at: usize, want: &[u8]) -> FlatLen {
    for (i, &w) in want.iter().enumerate() {
        match bytes.get(at + i) {
            None => return FlatLen::NeedMore,
            Some(&b) if b != w => return FlatLen::No,
            Some(_) => {}
        }
    }
    FlatLen::Done(0, at + want.len())
}

/// [`flat_len_step`] for the commonest lengths, of one or two digits (values up to 99 bytes),
/// read with one bounds check; any other case goes the general way.
#[inline]
fn short_len(bytes: &[u8], at: usize) -> FlatLen {
    if let Some(&[a, b, c, d]) = bytes.get(at..at + 4)
        && a.is_ascii_digit()
    {
        if b == b'\r' && c == b'\n' {
            return FlatLen::Done(usize::from(a - b'0'), at + 3);
        }
        if b.is_ascii_digit() && c == b'\r' && d == b'\n' {
            return FlatLen::Done(usize::from(a - b'0') * 10 + usize::from(b - b'0'), at + 4);
        }
    }
    flat_len_step(bytes, at)
}

fn flat_len_step(bytes: &[u8], at: usize) -> FlatLen {
    let mut n: usize = 0;
    let mut i = at;
    while let Some(&d) = bytes.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        if i - at == 18 {
            return FlatLen::No;
        }
        // Checked: 18 digits fit in 64 bits, not in a 32-bit `usize`.
        let Some(next) = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d - b'0')))
        else {
            return FlatLen::No;
        };
        n = next;
        i += 1;
    }
    if i == at && i < bytes.len() {
        return FlatLen::No;
    }
    match flat_expect(bytes, i, b"\r\n") {
        FlatLen::Done(_, end) if i > at => FlatLen::Done(n, end),
        FlatLen::Done(..) => FlatLen::No,
        other => other,
    }
}

/// One element of the one-pass path at `at`: a bulk string of at most `max_len` bytes or a
/// null (`$-1` or `_`).
fn flat_step(bytes: &[u8], at: usize, max_len: usize) -> FlatStep {
    let Some(&marker) = bytes.get(at) else {
        return FlatStep::NeedMore;
    };
    let fixed = |want: &[u8]| match flat_expect(bytes, at + 1, want) {
        FlatLen::Done(_, end) => FlatStep::Element(None, end),
        FlatLen::NeedMore => FlatStep::NeedMore,
        FlatLen::No => FlatStep::No,
    };
    match marker {
        b'$' if bytes.get(at + 1) == Some(&b'-') => fixed(b"-1\r\n"),
        b'$' => {
            let (len, body) = match short_len(bytes, at + 1) {
                FlatLen::Done(len, body) => (len, body),
                FlatLen::NeedMore => return FlatStep::NeedMore,
                FlatLen::No => return FlatStep::No,
            };
            if len > max_len {
                return FlatStep::No;
            }
            let Some(end) = body.checked_add(len) else {
                return FlatStep::No;
            };
            if bytes.len() <= end {
                return FlatStep::NeedMore;
            }
            if bytes.get(end..end + 2) == Some(b"\r\n") {
                return FlatStep::Element(Some(body..end), end + 2);
            }
            match flat_expect(bytes, end, b"\r\n") {
                FlatLen::Done(_, next) => FlatStep::Element(Some(body..end), next),
                FlatLen::NeedMore => FlatStep::NeedMore,
                FlatLen::No => FlatStep::No,
            }
        }
        b'_' => fixed(b"\r\n"),
        _ => FlatStep::No,
    }
}

fn take_payload(buf: &mut BytesMut, range: core::ops::Range<usize>, end: usize) -> Bytes {
    buf.advance(range.start);
    let payload = buf.split_to(range.end - range.start).freeze();
    buf.advance(end - range.end);
    payload
}

/// Hands a complete value to the innermost open aggregate, closing every aggregate it
/// completes; returns the whole reply once the outermost one is complete.
fn emit(stack: &mut Vec<Partial>, mut value: Value) -> Option<Value> {
    loop {
        let Some(top) = stack.last_mut() else {
            return Some(value);
        };
        match top.push(value) {
            None => return None,
            Some(complete) => {
                stack.pop();
                value = complete;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum ListKind {
    Array,
    Set,
    Push,
}

/// An aggregate under construction.
#[derive(Debug)]
enum Partial {
    List {
        kind: ListKind,
        items: Vec<Value>,
        remaining: Option<usize>,
    },
    Pairs {
        attribute: bool,
        pairs: Vec<(Value, Value)>,
        key: Option<Value>,
        remaining: Option<usize>,
    },
    /// Attribute entries waiting for the value they describe.
    Attributed(Pairs),
    String(Vec<u8>),
}

impl Partial {
    fn list(kind: ListKind, len: Option<usize>) -> Self {
        // The reply is complete and validated, so `len` elements are really there.
        let items = Vec::with_capacity(len.unwrap_or(0));
        Partial::List {
            kind,
            items,
            remaining: len,
        }
    }

    fn pairs(attribute: bool, len: Option<usize>) -> Self {
        let pairs = Vec::with_capacity(len.unwrap_or(0));
        Partial::Pairs {
            attribute,
            pairs,
            key: None,
            remaining: len,
        }
    }

    /// Adds an element; returns the finished value when this was the last one.
    fn push(&mut self, value: Value) -> Option<Value> {
        match self {
            Partial::List {
                items, remaining, ..
            } => {
                items.push(value);
                if let Some(left) = remaining {
                    *left -= 1;
                    if *left == 0 {
                        return Some(self.finish());
                    }
                }
                None
            }
            Partial::Pairs {
                attribute,
                pairs,
                key,
                remaining,
            } => {
                match key.take() {
                    None => *key = Some(value),
                    Some(k) => {
                        pairs.push((k, value));
                        if let Some(left) = remaining {
                            *left -= 1;
                            if *left == 0 {
                                if *attribute {
                                    let entries = core::mem::take(pairs);
                                    *self = Partial::Attributed(entries.into());
                                    return None;
                                }
                                return Some(self.finish());
                            }
                        }
                    }
                }
                None
            }
            Partial::Attributed(attributes) => Some(Value::Attribute {
                attributes: core::mem::take(attributes),
                value: Box::new(value),
            }),
            // Validation only lets chunks into a streamed string.
            Partial::String(_) => None,
        }
    }

    /// The value of a complete aggregate.
    fn finish(&mut self) -> Value {
        match self {
            Partial::List { kind, items, .. } => {
                let list = List::from(core::mem::take(items));
                match kind {
                    ListKind::Array => Value::Array(list),
                    ListKind::Set => Value::Set(list),
                    ListKind::Push => Value::Push(list),
                }
            }
            Partial::Pairs { pairs, .. } => Value::Map(Pairs::from(core::mem::take(pairs))),
            Partial::Attributed(_) => Value::Null,
            Partial::String(text) => Value::BulkString(Bytes::from(core::mem::take(text))),
        }
    }
}

/// A byte range within a reply: start and length.
type Span = (usize, usize);

/// A token of a reply, recorded with offsets instead of borrowed slices, so that it outlives
/// the borrow of the read buffer it was read from.
#[derive(Debug, Clone, Copy)]
enum Rec {
    SimpleString(Span),
    Error(Span),
    Integer(i64),
    BulkString(Span),
    Null,
    Double(f64),
    Boolean(bool),
    BigNumber(Span),
    BulkError(Span),
    Verbatim([u8; 3], Span),
    Array(Option<usize>),
    Map(Option<usize>),
    Set(Option<usize>),
    Push(usize),
    Attribute(usize),
    StreamedString,
    Chunk(Span),
    End,
}

impl Rec {
    /// Records `frame`, whose slices point into `input`.
    #[inline]
    fn of(frame: Frame<'_>, input: &[u8]) -> Rec {
        let base = input.as_ptr() as usize;
        let span = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
        match frame {
            Frame::SimpleString(s) => Rec::SimpleString(span(s)),
            Frame::Error(s) => Rec::Error(span(s)),
            Frame::Integer(i) => Rec::Integer(i),
            Frame::BulkString(s) => Rec::BulkString(span(s)),
            Frame::Null => Rec::Null,
            Frame::Double(d) => Rec::Double(d),
            Frame::Boolean(b) => Rec::Boolean(b),
            Frame::BigNumber(s) => Rec::BigNumber(span(s)),
            Frame::BulkError(s) => Rec::BulkError(span(s)),
            Frame::Verbatim { format, text } => Rec::Verbatim(format, span(text)),
            Frame::Array(n) => Rec::Array(n),
            Frame::Map(n) => Rec::Map(n),
            Frame::Set(n) => Rec::Set(n),
            Frame::Push(n) => Rec::Push(n),
            Frame::Attribute(n) => Rec::Attribute(n),
            Frame::StreamedString => Rec::StreamedString,
            Frame::Chunk(s) => Rec::Chunk(span(s)),
            Frame::End => Rec::End,
        }
    }

    /// The frame again, its slices taken from `input` (the same bytes, possibly moved).
    #[inline]
    fn frame(self, input: &[u8]) -> Frame<'_> {
        let at = |(start, len): Span| input.get(start..start + len).unwrap_or_default();
        match self {
            Rec::SimpleString(s) => Frame::SimpleString(at(s)),
            Rec::Error(s) => Frame::Error(at(s)),
            Rec::Integer(i) => Frame::Integer(i),
            Rec::BulkString(s) => Frame::BulkString(at(s)),
            Rec::Null => Frame::Null,
            Rec::Double(d) => Frame::Double(d),
            Rec::Boolean(b) => Frame::Boolean(b),
            Rec::BigNumber(s) => Frame::BigNumber(at(s)),
            Rec::BulkError(s) => Frame::BulkError(at(s)),
            Rec::Verbatim(format, s) => Frame::Verbatim {
                format,
                text: at(s),
            },
            Rec::Array(n) => Frame::Array(n),
            Rec::Map(n) => Frame::Map(n),
            Rec::Set(n) => Frame::Set(n),
            Rec::Push(n) => Frame::Push(n),
            Rec::Attribute(n) => Frame::Attribute(n),
            Rec::StreamedString => Frame::StreamedString,
            Rec::Chunk(s) => Frame::Chunk(at(s)),
            Rec::End => Frame::End,
        }
    }
}

#[cfg(test)]
mod flat_tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    /// Decodes `input` whole, and byte by byte, and checks both give `expected`.
    fn both_ways(input: &[u8], limits: Limits) -> (Result<Option<Value>, Error>, Option<Value>) {
        let mut whole = Decoder::with_limits(limits);
        let mut buf = BytesMut::from(input);
        let at_once = whole.decode(&mut buf);
        let mut piecewise = Decoder::with_limits(limits);
        let mut buf = BytesMut::new();
        let mut got = None;
        for &b in input {
            buf.extend_from_slice(&[b]);
            if let Ok(Some(v)) = piecewise.decode(&mut buf) {
                got = Some(v);
            }
        }
        (at_once, got)
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn flat_arrays_decode_as_the_general_path_does() {
        let cases: [(&[u8], Value); 4] = [
            (
                b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$0\r\n\r\n",
                Value::Array(vec![bulk("message"), bulk("ch"), bulk("")].into()),
            ),
            (
                b"*3\r\n$1\r\na\r\n$-1\r\n_\r\n",
                Value::Array(vec![bulk("a"), Value::Null, Value::Null].into()),
            ),
            (
                b">2\r\n$4\r\npong\r\n$1\r\nx\r\n",
                Value::Push(vec![bulk("pong"), bulk("x")].into()),
            ),
            (b"~1\r\n$2\r\nab\r\n", Value::Set(vec![bulk("ab")].into())),
        ];
        for (input, expected) in cases {
            let (at_once, piecewise) = both_ways(input, Limits::default());
            assert_eq!(at_once.unwrap(), Some(expected.clone()));
            assert_eq!(piecewise, Some(expected));
        }
    }

    /// Lengths of one and two digits take a shorter road than longer ones: every length, at
    /// the end of the input or not, reads the same.
    #[test]
    fn short_and_long_lengths_read_alike() {
        let payloads = [
            "",
            "a",
            "123456789",
            "0123456789",
            &"x".repeat(99),
            &"y".repeat(100),
        ];
        let mut input = format!("*{}\r\n", payloads.len()).into_bytes();
        for p in payloads {
            input.extend_from_slice(format!("${}\r\n{p}\r\n", p.len()).as_bytes());
        }
        let expected = Value::Array(payloads.iter().map(|p| bulk(p)).collect::<Vec<_>>().into());
        let (at_once, piecewise) = both_ways(&input, Limits::default());
        assert_eq!(at_once.unwrap(), Some(expected.clone()));
        assert_eq!(piecewise, Some(expected));
        // Malformed right after a short length: an error at once, as on the general path.
        for bad in [
            &b"*1\r\n$1\rx"[..],
            b"*1\r\n$12\rx",
            b"*1\r\n$1x\r\n",
            b"*1\r\n$1\r\nab\r\n",
        ] {
            let mut d = Decoder::new();
            assert!(d.decode(&mut BytesMut::from(bad)).is_err(), "{bad:?}");
        }
        // A payload followed by something other than CRLF is an error, not a misread.
        let mut d = Decoder::new();
        assert!(
            d.decode(&mut BytesMut::from(&b"*1\r\n$2\r\nabXY"[..]))
                .is_err()
        );
    }

    #[test]
    fn what_the_flat_path_does_not_take_goes_the_general_way() {
        // Nested, integer, and simple-string elements: decoded in full by the general path.
        let (v, _) = both_ways(b"*2\r\n*1\r\n:1\r\n+OK\r\n", Limits::default());
        assert_eq!(
            v.unwrap(),
            Some(Value::Array(
                vec![
                    Value::Array(vec![Value::Integer(1)].into()),
                    Value::SimpleString(Bytes::from_static(b"OK"))
                ]
                .into()
            ))
        );
        // Limits still apply, with the general path's errors.
        let small = Limits::default().max_bulk_len(2);
        let (v, _) = both_ways(b"*1\r\n$3\r\nabc\r\n", small);
        assert!(v.is_err());
        let few = Limits::default().max_aggregate_len(1);
        let (v, _) = both_ways(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", few);
        assert!(v.is_err());
        // A length that lies about its payload is an error, not a misread.
        let (v, _) = both_ways(b"*1\r\n$5\r\nab\r\n\r\n", Limits::default());
        assert!(v.is_err() || v.unwrap().is_none());
        // A malformed element is reported at once, as the general path does, not waited on
        // (found by the property tests: `~1\r\n_` then a byte that is not `\r`).
        let mut d = Decoder::new();
        assert!(d.decode(&mut BytesMut::from(&b"~1\r\n_\0"[..])).is_err());
        let mut d = Decoder::new();
        assert!(
            d.decode(&mut BytesMut::from(&b"*1\r\n$2\r\nab\n"[..]))
                .is_err()
        );
        // `+OK` obeys the line limit like any simple string.
        let mut d = Decoder::with_limits(Limits::default().max_bulk_len(1));
        assert!(d.decode(&mut BytesMut::from(&b"+OK\r\n"[..])).is_err());
        // Two replies back to back: the first only.
        let mut d = Decoder::new();
        let mut buf = BytesMut::from(&b"*1\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Some(Value::Array(vec![bulk("a")].into()))
        );
        assert_eq!(&buf[..], b"*1\r\n$1\r\nb\r\n");
    }
}
