//! [`SentinelGroup`]: a master, its replicas and the Sentinels that monitor them, each a real
//! process on a free loopback port, stopped when dropped.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use resp_proto::Value;

use crate::raw::RawConnection;
use crate::server::RedisServer;

/// How long [`SentinelGroupBuilder::start`] waits for the replicas to sync and for every
/// Sentinel to see the master, the replicas and the other Sentinels.
pub const SENTINEL_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures and starts a [`SentinelGroup`].
///
/// ```no_run
/// let group = tests::SentinelGroup::builder("mymaster")
///     .replicas(2)
///     .sentinels(3)
///     .quorum(2)
///     .down_after_ms(1000)
///     .start();
/// # drop(group);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct SentinelGroupBuilder {
    name: String,
    replicas: usize,
    sentinels: usize,
    quorum: Option<usize>,
    down_after_ms: u64,
    failover_timeout_ms: u64,
}

impl SentinelGroupBuilder {
    /// How many replicas of the master to start (default 1).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    /// How many Sentinels to start (default 1, at least 1).
    pub fn sentinels(mut self, sentinels: usize) -> Self {
        self.sentinels = sentinels;
        self
    }

    /// The quorum: how many Sentinels must agree that the master is down (default: a
    /// majority of the Sentinels).
    pub fn quorum(mut self, quorum: usize) -> Self {
        self.quorum = Some(quorum);
        self
    }

    /// `sentinel down-after-milliseconds` (default 1000).
    pub fn down_after_ms(mut self, ms: u64) -> Self {
        self.down_after_ms = ms;
        self
    }

    /// `sentinel failover-timeout` (default 10000).
    pub fn failover_timeout_ms(mut self, ms: u64) -> Self {
        self.failover_timeout_ms = ms;
        self
    }

    /// Starts the master, then the replicas (`--replicaof 127.0.0.1 <port>`) and waits until
    /// they are in sync, then the Sentinels (`redis-server <conf> --sentinel`, each with its own
    /// configuration file in its temporary directory), and waits until every Sentinel sees the
    /// master up, every replica up and linked, and every other Sentinel. Every wait is bounded
    /// by [`SENTINEL_READY_TIMEOUT`].
    ///
    /// # Panics
    ///
    /// When a process cannot start or the group is not ready in time; the message says what
    /// was missing.
    pub fn start(self) -> SentinelGroup {
        assert!(self.sentinels >= 1, "a SentinelGroup needs a Sentinel");
        assert!(
            !self.name.is_empty() && !self.name.contains(char::is_whitespace),
            "the master name {:?} must be one word",
            self.name
        );
        let quorum = self.quorum.unwrap_or(self.sentinels / 2 + 1);
        // Replicas sync at once instead of after the default 5 s wait for more of them.
        let master = RedisServer::builder()
            .args(["--repl-diskless-sync-delay", "0"])
            .start();
        let replicas: Vec<RedisServer> = (0..self.replicas)
            .map(|_| {
                RedisServer::builder()
                    .args(["--replicaof", "127.0.0.1", &master.port().to_string()])
                    .args(["--repl-diskless-sync-delay", "0"])
                    .start()
            })
            .collect();
        wait_for(
            "the replicas to sync with the master",
            SENTINEL_READY_TIMEOUT,
            || replication_synced(&master, &replicas),
        );
        let config = format!(
            "sentinel monitor {name} 127.0.0.1 {port} {quorum}\n\
             sentinel down-after-milliseconds {name} {down}\n\
             sentinel failover-timeout {name} {failover}\n",
            name = self.name,
            port = master.port(),
            down = self.down_after_ms,
            failover = self.failover_timeout_ms,
        );
        let sentinels: Vec<RedisServer> = (0..self.sentinels)
            .map(|_| {
                RedisServer::builder()
                    .sentinel()
                    .config(config.clone())
                    .start()
            })
            .collect();
        let group = SentinelGroup {
            sentinels,
            replicas,
            master,
            name: self.name,
            quorum,
        };
        wait_for(
            "the Sentinels to see the master, the replicas and each other",
            SENTINEL_READY_TIMEOUT,
            || group.sentinels_ready(),
        );
        group
    }
}

