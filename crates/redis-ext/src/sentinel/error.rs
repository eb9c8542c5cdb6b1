//! [`SentinelError`]: what can go wrong while finding a server through Sentinel.

use std::io;

use super::NodeAddr;

/// Why no server could be found through the Sentinels.
///
/// The kinds the Redis Sentinel client guidelines ask to keep apart are distinct variants:
/// [`Unreachable`](Self::Unreachable) (no Sentinel answered at all),
/// [`MasterNotFound`](Self::MasterNotFound) (Sentinels answered, but none named a usable
/// master) and [`ReplicaNotFound`](Self::ReplicaNotFound) (neither a replica nor the master
/// could serve a replica connection).
///
/// A pool made by [`Sentinel::master_for`](super::Sentinel::master_for) or
/// [`Sentinel::replica_for`](super::Sentinel::replica_for) reports connection failures as
/// [`redis_conn::Error`]; a `SentinelError` travels inside it (see
/// [`SentinelError::find`] and [`SentinelError::extract`]), while a failure of the data node
/// itself (refused connection, timeout, authentication, TLS) is the node's own
/// [`redis_conn::Error`], unwrapped.
///
/// ```
/// use redis_ext::sentinel::SentinelError;
///
/// let e = SentinelError::MasterNotFound {
///     name: "mymaster".to_owned(),
///     reason: "no Sentinel knows this master name".to_owned(),
/// };
/// let conn_error = redis_conn::Error::from(e);
/// assert!(conn_error.is_connection());
/// assert!(matches!(
///     SentinelError::find(&conn_error),
///     Some(SentinelError::MasterNotFound { .. })
/// ));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SentinelError {
    /// [`Sentinel::new`](super::Sentinel::new) was given no address.
    #[error("no Sentinel address was given")]
    NoSentinels,
    /// No Sentinel answered: every one refused the connection, timed out, rejected the
    /// credentials or answered with an error. `details` says what happened with each.
    #[error("Sentinel is unreachable: none of the {tried} Sentinels answered ({details})")]
    Unreachable {
        /// How many Sentinels were asked.
        tried: usize,
        /// What went wrong with each, in the order they were asked.
        details: String,
    },
    /// The Sentinels that answered do not know this master name, or report its master as
    /// down, or (after the configured attempts) named a server that is not a master.
    #[error("no master found for {name:?}: {reason}")]
    MasterNotFound {
        /// The master name asked for.
        name: String,
        /// Why, in words.
        reason: String,
    },
    /// No replica could be connected to and verified, and neither could the master (the
    /// fallback of replica connections).
    #[error("no replica found for {name:?}: {reason}")]
    ReplicaNotFound {
        /// The master name asked for.
        name: String,
        /// Why, in words.
        reason: String,
    },
    /// The server the Sentinels named could not be connected to or failed its check.
    #[error("{addr} (named by the Sentinels): {source}")]
    Node {
        /// The server's address as the Sentinels gave it.
        addr: NodeAddr,
        /// The connection's error.
        #[source]
        source: redis_conn::Error,
    },
}

impl SentinelError {
    /// The `SentinelError` carried by a connection error that a Sentinel pool's connector
    /// returned, if there is one.
    pub fn find(error: &redis_conn::Error) -> Option<&SentinelError> {
        match error {
            redis_conn::Error::Connect { source, .. } => source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<SentinelError>()),
            _ => None,
        }
    }

    /// Takes the `SentinelError` out of a connection error that carries one (see
    /// [`SentinelError::find`]); any other error is given back unchanged.
    pub fn extract(error: redis_conn::Error) -> Result<SentinelError, redis_conn::Error> {
        if SentinelError::find(&error).is_none() {
            return Err(error);
        }
        match error {
            redis_conn::Error::Connect { target, source } => {
                match source
                    .into_inner()
                    .map(|inner| inner.downcast::<SentinelError>())
                {
                    Some(Ok(sentinel)) => Ok(*sentinel),
                    // `find` saw a SentinelError, so these are unreachable; rebuild anyway.
                    Some(Err(other)) => Err(redis_conn::Error::Connect {
                        target,
                        source: io::Error::other(other),
                    }),
                    None => Err(redis_conn::Error::Connect {
                        target,
                        source: io::Error::other("connection failed"),
                    }),
                }
            }
            other => Err(other),
        }
    }

    /// What the error is about, for the `target` of the connection error it becomes.
    fn target(&self) -> String {
        match self {
            SentinelError::MasterNotFound { name, .. } => format!("master {name:?} via Sentinel"),
            SentinelError::ReplicaNotFound { name, .. } => {
                format!("a replica of {name:?} via Sentinel")
            }
            SentinelError::Node { addr, .. } => addr.to_string(),
            SentinelError::NoSentinels | SentinelError::Unreachable { .. } => "Sentinel".to_owned(),
        }
    }
}

/// How a pool's connector reports a Sentinel failure: a failure of the data node is its own
/// error, unchanged; anything else is a [`redis_conn::Error::Connect`] whose source is the
/// `SentinelError` (so [`is_connection`](redis_conn::Error::is_connection) is true and nothing
/// was sent to a data node).
impl From<SentinelError> for redis_conn::Error {
    fn from(error: SentinelError) -> Self {
        match error {
            SentinelError::Node { source, .. } => source,
            other => redis_conn::Error::Connect {
                target: other.target(),
                source: io::Error::other(other),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_connection_error() {
        let e = SentinelError::Unreachable {
            tried: 2,
            details: "a: refused; b: refused".to_owned(),
        };
        let conn: redis_conn::Error = e.into();
        assert!(conn.is_connection());
        assert!(
            conn.to_string().contains("Sentinel is unreachable"),
            "{conn}"
        );
        match SentinelError::extract(conn) {
            Ok(SentinelError::Unreachable { tried: 2, .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn node_errors_stay_node_errors() {
        let e = SentinelError::Node {
            addr: NodeAddr::new("127.0.0.1", 1),
            source: redis_conn::Error::Timeout(redis_conn::Phase::Reading),
        };
        let conn: redis_conn::Error = e.into();
        assert!(conn.is_timeout());
        assert!(SentinelError::find(&conn).is_none());
        assert!(SentinelError::extract(conn).is_err());
    }

    #[test]
    fn distinct_messages() {
        let unknown = SentinelError::MasterNotFound {
            name: "m".to_owned(),
            reason: "no Sentinel knows this master name".to_owned(),
        };
        assert_eq!(
            unknown.to_string(),
            "no master found for \"m\": no Sentinel knows this master name"
        );
        let replica = SentinelError::ReplicaNotFound {
            name: "m".to_owned(),
            reason: "x".to_owned(),
        };
        assert!(replica.to_string().starts_with("no replica found"));
    }
}
