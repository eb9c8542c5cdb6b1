//! Typed commands against a real server: lists, sets, sorted sets and hashes.
//!
//! Every generated method of the `list`, `set`, `sorted_set` and `hash` groups is called here
//! at least once, under RESP2 and RESP3 where the reply could differ (maps against flat arrays,
//! doubles against strings, nulls), and both protocols must give the same typed result. The
//! behaviours follow redis-py 3.5.2's test_commands.py for these families (LREM count
//! semantics, ZADD NX/XX/CH/INCR, the *STORE aggregates and weights, pops and blocking pops
//! with an empty-string value, HSET with a mapping, HINCRBYFLOAT, the SCAN families).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::thread;
use std::time::{Duration, Instant};

use redis_client::replies::PoppedFrom;
use redis_client::{
    BlmpopOptions, BzmpopOptions, Client, Commands, Direction, Error, HrandfieldOptions,
    HscanOptions, InsertPosition, LmpopOptions, LpopOptions, LposOptions, MinMax, PipelineCommands,
    Protocol, RpopOptions, ServerErrorKind, SintercardOptions, SpopOptions, SrandmemberOptions,
    SscanOptions, Value, ZaddOptions, ZdiffOptions, ZinterOptions, ZintercardOptions,
    ZinterstoreOptions, ZmpopOptions, ZpopmaxOptions, ZpopminOptions, ZrandmemberOptions,
    ZrangeOptions, ZrangebylexOptions, ZrangebyscoreOptions, ZrangestoreOptions, ZrankOptions,
    ZrevrangeOptions, ZrevrangebylexOptions, ZrevrangebyscoreOptions, ZrevrankOptions,
    ZscanOptions, ZunionOptions, ZunionstoreOptions,
};
use tests::CommandServer;

/// At most this many SCAN pages before a test gives up (the cursor must come back to 0).
const MAX_SCAN_PAGES: usize = 1_000;

/// The server error of a failed call: its kind and its message.
fn server_error<T: std::fmt::Debug>(result: Result<T, Error>) -> (ServerErrorKind, String) {
    match result {
        Err(Error::Server(e)) => (e.kind(), e.message().to_owned()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Whether a call failed before sending, for an argument that needs at least one value.
fn is_invalid_request<T>(result: Result<T, Error>) -> bool {
    matches!(result, Err(Error::InvalidRequest(_)))
}

/// Runs a SCAN-family command from cursor 0 until the cursor comes back to 0, collecting every
/// page; bounded by [`MAX_SCAN_PAGES`].
fn scan_all<T>(mut page: impl FnMut(u64) -> (u64, Vec<T>)) -> Vec<T> {
    let mut cursor = 0;
    let mut all = Vec::new();
    for _ in 0..MAX_SCAN_PAGES {
        let (next, items) = page(cursor);
        all.extend(items);
        if next == 0 {
            return all;
        }
        cursor = next;
    }
    panic!("the scan did not finish within {MAX_SCAN_PAGES} pages");
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn string_set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn scored(items: &[(&str, f64)]) -> Vec<(String, f64)> {
    items.iter().map(|(m, s)| ((*m).to_owned(), *s)).collect()
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// A second client on the same server and database, for the side that wakes a blocked call.
fn other_client(s: &CommandServer, protocol: Protocol) -> Client {
    s.server.client_builder().protocol(protocol).build()
}

// ---------------------------------------------------------------------------------------------
// Lists
// ---------------------------------------------------------------------------------------------

#[test]
fn list_push_index_set_trim_and_pop() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.rpush("l", ["b", "c"]).unwrap(), 2);
        assert_eq!(c.lpush("l", "a").unwrap(), 3);
        // The X forms only push onto an existing list.
        assert_eq!(c.lpushx("missing", "x").unwrap(), 0);
        assert_eq!(c.rpushx("missing", ["x", "y"]).unwrap(), 0);
        assert_eq!(c.llen("missing").unwrap(), 0);
        assert_eq!(c.lpushx("l", ["z"]).unwrap(), 4);
        assert_eq!(c.rpushx("l", "d").unwrap(), 5);
        // LPUSH of several elements pushes them one after the other: the last ends up first.
        assert_eq!(c.lpush("rev", ["1", "2", "3"]).unwrap(), 3);
        assert_eq!(
            c.lrange::<Vec<String>>("rev", 0, -1).unwrap(),
            ["3", "2", "1"]
        );

        let all: Vec<String> = c.lrange("l", 0, -1).unwrap();
        assert_eq!(all, ["z", "a", "b", "c", "d"]);
        let middle: Vec<String> = c.lrange("l", 1, -2).unwrap();
        assert_eq!(middle, ["a", "b", "c"]);
        let past_the_end: Vec<String> = c.lrange("l", 10, 20).unwrap();
        assert!(past_the_end.is_empty());
        assert!(
            c.lrange::<Vec<String>>("missing", 0, -1)
                .unwrap()
                .is_empty()
        );

        assert_eq!(
            c.lindex::<Option<String>>("l", 0).unwrap().as_deref(),
            Some("z")
        );
        assert_eq!(
            c.lindex::<Option<String>>("l", -1).unwrap().as_deref(),
            Some("d")
        );
        assert_eq!(c.lindex::<Option<String>>("l", 99).unwrap(), None);
        assert_eq!(c.lindex::<Option<String>>("missing", 0).unwrap(), None);

        c.lset("l", 0, "y").unwrap();
        assert_eq!(c.lindex::<String>("l", 0).unwrap(), "y");
        let (kind, message) = server_error(c.lset("l", 99, "nope"));
        assert_eq!(kind, ServerErrorKind::Err);
        assert!(message.contains("out of range"), "{message}");
        let (_, message) = server_error(c.lset("missing", 0, "nope"));
        assert!(message.contains("no such key"), "{message}");

        c.ltrim("l", 1, -1).unwrap();
        assert_eq!(
            c.lrange::<Vec<String>>("l", 0, -1).unwrap(),
            ["a", "b", "c", "d"]
        );
        assert_eq!(c.llen("l").unwrap(), 4);

        assert_eq!(c.lpop::<Option<String>>("l").unwrap().as_deref(), Some("a"));
        assert_eq!(c.rpop::<Option<String>>("l").unwrap().as_deref(), Some("d"));
        assert_eq!(c.rpush("l", ["e", "f", "g"]).unwrap(), 5);
        let front: Option<Vec<String>> = c.lpop_with("l", &LpopOptions::new().count(2)).unwrap();
        assert_eq!(front, Some(strings(&["b", "c"])));
        let back: Option<Vec<String>> = c.rpop_with("l", &RpopOptions::new().count(2)).unwrap();
        assert_eq!(back, Some(strings(&["g", "f"])));
        // A count past the length pops what there is, and the list is gone.
        let rest: Vec<String> = c.rpop_with("l", &RpopOptions::new().count(5)).unwrap();
        assert_eq!(rest, ["e"]);
        assert_eq!(c.llen("l").unwrap(), 0);

        // Missing lists: a null, with or without a count.
        assert_eq!(c.lpop::<Option<String>>("l").unwrap(), None);
        assert_eq!(c.rpop::<Option<String>>("l").unwrap(), None);
        let none: Option<Vec<String>> = c.lpop_with("l", &LpopOptions::new().count(2)).unwrap();
        assert_eq!(none, None);
        let none: Option<Vec<String>> = c.rpop_with("l", &RpopOptions::new().count(2)).unwrap();
        assert_eq!(none, None);

        // Binary-safe elements and the empty string.
        let binary: [&[u8]; 3] = [b"\x00\r\n", b"", b"\xff\xfe"];
        assert_eq!(c.rpush("bin", binary).unwrap(), 3);
        let back: Vec<Vec<u8>> = c.lrange("bin", 0, -1).unwrap();
        assert_eq!(back, binary.map(<[u8]>::to_vec));
        assert_eq!(c.rpush("empty", "").unwrap(), 1);
        assert_eq!(
            c.lpop::<Option<String>>("empty").unwrap().as_deref(),
            Some("")
        );

        // A list command on a key of another type.
        c.hset("hash", [("f", "v")]).unwrap();
        let (kind, _) = server_error(c.lpush("hash", "x"));
        assert_eq!(kind, ServerErrorKind::WrongType);
    });
}

#[test]
fn list_insert_remove_and_position() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.rpush("l", ["a", "b", "a", "c", "a"]).unwrap(), 5);
        assert_eq!(c.linsert("l", InsertPosition::Before, "b", "x").unwrap(), 6);
        assert_eq!(c.linsert("l", InsertPosition::After, "c", "y").unwrap(), 7);
        let all: Vec<String> = c.lrange("l", 0, -1).unwrap();
        assert_eq!(all, ["a", "x", "b", "a", "c", "y", "a"]);
        // A missing pivot is -1, a missing list 0.
        assert_eq!(
            c.linsert("l", InsertPosition::Before, "nope", "z").unwrap(),
            -1
        );
        assert_eq!(
            c.linsert("missing", InsertPosition::After, "a", "z")
                .unwrap(),
            0
        );

        // LREM: a positive count removes from the head, a negative one from the tail, 0 all.
        assert_eq!(c.lrem("l", 1, "a").unwrap(), 1);
        assert_eq!(
            c.lrange::<Vec<String>>("l", 0, -1).unwrap(),
            ["x", "b", "a", "c", "y", "a"]
        );
        assert_eq!(c.lrem("l", -1, "a").unwrap(), 1);
        assert_eq!(
            c.lrange::<Vec<String>>("l", 0, -1).unwrap(),
            ["x", "b", "a", "c", "y"]
        );
        assert_eq!(c.rpush("l", ["a", "a"]).unwrap(), 7);
        assert_eq!(c.lrem("l", 0, "a").unwrap(), 3);
        assert_eq!(
            c.lrange::<Vec<String>>("l", 0, -1).unwrap(),
            ["x", "b", "c", "y"]
        );
        assert_eq!(c.lrem("l", 0, "nope").unwrap(), 0);
        assert_eq!(c.lrem("missing", 0, "a").unwrap(), 0);

        // LPOS: the first match, RANK for the n-th (negative from the tail), COUNT for several
        // (0 for all), MAXLEN to look at the first elements only.
        c.rpush("p", ["a", "b", "c", "1", "2", "3", "c", "c"])
            .unwrap();
        assert_eq!(c.lpos::<Option<i64>>("p", "c").unwrap(), Some(2));
        assert_eq!(c.lpos::<Option<i64>>("p", "nope").unwrap(), None);
        assert_eq!(c.lpos::<Option<i64>>("missing", "c").unwrap(), None);
        let second: Option<i64> = c.lpos_with("p", "c", &LposOptions::new().rank(2)).unwrap();
        assert_eq!(second, Some(6));
        let last: Option<i64> = c.lpos_with("p", "c", &LposOptions::new().rank(-1)).unwrap();
        assert_eq!(last, Some(7));
        let two: Vec<i64> = c.lpos_with("p", "c", &LposOptions::new().count(2)).unwrap();
        assert_eq!(two, [2, 6]);
        let every: Vec<i64> = c.lpos_with("p", "c", &LposOptions::new().count(0)).unwrap();
        assert_eq!(every, [2, 6, 7]);
        let head: Vec<i64> = c
            .lpos_with("p", "c", &LposOptions::new().count(0).maxlen(3))
            .unwrap();
        assert_eq!(head, [2]);
        let from_tail: Vec<i64> = c
            .lpos_with("p", "c", &LposOptions::new().rank(-1).count(2))
            .unwrap();
        assert_eq!(from_tail, [7, 6]);
        let no_match: Vec<i64> = c
            .lpos_with("p", "nope", &LposOptions::new().count(1))
            .unwrap();
        assert!(no_match.is_empty());
        let (_, message) =
            server_error(c.lpos_with::<Value>("p", "c", &LposOptions::new().rank(0)));
        assert!(message.contains("RANK"), "{message}");
    });
}

