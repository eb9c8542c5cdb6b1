//! Fault injection with the [`FaultProxy`] and scripted fake servers (RELIABILITY.md section
//! 6, tests 1, 2, 11, 51, 54 and 56): late and partial replies, resets after the write,
//! hostile headers, garbage peers, and server-state errors that must leave the connection
//! usable.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use redis_client::conn::{self, Phase};
use redis_client::proto::{Decoder, ErrorKind};
use redis_client::{Client, Error, ServerErrorKind, Value, cmd};
use tests::eventually;
use tests::{Direction, FaultProxy, RawConnection, RawError, RedisServer};

const S2C: Direction = Direction::ServerToClient;
const C2S: Direction = Direction::ClientToServer;

/// A tiny deterministic generator (xorshift64*), so no `rand` dependency is needed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn bulk(text: &str) -> Value {
    Value::BulkString(bytes::Bytes::copy_from_slice(text.as_bytes()))
}

/// A pooled client of one connection to `port` on 127.0.0.1.
fn one_connection(port: u16, socket_timeout: Duration) -> Client {
    Client::builder()
        .host("127.0.0.1")
        .port(port)
        .socket_timeout(socket_timeout)
        .connect_timeout(Duration::from_secs(5))
        .max_connections(1)
        .build()
}

fn get(client: &Client, key: &str) -> Result<Option<String>, Error> {
    cmd("GET").arg(key).query::<Option<String>, _>(client)
}

/// Calls of `command` the server counted (`INFO commandstats`).
fn calls(raw: &mut RawConnection, command: &str) -> u64 {
    let Value::BulkString(info) = raw.request(["INFO", "commandstats"]) else {
        panic!("INFO commandstats");
    };
    let info = String::from_utf8_lossy(&info).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// A scripted fake server.

/// One connection of a [`FakeServer`], with helpers for scripts.
struct Peer {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl Peer {
    /// Reads one command (an array of bulk strings) within `limit`; `None` when the client
    /// closed the connection or nothing complete came in time.
    fn command(&mut self, limit: Duration) -> Option<Vec<String>> {
        let deadline = Instant::now() + limit;
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Value::Array(args))) => {
                    return Some(
                        args.iter()
                            .map(|a| {
                                String::from_utf8_lossy(a.as_bytes().map_or(&[][..], |b| &b[..]))
                                    .into_owned()
                            })
                            .collect(),
                    );
                }
                Ok(Some(other)) => panic!("the client sent {other:?}"),
                Ok(None) => {}
                Err(e) => panic!("the client sent invalid RESP: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return None,
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        // The client may have gone already; scripts check that separately.
        let _ = self.stream.write_all(bytes);
    }

    /// Waits up to `limit` for the client to close the connection; anything it sends
    /// meanwhile is collected. Returns whether it closed, and what it sent.
    fn closed_by_client(&mut self, limit: Duration) -> (bool, Vec<u8>) {
        let deadline = Instant::now() + limit;
        let mut extra = self.buf.to_vec();
        let mut chunk = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) => return (true, extra),
                Ok(n) => extra.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return (true, extra),
            }
        }
        (false, extra)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// A fake Redis on loopback: runs `script(n, peer)` for the n-th accepted connection (from
/// 0), each on its own thread, for at most `max_conns` connections accepted within 20 s. The
/// scripts' results come back, in connection order, from [`FakeServer::finish`].
struct FakeServer<T> {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<T>>>,
}

impl<T: Send + 'static> FakeServer<T> {
    fn start(
        max_conns: usize,
        script: impl Fn(usize, &mut Peer) -> T + Send + Sync + 'static,
    ) -> FakeServer<T> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(script);
        let handle = {
            let accepted = Arc::clone(&accepted);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                let mut scripts = Vec::new();
                while scripts.len() < max_conns
                    && Instant::now() < deadline
                    && !stop.load(Ordering::Acquire)
                {
                    let stream = match listener.accept() {
                        Ok((s, _)) => s,
                        Err(_) => {
                            thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                    };
                    let n = accepted.fetch_add(1, Ordering::AcqRel);
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_millis(10)))
                        .unwrap();
                    stream
                        .set_write_timeout(Some(Duration::from_secs(2)))
                        .unwrap();
                    let mut peer = Peer {
                        stream,
                        buf: BytesMut::new(),
                        decoder: Decoder::new(),
                    };
                    let script = Arc::clone(&script);
                    scripts.push(thread::spawn(move || script(n, &mut peer)));
                }
                scripts
                    .into_iter()
                    .map(|s| s.join().expect("a fake server script panicked"))
                    .collect()
            })
        };
        FakeServer {
            port,
            accepted,
            stop,
            handle: Some(handle),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Acquire)
    }

    /// Stops accepting and returns what the scripts returned.
    fn finish(mut self) -> Vec<T> {
        self.stop.store(true, Ordering::Release);
        self.handle
            .take()
            .expect("finished once")
            .join()
            .expect("the fake server failed")
    }
}

