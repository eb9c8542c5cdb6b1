//! [`Client`], its builder, and the dedicated connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::cell::RefCell;

use redis_commands::{Cmd, Commands, Runner};
use redis_conn::{
    Connection, ConnectionConfig, ConnectionConfigBuilder, Keepalive, Secret, SharedConnection,
    TlsConfig,
};
use redis_pool::{Checkout, Pool, PoolOptions, PooledConnection};
use resp_proto::{Protocol, Value};

use crate::error::Error;

/// A pooled, thread-safe Redis client. Cloning it is cheap and shares the pool.
///
/// ```no_run
/// use redis_client::{Client, cmd};
///
/// let client = Client::open("redis://127.0.0.1:6379/0")?;
/// cmd("SET").arg("foo").arg("bar").execute(&client)?;
/// let value: Option<String> = cmd("GET").arg("foo").query(&client)?;
/// assert_eq!(value.as_deref(), Some("bar"));
///
/// // Another client on the same pool:
/// let other = redis_client::Client::from_pool(client.pool().clone());
/// # Ok::<(), redis_client::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    pool: Pool,
    /// Whether a READONLY reply closes every pooled connection (see
    /// [`Client::clear_pool_on_readonly`]).
    clear_on_readonly: bool,
    /// The connection single commands share, with [`ClientBuilder::multiplex`].
    shared: Option<Arc<SharedConnection>>,
    /// Whether the pool's connections may go to different servers (set by
    /// [`Client::sentinel_replica`]): a scan iterator then keeps one connection for the whole
    /// scan (`scan.rs`), since a cursor means something only to the server that returned it.
    several_servers: bool,
}

/// Whether a command changes the state of the connection it runs on
/// ([`redis_conn::is_state_changing`]). On a pooled connection it makes the connection
/// dirty, so it is closed instead of going back to the pool.
pub(crate) fn changes_state(cmd: &Cmd) -> bool {
    is_state_changing(cmd.name())
}

pub(crate) use redis_conn::is_state_changing;

impl Client {
    /// A client for the server of a `redis://`, `rediss://` or `unix://` URL (see
    /// `docs/connections.md` for the parameters). Nothing is connected until the first command.
    pub fn open(url: &str) -> Result<Client, Error> {
        let config = ConnectionConfig::from_url(url)?;
        let mut options = PoolOptions::new();
        if let Some(max) = config.max_connections() {
            options = options.max_size(max);
        }
        Ok(Client {
            pool: Pool::new(config, options),
            clear_on_readonly: false,
            shared: None,
            several_servers: false,
        })
    }

