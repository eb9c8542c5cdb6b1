//! Deep nesting: the depth limit acts at the right header and quickly, values nested 100,000
//! deep decode, encode and drop on a thread with a 256 KiB stack, and errors are sticky.

mod common;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::check::{self, Mode};
use resp_proto::{Decoder, ErrorKind, Limits, Protocol, Value};

const DEEP: usize = 100_000;
const SMALL_STACK: usize = 256 * 1024;

/// Runs `f` on a thread with a 256 KiB stack and returns its result.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .name("small-stack".into())
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the small-stack thread panicked (or overflowed its stack)")
}

/// A nested reply and the offset of each of its aggregate headers, outermost first.
struct Nested {
    input: Vec<u8>,
    headers: Vec<usize>,
}

impl Nested {
    fn new() -> Self {
        Nested {
            input: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Appends a header (which opens a level).
    fn header(&mut self, bytes: &[u8]) {
        self.headers.push(self.input.len());
        self.input.extend_from_slice(bytes);
    }

    /// Appends anything else.
    fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }
}

/// `*1\r\n` `depth` times, then `:1\r\n`.
fn nested_arrays(depth: usize) -> Nested {
    let mut nested = Nested::new();
    for _ in 0..depth {
        nested.header(b"*1\r\n");
    }
    nested.push(b":1\r\n");
    nested
}

/// Maps `depth` deep, nested alternately through their values and their keys.
fn nested_maps(depth: usize) -> Nested {
    let mut nested = Nested::new();
    for level in 0..depth {
        nested.header(b"%1\r\n");
        if level % 2 == 0 {
            // This map's key comes first; the next map is its value.
            nested.push(b"+k\r\n");
        }
    }
    nested.push(b":1\r\n");
    for level in (0..depth).rev() {
        if level % 2 == 1 {
            // The next map was this one's key; here is its value.
            nested.push(b":2\r\n");
        }
    }
    nested
}

/// Attribute blocks `depth` levels deep, alternately describing an array that holds the next
/// level, and being the key of the next block's single entry.
fn nested_attributes(depth: usize) -> Nested {
    let mut nested = Nested::new();
    let mut keys = 0;
    while nested.headers.len() < depth {
        nested.header(b"|1\r\n");
        if nested.headers.len() % 3 == 1 && nested.headers.len() < depth {
            nested.push(b"+k\r\n+v\r\n");
            nested.header(b"*1\r\n");
        } else {
            keys += 1;
        }
    }
    nested.push(b":1\r\n");
    for _ in 0..keys {
        // The value of the entry whose key was the inner block, then the described value.
        nested.push(b"+v\r\n:2\r\n");
    }
    nested
}

/// `depth` consecutive attribute blocks before one value: they merge into one block, but each
/// opens a level on the wire.
fn consecutive_attributes(depth: usize) -> Nested {
    let mut nested = Nested::new();
    for _ in 0..depth {
        nested.header(b"|1\r\n");
        nested.push(b"+k\r\n:1\r\n");
    }
    nested.push(b"_\r\n");
    nested
}

/// How deep a value nests, walked iteratively: aggregates and attribute blocks count a level.
fn depth_of(value: &Value) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(value, 0)];
    while let Some((v, depth)) = pending.pop() {
        deepest = deepest.max(depth);
        match v {
            Value::Array(l) | Value::Set(l) | Value::Push(l) => {
                pending.extend(l.iter().map(|x| (x, depth + 1)));
            }
            Value::Map(p) => {
                pending.extend(p.iter().flat_map(|(k, x)| [(k, depth + 1), (x, depth + 1)]));
            }
            Value::Attribute { attributes, value } => {
                let entries = attributes.iter().flat_map(|(k, x)| [k, x]);
                pending.extend(entries.map(|x| (x, depth + 1)));
                pending.push((value, depth + 1));
            }
            _ => {}
        }
    }
    deepest
}