#[test]
fn list_moves_between_lists() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.rpush("src", ["a", "b", "c"]).unwrap();
        let moved: Option<String> = c
            .lmove("src", "dst", Direction::Left, Direction::Right)
            .unwrap();
        assert_eq!(moved.as_deref(), Some("a"));
        let moved: Option<String> = c
            .lmove("src", "dst", Direction::Right, Direction::Left)
            .unwrap();
        assert_eq!(moved.as_deref(), Some("c"));
        assert_eq!(c.lrange::<Vec<String>>("src", 0, -1).unwrap(), ["b"]);
        assert_eq!(c.lrange::<Vec<String>>("dst", 0, -1).unwrap(), ["c", "a"]);
        let nothing: Option<String> = c
            .lmove("missing", "dst", Direction::Left, Direction::Left)
            .unwrap();
        assert_eq!(nothing, None);

        assert_eq!(
            c.rpoplpush::<Option<String>>("src", "dst")
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert_eq!(c.rpoplpush::<Option<String>>("src", "dst").unwrap(), None);
        assert_eq!(
            c.lrange::<Vec<String>>("dst", 0, -1).unwrap(),
            ["b", "c", "a"]
        );
        // The same list as source and destination rotates it.
        let rotated: String = c
            .lmove("dst", "dst", Direction::Left, Direction::Right)
            .unwrap();
        assert_eq!(rotated, "b");
        assert_eq!(
            c.lrange::<Vec<String>>("dst", 0, -1).unwrap(),
            ["c", "a", "b"]
        );

        // The blocking forms return at once when there is something to move...
        let moved: Option<String> = c
            .blmove("dst", "src", Direction::Right, Direction::Right, 0.1)
            .unwrap();
        assert_eq!(moved.as_deref(), Some("b"));
        let moved: Option<String> = c.brpoplpush("dst", "src", 0.1).unwrap();
        assert_eq!(moved.as_deref(), Some("a"));
        assert_eq!(c.lrange::<Vec<String>>("src", 0, -1).unwrap(), ["a", "b"]);
        assert_eq!(c.lrange::<Vec<String>>("dst", 0, -1).unwrap(), ["c"]);

        // ...and a null after their timeout otherwise.
        let started = Instant::now();
        let timed_out: Option<String> = c
            .blmove("empty", "src", Direction::Left, Direction::Left, 0.05)
            .unwrap();
        assert_eq!(timed_out, None);
        let timed_out: Option<String> = c.brpoplpush("empty", "src", 0.05).unwrap();
        assert_eq!(timed_out, None);
        assert!(started.elapsed() >= Duration::from_millis(80));
        assert_eq!(c.llen("src").unwrap(), 2);
    });
}

#[test]
fn list_multi_key_pops() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.rpush("l2", ["a", "b", "c", "d"]).unwrap();
        // The first non-empty list of the keys, in order.
        let popped: Option<PoppedFrom<String>> = c.lmpop(["l1", "l2"], Direction::Left).unwrap();
        let popped = popped.expect("popped from l2");
        assert_eq!(popped.key, "l2");
        assert_eq!(popped.values, ["a"]);
        let popped: PoppedFrom<String> = c
            .lmpop_with(
                ["l1", "l2"],
                Direction::Right,
                &LmpopOptions::new().count(2),
            )
            .unwrap();
        assert_eq!(
            (popped.key.as_str(), popped.values),
            ("l2", strings(&["d", "c"]))
        );
        let popped: PoppedFrom<String> = c
            .lmpop_with(["l2"], Direction::Left, &LmpopOptions::new().count(10))
            .unwrap();
        assert_eq!(popped.values, ["b"]);
        let none: Option<PoppedFrom<String>> = c.lmpop(["l1", "l2"], Direction::Left).unwrap();
        assert!(none.is_none());

        let none: Option<PoppedFrom<String>> =
            c.blmpop(0.05, ["l1", "l2"], Direction::Left).unwrap();
        assert!(none.is_none());
        c.rpush("l1", ["x", "y", "z"]).unwrap();
        let popped: Option<PoppedFrom<String>> =
            c.blmpop(0.05, ["l2", "l1"], Direction::Right).unwrap();
        let popped = popped.expect("popped from l1");
        assert_eq!(
            (popped.key.as_str(), popped.values),
            ("l1", strings(&["z"]))
        );
        let popped: Option<PoppedFrom<String>> = c
            .blmpop_with(
                0.05,
                ["l2", "l1"],
                Direction::Left,
                &BlmpopOptions::new().count(5),
            )
            .unwrap();
        let popped = popped.expect("popped from l1");
        assert_eq!(
            (popped.key.as_str(), popped.values),
            ("l1", strings(&["x", "y"]))
        );
        let none: Option<PoppedFrom<String>> = c
            .blmpop_with(
                0.05,
                ["l1"],
                Direction::Left,
                &BlmpopOptions::new().count(5),
            )
            .unwrap();
        assert!(none.is_none());
    });
}

