//! Shared workloads and per-client loops for the `redis-bench` benchmarks.
//!
//! The criterion benchmarks (`benches/decode.rs`, `benches/encode.rs`) and the allocation
//! counter (`benches/alloc_count.rs`) call the same functions, so what is timed is exactly
//! what is counted. Every workload is RESP2, built once, outside any timing.
//!
//! The clients compared:
//!
//! * `resp-proto`, this workspace's decoder and encoder;
//! * `redis` (redis-rs) 1.8.1, the newest 1.x, with `default-features = false`: its public
//!   synchronous [`redis::Parser`] and its command packing ([`redis::Cmd`]);
//! * `redis-protocol` 6, RESP2 module: `decode_bytes_mut` (owned, `Bytes`-based frames) and
//!   `decode_range` (offsets only).
//!
//! Every decode loop decodes the whole input and passes every reply (or frame) through
//! [`black_box`], and asserts that exactly the expected number of replies was found.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};

/// One decode workload: RESP2 bytes holding `replies` top-level replies.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Workload {
    /// Short id, used in benchmark names.
    pub name: &'static str,
    /// What the input holds, for reports.
    pub description: &'static str,
    /// The RESP2 input.
    pub bytes: Vec<u8>,
    /// How many top-level replies `bytes` holds.
    pub replies: usize,
    /// How many items a rate is counted in: replies, or the elements of the one big reply.
    pub items: usize,
    /// What an item is, for reports.
    pub item: &'static str,
    /// Whether the criterion benchmark should use a small sample (large or slow inputs).
    pub big: bool,
}

