//! Pipelines and MULTI/EXEC transactions with raw commands.

use redis_client::{Client, Error, ServerErrorKind, Value, cmd};
use tests::RedisServer;

fn client(server: &RedisServer) -> Client {
    Client::open(&format!("redis://127.0.0.1:{}", server.port())).unwrap()
}

#[test]
fn a_transaction_returns_typed_results() {
    let server = RedisServer::start();
    let c = client(&server);
    let (set, n, missing): ((), i64, Option<String>) = c
        .pipeline()
        .cmd("SET")
        .arg("a")
        .arg(1)
        .cmd("INCR")
        .arg("a")
        .cmd("GET")
        .arg("nope")
        .query()
        .unwrap();
    assert_eq!((set, n, missing), ((), 2, None));
    assert_eq!(c.pool().stats().idle, 1, "the connection came back clean");
}

#[test]
fn one_failed_command_does_not_hide_the_others() {
    let server = RedisServer::start();
    let c = client(&server);
    for transaction in [true, false] {
        cmd("SET").arg("s").arg("text").execute(&c).unwrap();
        let results = c
            .pipeline()
            .transaction(transaction)
            .cmd("INCR")
            .arg("n")
            .cmd("INCR")
            .arg("s")
            .cmd("GET")
            .arg("s")
            .execute()
            .unwrap();
        assert!(matches!(results[0], Ok(Value::Integer(_))), "{results:?}");
        let err = results[1].as_ref().unwrap_err();
        assert_eq!(err.server_kind(), Some(ServerErrorKind::Err), "{err}");
        assert_eq!(
            results[2].as_ref().unwrap(),
            &Value::BulkString("text".into())
        );

        let err = c
            .pipeline()
            .transaction(transaction)
            .cmd("INCR")
            .arg("n")
            .cmd("INCR")
            .arg("s")
            .query::<(i64, i64)>()
            .unwrap_err();
        assert!(
            matches!(err, Error::Pipeline { index: 1, ref command, .. } if command == "INCR"),
            "{err}"
        );
    }
}

#[test]
fn execabort_names_the_rejected_commands() {
    let server = RedisServer::start();
    let c = client(&server);
    let err = c
        .pipeline()
        .cmd("SET")
        .arg("k")
        .arg(1)
        .cmd("NOSUCHCOMMAND")
        .cmd("GET")
        .execute()
        .unwrap_err();
    match &err {
        Error::ExecAbort { rejected } => {
            let indexes: Vec<usize> = rejected.iter().map(|r| r.0).collect();
            assert_eq!(indexes, [1, 2], "{err}");
            assert_eq!(rejected[0].1, "NOSUCHCOMMAND");
        }
        other => panic!("expected ExecAbort, got {other}"),
    }
    let exists: i64 = cmd("EXISTS").arg("k").query(&c).unwrap();
    assert_eq!(exists, 0, "nothing of the discarded transaction ran");
    assert_eq!(c.pool().stats().in_use, 0);
}

#[test]
fn a_plain_pipeline_of_many_commands_is_aligned() {
    let server = RedisServer::start();
    let c = client(&server);
    let mut pipe = c.pipeline();
    pipe.transaction(false);
    for i in 0..10_000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(format!("v{i}"));
        pipe.cmd("GET").arg(format!("k{i}"));
    }
    let results = pipe.execute().unwrap();
    assert_eq!(results.len(), 20_000);
    for i in 0..10_000 {
        assert_eq!(
            results[2 * i + 1].as_ref().unwrap(),
            &Value::BulkString(format!("v{i}").into())
        );
    }
}

#[test]
fn an_empty_pipeline_does_nothing_and_a_nameless_command_is_refused() {
    let server = RedisServer::start();
    let c = client(&server);
    assert!(c.pipeline().execute().unwrap().is_empty());
    let err = c
        .pipeline()
        .cmd("PING")
        .add(redis_client::Cmd::new())
        .execute()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
    assert_eq!(c.pool().stats().created, 0);
}