#[test]
fn blocking_list_pops_and_a_wakeup() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        c.rpush("a", ["1", "2"]).unwrap();
        c.rpush("b", ["3", "4"]).unwrap();
        // The first non-empty key, and the key with the element.
        let got: Option<(String, String)> = c.blpop(["b", "a"], 1).unwrap();
        assert_eq!(got, Some(("b".to_owned(), "3".to_owned())));
        let got: Option<(String, String)> = c.brpop(["a", "b"], 1).unwrap();
        assert_eq!(got, Some(("a".to_owned(), "2".to_owned())));
        let got: (String, String) = c.blpop("a", 0.05).unwrap();
        assert_eq!(got, ("a".to_owned(), "1".to_owned()));
        let got: (String, String) = c.brpop("b", 0.05).unwrap();
        assert_eq!(got, ("b".to_owned(), "4".to_owned()));
        // An empty-string element is an element, not a timeout.
        c.rpush("e", "").unwrap();
        let got: Option<(String, String)> = c.blpop("e", 1).unwrap();
        assert_eq!(got, Some(("e".to_owned(), String::new())));
        // Timeouts are a null.
        assert_eq!(
            c.blpop::<Option<(String, String)>>(["a", "b"], 0.05)
                .unwrap(),
            None
        );
        assert_eq!(
            c.brpop::<Option<(String, String)>>("a", 0.05).unwrap(),
            None
        );

        // A blocked pop wakes up when another client pushes.
        let other = other_client(&s, protocol);
        thread::scope(|scope| {
            let pusher = scope.spawn(|| {
                thread::sleep(Duration::from_millis(100));
                other.rpush("later", "v").unwrap()
            });
            let started = Instant::now();
            let got: Option<(String, String)> = c.brpop("later", 5).unwrap();
            assert_eq!(got, Some(("later".to_owned(), "v".to_owned())));
            assert!(started.elapsed() < Duration::from_secs(4));
            assert_eq!(pusher.join().unwrap(), 1);
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Sets
// ---------------------------------------------------------------------------------------------

#[test]
fn set_membership_removal_and_moves() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.sadd("s", ["a", "b", "c"]).unwrap(), 3);
        assert_eq!(c.sadd("s", ["c", "d"]).unwrap(), 1);
        assert_eq!(c.sadd("s", "a").unwrap(), 0);
        assert_eq!(c.scard("s").unwrap(), 4);
        assert_eq!(c.scard("missing").unwrap(), 0);
        assert!(c.sismember("s", "a").unwrap());
        assert!(!c.sismember("s", "z").unwrap());
        assert!(!c.sismember("missing", "a").unwrap());
        let flags: Vec<bool> = c.smismember("s", ["a", "z", "d"]).unwrap();
        assert_eq!(flags, [true, false, true]);
        let flags: Vec<bool> = c.smismember("missing", "a").unwrap();
        assert_eq!(flags, [false]);

        // A RESP3 set and a RESP2 array read the same.
        let members: HashSet<String> = c.smembers("s").unwrap();
        assert_eq!(members, ["a", "b", "c", "d"].map(String::from).into());
        let members: BTreeSet<String> = c.smembers("s").unwrap();
        assert_eq!(members, string_set(&["a", "b", "c", "d"]));
        let members: Vec<String> = c.smembers("s").unwrap();
        assert_eq!(sorted(members), ["a", "b", "c", "d"]);
        assert!(
            c.smembers::<BTreeSet<String>>("missing")
                .unwrap()
                .is_empty()
        );

        assert_eq!(c.srem("s", ["a", "z"]).unwrap(), 1);
        assert_eq!(c.srem("missing", "a").unwrap(), 0);
        assert!(c.smove("s", "t", "b").unwrap());
        assert!(!c.smove("s", "t", "nope").unwrap());
        assert_eq!(
            c.smembers::<BTreeSet<String>>("s").unwrap(),
            string_set(&["c", "d"])
        );
        assert_eq!(
            c.smembers::<BTreeSet<String>>("t").unwrap(),
            string_set(&["b"])
        );
        assert!(c.sismember("t", "b").unwrap());
    });
}

#[test]
fn set_differences_intersections_and_unions() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.sadd("a", ["1", "2", "3"]).unwrap();
        c.sadd("b", ["2", "3", "4"]).unwrap();
        c.sadd("c", ["3", "5"]).unwrap();

        assert_eq!(
            c.sdiff::<BTreeSet<String>>(["a", "b"]).unwrap(),
            string_set(&["1"])
        );
        assert_eq!(
            c.sdiff::<BTreeSet<String>>(["a", "missing"]).unwrap(),
            string_set(&["1", "2", "3"])
        );
        assert!(c.sdiff::<BTreeSet<String>>("missing").unwrap().is_empty());
        assert_eq!(
            c.sinter::<BTreeSet<String>>(["a", "b", "c"]).unwrap(),
            string_set(&["3"])
        );
        assert!(
            c.sinter::<Vec<String>>(["a", "missing"])
                .unwrap()
                .is_empty()
        );
        let union: BTreeSet<String> = c.sunion(["a", "b", "c"]).unwrap();
        assert_eq!(union, string_set(&["1", "2", "3", "4", "5"]));

        assert_eq!(c.sdiffstore("d", ["b", "a"]).unwrap(), 1);
        assert_eq!(
            c.smembers::<BTreeSet<String>>("d").unwrap(),
            string_set(&["4"])
        );
        assert_eq!(c.sinterstore("i", ["a", "b"]).unwrap(), 2);
        assert_eq!(
            c.smembers::<BTreeSet<String>>("i").unwrap(),
            string_set(&["2", "3"])
        );
        assert_eq!(c.sunionstore("u", ["a", "c"]).unwrap(), 4);
        assert_eq!(
            c.smembers::<BTreeSet<String>>("u").unwrap(),
            string_set(&["1", "2", "3", "5"])
        );
        // An empty result deletes the destination.
        assert_eq!(c.sinterstore("i", ["a", "missing"]).unwrap(), 0);
        assert_eq!(c.scard("i").unwrap(), 0);

        assert_eq!(c.sintercard(["a", "b"]).unwrap(), 2);
        assert_eq!(c.sintercard(["a", "b", "c"]).unwrap(), 1);
        assert_eq!(c.sintercard(["a", "missing"]).unwrap(), 0);
        assert_eq!(
            c.sintercard_with(["a", "b"], &SintercardOptions::new().limit(1))
                .unwrap(),
            1
        );
        // LIMIT 0 means no limit.
        assert_eq!(
            c.sintercard_with(["a", "b"], &SintercardOptions::new().limit(0))
                .unwrap(),
            2
        );
    });
}

#[test]
fn set_pops_and_random_members() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let all = string_set(&["a", "b", "c"]);
        c.sadd("s", ["a", "b", "c"]).unwrap();

        let one: Option<String> = c.srandmember("s").unwrap();
        assert!(all.contains(&one.unwrap()));
        assert_eq!(c.srandmember::<Option<String>>("missing").unwrap(), None);
        // A positive count: distinct members, at most all of them.
        let two: Vec<String> = c
            .srandmember_with("s", &SrandmemberOptions::new().count(2))
            .unwrap();
        assert_eq!(two.iter().collect::<HashSet<_>>().len(), 2);
        assert!(two.iter().all(|m| all.contains(m)));
        let every: BTreeSet<String> = c
            .srandmember_with("s", &SrandmemberOptions::new().count(10))
            .unwrap();
        assert_eq!(every, all);
        // A negative count: that many, repeats allowed.
        let five: Vec<String> = c
            .srandmember_with("s", &SrandmemberOptions::new().count(-5))
            .unwrap();
        assert_eq!(five.len(), 5);
        assert!(five.iter().all(|m| all.contains(m)));
        let none: Vec<String> = c
            .srandmember_with("missing", &SrandmemberOptions::new().count(3))
            .unwrap();
        assert!(none.is_empty());
        assert_eq!(c.scard("s").unwrap(), 3);

        let first: String = c.spop("s").unwrap();
        assert!(all.contains(&first));
        assert_eq!(c.scard("s").unwrap(), 2);
        let rest: Vec<String> = c.spop_with("s", &SpopOptions::new().count(5)).unwrap();
        assert_eq!(rest.len(), 2);
        let popped: BTreeSet<String> = rest.into_iter().chain([first]).collect();
        assert_eq!(popped, all);
        assert_eq!(c.scard("s").unwrap(), 0);
        assert_eq!(c.spop::<Option<String>>("s").unwrap(), None);
        let none: Vec<String> = c.spop_with("s", &SpopOptions::new().count(2)).unwrap();
        assert!(none.is_empty());
    });
}

