//! Typed commands against a real server: the `generic` (keys), `string`, `bitmap` and
//! `hyperloglog` groups of the generated methods, base and `_with` variants, under RESP2 and
//! RESP3 (redis-py 3.5.2's test_commands.py behaviours for these families included).

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis_client::replies::LcsIdx;
use redis_client::{
    BitOperation, BitcountOptions, BitfieldRoOptions, BitposOptions, Client, Commands, CopyOptions,
    Error, ExpireOptions, ExpireatOptions, GetexOptions, LcsOptions, MigrateOptions,
    PexpireOptions, PexpireatOptions, PfaddOptions, PfmergeOptions, PipelineCommands, Protocol,
    RestoreOptions, ScanOptions, ServerErrorKind, SetOptions, SortOptions, SortRoOptions, Value,
};
use tests::{CommandServer, RedisServer, eventually};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn now_secs() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(d.as_secs()).expect("seconds fit")
}

fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(d.as_millis()).expect("milliseconds fit")
}

/// The server error of a failed call (panics on success or on another error).
fn server_error<T: Debug>(result: Result<T, Error>) -> (ServerErrorKind, String) {
    match result {
        Err(Error::Server(e)) => (e.kind(), e.message().to_owned()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Asserts that a call failed before anything was sent (an empty multi-key argument).
fn assert_invalid<T: Debug>(result: Result<T, Error>) {
    assert!(
        matches!(result, Err(Error::InvalidRequest(_))),
        "expected Error::InvalidRequest, got {result:?}"
    );
}

/// One LCS match: the range in each key and the optional match length.
type LcsRanges = ((u64, u64), (u64, u64), Option<u64>);

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn set_of(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

/// Runs a full SCAN iteration (bounded) and returns every key seen.
fn scan_all(c: &Client, options: Option<&ScanOptions>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut cursor = 0u64;
    for _ in 0..10_000 {
        let (next, keys): (u64, Vec<String>) = match options {
            Some(o) => c.scan_with(cursor, o).unwrap(),
            None => c.scan(cursor).unwrap(),
        };
        seen.extend(keys);
        cursor = next;
        if cursor == 0 {
            return seen;
        }
    }
    panic!("SCAN did not finish within 10000 calls");
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

#[test]
fn set_and_get_plain_and_binary() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("k", "v").unwrap();
        assert_eq!(c.get::<Option<String>>("k").unwrap().as_deref(), Some("v"));
        assert_eq!(c.get::<String>("k").unwrap(), "v");
        assert_eq!(c.get::<Option<String>>("missing").unwrap(), None);
        // An existing empty string is not a missing key (redis-py's __getitem__ test).
        c.set("empty", "").unwrap();
        assert_eq!(
            c.get::<Option<String>>("empty").unwrap().as_deref(),
            Some("")
        );
        // Numbers are sent as their decimal text; the reply converts back.
        c.set("n", 42i64).unwrap();
        assert_eq!(c.get::<i64>("n").unwrap(), 42);
        c.set("f", 2.5f64).unwrap();
        assert_eq!(c.get::<f64>("f").unwrap(), 2.5);
        // Binary-safe keys and values (redis-py's TestBinarySave).
        let key: &[u8] = b"bin key\r\n\x00";
        let value: &[u8] = b"\x00\xff\r\n\x01";
        c.set(key, value).unwrap();
        assert_eq!(c.get::<Vec<u8>>(key).unwrap(), value);
        assert!(matches!(c.get::<String>(key), Err(Error::Conversion(_))));
        // A large value.
        let big = "x".repeat(5 * 1024 * 1024);
        c.set("big", big.as_str()).unwrap();
        assert_eq!(c.strlen("big").unwrap(), 5 * 1024 * 1024);
        assert_eq!(c.get::<String>("big").unwrap(), big);
        // GET on another type is WRONGTYPE (redis-py's "Misc" test).
        c.rpush("list", ["a"]).unwrap();
        assert_eq!(
            server_error(c.get::<Value>("list")).0,
            ServerErrorKind::WrongType
        );
    });
}

#[test]
fn set_with_nx_xx_and_get() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // NX: only when missing. OK arrives as Some("OK"), a refusal as None (redis-py: True/None).
        let nx = SetOptions::new().nx();
        assert_eq!(
            c.set_with::<Option<String>>("k", "1", &nx)
                .unwrap()
                .as_deref(),
            Some("OK")
        );
        assert_eq!(c.set_with::<Option<String>>("k", "2", &nx).unwrap(), None);
        assert_eq!(c.get::<String>("k").unwrap(), "1");
        // The same as bool.
        assert!(!c.set_with::<bool>("k", "2", &nx).unwrap());
        assert!(c.set_with::<bool>("k2", "2", &nx).unwrap());
        // XX: only when present.
        let xx = SetOptions::new().xx();
        assert_eq!(
            c.set_with::<Option<String>>("absent", "1", &xx).unwrap(),
            None
        );
        assert_eq!(c.exists(["absent"]).unwrap(), 0);
        assert_eq!(c.set_with::<Option<()>>("k", "3", &xx).unwrap(), Some(()));
        assert_eq!(c.get::<String>("k").unwrap(), "3");
        // GET (6.2): the old value, or nil for a new key.
        let get = SetOptions::new().get();
        assert_eq!(
            c.set_with::<Option<String>>("k", "4", &get)
                .unwrap()
                .as_deref(),
            Some("3")
        );
        assert_eq!(
            c.set_with::<Option<String>>("new", "x", &get).unwrap(),
            None
        );
        assert_eq!(c.get::<String>("new").unwrap(), "x");
        // NX together with GET (7.0): nil when it set, the old value when refused.
        let nx_get = SetOptions::new().nx().get();
        assert_eq!(
            c.set_with::<Option<String>>("k", "5", &nx_get)
                .unwrap()
                .as_deref(),
            Some("4")
        );
        assert_eq!(c.get::<String>("k").unwrap(), "4");
        assert_eq!(
            c.set_with::<Option<String>>("k3", "5", &nx_get).unwrap(),
            None
        );
        assert_eq!(c.get::<String>("k3").unwrap(), "5");
        // XX with GET on a missing key: nil, nothing set.
        let xx_get = SetOptions::new().xx().get();
        assert_eq!(
            c.set_with::<Option<String>>("nope", "1", &xx_get).unwrap(),
            None
        );
        assert_eq!(c.exists(["nope"]).unwrap(), 0);
        // GET on a key of another type is WRONGTYPE, and the value is not replaced.
        c.rpush("list", ["a"]).unwrap();
        assert_eq!(
            server_error(c.set_with::<Value>("list", "x", &get)).0,
            ServerErrorKind::WrongType
        );
        assert_eq!(c.key_type::<String>("list").unwrap(), "list");
    });
}

#[test]
fn set_with_expirations_and_keepttl() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // EX seconds.
        c.set_with::<()>("ex", "v", &SetOptions::new().ex(100))
            .unwrap();
        let ttl = c.ttl("ex").unwrap();
        assert!((90..=100).contains(&ttl), "ttl {ttl}");
        // PX milliseconds.
        c.set_with::<()>("px", "v", &SetOptions::new().px(100_000))
            .unwrap();
        let pttl = c.pttl("px").unwrap();
        assert!((90_000..=100_000).contains(&pttl), "pttl {pttl}");
        // EXAT / PXAT: absolute times, read back exactly.
        let at = now_secs() + 1000;
        c.set_with::<()>("exat", "v", &SetOptions::new().exat(at))
            .unwrap();
        assert_eq!(c.expiretime("exat").unwrap(), at);
        let at_ms = now_ms() + 1_000_000;
        c.set_with::<()>("pxat", "v", &SetOptions::new().pxat(at_ms))
            .unwrap();
        assert_eq!(c.pexpiretime("pxat").unwrap(), at_ms);
        // KEEPTTL keeps the TTL; a plain SET clears it.
        c.set_with::<()>("keep", "1", &SetOptions::new().ex(100))
            .unwrap();
        c.set_with::<()>("keep", "2", &SetOptions::new().keepttl())
            .unwrap();
        assert_eq!(c.get::<String>("keep").unwrap(), "2");
        assert!(c.ttl("keep").unwrap() > 0);
        c.set("keep", "3").unwrap();
        assert_eq!(c.ttl("keep").unwrap(), -1);
        // Several options at once (redis-py's test_set_multipleoptions).
        c.set("multi", "old").unwrap();
        let opts = SetOptions::new().xx().px(10_000).get();
        assert_eq!(
            c.set_with::<Option<String>>("multi", "new", &opts)
                .unwrap()
                .as_deref(),
            Some("old")
        );
        assert!(c.pttl("multi").unwrap() > 0);
        assert_eq!(c.get::<String>("multi").unwrap(), "new");
        // NX with EX on a new key.
        assert!(
            c.set_with::<bool>("nxex", "v", &SetOptions::new().nx().ex(50))
                .unwrap()
        );
        assert!((40..=50).contains(&c.ttl("nxex").unwrap()));
        // The server rejects an invalid expire time.
        let (kind, message) = server_error(c.set_with::<()>("bad", "v", &SetOptions::new().ex(0)));
        assert_eq!(kind, ServerErrorKind::Err);
        assert!(message.contains("invalid expire time"), "{message}");
        // The last of the mutually exclusive choices wins (one slot per choice group).
        c.set_with::<()>("last", "v", &SetOptions::new().ex(100).keepttl())
            .unwrap();
        assert_eq!(c.ttl("last").unwrap(), -1);
    });
}

