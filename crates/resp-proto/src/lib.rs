//! Sans-IO, zero-copy RESP2 and RESP3 for Redis clients, proxies and tools.
//!
//! `resp-proto` turns bytes into Redis replies and values into bytes, and nothing else: it
//! performs no I/O, never reads a clock, and is `no_std` (it needs `alloc`). The
//! `redis-client` crate drives it over sockets; tool authors (proxies, test servers, traffic
//! analysers) can use it alone.
//!
//! # Decoding
//!
//! A [`Decoder`] reads one reply at a time from the front of a buffer and is incremental:
//! `Ok(None)` means "not complete yet", never an error, and feeding a reply in small pieces
//! costs time linear in its size. It offers two outputs:
//!
//! * [`Decoder::decode`] takes a [`bytes::BytesMut`] read buffer and returns an owned
//!   [`Value`] whose string payloads are [`bytes::Bytes`] views of that buffer: no payload
//!   byte is copied.
//! * [`Decoder::decode_frames`] takes a `&[u8]` and returns the reply as borrowed [`Frame`]s
//!   in wire order, allocating nothing.
//!
//! ```
//! use bytes::BytesMut;
//! use resp_proto::{Decoder, Value};
//!
//! let mut decoder = Decoder::new();
//! let mut buf = BytesMut::from(&b"$5\r\nhello\r\n:7\r\n"[..]);
//! assert_eq!(decoder.decode(&mut buf)?, Some(Value::BulkString("hello".into())));
//! assert_eq!(decoder.decode(&mut buf)?, Some(Value::Integer(7)));
//! assert_eq!(decoder.decode(&mut buf)?, None);
//! # Ok::<(), resp_proto::Error>(())
//! ```
//!
//! Every RESP2 and RESP3 type is supported: simple strings and errors, integers, bulk strings,
//! nulls (`$-1`, `*-1`, `_`), arrays, maps, sets, doubles (with `inf`, `-inf`, `nan`),
//! booleans, big numbers, bulk errors, verbatim strings, pushes, attributes, and the streamed
//! strings and aggregates of RESP3 (`$?`, `*?`, `%?`, `~?` with `;` chunks and `.` ends).
//!
//! # Input safety
//!
//! The decoder is meant to face servers that are broken or hostile. [`Limits`] bound the
//! nesting depth (default 1024), the length of a bulk string (default 512 MiB) and of an
//! aggregate (default 2^28 - 1). A violation is an [`Error`] carrying the byte offset, raised as
//! soon as the offending header is read. Nothing is allocated from a declared length before the
//! bytes it announces have arrived. Decoding, encoding and dropping values never recurse, so
//! deep nesting cannot overflow the stack. The crate forbids `unsafe` code.
//!
//! # Encoding
//!
//! [`encode_command`] writes a command (an array of bulk strings) into any
//! [`bytes::BufMut`]; [`Value::encode`] writes any value in RESP2 or RESP3. Encoding cannot
//! fail and allocates nothing beyond the caller's buffer.
//!
//! ```
//! use resp_proto::{Protocol, Value};
//!
//! let mut buf = Vec::new();
//! resp_proto::encode_command(&mut buf, ["GET", "key"]);
//! assert_eq!(buf, b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
//!
//! let mut out = Vec::new();
//! Value::Double(f64::INFINITY).encode(&mut out, Protocol::Resp3);
//! assert_eq!(out, b",inf\r\n");
//! ```
//!
//! # Crate features
//!
//! None. The crate depends on `bytes` and `memchr`, both without their `std` features.

#![deny(missing_docs)]
#![no_std]
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

extern crate alloc;

mod decode;
mod encode;
mod error;
mod frame;
mod limits;
mod value;

pub use decode::Decoder;
pub use encode::{
    Protocol, encode_command, write_array_header, write_bulk, write_bulk_header, write_bulk_integer,
};
pub use error::{Error, ErrorKind};
pub use frame::{Frame, Frames};
pub use limits::Limits;
pub use value::{List, Pairs, Value};
