//! Lua scripts (`Script`: EVALSHA with a NOSCRIPT fallback, loaded before pipelines) and the
//! lazy scan iterators, from redis-py's README and RELIABILITY section 6 (D-F).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use redis_client::{
    Client, Commands, Error, PipelineCommands, Protocol, ScanExt, ServerErrorKind, cmd,
};
use redis_client::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use tests::RedisServer;

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    server.client_builder().protocol(protocol).build()
}

/// redis-py README: `multiply = r.register_script(lua)`, `multiply(keys=['foo'], args=[5])`.
#[test]
fn a_registered_script_runs_and_reloads_after_a_flush() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    c.set("foo", 2).unwrap();
    let multiply = c.register_script(
        "local value = redis.call('GET', KEYS[1])\nvalue = tonumber(value)\nreturn value * ARGV[1]",
    );
    let n: i64 = multiply.invoke(&c, ["foo"], [5]).unwrap();
    assert_eq!(n, 10);
    assert_eq!(
        c.script_exists::<Vec<bool>>(multiply.sha()).unwrap(),
        [true]
    );
    // The cache is flushed: the next call loads the script again, once.
    c.script_flush().unwrap();
    let n: i64 = multiply.invoke(&c, ["foo"], [7]).unwrap();
    assert_eq!(n, 14);
    // Read-only variant (Redis 7).
    let v: i64 = multiply.invoke_ro(&c, ["foo"], [1]).unwrap();
    assert_eq!(v, 2);
}

#[test]
fn a_script_error_is_not_retried_and_a_busy_script_is_its_own_kind() {
    let server = RedisServer::builder()
        .args(["--busy-reply-threshold", "50"])
        .start();
    let c = client(&server, Protocol::Resp3);
    let failing = c.register_script("return redis.error_reply('MYERR custom failure')");
    let err = failing
        .invoke::<(), _>(&c, [] as [&str; 0], [] as [&str; 0])
        .unwrap_err();
    assert_eq!(
        err.server_error().map(|e| e.code().to_owned()),
        Some("MYERR".to_owned())
    );

    // A long script makes the server answer others with BUSY.
    let looping = c.register_script("local i = 0 while true do i = i + 1 end");
    looping.load(&c).unwrap();
    let runner = {
        let c = c.clone();
        let looping = looping.clone();
        std::thread::spawn(move || looping.invoke::<(), _>(&c, [] as [&str; 0], [] as [&str; 0]))
    };
    let other = client(&server, Protocol::Resp2);
    let mut busy = None;
    for _ in 0..200 {
        match other.ping::<String>() {
            Err(e) if e.server_kind() == Some(ServerErrorKind::Busy) => {
                busy = Some(e);
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(
        busy.is_some(),
        "the server answered BUSY while the script ran"
    );
    other.script_kill().unwrap();
    let killed = runner.join().unwrap().unwrap_err();
    assert!(killed.to_string().contains("killed"), "{killed}");
}

/// RELIABILITY 1.8: in a transaction, EVALSHA after SCRIPT FLUSH must not half-apply; the
/// script is loaded before MULTI and the batch runs once.
#[test]
fn scripts_in_a_transaction_are_loaded_first() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let incr_by = c.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    c.script_flush().unwrap();
    let mut pipe = c.pipeline();
    pipe.set("before", 1);
    incr_by.queue(&mut pipe, ["counter"], [5]);
    incr_by.queue(&mut pipe, ["counter"], [6]);
    pipe.set("after", 1);
    let ((), five, eleven, ()): ((), i64, i64, ()) = pipe.query().unwrap();
    assert_eq!((five, eleven), (5, 11));
    let counter: i64 = c.get("counter").unwrap();
    assert_eq!(counter, 11, "the batch ran exactly once");
    assert_eq!(c.script_exists::<Vec<bool>>(incr_by.sha()).unwrap(), [true]);
}

#[test]
fn scan_iter_visits_every_key_once_with_match_count_and_type() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let c = client(&server, protocol);
        c.flushall().unwrap();
        let mut pipe = c.pipeline();
        pipe.transaction(false);
        for i in 0..1000 {
            pipe.set(format!("user:{i}"), i);
        }
        pipe.sadd("set:1", "a");
        pipe.execute().unwrap();

        let all: Vec<String> = c
            .scan_iter(ScanOptions::new().count(37))
            .collect::<Result<_, _>>()
            .unwrap();
        let unique: BTreeSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), 1001);

        let users: BTreeSet<String> = c
            .scan_iter(ScanOptions::new().pattern("user:1*"))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(users.len(), 111);
        let sets: Vec<String> = c
            .scan_iter(ScanOptions::new().of_type("set"))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(sets, ["set:1"]);
        // Lazy: taking two items asks for one page only.
        let two: Vec<String> = c
            .scan_iter(ScanOptions::new().count(10))
            .take(2)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(two.len(), 2);
    }
}

/// A MATCH that hits nothing for many pages: empty pages with a non-zero cursor continue.
#[test]
fn empty_pages_with_a_nonzero_cursor_continue() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for i in 0..2000 {
        pipe.set(format!("noise:{i}"), i);
    }
    pipe.set("needle", 1);
    pipe.execute().unwrap();
    let found: Vec<String> = c
        .scan_iter(ScanOptions::new().pattern("needle").count(10))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(found, ["needle"]);
}