#[test]
fn sscan_walks_every_member() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let members: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
        c.sadd("s", &members).unwrap();
        c.sadd("s", ["other1", "other2"]).unwrap();

        let everything = scan_all(|cursor| c.sscan::<(u64, Vec<String>)>("s", cursor).unwrap());
        let everything: BTreeSet<String> = everything.into_iter().collect();
        assert_eq!(everything.len(), 102);

        let options = SscanOptions::new().pattern("m*").count(10);
        let matched = scan_all(|cursor| {
            c.sscan_with::<(u64, Vec<String>)>("s", cursor, &options)
                .unwrap()
        });
        let matched: BTreeSet<String> = matched.into_iter().collect();
        assert_eq!(matched, members.into_iter().collect::<BTreeSet<_>>());

        let (cursor, page): (u64, Vec<String>) = c.sscan("missing", 0).unwrap();
        assert_eq!((cursor, page.len()), (0, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Sorted sets
// ---------------------------------------------------------------------------------------------

#[test]
fn zadd_flags_incr_and_scores() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.zadd("z", [(1.0, "a"), (2.0, "b")]).unwrap(), 2);
        // Updating a score adds nothing, and without CH counts nothing.
        assert_eq!(c.zadd("z", [(3.0, "a")]).unwrap(), 0);
        assert_eq!(c.zscore("z", "a").unwrap(), Some(3.0));

        // NX: only new members.
        let added: i64 = c
            .zadd_with("z", [(10.0, "a"), (4.0, "c")], &ZaddOptions::new().nx())
            .unwrap();
        assert_eq!(added, 1);
        assert_eq!(c.zscore("z", "a").unwrap(), Some(3.0));
        assert_eq!(c.zscore("z", "c").unwrap(), Some(4.0));
        // XX: only existing members.
        let added: i64 = c
            .zadd_with("z", [(5.0, "a"), (6.0, "d")], &ZaddOptions::new().xx())
            .unwrap();
        assert_eq!(added, 0);
        assert_eq!(c.zscore("z", "a").unwrap(), Some(5.0));
        assert_eq!(c.zscore("z", "d").unwrap(), None);
        // CH counts changed members too.
        let changed: i64 = c
            .zadd_with("z", [(6.0, "a"), (6.0, "d")], &ZaddOptions::new().xx().ch())
            .unwrap();
        assert_eq!(changed, 1);
        // GT only raises a score, LT only lowers it; both still add new members.
        let changed: i64 = c
            .zadd_with("z", [(1.0, "a"), (7.0, "b")], &ZaddOptions::new().gt().ch())
            .unwrap();
        assert_eq!(changed, 1);
        assert_eq!(c.zscore("z", "a").unwrap(), Some(6.0));
        assert_eq!(c.zscore("z", "b").unwrap(), Some(7.0));
        let changed: i64 = c
            .zadd_with(
                "z",
                [(0.0, "a"), (9.0, "b"), (1.0, "e")],
                &ZaddOptions::new().lt().ch(),
            )
            .unwrap();
        assert_eq!(changed, 2);
        assert_eq!(c.zscore("z", "a").unwrap(), Some(0.0));
        assert_eq!(c.zscore("z", "b").unwrap(), Some(7.0));
        assert_eq!(c.zscore("z", "e").unwrap(), Some(1.0));
        assert_eq!(c.zcard("z").unwrap(), 4);

        // INCR: the new score, or a null when a condition stopped it.
        let score: f64 = c
            .zadd_with("z", [(2.5, "a")], &ZaddOptions::new().incr())
            .unwrap();
        assert_eq!(score, 2.5);
        let score: Option<f64> = c
            .zadd_with("z", [(1.0, "nope")], &ZaddOptions::new().incr().xx())
            .unwrap();
        assert_eq!(score, None);
        let score: Option<f64> = c
            .zadd_with("z", [(1.0, "a")], &ZaddOptions::new().incr().nx())
            .unwrap();
        assert_eq!(score, None);
        let score: Option<f64> = c
            .zadd_with("z", [(-1.0, "a")], &ZaddOptions::new().incr().gt())
            .unwrap();
        assert_eq!(score, None);
        let score: Option<f64> = c
            .zadd_with("z", [(1.5, "a")], &ZaddOptions::new().incr().xx())
            .unwrap();
        assert_eq!(score, Some(4.0));
        assert_eq!(c.zcard("z").unwrap(), 4);

        // Combinations the server refuses.
        let (_, message) =
            server_error(c.zadd_with::<Value>("z", [(1.0, "a")], &ZaddOptions::new().nx().gt()));
        assert!(message.contains("not compatible"), "{message}");
        let (_, message) = server_error(c.zadd_with::<Value>(
            "z",
            [(1.0, "a"), (2.0, "b")],
            &ZaddOptions::new().incr(),
        ));
        assert!(message.contains("INCR"), "{message}");

        assert_eq!(c.zincrby("z", 3, "a").unwrap(), 7.0);
        assert_eq!(c.zincrby("z", -2, "fresh").unwrap(), -2.0);
        // GENERATOR: ZINCRBY's increment is an `i64` (the spec types it "integer"), but the
        // server takes any double (redis-py's zincrby sends a float); it should be
        // `impl ToArg` or `f64`. A fractional increment goes through a raw command meanwhile.
        let score: f64 = redis_client::cmd("ZINCRBY")
            .arg("z")
            .arg(0.5)
            .arg("a")
            .query(c)
            .unwrap();
        assert_eq!(score, 7.5);
        assert_eq!(c.zscore("z", "a").unwrap(), Some(7.5));
        assert_eq!(c.zcard("z").unwrap(), 5);
        assert_eq!(c.zcard("missing").unwrap(), 0);

        // Doubles: infinities and the shortest round-trip text, in both protocols.
        assert_eq!(
            c.zadd("f", [(f64::INFINITY, "top"), (f64::NEG_INFINITY, "bottom")])
                .unwrap(),
            2
        );
        assert_eq!(
            c.zadd("f", [(0.1 + 0.2, "sum"), (1.1, "tenth")]).unwrap(),
            2
        );
        assert_eq!(c.zscore("f", "top").unwrap(), Some(f64::INFINITY));
        assert_eq!(c.zscore("f", "bottom").unwrap(), Some(f64::NEG_INFINITY));
        assert_eq!(c.zscore("f", "sum").unwrap(), Some(0.1 + 0.2));
        assert_eq!(c.zscore("f", "tenth").unwrap(), Some(1.1));
        assert_eq!(c.zscore("f", "nope").unwrap(), None);
        assert_eq!(c.zscore("missing", "top").unwrap(), None);
        let scores: Vec<Option<f64>> = c.zmscore("f", ["top", "nope", "tenth"]).unwrap();
        assert_eq!(scores, [Some(f64::INFINITY), None, Some(1.1)]);
        let scores: Vec<Option<f64>> = c.zmscore("missing", ["a", "b"]).unwrap();
        assert_eq!(scores, [None, None]);
    });
}

