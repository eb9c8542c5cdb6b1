//! Redis Sentinel: find the master (and replicas) of a monitored group, and pools that follow
//! failovers.
//!
//! [`Sentinel`] follows the Redis Sentinel client guidelines step by step:
//!
//! 1. **Discovery.** The Sentinels are asked in order, each with a short connect and read
//!    timeout; one that fails is skipped. When none answers, the error is
//!    [`SentinelError::Unreachable`]. The first one that answers moves to the front of the
//!    list.
//! 2. **Ask.** `SENTINEL GET-MASTER-ADDR-BY-NAME <name>` and `SENTINEL MASTER <name>` go in one
//!    round trip. A Sentinel that does not know the name, that reports the master down
//!    (`s_down`, `o_down`), or that sees fewer other Sentinels than
//!    [`min_other_sentinels`](SentinelOptions::min_other_sentinels) is passed over; when
//!    every answer is like that the error is [`SentinelError::MasterNotFound`].
//! 3. **Verify.** A connection to the address runs `ROLE` (bounded by
//!    [`verify_timeout`](SentinelOptions::verify_timeout)); a server that is not a master is
//!    dropped, the Sentinel that named it goes to the back of the list, and after a pause the
//!    procedure starts again, a bounded number of times
//!    ([`attempts`](SentinelOptions::attempts)). A server that cannot be reached is treated
//!    the same way; one that refuses the credentials or the TLS handshake is an error at
//!    once.
//! 4. **Reconnect.** A pool from [`Sentinel::master_for`] runs steps 1 to 3 for *every* new
//!    connection; its connections never reconnect to a remembered address by themselves
//!    except through the connection's own health check (see below).
//! 5. **Server-side kick.** When Sentinel reconfigures a server it closes its clients
//!    (`CLIENT KILL TYPE normal`); the pool finds such connections closed at checkout and
//!    drops them, so the next one is resolved afresh.
//! 6. **Replicas.** `SENTINEL REPLICAS <name>` lists them; those flagged `s_down`, `o_down` or
//!    `disconnected` are left out, and a replica connection must answer `ROLE` as a replica.
//! 7. **Pools.** When a master pool's new connection is verified at a higher Sentinel
//!    `config-epoch` than any before, the master changed: the pool's connections to the old
//!    one are closed on that server (`CLIENT KILL ID <id> ADDR <addr>`, for the connections
//!    this pool opened and nothing else), so none of them writes to a demoted master. A
//!    Sentinel whose view is older (a lower epoch than the pool has seen, or a master that
//!    `+switch-master` reported replaced) is passed over like one naming a replica. A lower
//!    epoch can also mean the Sentinels' epoch went back (restarted without their
//!    configuration file, or the master re-registered with `SENTINEL REMOVE` and `SENTINEL
//!    MONITOR`): before passing such an answer over, the pool asks every Sentinel, and
//!    follows the lower epoch when a majority of them answer, none reports the pool's epoch
//!    or a higher one, and the newest of their views all name that master (which must then
//!    answer `ROLE` as a master like any other).
//! 8. **Optional.** [`watch_switch_master`](SentinelOptions::watch_switch_master) (on by
//!    default) listens for `+switch-master` and closes the pool's connections to the old
//!    master as soon as the event arrives, instead of when Sentinel demotes it (about ten
//!    seconds later); [`discover_sentinels`](SentinelOptions::discover_sentinels) appends
//!    the Sentinels a Sentinel knows to the list. Neither replaces steps 1 to 3.
//!
//! Credentials and TLS settings for the Sentinels ([`SentinelOptions`]) and for the data nodes
//! (the [`ConnectionConfig`] given to [`Sentinel::master_for`]) are kept apart: each goes only
//! to its own kind of node. With TLS to the data nodes, set
//! [`TlsConfig::server_name`](redis_conn::TlsConfig::server_name) to the name their
//! certificates carry: the Sentinels give IP addresses, and the certificate is verified
//! against the configured name, never against whatever address a Sentinel returned.
//!
//! ```no_run
//! use redis_conn::ConnectionConfig;
//! use redis_ext::sentinel::Sentinel;
//!
//! let sentinel = Sentinel::new([("localhost", 26379), ("localhost", 26380)])?;
//! let master = sentinel.discover_master("mymaster")?;
//! let replicas = sentinel.discover_replicas("mymaster")?;
//! println!("master at {master}, replicas at {replicas:?}");
//!
//! // Pools for the facade: `redis_client::Client::from_pool(pool)`.
//! let data = ConnectionConfig::builder().password("data-secret").build();
//! let master_pool = sentinel.master_for("mymaster", &data);
//! let replica_pool = sentinel.replica_for("mymaster", &data);
//! let mut conn = master_pool.get()?;
//! conn.request(&["SET", "foo", "bar"])?;
//! # drop((conn, replica_pool));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the user of a master pool must do
//!
//! A command answered with `-READONLY` ran on a server that is no longer the master. The
//! caller (the `redis-client` facade) should then call [`Pool::clear`]: every idle connection
//! closes now, and every checked-out one when it comes back, so the next commands use
//! connections that were resolved and verified afresh. Such a command did not run, so it may
//! be sent again.
//!
//! A connection's own health check (`health_check_interval`) reconnects once to the same
//! address when its PING fails; if that address now holds a replica, the next write gets
//! `-READONLY`, which clears the pool as above.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::thread;

