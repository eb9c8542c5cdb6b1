//! Typed commands against a real server: streams, geo, scripting (EVAL, SCRIPT, FUNCTION,
//! FCALL) and the generated pub/sub commands (PUBLISH, SPUBLISH, PUBSUB).
//!
//! Every behaviour whose reply differs between RESP2 and RESP3 (maps against flat arrays,
//! doubles against strings, nulls) runs under both protocols and must give the same typed
//! result.

use std::collections::HashMap;
use std::fmt::Debug;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use redis_client::replies::{
    FunctionLibrary, FunctionStats, GeoMember, StreamEntry, StreamRead, XAutoClaim, XInfoConsumer,
    XInfoGroup, XInfoStream, XPendingEntry, XPendingSummary,
};
use redis_client::{
    Client, Commands, Error, FromReply, FunctionFlushOptions, FunctionListOptions,
    FunctionLoadOptions, FunctionRestoreOptions, GeoUnit, GeoaddOptions, GeodistOptions,
    GeoradiusOptions, GeoradiusRoOptions, GeoradiusbymemberOptions, GeoradiusbymemberRoOptions,
    GeosearchBy, GeosearchFrom, GeosearchOptions, GeosearchstoreBy, GeosearchstoreFrom,
    GeosearchstoreOptions, PipelineCommands, Protocol, PubsubChannelsOptions, PubsubNumsubOptions,
    PubsubShardchannelsOptions, PubsubShardnumsubOptions, ScriptFlushOptions, ServerError,
    ServerErrorKind, TrimStrategy, Value, XaddOptions, XautoclaimOptions, XclaimOptions,
    XgroupCreateOptions, XgroupSetidOptions, XinfoStreamOptions, XpendingOptions, XrangeOptions,
    XreadOptions, XreadgroupOptions, XrevrangeOptions, XsetidOptions, XtrimOptions, cmd,
};
use tests::{CommandServer, RawConnection};

/// No keys, or no arguments, for EVAL and FCALL.
const NONE: [&str; 0] = [];

/// The server error of a failed call; panics on success or on another kind of failure.
fn server_error<T: Debug>(result: Result<T, Error>) -> ServerError {
    match result {
        Err(Error::Server(e)) => e,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Asserts that a call was refused before anything was sent.
fn assert_invalid<T: Debug>(result: Result<T, Error>) {
    assert!(
        matches!(result, Err(Error::InvalidRequest(_))),
        "expected Error::InvalidRequest, got {result:?}"
    );
}

fn assert_close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not within {tolerance} of {expected}"
    );
}

fn ids(entries: &[StreamEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.id.as_str()).collect()
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

fn names(members: &[GeoMember]) -> Vec<&str> {
    members
        .iter()
        .map(|m| m.member_str().expect("UTF-8 member"))
        .collect()
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}

/// Adds `<n>-0` entries with a field `n` for each `n` in `range`.
fn add_numbered(c: &Client, key: &str, range: std::ops::RangeInclusive<i64>) {
    for n in range {
        let id: String = c.xadd(key, format!("{n}-0"), [("n", n)]).unwrap();
        assert_eq!(id, format!("{n}-0"));
    }
}

fn one_pending(c: &Client, key: &str, group: &str, id: &str) -> XPendingEntry {
    let entries: Vec<XPendingEntry> = c
        .xpending_with(key, group, &XpendingOptions::new().filters(id, id, 1))
        .unwrap();
    assert_eq!(entries.len(), 1, "{id} is pending: {entries:?}");
    entries.into_iter().next().unwrap()
}

fn group_info(c: &Client, key: &str, name: &str) -> XInfoGroup {
    let groups: Vec<XInfoGroup> = c.xinfo_groups(key).unwrap();
    groups
        .into_iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("group {name} in XINFO GROUPS {key}"))
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

#[test]
fn xadd_ids_nomkstream_and_trimming() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // Small macro nodes make the approximate trimming (`~`) deterministic.
        c.config_set([("stream-node-max-entries", "5")]).unwrap();

        // Auto-generated ids grow.
        let first: String = c.xadd("s", "*", [("f", "v")]).unwrap();
        let second: String = c.xadd("s", "*", [("f", "v"), ("g", "w")]).unwrap();
        let parse = |id: &str| -> (u64, u64) {
            let (ms, seq) = id.split_once('-').expect("ms-seq id");
            (ms.parse().unwrap(), seq.parse().unwrap())
        };
        assert!(parse(&second) > parse(&first), "{first} < {second}");
        let entries: Vec<StreamEntry> = c.xrange("s", "-", "+").unwrap();
        assert_eq!(ids(&entries), [first.as_str(), second.as_str()]);
        assert_eq!(entries[1].get_str("g"), Some("w"));
        assert_eq!(c.del("s").unwrap(), 1);

        // Explicit ids, the 7.0 `<ms>-*` form, and an id that does not grow.
        let id: String = c.xadd("s", "1-1", [("f", "v")]).unwrap();
        assert_eq!(id, "1-1");
        let id: String = c.xadd("s", "1-*", [("f", "v")]).unwrap();
        assert_eq!(id, "1-2");
        let e = server_error(c.xadd::<String>("s", "1-0", [("f", "v")]));
        assert!(e.message().contains("equal or smaller"), "{e}");
        assert_eq!(c.xlen("s").unwrap(), 2);

        // NOMKSTREAM: a null reply and no key when the stream is missing.
        let none: Option<String> = c
            .xadd_with(
                "missing",
                "*",
                [("f", "v")],
                &XaddOptions::new().nomkstream(),
            )
            .unwrap();
        assert_eq!(none, None);
        assert_eq!(c.exists("missing").unwrap(), 0);
        let some: Option<String> = c
            .xadd_with("s", "2-0", [("f", "v")], &XaddOptions::new().nomkstream())
            .unwrap();
        assert_eq!(some.as_deref(), Some("2-0"));

        // MAXLEN = trims exactly.
        c.del("s").unwrap();
        add_numbered(c, "s", 1..=3);
        let id: String = c
            .xadd_with(
                "s",
                "4-0",
                [("n", 4)],
                &XaddOptions::new().trim(TrimStrategy::Maxlen, 2).equal(),
            )
            .unwrap();
        assert_eq!(id, "4-0");
        let entries: Vec<StreamEntry> = c.xrange("s", "-", "+").unwrap();
        assert_eq!(ids(&entries), ["3-0", "4-0"]);

        // MINID evicts the ids below the threshold.
        let _: String = c
            .xadd_with(
                "s",
                "5-0",
                [("n", 5)],
                &XaddOptions::new().trim(TrimStrategy::Minid, "4-0"),
            )
            .unwrap();
        let entries: Vec<StreamEntry> = c.xrange("s", "-", "+").unwrap();
        assert_eq!(ids(&entries), ["4-0", "5-0"]);

        // MAXLEN ~ only removes whole macro nodes (5 entries each here): after 13 entries,
        // the nodes are [1..5] [6..10] [11..13]; dropping the first leaves 8 >= 5, dropping
        // the second would leave 3 < 5.
        c.del("s").unwrap();
        add_numbered(c, "s", 1..=12);
        let _: String = c
            .xadd_with(
                "s",
                "13-0",
                [("n", 13)],
                &XaddOptions::new()
                    .trim(TrimStrategy::Maxlen, 5)
                    .approximately()
                    .limit(100),
            )
            .unwrap();
        assert_eq!(c.xlen("s").unwrap(), 8);
        // LIMIT caps the eviction at 5 entries: one node.
        let removed = c
            .xtrim_with(
                "s",
                TrimStrategy::Maxlen,
                0,
                &XtrimOptions::new().approximately().limit(5),
            )
            .unwrap();
        assert_eq!(removed, 5);
        assert_eq!(c.xlen("s").unwrap(), 3);
        // LIMIT needs `~`.
        let e = server_error(c.xtrim_with(
            "s",
            TrimStrategy::Maxlen,
            0,
            &XtrimOptions::new().equal().limit(5),
        ));
        assert!(e.message().contains("LIMIT"), "{e}");
        assert_eq!(c.xtrim("s", TrimStrategy::Maxlen, 1).unwrap(), 2);
        let entries: Vec<StreamEntry> = c.xrange("s", "-", "+").unwrap();
        assert_eq!(ids(&entries), ["13-0"]);
        let removed = c
            .xtrim_with(
                "s",
                TrimStrategy::Minid,
                "100-0",
                &XtrimOptions::new().equal(),
            )
            .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(c.xlen("s").unwrap(), 0);
        assert_eq!(c.xtrim("missing", TrimStrategy::Maxlen, 0).unwrap(), 0);
        assert_eq!(c.xlen("missing").unwrap(), 0);

        // A wrong type is a WRONGTYPE error.
        cmd("SET").arg("text").arg("x").execute(c).unwrap();
        assert_eq!(
            server_error(c.xlen("text")).kind(),
            ServerErrorKind::WrongType
        );

        // Empty lists are refused before sending.
        assert_invalid(c.xadd::<String>("s", "*", Vec::<(&str, &str)>::new()));
        assert_invalid(c.xdel("s", Vec::<&str>::new()));
        assert_invalid(c.xack("s", "g", Vec::<&str>::new()));
        assert_invalid(c.xread(Vec::<&str>::new(), Vec::<&str>::new()));
    });
}

