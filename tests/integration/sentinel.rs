//! Sentinel (`redis_ext::sentinel`): redis-py's README example, and RELIABILITY section 6 D,
//! tests 27 to 34, against real `redis-server --sentinel` processes ([`SentinelGroup`]), a
//! fake Sentinel that answers what a test wants, and the fault proxy.
//!
//! Failovers take seconds (down-after 1000 ms, then the election and the promotion), and a
//! replaced master keeps claiming the role for about ten more seconds until Sentinel demotes
//! it; every wait here is bounded and polls instead of sleeping a fixed time.

use std::collections::{BTreeSet, HashMap};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use redis_client::conn::{ConnectionConfig, TlsConfig};
use redis_client::ext::sentinel::{NodeAddr, Sentinel, SentinelError, SentinelOptions};
use redis_client::replies::Role;
use redis_client::{
    Client, Commands, Error, HscanOptions, PipelineCommands, Protocol, ScanOptions,
    ServerErrorKind, SscanOptions, ZscanOptions,
};
use resp_proto::Value;
use tests::{
    Direction, FaultProxy, RawConnection, RedisServer, SentinelGroup, TlsCerts, TlsServerExt,
    eventually,
};

/// Bound of every wait for a failover (the Sentinels agreeing on a new master).
const FAILOVER_LIMIT: Duration = Duration::from_secs(20);

/// Data-node settings for the tests: short timeouts (a stopped master must not hold a writer
/// for long) and a client name, so that a test can count its connections on a server.
fn data_config(name: &str) -> ConnectionConfig {
    ConnectionConfig::builder()
        .client_name(name)
        .connect_timeout(Duration::from_millis(500))
        .socket_timeout(Duration::from_millis(500))
        .build()
}

/// The `SentinelError` inside a facade error, if any.
fn sentinel_error(error: &Error) -> Option<&SentinelError> {
    match error {
        Error::Sentinel(e) => Some(e),
        Error::Connection(e) => SentinelError::find(e),
        _ => None,
    }
}

/// A loopback address where nothing listens.
fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("its address");
    drop(listener);
    addr
}

/// One request on a fresh raw connection to `addr`; `None` when the server does not answer.
fn ask(addr: SocketAddr, args: &[&str]) -> Option<Value> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    let mut conn = RawConnection::new(stream);
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    conn.try_request(args.iter().copied()).ok()
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) | Value::SimpleString(b) | Value::Verbatim { text: b, .. } => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

