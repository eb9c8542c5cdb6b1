//! [`ClusterClient`]: a pooled, blocking client for Redis Cluster. Its documentation holds
//! the routing table and the guarantees (this module is private; the types are re-exported
//! at the crate root).

mod error;
mod pipeline;
mod pubsub;
pub(crate) mod replicas;
mod route;
mod scan;
mod slots;
mod split;
mod topology;

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use redis_commands::replies::{ClusterShard, ClusterSlotRange};
use redis_commands::{Cmd, Commands, FromReply, Runner, build};
use redis_conn::{
    Address, Connection, ConnectionConfig, ConnectionConfigBuilder, Keepalive, Secret, ServerError,
    ServerErrorKind, TlsConfig,
};
use redis_pool::{Checkout, PoolOptions, PooledConnection};
use resp_proto::{Protocol, Value};

use crate::client::{Client, check, run_raw};
use crate::error::Error;

pub use self::error::ClusterError;
pub use self::pipeline::ClusterPipeline;
pub use self::pubsub::ClusterPubSub;
pub use self::replicas::ReadFrom;
pub use self::scan::ClusterScanIter;
pub use self::slots::key_slot;

use self::route::{Combine, Route, Targets, changes_state, command_name};
use self::topology::{Node, NodeAddr, Topology, layout_from_shards, layout_from_slots};

