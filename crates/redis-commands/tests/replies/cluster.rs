//! CLUSTER SLOTS, SHARDS, NODES and INFO, and SENTINEL replies.

use redis_commands::FromReply;
use redis_commands::replies::{
    ClusterInfo, ClusterNode, ClusterNodes, ClusterShard, ClusterSlotRange, SentinelState,
};
use resp_proto::Value;

use super::{array, both_shapes, bulk, decode, int, map, verbatim};

const ID0: &str = "b1b6124f0d048f681af9efce60acc50b61b5717d";
const ID1: &str = "63ae80dd2e5a264642c74efd3c697360a2741071";
const ID2: &str = "a6c7b666dcb79f6a410e2e6f6df3c5b7b20ec973";

#[test]
fn cluster_slots_in_both_protocols() {
    // Captured: CLUSTER SLOTS; the metadata is `*0` in RESP2 and `%0` in RESP3.
    let resp2 = decode(
        b"*2\r\n*3\r\n:0\r\n:8000\r\n*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n\
$40\r\nb1b6124f0d048f681af9efce60acc50b61b5717d\r\n*0\r\n*3\r\n:8001\r\n:16383\r\n*4\r\n\
$9\r\n127.0.0.1\r\n:7001\r\n$40\r\n63ae80dd2e5a264642c74efd3c697360a2741071\r\n*0\r\n",
    );
    let resp3 = decode(
        b"*2\r\n*3\r\n:0\r\n:8000\r\n*4\r\n$9\r\n127.0.0.1\r\n:7000\r\n\
$40\r\nb1b6124f0d048f681af9efce60acc50b61b5717d\r\n%0\r\n*3\r\n:8001\r\n:16383\r\n*4\r\n\
$9\r\n127.0.0.1\r\n:7001\r\n$40\r\n63ae80dd2e5a264642c74efd3c697360a2741071\r\n%0\r\n",
    );
    for reply in [resp2, resp3] {
        let ranges = Vec::<ClusterSlotRange>::from_reply(reply).unwrap();
        assert_eq!(ranges.len(), 2);
        assert_eq!((ranges[0].start, ranges[0].end), (0, 8000));
        assert!(ranges[0].contains(8000) && !ranges[0].contains(8001));
        let master = ranges[0].master().unwrap();
        assert_eq!(
            (master.host.as_deref(), master.port),
            (Some("127.0.0.1"), 7000)
        );
        assert_eq!(master.id.as_deref(), Some(ID0));
        assert_eq!(master.hostname, None);
        assert!(ranges[0].replicas().is_empty());
        assert_eq!(ranges[1].master().unwrap().id.as_deref(), Some(ID1));
    }
    // A replica with hostname metadata (RESP2 flat), and a pre-4.0 node without an id.
    let with_replica = array(vec![
        int(0),
        int(5),
        array(vec![bulk("10.0.0.1"), int(6379), bulk("m")]),
        array(vec![
            bulk("10.0.0.2"),
            int(6380),
            bulk("r"),
            array(vec![
                bulk("hostname"),
                bulk("r.example"),
                bulk("ip"),
                bulk("10.0.0.2"),
            ]),
        ]),
        array(vec![bulk("10.0.0.3"), int(6381)]),
        array(vec![Value::Null, int(6382), bulk("u")]),
    ]);
    let range = ClusterSlotRange::from_reply(with_replica).unwrap();
    let replicas = range.replicas();
    assert_eq!(replicas.len(), 3);
    assert_eq!(replicas[0].hostname.as_deref(), Some("r.example"));
    assert_eq!(replicas[0].metadata.get("ip"), Some(&bulk("10.0.0.2")));
    assert_eq!(replicas[1].id, None);
    assert_eq!(
        (replicas[2].host.as_deref(), replicas[2].port),
        (None, 6382)
    );
    assert!(ClusterSlotRange::from_reply(array(vec![int(0)])).is_err());
    assert!(ClusterSlotRange::from_reply(array(vec![int(0), int(70000)])).is_err());
}