#[test]
fn xrange_xrevrange_and_xdel() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        add_numbered(c, "s", 1..=5);
        let all: Vec<StreamEntry> = c.xrange("s", "-", "+").unwrap();
        assert_eq!(ids(&all), ["1-0", "2-0", "3-0", "4-0", "5-0"]);
        assert_eq!(all[0].get_str("n"), Some("1"));
        assert_eq!(
            all[4].fields,
            [(Bytes::from_static(b"n"), Bytes::from_static(b"5"))]
        );
        assert!(!all[0].deleted);

        // Exclusive start and COUNT.
        let page: Vec<StreamEntry> = c
            .xrange_with("s", "(2-0", "+", &XrangeOptions::new().count(2))
            .unwrap();
        assert_eq!(ids(&page), ["3-0", "4-0"]);
        let bounded: Vec<StreamEntry> = c.xrange("s", "2", "3").unwrap();
        assert_eq!(ids(&bounded), ["2-0", "3-0"]);

        let rev: Vec<StreamEntry> = c.xrevrange("s", "+", "-").unwrap();
        assert_eq!(ids(&rev), ["5-0", "4-0", "3-0", "2-0", "1-0"]);
        let rev_page: Vec<StreamEntry> = c
            .xrevrange_with("s", "(5-0", "-", &XrevrangeOptions::new().count(2))
            .unwrap();
        assert_eq!(ids(&rev_page), ["4-0", "3-0"]);

        let missing: Vec<StreamEntry> = c.xrange("missing", "-", "+").unwrap();
        assert!(missing.is_empty());
        let missing: Vec<StreamEntry> = c.xrevrange("missing", "+", "-").unwrap();
        assert!(missing.is_empty());

        // XDEL counts what existed.
        assert_eq!(c.xdel("s", ["2-0", "99-0"]).unwrap(), 1);
        assert_eq!(c.xdel("s", "2-0").unwrap(), 0);
        assert_eq!(c.xlen("s").unwrap(), 4);
        let left: Vec<StreamEntry> = c.xrange("s", "-", "+").unwrap();
        assert_eq!(ids(&left), ["1-0", "3-0", "4-0", "5-0"]);
    });
}

#[test]
fn xread_counts_and_blocking() {
    let s = CommandServer::start();
    s.each_protocol(|c, protocol| {
        add_numbered(c, "a", 1..=3);
        add_numbered(c, "b", 1..=1);

        let read: StreamRead = c.xread(["a", "b"], ["0", "0"]).unwrap();
        let keys: Vec<&str> = read.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(ids(read.get("a").unwrap()), ["1-0", "2-0", "3-0"]);
        assert_eq!(ids(read.get("b").unwrap()), ["1-0"]);
        assert_eq!(read.get("a").unwrap()[2].get_str("n"), Some("3"));

        // The raw shapes differ (RESP3 sends a map), the typed result does not.
        let raw: Value = cmd("XREAD")
            .arg("STREAMS")
            .arg("b")
            .arg("0")
            .query(c)
            .unwrap();
        match protocol {
            Protocol::Resp3 => assert!(matches!(raw, Value::Map(_)), "{raw:?}"),
            _ => assert!(matches!(raw, Value::Array(_)), "{raw:?}"),
        }

        let page: StreamRead = c
            .xread_with(["a", "b"], ["1-0", "0"], &XreadOptions::new().count(1))
            .unwrap();
        assert_eq!(ids(page.get("a").unwrap()), ["2-0"]);
        assert_eq!(ids(page.get("b").unwrap()), ["1-0"]);

        // Nothing newer: a null reply, an empty result.
        let nothing: StreamRead = c.xread("a", "3-0").unwrap();
        assert!(nothing.is_empty());

        // BLOCK times out with a null.
        let start = Instant::now();
        let timed_out: StreamRead = c
            .xread_with("a", "$", &XreadOptions::new().block(100))
            .unwrap();
        assert!(timed_out.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(90));

        // BLOCK is woken by another client's XADD (reading after 3-0, so the order of the two
        // commands does not matter).
        let writer = s.server.client_builder().build();
        let handle = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            writer.xadd::<String>("a", "4-0", [("n", 4)]).unwrap()
        });
        let woken: StreamRead = c
            .xread_with("a", "3-0", &XreadOptions::new().block(5000).count(10))
            .unwrap();
        assert_eq!(handle.join().unwrap(), "4-0");
        assert_eq!(ids(woken.get("a").unwrap()), ["4-0"]);
    });
}

#[test]
fn consumer_groups_read_ack_and_lifecycle() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // CREATE needs the stream unless MKSTREAM.
        let e = server_error(c.xgroup_create("s", "g", "$"));
        assert!(e.message().contains("requires the key to exist"), "{e}");
        c.xgroup_create_with("s", "g", "$", &XgroupCreateOptions::new().mkstream())
            .unwrap();
        assert_eq!(c.exists("s").unwrap(), 1);
        assert_eq!(c.xlen("s").unwrap(), 0);
        assert_eq!(
            server_error(c.xgroup_create("s", "g", "$")).code(),
            "BUSYGROUP"
        );

        add_numbered(c, "s", 1..=3);
        let read: StreamRead = c.xreadgroup("g", "alice", "s", ">").unwrap();
        assert_eq!(ids(read.get("s").unwrap()), ["1-0", "2-0", "3-0"]);

        // Nothing new: a null, an empty result.
        let none: StreamRead = c
            .xreadgroup_with("g", "alice", "s", ">", &XreadgroupOptions::new().count(1))
            .unwrap();
        assert!(none.is_empty());
        let start = Instant::now();
        let none = c
            .xreadgroup_with("g", "alice", "s", ">", &XreadgroupOptions::new().block(100))
            .unwrap();
        assert!(none.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(90));

        // The consumer's history, with an entry deleted after delivery.
        let history: StreamRead = c.xreadgroup("g", "alice", "s", "0").unwrap();
        assert_eq!(ids(history.get("s").unwrap()), ["1-0", "2-0", "3-0"]);
        assert_eq!(c.xdel("s", "2-0").unwrap(), 1);
        let history: StreamRead = c.xreadgroup("g", "alice", "s", "0").unwrap();
        let entries = history.get("s").unwrap();
        assert_eq!(ids(entries), ["1-0", "2-0", "3-0"]);
        assert!(entries[1].deleted);
        assert!(entries[1].fields.is_empty());
        assert!(!entries[0].deleted);

        assert_eq!(c.xack("s", "g", ["1-0", "2-0", "9-0"]).unwrap(), 2);
        assert_eq!(c.xack("s", "g", "1-0").unwrap(), 0);

        // NOACK: delivered but not pending.
        add_numbered(c, "s", 4..=4);
        let read: StreamRead = c
            .xreadgroup_with(
                "g",
                "carol",
                "s",
                ">",
                &XreadgroupOptions::new().noack().count(10),
            )
            .unwrap();
        assert_eq!(ids(read.get("s").unwrap()), ["4-0"]);
        let pending: XPendingSummary = c.xpending("s", "g").unwrap();
        assert_eq!(pending.count, 1);
        assert_eq!(pending.consumers, [("alice".to_owned(), 1)]);

        let g = group_info(c, "s", "g");
        assert_eq!(g.consumers, 2);
        assert_eq!(g.pending, 1);
        assert_eq!(g.last_delivered_id, "4-0");
        assert_eq!(g.entries_read, Some(4));
        assert_eq!(g.lag, Some(0));

        let consumers: Vec<XInfoConsumer> = c.xinfo_consumers("s", "g").unwrap();
        let summary: Vec<(&str, u64)> = consumers
            .iter()
            .map(|x| (x.name.as_str(), x.pending))
            .collect();
        assert_eq!(summary, [("alice", 1), ("carol", 0)]);
        assert!(consumers.iter().all(|x| x.idle_ms < 60_000));
        if s.supports("7.2.0", "XINFO CONSUMERS `inactive` field") {
            assert!(consumers.iter().all(|x| x.inactive_ms.is_some()));
        } else {
            assert!(consumers.iter().all(|x| x.inactive_ms.is_none()));
        }

        // CREATECONSUMER says whether it created one.
        assert!(c.xgroup_createconsumer("s", "g", "dave").unwrap());
        assert!(!c.xgroup_createconsumer("s", "g", "dave").unwrap());
        // DELCONSUMER returns how many entries the consumer had pending.
        assert_eq!(c.xgroup_delconsumer("s", "g", "alice").unwrap(), 1);
        assert_eq!(c.xgroup_delconsumer("s", "g", "dave").unwrap(), 0);
        let consumers: Vec<XInfoConsumer> = c.xinfo_consumers("s", "g").unwrap();
        let left: Vec<&str> = consumers.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(left, ["carol"]);

        // SETID rewinds the group; with ENTRIESREAD it also sets the read counter.
        c.xgroup_setid("s", "g", "0").unwrap();
        let again: StreamRead = c
            .xreadgroup_with("g", "erin", "s", ">", &XreadgroupOptions::new().count(10))
            .unwrap();
        assert_eq!(ids(again.get("s").unwrap()), ["1-0", "3-0", "4-0"]);
        c.xgroup_setid_with("s", "g", "3-0", &XgroupSetidOptions::new().entriesread(3))
            .unwrap();
        let g = group_info(c, "s", "g");
        assert_eq!(g.last_delivered_id, "3-0");
        assert_eq!(g.entries_read, Some(3));
        assert_eq!(g.lag, Some(1));

        // CREATE with ENTRIESREAD.
        c.xgroup_create_with(
            "s",
            "late",
            "3-0",
            &XgroupCreateOptions::new().entriesread(3),
        )
        .unwrap();
        let late = group_info(c, "s", "late");
        assert_eq!(late.entries_read, Some(3));
        assert_eq!(late.lag, Some(1));
        assert_eq!(late.consumers, 0);

        // DESTROY says whether the group existed.
        assert!(c.xgroup_destroy("s", "late").unwrap());
        assert!(!c.xgroup_destroy("s", "late").unwrap());
        let groups: Vec<XInfoGroup> = c.xinfo_groups("s").unwrap();
        assert_eq!(groups.len(), 1);
        let e = server_error(c.xinfo_consumers("s", "late"));
        assert!(e.message().contains("NOGROUP"), "{e}");

        let help: Vec<String> = c.xgroup_help().unwrap();
        assert!(help[0].starts_with("XGROUP"), "{help:?}");
        assert!(
            help.iter().any(|l| l.contains("CREATECONSUMER")),
            "{help:?}"
        );
    });
}

