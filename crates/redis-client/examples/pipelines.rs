//! redis-py 3.5.2 README, "Pipelines": buffer commands, send them in one round trip, get one
//! reply per command; atomic (MULTI/EXEC) by default, plain with `transaction(false)`; and what
//! happens when one command of a batch fails.
//!
//! `cargo xtask demo pipelines` runs it against a throwaway server; to run it against your own:
//! `cargo run -p redis-client --example pipelines -- redis://127.0.0.1:6379/0`.
//! It only touches keys that start with `pipelines:` and deletes them at the end.

use std::time::Instant;

use redis_client::{Client, Commands, Error, FromReply, PipelineCommands, ServerErrorKind};

/// Every key the example writes.
const KEYS: [&str; 6] = [
    "pipelines:bing",
    "pipelines:foo",
    "pipelines:faz",
    "pipelines:auto_number",
    "pipelines:counter",
    "pipelines:hash",
];

fn main() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_owned());
    let r = Client::open(&url)?;
    r.del(KEYS)?; // left over from an interrupted run

    // >>> r.set('bing', 'baz')
    // >>> pipe = r.pipeline()
    // >>> pipe.set('foo', 'bar')
    // >>> pipe.get('bing')
    // >>> pipe.execute()
    // [True, b'baz']
    println!("1. pipe = r.pipeline(); pipe.set('foo', 'bar'); pipe.get('bing'); pipe.execute()");
    r.set("pipelines:bing", "baz")?;
    let mut pipe = r.pipeline();
    pipe.set("pipelines:foo", "bar");
    pipe.get("pipelines:bing");
    assert_eq!(pipe.len(), 2);
    // One result per command, each its own Result.
    let results = pipe.execute()?;
    assert_eq!(results.len(), 2);
    let bing = String::from_reply(results[1].as_ref().expect("GET succeeded").clone())?;
    assert_eq!(bing, "baz");
    println!("   execute() -> {results:?}");
    // Or the replies as one typed tuple.
    let (_, bing): ((), Option<String>) = pipe.query()?;
    assert_eq!(bing.as_deref(), Some("baz"));
    println!("   query::<((), Option<String>)>() -> ((), {bing:?})");

    // >>> pipe.set('foo', 'bar').sadd('faz', 'baz').incr('auto_number').execute()
    // [True, True, 6]
    println!("2. Chained: pipe.set('foo', 'bar').sadd('faz', 'baz').incr('auto_number')");
    r.set("pipelines:auto_number", 5)?;
    let (_, added, number): ((), i64, i64) = r
        .pipeline()
        .set("pipelines:foo", "bar")
        .sadd("pipelines:faz", "baz")
        .incr("pipelines:auto_number")
        .query()?;
    assert_eq!((added, number), (1, 6));
    println!("   -> (OK, {added}, {number})");

    // >>> pipe = r.pipeline(transaction=False)
    println!("3. pipe = r.pipeline(transaction=False): the same round trip, without MULTI/EXEC");
    let mut pipe = r.pipeline();
    pipe.transaction(false);
    for i in 0..10_000 {
        pipe.incrby("pipelines:counter", i);
    }
    let started = Instant::now();
    let replies: Vec<i64> = pipe.query()?;
    assert_eq!(replies.len(), 10_000);
    assert_eq!(replies[9_999], (0..10_000).sum::<i64>());
    println!(
        "   10000 INCRBYs in one batch took {:?}; last reply {}",
        started.elapsed(),
        replies[9_999]
    );

    println!("4. A command that fails at run time fails alone; the others ran");
    r.hset("pipelines:hash", [("field", "value")])?;
    let results = r
        .pipeline()
        .incr("pipelines:auto_number")
        .incr("pipelines:hash") // WRONGTYPE
        .incr("pipelines:auto_number")
        .execute()?;
    assert!(results[0].is_ok() && results[2].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::WrongType));
    println!(
        "   execute() -> [{:?}, Err({err}), {:?}]",
        results[0], results[2]
    );
    // query() turns the first failure into the error, with its position and name.
    let err = r
        .pipeline()
        .incr("pipelines:auto_number")
        .incr("pipelines:hash")
        .query::<(i64, i64)>()
        .unwrap_err();
    assert!(matches!(err, Error::Pipeline { index: 1, .. }), "{err:?}");
    println!("   query() -> Err({err})");

    println!("5. A command the server refuses to queue discards the whole transaction");
    let before: i64 = r.get::<Option<i64>>("pipelines:auto_number")?.unwrap_or(0);
    let mut pipe = r.pipeline();
    pipe.incr("pipelines:auto_number");
    pipe.cmd("SET").arg("pipelines:foo"); // SET needs a value: rejected at queue time
    let err = pipe.execute().unwrap_err();
    let Error::ExecAbort { rejected } = &err else {
        panic!("expected ExecAbort, got {err:?}");
    };
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, 1);
    let number: i64 = r.get::<Option<i64>>("pipelines:auto_number")?.unwrap_or(0);
    assert_eq!(
        number, before,
        "the INCR of the discarded transaction did not run"
    );
    println!("   execute() -> Err({err}); auto_number is still {number}");

    let deleted = r.del(KEYS)?;
    assert_eq!(deleted, 6);
    println!("Done (deleted {deleted} keys).");
    Ok(())
}