#[test]
fn zrange_by_rank_score_and_lex_with_scores() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        c.zadd(
            "z",
            [(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d"), (5.0, "e")],
        )
        .unwrap();
        c.zadd("lex", [(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")])
            .unwrap();

        assert_eq!(
            c.zrange::<Vec<String>>("z", 0, -1).unwrap(),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(c.zrange::<Vec<String>>("z", 1, 2).unwrap(), ["b", "c"]);
        assert!(
            c.zrange::<Vec<String>>("missing", 0, -1)
                .unwrap()
                .is_empty()
        );
        let with_scores: Vec<(String, f64)> = c
            .zrange_with("z", 0, -1, &ZrangeOptions::new().withscores())
            .unwrap();
        assert_eq!(
            with_scores,
            scored(&[("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0), ("e", 5.0)])
        );
        // The same pairs come flat in RESP2 and nested in RESP3.
        let raw: Value = c
            .zrange_with("z", 0, 0, &ZrangeOptions::new().withscores())
            .unwrap();
        match (protocol, raw) {
            (Protocol::Resp2, Value::Array(items)) => {
                assert_eq!(items.len(), 2);
                assert!(matches!(items[1], Value::BulkString(_)));
            }
            (Protocol::Resp3, Value::Array(items)) => {
                assert_eq!(items.len(), 1);
                assert!(matches!(items[0], Value::Array(_)));
            }
            (protocol, raw) => panic!("{protocol:?}: {raw:?}"),
        }

        let by_score: Vec<String> = c
            .zrange_with("z", "(1", 3, &ZrangeOptions::new().byscore())
            .unwrap();
        assert_eq!(by_score, ["b", "c"]);
        let page: Vec<String> = c
            .zrange_with(
                "z",
                "-inf",
                "+inf",
                &ZrangeOptions::new().byscore().limit(1, 2),
            )
            .unwrap();
        assert_eq!(page, ["b", "c"]);
        let reversed: Vec<(String, f64)> = c
            .zrange_with(
                "z",
                "+inf",
                4,
                &ZrangeOptions::new().byscore().rev().withscores(),
            )
            .unwrap();
        assert_eq!(reversed, scored(&[("e", 5.0), ("d", 4.0)]));
        let by_rank_rev: Vec<String> = c
            .zrange_with("z", 0, 1, &ZrangeOptions::new().rev())
            .unwrap();
        assert_eq!(by_rank_rev, ["e", "d"]);
        let by_lex: Vec<String> = c
            .zrange_with("lex", "[b", "(d", &ZrangeOptions::new().bylex())
            .unwrap();
        assert_eq!(by_lex, ["b", "c"]);
        let by_lex_rev: Vec<String> = c
            .zrange_with(
                "lex",
                "+",
                "-",
                &ZrangeOptions::new().bylex().rev().limit(0, 2),
            )
            .unwrap();
        assert_eq!(by_lex_rev, ["d", "c"]);

        // The older range commands.
        assert_eq!(
            c.zrangebyscore::<Vec<String>>("z", 2, 4).unwrap(),
            ["b", "c", "d"]
        );
        let page: Vec<(String, f64)> = c
            .zrangebyscore_with(
                "z",
                "-inf",
                "+inf",
                &ZrangebyscoreOptions::new().withscores().limit(1, 2),
            )
            .unwrap();
        assert_eq!(page, scored(&[("b", 2.0), ("c", 3.0)]));
        assert_eq!(
            c.zrevrangebyscore::<Vec<String>>("z", 4, "(2").unwrap(),
            ["d", "c"]
        );
        let page: Vec<(String, f64)> = c
            .zrevrangebyscore_with(
                "z",
                "+inf",
                "-inf",
                &ZrevrangebyscoreOptions::new().withscores().limit(0, 2),
            )
            .unwrap();
        assert_eq!(page, scored(&[("e", 5.0), ("d", 4.0)]));
        assert_eq!(c.zrevrange::<Vec<String>>("z", 0, 1).unwrap(), ["e", "d"]);
        let top: Vec<(String, f64)> = c
            .zrevrange_with("z", 0, 1, &ZrevrangeOptions::new().withscores())
            .unwrap();
        assert_eq!(top, scored(&[("e", 5.0), ("d", 4.0)]));
        assert_eq!(
            c.zrangebylex::<Vec<String>>("lex", "-", "[b").unwrap(),
            ["a", "b"]
        );
        let page: Vec<String> = c
            .zrangebylex_with("lex", "-", "+", &ZrangebylexOptions::new().limit(1, 2))
            .unwrap();
        assert_eq!(page, ["b", "c"]);
        assert_eq!(
            c.zrevrangebylex::<Vec<String>>("lex", "+", "(b").unwrap(),
            ["d", "c"]
        );
        let page: Vec<String> = c
            .zrevrangebylex_with("lex", "+", "-", &ZrevrangebylexOptions::new().limit(0, 1))
            .unwrap();
        assert_eq!(page, ["d"]);

        assert_eq!(c.zcount("z", 2, 4).unwrap(), 3);
        assert_eq!(c.zcount("z", "(2", "+inf").unwrap(), 3);
        assert_eq!(c.zcount("missing", "-inf", "+inf").unwrap(), 0);
        assert_eq!(c.zlexcount("lex", "-", "+").unwrap(), 4);
        assert_eq!(c.zlexcount("lex", "[b", "(d").unwrap(), 2);

        // ZRANGESTORE keeps the scores; the stored set is in ascending order whatever the range.
        assert_eq!(c.zrangestore("dst", "z", 0, 1).unwrap(), 2);
        assert_eq!(c.zrange::<Vec<String>>("dst", 0, -1).unwrap(), ["a", "b"]);
        assert_eq!(
            c.zrangestore_with("dst", "z", 3, 5, &ZrangestoreOptions::new().byscore())
                .unwrap(),
            3
        );
        let stored: Vec<(String, f64)> = c
            .zrange_with("dst", 0, -1, &ZrangeOptions::new().withscores())
            .unwrap();
        assert_eq!(stored, scored(&[("c", 3.0), ("d", 4.0), ("e", 5.0)]));
        let stored = c
            .zrangestore_with(
                "dst",
                "z",
                "+inf",
                "-inf",
                &ZrangestoreOptions::new().byscore().rev().limit(0, 2),
            )
            .unwrap();
        assert_eq!(stored, 2);
        assert_eq!(c.zrange::<Vec<String>>("dst", 0, -1).unwrap(), ["d", "e"]);
        assert_eq!(
            c.zrangestore_with("dst", "lex", "[b", "+", &ZrangestoreOptions::new().bylex())
                .unwrap(),
            3
        );
        assert_eq!(
            c.zrangestore_with("dst", "z", 0, 0, &ZrangestoreOptions::new().rev())
                .unwrap(),
            1
        );
        assert_eq!(c.zrange::<Vec<String>>("dst", 0, -1).unwrap(), ["e"]);
    });
}

#[test]
fn zset_intersections_unions_and_differences() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.zadd("a", [(1.0, "x"), (2.0, "y"), (3.0, "z")]).unwrap();
        c.zadd("b", [(10.0, "y"), (20.0, "z"), (30.0, "w")])
            .unwrap();

        assert_eq!(c.zinter::<Vec<String>>(["a", "b"]).unwrap(), ["y", "z"]);
        let sums: Vec<(String, f64)> = c
            .zinter_with(["a", "b"], &ZinterOptions::new().withscores())
            .unwrap();
        assert_eq!(sums, scored(&[("y", 12.0), ("z", 23.0)]));
        let maxima: Vec<(String, f64)> = c
            .zinter_with(
                ["a", "b"],
                &ZinterOptions::new().weights([2, 1]).max().withscores(),
            )
            .unwrap();
        assert_eq!(maxima, scored(&[("y", 10.0), ("z", 20.0)]));
        let minima: Vec<(String, f64)> = c
            .zinter_with(["a", "b"], &ZinterOptions::new().min().withscores())
            .unwrap();
        assert_eq!(minima, scored(&[("y", 2.0), ("z", 3.0)]));
        let weighted: Vec<(String, f64)> = c
            .zinter_with(
                ["a", "b"],
                &ZinterOptions::new().weights([1.0, 0.5]).sum().withscores(),
            )
            .unwrap();
        assert_eq!(weighted, scored(&[("y", 7.0), ("z", 13.0)]));

        assert_eq!(
            c.zunion::<Vec<String>>(["a", "b"]).unwrap(),
            ["x", "y", "z", "w"]
        );
        let union: Vec<(String, f64)> = c
            .zunion_with(
                ["a", "b"],
                &ZunionOptions::new().weights([3, 1]).withscores(),
            )
            .unwrap();
        assert_eq!(
            union,
            scored(&[("x", 3.0), ("y", 16.0), ("z", 29.0), ("w", 30.0)])
        );
        let union: Vec<(String, f64)> = c
            .zunion_with(["a", "b"], &ZunionOptions::new().min().withscores())
            .unwrap();
        assert_eq!(
            union,
            scored(&[("x", 1.0), ("y", 2.0), ("z", 3.0), ("w", 30.0)])
        );
        let union: Vec<(String, f64)> = c
            .zunion_with(["a", "b"], &ZunionOptions::new().max().sum().withscores())
            .unwrap();
        // Setting the aggregate again replaces it: SUM.
        assert_eq!(
            union,
            scored(&[("x", 1.0), ("y", 12.0), ("z", 23.0), ("w", 30.0)])
        );

        assert_eq!(c.zdiff::<Vec<String>>(["a", "b"]).unwrap(), ["x"]);
        assert_eq!(c.zdiff::<Vec<String>>(["b", "a"]).unwrap(), ["w"]);
        let diff: Vec<(String, f64)> = c
            .zdiff_with(["b", "a"], &ZdiffOptions::new().withscores())
            .unwrap();
        assert_eq!(diff, scored(&[("w", 30.0)]));
        assert_eq!(c.zdiffstore("d", ["a", "b"]).unwrap(), 1);
        assert_eq!(c.zscore("d", "x").unwrap(), Some(1.0));

        assert_eq!(c.zinterstore("i", ["a", "b"]).unwrap(), 2);
        assert_eq!(c.zscore("i", "y").unwrap(), Some(12.0));
        let stored = c
            .zinterstore_with(
                "i",
                ["a", "b"],
                &ZinterstoreOptions::new().weights([1, 2]).max(),
            )
            .unwrap();
        assert_eq!(stored, 2);
        assert_eq!(
            c.zmscore::<Vec<Option<f64>>>("i", ["y", "z"]).unwrap(),
            [Some(20.0), Some(40.0)]
        );
        let stored = c
            .zinterstore_with("i", ["a", "b"], &ZinterstoreOptions::new().min())
            .unwrap();
        assert_eq!(stored, 2);
        assert_eq!(
            c.zmscore::<Vec<Option<f64>>>("i", ["y", "z"]).unwrap(),
            [Some(2.0), Some(3.0)]
        );
        let stored = c
            .zinterstore_with("i", ["a", "b"], &ZinterstoreOptions::new().sum())
            .unwrap();
        assert_eq!(stored, 2);
        assert_eq!(c.zscore("i", "z").unwrap(), Some(23.0));

        assert_eq!(c.zunionstore("u", ["a", "b"]).unwrap(), 4);
        assert_eq!(c.zscore("u", "w").unwrap(), Some(30.0));
        let stored = c
            .zunionstore_with(
                "u",
                ["a", "b"],
                &ZunionstoreOptions::new().weights([2, 1]).min(),
            )
            .unwrap();
        assert_eq!(stored, 4);
        let scores: Vec<Option<f64>> = c.zmscore("u", ["x", "y", "z", "w"]).unwrap();
        assert_eq!(scores, [Some(2.0), Some(4.0), Some(6.0), Some(30.0)]);
        let stored = c
            .zunionstore_with("u", ["a", "b"], &ZunionstoreOptions::new().max())
            .unwrap();
        assert_eq!(stored, 4);
        assert_eq!(c.zscore("u", "y").unwrap(), Some(10.0));
        let stored = c
            .zunionstore_with("u", ["a", "b"], &ZunionstoreOptions::new().sum())
            .unwrap();
        assert_eq!(stored, 4);
        assert_eq!(c.zscore("u", "y").unwrap(), Some(12.0));

        assert_eq!(c.zintercard(["a", "b"]).unwrap(), 2);
        assert_eq!(c.zintercard(["a", "missing"]).unwrap(), 0);
        assert_eq!(
            c.zintercard_with(["a", "b"], &ZintercardOptions::new().limit(1))
                .unwrap(),
            1
        );

        // A WEIGHTS count that does not match the keys is the server's error.
        let (_, message) =
            server_error(c.zinter_with::<Value>(["a", "b"], &ZinterOptions::new().weights([1])));
        assert!(message.contains("syntax"), "{message}");
    });
}

#[test]
fn zset_pops_and_blocking_pops() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        c.zadd(
            "z",
            [(1.0, "a"), (2.0, "b"), (3.0, "c"), (4.0, "d"), (5.0, "e")],
        )
        .unwrap();
        assert_eq!(
            c.zpopmin::<Vec<(String, f64)>>("z").unwrap(),
            scored(&[("a", 1.0)])
        );
        assert_eq!(
            c.zpopmax::<Vec<(String, f64)>>("z").unwrap(),
            scored(&[("e", 5.0)])
        );
        let two: Vec<(String, f64)> = c
            .zpopmin_with("z", &ZpopminOptions::new().count(2))
            .unwrap();
        assert_eq!(two, scored(&[("b", 2.0), ("c", 3.0)]));
        let rest: Vec<(String, f64)> = c
            .zpopmax_with("z", &ZpopmaxOptions::new().count(5))
            .unwrap();
        assert_eq!(rest, scored(&[("d", 4.0)]));
        assert!(c.zpopmin::<Vec<(String, f64)>>("z").unwrap().is_empty());
        assert!(
            c.zpopmax_with::<Vec<(String, f64)>>("z", &ZpopmaxOptions::new().count(2))
                .unwrap()
                .is_empty()
        );

        c.zadd("z", [(1.0, "a"), (2.0, "b"), (3.0, "c")]).unwrap();
        c.zadd("y", [(7.0, "q")]).unwrap();
        let popped: Option<PoppedFrom<(String, f64)>> =
            c.zmpop(["empty", "z"], MinMax::Min).unwrap();
        let popped = popped.expect("popped from z");
        assert_eq!(
            (popped.key.as_str(), popped.values),
            ("z", scored(&[("a", 1.0)]))
        );
        let popped: PoppedFrom<(String, f64)> = c
            .zmpop_with(["z"], MinMax::Max, &ZmpopOptions::new().count(5))
            .unwrap();
        assert_eq!(
            (popped.key.as_str(), popped.values),
            ("z", scored(&[("c", 3.0), ("b", 2.0)]))
        );
        assert!(
            c.zmpop::<Option<PoppedFrom<(String, f64)>>>(["z"], MinMax::Min)
                .unwrap()
                .is_none()
        );

        let popped: Option<PoppedFrom<(String, f64)>> =
            c.bzmpop(0.05, ["z", "y"], MinMax::Max).unwrap();
        let popped = popped.expect("popped from y");
        assert_eq!(
            (popped.key.as_str(), popped.values),
            ("y", scored(&[("q", 7.0)]))
        );
        let none: Option<PoppedFrom<(String, f64)>> =
            c.bzmpop(0.05, ["z", "y"], MinMax::Min).unwrap();
        assert!(none.is_none());
        c.zadd("z", [(1.0, "a"), (2.0, "b"), (3.0, "c")]).unwrap();
        let popped: Option<PoppedFrom<(String, f64)>> = c
            .bzmpop_with(0.05, ["z"], MinMax::Min, &BzmpopOptions::new().count(2))
            .unwrap();
        let popped = popped.expect("popped from z");
        assert_eq!(
            (popped.key.as_str(), popped.values),
            ("z", scored(&[("a", 1.0), ("b", 2.0)]))
        );

        // BZPOPMIN/BZPOPMAX: the key, the member and its score, or a null on timeout.
        let got: Option<(String, String, f64)> = c.bzpopmin(["y", "z"], 0.05).unwrap();
        assert_eq!(got, Some(("z".to_owned(), "c".to_owned(), 3.0)));
        assert_eq!(
            c.bzpopmin::<Option<(String, String, f64)>>("z", 0.05)
                .unwrap(),
            None
        );
        c.zadd("z", [(1.0, "a"), (2.0, "b")]).unwrap();
        let got: (String, String, f64) = c.bzpopmax(["z"], 1).unwrap();
        assert_eq!(got, ("z".to_owned(), "b".to_owned(), 2.0));
        assert_eq!(
            c.bzpopmax::<Option<(String, String, f64)>>(["nothing", "y"], 0.05)
                .unwrap(),
            None
        );
        let none: Option<PoppedFrom<(String, f64)>> = c
            .bzmpop_with(
                0.05,
                ["nothing"],
                MinMax::Max,
                &BzmpopOptions::new().count(2),
            )
            .unwrap();
        assert!(none.is_none());

        // A blocked pop wakes up when another client adds.
        let other = other_client(&s, protocol);
        thread::scope(|scope| {
            let adder = scope.spawn(|| {
                thread::sleep(Duration::from_millis(100));
                other.zadd("later", [(-0.5, "m")]).unwrap()
            });
            let started = Instant::now();
            let got: Option<(String, String, f64)> = c.bzpopmax("later", 5).unwrap();
            assert_eq!(got, Some(("later".to_owned(), "m".to_owned(), -0.5)));
            assert!(started.elapsed() < Duration::from_secs(4));
            assert_eq!(adder.join().unwrap(), 1);
        });
    });
}