#[test]
fn pending_entries_claim_and_autoclaim() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        add_numbered(c, "s", 1..=4);
        c.xgroup_create("s", "g", "0").unwrap();

        // Nothing pending: nulls become None and an empty list.
        let empty: XPendingSummary = c.xpending("s", "g").unwrap();
        assert_eq!(empty.count, 0);
        assert_eq!(empty.min_id, None);
        assert_eq!(empty.max_id, None);
        assert!(empty.consumers.is_empty());

        let _: StreamRead = c
            .xreadgroup_with("g", "alice", "s", ">", &XreadgroupOptions::new().count(2))
            .unwrap();
        let _: StreamRead = c
            .xreadgroup_with("g", "bob", "s", ">", &XreadgroupOptions::new().count(1))
            .unwrap();

        let summary: XPendingSummary = c.xpending("s", "g").unwrap();
        assert_eq!(summary.count, 3);
        assert_eq!(summary.min_id.as_deref(), Some("1-0"));
        assert_eq!(summary.max_id.as_deref(), Some("3-0"));
        assert_eq!(
            summary.consumers,
            [("alice".to_owned(), 2), ("bob".to_owned(), 1)]
        );

        // The range form, filtered by consumer, by idle time, with an exclusive start.
        let range: Vec<XPendingEntry> = c
            .xpending_with("s", "g", &XpendingOptions::new().filters("-", "+", 10))
            .unwrap();
        let got: Vec<(&str, &str, u64)> = range
            .iter()
            .map(|e| (e.id.as_str(), e.consumer.as_str(), e.delivery_count))
            .collect();
        assert_eq!(
            got,
            [("1-0", "alice", 1), ("2-0", "alice", 1), ("3-0", "bob", 1)]
        );
        assert!(range.iter().all(|e| e.idle_ms < 60_000));
        let bobs: Vec<XPendingEntry> = c
            .xpending_with(
                "s",
                "g",
                &XpendingOptions::new().filters("-", "+", 10).consumer("bob"),
            )
            .unwrap();
        assert_eq!(bobs.len(), 1);
        assert_eq!(bobs[0].id, "3-0");
        let idle: Vec<XPendingEntry> = c
            .xpending_with(
                "s",
                "g",
                &XpendingOptions::new().idle(3_600_000).filters("-", "+", 10),
            )
            .unwrap();
        assert!(idle.is_empty());
        let next: Vec<XPendingEntry> = c
            .xpending_with(
                "s",
                "g",
                &XpendingOptions::new().idle(0).filters("(1-0", "+", 1),
            )
            .unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].id, "2-0");

        // XCLAIM: not idle long enough, then claimed (the delivery count grows).
        let not_idle: Vec<StreamEntry> = c.xclaim("s", "g", "bob", 3_600_000, "1-0").unwrap();
        assert!(not_idle.is_empty());
        let claimed: Vec<StreamEntry> = c.xclaim("s", "g", "bob", 0, "1-0").unwrap();
        assert_eq!(ids(&claimed), ["1-0"]);
        assert_eq!(claimed[0].get_str("n"), Some("1"));
        let p = one_pending(c, "s", "g", "1-0");
        assert_eq!((p.consumer.as_str(), p.delivery_count), ("bob", 2));
        // An id that is not pending claims nothing.
        let nothing: Vec<StreamEntry> = c.xclaim("s", "g", "bob", 0, "99-0").unwrap();
        assert!(nothing.is_empty());

        // JUSTID returns ids and leaves the delivery count alone.
        let just: Vec<String> = c
            .xclaim_with(
                "s",
                "g",
                "alice",
                0,
                ["1-0", "2-0"],
                &XclaimOptions::new().justid(),
            )
            .unwrap();
        assert_eq!(just, ["1-0", "2-0"]);
        let p = one_pending(c, "s", "g", "1-0");
        assert_eq!((p.consumer.as_str(), p.delivery_count), ("alice", 2));

        // IDLE and RETRYCOUNT set the pending entry's idle time and delivery count.
        let _: Vec<String> = c
            .xclaim_with(
                "s",
                "g",
                "alice",
                0,
                "1-0",
                &XclaimOptions::new().idle(500_000).retrycount(7).justid(),
            )
            .unwrap();
        let p = one_pending(c, "s", "g", "1-0");
        assert!(p.idle_ms >= 500_000, "{p:?}");
        assert_eq!(p.delivery_count, 7);
        // TIME sets the last delivery time.
        let _: Vec<StreamEntry> = c
            .xclaim_with(
                "s",
                "g",
                "alice",
                0,
                "2-0",
                &XclaimOptions::new().time(now_ms() - 1_000_000),
            )
            .unwrap();
        let p = one_pending(c, "s", "g", "2-0");
        assert!(p.idle_ms >= 990_000, "{p:?}");

        // FORCE claims an entry that was never delivered; LASTID moves the group forward.
        let unforced: Vec<String> = c
            .xclaim_with("s", "g", "bob", 0, "4-0", &XclaimOptions::new().justid())
            .unwrap();
        assert!(unforced.is_empty());
        assert_eq!(group_info(c, "s", "g").last_delivered_id, "3-0");
        let forced: Vec<String> = c
            .xclaim_with(
                "s",
                "g",
                "bob",
                0,
                "4-0",
                &XclaimOptions::new().force().justid().lastid("4-0"),
            )
            .unwrap();
        assert_eq!(forced, ["4-0"]);
        let summary: XPendingSummary = c.xpending("s", "g").unwrap();
        assert_eq!(summary.count, 4);
        assert_eq!(group_info(c, "s", "g").last_delivered_id, "4-0");

        // XAUTOCLAIM pages through the pending list.
        let page: XAutoClaim = c
            .xautoclaim_with(
                "s",
                "g",
                "carol",
                0,
                "0-0",
                &XautoclaimOptions::new().count(2),
            )
            .unwrap();
        assert_eq!(ids(&page.entries), ["1-0", "2-0"]);
        assert_eq!(page.claimed_ids, ["1-0", "2-0"]);
        assert_eq!(page.next_cursor, "3-0");
        assert!(page.deleted_ids.is_empty());
        // A pending entry deleted from the stream is reported and dropped (Redis 7.0+).
        assert_eq!(c.xdel("s", "3-0").unwrap(), 1);
        let rest: XAutoClaim = c
            .xautoclaim("s", "g", "carol", 0, page.next_cursor.as_str())
            .unwrap();
        assert_eq!(ids(&rest.entries), ["4-0"]);
        assert_eq!(rest.deleted_ids, ["3-0"]);
        assert_eq!(rest.next_cursor, "0-0");
        // JUSTID: ids only.
        let just: XAutoClaim = c
            .xautoclaim_with(
                "s",
                "g",
                "dave",
                0,
                "0-0",
                &XautoclaimOptions::new().justid(),
            )
            .unwrap();
        assert!(just.entries.is_empty());
        assert_eq!(just.claimed_ids, ["1-0", "2-0", "4-0"]);
        let summary: XPendingSummary = c.xpending("s", "g").unwrap();
        assert_eq!(summary.consumers, [("dave".to_owned(), 3)]);

        assert_eq!(c.xack("s", "g", ["1-0", "2-0", "4-0"]).unwrap(), 3);
        let done: XPendingSummary = c.xpending("s", "g").unwrap();
        assert_eq!(done.count, 0);
        // An acknowledged entry is no longer claimable.
        let nothing: Vec<StreamEntry> = c.xclaim("s", "g", "bob", 0, "1-0").unwrap();
        assert!(nothing.is_empty());
    });
}