use parking_lot::Mutex;
use redis_commands::replies::SentinelState;
use redis_commands::{Cmd, FromReply, build};
use redis_conn::{Connection, ConnectionConfig};
use redis_pool::{Pool, PoolOptions};
use resp_proto::Value;

mod error;
mod node;
mod options;
mod pool;
mod watch;

pub use self::error::SentinelError;
pub use self::options::SentinelOptions;

use self::node::{ClientTag, Expect, VerifyError};

/// A server's address as the Sentinels give it, or as a Sentinel is configured: a host name
/// or IP address and a port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct NodeAddr {
    /// Host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl NodeAddr {
    /// An address from its parts.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        NodeAddr {
            host: host.into(),
            port,
        }
    }
}

/// `host:port`, with brackets around an IPv6 address.
impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<(&str, u16)> for NodeAddr {
    fn from((host, port): (&str, u16)) -> Self {
        NodeAddr::new(host, port)
    }
}

impl From<&(&str, u16)> for NodeAddr {
    fn from((host, port): &(&str, u16)) -> Self {
        NodeAddr::new(*host, *port)
    }
}

impl From<(String, u16)> for NodeAddr {
    fn from((host, port): (String, u16)) -> Self {
        NodeAddr::new(host, port)
    }
}

impl From<SocketAddr> for NodeAddr {
    fn from(addr: SocketAddr) -> Self {
        NodeAddr::new(addr.ip().to_string(), addr.port())
    }
}

impl From<&SocketAddr> for NodeAddr {
    fn from(addr: &SocketAddr) -> Self {
        NodeAddr::from(*addr)
    }
}

/// A master as one Sentinel names it.
struct Named {
    /// The master's address.
    addr: NodeAddr,
    /// The Sentinel that named it.
    by: NodeAddr,
    /// The Sentinel's `config-epoch` for the master: it grows with every failover, so of two
    /// answers the one with the higher epoch is the newer view.
    epoch: u64,
}

/// What every Sentinel of the list said about a master, asked one after the other.
struct Survey {
    /// How many Sentinels the list held (all were asked).
    asked: usize,
    /// The master each Sentinel that named a usable one named, with its epoch.
    views: Vec<Named>,
}

/// A set of Sentinels and the way to ask them; cheap to clone (clones share the list and its
/// order).
///
/// See the [module documentation](self) for the procedure. Every public method is
/// thread-safe; no lock is held while talking to a server.
#[derive(Clone)]
pub struct Sentinel {
    shared: Arc<Shared>,
}

struct Shared {
    options: SentinelOptions,
    /// The Sentinels in the order they are asked, each with one idle connection kept for the
    /// next query.
    nodes: Mutex<Vec<SentinelNode>>,
}

struct SentinelNode {
    addr: NodeAddr,
    idle: Option<Connection>,
}

impl fmt::Debug for Sentinel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sentinel")
            .field("sentinels", &self.sentinels())
            .field("options", &self.shared.options)
            .finish()
    }
}

/// What one Sentinel said about the question asked.
enum Answer<T> {
    /// What was asked for.
    Found(T),
    /// It knows the master but has nothing usable (no healthy replica).
    Empty,
    /// It does not know the master name.
    Unknown,
    /// It knows the master, but its answer is not acceptable (master down, too few other
    /// Sentinels); why.
    Rejected(String),
}

/// Why asking one Sentinel failed.
enum AskFailure {
    /// The connection failed; it is dropped.
    Conn(redis_conn::Error),
    /// It answered with an error that is not "no such master" (NOAUTH, NOPERM, not a
    /// Sentinel, ...), or an answer that does not parse.
    Refused(String),
}

impl From<redis_conn::Error> for AskFailure {
    fn from(e: redis_conn::Error) -> Self {
        AskFailure::Conn(e)
    }
}

/// What every Sentinel said, for the error when none had an answer.
struct Tally {
    tried: usize,
    failures: Vec<String>,
    unknown: usize,
    empty: usize,
    rejected: Vec<String>,
}

impl Tally {
    fn answered(&self) -> bool {
        self.unknown + self.empty + self.rejected.len() > 0
    }

    fn unreachable(&self) -> SentinelError {
        SentinelError::Unreachable {
            tried: self.tried,
            details: self.failures.join("; "),
        }
    }

