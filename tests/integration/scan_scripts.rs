//! Lua scripts (`Script`: EVALSHA with an EVAL fallback, loaded before pipelines) and the
//! lazy scan iterators, from redis-py's README and RELIABILITY section 6 (D-F), also on a
//! client whose commands reach two servers (a replica pool's worst case).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_client::conn::{Connection, ConnectionConfig};
use redis_client::pool::{Connector, Pool, PoolOptions};
use redis_client::{
    Client, Cmd, Commands, Error, PipelineCommands, Protocol, ScanExt, ServerErrorKind, Value, cmd,
};
use redis_client::{HscanOptions, ScanOptions, SscanOptions, ZscanOptions};
use tests::RedisServer;

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    server.client_builder().protocol(protocol).build()
}

/// Runs each command on the next of two servers in turn: what a pool whose connections go to
/// several replicas can do to consecutive commands under load.
struct Alternating {
    servers: [Client; 2],
    next: AtomicUsize,
}

impl Commands for Alternating {
    type Error = Error;

    fn run_cmd(&self, cmd: &Cmd) -> Result<Value, Error> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % 2;
        self.servers[i].run_cmd(cmd)
    }
}

/// A pool connector that opens each new connection to the next of two servers, as a Sentinel
/// replica pool does.
struct RoundRobin {
    configs: [ConnectionConfig; 2],
    next: AtomicUsize,
}

impl Connector for RoundRobin {
    fn connect(&self) -> Result<Connection, redis_client::conn::Error> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % 2;
        Connection::open(&self.configs[i])
    }

    fn config(&self) -> &ConnectionConfig {
        &self.configs[0]
    }
}

fn config(server: &RedisServer) -> ConnectionConfig {
    ConnectionConfig::builder()
        .host(server.host())
        .port(server.port())
        .build()
}

/// `INCR`'s count of `key` on each server.
fn counts(servers: &[Client; 2], key: &str) -> [i64; 2] {
    servers
        .each_ref()
        .map(|c| c.get::<Option<i64>>(key).unwrap().unwrap_or(0))
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

/// Finding: the NOSCRIPT recovery was EVALSHA, SCRIPT LOAD, EVALSHA as three commands, which
/// on a pool spanning several servers can land on three different ones: the script was loaded
/// on one server and asked for on another, and the call failed. The recovery is now one EVAL
/// (EVAL_RO) with the source, which loads and runs the script wherever it lands, once.
#[test]
fn noscript_recovery_is_one_command_when_commands_reach_different_servers() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    let servers = [client(&a, Protocol::Resp2), client(&b, Protocol::Resp3)];
    let both = Alternating {
        servers: servers.clone(),
        next: AtomicUsize::new(0),
    };
    let bump = servers[0].register_script("return redis.call('INCR', KEYS[1])");
    for call in 1..=3 {
        let n: i64 = bump
            .invoke(&both, ["count"], [] as [&str; 0])
            .unwrap_or_else(|e| panic!("call {call}: {e}"));
        // EVALSHA on A (NOSCRIPT: it ran nothing), then EVAL on B: once per call.
        assert_eq!(n, call, "call {call}");
        assert_eq!(counts(&servers, "count"), [0, call], "call {call}");
    }
    // EVAL left the script in B's cache; A never got it.
    let cached = servers
        .each_ref()
        .map(|c| c.script_exists::<Vec<bool>>(bump.sha()).unwrap()[0]);
    assert_eq!(cached, [false, true]);

    // The read-only variant falls back to EVAL_RO.
    servers[1].set("ro", "from b").unwrap();
    let read = servers[0].register_script("return redis.call('GET', KEYS[1])");
    let v: String = read.invoke_ro(&both, ["ro"], [] as [&str; 0]).unwrap();
    assert_eq!(v, "from b");
    let evals_ro: String = cmd("INFO").arg("commandstats").query(&servers[1]).unwrap();
    assert!(evals_ro.contains("cmdstat_eval_ro:calls=1,"), "{evals_ro}");
}