/// What `ROLE` says on `addr` (`master`, `slave`), `None` when it does not answer.
fn role_at(addr: SocketAddr) -> Option<String> {
    match ask(addr, &["ROLE"])? {
        Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

/// How many connections named `name` the server at `addr` has; `None` when it does not
/// answer.
fn clients_named(addr: SocketAddr, name: &str) -> Option<usize> {
    let list = text(&ask(addr, &["CLIENT", "LIST"])?)?;
    let needle = format!(" name={name} ");
    Some(list.lines().filter(|l| l.contains(&needle)).count())
}

/// The INFO field `field` of section `section` on `addr`.
fn info_field(addr: SocketAddr, section: &str, field: &str) -> Option<String> {
    let info = text(&ask(addr, &["INFO", section])?)?;
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.trim_end().strip_prefix(&prefix).map(str::to_owned))
}

/// The TCP port of the server a client's connection is on (`INFO server`).
fn served_by(client: &Client) -> Result<u16, Error> {
    let mut info = redis_client::cmd("INFO");
    info.arg("server");
    let info: String = info.query(client)?;
    Ok(info
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("tcp_port:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or(0))
}

/// How many of `keys` exist on the server at `addr` (EXISTS, in batches).
fn existing(addr: SocketAddr, keys: &[String]) -> usize {
    keys.chunks(500)
        .map(|batch| {
            let mut args = vec!["EXISTS"];
            args.extend(batch.iter().map(String::as_str));
            match ask(addr, &args) {
                Some(Value::Integer(n)) => usize::try_from(n).unwrap_or(0),
                other => panic!("EXISTS on {addr}: {other:?}"),
            }
        })
        .sum()
}

/// Keys of `keys` missing on the server at `addr` (counted in batches, listed one by one
/// only when some are missing).
fn missing(addr: SocketAddr, keys: &[String]) -> Vec<String> {
    if existing(addr, keys) == keys.len() {
        return Vec::new();
    }
    keys.iter()
        .filter(|k| !matches!(ask(addr, &["EXISTS", k]), Some(Value::Integer(1))))
        .cloned()
        .collect()
}

/// Runs `SENTINEL FAILOVER name` on a Sentinel.
fn manual_failover(sentinel: &RedisServer, name: &str) {
    let reply = sentinel.raw().request(["SENTINEL", "FAILOVER", name]);
    assert_eq!(
        reply,
        Value::SimpleString(bytes::Bytes::from_static(b"OK")),
        "SENTINEL FAILOVER {name}"
    );
}

// ---------------------------------------------------------------------------------------
// A fake Sentinel: answers GET-MASTER-ADDR-BY-NAME and MASTER for one name with a fixed
// address (a replica, a stale master), as a wrong or stale Sentinel would.

struct FakeSentinel {
    addr: SocketAddr,
    asked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeSentinel {
    fn start(name: &str, names: SocketAddr) -> FakeSentinel {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Sentinel");
        let addr = listener.local_addr().expect("its address");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let asked = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (asked, stop, name) = (Arc::clone(&asked), Arc::clone(&stop), name.to_owned());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (asked, name) = (Arc::clone(&asked), name.clone());
                            let _ = stream.set_nonblocking(false);
                            thread::spawn(move || serve_fake(stream, &name, names, &asked));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        FakeSentinel {
            addr,
            asked,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// How many times it was asked for the master's address.
    fn asked(&self) -> usize {
        self.asked.load(Ordering::Relaxed)
    }
}

impl Drop for FakeSentinel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn resp_bulks(items: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        out.extend_from_slice(format!("${}\r\n{item}\r\n", item.len()).as_bytes());
    }
    out
}

fn serve_fake(stream: TcpStream, name: &str, names: SocketAddr, asked: &AtomicUsize) {
    let mut conn = RawConnection::new(stream);
    if conn
        .set_read_timeout(Some(Duration::from_secs(30)))
        .is_err()
    {
        return;
    }
    let ip = names.ip().to_string();
    let port = names.port().to_string();
    while let Ok(Value::Array(args)) = conn.read_value() {
        let words: Vec<String> = args.iter().map(|a| text(a).unwrap_or_default()).collect();
        let upper = |i: usize| {
            words
                .get(i)
                .map(|w| w.to_ascii_uppercase())
                .unwrap_or_default()
        };
        let ours = words.get(2).map(String::as_str) == Some(name);
        let reply = match (upper(0).as_str(), upper(1).as_str()) {
            ("SENTINEL", "GET-MASTER-ADDR-BY-NAME") if ours => {
                asked.fetch_add(1, Ordering::Relaxed);
                resp_bulks(&[&ip, &port])
            }
            ("SENTINEL", "GET-MASTER-ADDR-BY-NAME") => b"*-1\r\n".to_vec(),
            ("SENTINEL", "MASTER") if ours => resp_bulks(&[
                "name",
                name,
                "ip",
                &ip,
                "port",
                &port,
                "flags",
                "master",
                "num-other-sentinels",
                "2",
            ]),
            ("SENTINEL", "REPLICAS" | "SENTINELS") if ours => b"*0\r\n".to_vec(),
            ("SENTINEL", _) => b"-ERR No such master with that name\r\n".to_vec(),
            ("SUBSCRIBE", _) => {
                let mut out = resp_bulks(&["subscribe", &words[1]]);
                // Turn the 2-element header into 3 and append the count.
                out[1] = b'3';
                out.extend_from_slice(b":1\r\n");
                out
            }
            ("PING", _) => b"+PONG\r\n".to_vec(),
            _ => b"-ERR unknown command\r\n".to_vec(),
        };
        if conn.send_raw(&reply).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------
// redis-py's README, in Rust.

/// redis-py's README example: `discover_master`, `discover_slaves`, `master_for` then `set`,
/// `slave_for` then `get`.
#[test]
fn readme_example() {
    let group = SentinelGroup::start("mymaster", 1, 1);

    let sentinel = Sentinel::new(group.sentinel_addrs()).expect("a Sentinel list");
    assert_eq!(
        sentinel
            .discover_master("mymaster")
            .expect("discover_master"),
        NodeAddr::from(group.master().addr())
    );
    assert_eq!(
        sentinel
            .discover_replicas("mymaster")
            .expect("discover_replicas"),
        vec![NodeAddr::from(group.replicas()[0].addr())]
    );

    let config = ConnectionConfig::builder()
        .socket_timeout(Duration::from_secs(1))
        .build();
    let master = Client::from_pool(sentinel.master_for("mymaster", &config));
    let replica = Client::from_pool(sentinel.replica_for("mymaster", &config));
    master.set("foo", "bar").expect("SET on the master");
    // The replica gets it asynchronously.
    assert!(
        eventually(Duration::from_secs(5), || replica
            .get::<Option<String>>("foo")
            .ok()
            == Some(Some("bar".to_owned()))),
        "the replica never returned the value"
    );
    assert!(matches!(master.role().expect("ROLE"), Role::Master { .. }));
    assert!(matches!(
        replica.role().expect("ROLE"),
        Role::Replica { .. }
    ));
}

// ---------------------------------------------------------------------------------------
// 27. Discovery order and errors; min_other_sentinels.

/// RELIABILITY 27: `[dead port, A, B]` uses A and moves it to the front; all dead is
/// "Sentinel unreachable"; a name no Sentinel knows is "master not found"; the kinds stay
/// distinct through a pool and the facade. Also `min_other_sentinels` (redis-py).
#[test]
fn discovery_order_errors_and_min_other_sentinels() {
    let group = SentinelGroup::builder("m27")
        .replicas(1)
        .sentinels(3)
        .start();
    let [a, b, c] = group.sentinel_addrs()[..] else {
        panic!("three Sentinels")
    };
    let dead = dead_addr();
    let master = NodeAddr::from(group.master().addr());

    let sentinel = Sentinel::new([dead, a, b]).expect("a Sentinel list");
    assert_eq!(sentinel.discover_master("m27").expect("master"), master);
    assert_eq!(
        sentinel.sentinels(),
        vec![NodeAddr::from(a), NodeAddr::from(dead), NodeAddr::from(b)],
        "the Sentinel that answered moves to the front"
    );
    // Replicas: the same order rules, the healthy replica listed.
    assert_eq!(
        sentinel.discover_replicas("m27").expect("replicas"),
        vec![NodeAddr::from(group.replicas()[0].addr())]
    );

    // Every Sentinel dead: unreachable, quickly (refused connections).
    let started = Instant::now();
    let all_dead = Sentinel::new([dead_addr(), dead_addr()]).expect("a Sentinel list");
    match all_dead.discover_master("m27") {
        Err(SentinelError::Unreachable { tried: 2, details }) => {
            assert!(details.contains("127.0.0.1:"), "{details}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(matches!(
        all_dead.discover_replicas("m27"),
        Err(SentinelError::Unreachable { tried: 2, .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(3));

    // Every Sentinel answers null for the name: master not found, naming the cause.
    for s in [&sentinel, &Sentinel::new([a, b, c]).expect("list")] {
        match s.discover_master("nope") {
            Err(SentinelError::MasterNotFound { name, reason }) => {
                assert_eq!(name, "nope");
                assert!(reason.contains("no Sentinel knows"), "{reason}");
            }
            other => panic!("expected MasterNotFound, got {other:?}"),
        }
        assert!(matches!(
            s.discover_replicas("nope"),
            Err(SentinelError::MasterNotFound { .. })
        ));
    }

    // Through a pool and the facade, the kinds stay apart and count as connection errors
    // (nothing was sent to a data node).
    let config = data_config("s27");
    let err = Client::from_pool(all_dead.master_for("m27", &config))
        .set("k", "v")
        .expect_err("no Sentinel answers");
    assert!(err.is_connection(), "{err}");
    assert!(
        matches!(
            sentinel_error(&err),
            Some(SentinelError::Unreachable { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("Sentinel is unreachable"), "{err}");
    let err = Client::from_pool(sentinel.master_for("nope", &config))
        .set("k", "v")
        .expect_err("unknown name");
    assert!(
        matches!(
            sentinel_error(&err),
            Some(SentinelError::MasterNotFound { .. })
        ),
        "{err:?}"
    );
    let err = Client::from_pool(sentinel.replica_for("nope", &config))
        .get::<Option<String>>("k")
        .expect_err("unknown name");
    assert!(
        matches!(
            sentinel_error(&err),
            Some(SentinelError::MasterNotFound { .. })
        ),
        "{err:?}"
    );

    // min_other_sentinels: each Sentinel sees the two others.
    let two = SentinelOptions::new().min_other_sentinels(2);
    let ok = Sentinel::with_options(group.sentinel_addrs(), two).expect("list");
    assert_eq!(ok.discover_master("m27").expect("2 others suffice"), master);
    let three = SentinelOptions::new().min_other_sentinels(3);
    let strict = Sentinel::with_options(group.sentinel_addrs(), three).expect("list");
    match strict.discover_master("m27") {
        Err(SentinelError::MasterNotFound { reason, .. }) => {
            assert!(reason.contains("fewer than the 3 required"), "{reason}")
        }
        other => panic!("expected MasterNotFound, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 28. ROLE verification.

/// RELIABILITY 28: a (fake) Sentinel names a replica as the master. The client runs ROLE,
/// rejects it, waits and asks again, a bounded number of times, and never sends a write
/// there. With a real Sentinel after the fake one, the fake goes to the back and the real
/// master is used.
#[test]
fn role_verification_rejects_a_replica_named_as_master() {
    let group = SentinelGroup::start("m28", 1, 1);
    let replica = group.replicas()[0].addr();
    let fake = FakeSentinel::start("m28", replica);
    let options = SentinelOptions::new()
        .attempts(3)
        .retry_delay(Duration::from_millis(100))
        .watch_switch_master(false);
    let config = data_config("s28");

    // Only the wrong Sentinel: three attempts, paused, then "master not found".
    let wrong = Sentinel::with_options([fake.addr], options.clone()).expect("list");
    let started = Instant::now();
    match wrong.connect_master("m28", &config) {
        Err(SentinelError::MasterNotFound { reason, .. }) => {
            assert!(reason.contains("ROLE as replica"), "{reason}");
            assert!(reason.contains(&replica.port().to_string()), "{reason}");
        }
        other => panic!("expected MasterNotFound, got {other:?}"),
    }
    assert_eq!(fake.asked(), 3, "asked again after each rejection");
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited");
    let client = Client::from_pool(wrong.master_for("m28", &config));
    let err = client.set("k28", "never").expect_err("no master");
    assert!(
        matches!(
            sentinel_error(&err),
            Some(SentinelError::MasterNotFound { .. })
        ),
        "{err:?}"
    );
    drop(client);
    // Nothing was written there: no SET ran, no READONLY was answered, no connection stays.
    assert_eq!(
        info_field(replica, "commandstats", "cmdstat_set"),
        None,
        "a SET reached the replica"
    );
    assert_eq!(
        info_field(replica, "errorstats", "errorstat_READONLY"),
        None
    );
    assert!(eventually(Duration::from_secs(2), || clients_named(
        replica, "s28"
    ) == Some(0)));

    // The wrong Sentinel first, a real one after it: one rejection, then the real master;
    // the wrong one goes to the back.
    let real = group.sentinel(0).addr();
    let mixed = Sentinel::with_options([fake.addr, real], options).expect("list");
    let client = Client::from_pool(mixed.master_for("m28", &config));
    client.set("k28", "v").expect("SET on the real master");
    assert_eq!(mixed.sentinels()[0], NodeAddr::from(real));
    assert_eq!(
        served_by(&client).expect("INFO"),
        group.master().port(),
        "the connection is on the real master"
    );
    assert_eq!(
        ask(group.master().addr(), &["GET", "k28"])
            .as_ref()
            .and_then(text),
        Some("v".to_owned())
    );
    assert_eq!(
        info_field(replica, "errorstats", "errorstat_READONLY"),
        None
    );
}

// ---------------------------------------------------------------------------------------
// Replica fallback.

/// `replica_for` falls back to the master when there is no replica; when the master is gone
/// too, the error is "replica not found".
#[test]
fn replica_for_falls_back_to_the_master() {
    let mut group = SentinelGroup::start("m0", 0, 1);
    let sentinel = Sentinel::new(group.sentinel_addrs()).expect("list");
    assert_eq!(sentinel.discover_replicas("m0").expect("replicas"), vec![]);

    let reader = Client::from_pool(sentinel.replica_for("m0", &data_config("s0")));
    assert_eq!(reader.get::<Option<String>>("x").expect("GET"), None);
    assert!(
        matches!(reader.role().expect("ROLE"), Role::Master { .. }),
        "the fallback is the master"
    );
    assert_eq!(served_by(&reader).expect("INFO"), group.master().port());

    group.kill_master();
    reader.pool().clear();
    let err = reader
        .get::<Option<String>>("x")
        .expect_err("neither replica nor master");
    match sentinel_error(&err) {
        Some(SentinelError::ReplicaNotFound { name, reason }) => {
            assert_eq!(name, "m0");
            assert!(reason.contains("no healthy replica"), "{reason}");
            assert!(reason.contains("master fallback failed"), "{reason}");
        }
        other => panic!("expected ReplicaNotFound, got {other:?} ({err})"),
    }
}

// ---------------------------------------------------------------------------------------
// Failover with the master killed.

/// The master is killed; after the failover a master client writes again within a bounded
/// time, every later write succeeds, and every connection is on the new master.
#[test]
fn failover_after_kill_master_client_follows() {
    let mut group = SentinelGroup::builder("mkill")
        .replicas(2)
        .sentinels(3)
        .failover_timeout_ms(3000)
        .start();
    let sentinel = Sentinel::new(group.sentinel_addrs()).expect("list");
    let client = Client::from_pool(sentinel.master_for("mkill", &data_config("skill")));
    for i in 0..10 {
        client.set(format!("before:{i}"), i).expect("SET before");
    }
    let old = group.master().addr();

    group.kill_master();
    let killed_at = Instant::now();
    let new = group
        .wait_for_failover(FAILOVER_LIMIT)
        .expect("the Sentinels fail over");
    assert_ne!(new, old);

    // Writes succeed again within a bounded time; failures meanwhile are connection errors.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut failures = 0;
    loop {
        match client.set("after", 1) {
            Ok(()) => break,
            Err(e) => {
                failures += 1;
                assert!(e.is_connection(), "unexpected error kind: {e:?}");
                assert!(Instant::now() < deadline, "no write succeeded: {e}");
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
    eprintln!(
        "mkill: writing again {:?} after the kill ({failures} failed attempts)",
        killed_at.elapsed()
    );
    // No connection to the old master is reused: every later command succeeds, on the new
    // master.
    for i in 0..50 {
        client.set(format!("after:{i}"), i).expect("SET after");
    }
    for _ in 0..5 {
        assert_eq!(served_by(&client).expect("INFO"), new.port());
    }
    assert!(matches!(client.role().expect("ROLE"), Role::Master { .. }));
    assert_eq!(
        sentinel.discover_master("mkill").expect("master"),
        NodeAddr::from(new)
    );
}

// ---------------------------------------------------------------------------------------
// 29 and 31. SIGSTOP under load, then the stale master window.

/// What one writer saw.
#[derive(Default)]
struct Record {
    /// SET keys acknowledged, with when.
    acked: Vec<(String, Instant)>,
    /// INCRs acknowledged / failed (unknown outcome).
    incr_ok: u64,
    incr_failed: u64,
    /// Every error, in words, with when.
    errors: Vec<(Instant, String, bool)>,
}

/// RELIABILITY 29: 8 writers (INCR ctr, SET k:<w>:<n>) on one master client; SIGSTOP the
/// master. Within ~5 s of the failover every writer writes to the new master; no write
/// reported as successful is missing on the final master; errors meanwhile are timeouts and
/// connection errors; after SIGCONT none of our connections is on the old master.
///
/// RELIABILITY 31: then, with the old master back and claiming the master role, a client
/// whose first Sentinel is stale (a fake naming the old master) may settle on the old master
/// only until Sentinel demotes it; after the demotion's kick it re-resolves and writes to
/// the real master.
#[test]
fn failover_under_load_sigstop_then_stale_master_window() {
    const WRITERS: usize = 8;
    let mut group = SentinelGroup::builder("m29")
        .replicas(2)
        .sentinels(3)
        .failover_timeout_ms(3000)
        .start();
    let sentinel = Sentinel::new(group.sentinel_addrs()).expect("list");
    let client = Client::from_pool(sentinel.master_for("m29", &data_config("w29")));
    let stop = Arc::new(AtomicBool::new(false));
    let records: Vec<Arc<Mutex<Record>>> = (0..WRITERS).map(|_| Arc::default()).collect();
    let writers: Vec<JoinHandle<()>> = records
        .iter()
        .enumerate()
        .map(|(w, record)| {
            let (client, stop, record) = (client.clone(), Arc::clone(&stop), Arc::clone(record));
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let incr = client.incr("ctr");
                    let key = format!("k:{w}:{n}");
                    let set = client.set(key.as_str(), n);
                    let mut r = record.lock().expect("record");
                    match incr {
                        Ok(_) => r.incr_ok += 1,
                        Err(e) => {
                            r.incr_failed += 1;
                            let kind_ok = e.is_connection() || e.is_timeout();
                            r.errors.push((Instant::now(), e.to_string(), kind_ok));
                        }
                    }
                    let failed = match set {
                        Ok(()) => {
                            r.acked.push((key, Instant::now()));
                            false
                        }
                        Err(e) => {
                            let kind_ok = e.is_connection() || e.is_timeout();
                            r.errors.push((Instant::now(), e.to_string(), kind_ok));
                            true
                        }
                    };
                    drop(r);
                    // Under load, but leaving the two cores of a test machine some room.
                    let pause = if failed { 50 } else { 2 };
                    thread::sleep(Duration::from_millis(pause));
                }
            })
        })
        .collect();
    let acked_count = |records: &[Arc<Mutex<Record>>]| -> Vec<usize> {
        records
            .iter()
            .map(|r| r.lock().expect("record").acked.len())
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(5), || acked_count(&records)
            .iter()
            .all(|&n| n > 10)),
        "the writers do not write"
    );

    let old = group.master().addr();
    group.master_mut().pause();
    let stopped_at = Instant::now();
    let new = group
        .wait_for_failover(FAILOVER_LIMIT)
        .expect("the Sentinels fail over");
    let failed_over_at = Instant::now();
    eprintln!("m29: failover {:?} after SIGSTOP", stopped_at.elapsed());

    // Within ~5 s every writer writes to the new master.
    let all_back = eventually(Duration::from_secs(5), || {
        records.iter().all(|r| {
            r.lock()
                .expect("record")
                .acked
                .last()
                .is_some_and(|(_, at)| *at > failed_over_at)
        })
    });
    assert!(
        all_back,
        "not every writer writes within 5 s of the failover"
    );
    eprintln!(
        "m29: every writer writing {:?} after the failover",
        failed_over_at.elapsed()
    );

    // The old master comes back, claiming to be the master; our writers stay on the new one.
    group.master_mut().resume();
    let resumed_at = Instant::now();
    thread::sleep(Duration::from_secs(1));

    // 31: a client whose first Sentinel is stale settles on the old master at first...
    let fake = FakeSentinel::start("m29", old);
    let mut with_fake = vec![fake.addr];
    with_fake.extend(group.sentinel_addrs());
    let stale_sentinel =
        Sentinel::with_options(with_fake, SentinelOptions::new().watch_switch_master(false))
            .expect("list");
    let stale = Client::from_pool(stale_sentinel.master_for("m29", &data_config("s31")));
    let mut stale_acked: Vec<(String, Instant)> = Vec::new();
    let mut readonly = 0;
    let mut demoted_at = None;
    let window_deadline = Instant::now() + Duration::from_secs(25);
    let mut n = 0;
    // ... and writes to the real master within 2 s of the demotion.
    while demoted_at.is_none_or(|at: Instant| at.elapsed() < Duration::from_secs(3)) {
        assert!(
            Instant::now() < window_deadline,
            "Sentinel never demoted the old master"
        );
        n += 1;
        let key = format!("stale:{n}");
        match stale.set(key.as_str(), n) {
            Ok(()) => stale_acked.push((key, Instant::now())),
            Err(e) if e.server_kind() == Some(ServerErrorKind::ReadOnly) => readonly += 1,
            Err(e) => assert!(e.is_connection() || e.is_timeout(), "{e:?}"),
        }
        if demoted_at.is_none() && role_at(old).as_deref() == Some("slave") {
            demoted_at = Some(Instant::now());
            eprintln!(
                "m29: old master demoted {:?} after SIGCONT",
                resumed_at.elapsed()
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("writer");
    }
    let demoted_at = demoted_at.expect("demoted");
    assert!(fake.asked() >= 1, "the stale Sentinel was asked");
    assert!(readonly <= 1, "{readonly} READONLY for one connection");
    let settled: Vec<String> = stale_acked
        .iter()
        .filter(|(_, at)| *at > demoted_at + Duration::from_secs(2))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!settled.is_empty(), "no write after the demotion");
    assert_eq!(
        missing(new, &settled),
        Vec::<String>::new(),
        "writes acknowledged after the demotion must be on the real master"
    );
    let early = stale_acked.len() - settled.len();
    eprintln!("m29: {early} writes went to the stale master before its demotion (lost)");

    // 29: no acknowledged write is missing on the final master. Writes acknowledged by the
    // old master just before SIGSTOP may be lost to asynchronous replication (at most one
    // in flight per writer; the old master answers its clients before it feeds its
    // replicas within one event-loop turn); none acknowledged after it may be.
    assert_eq!(group.current_master_addr(), Some(new));
    let mut lost_before_stop = 0;
    let mut acked_total = 0;
    let mut incr_ok = 0;
    let mut incr_failed = 0;
    for record in &records {
        let r = record.lock().expect("record");
        acked_total += r.acked.len();
        incr_ok += r.incr_ok;
        incr_failed += r.incr_failed;
        let (before, after): (Vec<_>, Vec<_>) =
            r.acked.iter().partition(|(_, at)| *at < stopped_at);
        let after: Vec<String> = after.into_iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(
            missing(new, &after),
            Vec::<String>::new(),
            "writes acknowledged after SIGSTOP are missing"
        );
        let before: Vec<String> = before.into_iter().map(|(k, _)| k.clone()).collect();
        lost_before_stop += before.len() - existing(new, &before);
        for (_, error, kind_ok) in &r.errors {
            assert!(
                kind_ok,
                "an error that is not a timeout or connection error: {error}"
            );
        }
    }
    assert!(
        lost_before_stop <= WRITERS,
        "{lost_before_stop} acknowledged writes lost"
    );
    let ctr: i64 = match ask(new, &["GET", "ctr"]).as_ref().and_then(text) {
        Some(v) => v.parse().expect("a counter"),
        None => panic!("no counter on the new master"),
    };
    let ctr = u64::try_from(ctr).expect("positive");
    // The same allowance for INCR: at most one acknowledged and unreplicated per writer at
    // the SIGSTOP (the old master answers its clients before it feeds its replicas within
    // one event-loop turn), independent of the SETs.
    let writers = WRITERS as u64;
    assert!(
        ctr + writers >= incr_ok && ctr <= incr_ok + incr_failed,
        "ctr {ctr}, {incr_ok} INCR acknowledged, {incr_failed} unknown"
    );
    eprintln!(
        "m29: {acked_total} SETs acknowledged, {lost_before_stop} lost to replication, \
         ctr {ctr} for {incr_ok} acknowledged INCRs"
    );
    // After SIGCONT the old master serves none of our writers.
    assert_eq!(clients_named(old, "w29"), Some(0));
}

// ---------------------------------------------------------------------------------------
// 30 and 32. Manual failover; the +switch-master watcher.

/// What a writer of [`spawn_writer`] saw.
struct Written {
    /// Keys acknowledged, with when.
    acked: Vec<(String, Instant)>,
    /// READONLY replies.
    readonly: usize,
    /// Other errors (timeouts and connection errors only), in words.
    errors: Vec<String>,
}

/// A writer thread on `client`, SETting `key_prefix:<n>` until `stop`.
fn spawn_writer(
    client: Client,
    key_prefix: &'static str,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Written> {
    thread::spawn(move || {
        let mut written = Written {
            acked: Vec::new(),
            readonly: 0,
            errors: Vec::new(),
        };
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let key = format!("{key_prefix}:{n}");
            match client.set(key.as_str(), n) {
                Ok(()) => written.acked.push((key, Instant::now())),
                Err(e) if e.server_kind() == Some(ServerErrorKind::ReadOnly) => {
                    written.readonly += 1
                }
                Err(e) => {
                    assert!(e.is_connection() || e.is_timeout(), "{e:?}");
                    written.errors.push(e.to_string());
                }
            }
            thread::sleep(Duration::from_millis(5));
        }
        written
    })
}

/// Opens `n` connections at once on the pool and gives them back: `n` idle connections.
fn open_idle(client: &Client, n: usize) {
    let conns: Vec<_> = (0..n)
        .map(|_| client.pool().get().expect("a connection"))
        .collect();
    drop(conns);
}

/// RELIABILITY 30 and 32 (a): `SENTINEL FAILOVER` while pooled (RESP3) connections are idle
/// and one writer runs. The `+switch-master` event closes every connection of the pool to the old
/// master (counted with CLIENT LIST there) within about a second, long before Sentinel
/// demotes it; no READONLY reaches the user more than once per connection; later writes
/// succeed on the new master.
#[test]
fn failover_manual_closes_connections_to_the_old_master() {
    let group = SentinelGroup::builder("m30")
        .replicas(2)
        .sentinels(3)
        .failover_timeout_ms(3000)
        .start();
    let sentinel = Sentinel::new(group.sentinel_addrs()).expect("list");
    // RESP3 data connections: ROLE and CLIENT INFO (for the fence) arrive in RESP3 shapes.
    let resp3 = data_config("s30")
        .into_builder()
        .protocol(Protocol::Resp3)
        .build();
    let client = Client::from_pool(sentinel.master_for("m30", &resp3));
    open_idle(&client, 4);
    let old = group.master().addr();
    assert_eq!(clients_named(old, "s30"), Some(4));
    // The watcher subscribes right after the pool is made; give it a moment.
    thread::sleep(Duration::from_millis(300));

    let stop = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(client.clone(), "k30", Arc::clone(&stop));
    thread::sleep(Duration::from_millis(200));
    manual_failover(group.sentinel(1), "m30");
    let new = group
        .wait_for_failover(FAILOVER_LIMIT)
        .expect("the Sentinels fail over");
    let switched_at = Instant::now();
    let closed = eventually(Duration::from_secs(3), || {
        clients_named(old, "s30") == Some(0)
    });
    let fenced_at = Instant::now();
    assert!(
        closed,
        "connections to the old master still open: {:?}",
        clients_named(old, "s30")
    );
    eprintln!(
        "m30: connections to the old master closed {:?} after the switch was seen",
        switched_at.elapsed()
    );
    assert_eq!(
        role_at(old).as_deref(),
        Some("master"),
        "the old master is not demoted yet: the pool closed its connections itself"
    );
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let Written {
        acked,
        readonly,
        errors,
    } = writer.join().expect("writer");
    assert!(
        readonly <= 4,
        "{readonly} READONLY replies for 4 connections"
    );
    eprintln!(
        "m30: {} errors during the failover: {errors:?}",
        errors.len()
    );
    let after: Vec<String> = acked
        .iter()
        .filter(|(_, at)| *at > fenced_at)
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!after.is_empty(), "no write after the fence");
    assert_eq!(missing(new, &after), Vec::<String>::new());
    for _ in 0..10 {
        client.set("later", 1).expect("later writes succeed");
    }
    assert_eq!(served_by(&client).expect("INFO"), new.port());
    assert_eq!(clients_named(old, "s30"), Some(0));
}

/// RELIABILITY 32 (b): the `+switch-master` event is lost. Two master pools live through one
/// `SENTINEL FAILOVER`: one without a watcher at all, and one whose watcher subscribed
/// through a proxy that is then stalled. Both are still correct, just slower: at worst once
/// Sentinel demotes the old master and kicks its clients (about ten seconds), each pool
/// re-resolves, verifies with ROLE and writes to the new master; READONLY reaches the user
/// at most once per connection.
#[test]
fn failover_without_switch_master_events_is_only_slower() {
    let group = SentinelGroup::builder("m32")
        .replicas(2)
        .sentinels(3)
        .failover_timeout_ms(3000)
        .start();
    let old = group.master().addr();

    let unwatched = Sentinel::with_options(
        group.sentinel_addrs(),
        SentinelOptions::new().watch_switch_master(false),
    )
    .expect("list");
    let blind = Client::from_pool(unwatched.master_for("m32", &data_config("blind32")));
    open_idle(&blind, 2);

    let proxy = FaultProxy::start(group.sentinel(0).addr());
    let mut addrs = vec![proxy.addr()];
    addrs.extend(group.sentinel_addrs().into_iter().skip(1));
    let watched = Sentinel::new(addrs).expect("list");
    let stalled = Client::from_pool(watched.master_for("m32", &data_config("stalled32")));
    open_idle(&stalled, 2);
    // The watcher and the cached discovery connection both go through the proxy.
    assert!(
        proxy.wait_for_open_connections(2, Duration::from_secs(2)),
        "the watcher did not subscribe through the proxy"
    );
    proxy.stall(Direction::ServerToClient);
    proxy.stall(Direction::ClientToServer);

    manual_failover(group.sentinel(1), "m32");
    let new = group
        .wait_for_failover(FAILOVER_LIMIT)
        .expect("the Sentinels fail over");
    let switched_at = Instant::now();

    /// How one client fares: READONLY replies seen, and since when it is on the new master.
    struct Progress {
        name: &'static str,
        readonly: usize,
        on_new_since: Option<Instant>,
        moved_after: Option<Duration>,
    }
    let mut clients = [
        (
            &blind,
            Progress {
                name: "blind32",
                readonly: 0,
                on_new_since: None,
                moved_after: None,
            },
        ),
        (
            &stalled,
            Progress {
                name: "stalled32",
                readonly: 0,
                on_new_since: None,
                moved_after: None,
            },
        ),
    ];
    // Bounded by the demotion (about 10 s) plus a margin.
    let deadline = Instant::now() + Duration::from_secs(25);
    let settled = |p: &Progress| {
        p.on_new_since
            .is_some_and(|at| at.elapsed() > Duration::from_millis(500))
    };
    while !clients.iter().all(|(_, p)| settled(p)) {
        assert!(
            Instant::now() < deadline,
            "a client never moved to the new master"
        );
        for (client, progress) in &mut clients {
            match client.set("k32", 1) {
                Ok(()) => {}
                Err(e) if e.server_kind() == Some(ServerErrorKind::ReadOnly) => {
                    progress.readonly += 1
                }
                Err(e) => assert!(e.is_connection() || e.is_timeout(), "{e:?}"),
            }
            let on_new = served_by(client).ok() == Some(new.port());
            match (on_new, progress.on_new_since) {
                (true, None) => {
                    progress.on_new_since = Some(Instant::now());
                    progress.moved_after.get_or_insert(switched_at.elapsed());
                }
                (false, Some(_)) => progress.on_new_since = None,
                _ => {}
            }
        }
        thread::sleep(Duration::from_millis(50));
    }
    for (_, progress) in &clients {
        eprintln!(
            "m32: {} on the new master {:?} after the switch",
            progress.name, progress.moved_after
        );
        assert!(
            progress.readonly <= 2,
            "{}: {} READONLY replies for 2 connections",
            progress.name,
            progress.readonly
        );
        assert!(
            eventually(Duration::from_secs(2), || clients_named(old, progress.name)
                == Some(0)),
            "{} still has connections to the old master",
            progress.name
        );
    }
    proxy.resume(Direction::ServerToClient);
    proxy.resume(Direction::ClientToServer);
}

// ---------------------------------------------------------------------------------------
// 33. Replica reads.

/// RELIABILITY 33: replica connections are spread over the replicas and verified with ROLE;
/// a killed replica leaves the replica set; when a failover promotes a replica it is dropped
/// from the set, and reads go on (through the master fallback when no replica is left).
#[test]
fn replica_reads_follow_the_replica_set() {
    let mut group = SentinelGroup::builder("m33")
        .replicas(2)
        .sentinels(3)
        .failover_timeout_ms(3000)
        .start();
    let sentinel = Sentinel::new(group.sentinel_addrs()).expect("list");
    let mut expected: Vec<NodeAddr> = group
        .replicas()
        .iter()
        .map(|r| NodeAddr::from(r.addr()))
        .collect();
    expected.sort();
    let mut listed = sentinel.discover_replicas("m33").expect("replicas");
    listed.sort();
    assert_eq!(listed, expected);

    // Round robin: connections held together land on both replicas, none on the master.
    let reader = Client::from_pool(sentinel.replica_for("m33", &data_config("r33")));
    let mut per_port: HashMap<u16, usize> = HashMap::new();
    {
        let held: Vec<_> = (0..4)
            .map(|_| reader.pool().get().expect("a replica connection"))
            .collect();
        for r in group.replicas() {
            per_port.insert(r.port(), clients_named(r.addr(), "r33").unwrap_or(0));
        }
        assert_eq!(clients_named(group.master().addr(), "r33"), Some(0));
        drop(held);
    }
    assert!(
        per_port.values().all(|&n| n == 2),
        "round robin over the replicas: {per_port:?}"
    );
    assert!(matches!(reader.role().expect("ROLE"), Role::Replica { .. }));

    // A replica dies: reads go on, and it leaves the replica set once the Sentinels see it.
    let dead = group.replicas()[0].addr();
    let survivor = group.replicas()[1].addr();
    group.replica_mut(0).kill();
    assert!(
        eventually(Duration::from_secs(10), || sentinel
            .discover_replicas("m33")
            .is_ok_and(|r| r == vec![NodeAddr::from(survivor)])),
        "the dead replica stays listed: {:?}",
        sentinel.discover_replicas("m33")
    );
    assert!(eventually(Duration::from_secs(5), || {
        (0..10).all(|_| reader.get::<Option<String>>("x").is_ok())
    }));
    assert_eq!(served_by(&reader).expect("INFO"), survivor.port());
    assert_ne!(served_by(&reader).expect("INFO"), dead.port());

    // The master dies: the surviving replica is promoted and leaves the replica set; reads go
    // on through the master fallback.
    group.kill_master();
    let new = group
        .wait_for_failover(FAILOVER_LIMIT)
        .expect("the Sentinels fail over");
    assert_eq!(new, survivor);
    assert!(
        eventually(Duration::from_secs(10), || sentinel
            .discover_replicas("m33")
            .is_ok_and(|r| !r.contains(&NodeAddr::from(new)))),
        "the promoted replica is still listed as a replica"
    );
    assert!(
        eventually(Duration::from_secs(10), || reader
            .get::<Option<String>>("x")
            .is_ok()
            && reader
                .role()
                .is_ok_and(|r| matches!(r, Role::Master { .. }))),
        "reads do not go on through the master fallback"
    );
    assert_eq!(served_by(&reader).expect("INFO"), new.port());
}

// ---------------------------------------------------------------------------------------
// 34. Sentinel and data-node credentials and TLS.

/// RELIABILITY 34: the Sentinel requires one password and speaks TLS; the master requires
/// another password and speaks TLS only, with a certificate for `wrong.example` (not for
/// 127.0.0.1, the address the Sentinel gives). Each credential goes only to its own kind of
/// node, and the master's certificate is verified against the configured name.
#[test]
fn sentinel_and_data_node_credentials_and_tls_are_kept_apart() {
    let certs = TlsCerts::generate();
    let master = RedisServer::builder()
        .args(["--requirepass", "data-pass"])
        .tls(certs.wrong_name_server(), certs.ca_cert())
        .start();
    let config = format!(
        "sentinel monitor m34 127.0.0.1 {port} 1\n\
         sentinel auth-pass m34 data-pass\n\
         sentinel down-after-milliseconds m34 1000\n\
         requirepass sentinel-pass\n\
         tls-replication yes\n",
        port = master.tls_port()
    );
    let sentinel_server = RedisServer::builder()
        .sentinel()
        .config(config)
        .tls(certs.server(), certs.ca_cert())
        .start();

    let ca = TlsConfig::new().ca_file(certs.ca_cert());
    let options = SentinelOptions::new()
        .password("sentinel-pass")
        .tls(ca.clone());
    let sentinel = Sentinel::with_options([sentinel_server.tls_addr()], options).expect("list");
    let master_addr = NodeAddr::new("127.0.0.1", master.tls_port());
    assert!(
        eventually(Duration::from_secs(10), || sentinel
            .discover_master("m34")
            .is_ok_and(|a| a == master_addr)),
        "the Sentinel does not report the master: {:?}",
        sentinel.discover_master("m34")
    );

    // The data nodes' password and TLS name, apart from the Sentinel's.
    let data = ConnectionConfig::builder()
        .password("data-pass")
        .tls(ca.clone().server_name("wrong.example"))
        .client_name("s34")
        .connect_timeout(Duration::from_secs(1))
        .socket_timeout(Duration::from_secs(1))
        .build();
    let client = Client::from_pool(sentinel.master_for("m34", &data));
    client.set("k34", "v").expect("SET over TLS");
    assert_eq!(
        client.get::<Option<String>>("k34").expect("GET"),
        Some("v".to_owned())
    );
    // Through the fixture's plain port: the client's connection is on the TLS port.
    assert_eq!(served_by(&client).expect("INFO"), master.port());

    // Verified against the configured name: without it, 127.0.0.1 is not in the certificate.
    let unnamed = data.clone().into_builder().tls(ca.clone()).build();
    let err = Client::from_pool(sentinel.master_for("m34", &unnamed))
        .set("k34", "x")
        .expect_err("the certificate is not for 127.0.0.1");
    assert!(
        matches!(&err, Error::Connection(redis_client::conn::Error::Tls(_))),
        "{err:?}"
    );

    // The Sentinel's password does not open the master, and the master's not the Sentinel.
    let no_data_password = ConnectionConfig::builder()
        .tls(ca.clone().server_name("wrong.example"))
        .connect_timeout(Duration::from_secs(1))
        .build();
    let err = Client::from_pool(sentinel.master_for("m34", &no_data_password))
        .set("k34", "x")
        .expect_err("the master needs its own password");
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    let wrong_password = Sentinel::with_options(
        [sentinel_server.tls_addr()],
        SentinelOptions::new().password("data-pass").tls(ca.clone()),
    )
    .expect("list");
    match wrong_password.discover_master("m34") {
        Err(SentinelError::Unreachable { details, .. }) => {
            assert!(details.contains("authentication failed"), "{details}");
            assert!(
                !details.contains("data-pass"),
                "a secret in an error: {details}"
            );
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    // A Sentinel with a certificate the client does not trust is not asked anything.
    let untrusted = Sentinel::with_options(
        [sentinel_server.tls_addr()],
        SentinelOptions::new()
            .password("sentinel-pass")
            .tls(TlsConfig::new().ca_file(certs.other_ca_cert())),
    )
    .expect("list");
    match untrusted.discover_master("m34") {
        Err(SentinelError::Unreachable { details, .. }) => {
            assert!(details.contains("TLS"), "{details}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }

    // No failed AUTH on the master: the Sentinel's password was never sent to it.
    let mut admin = master.raw();
    assert_eq!(
        admin.request(["AUTH", "data-pass"]),
        Value::SimpleString(bytes::Bytes::from_static(b"OK"))
    );
    match admin.request(["ACL", "LOG"]) {
        Value::Array(entries) => {
            let entries: Vec<String> = entries.iter().map(|e| format!("{e:?}")).collect();
            assert!(
                entries.iter().all(|e| !e.contains("\"auth\"")),
                "failed AUTH on the master: {entries:?}"
            );
        }
        other => panic!("ACL LOG: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The facade's part: READONLY clears the pool.

/// A pooled client (with `clear_pool_on_readonly`, as Sentinel clients have it) whose server
/// is demoted (`REPLICAOF`, as Sentinel does) gets READONLY once; the pool then closes every
/// connection it holds (`Pool::clear`), so no other connection to the demoted server answers
/// READONLY again.
#[test]
fn readonly_clears_the_pool() {
    let master = RedisServer::start();
    let demoted = RedisServer::start();
    let client = demoted
        .client_builder()
        .max_connections(4)
        .build()
        .clear_pool_on_readonly(true);
    open_idle(&client, 3);
    assert_eq!(client.pool().stats().idle, 3);
    demoted.replicate_from(&master);
    let err = client.set("k", "v").expect_err("a replica refuses writes");
    assert_eq!(
        err.server_kind(),
        Some(ServerErrorKind::ReadOnly),
        "{err:?}"
    );
    let stats = client.pool().stats();
    assert_eq!(stats.idle, 0, "{stats:?}");
    assert_eq!(stats.closed_cleared + stats.closed_dirty, 3, "{stats:?}");
}

// ---------------------------------------------------------------------------------------
// The Sentinels' config epoch going back.

/// The `config-epoch` a Sentinel reports for `name` (`SENTINEL MASTER`).
fn config_epoch(sentinel: SocketAddr, name: &str) -> Option<u64> {
    let Some(Value::Array(items)) = ask(sentinel, &["SENTINEL", "MASTER", name]) else {
        return None;
    };
    let fields: Vec<String> = items.iter().map(|v| text(v).unwrap_or_default()).collect();
    fields
        .chunks_exact(2)
        .find(|pair| pair[0] == "config-epoch")
        .and_then(|pair| pair[1].parse().ok())
}

/// Writes `k = value` until it succeeds on the server on `port` (at most 15 s); the last
/// error or server port when it never does.
fn writes_on(client: &Client, port: u16, value: i64) -> Result<(), String> {
    let mut last = String::new();
    let done = eventually(Duration::from_secs(15), || {
        match client.set("k", value).and_then(|()| served_by(client)) {
            Ok(p) if p == port => true,
            Ok(p) => {
                last = format!("written on port {p}");
                false
            }
            Err(e) => {
                last = e.to_string();
                false
            }
        }
    });
    if done { Ok(()) } else { Err(last) }
}

/// The Sentinels lose their history while a master pool knows a higher config epoch: an
/// operator re-registers the group (`SENTINEL REMOVE`, then `SENTINEL MONITOR` on every
/// Sentinel, as happens too when Sentinels restart without their rewritten configuration),
/// here after moving the master back to the first server by hand. Every Sentinel now names
/// that server at config epoch 0, below the epoch the pool connected at after a failover.
/// The pool must not refuse every answer as stale forever: all the Sentinels agree on the
/// lower epoch and none reports the higher one, so it follows them (verified with ROLE)
/// and writes to the healthy master again.
#[test]
fn a_config_epoch_reset_by_the_sentinels_is_followed() {
    const NAME: &str = "mreset";
    let group = SentinelGroup::builder(NAME)
        .replicas(1)
        .sentinels(3)
        .failover_timeout_ms(3000)
        .start();
    let first = group.master().addr();
    let sentinel = Sentinel::with_options(
        group.sentinel_addrs(),
        SentinelOptions::new().retry_delay(Duration::from_millis(100)),
    )
    .expect("list");
    let client = Client::sentinel_master(&sentinel, NAME, &data_config("sreset"));
    client.set("k", 1).expect("SET on the first master");

    // A failover raises the config epoch, and the pool connects to the new master at it.
    manual_failover(group.sentinel(0), NAME);
    let promoted = group
        .wait_for_failover(FAILOVER_LIMIT)
        .expect("the Sentinels fail over");
    if let Err(last) = writes_on(&client, promoted.port(), 2) {
        panic!("never wrote to the promoted master: {last}");
    }
    for s in group.sentinel_addrs() {
        let epoch = config_epoch(s, NAME);
        assert!(epoch.is_some_and(|e| e >= 1), "Sentinel {s}: {epoch:?}");
    }

    // The operator makes the first server the master again by hand and re-registers it.
    for s in group.sentinels() {
        let reply = s.raw().request(["SENTINEL", "REMOVE", NAME]);
        assert_eq!(reply, Value::SimpleString(bytes::Bytes::from_static(b"OK")));
    }
    let first_port = first.port().to_string();
    for (addr, args) in [
        (first, vec!["REPLICAOF", "NO", "ONE"]),
        (
            promoted,
            vec!["REPLICAOF", "127.0.0.1", first_port.as_str()],
        ),
    ] {
        assert!(
            matches!(ask(addr, &args), Some(Value::SimpleString(_))),
            "{args:?} on {addr}"
        );
    }
    let quorum = group.quorum().to_string();
    for s in group.sentinels() {
        for args in [
            vec![
                "SENTINEL",
                "MONITOR",
                NAME,
                "127.0.0.1",
                &first_port,
                &quorum,
            ],
            vec!["SENTINEL", "SET", NAME, "down-after-milliseconds", "1000"],
        ] {
            let reply = s.raw().request(args.iter().copied());
            assert_eq!(
                reply,
                Value::SimpleString(bytes::Bytes::from_static(b"OK")),
                "{args:?}"
            );
        }
    }
    assert!(
        eventually(Duration::from_secs(5), || group
            .sentinel_addrs()
            .into_iter()
            .all(|s| config_epoch(s, NAME) == Some(0))),
        "the Sentinels' config epoch did not go back to 0"
    );
    assert_eq!(group.current_master_addr(), Some(first));

    // The pool's connections are on a replica now (READONLY clears them); every new one must
    // accept the Sentinels' lower epoch and find the first server.
    if let Err(last) = writes_on(&client, first.port(), 3) {
        panic!("the pool never followed the Sentinels after their epoch went back: {last}");
    }
    assert_eq!(
        ask(first, &["GET", "k"]).as_ref().and_then(text),
        Some("3".to_owned())
    );
    for _ in 0..5 {
        assert_eq!(served_by(&client).expect("INFO"), first.port());
    }
}

// ---------------------------------------------------------------------------------------
// Scans on a replica client.

/// How many SCAN commands the server at `addr` ran since its last `CONFIG RESETSTAT`.
fn scan_calls(addr: SocketAddr) -> u64 {
    info_field(addr, "commandstats", "cmdstat_scan")
        .and_then(|stats| {
            stats
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Finding: a replica client's `scan_iter` ran each page as its own checkout, so pages could
/// reach different replicas, where the cursor means nothing (each process has its own hash
/// seed): keys were missed or repeated. Now the iterator keeps one connection from its first
/// page until it is dropped. Between pages the test takes two of the pool's connections at
/// once and gives them back in an order that puts a connection to the other replica on top
/// of the (LIFO) pool: with a checkout per page, every other page would go to the other
/// replica.
#[test]
fn a_replica_client_scans_on_one_replica() {
    const NAME: &str = "mscan";
    const KEYS: usize = 300;
    let group = SentinelGroup::builder(NAME)
        .replicas(2)
        .sentinels(1)
        .start();
    let sentinel = Sentinel::new(group.sentinel_addrs()).expect("a Sentinel list");
    let master = Client::sentinel_master(&sentinel, NAME, &data_config("scan-m"));
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k:{i}")).collect();
    let mut pipe = master.pipeline();
    pipe.transaction(false);
    for key in &keys {
        pipe.set(key, 1);
    }
    let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    pipe.sadd("s", &members);
    pipe.execute().expect("the keys, on the master");
    let replica_addrs: Vec<SocketAddr> = group.replicas().iter().map(RedisServer::addr).collect();
    assert!(
        eventually(Duration::from_secs(10), || replica_addrs
            .iter()
            .all(|&addr| existing(addr, &keys) == KEYS)),
        "the replicas never got every key"
    );

    // The master client does not pin: each page is a checkout.
    let mut on_master = master.scan_iter::<String>(ScanOptions::new().pattern("k:*").count(10));
    assert!(!on_master.client().is_pinned());
    assert!(on_master.next().expect("a key").is_ok());
    assert_eq!(
        master.pool().stats().in_use,
        0,
        "no connection between pages"
    );
    drop(on_master);

    let replicas = Client::sentinel_replica(&sentinel, NAME, &data_config("scan-r"));
    for addr in &replica_addrs {
        assert!(matches!(
            ask(*addr, &["CONFIG", "RESETSTAT"]),
            Some(Value::SimpleString(_))
        ));
    }
    let mut scan = replicas.scan_iter::<String>(ScanOptions::new().pattern("k:*").count(10));
    assert!(scan.client().is_pinned());
    assert_eq!(
        replicas.pool().stats().in_use,
        0,
        "nothing taken before the first page"
    );
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last_cursor = scan.cursor();
    let mut pages = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0.. {
        assert!(i <= 10 * KEYS && Instant::now() < deadline, "bounded");
        let Some(key) = scan.next() else { break };
        *seen.entry(key.expect("a key")).or_default() += 1;
        assert_eq!(
            replicas.pool().stats().in_use,
            1,
            "the scan holds one connection"
        );
        if scan.cursor() != last_cursor {
            // A page came: other commands take two connections (to both replicas) and give
            // them back, the one taken second on top (the pool is LIFO), so that with a
            // checkout per page the next page would go to the other replica.
            last_cursor = scan.cursor();
            pages += 1;
            let first = replicas.pool().get().expect("a connection");
            let second = replicas.pool().get().expect("another connection");
            drop(first);
            drop(second);
        }
    }
    assert!(pages >= 5, "many pages: {pages}");
    assert_eq!(seen.len(), KEYS, "every key");
    assert!(
        seen.values().all(|&n| n == 1),
        "each key once: {:?}",
        seen.iter().filter(|(_, n)| **n != 1).collect::<Vec<_>>()
    );
    let calls: Vec<u64> = replica_addrs.iter().map(|&addr| scan_calls(addr)).collect();
    assert!(
        calls.iter().filter(|&&n| n > 0).count() == 1 && calls.iter().sum::<u64>() >= pages,
        "every page on one replica: SCAN calls per replica {calls:?}"
    );
    assert_eq!(
        replicas.pool().stats().in_use,
        1,
        "held until the iterator is dropped"
    );
    drop(scan);
    let stats = replicas.pool().stats();
    assert_eq!(stats.in_use, 0, "{stats:?}");
    assert_eq!(
        (stats.closed_dirty, stats.closed_broken),
        (0, 0),
        "given back clean: {stats:?}"
    );
    assert_eq!(stats.idle as u64, stats.created, "{stats:?}");

    // The other scans pin too, and a scan dropped early gives its connection back.
    let set: BTreeSet<String> = replicas
        .sscan_iter("s", SscanOptions::new().count(10))
        .collect::<Result<_, _>>()
        .expect("SSCAN");
    assert_eq!(set.len(), 200);
    assert!(
        replicas
            .hscan_iter::<String, String>("h", HscanOptions::new())
            .client()
            .is_pinned()
    );
    assert!(
        replicas
            .zscan_iter::<String>("z", ZscanOptions::new())
            .client()
            .is_pinned()
    );
    let mut early = replicas.scan_iter::<String>(ScanOptions::new().count(10));
    assert!(early.next().expect("a key").is_ok());
    assert_eq!(replicas.pool().stats().in_use, 1);
    drop(early);
    assert_eq!(replicas.pool().stats().in_use, 0);
}
