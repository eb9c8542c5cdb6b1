//! INFO, CLIENT LIST/INFO, SLOWLOG, LATENCY, MEMORY STATS, ROLE and TIME.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use redis_commands::FromReply;
use redis_commands::replies::{
    ClientInfo, ClientList, Info, LatencySample, MemoryStats, Role, ServerTime, SlowlogEntry,
};
use resp_proto::Value;

use super::{array, bulk, decode, int, simple, verbatim};

const INFO_TEXT: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\
os:Linux 6.18.44 x86_64\r\ntcp_port:6399\r\nexecutable:/tmp/rr/redis-server\r\n\
config_file:\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\n\
slave0:ip=127.0.0.1,port=6400,state=online,offset=1684,lag=0\r\n\r\n\
# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=99643\r\ndb3:keys=2,expires=0,avg_ttl=0\r\n";

#[test]
fn info_from_a_bulk_and_a_verbatim_string() {
    for reply in [bulk(INFO_TEXT), verbatim(INFO_TEXT)] {
        let info = Info::from_reply(reply).unwrap();
        let names: Vec<&str> = info.sections().map(|s| s.name()).collect();
        assert_eq!(names, ["Server", "Replication", "Keyspace"]);
        assert_eq!(info.get("redis_version"), Some("7.0.15"));
        assert_eq!(info.get("os"), Some("Linux 6.18.44 x86_64"));
        assert_eq!(info.get("executable"), Some("/tmp/rr/redis-server"));
        assert_eq!(info.get("config_file"), Some(""));
        assert_eq!(info.get_as::<u16>("tcp_port"), Some(6399));
        assert_eq!(info.get_as::<u16>("redis_mode"), None);
        assert_eq!(info.get("nope"), None);
        let replication = info.section("REPLICATION").unwrap();
        assert_eq!(replication.len(), 3);
        assert_eq!(replication.get("role"), Some("master"));
        let slave = info.subfields("slave0").unwrap();
        assert_eq!(slave[1], ("port", "6400"));
        assert_eq!(slave.len(), 5);
        let keyspace = info.keyspace();
        assert_eq!(keyspace.len(), 2);
        assert_eq!(
            (
                keyspace[0].db,
                keyspace[0].keys,
                keyspace[0].expires,
                keyspace[0].avg_ttl
            ),
            (0, 7, 1, 99643)
        );
        assert_eq!((keyspace[1].db, keyspace[1].keys), (3, 2));
        assert_eq!(keyspace[1].fields.len(), 3);
    }
}

#[test]
fn info_captured_from_the_server() {
    // Captured: INFO keyspace in RESP3 (a verbatim string).
    let info = Info::from_reply(decode(
        b"=52\r\ntxt:# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=98878\r\n\r\n",
    ))
    .unwrap();
    assert_eq!(info.keyspace()[0].avg_ttl, 98878);
    assert_eq!((&info).into_iter().count(), 1);
    // Lines before any header, lines without a colon, and no keyspace at all.
    let info = Info::from_reply(simple("a:1")).unwrap();
    assert_eq!(info.section("").and_then(|s| s.get("a")), Some("1"));
    assert!(info.keyspace().is_empty());
    assert!(Info::from_reply(int(1)).is_err());
    assert!(Info::from_reply(Value::Null).is_err());
}

const CLIENT_LINE: &str = "id=11 addr=127.0.0.1:45460 laddr=127.0.0.1:6399 fd=8 name=conn-a \
age=1 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 \
multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd=client|info \
user=default redir=-1 resp=2\n";

#[test]
fn client_info_line() {
    for reply in [bulk(CLIENT_LINE), verbatim(CLIENT_LINE)] {
        let c = ClientInfo::from_reply(reply).unwrap();
        assert_eq!(c.id, 11);
        assert_eq!(c.addr, "127.0.0.1:45460");
        assert_eq!(c.laddr.as_deref(), Some("127.0.0.1:6399"));
        assert_eq!(c.fd, Some(8));
        assert_eq!(c.name.as_deref(), Some("conn-a"));
        assert_eq!((c.age, c.idle), (Some(1), Some(0)));
        assert_eq!(c.flags.as_deref(), Some("N"));
        assert!(c.has_flag('N') && !c.has_flag('x'));
        assert_eq!(
            (c.db, c.sub, c.psub, c.multi),
            (Some(0), Some(0), Some(0), Some(-1))
        );
        assert_eq!(c.cmd.as_deref(), Some("client|info"));
        assert_eq!(c.user.as_deref(), Some("default"));
        assert_eq!(c.resp, Some(2));
        assert_eq!(c.get("ssub"), Some("0"));
        assert_eq!(c.get("tot-mem"), Some("22298"));
        assert_eq!(c.get("nope"), None);
        assert_eq!(c.fields().count(), 28);
    }
}

