//! The connect timeout bounds connecting as a whole, against peers written here that never
//! answer in time: a Unix socket whose accept queue is full, a server that sends its handshake
//! replies a byte at a time. Also: timeouts too large to add to a clock are "no timeout",
//! never a panic.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant};

use redis_conn::{Connection, ConnectionConfig, Error, Phase};
use socket2::{Domain, SockAddr, Socket, Type};

/// A server on a free loopback port that accepts one connection, reads what the client
/// writes, and answers `+OK\r\n` one byte every `pause`, for as long as the client listens.
fn byte_at_a_time_server(pause: Duration) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let server = thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let mut request = [0u8; 256];
        let _ = stream.read(&mut request);
        for &byte in b"+OK\r\n" {
            thread::sleep(pause);
            if stream.write_all(&[byte]).is_err() {
                return;
            }
        }
    });
    (port, server)
}

#[test]
fn a_handshake_answered_a_byte_at_a_time_ends_at_the_connect_timeout() {
    // Each byte comes before a per-read timeout of 400 ms would end, but the whole reply
    // takes 5 x 250 ms: longer than the connect timeout.
    let (port, server) = byte_at_a_time_server(Duration::from_millis(250));
    let config = ConnectionConfig::builder()
        .host("127.0.0.1")
        .port(port)
        .password("secret")
        .connect_timeout(Duration::from_millis(400))
        .build();
    let started = Instant::now();
    let result = Connection::open(&config);
    let took = started.elapsed();
    assert!(
        matches!(result, Err(Error::Timeout(Phase::Handshake))),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    server.join().expect("server thread");
}

#[test]
fn a_slow_handshake_within_the_connect_timeout_succeeds() {
    let (port, server) = byte_at_a_time_server(Duration::from_millis(20));
    let config = ConnectionConfig::builder()
        .host("127.0.0.1")
        .port(port)
        .password("secret")
        .connect_timeout(Duration::from_secs(5))
        .build();
    Connection::open(&config).expect("connected");
    server.join().expect("server thread");
}

#[test]
fn a_unix_socket_with_a_full_accept_queue_times_out() {
    let dir = std::env::temp_dir().join(format!("redis-conn-full-queue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("full.sock");
    let _ = std::fs::remove_file(&path);
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).expect("socket");
    listener
        .bind(&SockAddr::unix(&path).expect("address"))
        .expect("bind");
    // A backlog of 0, and nobody accepts: the queue fills after a connection or two.
    listener.listen(0).expect("listen");
    let config = ConnectionConfig::builder()
        .unix(&path)
        .connect_timeout(Duration::from_millis(200))
        .build();
    let mut queued = Vec::new();
    let mut outcome = None;
    for _ in 0..16 {
        let started = Instant::now();
        match Connection::open(&config) {
            // Connected (no handshake to run): it waits in the queue.
            Ok(conn) => queued.push(conn),
            Err(e) => {
                outcome = Some((e, started.elapsed()));
                break;
            }
        }
    }
    let (error, took) = outcome.expect("the queue never filled");
    assert!(
        matches!(error, Error::Timeout(Phase::Connecting)),
        "{error:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    drop(queued);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn timeouts_too_large_to_add_to_a_clock_mean_no_timeout() {
    let (port, server) = byte_at_a_time_server(Duration::from_millis(1));
    let config = ConnectionConfig::builder()
        .host("127.0.0.1")
        .port(port)
        .password("secret")
        .connect_timeout(Duration::MAX)
        .socket_timeout(Duration::MAX)
        .build();
    Connection::open(&config).expect("connected");
    server.join().expect("server thread");
    let from_url = ConnectionConfig::from_url("redis://127.0.0.1:1/?socket_timeout=1e19")
        .expect("a very large timeout is a valid one");
    assert!(from_url.connect_timeout().is_some());
}

#[test]
fn a_name_is_looked_up_within_the_connect_timeout() {
    // `localhost` goes through the system resolver (on a thread, because of the timeout);
    // the port is closed, so the lookup's success shows as a refused connect, not a lookup
    // error.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("address").port();
    drop(closed);
    let config = ConnectionConfig::builder()
        .host("localhost")
        .port(port)
        .connect_timeout(Duration::from_secs(5))
        .build();
    match Connection::open(&config) {
        Err(Error::Connect { .. }) => {}
        other => panic!("{other:?}"),
    }
}