#[test]
fn getex_getdel_getset() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("k", "v").unwrap();
        // GETEX without options is a GET.
        assert_eq!(
            c.getex::<Option<String>>("k").unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(c.ttl("k").unwrap(), -1);
        assert_eq!(c.getex::<Option<String>>("missing").unwrap(), None);
        // Each expiration form.
        assert_eq!(
            c.getex_with::<String>("k", &GetexOptions::new().ex(100))
                .unwrap(),
            "v"
        );
        assert!((90..=100).contains(&c.ttl("k").unwrap()));
        assert_eq!(
            c.getex_with::<String>("k", &GetexOptions::new().px(50_000))
                .unwrap(),
            "v"
        );
        assert!((40_000..=50_000).contains(&c.pttl("k").unwrap()));
        let at = now_secs() + 500;
        assert_eq!(
            c.getex_with::<String>("k", &GetexOptions::new().exat(at))
                .unwrap(),
            "v"
        );
        assert_eq!(c.expiretime("k").unwrap(), at);
        let at_ms = now_ms() + 600_000;
        assert_eq!(
            c.getex_with::<String>("k", &GetexOptions::new().pxat(at_ms))
                .unwrap(),
            "v"
        );
        assert_eq!(c.pexpiretime("k").unwrap(), at_ms);
        assert_eq!(
            c.getex_with::<String>("k", &GetexOptions::new().persist())
                .unwrap(),
            "v"
        );
        assert_eq!(c.ttl("k").unwrap(), -1);
        assert_eq!(
            c.getex_with::<Option<String>>("missing", &GetexOptions::new().ex(5))
                .unwrap(),
            None
        );

        // GETDEL returns the value and removes the key.
        assert_eq!(
            c.getdel::<Option<String>>("k").unwrap().as_deref(),
            Some("v")
        );
        assert_eq!(c.exists(["k"]).unwrap(), 0);
        assert_eq!(c.getdel::<Option<String>>("k").unwrap(), None);

        // GETSET: the previous value, nil the first time.
        assert_eq!(c.getset::<Option<String>>("gs", "1").unwrap(), None);
        assert_eq!(
            c.getset::<Option<String>>("gs", "2").unwrap().as_deref(),
            Some("1")
        );
        assert_eq!(c.get::<String>("gs").unwrap(), "2");
    });
}

#[test]
fn mget_mset_msetnx() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.mset([("a", "1"), ("b", "2")]).unwrap();
        let values: Vec<Option<String>> = c.mget(["a", "missing", "b"]).unwrap();
        assert_eq!(values, [Some("1".to_owned()), None, Some("2".to_owned())]);
        // MSET from owned pairs, with non-string values.
        c.mset(vec![("x".to_owned(), 10i64), ("y".to_owned(), 20i64)])
            .unwrap();
        let numbers: Vec<i64> = c.mget(vec!["x", "y"]).unwrap();
        assert_eq!(numbers, [10, 20]);
        // MSETNX: all or nothing.
        assert!(!c.msetnx([("a", "x"), ("c", "3")]).unwrap());
        assert_eq!(c.exists(["c"]).unwrap(), 0);
        assert_eq!(c.get::<String>("a").unwrap(), "1");
        assert!(c.msetnx([("c", "3"), ("d", "4")]).unwrap());
        let values: Vec<String> = c.mget(["c", "d"]).unwrap();
        assert_eq!(values, strings(&["3", "4"]));
        // Empty key lists fail before anything is sent.
        assert_invalid(c.mget::<Vec<Option<String>>>(Vec::<String>::new()));
        assert_invalid(c.mset(Vec::<(String, String)>::new()));
        assert_invalid(c.msetnx(Vec::<(&str, &str)>::new()));
    });
}

#[test]
fn counters_incr_decr_and_float() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.incr("n").unwrap(), 1);
        assert_eq!(c.incr("n").unwrap(), 2);
        assert_eq!(c.incrby("n", 5).unwrap(), 7);
        assert_eq!(c.incrby("n", -10).unwrap(), -3);
        assert_eq!(c.decr("n").unwrap(), -4);
        assert_eq!(c.decrby("n", 6).unwrap(), -10);
        assert_eq!(c.decr("fresh").unwrap(), -1);
        assert_eq!(c.decrby("fresh2", 3).unwrap(), -3);
        assert_eq!(c.get::<i64>("n").unwrap(), -10);
        // INCRBYFLOAT: the new value as a string in both protocols; f64 and String both read it.
        assert_eq!(c.incrbyfloat::<f64>("f", 1.0).unwrap(), 1.0);
        assert_eq!(c.incrbyfloat::<f64>("f", 1.1).unwrap(), 2.1);
        assert_eq!(c.incrbyfloat::<String>("f", "-0.1").unwrap(), "2");
        c.set("sci", "5.0e3").unwrap();
        assert_eq!(c.incrbyfloat::<f64>("sci", 2.0e2).unwrap(), 5200.0);
        // Errors: not an integer, overflow.
        c.set("text", "abc").unwrap();
        let (kind, message) = server_error(c.incr("text"));
        assert_eq!(kind, ServerErrorKind::Err);
        assert!(message.contains("not an integer"), "{message}");
        c.set("max", i64::MAX).unwrap();
        let (_, message) = server_error(c.incrby("max", 1));
        assert!(message.contains("overflow"), "{message}");
        assert_eq!(
            server_error(c.incrbyfloat::<f64>("text", 1.0)).0,
            ServerErrorKind::Err
        );
    });
}

#[test]
fn append_strlen_ranges_and_setrange() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // APPEND creates the key and returns the new length.
        assert_eq!(c.append("k", "Hello").unwrap(), 5);
        assert_eq!(c.append("k", " World").unwrap(), 11);
        assert_eq!(c.get::<String>("k").unwrap(), "Hello World");
        assert_eq!(c.strlen("k").unwrap(), 11);
        assert_eq!(c.strlen("missing").unwrap(), 0);
        // GETRANGE with positive and negative indexes.
        assert_eq!(c.getrange::<String>("k", 0, 4).unwrap(), "Hello");
        assert_eq!(c.getrange::<String>("k", -5, -1).unwrap(), "World");
        assert_eq!(c.getrange::<String>("k", 0, -1).unwrap(), "Hello World");
        assert_eq!(c.getrange::<String>("k", 20, 30).unwrap(), "");
        assert_eq!(c.getrange::<String>("missing", 0, 10).unwrap(), "");
        // SUBSTR is the old name of GETRANGE.
        assert_eq!(c.substr::<String>("k", 6, 10).unwrap(), "World");
        assert_eq!(c.substr::<String>("k", -3, -1).unwrap(), "rld");
        // SETRANGE overwrites in place and returns the new length.
        assert_eq!(c.setrange("k", 6, "Redis").unwrap(), 11);
        assert_eq!(c.get::<String>("k").unwrap(), "Hello Redis");
        // Past the end of a missing key it pads with zero bytes.
        assert_eq!(c.setrange("pad", 3, "ab").unwrap(), 5);
        assert_eq!(c.get::<Vec<u8>>("pad").unwrap(), b"\0\0\0ab");
        // An empty value on a missing key creates nothing.
        assert_eq!(c.setrange("none", 5, "").unwrap(), 0);
        assert_eq!(c.exists(["none"]).unwrap(), 0);
        let (_, message) = server_error(c.setrange("k", -1, "x"));
        assert!(message.contains("out of range"), "{message}");
    });
}

