//! The client against real servers: transports, authentication, database selection, names,
//! health checks, recovery, and the pool's integrity under faults (RELIABILITY.md section 6,
//! tests 1-22 where they need no proxy).

use std::thread;
use std::time::{Duration, Instant};

use redis_client::conn::Phase;
use redis_client::{Client, Error, ServerErrorKind, Value, cmd};
use tests::RedisServer;
use tests::eventually;

fn url(server: &RedisServer) -> String {
    format!("redis://127.0.0.1:{}", server.port())
}

fn client(server: &RedisServer) -> Client {
    Client::open(&url(server)).expect("client")
}

fn info_field(client: &Client, section: &str, field: &str) -> Option<String> {
    let info: String = cmd("INFO").arg(section).query(client).ok()?;
    info.lines().find_map(|line| {
        line.strip_prefix(field)?
            .strip_prefix(':')
            .map(|v| v.trim().to_owned())
    })
}

#[test]
fn tcp_set_get_and_typed_replies() {
    let server = RedisServer::start();
    let c = client(&server);
    cmd("SET").arg("k").arg("v").execute(&c).unwrap();
    let v: Option<String> = cmd("GET").arg("k").query(&c).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    let missing: Option<String> = cmd("GET").arg("nope").query(&c).unwrap();
    assert_eq!(missing, None);
    let n: i64 = cmd("INCRBY").arg("n").arg(-3).query(&c).unwrap();
    assert_eq!(n, -3);
    let f: f64 = cmd("INCRBYFLOAT").arg("f").arg(2.5).query(&c).unwrap();
    assert_eq!(f, 2.5);
    let bytes: Vec<u8> = cmd("GET").arg("k").query(&c).unwrap();
    assert_eq!(bytes, b"v");
}

#[test]
fn a_conversion_failure_keeps_the_connection_aligned() {
    let server = RedisServer::start();
    let c = Client::builder()
        .port(server.port())
        .host("127.0.0.1")
        .max_connections(1)
        .build();
    cmd("SET")
        .arg("text")
        .arg("not a number")
        .execute(&c)
        .unwrap();
    let err = cmd("GET").arg("text").query::<i64, _>(&c).unwrap_err();
    assert!(matches!(err, Error::Conversion(_)), "{err}");
    let pong: String = cmd("PING").query(&c).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(c.pool().stats().created, 1, "the connection was kept");
}

#[test]
fn unix_socket_transport() {
    let server = RedisServer::builder().unix_socket_only().start();
    let path = server.unix_path().display().to_string();
    let c = Client::open(&format!("unix://{path}?db=2")).unwrap();
    cmd("SET").arg("k").arg("unix").execute(&c).unwrap();
    let mut raw = server.raw_unix();
    raw.request(["SELECT", "2"]);
    assert_eq!(raw.request(["GET", "k"]), Value::BulkString("unix".into()));
}

#[test]
fn ipv6_loopback_transport() {
    let server = RedisServer::builder().ipv6().start();
    let c = Client::open(&format!("redis://[::1]:{}", server.port())).unwrap();
    let pong: String = cmd("PING").query(&c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn password_authentication() {
    let server = RedisServer::builder()
        .args(["--requirepass", "s3cret-pw"])
        .start();
    let good = Client::open(&format!("redis://:s3cret-pw@127.0.0.1:{}", server.port())).unwrap();
    assert_eq!(cmd("PING").query::<String, _>(&good).unwrap(), "PONG");

    let bad = Client::open(&format!(
        "redis://:wrong-pw-123@127.0.0.1:{}",
        server.port()
    ))
    .unwrap();
    let err = cmd("PING").query::<String, _>(&bad).unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    assert_eq!(err.server_kind(), Some(ServerErrorKind::WrongPass));
    let text = format!("{err} {err:?}");
    assert!(!text.contains("wrong-pw-123"), "{text}");

    let none = client(&server);
    let err = cmd("PING").query::<String, _>(&none).unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::NoAuth), "{err}");
}

#[test]
fn acl_user_authentication() {
    let server = RedisServer::start();
    let mut raw = server.raw();
    raw.request([
        "ACL",
        "SETUSER",
        "alice",
        "on",
        ">alice-pw",
        "~app:*",
        "+@all",
    ]);
    let alice = Client::open(&format!(
        "redis://alice:alice-pw@127.0.0.1:{}",
        server.port()
    ))
    .unwrap();
    let who: String = cmd("ACL").arg("WHOAMI").query(&alice).unwrap();
    assert_eq!(who, "alice");
    cmd("SET").arg("app:x").arg(1).execute(&alice).unwrap();
    let err = cmd("SET").arg("other").arg(1).execute(&alice).unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::NoPerm), "{err}");

    let wrong = Client::open(&format!("redis://alice:nope@127.0.0.1:{}", server.port())).unwrap();
    let err = cmd("PING").query::<String, _>(&wrong).unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
}

