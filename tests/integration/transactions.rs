//! Typed pipelines, WATCH and `Client::transaction`, huge pipelines, and pipelines under
//! faults (RELIABILITY section 6, tests 4, 5 and 13's MULTI/WATCH rows).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redis_client::{
    Client, Commands, Error, PipelineCommands, RetryPolicy, ServerErrorKind, SetOptions, Value, cmd,
};
use tests::{FaultProxy, RedisServer};

fn client(server: &RedisServer) -> Client {
    server.client_builder().build()
}

/// redis-py README: `pipe.set('foo', 'bar').get('bing')`, then execute.
#[test]
fn typed_methods_chain_on_a_pipeline() {
    let server = RedisServer::start();
    let c = client(&server);
    let (set, bing, n): ((), Option<String>, i64) = c
        .pipeline()
        .set("foo", "bar")
        .get("bing")
        .incr("counter")
        .query()
        .unwrap();
    assert_eq!((set, bing, n), ((), None, 1));
    // Without a transaction, and with an option struct.
    let results = c
        .pipeline()
        .transaction(false)
        .set_with("k", "v", &SetOptions::new().nx())
        .set_with("k", "w", &SetOptions::new().nx())
        .execute()
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap(),
        &Value::SimpleString("OK".into())
    );
    assert_eq!(results[1].as_ref().unwrap(), &Value::Null, "NX not met");
    let v: String = c.get("k").unwrap();
    assert_eq!(v, "v");
}

#[test]
fn an_empty_key_list_fails_the_pipeline_before_sending() {
    let server = RedisServer::start();
    let c = client(&server);
    let err = c
        .pipeline()
        .set("a", 1)
        .del(Vec::<String>::new())
        .execute()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidRequest(m) if m.contains("command 1")),
        "{err}"
    );
    assert_eq!(c.exists("a").unwrap(), 0, "nothing was sent");
}

#[test]
fn a_watch_conflict_runs_nothing_and_is_its_own_error() {
    let server = RedisServer::start();
    let c = client(&server);
    c.set("balance", 10).unwrap();
    let mut pipe = c.watch("balance").unwrap();
    let balance: i64 = pipe.get("balance").unwrap();
    // Another client changes the watched key before EXEC.
    let other = client(&server);
    other.set("balance", 99).unwrap();
    pipe.multi().set("balance", balance - 1).set("spent", 1);
    let err = pipe.execute().unwrap_err();
    assert!(matches!(err, Error::WatchConflict), "{err}");
    let balance: i64 = c.get("balance").unwrap();
    assert_eq!(balance, 99);
    assert_eq!(c.exists("spent").unwrap(), 0);
}

#[test]
fn a_watched_pipeline_commits_and_returns_results() {
    let server = RedisServer::start();
    let c = client(&server);
    c.set("x", 1).unwrap();
    let mut pipe = c.watch(["x", "y"]).unwrap();
    let x: i64 = pipe.get("x").unwrap();
    pipe.multi().set("x", x + 1).incr("y");
    let (set, y): ((), i64) = pipe.query().unwrap();
    assert_eq!((set, y), ((), 1));
    let x: i64 = c.get("x").unwrap();
    assert_eq!(x, 2);
}

/// redis-py README: `r.transaction(client_side_incr, 'OUR-SEQUENCE-KEY')`.
#[test]
fn transaction_returns_the_closures_value() {
    let server = RedisServer::start();
    let c = client(&server);
    c.set("OUR-SEQUENCE-KEY", 13).unwrap();
    let next = c
        .transaction(["OUR-SEQUENCE-KEY"], |pipe| {
            let current: i64 = pipe.get::<Option<i64>>("OUR-SEQUENCE-KEY")?.unwrap_or(0);
            pipe.multi().set("OUR-SEQUENCE-KEY", current + 1);
            Ok(current + 1)
        })
        .unwrap();
    assert_eq!(next, 14);
    let stored: i64 = c.get("OUR-SEQUENCE-KEY").unwrap();
    assert_eq!(stored, 14);
}

