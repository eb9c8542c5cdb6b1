//! Deterministic tests over an in-memory transport: scripted server bytes in, written bytes
//! checked.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_conn::{Connection, ConnectionConfig, Error, Phase, ServerErrorKind, Transport};
use resp_proto::{Protocol, Value};

/// What the scripted server does on each read call.
#[derive(Debug)]
enum Chunk {
    Bytes(Vec<u8>),
    Timeout,
}

#[derive(Debug, Default)]
struct Shared {
    written: Vec<u8>,
    script: VecDeque<Chunk>,
    /// The room offered to each read call, in order.
    offered: Vec<usize>,
}

#[derive(Debug, Clone, Default)]
struct Scripted(Arc<Mutex<Shared>>);

impl Scripted {
    fn new(chunks: &[&[u8]]) -> Self {
        let s = Scripted::default();
        for c in chunks {
            s.push(c);
        }
        s
    }

    fn push(&self, bytes: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .script
            .push_back(Chunk::Bytes(bytes.to_vec()));
    }

    fn push_timeout(&self) {
        self.0.lock().unwrap().script.push_back(Chunk::Timeout);
    }

    fn take_offered(&self) -> Vec<usize> {
        std::mem::take(&mut self.0.lock().unwrap().offered)
    }

    fn take_written(&self) -> Vec<u8> {
        std::mem::take(&mut self.0.lock().unwrap().written)
    }
}