#[test]
fn client_list_of_several_lines() {
    // Captured: CLIENT LIST in RESP3, plus a second, older-style line without laddr/resp.
    let text = "id=12 addr=127.0.0.1:45464 laddr=127.0.0.1:6399 fd=8 name= age=1 idle=0 \
flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 \
rbs=1024 rbp=282 obl=0 oll=0 omem=0 tot-mem=22298 events=r cmd=client|list user=default \
redir=-1 resp=3\nid=3 addr=10.0.0.1:1234 fd=9 name=worker age=100 idle=5 flags=S db=2 \
sub=1 psub=0 multi=3 qbuf=0 cmd=psync\n";
    let list = ClientList::from_reply(verbatim(text)).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, 12);
    assert_eq!(list[0].name, None);
    assert_eq!(list[0].get("name"), Some(""));
    assert_eq!(list[0].resp, Some(3));
    let worker = list.by_id(3).unwrap();
    assert_eq!(worker.name.as_deref(), Some("worker"));
    assert_eq!(
        (worker.laddr.as_deref(), worker.user.as_deref()),
        (None, None)
    );
    assert_eq!(worker.resp, None);
    assert_eq!(worker.multi, Some(3));
    let ids: Vec<u64> = list.iter().map(|c| c.id).collect();
    assert_eq!(ids, [12, 3]);
    assert!(ClientList::from_reply(bulk("")).unwrap().is_empty());
}

#[test]
fn malformed_client_lines_are_errors() {
    assert!(ClientInfo::from_reply(bulk("addr=1.2.3.4:5 fd=1")).is_err());
    assert!(ClientInfo::from_reply(bulk("id=x addr=a")).is_err());
    assert!(ClientInfo::from_reply(bulk("id=1")).is_err());
    assert!(ClientInfo::from_reply(bulk("id=1 addr=a age=-3")).is_err());
    assert!(ClientInfo::from_reply(bulk("\n\n")).is_err());
    let err = ClientList::from_reply(bulk("id=1 addr=a\nid=2\n")).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    // Unknown fields, empty values and bare words are kept, not errors.
    let c = ClientInfo::from_reply(bulk("id=1 addr=a future=x=y lonely")).unwrap();
    assert_eq!(c.get("future"), Some("x=y"));
    assert_eq!(c.get("lonely"), Some(""));
}

#[test]
fn slowlog_entries() {
    // Captured: SLOWLOG GET 2 (the same in RESP2 and RESP3).
    let reply = decode(
        b"*2\r\n*6\r\n:12\r\n:1795613983\r\n:19\r\n*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n\
$15\r\n127.0.0.1:45460\r\n$6\r\nconn-a\r\n*6\r\n:11\r\n:1795613983\r\n:38\r\n*2\r\n\
$6\r\nCLIENT\r\n$4\r\nINFO\r\n$15\r\n127.0.0.1:45460\r\n$0\r\n\r\n",
    );
    let entries = Vec::<SlowlogEntry>::from_reply(reply).unwrap();
    assert_eq!(entries.len(), 2);
    let e = &entries[0];
    assert_eq!((e.id, e.start_time), (12, 1_795_613_983));
    assert_eq!(e.duration, Duration::from_micros(19));
    assert_eq!(e.args, [Bytes::from("CLIENT"), Bytes::from("LIST")]);
    assert_eq!(e.client_addr.as_deref(), Some("127.0.0.1:45460"));
    assert_eq!(e.client_name.as_deref(), Some("conn-a"));
    assert_eq!(entries[1].client_name, None);
    // Servers before 4.0 sent four elements.
    let old = array(vec![int(1), int(2), int(3), array(vec![bulk("GET")])]);
    let e = SlowlogEntry::from_reply(old).unwrap();
    assert_eq!((e.client_addr, e.client_name), (None, None));
    assert!(SlowlogEntry::from_reply(array(vec![int(1), int(2), int(3)])).is_err());
}