    /// A builder for every setting.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            config: ConnectionConfig::builder(),
            options: PoolOptions::new(),
            multiplex: false,
        }
    }

    /// A builder that starts from a URL's settings, to add what a URL cannot say.
    pub fn builder_from_url(url: &str) -> Result<ClientBuilder, Error> {
        let config = ConnectionConfig::from_url(url)?;
        let mut options = PoolOptions::new();
        if let Some(max) = config.max_connections() {
            options = options.max_size(max);
        }
        Ok(ClientBuilder {
            config: config.into_builder(),
            options,
            multiplex: false,
        })
    }

    /// A client on an existing pool (shared with other clients).
    pub fn from_pool(pool: Pool) -> Client {
        Client {
            pool,
            clear_on_readonly: false,
            shared: None,
            several_servers: false,
        }
    }

    /// With `true`, a command answered `-READONLY` closes every connection of the pool (idle
    /// ones at once, checked-out ones when they come back), so that the next commands use
    /// new connections: right when the server behind the pool can be demoted by a failover
    /// (Sentinel, or a name that a managed service moves to the new master). The command
    /// did not run, and the error is returned as is. The same holds for a `-READONLY`
    /// anywhere in a pipeline or a transaction (a command's reply, a command rejected while
    /// queueing and the [`Error::ExecAbort`] that follows, MULTI's or EXEC's reply) and for
    /// a command run on a [`WatchedPipeline`](crate::WatchedPipeline). On for the clients
    /// made by [`Client::sentinel_master`] and [`Client::sentinel_replica`], off otherwise.
    pub fn clear_pool_on_readonly(mut self, clear: bool) -> Client {
        self.clear_on_readonly = clear;
        self
    }

    /// The pool this client uses.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The counters of the connection single commands share, with
    /// [`ClientBuilder::multiplex`] (`None` without): commands written, writes (fewer when
    /// commands went out together), connections opened, failures.
    pub fn shared_stats(&self) -> Option<redis_conn::SharedStats> {
        self.shared.as_ref().map(|shared| shared.stats())
    }

    /// Takes a connection from the pool for this caller alone: the place for commands that
    /// change connection state (SELECT, CLIENT ..., READONLY) and for long conversations
    /// (redis-py's `client()`). It counts against the pool size while it lives and is closed,
    /// not returned, when dropped.
    pub fn get_connection(&self) -> Result<DedicatedConnection, Error> {
        let mut conn = self.pool.get()?;
        conn.mark_dirty();
        Ok(DedicatedConnection {
            conn: RefCell::new(Held::Pooled(conn)),
        })
    }

    /// Runs one command on a pooled connection, or on the shared one.
    fn run_pooled(&self, cmd: &Cmd) -> Result<Value, Error> {
        check(cmd)?;
        if let Some(shared) = &self.shared
            && can_share(cmd)
        {
            return self.run_shared(shared, cmd);
        }
        let mut conn = self.pool.get()?;
        let result = match run_on(&mut conn, cmd) {
            Err(Error::Connection(e)) if e.is_timeout() && conn.config().retry_on_timeout() => {
                // redis-py's retry_on_timeout: once more on a fresh connection. The command
                // may run twice; the option's documentation says so.
                drop(conn);
                conn = self.pool.get()?;
                run_on(&mut conn, cmd)
            }
            result => result,
        };
        self.after_request(&mut conn, matches!(&result, Err(e) if is_readonly(e)));
        result
    }

    /// Runs one command on the connection every thread shares.
    fn run_shared(&self, shared: &SharedConnection, cmd: &Cmd) -> Result<Value, Error> {
        match shared.request(cmd.len(), cmd.packed_args())? {
            Value::Error(text) | Value::BulkError(text) => {
                let error = redis_conn::ServerError::parse(&text);
                if self.clear_on_readonly && error.kind() == redis_conn::ServerErrorKind::ReadOnly {
                    shared.close();
                    self.pool.clear();
                }
                Err(Error::Server(error))
            }
            value => Ok(value),
        }
    }

    /// What every request on a pooled connection ends with: `readonly` says whether the
    /// server answered `-READONLY` anywhere (a single command's reply, a pipeline's replies,
    /// a transaction's MULTI, queued commands or EXEC: see [`is_readonly`] and
    /// [`is_readonly_reply`]).
    ///
    /// With [`Client::clear_pool_on_readonly`], `-READONLY` means the server was demoted: the
    /// connection is not returned, and every connection of the pool is closed (idle ones
    /// now, checked-out ones when they come back), so the next ones are opened afresh; a
    /// Sentinel pool re-resolves and verifies each. The refused command did not run.
    pub(crate) fn after_request(&self, conn: &mut PooledConnection, readonly: bool) {
        if self.clear_on_readonly && readonly {
            conn.mark_dirty();
            self.pool.clear();
        }
    }

    /// A client for the master that Sentinel monitors as `name`: every new connection is
    /// found through the Sentinels and verified with ROLE, and the client follows failovers
    /// (see [`Sentinel`](redis_ext::sentinel::Sentinel)). `config` holds the data nodes'
    /// settings (credentials, TLS, database, timeouts; its address is ignored).
    pub fn sentinel_master(
        sentinel: &redis_ext::sentinel::Sentinel,
        name: &str,
        config: &ConnectionConfig,
    ) -> Client {
        Client::from_pool(sentinel.master_for(name, config)).clear_pool_on_readonly(true)
    }

    /// A client for the replicas of the master Sentinel monitors as `name`, round robin, with
    /// the master as the fallback; `config` as for [`Client::sentinel_master`].
    ///
    /// Its connections can go to different replicas, so its scan iterators
    /// ([`Client::scan_iter`] and the others) keep one connection, and so one replica, from
    /// the first page to the last.
    pub fn sentinel_replica(
        sentinel: &redis_ext::sentinel::Sentinel,
        name: &str,
        config: &ConnectionConfig,
    ) -> Client {
        let mut client =
            Client::from_pool(sentinel.replica_for(name, config)).clear_pool_on_readonly(true);
        client.several_servers = true;
        client
    }

    /// Whether the pool's connections may go to different servers (a Sentinel replica
    /// client), so that a scan must keep one connection.
    pub(crate) fn reaches_several_servers(&self) -> bool {
        self.several_servers
    }
}