/// Checks that `input` fails with `TooDeep` at `offset` under `limits`, through both entry
/// points, whole and fed in 4 KiB pieces, quickly and without reading past the offending header.
fn assert_too_deep(input: &[u8], limits: Limits, offset: usize) {
    let started = Instant::now();
    let mut decoder = Decoder::with_limits(limits);
    let mut buf = BytesMut::from(input);
    let err = decoder.decode(&mut buf).expect_err("too deep");
    assert_eq!((err.kind(), err.offset()), (ErrorKind::TooDeep, offset));
    assert_eq!(buf.len(), input.len(), "an error consumes nothing");
    // The decoder stopped at the offending header: it did not look at the rest.
    assert!(decoder.bytes_examined() <= 2 * offset as u64 + 64);
    let err = Decoder::with_limits(limits)
        .decode_frames(input)
        .expect_err("too deep");
    assert_eq!((err.kind(), err.offset()), (ErrorKind::TooDeep, offset));
    let pieces = check::decode_owned(
        input,
        limits,
        &(4096..input.len()).step_by(4096).collect::<Vec<_>>(),
    );
    assert_eq!(
        pieces.end.map_err(|e| (e.kind(), e.offset())),
        Err((ErrorKind::TooDeep, offset))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "slow: {:?}",
        started.elapsed()
    );
}

#[test]
fn default_limit_stops_at_the_1025th_header() {
    let deep = nested_arrays(DEEP);
    assert_eq!(deep.headers[1024], 4 * 1024);
    assert_too_deep(&deep.input, Limits::default(), 4 * 1024);
    // The limit itself is fine, one more is not.
    let value = check::decode_exactly(&nested_arrays(1024).input, Limits::default());
    assert_eq!(depth_of(&value), 1024);
    assert_too_deep(&nested_arrays(1025).input, Limits::default(), 4 * 1024);
    let below = check::decode_exactly(&nested_arrays(1023).input, Limits::default());
    assert_eq!(depth_of(&below), 1023);
}

#[test]
fn default_limit_applies_to_maps_and_attributes() {
    for nested in [
        nested_maps(DEEP),
        nested_attributes(DEEP),
        consecutive_attributes(DEEP),
    ] {
        assert_too_deep(&nested.input, Limits::default(), nested.headers[1024]);
    }
    for nested in [nested_maps(1024), nested_attributes(1024)] {
        let value = check::decode_exactly(&nested.input, Limits::default());
        assert_eq!(depth_of(&value), 1024);
    }
}

/// Decodes `input` (100,000 levels) on a small stack with a raised limit, through both entry
/// points; re-encodes it in RESP3 (the same bytes) and RESP2, compares, and drops it all there.
fn deep_round_trip(nested: Nested) {
    assert_eq!(nested.headers.len(), DEEP);
    let input = nested.input;
    on_small_stack(move || {
        let limits = Limits::default().max_depth(DEEP + 1);
        let mut decoder = Decoder::with_limits(limits);
        let mut buf = BytesMut::from(&input[..]);
        let value = decoder.decode(&mut buf).expect("valid").expect("complete");
        assert!(buf.is_empty());
        assert_eq!(depth_of(&value), DEEP);
        let (frames, len) = decoder
            .decode_frames(&input)
            .expect("valid")
            .expect("complete");
        assert_eq!(len, input.len());
        let rebuilt = check::value_from_frames(frames);
        assert!(check::compare(&value, &rebuilt, Mode::Exact).is_ok());
        drop(rebuilt);
        let resp3 = check::encode(&value, Protocol::Resp3);
        let again = check::decode_exactly(&resp3, limits);
        assert!(check::compare(&value, &again, Mode::Exact).is_ok());
        drop(again);
        let resp2 = check::encode(&value, Protocol::Resp2);
        let downgraded = check::decode_exactly(&resp2, limits);
        assert!(check::compare(&value, &downgraded, Mode::Resp2).is_ok());
        drop((value, downgraded));
        resp3
    });
}

