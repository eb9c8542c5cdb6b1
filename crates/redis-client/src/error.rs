//! The one public error type.

use redis_commands::{ArgumentError, ConversionError};
use redis_conn::{ConfigError, Phase, ServerError, ServerErrorKind};
use redis_ext::LockError;
use redis_ext::sentinel::SentinelError;

/// Everything that can go wrong, with predicates for the decisions a caller makes.
///
/// ```no_run
/// use redis_client::{Client, Error};
///
/// let client = Client::open("redis://127.0.0.1:6379")?;
/// match redis_client::cmd("INCR").arg("counter").query::<i64, _>(&client) {
///     Ok(n) => println!("counter is {n}"),
///     Err(e) if e.is_timeout() => println!("timed out; the increment may or may not have happened"),
///     Err(e) => return Err(e),
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration or URL cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The connection failed: resolving, connecting, TLS, I/O, a timeout, the server closing it,
    /// or bytes that are not RESP. The connection was closed.
    #[error(transparent)]
    Connection(redis_conn::Error),
    /// The server answered with an error; its code is in [`ServerError::kind`].
    #[error("{0}")]
    Server(ServerError),
    /// The server refused the credentials.
    #[error("authentication failed: {0}")]
    Auth(ServerError),
    /// No pooled connection became free in time, or the pool is full and set not to wait.
    #[error(transparent)]
    Pool(redis_pool::Error),
    /// The reply does not have the shape of the requested type. The connection is fine.
    #[error(transparent)]
    Conversion(#[from] ConversionError),
    /// Sentinel could not name a usable server: no Sentinel answered, none knows the master
    /// (or all report it down), or neither a replica nor the master could serve a replica
    /// client ([`SentinelError`]). Nothing was sent to a data node.
    #[error(transparent)]
    Sentinel(SentinelError),
    /// A lock was not acquired in time, or is no longer owned ([`LockError`]).
    #[error(transparent)]
    Lock(LockError),
    /// The request cannot be sent as asked (for example an empty command).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A command of a pipeline failed on the server; the others ran (see
    /// [`Pipeline::execute`](crate::Pipeline::execute) for every result).
    #[error("command {index} of the pipeline ({command}) failed: {error}")]
    Pipeline {
        /// Its position in the pipeline, from 0.
        index: usize,
        /// Its name.
        command: String,
        /// The server's error.
        error: ServerError,
    },
    /// The server refused to queue commands of a transaction, so it ran none of them
    /// (`EXECABORT`).
    #[error("the transaction was discarded: {}", describe_rejected(rejected))]
    ExecAbort {
        /// Each rejected command: its position, its name, and the server's reason.
        rejected: Vec<(usize, String, ServerError)>,
    },
    /// The server refused `MULTI` (an ACL without the transaction commands, say), so it ran
    /// each command of the transaction on its own as it came, not atomically: some may have
    /// run. Do not retry the transaction as if nothing had happened.
    #[error(
        "the server refused MULTI ({error}); the commands ran one by one, outside a transaction"
    )]
    MultiRefused {
        /// The server's answer to MULTI.
        error: ServerError,
    },
    /// A watched key changed before `EXEC`, so the transaction did not run (redis-py's
    /// `WatchError`). Retry it.
    #[error("a watched key changed; the transaction did not run")]
    WatchConflict,
    /// A Redis Cluster request could not be routed or completed: keys in different slots,
    /// too many redirects, no reachable node ([`ClusterError`](crate::ClusterError)).
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
}

fn describe_rejected(rejected: &[(usize, String, ServerError)]) -> String {
    let parts: Vec<String> = rejected
        .iter()
        .map(|(index, command, error)| format!("command {index} ({command}): {}", error.message()))
        .collect();
    parts.join("; ")
}

/// A server refusal for a passing reason: the command did not run and can later.
fn is_passing(kind: ServerErrorKind) -> bool {
    matches!(
        kind,
        ServerErrorKind::Loading
            | ServerErrorKind::Busy
            | ServerErrorKind::TryAgain
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ClusterDown
    )
}