/// A monitored master owned by one test: the master [`RedisServer`], `R` replicas started with
/// `--replicaof`, and `S` Sentinels (`redis-server --sentinel`) configured with
/// `sentinel monitor <name> 127.0.0.1 <port> <quorum>`, `down-after-milliseconds` and
/// `failover-timeout`. Every process has its own free loopback port and temporary directory
/// and is SIGKILLed when the group is dropped.
///
/// The master, replica and Sentinel accessors describe the processes as started: after a
/// failover the Sentinels' view ([`current_master_addr`](Self::current_master_addr)) is the
/// truth.
#[derive(Debug)]
pub struct SentinelGroup {
    // Dropped in declaration order: the Sentinels first, so they do not react to the others
    // going away.
    sentinels: Vec<RedisServer>,
    replicas: Vec<RedisServer>,
    master: RedisServer,
    name: String,
    quorum: usize,
}

impl SentinelGroup {
    /// A builder for a group monitoring a master called `name` (default: 1 replica,
    /// 1 Sentinel, majority quorum, down after 1000 ms, failover timeout 10000 ms).
    pub fn builder(name: impl Into<String>) -> SentinelGroupBuilder {
        SentinelGroupBuilder {
            name: name.into(),
            replicas: 1,
            sentinels: 1,
            quorum: None,
            down_after_ms: 1000,
            failover_timeout_ms: 10_000,
        }
    }

    /// Starts a group monitoring master `name` with `replicas` replicas and `sentinels`
    /// Sentinels, majority quorum; see [`SentinelGroupBuilder::start`].
    pub fn start(name: &str, replicas: usize, sentinels: usize) -> SentinelGroup {
        Self::builder(name)
            .replicas(replicas)
            .sentinels(sentinels)
            .start()
    }

    /// The master name the Sentinels monitor.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The quorum the Sentinels were configured with.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// The master as started.
    pub fn master(&self) -> &RedisServer {
        &self.master
    }

    /// The master as started, mutable (to [`pause`](RedisServer::pause) it, ...).
    pub fn master_mut(&mut self) -> &mut RedisServer {
        &mut self.master
    }

    /// The replicas as started.
    pub fn replicas(&self) -> &[RedisServer] {
        &self.replicas
    }

