//! What to connect to and how: [`ConnectionConfig`] and its builder.

use std::path::PathBuf;
use std::time::Duration;

use resp_proto::Protocol;

use crate::secret::Secret;
use crate::url::ConfigError;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Address {
    /// A host name or IP address and a port. Every address the name resolves to is tried, in
    /// order, within the connect timeout.
    Tcp {
        /// Host name, IPv4 or IPv6 address (without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// A Unix domain socket.
    Unix(PathBuf),
}

/// TLS settings (used with `rediss://` URLs or [`ConnectionConfigBuilder::tls`]).
///
/// Certificates are verified against the webpki root store, or against `ca_file` when it is
/// set, and the server's name or IP address is checked. Only
/// [`TlsConfig::danger_accept_invalid_certs`] turns verification off; no URL can.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsConfig {
    /// A PEM file of CA certificates to trust instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM client certificate chain and its key, for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// The name to send as SNI and to verify, when it differs from the host connected to.
    pub server_name: Option<String>,
    accept_invalid_certs: bool,
}

impl TlsConfig {
    /// TLS with full verification against the webpki roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the CA certificates of a PEM file instead of the webpki roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents a client certificate chain (PEM) with its private key (PEM), for mutual TLS.
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some((cert.into(), key.into()));
        self
    }

    /// Sends and verifies this server name instead of the host connected to.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Accepts any certificate for any name: the connection is encrypted but anyone on the path
    /// can impersonate the server and read the password. For tests only.
    pub fn danger_accept_invalid_certs(mut self) -> Self {
        self.accept_invalid_certs = true;
        self
    }

    /// Whether verification was turned off with [`TlsConfig::danger_accept_invalid_certs`].
    pub fn accepts_invalid_certs(&self) -> bool {
        self.accept_invalid_certs
    }
}

/// TCP keepalive probing (redis-py's `socket_keepalive` and `socket_keepalive_options`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Keepalive {
    /// Idle time before the first probe (`TCP_KEEPIDLE`); the system default when `None`.
    pub idle: Option<Duration>,
    /// Time between probes (`TCP_KEEPINTVL`).
    pub interval: Option<Duration>,
    /// Unanswered probes before the connection is dropped (`TCP_KEEPCNT`).
    pub retries: Option<u32>,
}

impl Keepalive {
    /// Keepalive with the system's timings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the idle time before the first probe.
    pub fn idle(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// Sets the time between probes.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Sets how many unanswered probes drop the connection.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }
}

/// Everything needed to open and set up a connection.
///
/// Build one with [`ConnectionConfig::builder`] or parse a URL with
/// [`ConnectionConfig::from_url`] (`redis://`, `rediss://`, `unix://`; see
/// `docs/connections.md` for every parameter and its redis-py counterpart).
///
/// ```
/// use std::time::Duration;
/// use redis_conn::ConnectionConfig;
///
/// let config = ConnectionConfig::from_url("redis://alice:secret@localhost:6380/2?socket_timeout=0.5")?;
/// assert_eq!(config.db(), 2);
/// assert_eq!(config.username(), Some("alice"));
/// assert_eq!(config.socket_timeout(), Some(Duration::from_millis(500)));
/// assert!(!format!("{config:?}").contains("secret"));
///
/// let config = ConnectionConfig::builder().host("localhost").port(6379).db(1).client_name("worker").build();
/// assert_eq!(config.client_name(), Some("worker"));
/// # Ok::<(), redis_conn::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionConfig {
    pub(crate) address: Address,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) db: u32,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) client_name: Option<String>,
    pub(crate) protocol: Protocol,
    pub(crate) socket_timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) retry_on_timeout: bool,
    pub(crate) health_check_interval: Option<Duration>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) connect_retries: u32,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            address: Address::Tcp {
                host: "localhost".to_owned(),
                port: 6379,
            },
            tls: None,
            db: 0,
            username: None,
            password: None,
            client_name: None,
            protocol: Protocol::Resp2,
            socket_timeout: None,
            connect_timeout: None,
            keepalive: None,
            retry_on_timeout: false,
            health_check_interval: None,
            max_connections: None,
            connect_retries: 0,
        }
    }
}

impl ConnectionConfig {
    /// A builder starting from the defaults: `localhost:6379`, database 0, RESP2, no
    /// timeouts, no TLS.
    pub fn builder() -> ConnectionConfigBuilder {
        ConnectionConfigBuilder {
            config: ConnectionConfig::default(),
        }
    }

    /// A builder starting from this configuration.
    pub fn into_builder(self) -> ConnectionConfigBuilder {
        ConnectionConfigBuilder { config: self }
    }