impl<T> Drop for FakeServer<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            // A script's panic was reported by `finish`, or the test failed already.
            let _ = handle.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// The proxy itself.

#[test]
fn the_proxy_forwards_counts_and_records() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr());
    let mut raw = RawConnection::new(TcpStream::connect(proxy.addr()).unwrap());
    assert_eq!(raw.request(["PING"]), Value::SimpleString("PONG".into()));
    assert_eq!(proxy.connections(), 1);
    assert_eq!(proxy.open_connections(), 1);
    assert_eq!(proxy.bytes_seen(C2S), 14);
    // Counted just after the write, which may be a moment after the reply came back.
    assert!(proxy.wait_for_bytes_forwarded(C2S, 14, Duration::from_secs(1)));
    assert_eq!(proxy.bytes_forwarded(C2S), 14);
    assert_eq!(proxy.recorded(C2S), b"*1\r\n$4\r\nPING\r\n");
    assert!(proxy.wait_for_bytes_forwarded(S2C, 7, Duration::from_secs(1)));
    assert_eq!(proxy.recorded(S2C), b"+PONG\r\n");
    drop(raw);
    assert!(proxy.wait_for_open_connections(0, Duration::from_secs(2)));
    assert_eq!(proxy.failed_connects(), 0);
}

#[test]
fn the_proxy_delays_stalls_and_resumes() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr());
    let mut raw = RawConnection::new(TcpStream::connect(proxy.addr()).unwrap());

    proxy.delay(S2C, Duration::from_millis(200));
    let started = Instant::now();
    assert_eq!(raw.request(["PING"]), Value::SimpleString("PONG".into()));
    assert!(started.elapsed() >= Duration::from_millis(190));
    proxy.delay(S2C, Duration::ZERO);

    proxy.stall(S2C);
    raw.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    raw.send(["PING"]).unwrap();
    assert!(proxy.wait_for_bytes_seen(C2S, 28, Duration::from_secs(2)));
    assert!(raw.read_value().unwrap_err().is_timeout());
    proxy.resume(S2C);
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        raw.read_value().unwrap(),
        Value::SimpleString("PONG".into())
    );

    // Lifting a delay releases what it held at once.
    proxy.delay(S2C, Duration::from_secs(30));
    raw.send(["PING"]).unwrap();
    assert!(proxy.wait_for_bytes_seen(S2C, 21, Duration::from_secs(2)));
    proxy.clear();
    let started = Instant::now();
    assert_eq!(
        raw.read_value().unwrap(),
        Value::SimpleString("PONG".into())
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_proxy_truncates_cuts_and_resets() {
    let server = RedisServer::start();
    server.raw().request(["SET", "k", "hello"]);
    let proxy = FaultProxy::start(server.addr());
    let connect = || {
        let mut raw = RawConnection::new(TcpStream::connect(proxy.addr()).unwrap());
        raw.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        raw
    };

    let mut raw = connect();
    proxy.truncate_after(S2C, 3);
    raw.send(["GET", "k"]).unwrap();
    assert!(raw.read_value().unwrap_err().is_timeout());
    assert_eq!(raw.buffered(), b"$5\r");
    proxy.resume(S2C);
    // The rest of that reply was dropped for good; a new connection is served again.
    let mut raw = connect();
    assert_eq!(
        raw.request(["GET", "k"]),
        bulk("hello"),
        "forwarding resumed"
    );

    let mut raw = connect();
    proxy.cut_after(S2C, 3);
    raw.send(["GET", "k"]).unwrap();
    assert!(
        matches!(raw.read_value(), Err(RawError::Closed { buffered: 3 })),
        "a FIN after 3 bytes"
    );

    let mut raw = connect();
    proxy.reset_after(S2C, 0);
    raw.send(["GET", "k"]).unwrap();
    match raw.read_value() {
        Err(RawError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        other => panic!("expected a reset, got {other:?}"),
    }

    // Faults are one-shot: the next connection is clean.
    let mut raw = connect();
    assert_eq!(raw.request(["GET", "k"]), bulk("hello"));
    proxy.reset_all();
    assert!(matches!(raw.try_request(["PING"]), Err(RawError::Io(_))));
    assert!(proxy.wait_for_open_connections(0, Duration::from_secs(2)));
}

// ---------------------------------------------------------------------------------------
// Tests 1 and 4: timeouts mid-reply.

#[test]
fn a_delayed_reply_times_out_and_its_connection_is_discarded() {
    // RELIABILITY test 1: the proxy delays the reply past the read timeout. (The timeout is
    // 200 ms rather than 50 ms so that an undelayed request cannot time out on a loaded
    // machine.)
    let server = RedisServer::start();
    let mut raw = server.raw();
    raw.request(["MSET", "foo", "value-of-foo", "bar", "value-of-bar"]);
    let proxy = FaultProxy::start(server.addr());
    let client = one_connection(proxy.port(), Duration::from_millis(200));
    assert_eq!(
        get(&client, "bar").unwrap().as_deref(),
        Some("value-of-bar")
    );

    proxy.delay(S2C, Duration::from_millis(1000));
    let started = Instant::now();
    let err = get(&client, "foo").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, Error::Connection(conn::Error::Timeout(Phase::Reading))),
        "{err:?}"
    );
    assert!(
        err.is_timeout() && !err.is_retryable(),
        "outcome unknown: {err}"
    );
    let stats = client.pool().stats();
    assert_eq!(
        (stats.closed_broken, stats.in_use, stats.idle),
        (1, 0, 0),
        "{stats:?}"
    );

    proxy.delay(S2C, Duration::ZERO);
    assert_eq!(
        get(&client, "bar").unwrap().as_deref(),
        Some("value-of-bar")
    );
    assert_eq!(
        get(&client, "foo").unwrap().as_deref(),
        Some("value-of-foo")
    );
    let stats = client.pool().stats();
    assert_eq!((stats.created, stats.closed_broken), (2, 1), "{stats:?}");
    // The late reply went to the closed socket, never to a caller; the proxy drops it and
    // the dead connection.
    assert!(proxy.wait_for_open_connections(1, Duration::from_secs(3)));
}