    /// Replica `i`, mutable.
    pub fn replica_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.replicas[i]
    }

    /// The Sentinel processes.
    pub fn sentinels(&self) -> &[RedisServer] {
        &self.sentinels
    }

    /// Sentinel `i`.
    pub fn sentinel(&self, i: usize) -> &RedisServer {
        &self.sentinels[i]
    }

    /// Sentinel `i`, mutable (to kill or restart it; a restart keeps its configuration file
    /// as the Sentinel rewrote it).
    pub fn sentinel_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.sentinels[i]
    }

    /// The Sentinels' TCP addresses.
    pub fn sentinel_addrs(&self) -> Vec<SocketAddr> {
        self.sentinels.iter().map(RedisServer::addr).collect()
    }

    /// The Sentinels' TCP ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(RedisServer::port).collect()
    }

    /// SIGKILLs the master, so the Sentinels fail over once they agree it is down (after
    /// `down-after-milliseconds`); see [`wait_for_failover`](Self::wait_for_failover).
    pub fn kill_master(&mut self) {
        self.master.kill();
    }

    /// The master address according to the first running Sentinel that answers
    /// `SENTINEL GET-MASTER-ADDR-BY-NAME`.
    pub fn current_master_addr(&self) -> Option<SocketAddr> {
        self.sentinels
            .iter()
            .filter(|s| s.pid().is_some())
            .find_map(|s| {
                let reply = ask(s, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.name])?;
                let parts = strings(&reply);
                let [ip, port] = parts.as_slice() else {
                    return None;
                };
                format!("{ip}:{port}").parse().ok()
            })
    }

    /// Waits at most `limit` until every running Sentinel reports a master other than the one
    /// started; returns the new master's address, `None` when that did not happen in time.
    pub fn wait_for_failover(&self, limit: Duration) -> Option<SocketAddr> {
        let old = self.master.addr();
        let mut new = None;
        let done = crate::eventually(limit, || {
            let addrs: Vec<Option<SocketAddr>> = self
                .sentinels
                .iter()
                .filter(|s| s.pid().is_some())
                .map(|s| {
                    let reply = ask(s, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &self.name])?;
                    let parts = strings(&reply);
                    let [ip, port] = parts.as_slice() else {
                        return None;
                    };
                    format!("{ip}:{port}").parse().ok()
                })
                .collect();
            new = addrs.first().copied().flatten();
            new.is_some_and(|n| n != old) && addrs.iter().all(|a| *a == new)
        });
        if done { new } else { None }
    }

    /// The index in [`replicas`](Self::replicas) of the replica listening on `addr`.
    pub fn replica_index(&self, addr: SocketAddr) -> Option<usize> {
        self.replicas.iter().position(|r| r.addr() == addr)
    }

    /// Whether every Sentinel sees the master up with every replica and every other Sentinel.
    fn sentinels_ready(&self) -> Result<(), String> {
        let mut problems = String::new();
        for sentinel in &self.sentinels {
            if let Err(why) = self.sentinel_ready(sentinel) {
                let _ = writeln!(problems, "Sentinel {}: {why}", sentinel.port());
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn sentinel_ready(&self, sentinel: &RedisServer) -> Result<(), String> {
        let master = ask(sentinel, &["SENTINEL", "MASTER", &self.name])
            .map(|v| record(&v))
            .ok_or("no SENTINEL MASTER reply")?;
        let field = |r: &HashMap<String, String>, name: &str| r.get(name).cloned();
        if field(&master, "flags").as_deref() != Some("master") {
            return Err(format!("master flags {:?}", field(&master, "flags")));
        }
        let replicas = ask(sentinel, &["SENTINEL", "REPLICAS", &self.name])
            .map(|v| records(&v))
            .ok_or("no SENTINEL REPLICAS reply")?;
        let mut ports: Vec<String> = replicas
            .iter()
            .filter(|r| {
                field(r, "flags").as_deref() == Some("slave")
                    && field(r, "master-link-status").as_deref() == Some("ok")
            })
            .filter_map(|r| field(r, "port"))
            .collect();
        ports.sort();
        let mut expected: Vec<String> =
            self.replicas.iter().map(|r| r.port().to_string()).collect();
        expected.sort();
        if ports != expected {
            return Err(format!(
                "healthy replicas on ports {ports:?}, not {expected:?}"
            ));
        }
        let sentinels = ask(sentinel, &["SENTINEL", "SENTINELS", &self.name])
            .map(|v| records(&v))
            .ok_or("no SENTINEL SENTINELS reply")?;
        let mut ports: Vec<String> = sentinels
            .iter()
            .filter(|r| field(r, "flags").as_deref() == Some("sentinel"))
            .filter_map(|r| field(r, "port"))
            .collect();
        ports.sort();
        let mut expected: Vec<String> = self
            .sentinels
            .iter()
            .filter(|s| s.port() != sentinel.port())
            .map(|s| s.port().to_string())
            .collect();
        expected.sort();
        if ports != expected {
            return Err(format!("sees Sentinels on {ports:?}, not {expected:?}"));
        }
        Ok(())
    }
}

/// Calls `check` until it succeeds or `limit` passes; panics with its last complaint.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + limit;
    loop {
        let result = check();
        match result {
            Ok(()) => return,
            Err(why) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}:\n{why}")
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Whether the master has every replica online and every replica's link is up.
fn replication_synced(master: &RedisServer, replicas: &[RedisServer]) -> Result<(), String> {
    let info = ask(master, &["INFO", "replication"])
        .as_ref()
        .and_then(text)
        .ok_or("the master does not answer INFO")?;
    let online = info
        .lines()
        .filter(|l| l.starts_with("slave") && l.contains("state=online"))
        .count();
    if online != replicas.len() {
        return Err(format!("{online} replicas online:\n{info}"));
    }
    for replica in replicas {
        let info = ask(replica, &["INFO", "replication"])
            .as_ref()
            .and_then(text)
            .ok_or("a replica does not answer INFO")?;
        if !info
            .lines()
            .any(|l| l.trim_end() == "master_link_status:up")
        {
            return Err(format!("replica {} link is not up", replica.port()));
        }
    }
    Ok(())
}

/// One request on a new RESP2 connection; `None` when the process does not answer or answers
/// with an error.
fn ask(server: &RedisServer, args: &[&str]) -> Option<Value> {
    let stream = TcpStream::connect_timeout(&server.addr(), Duration::from_secs(1)).ok()?;
    let mut conn = RawConnection::new(stream);
    match conn.try_request(args.iter().copied()).ok()? {
        Value::Error(_) | Value::BulkError(_) => None,
        value => Some(value),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) | Value::SimpleString(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        Value::Verbatim { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
        Value::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().map(|v| text(v).unwrap_or_default()).collect(),
        _ => Vec::new(),
    }
}

/// A flat `[name, value, name, value, ...]` array (RESP2 Sentinel records) as a map.
fn record(value: &Value) -> HashMap<String, String> {
    let items = strings(value);
    items
        .chunks_exact(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect()
}

/// An array of records.
fn records(value: &Value) -> Vec<HashMap<String, String>> {
    match value {
        Value::Array(items) => items.iter().map(record).collect(),
        _ => Vec::new(),
    }
}