/// A pooled, thread-safe client for a Redis Cluster: `Send + Sync`, and cloning it is cheap
/// (the clones share the slot map and the pools).
///
/// It discovers the cluster from any reachable seed (`CLUSTER SHARDS` on Redis 7.0+,
/// `CLUSTER SLOTS` before), keeps a map of the 16384 hash slots to their primaries, keeps one
/// connection pool per node (created on first use), and runs every typed command of
/// [`Commands`] on the node that serves it, as the table below says.
///
/// ```no_run
/// use std::time::Duration;
/// use redis_client::{ClusterClient, Commands};
///
/// let cluster = ClusterClient::builder()
///     .seed("127.0.0.1", 7000)
///     .seed("127.0.0.1", 7001)
///     .socket_timeout(Duration::from_secs(1))
///     .max_connections_per_node(16)
///     .build()?;
/// let n = cluster.incr("visits")?;
/// let total = cluster.dbsize()?; // summed over the primaries
/// # drop((n, total));
/// # Ok::<(), redis_client::Error>(())
/// ```
///
/// # Routing
///
/// A command's keys are found with the Redis command specification's key specs (the same
/// positions `COMMAND GETKEYS` reports). Its slot is the CRC16 of the key, or of the key's hash
/// tag (the text between the first `{` and the first `}` after it, when not empty), modulo
/// 16384 ([`key_slot`]).
///
/// | Command | Sent to | Reply |
/// |---|---|---|
/// | any command with keys (GET, SET, HSET, XADD, EVAL/EVALSHA/FCALL with keys, XREAD, SORT, OBJECT, ...) | the primary serving the keys' slot | the node's reply |
/// | a multi-key command (MGET, MSET, DEL, EXISTS, SUNIONSTORE, EVAL, ...) whose keys are in different slots | nowhere | [`ClusterError::CrossSlot`], before anything is sent |
/// | MGET, MSET, DEL, EXISTS, UNLINK, TOUCH with keys in different slots, with [`ClusterClientBuilder::split_multi_key`] on | one command per slot, in one pipeline | the replies put back together (values in key order, summed counts, `OK`) |
/// | DBSIZE | every primary | the sum |
/// | KEYS | every primary | the keys of all, concatenated in slot order of the primaries |
/// | FLUSHALL, FLUSHDB | every primary | `OK` when every primary succeeded |
/// | PING | every primary | the first primary's reply, when every primary answered |
/// | SCRIPT LOAD, SCRIPT FLUSH | every primary | the first reply (the SHA1), when every primary succeeded |
/// | SCRIPT EXISTS | every primary | element by element, 1 only where every primary has the script |
/// | SCRIPT KILL, FUNCTION KILL | every primary | success when one primary (the busy one) succeeded |
/// | FUNCTION LOAD, FUNCTION DELETE, FUNCTION FLUSH, FUNCTION RESTORE, MEMORY PURGE | every primary | the first reply, when every primary succeeded |
/// | CONFIG SET, CONFIG RESETSTAT, CONFIG REWRITE, ACL SETUSER, ACL DELUSER, ACL SAVE, SLOWLOG RESET | every node, replicas included | the first reply, when every node succeeded |
/// | SLOWLOG LEN, LATENCY RESET | every node | the sum |
/// | SLOWLOG GET | every node | the entries of all, concatenated |
/// | RANDOMKEY | the primaries in random order, until one has a key | that key, or nil |
/// | CLUSTER COUNTKEYSINSLOT, CLUSTER GETKEYSINSLOT | the primary serving the slot argument | the node's reply |
/// | WAIT, WAITAOF | nowhere | [`ClusterError::Unsupported`]: they wait for the writes of the connection they run on, which a pooled cluster command does not control; send the write and WAIT in one pipeline of [`ClusterClient::client_for_slot`] |
/// | SCAN | nowhere | [`ClusterError::Unsupported`]: a cursor belongs to one node; use [`ClusterClient::scan_iter`] (every primary in turn), or scan each of [`ClusterClient::primaries`] |
/// | every other command without keys (INFO, CONFIG GET, TIME, PUBLISH, CLUSTER INFO/NODES/SHARDS, FUNCTION LIST, EVAL with no key, ...) | a random primary | the node's reply |
/// | a command the specification does not know (a module's) | a random primary; if it has keys, that node's MOVED reply leads to the right one | the node's reply |
/// | commands that change connection state (CLIENT ..., MULTI, WATCH, SUBSCRIBE, ...) | as above; the connection is closed afterwards, as with [`Client`] | the node's reply |
///
/// A fan-out runs on the nodes one after the other. When a node fails, the others still run
/// the command and the first failure is returned (the command may have run on the other
/// nodes). SCRIPT LOAD goes to the primaries only: replicas serve no EVALSHA (see the
/// read-only list below), and after a failover the [`Script`](crate::Script) helper reloads
/// a script a new primary lacks.
///
/// Commands meant for one particular node (INFO of a given node, CLUSTER SETSLOT, ...) run
/// through [`ClusterClient::primaries`] or [`ClusterClient::client_for_slot`], which give a
/// plain [`Client`] on one node's pool (no redirects are followed there).
///
/// # Redirections and retries
///
/// The same rule holds as everywhere in this crate: **nothing that may have reached a server
/// is sent again**, except when the server said it did not run it.
///
/// * **MOVED** (the slot lives elsewhere): the slot map is updated for that slot, a full
///   refresh is scheduled, and the command is sent to the new node.
/// * **ASK** (the slot is migrating, this key already moved): `ASKING` and the command are
///   written together, with one write, on one connection to the target; the slot map is not
///   changed.
/// * MOVED and ASK count together against [`ClusterClientBuilder::max_redirects`] (default 5);
///   past it the result is [`ClusterError::TooManyRedirects`].
/// * **TRYAGAIN** (a multi-key command during a migration) and **CLUSTERDOWN** (the cluster
///   cannot serve the slot, for example during a failover) are retried after a pause that
///   doubles each time, with jitter, up to [`ClusterClientBuilder::max_retries`] times (default
///   5: about 0.8 to 1.6 s in all); then the server's error is returned. No lock is held while
///   waiting.
/// * **A connection failure after the command may have been written** (a timeout, a reset, the
///   server closing the connection) is returned as it is: the command may have run. The slot
///   map is marked for a refresh.
/// * **A failure to connect** (nothing was sent) refreshes the slot map and tries once more,
///   on the node the map then names.
///
/// # The slot map
///
/// The map sits behind a read-write lock taken only to read or patch it, never during I/O or a
/// pause. A full refresh asks the known primaries (in random order), then the replicas, then
/// the nodes whose connections failed in the last 10 s (a frozen node would cost it a whole
/// timeout), then the seeds, and keeps the first usable answer; it runs on the thread of the command that
/// needs it (the library starts no thread), at most once per
/// [`ClusterClientBuilder::min_refresh_interval`] (default 100 ms), and one at a time. A node
/// missing from the new map (gone, or a failed primary whose slots a replica took over) is
/// dropped and its pool closed.
///
/// # Guarantees during failovers
///
/// A command either runs once or fails with an error saying whether it may have run
/// ([`Error::is_retryable`]). During a failover, commands for the failed primary's slots fail
/// (connection errors, or CLUSTERDOWN after the retries) until the cluster promotes a replica;
/// the first MOVED or refresh after that sends them to the new primary. Writes acknowledged
/// by the old primary but not yet replicated can be lost by Redis itself (asynchronous
/// replication); where that matters, send the write and `WAIT` in one pipeline of
/// [`ClusterClient::client_for_slot`], so that WAIT counts that write.
///
/// # Reads from replicas
///
/// With [`ClusterClientBuilder::read_from`] set to [`ReadFrom::PreferReplica`] or
/// [`ReadFrom::RoundRobin`], the read-only commands below go to a replica of the slot's shard
/// (on connections that sent `READONLY`); every other command goes to the primary. A replica
/// that cannot be reached, or that refuses the read (MOVED, LOADING, MASTERDOWN, TRYAGAIN,
/// CLUSTERDOWN: it did not run it), hands the read to the primary. The read-only commands
/// are a fixed list (the specification's flags are not available at run time): GET, MGET,
/// EXISTS, STRLEN, GETRANGE, SUBSTR, GETBIT, BITCOUNT, BITPOS, BITFIELD_RO, LCS, HGET,
/// HGETALL, HMGET, HKEYS, HVALS, HLEN, HEXISTS, HSTRLEN, HRANDFIELD, HSCAN, LRANGE, LLEN,
/// LINDEX, LPOS, SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SRANDMEMBER, SDIFF, SINTER,
/// SINTERCARD, SUNION, SSCAN, ZRANGE, ZRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGE,
/// ZREVRANGEBYSCORE, ZREVRANGEBYLEX, ZSCORE, ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK,
/// ZREVRANK, ZRANDMEMBER, ZDIFF, ZINTER, ZUNION, ZINTERCARD, ZSCAN, XRANGE, XREVRANGE, XLEN,
/// GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO, TTL, PTTL,
/// EXPIRETIME, PEXPIRETIME, TYPE, DUMP, SORT_RO, EVAL_RO, FCALL_RO (not EVALSHA_RO: SCRIPT
/// LOAD reaches the primaries only, so a replica may not know the script).
///
/// # Pipelines, transactions, scans
///
/// [`ClusterClient::pipeline`] splits a pipeline by node and puts the replies back in order,
/// or runs a MULTI/EXEC transaction on one slot ([`ClusterPipeline`]);
/// [`ClusterClient::transaction`] runs a WATCH transaction on one slot's primary, again after
/// a MOVED; [`ClusterClient::scan_iter`] scans every primary in turn.
///
/// # Publish/subscribe
///
/// PUBLISH goes to a random primary (the cluster passes the message to every node); SPUBLISH
/// goes to the primary serving the shard channel's slot, like a key. [`ClusterClient::pubsub`]
/// subscribes: channels and patterns through one primary, shard channels through the
/// primaries serving their slots, following slot moves and failovers ([`ClusterPubSub`]).
#[derive(Clone)]
pub struct ClusterClient {
    inner: Arc<Inner>,
}

