//! [`RedisCluster`]: a Redis Cluster of real `redis-server` processes on free loopback ports,
//! joined with `redis-cli --cluster create`, stopped when dropped.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use resp_proto::Value;

use crate::server::{REDIS_SERVER_BIN_ENV, RedisServer, RedisServerBuilder};

/// Environment variable that names the `redis-cli` binary to use instead of the one next to
/// `$REDIS_SERVER_BIN` or on `PATH`.
pub const REDIS_CLI_BIN_ENV: &str = "REDIS_CLI_BIN";

/// How long [`RedisCluster::start`] waits for `redis-cli --cluster create` and then for every
/// node to report a healthy cluster.
pub const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// `cluster-node-timeout` of the fixture's nodes, in milliseconds: short, so a failure is
/// detected quickly, long enough not to flap on a loaded machine.
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 3000;

/// The number of hash slots.
pub const CLUSTER_SLOTS: u16 = 16384;

/// The role of a node in the topology [`RedisCluster::start`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterRole {
    /// A primary serving `slots`, ranges `(start, end)` both inclusive.
    Primary {
        /// The slot ranges the primary serves.
        slots: Vec<(u16, u16)>,
    },
    /// A replica of the primary with node id `master`.
    Replica {
        /// The node id of its primary.
        master: String,
    },
}

/// One node of a [`RedisCluster`]: the process and what the cluster said about it once it
/// was ready.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClusterNodeInfo {
    /// The node id (40 hex characters).
    pub id: String,
    /// The cluster bus port.
    pub bus_port: u16,
    /// The role at start-up (failovers later are not tracked).
    pub role: ClusterRole,
}

/// A Redis Cluster owned by one test: `primaries × (1 + replicas_per_primary)` cluster-enabled
/// `redis-server` processes, each a [`RedisServer`] (own free port, free cluster bus port,
/// temporary directory, `nodes.conf`), joined with
/// `redis-cli --cluster create ... --cluster-replicas R --cluster-yes`.
///
/// [`start`](Self::start) returns once every node reports `cluster_state:ok`, knows every
/// other node, sees every link connected with no node failing or in handshake, and lists every
/// replica in `CLUSTER SLOTS` (which it does once the replica has synced). Dropping
/// the fixture SIGKILLs every process it started.
///
/// ```no_run
/// let cluster = tests::RedisCluster::start(3, 1);
/// let seeds: Vec<String> = cluster.seed_urls();
/// let owner = cluster.node(cluster.primary_for_slot(0));
/// # drop((seeds, owner));
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    infos: Vec<ClusterNodeInfo>,
}

impl RedisCluster {
    /// Starts and joins `primaries` primaries (at least 3, as `redis-cli` requires) with
    /// `replicas_per_primary` replicas each, and waits (at most [`CLUSTER_READY_TIMEOUT`]) until
    /// the cluster is healthy on every node, replicas synced.
    ///
    /// Needs Redis 7.0 or later (`cluster-port`) and `redis-cli` (see [`REDIS_CLI_BIN_ENV`]).
    ///
    /// # Panics
    ///
    /// When a node cannot start, `redis-cli` fails, or the cluster is not healthy in time; the
    /// message includes what `redis-cli` printed and the nodes' views.
    pub fn start(primaries: usize, replicas_per_primary: usize) -> RedisCluster {
        assert!(
            primaries >= 3,
            "redis-cli --cluster create needs at least 3 primaries, not {primaries}"
        );
        let count = primaries * (1 + replicas_per_primary);
        let mut nodes = Vec::with_capacity(count);
        let mut bus_ports = Vec::with_capacity(count);
        for _ in 0..count {
            let (builder, bus_port) = Self::node_builder_with_bus_port();
            nodes.push(builder.start());
            bus_ports.push(bus_port);
        }
        create_cluster(&nodes, replicas_per_primary);
        let views = wait_until_healthy(&nodes, primaries, replicas_per_primary);
        let infos = nodes
            .iter()
            .zip(&views)
            .zip(bus_ports)
            .map(|((node, view), bus_port)| {
                let me = view
                    .iter()
                    .find(|line| line.flags.iter().any(|f| f == "myself"))
                    .unwrap_or_else(|| panic!("node {} has no `myself` line", node.port()));
                let role = match &me.master {
                    Some(master) => ClusterRole::Replica {
                        master: master.clone(),
                    },
                    None => ClusterRole::Primary {
                        slots: me.slots.clone(),
                    },
                };
                ClusterNodeInfo {
                    id: me.id.clone(),
                    bus_port,
                    role,
                }
            })
            .collect();
        RedisCluster { nodes, infos }
    }

