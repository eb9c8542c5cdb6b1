//! The slot map: which node serves each hash slot, read from `CLUSTER SHARDS` (Redis 7.0+) or
//! `CLUSTER SLOTS` (before), and patched by MOVED replies in between.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use redis_commands::replies::{ClusterShard, ClusterSlotRange};
use redis_conn::ConnectionConfig;
use redis_pool::{Pool, PoolOptions};

use super::slots::SLOT_COUNT;

/// A node's TCP address, as the cluster announces it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct NodeAddr {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl NodeAddr {
    pub(crate) fn new(host: impl Into<String>, port: u16) -> Self {
        NodeAddr {
            host: host.into(),
            port,
        }
    }

    /// Parses the `host:port` of a MOVED or ASK reply; the host may be an IPv6 address (the
    /// port follows the last colon) or empty (the node that sent the redirect, `from`).
    pub(crate) fn parse_redirect(text: &str, from: &NodeAddr) -> Option<NodeAddr> {
        let (host, port) = text.rsplit_once(':')?;
        let port = port.parse().ok()?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Some(NodeAddr::new(from.host.clone(), port));
        }
        Some(NodeAddr::new(host, port))
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One cluster node and its connection pool, opened on first use.
pub(crate) struct Node {
    pub(crate) addr: NodeAddr,
    pool: OnceLock<Pool>,
    /// Connections that sent `READONLY`, for reads served by a replica.
    readonly_pool: OnceLock<Pool>,
    /// When a request to the node last failed on its connection (timeout, reset, refused).
    failed_at: Mutex<Option<Instant>>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("addr", &self.addr)
            .field("pool_open", &self.pool.get().is_some())
            .finish()
    }
}

impl Node {
    pub(crate) fn new(addr: NodeAddr) -> Arc<Node> {
        Arc::new(Node {
            addr,
            pool: OnceLock::new(),
            readonly_pool: OnceLock::new(),
            failed_at: Mutex::new(None),
        })
    }

    /// Notes that a request to the node failed on its connection.
    pub(crate) fn mark_failed(&self) {
        *self.failed_at.lock() = Some(Instant::now());
    }

    /// Whether a request to the node failed on its connection within `window`: a refresh
    /// asks such a node last (a frozen node would cost it a whole timeout).
    pub(crate) fn failed_within(&self, window: Duration) -> bool {
        self.failed_at
            .lock()
            .is_some_and(|at| at.elapsed() < window)
    }

    /// The node's pool, created on first use from the shared settings with this node's
    /// address. Creating a pool opens nothing.
    pub(crate) fn pool(&self, base: &ConnectionConfig, options: PoolOptions) -> &Pool {
        self.pool
            .get_or_init(|| Pool::new(self.config(base), options))
    }

    /// The node's pool of connections that sent `READONLY` after their handshake (for
    /// reads from a replica), created on first use.
    pub(crate) fn readonly_pool(&self, base: &ConnectionConfig, options: PoolOptions) -> &Pool {
        self.readonly_pool.get_or_init(|| {
            let config = self.config(base);
            Pool::with_connector(super::replicas::ReadOnlyConnector::new(config), options)
        })
    }

    /// The shared settings with this node's address.
    fn config(&self, base: &ConnectionConfig) -> ConnectionConfig {
        base.clone()
            .into_builder()
            .host(self.addr.host.clone())
            .port(self.addr.port)
            .build()
    }

    /// Closes the node's connections: idle ones now, the others when they come back.
    pub(crate) fn close(&self) {
        for pool in [self.pool.get(), self.readonly_pool.get()]
            .into_iter()
            .flatten()
        {
            pool.clear();
        }
    }
}

/// One shard as discovery read it: the slots its master serves, the master, the replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ShardLayout {
    pub(crate) slots: Vec<(u16, u16)>,
    pub(crate) master: NodeAddr,
    pub(crate) replicas: Vec<NodeAddr>,
}