#[test]
fn cluster_shards_in_both_protocols() {
    let node = |id: &str, port: i64, role: &str, health: &str| {
        vec![
            (bulk("id"), bulk(id)),
            (bulk("port"), int(port)),
            (bulk("ip"), bulk("127.0.0.1")),
            (bulk("endpoint"), bulk("127.0.0.1")),
            (bulk("role"), bulk(role)),
            (bulk("replication-offset"), int(0)),
            (bulk("health"), bulk(health)),
        ]
    };
    // The shape of CLUSTER SHARDS: a master and a loading replica.
    let [m2, m3] = both_shapes(node(ID0, 7000, "master", "online"));
    let [r2, r3] = both_shapes(node(ID2, 7002, "replica", "loading"));
    let [resp2, _] = both_shapes(vec![
        (bulk("slots"), array(vec![int(0), int(8000)])),
        (bulk("nodes"), array(vec![m2, r2])),
    ]);
    let [_, resp3] = both_shapes(vec![
        (bulk("slots"), array(vec![int(0), int(8000)])),
        (bulk("nodes"), array(vec![m3, r3])),
    ]);
    for reply in [resp2, resp3] {
        let shard = ClusterShard::from_reply(reply).unwrap();
        assert_eq!(shard.slots, [(0, 8000)]);
        assert_eq!(shard.nodes.len(), 2);
        let master = shard.master().unwrap();
        assert_eq!(master.id, ID0);
        assert_eq!(master.port, Some(7000));
        assert_eq!(master.tls_port, None);
        assert_eq!(master.health, "online");
        assert_eq!(shard.nodes[1].role, "replica");
        assert_eq!(shard.nodes[1].health, "loading");
    }
    // Captured (RESP2, one shard), with its slots split in two ranges by hand.
    let captured = decode(
        b"*1\r\n*4\r\n$5\r\nslots\r\n*4\r\n:8001\r\n:9000\r\n:9002\r\n:16383\r\n$5\r\nnodes\r\n\
*1\r\n*14\r\n$2\r\nid\r\n$40\r\n63ae80dd2e5a264642c74efd3c697360a2741071\r\n$4\r\nport\r\n:7001\r\n\
$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n\
$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$6\r\nonline\r\n",
    );
    let shards = Vec::<ClusterShard>::from_reply(captured).unwrap();
    assert_eq!(shards[0].slots, [(8001, 9000), (9002, 16383)]);
    assert_eq!(shards[0].nodes[0].endpoint, "127.0.0.1");
    assert!(ClusterShard::from_reply(array(vec![bulk("slots"), array(vec![int(1)])])).is_err());
}

/// Captured: CLUSTER NODES (RESP2), with a migrating and an importing slot added by hand.
const NODES: &str = "63ae80dd2e5a264642c74efd3c697360a2741071 127.0.0.1:7001@17001 master - 0 \
1795614012210 1 connected 8001-16383\n\
b1b6124f0d048f681af9efce60acc50b61b5717d 127.0.0.1:7000@17000,node0.example myself,master - 0 \
1795614010000 0 connected 0-7999 8000 [42->-63ae80dd2e5a264642c74efd3c697360a2741071] \
[43-<-63ae80dd2e5a264642c74efd3c697360a2741071]\n\
a6c7b666dcb79f6a410e2e6f6df3c5b7b20ec973 127.0.0.1:7002@17002 slave,fail? \
b1b6124f0d048f681af9efce60acc50b61b5717d 0 1795614010201 0 disconnected\n";

#[test]
fn cluster_nodes_text() {
    for reply in [bulk(NODES), verbatim(NODES)] {
        let nodes = ClusterNodes::from_reply(reply).unwrap();
        assert_eq!(nodes.len(), 3);
        let me = nodes.myself().unwrap();
        assert_eq!(me.id, ID0);
        assert_eq!(me.addr, "127.0.0.1:7000@17000,node0.example");
        assert_eq!(me.ip, "127.0.0.1");
        assert_eq!((me.port, me.bus_port), (Some(7000), Some(17000)));
        assert_eq!(me.hostname.as_deref(), Some("node0.example"));
        assert_eq!(me.flags, ["myself", "master"]);
        assert!(me.is_master() && !me.is_replica() && me.is_connected());
        assert_eq!(me.master, None);
        assert_eq!(me.slots, [(0, 7999), (8000, 8000)]);
        assert_eq!(me.migrating, [(42, ID1.to_owned())]);
        assert_eq!(me.importing, [(43, ID1.to_owned())]);
        let first = nodes.by_id(ID1).unwrap();
        assert_eq!(
            (first.pong_recv, first.config_epoch),
            (1_795_614_012_210, 1)
        );
        assert_eq!(first.hostname, None);
        let replicas: Vec<&ClusterNode> = nodes.replicas_of(ID0).collect();
        assert_eq!(replicas.len(), 1);
        let replica = replicas[0];
        assert!(replica.is_replica() && replica.is_failing() && !replica.is_connected());
        assert_eq!(replica.master.as_deref(), Some(ID0));
        assert!(replica.slots.is_empty());
    }
}