struct Inner {
    /// The settings every node's connections share; the address is replaced per node.
    config: ConnectionConfig,
    pool_options: PoolOptions,
    seeds: Vec<NodeAddr>,
    settings: Settings,
    topology: RwLock<Topology>,
    /// Set when the map is known or suspected to be out of date.
    stale: AtomicBool,
    refresh: Mutex<RefreshState>,
    /// The turn counter of [`ReadFrom::RoundRobin`].
    read_turn: AtomicUsize,
    /// Counts the changes of the slot map (a refresh, a MOVED), so that a subscriber can
    /// check its shard channels' homes when the map changed.
    generation: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    read_from: ReadFrom,
    max_redirects: usize,
    max_retries: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    min_refresh_interval: Duration,
    split_multi_key: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            read_from: ReadFrom::Primary,
            max_redirects: 5,
            max_retries: 5,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            min_refresh_interval: Duration::from_millis(100),
            split_multi_key: false,
        }
    }
}

#[derive(Debug, Default)]
struct RefreshState {
    last: Option<Instant>,
    running: bool,
}

/// Where one request goes before any redirect.
enum Target {
    Slot(u16),
    AnyPrimary,
    Node(Arc<Node>),
}

/// What one send of a command gave.
enum Attempt {
    /// The reply.
    Done(Value),
    /// Nothing was sent (the connect failed); try again.
    Again,
    /// This node refused the command with a server error.
    Refused(Arc<Node>, ServerError),
}

