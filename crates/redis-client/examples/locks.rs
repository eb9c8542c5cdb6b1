//! redis-py 3.5.2's locks (`with r.lock('my-lock-key', blocking_timeout=5) as lock:`): a lock
//! on one key, a guard that releases it when dropped, non-blocking and bounded waits, a TTL
//! that can be extended, the error when a lock expired under its holder, and fencing tokens.
//!
//! `cargo xtask demo locks` runs it against a throwaway server; to run it against your own:
//! `cargo run -p redis-client --example locks -- redis://127.0.0.1:6379/0`.
//! It only touches keys that start with `locks:` and deletes them at the end. It takes about a
//! second (it waits for a lock to expire once).

use std::thread;
use std::time::{Duration, Instant};

use redis_client::{Client, Commands, Error, LockError, LockOptions};

/// Every key the example writes.
const KEYS: [&str; 4] = [
    "locks:my-lock-key",
    "locks:counter",
    "locks:fence",
    "locks:expiring",
];

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let r = Client::open(&url)?;
    r.del(KEYS)?; // left over from an interrupted run

    // >>> with r.lock('my-lock-key', blocking_timeout=5) as lock:
    // ...     # code you want executed only after the lock has been acquired
    println!("1. with r.lock('my-lock-key', blocking_timeout=5): a guard for the block");
    let lock = r.lock(
        "locks:my-lock-key",
        LockOptions::new().blocking_timeout(Duration::from_secs(5)),
    );
    {
        let guard = lock.acquire()?;
        assert!(lock.locked()? && guard.owned()?);
        println!(
            "   acquired; the key holds this guard's token {}",
            guard.token()
        );
    } // released here
    assert!(!lock.locked()?);
    println!("   the guard was dropped at the end of the block: released");

    println!("2. While someone holds it: try_acquire() gives None, a non-blocking acquire fails");
    let holder = lock.acquire()?;
    // Another process: another client, another Lock on the same key.
    let other = Client::open(&url)?;
    let contender = other.lock("locks:my-lock-key", LockOptions::new().blocking(false));
    assert!(contender.try_acquire()?.is_none());
    let err = contender.acquire().unwrap_err();
    assert!(
        matches!(err, Error::Lock(LockError::NotAcquired { .. })),
        "{err:?}"
    );
    println!("   try_acquire() -> None; acquire() -> Err({err})");

    println!("3. A blocking acquire waits until the holder releases (or blocking_timeout passes)");
    let waiter = other.lock(
        "locks:my-lock-key",
        LockOptions::new()
            .sleep(Duration::from_millis(10))
            .blocking_timeout(Duration::from_secs(5)),
    );
    let started = Instant::now();
    let waited = thread::scope(|s| -> Result<Duration, Error> {
        let handle = s.spawn(|| -> Result<Duration, Error> {
            let guard = waiter.acquire()?;
            let waited = started.elapsed();
            guard.release()?;
            Ok(waited)
        });
        thread::sleep(Duration::from_millis(200));
        holder.release()?;
        handle.join().expect("waiting thread")
    })?;
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    println!("   the waiter got the lock {waited:?} after it started, once the holder released it");
    let quick = other.lock(
        "locks:my-lock-key",
        LockOptions::new().blocking_timeout(Duration::from_millis(100)),
    );
    let held = lock.acquire()?;
    let started = Instant::now();
    let err = quick.acquire().unwrap_err();
    assert!(matches!(err, Error::Lock(LockError::NotAcquired { .. })));
    println!(
        "   with blocking_timeout=0.1 against a held lock: gave up after {:?}",
        started.elapsed()
    );
    held.release()?;

    println!("4. Four threads, 25 read-modify-write increments each, under the lock");
    let counter_lock = r.lock(
        "locks:my-lock-key",
        LockOptions::new()
            .timeout(Duration::from_secs(5))
            .sleep(Duration::from_millis(2))
            .blocking_timeout(Duration::from_secs(10)),
    );
    thread::scope(|s| -> Result<(), Error> {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| -> Result<(), Error> {
                    for _ in 0..25 {
                        let guard = counter_lock.acquire()?;
                        // Not atomic on its own: GET, then SET.
                        let n: i64 = r.get::<Option<i64>>("locks:counter")?.unwrap_or(0);
                        r.set("locks:counter", n + 1)?;
                        guard.release()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker thread")?;
        }
        Ok(())
    })?;
    let total: Option<i64> = r.get("locks:counter")?;
    assert_eq!(total, Some(100));
    println!("   counter -> {total:?}: no increment lost");

    println!("5. timeout: the lock expires by itself; extend() pushes the expiry back");
    let expiring = r.lock(
        "locks:expiring",
        LockOptions::new().timeout(Duration::from_secs(1)),
    );
    let mut guard = expiring.acquire()?;
    guard.extend(Duration::from_secs(1), false)?;
    let ttl: i64 = r.pttl("locks:expiring")?;
    assert!(ttl > 1_000, "{ttl}");
    println!(
        "   timeout=1, extend(1) -> PTTL {ttl} ms; valid for {:?} by the local clock",
        guard.valid_for()
    );
    guard.extend(Duration::from_millis(100), true)?; // replace_ttl=True
    thread::sleep(Duration::from_millis(250));
    assert!(!guard.is_valid() && !guard.owned()?);
    let thief = other.lock("locks:expiring", LockOptions::new().blocking(false));
    let theirs = thief.acquire()?;
    let err = guard.release().unwrap_err();
    assert!(
        matches!(err, Error::Lock(LockError::NotOwned { .. })),
        "{err:?}"
    );
    assert!(
        theirs.owned()?,
        "the late release did not delete the new holder's lock"
    );
    println!("   expired, taken by another client; the first holder's release -> Err({err})");
    theirs.release()?;

    println!("6. Fencing tokens: a number that grows with every holder, for the resource to check");
    let mut fences = Vec::new();
    for _ in 0..3 {
        let guard = lock.acquire()?;
        fences.push(guard.fence("locks:fence")?);
    }
    assert_eq!(fences, [1, 2, 3]);
    println!("   three acquisitions -> fencing tokens {fences:?}");

    let deleted = r.del(KEYS)?;
    assert_eq!(deleted, 2, "only the counter and the fence are left");
    println!("Done (deleted {deleted} keys).");
    Ok(())
}