impl Error {
    /// Whether an operation ran out of time: a read or write timeout (the command may have run),
    /// a connect timeout, or a pool checkout timeout.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Connection(e) => e.is_timeout(),
            Error::Pool(redis_pool::Error::Timeout { .. }) => true,
            _ => false,
        }
    }

    /// Whether the connection failed (as opposed to the server answering with an error).
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Connection(_) | Error::Sentinel(_))
    }

    /// Whether trying the same request again later can succeed without running it twice: the
    /// request never reached the server (connect failure, pool exhausted), the server refused
    /// it for a passing reason (LOADING, BUSY, TRYAGAIN, MASTERDOWN, CLUSTERDOWN), a
    /// transaction was discarded for such reasons (or a MOVED/ASK of a cluster), or a watched
    /// key changed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connection(e) => matches!(
                e,
                redis_conn::Error::Resolve { .. }
                    | redis_conn::Error::Connect { .. }
                    | redis_conn::Error::Timeout(Phase::Connecting)
            ),
            // A pool `Connect` error is converted to `Error::Connection` (see `From`).
            Error::Pool(_) => true,
            // Discovery failed before anything was sent to a data node.
            Error::Sentinel(_) => true,
            Error::Server(e) => is_passing(e.kind()),
            // EXEC discarded the transaction: nothing ran. Worth trying again when every
            // rejection was a passing one (a cluster moving or failing over a slot).
            Error::ExecAbort { rejected } => {
                !rejected.is_empty()
                    && rejected.iter().all(|(_, _, e)| {
                        is_passing(e.kind())
                            || matches!(e.kind(), ServerErrorKind::Moved | ServerErrorKind::Ask)
                    })
            }
            Error::WatchConflict => true,
            _ => false,
        }
    }

    /// The server error's kind, when the server answered with an error.
    pub fn server_kind(&self) -> Option<ServerErrorKind> {
        self.server_error().map(ServerError::kind)
    }

    /// The server error, when the server answered with one.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e)
            | Error::Auth(e)
            | Error::Pipeline { error: e, .. }
            | Error::MultiRefused { error: e } => Some(e),
            _ => None,
        }
    }
}

impl From<redis_conn::Error> for Error {
    fn from(e: redis_conn::Error) -> Self {
        // A Sentinel pool's connector reports discovery failures inside a connect error.
        let e = match SentinelError::extract(e) {
            Ok(sentinel) => return Error::Sentinel(sentinel),
            Err(e) => e,
        };
        match e {
            redis_conn::Error::Config(e) => Error::Config(e),
            redis_conn::Error::Server(e) => Error::Server(e),
            redis_conn::Error::Auth(e) => Error::Auth(e),
            other => Error::Connection(other),
        }
    }
}

impl From<redis_pool::Error> for Error {
    fn from(e: redis_pool::Error) -> Self {
        match e {
            redis_pool::Error::Connect(e) => Error::from(e),
            other => Error::Pool(other),
        }
    }
}

impl From<ArgumentError> for Error {
    fn from(e: ArgumentError) -> Self {
        Error::InvalidRequest(e.to_string())
    }
}

impl From<SentinelError> for Error {
    fn from(e: SentinelError) -> Self {
        match e {
            // The data node's own failure (refused, timeout, AUTH, TLS) keeps its kind.
            SentinelError::Node { source, .. } => Error::from(source),
            other => Error::Sentinel(other),
        }
    }
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Self {
        Error::Lock(e)
    }
}

/// Lets the helpers of `redis-ext` (scripts, locks) run on the client.
impl redis_ext::ExtError for Error {
    fn server_error_kind(&self) -> Option<ServerErrorKind> {
        self.server_kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(texts: &[&str]) -> Error {
        Error::ExecAbort {
            rejected: texts
                .iter()
                .enumerate()
                .map(|(i, t)| (i, "SET".to_owned(), ServerError::parse(t.as_bytes())))
                .collect(),
        }
    }

    #[test]
    fn a_transaction_discarded_for_passing_reasons_is_retryable() {
        assert!(rejected(&["CLUSTERDOWN The cluster is down", "TRYAGAIN later"]).is_retryable());
        assert!(rejected(&["MOVED 1 127.0.0.1:7001", "ASK 1 127.0.0.1:7001"]).is_retryable());
        assert!(!rejected(&["CLUSTERDOWN down", "ERR syntax error"]).is_retryable());
        assert!(!rejected(&[]).is_retryable());
        assert!(Error::WatchConflict.is_retryable());
        assert!(!Error::InvalidRequest("x".to_owned()).is_retryable());
    }
}