/// Whether an error says the server refused a write because it is a replica (`-READONLY`):
/// a command's own error, a pipeline command's, or any rejected command of a transaction
/// that EXEC discarded.
pub(crate) fn is_readonly(error: &Error) -> bool {
    match error {
        Error::ExecAbort { rejected } => rejected
            .iter()
            .any(|(_, _, e)| e.kind() == redis_conn::ServerErrorKind::ReadOnly),
        other => other.server_kind() == Some(redis_conn::ServerErrorKind::ReadOnly),
    }
}

/// Whether a reply is a `-READONLY` error (its first word is the code, as
/// [`ServerError::parse`](redis_conn::ServerError::parse) reads it; checked without copying
/// the text, since every reply of a batch goes through here).
pub(crate) fn is_readonly_reply(value: &Value) -> bool {
    match value {
        Value::Error(text) | Value::BulkError(text) => {
            text.split(|&b| b == b' ').next() == Some(b"READONLY".as_slice())
        }
        _ => false,
    }
}

/// Whether a command may go through a connection other threads share: it neither blocks the
/// connection nor changes its state.
pub(crate) fn can_share(cmd: &Cmd) -> bool {
    const BLOCKING: &[&str] = &[
        "BLMOVE",
        "BLMPOP",
        "BLPOP",
        "BRPOP",
        "BRPOPLPUSH",
        "BZMPOP",
        "BZPOPMAX",
        "BZPOPMIN",
        "WAIT",
        "WAITAOF",
        "XREAD",
        "XREADGROUP",
    ];
    let name = cmd.name();
    !changes_state(cmd)
        && !BLOCKING
            .iter()
            .any(|b| b.as_bytes().eq_ignore_ascii_case(name))
}

/// Refuses a command that must not be sent: no name, or an argument list that needed a value.
pub(crate) fn check(cmd: &Cmd) -> Result<(), Error> {
    if cmd.is_empty() {
        return Err(Error::InvalidRequest(
            "a command needs at least its name".to_owned(),
        ));
    }
    cmd.check()?;
    Ok(())
}

/// Runs a command on a checked-out connection, marking it dirty when the command changes its
/// state.
pub(crate) fn run_on(conn: &mut PooledConnection, cmd: &Cmd) -> Result<Value, Error> {
    if changes_state(cmd) {
        conn.mark_dirty();
    }
    // The pool checked the connection (and its health) at checkout.
    run_raw(conn, cmd)
}

pub(crate) fn run_raw(conn: &mut Connection, cmd: &Cmd) -> Result<Value, Error> {
    conn.send_with(1, |buf| cmd.write_packed(buf))?;
    match conn.read_reply()? {
        Value::Error(text) | Value::BulkError(text) => {
            Err(Error::Server(redis_conn::ServerError::parse(&text)))
        }
        value => Ok(value),
    }
}

impl Runner for &Client {
    type Error = Error;

    fn run(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        self.run_pooled(cmd)
    }
}

impl Runner for Client {
    type Error = Error;

    fn run(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        self.run_pooled(cmd)
    }
}

/// Every command as a method: `client.set("k", "v")?`, `let v: Option<String> = client.get("k")?`.
impl Commands for Client {
    type Error = Error;