/// 8 threads doing a client-side INCR through `transaction`: the count is exact.
#[test]
fn watch_contention_keeps_the_count_exact() {
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(8).build();
    let conflicts = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            let conflicts = Arc::clone(&conflicts);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let mut attempts = 0;
                    c.transaction("seq", |pipe| {
                        attempts += 1;
                        let n: i64 = pipe.get::<Option<i64>>("seq")?.unwrap_or(0);
                        pipe.multi().set("seq", n + 1);
                        Ok(())
                    })
                    .unwrap();
                    conflicts.fetch_add(attempts - 1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n: i64 = c.get("seq").unwrap();
    assert_eq!(n, 400);
    // Not asserted (timing), but reported: how many retries contention caused.
    eprintln!(
        "retries after conflicts: {}",
        conflicts.load(Ordering::Relaxed)
    );
}

#[test]
fn a_bounded_transaction_gives_up_with_a_watch_conflict() {
    let server = RedisServer::start();
    let c = client(&server);
    let other = client(&server);
    let mut calls = 0;
    let err = c
        .transaction_with(
            "k",
            RetryPolicy::new()
                .max_attempts(3)
                .delay(Duration::from_millis(1)),
            |pipe| {
                calls += 1;
                let _: Option<String> = pipe.get("k")?;
                other.incr("k")?; // always conflicts
                pipe.multi().set("k", "mine");
                Ok(())
            },
        )
        .unwrap_err();
    assert!(matches!(err, Error::WatchConflict), "{err}");
    assert_eq!(calls, 3);
    let k: i64 = c.get("k").unwrap();
    assert_eq!(k, 3, "no attempt wrote");
}

#[test]
fn a_closure_error_aborts_and_leaves_the_pool_clean() {
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(1).build();
    let err = c
        .transaction("k", |_pipe| -> Result<(), Error> {
            Err(Error::InvalidRequest("business rule".to_owned()))
        })
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidRequest(m) if m == "business rule"));
    // The only connection is usable and not watching anything: EXEC without MULTI.
    let err = cmd("EXEC").query::<Value, _>(&c).unwrap_err();
    assert!(err.to_string().contains("without MULTI"), "{err}");
}

/// RELIABILITY 13, WATCH row: a watched pipeline dropped without EXEC never reaches the next
/// borrower; one that ran EXEC or UNWATCH goes back to the pool.
#[test]
fn a_dropped_watch_never_reaches_the_next_borrower() {
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(1).build();
    let pipe = c.watch("w").unwrap();
    drop(pipe);
    let before = c.pool().stats();
    // The next borrower's transaction is not affected by the old WATCH.
    client(&server).set("w", 1).unwrap();
    let r: ((),) = c.pipeline().set("w", 2).query().unwrap();
    assert_eq!(r, ((),));
    let w: i64 = c.get("w").unwrap();
    assert_eq!(w, 2);
    assert!(
        before.idle == 0,
        "the watching connection was closed, not pooled"
    );

    let mut pipe = c.watch("w").unwrap();
    pipe.reset().unwrap();
    drop(pipe);
    assert_eq!(
        c.pool().stats().idle,
        1,
        "after UNWATCH the connection is reused"
    );
}

/// RELIABILITY 5: a panic inside a transaction closure discards the connection.
#[test]
fn a_panic_inside_a_transaction_discards_the_connection() {
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(1).build();
    let inner = c.clone();
    let result = std::thread::spawn(move || {
        let _ = inner.transaction("p", |pipe| -> Result<(), Error> {
            pipe.multi().set("p", 1);
            panic!("user code panics mid-transaction");
        });
    })
    .join();
    assert!(result.is_err(), "the panic propagated");
    assert_eq!(c.pool().stats().idle, 0, "the connection was not pooled");
    c.set("after", 1).unwrap();
    assert_eq!(c.exists("p").unwrap(), 0, "the queued SET never ran");
}