#[test]
fn random_delays_never_misattribute_a_reply() {
    // RELIABILITY test 1, the loop: each value embeds its key.
    let server = RedisServer::start();
    let mut raw = server.raw();
    let keys = 100;
    let mut mset = vec!["MSET".to_owned()];
    for i in 0..keys {
        mset.push(format!("key:{i}"));
        mset.push(format!("value-of-key:{i}"));
    }
    raw.request(&mset);
    let proxy = FaultProxy::start(server.addr());
    let client = one_connection(proxy.port(), Duration::from_millis(80));
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let (mut ok, mut timed_out) = (0u64, 0u64);
    let started = Instant::now();
    for i in 0..keys {
        let delay = if rng.below(2) == 0 { 0 } else { rng.below(200) };
        proxy.delay(S2C, Duration::from_millis(delay));
        let key = format!("key:{i}");
        match get(&client, &key) {
            Ok(value) => {
                assert_eq!(
                    value.as_deref(),
                    Some(format!("value-of-{key}").as_str()),
                    "iteration {i} got another request's reply"
                );
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_timeout(), "iteration {i}: {e:?}");
                timed_out += 1;
            }
        }
    }
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(ok > 0 && timed_out > 0, "ok={ok} timed_out={timed_out}");
    let stats = client.pool().stats();
    assert_eq!(stats.closed_broken, timed_out, "{stats:?}");
    assert_eq!(stats.in_use, 0);
    proxy.clear();
    assert!(
        proxy.wait_for_open_connections(1, Duration::from_secs(5)),
        "only the pooled connection stays open, not {}",
        proxy.open_connections()
    );
}

/// A plain pipeline of `GET key:0` .. `GET key:<n-1>`.
fn gets(client: &Client, n: usize) -> redis_client::Pipeline {
    let mut pipe = client.pipeline();
    pipe.transaction(false);
    for i in 0..n {
        pipe.cmd("GET").arg(format!("key:{i}"));
    }
    pipe
}