#[test]
fn zset_ranks_removals_and_random_members() {
    let s = CommandServer::start();
    let withscore = s.supports("7.2.0", "ZRANK/ZREVRANK ... WITHSCORE");
    s.each_protocol(|c, _| {
        c.zadd("z", [(1.0, "a"), (2.0, "b"), (3.0, "c")]).unwrap();
        assert_eq!(c.zrank::<Option<i64>>("z", "a").unwrap(), Some(0));
        assert_eq!(c.zrank::<Option<i64>>("z", "c").unwrap(), Some(2));
        assert_eq!(c.zrank::<Option<i64>>("z", "nope").unwrap(), None);
        assert_eq!(c.zrank::<Option<i64>>("missing", "a").unwrap(), None);
        assert_eq!(c.zrevrank::<Option<i64>>("z", "a").unwrap(), Some(2));
        assert_eq!(c.zrevrank::<Option<i64>>("z", "c").unwrap(), Some(0));
        assert_eq!(c.zrevrank::<Option<i64>>("z", "nope").unwrap(), None);
        if withscore {
            let got: Option<(i64, f64)> = c
                .zrank_with("z", "b", &ZrankOptions::new().withscore())
                .unwrap();
            assert_eq!(got, Some((1, 2.0)));
            let got: Option<(i64, f64)> = c
                .zrevrank_with("z", "a", &ZrevrankOptions::new().withscore())
                .unwrap();
            assert_eq!(got, Some((2, 1.0)));
            let got: Option<(i64, f64)> = c
                .zrank_with("z", "nope", &ZrankOptions::new().withscore())
                .unwrap();
            assert_eq!(got, None);
            let got: Option<(i64, f64)> = c
                .zrevrank_with("missing", "a", &ZrevrankOptions::new().withscore())
                .unwrap();
            assert_eq!(got, None);
        }

        assert_eq!(c.zrem("z", ["a", "nope"]).unwrap(), 1);
        assert_eq!(c.zrem("missing", "a").unwrap(), 0);
        c.zadd("z", [(1.0, "a"), (4.0, "d"), (5.0, "e")]).unwrap();
        assert_eq!(c.zremrangebyrank("z", 0, 1).unwrap(), 2);
        assert_eq!(
            c.zrange::<Vec<String>>("z", 0, -1).unwrap(),
            ["c", "d", "e"]
        );
        assert_eq!(c.zremrangebyscore("z", "(3", 4).unwrap(), 1);
        assert_eq!(c.zrange::<Vec<String>>("z", 0, -1).unwrap(), ["c", "e"]);
        assert_eq!(c.zremrangebyscore("z", 100, "+inf").unwrap(), 0);
        c.zadd("lex", [(0.0, "a"), (0.0, "b"), (0.0, "c"), (0.0, "d")])
            .unwrap();
        assert_eq!(c.zremrangebylex("lex", "[b", "(d").unwrap(), 2);
        assert_eq!(c.zrange::<Vec<String>>("lex", 0, -1).unwrap(), ["a", "d"]);
        assert_eq!(c.zremrangebylex("lex", "-", "+").unwrap(), 2);
        assert_eq!(c.zcard("lex").unwrap(), 0);

        // ZRANDMEMBER on {c: 3, e: 5}.
        let one: Option<String> = c.zrandmember("z").unwrap();
        assert!(matches!(one.as_deref(), Some("c" | "e")), "{one:?}");
        assert_eq!(c.zrandmember::<Option<String>>("missing").unwrap(), None);
        let all: Vec<String> = c
            .zrandmember_with("z", &ZrandmemberOptions::new().count(5))
            .unwrap();
        assert_eq!(sorted(all), ["c", "e"]);
        let repeated: Vec<String> = c
            .zrandmember_with("z", &ZrandmemberOptions::new().count(-4))
            .unwrap();
        assert_eq!(repeated.len(), 4);
        assert!(repeated.iter().all(|m| m == "c" || m == "e"));
        let mut pairs: Vec<(String, f64)> = c
            .zrandmember_with("z", &ZrandmemberOptions::new().count(2).withscores())
            .unwrap();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(pairs, scored(&[("c", 3.0), ("e", 5.0)]));
        let pairs: Vec<(String, f64)> = c
            .zrandmember_with("z", &ZrandmemberOptions::new().count(-3).withscores())
            .unwrap();
        assert_eq!(pairs.len(), 3);
        assert!(
            pairs
                .iter()
                .all(|(m, s)| (m == "c" && *s == 3.0) || (m == "e" && *s == 5.0))
        );
        let none: Vec<String> = c
            .zrandmember_with("missing", &ZrandmemberOptions::new().count(3))
            .unwrap();
        assert!(none.is_empty());
    });
}