#[test]
fn run_first_runs_before_the_transaction_and_stops_it_on_error() {
    let server = RedisServer::start();
    let c = client(&server);
    let mut load = cmd("SCRIPT");
    load.arg("LOAD").arg("return 7");
    let sha: String = c.script_load("return 7").unwrap();
    c.script_flush().unwrap();
    let (seven,): (i64,) = c
        .pipeline()
        .run_first(load)
        .evalsha(&sha, Vec::<String>::new(), Vec::<String>::new())
        .query()
        .unwrap();
    assert_eq!(seven, 7, "the script was loaded before MULTI");

    let err = c
        .pipeline()
        .run_first(cmd("NOSUCHCOMMAND"))
        .set("never", 1)
        .execute()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Server(e) if e.kind() == ServerErrorKind::Err),
        "{err}"
    );
    assert_eq!(c.exists("never").unwrap(), 0);
}

/// One million commands in one pipeline: sent in chunks while replies are read, no deadlock.
#[test]
fn a_pipeline_of_a_million_commands_completes() {
    let server = RedisServer::start();
    let c = client(&server);
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for i in 0..1_000_000u32 {
        pipe.set(i, "0123456789abcdef");
    }
    let results = pipe.execute().unwrap();
    assert_eq!(results.len(), 1_000_000);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(Value::SimpleString(_))))
    );
    assert_eq!(c.dbsize().unwrap(), 1_000_000);
    // The same as a transaction.
    let mut pipe = c.pipeline();
    for i in 0..200_000u32 {
        pipe.incr(format!("n{}", i % 1000));
    }
    let results = pipe.execute().unwrap();
    assert_eq!(results.len(), 200_000);
    let n: i64 = c.get("n999").unwrap();
    assert_eq!(n, 200);
}

/// 100,000 GETs of a 16 KiB value: 1.6 GB of replies stream in while the requests go out.
#[test]
fn a_pipeline_of_large_replies_completes() {
    let server = RedisServer::start();
    let c = client(&server);
    let value = vec![b'v'; 16 * 1024];
    c.set("big", &value).unwrap();
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for _ in 0..100_000 {
        pipe.get("big");
    }
    let results = pipe.execute().unwrap();
    assert_eq!(results.len(), 100_000);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(Value::BulkString(b)) if b.len() == 16 * 1024))
    );
}

/// RELIABILITY 4: the proxy forwards some replies of a 100-command pipeline, then stalls; the
/// pipeline fails, the connection is discarded, and the next pipeline is aligned.
#[test]
fn a_stalled_pipeline_times_out_and_the_next_is_aligned() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.addr());
    let c = Client::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .socket_timeout(Duration::from_millis(300))
        .build();
    c.ping::<String>().unwrap();
    proxy.stall(tests::Direction::ServerToClient);
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for i in 0..100 {
        pipe.set(i, i);
    }
    let err = pipe.execute().unwrap_err();
    assert!(err.is_timeout(), "{err}");
    proxy.resume(tests::Direction::ServerToClient);
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for i in 0..100 {
        pipe.get(i);
    }
    let values: Vec<i64> = pipe.query().unwrap();
    assert_eq!(values, (0..100).collect::<Vec<i64>>());
}

/// RELIABILITY 13 for pipelines: a pipeline that changes its connection's state (SELECT)
/// closes that connection instead of pooling it.
#[test]
fn a_state_changing_pipeline_never_reaches_the_next_borrower() {
    let server = RedisServer::start();
    let c = server.client_builder().max_connections(1).build();
    let r = c
        .pipeline()
        .transaction(false)
        .cmd("SELECT")
        .arg(5)
        .set("in-5", 1)
        .execute()
        .unwrap();
    assert!(r.iter().all(Result::is_ok));
    assert_eq!(c.pool().stats().idle, 0, "the connection was closed");
    assert_eq!(c.exists("in-5").unwrap(), 0, "the next command is on db 0");
}