#[test]
fn a_pipeline_that_stalls_part_way_fails_whole_and_the_next_is_aligned() {
    // RELIABILITY test 4: 100 commands, 37 replies, then silence (and then, a FIN).
    let server = RedisServer::start();
    let mut raw = server.raw();
    let mut mset = vec!["MSET".to_owned()];
    for i in 0..100 {
        mset.push(format!("key:{i}"));
        mset.push(format!("value-of-key:{i}"));
    }
    raw.request(&mset);
    let proxy = FaultProxy::start(server.addr());
    let client = one_connection(proxy.port(), Duration::from_millis(300));
    // The wire size of the first 37 replies.
    let first_37: usize = (0..37)
        .map(|i| {
            let value = format!("value-of-key:{i}");
            format!("${}\r\n{value}\r\n", value.len()).len()
        })
        .sum();
    for (round, cut) in [(1, false), (2, true)] {
        if cut {
            proxy.cut_after(S2C, first_37 as u64);
        } else {
            proxy.truncate_after(S2C, first_37 as u64);
        }
        let err = gets(&client, 100).execute().unwrap_err();
        if cut {
            assert!(
                matches!(err, Error::Connection(conn::Error::Closed(Phase::Reading))),
                "{err:?}"
            );
        } else {
            assert!(err.is_timeout() && !err.is_retryable(), "{err:?}");
        }
        assert!(proxy.wait_for_bytes_forwarded(
            S2C,
            (first_37 * round) as u64,
            Duration::from_secs(1)
        ));
        proxy.resume(S2C);
        let stats = client.pool().stats();
        assert_eq!(
            (stats.closed_broken, stats.in_use),
            (round as u64, 0),
            "{stats:?}"
        );
        // The next pipeline, on a fresh connection, gets exactly its own replies.
        let results = gets(&client, 100).execute().unwrap();
        assert_eq!(results.len(), 100);
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(
                result.unwrap(),
                bulk(&format!("value-of-key:{i}")),
                "reply {i}"
            );
        }
    }
    // A transaction stalled inside EXEC's array fails whole too.
    proxy.truncate_after(S2C, 5 + 100 * 9 + 6);
    let mut tx = gets(&client, 100);
    tx.transaction(true);
    let err = tx.execute().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    proxy.resume(S2C);
    let all: Vec<String> = tx.query().unwrap();
    assert_eq!(all[99], "value-of-key:99");
}

// ---------------------------------------------------------------------------------------
// Test 2: half a frame, then a stall.