/// Reads `CLUSTER SHARDS`. `queried` is the node that answered (for nodes whose endpoint is
/// unknown); `tls` chooses the TLS port when a node announces one.
pub(crate) fn layout_from_shards(
    shards: Vec<ClusterShard>,
    queried: &NodeAddr,
    tls: bool,
) -> Vec<ShardLayout> {
    let mut layout = Vec::with_capacity(shards.len());
    for shard in shards {
        let Some(master) = shard.master() else {
            continue;
        };
        let Some(master_addr) = shard_node_addr(master, queried, tls) else {
            continue;
        };
        let replicas = shard
            .nodes
            .iter()
            .filter(|n| n.role != "master" && n.health == "online")
            .filter_map(|n| shard_node_addr(n, queried, tls))
            .collect();
        layout.push(ShardLayout {
            slots: shard.slots.clone(),
            master: master_addr,
            replicas,
        });
    }
    layout
}

fn shard_node_addr(
    node: &redis_commands::replies::ClusterShardNode,
    queried: &NodeAddr,
    tls: bool,
) -> Option<NodeAddr> {
    let port = if tls {
        node.tls_port.or(node.port)
    } else {
        node.port
    }?;
    let host = [node.endpoint.as_str(), node.ip.as_str()]
        .into_iter()
        .find(|h| !h.is_empty() && *h != "?")
        .unwrap_or(queried.host.as_str());
    Some(NodeAddr::new(host, port))
}

/// Reads `CLUSTER SLOTS` (servers before 7.0). A node whose endpoint is null is the node that
/// answered; one announced as `?` (unknown hostname) cannot be reached and is left out.
pub(crate) fn layout_from_slots(
    ranges: Vec<ClusterSlotRange>,
    queried: &NodeAddr,
) -> Vec<ShardLayout> {
    let addr = |node: &redis_commands::replies::ClusterSlotNode| match node.host.as_deref() {
        None | Some("") => Some(NodeAddr::new(queried.host.clone(), node.port)),
        Some("?") => None,
        Some(host) => Some(NodeAddr::new(host, node.port)),
    };
    let mut layout = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Some(master) = range.master().and_then(addr) else {
            continue;
        };
        layout.push(ShardLayout {
            slots: vec![(range.start, range.end)],
            master,
            replicas: range.replicas().iter().filter_map(addr).collect(),
        });
    }
    layout
}

/// Marks a slot no node serves.
const NO_NODE: u16 = u16::MAX;

/// The slot map and the nodes it knows.
#[derive(Debug)]
pub(crate) struct Topology {
    /// For each slot, the index in `nodes` of its primary, or [`NO_NODE`].
    slots: Box<[u16]>,
    /// Every node known: primaries, replicas, and nodes a redirect named.
    nodes: Vec<Arc<Node>>,
    /// The indexes of the nodes serving slots, in the order of their first slot.
    primaries: Vec<usize>,
    /// The indexes of the replicas discovery reported healthy.
    replicas: Vec<usize>,
    /// For each primary (by index), the indexes of its healthy replicas.
    shard_replicas: Vec<(usize, Vec<usize>)>,
}

impl Topology {
    /// A map that knows no node.
    pub(crate) fn empty() -> Topology {
        Topology {
            slots: vec![NO_NODE; usize::from(SLOT_COUNT)].into_boxed_slice(),
            nodes: Vec::new(),
            primaries: Vec::new(),
            replicas: Vec::new(),
            shard_replicas: Vec::new(),
        }
    }

