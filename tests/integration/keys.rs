//! The key finder (`redis_commands::keys`, from the specification's key specs) agrees with the
//! server's own (`COMMAND GETKEYS`), which is what a cluster client routes by.

use redis_client::commands::keys::key_indexes;
use redis_client::{Value, cmd};
use tests::RedisServer;

#[test]
fn key_indexes_agree_with_command_getkeys() {
    let server = RedisServer::start();
    let c = server.client_builder().build();
    let samples: &[&[&str]] = &[
        &["GET", "k"],
        &["SET", "k", "v", "EX", "10", "NX"],
        &["MSET", "a", "1", "b", "2", "c", "3"],
        &["DEL", "a", "b"],
        &["EVAL", "return 1", "2", "k1", "k2", "arg"],
        &["FCALL", "f", "1", "k", "a"],
        &["ZUNIONSTORE", "dest", "2", "s1", "s2", "WEIGHTS", "1", "2"],
        &["ZINTER", "2", "a", "b", "WITHSCORES"],
        &["LMPOP", "2", "l1", "l2", "LEFT", "COUNT", "3"],
        &["XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"],
        &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        &["GEORADIUS", "g", "0", "0", "1", "km", "STORE", "dst"],
        &["OBJECT", "ENCODING", "k"],
        &["BITOP", "AND", "dest", "a", "b"],
        &["RENAME", "a", "b"],
        &["SMOVE", "s1", "s2", "m"],
        &["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
        &["PFCOUNT", "h1", "h2"],
        &["MEMORY", "USAGE", "k"],
        &["XINFO", "STREAM", "s"],
    ];
    for sample in samples {
        let mut getkeys = cmd("COMMAND");
        getkeys.arg("GETKEYS").args(*sample);
        let from_server: Vec<String> = getkeys.query(&c).unwrap();
        let args: Vec<&[u8]> = sample.iter().map(|a| a.as_bytes()).collect();
        let ours: Vec<String> = key_indexes(&args)
            .unwrap_or_else(|| panic!("no keys for {sample:?}"))
            .into_iter()
            .map(|i| sample[i].to_owned())
            .collect();
        let mut expected = from_server.clone();
        expected.sort();
        expected.dedup();
        let mut got = ours.clone();
        got.sort();
        assert_eq!(
            got, expected,
            "{sample:?}: ours {ours:?}, server {from_server:?}"
        );
    }
    // A command without keys: the server says so with an error; we say "none".
    let err = cmd("COMMAND")
        .arg("GETKEYS")
        .arg("PING")
        .query::<Value, _>(&c);
    assert!(err.is_err());
    assert_eq!(key_indexes(&[b"PING"]), Some(vec![]));
}
