//! `SharedConnection`: one connection used by many threads at once, their commands written
//! together. Each caller must get its own reply, a failure must fail only the commands
//! written on the failed connection, and commands queued behind it must go out on a new one.

use std::thread;
use std::time::Duration;

use redis_client::conn::{ConnectionConfig, Error as ConnError, SharedConnection};
use redis_client::{Cmd, Value, cmd};
use tests::{Direction, FaultProxy, RedisServer};

fn shared_to(port: u16, timeout: Duration) -> SharedConnection {
    SharedConnection::new(
        ConnectionConfig::builder()
            .host("127.0.0.1")
            .port(port)
            .socket_timeout(timeout)
            .build(),
    )
}

fn request(shared: &SharedConnection, command: &Cmd) -> Result<Value, ConnError> {
    shared.request(command.len(), command.packed_args())
}

/// A shared connection through a proxy, connected by one PING (`*1\r\n$4\r\nPING\r\n`,
/// 14 bytes), then the proxy holding every reply back.
fn connected_then_stalled(server: &RedisServer) -> (FaultProxy, SharedConnection) {
    let proxy = FaultProxy::start(server.addr());
    let shared = shared_to(proxy.port(), Duration::from_secs(10));
    assert_pong(&shared);
    proxy.stall(Direction::ServerToClient);
    (proxy, shared)
}

fn assert_pong(shared: &SharedConnection) {
    assert_eq!(
        request(shared, &cmd("PING")).unwrap(),
        Value::SimpleString("PONG".into())
    );
}

fn bulk(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        _ => None,
    }
}

#[test]
fn every_thread_gets_its_own_replies_and_commands_go_out_together() {
    let server = RedisServer::start();
    let shared = shared_to(server.port(), Duration::from_secs(10));
    const THREADS: usize = 8;
    const CALLS: usize = 300;
    thread::scope(|s| {
        for t in 0..THREADS {
            let shared = &shared;
            s.spawn(move || {
                for i in 0..CALLS {
                    let key = format!("shared:{t}:{i}");
                    let value = format!("value of thread {t}, call {i}");
                    let set = request(shared, cmd("SET").arg(&key).arg(&value)).expect("SET");
                    assert_eq!(
                        set,
                        Value::SimpleString("OK".into()),
                        "thread {t}, call {i}"
                    );
                    let got = request(shared, cmd("GET").arg(&key)).expect("GET");
                    assert_eq!(bulk(&got), Some(value.as_bytes()), "thread {t}, call {i}");
                    let n = request(shared, cmd("INCR").arg("shared:count")).expect("INCR");
                    assert!(matches!(n, Value::Integer(n) if n >= 1), "{n:?}");
                }
            });
        }
    });
    let count = request(&shared, cmd("GET").arg("shared:count")).unwrap();
    assert_eq!(
        bulk(&count),
        Some(format!("{}", THREADS * CALLS).as_bytes())
    );
    let stats = shared.stats();
    assert_eq!(
        stats.requests,
        (THREADS * CALLS * 3 + 1) as u64,
        "{stats:?}"
    );
    assert_eq!((stats.connects, stats.failures), (1, 0), "{stats:?}");
    // Eight threads on one connection: some commands shared a write.
    assert!(stats.writes < stats.requests, "{stats:?}");
    // A server error is a value for its caller alone.
    let wrong = request(&shared, cmd("HGET").arg("shared:count").arg("f")).unwrap();
    assert!(
        matches!(wrong, Value::Error(ref e) if e.starts_with(b"WRONGTYPE")),
        "{wrong:?}"
    );
    assert_pong(&shared);
}