#[test]
fn resp3_protocol() {
    let server = RedisServer::start();
    let c = Client::open(&format!("{}?protocol=3", url(&server))).unwrap();
    cmd("HSET")
        .arg("h")
        .args(["a", "1", "b", "2"])
        .execute(&c)
        .unwrap();
    let raw: Value = cmd("HGETALL").arg("h").query(&c).unwrap();
    assert!(matches!(raw, Value::Map(_)), "RESP3 sends a map: {raw:?}");
    let map: std::collections::HashMap<String, i64> = cmd("HGETALL").arg("h").query(&c).unwrap();
    assert_eq!(map["b"], 2);
    let proto = info_field(&c, "clients", "connected_clients");
    assert!(proto.is_some());
}

#[test]
fn database_selection_and_client_name() {
    let server = RedisServer::start();
    let c = Client::open(&format!("{}/3?client_name=worker-7", url(&server))).unwrap();
    cmd("SET").arg("where").arg("db3").execute(&c).unwrap();
    let name: Option<String> = cmd("CLIENT").arg("GETNAME").query(&c).unwrap();
    assert_eq!(name.as_deref(), Some("worker-7"));
    let mut raw = server.raw();
    assert_eq!(raw.request(["GET", "where"]), Value::Null);
    raw.request(["SELECT", "3"]);
    assert_eq!(
        raw.request(["GET", "where"]),
        Value::BulkString("db3".into())
    );
}

#[test]
fn an_out_of_range_database_is_a_server_error() {
    let server = RedisServer::start();
    let c = Client::open(&format!("{}/99", url(&server))).unwrap();
    let err = cmd("PING").query::<String, _>(&c).unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::Err), "{err}");
    assert_eq!(c.pool().stats().in_use, 0);
}

#[test]
fn health_check_pings_only_after_idling() {
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .health_check_interval(Duration::from_secs(1))
        .max_connections(1)
        .build();
    let pings = |c: &Client| -> u64 {
        info_field(c, "commandstats", "cmdstat_ping")
            .and_then(|v| v.split(',').next()?.strip_prefix("calls=")?.parse().ok())
            .unwrap_or(0)
    };
    // The fixture's readiness probe PINGed once already.
    let baseline = pings(&c);
    for _ in 0..5 {
        cmd("SET").arg("k").arg(1).execute(&c).unwrap();
    }
    assert_eq!(pings(&c), baseline, "no PING while busy");
    thread::sleep(Duration::from_millis(1300));
    cmd("SET").arg("k").arg(2).execute(&c).unwrap();
    assert_eq!(
        pings(&c),
        baseline + 1,
        "one PING after idling past the interval"
    );
}

#[test]
fn recovers_after_a_server_restart() {
    let mut server = RedisServer::start();
    let c = client(&server);
    cmd("SET").arg("k").arg(1).execute(&c).unwrap();
    server.restart();
    // The idle connection is dead; the checkout check finds it before sending.
    let n: i64 = cmd("INCR").arg("counter").query(&c).unwrap();
    assert_eq!(n, 1);
    assert!(c.pool().stats().closed_stale >= 1, "{:?}", c.pool().stats());
}

#[test]
fn recovers_after_client_kill_and_runs_the_command_once() {
    let server = RedisServer::start();
    let c = client(&server);
    cmd("SET").arg("c").arg(0).execute(&c).unwrap();
    let mut raw = server.raw();
    raw.request(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]);
    let n: i64 = cmd("INCR").arg("c").query(&c).unwrap();
    assert_eq!(n, 1, "the INCR ran exactly once");
}

#[test]
fn idle_connections_closed_by_the_server_are_replaced() {
    // RELIABILITY test 10 (a): the server's idle timeout closes pooled connections.
    let server = RedisServer::builder().args(["--timeout", "1"]).start();
    let c = client(&server);
    cmd("SET").arg("c").arg(0).execute(&c).unwrap();
    let mut raw = server.raw();
    assert!(
        eventually(Duration::from_secs(5), || {
            matches!(raw.request(["CLIENT", "LIST"]), Value::BulkString(ref s) if s.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() == 1)
        }),
        "the server closed the idle connection"
    );
    let n: i64 = cmd("INCR").arg("c").query(&c).unwrap();
    assert_eq!(n, 1);
    assert_eq!(c.pool().stats().closed_stale, 1);
}