#[test]
fn half_a_frame_then_a_stall_is_a_timeout_and_the_rest_reaches_nobody() {
    // RELIABILITY test 2.
    let fake = FakeServer::start(2, |n, peer| {
        let command = peer.command(Duration::from_secs(5));
        match n {
            0 => {
                assert_eq!(command.as_deref(), Some(&["GET".into(), "k1".into()][..]));
                peer.send(b"$4\r\nk");
                thread::sleep(Duration::from_millis(700));
                peer.send(b"ey1\r\n");
                peer.closed_by_client(Duration::from_secs(3))
            }
            _ => {
                assert_eq!(command.as_deref(), Some(&["GET".into(), "k2".into()][..]));
                peer.send(b"$4\r\nkey2\r\n");
                peer.closed_by_client(Duration::from_secs(3))
            }
        }
    });
    let client = one_connection(fake.port, Duration::from_millis(250));
    let err = get(&client, "k1").unwrap_err();
    assert!(
        matches!(err, Error::Connection(conn::Error::Timeout(Phase::Reading))),
        "{err:?}"
    );
    assert_eq!(client.pool().stats().closed_broken, 1);
    // The next request goes to a fresh connection and gets its own reply, not `key1` nor a
    // mix of the two.
    assert_eq!(get(&client, "k2").unwrap().as_deref(), Some("key2"));
    assert_eq!(fake.accepted(), 2);
    drop(client);
    let results = fake.finish();
    assert_eq!(results.len(), 2);
    for (closed, extra) in results {
        assert!(closed, "the client closed each connection");
        assert!(extra.is_empty(), "nothing more was sent: {extra:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Test 11: no silent retry after the write.

#[derive(Debug, Clone, Copy)]
enum AfterWrite {
    /// The reply is replaced by an RST.
    Reset,
    /// The reply is replaced by a FIN.
    Eof,
    /// Half the reply (`:`), then a FIN.
    HalfThenEof,
}

fn arm(proxy: &FaultProxy, fault: AfterWrite) {
    match fault {
        AfterWrite::Reset => proxy.reset_after(S2C, 0),
        AfterWrite::Eof => proxy.cut_after(S2C, 0),
        AfterWrite::HalfThenEof => proxy.cut_after(S2C, 1),
    }
}

#[test]
fn an_incr_whose_reply_is_lost_is_not_sent_again() {
    // RELIABILITY test 11: the request reaches the server, the reply never reaches the
    // client.
    let server = RedisServer::start();
    let mut raw = server.raw();
    raw.request(["SET", "c", "0"]);
    let proxy = FaultProxy::start(server.addr());
    let client = one_connection(proxy.port(), Duration::from_secs(5));
    let faults = [AfterWrite::Reset, AfterWrite::Eof, AfterWrite::HalfThenEof];
    for (round, fault) in (1..).zip(faults) {
        // A pooled connection is ready, so a resend would need a new one.
        assert_eq!(cmd("PING").query::<String, _>(&client).unwrap(), "PONG");
        let connections = proxy.connections();
        arm(&proxy, fault);
        let started = Instant::now();
        let err = cmd("INCR").arg("c").query::<i64, _>(&client).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{fault:?}");
        assert!(
            err.is_connection() && !err.is_timeout(),
            "{fault:?}: {err:?}"
        );
        assert!(
            !err.is_retryable(),
            "{fault:?}: the INCR may have run: {err}"
        );
        match fault {
            AfterWrite::Reset => assert!(
                matches!(
                    err,
                    Error::Connection(conn::Error::Io {
                        phase: Phase::Reading,
                        ..
                    })
                ),
                "{err:?}"
            ),
            AfterWrite::Eof | AfterWrite::HalfThenEof => assert!(
                matches!(err, Error::Connection(conn::Error::Closed(Phase::Reading))),
                "{fault:?}: {err:?}"
            ),
        }
        assert_eq!(
            proxy.connections(),
            connections,
            "{fault:?}: no new connection"
        );
        assert_eq!(
            raw.request(["GET", "c"]),
            bulk(&round.to_string()),
            "{fault:?}"
        );
    }
    assert_eq!(calls(&mut raw, "incr"), 3);
    assert_eq!(client.pool().stats().closed_broken, 3);

    // A timeout after the write is not retried either (retry_on_timeout is off by default).
    let short = one_connection(proxy.port(), Duration::from_millis(300));
    assert_eq!(cmd("PING").query::<String, _>(&short).unwrap(), "PONG");
    proxy.stall(S2C);
    let err = cmd("INCR").arg("c").query::<i64, _>(&short).unwrap_err();
    assert!(err.is_timeout() && !err.is_retryable(), "{err:?}");
    proxy.clear();
    assert_eq!(raw.request(["GET", "c"]), bulk("4"));
    assert_eq!(calls(&mut raw, "incr"), 4);
}

#[test]
fn at_most_once_over_many_lost_replies() {
    // RELIABILITY test 11, Lettuce style: the server's count of INCRs equals the counter, and
    // the client saw exactly the replies that arrived.
    let server = RedisServer::start();
    let mut raw = server.raw();
    let proxy = FaultProxy::start(server.addr());
    let client = one_connection(proxy.port(), Duration::from_secs(5));
    let runs = 90;
    let mut ok = 0;
    let mut last = 0;
    for i in 0..runs {
        match i % 3 {
            0 => {}
            1 => arm(&proxy, AfterWrite::Reset),
            _ => arm(&proxy, AfterWrite::Eof),
        }
        match cmd("INCR").arg("c").query::<i64, _>(&client) {
            Ok(n) => {
                assert_eq!(i % 3, 0, "run {i}: a reply got through a fault");
                assert!(n > last, "replies only grow");
                last = n;
                ok += 1;
            }
            Err(e) => assert!(e.is_connection() && !e.is_retryable(), "run {i}: {e:?}"),
        }
    }
    assert_eq!(ok, runs / 3);
    assert_eq!(raw.request(["GET", "c"]), bulk(&runs.to_string()));
    assert_eq!(calls(&mut raw, "incr"), runs);
}

// ---------------------------------------------------------------------------------------
// Test 51: huge headers from a hostile server.

/// Serves one header per connection after reading the request, then stalls until the client
/// closes. Returns whether each connection was closed by the client within 4 s (longer than
/// the clients' 3 s timeout).
fn hostile(headers: &'static [&'static [u8]]) -> FakeServer<bool> {
    FakeServer::start(headers.len(), move |n, peer| {
        assert!(peer.command(Duration::from_secs(5)).is_some());
        peer.send(headers[n]);
        peer.closed_by_client(Duration::from_secs(4)).0
    })
}

fn expect_limit_error(client: &Client, header: &[u8], kinds: &[ErrorKind]) {
    let started = Instant::now();
    let err = get(client, "k").unwrap_err();
    let elapsed = started.elapsed();
    let header = String::from_utf8_lossy(header);
    assert!(
        elapsed < Duration::from_millis(1000),
        "{header:?}: the error must come before the 3 s timeout, took {elapsed:?}: {err}"
    );
    match &err {
        Error::Connection(conn::Error::Protocol(e)) => {
            assert!(kinds.contains(&e.kind()), "{header:?}: {e:?}");
        }
        other => panic!("{header:?}: expected a protocol error, got {other:?}"),
    }
}

#[test]
fn headers_beyond_the_limits_fail_at_once() {
    // RELIABILITY test 51. A decoder that allocated for these lengths would abort the
    // process.
    const HEADERS: &[&[u8]] = &[
        b"%4611686018427387904\r\n",
        b"$9223372036854775807\r\n",
        b"$536870913\r\n",
        b"*99999999999999999999\r\n",
    ];
    let fake = hostile(HEADERS);
    let client = one_connection(fake.port, Duration::from_secs(3));
    let too_long = [
        ErrorKind::AggregateTooLong,
        ErrorKind::BulkTooLong,
        ErrorKind::InvalidLength,
    ];
    for header in HEADERS {
        expect_limit_error(&client, header, &too_long);
    }
    assert_eq!(client.pool().stats().closed_broken, HEADERS.len() as u64);
    drop(client);
    let closed = fake.finish();
    assert_eq!(
        closed,
        vec![true; HEADERS.len()],
        "each connection was closed"
    );
}

#[test]
fn an_array_header_of_four_billion_elements_fails_at_once() {
    // RELIABILITY test 51 lists `*4294967295` (the 12-byte header of the hiredis advisory)
    // among the headers that must fail at once, before any element arrives.
    const HEADERS: &[&[u8]] = &[b"*4294967295\r\n"];
    let fake = hostile(HEADERS);
    let client = one_connection(fake.port, Duration::from_secs(3));
    expect_limit_error(&client, HEADERS[0], &[ErrorKind::AggregateTooLong]);
    drop(client);
    assert_eq!(fake.finish(), vec![true]);
}

// ---------------------------------------------------------------------------------------
// Test 54: a garbage peer.

const HTTP_400: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nBad Request";

/// A TLS 1.2 ServerHello record header and the start of its body.
const SERVER_HELLO: &[u8] = b"\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03\x12\x34\x56\x78";

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = XorShift(seed);
    (0..len).map(|_| rng.next().to_le_bytes()[3]).collect()
}

/// Answers every connection's first command with `garbage`, then holds it up to 2 s.
fn garbage_peer(garbage: Vec<Vec<u8>>) -> FakeServer<bool> {
    FakeServer::start(garbage.len(), move |n, peer| {
        if peer.command(Duration::from_secs(5)).is_none() {
            return false;
        }
        peer.send(&garbage[n]);
        peer.closed_by_client(Duration::from_secs(2)).0
    })
}

fn garbage_cases() -> Vec<(String, Vec<u8>)> {
    let mut cases = vec![
        ("HTTP 400".to_owned(), HTTP_400.to_vec()),
        ("TLS ServerHello".to_owned(), SERVER_HELLO.to_vec()),
        (
            "SSH banner".to_owned(),
            b"SSH-2.0-OpenSSH_9.2p1\r\n\x00\x00".to_vec(),
        ),
    ];
    for seed in [1u64, 0xDEAD_BEEF, 0x5EED_5EED_5EED] {
        cases.push((
            format!("random bytes, seed {seed:#x}"),
            random_bytes(seed, 512),
        ));
    }
    cases
}

fn expect_protocol_error(err: &Error, case: &str) {
    assert!(
        matches!(err, Error::Connection(conn::Error::Protocol(_))),
        "{case}: expected a protocol error, got {err:?}"
    );
    assert!(err.is_connection() && !err.is_retryable(), "{case}");
}

#[test]
fn a_garbage_peer_is_a_protocol_error_never_a_hang() {
    // RELIABILITY test 54, on a request.
    let cases = garbage_cases();
    let fake = garbage_peer(cases.iter().map(|(_, g)| g.clone()).collect());
    let client = one_connection(fake.port, Duration::from_secs(3));
    for (case, _) in &cases {
        let started = Instant::now();
        let err = cmd("PING").query::<String, _>(&client).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{case}: {err}");
        expect_protocol_error(&err, case);
    }
    assert_eq!(client.pool().stats().closed_broken, cases.len() as u64);
    drop(client);
    assert_eq!(fake.finish(), vec![true; cases.len()]);
}

#[test]
fn a_garbage_peer_fails_the_handshake() {
    // RELIABILITY test 54, with a password: the garbage answers AUTH.
    let cases = garbage_cases();
    let fake = garbage_peer(cases.iter().map(|(_, g)| g.clone()).collect());
    let client = Client::builder()
        .host("127.0.0.1")
        .port(fake.port)
        .password("pw-for-garbage")
        .socket_timeout(Duration::from_secs(3))
        .build();
    for (case, _) in &cases {
        let started = Instant::now();
        let err = cmd("PING").query::<String, _>(&client).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1), "{case}: {err}");
        expect_protocol_error(&err, case);
        assert!(!format!("{err} {err:?}").contains("pw-for-garbage"));
    }
    let stats = client.pool().stats();
    assert_eq!(
        (stats.created, stats.in_use, stats.idle),
        (0, 0, 0),
        "{stats:?}"
    );
    drop(client);
    assert_eq!(fake.finish(), vec![true; cases.len()]);
}

