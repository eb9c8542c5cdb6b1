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
