//! Incremental decoding costs work linear in the input: a 64 MiB reply fed 4 KiB at a time is
//! looked at about once, not re-parsed from its start at every feed. The measure is
//! [`Decoder::bytes_examined`], a diagnostic counter of the bytes the tokenizer looks at; in
//! general it is at most the input length plus a few dozen bytes per call (a token cut by the
//! end of a feed is read again on the next call).

use bytes::BytesMut;
use resp_proto::{Decoder, Frame, Value};

const MIB: usize = 1024 * 1024;
const CHUNK: usize = 4096;

/// The bound the tests assert: twice the input plus a small constant.
fn linear_bound(len: usize) -> u64 {
    2 * len as u64 + 4096
}

/// Feeds `input` to [`Decoder::decode`] `chunk` bytes at a time; returns the reply and the
/// bytes examined. Every call before the last piece must return `Ok(None)`.
fn decode_in_chunks(input: &[u8], chunk: usize) -> (Value, u64) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(input.len());
    let pieces = input.len().div_ceil(chunk);
    for (i, piece) in input.chunks(chunk).enumerate() {
        buf.extend_from_slice(piece);
        match decoder.decode(&mut buf) {
            Ok(Some(value)) => {
                assert_eq!(i + 1, pieces, "a reply before its last byte");
                assert!(buf.is_empty());
                return (value, decoder.bytes_examined());
            }
            Ok(None) => {}
            Err(err) => panic!("{err}"),
        }
    }
    panic!("the reply never completed");
}

/// The same with [`Decoder::decode_frames`]; returns the number of frames and bytes examined.
fn frames_in_chunks(input: &[u8], chunk: usize) -> (usize, u64) {
    let mut decoder = Decoder::new();
    let pieces = input.len().div_ceil(chunk);
    for i in 1..=pieces {
        let end = (i * chunk).min(input.len());
        match decoder.decode_frames(&input[..end]) {
            Ok(Some((frames, len))) => {
                assert_eq!(
                    (i, len),
                    (pieces, input.len()),
                    "a reply before its last byte"
                );
                return (frames.count(), decoder.bytes_examined());
            }
            Ok(None) => {}
            Err(err) => panic!("{err}"),
        }
    }
    panic!("the reply never completed");
}

/// An array of `count` bulk strings of `size` bytes each.
fn bulk_array(count: usize, size: usize) -> Vec<u8> {
    let mut element = format!("${size}\r\n").into_bytes();
    element.extend(std::iter::repeat_n(b'x', size));
    element.extend_from_slice(b"\r\n");
    let mut input = format!("*{count}\r\n").into_bytes();
    input.reserve(count * element.len());
    for _ in 0..count {
        input.extend_from_slice(&element);
    }
    input
}

#[test]
fn array_of_64_mib_fed_4_kib_at_a_time_is_linear() {
    // 4 Mi bulk strings of 2 bytes (8 bytes each on the wire): 32 MiB ...
    // ... is what debug mode affords for 4 Mi values; the 64 MiB reply uses 1 KiB strings, and
    // `many_small_elements_fed_4_kib_at_a_time_are_linear` checks 8 MiB of tiny ones.
    let input = bulk_array(64 * 1024 - 8, 1017);
    assert!(input.len() >= 64 * MIB - 16 * 1024, "{}", input.len());
    let (value, examined) = decode_in_chunks(&input, CHUNK);
    let Value::Array(items) = &value else {
        panic!("not an array");
    };
    assert_eq!(items.len(), 64 * 1024 - 8);
    assert_eq!(
        items.last().and_then(Value::as_bytes).map(|b| b.len()),
        Some(1017)
    );
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
    let (frames, examined) = frames_in_chunks(&input, CHUNK);
    assert_eq!(frames, 64 * 1024 - 8 + 1);
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
}

