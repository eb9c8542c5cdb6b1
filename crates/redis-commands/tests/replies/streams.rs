//! Stream entries, XREAD, XAUTOCLAIM, XINFO and XPENDING.

use bytes::Bytes;
use redis_commands::FromReply;
use redis_commands::replies::{
    StreamEntry, StreamRead, XAutoClaim, XInfoConsumer, XInfoGroup, XInfoStream, XPendingEntry,
    XPendingSummary,
};
use resp_proto::Value;

use super::{array, both_shapes, bulk, decode, int, map};

/// Captured: XRANGE s - + (the same in RESP2 and RESP3).
const XRANGE: &[u8] =
    b"*2\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n\
*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n";

fn field(f: &'static str, v: &'static str) -> (Bytes, Bytes) {
    (Bytes::from(f), Bytes::from(v))
}

#[test]
fn xrange_entries() {
    let entries = Vec::<StreamEntry>::from_reply(decode(XRANGE)).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].id, "1-1");
    assert_eq!(entries[0].fields, [field("a", "1"), field("b", "2")]);
    assert_eq!(entries[0].get("b"), Some(&Bytes::from("2")));
    assert_eq!(entries[0].get(b"b"), Some(&Bytes::from("2")));
    assert_eq!(entries[1].get_str("c"), Some("3"));
    assert_eq!(entries[1].get("a"), None);
    assert!(!entries[1].deleted);
}

#[test]
fn entries_with_null_fields_are_deleted_and_null_entries_skipped() {
    // Captured: XREADGROUP GROUP g c1 STREAMS s2 0 after XDEL s2 1-1 (RESP2).
    let reply = decode(
        b"*1\r\n*2\r\n$2\r\ns2\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*-1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n\
$1\r\ny\r\n$1\r\n2\r\n",
    );
    let read = StreamRead::from_reply(reply).unwrap();
    let entries = read.get("s2").unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].deleted);
    assert_eq!(entries[0].id, "1-1");
    assert!(entries[0].fields.is_empty());
    assert!(!entries[1].deleted);
    assert_eq!(entries[1].get_str("y"), Some("2"));
    // XCLAIM on servers before 7.0: null elements for deleted entries.
    let claimed = array(vec![
        Value::Null,
        array(vec![bulk("5-0"), array(vec![bulk("k"), bulk("v")])]),
    ]);
    let entries = Vec::<StreamEntry>::from_reply(claimed.clone()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].id, "5-0");
    let kept = Vec::<Option<StreamEntry>>::from_reply(claimed).unwrap();
    assert_eq!(kept.len(), 2);
    assert!(kept[0].is_none());
}

#[test]
fn malformed_entries_are_errors() {
    assert!(StreamEntry::from_reply(array(vec![bulk("1-1")])).is_err());
    assert!(StreamEntry::from_reply(array(vec![bulk("1-1"), array(vec![bulk("a")])])).is_err());
    assert!(StreamEntry::from_reply(bulk("1-1")).is_err());
    assert!(StreamEntry::from_reply(Value::Null).is_err());
    let err = Vec::<StreamEntry>::from_reply(array(vec![int(3)])).unwrap_err();
    assert!(err.to_string().contains("entry 0"), "{err}");
    // A map of fields (a possible RESP3 form) is read too.
    let e =
        StreamEntry::from_reply(array(vec![bulk("1-1"), map(vec![(bulk("a"), int(1))])])).unwrap();
    assert_eq!(e.get_str("a"), Some("1"));
}

#[test]
fn xread_in_both_protocols_and_on_timeout() {
    // Captured: XREAD COUNT 10 STREAMS s 0 in RESP2 and RESP3.
    let resp2 = decode(
        b"*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n\
$1\r\n2\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
    );
    let resp3 = decode(
        b"%1\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n\
$1\r\n2\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
    );
    let expected = Vec::<StreamEntry>::from_reply(decode(XRANGE)).unwrap();
    for reply in [resp2, resp3] {
        let read = StreamRead::from_reply(reply).unwrap();
        assert_eq!(read.streams.len(), 1);
        assert_eq!(read.streams[0].0, "s");
        assert_eq!(read.get("s"), Some(expected.as_slice()));
        assert!(read.get("t").is_none());
        assert!(!read.is_empty());
    }
    // Captured: XREAD ... STREAMS s $ with nothing new, RESP2 (*-1) and RESP3 (_).
    for reply in [decode(b"*-1\r\n"), decode(b"_\r\n")] {
        let read = StreamRead::from_reply(reply).unwrap();
        assert!(read.is_empty());
        assert_eq!(read.iter().count(), 0);
    }
    // Two streams, one of them with nothing new (RESP3 XREADGROUP shape).
    let two = map(vec![
        (bulk("a"), array(vec![])),
        (
            bulk("b"),
            array(vec![array(vec![
                bulk("9-0"),
                array(vec![bulk("f"), bulk("v")]),
            ])]),
        ),
    ]);
    let read = StreamRead::from_reply(two).unwrap();
    let keys: Vec<String> = read.clone().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(read.get("b").unwrap()[0].id, "9-0");
    assert!(StreamRead::from_reply(int(1)).is_err());
}