#[test]
fn xinfo_stream_full_and_xsetid() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let e = server_error(c.xinfo_stream("missing"));
        assert!(e.message().contains("no such key"), "{e}");

        for n in 1..=3 {
            let _: String = c
                .xadd(
                    "s",
                    format!("{n}-0"),
                    [("f", n.to_string().as_str()), ("g", "x")],
                )
                .unwrap();
        }
        c.xgroup_create("s", "g", "0").unwrap();
        let _: StreamRead = c
            .xreadgroup_with("g", "alice", "s", ">", &XreadgroupOptions::new().count(1))
            .unwrap();

        let info: XInfoStream = c.xinfo_stream("s").unwrap();
        assert_eq!(info.length, 3);
        assert_eq!(info.groups, 1);
        assert_eq!(info.last_generated_id, "3-0");
        assert_eq!(info.entries_added, Some(3));
        assert_eq!(info.max_deleted_entry_id.as_deref(), Some("0-0"));
        assert_eq!(info.recorded_first_entry_id.as_deref(), Some("1-0"));
        let first = info.first_entry.expect("first entry");
        assert_eq!(first.id, "1-0");
        assert_eq!(first.get_str("f"), Some("1"));
        assert_eq!(first.get_str("g"), Some("x"));
        assert_eq!(info.last_entry.expect("last entry").id, "3-0");
        assert!(info.radix_tree_keys >= 1);

        assert_eq!(c.xdel("s", "1-0").unwrap(), 1);
        let info: XInfoStream = c.xinfo_stream("s").unwrap();
        assert_eq!(info.length, 2);
        assert_eq!(info.max_deleted_entry_id.as_deref(), Some("1-0"));
        assert_eq!(info.recorded_first_entry_id.as_deref(), Some("2-0"));

        // FULL: no struct of its own; read it as a map of values.
        let full: HashMap<String, Value> = c
            .xinfo_stream_with("s", &XinfoStreamOptions::new().full_block())
            .unwrap();
        assert_eq!(u64::from_reply(full["length"].clone()).unwrap(), 2);
        let entries = Vec::<StreamEntry>::from_reply(full["entries"].clone()).unwrap();
        assert_eq!(ids(&entries), ["2-0", "3-0"]);
        let groups = Vec::<HashMap<String, Value>>::from_reply(full["groups"].clone()).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(String::from_reply(groups[0]["name"].clone()).unwrap(), "g");
        assert_eq!(u64::from_reply(groups[0]["pel-count"].clone()).unwrap(), 1);
        let consumers =
            Vec::<HashMap<String, Value>>::from_reply(groups[0]["consumers"].clone()).unwrap();
        assert_eq!(
            String::from_reply(consumers[0]["name"].clone()).unwrap(),
            "alice"
        );
        let limited: HashMap<String, Value> = c
            .xinfo_stream_with("s", &XinfoStreamOptions::new().full_block().count(1))
            .unwrap();
        let entries = Vec::<StreamEntry>::from_reply(limited["entries"].clone()).unwrap();
        assert_eq!(ids(&entries), ["2-0"]);

        // XSETID moves the last id forward only.
        c.xsetid("s", "10-0").unwrap();
        let info: XInfoStream = c.xinfo_stream("s").unwrap();
        assert_eq!(info.last_generated_id, "10-0");
        let e = server_error(c.xadd::<String>("s", "5-0", [("f", "v")]));
        assert!(e.message().contains("equal or smaller"), "{e}");
        let e = server_error(c.xsetid("s", "1-0"));
        assert!(e.message().contains("smaller"), "{e}");
        c.xsetid_with(
            "s",
            "10-0",
            &XsetidOptions::new().entriesadded(50).maxdeletedid("9-0"),
        )
        .unwrap();
        let info: XInfoStream = c.xinfo_stream("s").unwrap();
        assert_eq!(info.entries_added, Some(50));
        assert_eq!(info.max_deleted_entry_id.as_deref(), Some("9-0"));

        let help: Vec<String> = c.xinfo_help().unwrap();
        assert!(help[0].starts_with("XINFO"), "{help:?}");
        assert!(help.iter().any(|l| l.contains("STREAM")), "{help:?}");
    });
}

// ---------------------------------------------------------------------------------------------
// Geo
// ---------------------------------------------------------------------------------------------

const PALERMO: (f64, f64) = (13.361389, 38.115556);
const CATANIA: (f64, f64) = (15.087269, 37.502669);

/// A GEOPOS element: `(longitude, latitude)`, `None` for a missing member.
type Position = Option<(f64, f64)>;

fn add_sicily(c: &Client) {
    let added = c
        .geoadd(
            "Sicily",
            [
                (PALERMO.0, PALERMO.1, "Palermo"),
                (CATANIA.0, CATANIA.1, "Catania"),
                (12.758489, 38.788135, "edge1"),
                (17.241510, 38.788135, "edge2"),
                (13.583333, 37.316667, "Agrigento"),
            ],
        )
        .unwrap();
    assert_eq!(added, 5);
}

fn position(c: &Client, member: &str) -> Option<(f64, f64)> {
    let mut positions: Vec<Option<(f64, f64)>> = c.geopos("Sicily", member).unwrap();
    assert_eq!(positions.len(), 1);
    positions.pop().unwrap()
}

#[test]
fn geoadd_conditions_and_lookups() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let added = c
            .geoadd(
                "Sicily",
                [
                    (PALERMO.0, PALERMO.1, "Palermo"),
                    (CATANIA.0, CATANIA.1, "Catania"),
                ],
            )
            .unwrap();
        assert_eq!(added, 2);
        let e = server_error(c.geoadd("Sicily", [(200.0, 100.0, "nowhere")]));
        assert!(e.message().contains("invalid longitude,latitude"), "{e}");

        // NX: only new members are added; existing ones keep their position.
        let added = c
            .geoadd_with(
                "Sicily",
                [(13.0, 38.0, "Palermo"), (15.554, 38.193, "Messina")],
                &GeoaddOptions::new().nx(),
            )
            .unwrap();
        assert_eq!(added, 1);
        let (lon, lat) = position(c, "Palermo").unwrap();
        assert_close(lon, PALERMO.0, 1e-5);
        assert_close(lat, PALERMO.1, 1e-5);

        // XX: only existing members are updated; nothing is added.
        let added = c
            .geoadd_with(
                "Sicily",
                [(13.0, 38.0, "Palermo"), (14.275, 37.567, "Enna")],
                &GeoaddOptions::new().xx(),
            )
            .unwrap();
        assert_eq!(added, 0);
        assert_eq!(position(c, "Enna"), None);
        let (lon, lat) = position(c, "Palermo").unwrap();
        assert_close(lon, 13.0, 1e-5);
        assert_close(lat, 38.0, 1e-5);

        // CH: changed plus added.
        let changed = c
            .geoadd_with(
                "Sicily",
                [(PALERMO.0, PALERMO.1, "Palermo"), (14.275, 37.567, "Enna")],
                &GeoaddOptions::new().ch(),
            )
            .unwrap();
        assert_eq!(changed, 2);
        let changed = c
            .geoadd_with(
                "Sicily",
                [(PALERMO.0, PALERMO.1, "Palermo")],
                &GeoaddOptions::new().ch(),
            )
            .unwrap();
        assert_eq!(changed, 0);
        let changed = c
            .geoadd_with(
                "Sicily",
                [(14.3, 37.6, "Enna"), (1.0, 1.0, "Nowhere")],
                &GeoaddOptions::new().xx().ch(),
            )
            .unwrap();
        assert_eq!(changed, 1);
        let changed = c
            .geoadd_with(
                "Sicily",
                [(1.0, 1.0, "Palermo")],
                &GeoaddOptions::new().nx().ch(),
            )
            .unwrap();
        assert_eq!(changed, 0);

        // GEODIST in each unit; a missing member gives None.
        let meters: Option<f64> = c.geodist("Sicily", "Palermo", "Catania").unwrap();
        assert_close(meters.unwrap(), 166_274.151_6, 1e-3);
        for (options, expected) in [
            (GeodistOptions::new().m(), 166_274.151_6),
            (GeodistOptions::new().km(), 166.2742),
            (GeodistOptions::new().mi(), 103.3182),
            (GeodistOptions::new().ft(), 545_518.87),
        ] {
            let d: f64 = c
                .geodist_with("Sicily", "Palermo", "Catania", &options)
                .unwrap();
            assert_close(d, expected, 1e-2);
        }
        let missing: Option<f64> = c.geodist("Sicily", "Palermo", "Atlantis").unwrap();
        assert_eq!(missing, None);
        let missing: Option<f64> = c
            .geodist_with("nokey", "a", "b", &GeodistOptions::new().km())
            .unwrap();
        assert_eq!(missing, None);

        // GEOHASH: 11-character strings, null for a missing member.
        let hashes: Vec<Option<String>> = c
            .geohash("Sicily", ["Palermo", "Catania", "Atlantis"])
            .unwrap();
        assert_eq!(
            hashes,
            [
                Some("sqc8b49rny0".to_owned()),
                Some("sqdtr74hyu0".to_owned()),
                None
            ]
        );
        let no_members: Vec<Option<String>> = c.geohash("Sicily", NONE).unwrap();
        assert!(no_members.is_empty());

        // GEOPOS: (longitude, latitude) pairs (strings in RESP2, doubles in RESP3).
        let positions: Vec<Option<(f64, f64)>> =
            c.geopos("Sicily", ["Catania", "Atlantis"]).unwrap();
        assert_eq!(positions.len(), 2);
        let (lon, lat) = positions[0].unwrap();
        assert_close(lon, 15.087_267_458_438_873, 1e-9);
        assert_close(lat, 37.502_668_423_331_62, 1e-9);
        assert_eq!(positions[1], None);
        let no_members: Vec<Option<(f64, f64)>> = c.geopos("Sicily", NONE).unwrap();
        assert!(no_members.is_empty());
        let missing_key: Vec<Option<(f64, f64)>> = c.geopos("nokey", "x").unwrap();
        assert_eq!(missing_key, [None]);
    });
}

