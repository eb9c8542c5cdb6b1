//! Typed commands against real servers: the `cluster` group (`CLUSTER *`, `ASKING`) on a
//! running Redis Cluster and on lone cluster-enabled nodes (for the commands that change a
//! node's cluster state), and the `sentinel` group (`SENTINEL *`) on a Sentinel group.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use redis_client::replies::{
    ClusterInfo, ClusterNode, ClusterNodes, ClusterShard, ClusterSlotRange, Role, SentinelState,
};
use redis_client::{
    Client, ClusterFailoverOptions, ClusterMeetOptions, ClusterResetOptions,
    ClusterSetslotSubcommand, Commands, Error, InfoOptions, PipelineCommands, Protocol,
    SentinelConfigAction, SentinelDebugOptions, SentinelSimulateFailureOptions, ServerError,
    ServerErrorKind, Value,
};
use tests::{
    CLUSTER_SLOTS, CommandServer, RedisCluster, RedisServer, SentinelGroup, cluster_bus_port,
    eventually,
};

const PROTOCOLS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

/// Bound of every wait for the cluster bus or the Sentinels to converge.
const CONVERGE: Duration = Duration::from_secs(20);

fn client(server: &RedisServer, protocol: Protocol) -> Client {
    server.client_builder().protocol(protocol).build()
}

