//! The pool itself.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use redis_conn::{Connection, ConnectionConfig};

/// Why a checkout failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Every connection was in use for the whole checkout timeout.
    #[error(
        "no connection became free within {waited:?} (pool size {max_size}); raise the pool \
         size or the checkout timeout, or hold connections for less time"
    )]
    Timeout {
        /// How long the checkout waited.
        waited: Duration,
        /// The pool's maximum size.
        max_size: usize,
    },
    /// Every connection was in use and the pool is configured not to wait.
    #[error("all {max_size} connections of the pool are in use")]
    Exhausted {
        /// The pool's maximum size.
        max_size: usize,
    },
    /// Opening a new connection failed.
    #[error(transparent)]
    Connect(#[from] redis_conn::Error),
}

/// What a checkout does when every connection is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checkout {
    /// Wait for a connection to come back, up to the timeout (`None`: forever).
    Wait(Option<Duration>),
    /// Fail at once with [`Error::Exhausted`].
    FailFast,
}

/// Pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// The most connections open at once, idle and in use together.
    pub max_size: usize,
    /// What a checkout does when all are in use.
    pub checkout: Checkout,
    /// The most connections opened at the same time, so that a restarted server is not hit by
    /// a storm of connects; checkouts beyond it wait for a connect to finish (waiting pools
    /// only).
    pub max_connecting: usize,
}

impl PoolOptions {
    /// Defaults: 50 connections, waiting up to 20 seconds (redis-py's
    /// `BlockingConnectionPool` defaults).
    pub fn new() -> Self {
        PoolOptions {
            max_size: 50,
            checkout: Checkout::Wait(Some(Duration::from_secs(20))),
            max_connecting: 8,
        }
    }

    /// Sets the maximum size (at least 1).
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size.max(1);
        self
    }

    /// Sets how many connections may be opened at the same time (at least 1).
    pub fn max_connecting(mut self, max: usize) -> Self {
        self.max_connecting = max.max(1);
        self
    }

    /// Sets what a checkout does when all connections are in use.
    pub fn checkout(mut self, checkout: Checkout) -> Self {
        self.checkout = checkout;
        self
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the pool closed a connection instead of handing it out or keeping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// A request on it failed (I/O error, timeout, protocol error).
    Broken,
    /// Its user marked it dirty, or it came back with unread data.
    Dirty,
    /// The cheap check at checkout found it closed by the server or holding unread bytes.
    Stale,
    /// The health-check PING failed.
    HealthCheck,
    /// The pool was cleared with [`Pool::clear`].
    Cleared,
}

const REASONS: usize = 5;

impl CloseReason {
    fn index(self) -> usize {
        match self {
            CloseReason::Broken => 0,
            CloseReason::Dirty => 1,
            CloseReason::Stale => 2,
            CloseReason::HealthCheck => 3,
            CloseReason::Cleared => 4,
        }
    }
}

/// A snapshot of the pool's counters, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PoolStats {
    /// Connections open and waiting in the pool.
    pub idle: usize,
    /// Connections checked out.
    pub in_use: usize,
    /// Connections ever opened.
    pub created: u64,
    /// Connections closed because a request on them failed.
    pub closed_broken: u64,
    /// Connections closed because they came back dirty.
    pub closed_dirty: u64,
    /// Connections closed because the checkout check found them stale.
    pub closed_stale: u64,
    /// Connections closed because their health-check PING failed.
    pub closed_health_check: u64,
    /// Connections closed by [`Pool::clear`].
    pub closed_cleared: u64,
    /// Checkouts that had to wait for a connection.
    pub waits: u64,
    /// Checkouts that gave up: timed out or failed fast.
    pub timeouts: u64,
}