impl fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.inner.topology.read();
        let primaries: Vec<String> = map.primaries().map(|n| n.addr.to_string()).collect();
        f.debug_struct("ClusterClient")
            .field("primaries", &primaries)
            .field("nodes", &map.nodes().len())
            .field("covered_slots", &map.covered_slots())
            .finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// Connects to the cluster through the first reachable of the seed URLs
    /// (`redis://[user[:password]@]host:port`, `rediss://...` for TLS) and loads its slot map.
    ///
    /// The connection settings (credentials, TLS, timeouts, `max_connections` per node, ...)
    /// are those of the first URL; the others only add addresses. A seed does not have to
    /// be every node: the others are discovered. `retry_on_timeout` is not honoured: the
    /// cluster client never sends again a command that may have run.
    ///
    /// ```no_run
    /// use redis_client::{ClusterClient, Commands};
    ///
    /// let cluster = ClusterClient::open(&["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"])?;
    /// cluster.set("user:1", "alice")?;
    /// let name: Option<String> = cluster.get("user:1")?;
    /// // The keys of one multi-key command must share a slot: give them a hash tag.
    /// cluster.mset([("{user:1}:name", "alice"), ("{user:1}:city", "Paris")])?;
    /// # drop(name);
    /// # Ok::<(), redis_client::Error>(())
    /// ```
    pub fn open<S: AsRef<str>>(seeds: &[S]) -> Result<ClusterClient, Error> {
        Self::builder_from_urls(seeds)?.build()
    }

    /// A builder with no seed and the default settings; add seeds with
    /// [`ClusterClientBuilder::seed`].
    pub fn builder() -> ClusterClientBuilder {
        ClusterClientBuilder {
            config: ConnectionConfig::builder(),
            options: PoolOptions::new(),
            seeds: Vec::new(),
            settings: Settings::default(),
        }
    }

    /// A builder that starts from seed URLs (the settings of the first, the addresses of
    /// all), to add what a URL cannot say.
    pub fn builder_from_urls<S: AsRef<str>>(seeds: &[S]) -> Result<ClusterClientBuilder, Error> {
        let mut builder = Self::builder();
        for (i, url) in seeds.iter().enumerate() {
            let config = ConnectionConfig::from_url(url.as_ref())?;
            let Address::Tcp { host, port } = config.address() else {
                return Err(ClusterError::Config(
                    "a cluster is reached over TCP; a unix:// seed cannot be used".to_owned(),
                )
                .into());
            };
            builder.seeds.push(NodeAddr::new(host.clone(), *port));
            if i == 0 {
                if let Some(max) = config.max_connections() {
                    builder.options = builder.options.max_size(max);
                }
                builder.config = config.into_builder();
            }
        }
        Ok(builder)
    }

    /// Reloads the slot map now from the cluster (the client also does it by itself when a
    /// redirect or a failure says the map is out of date).
    pub fn refresh_topology(&self) -> Result<(), Error> {
        let _guard = match self.begin_refresh(true) {
            Some(guard) => guard,
            // Another thread is refreshing right now; its result is as fresh as ours.
            None => return Ok(()),
        };
        self.discover()
    }

    /// The address (`host`, `port`) of the primary serving `slot`, as the client's slot map
    /// says now.
    pub fn slot_owner(&self, slot: u16) -> Option<(String, u16)> {
        let map = self.inner.topology.read();
        map.primary_for(slot)
            .map(|n| (n.addr.host.clone(), n.addr.port))
    }

    /// The address of the primary serving `slot` in the slot map.
    fn slot_owner_addr(&self, slot: u16) -> Option<NodeAddr> {
        let map = self.inner.topology.read();
        map.primary_for(slot).map(|n| n.addr.clone())
    }

    /// A [`Client`] on each primary's pool, in slot order: for commands meant for every node
    /// one by one (SCAN, INFO, CLIENT LIST, ...). These clients follow no redirect.
    pub fn primaries(&self) -> Vec<Client> {
        let nodes: Vec<Arc<Node>> = self.inner.topology.read().primaries().cloned().collect();
        nodes.iter().map(|n| self.client_of(n)).collect()
    }

    /// A [`Client`] on the pool of the primary serving `slot` (see [`key_slot`]); it follows
    /// no redirect.
    pub fn client_for_slot(&self, slot: u16) -> Option<Client> {
        let node = self.inner.topology.read().primary_for(slot).cloned()?;
        Some(self.client_of(&node))
    }

    fn client_of(&self, node: &Node) -> Client {
        Client::from_pool(self.pool_of(node).clone())
    }

    fn pool_of<'a>(&self, node: &'a Node) -> &'a redis_pool::Pool {
        node.pool(&self.inner.config, self.inner.pool_options)
    }

    /// Checks, routes and runs one command.
    fn execute(&self, cmd: &Cmd) -> Result<Value, Error> {
        check(cmd)?;
        let route = match route::route(cmd) {
            Err(ClusterError::CrossSlot { .. })
                if self.inner.settings.split_multi_key
                    && let Some(split) = split::Split::of(cmd) =>
            {
                return self.run_split(cmd, split);
            }
            route => route?,
        };
        self.refresh_if_stale();
        match route {
            Route::Slot(slot)
                if self.inner.settings.read_from != ReadFrom::Primary
                    && replicas::is_read_only(cmd) =>
            {
                self.run_read(cmd, slot)
            }
            Route::Slot(slot) => self.run_single(cmd, Target::Slot(slot)),
            Route::AnyPrimary => self.run_single(cmd, Target::AnyPrimary),
            Route::Fanout(targets, combine) => self.run_fanout(cmd, targets, combine),
            Route::RandomKey => self.run_random_key(cmd),
        }
    }

    /// The node a target names now.
    fn resolve(&self, target: &Target) -> Result<Arc<Node>, Error> {
        let pick = random() as usize;
        {
            let map = self.inner.topology.read();
            let found = match target {
                Target::Node(node) => return Ok(Arc::clone(node)),
                Target::Slot(slot) => map.primary_for(*slot).or_else(|| map.pick_primary(pick)),
                Target::AnyPrimary => map.pick_primary(pick),
            };
            if let Some(node) = found {
                return Ok(Arc::clone(node));
            }
        }
        Err(ClusterError::Discovery {
            tried: 0,
            reason: "the slot map knows no primary".to_owned(),
            source: None,
        }
        .into())
    }

    /// Runs a command on one node, following redirects and backing off on TRYAGAIN and
    /// CLUSTERDOWN (see the [`ClusterClient`] docs).
    fn run_single(&self, cmd: &Cmd, target: Target) -> Result<Value, Error> {
        self.run_with(cmd, target, None)
    }

    /// [`ClusterClient::run_single`], starting from an error `node` already answered for
    /// `cmd` (a MOVED, ASK, TRYAGAIN or CLUSTERDOWN reply to a pipelined command) when
    /// `answered` is given.
    fn run_with(
        &self,
        cmd: &Cmd,
        target: Target,
        mut answered: Option<(Arc<Node>, ServerError)>,
    ) -> Result<Value, Error> {
        let settings = self.inner.settings;
        let mut redirects = 0;
        let mut retries = 0;
        let mut reconnected = false;
        // Set by a redirect: the node to use next, and whether ASKING must precede.
        let mut next: Option<(Arc<Node>, bool)> = None;
        loop {
            let (node, error) = match answered.take() {
                Some(answered) => answered,
                None => match self.attempt(cmd, &target, &mut next, &mut reconnected)? {
                    Attempt::Done(value) => return Ok(value),
                    Attempt::Again => continue,
                    Attempt::Refused(node, error) => (node, error),
                },
            };
            match error.kind() {
                kind @ (ServerErrorKind::Moved | ServerErrorKind::Ask) => {
                    redirects += 1;
                    if redirects > settings.max_redirects {
                        self.mark_stale();
                        return Err(ClusterError::TooManyRedirects {
                            command: command_name(cmd),
                            redirects: redirects - 1,
                            last: error,
                        }
                        .into());
                    }
                    let (slot, addr) = parse_redirect(&error, &node.addr)?;
                    let mut map = self.inner.topology.write();
                    let to = if kind == ServerErrorKind::Moved {
                        map.set_slot_owner(slot, &addr)
                    } else {
                        map.node_at(&addr)
                    };
                    drop(map);
                    if kind == ServerErrorKind::Moved {
                        self.map_changed();
                        self.mark_stale();
                    }
                    // `None` only when the map holds 65535 nodes.
                    let Some(to) = to else {
                        return Err(Error::Server(error));
                    };
                    next = Some((to, kind == ServerErrorKind::Ask));
                }
                kind @ (ServerErrorKind::TryAgain | ServerErrorKind::ClusterDown) => {
                    retries += 1;
                    if retries > settings.max_retries {
                        return Err(Error::Server(error));
                    }
                    if kind == ServerErrorKind::ClusterDown {
                        self.mark_stale();
                    }
                    // No lock is held here. The target is looked up again afterwards.
                    std::thread::sleep(self.backoff(retries));
                    self.refresh_if_stale();
                }
                _ => return Err(Error::Server(error)),
            }
        }
    }

    /// Sends `cmd` once, to the node a redirect named (`next`) or the one `target` names.
    fn attempt(
        &self,
        cmd: &Cmd,
        target: &Target,
        next: &mut Option<(Arc<Node>, bool)>,
        reconnected: &mut bool,
    ) -> Result<Attempt, Error> {
        let (node, asking) = match next.take() {
            Some(next) => next,
            None => (self.resolve(target)?, false),
        };
        let mut conn = match self.pool_of(&node).get() {
            Ok(conn) => conn,
            Err(e) => {
                let e = Error::from(e);
                // Nothing was sent: a failure to connect may mean the node is gone.
                if let Error::Connection(c) = &e
                    && c.is_connection()
                {
                    node.mark_failed();
                    self.mark_stale();
                    if !*reconnected {
                        *reconnected = true;
                        self.refresh_if_due();
                        return Ok(Attempt::Again);
                    }
                }
                return Err(e);
            }
        };
        let result = if asking {
            run_asking(&mut conn, cmd)
        } else {
            run_on(&mut conn, cmd)
        };
        drop(conn);
        match result {
            Ok(value) => Ok(Attempt::Done(value)),
            Err(Error::Server(e)) => Ok(Attempt::Refused(node, e)),
            Err(e) => {
                if e.is_connection() {
                    // The command may have run: no retry. The node may be gone.
                    node.mark_failed();
                    self.mark_stale();
                }
                Err(e)
            }
        }
    }

    /// Records a MOVED reply of `from` in the slot map (and schedules a full refresh);
    /// returns the node to send the command to next.
    fn follow_moved(&self, error: &ServerError, from: &NodeAddr) -> Result<Arc<Node>, Error> {
        let (slot, addr) = parse_redirect(error, from)?;
        let to = self.inner.topology.write().set_slot_owner(slot, &addr);
        self.map_changed();
        self.mark_stale();
        to.ok_or_else(|| Error::Server(error.clone()))
    }

    /// Runs a command on several nodes and combines their replies.
    fn run_fanout(&self, cmd: &Cmd, targets: Targets, combine: Combine) -> Result<Value, Error> {
        let nodes: Vec<Arc<Node>> = {
            let map = self.inner.topology.read();
            match targets {
                Targets::Primaries => map.primaries().cloned().collect(),
                Targets::AllNodes => map.primaries().chain(map.replicas()).cloned().collect(),
            }
        };
        if nodes.is_empty() {
            return Err(ClusterError::Discovery {
                tried: 0,
                reason: "the slot map knows no primary".to_owned(),
                source: None,
            }
            .into());
        }
        let mut replies = Vec::with_capacity(nodes.len());
        let mut first_error = None;
        for node in nodes {
            match self.run_single(cmd, Target::Node(node)) {
                Ok(value) => replies.push(value),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if combine == Combine::OneSucceeded {
            return match (replies.into_iter().next(), first_error) {
                (Some(value), _) => Ok(value),
                (None, Some(e)) => Err(e),
                (None, None) => Ok(Value::Null),
            };
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        combine_replies(cmd, combine, replies)
    }

    /// RANDOMKEY: the primaries in random order until one has a key.
    fn run_random_key(&self, cmd: &Cmd) -> Result<Value, Error> {
        let mut nodes: Vec<Arc<Node>> = self.inner.topology.read().primaries().cloned().collect();
        if !nodes.is_empty() {
            let start = random() as usize % nodes.len();
            nodes.rotate_left(start);
        }
        let mut first_error = None;
        for node in nodes {
            match self.run_single(cmd, Target::Node(node)) {
                Ok(Value::Null) => {}
                Ok(value) => return Ok(value),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(Value::Null), Err)
    }

    fn mark_stale(&self) {
        self.inner.stale.store(true, Ordering::Release);
    }

    fn map_changed(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The number of changes of the slot map so far.
    fn map_generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Refreshes the slot map when it is marked stale and a refresh is due.
    fn refresh_if_stale(&self) {
        if self.inner.stale.load(Ordering::Acquire) {
            self.refresh_if_due();
        }
    }

    /// A connection of its own (not pooled) to the node at `addr`, with the cluster's
    /// settings.
    fn open_connection(&self, addr: &NodeAddr) -> Result<Connection, Error> {
        let config = self
            .inner
            .config
            .clone()
            .into_builder()
            .host(addr.host.clone())
            .port(addr.port)
            .build();
        Ok(Connection::open(&config)?)
    }

    /// Refreshes the slot map unless one ran within the minimum interval or is running.
    /// Failures are not reported: the map stays as it was, marked stale, and the command
    /// goes on with it.
    fn refresh_if_due(&self) {
        if let Some(_guard) = self.begin_refresh(false) {
            let _ = self.discover();
        }
    }

    /// Claims the right to refresh: `None` when another refresh is running, or (unless
    /// `force`) when the last one is more recent than the minimum interval.
    fn begin_refresh(&self, force: bool) -> Option<RefreshGuard<'_>> {
        let mut state = self.inner.refresh.lock();
        if state.running {
            return None;
        }
        if !force
            && let Some(last) = state.last
            && last.elapsed() < self.inner.settings.min_refresh_interval
        {
            return None;
        }
        state.running = true;
        drop(state);
        self.inner.stale.store(false, Ordering::Release);
        Some(RefreshGuard { inner: &self.inner })
    }

    /// Asks the known primaries (random order), then the replicas, then the seeds, for the
    /// topology, and installs the first usable answer.
    fn discover(&self) -> Result<(), Error> {
        let candidates: Vec<(NodeAddr, Option<Arc<Node>>)> = {
            let map = self.inner.topology.read();
            let mut primaries: Vec<Arc<Node>> = map.primaries().cloned().collect();
            if !primaries.is_empty() {
                let start = random() as usize % primaries.len();
                primaries.rotate_left(start);
            }
            // Nodes whose connections just failed go last: a frozen one would cost a timeout.
            let (recently_failed, healthy): (Vec<Arc<Node>>, Vec<Arc<Node>>) = primaries
                .into_iter()
                .chain(map.replicas().cloned())
                .partition(|n| n.failed_within(FAILED_NODE_WINDOW));
            let mut list: Vec<(NodeAddr, Option<Arc<Node>>)> = healthy
                .into_iter()
                .chain(recently_failed)
                .map(|n| (n.addr.clone(), Some(n)))
                .collect();
            for seed in &self.inner.seeds {
                if !list.iter().any(|(a, _)| a == seed) {
                    list.push((seed.clone(), None));
                }
            }
            list
        };
        let mut tried = 0;
        let mut reason = "no seed".to_owned();
        let mut last_error = None;
        for (addr, node) in &candidates {
            tried += 1;
            match self.fetch_layout(addr, node.as_deref()) {
                Ok(layout) => {
                    let old_nodes: Vec<Arc<Node>> = self.inner.topology.read().nodes().to_vec();
                    let (map, _) = Topology::from_layout(&layout, &old_nodes);
                    if map.covered_slots() == 0 {
                        reason = format!("{addr} reports no slot served (is it in a cluster?)");
                        last_error = None;
                        continue;
                    }
                    let dropped: Vec<Arc<Node>> = {
                        let mut current = self.inner.topology.write();
                        let old = std::mem::replace(&mut *current, map);
                        old.nodes()
                            .iter()
                            .filter(|n| !current.nodes().iter().any(|m| m.addr == n.addr))
                            .cloned()
                            .collect()
                    };
                    for node in dropped {
                        node.close();
                    }
                    self.map_changed();
                    return Ok(());
                }
                Err(e) => {
                    reason = format!("{addr}: {e}");
                    last_error = Some(e);
                }
            }
        }
        // Try again at the next command that finds the refresh due.
        self.mark_stale();
        Err(ClusterError::Discovery {
            tried,
            reason,
            source: last_error.map(Box::new),
        }
        .into())
    }

    /// Asks one node for the topology: CLUSTER SHARDS, or CLUSTER SLOTS when the server is
    /// older than 7.0. A known node is asked on a pooled connection, a seed on a connection
    /// of its own.
    fn fetch_layout(
        &self,
        addr: &NodeAddr,
        node: Option<&Node>,
    ) -> Result<Vec<topology::ShardLayout>, Error> {
        let mut pooled: PooledConnection;
        let mut own: Connection;
        // A pooled connection when one is free at once; never a wait for one (the refresh
        // slot is held meanwhile): a busy pool's node gets a connection of its own.
        let free = node.map(|node| self.pool_of(node).try_get());
        let conn: &mut Connection = match free {
            Some(Ok(conn)) => {
                pooled = conn;
                &mut pooled
            }
            Some(Err(redis_pool::Error::Exhausted { .. })) | None => {
                own = self.open_connection(addr)?;
                &mut own
            }
            Some(Err(e)) => return Err(e.into()),
        };
        let tls = self.inner.config.tls().is_some();
        match run_raw(conn, &build::cluster_shards()) {
            Ok(reply) => {
                let shards = Vec::<ClusterShard>::from_reply(reply)?;
                Ok(layout_from_shards(shards, addr, tls))
            }
            Err(Error::Server(e))
                if e.kind() == ServerErrorKind::Err
                    && e.message()
                        .to_ascii_lowercase()
                        .contains("unknown subcommand") =>
            {
                let reply = run_raw(conn, &build::cluster_slots())?;
                let ranges = Vec::<ClusterSlotRange>::from_reply(reply)?;
                Ok(layout_from_slots(ranges, addr))
            }
            Err(e) => Err(e),
        }
    }

    /// The pause before retry number `attempt` (from 1): the base doubled each time, capped,
    /// then a random point in its upper half.
    fn backoff(&self, attempt: u32) -> Duration {
        let settings = &self.inner.settings;
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        let full = settings
            .backoff_base
            .saturating_mul(factor)
            .min(settings.backoff_max);
        let half = full / 2;
        let spread = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(random() % spread.saturating_add(1))
    }
}

/// How long a node whose connection failed is asked last by a refresh.
const FAILED_NODE_WINDOW: Duration = Duration::from_secs(10);

/// Marks the end of a refresh (also when the refresh panics).
struct RefreshGuard<'a> {
    inner: &'a Inner,
}

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.inner.refresh.lock();
        state.running = false;
        state.last = Some(Instant::now());
    }
}