#[test]
fn deprecated_setters_setex_psetex_setnx() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.setex("ex", 60, "v").unwrap();
        assert_eq!(c.get::<String>("ex").unwrap(), "v");
        assert!((50..=60).contains(&c.ttl("ex").unwrap()));
        c.psetex("px", 60_000, "v").unwrap();
        assert_eq!(c.get::<String>("px").unwrap(), "v");
        assert!((50_000..=60_000).contains(&c.pttl("px").unwrap()));
        assert!(c.setnx("nx", "1").unwrap());
        assert!(!c.setnx("nx", "2").unwrap());
        assert_eq!(c.get::<String>("nx").unwrap(), "1");
        assert_eq!(server_error(c.setex("bad", 0, "v")).0, ServerErrorKind::Err);
        assert_eq!(
            server_error(c.psetex("bad", -5, "v")).0,
            ServerErrorKind::Err
        );
    });
}

#[test]
fn lcs_string_len_and_idx() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.mset([("key1", "ohmytext"), ("key2", "mynewtext")])
            .unwrap();
        assert_eq!(c.lcs::<String>("key1", "key2").unwrap(), "mytext");
        assert_eq!(
            c.lcs_with::<i64>("key1", "key2", &LcsOptions::new().len())
                .unwrap(),
            6
        );
        // IDX: a map in RESP3, a flat list in RESP2; LcsIdx reads both.
        let idx: LcsIdx = c
            .lcs_with("key1", "key2", &LcsOptions::new().idx())
            .unwrap();
        assert_eq!(idx.len, 6);
        let ranges: Vec<LcsRanges> = idx
            .matches
            .iter()
            .map(|m| (m.key1, m.key2, m.len))
            .collect();
        assert_eq!(ranges, [((4, 7), (5, 8), None), ((2, 3), (0, 1), None)]);
        let options = LcsOptions::new().idx().minmatchlen(4).withmatchlen();
        let idx: LcsIdx = c.lcs_with("key1", "key2", &options).unwrap();
        assert_eq!(idx.len, 6);
        let ranges: Vec<LcsRanges> = idx
            .matches
            .iter()
            .map(|m| (m.key1, m.key2, m.len))
            .collect();
        assert_eq!(ranges, [((4, 7), (5, 8), Some(4))]);
        // Missing keys are empty strings.
        assert_eq!(c.lcs::<String>("key1", "missing").unwrap(), "");
        c.rpush("list", ["a"]).unwrap();
        let (_, message) = server_error(c.lcs::<Value>("key1", "list"));
        assert!(message.contains("must contain string values"), "{message}");
    });
}

// ---------------------------------------------------------------------------------------------
// Keys (generic)
// ---------------------------------------------------------------------------------------------

#[test]
fn del_exists_unlink_touch() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.mset([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")])
            .unwrap();
        // EXISTS counts duplicates again (redis-py).
        assert_eq!(c.exists(["a", "b", "missing"]).unwrap(), 2);
        assert_eq!(c.exists(["a", "a"]).unwrap(), 2);
        assert_eq!(c.exists("a").unwrap(), 1);
        assert_eq!(c.touch(["a", "b", "missing"]).unwrap(), 2);
        assert_eq!(c.del(["a", "missing"]).unwrap(), 1);
        assert_eq!(c.del("a").unwrap(), 0);
        assert_eq!(c.unlink(["b", "c"]).unwrap(), 2);
        assert_eq!(c.unlink(vec!["b".to_owned()]).unwrap(), 0);
        assert_eq!(c.exists(["a", "b", "c", "d"]).unwrap(), 1);
        // Empty key lists fail before sending.
        assert_invalid(c.del(Vec::<String>::new()));
        assert_invalid(c.exists(Vec::<String>::new()));
        assert_invalid(c.unlink(Vec::<&str>::new()));
        assert_invalid(c.touch(Vec::<&str>::new()));
        // The connection is still usable afterwards.
        assert_eq!(c.get::<String>("d").unwrap(), "4");
    });
}

#[test]
fn expire_ttl_persist_families() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // TTL / PTTL / EXPIRETIME / PEXPIRETIME on missing and persistent keys.
        assert_eq!(c.ttl("missing").unwrap(), -2);
        assert_eq!(c.pttl("missing").unwrap(), -2);
        assert_eq!(c.expiretime("missing").unwrap(), -2);
        assert_eq!(c.pexpiretime("missing").unwrap(), -2);
        c.set("k", "v").unwrap();
        assert_eq!(c.ttl("k").unwrap(), -1);
        assert_eq!(c.pttl("k").unwrap(), -1);
        assert_eq!(c.expiretime("k").unwrap(), -1);
        assert_eq!(c.pexpiretime("k").unwrap(), -1);

        // EXPIRE / PERSIST.
        assert!(c.expire("k", 100).unwrap());
        assert!((90..=100).contains(&c.ttl("k").unwrap()));
        assert!(!c.expire("missing", 100).unwrap());
        assert!(c.persist("k").unwrap());
        assert!(!c.persist("k").unwrap());
        assert!(!c.persist("missing").unwrap());
        assert_eq!(c.ttl("k").unwrap(), -1);

        // PEXPIRE.
        assert!(c.pexpire("k", 100_000).unwrap());
        assert!((90_000..=100_000).contains(&c.pttl("k").unwrap()));
        assert!(!c.pexpire("missing", 1000).unwrap());

        // EXPIREAT / PEXPIREAT, read back exactly.
        let at = now_secs() + 1000;
        assert!(c.expireat("k", at).unwrap());
        assert_eq!(c.expiretime("k").unwrap(), at);
        assert_eq!(c.pexpiretime("k").unwrap(), at * 1000);
        let at_ms = now_ms() + 2_000_000;
        assert!(c.pexpireat("k", at_ms).unwrap());
        assert_eq!(c.pexpiretime("k").unwrap(), at_ms);
        assert!(!c.expireat("missing", at).unwrap());
        assert!(!c.pexpireat("missing", at_ms).unwrap());

        // A time in the past deletes the key.
        c.set("gone1", "v").unwrap();
        assert!(c.expire("gone1", -1).unwrap());
        assert_eq!(c.exists(["gone1"]).unwrap(), 0);
        c.set("gone2", "v").unwrap();
        assert!(c.expireat("gone2", now_secs() - 10).unwrap());
        assert_eq!(c.exists(["gone2"]).unwrap(), 0);
        c.set("gone3", "v").unwrap();
        assert!(c.pexpireat("gone3", 1).unwrap());
        assert_eq!(c.exists(["gone3"]).unwrap(), 0);

        // An expiry passing on its own (bounded poll).
        c.set("short", "v").unwrap();
        assert!(c.pexpire("short", 50).unwrap());
        assert!(eventually(Duration::from_secs(5), || {
            c.exists(["short"]).unwrap() == 0
        }));
    });
}