#[test]
fn sscan_hscan_and_zscan_iterators() {
    let server = RedisServer::start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let c = client(&server, protocol);
        c.flushall().unwrap();
        let members: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
        c.sadd("s", &members).unwrap();
        let got: BTreeSet<String> = c
            .sscan_iter("s", SscanOptions::new().count(20))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got.len(), 300);

        let fields: Vec<(String, String)> = (0..300)
            .map(|i| (format!("f{i}"), format!("v{i}")))
            .collect();
        c.hset("h", fields.clone()).unwrap();
        let got: BTreeMap<String, String> = c
            .hscan_iter::<String, String>("h", HscanOptions::new().count(20))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got.len(), 300);
        assert_eq!(got["f42"], "v42");

        let scored: Vec<(f64, String)> = (0..300)
            .map(|i| (f64::from(i) / 2.0, format!("z{i}")))
            .collect();
        c.zadd("z", scored).unwrap();
        let got: BTreeMap<String, f64> = c
            .zscan_iter::<String>("z", ZscanOptions::new().pattern("z1*"))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got.len(), 111);
        assert_eq!(got["z11"], 5.5);
    }
}

#[test]
fn a_scan_error_ends_the_iteration_after_it_is_yielded() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    c.set("string", 1).unwrap();
    let mut it = c.sscan_iter::<String>("string", SscanOptions::new());
    let first = it.next().unwrap();
    assert!(matches!(&first, Err(Error::Server(e)) if e.kind() == ServerErrorKind::WrongType));
    assert!(it.next().is_none());
    // The raw cursor round-trips as u64.
    let (cursor, _keys): (u64, Vec<String>) = cmd("SCAN").arg(0u64).query(&c).unwrap();
    assert_eq!(cursor, 0);
}

/// RELIABILITY 40: after SCRIPT FLUSH and after a server restart, `invoke` loads the script
/// and runs it exactly once: its side effect (INCR) happens once per call.
#[test]
fn noscript_self_heals_and_runs_once() {
    let mut server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let bump = c.register_script("return redis.call('INCR', KEYS[1])");
    let n: i64 = bump.invoke(&c, ["count"], [] as [&str; 0]).unwrap();
    assert_eq!(n, 1);
    c.script_flush().unwrap();
    let n: i64 = bump.invoke(&c, ["count"], [] as [&str; 0]).unwrap();
    assert_eq!(n, 2, "loaded again and run once");
    server.restart(); // an empty script cache, and an empty database (no persistence)
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let n: i64 = loop {
        match bump.invoke(&c, ["count"], [] as [&str; 0]) {
            Ok(n) => break n,
            Err(e) if e.is_connection() && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(n, 1, "one run on the restarted server");
    assert_eq!(c.get::<i64>("count").unwrap(), 1);
}

/// RELIABILITY 55 (real server): 100,000 keys scanned while other keys come and go: every key
/// present for the whole scan is seen.
#[test]
fn a_scan_sees_every_key_present_throughout() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for i in 0..100_000 {
        pipe.set(format!("stable:{i}"), 1);
    }
    pipe.execute().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let c = c.clone();
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 1_000_000 {
                c.set(format!("churn:{i}"), 1).unwrap();
                if i >= 50 {
                    c.del(format!("churn:{}", i - 50)).unwrap();
                }
                i += 1;
            }
        })
    };
    let seen: BTreeSet<String> = c
        .scan_iter::<String>(ScanOptions::new().count(1000))
        .collect::<Result<_, _>>()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    let stable = seen.iter().filter(|k| k.starts_with("stable:")).count();
    assert_eq!(stable, 100_000);
}

/// RELIABILITY 55 (scripted server): cursors above `i64::MAX` go back byte for byte, an empty
/// page with a non-zero cursor continues, duplicates are passed on, and only `0` ends it.
#[test]
fn scan_cursors_round_trip_as_unsigned_64_bit() {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script: Vec<(&str, &[u8])> = vec![
        (
            "0",
            b"*2\r\n$19\r\n9223372036854775808\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        ),
        (
            "9223372036854775808",
            b"*2\r\n$20\r\n18446744073709551615\r\n*0\r\n",
        ),
        (
            "18446744073709551615",
            b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\nc\r\n",
        ),
    ];
    let server = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut decoder = redis_client::proto::Decoder::new();
        let mut buf = bytes::BytesMut::new();
        let mut cursors = Vec::new();
        for (expected, reply) in script {
            let request = loop {
                if let Some(v) = decoder.decode(&mut buf).unwrap() {
                    break v;
                }
                let mut chunk = [0u8; 512];
                let n = socket.read(&mut chunk).unwrap();
                assert!(n > 0, "the client closed early");
                buf.extend_from_slice(&chunk[..n]);
            };
            let redis_client::Value::Array(args) = request else {
                panic!("not a command: {request:?}");
            };
            let cursor = args[1].as_bytes().map(|b| b.to_vec()).unwrap_or_default();
            assert_eq!(
                cursor,
                expected.as_bytes(),
                "the cursor went back byte for byte"
            );
            cursors.push(String::from_utf8(cursor).unwrap());
            socket.write_all(reply).unwrap();
        }
        cursors
    });
    let c = Client::builder()
        .host("127.0.0.1")
        .port(port)
        .socket_timeout(Duration::from_secs(5))
        .build();
    let keys: Vec<String> = c
        .scan_iter(ScanOptions::new())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        keys,
        ["a", "b", "b", "c"],
        "duplicates are the caller's to handle"
    );
    let cursors = server.join().unwrap();
    assert_eq!(cursors.len(), 3);
}