/// Reads `MOVED <slot> <host>:<port>` (or ASK).
fn parse_redirect(error: &ServerError, from: &NodeAddr) -> Result<(u16, NodeAddr), Error> {
    let mut parts = error.message().split_whitespace().skip(1);
    let slot = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|&s| s < slots::SLOT_COUNT);
    let addr = parts.next().and_then(|a| NodeAddr::parse_redirect(a, from));
    match (slot, addr) {
        (Some(slot), Some(addr)) => Ok((slot, addr)),
        _ => Err(ClusterError::BadRedirect(error.message().to_owned()).into()),
    }
}

/// Runs a command on a pooled connection, marking it dirty when the command changes its
/// state.
fn run_on(conn: &mut PooledConnection, cmd: &Cmd) -> Result<Value, Error> {
    if changes_state(cmd) {
        conn.mark_dirty();
    }
    run_raw(conn, cmd)
}

/// Writes `ASKING` and the command with one write, and reads both replies.
fn run_asking(conn: &mut PooledConnection, cmd: &Cmd) -> Result<Value, Error> {
    if changes_state(cmd) {
        conn.mark_dirty();
    }
    conn.send_with(2, |buf| {
        resp_proto::encode_command(buf, [b"ASKING".as_slice()]);
        cmd.write_packed(buf);
    })?;
    let asking = conn.read_reply()?;
    let reply = conn.read_reply()?;
    if let Value::Error(text) | Value::BulkError(text) = &asking {
        return Err(Error::Server(ServerError::parse(text)));
    }
    match reply {
        Value::Error(text) | Value::BulkError(text) => {
            Err(Error::Server(ServerError::parse(&text)))
        }
        value => Ok(value),
    }
}