#[test]
fn expire_with_nx_xx_gt_lt() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("k", "v").unwrap();
        // No TTL yet: XX refuses, GT refuses (no TTL counts as infinite), NX sets.
        assert!(!c.expire_with("k", 100, &ExpireOptions::new().xx()).unwrap());
        assert!(!c.expire_with("k", 100, &ExpireOptions::new().gt()).unwrap());
        assert!(c.expire_with("k", 100, &ExpireOptions::new().nx()).unwrap());
        assert!(!c.expire_with("k", 200, &ExpireOptions::new().nx()).unwrap());
        assert!(c.expire_with("k", 200, &ExpireOptions::new().xx()).unwrap());
        assert!(!c.expire_with("k", 50, &ExpireOptions::new().gt()).unwrap());
        assert!(c.expire_with("k", 300, &ExpireOptions::new().gt()).unwrap());
        assert!(!c.expire_with("k", 400, &ExpireOptions::new().lt()).unwrap());
        assert!(c.expire_with("k", 150, &ExpireOptions::new().lt()).unwrap());
        assert!((140..=150).contains(&c.ttl("k").unwrap()));
        // LT on a key without TTL sets it.
        c.set("p", "v").unwrap();
        assert!(c.expire_with("p", 100, &ExpireOptions::new().lt()).unwrap());
        assert!(
            !c.expire_with("missing", 100, &ExpireOptions::new().nx())
                .unwrap()
        );

        // PEXPIRE with the same conditions.
        c.set("pk", "v").unwrap();
        assert!(
            !c.pexpire_with("pk", 100_000, &PexpireOptions::new().xx())
                .unwrap()
        );
        assert!(
            c.pexpire_with("pk", 100_000, &PexpireOptions::new().nx())
                .unwrap()
        );
        assert!(
            !c.pexpire_with("pk", 100_000, &PexpireOptions::new().nx())
                .unwrap()
        );
        assert!(
            c.pexpire_with("pk", 200_000, &PexpireOptions::new().gt())
                .unwrap()
        );
        assert!(
            !c.pexpire_with("pk", 100_000, &PexpireOptions::new().gt())
                .unwrap()
        );
        assert!(
            c.pexpire_with("pk", 50_000, &PexpireOptions::new().lt())
                .unwrap()
        );
        assert!(
            c.pexpire_with("pk", 60_000, &PexpireOptions::new().xx())
                .unwrap()
        );
        assert!((50_000..=60_000).contains(&c.pttl("pk").unwrap()));

        // EXPIREAT with conditions.
        let base = now_secs();
        c.set("ak", "v").unwrap();
        assert!(
            !c.expireat_with("ak", base + 100, &ExpireatOptions::new().xx())
                .unwrap()
        );
        assert!(
            c.expireat_with("ak", base + 100, &ExpireatOptions::new().nx())
                .unwrap()
        );
        assert!(
            !c.expireat_with("ak", base + 200, &ExpireatOptions::new().nx())
                .unwrap()
        );
        assert!(
            !c.expireat_with("ak", base + 50, &ExpireatOptions::new().gt())
                .unwrap()
        );
        assert!(
            c.expireat_with("ak", base + 300, &ExpireatOptions::new().gt())
                .unwrap()
        );
        assert!(
            !c.expireat_with("ak", base + 400, &ExpireatOptions::new().lt())
                .unwrap()
        );
        assert!(
            c.expireat_with("ak", base + 250, &ExpireatOptions::new().lt())
                .unwrap()
        );
        assert!(
            c.expireat_with("ak", base + 260, &ExpireatOptions::new().xx())
                .unwrap()
        );
        assert_eq!(c.expiretime("ak").unwrap(), base + 260);

        // PEXPIREAT with conditions.
        let base_ms = now_ms();
        c.set("pak", "v").unwrap();
        let o = PexpireatOptions::new;
        assert!(
            !c.pexpireat_with("pak", base_ms + 100_000, &o().xx())
                .unwrap()
        );
        assert!(
            c.pexpireat_with("pak", base_ms + 100_000, &o().nx())
                .unwrap()
        );
        assert!(
            !c.pexpireat_with("pak", base_ms + 100_000, &o().nx())
                .unwrap()
        );
        assert!(
            c.pexpireat_with("pak", base_ms + 300_000, &o().gt())
                .unwrap()
        );
        assert!(
            !c.pexpireat_with("pak", base_ms + 200_000, &o().gt())
                .unwrap()
        );
        assert!(
            c.pexpireat_with("pak", base_ms + 150_000, &o().lt())
                .unwrap()
        );
        assert!(
            c.pexpireat_with("pak", base_ms + 160_000, &o().xx())
                .unwrap()
        );
        assert_eq!(c.pexpiretime("pak").unwrap(), base_ms + 160_000);
    });
}

#[test]
fn keys_randomkey_and_type() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.randomkey::<Option<String>>().unwrap(), None);
        assert!(c.keys::<Vec<String>>("*").unwrap().is_empty());
        c.set("only", "v").unwrap();
        assert_eq!(
            c.randomkey::<Option<String>>().unwrap().as_deref(),
            Some("only")
        );

        c.mset([("test_a", "1"), ("test_b", "2"), ("testc", "3")])
            .unwrap();
        let keys: BTreeSet<String> = c.keys("test_*").unwrap();
        assert_eq!(keys, set_of(strings(&["test_a", "test_b"])));
        let mut all: Vec<String> = c.keys("*").unwrap();
        all.sort();
        assert_eq!(all, strings(&["only", "test_a", "test_b", "testc"]));
        let key: String = c.randomkey().unwrap();
        assert!(all.contains(&key), "{key}");

        // TYPE for each kind of value (the method is `key_type`).
        c.rpush("l", ["a"]).unwrap();
        c.sadd("s", ["a"]).unwrap();
        c.hset("h", [("f", "v")]).unwrap();
        c.pfadd_with("hll", &PfaddOptions::new().element(["a"]))
            .unwrap();
        assert_eq!(c.key_type::<String>("only").unwrap(), "string");
        assert_eq!(c.key_type::<String>("l").unwrap(), "list");
        assert_eq!(c.key_type::<String>("s").unwrap(), "set");
        assert_eq!(c.key_type::<String>("h").unwrap(), "hash");
        assert_eq!(c.key_type::<String>("hll").unwrap(), "string");
        assert_eq!(c.key_type::<String>("missing").unwrap(), "none");
    });
}

#[test]
fn rename_and_renamenx() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set_with::<()>("a", "1", &SetOptions::new().ex(100))
            .unwrap();
        c.rename("a", "b").unwrap();
        assert_eq!(c.exists(["a"]).unwrap(), 0);
        assert_eq!(c.get::<String>("b").unwrap(), "1");
        // The TTL moves with the value.
        assert!(c.ttl("b").unwrap() > 0);
        // RENAME overwrites.
        c.set("c", "3").unwrap();
        c.rename("c", "b").unwrap();
        assert_eq!(c.get::<String>("b").unwrap(), "3");
        let (kind, message) = server_error(c.rename("missing", "x"));
        assert_eq!(kind, ServerErrorKind::Err);
        assert!(message.contains("no such key"), "{message}");
        // RENAMENX only when the destination is free.
        c.set("d", "4").unwrap();
        assert!(!c.renamenx("d", "b").unwrap());
        assert_eq!(c.get::<String>("b").unwrap(), "3");
        assert!(c.renamenx("d", "e").unwrap());
        assert_eq!(c.get::<String>("e").unwrap(), "4");
        assert_eq!(c.exists(["d"]).unwrap(), 0);
    });
}

#[test]
fn copy_and_move_between_databases() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        let db1 = s.server.client_builder().protocol(protocol).db(1).build();
        c.set("src", "v").unwrap();
        assert!(c.copy("src", "dst").unwrap());
        assert_eq!(c.get::<String>("dst").unwrap(), "v");
        // Refused when the destination exists, unless REPLACE.
        c.set("src", "v2").unwrap();
        assert!(!c.copy("src", "dst").unwrap());
        assert_eq!(c.get::<String>("dst").unwrap(), "v");
        assert!(
            c.copy_with("src", "dst", &CopyOptions::new().replace())
                .unwrap()
        );
        assert_eq!(c.get::<String>("dst").unwrap(), "v2");
        assert!(!c.copy("missing", "x").unwrap());
        // Into another database.
        assert!(
            c.copy_with("src", "other", &CopyOptions::new().db(1))
                .unwrap()
        );
        assert_eq!(db1.get::<String>("other").unwrap(), "v2");
        assert_eq!(c.exists(["other"]).unwrap(), 0);
        db1.set("taken", "db1").unwrap();
        c.set("taken", "db0").unwrap();
        assert!(
            !c.copy_with("taken", "taken", &CopyOptions::new().db(1))
                .unwrap()
        );
        assert!(
            c.copy_with("taken", "taken", &CopyOptions::new().db(1).replace())
                .unwrap()
        );
        assert_eq!(db1.get::<String>("taken").unwrap(), "db0");
        // A collection is copied in full.
        c.rpush("list", ["a", "b"]).unwrap();
        assert!(c.copy("list", "list2").unwrap());
        assert_eq!(
            c.lrange::<Vec<String>>("list2", 0, -1).unwrap(),
            strings(&["a", "b"])
        );

        // MOVE (the method is `move_key`).
        c.set("mv", "m").unwrap();
        assert!(c.move_key("mv", 1).unwrap());
        assert_eq!(c.exists(["mv"]).unwrap(), 0);
        assert_eq!(db1.get::<String>("mv").unwrap(), "m");
        assert!(!c.move_key("mv", 1).unwrap());
        // Refused when the key exists in the target database.
        c.set("mv", "again").unwrap();
        assert!(!c.move_key("mv", 1).unwrap());
        assert_eq!(c.get::<String>("mv").unwrap(), "again");
        assert_eq!(server_error(c.move_key("mv", 0)).0, ServerErrorKind::Err);
    });
}