/// A transaction with WATCH on a server demoted to a replica: the queued write is rejected
/// with READONLY and EXEC answers EXECABORT. With `clear_pool_on_readonly` (as
/// `Client::sentinel_master` has it) that clears the pool as a single command's READONLY
/// does, for `Client::transaction` and for a `WatchedPipeline` run by hand, whose pinned
/// connection is then closed, not returned. A write run at once on the pinned connection
/// (through `Commands`) does the same.
#[test]
fn a_readonly_rejection_in_a_watched_transaction_clears_the_pool() {
    let master = RedisServer::start();
    let demoted = RedisServer::start();
    demoted.replicate_from(&master);
    let c = demoted
        .client_builder()
        .max_connections(4)
        .build()
        .clear_pool_on_readonly(true);
    let readonly = |err: &Error| match err {
        Error::ExecAbort { rejected } => rejected
            .iter()
            .any(|(_, _, e)| e.kind() == ServerErrorKind::ReadOnly),
        other => other.server_kind() == Some(ServerErrorKind::ReadOnly),
    };
    let open_idle = |n: usize| {
        let conns: Vec<_> = (0..n).map(|_| c.pool().get().unwrap()).collect();
        drop(conns);
    };
    let closed = |s: redis_client::pool::PoolStats| s.closed_cleared + s.closed_dirty;

    // Client::transaction: WATCH, read, MULTI/EXEC.
    open_idle(3);
    let before = c.pool().stats();
    let err = c
        .transaction_with("seq", RetryPolicy::new().max_attempts(1), |pipe| {
            let current: Option<i64> = pipe.get("seq")?;
            pipe.multi().set("seq", current.unwrap_or(0) + 1);
            Ok(())
        })
        .unwrap_err();
    assert!(readonly(&err), "{err}");
    let after = c.pool().stats();
    assert_eq!((after.idle, after.in_use), (0, 0), "{after:?}");
    assert_eq!(closed(after) - closed(before), 3, "{after:?}");

    // A watched pipeline by hand, typed.
    open_idle(3);
    let before = c.pool().stats();
    let mut pipe = c.watch("seq").unwrap();
    pipe.multi().incr("seq");
    let err = pipe.query::<(i64,)>().unwrap_err();
    assert!(readonly(&err), "{err}");
    let after = c.pool().stats();
    assert_eq!((after.idle, after.in_use), (0, 0), "{after:?}");
    assert_eq!(closed(after) - closed(before), 3, "{after:?}");

    // A write at once on the pinned connection; the pipeline is then reset (UNWATCH), which
    // would otherwise make its connection poolable again.
    open_idle(3);
    let before = c.pool().stats();
    let mut pipe = c.watch("seq").unwrap();
    let err = pipe.set("seq", 1).unwrap_err();
    assert!(readonly(&err), "{err}");
    pipe.reset().unwrap();
    drop(pipe);
    let after = c.pool().stats();
    assert_eq!((after.idle, after.in_use), (0, 0), "{after:?}");
    assert_eq!(closed(after) - closed(before), 3, "{after:?}");
}

/// A pool of one connection for `server`, so the next request reuses (or replaces) the
/// connection the previous one had.
fn single(server: &RedisServer) -> Client {
    server.client_builder().max_connections(1).build()
}

/// A watched transaction that fails before EXEC (its command run first fails) leaves the
/// keys watched on its connection: that connection must not serve the next request, whose
/// transaction would otherwise fail with a conflict it never had (RELIABILITY 13).
#[test]
fn a_watched_transaction_failing_before_exec_does_not_pool_its_watch() {
    let server = RedisServer::start();
    let c = single(&server);
    let other = client(&server);
    let mut pipe = c.watch("watched").unwrap();
    pipe.multi()
        .run_first(cmd("SCRIPT").arg("LOAD").arg("this is not lua").clone())
        .incr("n");
    let err = pipe.execute().unwrap_err();
    assert_eq!(err.server_kind(), Some(ServerErrorKind::Err), "{err}");
    // Someone writes the key the failed transaction watched.
    other.set("watched", 1).unwrap();
    // The next transaction on the pool runs: no stale watch on its connection.
    let (n,): (i64,) = c.pipeline().incr("n").query().unwrap();
    assert_eq!(n, 1);
}