/// Appends `$len\r\npayload\r\n`.
fn push_bulk(out: &mut Vec<u8>, payload: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends `*len\r\n`.
fn push_array_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// (a) `n` small replies cycling `+OK`, `:12345` and `$3 foo`, each its own reply.
pub fn mixed_small(n: usize) -> Workload {
    const CYCLE: [&[u8]; 3] = [b"+OK\r\n", b":12345\r\n", b"$3\r\nfoo\r\n"];
    let mut bytes = Vec::with_capacity(n * 8);
    for i in 0..n {
        bytes.extend_from_slice(CYCLE[i % 3]);
    }
    Workload {
        name: "a_mixed_small",
        description: "1,000,000 small replies cycling +OK, :12345, $3 foo",
        bytes,
        replies: n,
        items: n,
        item: "replies",
        big: true,
    }
}

/// (b) One array of `n` bulk strings of `size` bytes.
pub fn bulk_array(n: usize, size: usize) -> Workload {
    let mut bytes = Vec::with_capacity(16 + n * (size + 8));
    push_array_header(&mut bytes, n);
    let mut payload = vec![b'x'; size];
    for i in 0..n {
        // Vary the payload a little so no decoder can get lucky on repeated bytes.
        payload[i % size] = b'a' + (i % 26) as u8;
        push_bulk(&mut bytes, &payload);
    }
    Workload {
        name: "b_bulk_array",
        description: "one array of 100,000 bulk strings of 16 bytes",
        bytes,
        replies: 1,
        items: n,
        item: "strings",
        big: false,
    }
}

/// (c) `n` top-level bulk strings of `size` bytes.
pub fn big_bulks(n: usize, size: usize) -> Workload {
    let mut bytes = Vec::with_capacity(n * (size + 10));
    let mut payload = vec![b'v'; size];
    for i in 0..n {
        payload[i % size] = b'a' + (i % 26) as u8;
        push_bulk(&mut bytes, &payload);
    }
    Workload {
        name: "c_big_bulks",
        description: "10,000 bulk strings of 16 KiB, separate top-level replies",
        bytes,
        replies: n,
        items: n,
        item: "replies",
        big: true,
    }
}

/// (d) An XRANGE-like reply: one array of `n` entries, each
/// `*2 $15 <id> *4 $5 field $5 value $6 field2 $6 value2`.
pub fn xrange(n: usize) -> Workload {
    let mut bytes = Vec::with_capacity(16 + n * 80);
    push_array_header(&mut bytes, n);
    for i in 0..n {
        // 13 digits, `-`, 1 digit: 15 bytes, like a real stream id.
        let id = format!("{}-{}", 1_700_000_000_000u64 + (i / 10) as u64, i % 10);
        debug_assert_eq!(id.len(), 15);
        push_array_header(&mut bytes, 2);
        push_bulk(&mut bytes, id.as_bytes());
        push_array_header(&mut bytes, 4);
        push_bulk(&mut bytes, b"field");
        push_bulk(&mut bytes, b"value");
        push_bulk(&mut bytes, b"field2");
        push_bulk(&mut bytes, b"value2");
    }
    Workload {
        name: "d_xrange",
        description: "one array of 100,000 XRANGE entries (*2 id *4 field value field2 value2)",
        bytes,
        replies: 1,
        items: n,
        item: "entries",
        big: false,
    }
}

/// The four decode workloads at their benchmark sizes.
pub fn workloads() -> Vec<Workload> {
    vec![
        mixed_small(1_000_000),
        bulk_array(100_000, 16),
        big_bulks(10_000, 16 * 1024),
        xrange(100_000),
    ]
}

/// The per-iteration setup of the owned benchmarks: a fresh, exactly sized copy of `input`,
/// and a handle on the same allocation.
///
/// The handle keeps the allocation alive after the decoder has consumed the buffer and
/// dropped every value, so the copy is freed when the benchmark drops the handle, outside the
/// timing, as it was made outside the timing. (Freeing a 160 MiB buffer costs more than
/// decoding it with resp-proto; a real client reuses its read buffer instead.) Taking the
/// handle makes the `BytesMut` shared, which the first `split_to` of any decoder would do
/// anyway.
pub fn fresh_buffer(input: &[u8]) -> (BytesMut, Bytes) {
    let mut buf = BytesMut::from(input);
    let keep = buf.split_to(0).freeze();
    (buf, keep)
}

/// resp-proto, owned: [`resp_proto::Decoder::decode`] until `buf` is empty.
pub fn resp_proto_owned(mut buf: BytesMut, replies: usize) -> usize {
    let mut decoder = resp_proto::Decoder::new();
    let mut n = 0;
    while !buf.is_empty() {
        let value = decoder
            .decode(&mut buf)
            .expect("resp-proto: valid input")
            .expect("resp-proto: complete input");
        black_box(value);
        n += 1;
    }
    assert_eq!(n, replies, "resp-proto decoded the wrong number of replies");
    n
}

/// redis-protocol, owned: `resp2::decode::decode_bytes_mut` (which splits the reply off `buf`,
/// freezes it and builds `BytesFrame`s over it) until `buf` is empty.
pub fn redis_protocol_owned(mut buf: BytesMut, replies: usize) -> usize {
    let mut n = 0;
    while !buf.is_empty() {
        let decoded = redis_protocol::resp2::decode::decode_bytes_mut(&mut buf)
            .expect("redis-protocol: valid input")
            .expect("redis-protocol: complete input");
        black_box(decoded);
        n += 1;
    }
    assert_eq!(
        n, replies,
        "redis-protocol decoded the wrong number of replies"
    );
    n
}

/// redis-rs, owned: one [`redis::Parser`] reading the buffer through `std::io::Read`,
/// `parse_value` called once per reply.
///
/// `redis::parse_redis_value(&[u8])` parses only the first value and does not say how many bytes
/// it used, so it cannot walk a stream of replies; `Parser::parse_value` keeps the unparsed rest
/// in its own buffer (combine's decoder, filled from the reader in 8 KiB reads) and is what the
/// synchronous redis-rs connection calls on its socket. The parser does not expose whether its
/// buffer is empty, so this loop stops after the known reply count; the tests check that one
/// more call finds end of input.
pub fn redis_rs_owned(buf: BytesMut, replies: usize) -> usize {
    let mut parser = redis::Parser::new();
    let mut reader: &[u8] = &buf;
    for _ in 0..replies {
        let value = parser
            .parse_value(&mut reader)
            .expect("redis-rs: valid, complete input");
        black_box(value);
    }
    assert!(reader.is_empty(), "redis-rs did not read the whole input");
    replies
}

/// resp-proto, borrowed: [`resp_proto::Decoder::decode_frames`], every frame of every reply
/// iterated and passed through `black_box`, the input advanced by the reply's length.
pub fn resp_proto_borrowed(input: &[u8], replies: usize) -> usize {
    let mut decoder = resp_proto::Decoder::new();
    let mut rest = input;
    let mut n = 0;
    while !rest.is_empty() {
        let (frames, len) = decoder
            .decode_frames(rest)
            .expect("resp-proto: valid input")
            .expect("resp-proto: complete input");
        for frame in frames {
            black_box(frame);
        }
        rest = &rest[len..];
        n += 1;
    }
    assert_eq!(n, replies, "resp-proto decoded the wrong number of replies");
    n
}

/// redis-protocol, borrowed: `resp2::decode::decode_range` (a `RangeFrame` tree of offsets;
/// arrays are `Vec<RangeFrame>`), the input advanced by the consumed length. The tree is passed
/// to `black_box` whole, not walked.
pub fn redis_protocol_range(input: &[u8], replies: usize) -> usize {
    let mut rest = input;
    let mut n = 0;
    while !rest.is_empty() {
        let (frame, amt) = redis_protocol::resp2::decode::decode_range(rest)
            .expect("redis-protocol: valid input")
            .expect("redis-protocol: complete input");
        black_box(frame);
        rest = &rest[amt..];
        n += 1;
    }
    assert_eq!(
        n, replies,
        "redis-protocol decoded the wrong number of replies"
    );
    n
}

/// The arguments of `n` commands `SET key:N <16-byte value>`, keys stored back to back.
#[derive(Debug, Clone)]
pub struct SetCommands {
    keys: Vec<u8>,
    ends: Vec<usize>,
    value: [u8; 16],
}

impl SetCommands {
    /// The keys `key:0` to `key:{n-1}` and one 16-byte value.
    pub fn new(n: usize) -> Self {
        let mut keys = Vec::with_capacity(n * 12);
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            keys.extend_from_slice(format!("key:{i}").as_bytes());
            ends.push(keys.len());
        }
        SetCommands {
            keys,
            ends,
            value: *b"0123456789abcdef",
        }
    }

    /// How many commands.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let key = &self.keys[start..end];
            start = end;
            key
        })
    }

    /// The value every command sets.
    pub fn value(&self) -> &[u8] {
        &self.value
    }

    /// The size in bytes of all the commands encoded.
    pub fn encoded_len(&self) -> usize {
        let mut out = Vec::new();
        encode_resp_proto(self, &mut out);
        out.len()
    }
}