#[test]
fn a_failure_fails_the_commands_written_and_spares_the_queued_ones() {
    let server = RedisServer::start();
    let (proxy, shared) = connected_then_stalled(&server);
    thread::scope(|s| {
        let first = s.spawn(|| request(&shared, cmd("INCR").arg("written")));
        // `*2\r\n$4\r\nINCR\r\n$7\r\nwritten\r\n`: 27 bytes, written and waiting for its reply.
        assert!(proxy.wait_for_bytes_seen(
            Direction::ClientToServer,
            14 + 27,
            Duration::from_secs(5)
        ));
        let queued = s.spawn(|| request(&shared, cmd("INCR").arg("queued")));
        // Time for the second command to queue behind the first one's round trip.
        thread::sleep(Duration::from_millis(200));
        proxy.reset_all();
        proxy.clear();
        let first = first.join().unwrap();
        let queued = queued.join().unwrap();
        // The written command's outcome is unknown: an error, and it is not sent again.
        let e = first.expect_err("the connection was reset under the written command");
        assert!(e.is_connection(), "{e:?}");
        // The queued command was never written: it went out on a new connection.
        assert_eq!(queued.unwrap(), Value::Integer(1));
    });
    let mut raw = server.raw();
    // The server did run the written command, once: nothing was sent twice.
    assert_eq!(
        raw.request(["GET", "written"]),
        Value::BulkString("1".into())
    );
    let stats = shared.stats();
    assert_eq!((stats.connects, stats.failures), (2, 1), "{stats:?}");
}

#[test]
fn a_connection_the_server_closed_is_replaced_before_anything_is_written() {
    let server = RedisServer::start();
    let shared = shared_to(server.port(), Duration::from_secs(10));
    assert_eq!(
        request(&shared, cmd("SET").arg("c").arg(0)).unwrap(),
        Value::SimpleString("OK".into())
    );
    let mut raw = server.raw();
    raw.request(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    // The peek before the write finds the connection closed; the INCR runs once, on a new one.
    assert_eq!(
        request(&shared, cmd("INCR").arg("c")).unwrap(),
        Value::Integer(1)
    );
    let stats = shared.stats();
    assert_eq!((stats.connects, stats.failures), (2, 0), "{stats:?}");
}

#[test]
fn a_timeout_fails_the_round_and_the_next_request_reconnects() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr());
    let shared = shared_to(proxy.port(), Duration::from_millis(200));
    proxy.stall(Direction::ServerToClient);
    let e = request(&shared, cmd("GET").arg("k")).expect_err("the reply is stalled");
    assert!(e.is_timeout(), "{e:?}");
    proxy.clear();
    assert_pong(&shared);
    let stats = shared.stats();
    assert_eq!((stats.connects, stats.failures), (2, 1), "{stats:?}");
}

#[test]
fn commands_that_are_not_one_command_are_refused_before_anything_is_written() {
    let server = RedisServer::start();
    let shared = shared_to(server.port(), Duration::from_secs(10));
    let refused: [(usize, &[u8]); 6] = [
        (0, b""),
        (2, b"$4\r\nPING\r\n"),
        (1, b"$4\r\nPING\r\n$1\r\nx\r\n"),
        (1, b"$9\r\nPING\r\n"),
        (1, b"+PING\r\n"),
        (1, b"$4\nPING\r\n"),
    ];
    for (count, packed) in refused {
        let e = shared.request(count, packed).expect_err("refused");
        assert!(matches!(e, ConnError::InvalidCommand(_)), "{e:?}");
    }
    assert_eq!(shared.stats().requests, 0);
    assert_eq!(
        shared.request(1, b"$4\r\nPING\r\n").unwrap(),
        Value::SimpleString("PONG".into())
    );
    assert_eq!(shared.stats().requests, 1);
}