/// Opens `n` connections of `c` at once and gives them back: `n` idle connections.
fn open_idle(c: &Client, n: usize) {
    let conns: Vec<_> = (0..n).map(|_| c.pool().get().unwrap()).collect();
    drop(conns);
}

/// A server demoted to a replica answers the writes of a batch with READONLY: in the replies
/// of a plain pipeline, or as the rejection of a queued command (then EXECABORT) in a
/// transaction. With `clear_pool_on_readonly` (as `Client::sentinel_master` has it) a batch
/// then clears the pool as a single command does: the idle connections close now and the
/// one the batch used is not returned, so the next batch opens (and, with Sentinel,
/// resolves) a new one. Without the setting the connections stay.
#[test]
fn a_readonly_reply_in_a_batch_clears_the_pool() {
    let master = RedisServer::start();
    let demoted = RedisServer::start();
    demoted.replicate_from(&master);
    for transaction in [false, true] {
        for typed in [false, true] {
            let c = demoted
                .client_builder()
                .max_connections(4)
                .build()
                .clear_pool_on_readonly(true);
            open_idle(&c, 3);
            let before = c.pool().stats();
            assert_eq!(before.idle, 3, "{before:?}");
            let mut pipe = c.pipeline();
            pipe.transaction(transaction)
                .cmd("GET")
                .arg("k")
                .cmd("SET")
                .arg("k")
                .arg("v");
            let readonly = |e: &redis_client::ServerError| e.kind() == ServerErrorKind::ReadOnly;
            let case = format!("transaction {transaction}, typed {typed}");
            match (transaction, typed) {
                (false, false) => {
                    let results = pipe.execute().unwrap();
                    let err = results[1].as_ref().unwrap_err();
                    assert_eq!(err.server_kind(), Some(ServerErrorKind::ReadOnly), "{err}");
                }
                (false, true) => match pipe.query::<(Option<String>, ())>().unwrap_err() {
                    Error::Pipeline {
                        index: 1, error, ..
                    } => assert!(readonly(&error), "{error}"),
                    other => panic!("{case}: expected a pipeline error, got {other}"),
                },
                (true, false) => match pipe.execute().unwrap_err() {
                    Error::ExecAbort { rejected } => {
                        assert!(rejected.iter().any(|(_, _, e)| readonly(e)), "{rejected:?}")
                    }
                    other => panic!("{case}: expected ExecAbort, got {other}"),
                },
                (true, true) => match pipe.query::<(Option<String>, ())>().unwrap_err() {
                    Error::ExecAbort { rejected } => {
                        assert!(rejected.iter().any(|(_, _, e)| readonly(e)), "{rejected:?}")
                    }
                    other => panic!("{case}: expected ExecAbort, got {other}"),
                },
            }
            let after = c.pool().stats();
            assert_eq!(after.idle, 0, "{case}: {after:?}");
            assert_eq!(after.in_use, 0, "{case}: {after:?}");
            assert_eq!(
                (after.closed_cleared + after.closed_dirty)
                    - (before.closed_cleared + before.closed_dirty),
                3,
                "{case}: every connection closed: {after:?}"
            );
        }
    }

    // Without the setting the batch's error is the same and the connections stay pooled.
    let c = demoted.client_builder().max_connections(4).build();
    open_idle(&c, 3);
    let results = c
        .pipeline()
        .transaction(false)
        .cmd("SET")
        .arg("k")
        .arg("v")
        .execute()
        .unwrap();
    assert_eq!(
        results[0].as_ref().unwrap_err().server_kind(),
        Some(ServerErrorKind::ReadOnly)
    );
    let stats = c.pool().stats();
    assert_eq!(stats.idle, 3, "{stats:?}");
    assert_eq!(stats.closed_cleared + stats.closed_dirty, 0, "{stats:?}");
}