#[test]
fn zscan_walks_every_member_with_its_score() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let members: Vec<(f64, String)> = (0..60_i32)
            .map(|i| (f64::from(i) / 2.0, format!("m{i}")))
            .collect();
        assert_eq!(
            c.zadd("z", members.iter().map(|(s, m)| (*s, m))).unwrap(),
            60
        );
        c.zadd("z", [(-1.0, "other")]).unwrap();

        let everything =
            scan_all(|cursor| c.zscan::<(u64, Vec<(String, f64)>)>("z", cursor).unwrap());
        let everything: BTreeMap<String, f64> = everything.into_iter().collect();
        assert_eq!(everything.len(), 61);
        assert_eq!(everything["other"], -1.0);

        let options = ZscanOptions::new().pattern("m*").count(7);
        let matched = scan_all(|cursor| {
            c.zscan_with::<(u64, Vec<(String, f64)>)>("z", cursor, &options)
                .unwrap()
        });
        let matched: BTreeMap<String, f64> = matched.into_iter().collect();
        let expected: BTreeMap<String, f64> = members.into_iter().map(|(s, m)| (m, s)).collect();
        assert_eq!(matched, expected);

        let (cursor, page): (u64, Vec<(String, f64)>) = c.zscan("missing", 0).unwrap();
        assert_eq!((cursor, page.len()), (0, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Hashes
// ---------------------------------------------------------------------------------------------

#[test]
fn hset_from_a_vec_a_hashmap_and_a_btreemap() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.hset("h", vec![("a", "1"), ("b", "2")]).unwrap(), 2);
        let map: HashMap<String, String> = [("b", "20"), ("c", "3")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        // One new field, one updated.
        assert_eq!(c.hset("h", &map).unwrap(), 1);
        let numbers: BTreeMap<&str, i64> = [("d", 4)].into();
        assert_eq!(c.hset("h", numbers).unwrap(), 1);

        // A RESP3 map and a RESP2 flat array read the same.
        let all: HashMap<String, String> = c.hgetall("h").unwrap();
        let expected: HashMap<String, String> = [("a", "1"), ("b", "20"), ("c", "3"), ("d", "4")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        assert_eq!(all, expected);
        let all: BTreeMap<String, i64> = c.hgetall("h").unwrap();
        assert_eq!(
            all,
            [("a", 1), ("b", 20), ("c", 3), ("d", 4)]
                .map(|(k, v)| (k.to_owned(), v))
                .into()
        );
        let mut pairs: Vec<(String, String)> = c.hgetall("h").unwrap();
        pairs.sort();
        assert_eq!(pairs.len(), 4);
        assert_eq!(pairs[1], ("b".to_owned(), "20".to_owned()));
        assert!(
            c.hgetall::<HashMap<String, String>>("missing")
                .unwrap()
                .is_empty()
        );

        assert_eq!(c.hlen("h").unwrap(), 4);
        assert_eq!(c.hlen("missing").unwrap(), 0);
        assert_eq!(
            c.hget::<Option<String>>("h", "a").unwrap().as_deref(),
            Some("1")
        );
        assert_eq!(c.hget::<Option<i64>>("h", "d").unwrap(), Some(4));
        assert_eq!(c.hget::<Option<String>>("h", "nope").unwrap(), None);
        assert_eq!(c.hget::<Option<String>>("missing", "a").unwrap(), None);
        let values: Vec<Option<String>> = c.hmget("h", ["a", "nope", "c"]).unwrap();
        assert_eq!(values, [Some("1".to_owned()), None, Some("3".to_owned())]);
        let values: Vec<Option<String>> = c.hmget("missing", "a").unwrap();
        assert_eq!(values, [None]);
        let keys: BTreeSet<String> = c.hkeys("h").unwrap();
        assert_eq!(keys, string_set(&["a", "b", "c", "d"]));
        let vals: Vec<String> = c.hvals("h").unwrap();
        assert_eq!(sorted(vals), ["1", "20", "3", "4"]);
        assert!(c.hkeys::<Vec<String>>("missing").unwrap().is_empty());
        assert!(c.hvals::<Vec<String>>("missing").unwrap().is_empty());

        assert!(c.hexists("h", "a").unwrap());
        assert!(!c.hexists("h", "nope").unwrap());
        assert!(!c.hexists("missing", "a").unwrap());
        assert!(!c.hsetnx("h", "a", "x").unwrap());
        assert_eq!(c.hget::<String>("h", "a").unwrap(), "1");
        assert!(c.hsetnx("h", "e", "five").unwrap());
        assert_eq!(c.hstrlen("h", "e").unwrap(), 4);
        assert_eq!(c.hstrlen("h", "nope").unwrap(), 0);
        assert_eq!(c.hdel("h", ["a", "nope"]).unwrap(), 1);
        assert_eq!(c.hdel("missing", "a").unwrap(), 0);
        assert_eq!(c.hlen("h").unwrap(), 4);

        // HMSET (deprecated, answers OK) sets the same way.
        c.hmset("h", [("x", "1"), ("y", "2")]).unwrap();
        let values: Vec<String> = c.hmget("h", ["x", "y"]).unwrap();
        assert_eq!(values, ["1", "2"]);

        // Binary fields and values.
        let field: &[u8] = b"f\x00\r\n";
        let value: &[u8] = b"\xff\x00";
        assert_eq!(c.hset("bin", [(field, value)]).unwrap(), 1);
        assert_eq!(c.hget::<Vec<u8>>("bin", field).unwrap(), value);
        let all: HashMap<Vec<u8>, Vec<u8>> = c.hgetall("bin").unwrap();
        assert_eq!(all, [(field.to_vec(), value.to_vec())].into());
    });
}