    /// Why no master was found, in words.
    fn master_reason(&self) -> String {
        let mut reason = if self.rejected.is_empty() {
            "no Sentinel knows this master name".to_owned()
        } else {
            self.rejected.join("; ")
        };
        if !self.failures.is_empty() {
            reason.push_str(&format!(
                " ({} of {} Sentinels did not answer)",
                self.failures.len(),
                self.tried
            ));
        }
        reason
    }
}

impl Sentinel {
    /// A client for the Sentinels at `addrs`, with the default [`SentinelOptions`].
    ///
    /// Nothing is connected yet. Fails only when `addrs` is empty.
    ///
    /// ```
    /// use redis_ext::sentinel::Sentinel;
    ///
    /// let sentinel = Sentinel::new([("10.0.0.1", 26379), ("10.0.0.2", 26379)])?;
    /// assert_eq!(sentinel.sentinels()[1].to_string(), "10.0.0.2:26379");
    /// assert!(Sentinel::new(Vec::<(&str, u16)>::new()).is_err());
    /// # Ok::<(), redis_ext::sentinel::SentinelError>(())
    /// ```
    pub fn new<I>(addrs: I) -> Result<Sentinel, SentinelError>
    where
        I: IntoIterator,
        I::Item: Into<NodeAddr>,
    {
        Self::with_options(addrs, SentinelOptions::new())
    }

    /// A client for the Sentinels at `addrs` with `options`. Duplicate addresses are kept
    /// once. Fails only when `addrs` is empty.
    pub fn with_options<I>(addrs: I, options: SentinelOptions) -> Result<Sentinel, SentinelError>
    where
        I: IntoIterator,
        I::Item: Into<NodeAddr>,
    {
        let mut nodes: Vec<SentinelNode> = Vec::new();
        for addr in addrs {
            let addr = addr.into();
            if !nodes.iter().any(|n| n.addr == addr) {
                nodes.push(SentinelNode { addr, idle: None });
            }
        }
        if nodes.is_empty() {
            return Err(SentinelError::NoSentinels);
        }
        Ok(Sentinel {
            shared: Arc::new(Shared {
                options,
                nodes: Mutex::new(nodes),
            }),
        })
    }

    /// The Sentinels, in the order the next query asks them (the last one that answered
    /// first).
    pub fn sentinels(&self) -> Vec<NodeAddr> {
        self.shared
            .nodes
            .lock()
            .iter()
            .map(|n| n.addr.clone())
            .collect()
    }

    /// The options.
    pub fn options(&self) -> &SentinelOptions {
        &self.shared.options
    }

    /// The master's address according to the first Sentinel (in order) that knows `name`
    /// and reports its master up (steps 1 and 2 of the guidelines; that Sentinel moves to
    /// the front). The address is not verified: [`connect_master`](Self::connect_master)
    /// and the pools do that with `ROLE`.
    ///
    /// # Errors
    ///
    /// [`SentinelError::Unreachable`] when no Sentinel answered,
    /// [`SentinelError::MasterNotFound`] when none named a usable master.
    pub fn discover_master(&self, name: &str) -> Result<NodeAddr, SentinelError> {
        self.find_master(name).map(|named| named.addr)
    }

    /// The healthy replicas of `name`'s master: the first non-empty list a Sentinel (in
    /// order) gives, without those flagged `s_down`, `o_down` or `disconnected`. Empty when
    /// the Sentinels know the master but no healthy replica.
    ///
    /// # Errors
    ///
    /// [`SentinelError::Unreachable`] when no Sentinel answered,
    /// [`SentinelError::MasterNotFound`] when none knows `name`.
    pub fn discover_replicas(&self, name: &str) -> Result<Vec<NodeAddr>, SentinelError> {
        let result = self.ask(|conn| {
            let mut replies = exchange_sentinel(conn, &[build::sentinel_replicas(name)])?;
            let reply = replies.pop().unwrap_or(Value::Null);
            let states = match reply {
                Value::Error(text) | Value::BulkError(text) => {
                    let text = String::from_utf8_lossy(&text).into_owned();
                    if is_no_such_master(&text) {
                        return Ok(Answer::Unknown);
                    }
                    if !text.to_ascii_lowercase().contains("unknown") {
                        return Err(AskFailure::Refused(text));
                    }
                    // A Sentinel before 5.0 knows only SENTINEL SLAVES.
                    let mut replies = exchange_sentinel(conn, &[build::sentinel_slaves(name)])?;
                    match replies.pop().unwrap_or(Value::Null) {
                        Value::Error(text) | Value::BulkError(text) => {
                            let text = String::from_utf8_lossy(&text).into_owned();
                            if is_no_such_master(&text) {
                                return Ok(Answer::Unknown);
                            }
                            return Err(AskFailure::Refused(text));
                        }
                        other => other,
                    }
                }
                other => other,
            };
            let states = Vec::<SentinelState>::from_reply(states)
                .map_err(|e| AskFailure::Refused(format!("SENTINEL REPLICAS: {e}")))?;
            let healthy = healthy_replicas(&states);
            Ok(if healthy.is_empty() {
                Answer::Empty
            } else {
                Answer::Found(healthy)
            })
        });
        match result {
            Ok((replicas, _)) => Ok(replicas),
            Err(tally) if tally.empty > 0 => Ok(Vec::new()),
            Err(tally) if tally.answered() => Err(SentinelError::MasterNotFound {
                name: name.to_owned(),
                reason: tally.master_reason(),
            }),
            Err(tally) => Err(tally.unreachable()),
        }
    }