#[test]
fn latency_latest() {
    // Captured: LATENCY LATEST.
    let reply = decode(b"*1\r\n*4\r\n$7\r\ncommand\r\n:1795614030\r\n:66\r\n:66\r\n");
    let samples = Vec::<LatencySample>::from_reply(reply).unwrap();
    assert_eq!(samples.len(), 1);
    let s = &samples[0];
    assert_eq!(s.event, "command");
    assert_eq!(
        (s.timestamp, s.latest_ms, s.max_ms),
        (1_795_614_030, 66, 66)
    );
    assert!(
        Vec::<LatencySample>::from_reply(decode(b"*0\r\n"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn memory_stats_in_both_protocols() {
    // Captured (shortened): MEMORY STATS in RESP2 and RESP3.
    let resp2 = decode(
        b"*14\r\n$14\r\npeak.allocated\r\n:2026240\r\n$15\r\ntotal.allocated\r\n:2026176\r\n\
$17\r\nstartup.allocated\r\n:876168\r\n$4\r\ndb.0\r\n*6\r\n$23\r\noverhead.hashtable.main\r\n\
:304\r\n$26\r\noverhead.hashtable.expires\r\n:0\r\n$31\r\noverhead.hashtable.slot-to-keys\r\n\
:0\r\n$10\r\nkeys.count\r\n:6\r\n$13\r\ndataset.bytes\r\n:1126752\r\n$13\r\nfragmentation\r\n\
$18\r\n6.4630231857299805\r\n",
    );
    let resp3 = decode(
        b"%7\r\n$14\r\npeak.allocated\r\n:2026240\r\n$15\r\ntotal.allocated\r\n:2026176\r\n\
$17\r\nstartup.allocated\r\n:876168\r\n$4\r\ndb.0\r\n%3\r\n$23\r\noverhead.hashtable.main\r\n\
:304\r\n$26\r\noverhead.hashtable.expires\r\n:0\r\n$31\r\noverhead.hashtable.slot-to-keys\r\n\
:0\r\n$10\r\nkeys.count\r\n:6\r\n$13\r\ndataset.bytes\r\n:1126752\r\n$13\r\nfragmentation\r\n\
,6.4630231857299805\r\n",
    );
    for reply in [resp2, resp3] {
        let stats = MemoryStats::from_reply(reply).unwrap();
        assert_eq!(stats.peak_allocated(), Some(2_026_240));
        assert_eq!(stats.total_allocated(), Some(2_026_176));
        assert_eq!(stats.startup_allocated(), Some(876_168));
        assert_eq!(stats.keys_count(), Some(6));
        assert_eq!(stats.dataset_bytes(), Some(1_126_752));
        assert_eq!(stats.overhead_total(), None);
        assert!((stats.fragmentation().unwrap() - 6.463).abs() < 1e-3);
        assert_eq!(stats.get("keys.count"), Some(&int(6)));
        assert_eq!(stats.get("db.0"), None);
        assert_eq!(stats.iter().count(), 6);
        let db = stats.db(0).unwrap();
        assert_eq!(db.overhead_hashtable_main, Some(304));
        assert_eq!(db.overhead_hashtable_expires, Some(0));
        assert_eq!(
            db.fields.get("overhead.hashtable.slot-to-keys"),
            Some(&int(0))
        );
        assert_eq!(stats.databases().len(), 1);
        assert!(stats.db(1).is_none());
    }
    assert!(MemoryStats::from_reply(array(vec![bulk("a")])).is_err());
}

#[test]
fn role_of_each_kind() {
    // Captured: ROLE on a master with one replica, on that replica, and on a Sentinel.
    let master = decode(
        b"*3\r\n$6\r\nmaster\r\n:1684\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6400\r\n$4\r\n1684\r\n",
    );
    let Role::Master {
        replication_offset,
        replicas,
        ..
    } = Role::from_reply(master).unwrap()
    else {
        panic!("not a master")
    };
    assert_eq!(replication_offset, 1684);
    assert_eq!(replicas, [("127.0.0.1".to_owned(), 6400, 1684)]);
    let alone = decode(b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    assert!(matches!(
        Role::from_reply(alone).unwrap(),
        Role::Master { replicas, .. } if replicas.is_empty()
    ));
    let replica =
        decode(b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6399\r\n$9\r\nconnected\r\n:1684\r\n");
    let Role::Replica {
        master_host,
        master_port,
        state,
        offset,
        ..
    } = Role::from_reply(replica).unwrap()
    else {
        panic!("not a replica")
    };
    assert_eq!(
        (master_host.as_str(), master_port, state.as_str(), offset),
        ("127.0.0.1", 6399, "connected", 1684)
    );
    let sentinel = decode(b"*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n");
    assert!(matches!(
        Role::from_reply(sentinel).unwrap(),
        Role::Sentinel { masters, .. } if masters == ["mymaster"]
    ));
    assert!(Role::from_reply(array(vec![bulk("leader")])).is_err());
    assert!(Role::from_reply(array(vec![bulk("slave"), bulk("h")])).is_err());
    assert!(Role::from_reply(array(vec![])).is_err());
}

#[test]
fn server_time() {
    // Captured: TIME.
    let t = ServerTime::from_reply(decode(b"*2\r\n$10\r\n1795613961\r\n$6\r\n247206\r\n")).unwrap();
    assert_eq!((t.seconds(), t.microseconds()), (1_795_613_961, 247_206));
    assert_eq!(
        t.as_duration_since_epoch(),
        Duration::new(1_795_613_961, 247_206_000)
    );
    assert_eq!(
        t.to_system_time()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap(),
        Duration::new(1_795_613_961, 247_206_000)
    );
    assert!(ServerTime::from_reply(array(vec![bulk("1"), bulk("1000000")])).is_err());
    assert!(ServerTime::from_reply(array(vec![bulk("-1"), bulk("0")])).is_err());
    assert!(ServerTime::from_reply(array(vec![bulk("1")])).is_err());
    let far = array(vec![bulk(&u64::MAX.to_string()), bulk("999999")]);
    if let Ok(t) = ServerTime::from_reply(far) {
        // Only where SystemTime can hold it; either way, no panic.
        let _ = t.to_system_time();
    }
}
