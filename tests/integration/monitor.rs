//! MONITOR: parsed events from a real server (redis-py's Monitor), and RELIABILITY 13's
//! MONITOR row.

use std::time::{Duration, Instant};

use redis_client::{Client, Commands, MonitorEvent, MonitorSource};
use tests::RedisServer;

/// The next event whose command is `name`, waiting a bounded time.
fn next_command(monitor: &mut redis_client::Monitor, name: &str) -> MonitorEvent {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(event) = monitor.next_event(Duration::from_millis(100)).unwrap()
            && event.command() == name
        {
            return event;
        }
    }
    panic!("no {name} within 5 s");
}

#[test]
fn monitor_reports_commands_with_their_arguments() {
    let server = RedisServer::builder().unix_socket().start();
    let c = server.client_builder().db(2).build();
    let mut monitor = c.monitor().unwrap();

    c.set("greeting", "a \"quoted\"\nline\x00\u{e9}").unwrap();
    let event = next_command(&mut monitor, "SET");
    assert_eq!(event.db, 2);
    assert!(matches!(&event.source, MonitorSource::Tcp(addr) if addr.starts_with("127.0.0.1:")));
    assert_eq!(&event.args[1][..], b"greeting");
    assert_eq!(
        &event.args[2][..],
        "a \"quoted\"\nline\x00\u{e9}".as_bytes()
    );
    assert!(
        event.timestamp > 1.6e9,
        "a Unix timestamp: {}",
        event.timestamp
    );

    // A Lua script's commands, and a Unix-socket client.
    let _: Option<String> = c
        .eval(
            "return redis.call('GET', KEYS[1])",
            ["greeting"],
            Vec::<String>::new(),
        )
        .unwrap();
    let event = next_command(&mut monitor, "GET");
    assert_eq!(event.source, MonitorSource::Lua);
    let unix = Client::builder().unix_socket(server.unix_path()).build();
    unix.ping::<String>().unwrap();
    let event = next_command(&mut monitor, "PING");
    assert!(
        matches!(event.source, MonitorSource::Unix(_)),
        "{:?}",
        event.source
    );

    // Iteration.
    c.incr("n").unwrap();
    let event = monitor
        .iter()
        .map(Result::unwrap)
        .find(|e| e.command() == "INCR")
        .unwrap();
    assert_eq!(&event.args[1][..], b"n");
}

/// RELIABILITY 13, MONITOR row: MONITOR runs on a connection of its own; a raw MONITOR sent
/// through the pool closes that connection instead of handing it to the next borrower.
#[test]
fn monitor_never_reaches_a_pooled_borrower() {
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(1).build();
    let monitor = c.monitor().unwrap();
    // The monitor's connection does not hold the only pool slot.
    c.set("k", 1).unwrap();
    drop(monitor);
    let _: String = redis_client::cmd("MONITOR").query(&c).unwrap();
    let v: i64 = c.get("k").unwrap();
    assert_eq!(v, 1, "the next borrower got a normal connection");
}

/// An IPv6 client's address holds brackets of its own (`[::1]:50123`): its commands parse.
#[test]
fn monitor_reports_ipv6_clients() {
    let server = RedisServer::builder().ipv6().start();
    let c = server.client_builder().build();
    let mut monitor = c.monitor().unwrap();
    c.set("over-ipv6", "v").unwrap();
    let event = next_command(&mut monitor, "SET");
    assert_eq!(event.args[1..], [&b"over-ipv6"[..], b"v"]);
    let MonitorSource::Tcp(addr) = &event.source else {
        panic!("{:?}", event.source)
    };
    let addr: std::net::SocketAddr = addr.parse().expect("an address SocketAddr parses");
    assert!(addr.is_ipv6() && addr.ip().is_loopback(), "{addr}");
}