/// resp-proto: [`resp_proto::encode_command`] for every command into `out` (cleared first).
pub fn encode_resp_proto(cmds: &SetCommands, out: &mut Vec<u8>) {
    out.clear();
    let value = cmds.value();
    for key in cmds.keys() {
        resp_proto::encode_command(out, [&b"SET"[..], key, value]);
    }
    black_box(out.as_slice());
}

/// This client's typed command: `redis_commands::build::set(key, value)` (what
/// `client.set(key, value)` builds) then `Cmd::write_packed(out)` for every command.
pub fn encode_typed_set(cmds: &SetCommands, out: &mut Vec<u8>) {
    out.clear();
    let value = cmds.value();
    for key in cmds.keys() {
        redis_commands::build::set(key, value).write_packed(out);
    }
    black_box(out.as_slice());
}

/// redis-rs, idiomatic: `redis::cmd("SET").arg(key).arg(value)` then
/// `Cmd::write_packed_command(out)` for every command (a new `Cmd` each time).
pub fn encode_redis_rs(cmds: &SetCommands, out: &mut Vec<u8>) {
    out.clear();
    let value = cmds.value();
    for key in cmds.keys() {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .write_packed_command(out);
    }
    black_box(out.as_slice());
}

/// redis-rs, fastest public path: one `Cmd` reused through `Cmd::clear` (which keeps its
/// buffers), then `write_packed_command(out)`.
pub fn encode_redis_rs_reused(cmds: &SetCommands, cmd: &mut redis::Cmd, out: &mut Vec<u8>) {
    out.clear();
    let value = cmds.value();
    for key in cmds.keys() {
        cmd.clear();
        cmd.arg("SET").arg(key).arg(value).write_packed_command(out);
    }
    black_box(out.as_slice());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_workloads() -> Vec<Workload> {
        vec![
            mixed_small(3_001),
            bulk_array(1_000, 16),
            big_bulks(20, 16 * 1024),
            xrange(1_000),
        ]
    }

    #[test]
    fn shapes() {
        let x = xrange(2);
        let entry = b"*2\r\n$15\r\n1700000000000-1\r\n*4\r\n$5\r\nfield\r\n$5\r\nvalue\r\n\
                      $6\r\nfield2\r\n$6\r\nvalue2\r\n";
        assert!(
            x.bytes
                .starts_with(b"*2\r\n*2\r\n$15\r\n1700000000000-0\r\n")
        );
        assert!(x.bytes.ends_with(entry));
        assert_eq!(
            &mixed_small(4).bytes[..],
            b"+OK\r\n:12345\r\n$3\r\nfoo\r\n+OK\r\n"
        );
        let b = bulk_array(3, 16);
        assert_eq!(b.bytes.len(), 4 + 3 * 23);
        let c = big_bulks(2, 16 * 1024);
        assert_eq!(c.bytes.len(), 2 * (8 + 16 * 1024 + 2));
    }

    #[test]
    fn every_decoder_walks_every_workload() {
        for w in small_workloads() {
            assert_eq!(
                resp_proto_owned(fresh_buffer(&w.bytes).0, w.replies),
                w.replies
            );
            assert_eq!(
                redis_protocol_owned(fresh_buffer(&w.bytes).0, w.replies),
                w.replies
            );
            assert_eq!(
                redis_rs_owned(fresh_buffer(&w.bytes).0, w.replies),
                w.replies
            );
            assert_eq!(resp_proto_borrowed(&w.bytes, w.replies), w.replies);
            assert_eq!(redis_protocol_range(&w.bytes, w.replies), w.replies);
        }
    }

    #[test]
    fn redis_rs_parser_ends_exactly_at_the_end() {
        for w in small_workloads() {
            let mut parser = redis::Parser::new();
            let mut reader: &[u8] = &w.bytes;
            for _ in 0..w.replies {
                parser.parse_value(&mut reader).expect("a reply");
            }
            assert!(
                parser.parse_value(&mut reader).is_err(),
                "{}: more input",
                w.name
            );
        }
    }

    #[test]
    fn decoders_agree_on_xrange() {
        let w = xrange(10);
        let value = resp_proto::Decoder::new()
            .decode(&mut fresh_buffer(&w.bytes).0)
            .unwrap()
            .unwrap();
        let resp_proto::Value::Array(entries) = value else {
            panic!("not an array")
        };
        assert_eq!(entries.len(), 10);
        let redis::Value::Array(rs) = redis::parse_redis_value(&w.bytes).unwrap() else {
            panic!("not an array")
        };
        assert_eq!(rs.len(), 10);
    }

    #[test]
    fn encoders_agree() {
        let cmds = SetCommands::new(1_000);
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut reused = Vec::new();
        encode_resp_proto(&cmds, &mut ours);
        encode_redis_rs(&cmds, &mut theirs);
        encode_redis_rs_reused(&cmds, &mut redis::Cmd::new(), &mut reused);
        assert_eq!(ours, theirs);
        assert_eq!(ours, reused);
        assert!(ours.starts_with(b"*3\r\n$3\r\nSET\r\n$5\r\nkey:0\r\n$16\r\n0123456789abcdef\r\n"));
        assert_eq!(ours.len(), cmds.encoded_len());
    }
}