#[test]
fn a_pool_shared_by_two_clients() {
    let server = RedisServer::start();
    let a = client(&server);
    let b = Client::from_pool(a.pool().clone());
    cmd("SET").arg("k").arg("shared").execute(&a).unwrap();
    let v: String = cmd("GET").arg("k").query(&b).unwrap();
    assert_eq!(v, "shared");
    assert_eq!(a.pool().stats().created, 1);
    assert_eq!(b.pool().stats().idle, 1);
}

#[test]
fn a_read_timeout_discards_the_connection_and_never_misattributes() {
    // RELIABILITY test 1, with a server-side BLPOP timeout as the delay.
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .socket_timeout(Duration::from_millis(200))
        .max_connections(1)
        .build();
    for i in 0..20 {
        cmd("SET")
            .arg(format!("key:{i}"))
            .arg(format!("value:{i}"))
            .execute(&c)
            .unwrap();
    }
    for i in 0..20 {
        if i % 4 == 0 {
            // The server holds the reply for 2 s; the client gives up after 200 ms.
            let err = cmd("BLPOP").arg("never").arg(2).execute(&c).unwrap_err();
            assert!(err.is_timeout(), "{err}");
            assert!(matches!(
                err,
                Error::Connection(redis_client::conn::Error::Timeout(Phase::Reading))
            ));
        }
        let v: String = cmd("GET").arg(format!("key:{i}")).query(&c).unwrap();
        assert_eq!(v, format!("value:{i}"), "reply misattributed");
    }
    let stats = c.pool().stats();
    assert_eq!(stats.closed_broken, 5, "{stats:?}");
    assert_eq!(stats.in_use, 0);
}

#[test]
fn an_abandoned_blocking_command_does_not_eat_the_item() {
    // RELIABILITY test 7.
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .socket_timeout(Duration::from_millis(200))
        .build();
    let err = cmd("BLPOP")
        .arg("q")
        .arg(0)
        .query::<Value, _>(&c)
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let mut raw = server.raw();
    // The abandoned connection is closed, so the server stops blocking for it.
    assert!(eventually(Duration::from_secs(5), || {
        raw.request(["INFO", "clients"])
            .as_bytes()
            .is_some_and(|b| String::from_utf8_lossy(b).contains("blocked_clients:0"))
    }));
    raw.request(["LPUSH", "q", "item"]);
    assert_eq!(raw.request(["LLEN", "q"]), Value::Integer(1));
    assert_eq!(c.pool().stats().in_use, 0);
}

