//! Helpers shared by the cluster test modules: plain clients on one node, slot migrations
//! done by hand, and the counters of a node's INFO.

use std::time::Duration;

use redis_client::{Client, cmd};
use tests::RedisCluster;

/// A plain client on node `i` (for commands meant for that node only; no redirect is
/// followed).
pub(crate) fn node_client(cluster: &RedisCluster, i: usize) -> Client {
    cluster
        .node(i)
        .client_builder()
        .socket_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .build()
}

/// Node `i`'s `host:port` as the cluster client reports slot owners.
pub(crate) fn owner_of(cluster: &RedisCluster, i: usize) -> (String, u16) {
    (cluster.node(i).host().to_owned(), cluster.node(i).port())
}

/// Runs `CLUSTER SETSLOT <slot> <state> <id>` on node `node`.
pub(crate) fn set_slot(cluster: &RedisCluster, node: usize, slot: u16, state: &str, id: &str) {
    cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg(state)
        .arg(id)
        .execute(&node_client(cluster, node))
        .unwrap_or_else(|e| panic!("SETSLOT {slot} {state} on node {node}: {e}"));
}

/// Starts moving `slot` from node `source` to node `target`: IMPORTING on the target first,
/// then MIGRATING on the source (the order `redis-cli --cluster reshard` uses).
pub(crate) fn start_migration(cluster: &RedisCluster, slot: u16, source: usize, target: usize) {
    set_slot(cluster, target, slot, "IMPORTING", cluster.node_id(source));
    set_slot(cluster, source, slot, "MIGRATING", cluster.node_id(target));
}

/// Moves `keys` from node `from` to node `to` with one MIGRATE (no REPLACE: a key already on
/// the target would be a bug, and MIGRATE then fails with BUSYKEY). The slot must be
/// MIGRATING.
pub(crate) fn migrate_keys<K: AsRef<str> + std::fmt::Debug>(
    cluster: &RedisCluster,
    from: usize,
    to: usize,
    keys: &[K],
) {
    let target = cluster.node(to);
    let mut migrate = cmd("MIGRATE");
    migrate
        .arg(target.host())
        .arg(target.port())
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS");
    for key in keys {
        migrate.arg(key.as_ref());
    }
    migrate
        .execute(&node_client(cluster, from))
        .unwrap_or_else(|e| panic!("MIGRATE {keys:?}: {e}"));
}

/// One `name:key=value,...` line of node `i`'s `INFO <section>`: the number after
/// `<field>=`, 0 when the line is missing.
pub(crate) fn info_stat(
    cluster: &RedisCluster,
    i: usize,
    section: &str,
    line: &str,
    field: &str,
) -> u64 {
    let text: String = cmd("INFO")
        .arg(section)
        .query(&node_client(cluster, i))
        .expect("INFO");
    let prefix = format!("{line}:");
    let field = format!("{field}=");
    text.lines()
        .find_map(|l| l.trim_end().strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').find_map(|kv| kv.strip_prefix(&field)))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits (at most 10 s) until every replica of every primary has caught up with its
/// primary's replication offset: what a test needs before reading from replicas. (`WAIT`
/// would count only the writes of its own connection.)
pub(crate) fn wait_replicated(client: &redis_client::ClusterClient) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for primary in client.primaries() {
        loop {
            let info: String = cmd("INFO")
                .arg("replication")
                .query(&primary)
                .expect("INFO");
            let field = |line: &str, key: &str| -> Option<u64> {
                line.split(',')
                    .find_map(|kv| kv.strip_prefix(key))
                    .and_then(|n| n.trim().parse().ok())
            };
            let mut master = None;
            let mut replicas = Vec::new();
            for line in info.lines() {
                if let Some(n) = line.strip_prefix("master_repl_offset:") {
                    master = n.trim().parse::<u64>().ok();
                } else if line.starts_with("slave") && line.contains("offset=") {
                    replicas.push(field(
                        line.split_once(':').map_or("", |(_, r)| r),
                        "offset=",
                    ));
                }
            }
            let caught_up = master.is_some_and(|m| {
                !replicas.is_empty() && replicas.iter().all(|r| r.is_some_and(|o| o >= m))
            });
            if caught_up {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "replicas did not catch up: {info}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `calls` of `cmdstat_<name>` in node `i`'s `INFO commandstats` (0 when never called).
pub(crate) fn calls(cluster: &RedisCluster, i: usize, name: &str) -> u64 {
    info_stat(
        cluster,
        i,
        "commandstats",
        &format!("cmdstat_{name}"),
        "calls",
    )
}