    fn run_cmd(&self, cmd: &Cmd) -> Result<Value, Error> {
        self.run_pooled(cmd)
    }
}

/// A connection of one caller's own, outside the pool: any command may run on it, including
/// those that change its state. Closed when dropped.
///
/// It runs typed commands through [`Commands`] like the client does; it can be moved to
/// another thread but not shared between threads.
#[derive(Debug)]
pub struct DedicatedConnection {
    conn: RefCell<Held>,
}

/// Where a dedicated connection comes from.
#[derive(Debug)]
enum Held {
    /// A pool slot, marked dirty so that it is closed on drop.
    Pooled(PooledConnection),
    Own(Connection),
}

impl DedicatedConnection {
    /// Opens a connection from a configuration, without a pool.
    pub fn open(config: &ConnectionConfig) -> Result<DedicatedConnection, Error> {
        Ok(DedicatedConnection {
            conn: RefCell::new(Held::Own(Connection::open(config)?)),
        })
    }

    /// The underlying connection, for raw sends and reads.
    pub fn connection(&mut self) -> &mut Connection {
        self.conn.get_mut().connection()
    }

    /// Switches this connection to database `db` (SELECT): the commands that change a
    /// connection's state are here, never on the pooled [`Client`].
    pub fn select(&mut self, db: u32) -> Result<(), Error> {
        self.state_command(&["SELECT", &db.to_string()])
    }

    /// Allows reads from a cluster replica on this connection (READONLY).
    pub fn readonly(&mut self) -> Result<(), Error> {
        self.state_command(&["READONLY"])
    }

    /// Undoes [`DedicatedConnection::readonly`] (READWRITE).
    pub fn readwrite(&mut self) -> Result<(), Error> {
        self.state_command(&["READWRITE"])
    }

    /// Turns client-side caching invalidations on (CLIENT TRACKING ON, with any options as
    /// extra arguments such as `["BCAST", "PREFIX", "user:"]`); under RESP3 they arrive as
    /// push messages on this connection ([`Connection::next_push`]).
    pub fn client_tracking_on(&mut self, options: &[&str]) -> Result<(), Error> {
        let mut args = vec!["CLIENT", "TRACKING", "ON"];
        args.extend_from_slice(options);
        self.state_command(&args)
    }

    /// Turns client-side caching invalidations off (CLIENT TRACKING OFF).
    pub fn client_tracking_off(&mut self) -> Result<(), Error> {
        self.state_command(&["CLIENT", "TRACKING", "OFF"])
    }

    /// Resets the connection's state on the server (RESET): database 0, no transaction, no
    /// subscription, no tracking; the connection is re-authenticated by the server as the
    /// default user, so a connection that logged in as another user must log in again.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.state_command(&["RESET"])
    }

    fn state_command(&mut self, args: &[&str]) -> Result<(), Error> {
        let mut cmd = Cmd::new();
        for arg in args {
            cmd.arg(*arg);
        }
        let conn = self.conn.get_mut().connection();
        run_dedicated(conn, &cmd).map(drop)
    }
}

impl Held {
    fn connection(&mut self) -> &mut Connection {
        match self {
            Held::Pooled(conn) => conn,
            Held::Own(conn) => conn,
        }
    }
}

/// Runs a command on a dedicated connection, checking its health first.
fn run_dedicated(conn: &mut Connection, cmd: &Cmd) -> Result<Value, Error> {
    check(cmd)?;
    conn.check_health(std::time::Instant::now())?;
    run_raw(conn, cmd)
}

/// Every command as a method, on this connection.
impl Commands for DedicatedConnection {
    type Error = Error;

    fn run_cmd(&self, cmd: &Cmd) -> Result<Value, Error> {
        // Only one command runs at a time: the type is not `Sync` and nothing runs a command
        // while holding the borrow, so this never fails in practice.
        let mut held = self.conn.try_borrow_mut().map_err(|_| {
            Error::InvalidRequest("the connection is already running a command".to_owned())
        })?;
        run_dedicated(held.connection(), cmd)
    }
}

impl Runner for &mut DedicatedConnection {
    type Error = Error;