    /// A map built from a discovery's layout, reusing the nodes (and their pools) of `old`
    /// that are still in the cluster. Also returns the old nodes that are not, to be closed.
    pub(crate) fn from_layout(
        layout: &[ShardLayout],
        old: &[Arc<Node>],
    ) -> (Topology, Vec<Arc<Node>>) {
        let mut map = Topology::empty();
        let reuse = |addr: &NodeAddr, map: &mut Topology| -> Option<usize> {
            if let Some(i) = map.index_of(addr) {
                return Some(i);
            }
            let node = old
                .iter()
                .find(|n| n.addr == *addr)
                .cloned()
                .unwrap_or_else(|| Node::new(addr.clone()));
            map.push(node)
        };
        let valid = |&&(start, end): &&(u16, u16)| start <= end && end < SLOT_COUNT;
        // A shard serving no slot (a failed primary replaced by its replica, a node not given
        // slots yet) routes nothing: it is left out, and dropped if it was known.
        let serving: Vec<&ShardLayout> = layout
            .iter()
            .filter(|shard| shard.slots.iter().any(|r| valid(&r)))
            .collect();
        for shard in &serving {
            let Some(master) = reuse(&shard.master, &mut map) else {
                continue;
            };
            for &(start, end) in shard.slots.iter().filter(valid) {
                for slot in start..=end {
                    // The index fits: `push` refuses more than `NO_NODE` nodes.
                    map.slots[usize::from(slot)] = u16::try_from(master).unwrap_or(NO_NODE);
                }
            }
        }
        for shard in &serving {
            for replica in &shard.replicas {
                if let Some(i) = reuse(replica, &mut map)
                    && !map.replicas.contains(&i)
                {
                    map.replicas.push(i);
                }
            }
        }
        map.recompute_primaries();
        // A node listed both as a replica and as a primary (a report taken mid-failover) is a
        // primary.
        let primaries = map.primaries.clone();
        map.replicas.retain(|i| !primaries.contains(i));
        for shard in &serving {
            let Some(master) = map.index_of(&shard.master) else {
                continue;
            };
            let replicas: Vec<usize> = shard
                .replicas
                .iter()
                .filter_map(|r| map.index_of(r))
                .filter(|i| map.replicas.contains(i))
                .collect();
            if !replicas.is_empty() && !map.shard_replicas.iter().any(|(m, _)| *m == master) {
                map.shard_replicas.push((master, replicas));
            }
        }
        let dropped = old
            .iter()
            .filter(|n| map.index_of(&n.addr).is_none())
            .cloned()
            .collect();
        (map, dropped)
    }

    /// The primary serving `slot`.
    pub(crate) fn primary_for(&self, slot: u16) -> Option<&Arc<Node>> {
        let index = *self.slots.get(usize::from(slot))?;
        self.nodes.get(usize::from(index))
    }