/// The server error of a call that must fail on the server.
#[track_caller]
fn server_error<T: std::fmt::Debug>(result: Result<T, Error>) -> ServerError {
    match result {
        Err(Error::Server(e)) => e,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// Asserts that `result` is a server error whose message contains `text`.
#[track_caller]
fn assert_server_error<T: std::fmt::Debug>(result: Result<T, Error>, text: &str) {
    let e = server_error(result);
    assert!(
        e.message().contains(text),
        "{:?} does not contain {text:?}",
        e.message()
    );
}

fn is_node_id(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn slot_count(ranges: &[(u16, u16)]) -> u32 {
    ranges.iter().map(|&(a, b)| u32::from(b - a) + 1).sum()
}

fn myself(c: &Client) -> ClusterNode {
    let nodes = c.cluster_nodes().expect("CLUSTER NODES");
    nodes.myself().expect("a `myself` line").clone()
}

/// A lone cluster-enabled node that serves keys once it has slots, every slot covered or not
/// (`cluster-require-full-coverage no`). A master turns `cluster_state:ok` only a node timeout
/// after it last lacked a majority (always, for a node that served no slot): a short one keeps
/// the tests quick.
fn partial_node() -> RedisServer {
    RedisCluster::node_builder()
        .args(["--cluster-require-full-coverage", "no"])
        .args(["--cluster-node-timeout", "1000"])
        .start()
}

/// Waits until the node reports `cluster_state:ok` (a master waits 2 s after start-up first).
#[track_caller]
fn wait_cluster_ok(c: &Client) {
    assert!(
        eventually(CONVERGE, || c.cluster_info().is_ok_and(|i| i.is_ok())),
        "{:?}",
        c.cluster_info()
    );
}

fn replication_link_up(c: &Client) -> bool {
    c.info_with(&InfoOptions::new().section(["replication"]))
        .is_ok_and(|info| info.get("master_link_status") == Some("up"))
}

// ---------------------------------------------------------------------------------------------
// CLUSTER on a running cluster
// ---------------------------------------------------------------------------------------------

#[test]
fn cluster_introspection_on_a_running_cluster() {
    let cluster = RedisCluster::start(3, 1);
    // Version gates (and nothing else): a lone node of the same binary.
    let gate = CommandServer::with(RedisCluster::lone_node());
    let primary = cluster.primaries()[0];
    let primary_id = cluster.node_id(primary).to_owned();
    let replica = cluster.replicas_of(primary)[0];
    let replica_id = cluster.node_id(replica).to_owned();
    for protocol in PROTOCOLS {
        let c = client(cluster.node(primary), protocol);
        let rc = client(cluster.node(replica), protocol);

        // CLUSTER INFO.
        let info: ClusterInfo = c.cluster_info().unwrap();
        assert!(info.is_ok(), "{info:?}");
        assert_eq!(info.known_nodes(), Some(6));
        assert_eq!(info.size(), Some(3));
        assert_eq!(info.slots_assigned(), Some(u64::from(CLUSTER_SLOTS)));
        assert_eq!(info.slots_ok(), Some(u64::from(CLUSTER_SLOTS)));
        assert_eq!(info.slots_fail(), Some(0));
        let info = rc.cluster_info().unwrap();
        assert_eq!(info.get("cluster_state"), Some("ok"));
        assert_eq!(info.get_as::<u64>("cluster_known_nodes"), Some(6));

        // CLUSTER MYID / MYSHARDID.
        let id: String = c.cluster_myid().unwrap();
        assert_eq!(id, primary_id);
        assert!(is_node_id(&id), "{id}");
        assert_eq!(rc.cluster_myid::<String>().unwrap(), replica_id);
        if gate.supports("7.2.0", "CLUSTER MYSHARDID") {
            let shard: String = c.cluster_myshardid().unwrap();
            assert!(is_node_id(&shard), "{shard}");
            // A replica belongs to its primary's shard.
            assert_eq!(rc.cluster_myshardid::<String>().unwrap(), shard);
        }

        // CLUSTER NODES: six nodes, three primaries with every slot, a replica each.
        let nodes: ClusterNodes = c.cluster_nodes().unwrap();
        assert_eq!(nodes.len(), 6, "{nodes:?}");
        assert_eq!(
            nodes.myself().map(|n| n.id.as_str()),
            Some(primary_id.as_str())
        );
        for i in 0..cluster.len() {
            let node = nodes
                .by_id(cluster.node_id(i))
                .expect("every node is listed");
            assert_eq!(node.port, Some(cluster.node(i).port()));
            assert_eq!(node.ip, "127.0.0.1");
            assert!(node.is_connected() && !node.is_failing(), "{node:?}");
        }
        let masters: Vec<&ClusterNode> = nodes.iter().filter(|n| n.is_master()).collect();
        assert_eq!(masters.len(), 3);
        let all_slots: Vec<(u16, u16)> = masters.iter().flat_map(|n| n.slots.clone()).collect();
        assert_eq!(slot_count(&all_slots), u32::from(CLUSTER_SLOTS));
        assert_eq!(
            nodes
                .replicas_of(&primary_id)
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>(),
            [replica_id.as_str()]
        );
        assert_eq!(nodes.iter().filter(|n| n.is_replica()).count(), 3);

        // CLUSTER SLOTS: the ranges cover every slot, each served by a primary and a replica.
        let slots: Vec<ClusterSlotRange> = c.cluster_slots().unwrap();
        let ranges: Vec<(u16, u16)> = slots.iter().map(|r| (r.start, r.end)).collect();
        assert_eq!(slot_count(&ranges), u32::from(CLUSTER_SLOTS));
        for range in &slots {
            assert_eq!(range.nodes.len(), 2, "{range:?}");
            let owner = cluster.primary_for_slot(range.start);
            let master = range.master().unwrap();
            assert_eq!(master.port, cluster.node(owner).port());
            assert_eq!(master.host.as_deref(), Some("127.0.0.1"));
            assert_eq!(master.id.as_deref(), Some(cluster.node_id(owner)));
            let replica_of_range = &range.replicas()[0];
            assert_eq!(
                replica_of_range.id.as_deref(),
                Some(cluster.node_id(cluster.replicas_of(owner)[0]))
            );
        }

        // CLUSTER SHARDS (7.0): three shards of a primary and a replica.
        let shards: Vec<ClusterShard> = c.cluster_shards().unwrap();
        assert_eq!(shards.len(), 3);
        let shard_slots: Vec<(u16, u16)> = shards.iter().flat_map(|s| s.slots.clone()).collect();
        assert_eq!(slot_count(&shard_slots), u32::from(CLUSTER_SLOTS));
        for shard in &shards {
            assert_eq!(shard.nodes.len(), 2, "{shard:?}");
            let master = shard.master().expect("a master");
            let owner = cluster.index_of(&master.id).expect("a known node");
            assert_eq!(master.port, Some(cluster.node(owner).port()));
            assert_eq!(master.ip, "127.0.0.1");
            assert_eq!(master.health, "online");
            let (start, _) = shard.slots[0];
            assert_eq!(cluster.primary_for_slot(start), owner);
            assert!(shard.nodes.iter().any(|n| n.role == "replica"));
        }

        // CLUSTER REPLICAS and the deprecated CLUSTER SLAVES.
        let replicas: Vec<ClusterNode> = c.cluster_replicas(&primary_id).unwrap();
        assert_eq!(replicas.len(), 1);
        assert_eq!(replicas[0].id, replica_id);
        assert_eq!(replicas[0].master.as_deref(), Some(primary_id.as_str()));
        assert!(replicas[0].is_replica());
        let slaves: Vec<ClusterNode> = rc.cluster_slaves(&primary_id).unwrap();
        assert_eq!(
            slaves.iter().map(|n| &n.id).collect::<Vec<_>>(),
            [&replica_id]
        );
        assert_server_error(c.cluster_replicas(&replica_id), "not a master");
        assert_server_error(
            c.cluster_slaves("0000000000000000000000000000000000000000"),
            "Unknown node",
        );

        // CLUSTER LINKS (7.0): a link to and a link from each of the five peers.
        let links: Vec<HashMap<String, Value>> = c.cluster_links().unwrap();
        assert_eq!(links.len(), 10, "{links:?}");
        let mut peers: Vec<String> = links
            .iter()
            .map(|l| match &l["node"] {
                Value::BulkString(b) | Value::SimpleString(b) => {
                    String::from_utf8_lossy(b).into_owned()
                }
                other => panic!("node {other:?}"),
            })
            .collect();
        peers.sort();
        peers.dedup();
        let mut others: Vec<String> = (0..cluster.len())
            .filter(|&i| i != primary)
            .map(|i| cluster.node_id(i).to_owned())
            .collect();
        others.sort();
        assert_eq!(peers, others);
        for link in &links {
            let direction = match &link["direction"] {
                Value::BulkString(b) | Value::SimpleString(b) => b.clone(),
                other => panic!("direction {other:?}"),
            };
            assert!(&direction[..] == b"to" || &direction[..] == b"from");
        }

        // CLUSTER COUNT-FAILURE-REPORTS: a healthy node has none.
        assert_eq!(c.cluster_count_failure_reports(&replica_id).unwrap(), 0);
        assert_eq!(rc.cluster_count_failure_reports(&primary_id).unwrap(), 0);
        assert_server_error(c.cluster_count_failure_reports("nope"), "Unknown node");

        // CLUSTER HELP.
        let help: Vec<String> = c.cluster_help().unwrap();
        assert!(help[0].starts_with("CLUSTER <subcommand>"), "{help:?}");
        assert!(help.iter().any(|l| l.starts_with("SETSLOT")), "{help:?}");

        // CLUSTER KEYSLOT: CRC16 mod 16384, hash tags.
        assert_eq!(c.cluster_keyslot("foo").unwrap(), 12182);
        assert_eq!(c.cluster_keyslot("06S").unwrap(), 0);
        assert_eq!(c.cluster_keyslot("").unwrap(), 0);
        assert_eq!(
            c.cluster_keyslot("{user1000}.following").unwrap(),
            c.cluster_keyslot("{user1000}.followers").unwrap()
        );
        assert_eq!(
            c.cluster_keyslot("{user1000}.following").unwrap(),
            c.cluster_keyslot("user1000").unwrap()
        );
        // The tag is up to the first `}` after the first `{`; an empty tag does not count.
        assert_eq!(c.cluster_keyslot("foo{bar}{zap}").unwrap(), 5061);
        assert_eq!(c.cluster_keyslot("bar").unwrap(), 5061);
        assert_eq!(c.cluster_keyslot("foo{{bar}}zap").unwrap(), 4015);
        assert_eq!(c.cluster_keyslot("{bar").unwrap(), 4015);
        assert_eq!(c.cluster_keyslot("foo{}{bar}").unwrap(), 8363);

        // CLUSTER COUNTKEYSINSLOT / GETKEYSINSLOT on the primary that serves the slot.
        let tag = format!("ks-{protocol:?}");
        let slot = c.cluster_keyslot(&tag).unwrap();
        let owner = cluster.primary_for_slot(u16::try_from(slot).unwrap());
        let oc = client(cluster.node(owner), protocol);
        let keys: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|k| format!("{{{tag}}}{k}"))
            .collect();
        for key in &keys {
            assert_eq!(c.cluster_keyslot(key).unwrap(), slot);
            oc.set(key, 1).unwrap();
        }
        let slot = i64::try_from(slot).unwrap();
        assert_eq!(oc.cluster_countkeysinslot(slot).unwrap(), 3);
        let mut found: Vec<String> = oc.cluster_getkeysinslot(slot, 10).unwrap();
        found.sort();
        assert_eq!(found, keys);
        let two: Vec<String> = oc.cluster_getkeysinslot(slot, 2).unwrap();
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|k| keys.contains(k)));
        assert_server_error(oc.cluster_countkeysinslot(i64::from(CLUSTER_SLOTS)), "slot");
        assert_server_error(
            oc.cluster_getkeysinslot::<Vec<String>>(slot, -1),
            "number of keys",
        );
        // A key served elsewhere: MOVED to its owner.
        let elsewhere = cluster
            .primaries()
            .into_iter()
            .find(|&p| p != owner)
            .unwrap();
        let moved =
            server_error(client(cluster.node(elsewhere), protocol).get::<Option<String>>(&keys[0]));
        assert_eq!(moved.kind(), ServerErrorKind::Moved);
        assert!(
            moved
                .message()
                .ends_with(&format!("{slot} 127.0.0.1:{}", cluster.node(owner).port())),
            "{}",
            moved.message()
        );
        assert_eq!(oc.del(&keys).unwrap(), 3);
        assert_eq!(oc.cluster_countkeysinslot(slot).unwrap(), 0);
        assert_eq!(
            oc.cluster_getkeysinslot::<Vec<String>>(slot, 10).unwrap(),
            Vec::<String>::new()
        );

        // ASKING only sets a flag for the next command (its effect is checked on lone nodes).
        c.asking().unwrap();
        rc.asking().unwrap();

        // The same commands queue in a pipeline.
        let (keyslot, myid, ok): (u64, String, ()) = c
            .pipeline()
            .transaction(false)
            .cluster_keyslot("foo")
            .cluster_myid()
            .asking()
            .query()
            .unwrap();
        assert_eq!((keyslot, myid, ok), (12182, primary_id.clone(), ()));
    }
}

