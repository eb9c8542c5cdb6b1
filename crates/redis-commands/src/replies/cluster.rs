//! Cluster topology: CLUSTER SLOTS, CLUSTER SHARDS, CLUSTER NODES and CLUSTER INFO.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::str::FromStr;

use resp_proto::Value;

use super::util::{Line, Record, colon_lines, convert, leading, scalar_text, text};
use crate::reply::{ConversionError, FromReply, plain};

/// One element of the `CLUSTER SLOTS` reply: a range of hash slots and the nodes serving it,
/// master first.
///
/// Redis sends `[start, end, [host, port, id, metadata], [replica...], ...]`.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ClusterSlotRange {
    /// The first slot of the range.
    pub start: u16,
    /// The last slot of the range (inclusive).
    pub end: u16,
    /// The nodes serving the range: the master, then its replicas.
    pub nodes: Vec<ClusterSlotNode>,
}

/// A node in a [`ClusterSlotRange`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ClusterSlotNode {
    /// The preferred endpoint: an IP address or a hostname, depending on
    /// `cluster-preferred-endpoint-type`. `None` when the server sends a null (the endpoint is
    /// unknown: connect to the address the command was sent to); an unknown hostname may also
    /// arrive as `?`.
    pub host: Option<String>,
    /// The port.
    pub port: u16,
    /// The node id (Redis 4.0+).
    pub id: Option<String>,
    /// The `hostname` entry of the metadata (Redis 7.0+ with hostnames configured).
    pub hostname: Option<String>,
    /// The networking metadata (Redis 7.0+; `ip`, `hostname`, ...), the hostname included.
    pub metadata: BTreeMap<String, Value>,
}

impl ClusterSlotRange {
    /// The master serving the range.
    pub fn master(&self) -> Option<&ClusterSlotNode> {
        self.nodes.first()
    }

    /// The replicas of the range.
    pub fn replicas(&self) -> &[ClusterSlotNode] {
        self.nodes.get(1..).unwrap_or_default()
    }

    /// Whether `slot` is in the range.
    pub fn contains(&self, slot: u16) -> bool {
        (self.start..=self.end).contains(&slot)
    }
}

impl FromReply for ClusterSlotRange {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([start, end], rest) = leading(value, "ClusterSlotRange")?;
        Ok(ClusterSlotRange {
            start: convert(start, "start slot")?,
            end: convert(end, "end slot")?,
            nodes: rest
                .map(ClusterSlotNode::from_reply)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl FromReply for ClusterSlotNode {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let ([host, port], mut rest) = leading(value, "ClusterSlotNode")?;
        let id = rest.next().map(|v| convert(v, "node id")).transpose()?;
        let metadata: BTreeMap<String, Value> = match rest.next().map(plain) {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => Record::parse(v, "ClusterSlotNode")?.into_rest(),
        };
        Ok(ClusterSlotNode {
            host: convert(host, "host")?,
            port: convert(port, "port")?,
            id,
            hostname: metadata.get("hostname").cloned().and_then(scalar_text),
            metadata,
        })
    }
}

/// One element of the `CLUSTER SHARDS` reply (Redis 7.0+): a master and its replicas with
/// the slot ranges they serve.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ClusterShard {
    /// The slot ranges as `(start, end)`, both inclusive.
    pub slots: Vec<(u16, u16)>,
    /// The nodes of the shard.
    pub nodes: Vec<ClusterShardNode>,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

/// A node in a [`ClusterShard`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ClusterShardNode {
    /// `id`: the node id.
    pub id: String,
    /// `port`: the plain TCP port, absent when the node only listens for TLS.
    pub port: Option<u16>,
    /// `tls-port`: the TLS port, when TLS is enabled.
    pub tls_port: Option<u16>,
    /// `ip`: the IP address.
    pub ip: String,
    /// `endpoint`: the preferred endpoint to connect to.
    pub endpoint: String,
    /// `hostname`: the announced hostname, when one is configured.
    pub hostname: Option<String>,
    /// `role`: `master` or `replica`.
    pub role: String,
    /// `replication-offset`: the node's replication offset.
    pub replication_offset: u64,
    /// `health`: `online`, `failed` or `loading`.
    pub health: String,
    /// Fields not listed above, by name.
    pub extra: BTreeMap<String, Value>,
}

impl ClusterShard {
    /// The master of the shard (the node whose role is `master`).
    pub fn master(&self) -> Option<&ClusterShardNode> {
        self.nodes.iter().find(|n| n.role == "master")
    }
}

impl FromReply for ClusterShard {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "ClusterShard")?;
        Ok(ClusterShard {
            slots: r.or_default("slots")?,
            nodes: r.or_default("nodes")?,
            extra: r.into_rest(),
        })
    }
}