    /// A connection to `name`'s master, found and verified by the whole procedure (steps 1
    /// to 3): the address the Sentinels give is connected to with `config` (its own address
    /// is ignored) and must answer `ROLE` as a master. When it cannot be connected to or is
    /// not a master, the Sentinel that named it goes to the back of the list and, after
    /// [`retry_delay`](SentinelOptions::retry_delay), the Sentinels are asked again, at most
    /// [`attempts`](SentinelOptions::attempts) times in all.
    ///
    /// # Errors
    ///
    /// The errors of [`discover_master`](Self::discover_master); after the last attempt,
    /// [`SentinelError::MasterNotFound`] when the server was not a master, or
    /// [`SentinelError::Node`] when it could not be connected to.
    pub fn connect_master(
        &self,
        name: &str,
        config: &ConnectionConfig,
    ) -> Result<Connection, SentinelError> {
        let config = node::bounded(config, self.shared.options.node_connect_timeout);
        self.open_master(name, &config, false, &|_, _| Ok(()))
            .map(|(conn, _, _)| conn)
    }

    /// A connection to a replica of `name`'s master, verified with `ROLE`; the replicas are
    /// tried from the first healthy one the Sentinels list, and the master is the fallback.
    /// Pools made by [`replica_for`](Self::replica_for) rotate the starting replica.
    ///
    /// # Errors
    ///
    /// [`SentinelError::Unreachable`] and [`SentinelError::MasterNotFound`] as for
    /// [`discover_replicas`](Self::discover_replicas); [`SentinelError::ReplicaNotFound`]
    /// when no replica and not the master could be connected to and verified.
    pub fn connect_replica(
        &self,
        name: &str,
        config: &ConnectionConfig,
    ) -> Result<Connection, SentinelError> {
        let config = node::bounded(config, self.shared.options.node_connect_timeout);
        self.open_replica(name, &config, 0)
    }

    /// A pool of connections to `name`'s master that follows failovers (see the
    /// [module documentation](self)): every new connection is resolved through the
    /// Sentinels and verified with `ROLE`, and connections to a replaced master are closed.
    /// `config` holds the data nodes' settings (credentials, TLS, database, timeouts); its
    /// address is ignored. The pool size is `config`'s `max_connections`, else the pool
    /// default. Nothing is connected until the first checkout.
    ///
    /// Errors of a checkout are [`redis_conn::Error`]s; those of the Sentinels carry a
    /// [`SentinelError`] ([`SentinelError::find`]).
    pub fn master_for(&self, name: &str, config: &ConnectionConfig) -> Pool {
        self.master_for_with(name, config, pool_options(config))
    }

    /// [`master_for`](Self::master_for) with explicit pool settings.
    pub fn master_for_with(
        &self,
        name: &str,
        config: &ConnectionConfig,
        options: PoolOptions,
    ) -> Pool {
        let config = node::bounded(config, self.shared.options.node_connect_timeout);
        let (connector, state) = pool::MasterConnector::new(self.clone(), name, config);
        if self.shared.options.watch_switch_master {
            watch::spawn(self.clone(), name.to_owned(), Arc::downgrade(&state));
        }
        Pool::with_connector(connector, options)
    }

    /// A pool of connections to replicas of `name`'s master: each new connection goes to the
    /// next healthy replica in turn (starting at a random one), verified with `ROLE`; when
    /// no replica can be used it goes to the verified master. `config` is as for
    /// [`master_for`](Self::master_for).
    pub fn replica_for(&self, name: &str, config: &ConnectionConfig) -> Pool {
        self.replica_for_with(name, config, pool_options(config))
    }

    /// [`replica_for`](Self::replica_for) with explicit pool settings.
    pub fn replica_for_with(
        &self,
        name: &str,
        config: &ConnectionConfig,
        options: PoolOptions,
    ) -> Pool {
        let config = node::bounded(config, self.shared.options.node_connect_timeout);
        let start = RandomState::new().hash_one(name);
        let connector = pool::ReplicaConnector {
            sentinel: self.clone(),
            name: name.to_owned(),
            config,
            next: AtomicUsize::new(start as usize),
        };
        Pool::with_connector(connector, options)
    }

