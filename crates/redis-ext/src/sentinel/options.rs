//! [`SentinelOptions`]: how to talk to the Sentinels, and how hard to try.

use std::time::Duration;

use redis_conn::{Secret, TlsConfig};

/// How the client talks to the Sentinels, kept apart from the data nodes' settings.
///
/// The credentials and TLS settings here go to the Sentinels only; the data nodes' own
/// [`ConnectionConfig`](redis_conn::ConnectionConfig) (given to
/// [`Sentinel::master_for`](super::Sentinel::master_for) and friends) goes to the data nodes
/// only. Neither is ever sent to the other kind of node.
///
/// Every wait is bounded: Sentinel connections use short connect and read timeouts (a
/// Sentinel that does not answer quickly is skipped for the next one), and the check of a
/// data node (`ROLE`) has its own timeout.
///
/// ```
/// use std::time::Duration;
/// use redis_ext::sentinel::SentinelOptions;
///
/// let options = SentinelOptions::new()
///     .password("sentinel-secret")
///     .connect_timeout(Duration::from_millis(200))
///     .min_other_sentinels(1);
/// // Debug output shows every setting but never the password.
/// let shown = format!("{options:?}");
/// assert!(shown.contains("min_other_sentinels: 1"));
/// assert!(!shown.contains("sentinel-secret"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SentinelOptions {
    pub(super) username: Option<String>,
    pub(super) password: Option<Secret>,
    pub(super) tls: Option<TlsConfig>,
    pub(super) connect_timeout: Duration,
    pub(super) socket_timeout: Duration,
    pub(super) min_other_sentinels: u64,
    pub(super) verify_timeout: Duration,
    pub(super) node_connect_timeout: Duration,
    pub(super) attempts: u32,
    pub(super) retry_delay: Duration,
    pub(super) watch_switch_master: bool,
    pub(super) discover_sentinels: bool,
}

impl Default for SentinelOptions {
    fn default() -> Self {
        SentinelOptions {
            username: None,
            password: None,
            tls: None,
            connect_timeout: Duration::from_millis(300),
            socket_timeout: Duration::from_millis(500),
            min_other_sentinels: 0,
            verify_timeout: Duration::from_millis(500),
            node_connect_timeout: Duration::from_secs(1),
            attempts: 3,
            retry_delay: Duration::from_millis(250),
            watch_switch_master: true,
            discover_sentinels: false,
        }
    }
}

impl SentinelOptions {
    /// The defaults: no credentials, no TLS, 300 ms to connect to a Sentinel and 500 ms for
    /// its answer, no minimum of other Sentinels, 500 ms for a data node's `ROLE` check, 1 s
    /// to connect to a data node whose configuration sets no connect timeout, 3 attempts
    /// 250 ms apart when the server a Sentinel named fails its check, a `+switch-master`
    /// watcher per master pool, no Sentinel list refresh.
    pub fn new() -> Self {
        Self::default()
    }

    /// The ACL user name for the Sentinels (`AUTH user password`).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The Sentinels' password (`requirepass` in the Sentinel configuration). It is never
    /// sent to a data node.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Talks TLS to the Sentinels, verified as [`TlsConfig`] says.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How long connecting to one Sentinel (with its handshake) may take before the next one
    /// is tried (default 300 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one Sentinel may take to answer a query before the next one is tried
    /// (default 500 ms).
    pub fn socket_timeout(mut self, timeout: Duration) -> Self {
        self.socket_timeout = timeout;
        self
    }

    /// Ignores the answer of a Sentinel that sees fewer than `n` other Sentinels monitoring
    /// the master (redis-py's `min_other_sentinels`; default 0): a Sentinel cut off from the
    /// others may hold a stale view.
    pub fn min_other_sentinels(mut self, n: u64) -> Self {
        self.min_other_sentinels = n;
        self
    }

    /// How long the `ROLE` check of a new data-node connection may take (default 500 ms).
    /// A server that does not answer in time is treated like one with the wrong role.
    pub fn verify_timeout(mut self, timeout: Duration) -> Self {
        self.verify_timeout = timeout;
        self
    }

    /// The connect timeout for data nodes whose configuration sets none (default 1 s), so
    /// that connecting to a server the Sentinels named is always bounded.
    pub fn node_connect_timeout(mut self, timeout: Duration) -> Self {
        self.node_connect_timeout = timeout;
        self
    }

    /// How many times a master is asked of the Sentinels when the server they name cannot be
    /// connected to or does not say it is a master (default 3, at least 1). The Sentinel
    /// that named it goes to the back of the list, and the next attempt starts after
    /// [`retry_delay`](Self::retry_delay).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The pause between two attempts (default 250 ms).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Runs one background thread per master pool that listens for `+switch-master` on a
    /// Sentinel and, on an event for its master, forgets the known master and closes the
    /// pool's connections to the old one at once (on by default).
    ///
    /// Without it, idle connections to a master replaced by `SENTINEL FAILOVER` (or to one
    /// that was stopped and came back) keep writing to it until Sentinel demotes it and kicks
    /// its clients, about ten seconds later with Redis 7.0, and those writes are lost. The
    /// event only speeds things up: the pool still resolves and verifies every new
    /// connection, so a lost event costs time, not correctness. The thread holds one
    /// Sentinel connection, PINGs it when silent, moves to the next Sentinel when it fails,
    /// and ends soon after the pool is dropped.
    pub fn watch_switch_master(mut self, watch: bool) -> Self {
        self.watch_switch_master = watch;
        self
    }

    /// Adds the Sentinels that a Sentinel lists in `SENTINEL SENTINELS <name>` to the list
    /// (in memory only) each time a master is discovered (off by default). Leave it off when
    /// the Sentinels are reached by names that TLS verification needs, since the listed ones
    /// are IP addresses.
    pub fn discover_sentinels(mut self, discover: bool) -> Self {
        self.discover_sentinels = discover;
        self
    }
}
