//! [`ClusterError`]: what only a cluster client can get wrong.

use redis_conn::ServerError;

use crate::error::Error;

/// Why a [`ClusterClient`](crate::ClusterClient) request could not be routed or completed.
///
/// It reaches callers as [`Error::Cluster`]. Errors of a node (a server error, a connection
/// failure, a pool timeout) are returned as they are, not wrapped in this type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The keys of a multi-key command hash to different slots, so no single node can run it.
    /// Detected before anything was sent: nothing ran. Put the keys in one slot with a hash
    /// tag (`{user1}:a`, `{user1}:b`), or send one command per key.
    #[error(
        "{command}: the keys are in different hash slots ({first_slot} and {other_slot}), so no \
         single cluster node can run it; nothing was sent. Give the keys a common hash tag \
         such as `{{user1}}:a` and `{{user1}}:b`, or send one command per slot"
    )]
    CrossSlot {
        /// The command's name.
        command: String,
        /// The slot of its first key.
        first_slot: u16,
        /// The slot of the first key that is not in `first_slot`.
        other_slot: u16,
    },
    /// The command was redirected (MOVED or ASK) more times than allowed: the cluster's
    /// configuration is changing faster than it could be followed. The command did not run
    /// (each redirect says so).
    #[error(
        "{command}: redirected {redirects} times without reaching the node that serves it \
         (last: {last}); the cluster is being reconfigured, try again"
    )]
    TooManyRedirects {
        /// The command's name.
        command: String,
        /// How many redirects were followed.
        redirects: usize,
        /// The last redirect the server sent.
        last: ServerError,
    },
    /// A MOVED or ASK reply did not have the form `MOVED <slot> <host>:<port>`.
    #[error("cannot follow the redirect {0:?}")]
    BadRedirect(String),
    /// No node (known node or seed) answered with a usable cluster topology.
    #[error("cannot discover the cluster topology from {tried} node(s): {reason}")]
    Discovery {
        /// How many nodes were asked.
        tried: usize,
        /// Why the last one failed.
        reason: String,
        /// The last node's error, when it was one.
        #[source]
        source: Option<Box<Error>>,
    },
    /// The command cannot run through a cluster client as it is (see the routing table in the
    /// [`ClusterClient`](crate::ClusterClient) docs).
    #[error("{command} is not supported by the cluster client: {reason}")]
    Unsupported {
        /// The command's name.
        command: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
    /// The replies of the nodes a command was sent to cannot be combined into one (for
    /// example DBSIZE answered with something other than an integer).
    #[error("{command}: cannot combine the nodes' replies: {detail}")]
    Aggregate {
        /// The command's name.
        command: String,
        /// What was wrong.
        detail: String,
    },
    /// A cluster pipeline failed after part of it had been sent (the commands of some nodes
    /// may have run), or a cluster transaction was refused after its closure had run a write
    /// at once. Not safe to send again as a whole; `source` says what failed.
    #[error("the request failed after part of it was sent (some commands may have run): {source}")]
    PartlyRun {
        /// What failed.
        #[source]
        source: Box<Error>,
    },
    /// The client's settings cannot be used for a cluster (no seed, a Unix socket, a
    /// database other than 0).
    #[error("invalid cluster configuration: {0}")]
    Config(String),
}