// ---------------------------------------------------------------------------------------------
// CLUSTER commands that change a node: lone cluster-enabled nodes
// ---------------------------------------------------------------------------------------------

#[test]
fn cluster_epochs_and_slot_assignment_on_a_lone_node() {
    for protocol in PROTOCOLS {
        let a = partial_node();
        let b = partial_node();
        let ca = client(&a, protocol);
        let cb = client(&b, protocol);
        let a_id: String = ca.cluster_myid().unwrap();

        let info: ClusterInfo = ca.cluster_info().unwrap();
        assert_eq!(info.state(), Some("fail"));
        assert_eq!(info.slots_assigned(), Some(0));
        assert_eq!(info.known_nodes(), Some(1));
        assert_eq!(info.my_epoch(), Some(0));

        // SET-CONFIG-EPOCH only on a fresh node; BUMPEPOCH then has nothing to do.
        cb.cluster_set_config_epoch(5).unwrap();
        let info: ClusterInfo = cb.cluster_info().unwrap();
        assert_eq!((info.my_epoch(), info.current_epoch()), (Some(5), Some(5)));
        assert_eq!(cb.cluster_bumpepoch::<String>().unwrap(), "STILL 5");
        assert_server_error(cb.cluster_set_config_epoch(6), "already non-zero");
        // BUMPEPOCH on a node with epoch 0 bumps it, once.
        assert_eq!(ca.cluster_bumpepoch::<String>().unwrap(), "BUMPED 1");
        assert_eq!(ca.cluster_bumpepoch::<String>().unwrap(), "STILL 1");
        assert_server_error(ca.cluster_set_config_epoch(7), "already non-zero");
        assert_server_error(
            RedisCluster::lone_node()
                .client_builder()
                .protocol(protocol)
                .build()
                .cluster_set_config_epoch(-1),
            "Invalid config epoch",
        );

        // ADDSLOTS / ADDSLOTSRANGE.
        ca.cluster_addslots([0, 1, 2]).unwrap();
        ca.cluster_addslotsrange([(100, 199), (300, 300)]).unwrap();
        let info: ClusterInfo = ca.cluster_info().unwrap();
        assert_eq!(info.slots_assigned(), Some(104));
        assert_eq!(myself(&ca).slots, [(0, 2), (100, 199), (300, 300)]);
        assert_server_error(ca.cluster_addslots(1), "already busy");
        assert_server_error(ca.cluster_addslotsrange([(199, 200)]), "already busy");
        assert_server_error(ca.cluster_addslots(i64::from(CLUSTER_SLOTS)), "slot");
        assert!(matches!(
            ca.cluster_addslots(Vec::<i64>::new()),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            ca.cluster_addslotsrange(Vec::new()),
            Err(Error::InvalidRequest(_))
        ));

        // DELSLOTS / DELSLOTSRANGE.
        ca.cluster_delslots([1, 2]).unwrap();
        ca.cluster_delslotsrange([(150, 199)]).unwrap();
        assert_eq!(myself(&ca).slots, [(0, 0), (100, 149), (300, 300)]);
        let info: ClusterInfo = ca.cluster_info().unwrap();
        assert_eq!(info.slots_assigned(), Some(52));
        assert_server_error(ca.cluster_delslots(5), "already unassigned");
        assert_server_error(ca.cluster_delslotsrange([(5, 6)]), "already unassigned");
        assert!(matches!(
            ca.cluster_delslots(Vec::<i64>::new()),
            Err(Error::InvalidRequest(_))
        ));
        assert!(matches!(
            ca.cluster_delslotsrange(Vec::new()),
            Err(Error::InvalidRequest(_))
        ));

        // SETSLOT NODE binds a slot; STABLE clears nothing here; unknown nodes are refused.
        ca.cluster_setslot(5, ClusterSetslotSubcommand::Node(Bytes::from(a_id.clone())))
            .unwrap();
        assert_eq!(myself(&ca).slots, [(0, 0), (5, 5), (100, 149), (300, 300)]);
        ca.cluster_setslot(5, ClusterSetslotSubcommand::Stable)
            .unwrap();
        let unknown = Bytes::from_static(b"0000000000000000000000000000000000000000");
        assert_server_error(
            ca.cluster_setslot(6, ClusterSetslotSubcommand::Importing(unknown.clone())),
            "don't know about node",
        );
        assert_server_error(
            ca.cluster_setslot(6, ClusterSetslotSubcommand::Migrating(unknown.clone())),
            "not the owner",
        );
        assert_server_error(
            ca.cluster_setslot(6, ClusterSetslotSubcommand::Node(unknown)),
            "Unknown node",
        );

        // FLUSHSLOTS needs an empty database.
        wait_cluster_ok(&ca);
        ca.set("06S", "in slot 0").unwrap();
        assert_eq!(ca.cluster_countkeysinslot(0).unwrap(), 1);
        assert_eq!(
            ca.cluster_getkeysinslot::<Vec<String>>(0, 5).unwrap(),
            ["06S"]
        );
        assert_server_error(ca.cluster_flushslots(), "DB must be empty");
        assert_eq!(ca.del("06S").unwrap(), 1);
        ca.cluster_flushslots().unwrap();
        assert_eq!(myself(&ca).slots, []);
        let info: ClusterInfo = ca.cluster_info().unwrap();
        assert_eq!(info.slots_assigned(), Some(0));

        // SAVECONFIG writes nodes.conf in the node's directory.
        ca.cluster_saveconfig().unwrap();
        let saved = std::fs::read_to_string(a.dir().join("nodes.conf")).unwrap();
        assert!(saved.contains(&format!("{a_id} ")), "{saved}");
        assert!(saved.contains("myself,master"), "{saved}");
        assert!(saved.contains("currentEpoch 1"), "{saved}");

        // RESET: SOFT keeps the id, HARD makes a new one and zeroes the epochs.
        ca.cluster_addslots(7).unwrap();
        ca.cluster_reset_with(&ClusterResetOptions::new().soft())
            .unwrap();
        assert_eq!(ca.cluster_myid::<String>().unwrap(), a_id);
        assert_eq!(myself(&ca).slots, []);
        ca.cluster_reset_with(&ClusterResetOptions::new().hard())
            .unwrap();
        let new_id: String = ca.cluster_myid().unwrap();
        assert!(is_node_id(&new_id) && new_id != a_id, "{new_id}");
        let info: ClusterInfo = ca.cluster_info().unwrap();
        assert_eq!((info.my_epoch(), info.current_epoch()), (Some(0), Some(0)));
        let b_id: String = cb.cluster_myid().unwrap();
        cb.cluster_reset().unwrap();
        assert_eq!(
            cb.cluster_myid::<String>().unwrap(),
            b_id,
            "RESET is SOFT by default"
        );
        // A master holding keys cannot be reset.
        cb.cluster_addslots(0).unwrap();
        wait_cluster_ok(&cb);
        cb.set("06S", 1).unwrap();
        assert_server_error(cb.cluster_reset(), "containing keys");
    }
}

