//! `resp-proto` decoding real replies from a real Redis 7.0 server over a raw socket: RESP2
//! basics, every RESP3 type `DEBUG PROTOCOL` can send (and its RESP2 downgrade), deep Lua
//! replies against the depth limit, big bulk strings and long pipelines.

use std::thread;

use bytes::Bytes;
use resp_proto::{ErrorKind, Limits, List, Pairs, Value};
use tests::{RawConnection, RawError, RedisServer};

fn bulk(text: impl AsRef<[u8]>) -> Value {
    Value::BulkString(Bytes::copy_from_slice(text.as_ref()))
}

fn simple(text: &str) -> Value {
    Value::SimpleString(Bytes::copy_from_slice(text.as_bytes()))
}

fn array(items: Vec<Value>) -> Value {
    Value::Array(List::from(items))
}

fn ok() -> Value {
    simple("OK")
}

/// The text of an error reply, or a panic naming what came instead.
fn error_text(value: &Value) -> String {
    match value.as_error() {
        Some(text) => String::from_utf8_lossy(text).into_owned(),
        None => panic!("expected an error reply, got {value:?}"),
    }
}

/// Switches the connection to RESP3 and returns the `HELLO` reply.
fn hello3(conn: &mut RawConnection) -> Value {
    conn.request(["HELLO", "3"])
}

/// Looks a bulk-string key up in map entries.
fn map_get<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a Value> {
    pairs
        .iter()
        .find(|(k, _)| k.as_bytes().is_some_and(|b| b == key.as_bytes()))
        .map(|(_, v)| v)
}

// ---------------------------------------------------------------------------------------------
// RESP2

#[test]
fn resp2_basic_replies() {
    let server = RedisServer::start();
    let mut conn = server.raw();

    assert_eq!(conn.request(["PING"]), simple("PONG"));
    assert_eq!(conn.request(["PING", "hello"]), bulk("hello"));
    assert_eq!(conn.request(["SET", "greeting", "hi there"]), ok());
    assert_eq!(conn.request(["GET", "greeting"]), bulk("hi there"));
    assert_eq!(conn.request(["GET", "missing"]), Value::Null, "$-1");
    assert_eq!(conn.request(["ECHO", ""]), bulk(""));
    assert_eq!(conn.request(["INCR", "counter"]), Value::Integer(1));
    assert_eq!(
        conn.request(["INCRBY", "counter", "-43"]),
        Value::Integer(-42)
    );
    assert_eq!(
        conn.request(["RPUSH", "list", "a", "b", "c"]),
        Value::Integer(3)
    );
    assert_eq!(
        conn.request(["LRANGE", "list", "0", "-1"]),
        array(vec![bulk("a"), bulk("b"), bulk("c")])
    );
    assert_eq!(
        conn.request(["LRANGE", "no-such-list", "0", "-1"]),
        array(vec![]),
        "empty array *0"
    );
    // A timed-out BLPOP is the null array `*-1` in RESP2.
    assert_eq!(conn.request(["BLPOP", "no-such-list", "0.01"]), Value::Null);
    // Nested arrays with mixed element types.
    assert_eq!(
        conn.request(["EVAL", "return {1, 'two', {3, false}}", "0"]),
        array(vec![
            Value::Integer(1),
            bulk("two"),
            array(vec![Value::Integer(3), Value::Null]),
        ])
    );

    let unknown = conn.request(["NOSUCHCOMMAND", "arg"]);
    assert!(matches!(unknown, Value::Error(_)), "{unknown:?}");
    let text = error_text(&unknown);
    assert!(text.starts_with("ERR unknown command"), "{text}");

    let wrong_type = conn.request(["GET", "list"]);
    assert!(matches!(wrong_type, Value::Error(_)), "{wrong_type:?}");
    assert_eq!(
        error_text(&wrong_type),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );

    // The connection is still aligned after error replies.
    assert_eq!(conn.request(["PING"]), simple("PONG"));
    assert!(conn.buffered().is_empty());
}

#[test]
fn resp2_hello_is_a_flat_array() {
    let server = RedisServer::start();
    let mut conn = server.raw();
    let Value::Array(items) = conn.request(["HELLO", "2"]) else {
        panic!("HELLO 2 must reply with an array");
    };
    assert_eq!(items.len(), 14, "{items:?}");
    assert_eq!(items[0], bulk("server"));
    assert_eq!(items[1], bulk("redis"));
    assert_eq!(items[4], bulk("proto"));
    assert_eq!(items[5], Value::Integer(2));
}