    /// Steps 1 and 2: the master as the first Sentinel with an acceptable answer names it.
    fn find_master(&self, name: &str) -> Result<Named, SentinelError> {
        let min_others = self.shared.options.min_other_sentinels;
        let discover = self.shared.options.discover_sentinels;
        let mut found_sentinels = Vec::new();
        let result = self.ask(|conn| {
            let mut cmds = vec![
                build::sentinel_get_master_addr_by_name(name),
                build::sentinel_master(name),
            ];
            if discover {
                cmds.push(build::sentinel_sentinels(name));
            }
            let mut replies = exchange_sentinel(conn, &cmds)?.into_iter();
            let addr_reply = replies.next().unwrap_or(Value::Null);
            let state_reply = replies.next().unwrap_or(Value::Null);
            let answer = master_answer(addr_reply, state_reply, min_others)?;
            if let (Answer::Found(_), Some(reply)) = (&answer, replies.next())
                && let Ok(states) = Vec::<SentinelState>::from_reply(reply)
            {
                found_sentinels = states
                    .iter()
                    .filter_map(|s| Some(NodeAddr::new(s.ip()?, s.port()?)))
                    .collect();
            }
            Ok(answer)
        });
        if !found_sentinels.is_empty() {
            self.add_sentinels(found_sentinels);
        }
        match result {
            Ok(((addr, epoch), by)) => Ok(Named { addr, by, epoch }),
            Err(tally) if tally.answered() => Err(SentinelError::MasterNotFound {
                name: name.to_owned(),
                reason: tally.master_reason(),
            }),
            Err(tally) => Err(tally.unreachable()),
        }
    }

    /// Asks every Sentinel of the list (not only until one answers) for `name`'s master, one
    /// after the other with the Sentinel timeouts, leaving the list's order alone: what a
    /// master pool needs to tell a Sentinel that lags behind from Sentinels whose
    /// configuration epoch went back (see [`pool`]). Sentinels that do not answer, do not
    /// know the name or report the master down give no view.
    fn survey_master(&self, name: &str) -> Survey {
        let min_others = self.shared.options.min_other_sentinels;
        let order = self.sentinels();
        let mut views = Vec::new();
        for by in &order {
            let Ok(mut conn) = self.checkout(by) else {
                continue;
            };
            let cmds = [
                build::sentinel_get_master_addr_by_name(name),
                build::sentinel_master(name),
            ];
            let Ok(replies) = exchange_sentinel(&mut conn, &cmds) else {
                continue;
            };
            self.checkin(by, conn);
            let mut replies = replies.into_iter();
            let addr_reply = replies.next().unwrap_or(Value::Null);
            let state_reply = replies.next().unwrap_or(Value::Null);
            if let Ok(Answer::Found((addr, epoch))) =
                master_answer(addr_reply, state_reply, min_others)
            {
                views.push(Named {
                    addr,
                    by: by.clone(),
                    epoch,
                });
            }
        }
        Survey {
            asked: order.len(),
            views,
        }
    }