#[test]
fn geosearch_every_from_and_by_form() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        add_sicily(c);
        let lonlat = || GeosearchFrom::Fromlonlat {
            longitude: 15.0,
            latitude: 37.0,
        };
        let palermo = || GeosearchFrom::Member(Bytes::from_static(b"Palermo"));
        let circle = |radius: f64| GeosearchBy::Circle {
            radius,
            unit: GeoUnit::Km,
        };
        let square = |side: f64| GeosearchBy::Box {
            width: side,
            height: side,
            unit: GeoUnit::Km,
        };

        // FROMLONLAT BYRADIUS.
        let found: Vec<String> = c.geosearch("Sicily", lonlat(), circle(200.0)).unwrap();
        assert_eq!(sorted(found), ["Agrigento", "Catania", "Palermo"]);

        // FROMLONLAT BYBOX, sorted, with everything.
        let found: Vec<GeoMember> = c
            .geosearch_with(
                "Sicily",
                lonlat(),
                square(400.0),
                &GeosearchOptions::new()
                    .asc()
                    .withcoord()
                    .withdist()
                    .withhash(),
            )
            .unwrap();
        assert_eq!(
            names(&found),
            ["Catania", "Agrigento", "Palermo", "edge2", "edge1"]
        );
        for (member, expected) in found
            .iter()
            .zip([56.4413, 130.4235, 190.4424, 279.7403, 279.7405])
        {
            assert_close(member.distance.unwrap(), expected, 1e-3);
        }
        assert_eq!(found[0].hash, Some(3_479_447_370_796_909));
        let (lon, lat) = found[0].position.unwrap();
        assert_close(lon, CATANIA.0, 1e-5);
        assert_close(lat, CATANIA.1, 1e-5);

        // FROMMEMBER BYRADIUS, farthest first, COUNT 2.
        let found: Vec<String> = c
            .geosearch_with(
                "Sicily",
                palermo(),
                circle(200.0),
                &GeosearchOptions::new().desc().count_block(2),
            )
            .unwrap();
        assert_eq!(found, ["Catania", "edge1"]);

        // FROMMEMBER BYBOX with distances only.
        let found: Vec<GeoMember> = c
            .geosearch_with(
                "Sicily",
                palermo(),
                square(200.0),
                &GeosearchOptions::new().asc().withdist(),
            )
            .unwrap();
        assert_eq!(names(&found), ["Palermo", "Agrigento", "edge1"]);
        assert_close(found[0].distance.unwrap(), 0.0, 1e-9);
        assert_close(found[1].distance.unwrap(), 90.9778, 1e-3);
        assert_eq!(found[1].hash, None);
        assert_eq!(found[1].position, None);
        let found: Vec<String> = c.geosearch("Sicily", palermo(), square(200.0)).unwrap();
        assert_eq!(sorted(found), ["Agrigento", "Palermo", "edge1"]);

        // COUNT ANY stops at the first match.
        let any: Vec<String> = c
            .geosearch_with(
                "Sicily",
                lonlat(),
                circle(200.0),
                &GeosearchOptions::new().count_block(1).any(),
            )
            .unwrap();
        assert_eq!(any.len(), 1);
        assert!(
            ["Agrigento", "Catania", "Palermo"].contains(&any[0].as_str()),
            "{any:?}"
        );

        let e = server_error(c.geosearch::<Vec<String>>(
            "Sicily",
            GeosearchFrom::Member(Bytes::from_static(b"Atlantis")),
            circle(1.0),
        ));
        assert!(e.message().contains("could not decode"), "{e}");
        let none: Vec<String> = c.geosearch("nokey", lonlat(), circle(1.0)).unwrap();
        assert!(none.is_empty());

        // GEOSEARCHSTORE keeps the geohash as the score, or the distance with STOREDIST.
        let stored = c
            .geosearchstore(
                "dst",
                "Sicily",
                GeosearchstoreFrom::Fromlonlat {
                    longitude: 15.0,
                    latitude: 37.0,
                },
                GeosearchstoreBy::Box {
                    width: 400.0,
                    height: 400.0,
                    unit: GeoUnit::Km,
                },
            )
            .unwrap();
        assert_eq!(stored, 5);
        assert_eq!(
            c.zscore("dst", "Palermo").unwrap(),
            Some(3_479_099_956_230_698.0)
        );
        let stored = c
            .geosearchstore_with(
                "dists",
                "Sicily",
                GeosearchstoreFrom::Member(Bytes::from_static(b"Palermo")),
                GeosearchstoreBy::Circle {
                    radius: 200.0,
                    unit: GeoUnit::Km,
                },
                &GeosearchstoreOptions::new()
                    .asc()
                    .count_block(2)
                    .storedist(),
            )
            .unwrap();
        assert_eq!(stored, 2);
        let members: Vec<String> = c.zrange("dists", 0, -1).unwrap();
        assert_eq!(members, ["Palermo", "Agrigento"]);
        assert_close(
            c.zscore("dists", "Agrigento").unwrap().unwrap(),
            90.9778,
            1e-3,
        );
        let stored = c
            .geosearchstore_with(
                "one",
                "Sicily",
                GeosearchstoreFrom::Member(Bytes::from_static(b"Palermo")),
                GeosearchstoreBy::Circle {
                    radius: 200.0,
                    unit: GeoUnit::Km,
                },
                &GeosearchstoreOptions::new().count_block(1).any().desc(),
            )
            .unwrap();
        assert_eq!(stored, 1);
    });
}