#[test]
fn one_mebibyte_bulk_round_trip() {
    let server = RedisServer::start();
    let mut conn = server.raw();
    // Every byte value, CR and LF included, so a payload is never mistaken for a line.
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(conn.request([&b"SET"[..], b"big", &payload]), ok());
    assert_eq!(conn.request(["STRLEN", "big"]), Value::Integer(1024 * 1024));
    let reply = conn.request(["GET", "big"]);
    let Value::BulkString(bytes) = &reply else {
        panic!("GET big: expected a bulk string");
    };
    assert_eq!(bytes.len(), payload.len());
    assert!(
        bytes[..] == payload[..],
        "the 1 MiB payload came back altered"
    );
    assert!(conn.buffered().is_empty());
    assert_eq!(conn.request(["PING"]), simple("PONG"));
}

// ---------------------------------------------------------------------------------------------
// RESP3 and DEBUG PROTOCOL

#[test]
fn resp3_hello_is_a_map() {
    let server = RedisServer::start();
    let mut conn = server.raw();
    let Value::Map(entries) = hello3(&mut conn) else {
        panic!("HELLO 3 must reply with a map");
    };
    assert_eq!(map_get(&entries, "server"), Some(&bulk("redis")));
    assert_eq!(map_get(&entries, "proto"), Some(&Value::Integer(3)));
    assert_eq!(map_get(&entries, "mode"), Some(&bulk("standalone")));
    assert_eq!(map_get(&entries, "role"), Some(&bulk("master")));
    assert!(matches!(map_get(&entries, "id"), Some(Value::Integer(_))));
    let version = map_get(&entries, "version")
        .and_then(Value::as_bytes)
        .expect("HELLO reports the version");
    assert!(
        version.starts_with(b"7."),
        "this suite documents Redis 7 behaviour; server is {}",
        String::from_utf8_lossy(version)
    );
    assert_eq!(map_get(&entries, "modules"), Some(&array(vec![])));
    assert_eq!(entries.len(), 7);

    // RESP3 replies for ordinary commands.
    assert_eq!(conn.request(["GET", "missing"]), Value::Null, "_");
    assert_eq!(conn.request(["BLPOP", "no-such-list", "0.01"]), Value::Null);
    assert_eq!(conn.request(["SADD", "s", "x"]), Value::Integer(1));
    assert_eq!(
        conn.request(["SMEMBERS", "s"]),
        Value::Set(List::from(vec![bulk("x")]))
    );
    assert_eq!(conn.request(["HSET", "h", "f", "v"]), Value::Integer(1));
    assert_eq!(
        conn.request(["HGETALL", "h"]),
        Value::Map(Pairs::from(vec![(bulk("f"), bulk("v"))]))
    );
    assert_eq!(conn.request(["ZADD", "z", "1.5", "m"]), Value::Integer(1));
    assert_eq!(conn.request(["ZSCORE", "z", "m"]), Value::Double(1.5));
}

/// The reply `DEBUG PROTOCOL <kind>` gives on a RESP3 connection of Redis 7.0.
#[allow(
    clippy::approx_constant,
    reason = "the server sends the literal 3.141, not an approximation of pi"
)]
fn resp3_expected(kind: &str) -> Value {
    match kind {
        "string" => bulk("Hello World"),
        "integer" => Value::Integer(12345),
        "double" => Value::Double(3.141),
        "bignum" => Value::BigNumber(Bytes::from_static(b"1234567999999999999999999999999999999")),
        "null" => Value::Null,
        "array" => array(vec![
            Value::Integer(0),
            Value::Integer(1),
            Value::Integer(2),
        ]),
        "set" => Value::Set(List::from(vec![
            Value::Integer(0),
            Value::Integer(1),
            Value::Integer(2),
        ])),
        "map" => Value::Map(Pairs::from(vec![
            (Value::Integer(0), Value::Boolean(false)),
            (Value::Integer(1), Value::Boolean(true)),
            (Value::Integer(2), Value::Boolean(false)),
        ])),
        "attrib" => Value::Attribute {
            attributes: Pairs::from(vec![(
                bulk("key-popularity"),
                array(vec![bulk("key:123"), Value::Integer(90)]),
            )]),
            value: Box::new(bulk("Some real reply following the attribute")),
        },
        "verbatim" => Value::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"This is a verbatim\nstring"),
        },
        "true" => Value::Boolean(true),
        "false" => Value::Boolean(false),
        other => panic!("no RESP3 expectation for {other}"),
    }
}