/// Commands run at once on a watched pipeline go through the same state check as a pooled
/// client's: a SELECT there has the connection closed afterwards, not pooled in database 1.
/// MULTI, EXEC and DISCARD cannot be run that way.
#[test]
fn state_changing_commands_on_a_watched_pipeline_do_not_leak_into_the_pool() {
    let server = RedisServer::start();
    let c = single(&server);
    let mut pipe = c.watch("k").unwrap();
    for name in ["MULTI", "exec", "DISCARD"] {
        match pipe.run_cmd(&cmd(name)) {
            Err(Error::InvalidRequest(why)) => assert!(why.contains("multi()"), "{why}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    pipe.run_cmd(cmd("SELECT").arg(1)).unwrap();
    pipe.multi().set("in-db-1", 1);
    pipe.execute().unwrap();
    // The next command runs on a fresh connection, in database 0.
    c.set("in-db-0", 1).unwrap();
    let raw = server.client_builder().db(1).build();
    assert_eq!(raw.exists("in-db-0").unwrap(), 0);
    assert_eq!(raw.exists("in-db-1").unwrap(), 1);
    assert_eq!(c.exists("in-db-0").unwrap(), 1);
}

/// A command run first goes through the state check too: a SELECT there is for that
/// pipeline only.
#[test]
fn a_select_run_first_does_not_leak_into_the_pool() {
    let server = RedisServer::start();
    let c = single(&server);
    c.pipeline()
        .transaction(false)
        .run_first(cmd("SELECT").arg(2).clone())
        .set("in-db-2", 1)
        .query::<()>()
        .unwrap();
    c.set("in-db-0", 1).unwrap();
    let db2 = server.client_builder().db(2).build();
    assert_eq!(db2.exists("in-db-2").unwrap(), 1);
    assert_eq!(db2.exists("in-db-0").unwrap(), 0);
}

/// When the server refuses MULTI (here an ACL user without the transaction commands), it
/// runs each command on its own: the error says so, rather than reading as "nothing ran".
#[test]
fn a_refused_multi_says_the_commands_ran_outside_a_transaction() {
    let server = RedisServer::start();
    let admin = client(&server);
    let _: String = cmd("ACL")
        .args([
            "SETUSER",
            "no-tx",
            "on",
            ">secret",
            "~*",
            "&*",
            "+@all",
            "-@transaction",
        ])
        .query(&admin)
        .unwrap();
    let c = server
        .client_builder()
        .username("no-tx")
        .password("secret")
        .build();
    let err = c
        .pipeline()
        .incr("n")
        .incr("n")
        .query::<(i64, i64)>()
        .unwrap_err();
    match &err {
        Error::MultiRefused { error } => assert_eq!(error.kind(), ServerErrorKind::NoPerm),
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    // The increments did run, one by one.
    assert_eq!(admin.get::<i64>("n").unwrap(), 2);
}

/// Commands after which replies no longer come one per command cannot go in a pipeline:
/// refused before anything is sent.
#[test]
fn commands_that_change_the_reply_count_are_refused_in_a_batch() {
    let server = RedisServer::start();
    let c = client(&server);
    let refused = [
        cmd("SUBSCRIBE").arg("ch").clone(),
        cmd("psubscribe").arg("p*").clone(),
        cmd("UNSUBSCRIBE"),
        cmd("MONITOR"),
        cmd("CLIENT").arg("REPLY").arg("SKIP").clone(),
    ];
    for command in refused {
        for transaction in [false, true] {
            let mut pipe = c.pipeline();
            pipe.transaction(transaction)
                .set("before", 1)
                .add(command.clone())
                .incr("after");
            match pipe.execute() {
                Err(Error::InvalidRequest(why)) => assert!(why.contains("replies"), "{why}"),
                other => panic!("{command:?}: {other:?}"),
            }
            let mut first = c.pipeline();
            first.run_first(command.clone()).incr("after");
            assert!(matches!(first.execute(), Err(Error::InvalidRequest(_))));
        }
    }
    assert_eq!(c.exists("before").unwrap(), 0, "nothing was sent");
    // Other CLIENT subcommands still go (and make the connection dirty).
    let (name,): (Option<String>,) = c
        .pipeline()
        .add(cmd("CLIENT").arg("GETNAME").clone())
        .query()
        .unwrap();
    assert_eq!(name, None);
}