#[test]
fn georadius_family_with_store_and_ro_forms() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        add_sicily(c);

        let found: Vec<String> = c.georadius("Sicily", 15, 37, 200, GeoUnit::Km).unwrap();
        assert_eq!(sorted(found), ["Agrigento", "Catania", "Palermo"]);
        let found: Vec<String> = c.georadius("Sicily", 15, 37, 100, GeoUnit::Mi).unwrap();
        assert_eq!(sorted(found), ["Agrigento", "Catania"]);

        let rich: Vec<GeoMember> = c
            .georadius_with(
                "Sicily",
                15,
                37,
                200,
                GeoUnit::Km,
                &GeoradiusOptions::new()
                    .withdist()
                    .withcoord()
                    .withhash()
                    .asc(),
            )
            .unwrap();
        assert_eq!(names(&rich), ["Catania", "Agrigento", "Palermo"]);
        assert_close(rich[0].distance.unwrap(), 56.4413, 1e-3);
        assert_close(rich[2].distance.unwrap(), 190.4424, 1e-3);
        assert_eq!(rich[2].hash, Some(3_479_099_956_230_698));
        let (lon, lat) = rich[2].position.unwrap();
        assert_close(lon, PALERMO.0, 1e-5);
        assert_close(lat, PALERMO.1, 1e-5);

        let farthest: Vec<String> = c
            .georadius_with(
                "Sicily",
                15,
                37,
                200,
                GeoUnit::Km,
                &GeoradiusOptions::new().desc().count_block(1),
            )
            .unwrap();
        assert_eq!(farthest, ["Palermo"]);
        let any: Vec<String> = c
            .georadius_with(
                "Sicily",
                15,
                37,
                200,
                GeoUnit::Km,
                &GeoradiusOptions::new().count_block(1).any(),
            )
            .unwrap();
        assert_eq!(any.len(), 1);

        // STORE (geohash scores) and STOREDIST (distances) reply with a count.
        let stored: i64 = c
            .georadius_with(
                "Sicily",
                15,
                37,
                200,
                GeoUnit::Km,
                &GeoradiusOptions::new().store("near"),
            )
            .unwrap();
        assert_eq!(stored, 3);
        assert_eq!(
            c.zscore("near", "Catania").unwrap(),
            Some(3_479_447_370_796_909.0)
        );
        let stored: i64 = c
            .georadius_with(
                "Sicily",
                15,
                37,
                200,
                GeoUnit::Km,
                &GeoradiusOptions::new()
                    .asc()
                    .count_block(2)
                    .storedist("neardist"),
            )
            .unwrap();
        assert_eq!(stored, 2);
        let members: Vec<String> = c.zrange("neardist", 0, -1).unwrap();
        assert_eq!(members, ["Catania", "Agrigento"]);
        assert_close(
            c.zscore("neardist", "Catania").unwrap().unwrap(),
            56.4413,
            1e-3,
        );
        let e = server_error(c.georadius_with::<Value>(
            "Sicily",
            15,
            37,
            200,
            GeoUnit::Km,
            &GeoradiusOptions::new().withdist().store("x"),
        ));
        assert!(e.message().contains("not compatible"), "{e}");

        // The read-only forms, in metres and feet.
        let found: Vec<String> = c
            .georadius_ro("Sicily", 15, 37, 60_000, GeoUnit::M)
            .unwrap();
        assert_eq!(found, ["Catania"]);
        let found: Vec<GeoMember> = c
            .georadius_ro_with(
                "Sicily",
                15,
                37,
                200_000,
                GeoUnit::Ft,
                &GeoradiusRoOptions::new().withdist(),
            )
            .unwrap();
        assert_eq!(names(&found), ["Catania"]);
        assert_close(found[0].distance.unwrap(), 185_174.730_5, 1e-2);

        // By member.
        let found: Vec<String> = c
            .georadiusbymember("Sicily", "Agrigento", 100, GeoUnit::Km)
            .unwrap();
        assert_eq!(sorted(found), ["Agrigento", "Palermo"]);
        let found: Vec<GeoMember> = c
            .georadiusbymember_with(
                "Sicily",
                "Agrigento",
                100,
                GeoUnit::Km,
                &GeoradiusbymemberOptions::new().withdist().asc(),
            )
            .unwrap();
        assert_eq!(names(&found), ["Agrigento", "Palermo"]);
        assert_close(found[1].distance.unwrap(), 90.9778, 1e-3);
        let stored: i64 = c
            .georadiusbymember_with(
                "Sicily",
                "Agrigento",
                100,
                GeoUnit::Km,
                &GeoradiusbymemberOptions::new().storedist("bym"),
            )
            .unwrap();
        assert_eq!(stored, 2);
        assert_close(c.zscore("bym", "Palermo").unwrap().unwrap(), 90.9778, 1e-3);
        let stored: i64 = c
            .georadiusbymember_with(
                "Sicily",
                "Agrigento",
                100,
                GeoUnit::Km,
                &GeoradiusbymemberOptions::new().store("bym2"),
            )
            .unwrap();
        assert_eq!(stored, 2);
        assert_eq!(c.zcard("bym2").unwrap(), 2);
        let found: Vec<String> = c
            .georadiusbymember_ro("Sicily", "Palermo", 92, GeoUnit::Km)
            .unwrap();
        assert_eq!(sorted(found), ["Agrigento", "Palermo", "edge1"]);
        let found: Vec<GeoMember> = c
            .georadiusbymember_ro_with(
                "Sicily",
                "Agrigento",
                100,
                GeoUnit::Km,
                &GeoradiusbymemberRoOptions::new()
                    .withcoord()
                    .desc()
                    .count_block(1),
            )
            .unwrap();
        assert_eq!(names(&found), ["Palermo"]);
        let (lon, lat) = found[0].position.unwrap();
        assert_close(lon, PALERMO.0, 1e-5);
        assert_close(lat, PALERMO.1, 1e-5);
        let e = server_error(c.georadiusbymember::<Vec<String>>(
            "Sicily",
            "Atlantis",
            100,
            GeoUnit::Km,
        ));
        assert!(e.message().contains("could not decode"), "{e}");
    });
}

// ---------------------------------------------------------------------------------------------
// Scripting: EVAL and the script cache
// ---------------------------------------------------------------------------------------------

#[test]
fn eval_evalsha_and_the_script_cache() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.script_flush().unwrap();

        let one: i64 = c.eval("return 1", NONE, NONE).unwrap();
        assert_eq!(one, 1);
        let echoed: Vec<String> = c
            .eval(
                "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2]}",
                ["k1", "k2"],
                ["a1", "a2"],
            )
            .unwrap();
        assert_eq!(echoed, ["k1", "k2", "a1", "a2"]);
        let status: String = c
            .eval("return redis.call('SET', KEYS[1], ARGV[1])", "k", "v")
            .unwrap();
        assert_eq!(status, "OK");
        // Lua numbers are truncated to integers; nil and false are nulls.
        let truncated: i64 = c.eval("return 3.99", NONE, NONE).unwrap();
        assert_eq!(truncated, 3);
        let nil: Option<String> = c.eval("return nil", NONE, NONE).unwrap();
        assert_eq!(nil, None);
        let falsy: Option<i64> = c.eval("return false", NONE, NONE).unwrap();
        assert_eq!(falsy, None);
        let e = server_error(c.eval::<Value>("return redis.error_reply('MYERR boom')", NONE, NONE));
        assert_eq!(e.code(), "MYERR");
        let e = server_error(c.eval::<Value>("return +", NONE, NONE));
        assert!(e.message().contains("compiling"), "{e}");

        // EVAL_RO runs reads and refuses writes.
        let got: Option<String> = c
            .eval_ro("return redis.call('GET', KEYS[1])", "k", NONE)
            .unwrap();
        assert_eq!(got.as_deref(), Some("v"));
        let e = server_error(c.eval_ro::<Value>("return redis.call('DEL', KEYS[1])", "k", NONE));
        assert!(
            e.message().contains("Write commands are not allowed"),
            "{e}"
        );

        // SCRIPT LOAD returns the SHA1; EVALSHA and EVALSHA_RO run it.
        let sha: String = c.script_load("return ARGV[1] .. KEYS[1]").unwrap();
        assert_eq!(sha.len(), 40);
        assert!(sha.bytes().all(|b| b.is_ascii_hexdigit()), "{sha}");
        let again: String = c.script_load("return ARGV[1] .. KEYS[1]").unwrap();
        assert_eq!(again, sha);
        let joined: String = c.evalsha(&sha, "key", "arg-").unwrap();
        assert_eq!(joined, "arg-key");
        let joined: String = c.evalsha_ro(sha.as_str(), ["key"], ["ro-"]).unwrap();
        assert_eq!(joined, "ro-key");
        let reader: String = c.script_load("return redis.call('GET', KEYS[1])").unwrap();
        let got: String = c.evalsha_ro(&reader, "k", NONE).unwrap();
        assert_eq!(got, "v");

        let unknown = "0000000000000000000000000000000000000000";
        let exists: Vec<bool> = c.script_exists([sha.as_str(), unknown]).unwrap();
        assert_eq!(exists, [true, false]);
        assert_invalid(c.script_exists::<Vec<bool>>(Vec::<&str>::new()));

        // SCRIPT FLUSH empties the cache, in every mode.
        c.script_flush().unwrap();
        let exists: Vec<bool> = c.script_exists(&sha).unwrap();
        assert_eq!(exists, [false]);
        let e = server_error(c.evalsha::<Value>(&sha, "key", "arg"));
        assert_eq!(e.kind(), ServerErrorKind::NoScript);
        let e = server_error(c.evalsha_ro::<Value>(&sha, "key", "arg"));
        assert_eq!(e.kind(), ServerErrorKind::NoScript);
        for options in [
            ScriptFlushOptions::new().asynchronous(),
            ScriptFlushOptions::new().sync(),
        ] {
            let sha: String = c.script_load("return 2").unwrap();
            c.script_flush_with(&options).unwrap();
            let exists: Vec<bool> = c.script_exists(&sha).unwrap();
            assert_eq!(exists, [false]);
        }

        let help: Vec<String> = c.script_help().unwrap();
        assert!(help[0].starts_with("SCRIPT"), "{help:?}");
        assert!(help.iter().any(|l| l.contains("FLUSH")), "{help:?}");
    });
}