#[test]
fn close_lets_the_connection_answer_what_it_owes_and_writes_nothing_more_on_it() {
    let server = RedisServer::start();
    let (proxy, shared) = connected_then_stalled(&server);
    thread::scope(|s| {
        let owed = s.spawn(|| request(&shared, cmd("INCR").arg("owed")));
        // PING (14 bytes) and `*2\r\n$4\r\nINCR\r\n$4\r\nowed\r\n` (24 bytes).
        assert!(proxy.wait_for_bytes_seen(
            Direction::ClientToServer,
            14 + 24,
            Duration::from_secs(5)
        ));
        shared.close();
        let later = s.spawn(|| request(&shared, cmd("INCR").arg("later")));
        thread::sleep(Duration::from_millis(200));
        // Queued behind the owed reply, and not written on the connection being closed.
        assert_eq!(proxy.bytes_seen(Direction::ClientToServer), 14 + 24);
        proxy.resume(Direction::ServerToClient);
        assert_eq!(owed.join().unwrap().unwrap(), Value::Integer(1));
        assert_eq!(later.join().unwrap().unwrap(), Value::Integer(1));
    });
    let stats = shared.stats();
    assert_eq!((stats.connects, stats.failures), (2, 0), "{stats:?}");
    assert!(proxy.wait_for_open_connections(1, Duration::from_secs(5)));
}

#[test]
fn close_drops_the_connection_and_the_next_request_opens_one() {
    let server = RedisServer::start();
    let shared = shared_to(server.port(), Duration::from_secs(10));
    assert_pong(&shared);
    shared.close();
    assert_pong(&shared);
    assert_eq!(shared.stats().connects, 2);
    let unreachable = shared_to(RedisServer::start().port(), Duration::from_secs(1));
    // (The server is dropped at once: nothing listens any more.)
    let e = request(&unreachable, &cmd("PING")).expect_err("nothing listens");
    assert!(matches!(e, ConnError::Connect { .. }), "{e:?}");
    assert_eq!(unreachable.stats().failures, 1);
}

#[test]
fn a_multiplexed_client_shares_one_connection_and_keeps_blocking_commands_on_its_pool() {
    use redis_client::{Commands, ServerErrorKind};
    use std::sync::atomic::{AtomicBool, Ordering};

    let server = RedisServer::start();
    let client = server.client_builder().multiplex(true).build();
    thread::scope(|s| {
        for t in 0..8 {
            let client = &client;
            s.spawn(move || {
                for i in 0..200 {
                    let key = format!("mux:{t}:{i}");
                    client.set(&key, format!("{t}/{i}")).expect("SET");
                    let got: Option<String> = client.get(&key).expect("GET");
                    assert_eq!(got, Some(format!("{t}/{i}")));
                }
            });
        }
    });
    let mut raw = server.raw();
    let clients = |raw: &mut tests::RawConnection| -> usize {
        match raw.request(["CLIENT", "LIST"]) {
            Value::BulkString(list) => list
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
            other => panic!("CLIENT LIST answered {other:?}"),
        }
    };
    // 3,200 commands from 8 threads: one connection (the raw one is the other).
    assert_eq!(clients(&mut raw), 2);
    assert_eq!(client.pool().stats().created, 0);
    let stats = client.shared_stats().expect("a multiplexed client");
    assert_eq!((stats.requests, stats.connects), (3_200, 1), "{stats:?}");
    assert!(server.client_builder().build().shared_stats().is_none());
    // A server error goes to its caller, typed.
    let e = client.hget::<Option<String>>("mux:0:0", "f").unwrap_err();
    assert_eq!(e.server_kind(), Some(ServerErrorKind::WrongType), "{e:?}");

    // A blocking command waits on a pooled connection, not on the shared one.
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let popped: Option<Vec<String>> = cmd("BLPOP")
                .arg("mux:empty")
                .arg(2)
                .query(&client)
                .expect("BLPOP");
            assert_eq!(popped, None);
            done.store(true, Ordering::SeqCst);
        });
        thread::sleep(Duration::from_millis(200));
        let got: Option<String> = client.get("mux:0:1").expect("GET while BLPOP waits");
        assert_eq!(got.as_deref(), Some("0/1"));
        assert!(!done.load(Ordering::SeqCst), "the GET waited for the BLPOP");
    });
    assert_eq!(client.pool().stats().created, 1);
    assert_eq!(clients(&mut raw), 3);
}