/// Combines the replies of a fan-out where every node succeeded.
fn combine_replies(cmd: &Cmd, combine: Combine, replies: Vec<Value>) -> Result<Value, Error> {
    let fail = |detail: String| -> Error {
        ClusterError::Aggregate {
            command: command_name(cmd),
            detail,
        }
        .into()
    };
    let replies: Vec<Value> = replies.into_iter().map(unwrap_attribute).collect();
    match combine {
        Combine::AllSucceeded | Combine::OneSucceeded => {
            Ok(replies.into_iter().next().unwrap_or(Value::Null))
        }
        Combine::Sum => {
            let mut sum: i64 = 0;
            for reply in replies {
                match reply {
                    Value::Integer(n) => {
                        sum = sum
                            .checked_add(n)
                            .ok_or_else(|| fail("the sum overflows".to_owned()))?;
                    }
                    other => return Err(fail(format!("expected integers, got {other:?}"))),
                }
            }
            Ok(Value::Integer(sum))
        }
        Combine::Concat => {
            let mut all = Vec::new();
            for reply in replies {
                match reply {
                    Value::Array(items) | Value::Set(items) => all.extend(items.into_vec()),
                    Value::Null => {}
                    other => return Err(fail(format!("expected arrays, got {other:?}"))),
                }
            }
            Ok(Value::Array(all.into()))
        }
        Combine::LogicalAnd => {
            let mut acc: Option<Value> = None;
            for reply in replies {
                acc = Some(match acc {
                    None => reply,
                    Some(prev) => min_of(prev, reply).map_err(fail)?,
                });
            }
            Ok(acc.unwrap_or(Value::Null))
        }
    }
}