    fn run(&mut self, cmd: &Cmd) -> Result<Value, Error> {
        run_dedicated(self.connection(), cmd)
    }
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    config: ConnectionConfigBuilder,
    options: PoolOptions,
    multiplex: bool,
}

impl ClientBuilder {
    /// TCP host (default `localhost`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.config = self.config.host(host);
        self
    }

    /// TCP port (default 6379).
    pub fn port(mut self, port: u16) -> Self {
        self.config = self.config.port(port);
        self
    }

    /// A Unix domain socket instead of TCP.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.config = self.config.unix(path);
        self
    }

    /// TLS, verified by default.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config = self.config.tls(tls);
        self
    }

    /// The database every connection selects.
    pub fn db(mut self, db: u32) -> Self {
        self.config = self.config.db(db);
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

    /// Timeout of every read and write.
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

    /// Resends a command that timed out once, on a new connection. The command may then run
    /// twice; only for idempotent workloads.
    pub fn retry_on_timeout(mut self, retry: bool) -> Self {
        self.config = self.config.retry_on_timeout(retry);
        self
    }

    /// PING a pooled connection that idled longer than this before using it.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.config = self.config.health_check_interval(interval);
        self
    }

    /// Pool size (default 50).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.options = self.options.max_size(max);
        self
    }

    /// How long a command waits for a free pooled connection (default 20 s; `None` forever).
    pub fn pool_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.options = self.options.checkout(Checkout::Wait(timeout));
        self
    }

    /// How many connections may be opened at the same time (default 8), so that a restarted
    /// server is not hit by a storm of connects.
    pub fn max_concurrent_connects(mut self, max: usize) -> Self {
        self.options = self.options.max_connecting(max);
        self
    }

    /// Fail at once when every pooled connection is in use, instead of waiting (redis-py's
    /// plain `ConnectionPool`).
    pub fn fail_fast_when_exhausted(mut self) -> Self {
        self.options = self.options.checkout(Checkout::FailFast);
        self
    }

    /// Sends single commands through one connection that every thread shares (a
    /// [`SharedConnection`]) instead of a pooled connection per command (default off).
    ///
    /// Commands that other threads send while a round trip is under way wait for it, then go
    /// out together in one write: with many threads, fewer round trips, system calls and
    /// wake-ups on both sides, and one connection instead of one per thread. The price is
    /// head-of-line blocking: a slow command (a large reply, a long script) delays the
    /// commands queued behind it. `docs/benchmarks.md` has the figures (8 threads on one
    /// server: faster than the pool; threads spread over several servers gain nothing).
    ///
    /// Only what can share a connection goes through it: commands that block their
    /// connection (BLPOP and the other blocking pops, XREAD, XREADGROUP, WAIT, WAITAOF) or
    /// change its state (SELECT, MULTI, WATCH, SUBSCRIBE, CLIENT ..., ...), pipelines,
    /// transactions, pub/sub, MONITOR and [`Client::get_connection`] still use the pool.
    /// The guarantees do not change: each caller gets its own reply; when the connection
    /// fails, the commands written on it fail (outcome unknown, nothing is sent again) and
    /// the commands queued behind them go out on a new connection. `retry_on_timeout` does
    /// not apply to shared commands.
    ///
    /// ```no_run
    /// use redis_client::{Client, Commands};
    ///
    /// let client = Client::builder().host("127.0.0.1").multiplex(true).build();
    /// std::thread::scope(|s| {
    ///     for t in 0..8 {
    ///         let client = &client;
    ///         s.spawn(move || client.incr(format!("hits:{t}")));
    ///     }
    /// });
    /// ```
    pub fn multiplex(mut self, on: bool) -> Self {
        self.multiplex = on;
        self
    }

    /// The client. Nothing is connected until the first command.
    pub fn build(self) -> Client {
        let config = self.config.build();
        let shared = self
            .multiplex
            .then(|| Arc::new(SharedConnection::new(config.clone())));
        Client {
            clear_on_readonly: false,
            pool: Pool::new(config, self.options),
            shared,
            several_servers: false,
        }
    }
}
