//! redis-py 3.5.2 README, "Pipelines" / WATCH and `transaction()`: optimistic locking. WATCH a
//! key, read it, queue the writes after MULTI, EXEC; if the key changed meanwhile, nothing runs
//! and the whole thing is tried again.
//!
//! `cargo xtask demo transactions` runs it against a throwaway server; to run it against your
//! own: `cargo run -p redis-client --example transactions -- redis://127.0.0.1:6379/0`.
//! It only touches keys that start with `transactions:` and deletes them at the end.

use std::thread;

use redis_client::{Client, Commands, Error, PipelineCommands, RetryPolicy};

/// The README's `OUR-SEQUENCE-KEY`.
const SEQ: &str = "transactions:OUR-SEQUENCE-KEY";

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let r = Client::open(&url)?;
    // Another client, standing for another process that writes the same key.
    let other = Client::open(&url)?;
    r.set(SEQ, 10)?;

    // >>> with r.pipeline() as pipe:
    // ...     while True:
    // ...         try:
    // ...             pipe.watch('OUR-SEQUENCE-KEY')
    // ...             current_value = pipe.get('OUR-SEQUENCE-KEY')
    // ...             next_value = int(current_value) + 1
    // ...             pipe.multi()
    // ...             pipe.set('OUR-SEQUENCE-KEY', next_value)
    // ...             pipe.execute()
    // ...             break
    // ...         except WatchError:
    // ...             continue
    println!("1. The WATCH loop by hand: watch, get, multi, set, execute; retry on WatchConflict");
    let mut committed = None;
    for attempt in 1..=10 {
        let mut pipe = r.watch(SEQ)?; // a connection pinned for the loop body
        let current: i64 = pipe.get::<Option<i64>>(SEQ)?.unwrap_or(0);
        if attempt == 1 {
            // Someone else writes between our read and our EXEC.
            let theirs: i64 = other.incr(SEQ)?;
            println!("   attempt 1 read {current}; another client INCRs it to {theirs}");
        }
        pipe.multi().set(SEQ, current + 1);
        match pipe.execute() {
            Ok(_) => {
                println!(
                    "   attempt {attempt} read {current}, wrote {}: committed",
                    current + 1
                );
                committed = Some((attempt, current + 1));
                break;
            }
            Err(Error::WatchConflict) => {
                println!(
                    "   attempt {attempt}: EXEC found the key changed (WatchError); nothing ran"
                );
            }
            Err(e) => return Err(e),
        }
    }
    assert_eq!(committed, Some((2, 12)));
    assert_eq!(r.get::<Option<i64>>(SEQ)?, Some(12));

    // >>> def client_side_incr(pipe):
    // ...     current_value = pipe.get('OUR-SEQUENCE-KEY')
    // ...     next_value = int(current_value) + 1
    // ...     pipe.multi()
    // ...     pipe.set('OUR-SEQUENCE-KEY', next_value)
    // >>> r.transaction(client_side_incr, 'OUR-SEQUENCE-KEY')
    // [True]
    println!("2. r.transaction(client_side_incr, 'OUR-SEQUENCE-KEY'): the same loop, written once");
    let mut calls = 0;
    let next = r.transaction(SEQ, |pipe| {
        calls += 1;
        let current: i64 = pipe.get::<Option<i64>>(SEQ)?.unwrap_or(0);
        if calls == 1 {
            other.incr(SEQ)?; // a conflict on the first call again
        }
        pipe.multi().set(SEQ, current + 1);
        Ok(current + 1)
    })?;
    assert_eq!((calls, next), (2, 14));
    println!("   the function ran {calls} times (one conflict); the sequence is now {next}");

    println!("3. Four threads, 50 client-side increments each: no update is lost");
    r.set(SEQ, 0)?;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let client = r.clone();
            thread::spawn(move || -> Result<u32, Error> {
                let mut attempts = 0;
                for _ in 0..50 {
                    // Bounded here; redis-py (and RetryPolicy::new()) retry until success.
                    let policy = RetryPolicy::new().max_attempts(1_000);
                    client.transaction_with(SEQ, policy, |pipe| {
                        attempts += 1;
                        let current: i64 = pipe.get::<Option<i64>>(SEQ)?.unwrap_or(0);
                        pipe.multi().set(SEQ, current + 1);
                        Ok(())
                    })?;
                }
                Ok(attempts)
            })
        })
        .collect();
    let mut attempts = 0;
    for worker in workers {
        attempts += worker.join().expect("worker thread")?;
    }
    let total = r.get::<Option<i64>>(SEQ)?;
    assert_eq!(total, Some(200));
    println!(
        "   200 increments in {attempts} attempts ({} retried after a conflict) -> {total:?}",
        attempts - 200
    );

    println!("4. RetryPolicy bounds the retries: give up with WatchConflict");
    let mut calls = 0;
    let err = r
        .transaction_with(SEQ, RetryPolicy::new().max_attempts(3), |pipe| {
            calls += 1;
            other.incr(SEQ)?; // every attempt conflicts
            pipe.multi().incr(SEQ);
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, Error::WatchConflict), "{err:?}");
    assert_eq!(calls, 3);
    println!("   after {calls} attempts -> Err({err})");

    let deleted = r.del(SEQ)?;
    assert_eq!(deleted, 1);
    println!("Done (deleted {deleted} key).");
    Ok(())
}