// ---------------------------------------------------------------------------------------
// Test 56: server-state errors map to kinds and leave the connection usable.

/// Checks the error's kind and code, then that the same pooled connection still works.
fn server_error_keeps_the_connection(
    client: &Client,
    err: &Error,
    kind: ServerErrorKind,
    code: &str,
) {
    assert_eq!(err.server_kind(), Some(kind), "{err:?}");
    let server_error = err.server_error().expect("a server error");
    assert_eq!(server_error.code(), code, "{err}");
    assert!(!err.is_connection(), "{err:?}");
    let before = client.pool().stats();
    // INFO is served even by a stale replica.
    let info: String = cmd("INFO").arg("server").query(client).unwrap();
    assert!(info.contains("redis_version"), "{info}");
    let after = client.pool().stats();
    assert_eq!(
        after.created, before.created,
        "the connection was kept: {after:?}"
    );
    assert_eq!(after.closed_broken, 0, "{after:?}");
}

#[test]
fn out_of_memory_is_an_oom_error_on_a_live_connection() {
    let server = RedisServer::start();
    let mut raw = server.raw();
    let client = one_connection(server.port(), Duration::from_secs(5));
    cmd("SET").arg("before").arg(1).execute(&client).unwrap();
    raw.request(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    raw.request(["CONFIG", "SET", "maxmemory", "1"]);
    let err = cmd("SET").arg("k").arg("v").execute(&client).unwrap_err();
    server_error_keeps_the_connection(&client, &err, ServerErrorKind::Oom, "OOM");
    assert!(!err.is_retryable());
    raw.request(["CONFIG", "SET", "maxmemory", "0"]);
    cmd("SET").arg("k").arg("v").execute(&client).unwrap();
    assert_eq!(client.pool().stats().created, 1);
}

#[test]
fn acl_errors_noperm_and_wrongpass_keep_the_connection() {
    let server = RedisServer::start();
    server.raw().request([
        "ACL",
        "SETUSER",
        "limited",
        "on",
        ">limited-pw",
        "~*",
        "+@all",
        "-debug",
    ]);
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.port())
        .username("limited")
        .password("limited-pw")
        .max_connections(1)
        .build();
    let err = cmd("DEBUG")
        .arg("SLEEP")
        .arg(0)
        .execute(&client)
        .unwrap_err();
    server_error_keeps_the_connection(&client, &err, ServerErrorKind::NoPerm, "NOPERM");

    // WRONGPASS in the middle of a session, on a dedicated connection.
    let mut conn = client.get_connection().unwrap();
    let err = cmd("AUTH")
        .arg("limited")
        .arg("not-the-password")
        .execute(&mut conn)
        .unwrap_err();
    assert_eq!(
        err.server_kind(),
        Some(ServerErrorKind::WrongPass),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("not-the-password"));
    let who: String = cmd("ACL").arg("WHOAMI").query(&mut conn).unwrap();
    assert_eq!(who, "limited", "still the same authenticated connection");
}

