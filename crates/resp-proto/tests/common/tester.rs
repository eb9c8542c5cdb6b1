//! The vector tester: one function that runs a vector through every decode entry point.
//!
//! [`run_vector`] feeds the input to [`Decoder::decode`](resp_proto::Decoder::decode) on a
//! `BytesMut` and to [`Decoder::decode_frames`](resp_proto::Decoder::decode_frames) (whose
//! frames are rebuilt into a value independently), each in one piece, byte by byte, and split
//! in two at every point; then again with a second reply, `+NEXT\r\n`, appended, which must
//! decode after the first (or not at all, after an error). Successful values also go through
//! the RESP3 and RESP2 round trip.

use bytes::{Bytes, BytesMut};
use resp_proto::{Decoder, Value};

use super::check::{self, Mode, Outcome};
use super::vectors::{Expected, Vector};

/// The reply appended to check that a vector's length is exactly what the decoder consumes.
pub(crate) const NEXT: &[u8] = b"+NEXT\r\n";

/// Inputs longer than this skip the every-split-point pass, whose cost is quadratic; they still
/// go through the byte-by-byte pass.
pub(crate) const SPLIT_ALL_MAX: usize = 600;

/// Runs `vector` through every entry point and feeding pattern; panics on the first mismatch.
pub(crate) fn run_vector(vector: &Vector) {
    let input = &vector.input[..];
    let limits = vector.limits;
    assert_eq!(*Decoder::with_limits(limits).limits(), limits);
    let mut feeds: Vec<(String, Vec<usize>)> = vec![
        ("whole".into(), Vec::new()),
        ("byte by byte".into(), check::bytewise_cuts(input.len())),
    ];
    if input.len() <= SPLIT_ALL_MAX {
        feeds.extend((1..input.len()).map(|at| (format!("split at {at}"), vec![at])));
    }
    for (how, cuts) in &feeds {
        let owned = check::decode_owned(input, limits, cuts);
        expect(
            &owned,
            &vector.expected,
            input.len(),
            false,
            &format!("decode, {how}"),
        );
        let borrowed = check::decode_borrowed(input, limits, cuts);
        expect(
            &borrowed,
            &vector.expected,
            input.len(),
            false,
            &format!("frames, {how}"),
        );
    }
    match &vector.expected {
        Expected::More => {}
        Expected::Value(value) => {
            with_next(vector);
            check::roundtrip_value(value, limits);
        }
        Expected::Error(..) => {
            with_next(vector);
            // A reset decoder starts over on a new stream.
            let mut decoder = Decoder::with_limits(limits);
            let mut buf = BytesMut::from(input);
            assert!(decoder.decode(&mut buf).is_err());
            decoder.reset();
            let mut fresh = BytesMut::from(NEXT);
            let next = decoder
                .decode(&mut fresh)
                .expect("a reset decoder decodes again");
            assert_eq!(next, Some(next_value()));
        }
    }
}

/// The value of [`NEXT`].
fn next_value() -> Value {
    Value::SimpleString(Bytes::from_static(b"NEXT"))
}

/// The vector followed by [`NEXT`], whole, byte by byte and split at every point, through both
/// entry points.
fn with_next(vector: &Vector) {
    let mut input = vector.input.clone();
    input.extend_from_slice(NEXT);
    let mut feeds: Vec<(String, Vec<usize>)> = vec![
        ("whole".into(), Vec::new()),
        ("byte by byte".into(), check::bytewise_cuts(input.len())),
    ];
    if input.len() <= SPLIT_ALL_MAX {
        feeds.extend((1..input.len()).map(|at| (format!("split at {at}"), vec![at])));
    }
    for (how, cuts) in feeds {
        let what = format!("with +NEXT, {how}");
        let owned = check::decode_owned(&input, vector.limits, &cuts);
        expect(
            &owned,
            &vector.expected,
            vector.input.len(),
            true,
            &format!("decode {what}"),
        );
        let borrowed = check::decode_borrowed(&input, vector.limits, &cuts);
        expect(
            &borrowed,
            &vector.expected,
            vector.input.len(),
            true,
            &format!("frames {what}"),
        );
    }
}

/// Panics unless `got` is what `expected` says for an input of `len` bytes, followed by the
/// [`NEXT`] reply when `next`.
fn expect(got: &Outcome, expected: &Expected, len: usize, next: bool, what: &str) {
    match expected {
        Expected::Value(value) => {
            let wanted = 1 + usize::from(next);
            assert_eq!(got.end, Ok(()), "{what}: unexpected error");
            assert_eq!(
                got.replies.len(),
                wanted,
                "{what}: replies {:?}",
                got.replies
            );
            let (first, first_len) = &got.replies[0];
            assert_eq!(*first_len, len, "{what}: consumed length");
            if let Err(msg) = check::compare(value, first, Mode::Exact) {
                panic!("{what}: {msg}");
            }
            if next {
                assert_eq!(got.replies[1], (next_value(), NEXT.len()), "{what}: +NEXT");
            }
        }
        Expected::Error(kind, offset) => {
            assert!(got.replies.is_empty(), "{what}: replies {:?}", got.replies);
            let err = got.end.expect_err(what);
            assert_eq!(
                (err.kind(), err.offset()),
                (*kind, *offset),
                "{what}: {err}"
            );
        }
        Expected::More => {
            assert!(got.replies.is_empty(), "{what}: replies {:?}", got.replies);
            assert_eq!(got.end, Ok(()), "{what}: an error instead of more");
        }
    }
}