/// Two arrays of 0/1 integers combined element by element with AND (the smaller of each
/// pair), or the smaller of two integers.
fn min_of(a: Value, b: Value) -> Result<Value, String> {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => Ok(Value::Integer(x.min(y))),
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Err(format!(
                    "arrays of different lengths ({} and {})",
                    x.len(),
                    y.len()
                ));
            }
            let merged = x
                .into_vec()
                .into_iter()
                .zip(y.into_vec())
                .map(|(x, y)| min_of(unwrap_attribute(x), unwrap_attribute(y)))
                .collect::<Result<Vec<Value>, String>>()?;
            Ok(Value::Array(merged.into()))
        }
        (a, b) => Err(format!("expected integers, got {a:?} and {b:?}")),
    }
}

fn unwrap_attribute(value: Value) -> Value {
    match value {
        Value::Attribute { value, .. } => *value,
        other => other,
    }
}

/// A fast pseudo-random number (xorshift), seeded per thread from the standard library's
/// random hash keys: for choosing nodes and jitter, nothing secret.
fn random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

impl Runner for &ClusterClient {
    type Error = Error;

    fn run(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        self.execute(cmd)
    }
}

impl Runner for ClusterClient {
    type Error = Error;

    fn run(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        self.execute(cmd)
    }
}

/// Every command as a method, routed as the [`ClusterClient`] docs describe.
impl Commands for ClusterClient {
    type Error = Error;

    fn run_cmd(&self, cmd: &Cmd) -> Result<Value, Error> {
        self.execute(cmd)
    }
}

/// Builds a [`ClusterClient`]; see [`ClusterClient::builder`].
///
/// The connection settings apply to the connections of every node.
#[derive(Debug, Clone)]
pub struct ClusterClientBuilder {
    config: ConnectionConfigBuilder,
    options: PoolOptions,
    seeds: Vec<NodeAddr>,
    settings: Settings,
}

impl ClusterClientBuilder {
    /// Adds a node to discover the cluster from (any node of the cluster will do; give a few
    /// in case one is down).
    pub fn seed(mut self, host: impl Into<String>, port: u16) -> Self {
        self.seeds.push(NodeAddr::new(host, port));
        self
    }