#[test]
fn dump_and_restore() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.dump::<Option<Vec<u8>>>("missing").unwrap(), None);
        c.set("k", "value").unwrap();
        let blob: Vec<u8> = c.dump("k").unwrap();
        assert!(!blob.is_empty());
        c.restore("copy", 0, blob.as_slice()).unwrap();
        assert_eq!(c.get::<String>("copy").unwrap(), "value");
        assert_eq!(c.ttl("copy").unwrap(), -1);
        // Restoring onto an existing key is BUSYKEY without REPLACE.
        c.set("copy", "other").unwrap();
        assert_eq!(
            server_error(c.restore("copy", 0, &blob)).0,
            ServerErrorKind::BusyKey
        );
        c.restore_with("copy", 0, &blob, &RestoreOptions::new().replace())
            .unwrap();
        assert_eq!(c.get::<String>("copy").unwrap(), "value");
        // A relative TTL.
        c.restore("ttl", 5000, &blob).unwrap();
        assert!((4000..=5000).contains(&c.pttl("ttl").unwrap()));
        // An absolute TTL (ABSTTL), read back exactly.
        let at_ms = now_ms() + 100_000;
        c.restore_with("abs", at_ms, &blob, &RestoreOptions::new().absttl())
            .unwrap();
        assert_eq!(c.pexpiretime("abs").unwrap(), at_ms);
        // IDLETIME sets the LRU clock; TOUCH resets it.
        c.restore_with("idle", 0, &blob, &RestoreOptions::new().idletime(1000))
            .unwrap();
        let idle = c.object_idletime("idle").unwrap().expect("the key exists");
        assert!((999..=1010).contains(&idle), "idle {idle}");
        assert_eq!(c.touch(["idle"]).unwrap(), 1);
        assert!(c.object_idletime("idle").unwrap().is_some_and(|i| i <= 1));
        // A list round-trips too, as Bytes.
        c.rpush("list", ["a", "b", "c"]).unwrap();
        let list_blob: bytes::Bytes = c.dump("list").unwrap();
        c.restore("list2", 0, list_blob).unwrap();
        assert_eq!(
            c.lrange::<Vec<String>>("list2", 0, -1).unwrap(),
            strings(&["a", "b", "c"])
        );
        // A corrupt payload is refused.
        let (_, message) = server_error(c.restore("bad", 0, "not a dump"));
        assert!(message.contains("DUMP payload"), "{message}");
    });
}

#[test]
fn object_subcommands() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("int", "12345").unwrap();
        c.set("short", "hello").unwrap();
        c.set("long", "x".repeat(100)).unwrap();
        assert_eq!(
            c.object_encoding::<Option<String>>("int")
                .unwrap()
                .as_deref(),
            Some("int")
        );
        assert_eq!(c.object_encoding::<String>("short").unwrap(), "embstr");
        assert_eq!(c.object_encoding::<String>("long").unwrap(), "raw");
        assert_eq!(
            c.object_encoding::<Option<String>>("missing").unwrap(),
            None
        );
        assert_eq!(c.object_refcount("short").unwrap(), Some(1));
        assert!(c.object_idletime("short").unwrap().is_some_and(|i| i <= 1));
        // OBJECT REFCOUNT / IDLETIME / FREQ reply nil for a missing key (redis-py: None).
        assert_eq!(c.object_refcount("missing").unwrap(), None);
        assert_eq!(c.object_idletime("missing").unwrap(), None);
        // FREQ needs an LFU policy.
        let (_, message) = server_error(c.object_freq("short"));
        assert!(message.contains("LFU"), "{message}");

        let help: Vec<String> = c.object_help().unwrap();
        assert!(help.iter().any(|l| l.contains("ENCODING")), "{help:?}");
        assert!(help.iter().any(|l| l.contains("FREQ")), "{help:?}");

        c.config_set([("maxmemory-policy", "allkeys-lfu")]).unwrap();
        c.set("lfu", "v").unwrap();
        // A new key starts at LFU_INIT_VAL (5); a minute boundary may decay it by one.
        let freq = c.object_freq("lfu").unwrap().expect("the key exists");
        assert!((4..=5).contains(&freq), "freq {freq}");
        // RESTORE FREQ sets the counter.
        let blob: Vec<u8> = c.dump("lfu").unwrap();
        c.restore_with("freq", 0, &blob, &RestoreOptions::new().freq(100))
            .unwrap();
        let freq = c.object_freq("freq").unwrap().expect("the key exists");
        assert!((99..=100).contains(&freq), "freq {freq}");
        assert_eq!(c.object_freq("missing").unwrap(), None);
        // Under LFU the idle time is not tracked.
        let (_, message) = server_error(c.object_idletime("lfu"));
        assert!(message.contains("LFU"), "{message}");
        c.config_set([("maxmemory-policy", "noeviction")]).unwrap();
    });
}

#[test]
fn scan_with_match_count_and_type() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // An empty database: one call, cursor 0.
        let (cursor, keys): (u64, Vec<String>) = c.scan(0).unwrap();
        assert_eq!(cursor, 0);
        assert!(keys.is_empty());

        let pairs: Vec<(String, String)> = (0..60)
            .map(|i| (format!("key:{i}"), i.to_string()))
            .collect();
        c.mset(pairs.clone()).unwrap();
        c.rpush("list:a", ["x"]).unwrap();
        c.sadd("set:a", ["x"]).unwrap();
        let mut expected = set_of(pairs.into_iter().map(|(k, _)| k));
        expected.insert("list:a".to_owned());
        expected.insert("set:a".to_owned());
        assert_eq!(scan_all(c, None), expected);

        // COUNT makes several pages; the union is still every key.
        let first: (u64, Vec<String>) = c.scan_with(0, &ScanOptions::new().count(10)).unwrap();
        assert_ne!(first.0, 0, "62 keys do not fit in one page of 10");
        assert_eq!(scan_all(c, Some(&ScanOptions::new().count(10))), expected);

        // MATCH.
        let matched = scan_all(c, Some(&ScanOptions::new().pattern("key:1*").count(7)));
        let mut want = set_of(std::iter::once("key:1".to_owned()));
        want.extend((10..20).map(|i| format!("key:{i}")));
        assert_eq!(matched, want);

        // TYPE (6.0), alone and with MATCH.
        let lists = scan_all(c, Some(&ScanOptions::new().of_type("list")));
        assert_eq!(lists, set_of(strings(&["list:a"])));
        let sets = scan_all(c, Some(&ScanOptions::new().of_type("set").pattern("set:*")));
        assert_eq!(sets, set_of(strings(&["set:a"])));
        let none = scan_all(
            c,
            Some(&ScanOptions::new().of_type("string").pattern("list:*")),
        );
        assert!(none.is_empty());

        // The reply as a raw value: a cursor string and an array, in both protocols.
        let raw: Value = c.scan_with(0, &ScanOptions::new().count(1000)).unwrap();
        match raw {
            Value::Array(items) => {
                assert_eq!(items.len(), 2);
                assert_eq!(items[0], Value::BulkString("0".into()));
            }
            other => panic!("SCAN replied {other:?}"),
        }
    });
}