impl FromReply for ClusterShardNode {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let mut r = Record::parse(value, "ClusterShardNode")?;
        Ok(ClusterShardNode {
            id: r.req("id")?,
            port: r.opt("port")?,
            tls_port: r.opt("tls-port")?,
            ip: r.or_default("ip")?,
            endpoint: r.or_default("endpoint")?,
            hostname: r.opt("hostname")?,
            role: r.or_default("role")?,
            replication_offset: r.or_default("replication-offset")?,
            health: r.or_default("health")?,
            extra: r.into_rest(),
        })
    }
}

/// One line of `CLUSTER NODES` (or one element of `CLUSTER REPLICAS`):
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent> <pong-recv> <config-epoch>
/// <link-state> <slot> <slot> ...`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterNode {
    /// The node id.
    pub id: String,
    /// The address field as sent (`127.0.0.1:7000@17000,host.example`).
    pub addr: String,
    /// The IP address part of `addr` (empty when the node's address is unknown).
    pub ip: String,
    /// The client port part of `addr`.
    pub port: Option<u16>,
    /// The cluster bus port part of `addr`.
    pub bus_port: Option<u16>,
    /// The hostname part of `addr` (Redis 7.0+, when one is announced).
    pub hostname: Option<String>,
    /// The flags (`myself`, `master`, `slave`, `fail?`, `fail`, `handshake`, `noaddr`, ...).
    pub flags: Vec<String>,
    /// The master's id for a replica; `None` for a master (`-`).
    pub master: Option<String>,
    /// When the last ping was sent, in Unix milliseconds (0 when none is pending).
    pub ping_sent: u64,
    /// When the last pong was received, in Unix milliseconds.
    pub pong_recv: u64,
    /// The node's configuration epoch.
    pub config_epoch: u64,
    /// `connected` or `disconnected`.
    pub link_state: String,
    /// The slot ranges served, `(start, end)` both inclusive; a single slot is `(n, n)`.
    pub slots: Vec<(u16, u16)>,
    /// Slots being migrated to another node: `(slot, destination node id)`.
    pub migrating: Vec<(u16, String)>,
    /// Slots being imported from another node: `(slot, source node id)`.
    pub importing: Vec<(u16, String)>,
}