    /// TLS for every node, verified by default.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config = self.config.tls(tls);
        self
    }

    /// ACL user name.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.config = self.config.username(username);
        self
    }

    /// Password.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.config = self.config.password(password);
        self
    }

    /// `CLIENT SETNAME` on every connection.
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.config = self.config.client_name(name);
        self
    }

    /// RESP2 (default) or RESP3.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config = self.config.protocol(protocol);
        self
    }

    /// Timeout of every read and write (recommended: without it, a node that stops
    /// answering blocks its callers).
    pub fn socket_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.socket_timeout(timeout);
        self
    }

    /// Timeout of connecting.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config = self.config.connect_timeout(timeout);
        self
    }

    /// TCP keepalive.
    pub fn keepalive(mut self, keepalive: Keepalive) -> Self {
        self.config = self.config.keepalive(keepalive);
        self
    }

    /// Tries a refused or timed-out connect again up to `retries` times with a growing pause.
    pub fn connect_retries(mut self, retries: u32) -> Self {
        self.config = self.config.connect_retries(retries);
        self
    }

    /// PING a pooled connection that idled longer than this before using it.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.config = self.config.health_check_interval(interval);
        self
    }

    /// The size of each node's pool (default 50).
    pub fn max_connections_per_node(mut self, max: usize) -> Self {
        self.options = self.options.max_size(max);
        self
    }

    /// How long a command waits for a free connection of its node's pool (default 20 s;
    /// `None` forever).
    pub fn pool_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options = self.options.checkout(Checkout::Wait(timeout));
        self
    }

    /// Fail at once when every connection of a node's pool is in use, instead of waiting.
    pub fn fail_fast_when_exhausted(mut self) -> Self {
        self.options = self.options.checkout(Checkout::FailFast);
        self
    }

    /// Lets MGET, MSET, DEL, EXISTS, UNLINK and TOUCH take keys of different slots (default
    /// off: [`ClusterError::CrossSlot`]): the command is split into one command per slot,
    /// sent in one [`ClusterPipeline`] (one round trip per node), and the replies are put
    /// back together (MGET's values in the order of the keys; the sum of the counts; `OK`
    /// for MSET).
    ///
    /// The split command is no longer atomic: another client can see some parts done and
    /// not others, and when a part fails the others may have run (the first error is
    /// returned). Commands whose keys share a slot are sent unchanged.
    ///
    /// ```no_run
    /// use redis_client::{ClusterClient, Commands};
    ///
    /// let cluster = ClusterClient::builder().seed("127.0.0.1", 7000).split_multi_key(true).build()?;
    /// cluster.mset([("user:1", "alice"), ("user:2", "bob")])?;
    /// let names: Vec<Option<String>> = cluster.mget(["user:1", "user:2", "user:3"])?;
    /// let removed = cluster.del(["user:1", "user:2"])?;
    /// # drop((names, removed));
    /// # Ok::<(), redis_client::Error>(())
    /// ```
    pub fn split_multi_key(mut self, on: bool) -> Self {
        self.settings.split_multi_key = on;
        self
    }

    /// Which node of a shard serves read-only commands (default [`ReadFrom::Primary`]);
    /// see [`ReadFrom`].
    pub fn read_from(mut self, policy: ReadFrom) -> Self {
        self.settings.read_from = policy;
        self
    }

    /// How many MOVED and ASK redirects one command may follow (default 5).
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.settings.max_redirects = max;
        self
    }

    /// How many times a command refused with TRYAGAIN or CLUSTERDOWN is sent again (default
    /// 5). The server ran nothing when it sent those.
    pub fn max_retries(mut self, max: u32) -> Self {
        self.settings.max_retries = max;
        self
    }

    /// The pause before the first retry after TRYAGAIN or CLUSTERDOWN (default 50 ms),
    /// doubled for each next one up to `max` (default 1 s); each pause is a random point in
    /// the upper half of that.
    pub fn retry_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.settings.backoff_base = base;
        self.settings.backoff_max = max.max(base);
        self
    }

    /// The least time between two automatic reloads of the slot map (default 100 ms).
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.settings.min_refresh_interval = interval;
        self
    }

    /// Discovers the cluster from the first seed that answers and returns the client.
    ///
    /// Fails with [`ClusterError::Discovery`] when no seed answers with a topology (none
    /// reachable, or none in cluster mode), and with [`ClusterError::Config`] when there is
    /// no seed or a database other than 0 is configured (a cluster has only database 0).
    pub fn build(self) -> Result<ClusterClient, Error> {
        if self.seeds.is_empty() {
            return Err(ClusterError::Config("no seed node was given".to_owned()).into());
        }
        let config = self.config.build();
        if config.db() != 0 {
            return Err(ClusterError::Config(format!(
                "database {} was selected, but a cluster has only database 0",
                config.db()
            ))
            .into());
        }
        let client = ClusterClient {
            inner: Arc::new(Inner {
                config,
                pool_options: self.options,
                seeds: self.seeds,
                settings: self.settings,
                topology: RwLock::new(Topology::empty()),
                stale: AtomicBool::new(false),
                refresh: Mutex::new(RefreshState::default()),
                read_turn: AtomicUsize::new(0),
                generation: AtomicU64::new(0),
            }),
        };
        client.refresh_topology()?;
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_parse() {
        let from = NodeAddr::new("10.0.0.1", 7000);
        let moved = ServerError::parse(b"MOVED 3999 127.0.0.1:6381");
        let (slot, addr) = parse_redirect(&moved, &from).unwrap();
        assert_eq!(slot, 3999);
        assert_eq!(addr, NodeAddr::new("127.0.0.1", 6381));
        let ask = ServerError::parse(b"ASK 1 :6380");
        let (_, addr) = parse_redirect(&ask, &from).unwrap();
        assert_eq!(addr, NodeAddr::new("10.0.0.1", 6380));
        for bad in [
            &b"MOVED"[..],
            b"MOVED x 1.2.3.4:5",
            b"MOVED 16384 h:1",
            b"MOVED 1 h",
        ] {
            assert!(matches!(
                parse_redirect(&ServerError::parse(bad), &from),
                Err(Error::Cluster(ClusterError::BadRedirect(_)))
            ));
        }
    }

    #[test]
    fn replies_combine() {
        let c = redis_commands::cmd("DBSIZE");
        let sum =
            combine_replies(&c, Combine::Sum, vec![Value::Integer(2), Value::Integer(3)]).unwrap();
        assert_eq!(sum, Value::Integer(5));
        assert!(combine_replies(&c, Combine::Sum, vec![Value::Null]).is_err());
        assert!(
            combine_replies(
                &c,
                Combine::Sum,
                vec![Value::Integer(i64::MAX), Value::Integer(1)]
            )
            .is_err()
        );
        let arrays = |a: &[i64]| Value::Array(a.iter().map(|&n| Value::Integer(n)).collect());
        let and = combine_replies(
            &c,
            Combine::LogicalAnd,
            vec![arrays(&[1, 1, 0]), arrays(&[1, 0, 0])],
        )
        .unwrap();
        assert_eq!(and, arrays(&[1, 0, 0]));
        assert!(
            combine_replies(&c, Combine::LogicalAnd, vec![arrays(&[1]), arrays(&[1, 1])]).is_err()
        );
        let concat = combine_replies(
            &c,
            Combine::Concat,
            vec![arrays(&[1]), Value::Null, arrays(&[2, 3])],
        )
        .unwrap();
        assert_eq!(concat, arrays(&[1, 2, 3]));
    }

    #[test]
    fn backoff_grows_within_bounds() {
        let client = ClusterClient {
            inner: Arc::new(Inner {
                config: ConnectionConfig::builder().build(),
                pool_options: PoolOptions::new(),
                seeds: Vec::new(),
                settings: Settings::default(),
                topology: RwLock::new(Topology::empty()),
                stale: AtomicBool::new(false),
                refresh: Mutex::new(RefreshState::default()),
                read_turn: AtomicUsize::new(0),
                generation: AtomicU64::new(0),
            }),
        };
        for attempt in 1..=40 {
            let full = Duration::from_millis(50)
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(Duration::from_secs(1));
            let pause = client.backoff(attempt);
            assert!(pause >= full / 2 && pause <= full, "{attempt}: {pause:?}");
        }
    }
}