/// Retries `kill` until a script or function is running (NOTBUSY means it has not started
/// yet), for at most ten seconds.
fn kill_when_busy(what: &str, mut kill: impl FnMut() -> Result<(), Error>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match kill() {
            Ok(()) => return,
            Err(Error::Server(e)) if e.code() == "NOTBUSY" && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Reads the error a killed script's caller gets.
fn killed_reply(raw: &mut RawConnection) -> String {
    let reply = raw.read_value().expect("the busy caller's reply");
    let message = reply
        .as_error()
        .unwrap_or_else(|| panic!("an error reply, got {reply:?}"));
    String::from_utf8_lossy(message).into_owned()
}

#[test]
fn script_kill_and_script_debug() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // Nothing running: NOTBUSY.
        let e = server_error(c.script_kill());
        assert_eq!(e.code(), "NOTBUSY");

        // A read-only script looping on another connection: SCRIPT KILL stops it.
        c.config_set([("busy-reply-threshold", "50")]).unwrap();
        let mut raw = s.server.raw();
        raw.send(["EVAL", "while true do end", "0"]).unwrap();
        kill_when_busy("SCRIPT KILL", || c.script_kill());
        let message = killed_reply(&mut raw);
        assert!(message.contains("killed"), "{message}");
        assert_eq!(server_error(c.script_kill()).code(), "NOTBUSY");
        // The server serves again.
        let one: i64 = c.eval("return 1", NONE, NONE).unwrap();
        assert_eq!(one, 1);
    });

    // SCRIPT DEBUG is not generated: a debugging session would take over a pooled
    // connection (overrides.ini).
}

// ---------------------------------------------------------------------------------------------
// Scripting: functions
// ---------------------------------------------------------------------------------------------

const LIBRARY: &str = "#!lua name=mylib
redis.register_function('echo', function(keys, args) return {keys[1], args[1]} end)
redis.register_function{
  function_name = 'getkey',
  callback = function(keys) return redis.call('GET', keys[1]) end,
  flags = {'no-writes'},
  description = 'reads a key',
}
redis.register_function('setkey', function(keys, args) return redis.call('SET', keys[1], args[1]) end)
";

const LIBRARY_V2: &str = "#!lua name=mylib
redis.register_function('echo', function(keys, args) return {args[1], keys[1]} end)
";

const SPIN_LIBRARY: &str = "#!lua name=spinlib
redis.register_function{
  function_name = 'spin',
  callback = function() while true do end end,
  flags = {'no-writes'},
}
";

fn libraries(c: &Client) -> Vec<FunctionLibrary> {
    c.function_list().unwrap()
}

#[test]
fn functions_load_call_list_dump_and_restore() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        // FLUSHALL leaves functions: start from none.
        c.function_flush().unwrap();
        assert!(libraries(c).is_empty());

        let name: String = c.function_load(LIBRARY).unwrap();
        assert_eq!(name, "mylib");
        let e = server_error(c.function_load::<String>(LIBRARY));
        assert!(e.message().contains("already exists"), "{e}");

        // FCALL with keys and arguments; FCALL_RO only runs no-writes functions.
        let echoed: Vec<String> = c.fcall("echo", "k", "a").unwrap();
        assert_eq!(echoed, ["k", "a"]);
        let status: String = c.fcall("setkey", ["k"], ["v"]).unwrap();
        assert_eq!(status, "OK");
        let got: Option<String> = c.fcall_ro("getkey", "k", NONE).unwrap();
        assert_eq!(got.as_deref(), Some("v"));
        let got: Option<String> = c.fcall("getkey", "nokey", NONE).unwrap();
        assert_eq!(got, None);
        let e = server_error(c.fcall_ro::<Value>("setkey", "k", "w"));
        assert!(e.message().contains("write flag"), "{e}");
        let e = server_error(c.fcall::<Value>("nosuchfunction", NONE, NONE));
        assert!(e.message().contains("not found"), "{e}");

        // FUNCTION LIST: the libraries, their functions, flags and descriptions.
        let list = libraries(c);
        assert_eq!(list.len(), 1);
        let lib = &list[0];
        assert_eq!(lib.library_name, "mylib");
        assert_eq!(lib.engine, "LUA");
        assert_eq!(lib.library_code, None);
        let mut functions: Vec<&str> = lib.functions.iter().map(|f| f.name.as_str()).collect();
        functions.sort_unstable();
        assert_eq!(functions, ["echo", "getkey", "setkey"]);
        let getkey = lib.function("getkey").unwrap();
        assert_eq!(getkey.flags, ["no-writes"]);
        assert_eq!(getkey.description.as_deref(), Some("reads a key"));
        assert!(lib.function("echo").unwrap().flags.is_empty());
        let with_code: Vec<FunctionLibrary> = c
            .function_list_with(&FunctionListOptions::new().libraryname("my*").withcode())
            .unwrap();
        assert_eq!(with_code.len(), 1);
        assert_eq!(with_code[0].library_code.as_deref(), Some(LIBRARY));
        let none: Vec<FunctionLibrary> = c
            .function_list_with(&FunctionListOptions::new().libraryname("other*"))
            .unwrap();
        assert!(none.is_empty());

        // FUNCTION STATS counts libraries and functions per engine.
        let stats: FunctionStats = c.function_stats().unwrap();
        assert!(stats.running_script.is_none());
        let lua = &stats.engines["LUA"];
        assert_eq!((lua.libraries_count, lua.functions_count), (1, 3));

        // FUNCTION DUMP / RESTORE round trip, and the restore policies.
        let dump: Bytes = c.function_dump().unwrap();
        assert!(!dump.is_empty());
        c.function_flush().unwrap();
        assert!(libraries(c).is_empty());
        c.function_restore(&dump).unwrap();
        assert_eq!(libraries(c)[0].library_name, "mylib");
        let e = server_error(c.function_restore(&dump));
        assert!(e.message().contains("already exists"), "{e}");
        let e =
            server_error(c.function_restore_with(&dump, &FunctionRestoreOptions::new().append()));
        assert!(e.message().contains("already exists"), "{e}");
        c.function_restore_with(&dump, &FunctionRestoreOptions::new().replace())
            .unwrap();
        let other: String = c.function_load(SPIN_LIBRARY).unwrap();
        assert_eq!(other, "spinlib");
        // FLUSH drops every library before restoring.
        c.function_restore_with(&dump, &FunctionRestoreOptions::new().flush())
            .unwrap();
        let list = libraries(c);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].library_name, "mylib");
        let e = server_error(c.function_restore("not a dump"));
        assert!(e.message().contains("payload"), "{e}");

        // LOAD REPLACE swaps the library's code.
        let name: String = c
            .function_load_with(LIBRARY_V2, &FunctionLoadOptions::new().replace())
            .unwrap();
        assert_eq!(name, "mylib");
        let echoed: Vec<String> = c.fcall("echo", "k", "a").unwrap();
        assert_eq!(echoed, ["a", "k"]);
        assert_eq!(libraries(c)[0].functions.len(), 1);

        // DELETE, and FLUSH in both modes.
        c.function_delete("mylib").unwrap();
        assert!(libraries(c).is_empty());
        let e = server_error(c.function_delete("mylib"));
        assert!(e.message().contains("not found"), "{e}");
        for options in [
            FunctionFlushOptions::new().asynchronous(),
            FunctionFlushOptions::new().sync(),
        ] {
            let _: String = c.function_load(LIBRARY).unwrap();
            c.function_flush_with(&options).unwrap();
            assert!(libraries(c).is_empty());
        }

        let help: Vec<String> = c.function_help().unwrap();
        assert!(help[0].starts_with("FUNCTION"), "{help:?}");
        assert!(help.iter().any(|l| l.contains("RESTORE")), "{help:?}");
    });
}

#[test]
fn function_kill_and_stats_of_a_running_function() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        c.function_flush().unwrap();
        let e = server_error(c.function_kill());
        assert_eq!(e.code(), "NOTBUSY");

        let _: String = c.function_load(SPIN_LIBRARY).unwrap();
        c.config_set([("busy-reply-threshold", "50")]).unwrap();
        let mut raw = s.server.raw();
        raw.send(["FCALL", "spin", "0"]).unwrap();

        // FUNCTION STATS is served while the function runs, and names it.
        let deadline = Instant::now() + Duration::from_secs(10);
        let running = loop {
            let stats: FunctionStats = c.function_stats().unwrap();
            if let Some(running) = stats.running_script {
                break running;
            }
            assert!(
                Instant::now() < deadline,
                "the function never showed up as running"
            );
            thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(running.name, "spin");
        assert_eq!(
            running.command,
            [
                Bytes::from_static(b"FCALL"),
                Bytes::from_static(b"spin"),
                Bytes::from_static(b"0")
            ]
        );

        kill_when_busy("FUNCTION KILL", || c.function_kill());
        let message = killed_reply(&mut raw);
        assert!(message.contains("killed"), "{message}");
        assert_eq!(server_error(c.function_kill()).code(), "NOTBUSY");
        let stats: FunctionStats = c.function_stats().unwrap();
        assert!(stats.running_script.is_none());
    });
}