impl ClusterNode {
    /// Whether the node has flag `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether this is the node that answered (`myself`).
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }

    /// Whether the node is a master.
    pub fn is_master(&self) -> bool {
        self.has_flag("master")
    }

    /// Whether the node is a replica (`slave`).
    pub fn is_replica(&self) -> bool {
        self.has_flag("slave") || self.has_flag("replica")
    }

    /// Whether the node is failing (`fail`) or suspected to (`fail?`).
    pub fn is_failing(&self) -> bool {
        self.has_flag("fail") || self.has_flag("fail?")
    }

    /// Whether the link to the node is up.
    pub fn is_connected(&self) -> bool {
        self.link_state == "connected"
    }

    fn parse_line(line: &str) -> Result<Self, ConversionError> {
        let mut parts = line.split(' ').filter(|p| !p.is_empty());
        let mut next = |what: &str| {
            parts
                .next()
                .ok_or_else(|| node_error(format!("no {what} in {line:?}")))
        };
        let id = next("id")?.to_owned();
        let addr = next("address")?.to_owned();
        let flags = next("flags")?
            .split(',')
            .filter(|f| !f.is_empty() && *f != "noflags")
            .map(str::to_owned)
            .collect();
        let master = Some(next("master")?)
            .filter(|m| *m != "-")
            .map(str::to_owned);
        let ping_sent = number(next("ping-sent")?, "ping-sent")?;
        let pong_recv = number(next("pong-recv")?, "pong-recv")?;
        let config_epoch = number(next("config-epoch")?, "config-epoch")?;
        let link_state = next("link-state")?.to_owned();
        let mut node = ClusterNode {
            id,
            flags,
            master,
            ping_sent,
            pong_recv,
            config_epoch,
            link_state,
            ..ClusterNode::default()
        };
        node.set_addr(addr);
        for slot in parts {
            node.add_slot(slot)?;
        }
        Ok(node)
    }

    /// Splits `ip:port@cport,hostname`; the ip may be IPv6, so the port follows the last
    /// colon. Auxiliary `name=value` fields after the hostname are ignored.
    fn set_addr(&mut self, addr: String) {
        let mut parts = addr.split(',');
        let endpoint = parts.next().unwrap_or_default();
        let hostname = parts.next().filter(|h| !h.is_empty() && !h.contains('='));
        let (hostport, bus) = match endpoint.split_once('@') {
            Some((hp, bus)) => (hp, Some(bus)),
            None => (endpoint, None),
        };
        let (ip, port) = match hostport.rsplit_once(':') {
            Some((ip, port)) => (ip, port.parse().ok()),
            None => (hostport, None),
        };
        self.ip = ip.to_owned();
        self.port = port;
        self.bus_port = bus.and_then(|b| b.parse().ok());
        self.hostname = hostname.map(str::to_owned);
        self.addr = addr;
    }

    /// Reads `n`, `a-b`, `[n->-id]` (migrating) or `[n-<-id]` (importing).
    fn add_slot(&mut self, slot: &str) -> Result<(), ConversionError> {
        if let Some(inner) = slot.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            if let Some((n, id)) = inner.split_once("->-") {
                self.migrating.push((number(n, "slot")?, id.to_owned()));
            } else if let Some((n, id)) = inner.split_once("-<-") {
                self.importing.push((number(n, "slot")?, id.to_owned()));
            } else {
                return Err(node_error(format!("slot {slot:?}")));
            }
            return Ok(());
        }
        let range = match slot.split_once('-') {
            Some((a, b)) => (number(a, "slot")?, number(b, "slot")?),
            None => {
                let n = number(slot, "slot")?;
                (n, n)
            }
        };
        self.slots.push(range);
        Ok(())
    }
}

fn number<T: FromStr>(text: &str, what: &str) -> Result<T, ConversionError> {
    text.parse()
        .map_err(|_| node_error(format!("{what} {text:?} is not a number")))
}

fn node_error(detail: String) -> ConversionError {
    ConversionError::malformed("ClusterNode", "a node line", detail)
}

/// A bulk or verbatim string holding one `CLUSTER NODES` line (the first non-empty one).
impl FromReply for ClusterNode {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let text = text(value, "ClusterNode")?;
        let line = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| node_error("empty reply".to_owned()))?;
        ClusterNode::parse_line(line.trim_end_matches('\r'))
    }
}

/// The reply to `CLUSTER NODES`: one [`ClusterNode`] per line of a bulk or verbatim string.
///
/// It dereferences to a slice of [`ClusterNode`], in reply order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterNodes {
    /// The nodes, one per line.
    pub nodes: Vec<ClusterNode>,
}