    /// A builder for one cluster-enabled node (`--cluster-enabled yes`, its own
    /// `nodes.conf`, a free `--cluster-port`, a short `--cluster-node-timeout`,
    /// `--repl-diskless-sync-delay 0`, `--repl-ping-replica-period 1`) that joins no
    /// cluster: for the commands that change a node's cluster state (`CLUSTER ADDSLOTS`,
    /// `MEET`, `RESET`, ...). Its bus port is [`cluster_bus_port`] of the started server.
    pub fn node_builder() -> RedisServerBuilder {
        Self::node_builder_with_bus_port().0
    }

    /// Starts one cluster-enabled node that joins no cluster; see
    /// [`node_builder`](Self::node_builder).
    pub fn lone_node() -> RedisServer {
        Self::node_builder().start()
    }

    fn node_builder_with_bus_port() -> (RedisServerBuilder, u16) {
        // The bus port is not port + 10000 (which may not exist): it is chosen free too. A
        // start that finds it taken fails with "Address already in use" and the fixture
        // retries on new ports, but the bus port stays: the race window is tiny.
        let bus_port = free_port().unwrap_or_else(|e| panic!("cannot find a free port: {e}"));
        let builder = RedisServer::builder().args([
            "--cluster-enabled".to_owned(),
            "yes".to_owned(),
            "--cluster-config-file".to_owned(),
            NODES_CONF.to_owned(),
            "--cluster-port".to_owned(),
            bus_port.to_string(),
            "--cluster-node-timeout".to_owned(),
            CLUSTER_NODE_TIMEOUT_MS.to_string(),
            // Replicas sync at once instead of after the default 5 s wait for more of them.
            "--repl-diskless-sync-delay".to_owned(),
            "0".to_owned(),
            // CLUSTER SLOTS and SHARDS hide a replica until its replication offset is not 0,
            // which, without writes, takes the master's first PING to its replicas.
            "--repl-ping-replica-period".to_owned(),
            "1".to_owned(),
        ]);
        (builder, bus_port)
    }

    /// Every node, in start order (the first `primaries` were given to `redis-cli` first, but
    /// which nodes became primaries is in [`info`](Self::info)).
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &RedisServer {
        &self.nodes[i]
    }

    /// Node `i`, mutable (to [`kill`](RedisServer::kill), [`pause`](RedisServer::pause) or
    /// [`restart`](RedisServer::restart) it).
    pub fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// The number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes (never, for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The nodes' TCP ports, in start order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// The nodes' TCP addresses, in start order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(RedisServer::addr).collect()
    }

    /// `redis://127.0.0.1:<port>` for every node: seeds for a cluster client.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://{}:{}", n.host(), n.port()))
            .collect()
    }

    /// What the cluster said about node `i` at start-up: id, bus port and role.
    pub fn info(&self, i: usize) -> &ClusterNodeInfo {
        &self.infos[i]
    }

    /// Node `i`'s id.
    pub fn node_id(&self, i: usize) -> &str {
        &self.infos[i].id
    }

    /// The index of the node with id `id`.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.infos.iter().position(|info| info.id == id)
    }

    /// The indices of the primaries at start-up.
    pub fn primaries(&self) -> Vec<usize> {
        (0..self.infos.len())
            .filter(|&i| matches!(self.infos[i].role, ClusterRole::Primary { .. }))
            .collect()
    }

    /// The indices of the replicas at start-up.
    pub fn replicas(&self) -> Vec<usize> {
        (0..self.infos.len())
            .filter(|&i| matches!(self.infos[i].role, ClusterRole::Replica { .. }))
            .collect()
    }

    /// The indices of the replicas of primary `i` at start-up.
    pub fn replicas_of(&self, i: usize) -> Vec<usize> {
        let id = &self.infos[i].id;
        (0..self.infos.len())
            .filter(
                |&r| matches!(&self.infos[r].role, ClusterRole::Replica { master } if master == id),
            )
            .collect()
    }

    /// The index of the primary that served `slot` at start-up.
    ///
    /// # Panics
    ///
    /// When `slot` is not below 16384.
    pub fn primary_for_slot(&self, slot: u16) -> usize {
        assert!(slot < CLUSTER_SLOTS, "slot {slot} out of range");
        self.infos
            .iter()
            .position(|info| match &info.role {
                ClusterRole::Primary { slots } => {
                    slots.iter().any(|&(a, b)| (a..=b).contains(&slot))
                }
                ClusterRole::Replica { .. } => false,
            })
            .expect("redis-cli assigns every slot")
    }

    /// Waits at most `limit` until every running node reports `cluster_state:ok` and no node
    /// it knows is failing; returns whether that happened (after a failover, for instance).
    pub fn wait_until_ok(&self, limit: Duration) -> bool {
        crate::eventually(limit, || {
            self.nodes
                .iter()
                .filter(|n| n.pid().is_some())
                .all(|n| cluster_info_field(n, "cluster_state").as_deref() == Some("ok"))
        })
    }
}