impl Read for Scripted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut shared = self.0.lock().unwrap();
        shared.offered.push(buf.len());
        match shared.script.pop_front() {
            None => Ok(0),
            Some(Chunk::Timeout) => Err(io::Error::new(io::ErrorKind::WouldBlock, "timeout")),
            Some(Chunk::Bytes(mut bytes)) => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if n < bytes.len() {
                    shared.script.push_front(Chunk::Bytes(bytes.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().written.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Scripted {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

fn command(args: &[&str]) -> Vec<u8> {
    let mut buf = Vec::new();
    resp_proto::encode_command(&mut buf, args);
    buf
}

#[test]
fn no_handshake_when_nothing_is_configured() {
    let server = Scripted::new(&[]);
    let _conn = Connection::with_transport(server.clone(), &ConnectionConfig::default()).unwrap();
    assert!(server.take_written().is_empty());
}

#[test]
fn resp2_handshake_is_one_write_in_order() {
    let server = Scripted::new(&[b"+OK\r\n+OK\r\n", b"+OK\r\n"]);
    let config = ConnectionConfig::builder()
        .username("alice")
        .password("pw")
        .client_name("app")
        .db(3)
        .build();
    let _conn = Connection::with_transport(server.clone(), &config).unwrap();
    let mut expected = command(&["AUTH", "alice", "pw"]);
    expected.extend(command(&["CLIENT", "SETNAME", "app"]));
    expected.extend(command(&["SELECT", "3"]));
    assert_eq!(server.take_written(), expected);
}

#[test]
fn resp3_handshake_uses_hello() {
    let server = Scripted::new(&[b"%1\r\n+proto\r\n:3\r\n+OK\r\n"]);
    let config = ConnectionConfig::builder()
        .password("pw")
        .client_name("app")
        .db(1)
        .protocol(Protocol::Resp3)
        .build();
    let _conn = Connection::with_transport(server.clone(), &config).unwrap();
    let mut expected = command(&["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "app"]);
    expected.extend(command(&["SELECT", "1"]));
    assert_eq!(server.take_written(), expected);
}

#[test]
fn wrong_password_is_an_auth_error() {
    let server = Scripted::new(&[
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n",
    ]);
    let config = ConnectionConfig::builder()
        .password("pw")
        .client_name("x")
        .build();
    let err = Connection::with_transport(server, &config).unwrap_err();
    assert!(
        matches!(err, Error::Auth(ref e) if e.kind() == ServerErrorKind::WrongPass),
        "{err}"
    );
}

#[test]
fn a_server_without_hello_cannot_echo_the_password() {
    let echoed = "-ERR unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'default' \
                  'Sup3rS3cret' \r\n";
    let server = Scripted::new(&[echoed.as_bytes()]);
    let config = ConnectionConfig::builder()
        .password("Sup3rS3cret")
        .protocol(Protocol::Resp3)
        .build();
    let err = Connection::with_transport(server, &config).unwrap_err();
    assert!(matches!(err, Error::NoProto(_)), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("Sup3rS3cret"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}

#[test]
fn select_out_of_range_is_a_server_error() {
    let server = Scripted::new(&[b"-ERR DB index is out of range\r\n"]);
    let config = ConnectionConfig::builder().db(99).build();
    let err = Connection::with_transport(server, &config).unwrap_err();
    assert!(
        matches!(err, Error::Server(ref e) if e.kind() == ServerErrorKind::Err),
        "{err}"
    );
}

#[test]
fn replies_split_anywhere_are_read_whole() {
    let server = Scripted::new(&[b"$5\r", b"\nhel", b"lo", b"\r\n"]);
    let mut conn =
        Connection::with_transport(server.clone(), &ConnectionConfig::default()).unwrap();
    let value = conn.request(&["GET", "k"]).unwrap();
    assert_eq!(value, Value::BulkString("hello".into()));
    assert_eq!(server.take_written(), command(&["GET", "k"]));
}

/// A reply as large as the last one is read with one system call: the first read of a reply
/// offers room for the size of the last, instead of starting small and doubling.
#[test]
fn a_reply_as_large_as_the_last_is_read_at_once() {
    let mut reply = b"*1000\r\n".to_vec();
    for i in 0..1000 {
        reply.extend_from_slice(format!("$16\r\nelement-{i:08}\r\n").as_bytes());
    }
    let server = Scripted::new(&[&reply, &reply, b"$1\r\nx\r\n", b"$1\r\ny\r\n"]);
    let mut conn =
        Connection::with_transport(server.clone(), &ConnectionConfig::default()).unwrap();
    server.take_offered();
    let lrange = ["LRANGE", "list", "0", "-1"];
    let first = conn.request(&lrange).unwrap();
    let first_reads = server.take_offered();
    assert!(first_reads.len() > 2, "{first_reads:?}");
    let second = conn.request(&lrange).unwrap();
    assert_eq!(second, first);
    let second_reads = server.take_offered();
    assert_eq!(second_reads.len(), 1, "{second_reads:?}");
    assert!(second_reads[0] > reply.len(), "{second_reads:?}");
    // A small reply after it is read whole, and the one after that is offered little room
    // again.
    assert_eq!(
        conn.request(&["GET", "k"]).unwrap(),
        Value::BulkString("x".into())
    );
    assert_eq!(
        conn.request(&["GET", "k"]).unwrap(),
        Value::BulkString("y".into())
    );
    let small_reads = server.take_offered();
    assert_eq!(small_reads.len(), 2, "{small_reads:?}");
    assert!(small_reads[1] <= 4096, "{small_reads:?}");
}

#[test]
fn a_server_error_reply_leaves_the_connection_usable() {
    let server = Scripted::new(&[b"-WRONGTYPE Operation against a key\r\n", b":1\r\n"]);
    let mut conn = Connection::with_transport(server, &ConnectionConfig::default()).unwrap();
    let err = conn.request(&["INCR", "list"]).unwrap_err();
    assert_eq!(
        err.server_error().map(|e| e.kind()),
        Some(ServerErrorKind::WrongType)
    );
    assert!(!conn.is_broken());
    assert_eq!(conn.request(&["INCR", "n"]).unwrap(), Value::Integer(1));
}

#[test]
fn a_timeout_mid_reply_breaks_the_connection_for_good() {
    let server = Scripted::new(&[b"$4\r\nk"]);
    server.push_timeout();
    server.push(b"ey1\r\n:2\r\n");
    let mut conn = Connection::with_transport(server, &ConnectionConfig::default()).unwrap();
    let err = conn.request(&["GET", "k"]).unwrap_err();
    assert!(matches!(err, Error::Timeout(Phase::Reading)), "{err}");
    assert!(err.is_timeout() && err.is_connection());
    assert!(conn.is_broken());
    // The late bytes are never delivered to anyone.
    assert!(matches!(conn.request(&["GET", "j"]), Err(Error::Broken)));
    assert!(matches!(conn.read_reply(), Err(Error::Broken)));
}

#[test]
fn garbage_breaks_the_connection() {
    let server = Scripted::new(&[b"HTTP/1.1 400 Bad Request\r\n"]);
    let mut conn = Connection::with_transport(server, &ConnectionConfig::default()).unwrap();
    let err = conn.request(&["PING"]).unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err}");
    assert!(conn.is_broken());
}

#[test]
fn the_server_closing_breaks_the_connection() {
    let server = Scripted::new(&[b"$10\r\nhalf"]);
    let mut conn = Connection::with_transport(server, &ConnectionConfig::default()).unwrap();
    let err = conn.request(&["GET", "k"]).unwrap_err();
    assert!(matches!(err, Error::Closed(Phase::Reading)), "{err}");
    assert!(conn.is_broken());
}

#[test]
fn resp3_pushes_are_kept_apart_from_replies() {
    let hello = b"%1\r\n+proto\r\n:3\r\n";
    let server = Scripted::new(&[hello, b">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n:7\r\n"]);
    let config = ConnectionConfig::builder()
        .protocol(Protocol::Resp3)
        .build();
    let mut conn = Connection::with_transport(server, &config).unwrap();
    assert_eq!(conn.request(&["INCR", "n"]).unwrap(), Value::Integer(7));
    let push = conn.next_push(Duration::ZERO).unwrap().expect("a push");
    assert!(matches!(push, Value::Push(ref items) if items.len() == 2));
    assert_eq!(conn.next_push(Duration::ZERO).unwrap(), None);
}

#[test]
fn waiting_for_a_push_that_does_not_come_keeps_the_connection() {
    let hello = b"%1\r\n+proto\r\n:3\r\n";
    let server = Scripted::new(&[hello]);
    server.push_timeout();
    server.push(b">1\r\n+hi\r\n");
    let config = ConnectionConfig::builder()
        .protocol(Protocol::Resp3)
        .build();
    let mut conn = Connection::with_transport(server, &config).unwrap();
    assert_eq!(conn.next_push(Duration::from_millis(5)).unwrap(), None);
    assert!(!conn.is_broken());
    assert!(conn.next_push(Duration::from_millis(5)).unwrap().is_some());
}

#[test]
fn a_reply_without_a_request_breaks_the_connection() {
    let hello = b"%1\r\n+proto\r\n:3\r\n";
    let server = Scripted::new(&[hello, b"+OK\r\n"]);
    let config = ConnectionConfig::builder()
        .protocol(Protocol::Resp3)
        .build();
    let mut conn = Connection::with_transport(server, &config).unwrap();
    assert!(conn.next_push(Duration::from_millis(5)).is_err());
    assert!(conn.is_broken());
}

#[test]
fn health_check_pings_only_after_the_interval() {
    let server = Scripted::new(&[b"+PONG\r\n"]);
    let config = ConnectionConfig::builder()
        .health_check_interval(Duration::from_secs(30))
        .build();
    let mut conn = Connection::with_transport(server.clone(), &config).unwrap();
    let opened = conn.last_used();
    conn.check_health(opened + Duration::from_secs(10)).unwrap();
    assert!(
        server.take_written().is_empty(),
        "no PING before the interval"
    );
    conn.check_health(opened + Duration::from_secs(31)).unwrap();
    assert_eq!(server.take_written(), command(&["PING"]));
}

#[test]
fn a_failed_health_check_on_a_custom_transport_is_reported() {
    let server = Scripted::new(&[]);
    let config = ConnectionConfig::builder()
        .health_check_interval(Duration::from_secs(1))
        .build();
    let mut conn = Connection::with_transport(server, &config).unwrap();
    let later = Instant::now() + Duration::from_secs(5);
    assert!(conn.check_health(later).is_err());
    assert!(conn.is_broken());
}
