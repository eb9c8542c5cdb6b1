//! redis-py 3.5.2 README, "Health Checks" (`redis.Redis(health_check_interval=30)`): a pooled
//! connection that sat idle longer than the interval is PINGed before it is used, a connection
//! the server dropped is replaced without the caller seeing an error, and a subscribed
//! connection is PINGed while it waits for messages (the answers are hidden, as in redis-py).
//!
//! `cargo xtask demo health_checks` runs it against a throwaway server; to run it against your
//! own: `cargo run -p redis-client --example health_checks -- redis://127.0.0.1:6379/0`.
//! It counts PINGs with `INFO commandstats`, so on a shared server other clients' PINGs show up
//! too (the checks only ask for "at least"). It only touches keys that start with
//! `health_checks:` and deletes them at the end. It takes about two seconds (it waits out the
//! interval twice).

use std::thread;
use std::time::{Duration, Instant};

use redis_client::{
    Client, ClientKillFilter, ClientKillFilterNewFormat, Commands, Error, InfoOptions, Message,
    MessageKind,
};

/// The health-check interval of this example (redis-py's example uses 30 s).
const INTERVAL: Duration = Duration::from_millis(500);

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    // A second client to look at the server from outside (INFO, CLIENT LIST, CLIENT KILL).
    let admin = Client::open(&url)?;

    // >>> r = redis.Redis(health_check_interval=30)
    println!(
        "1. Client::builder_from_url(url).health_check_interval({INTERVAL:?}); the URL form is ?health_check_interval=0.5"
    );
    let r = Client::builder_from_url(&url)?
        .health_check_interval(INTERVAL)
        .client_name("health-checks-example")
        .build();

    r.set("health_checks:key", "value")?;
    let last_use = Instant::now();
    let pings_before = pings(&admin)?;
    let idle = last_use.elapsed();
    let _: Option<String> = r.get("health_checks:key")?;
    let pings_busy = pings(&admin)?;
    println!(
        "   GET on a connection idle for {idle:?} -> {} PING(s) sent first",
        pings_busy - pings_before
    );

    thread::sleep(INTERVAL + Duration::from_millis(200));
    let value: Option<String> = r.get("health_checks:key")?;
    assert_eq!(value.as_deref(), Some("value"));
    let pings_idle = pings(&admin)?;
    assert!(
        pings_idle > pings_busy,
        "a connection idle past the interval is PINGed before use"
    );
    println!(
        "   GET after idling {:?} -> {} PING(s) sent first, then {value:?}",
        INTERVAL + Duration::from_millis(200),
        pings_idle - pings_busy
    );

    println!(
        "2. The server drops the idle connection (CLIENT KILL); the next command does not notice"
    );
    let ours = admin
        .client_list()?
        .clients
        .into_iter()
        .find(|c| c.name.as_deref() == Some("health-checks-example"))
        .expect("the example's pooled connection is on the server's client list");
    let killed: i64 = admin.client_kill(ClientKillFilter::NewFormat(vec![
        ClientKillFilterNewFormat::ClientId(ours.id as i64),
    ]))?;
    assert_eq!(killed, 1);
    let before = r.pool().stats();
    let value: Option<String> = r.get("health_checks:key")?;
    assert_eq!(value.as_deref(), Some("value"));
    let after = r.pool().stats();
    let replaced = (after.closed_stale + after.closed_health_check + after.closed_broken)
        - (before.closed_stale + before.closed_health_check + before.closed_broken);
    assert_eq!(replaced, 1, "{after:?}");
    assert_eq!(after.created, before.created + 1);
    println!(
        "   killed client id {}; GET -> {value:?}; the pool closed the dead connection and opened a new one ({} created in all)",
        ours.id, after.created
    );

    println!("3. A subscribed connection is PINGed while it waits, so a dead one is found");
    let mut p = r.pubsub()?;
    p.ignore_subscribe_messages(true);
    p.subscribe("health_checks:channel")?;
    assert_eq!(p.get_message(Duration::from_millis(100))?, None);
    let pings_before = pings(&admin)?;
    thread::sleep(INTERVAL + Duration::from_millis(200));
    // get_message() sends `PING redis-client-health-check` first; the answer is consumed
    // there (as redis-py does), so the caller only ever sees real messages.
    let nothing = p.get_message(Duration::from_millis(300))?;
    assert_eq!(nothing, None, "the health check's answer is not a message");
    let pings_after = pings(&admin)?;
    assert!(pings_after > pings_before);
    println!(
        "   get_message() after idling -> {nothing:?}; the server ran {} PING(s) meanwhile",
        pings_after - pings_before
    );
    assert_eq!(r.publish("health_checks:channel", "still here")?, 1);
    let message = p
        .get_message(Duration::from_secs(2))?
        .filter(|m| m.kind == MessageKind::Message);
    assert_eq!(
        message.as_ref().and_then(Message::payload_str),
        Some("still here")
    );
    println!(
        "   then a publish arrives as usual: {:?}",
        message.as_ref().and_then(Message::payload_str)
    );
    drop(p);

    let deleted = r.del("health_checks:key")?;
    assert_eq!(deleted, 1);
    println!("Done (deleted {deleted} key).");
    Ok(())
}

/// How many PINGs the server has run, from `INFO commandstats`.
fn pings(admin: &Client) -> Result<u64, Error> {
    let info = admin.info_with(&InfoOptions::new().section("commandstats"))?;
    Ok(info
        .subfields("cmdstat_ping")
        .and_then(|fields| {
            fields
                .into_iter()
                .find(|(name, _)| *name == "calls")
                .and_then(|(_, calls)| calls.parse().ok())
        })
        .unwrap_or(0))
}
