//! redis-py 3.5.2 README, "Connection Pools" (and `BlockingConnectionPool`): every client owns
//! a pool; clients can share one; a full pool waits (or fails at once) instead of opening more.
//!
//! `cargo xtask demo connection_pools` runs it against a throwaway server; to run it against
//! your own: `cargo run -p redis-client --example connection_pools -- redis://127.0.0.1:6379/0`.
//! It only touches keys that start with `connection_pools:` and deletes them at the end.

use std::thread;
use std::time::{Duration, Instant};

use redis_client::{Client, Commands, Error};

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());

    // Keys left over from an interrupted run go first (through a client of their own, so
    // that the counts below start from zero).
    Client::open(&url)?.del(["connection_pools:key", "connection_pools:counter"])?;

    // >>> pool = redis.ConnectionPool(host='localhost', port=6379, db=0, max_connections=4)
    // >>> r = redis.Redis(connection_pool=pool)
    println!("1. A client is its pool: Client::builder_from_url(url).max_connections(4)");
    let r = Client::builder_from_url(&url)?.max_connections(4).build();
    assert_eq!(r.pool().options().max_size, 4);
    r.set("connection_pools:key", "value")?;
    let value: Option<String> = r.get("connection_pools:key")?;
    assert_eq!(value.as_deref(), Some("value"));
    let stats = r.pool().stats();
    assert_eq!(
        stats.created, 1,
        "two commands in a row reuse one connection"
    );
    println!(
        "   SET then GET -> {value:?}; connections created: {}, idle: {}",
        stats.created, stats.idle
    );

    // Two Redis objects on one ConnectionPool.
    println!("2. Another client on the same pool: Client::from_pool(r.pool().clone())");
    let other = Client::from_pool(r.pool().clone());
    let n: i64 = other.incr("connection_pools:counter")?;
    assert_eq!(n, 1);
    assert_eq!(
        r.pool().stats().created,
        1,
        "the second client reused the first one's connection"
    );
    println!("   INCR through the second client -> {n}; still 1 connection in the pool");

    println!("3. Eight threads share the four connections");
    let started = Instant::now();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let client = r.clone();
            thread::spawn(move || -> Result<(), Error> {
                for _ in 0..100 {
                    client.incr("connection_pools:counter")?;
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker thread")?;
    }
    let total: i64 = r
        .get::<Option<i64>>("connection_pools:counter")?
        .unwrap_or(0);
    assert_eq!(total, 801);
    let stats = r.pool().stats();
    assert!(
        stats.created <= 4,
        "never more than max_connections: {stats:?}"
    );
    println!(
        "   800 INCRs in {:?} -> counter {total}; created {} connections (max 4), {} checkouts waited",
        started.elapsed(),
        stats.created,
        stats.waits
    );

    // redis.BlockingConnectionPool(max_connections=1, timeout=0.2)
    println!("4. A full pool waits for a connection, up to pool_timeout (BlockingConnectionPool)");
    let blocking = Client::builder_from_url(&url)?
        .max_connections(1)
        .pool_timeout(Some(Duration::from_millis(200)))
        .build();
    let held = blocking.get_connection()?; // takes the only slot
    let started = Instant::now();
    let err = blocking.ping::<String>().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(matches!(
        err,
        Error::Pool(redis_client::pool::Error::Timeout { .. })
    ));
    println!(
        "   while the one connection is held: PING fails after {:?} -> {err}",
        started.elapsed()
    );
    drop(held);
    let pong: String = blocking.ping()?;
    assert_eq!(pong, "PONG");
    println!("   once it is returned: PING -> {pong}");

    // redis.ConnectionPool(max_connections=1): raises ConnectionError("Too many connections").
    println!("5. Or fails at once: fail_fast_when_exhausted() (plain ConnectionPool)");
    let fail_fast = Client::builder_from_url(&url)?
        .max_connections(1)
        .fail_fast_when_exhausted()
        .build();
    let held = fail_fast.get_connection()?;
    let err = fail_fast.ping::<String>().unwrap_err();
    assert!(matches!(
        err,
        Error::Pool(redis_client::pool::Error::Exhausted { max_size: 1 })
    ));
    println!("   while the one connection is held: PING -> {err}");
    drop(held);

    // pool.disconnect()
    println!("6. pool.clear() closes the idle connections (redis-py's pool.disconnect())");
    let before = r.pool().stats();
    r.pool().clear();
    let after = r.pool().stats();
    assert_eq!(after.idle, 0);
    assert_eq!(
        after.closed_cleared - before.closed_cleared,
        before.idle as u64
    );
    println!(
        "   idle {} -> {}; the next command opens a new one: {}",
        before.idle,
        after.idle,
        r.ping::<String>()?
    );

    let deleted = r.del(["connection_pools:key", "connection_pools:counter"])?;
    assert_eq!(deleted, 2);
    println!("Done (deleted {deleted} keys).");
    Ok(())
}