    /// Steps 1 to 3 with retries: a verified connection to the master, the master as named,
    /// and, with `tag`, how the master knows the connection. `accept` may refuse a master
    /// named from a view older than one already seen (a master pool's own history); such a
    /// refusal counts as a failed attempt.
    fn open_master(
        &self,
        name: &str,
        config: &ConnectionConfig,
        tag: bool,
        accept: &dyn Fn(&NodeAddr, u64) -> Result<(), String>,
    ) -> Result<(Connection, Named, Option<ClientTag>), SentinelError> {
        let options = &self.shared.options;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let named = self.find_master(name)?;
            let result = match accept(&named.addr, named.epoch) {
                Err(why) => Err(VerifyError::Stale(why)),
                Ok(()) => node::open_verified(
                    config,
                    &named.addr,
                    Expect::Master,
                    options.verify_timeout,
                    tag,
                ),
            };
            match result {
                Ok((conn, tag)) => return Ok((conn, named, tag)),
                // Credentials, TLS or a malformed answer: asking again changes nothing.
                Err(VerifyError::Conn(source)) if !source.is_connection() => {
                    let addr = named.addr;
                    return Err(SentinelError::Node { addr, source });
                }
                Err(error) => {
                    // A stale or wrong Sentinel is asked last next time.
                    self.demote(&named.by);
                    if attempt >= options.attempts {
                        let Named { addr, by, .. } = named;
                        return Err(match error {
                            VerifyError::Conn(source) => SentinelError::Node { addr, source },
                            VerifyError::WrongRole(_) | VerifyError::Stale(_) => {
                                SentinelError::MasterNotFound {
                                    name: name.to_owned(),
                                    reason: format!(
                                        "{addr}, named by Sentinel {by}, is not the master: \
                                         {error} (after {attempt} attempts)"
                                    ),
                                }
                            }
                        });
                    }
                    thread::sleep(options.retry_delay);
                }
            }
        }
    }

    /// A verified replica connection, trying the healthy replicas from index `start` on,
    /// then the master.
    fn open_replica(
        &self,
        name: &str,
        config: &ConnectionConfig,
        start: usize,
    ) -> Result<Connection, SentinelError> {
        let options = &self.shared.options;
        let replicas = self.discover_replicas(name)?;
        let mut reasons = Vec::new();
        let n = replicas.len();
        for i in 0..n {
            // `start` is any number (random, then counting up): no overflow, always in range.
            let addr = &replicas[(start % n + i) % n];
            match node::open_verified(config, addr, Expect::Replica, options.verify_timeout, false)
            {
                Ok((conn, _)) => return Ok(conn),
                Err(e) => reasons.push(format!("replica {addr}: {e}")),
            }
        }
        if n == 0 {
            reasons.push("the Sentinels list no healthy replica".to_owned());
        }
        match self.open_master(name, config, false, &|_, _| Ok(())) {
            Ok((conn, _, _)) => Ok(conn),
            Err(e) => {
                reasons.push(format!("the master fallback failed: {e}"));
                Err(SentinelError::ReplicaNotFound {
                    name: name.to_owned(),
                    reason: reasons.join("; "),
                })
            }
        }
    }

    /// Asks each Sentinel in order until one gives what `query` looks for; that one moves to
    /// the front. Otherwise, what each said.
    fn ask<T>(
        &self,
        mut query: impl FnMut(&mut Connection) -> Result<Answer<T>, AskFailure>,
    ) -> Result<(T, NodeAddr), Tally> {
        let order = self.sentinels();
        let mut tally = Tally {
            tried: order.len(),
            failures: Vec::new(),
            unknown: 0,
            empty: 0,
            rejected: Vec::new(),
        };
        for addr in order {
            let mut conn = match self.checkout(&addr) {
                Ok(conn) => conn,
                Err(e) => {
                    tally.failures.push(format!("{addr}: {e}"));
                    continue;
                }
            };
            let result = query(&mut conn);
            match result {
                Err(AskFailure::Conn(e)) => {
                    tally.failures.push(format!("{addr}: {e}"));
                    continue;
                }
                Err(AskFailure::Refused(why)) => {
                    self.checkin(&addr, conn);
                    tally.failures.push(format!("{addr}: {why}"));
                }
                Ok(answer) => {
                    self.checkin(&addr, conn);
                    match answer {
                        Answer::Found(found) => {
                            self.promote(&addr);
                            return Ok((found, addr));
                        }
                        Answer::Empty => tally.empty += 1,
                        Answer::Unknown => tally.unknown += 1,
                        Answer::Rejected(why) => {
                            tally.rejected.push(format!("Sentinel {addr}: {why}"))
                        }
                    }
                }
            }
        }
        Err(tally)
    }

    /// A connection to the Sentinel at `addr`: its idle one when still usable, else a new
    /// one (short timeouts, the Sentinel credentials and TLS).
    fn checkout(&self, addr: &NodeAddr) -> Result<Connection, redis_conn::Error> {
        let idle = {
            let mut nodes = self.shared.nodes.lock();
            nodes
                .iter_mut()
                .find(|n| n.addr == *addr)
                .and_then(|n| n.idle.take())
        };
        if let Some(mut conn) = idle
            && conn.is_idle()
        {
            return Ok(conn);
        }
        Connection::open(&self.sentinel_config(addr))
    }

    /// Keeps a clean connection as the idle one of its Sentinel, if it has none.
    fn checkin(&self, addr: &NodeAddr, conn: Connection) {
        if conn.is_broken() || conn.has_pending() {
            return;
        }
        let mut nodes = self.shared.nodes.lock();
        if let Some(node) = nodes.iter_mut().find(|n| n.addr == *addr)
            && node.idle.is_none()
        {
            node.idle = Some(conn);
        }
    }

    /// The configuration of connections to a Sentinel.
    fn sentinel_config(&self, addr: &NodeAddr) -> ConnectionConfig {
        let options = &self.shared.options;
        let mut builder = ConnectionConfig::builder()
            .host(addr.host.clone())
            .port(addr.port)
            .connect_timeout(options.connect_timeout)
            .socket_timeout(options.socket_timeout);
        if let Some(username) = &options.username {
            builder = builder.username(username.clone());
        }
        if let Some(password) = &options.password {
            builder = builder.password(password.clone());
        }
        if let Some(tls) = &options.tls {
            builder = builder.tls(tls.clone());
        }
        builder.build()
    }

    /// Moves the Sentinel at `addr` to the front.
    fn promote(&self, addr: &NodeAddr) {
        let mut nodes = self.shared.nodes.lock();
        if let Some(i) = nodes.iter().position(|n| n.addr == *addr)
            && i > 0
        {
            let node = nodes.remove(i);
            nodes.insert(0, node);
        }
    }

    /// Moves the Sentinel at `addr` to the back.
    fn demote(&self, addr: &NodeAddr) {
        let mut nodes = self.shared.nodes.lock();
        if let Some(i) = nodes.iter().position(|n| n.addr == *addr) {
            let node = nodes.remove(i);
            nodes.push(node);
        }
    }

    /// Appends the Sentinels not in the list yet.
    fn add_sentinels(&self, addrs: Vec<NodeAddr>) {
        let mut nodes = self.shared.nodes.lock();
        for addr in addrs {
            if !nodes.iter().any(|n| n.addr == addr) {
                nodes.push(SentinelNode { addr, idle: None });
            }
        }
    }
}