#[test]
fn xautoclaim_full_justid_and_deleted() {
    // Captured: XAUTOCLAIM s g bob 0 0.
    let full = decode(
        b"*3\r\n$3\r\n0-0\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n\
$1\r\n2\r\n*0\r\n",
    );
    let claim = XAutoClaim::from_reply(full).unwrap();
    assert_eq!(claim.next_cursor, "0-0");
    assert_eq!(claim.entries.len(), 1);
    assert_eq!(claim.entries[0].get_str("a"), Some("1"));
    assert_eq!(claim.claimed_ids, ["1-1"]);
    assert!(claim.deleted_ids.is_empty());
    // Captured: the same with JUSTID.
    let justid = decode(b"*3\r\n$3\r\n0-0\r\n*1\r\n$3\r\n1-1\r\n*0\r\n");
    let claim = XAutoClaim::from_reply(justid).unwrap();
    assert!(claim.entries.is_empty());
    assert_eq!(claim.claimed_ids, ["1-1"]);
    // Captured: XAUTOCLAIM s2 g c2 0 0 after XDEL of a pending entry.
    let deleted = decode(
        b"*3\r\n$3\r\n0-0\r\n*1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n*1\r\n$3\r\n1-1\r\n",
    );
    let claim = XAutoClaim::from_reply(deleted).unwrap();
    assert_eq!(claim.claimed_ids, ["2-1"]);
    assert_eq!(claim.deleted_ids, ["1-1"]);
    // Redis 6.2: two elements.
    let old = array(vec![bulk("5-0"), array(vec![])]);
    let claim = XAutoClaim::from_reply(old).unwrap();
    assert_eq!(claim.next_cursor, "5-0");
    assert!(claim.deleted_ids.is_empty());
    assert!(XAutoClaim::from_reply(array(vec![bulk("0-0")])).is_err());
}

#[test]
fn xinfo_stream_in_both_protocols() {
    // Captured: XINFO STREAM s in RESP2 and RESP3.
    let body =
        b"$6\r\nlength\r\n:2\r\n$15\r\nradix-tree-keys\r\n:1\r\n$16\r\nradix-tree-nodes\r\n:2\r\n\
$17\r\nlast-generated-id\r\n$3\r\n2-1\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n0-0\r\n\
$13\r\nentries-added\r\n:2\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n1-1\r\n$6\r\ngroups\r\n:1\r\n\
$11\r\nfirst-entry\r\n*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n\
$10\r\nlast-entry\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n";
    let resp2 = decode(&[&b"*20\r\n"[..], body].concat());
    let resp3 = decode(&[&b"%10\r\n"[..], body].concat());
    for reply in [resp2, resp3] {
        let info = XInfoStream::from_reply(reply).unwrap();
        assert_eq!(info.length, 2);
        assert_eq!((info.radix_tree_keys, info.radix_tree_nodes), (1, 2));
        assert_eq!(info.groups, 1);
        assert_eq!(info.last_generated_id, "2-1");
        assert_eq!(info.max_deleted_entry_id.as_deref(), Some("0-0"));
        assert_eq!(info.entries_added, Some(2));
        assert_eq!(info.recorded_first_entry_id.as_deref(), Some("1-1"));
        assert_eq!(
            info.first_entry.as_ref().map(|e| e.id.as_str()),
            Some("1-1")
        );
        assert_eq!(
            info.last_entry.as_ref().and_then(|e| e.get_str("c")),
            Some("3")
        );
        assert!(info.extra.is_empty());
    }
    // An empty stream (captured, RESP3: null entries), a 5.0-style reply, and a new field.
    let empty = decode(
        b"%10\r\n$6\r\nlength\r\n:0\r\n$15\r\nradix-tree-keys\r\n:0\r\n$16\r\nradix-tree-nodes\r\n:1\r\n\
$17\r\nlast-generated-id\r\n$3\r\n1-1\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n1-1\r\n\
$13\r\nentries-added\r\n:1\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n0-0\r\n$6\r\ngroups\r\n:0\r\n\
$11\r\nfirst-entry\r\n_\r\n$10\r\nlast-entry\r\n_\r\n",
    );
    let info = XInfoStream::from_reply(empty).unwrap();
    assert!(info.first_entry.is_none() && info.last_entry.is_none());
    let [old, _] = both_shapes(vec![
        (bulk("length"), int(0)),
        (bulk("radix-tree-keys"), int(0)),
        (bulk("radix-tree-nodes"), int(1)),
        (bulk("groups"), int(0)),
        (bulk("last-generated-id"), bulk("0-0")),
        (bulk("first-entry"), Value::Null),
        (bulk("last-entry"), Value::Null),
        (bulk("future-field"), bulk("x")),
    ]);
    let info = XInfoStream::from_reply(old).unwrap();
    assert_eq!(info.entries_added, None);
    assert_eq!(info.extra.get("future-field"), Some(&bulk("x")));
    let err = XInfoStream::from_reply(array(vec![bulk("length"), int(1)])).unwrap_err();
    assert!(err.to_string().contains("missing field"), "{err}");
}