/// The cluster bus port of a node started by [`RedisCluster::node_builder`] (its
/// `cluster-port`), read from the node.
///
/// # Panics
///
/// When the node does not answer `CONFIG GET cluster-port` with a number.
pub fn cluster_bus_port(node: &RedisServer) -> u16 {
    let reply = node.raw().request(["CONFIG", "GET", "cluster-port"]);
    let strings = strings(&reply);
    strings
        .get(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("CONFIG GET cluster-port answered {reply:?}"))
}

/// The name of the cluster configuration file in each node's directory.
const NODES_CONF: &str = "nodes.conf";

/// How long one `redis-cli --cluster create` may run.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Finds `redis-cli`: `$REDIS_CLI_BIN`, else next to `$REDIS_SERVER_BIN`, else on `PATH`.
fn locate_cli() -> PathBuf {
    if let Some(path) = std::env::var_os(REDIS_CLI_BIN_ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "redis-cli binary {} (from ${REDIS_CLI_BIN_ENV}) does not exist",
            path.display()
        );
        return path;
    }
    let sibling = std::env::var_os(REDIS_SERVER_BIN_ENV)
        .filter(|v| !v.is_empty())
        .and_then(|server| Path::new(&server).parent().map(|d| d.join("redis-cli")))
        .filter(|p| p.is_file());
    let on_path = || {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("redis-cli"))
                .find(|candidate| candidate.is_file())
        })
    };
    sibling.or_else(on_path).unwrap_or_else(|| {
        panic!(
            "redis-cli is not on PATH: the cluster tests need it to create the cluster. Run \
             `cargo xtask test`, which installs it with redis-server, or set \
             ${REDIS_CLI_BIN_ENV} to its path"
        )
    })
}

/// Runs `redis-cli --cluster create` on the nodes, bounded by [`CREATE_TIMEOUT`].
fn create_cluster(nodes: &[RedisServer], replicas_per_primary: usize) {
    let cli = locate_cli();
    let out_dir = nodes[0].dir();
    let out_path = out_dir.join("cluster-create.out");
    let output = File::create(&out_path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_path.display()));
    let output_err = output
        .try_clone()
        .unwrap_or_else(|e| panic!("cannot clone the output file: {e}"));
    let mut args: Vec<OsString> = vec!["--cluster".into(), "create".into()];
    args.extend(
        nodes
            .iter()
            .map(|n| OsString::from(format!("{}:{}", n.host(), n.port()))),
    );
    args.extend([
        "--cluster-replicas".into(),
        replicas_per_primary.to_string().into(),
        "--cluster-yes".into(),
    ]);
    let mut child = Command::new(&cli)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(output_err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()));
    let deadline = Instant::now() + CREATE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                // Our own child, not yet reaped: its PID cannot have been reused.
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-cli --cluster create did not finish within {CREATE_TIMEOUT:?}:\n{}",
                    std::fs::read_to_string(&out_path).unwrap_or_default()
                );
            }
            Err(e) => panic!("cannot poll redis-cli: {e}"),
        }
    };
    let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(
        status.success() && printed.contains("[OK] All 16384 slots covered"),
        "redis-cli --cluster create failed ({status}):\n{printed}"
    );
}

/// One parsed line of `CLUSTER NODES`, as much as the fixture needs.
#[derive(Debug, Clone)]
struct NodeLine {
    id: String,
    flags: Vec<String>,
    master: Option<String>,
    link_state: String,
    slots: Vec<(u16, u16)>,
}

fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() < 8 {
                return None;
            }
            let slots = parts[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => {
                        let n = s.parse().ok()?;
                        Some((n, n))
                    }
                })
                .collect();
            Some(NodeLine {
                id: parts[0].to_owned(),
                flags: parts[2].split(',').map(str::to_owned).collect(),
                master: Some(parts[3]).filter(|m| *m != "-").map(str::to_owned),
                link_state: parts[7].to_owned(),
                slots,
            })
        })
        .collect()
}

/// The strings of an array reply (bulk, simple or verbatim elements).
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) | Value::SimpleString(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        Value::Verbatim { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
        _ => None,
    }
}

