//! Pool integrity under faults: deadlines that cover the handshake, a responsive pool while
//! connects hang, server limits, chaos accounting, and no large buffers kept after big replies
//! (RELIABILITY.md section 6, tests 8, 15, 18, 21 and 22).

use std::thread;
use std::time::{Duration, Instant};

use redis_client::{Client, Error, Value, cmd};
use tests::eventually;
use tests::{Direction, FaultProxy, RedisServer};

fn connected_clients(server: &RedisServer) -> i64 {
    let mut raw = server.raw();
    let info = raw.request(["INFO", "clients"]);
    let text =
        String::from_utf8_lossy(info.as_bytes().expect("INFO is a bulk string")).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("connected_clients in INFO")
}

#[test]
fn the_connect_timeout_covers_a_stalled_handshake() {
    // RELIABILITY test 8: the server accepts the socket but answers nothing (CLIENT PAUSE ALL).
    let server = RedisServer::start();
    let mut raw = server.raw();
    raw.request(["CLIENT", "PAUSE", "1000", "ALL"]);
    let c = server
        .client_builder()
        .client_name("stalls")
        .connect_timeout(Duration::from_millis(100))
        .build();
    let started = Instant::now();
    let err = cmd("PING").query::<String, _>(&c).unwrap_err();
    let took = started.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert!(
        matches!(
            err,
            Error::Connection(redis_client::conn::Error::Timeout(
                redis_client::conn::Phase::Handshake
            ))
        ),
        "{err}"
    );
    assert!(took < Duration::from_millis(900), "took {took:?}");
    assert_eq!(c.pool().stats().in_use, 0);
}

#[test]
fn the_pool_stays_responsive_while_connects_hang() {
    // RELIABILITY test 18: a stalled connect must not hold the pool's lock.
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr());
    proxy.stall(Direction::ServerToClient);
    let c = Client::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .client_name("stalled")
        .connect_timeout(Duration::from_millis(800))
        .max_connections(8)
        .build();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            thread::spawn(move || cmd("PING").query::<String, _>(&c).is_err())
        })
        .collect();
    assert!(proxy.wait_for_open_connections(4, Duration::from_secs(5)));
    let started = Instant::now();
    for _ in 0..100 {
        let stats = c.pool().stats();
        assert!(stats.in_use <= 8);
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "stats() blocked: {:?}",
        started.elapsed()
    );
    for t in threads {
        assert!(t.join().unwrap(), "the stalled connects failed");
    }
    assert_eq!(c.pool().stats().in_use, 0);
}