// ---------------------------------------------------------------------------------------------
// Pub/sub: the generated commands (SUBSCRIBE and co. are not generated)
// ---------------------------------------------------------------------------------------------

fn read_push(raw: &mut RawConnection) -> Vec<String> {
    let value = raw.read_value().expect("a pub/sub message");
    Vec::<String>::from_reply(value).expect("a message of strings")
}

#[test]
fn publish_and_pubsub_introspection() {
    let s = CommandServer::start();
    // A RESP2 subscriber on two channels, one pattern and one shard channel.
    let mut sub = s.server.raw();
    sub.send(["SUBSCRIBE", "news", "sports"]).unwrap();
    assert_eq!(read_push(&mut sub), ["subscribe", "news", "1"]);
    assert_eq!(read_push(&mut sub), ["subscribe", "sports", "2"]);
    sub.send(["PSUBSCRIBE", "n*"]).unwrap();
    assert_eq!(read_push(&mut sub), ["psubscribe", "n*", "3"]);
    sub.send(["SSUBSCRIBE", "shard1"]).unwrap();
    assert_eq!(read_push(&mut sub), ["ssubscribe", "shard1", "1"]);

    s.each_protocol(|c, _| {
        assert_eq!(c.publish("other", "x").unwrap(), 0);
        // The channel subscription and the pattern both receive it.
        assert_eq!(c.publish("news", "hello").unwrap(), 2);
        assert_eq!(c.publish("nfoo", "x").unwrap(), 1);
        assert_eq!(c.publish("sports", "goal").unwrap(), 1);
        assert_eq!(c.spublish("shard1", "s").unwrap(), 1);
        assert_eq!(c.spublish("shard2", "s").unwrap(), 0);

        let channels: Vec<String> = c.pubsub_channels().unwrap();
        assert_eq!(sorted(channels), ["news", "sports"]);
        let channels: Vec<String> = c
            .pubsub_channels_with(&PubsubChannelsOptions::new().pattern("n*"))
            .unwrap();
        assert_eq!(channels, ["news"]);

        let numsub: Vec<(String, u64)> = c.pubsub_numsub().unwrap();
        assert!(numsub.is_empty());
        let numsub: Vec<(String, u64)> = c
            .pubsub_numsub_with(&PubsubNumsubOptions::new().channel(["news", "sports", "nobody"]))
            .unwrap();
        assert_eq!(
            numsub,
            [
                ("news".to_owned(), 1),
                ("sports".to_owned(), 1),
                ("nobody".to_owned(), 0)
            ]
        );
        let as_map: HashMap<String, u64> = c
            .pubsub_numsub_with(&PubsubNumsubOptions::new().channel("news"))
            .unwrap();
        assert_eq!(as_map["news"], 1);
        assert_eq!(c.pubsub_numpat().unwrap(), 1);

        let shards: Vec<String> = c.pubsub_shardchannels().unwrap();
        assert_eq!(shards, ["shard1"]);
        let shards: Vec<String> = c
            .pubsub_shardchannels_with(&PubsubShardchannelsOptions::new().pattern("shard*"))
            .unwrap();
        assert_eq!(shards, ["shard1"]);
        let shards: Vec<String> = c
            .pubsub_shardchannels_with(&PubsubShardchannelsOptions::new().pattern("x*"))
            .unwrap();
        assert!(shards.is_empty());
        let shardnumsub: Vec<(String, u64)> = c.pubsub_shardnumsub().unwrap();
        assert!(shardnumsub.is_empty());
        let shardnumsub: Vec<(String, u64)> = c
            .pubsub_shardnumsub_with(
                &PubsubShardnumsubOptions::new().shardchannel(["shard1", "shard2"]),
            )
            .unwrap();
        assert_eq!(
            shardnumsub,
            [("shard1".to_owned(), 1), ("shard2".to_owned(), 0)]
        );

        let help: Vec<String> = c.pubsub_help().unwrap();
        assert!(help[0].starts_with("PUBSUB"), "{help:?}");
        assert!(help.iter().any(|l| l.contains("NUMSUB")), "{help:?}");
    });

    // What the subscriber received, once per protocol run.
    for _ in 0..2 {
        assert_eq!(read_push(&mut sub), ["message", "news", "hello"]);
        assert_eq!(read_push(&mut sub), ["pmessage", "n*", "news", "hello"]);
        assert_eq!(read_push(&mut sub), ["pmessage", "n*", "nfoo", "x"]);
        assert_eq!(read_push(&mut sub), ["message", "sports", "goal"]);
        assert_eq!(read_push(&mut sub), ["smessage", "shard1", "s"]);
    }
}

// ---------------------------------------------------------------------------------------------
// The same methods on pipelines and transactions
// ---------------------------------------------------------------------------------------------

#[test]
fn stream_geo_and_script_methods_queue_on_pipelines() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        let mut pipe = c.pipeline();
        pipe.transaction(false);
        pipe.xadd("ps", "1-0", [("f", "v")])
            .xlen("ps")
            .geoadd("pg", [(PALERMO.0, PALERMO.1, "Palermo")])
            .publish("nobody", "x");
        let (id, len, added, receivers): (String, u64, i64, u64) = pipe.query().unwrap();
        assert_eq!((id.as_str(), len, added, receivers), ("1-0", 1, 1, 0));

        let mut transaction = c.pipeline();
        transaction
            .eval("return ARGV[1]", NONE, "x")
            .geopos("pg", "Palermo")
            .xrange("ps", "-", "+");
        let (x, positions, entries): (String, Vec<Position>, Vec<StreamEntry>) =
            transaction.query().unwrap();
        assert_eq!(x, "x");
        let (lon, lat) = positions[0].unwrap();
        assert_close(lon, PALERMO.0, 1e-5);
        assert_close(lat, PALERMO.1, 1e-5);
        assert_eq!(ids(&entries), ["1-0"]);
    });
}

// ---------------------------------------------------------------------------------------------
// Option combinations the option structs accept but the server refuses
// ---------------------------------------------------------------------------------------------

/// GENERATOR: these option structs let a caller set a modifier without the argument it
/// modifies (`=`/`~`/`LIMIT` without a trim strategy, `COUNT` without `FULL`, `IDLE` or a
/// consumer without the range, `ANY` without `COUNT`, unequal key and id lists); the server
/// refuses the command. Whether the refusal comes from the client or the server, it must be
/// an error.
#[test]
fn incomplete_option_combinations_are_errors() {
    let s = CommandServer::start();
    let c = s.client(Protocol::Resp3);
    add_numbered(&c, "s", 1..=2);
    c.xgroup_create("s", "g", "0").unwrap();
    add_sicily(&c);

    let r = c.xadd_with::<Value>("s", "*", [("f", "v")], &XaddOptions::new().equal());
    assert!(r.is_err(), "{r:?}");
    let r = c.xadd_with::<Value>("s", "*", [("f", "v")], &XaddOptions::new().limit(1));
    assert!(r.is_err(), "{r:?}");
    let r = c.xinfo_stream_with::<Value>("s", &XinfoStreamOptions::new().count(1));
    assert!(r.is_err(), "{r:?}");
    let r = c.xpending_with("s", "g", &XpendingOptions::new().idle(10));
    assert!(r.is_err(), "{r:?}");
    let r = c.xpending_with("s", "g", &XpendingOptions::new().consumer("alice"));
    assert!(r.is_err(), "{r:?}");
    let r = c.georadius_with::<Value>(
        "Sicily",
        15,
        37,
        200,
        GeoUnit::Km,
        &GeoradiusOptions::new().any(),
    );
    assert!(r.is_err(), "{r:?}");
    let r = c.geosearch_with::<Value>(
        "Sicily",
        GeosearchFrom::Fromlonlat {
            longitude: 15.0,
            latitude: 37.0,
        },
        GeosearchBy::Circle {
            radius: 200.0,
            unit: GeoUnit::Km,
        },
        &GeosearchOptions::new().any(),
    );
    assert!(r.is_err(), "{r:?}");
    let r = c.xread(["s", "other"], ["0"]);
    assert!(r.is_err(), "{r:?}");
    // The client is still usable after each refusal.
    assert_eq!(c.xlen("s").unwrap(), 2);
}