/// One request to a node on a new connection; `None` when the node does not answer.
fn ask(node: &RedisServer, args: &[&str]) -> Option<Value> {
    let stream = std::net::TcpStream::connect_timeout(&node.addr(), Duration::from_secs(1)).ok()?;
    let mut conn = crate::RawConnection::new(stream);
    conn.try_request(args.iter().copied()).ok()
}

fn cluster_info_field(node: &RedisServer, field: &str) -> Option<String> {
    let info = text(&ask(node, &["CLUSTER", "INFO"])?)?;
    info.lines().find_map(|line| {
        line.trim_end()
            .strip_prefix(field)?
            .strip_prefix(':')
            .map(str::to_owned)
    })
}

/// Why a node's view is not healthy yet, or its parsed `CLUSTER NODES`.
fn healthy_view(
    node: &RedisServer,
    primaries: usize,
    replicas_per_primary: usize,
) -> Result<Vec<NodeLine>, String> {
    let count = primaries * (1 + replicas_per_primary);
    let state = cluster_info_field(node, "cluster_state");
    if state.as_deref() != Some("ok") {
        return Err(format!("cluster_state is {state:?}"));
    }
    let nodes = ask(node, &["CLUSTER", "NODES"])
        .as_ref()
        .and_then(text)
        .ok_or("no CLUSTER NODES reply")?;
    let view = parse_nodes(&nodes);
    if view.len() != count {
        return Err(format!("knows {} nodes, not {count}", view.len()));
    }
    if let Some(bad) = view.iter().find(|line| {
        line.link_state != "connected"
            || line
                .flags
                .iter()
                .any(|f| matches!(f.as_str(), "handshake" | "fail" | "fail?" | "noaddr"))
    }) {
        return Err(format!(
            "node {} is {:?} {}",
            bad.id, bad.flags, bad.link_state
        ));
    }
    let masters = view.iter().filter(|l| l.master.is_none()).count();
    let slots: u32 = view
        .iter()
        .flat_map(|l| &l.slots)
        .map(|&(a, b)| u32::from(b - a) + 1)
        .sum();
    if masters != primaries || slots != u32::from(CLUSTER_SLOTS) {
        return Err(format!("{masters} masters serving {slots} slots"));
    }
    // CLUSTER SLOTS (and SHARDS) leave out replicas that have not synced yet.
    let Some(Value::Array(ranges)) = ask(node, &["CLUSTER", "SLOTS"]) else {
        return Err("no CLUSTER SLOTS reply".to_owned());
    };
    for range in &ranges {
        let served_by = match range {
            Value::Array(items) => items.len().saturating_sub(2),
            _ => 0,
        };
        if served_by != 1 + replicas_per_primary {
            return Err(format!(
                "CLUSTER SLOTS lists {served_by} nodes for {range:?}"
            ));
        }
    }
    Ok(view)
}

/// Waits until every node's view is healthy; returns the views in node order.
fn wait_until_healthy(
    nodes: &[RedisServer],
    primaries: usize,
    replicas_per_primary: usize,
) -> Vec<Vec<NodeLine>> {
    let deadline = Instant::now() + CLUSTER_READY_TIMEOUT;
    loop {
        let views: Vec<Result<Vec<NodeLine>, String>> = nodes
            .iter()
            .map(|n| healthy_view(n, primaries, replicas_per_primary))
            .collect();
        if views.iter().all(Result::is_ok) {
            return views.into_iter().map(Result::unwrap).collect();
        }
        if Instant::now() >= deadline {
            let mut report = String::new();
            for (node, view) in nodes.iter().zip(&views) {
                if let Err(why) = view {
                    let _ = writeln!(report, "node {}: {why}", node.port());
                }
            }
            let created = std::fs::read_to_string(nodes[0].dir().join("cluster-create.out"))
                .unwrap_or_default();
            panic!(
                "the cluster was not healthy within {CLUSTER_READY_TIMEOUT:?}:\n{report}\
                 --- redis-cli ---\n{created}"
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn cluster_nodes_lines_are_parsed() {
        let text = "\
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-abc]\n\
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238316232 2 connected\n";
        let view = parse_nodes(text);
        assert_eq!(view.len(), 2);
        assert_eq!(view[0].slots, vec![(0, 5460)]);
        assert_eq!(view[0].master, None);
        assert!(view[0].flags.iter().any(|f| f == "myself"));
        assert_eq!(
            view[1].master.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        assert_eq!(view[1].link_state, "connected");
    }
}