/// With a password, the refusal answers AUTH: it is still reported as what it is, not as
/// wrong credentials.
#[test]
fn a_maxclients_refusal_of_auth_is_not_an_authentication_failure() {
    let server = RedisServer::builder()
        .args(["--maxclients", "1", "--requirepass", "pw"])
        .start();
    let c = server
        .client_builder()
        .password("pw")
        .max_connections(4)
        .build();
    let first = c.get_connection().unwrap();
    let mut err = None;
    for _ in 0..20 {
        match c.get_connection() {
            Ok(mut conn) => {
                if let Err(e) = cmd("PING").query::<String, _>(&mut conn) {
                    err = Some(e);
                    break;
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("the second connection was refused");
    assert!(err.to_string().contains("max number of clients"), "{err}");
    assert!(!matches!(err, Error::Auth(_)), "{err:?}");
    drop(first);
}

#[test]
fn maxclients_refusals_are_clear_and_the_pool_stays_consistent() {
    // RELIABILITY test 21 (a): the server accepts only a few clients.
    let server = RedisServer::builder().args(["--maxclients", "4"]).start();
    let c = server
        .client_builder()
        .max_connections(10)
        .pool_timeout(Some(Duration::from_secs(2)))
        .build();
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..10 {
        match c.get_connection() {
            Ok(mut conn) => match cmd("PING").query::<String, _>(&mut conn) {
                Ok(_) => held.push(conn),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            },
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("the server refused a client");
    assert!(err.to_string().contains("max number of clients"), "{err}");
    assert!(held.len() <= 4, "{}", held.len());
    drop(held);
    let stats = c.pool().stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
    // Once the server has noticed the closed connections, there is room again.
    assert!(eventually(Duration::from_secs(5), || {
        cmd("PING")
            .query::<String, _>(&c)
            .is_ok_and(|pong| pong == "PONG")
    }));
    assert_eq!(c.pool().stats().in_use, 0);
}

#[test]
fn an_output_buffer_limit_disconnect_is_clean_and_the_client_recovers() {
    // RELIABILITY test 21 (b): the server drops a client whose replies pile up.
    let server = RedisServer::builder()
        .args(["--client-output-buffer-limit", "normal 1mb 0 0"])
        .start();
    let c = Client::open(&format!("redis://127.0.0.1:{}", server.port())).unwrap();
    cmd("SET")
        .arg("big")
        .arg(vec![b'x'; 64 * 1024])
        .execute(&c)
        .unwrap();
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for _ in 0..1000 {
        pipe.cmd("GET").arg("big");
    }
    let err = pipe.execute().unwrap_err();
    assert!(err.is_connection(), "{err}");
    let pong: String = cmd("PING").query(&c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(c.pool().stats().closed_broken >= 1);
}

#[test]
fn chaos_leaves_no_leaked_connection() {
    // RELIABILITY test 15, scaled to a 2-core machine: threads mixing normal commands, read
    // timeouts, server-side kills and panics; afterwards every count adds up.
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .socket_timeout(Duration::from_millis(100))
        .max_connections(6)
        .build();
    let baseline = connected_clients(&server);
    let threads: Vec<_> = (0..6u64)
        .map(|t| {
            let c = c.clone();
            let port = server.port();
            thread::spawn(move || {
                let mut seed = t * 7919 + 1;
                for i in 0..150u64 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    match seed % 10 {
                        0 => {
                            // A read timeout: the server blocks longer than the client waits.
                            let _ = cmd("BLPOP")
                                .arg(format!("chaos:{t}"))
                                .arg(0.3)
                                .query::<Value, _>(&c);
                        }
                        1 => {
                            // The server kills every other normal client.
                            let killer = Client::builder().host("127.0.0.1").port(port).build();
                            let _ = cmd("CLIENT")
                                .arg("KILL")
                                .arg("TYPE")
                                .arg("normal")
                                .arg("SKIPME")
                                .arg("yes")
                                .query::<Value, _>(&killer);
                        }
                        2 => {
                            // A panic while a connection is checked out.
                            let c = c.clone();
                            let _ = thread::spawn(move || {
                                let mut conn = c.get_connection().unwrap();
                                conn.connection().send(&["GET", "x"]).unwrap();
                                panic!("chaos");
                            })
                            .join();
                        }
                        _ => {
                            let key = format!("chaos:{t}:{i}");
                            if cmd("SET").arg(&key).arg(&key).execute(&c).is_ok()
                                && let Ok(Some(v)) =
                                    cmd("GET").arg(&key).query::<Option<String>, _>(&c)
                            {
                                assert_eq!(v, key, "a reply went to the wrong request");
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = c.pool().stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
    assert!(stats.idle <= 6, "{stats:?}");
    let closed = stats.closed_broken
        + stats.closed_dirty
        + stats.closed_stale
        + stats.closed_health_check
        + stats.closed_cleared;
    assert_eq!(stats.created - closed, stats.idle as u64, "{stats:?}");
    // No socket leaked: once the pool closes what it holds, the server sees only the baseline.
    // (An idle connection that a late CLIENT KILL closed is still counted idle by the pool
    // until its next checkout, so the count is compared after clearing, not before.)
    c.pool().clear();
    assert!(
        eventually(Duration::from_secs(5), || connected_clients(&server)
            == baseline),
        "connected {} vs baseline {baseline}",
        connected_clients(&server)
    );
}

#[test]
fn big_replies_leave_no_big_buffers_behind() {
    // RELIABILITY test 22: after a 16 MiB reply is read and dropped, the pooled connection
    // keeps a small read buffer; reading it again works.
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(1).build();
    cmd("SET")
        .arg("big")
        .arg(vec![b'y'; 16 << 20])
        .execute(&c)
        .unwrap();
    for _ in 0..3 {
        let v: Vec<u8> = cmd("GET").arg("big").query(&c).unwrap();
        assert_eq!(v.len(), 16 << 20);
    }
    let debug = format!("{:?}", c.get_connection().unwrap().connection());
    assert!(debug.contains("buffered_bytes: 0"), "{debug}");
    let capacity: usize = debug
        .split("read_capacity: ")
        .nth(1)
        .and_then(|rest| rest.split(|ch: char| !ch.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("read_capacity in Debug");
    assert!(
        capacity <= 64 * 1024,
        "the connection kept {capacity} bytes of read buffer"
    );
}

#[test]
fn a_late_reply_after_a_blackhole_reaches_nobody() {
    // RELIABILITY test 3, with the proxy as the blackhole (a stalled direction keeps the
    // sockets open and silent, as a downed link does) instead of a network namespace.
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr());
    let c = Client::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .socket_timeout(Duration::from_millis(150))
        .max_connections(1)
        .build();
    cmd("SET").arg("k").arg("own-value").execute(&c).unwrap();
    proxy.stall(Direction::ServerToClient);
    let err = cmd("PING").query::<String, _>(&c).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // The link comes back and the late +PONG is delivered to the old socket.
    proxy.resume(Direction::ServerToClient);
    let v: String = cmd("GET").arg("k").query(&c).unwrap();
    assert_eq!(v, "own-value", "the late PONG was not taken as this reply");
    let stats = c.pool().stats();
    assert_eq!((stats.closed_broken, stats.created), (1, 2), "{stats:?}");
}

/// A connection whose state was set up after the handshake (a cluster replica's READONLY)
/// is not reconnected in place by the health check: the check fails instead, so that a pool
/// opens a new one through its connector. An ordinary connection reconnects.
#[test]
fn a_connection_that_must_not_reconnect_in_place_fails_its_health_check() {
    let mut server = RedisServer::start();
    let config = server
        .client_builder()
        .health_check_interval(Duration::from_millis(10))
        .build()
        .pool()
        .config()
        .clone();
    let mut ordinary = redis_client::conn::Connection::open(&config).unwrap();
    let mut pinned = redis_client::conn::Connection::open(&config).unwrap();
    pinned.never_reconnect_in_place();
    server.restart();
    thread::sleep(Duration::from_millis(30));
    let now = Instant::now();
    assert!(ordinary.check_health(now).is_ok(), "reconnected in place");
    assert!(pinned.check_health(now).is_err());
}