/// The reply `DEBUG PROTOCOL <kind>` gives on a RESP2 connection of Redis 7.0: doubles and big
/// numbers become bulk strings, sets and maps flat arrays, booleans 1/0, the attribute is
/// dropped, the verbatim string loses its format.
fn resp2_expected(kind: &str) -> Value {
    match kind {
        "string" => bulk("Hello World"),
        "integer" => Value::Integer(12345),
        "double" => bulk("3.141"),
        "bignum" => bulk("1234567999999999999999999999999999999"),
        "null" => Value::Null,
        "array" | "set" => array(vec![
            Value::Integer(0),
            Value::Integer(1),
            Value::Integer(2),
        ]),
        "map" => array([0, 0, 1, 1, 2, 0].into_iter().map(Value::Integer).collect()),
        "attrib" => bulk("Some real reply following the attribute"),
        "verbatim" => bulk("This is a verbatim\nstring"),
        "true" => Value::Integer(1),
        "false" => Value::Integer(0),
        other => panic!("no RESP2 expectation for {other}"),
    }
}

/// Every type `DEBUG PROTOCOL` accepts in 7.0 except `push`, which has its own test.
const DEBUG_PROTOCOL_TYPES: [&str; 12] = [
    "string", "integer", "double", "bignum", "null", "array", "set", "map", "attrib", "verbatim",
    "true", "false",
];

#[test]
fn debug_protocol_resp3_every_type() {
    let server = RedisServer::start();
    let mut conn = server.raw();
    assert!(matches!(hello3(&mut conn), Value::Map(_)));
    for kind in DEBUG_PROTOCOL_TYPES {
        let reply = conn.request(["DEBUG", "PROTOCOL", kind]);
        assert_eq!(reply, resp3_expected(kind), "DEBUG PROTOCOL {kind} (RESP3)");
        assert!(conn.buffered().is_empty(), "{kind}: bytes left over");
    }
    // The list of types the server knows, from its own error message.
    let unknown = conn.request(["DEBUG", "PROTOCOL", "nosuchtype"]);
    assert_eq!(
        error_text(&unknown),
        "ERR Wrong protocol type name. Please use one of the following: \
         string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false"
    );
}

#[test]
fn debug_protocol_resp3_push_comes_before_the_reply() {
    let server = RedisServer::start();
    let mut conn = server.raw();
    assert!(matches!(hello3(&mut conn), Value::Map(_)));
    conn.send(["DEBUG", "PROTOCOL", "push"]).expect("send");
    let push = conn.read_value().expect("the push");
    assert_eq!(
        push,
        Value::Push(List::from(vec![
            bulk("server-cpu-usage"),
            Value::Integer(42)
        ]))
    );
    let reply = conn.read_value().expect("the reply after the push");
    assert_eq!(reply, bulk("Some real reply following the push reply"));
    assert!(conn.buffered().is_empty());
    assert_eq!(conn.request(["PING"]), simple("PONG"));
}

#[test]
fn debug_protocol_resp2_downgrades() {
    let server = RedisServer::start();
    let mut conn = server.raw();
    for kind in DEBUG_PROTOCOL_TYPES {
        let reply = conn.request(["DEBUG", "PROTOCOL", kind]);
        assert_eq!(reply, resp2_expected(kind), "DEBUG PROTOCOL {kind} (RESP2)");
        assert!(conn.buffered().is_empty(), "{kind}: bytes left over");
    }
    // Pushes cannot be expressed in RESP2: the server refuses instead.
    let push = conn.request(["DEBUG", "PROTOCOL", "push"]);
    assert_eq!(
        error_text(&push),
        "ERR RESP2 is not supported by this command"
    );
    assert_eq!(conn.request(["PING"]), simple("PONG"));
}