#[test]
fn cluster_meet_migration_replication_and_failover_on_lone_nodes() {
    for protocol in PROTOCOLS {
        let a = partial_node();
        let b = partial_node();
        let lone = RedisCluster::lone_node();
        let ca = client(&a, protocol);
        let cb = client(&b, protocol);
        let cl = client(&lone, protocol);
        let a_id: String = ca.cluster_myid().unwrap();
        let b_id: String = cb.cluster_myid().unwrap();
        ca.cluster_addslotsrange([(0, 99)]).unwrap();

        // MEET with the bus port (the nodes' bus ports are not port + 10000).
        ca.cluster_meet_with(
            "127.0.0.1",
            i64::from(b.port()),
            &ClusterMeetOptions::new().cluster_bus_port(i64::from(cluster_bus_port(&b))),
        )
        .unwrap();
        let joined = eventually(CONVERGE, || {
            let view = |c: &Client, other: &str| {
                c.cluster_nodes().is_ok_and(|nodes| {
                    nodes.len() == 2
                        && nodes
                            .by_id(other)
                            .is_some_and(|n| n.is_connected() && !n.has_flag("handshake"))
                })
            };
            let b_sees_slots = cb
                .cluster_nodes()
                .is_ok_and(|n| n.by_id(&a_id).is_some_and(|a| a.slots == [(0, 99)]));
            view(&ca, &b_id) && view(&cb, &a_id) && b_sees_slots
        });
        assert!(joined, "{:?}", cb.cluster_nodes());
        wait_cluster_ok(&ca);
        wait_cluster_ok(&cb);
        let info: ClusterInfo = cb.cluster_info().unwrap();
        assert_eq!(info.known_nodes(), Some(2));
        assert_eq!(cb.cluster_count_failure_reports(&a_id).unwrap(), 0);

        // MEET without a bus port assumes port + 10000: the node stays in handshake.
        cl.cluster_meet("127.0.0.1", i64::from(a.port())).unwrap();
        let nodes: ClusterNodes = cl.cluster_nodes().unwrap();
        assert_eq!(nodes.len(), 2);
        assert!(
            nodes.iter().any(|n| n.has_flag("handshake")
                && n.port == Some(a.port())
                && n.bus_port == Some(a.port() + 10000)),
            "{nodes:?}"
        );
        assert_server_error(cl.cluster_meet("not-an-ip", 1), "Invalid node address");

        // SETSLOT MIGRATING / IMPORTING, and ASKING for the redirected command.
        ca.cluster_setslot(
            0,
            ClusterSetslotSubcommand::Migrating(Bytes::from(b_id.clone())),
        )
        .unwrap();
        cb.cluster_setslot(
            0,
            ClusterSetslotSubcommand::Importing(Bytes::from(a_id.clone())),
        )
        .unwrap();
        assert_eq!(myself(&ca).migrating, [(0, b_id.clone())]);
        assert_eq!(myself(&cb).importing, [(0, a_id.clone())]);
        // "06S" hashes to slot 0: missing on the source, so the client is sent to the target.
        let ask = server_error(ca.get::<Option<String>>("06S"));
        assert_eq!(ask.kind(), ServerErrorKind::Ask);
        assert_eq!(ask.message(), format!("ASK 0 127.0.0.1:{}", b.port()));
        // The target refuses it without ASKING...
        let moved = server_error(cb.get::<Option<String>>("06S"));
        assert_eq!(moved.kind(), ServerErrorKind::Moved);
        assert_eq!(moved.message(), format!("MOVED 0 127.0.0.1:{}", a.port()));
        // ...and serves it right after ASKING, on the same connection.
        let results = cb
            .pipeline()
            .transaction(false)
            .asking()
            .set("06S", "imported")
            .asking()
            .get("06S")
            .execute()
            .unwrap();
        assert_eq!(results.len(), 4);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(
            results[3].as_ref().unwrap(),
            &Value::BulkString(Bytes::from_static(b"imported"))
        );
        // The flag lasts one command only.
        let (ok, err) = {
            let results = cb
                .pipeline()
                .transaction(false)
                .asking()
                .get("06S")
                .get("06S")
                .execute()
                .unwrap();
            (results[1].is_ok(), results[2].is_err())
        };
        assert!(ok && err, "ASKING applies to the next command only");
        // Finish the move: bind the slot to B on both, which clears the migration states.
        assert_eq!(cb.cluster_countkeysinslot(0).unwrap(), 1);
        cb.cluster_setslot(0, ClusterSetslotSubcommand::Node(Bytes::from(b_id.clone())))
            .unwrap();
        ca.cluster_setslot(0, ClusterSetslotSubcommand::Node(Bytes::from(b_id.clone())))
            .unwrap();
        assert_eq!(myself(&ca).migrating, []);
        assert_eq!(myself(&cb).slots, [(0, 0)]);
        assert_eq!(
            cb.get::<Option<String>>("06S").unwrap().as_deref(),
            Some("imported")
        );
        // Give it back, empty, so B can become a replica.
        assert_eq!(cb.del("06S").unwrap(), 1);
        cb.cluster_setslot(0, ClusterSetslotSubcommand::Stable)
            .unwrap();
        cb.cluster_delslots(0).unwrap();
        ca.cluster_setslot(0, ClusterSetslotSubcommand::Node(Bytes::from(a_id.clone())))
            .unwrap();
        assert_eq!(myself(&ca).slots, [(0, 99)]);

        // REPLICATE: B follows A.
        assert_server_error(ca.cluster_replicate(&a_id), "replicate myself");
        cb.cluster_replicate(&a_id).unwrap();
        let following = eventually(CONVERGE, || {
            let me = myself(&cb);
            me.is_replica()
                && me.master.as_deref() == Some(a_id.as_str())
                && replication_link_up(&cb)
                && ca
                    .cluster_replicas(&a_id)
                    .is_ok_and(|r| r.len() == 1 && r[0].id == b_id)
        });
        assert!(following, "{:?}", cb.cluster_nodes());

        // FAILOVER: a manual failover of the replica, then a takeover back.
        assert_server_error(ca.cluster_failover(), "to a replica");
        assert_server_error(
            ca.cluster_failover_with(&ClusterFailoverOptions::new().force()),
            "to a replica",
        );
        cb.cluster_failover().unwrap();
        let swapped = eventually(CONVERGE, || {
            myself(&cb).is_master() && myself(&ca).master.as_deref() == Some(b_id.as_str())
        });
        assert!(swapped, "{:?}", ca.cluster_nodes());
        assert_eq!(myself(&cb).slots, [(0, 99)]);
        ca.cluster_failover_with(&ClusterFailoverOptions::new().takeover())
            .unwrap();
        let back = eventually(CONVERGE, || {
            myself(&ca).is_master()
                && myself(&ca).slots == [(0, 99)]
                && myself(&cb).master.as_deref() == Some(a_id.as_str())
        });
        assert!(back, "{:?}", cb.cluster_nodes());

        // FORGET: not oneself, not one's master; a master forgets its replica.
        assert_server_error(ca.cluster_forget(&a_id), "forget myself");
        assert_server_error(cb.cluster_forget(&a_id), "forget my master");
        assert_server_error(ca.cluster_forget("nope"), "Unknown node");
        ca.cluster_forget(&b_id).unwrap();
        let nodes: ClusterNodes = ca.cluster_nodes().unwrap();
        assert_eq!(nodes.len(), 1);
        assert!(nodes.by_id(&b_id).is_none());

        // A soft reset turns the replica back into an empty master that knows nobody.
        cb.cluster_reset_with(&ClusterResetOptions::new().soft())
            .unwrap();
        let me = myself(&cb);
        assert!(me.is_master() && me.master.is_none(), "{me:?}");
        assert_eq!(cb.cluster_info().unwrap().known_nodes(), Some(1));
    }
}