#[test]
fn noauth_keeps_the_connection() {
    let server = RedisServer::builder()
        .args(["--requirepass", "needed"])
        .start();
    let client = one_connection(server.port(), Duration::from_secs(5));
    for _ in 0..3 {
        let err = get(&client, "k").unwrap_err();
        assert_eq!(err.server_kind(), Some(ServerErrorKind::NoAuth), "{err:?}");
        assert_eq!(err.server_error().unwrap().code(), "NOAUTH");
    }
    let stats = client.pool().stats();
    assert_eq!(
        (stats.created, stats.closed_broken, stats.idle),
        (1, 0, 1),
        "{stats:?}"
    );
}

#[test]
fn readonly_and_masterdown_from_replicas() {
    let master = RedisServer::start();
    let replica = RedisServer::builder()
        .args(["--replicaof", "127.0.0.1", &master.port().to_string()])
        .start();
    let client = one_connection(replica.port(), Duration::from_secs(5));
    let err = cmd("SET").arg("k").arg("v").execute(&client).unwrap_err();
    server_error_keeps_the_connection(&client, &err, ServerErrorKind::ReadOnly, "READONLY");

    // A replica whose master is unreachable, told not to serve stale data.
    let nowhere = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stale = RedisServer::builder()
        .args(["--replicaof", "127.0.0.1", &nowhere.to_string()])
        .args(["--replica-serve-stale-data", "no"])
        .start();
    let client = one_connection(stale.port(), Duration::from_secs(5));
    let err = get(&client, "k").unwrap_err();
    server_error_keeps_the_connection(&client, &err, ServerErrorKind::MasterDown, "MASTERDOWN");
    let err = cmd("PING").query::<String, _>(&client).unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::MasterDown));
    assert!(err.is_retryable());
}