#[test]
fn deep_arrays_decode_encode_and_drop_on_a_small_stack() {
    let started = Instant::now();
    deep_round_trip(nested_arrays(DEEP));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn deep_maps_decode_encode_and_drop_on_a_small_stack() {
    deep_round_trip(nested_maps(DEEP));
}

#[test]
fn deep_attributes_decode_encode_and_drop_on_a_small_stack() {
    deep_round_trip(nested_attributes(DEEP));
}

#[test]
fn consecutive_attributes_merge_in_linear_time() {
    let started = Instant::now();
    on_small_stack(|| {
        let input = consecutive_attributes(DEEP).input;
        let limits = Limits::default().max_depth(DEEP);
        let value = check::decode_exactly(&input, limits);
        let Value::Attribute { attributes, value } = &value else {
            panic!("not an attribute");
        };
        assert_eq!(attributes.len(), DEEP);
        assert!(value.is_null());
    });
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn hand_built_deep_values_encode_and_drop_on_a_small_stack() {
    on_small_stack(|| {
        let mut value = Value::Integer(1);
        for level in 0..DEEP {
            value = match level % 3 {
                0 => Value::Array(vec![value].into()),
                1 => Value::Map(vec![(Value::Null, value)].into()),
                _ => Value::Set(vec![value, Value::Null].into()),
            };
        }
        let mut out = Vec::new();
        value.encode(&mut out, Protocol::Resp3);
        value.encode(&mut Vec::new(), Protocol::Resp2);
        let limits = Limits::default().max_depth(DEEP);
        let back = check::decode_exactly(&out, limits);
        assert!(check::compare(&value, &back, Mode::Exact).is_ok());
    });
}

#[test]
fn failing_deep_input_is_dropped_on_a_small_stack() {
    on_small_stack(|| {
        // Fails at the last header, with 100,000 levels open.
        let limits = Limits::default().max_depth(DEEP);
        let input = nested_arrays(DEEP + 1).input;
        let mut decoder = Decoder::with_limits(limits);
        let err = decoder
            .decode(&mut BytesMut::from(&input[..]))
            .expect_err("too deep");
        assert_eq!((err.kind(), err.offset()), (ErrorKind::TooDeep, 4 * DEEP));
        drop(decoder);
    });
}

#[test]
fn errors_are_sticky_until_reset() {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(&b"*2\r\n:1\r\n"[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    buf.extend_from_slice(b"@oops\r\n+OK\r\n");
    let err = decoder.decode(&mut buf).expect_err("unknown type");
    assert_eq!(
        (err.kind(), err.offset()),
        (ErrorKind::UnknownType(b'@'), 8)
    );
    // The same error, whatever comes next and through either entry point.
    for _ in 0..3 {
        assert_eq!(decoder.decode(&mut buf), Err(err));
        assert_eq!(
            decoder.decode(&mut BytesMut::from(&b"+OK\r\n"[..])),
            Err(err)
        );
        assert_eq!(decoder.decode_frames(b":1\r\n").err(), Some(err));
    }
    decoder.reset();
    let mut fresh = BytesMut::from(&b"+OK\r\n"[..]);
    assert_eq!(
        decoder.decode(&mut fresh),
        Ok(Some(Value::SimpleString("OK".into())))
    );
    // And through decode_frames, including an error in a partly validated reply.
    let mut decoder = Decoder::new();
    assert!(matches!(decoder.decode_frames(b"*3\r\n:1\r\n"), Ok(None)));
    let err = decoder
        .decode_frames(b"*3\r\n:1\r\n.\r\n")
        .expect_err("error");
    assert_eq!(
        (err.kind(), err.offset()),
        (ErrorKind::UnexpectedStreamMarker, 8)
    );
    assert_eq!(decoder.decode_frames(b"+OK\r\n").err(), Some(err));
    decoder.reset();
    assert!(matches!(
        decoder.decode_frames(b"+OK\r\n"),
        Ok(Some((_, 5)))
    ));
}