#[test]
fn cluster_commands_on_a_server_without_cluster_support() {
    let s = CommandServer::start();
    s.each_protocol(|c, _| {
        assert_server_error(c.cluster_info(), "cluster support disabled");
        assert_server_error(c.cluster_myid::<String>(), "cluster support disabled");
        assert_server_error(c.asking(), "cluster support disabled");
        // SENTINEL commands exist only in Sentinel mode.
        assert!(c.sentinel_masters().is_err());
    });
}

// ---------------------------------------------------------------------------------------------
// SENTINEL
// ---------------------------------------------------------------------------------------------

#[test]
fn sentinel_commands_on_a_sentinel_group() {
    let group = SentinelGroup::builder("mymaster")
        .replicas(1)
        .sentinels(3)
        .start();
    assert_eq!(group.quorum(), 2);
    // Version gates (and a master for MONITOR).
    let gate = CommandServer::start();
    let other = RedisServer::start();
    let master_port = group.master().port();
    let replica_port = group.replicas()[0].port();
    for (round, protocol) in PROTOCOLS.into_iter().enumerate() {
        let s = client(group.sentinel(0), protocol);

        // MASTERS / MASTER.
        let masters: Vec<SentinelState> = s.sentinel_masters().unwrap();
        assert_eq!(masters.len(), 1);
        let master: SentinelState = s.sentinel_master("mymaster").unwrap();
        for field in ["name", "ip", "port", "runid", "flags", "quorum"] {
            assert_eq!(masters[0].get(field), master.get(field), "{field}");
        }
        assert_eq!(master.name(), Some("mymaster"));
        assert_eq!(master.ip(), Some("127.0.0.1"));
        assert_eq!(master.port(), Some(master_port));
        assert!(master.is_master() && !master.is_sdown() && !master.is_odown());
        assert_eq!(master.num_slaves(), Some(1));
        assert_eq!(master.num_other_sentinels(), Some(2));
        assert_eq!(master.quorum(), Some(2));
        assert_eq!(master.get("down-after-milliseconds"), Some("1000"));
        assert_eq!(master.get("failover-timeout"), Some("10000"));
        assert_server_error(s.sentinel_master("nope"), "No such master");

        // REPLICAS and the deprecated SLAVES.
        let replicas: Vec<SentinelState> = s.sentinel_replicas("mymaster").unwrap();
        assert_eq!(replicas.len(), 1);
        let replica = &replicas[0];
        assert!(replica.is_replica() && !replica.is_sdown(), "{replica:?}");
        assert_eq!(replica.port(), Some(replica_port));
        assert_eq!(
            replica.name(),
            Some(format!("127.0.0.1:{replica_port}").as_str())
        );
        assert_eq!(replica.get_as::<u16>("master-port"), Some(master_port));
        assert_eq!(replica.get("master-link-status"), Some("ok"));
        let slaves: Vec<SentinelState> = s.sentinel_slaves("mymaster").unwrap();
        assert_eq!(
            slaves.iter().map(SentinelState::port).collect::<Vec<_>>(),
            [Some(replica_port)]
        );
        assert_server_error(s.sentinel_replicas("nope"), "No such master");

        // SENTINELS and MYID: each Sentinel sees the two others under their ids.
        let sentinels: Vec<SentinelState> = s.sentinel_sentinels("mymaster").unwrap();
        let mut ports: Vec<u16> = sentinels.iter().filter_map(SentinelState::port).collect();
        ports.sort_unstable();
        let mut expected = group.sentinel_ports()[1..].to_vec();
        expected.sort_unstable();
        assert_eq!(ports, expected);
        assert!(sentinels.iter().all(SentinelState::is_sentinel));
        let myid: String = s.sentinel_myid().unwrap();
        assert!(is_node_id(&myid), "{myid}");
        let seen_by_other: Vec<SentinelState> = client(group.sentinel(1), protocol)
            .sentinel_sentinels("mymaster")
            .unwrap();
        let me = seen_by_other
            .iter()
            .find(|st| st.port() == Some(group.sentinel(0).port()))
            .expect("sentinel 1 sees sentinel 0");
        assert_eq!(me.get("runid"), Some(myid.as_str()));
        assert_eq!(me.name(), Some(myid.as_str()));

        // GET-MASTER-ADDR-BY-NAME: an (ip, port) pair, nil for an unknown name.
        let addr: (String, u16) = s.sentinel_get_master_addr_by_name("mymaster").unwrap();
        assert_eq!(addr, ("127.0.0.1".to_owned(), master_port));
        let none: Option<(String, u16)> = s.sentinel_get_master_addr_by_name("nope").unwrap();
        assert_eq!(none, None);

        // CKQUORUM.
        let quorum: String = s.sentinel_ckquorum("mymaster").unwrap();
        assert!(quorum.starts_with("OK 3 usable Sentinels"), "{quorum}");
        assert_server_error(s.sentinel_ckquorum::<String>("nope"), "No such master");

        // IS-MASTER-DOWN-BY-ADDR with runid `*`: only the down state, no vote.
        let down: (i64, String, i64) = s
            .sentinel_is_master_down_by_addr("127.0.0.1", i64::from(master_port), 0, "*")
            .unwrap();
        assert_eq!(down, (0, "*".to_owned(), 0));

        // INFO-CACHE: per master, the age and text of the last INFO of the master and replicas.
        let cache: HashMap<String, Vec<(i64, Option<String>)>> =
            s.sentinel_info_cache(["mymaster", "nope"]).unwrap();
        assert_eq!(cache.len(), 1, "unknown names are skipped");
        let entries = &cache["mymaster"];
        assert_eq!(entries.len(), 2, "the master and its replica");
        let (age, master_info) = &entries[0];
        assert!(*age >= 0);
        let master_info = master_info.as_deref().expect("an INFO was cached");
        assert!(master_info.contains("role:master"), "{master_info}");
        assert!(master_info.contains(&format!("tcp_port:{master_port}")));
        let replica_info = entries[1].1.as_deref().expect("an INFO was cached");
        assert!(replica_info.contains("role:slave"), "{replica_info}");

        // PENDING-SCRIPTS: none configured.
        let scripts: Vec<Value> = s.sentinel_pending_scripts().unwrap();
        assert!(scripts.is_empty(), "{scripts:?}");

        // DEBUG lists the timing parameters; DEBUG with pairs changes them.
        let debug: HashMap<String, String> = s.sentinel_debug().unwrap();
        assert_eq!(debug.get("INFO-PERIOD").map(String::as_str), Some("10000"));
        assert_eq!(
            debug.get("PUBLISH-PERIOD").map(String::as_str),
            Some("2000")
        );
        let ok: String = s
            .sentinel_debug_with(
                &SentinelDebugOptions::new()
                    .data("info-period", 5000)
                    .data("publish-period", 1500),
            )
            .unwrap();
        assert_eq!(ok, "OK");
        let debug: HashMap<String, String> = s.sentinel_debug().unwrap();
        assert_eq!(debug["INFO-PERIOD"], "5000");
        assert_eq!(debug["PUBLISH-PERIOD"], "1500");
        s.sentinel_debug_with::<()>(
            &SentinelDebugOptions::new()
                .data("info-period", 10000)
                .data("publish-period", 2000),
        )
        .unwrap();
        assert_server_error(
            s.sentinel_debug_with::<()>(&SentinelDebugOptions::new().data("nope", 1)),
            "nope",
        );

        // CONFIG GET / SET of the global parameters.
        let config: HashMap<String, String> = s
            .sentinel_config(SentinelConfigAction::Get(vec!["resolve-hostnames".into()]))
            .unwrap();
        assert_eq!(
            config,
            HashMap::from([("resolve-hostnames".to_owned(), "no".to_owned())])
        );
        let ok: String = s
            .sentinel_config(SentinelConfigAction::Set(vec![(
                "announce-hostnames".into(),
                "yes".into(),
            )]))
            .unwrap();
        assert_eq!(ok, "OK");
        let config: HashMap<String, String> = s
            .sentinel_config(SentinelConfigAction::Get(vec!["announce-hostnames".into()]))
            .unwrap();
        assert_eq!(config["announce-hostnames"], "yes");
        s.sentinel_config::<()>(SentinelConfigAction::Set(vec![(
            "announce-hostnames".into(),
            "no".into(),
        )]))
        .unwrap();
        // An empty GET or SET list is refused before sending.
        let empty = s.sentinel_config::<Value>(SentinelConfigAction::Get(Vec::new()));
        assert!(matches!(empty, Err(Error::InvalidRequest(_))), "{empty:?}");
        if gate.supports("7.2.0", "SENTINEL CONFIG GET with several parameters") {
            let config: HashMap<String, String> = s
                .sentinel_config(SentinelConfigAction::Get(vec![
                    "resolve-hostnames".into(),
                    "announce-hostnames".into(),
                ]))
                .unwrap();
            assert_eq!(config.len(), 2, "{config:?}");
            assert_eq!(config["announce-hostnames"], "no");
        }

        // HELP.
        let help: Vec<String> = s.sentinel_help().unwrap();
        assert!(help[0].starts_with("SENTINEL <subcommand>"), "{help:?}");
        assert!(help.iter().any(|l| l.starts_with("CKQUORUM")), "{help:?}");

        // SIMULATE-FAILURE.
        // GENERATOR: SENTINEL SIMULATE-FAILURE has arity -3 (a mode is required), but the spec
        // marks the mode optional, so the base method sends no mode and always fails.
        assert_server_error(
            s.sentinel_simulate_failure::<Value>(),
            "wrong number of arguments",
        );
        // The mode tokens have only a name in the spec; the generator sends the name.
        let modes: Vec<String> = s
            .sentinel_simulate_failure_with(&SentinelSimulateFailureOptions::new().help())
            .unwrap();
        assert_eq!(modes, ["crash-after-election", "crash-after-promotion"]);

        // SET changes a monitored master's configuration.
        s.sentinel_set(
            "mymaster",
            [("down-after-milliseconds", "2000"), ("quorum", "2")],
        )
        .unwrap();
        let master: SentinelState = s.sentinel_master("mymaster").unwrap();
        assert_eq!(master.get("down-after-milliseconds"), Some("2000"));
        s.sentinel_set("mymaster", [("down-after-milliseconds", 1000)])
            .unwrap();
        assert_server_error(
            s.sentinel_set("mymaster", [("bogus", "1")]),
            "Unknown option",
        );
        assert_server_error(s.sentinel_set("nope", [("quorum", "1")]), "No such master");

        // FLUSHCONFIG rewrites the configuration file with the current state.
        s.sentinel_flushconfig().unwrap();
        let file = group
            .sentinel(0)
            .config_file()
            .expect("a Sentinel has a config file");
        let saved = std::fs::read_to_string(file).unwrap();
        assert!(
            saved.contains(&format!(
                "sentinel monitor mymaster 127.0.0.1 {master_port} 2"
            )),
            "{saved}"
        );
        assert!(saved.contains(&format!("sentinel myid {myid}")), "{saved}");

        // MONITOR / RESET / FAILOVER / REMOVE on a second master.
        let name = format!("other-{round}");
        s.sentinel_monitor(&name, "127.0.0.1", i64::from(other.port()), 1)
            .unwrap();
        let masters: Vec<SentinelState> = s.sentinel_masters().unwrap();
        assert_eq!(masters.len(), 2);
        let added: SentinelState = s.sentinel_master(&name).unwrap();
        assert_eq!(added.port(), Some(other.port()));
        assert_eq!(added.quorum(), Some(1));
        assert_server_error(
            s.sentinel_monitor(&name, "127.0.0.1", i64::from(other.port()), 1),
            "Duplicate",
        );
        assert_server_error(
            s.sentinel_monitor("bad-quorum", "127.0.0.1", i64::from(other.port()), 0),
            "Quorum must be 1 or greater",
        );
        assert_eq!(s.sentinel_reset("other-*").unwrap(), 1);
        assert_eq!(s.sentinel_reset("nomatch-*").unwrap(), 0);
        let no_replica = server_error(s.sentinel_failover(&name));
        assert_eq!(no_replica.code(), "NOGOODSLAVE", "{no_replica:?}");
        assert_server_error(s.sentinel_failover("nope"), "No such master");
        s.sentinel_remove(&name).unwrap();
        assert_eq!(s.sentinel_masters().unwrap().len(), 1);
        assert_server_error(s.sentinel_remove(&name), "No such master");
    }

    // FAILOVER without agreement: the replica is promoted (last, as it changes the group).
    let s = client(group.sentinel(0), Protocol::Resp3);
    s.sentinel_failover("mymaster").unwrap();
    let new_master = group
        .wait_for_failover(CONVERGE)
        .expect("the Sentinels report the promoted replica");
    assert_eq!(new_master, group.replicas()[0].addr());
    let addr: (String, u16) = s.sentinel_get_master_addr_by_name("mymaster").unwrap();
    assert_eq!(addr.1, replica_port);
}

#[test]
fn sentinel_group_fails_over_when_its_master_dies() {
    let mut group = SentinelGroup::start("failing", 1, 3);
    let old = group.master().addr();
    group.kill_master();
    let new_master = group
        .wait_for_failover(CONVERGE)
        .expect("the Sentinels fail over");
    assert_ne!(new_master, old);
    assert_eq!(group.replica_index(new_master), Some(0));
    for protocol in PROTOCOLS {
        let s = client(group.sentinel(2), protocol);
        let master: SentinelState = s.sentinel_master("failing").unwrap();
        assert_eq!(master.port(), Some(new_master.port()));
        assert!(master.is_master(), "{master:?}");
        let promoted = client(&group.replicas()[0], protocol);
        let role = promoted.role().unwrap();
        assert!(matches!(role, Role::Master { .. }), "{role:?}");
    }
}