#[test]
fn a_write_to_a_stopped_server_times_out_and_the_pool_recovers() {
    // RELIABILITY test 9.
    let mut server = RedisServer::start();
    let c = server
        .client_builder()
        .socket_timeout(Duration::from_millis(200))
        .build();
    cmd("PING").query::<String, _>(&c).unwrap();
    server.pause();
    let big = vec![b'x'; 64 << 20];
    let started = Instant::now();
    let err = cmd("SET").arg("big").arg(big).execute(&c).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.resume();
    let pong: String = cmd("PING").query(&c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(c.pool().stats().closed_broken >= 1);
}

#[test]
fn a_nested_checkout_times_out_instead_of_hanging() {
    // RELIABILITY test 17.
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .max_connections(1)
        .pool_timeout(Some(Duration::from_millis(200)))
        .build();
    let _held = c.get_connection().unwrap();
    let started = Instant::now();
    let err = cmd("PING").query::<String, _>(&c).unwrap_err();
    assert!(
        matches!(err, Error::Pool(redis_client::pool::Error::Timeout { .. })),
        "{err}"
    );
    assert!(err.is_timeout() && err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn fail_fast_pools_refuse_at_once() {
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .max_connections(1)
        .fail_fast_when_exhausted()
        .build();
    let _held = c.get_connection().unwrap();
    let err = cmd("PING").query::<String, _>(&c).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Pool(redis_client::pool::Error::Exhausted { max_size: 1 })
        ),
        "{err}"
    );
}

#[test]
fn auth_failures_do_not_consume_pool_slots() {
    // RELIABILITY test 19.
    let server = RedisServer::builder()
        .args(["--requirepass", "right"])
        .start();
    let c = Client::open(&format!("redis://:wrong@127.0.0.1:{}", server.port())).unwrap();
    for _ in 0..100 {
        let err = cmd("PING").query::<String, _>(&c).unwrap_err();
        assert!(matches!(err, Error::Auth(_)), "{err}");
    }
    let stats = c.pool().stats();
    assert_eq!(
        (stats.idle, stats.in_use, stats.created),
        (0, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn exhaustion_with_waiting_serves_everyone() {
    // RELIABILITY test 16, scaled to a 2-core machine.
    let server = RedisServer::start();
    let c = server
        .client_builder()
        .max_connections(4)
        .pool_timeout(Some(Duration::from_secs(5)))
        .build();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let c = c.clone();
            thread::spawn(move || {
                for j in 0..5 {
                    let mut conn = c.get_connection().expect("a connection within 5 s");
                    cmd("SET")
                        .arg(format!("t{i}:{j}"))
                        .arg(j)
                        .execute(&mut conn)
                        .unwrap();
                    thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = c.pool().stats();
    assert!(stats.waits > 0, "{stats:?}");
    assert_eq!(stats.timeouts, 0);
    assert_eq!(stats.in_use, 0);
    let size: i64 = cmd("DBSIZE").query(&c).unwrap();
    assert_eq!(size, 80);
}

#[test]
fn select_on_the_pooled_client_cannot_leak() {
    // RELIABILITY test 14.
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(4).build();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            thread::spawn(move || {
                for i in 0..200 {
                    if t % 2 == 1 {
                        cmd("SELECT").arg(3).execute(&c).unwrap();
                    }
                    let key = format!("t{t}:{i}");
                    cmd("SET").arg(&key).arg(&key).execute(&c).unwrap();
                    let v: String = cmd("GET").arg(&key).query(&c).unwrap();
                    assert_eq!(v, key);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut raw = server.raw();
    assert_eq!(raw.request(["DBSIZE"]), Value::Integer(800));
    raw.request(["SELECT", "3"]);
    assert_eq!(
        raw.request(["DBSIZE"]),
        Value::Integer(0),
        "nothing landed in db 3"
    );
    assert_eq!(c.pool().stats().closed_dirty, 400);
}

#[test]
fn a_select_built_in_one_args_call_still_closes_its_connection() {
    // The command's name is its first argument even when all came in one `args` call.
    let server = RedisServer::start();
    let c = client(&server);
    cmd("SET").arg("k").arg("db0").execute(&c).unwrap();
    let mut select = redis_client::Cmd::new();
    select.args(["SELECT", "2"]);
    select.execute(&c).unwrap();
    let v: Option<String> = cmd("GET").arg("k").query(&c).unwrap();
    assert_eq!(
        v.as_deref(),
        Some("db0"),
        "the next command ran in database 0"
    );
    assert_eq!(c.pool().stats().closed_dirty, 1);
}

#[test]
fn state_changing_commands_never_reach_the_next_borrower() {
    // RELIABILITY test 13, every row.
    let server = RedisServer::start();
    let mut raw = server.raw();
    raw.request(["ACL", "SETUSER", "bob", "on", ">bob-pw", "~*", "+@all"]);
    let c = server
        .client_builder()
        .socket_timeout(Duration::from_secs(1))
        .max_connections(1)
        .build();
    let actions: &[&[&str]] = &[
        &["MULTI"],
        &["WATCH", "w"],
        &["SELECT", "5"],
        &["CLIENT", "REPLY", "OFF"],
        &["CLIENT", "REPLY", "SKIP"],
        &["CLIENT", "SETNAME", "dirty"],
        &["HELLO", "3"],
        &["AUTH", "bob", "bob-pw"],
        &["RESET"],
        &["READONLY"],
        &["SUBSCRIBE", "ch"],
        &["PSUBSCRIBE", "ch.*"],
        &["SSUBSCRIBE", "sch"],
        &["MONITOR"],
        &["CLIENT", "TRACKING", "ON"],
    ];
    for action in actions {
        let mut command = cmd(action[0]);
        command.args(&action[1..]);
        // Some of these fail or get no reply at all; either way the connection must go.
        let _ = command.query::<Value, _>(&c);
        let info: String = cmd("CLIENT").arg("INFO").query(&c).unwrap();
        for expected in [
            "db=0",
            "multi=-1",
            "sub=0",
            "psub=0",
            "name= ",
            "resp=2",
            "user=default",
        ] {
            assert!(info.contains(expected), "after {action:?}: {info}");
        }
        let exec = cmd("EXEC").execute(&c).unwrap_err();
        assert!(
            exec.to_string().contains("EXEC without MULTI"),
            "after {action:?}: {exec}"
        );
    }
    let stats = c.pool().stats();
    assert_eq!(stats.in_use, 0);
    assert!(
        stats.closed_dirty + stats.closed_broken >= actions.len() as u64,
        "{stats:?}"
    );
}

#[test]
fn dedicated_connections_keep_their_state() {
    let server = RedisServer::start();
    let c = client(&server);
    let mut conn = c.get_connection().unwrap();
    cmd("SELECT").arg(4).execute(&mut conn).unwrap();
    cmd("SET").arg("k").arg("in-4").execute(&mut conn).unwrap();
    let v: String = cmd("GET").arg("k").query(&mut conn).unwrap();
    assert_eq!(v, "in-4");
    drop(conn);
    let v: Option<String> = cmd("GET").arg("k").query(&c).unwrap();
    assert_eq!(v, None, "the pooled client is still on db 0");
}

/// The connection-state commands live on the dedicated connection, typed.
#[test]
fn dedicated_connections_have_the_state_commands() {
    use redis_client::Commands;

    let server = RedisServer::start();
    let c = client(&server);
    let mut conn = c.get_connection().unwrap();
    conn.select(3).unwrap();
    conn.set("k", "in-3").unwrap();
    assert_eq!(conn.client_info().unwrap().db, Some(3));
    conn.readwrite().unwrap_err(); // not a cluster: the server refuses, the connection lives
    conn.client_tracking_on(&["BCAST"]).unwrap();
    let info = conn.client_info().unwrap();
    assert!(
        info.flags.as_deref().is_some_and(|f| f.contains('t')),
        "{info:?}"
    );
    conn.client_tracking_off().unwrap();
    conn.reset().unwrap();
    assert_eq!(
        conn.client_info().unwrap().db,
        Some(0),
        "RESET went back to db 0"
    );
    let err = conn.readonly().unwrap_err();
    assert!(err.to_string().contains("cluster"), "{err}");
    drop(conn);
    assert_eq!(c.exists("k").unwrap(), 0, "the pooled client is on db 0");
}

#[test]
fn a_panic_while_holding_a_connection_discards_it() {
    // RELIABILITY test 5.
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(1).build();
    let c2 = c.clone();
    let result = thread::spawn(move || {
        let mut conn = c2.get_connection().unwrap();
        conn.connection().send(&["BLPOP", "k", "5"]).unwrap();
        panic!("user code panics before reading the reply");
    })
    .join();
    assert!(result.is_err());
    let pong: String = cmd("PING").query(&c).unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(c.pool().stats().in_use, 0);
}

#[test]
fn connect_failures_are_retryable_and_say_so() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::builder().host("127.0.0.1").port(port).build();
    let err = cmd("PING").query::<String, _>(&c).unwrap_err();
    assert!(err.is_connection() && err.is_retryable(), "{err}");
    let c = Client::open("redis://no-such-host.invalid:6379").unwrap();
    let err = cmd("PING").query::<String, _>(&c).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Connection(redis_client::conn::Error::Resolve { .. })
        ),
        "{err}"
    );
}

#[test]
fn connect_retries_wait_for_a_late_server() {
    // RELIABILITY test 12: the first connect attempts are refused, then the server starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Client::builder()
        .host("127.0.0.1")
        .port(port)
        .connect_retries(8)
        .build();
    let starter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(150));
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (mut stream, _) = listener.accept().unwrap();
        use std::io::{Read, Write};
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).unwrap();
        assert!(buf[..n].ends_with(b"PING\r\n"));
        stream.write_all(b"+PONG\r\n").unwrap();
    });
    let pong: String = cmd("PING").query(&c).unwrap();
    assert_eq!(pong, "PONG");
    starter.join().unwrap();
}

/// A wait for unsolicited values (`next_value`, as pub/sub and MONITOR use) leaves its own read
/// timeout on the socket; the next request must get the configured socket timeout back.
#[test]
fn a_long_wait_does_not_stretch_the_next_request_timeout() {
    let mut server = RedisServer::start();
    let c = server
        .client_builder()
        .socket_timeout(Duration::from_millis(200))
        .build();
    let mut dedicated = c.get_connection().unwrap();
    let conn = dedicated.connection();
    // A value the connection did not ask a reply for arrives during a 30 s wait: the wait
    // ends at once, leaving its 30 s read timeout on the socket.
    conn.send_with(0, |buf| redis_client::proto::encode_command(buf, ["PING"]))
        .unwrap();
    let pong = conn.next_value(Duration::from_secs(30)).unwrap();
    assert_eq!(pong, Some(Value::SimpleString("PONG".into())));
    server.pause();
    let started = Instant::now();
    let err = conn.request(&["PING"]).unwrap_err();
    let waited = started.elapsed();
    server.resume();
    assert!(err.is_timeout(), "{err}");
    assert!(
        waited < Duration::from_secs(10),
        "the request waited {waited:?}"
    );
}