#[test]
fn hash_integer_and_float_increments() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_eq!(c.hincrby("h", "n", 5).unwrap(), 5);
        assert_eq!(c.hincrby("h", "n", -7).unwrap(), -2);
        assert_eq!(c.hget::<i64>("h", "n").unwrap(), -2);

        assert_eq!(c.hincrbyfloat::<f64>("h", "f", 1.0).unwrap(), 1.0);
        assert_eq!(c.hincrbyfloat::<f64>("h", "f", 1.0).unwrap(), 2.0);
        assert_eq!(c.hincrbyfloat::<f64>("h", "f", 1.2).unwrap(), 3.2);
        // The reply is the text the server stores, in both protocols.
        assert_eq!(c.hincrbyfloat::<String>("h", "f", -0.2).unwrap(), "3");
        assert_eq!(c.hincrbyfloat::<String>("h", "f", "1e3").unwrap(), "1003");
        assert_eq!(c.hget::<f64>("h", "f").unwrap(), 1003.0);
        // HINCRBYFLOAT works on integer fields too.
        assert_eq!(c.hincrbyfloat::<f64>("h", "n", 0.5).unwrap(), -1.5);

        c.hset("h", [("text", "abc")]).unwrap();
        let (kind, message) = server_error(c.hincrby("h", "text", 1));
        assert_eq!(kind, ServerErrorKind::Err);
        assert!(message.contains("not an integer"), "{message}");
        let (_, message) = server_error(c.hincrbyfloat::<f64>("h", "text", 1.0));
        assert!(message.contains("not a"), "{message}");
        let (_, message) = server_error(c.hincrby("h", "n", 1));
        assert!(message.contains("not an integer"), "{message}");
    });
}

#[test]
fn hrandfield_and_hscan() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.hset("h", [("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
        let fields = string_set(&["a", "b", "c"]);
        let expected: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("c", "3")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();

        // GENERATOR: the `[count [WITHVALUES]]` block comes out as `options(count)` (it
        // should be named `count`) and `withvalues()`, which can be set without a count and
        // then sends `HRANDFIELD h WITHVALUES`, a server error; the same for ZRANDMEMBER's
        // `withscores()`. Every WITHVALUES call here sets a count.
        let one: Option<String> = c.hrandfield("h").unwrap();
        assert!(fields.contains(&one.unwrap()));
        assert_eq!(c.hrandfield::<Option<String>>("missing").unwrap(), None);
        let two: Vec<String> = c
            .hrandfield_with("h", &HrandfieldOptions::new().count(2))
            .unwrap();
        assert_eq!(two.iter().collect::<HashSet<_>>().len(), 2);
        assert!(two.iter().all(|f| fields.contains(f)));
        let repeated: Vec<String> = c
            .hrandfield_with("h", &HrandfieldOptions::new().count(-5))
            .unwrap();
        assert_eq!(repeated.len(), 5);
        assert!(repeated.iter().all(|f| fields.contains(f)));
        // WITHVALUES: pairs, nested in RESP3 and flat in RESP2.
        let pairs: Vec<(String, String)> = c
            .hrandfield_with("h", &HrandfieldOptions::new().count(10).withvalues())
            .unwrap();
        assert_eq!(pairs.into_iter().collect::<BTreeMap<_, _>>(), expected);
        let pairs: Vec<(String, String)> = c
            .hrandfield_with("h", &HrandfieldOptions::new().count(-4).withvalues())
            .unwrap();
        assert_eq!(pairs.len(), 4);
        assert!(pairs.iter().all(|(f, v)| expected.get(f) == Some(v)));
        let none: Vec<String> = c
            .hrandfield_with("missing", &HrandfieldOptions::new().count(2))
            .unwrap();
        assert!(none.is_empty());

        // HSCAN pages are pairs of field and value.
        let many: Vec<(String, String)> = (0..50)
            .map(|i| (format!("field:{i}"), i.to_string()))
            .collect();
        c.hset("big", many.iter().map(|(f, v)| (f, v))).unwrap();
        c.hset("big", [("other", "x")]).unwrap();
        let everything = scan_all(|cursor| {
            c.hscan::<(u64, Vec<(String, String)>)>("big", cursor)
                .unwrap()
        });
        let everything: BTreeMap<String, String> = everything.into_iter().collect();
        assert_eq!(everything.len(), 51);
        assert_eq!(everything["other"], "x");
        let options = HscanOptions::new().pattern("field:*").count(5);
        let matched = scan_all(|cursor| {
            let (next, page): (u64, HashMap<String, String>) =
                c.hscan_with("big", cursor, &options).unwrap();
            (next, page.into_iter().collect())
        });
        let matched: BTreeMap<String, String> = matched.into_iter().collect();
        assert_eq!(matched, many.into_iter().collect::<BTreeMap<_, _>>());
        let (cursor, page): (u64, HashMap<String, String>) = c.hscan("missing", 0).unwrap();
        assert_eq!((cursor, page.len()), (0, 0));
    });
}

// ---------------------------------------------------------------------------------------------
// Across the families
// ---------------------------------------------------------------------------------------------

#[test]
fn empty_key_and_member_lists_fail_before_sending() {
    let s = CommandServer::start();
    let c = s.client(Protocol::Resp3);
    let none = Vec::<String>::new();
    let no_pairs = Vec::<(String, String)>::new();
    let no_scores = Vec::<(f64, String)>::new();

    assert!(is_invalid_request(c.rpush("l", &none)));
    assert!(is_invalid_request(c.blpop::<Value>(&none, 0.1)));
    assert!(is_invalid_request(c.lmpop::<Value>(&none, Direction::Left)));
    assert!(is_invalid_request(c.sadd("s", &none)));
    assert!(is_invalid_request(c.sdiff::<Value>(&none)));
    assert!(is_invalid_request(c.sunionstore("d", &none)));
    assert!(is_invalid_request(c.sintercard(&none)));
    assert!(is_invalid_request(c.zadd("z", no_scores)));
    assert!(is_invalid_request(c.zunion::<Value>(&none)));
    assert!(is_invalid_request(c.zinterstore("d", &none)));
    assert!(is_invalid_request(c.bzmpop::<Value>(
        0.1,
        &none,
        MinMax::Min
    )));
    assert!(is_invalid_request(c.zmscore::<Value>("z", &none)));
    assert!(is_invalid_request(c.hset("h", no_pairs.clone())));
    assert!(is_invalid_request(c.hmset("h", no_pairs)));
    assert!(is_invalid_request(c.hdel("h", &none)));

    // Nothing reached the server: none of these commands was ever counted.
    // (A raw INFO: the text is what is searched, whatever INFO's typed reply is.)
    let stats: String = redis_client::cmd("INFO")
        .arg("commandstats")
        .query(&c)
        .unwrap();
    for command in [
        "rpush",
        "blpop",
        "lmpop",
        "sadd",
        "sdiff",
        "sunionstore",
        "sintercard",
        "zadd",
        "zunion",
        "zinterstore",
        "bzmpop",
        "zmscore",
        "hset",
        "hmset",
        "hdel",
    ] {
        assert!(
            !stats.contains(&format!("cmdstat_{command}:")),
            "{command} was sent:\n{stats}"
        );
    }
}

/// The replies of the second pipeline: a list, a set, scored members and a hash.
type ReadBack = (
    Vec<String>,
    BTreeSet<String>,
    Vec<(String, f64)>,
    HashMap<String, String>,
);

#[test]
fn data_commands_in_a_pipeline() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let mut p = c.pipeline();
        p.rpush("l", ["a", "b"])
            .sadd("s", ["x", "y"])
            .zadd("z", [(1.5, "m"), (0.5, "n")])
            .hset("h", [("f", "v")]);
        let counts: (u64, i64, i64, i64) = p.query().unwrap();
        assert_eq!(counts, (2, 2, 2, 1));

        let mut p = c.pipeline();
        p.lrange("l", 0, -1)
            .smembers("s")
            .zrange_with("z", 0, -1, &ZrangeOptions::new().withscores())
            .hgetall("h");
        let (list, set, scores, hash): ReadBack = p.query().unwrap();
        assert_eq!(list, ["a", "b"]);
        assert_eq!(set, string_set(&["x", "y"]));
        assert_eq!(scores, scored(&[("n", 0.5), ("m", 1.5)]));
        assert_eq!(hash, [("f".to_owned(), "v".to_owned())].into());
    });
}