impl ClusterNodes {
    /// The node that answered (flag `myself`).
    pub fn myself(&self) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.is_myself())
    }

    /// The node with id `id`.
    pub fn by_id(&self, id: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The replicas of master `id`.
    pub fn replicas_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a ClusterNode> {
        self.nodes
            .iter()
            .filter(move |n| n.master.as_deref() == Some(id))
    }
}

impl Deref for ClusterNodes {
    type Target = [ClusterNode];
    fn deref(&self) -> &[ClusterNode] {
        &self.nodes
    }
}

impl IntoIterator for ClusterNodes {
    type Item = ClusterNode;
    type IntoIter = std::vec::IntoIter<ClusterNode>;
    fn into_iter(self) -> Self::IntoIter {
        self.nodes.into_iter()
    }
}

impl<'a> IntoIterator for &'a ClusterNodes {
    type Item = &'a ClusterNode;
    type IntoIter = std::slice::Iter<'a, ClusterNode>;
    fn into_iter(self) -> Self::IntoIter {
        self.nodes.iter()
    }
}

/// Empty lines are skipped; a line that does not parse makes the conversion fail.
impl FromReply for ClusterNodes {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let text = text(value, "ClusterNodes")?;
        let nodes = text
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .map(ClusterNode::parse_line)
            .collect::<Result<_, _>>()?;
        Ok(ClusterNodes { nodes })
    }
}

/// The reply to `CLUSTER INFO`: `name:value` lines (`cluster_state:ok`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterInfo {
    fields: Vec<(String, String)>,
}

impl ClusterInfo {
    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of field `name` parsed as `T`; `None` when absent or not parsable.
    pub fn get_as<T: FromStr>(&self, name: &str) -> Option<T> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    /// The fields in reply order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// `cluster_state`: `ok` or `fail`.
    pub fn state(&self) -> Option<&str> {
        self.get("cluster_state")
    }

    /// Whether `cluster_state` is `ok`.
    pub fn is_ok(&self) -> bool {
        self.state() == Some("ok")
    }

    /// `cluster_slots_assigned`: slots served by some node.
    pub fn slots_assigned(&self) -> Option<u64> {
        self.get_as("cluster_slots_assigned")
    }

    /// `cluster_slots_ok`: slots whose node is not failing.
    pub fn slots_ok(&self) -> Option<u64> {
        self.get_as("cluster_slots_ok")
    }

    /// `cluster_slots_pfail`: slots whose node is suspected to fail.
    pub fn slots_pfail(&self) -> Option<u64> {
        self.get_as("cluster_slots_pfail")
    }

    /// `cluster_slots_fail`: slots whose node failed.
    pub fn slots_fail(&self) -> Option<u64> {
        self.get_as("cluster_slots_fail")
    }

    /// `cluster_known_nodes`: nodes known, handshaking ones included.
    pub fn known_nodes(&self) -> Option<u64> {
        self.get_as("cluster_known_nodes")
    }

    /// `cluster_size`: masters serving at least one slot.
    pub fn size(&self) -> Option<u64> {
        self.get_as("cluster_size")
    }

    /// `cluster_current_epoch`: the cluster's current epoch.
    pub fn current_epoch(&self) -> Option<u64> {
        self.get_as("cluster_current_epoch")
    }

    /// `cluster_my_epoch`: the configuration epoch of the node that answered.
    pub fn my_epoch(&self) -> Option<u64> {
        self.get_as("cluster_my_epoch")
    }
}

/// A bulk, simple or verbatim string; lines that are not `name:value` are skipped.
impl FromReply for ClusterInfo {
    fn from_reply(value: Value) -> Result<Self, ConversionError> {
        let text = text(value, "ClusterInfo")?;
        let fields = colon_lines(&text)
            .filter_map(|line| match line {
                Line::Field(n, v) => Some((n.to_owned(), v.to_owned())),
                Line::Header(_) => None,
            })
            .collect();
        Ok(ClusterInfo { fields })
    }
}