#[test]
fn many_small_elements_fed_4_kib_at_a_time_are_linear() {
    // 8 MiB of 8-byte bulk strings (14 bytes each on the wire): 600 thousand tokens.
    let count = 8 * MIB / 14;
    let input = bulk_array(count, 8);
    assert!(input.len() >= 8 * MIB - 16);
    let (value, examined) = decode_in_chunks(&input, CHUNK);
    assert!(matches!(&value, Value::Array(items) if items.len() == count));
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
    let (frames, examined) = frames_in_chunks(&input, CHUNK);
    assert_eq!(frames, count + 1);
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
}

#[test]
fn simple_string_of_64_mib_fed_4_kib_at_a_time_is_linear() {
    let mut input = vec![b'a'; 64 * MIB];
    input[0] = b'+';
    input.extend_from_slice(b"\r\n");
    let (value, examined) = decode_in_chunks(&input, CHUNK);
    assert!(matches!(&value, Value::SimpleString(s) if s.len() == 64 * MIB - 1));
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
    let (frames, examined) = frames_in_chunks(&input, CHUNK);
    assert_eq!(frames, 1);
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
}

#[test]
fn lines_inside_aggregates_resume_too() {
    // The structural path (not the single-scalar fast path) resumes long lines as well.
    let mut input = b"*3\r\n-".to_vec();
    input.extend(std::iter::repeat_n(b'e', 16 * MIB));
    input.extend_from_slice(b"\r\n(");
    input.extend(std::iter::repeat_n(b'7', 4 * MIB));
    input.extend_from_slice(b"\r\n+");
    input.extend(std::iter::repeat_n(b's', 4 * MIB));
    input.extend_from_slice(b"\r\n");
    let (value, examined) = decode_in_chunks(&input, CHUNK);
    assert!(matches!(&value, Value::Array(items) if items.len() == 3));
    // Big numbers are checked for digits once complete: one more pass over their digits.
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
    let (frames, examined) = frames_in_chunks(&input, CHUNK);
    assert_eq!(frames, 4);
    assert!(
        examined <= linear_bound(input.len()),
        "{examined} for {}",
        input.len()
    );
}

#[test]
fn byte_by_byte_feeding_stays_linear() {
    // The worst feeding pattern: one byte per call. Lines resume where the search stopped;
    // other tokens are read again from their start, at most a header's worth per call.
    let mut line = vec![b'x'; 64 * 1024];
    line[0] = b'+';
    line.extend_from_slice(b"\r\n");
    let (_, examined) = decode_in_chunks(&line, 1);
    assert!(
        examined <= linear_bound(line.len()),
        "{examined} for {}",
        line.len()
    );
    let array = bulk_array(4096, 3);
    let (_, examined) = decode_in_chunks(&array, 1);
    // Each call rereads the current token's header (up to 6 bytes here) and nothing else.
    assert!(
        examined <= 8 * array.len() as u64,
        "{examined} for {}",
        array.len()
    );
}

#[test]
fn bytes_examined_counts_what_the_tokenizer_reads() {
    let cases: [(&[u8], u64); 6] = [
        (b"+OK\r\n", 5),
        (b":-42\r\n", 6),
        // A bulk payload is sliced, not read: marker, "5", CRLF, CRLF.
        (b"$5\r\nhello\r\n", 6),
        (b"#t\r\n", 4),
        // The array header read by the scalar fast path is handed to validation, not re-read.
        (b"*1\r\n_\r\n", 7),
        // A double is searched for its end and then parsed.
        (b",1.5\r\n", 9),
    ];
    for (input, expected) in cases {
        let mut decoder = Decoder::new();
        let mut buf = BytesMut::from(input);
        assert!(decoder.decode(&mut buf).expect("valid").is_some());
        assert_eq!(decoder.bytes_examined(), expected, "{input:?}");
        decoder.reset();
        assert_eq!(decoder.bytes_examined(), 0);
    }
    let mut decoder = Decoder::new();
    let frames = decoder.decode_frames(b"*1\r\n_\r\n").expect("valid");
    assert!(frames.is_some_and(|(f, _)| f.eq([Frame::Array(Some(1)), Frame::Null])));
    assert_eq!(decoder.bytes_examined(), 7);
}