/// The pool size from the configuration's `max_connections`, else the default.
fn pool_options(config: &ConnectionConfig) -> PoolOptions {
    let options = PoolOptions::new();
    match config.max_connections() {
        Some(max) => options.max_size(max),
        None => options,
    }
}

/// Sends queries to a Sentinel in one write and reads a reply each, within the Sentinel
/// socket timeout (the connection's own). Error replies are values.
fn exchange_sentinel(conn: &mut Connection, cmds: &[Cmd]) -> Result<Vec<Value>, redis_conn::Error> {
    conn.send_with(cmds.len(), |buf| {
        for c in cmds {
            c.write_packed(buf);
        }
    })?;
    let mut replies = Vec::with_capacity(cmds.len());
    for _ in cmds {
        replies.push(conn.read_reply()?);
    }
    Ok(replies)
}

/// Whether an error reply says the Sentinel does not monitor that name.
fn is_no_such_master(text: &str) -> bool {
    text.contains("No such master")
}

/// Reads the answers to `GET-MASTER-ADDR-BY-NAME` and `SENTINEL MASTER`.
fn master_answer(
    addr_reply: Value,
    state_reply: Value,
    min_others: u64,
) -> Result<Answer<(NodeAddr, u64)>, AskFailure> {
    let addr = match addr_reply {
        Value::Error(text) | Value::BulkError(text) => {
            let text = String::from_utf8_lossy(&text).into_owned();
            if is_no_such_master(&text) {
                return Ok(Answer::Unknown);
            }
            return Err(AskFailure::Refused(text));
        }
        other => Option::<(String, u16)>::from_reply(other)
            .map_err(|e| AskFailure::Refused(format!("GET-MASTER-ADDR-BY-NAME: {e}")))?,
    };
    let Some((host, port)) = addr else {
        return Ok(Answer::Unknown);
    };
    let addr = NodeAddr::new(host, port);
    let state = match state_reply {
        Value::Error(text) | Value::BulkError(text) => {
            let text = String::from_utf8_lossy(&text).into_owned();
            if is_no_such_master(&text) {
                return Ok(Answer::Unknown);
            }
            return Err(AskFailure::Refused(text));
        }
        other => SentinelState::from_reply(other)
            .map_err(|e| AskFailure::Refused(format!("SENTINEL MASTER: {e}")))?,
    };
    Ok(match check_master(&addr, &state, min_others) {
        Ok(()) => {
            // Without the field the answer carries no history: epoch 0, which a master pool
            // that has seen a higher one accepts only as a confirmed reset (see `pool`).
            let epoch = state.get_as("config-epoch").unwrap_or(0);
            Answer::Found((addr, epoch))
        }
        Err(why) => Answer::Rejected(why),
    })
}

/// Whether a Sentinel's view of the master is acceptable. The flags describe the instance
/// in `SENTINEL MASTER`; while a failover is under way, `GET-MASTER-ADDR-BY-NAME` already
/// names the promoted replica and the flags (of the old master) do not apply to it: the
/// `ROLE` check decides.
fn check_master(addr: &NodeAddr, state: &SentinelState, min_others: u64) -> Result<(), String> {
    let same_instance = state.ip() == Some(addr.host.as_str()) && state.port() == Some(addr.port);
    if same_instance {
        if state.is_odown() {
            return Err(format!("the master {addr} is objectively down (o_down)"));
        }
        if state.is_sdown() {
            return Err(format!("the master {addr} is subjectively down (s_down)"));
        }
        if !state.is_master() {
            return Err(format!(
                "{addr} is not flagged as a master ({})",
                state.get("flags").unwrap_or("no flags")
            ));
        }
    }
    let others = state.num_other_sentinels().unwrap_or(0);
    if others < min_others {
        return Err(format!(
            "it sees {others} other Sentinels, fewer than the {min_others} required"
        ));
    }
    Ok(())
}