#[test]
fn sort_with_by_get_limit_alpha_store() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // Plain numeric sort, of a list and of a set.
        c.rpush("a", ["3", "2", "1", "4"]).unwrap();
        assert_eq!(
            c.sort::<Vec<String>>("a").unwrap(),
            strings(&["1", "2", "3", "4"])
        );
        assert_eq!(c.sort::<Vec<i64>>("a").unwrap(), [1, 2, 3, 4]);
        c.sadd("set", ["10", "2", "33"]).unwrap();
        assert_eq!(c.sort::<Vec<i64>>("set").unwrap(), [2, 10, 33]);
        assert!(c.sort::<Vec<String>>("missing").unwrap().is_empty());
        // LIMIT.
        let limited: Vec<String> = c.sort_with("a", &SortOptions::new().limit(1, 2)).unwrap();
        assert_eq!(limited, strings(&["2", "3"]));
        // DESC / ASC.
        let desc: Vec<i64> = c.sort_with("a", &SortOptions::new().desc()).unwrap();
        assert_eq!(desc, [4, 3, 2, 1]);
        let asc: Vec<i64> = c.sort_with("a", &SortOptions::new().asc()).unwrap();
        assert_eq!(asc, [1, 2, 3, 4]);

        // BY an external key.
        c.mset([("score:1", "8"), ("score:2", "3"), ("score:3", "5")])
            .unwrap();
        c.rpush("b", ["3", "2", "1"]).unwrap();
        let by: Vec<String> = c.sort_with("b", &SortOptions::new().by("score:*")).unwrap();
        assert_eq!(by, strings(&["2", "3", "1"]));
        // BY a hash field.
        c.hset("w:1", [("weight", "30")]).unwrap();
        c.hset("w:2", [("weight", "10")]).unwrap();
        c.hset("w:3", [("weight", "20")]).unwrap();
        let by_hash: Vec<String> = c
            .sort_with("b", &SortOptions::new().by("w:*->weight"))
            .unwrap();
        assert_eq!(by_hash, strings(&["2", "3", "1"]));

        // GET one pattern, several patterns, and `#`.
        c.mset([("user:1", "u1"), ("user:2", "u2"), ("user:3", "u3")])
            .unwrap();
        let got: Vec<String> = c.sort_with("b", &SortOptions::new().get("user:*")).unwrap();
        assert_eq!(got, strings(&["u1", "u2", "u3"]));
        let options = SortOptions::new().get("user:*").get("#");
        let flat: Vec<String> = c.sort_with("b", &options).unwrap();
        assert_eq!(flat, strings(&["u1", "1", "u2", "2", "u3", "3"]));
        // redis-py's `groups=True`: two GET patterns read as pairs.
        let grouped: Vec<(String, i64)> = c.sort_with("b", &options).unwrap();
        assert_eq!(
            grouped,
            [
                ("u1".to_owned(), 1),
                ("u2".to_owned(), 2),
                ("u3".to_owned(), 3)
            ]
        );
        // A GET of a missing key is nil.
        c.rpush("c", ["1", "4"]).unwrap();
        let missing: Vec<Option<String>> =
            c.sort_with("c", &SortOptions::new().get("user:*")).unwrap();
        assert_eq!(missing, [Some("u1".to_owned()), None]);
        // BY nosort keeps the list order.
        let nosort: Vec<String> = c
            .sort_with("b", &SortOptions::new().by("nosort").get("user:*"))
            .unwrap();
        assert_eq!(nosort, strings(&["u3", "u2", "u1"]));

        // ALPHA; without it, non-numbers are an error.
        c.rpush("letters", ["e", "c", "b", "d", "a"]).unwrap();
        let alpha: Vec<String> = c.sort_with("letters", &SortOptions::new().alpha()).unwrap();
        assert_eq!(alpha, strings(&["a", "b", "c", "d", "e"]));
        let (_, message) = server_error(c.sort::<Vec<String>>("letters"));
        assert!(message.contains("double"), "{message}");
        let combined = SortOptions::new().alpha().desc().limit(0, 3);
        let top: Vec<String> = c.sort_with("letters", &combined).unwrap();
        assert_eq!(top, strings(&["e", "d", "c"]));

        // STORE: the count, and the list it wrote.
        let stored: i64 = c
            .sort_with("a", &SortOptions::new().store("sorted"))
            .unwrap();
        assert_eq!(stored, 4);
        assert_eq!(
            c.lrange::<Vec<String>>("sorted", 0, -1).unwrap(),
            strings(&["1", "2", "3", "4"])
        );
        let options = SortOptions::new()
            .by("score:*")
            .get("user:*")
            .desc()
            .store("names");
        assert_eq!(c.sort_with::<i64>("b", &options).unwrap(), 3);
        assert_eq!(
            c.lrange::<Vec<String>>("names", 0, -1).unwrap(),
            strings(&["u1", "u3", "u2"])
        );

        // SORT_RO (7.0): the same without STORE.
        assert_eq!(c.sort_ro::<Vec<i64>>("a").unwrap(), [1, 2, 3, 4]);
        let ro = SortRoOptions::new()
            .by("score:*")
            .get("user:*")
            .get("#")
            .desc()
            .limit(0, 2);
        let ro_pairs: Vec<(String, String)> = c.sort_ro_with("b", &ro).unwrap();
        assert_eq!(
            ro_pairs,
            [
                ("u1".to_owned(), "1".to_owned()),
                ("u3".to_owned(), "3".to_owned())
            ]
        );
        let ro_alpha: Vec<String> = c
            .sort_ro_with("letters", &SortRoOptions::new().alpha().asc())
            .unwrap();
        assert_eq!(ro_alpha, strings(&["a", "b", "c", "d", "e"]));
        assert_eq!(
            server_error(c.sort_ro::<Vec<String>>("letters")).0,
            ServerErrorKind::Err
        );
    });
}

#[test]
fn migrate_to_another_server() {
    let s = CommandServer::start();
    let target = RedisServer::start();
    let host = target.host();
    let port = i64::from(target.port());
    s.each_protocol(|c, protocol| {
        let t = target.client_builder().protocol(protocol).build();
        t.flushall().unwrap();
        // The single-key form moves the key.
        c.set("k", "v").unwrap();
        assert_eq!(c.migrate::<String>(host, port, "k", 0, 5000).unwrap(), "OK");
        assert_eq!(c.exists(["k"]).unwrap(), 0);
        assert_eq!(t.get::<String>("k").unwrap(), "v");
        // A missing key is NOKEY.
        assert_eq!(
            c.migrate::<String>(host, port, "missing", 0, 5000).unwrap(),
            "NOKEY"
        );
        // COPY keeps the source; without REPLACE an existing target key is BUSYKEY.
        c.set("k", "v2").unwrap();
        let copy = MigrateOptions::new().copy();
        let (kind, message) =
            server_error(c.migrate_with::<String>(host, port, "k", 0, 5000, &copy));
        assert!(
            kind == ServerErrorKind::BusyKey || message.contains("BUSYKEY"),
            "{kind:?} {message}"
        );
        let copy_replace = MigrateOptions::new().copy().replace();
        assert_eq!(
            c.migrate_with::<String>(host, port, "k", 0, 5000, &copy_replace)
                .unwrap(),
            "OK"
        );
        assert_eq!(c.get::<String>("k").unwrap(), "v2");
        assert_eq!(t.get::<String>("k").unwrap(), "v2");
        // KEYS: several keys with the empty key selector, into database 2.
        c.mset([("a", "1"), ("b", "2")]).unwrap();
        let keys = MigrateOptions::new().keys(["a", "b"]);
        assert_eq!(
            c.migrate_with::<String>(host, port, "", 2, 5000, &keys)
                .unwrap(),
            "OK"
        );
        assert_eq!(c.exists(["a", "b"]).unwrap(), 0);
        let t2 = target.client_builder().protocol(protocol).db(2).build();
        let moved: Vec<String> = t2.mget(["a", "b"]).unwrap();
        assert_eq!(moved, strings(&["1", "2"]));
        assert_invalid(c.migrate_with::<String>(
            host,
            port,
            "",
            0,
            5000,
            &MigrateOptions::new().keys(Vec::<String>::new()),
        ));
    });
}

#[test]
fn migrate_with_auth_and_auth2() {
    let s = CommandServer::start();
    let target = RedisServer::builder()
        .args(["--requirepass", "secret"])
        .start();
    let host = target.host();
    let port = i64::from(target.port());
    let t = target.client_builder().password("secret").build();
    // Without credentials the target refuses. (Only before the first authenticated MIGRATE:
    // the source caches its connection to the target, already authenticated, for 10 s.)
    let first = s.client(Protocol::Resp2);
    first.set("a", "1").unwrap();
    let (_, message) = server_error(first.migrate::<String>(host, port, "a", 0, 5000));
    assert!(
        message.contains("NOAUTH") || message.contains("Authentication"),
        "{message}"
    );
    s.each_protocol(|c, _| {
        t.flushall().unwrap();
        c.mset([("a", "1"), ("b", "2")]).unwrap();
        let auth = MigrateOptions::new().auth("secret");
        assert_eq!(
            c.migrate_with::<String>(host, port, "a", 0, 5000, &auth)
                .unwrap(),
            "OK"
        );
        assert_eq!(t.get::<String>("a").unwrap(), "1");
        // AUTH2 user password (6.0).
        let auth2 = MigrateOptions::new().auth2("default", "secret");
        assert_eq!(
            c.migrate_with::<String>(host, port, "b", 0, 5000, &auth2)
                .unwrap(),
            "OK"
        );
        assert_eq!(t.get::<String>("b").unwrap(), "2");
        assert_eq!(c.exists(["a", "b"]).unwrap(), 0);
        // Wrong password.
        c.set("c", "3").unwrap();
        let wrong = MigrateOptions::new().auth2("default", "nope");
        let (_, message) = server_error(c.migrate_with::<String>(host, port, "c", 0, 5000, &wrong));
        assert!(
            message.contains("WRONGPASS") || message.contains("invalid"),
            "{message}"
        );
        assert_eq!(c.get::<String>("c").unwrap(), "3");
    });
}