/// A thread-safe pool of connections to one server; cloning it is cheap and shares it.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Box<dyn Connector>,
    options: PoolOptions,
    state: Mutex<State>,
    returned: Condvar,
    created: AtomicU64,
    closed: [AtomicU64; REASONS],
    waits: AtomicU64,
    timeouts: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Idle connections, the most recently returned last.
    idle: Vec<Connection>,
    /// Connections checked out, or being opened.
    in_use: usize,
    /// Connections being opened right now.
    connecting: usize,
    /// Bumped by [`Pool::clear`]: connections of an older generation are closed on return.
    generation: u64,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("address", self.inner.connector.config().address())
            .field("options", &self.inner.options)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Pool {
    /// A pool of connections made from `config`. Nothing is opened until the first checkout.
    pub fn new(config: ConnectionConfig, options: PoolOptions) -> Self {
        Self::with_connector(Arc::new(config), options)
    }

    /// A pool whose connections are opened by `connector`: for connections that must find
    /// their server each time (Sentinel), or that run over a custom transport.
    pub fn with_connector(connector: impl Connector, options: PoolOptions) -> Self {
        Pool {
            inner: Arc::new(Inner {
                connector: Box::new(connector),
                options,
                state: Mutex::new(State::default()),
                returned: Condvar::new(),
                created: AtomicU64::new(0),
                closed: Default::default(),
                waits: AtomicU64::new(0),
                timeouts: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration new connections are made from.
    pub fn config(&self) -> &ConnectionConfig {
        self.inner.connector.config()
    }

    /// The pool settings.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// Checks a connection out, as described in the [crate docs](crate).
    pub fn get(&self) -> Result<PooledConnection, Error> {
        self.checkout(self.inner.options.checkout)
    }

    /// Checks a connection out without waiting, whatever [`PoolOptions::checkout`] says: an
    /// idle one, or a new one when there is room; [`Error::Exhausted`] otherwise. For work
    /// that has a way around a busy pool (a cluster client refreshing its slot map opens a
    /// connection of its own instead).
    pub fn try_get(&self) -> Result<PooledConnection, Error> {
        self.checkout(Checkout::FailFast)
    }

    fn checkout(&self, mode: Checkout) -> Result<PooledConnection, Error> {
        let inner = &*self.inner;
        let options = PoolOptions {
            checkout: mode,
            ..inner.options
        };
        let mut deadline = None;
        let mut waited = false;
        loop {
            let mut state = inner.state.lock();
            if let Some(conn) = state.idle.pop() {
                state.in_use += 1;
                let generation = state.generation;
                drop(state);
                if let Some(conn) = self.validate(conn) {
                    return Ok(self.wrap(conn, generation));
                }
                self.release_slot();
                continue;
            }
            let room = state.idle.len() + state.in_use < options.max_size;
            let may_connect =
                state.connecting < options.max_connecting || options.checkout == Checkout::FailFast;
            if room && may_connect {
                state.in_use += 1;
                state.connecting += 1;
                let generation = state.generation;
                drop(state);
                let result = inner.connector.connect();
                {
                    let mut state = inner.state.lock();
                    state.connecting -= 1;
                    if result.is_err() {
                        state.in_use -= 1;
                    }
                }
                inner.returned.notify_all();
                return match result {
                    Ok(conn) => {
                        inner.created.fetch_add(1, Ordering::Relaxed);
                        Ok(self.wrap(conn, generation))
                    }
                    Err(e) => Err(Error::Connect(e)),
                };
            }
            let max_size = options.max_size;
            let timeout = match options.checkout {
                Checkout::FailFast => {
                    inner.timeouts.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::Exhausted { max_size });
                }
                Checkout::Wait(timeout) => timeout,
            };
            if !room && !waited {
                waited = true;
                inner.waits.fetch_add(1, Ordering::Relaxed);
            }
            match *deadline
                .get_or_insert_with(|| timeout.and_then(|t| Instant::now().checked_add(t)))
            {
                None => inner.returned.wait(&mut state),
                Some(until) => {
                    if Instant::now() >= until {
                        inner.timeouts.fetch_add(1, Ordering::Relaxed);
                        return Err(Error::Timeout {
                            waited: timeout.unwrap_or_default(),
                            max_size,
                        });
                    }
                    inner.returned.wait_until(&mut state, until);
                }
            }
        }
    }

    /// Closes every idle connection now, and every checked-out one when it comes back (after a
    /// failover, for example). New checkouts open fresh connections.
    pub fn clear(&self) {
        let idle = {
            let mut state = self.inner.state.lock();
            state.generation += 1;
            std::mem::take(&mut state.idle)
        };
        self.count_closed(CloseReason::Cleared, idle.len() as u64);
        self.inner.returned.notify_all();
        drop(idle);
    }

    /// The current counters.
    pub fn stats(&self) -> PoolStats {
        let inner = &*self.inner;
        let (idle, in_use) = {
            let state = inner.state.lock();
            (state.idle.len(), state.in_use)
        };
        let closed = |reason: CloseReason| inner.closed[reason.index()].load(Ordering::Relaxed);
        PoolStats {
            idle,
            in_use,
            created: inner.created.load(Ordering::Relaxed),
            closed_broken: closed(CloseReason::Broken),
            closed_dirty: closed(CloseReason::Dirty),
            closed_stale: closed(CloseReason::Stale),
            closed_health_check: closed(CloseReason::HealthCheck),
            closed_cleared: closed(CloseReason::Cleared),
            waits: inner.waits.load(Ordering::Relaxed),
            timeouts: inner.timeouts.load(Ordering::Relaxed),
        }
    }

    /// The cheap check, then the health check when the connection idled long enough.
    fn validate(&self, mut conn: Connection) -> Option<Connection> {
        if !conn.is_idle() {
            self.count_closed(CloseReason::Stale, 1);
            return None;
        }
        if conn.check_health(Instant::now()).is_err() {
            self.count_closed(CloseReason::HealthCheck, 1);
            return None;
        }
        Some(conn)
    }

    fn wrap(&self, conn: Connection, generation: u64) -> PooledConnection {
        PooledConnection {
            conn: Some(conn),
            pool: self.clone(),
            dirty: false,
            generation,
        }
    }

    /// Gives back the slot of a connection that was closed or never opened.
    fn release_slot(&self) {
        self.inner.state.lock().in_use -= 1;
        self.inner.returned.notify_one();
    }

    fn count_closed(&self, reason: CloseReason, n: u64) {
        self.inner.closed[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    fn give_back(&self, conn: Connection, dirty: bool, generation: u64) {
        let reason = if conn.is_broken() {
            Some(CloseReason::Broken)
        } else if dirty || conn.has_pending() {
            Some(CloseReason::Dirty)
        } else {
            None
        };
        let mut state = self.inner.state.lock();
        state.in_use -= 1;
        let reason = reason.or((generation != state.generation).then_some(CloseReason::Cleared));
        match reason {
            None => {
                state.idle.push(conn);
                drop(state);
            }
            Some(reason) => {
                drop(state);
                self.count_closed(reason, 1);
                drop(conn);
            }
        }
        self.inner.returned.notify_one();
    }
}

/// A checked-out connection; it goes back to the pool (or is closed) when dropped.
///
/// It dereferences to [`Connection`].
pub struct PooledConnection {
    conn: Option<Connection>,
    pool: Pool,
    dirty: bool,
    generation: u64,
}

impl PooledConnection {
    /// Marks the connection as changed (another database selected, left in MULTI, WATCH or
    /// SUBSCRIBE, ...): it is closed instead of going back to the pool.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Takes the connection out of the pool for good; the pool's slot is freed.
    pub fn detach(mut self) -> Connection {
        let conn = self.conn.take();
        self.pool.release_slot();
        // `conn` is always present until drop or detach, which both take it.
        conn.unwrap_or_else(|| unreachable!("a pooled connection is detached once"))
    }
}

impl Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Present until drop or detach.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("used after detach"))
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("used after detach"))
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A panic while the connection was in use may have left a request half done.
            let dirty = self.dirty || std::thread::panicking();
            self.pool.give_back(conn, dirty, self.generation);
        }
    }
}

impl fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledConnection")
            .field("conn", &self.conn)
            .field("dirty", &self.dirty)
            .finish()
    }
}

/// Opens the pool's connections.
///
/// `Arc<ConnectionConfig>` is the ordinary connector: every connection goes to the configured
/// server. Implement it to choose the server at each connect (Sentinel) or to use a custom
/// [`Transport`](redis_conn::Transport).
pub trait Connector: Send + Sync + 'static {
    /// Opens a connection and runs its handshake.
    fn connect(&self) -> Result<Connection, redis_conn::Error>;

    /// The configuration connections are made from (for display and for the settings the
    /// pool's users read, such as `retry_on_timeout`).
    fn config(&self) -> &ConnectionConfig;
}

impl Connector for Arc<ConnectionConfig> {
    fn connect(&self) -> Result<Connection, redis_conn::Error> {
        Connection::open_shared(Arc::clone(self))
    }

    fn config(&self) -> &ConnectionConfig {
        self
    }
}