#[test]
fn debug_protocol_needs_the_debug_command_enabled() {
    // The fixture passes `--enable-debug-command local`; without it 7.0 refuses DEBUG.
    let server = RedisServer::builder()
        .arg("--enable-debug-command")
        .arg("no")
        .start();
    let mut conn = server.raw();
    let text = error_text(&conn.request(["DEBUG", "PROTOCOL", "string"]));
    assert!(text.starts_with("ERR DEBUG command not allowed"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Deep Lua replies

/// Returns `ARGV[1]` nested one-element tables, the innermost empty: `*1` repeated N times,
/// then `*0`.
const NEST_SCRIPT: &str = "local t = {} ; local cur = t; \
    for i = 1, tonumber(ARGV[1]) do local n = {}; cur[1] = n; cur = n end; return t";

/// The deepest `NEST_SCRIPT` Redis 7.0 (Debian 7.0.15) returns in full. One level more and the
/// Lua-to-RESP conversion hits the C stack limit (`LUAI_MAXCSTACK` 8000): the server sends the
/// arrays it already opened and puts `-ERR reached lua stack limit` in the innermost one.
const SERVER_MAX_NEST: usize = 7994;

fn nested_reply(conn: &mut RawConnection, depth: usize) -> Result<Value, RawError> {
    conn.try_request(["EVAL", NEST_SCRIPT, "0", &depth.to_string()])
}

/// Walks a chain of one-element arrays without recursion; returns how many there are and the
/// value at the bottom. Never formats the deep value (Debug recurses).
fn chain_depth(value: &Value, bound: usize) -> (usize, &Value) {
    let mut current = value;
    for depth in 0..=bound {
        match current {
            Value::Array(items) if items.len() == 1 => current = &items[0],
            _ => return (depth, current),
        }
    }
    panic!("chain deeper than {bound}");
}

fn is_empty_array(value: &Value) -> bool {
    matches!(value, Value::Array(items) if items.is_empty())
}

fn expect_nest(value: &Value, depth: usize) {
    let (found, bottom) = chain_depth(value, depth + 10);
    assert_eq!(found, depth, "nesting depth");
    assert!(is_empty_array(bottom), "bottom: {bottom:?}");
}

/// Asserts a TooDeep error at the header of array number `limit + 1` (each `*1\r\n` is four
/// bytes), and that the offset indexes a `*` in the buffered reply.
fn expect_too_deep(conn: &RawConnection, result: Result<Value, RawError>, limit: usize) {
    let err = match result {
        Ok(_) => panic!("expected TooDeep with max_depth {limit}, got a value"),
        Err(RawError::Protocol(err)) => err,
        Err(other) => panic!("expected TooDeep with max_depth {limit}, got {other}"),
    };
    assert_eq!(err.kind(), ErrorKind::TooDeep, "{err}");
    assert_eq!(err.offset(), 4 * limit, "{err}");
    assert_eq!(
        conn.buffered().get(err.offset()),
        Some(&b'*'),
        "the error offset must point at an array header"
    );
}

#[test]
fn lua_nesting_100_and_1000() {
    let server = RedisServer::start();
    let mut conn = server.raw();
    let shallow = nested_reply(&mut conn, 0).expect("depth 0");
    assert!(is_empty_array(&shallow));
    let one = nested_reply(&mut conn, 1).expect("depth 1");
    assert_eq!(one, array(vec![array(vec![])]));

    // Default limit (1024 open aggregates): 100 and 1000 both fit.
    expect_nest(&nested_reply(&mut conn, 100).expect("depth 100"), 100);
    expect_nest(&nested_reply(&mut conn, 1000).expect("depth 1000"), 1000);

    // The limit counts aggregates that have elements: N one-element arrays around an empty
    // one need max_depth N.
    let mut exact = RawConnection::with_limits(server.connect(), Limits::default().max_depth(1000));
    expect_nest(
        &nested_reply(&mut exact, 1000).expect("1000 within 1000"),
        1000,
    );
    let mut short = RawConnection::with_limits(server.connect(), Limits::default().max_depth(999));
    let result = nested_reply(&mut short, 1000);
    expect_too_deep(&short, result, 999);

    let mut short100 =
        RawConnection::with_limits(server.connect(), Limits::default().max_depth(99));
    let result = nested_reply(&mut short100, 100);
    expect_too_deep(&short100, result, 99);
}

#[test]
fn lua_nesting_at_the_default_limit() {
    let server = RedisServer::start();
    let limit = Limits::DEFAULT_MAX_DEPTH;
    let mut conn = server.raw();
    expect_nest(&nested_reply(&mut conn, limit).expect("1024 deep"), limit);
    let mut conn = server.raw();
    let result = nested_reply(&mut conn, limit + 1);
    expect_too_deep(&conn, result, limit);
}

#[test]
fn lua_nesting_7990_needs_a_raised_limit() {
    let server = RedisServer::start();

    // Under the default limit: a clean TooDeep error at the 1025th array header.
    let mut conn = server.raw();
    let result = nested_reply(&mut conn, 7990);
    expect_too_deep(&conn, result, Limits::DEFAULT_MAX_DEPTH);
    // The decoder stays failed: the connection is finished.
    assert!(matches!(conn.read_value(), Err(RawError::Protocol(_))));

    // With the limit raised, on a thread with the default 2 MiB stack: decoding and dropping
    // are iterative.
    let addr = server.addr();
    let decoded = thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let stream = std::net::TcpStream::connect(addr).expect("connect");
            let mut conn = RawConnection::with_limits(stream, Limits::default().max_depth(10_000));
            let value = nested_reply(&mut conn, 7990).expect("7990 deep with max_depth 10000");
            expect_nest(&value, 7990);
            assert!(conn.buffered().is_empty());
            // A second deep reply on the same connection, then an ordinary one.
            let again = nested_reply(&mut conn, 7990).expect("again");
            expect_nest(&again, 7990);
            drop(again);
            assert_eq!(conn.request(["PING"]), simple("PONG"));
            drop(value); // the deep tree drops without recursing
        })
        .expect("spawn")
        .join();
    assert!(
        decoded.is_ok(),
        "decoding 7990 levels failed on a 2 MiB stack"
    );
}

#[test]
fn lua_nesting_server_maximum_and_the_nested_error() {
    let server = RedisServer::start();
    let addr = server.addr();
    let outcome = thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let stream = std::net::TcpStream::connect(addr).expect("connect");
            let mut conn = RawConnection::with_limits(stream, Limits::default().max_depth(10_000));

            let deepest = nested_reply(&mut conn, SERVER_MAX_NEST).expect("the server maximum");
            expect_nest(&deepest, SERVER_MAX_NEST);
            drop(deepest);

            // One more level: a well-formed reply whose innermost element is the error.
            for asked in [SERVER_MAX_NEST + 1, 10_000] {
                let value = nested_reply(&mut conn, asked).expect("the truncated reply");
                let (found, bottom) = chain_depth(&value, asked + 10);
                assert_eq!(
                    found,
                    SERVER_MAX_NEST + 1,
                    "arrays before the error ({asked})"
                );
                assert_eq!(error_text(bottom), "ERR reached lua stack limit");
                drop(value);
            }
            assert_eq!(conn.request(["PING"]), simple("PONG"));
        })
        .expect("spawn")
        .join();
    assert!(outcome.is_ok(), "see the panic above");
}