#[test]
fn wait_for_replicas_and_waitaof() {
    let s = CommandServer::start();
    // No replica: WAIT 0 answers at once, WAIT 1 times out with 0.
    s.each_protocol(|c, _| {
        c.set("k", "v").unwrap();
        assert_eq!(c.wait(0, 0).unwrap(), 0);
        assert_eq!(c.wait(1, 50).unwrap(), 0);
    });

    // With one replica: WAIT 1 returns 1 once it acknowledged, and the write is there.
    let port = s.server.port().to_string();
    let replica = RedisServer::builder()
        .args(["--replicaof", "127.0.0.1", port.as_str()])
        .start();
    let master = s.client(Protocol::Resp3);
    let synced = eventually(Duration::from_secs(30), || {
        master.incr("probe").unwrap();
        master.wait(1, 200).unwrap() == 1
    });
    assert!(synced, "the replica never acknowledged");
    s.each_protocol(|c, protocol| {
        c.set("replicated", "yes").unwrap();
        assert_eq!(c.wait(1, 5000).unwrap(), 1);
        let r = replica.client_builder().protocol(protocol).build();
        assert!(eventually(Duration::from_secs(5), || {
            r.get::<Option<String>>("replicated").unwrap().as_deref() == Some("yes")
        }));
    });

    // WAITAOF (7.2): the local fsync count with AOF on; an error when AOF is off.
    if s.supports("7.2.0", "WAITAOF") {
        let c = s.client(Protocol::Resp2);
        let (_, message) = server_error(c.waitaof::<Value>(1, 0, 0));
        assert!(message.contains("appendonly"), "{message}");
        let aof = CommandServer::with(RedisServer::builder().args(["--appendonly", "yes"]).start());
        aof.each_protocol(|c, _| {
            c.set("k", "v").unwrap();
            let acks: (i64, i64) = c.waitaof(1, 0, 10_000).unwrap();
            assert_eq!(acks, (1, 0));
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Bitmaps
// ---------------------------------------------------------------------------------------------

#[test]
fn setbit_getbit_bitcount() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // SETBIT returns the previous bit.
        assert!(!c.setbit("b", 7, 1).unwrap());
        assert!(c.setbit("b", 7, 0).unwrap());
        assert!(!c.setbit("b", 7, 1).unwrap());
        assert!(!c.setbit("b", 0, 1).unwrap());
        assert!(c.getbit("b", 7).unwrap());
        assert!(c.getbit("b", 0).unwrap());
        assert!(!c.getbit("b", 1).unwrap());
        assert!(!c.getbit("b", 1000).unwrap());
        assert!(!c.getbit("missing", 0).unwrap());
        assert_eq!(c.get::<Vec<u8>>("b").unwrap(), [0b1000_0001]);
        // Setting a far bit grows the string with zeros.
        assert!(!c.setbit("far", 23, 1).unwrap());
        assert_eq!(c.strlen("far").unwrap(), 3);
        assert_eq!(server_error(c.setbit("b", 0, 2)).0, ServerErrorKind::Err);
        assert_eq!(server_error(c.setbit("b", -1, 1)).0, ServerErrorKind::Err);

        // BITCOUNT with byte and bit ranges (7.0 for BYTE/BIT).
        c.set("foo", "foobar").unwrap();
        assert_eq!(c.bitcount("foo").unwrap(), 26);
        assert_eq!(c.bitcount("missing").unwrap(), 0);
        assert_eq!(
            c.bitcount_with("foo", &BitcountOptions::new().range(0, 0))
                .unwrap(),
            4
        );
        assert_eq!(
            c.bitcount_with("foo", &BitcountOptions::new().range(1, 1))
                .unwrap(),
            6
        );
        assert_eq!(
            c.bitcount_with("foo", &BitcountOptions::new().range(-2, -1))
                .unwrap(),
            7
        );
        assert_eq!(
            c.bitcount_with("foo", &BitcountOptions::new().range(1, 1).byte())
                .unwrap(),
            6
        );
        assert_eq!(
            c.bitcount_with("foo", &BitcountOptions::new().range(5, 30).bit())
                .unwrap(),
            17
        );
        // BYTE/BIT without a range is refused before sending.
        let err = c
            .bitcount_with("foo", &BitcountOptions::new().bit())
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRequest(m) if m.contains("`unit` is only valid with `range`")),
            "{err}"
        );
        let err = c
            .bitpos_with("foo", 1, &BitposOptions::new().end(3))
            .unwrap_err();
        assert!(matches!(&err, Error::InvalidRequest(m) if m.contains("`end` is only valid with `start`")), "{err}");
    });
}

#[test]
fn bitpos_with_ranges() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("k", b"\xff\xf0\x00").unwrap();
        assert_eq!(c.bitpos("k", 0).unwrap(), 12);
        c.set("k", b"\x00\xff\xf0").unwrap();
        assert_eq!(c.bitpos("k", 1).unwrap(), 8);
        assert_eq!(
            c.bitpos_with("k", 1, &BitposOptions::new().start(0))
                .unwrap(),
            8
        );
        assert_eq!(
            c.bitpos_with("k", 1, &BitposOptions::new().start(2))
                .unwrap(),
            16
        );
        assert_eq!(
            c.bitpos_with("k", 1, &BitposOptions::new().start(2).end(-1).byte())
                .unwrap(),
            16
        );
        assert_eq!(
            c.bitpos_with("k", 1, &BitposOptions::new().start(7).end(15).bit())
                .unwrap(),
            8
        );
        c.set("zeros", b"\x00\x00\x00").unwrap();
        assert_eq!(c.bitpos("zeros", 1).unwrap(), -1);
        assert_eq!(
            c.bitpos_with("zeros", 1, &BitposOptions::new().start(7).end(-3).bit())
                .unwrap(),
            -1
        );
        // Looking for 0 in all ones: past the end without an end, -1 with one (redis-py).
        c.set("ones", b"\xff\xff\xff").unwrap();
        assert_eq!(c.bitpos("ones", 0).unwrap(), 24);
        assert_eq!(
            c.bitpos_with("ones", 0, &BitposOptions::new().start(1))
                .unwrap(),
            24
        );
        assert_eq!(
            c.bitpos_with("ones", 0, &BitposOptions::new().start(0).end(-1))
                .unwrap(),
            -1
        );
        // A missing key: 0 is found at once, 1 never.
        assert_eq!(c.bitpos("missing", 0).unwrap(), 0);
        assert_eq!(c.bitpos("missing", 1).unwrap(), -1);
        // The bit must be 0 or 1.
        let (_, message) = server_error(c.bitpos("k", 2));
        assert!(message.contains("bit argument must be 1 or 0"), "{message}");
    });
}

#[test]
fn bitop_and_or_xor_not() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.set("a", b"\xf0\x0f").unwrap();
        c.set("b", b"\xff\x00").unwrap();
        c.set("short", b"\xff").unwrap();
        assert_eq!(c.bitop(BitOperation::And, "and", ["a", "b"]).unwrap(), 2);
        assert_eq!(c.get::<Vec<u8>>("and").unwrap(), b"\xf0\x00");
        assert_eq!(c.bitop(BitOperation::Or, "or", ["a", "b"]).unwrap(), 2);
        assert_eq!(c.get::<Vec<u8>>("or").unwrap(), b"\xff\x0f");
        assert_eq!(c.bitop(BitOperation::Xor, "xor", ["a", "b"]).unwrap(), 2);
        assert_eq!(c.get::<Vec<u8>>("xor").unwrap(), b"\x0f\x0f");
        assert_eq!(c.bitop(BitOperation::Not, "not", "a").unwrap(), 2);
        assert_eq!(c.get::<Vec<u8>>("not").unwrap(), b"\x0f\xf0");
        // A shorter source is padded with zeros; a missing one is all zeros.
        assert_eq!(
            c.bitop(BitOperation::And, "pad", ["a", "short"]).unwrap(),
            2
        );
        assert_eq!(c.get::<Vec<u8>>("pad").unwrap(), b"\xf0\x00");
        assert_eq!(
            c.bitop(BitOperation::Or, "withmissing", ["a", "missing"])
                .unwrap(),
            2
        );
        assert_eq!(c.get::<Vec<u8>>("withmissing").unwrap(), b"\xf0\x0f");
        // Every source missing: the destination is removed, the result is 0.
        c.set("dest", "x").unwrap();
        assert_eq!(c.bitop(BitOperation::And, "dest", ["m1", "m2"]).unwrap(), 0);
        assert_eq!(c.exists(["dest"]).unwrap(), 0);
        // NOT takes exactly one key; an empty key list fails before sending.
        let (_, message) = server_error(c.bitop(BitOperation::Not, "x", ["a", "b"]));
        assert!(message.contains("single source key"), "{message}");
        assert_invalid(c.bitop(BitOperation::Or, "x", Vec::<String>::new()));
    });
}