/// RELIABILITY 40 with the new fallback: after SCRIPT FLUSH, the next call is EVALSHA
/// (NOSCRIPT) then one EVAL, and its side effect happens once; no SCRIPT LOAD is sent.
#[test]
fn after_a_flush_the_fallback_is_one_eval_and_runs_once() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp2);
    let bump = c.register_script("return redis.call('INCR', KEYS[1])");
    assert_eq!(
        bump.invoke::<i64, _>(&c, ["n"], [] as [&str; 0]).unwrap(),
        1
    );
    c.script_flush().unwrap();
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&c).unwrap();
    assert_eq!(
        bump.invoke::<i64, _>(&c, ["n"], [] as [&str; 0]).unwrap(),
        2
    );
    assert_eq!(c.get::<i64>("n").unwrap(), 2, "incremented by exactly 1");
    let stats: String = cmd("INFO").arg("commandstats").query(&c).unwrap();
    assert!(stats.contains("cmdstat_evalsha:"), "{stats}");
    assert!(stats.contains("cmdstat_eval:calls=1,"), "{stats}");
    assert!(!stats.contains("cmdstat_script|load"), "{stats}");
    // The next call finds the script cached by EVAL.
    assert_eq!(
        bump.invoke::<i64, _>(&c, ["n"], [] as [&str; 0]).unwrap(),
        3
    );
    let stats: String = cmd("INFO").arg("commandstats").query(&c).unwrap();
    assert!(stats.contains("cmdstat_eval:calls=1,"), "{stats}");
}

/// Finding: each page of a scan is one checkout, so on a pool whose connections go to several
/// servers the pages can reach different servers. A scan on one connection the iterator owns
/// (`into_scan_iter` on `get_connection()`) stays on one server, even while other commands use
/// the pool's other connections between pages, and gives the connection up when dropped.
#[test]
fn a_scan_on_an_owned_connection_stays_on_one_server_and_releases_it() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    let direct = [client(&a, Protocol::Resp2), client(&b, Protocol::Resp2)];
    for (c, prefix) in direct.iter().zip(["a", "b"]) {
        let mut pipe = c.pipeline();
        pipe.transaction(false);
        for i in 0..300 {
            pipe.set(format!("{prefix}:{i}"), i);
        }
        pipe.execute().unwrap();
    }
    let expected: [BTreeSet<String>; 2] =
        ["a", "b"].map(|prefix| (0..300).map(|i| format!("{prefix}:{i}")).collect());
    let pool = Pool::with_connector(
        RoundRobin {
            configs: [config(&a), config(&b)],
            next: AtomicUsize::new(0),
        },
        PoolOptions::new().max_size(4),
    );
    let replicas = Client::from_pool(pool);

    for round in 0..2 {
        let mut scan = replicas
            .get_connection()
            .unwrap()
            .into_scan_iter::<String>(ScanOptions::new().count(10));
        let mut seen = BTreeSet::new();
        for (i, key) in scan.by_ref().enumerate() {
            assert!(i < 10_000, "bounded");
            seen.insert(key.unwrap());
            // Other commands meanwhile take the pool's other connections (to both servers).
            let _: String = replicas.ping().unwrap();
            let _: Option<String> = replicas.get("a:0").unwrap();
        }
        assert!(
            expected.contains(&seen),
            "round {round}: one server's keys, all of them: {} keys",
            seen.len()
        );
        assert_eq!(replicas.pool().stats().in_use, 1, "held by the iterator");
        drop(scan);
        assert_eq!(
            replicas.pool().stats().in_use,
            0,
            "given up with the iterator"
        );
    }
    assert!(
        replicas.pool().stats().created >= 3,
        "the pool used both servers"
    );

    // Dropped half-way, the iterator gives its connection up too.
    let mut scan = replicas
        .get_connection()
        .unwrap()
        .into_sscan_iter::<String>("no-such-set", SscanOptions::new());
    assert!(scan.next().is_none());
    let mut scan2 = replicas
        .get_connection()
        .unwrap()
        .into_scan_iter::<String>(ScanOptions::new().count(5));
    assert!(scan2.next().unwrap().is_ok());
    assert_eq!(replicas.pool().stats().in_use, 2);
    drop(scan);
    drop(scan2);
    assert_eq!(replicas.pool().stats().in_use, 0);
}