/// The replicas not flagged down or disconnected, with a usable address.
fn healthy_replicas(states: &[SentinelState]) -> Vec<NodeAddr> {
    states
        .iter()
        .filter(|s| !s.is_sdown() && !s.is_odown() && !s.is_disconnected())
        .filter_map(|s| Some(NodeAddr::new(s.ip()?, s.port()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    fn flat(fields: &[(&str, &str)]) -> Value {
        let items: Vec<Value> = fields
            .iter()
            .flat_map(|(k, v)| [bulk(k), bulk(v)])
            .collect();
        Value::Array(items.into())
    }

    fn state(fields: &[(&str, &str)]) -> SentinelState {
        SentinelState::from_reply(flat(fields)).unwrap()
    }

    fn addr_reply(host: &str, port: &str) -> Value {
        Value::Array(vec![bulk(host), bulk(port)].into())
    }

    #[test]
    fn shareable_across_threads() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Sentinel>();
        check::<SentinelOptions>();
        check::<NodeAddr>();
        fn error<T: std::error::Error + Send + Sync + 'static>() {}
        error::<SentinelError>();
    }

    #[test]
    fn node_addr_display_and_conversions() {
        assert_eq!(NodeAddr::from(("h", 1)).to_string(), "h:1");
        assert_eq!(NodeAddr::new("::1", 2).to_string(), "[::1]:2");
        let socket: SocketAddr = "127.0.0.1:26379".parse().unwrap();
        assert_eq!(NodeAddr::from(socket), NodeAddr::new("127.0.0.1", 26379));
    }

    #[test]
    fn new_rejects_no_sentinels_and_dedups() {
        assert!(matches!(
            Sentinel::new(Vec::<NodeAddr>::new()),
            Err(SentinelError::NoSentinels)
        ));
        let s = Sentinel::new([("a", 1), ("b", 2), ("a", 1)]).unwrap();
        assert_eq!(
            s.sentinels(),
            vec![NodeAddr::new("a", 1), NodeAddr::new("b", 2)]
        );
        s.promote(&NodeAddr::new("b", 2));
        assert_eq!(s.sentinels()[0], NodeAddr::new("b", 2));
        s.demote(&NodeAddr::new("b", 2));
        assert_eq!(s.sentinels()[1], NodeAddr::new("b", 2));
    }

    #[test]
    fn master_answers() {
        let up = || {
            flat(&[
                ("name", "m"),
                ("ip", "10.0.0.1"),
                ("port", "6379"),
                ("flags", "master"),
                ("num-other-sentinels", "2"),
                ("config-epoch", "4"),
            ])
        };
        match master_answer(addr_reply("10.0.0.1", "6379"), up(), 0) {
            Ok(Answer::Found((a, epoch))) => {
                assert_eq!(a, NodeAddr::new("10.0.0.1", 6379));
                assert_eq!(epoch, 4);
            }
            _ => panic!("expected the master"),
        }
        assert!(matches!(
            master_answer(addr_reply("10.0.0.1", "6379"), up(), 3),
            Ok(Answer::Rejected(_))
        ));
        assert!(matches!(
            master_answer(
                Value::Null,
                Value::Error("ERR No such master with that name".into()),
                0
            ),
            Ok(Answer::Unknown)
        ));
        assert!(matches!(
            master_answer(
                Value::Error("NOAUTH Authentication required.".into()),
                Value::Null,
                0
            ),
            Err(AskFailure::Refused(_))
        ));
        // A malformed port is a refusal, not a panic.
        assert!(matches!(
            master_answer(addr_reply("10.0.0.1", "99999"), up(), 0),
            Err(AskFailure::Refused(_))
        ));
    }

    #[test]
    fn down_masters_are_rejected_but_not_a_promoted_replica() {
        let down = state(&[
            ("ip", "10.0.0.1"),
            ("port", "6379"),
            ("flags", "master,s_down,o_down"),
        ]);
        assert!(check_master(&NodeAddr::new("10.0.0.1", 6379), &down, 0).is_err());
        let sdown = state(&[
            ("ip", "10.0.0.1"),
            ("port", "6379"),
            ("flags", "master,s_down"),
        ]);
        assert!(check_master(&NodeAddr::new("10.0.0.1", 6379), &sdown, 0).is_err());
        // Failover under way: the address is already the promoted replica's.
        assert!(check_master(&NodeAddr::new("10.0.0.2", 6379), &down, 0).is_ok());
    }

    #[test]
    fn replica_filter() {
        let states = vec![
            state(&[("ip", "a"), ("port", "1"), ("flags", "slave")]),
            state(&[("ip", "b"), ("port", "2"), ("flags", "slave,s_down")]),
            state(&[("ip", "c"), ("port", "3"), ("flags", "slave,o_down")]),
            state(&[("ip", "d"), ("port", "4"), ("flags", "slave,disconnected")]),
            state(&[("ip", "e"), ("flags", "slave")]),
        ];
        assert_eq!(healthy_replicas(&states), vec![NodeAddr::new("a", 1)]);
    }

    #[test]
    fn unreachable_sentinels_are_reported_as_such() {
        // Port 1 on loopback refuses at once.
        let s = Sentinel::new([("127.0.0.1", 1)]).unwrap();
        match s.discover_master("m") {
            Err(SentinelError::Unreachable { tried: 1, details }) => {
                assert!(details.contains("127.0.0.1:1"), "{details}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            s.discover_replicas("m"),
            Err(SentinelError::Unreachable { .. })
        ));
        let pool = s.master_for("m", &ConnectionConfig::default());
        let error = match pool.get() {
            Err(redis_pool::Error::Connect(e)) => e,
            other => panic!("unexpected {other:?}"),
        };
        assert!(matches!(
            SentinelError::find(&error),
            Some(SentinelError::Unreachable { .. })
        ));
    }
}