#[test]
fn cluster_replicas_and_odd_addresses() {
    // CLUSTER REPLICAS: an array of node lines.
    let line = format!("{ID2} 127.0.0.1:7002@17002 slave {ID0} 0 1795614010201 0 connected");
    let replicas = Vec::<ClusterNode>::from_reply(array(vec![bulk(&line)])).unwrap();
    assert_eq!(replicas[0].id, ID2);
    // IPv6, a node without address, and no flags.
    let v6 = ClusterNode::from_reply(bulk(&format!(
        "{ID1} ::1:7001@17001 noflags - 0 0 3 connected"
    )))
    .unwrap();
    assert_eq!((v6.ip.as_str(), v6.port), ("::1", Some(7001)));
    assert!(v6.flags.is_empty());
    let aux = ClusterNode::from_reply(bulk(&format!(
        "{ID1} 10.0.0.1:7001@17001,,shard-id=abc master - 0 0 3 connected"
    )))
    .unwrap();
    assert_eq!(
        (aux.ip.as_str(), aux.hostname.as_deref()),
        ("10.0.0.1", None)
    );
    let noaddr =
        ClusterNode::from_reply(bulk(&format!("{ID1} :0@0 master,noaddr - 0 0 3 connected")))
            .unwrap();
    assert_eq!((noaddr.ip.as_str(), noaddr.port), ("", Some(0)));
    // Malformed lines.
    assert!(ClusterNode::from_reply(bulk("abc 1.2.3.4:1@2 master")).is_err());
    assert!(ClusterNodes::from_reply(bulk(&format!("{line} 1-x"))).is_err());
    assert!(ClusterNodes::from_reply(bulk(&format!("{line} [1-?-x]"))).is_err());
    assert!(ClusterNodes::from_reply(bulk(&format!("{line} 99999"))).is_err());
    assert!(ClusterNodes::from_reply(bulk("")).unwrap().is_empty());
    assert!(ClusterNodes::from_reply(int(1)).is_err());
}

#[test]
fn cluster_info_text() {
    // Captured (shortened): CLUSTER INFO in RESP3.
    let reply = decode(
        b"=136\r\ntxt:cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:3\r\n\
cluster_size:2\r\ncluster_current_epoch:2\r\ncluster_my_epoch:0\r\n\r\n",
    );
    let info = ClusterInfo::from_reply(reply).unwrap();
    assert!(info.is_ok());
    assert_eq!(info.slots_assigned(), Some(16384));
    assert_eq!(info.known_nodes(), Some(3));
    assert_eq!(info.size(), Some(2));
    assert_eq!((info.current_epoch(), info.my_epoch()), (Some(2), Some(0)));
    assert_eq!(info.slots_fail(), None);
    assert_eq!(info.iter().count(), 6);
    let failing = ClusterInfo::from_reply(bulk("cluster_state:fail\r\n")).unwrap();
    assert_eq!(failing.state(), Some("fail"));
    assert!(!failing.is_ok());
}

#[test]
fn sentinel_state_in_both_protocols() {
    // Captured (shortened): SENTINEL MASTERS, RESP2 flat list and RESP3 map.
    let fields = vec![
        (bulk("name"), bulk("mymaster")),
        (bulk("ip"), bulk("127.0.0.1")),
        (bulk("port"), bulk("6399")),
        (bulk("flags"), bulk("master,s_down")),
        (bulk("num-slaves"), bulk("1")),
        (bulk("num-other-sentinels"), bulk("0")),
        (bulk("quorum"), bulk("1")),
        (bulk("failover-timeout"), bulk("180000")),
    ];
    let [resp2, resp3] = both_shapes(fields);
    for reply in [array(vec![resp2]), array(vec![resp3])] {
        let masters = Vec::<SentinelState>::from_reply(reply).unwrap();
        assert_eq!(masters.len(), 1);
        let m = &masters[0];
        assert_eq!(m.name(), Some("mymaster"));
        assert_eq!(m.ip(), Some("127.0.0.1"));
        assert_eq!(m.port(), Some(6399));
        assert_eq!(m.flags(), ["master", "s_down"]);
        assert!(m.is_master() && m.is_sdown());
        assert!(!m.is_replica() && !m.is_odown() && !m.is_sentinel());
        assert!(!m.is_disconnected() && !m.is_master_down());
        assert_eq!(m.num_slaves(), Some(1));
        assert_eq!(m.num_other_sentinels(), Some(0));
        assert_eq!(m.quorum(), Some(1));
        assert_eq!(m.get("failover-timeout"), Some("180000"));
        assert_eq!(m.get_as::<u64>("failover-timeout"), Some(180_000));
        assert_eq!(m.fields().len(), 8);
    }
    // Captured: the replica flags, and SENTINEL SENTINELS with none.
    let replica = decode(
        b"*8\r\n$4\r\nname\r\n$14\r\n127.0.0.1:6400\r\n$5\r\nflags\r\n$5\r\nslave\r\n\
$18\r\nmaster-link-status\r\n$2\r\nok\r\n$11\r\nmaster-port\r\n$4\r\n6399\r\n",
    );
    let r = SentinelState::from_reply(replica).unwrap();
    assert!(r.is_replica());
    assert_eq!(r.get_as::<u16>("master-port"), Some(6399));
    assert_eq!(r.port(), None);
    assert!(
        Vec::<SentinelState>::from_reply(decode(b"*0\r\n"))
            .unwrap()
            .is_empty()
    );
    // Non-string values are kept as text; nested values are left out.
    let odd = map(vec![
        (bulk("n"), int(3)),
        (bulk("nested"), array(vec![])),
        (bulk("d"), Value::Double(1.5)),
    ]);
    let s = SentinelState::from_reply(odd).unwrap();
    assert_eq!(
        (s.get("n"), s.get("d"), s.get("nested")),
        (Some("3"), Some("1.5"), None)
    );
    assert!(SentinelState::from_reply(array(vec![bulk("odd")])).is_err());
}