/// The owning iterators on one standalone server: every item, once, for each scan family.
#[test]
fn owned_scan_iterators_on_a_standalone_server() {
    let server = RedisServer::start();
    let c = client(&server, Protocol::Resp3);
    let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    c.sadd("s", &members).unwrap();
    let fields: Vec<(String, String)> = (0..200)
        .map(|i| (format!("f{i}"), format!("v{i}")))
        .collect();
    c.hset("h", fields).unwrap();
    let scored: Vec<(f64, String)> = (0..200).map(|i| (f64::from(i), format!("z{i}"))).collect();
    c.zadd("z", scored).unwrap();

    let mut keys: Vec<String> = c
        .get_connection()
        .unwrap()
        .into_scan_iter(ScanOptions::new().count(2))
        .collect::<Result<_, _>>()
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["h", "s", "z"], "every key, once");
    let got: BTreeSet<String> = c
        .get_connection()
        .unwrap()
        .into_sscan_iter("s", SscanOptions::new().count(20))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got.len(), 200);
    let got: BTreeMap<String, String> = c
        .get_connection()
        .unwrap()
        .into_hscan_iter::<String, String>("h", HscanOptions::new().count(20))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!((got.len(), got["f7"].as_str()), (200, "v7"));
    let got: BTreeMap<String, f64> = c
        .get_connection()
        .unwrap()
        .into_zscan_iter::<String>("z", ZscanOptions::new().count(20))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!((got.len(), got["z7"]), (200, 7.0));
    assert_eq!(c.pool().stats().in_use, 0);
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
            while !stop.load(Ordering::Relaxed) && i < 1_000_000 {
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
    stop.store(true, Ordering::Relaxed);
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
            let Value::Array(args) = request else {
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

/// On a one-server client the scan iterators take a connection per page and hold none between
/// pages, so a loop that sends commands through the same client works with a pool of one
/// connection (with a connection held by the iterator, each DEL would wait for the pool and
/// time out).
#[test]
fn a_one_server_scan_holds_no_connection_so_a_loop_may_use_the_client() {
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .max_connections(1)
        .pool_timeout(Some(Duration::from_secs(2)))
        .build();
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for i in 0..300 {
        pipe.set(format!("del:{i}"), i);
    }
    for i in 0..50 {
        pipe.set(format!("keep:{i}"), i);
    }
    let fields: Vec<(String, i64)> = (0..200).map(|i| (format!("f{i}"), i)).collect();
    pipe.hset("h", fields);
    pipe.execute().unwrap();
    c.config_resetstat().unwrap();

    let scan = c.scan_iter::<String>(ScanOptions::new().pattern("del:*").count(10));
    assert!(!scan.client().is_pinned());
    let mut deleted = 0;
    for (i, key) in scan.enumerate() {
        assert!(i < 10_000, "bounded");
        assert_eq!(
            c.pool().stats().in_use,
            0,
            "no connection held between pages"
        );
        deleted += c.del(key.unwrap()).unwrap();
    }
    assert_eq!(deleted, 300);
    assert_eq!(c.dbsize().unwrap(), 51);
    let stats: String = cmd("INFO").arg("commandstats").query(&c).unwrap();
    let calls: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_scan:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(calls > 5, "many pages, each a checkout: {calls}");

    let mut removed = 0;
    for (i, pair) in c
        .hscan_iter::<String, i64>("h", HscanOptions::new().count(10))
        .enumerate()
    {
        assert!(i < 10_000, "bounded");
        let (field, _) = pair.unwrap();
        removed += c.hdel("h", field).unwrap();
    }
    assert_eq!(removed, 200);
    let stats = c.pool().stats();
    assert_eq!(
        (stats.in_use, stats.created, stats.timeouts),
        (0, 1, 0),
        "{stats:?}"
    );
}