#[test]
fn busy_script_then_script_kill() {
    let server = RedisServer::builder()
        .args(["--busy-reply-threshold", "100"])
        .start();
    let client = one_connection(server.port(), Duration::from_secs(5));
    cmd("SET").arg("k").arg("v").execute(&client).unwrap();
    let mut looping = server.raw();
    looping
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let script = thread::spawn(move || looping.try_request(["EVAL", "while true do end", "0"]));
    // The script holds the server; after 100 ms the server answers others with BUSY.
    let mut busy = None;
    assert!(
        eventually(Duration::from_secs(10), || match get(&client, "k") {
            Err(e) if e.server_kind() == Some(ServerErrorKind::Busy) => {
                busy = Some(e);
                true
            }
            Err(e) => panic!("{e:?}"),
            Ok(_) => false,
        }),
        "never BUSY"
    );
    let busy = busy.expect("set when seen");
    assert!(busy.is_retryable(), "{busy}");
    assert_eq!(busy.server_error().unwrap().code(), "BUSY");
    let mut killer = server.raw();
    assert!(
        eventually(Duration::from_secs(5), || killer
            .request(["SCRIPT", "KILL"])
            .as_error()
            .is_none()),
        "SCRIPT KILL"
    );
    let killed = script.join().unwrap().expect("the script's reply");
    assert!(killed.as_error().is_some(), "{killed:?}");
    assert_eq!(get(&client, "k").unwrap().as_deref(), Some("v"));
    let stats = client.pool().stats();
    assert_eq!((stats.created, stats.closed_broken), (1, 0), "{stats:?}");
}

#[test]
fn loading_during_debug_reload() {
    // `-LOADING` for real: DEBUG RELOAD saves and loads the dataset again, slowly
    // (`key-load-delay`), answering other clients in between.
    let server = RedisServer::builder()
        .args(["--key-load-delay", "200"])
        .args(["--loading-process-events-interval-bytes", "1024"])
        .start();
    let mut raw = server.raw();
    raw.request(["DEBUG", "POPULATE", "5000"]);
    let client = one_connection(server.port(), Duration::from_secs(5));
    assert_eq!(get(&client, "key:1").unwrap().as_deref(), Some("value:1"));
    let mut reloader = server.raw();
    reloader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let reload = thread::spawn(move || reloader.try_request(["DEBUG", "RELOAD"]));
    let mut loading = None;
    let seen = eventually(Duration::from_secs(20), || match get(&client, "key:1") {
        Err(e) if e.server_kind() == Some(ServerErrorKind::Loading) => {
            loading = Some(e);
            true
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => reload.is_finished(),
    });
    assert!(seen);
    let reloaded = reload.join().unwrap().expect("DEBUG RELOAD's reply");
    assert_eq!(reloaded, Value::SimpleString("OK".into()));
    let loading = loading.expect("the reload finished before any LOADING was seen");
    assert_eq!(loading.server_error().unwrap().code(), "LOADING");
    assert!(loading.is_retryable());
    assert_eq!(get(&client, "key:1").unwrap().as_deref(), Some("value:1"));
    let stats = client.pool().stats();
    assert_eq!((stats.created, stats.closed_broken), (1, 0), "{stats:?}");
}

#[test]
fn a_custom_error_code_is_kept() {
    let server = RedisServer::start();
    let client = one_connection(server.port(), Duration::from_secs(5));
    let err = cmd("DEBUG")
        .arg("ERROR")
        .arg("CUSTOM x")
        .execute(&client)
        .unwrap_err();
    server_error_keeps_the_connection(&client, &err, ServerErrorKind::Other, "CUSTOM");
    assert_eq!(err.server_error().unwrap().message(), "CUSTOM x");
    // A lower-case first word is no code.
    let err = cmd("DEBUG")
        .arg("ERROR")
        .arg("oops, lower case")
        .execute(&client)
        .unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::Other));
    assert_eq!(err.server_error().unwrap().code(), "");
    assert_eq!(client.pool().stats().created, 1);
}