    /// The nodes serving slots, in the order of their first slot.
    pub(crate) fn primaries(&self) -> impl Iterator<Item = &Arc<Node>> + '_ {
        self.primaries.iter().filter_map(|&i| self.nodes.get(i))
    }

    /// The replicas discovery reported healthy.
    pub(crate) fn replicas(&self) -> impl Iterator<Item = &Arc<Node>> + '_ {
        self.replicas.iter().filter_map(|&i| self.nodes.get(i))
    }

    /// The healthy replicas of the primary serving `slot`, as discovery reported them.
    pub(crate) fn replicas_for(&self, slot: u16) -> Vec<Arc<Node>> {
        let Some(&index) = self.slots.get(usize::from(slot)) else {
            return Vec::new();
        };
        self.shard_replicas
            .iter()
            .find(|(m, _)| *m == usize::from(index))
            .map(|(_, replicas)| {
                replicas
                    .iter()
                    .filter_map(|&i| self.nodes.get(i).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The primary number `pick % count`.
    pub(crate) fn pick_primary(&self, pick: usize) -> Option<&Arc<Node>> {
        if self.primaries.is_empty() {
            return None;
        }
        let i = self.primaries[pick % self.primaries.len()];
        self.nodes.get(i)
    }

    /// How many primaries serve slots.
    #[cfg(test)]
    pub(crate) fn primary_count(&self) -> usize {
        self.primaries.len()
    }

    /// Every node known, redirect targets included.
    pub(crate) fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }

    /// How many slots have a primary.
    pub(crate) fn covered_slots(&self) -> usize {
        self.slots.iter().filter(|&&i| i != NO_NODE).count()
    }

    /// The node at `addr`, added to the known nodes (serving no slot) when it is new: the
    /// target of an ASK redirect. `None` only when the map is full.
    pub(crate) fn node_at(&mut self, addr: &NodeAddr) -> Option<Arc<Node>> {
        let i = match self.index_of(addr) {
            Some(i) => i,
            None => self.push(Node::new(addr.clone()))?,
        };
        self.nodes.get(i).cloned()
    }

    /// Records that `addr` serves `slot` (a MOVED reply); returns that node.
    pub(crate) fn set_slot_owner(&mut self, slot: u16, addr: &NodeAddr) -> Option<Arc<Node>> {
        if slot >= SLOT_COUNT {
            return None;
        }
        let node = self.node_at(addr)?;
        let i = self.index_of(addr)?;
        let previous = self.slots[usize::from(slot)];
        self.slots[usize::from(slot)] = u16::try_from(i).ok()?;
        if !self.primaries.contains(&i) {
            self.primaries.push(i);
            self.replicas.retain(|&r| r != i);
            for (_, replicas) in &mut self.shard_replicas {
                replicas.retain(|&r| r != i);
            }
        }
        // The previous owner may serve no slot any more.
        if previous != NO_NODE && !self.slots.contains(&previous) {
            self.primaries.retain(|&p| p != usize::from(previous));
        }
        Some(node)
    }

    fn index_of(&self, addr: &NodeAddr) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == *addr)
    }

    fn push(&mut self, node: Arc<Node>) -> Option<usize> {
        if self.nodes.len() >= usize::from(NO_NODE) {
            return None;
        }
        self.nodes.push(node);
        Some(self.nodes.len() - 1)
    }

    fn recompute_primaries(&mut self) {
        let mut primaries: Vec<usize> = Vec::new();
        for &i in self.slots.iter() {
            if i != NO_NODE && !primaries.contains(&usize::from(i)) {
                primaries.push(usize::from(i));
            }
        }
        self.primaries = primaries;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> NodeAddr {
        NodeAddr::new("127.0.0.1", port)
    }

    fn shard(slots: &[(u16, u16)], master: u16, replicas: &[u16]) -> ShardLayout {
        ShardLayout {
            slots: slots.to_vec(),
            master: addr(master),
            replicas: replicas.iter().map(|&p| addr(p)).collect(),
        }
    }

    #[test]
    fn a_layout_maps_every_slot_to_its_primary() {
        let layout = [
            shard(&[(0, 5460)], 7000, &[7003]),
            shard(&[(5461, 10922)], 7001, &[7004]),
            shard(&[(10923, 16383)], 7002, &[7005]),
        ];
        let (map, dropped) = Topology::from_layout(&layout, &[]);
        assert!(dropped.is_empty());
        assert_eq!(map.covered_slots(), 16384);
        assert_eq!(map.primary_for(0).unwrap().addr, addr(7000));
        assert_eq!(map.primary_for(5461).unwrap().addr, addr(7001));
        assert_eq!(map.primary_for(16383).unwrap().addr, addr(7002));
        assert_eq!(map.primary_count(), 3);
        assert_eq!(map.replicas().count(), 3);
        assert_eq!(map.nodes().len(), 6);
        let ports = |nodes: Vec<Arc<Node>>| nodes.iter().map(|n| n.addr.port).collect::<Vec<_>>();
        assert_eq!(ports(map.replicas_for(0)), vec![7003]);
        assert_eq!(ports(map.replicas_for(16383)), vec![7005]);
    }

    #[test]
    fn a_replica_promoted_by_moved_is_no_longer_a_replica() {
        let layout = [shard(&[(0, 16383)], 7000, &[7001, 7002])];
        let (mut map, _) = Topology::from_layout(&layout, &[]);
        assert_eq!(map.replicas_for(5).len(), 2);
        map.set_slot_owner(5, &addr(7001)).unwrap();
        // Slot 5's new owner has no replica known; slot 6's owner lost one.
        assert!(map.replicas_for(5).is_empty());
        let left: Vec<u16> = map.replicas_for(6).iter().map(|n| n.addr.port).collect();
        assert_eq!(left, vec![7002]);
    }

    #[test]
    fn a_refresh_keeps_known_nodes_and_drops_vanished_ones() {
        let layout = [
            shard(&[(0, 8191)], 7000, &[7003]),
            shard(&[(8192, 16383)], 7001, &[7004]),
        ];
        let (first, _) = Topology::from_layout(&layout, &[]);
        // 7001 is gone; its replica 7004 took over; 7003 was removed.
        let layout = [
            shard(&[(0, 8191)], 7000, &[]),
            shard(&[(8192, 16383)], 7004, &[]),
        ];
        let (second, dropped) = Topology::from_layout(&layout, first.nodes());
        let dropped: Vec<u16> = dropped.iter().map(|n| n.addr.port).collect();
        assert_eq!(dropped, vec![7001, 7003]);
        // The same node object (and so the same pool) is kept for 7000.
        assert!(Arc::ptr_eq(
            first.primary_for(0).unwrap(),
            second.primary_for(0).unwrap()
        ));
        assert_eq!(second.primary_for(9000).unwrap().addr, addr(7004));
        assert_eq!(second.replicas().count(), 0);
    }

    #[test]
    fn moved_updates_one_slot() {
        let layout = [
            shard(&[(0, 8191)], 7000, &[7003]),
            shard(&[(8192, 16383)], 7001, &[]),
        ];
        let (mut map, _) = Topology::from_layout(&layout, &[]);
        let node = map.set_slot_owner(42, &addr(7001)).unwrap();
        assert_eq!(node.addr, addr(7001));
        assert_eq!(map.primary_for(42).unwrap().addr, addr(7001));
        assert_eq!(map.primary_for(41).unwrap().addr, addr(7000));
        // A replica promoted by a failover becomes a primary.
        map.set_slot_owner(43, &addr(7003)).unwrap();
        assert_eq!(map.primary_count(), 3);
        assert_eq!(map.replicas().count(), 0);
        // A new node is learnt from the redirect.
        map.set_slot_owner(44, &addr(7009)).unwrap();
        assert_eq!(map.primary_for(44).unwrap().addr, addr(7009));
        assert!(map.set_slot_owner(16384, &addr(7000)).is_none());
    }

    #[test]
    fn moving_a_primary_s_last_slot_removes_it_from_the_primaries() {
        let layout = [shard(&[(0, 0)], 7000, &[]), shard(&[(1, 16383)], 7001, &[])];
        let (mut map, _) = Topology::from_layout(&layout, &[]);
        assert_eq!(map.primary_count(), 2);
        map.set_slot_owner(0, &addr(7001)).unwrap();
        assert_eq!(map.primary_count(), 1);
        assert_eq!(map.pick_primary(5).unwrap().addr, addr(7001));
    }

    #[test]
    fn shards_without_slots_are_left_out() {
        let layout = [
            shard(&[(0, 16383)], 7000, &[7003]),
            // A failed primary whose replica took its slots.
            shard(&[], 7001, &[7004]),
        ];
        let (first, _) = Topology::from_layout(&[shard(&[(0, 16383)], 7001, &[])], &[]);
        let (map, dropped) = Topology::from_layout(&layout, first.nodes());
        assert_eq!(map.nodes().len(), 2);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].addr, addr(7001));
    }

    #[test]
    fn bad_ranges_from_the_server_are_ignored() {
        let layout = [shard(&[(10, 5), (16000, 20000), (1, 1)], 7000, &[])];
        let (map, _) = Topology::from_layout(&layout, &[]);
        assert_eq!(map.covered_slots(), 1);
        assert!(map.primary_for(10).is_none());
        assert!(map.primary_for(16384).is_none());
    }

    #[test]
    fn a_failed_node_is_remembered_for_a_while() {
        let node = Node::new(addr(7000));
        assert!(!node.failed_within(Duration::from_secs(10)));
        node.mark_failed();
        assert!(node.failed_within(Duration::from_secs(10)));
        assert!(!node.failed_within(Duration::ZERO));
    }

    #[test]
    fn redirect_addresses_parse() {
        let from = addr(7000);
        assert_eq!(
            NodeAddr::parse_redirect("127.0.0.1:7001", &from),
            Some(addr(7001))
        );
        assert_eq!(NodeAddr::parse_redirect(":7002", &from), Some(addr(7002)));
        assert_eq!(
            NodeAddr::parse_redirect("::1:7003", &from),
            Some(NodeAddr::new("::1", 7003))
        );
        assert_eq!(NodeAddr::parse_redirect("host", &from), None);
        assert_eq!(NodeAddr::parse_redirect("host:99999", &from), None);
        assert_eq!(NodeAddr::new("::1", 1).to_string(), "[::1]:1");
    }
}
