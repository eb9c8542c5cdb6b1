//! The [`RedisServer`] fixture itself: pause and resume, kill and restart on the same port,
//! Unix sockets, IPv6 loopback, extra arguments, cleanup on drop, and a clear failure when
//! `redis-server` is missing.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use resp_proto::Value;
use tests::{RawConnection, RawError, RedisServer};

fn pong() -> Value {
    Value::SimpleString(Bytes::from_static(b"PONG"))
}

fn bulk(text: &str) -> Value {
    Value::BulkString(Bytes::copy_from_slice(text.as_bytes()))
}

#[test]
fn pause_stalls_replies_and_resume_delivers_them() {
    let mut server = RedisServer::start();
    let mut conn = server.raw();
    assert_eq!(conn.request(["PING"]), pong());

    server.pause();
    conn.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("set timeout");
    conn.send(["PING"]).expect("the kernel accepts the bytes");
    let started = Instant::now();
    let err = conn.read_value().expect_err("no reply while paused");
    assert!(err.is_timeout(), "expected a read timeout, got {err}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    // Nothing partial arrived.
    assert!(conn.buffered().is_empty());

    server.resume();
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set timeout");
    assert_eq!(conn.read_value().expect("the delayed PONG"), pong());
    assert_eq!(conn.request(["PING"]), pong());
    // A connection made after the pause works too.
    assert_eq!(server.raw().request(["PING"]), pong());
}

#[test]
fn kill_and_restart_on_the_same_port() {
    let mut server = RedisServer::start();
    let port = server.port();
    let first_pid = server.pid().expect("running");
    let mut old = server.raw();
    assert_eq!(
        old.request(["SET", "k", "v"]),
        Value::SimpleString(Bytes::from_static(b"OK"))
    );

    server.kill();
    assert_eq!(server.pid(), None);
    // The old connection sees the close (EOF or reset), never a reply.
    match old.try_request(["PING"]) {
        Err(RawError::Closed { .. } | RawError::Io(_)) => {}
        other => panic!("expected a closed connection after kill, got {other:?}"),
    }
    let refused = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(1));
    assert!(
        refused.is_err(),
        "nothing should listen on {} after kill",
        server.addr()
    );

    server.restart();
    assert_eq!(server.port(), port, "restart keeps the port");
    let second_pid = server.pid().expect("running again");
    assert_ne!(first_pid, second_pid);
    let mut conn = server.raw();
    assert_eq!(conn.request(["PING"]), pong());
    // `--save ""`: the restarted server starts empty.
    assert_eq!(conn.request(["GET", "k"]), Value::Null);

    // Restart of a running (not killed) server works as well.
    server.restart();
    assert_eq!(server.port(), port);
    assert_eq!(server.raw().request(["PING"]), pong());
    assert!(
        server.log().matches("Ready to accept connections").count() >= 3,
        "the log keeps every run:\n{}",
        server.log()
    );
}

#[test]
fn pause_then_kill_and_drop_a_stopped_server() {
    let mut server = RedisServer::start();
    server.pause();
    // SIGKILL works on a stopped process; restart brings a fresh one up.
    server.restart();
    assert_eq!(server.raw().request(["PING"]), pong());
    server.pause();
    // Dropping while paused must not hang.
}

#[test]
fn unix_socket_alongside_tcp() {
    let server = RedisServer::builder().unix_socket().start();
    let path = server.unix_path();
    assert!(path.starts_with(server.dir()));
    let mode = std::fs::metadata(path)
        .expect("socket exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "--unixsocketperm 700");

    let mut unix = server.raw_unix();
    let mut tcp = server.raw();
    assert_eq!(
        unix.request(["SET", "shared", "yes"]),
        Value::SimpleString(Bytes::from_static(b"OK"))
    );
    assert_eq!(tcp.request(["GET", "shared"]), bulk("yes"));
    assert_eq!(unix.request(["PING"]), pong());
}

#[test]
fn unix_socket_only_has_no_tcp_listener() {
    let mut server = RedisServer::builder().unix_socket_only().start();
    let mut conn = server.raw_unix();
    assert_eq!(conn.request(["PING"]), pong());
    let Value::Array(port) = conn.request(["CONFIG", "GET", "port"]) else {
        panic!("CONFIG GET returns an array in RESP2");
    };
    assert_eq!(port[..], [bulk("port"), bulk("0")]);
    let result = std::panic::catch_unwind(|| server.port());
    assert!(result.is_err(), "port() must panic without TCP");

    // Restart over the leftover socket file.
    server.restart();
    assert_eq!(server.raw_unix().request(["PING"]), pong());
}

#[test]
fn ipv6_loopback() {
    // This machine has IPv6 loopback; if that ever changes the test says so instead of
    // skipping.
    let probe = TcpListener::bind("[::1]:0");
    assert!(
        probe.is_ok(),
        "IPv6 loopback ::1 is unavailable on this machine ({:?}); the IPv6 fixture cannot be \
         tested here",
        probe.err()
    );
    drop(probe);

    let server = RedisServer::builder().ipv6().start();
    assert_eq!(server.host(), "::1");
    assert!(server.addr().is_ipv6());
    let stream = server.connect();
    assert!(stream.peer_addr().expect("peer").ip().is_loopback());
    let mut conn = RawConnection::new(stream);
    assert_eq!(conn.request(["PING"]), pong());
    let Value::Array(bind) = conn.request(["CONFIG", "GET", "bind"]) else {
        panic!("CONFIG GET returns an array in RESP2");
    };
    assert_eq!(bind[..], [bulk("bind"), bulk("::1")]);
}

#[test]
fn extra_arguments_reach_the_server() {
    let server = RedisServer::builder()
        .arg("--requirepass")
        .arg("s3cret")
        .args(["--maxclients", "64"])
        .start();
    let mut conn = server.raw();
    let noauth = conn.request(["PING"]);
    assert!(
        noauth.as_error().is_some_and(|e| e.starts_with(b"NOAUTH")),
        "{noauth:?}"
    );
    assert_eq!(
        conn.request(["AUTH", "s3cret"]),
        Value::SimpleString(Bytes::from_static(b"OK"))
    );
    assert_eq!(
        conn.request(["CONFIG", "GET", "maxclients"]),
        Value::Array(vec![bulk("maxclients"), bulk("64")].into())
    );
}

#[test]
fn two_servers_get_different_ports_and_dirs() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.dir(), b.dir());
    a.raw().request(["SET", "only-in-a", "1"]);
    assert_eq!(b.raw().request(["EXISTS", "only-in-a"]), Value::Integer(0));
}

#[test]
fn drop_kills_the_process_and_removes_the_dir() {
    let server = RedisServer::builder().unix_socket().start();
    let pid = server.pid().expect("running");
    let dir = server.dir().to_owned();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(server.log().contains("Ready to accept connections"));
    drop(server);
    // The process was reaped by the fixture, so its /proc entry is gone at once.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "redis-server {pid} survived the fixture's drop"
    );
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

#[test]
#[should_panic(expected = "cargo xtask test")]
fn a_missing_binary_fails_loudly() {
    let _server = RedisServer::builder()
        .binary("/nonexistent/redis-server")
        .start();
}

#[test]
fn a_bad_argument_fails_with_the_log() {
    let result = std::panic::catch_unwind(|| {
        RedisServer::builder()
            .arg("--no-such-option")
            .arg("1")
            .start()
    });
    let payload = result.expect_err("the server must refuse an unknown option");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("exited during startup") && message.contains("no-such-option"),
        "{message}"
    );
}