// ---------------------------------------------------------------------------------------------
// Pipelining

#[test]
fn pipeline_of_1000_commands_in_one_write() {
    const N: usize = 1000;
    let server = RedisServer::start();
    let mut conn = server.raw();
    let key = |i: usize| format!("key:{i}");
    let value = |i: usize| format!("value-of-key:{i}");

    let mut sets = Vec::new();
    for i in 0..N {
        resp_proto::encode_command(&mut sets, ["SET".to_owned(), key(i), value(i)]);
    }
    conn.send_raw(&sets).expect("write the SET pipeline");
    for i in 0..N {
        let reply = conn
            .read_value()
            .unwrap_or_else(|e| panic!("SET reply {i}: {e}"));
        assert_eq!(reply, ok(), "SET reply {i}");
    }

    // GETs, interleaved with ECHOs and INCRs, so each reply shows which request it answers.
    let mut mixed = Vec::new();
    for i in 0..N {
        match i % 3 {
            0 => resp_proto::encode_command(&mut mixed, ["GET".to_owned(), key(i)]),
            1 => resp_proto::encode_command(&mut mixed, ["ECHO".to_owned(), format!("echo:{i}")]),
            _ => resp_proto::encode_command(
                &mut mixed,
                ["INCRBY".to_owned(), "n".to_owned(), i.to_string()],
            ),
        }
    }
    conn.send_raw(&mixed).expect("write the mixed pipeline");
    let mut total = 0i64;
    for i in 0..N {
        let reply = conn
            .read_value()
            .unwrap_or_else(|e| panic!("reply {i}: {e}"));
        let expected = match i % 3 {
            0 => bulk(value(i)),
            1 => bulk(format!("echo:{i}")),
            _ => {
                total += i as i64;
                Value::Integer(total)
            }
        };
        assert_eq!(reply, expected, "reply {i}");
    }
    assert!(conn.buffered().is_empty());
    assert_eq!(conn.request(["DBSIZE"]), Value::Integer(N as i64 + 1));
}