    /// Parses a `redis://`, `rediss://` or `unix://` URL.
    ///
    /// A bad URL or value is a [`ConfigError`] naming the parameter; it never contains the
    /// password.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        crate::url::parse(url)
    }

    /// Where the server is.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The TLS settings, when TLS is on.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }

    /// The database selected on connect.
    pub fn db(&self) -> u32 {
        self.db
    }

    /// The ACL user name sent with the password.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The password.
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// The name set with `CLIENT SETNAME` on connect.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// The protocol negotiated on connect.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The timeout of every read and write; `None` waits forever.
    pub fn socket_timeout(&self) -> Option<Duration> {
        self.socket_timeout
    }

    /// The timeout of connecting, across all resolved addresses; falls back to the socket
    /// timeout when unset, as in redis-py.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout.or(self.socket_timeout)
    }

    /// TCP keepalive settings, when keepalive is on.
    pub fn keepalive(&self) -> Option<&Keepalive> {
        self.keepalive.as_ref()
    }

    /// Whether a command that timed out is sent once more on a new connection. Off by default:
    /// a command that timed out may have run, so this can run it twice.
    pub fn retry_on_timeout(&self) -> bool {
        self.retry_on_timeout
    }

    /// Idle time after which a connection is checked with PING before use; `None` disables.
    pub fn health_check_interval(&self) -> Option<Duration> {
        self.health_check_interval
    }

    /// How many times a failed connect is tried again (with a growing pause) before giving up.
    pub fn connect_retries(&self) -> u32 {
        self.connect_retries
    }

    /// The pool size given in a URL (`max_connections`), read by the pool.
    pub fn max_connections(&self) -> Option<usize> {
        self.max_connections
    }
}

/// Builds a [`ConnectionConfig`]; see [`ConnectionConfig::builder`].
#[derive(Debug, Clone)]
pub struct ConnectionConfigBuilder {
    config: ConnectionConfig,
}

impl ConnectionConfigBuilder {
    /// Connects over TCP to this host (keeps the port).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        let port = match &self.config.address {
            Address::Tcp { port, .. } => *port,
            Address::Unix(_) => 6379,
        };
        self.config.address = Address::Tcp {
            host: host.into(),
            port,
        };
        self
    }

    /// Connects over TCP to this port (keeps the host).
    pub fn port(mut self, port: u16) -> Self {
        let host = match &self.config.address {
            Address::Tcp { host, .. } => host.clone(),
            Address::Unix(_) => "localhost".to_owned(),
        };
        self.config.address = Address::Tcp { host, port };
        self
    }

    /// Connects to a Unix domain socket.
    pub fn unix(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.address = Address::Unix(path.into());
        self
    }

    /// Uses TLS with these settings.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.config.tls = Some(tls);
        self
    }

    /// Selects this database on connect.
    pub fn db(mut self, db: u32) -> Self {
        self.config.db = db;
        self
    }

    /// Authenticates as this ACL user (Redis 6 and later).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.config.username = Some(username.into());
        self
    }

    /// Authenticates with this password.
    pub fn password(mut self, password: impl Into<Secret>) -> Self {
        self.config.password = Some(password.into());
        self
    }

    /// Sets the connection's name with `CLIENT SETNAME` (in `HELLO` for RESP3).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.config.client_name = Some(name.into());
        self
    }

    /// Negotiates this protocol (`HELLO 3` for RESP3).
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// Bounds every read and write.
    pub fn socket_timeout(mut self, timeout: Duration) -> Self {
        self.config.socket_timeout = Some(timeout);
        self
    }

    /// Bounds connecting, across every resolved address.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = Some(timeout);
        self
    }

    /// Turns TCP keepalive on.
    pub fn keepalive(mut self, keepalive: Keepalive) -> Self {
        self.config.keepalive = Some(keepalive);
        self
    }

    /// Sends a command that timed out once more, on a new connection. This can run the command
    /// twice; leave it off unless every command you send is idempotent.
    pub fn retry_on_timeout(mut self, retry: bool) -> Self {
        self.config.retry_on_timeout = retry;
        self
    }

    /// PINGs a connection that sat idle longer than this before using it. `Duration::ZERO`
    /// turns health checks off, as `health_check_interval=0` does in a URL.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.config.health_check_interval = (!interval.is_zero()).then_some(interval);
        self
    }

    /// Tries a failed connect again up to `retries` times, pausing 50 ms, 100 ms, 200 ms, ...
    /// (at most 1 s) in between. Only the socket's connect is retried: nothing was sent yet.
    pub fn connect_retries(mut self, retries: u32) -> Self {
        self.config.connect_retries = retries;
        self
    }

    /// The pool size, for pools built from this configuration.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.config.max_connections = Some(max);
        self
    }

    /// The configuration.
    pub fn build(self) -> ConnectionConfig {
        self.config
    }
}