#[test]
fn bitfield_and_bitfield_ro() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // GENERATOR: BITFIELD takes its operations as raw arguments (no typed
        // GET/SET/INCRBY/OVERFLOW builder, unlike BITFIELD_RO's `get`).
        let r: Vec<i64> = c
            .bitfield(
                "bf",
                [
                    "SET", "u8", "0", "255", "GET", "u8", "0", "GET", "u4", "0", "GET", "u4", "4",
                ],
            )
            .unwrap();
        assert_eq!(r, [0, 255, 15, 15]);
        let r: Vec<i64> = c
            .bitfield("bf", ["SET", "i8", "#1", "-3", "GET", "i8", "8"])
            .unwrap();
        assert_eq!(r, [0, -3]);
        // Overflow: WRAP, SAT and FAIL (nil) (redis-py's test_bitfield_operations).
        let ops = [
            "OVERFLOW", "WRAP", "INCRBY", "u2", "100", "5", // 5 mod 4
            "OVERFLOW", "SAT", "INCRBY", "u2", "102", "5", // saturates at 3
            "OVERFLOW", "FAIL", "INCRBY", "u2", "104", "5", // refused
        ];
        let r: Vec<Option<i64>> = c.bitfield("ov", ops).unwrap();
        assert_eq!(r, [Some(1), Some(3), None]);
        let r: Vec<Option<i64>> = c
            .bitfield("ov", ["INCRBY", "i4", "0", "7", "INCRBY", "i4", "0", "1"])
            .unwrap();
        assert_eq!(r, [Some(7), Some(-8)]);
        // No operation at all is an empty reply.
        let none: Vec<i64> = c.bitfield("bf", Vec::<String>::new()).unwrap();
        assert!(none.is_empty());
        let (_, message) = server_error(c.bitfield::<Value>("bf", ["GET", "x9", "0"]));
        assert!(message.contains("Invalid bitfield type"), "{message}");

        // BITFIELD_RO (6.0): GET only.
        let r: Vec<i64> = c
            .bitfield_ro_with(
                "bf",
                &BitfieldRoOptions::new()
                    .get("u8", 0)
                    .get("i4", 0)
                    .get("u8", 8),
            )
            .unwrap();
        assert_eq!(r, [255, -1, 253]);
        let empty: Vec<i64> = c.bitfield_ro("bf").unwrap();
        assert!(empty.is_empty());
        let missing: Vec<i64> = c
            .bitfield_ro_with("missing", &BitfieldRoOptions::new().get("u16", 0))
            .unwrap();
        assert_eq!(missing, [0]);
    });
}

// ---------------------------------------------------------------------------------------------
// HyperLogLog
// ---------------------------------------------------------------------------------------------

#[test]
fn pfadd_pfcount_pfmerge() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // PFADD without elements creates the key once.
        assert!(c.pfadd("empty").unwrap());
        assert!(!c.pfadd("empty").unwrap());
        assert_eq!(c.pfcount("empty").unwrap(), 0);
        // With elements: true when a register changed.
        let abc = PfaddOptions::new().element(["a", "b", "c"]);
        assert!(c.pfadd_with("h1", &abc).unwrap());
        assert!(!c.pfadd_with("h1", &abc).unwrap());
        assert_eq!(c.pfcount("h1").unwrap(), 3);
        assert!(
            c.pfadd_with("h2", &PfaddOptions::new().element(["c", "d", "e"]))
                .unwrap()
        );
        // PFCOUNT of several keys is the cardinality of the union.
        assert_eq!(c.pfcount(["h1", "h2"]).unwrap(), 5);
        assert_eq!(c.pfcount(["h1", "missing"]).unwrap(), 3);
        // PFMERGE with sources, and without (creates an empty HLL).
        c.pfmerge_with("merged", &PfmergeOptions::new().sourcekey(["h1", "h2"]))
            .unwrap();
        assert_eq!(c.pfcount("merged").unwrap(), 5);
        c.pfmerge("fresh").unwrap();
        assert_eq!(c.exists(["fresh"]).unwrap(), 1);
        assert_eq!(c.pfcount("fresh").unwrap(), 0);
        c.pfmerge("merged").unwrap();
        assert_eq!(c.pfcount("merged").unwrap(), 5);
        // A larger set: the estimate is within the standard error.
        let many: Vec<String> = (0..1000).map(|i| format!("e{i}")).collect();
        assert!(
            c.pfadd_with("big", &PfaddOptions::new().element(many))
                .unwrap()
        );
        let n = c.pfcount("big").unwrap();
        assert!((950..=1050).contains(&n), "estimate {n}");
        // A string that is not an HLL.
        c.set("text", "hello").unwrap();
        assert_eq!(
            server_error(c.pfadd_with("text", &PfaddOptions::new().element(["a"]))).0,
            ServerErrorKind::WrongType
        );
        assert_eq!(
            server_error(c.pfcount("text")).0,
            ServerErrorKind::WrongType
        );
        // Empty lists fail before sending.
        assert_invalid(c.pfcount(Vec::<String>::new()));
        assert_invalid(c.pfadd_with("h1", &PfaddOptions::new().element(Vec::<String>::new())));
        assert_invalid(c.pfmerge_with("m", &PfmergeOptions::new().sourcekey(Vec::<&str>::new())));
    });
}

#[test]
fn pfdebug_and_pfselftest() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.pfadd_with("h", &PfaddOptions::new().element(["a", "b", "c"]))
            .unwrap();
        assert_eq!(c.pfdebug::<String>("ENCODING", "h").unwrap(), "sparse");
        let decoded: String = c.pfdebug("DECODE", "h").unwrap();
        assert!(decoded.contains("v:"), "{decoded}");
        assert!(c.pfdebug::<bool>("TODENSE", "h").unwrap());
        assert_eq!(c.pfdebug::<String>("ENCODING", "h").unwrap(), "dense");
        assert!(!c.pfdebug::<bool>("TODENSE", "h").unwrap());
        let registers: Vec<i64> = c.pfdebug("GETREG", "h").unwrap();
        assert_eq!(registers.len(), 16384);
        assert_eq!(registers.iter().filter(|r| **r > 0).count(), 3);
        assert_eq!(c.pfcount("h").unwrap(), 3);
        let (_, message) = server_error(c.pfdebug::<Value>("NOSUCH", "h"));
        assert!(message.contains("Unknown PFDEBUG"), "{message}");
    });
    let c = s.client(Protocol::Resp3);
    c.pfselftest().unwrap();
}

// ---------------------------------------------------------------------------------------------
// The same methods queued on a pipeline and a transaction
// ---------------------------------------------------------------------------------------------

#[test]
fn pipeline_and_transaction_of_key_and_string_methods() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let mut p = c.pipeline();
        p.set("p", 1i64)
            .incrby("p", 41)
            .getex_with("p", &GetexOptions::new().ex(100))
            .del(["p"]);
        let ((), n, v, deleted): ((), i64, String, u64) = p.query().unwrap();
        assert_eq!((n, v.as_str(), deleted), (42, "42", 1));

        let mut t = c.pipeline();
        t.transaction(true);
        t.set_with("t", "v", &SetOptions::new().nx().get())
            .setbit("bits", 3, 1)
            .pfadd_with("hll", &PfaddOptions::new().element(["x"]))
            .ttl("t");
        let (old, bit, changed, ttl): (Option<String>, bool, bool, i64) = t.query().unwrap();
        assert_eq!((old, bit, changed, ttl), (None, false, true, -1));

        // A command with an empty key list makes the whole batch invalid before sending.
        let mut bad = c.pipeline();
        bad.set("never", "x").del(Vec::<String>::new());
        assert_invalid(bad.execute());
        assert_eq!(c.exists(["never"]).unwrap(), 0);
    });
}