#[test]
fn xinfo_groups_and_consumers() {
    // Captured: XINFO GROUPS s (RESP2) and XINFO CONSUMERS s g (RESP3).
    let groups = decode(
        b"*1\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:1\r\n\
$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:1\r\n",
    );
    let groups = Vec::<XInfoGroup>::from_reply(groups).unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g.name, "g");
    assert_eq!((g.consumers, g.pending), (1, 1));
    assert_eq!(g.last_delivered_id, "1-1");
    assert_eq!((g.entries_read, g.lag), (Some(1), Some(1)));
    // The lag is null when the server cannot compute it.
    let [_, resp3] = both_shapes(vec![
        (bulk("name"), bulk("g2")),
        (bulk("consumers"), int(0)),
        (bulk("pending"), int(0)),
        (bulk("last-delivered-id"), bulk("0-0")),
        (bulk("entries-read"), Value::Null),
        (bulk("lag"), Value::Null),
    ]);
    let g = XInfoGroup::from_reply(resp3).unwrap();
    assert_eq!((g.entries_read, g.lag), (None, None));

    let consumers = decode(
        b"*2\r\n%3\r\n$4\r\nname\r\n$5\r\nalice\r\n$7\r\npending\r\n:0\r\n$4\r\nidle\r\n:13753\r\n\
%4\r\n$4\r\nname\r\n$5\r\ncarol\r\n$7\r\npending\r\n:1\r\n$4\r\nidle\r\n:7219\r\n\
$8\r\ninactive\r\n:-1\r\n",
    );
    let consumers = Vec::<XInfoConsumer>::from_reply(consumers).unwrap();
    assert_eq!(consumers.len(), 2);
    assert_eq!(consumers[0].name, "alice");
    assert_eq!((consumers[0].pending, consumers[0].idle_ms), (0, 13753));
    assert_eq!(consumers[0].inactive_ms, None);
    assert_eq!(consumers[1].inactive_ms, Some(-1));
}

#[test]
fn xpending_summary_and_entries() {
    // Captured: XPENDING s g and XPENDING s g - + 10.
    let summary =
        decode(b"*4\r\n:1\r\n$3\r\n1-1\r\n$3\r\n1-1\r\n*1\r\n*2\r\n$5\r\nalice\r\n$1\r\n1\r\n");
    let s = XPendingSummary::from_reply(summary).unwrap();
    assert_eq!(s.count, 1);
    assert_eq!(s.min_id.as_deref(), Some("1-1"));
    assert_eq!(s.max_id.as_deref(), Some("1-1"));
    assert_eq!(s.consumers, [("alice".to_owned(), 1)]);
    // Nothing pending: nulls.
    let none = array(vec![int(0), Value::Null, Value::Null, Value::Null]);
    let s = XPendingSummary::from_reply(none).unwrap();
    assert_eq!((s.count, s.min_id, s.max_id), (0, None, None));
    assert!(s.consumers.is_empty());
    assert!(XPendingSummary::from_reply(array(vec![int(0)])).is_err());

    let entries = decode(b"*1\r\n*4\r\n$3\r\n1-1\r\n$5\r\nalice\r\n:5330\r\n:1\r\n");
    let entries = Vec::<XPendingEntry>::from_reply(entries).unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!((e.id.as_str(), e.consumer.as_str()), ("1-1", "alice"));
    assert_eq!((e.idle_ms, e.delivery_count), (5330, 1));
    assert!(XPendingEntry::from_reply(array(vec![bulk("1-1"), bulk("a"), int(1)])).is_err());
}
