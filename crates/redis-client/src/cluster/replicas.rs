//! Reads from replicas: the [`ReadFrom`] policy, the commands it applies to, and the
//! connections that send `READONLY` after their handshake.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redis_commands::Cmd;
use redis_conn::{Connection, ConnectionConfig, ServerErrorKind};
use redis_pool::Connector;
use resp_proto::Value;

use super::{ClusterClient, Node, Target, random, run_on};
use crate::error::Error;

/// Which node of a shard serves the read-only commands of a
/// [`ClusterClient`] (set with [`ClusterClientBuilder::read_from`](crate::ClusterClientBuilder::read_from)).
///
/// Only the commands of a fixed list of reads go to replicas (GET, MGET, EXISTS, STRLEN,
/// GETRANGE, HGET, HGETALL, LRANGE, SMEMBERS, ZRANGE, ZSCORE, XRANGE, TTL, TYPE, ... and the
/// `_RO` variants; see [`ClusterClient`] for the whole list); everything else, and every
/// command of a pipeline or transaction, goes to the primary.
///
/// A replica is asynchronously replicated: a read from it may not see a write its primary
/// acknowledged a moment ago (use WAIT after the write when that matters). A replica that
/// cannot be reached (nothing sent yet) or refuses the read (MOVED, because its shard no
/// longer serves the slot; LOADING; MASTERDOWN; TRYAGAIN; CLUSTERDOWN) is skipped and the read
/// goes to the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadFrom {
    /// Every command goes to the primary (the default): reads see every acknowledged write.
    #[default]
    Primary,
    /// Reads go to a random replica of the slot's shard, or to the primary when it has none.
    PreferReplica,
    /// Reads go in turn to the primary and each replica of the slot's shard.
    RoundRobin,
}

/// The read-only commands (the specification's `readonly` flag, without the blocking ones)
/// that [`ReadFrom`] sends to replicas. The specification's flags are not available at run
/// time, so the list is kept here by hand.
pub(crate) const READ_ONLY: &[&str] = &[
    // Strings and bits.
    "GET",
    "MGET",
    "EXISTS",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "BITFIELD_RO",
    "LCS",
    // Hashes.
    "HGET",
    "HGETALL",
    "HMGET",
    "HKEYS",
    "HVALS",
    "HLEN",
    "HEXISTS",
    "HSTRLEN",
    "HRANDFIELD",
    "HSCAN",
    // Lists.
    "LRANGE",
    "LLEN",
    "LINDEX",
    "LPOS",
    // Sets.
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SRANDMEMBER",
    "SDIFF",
    "SINTER",
    "SINTERCARD",
    "SUNION",
    "SSCAN",
    // Sorted sets.
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGE",
    "ZREVRANGEBYSCORE",
    "ZREVRANGEBYLEX",
    "ZSCORE",
    "ZMSCORE",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZRANK",
    "ZREVRANK",
    "ZRANDMEMBER",
    "ZDIFF",
    "ZINTER",
    "ZUNION",
    "ZINTERCARD",
    "ZSCAN",
    // Streams.
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    // Geo.
    "GEOPOS",
    "GEODIST",
    "GEOHASH",
    "GEOSEARCH",
    "GEORADIUS_RO",
    "GEORADIUSBYMEMBER_RO",
    // Keys.
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "TYPE",
    "DUMP",
    // Read-only variants of commands that may write. Not EVALSHA_RO: SCRIPT LOAD goes to
    // the primaries only, so a replica may answer NOSCRIPT.
    "SORT_RO",
    "EVAL_RO",
    "FCALL_RO",
];

/// Whether `cmd` is one of the reads [`ReadFrom`] may send to a replica.
pub(crate) fn is_read_only(cmd: &Cmd) -> bool {
    let name = cmd.name();
    READ_ONLY
        .iter()
        .any(|r| r.as_bytes().eq_ignore_ascii_case(name))
}

/// Opens connections that send `READONLY` after the handshake, so a replica serves reads of
/// its shard's slots instead of answering MOVED.
pub(crate) struct ReadOnlyConnector {
    config: Arc<ConnectionConfig>,
}

impl ReadOnlyConnector {
    pub(crate) fn new(config: ConnectionConfig) -> Self {
        ReadOnlyConnector {
            config: Arc::new(config),
        }
    }
}

impl Connector for ReadOnlyConnector {
    fn connect(&self) -> Result<Connection, redis_conn::Error> {
        let mut conn = Connection::open_shared(Arc::clone(&self.config))?;
        conn.request(&["READONLY"])?;
        // A reconnect in place would lose READONLY: the pool makes a new one through here.
        conn.never_reconnect_in_place();
        Ok(conn)
    }

    fn config(&self) -> &ConnectionConfig {
        &self.config
    }
}

impl ClusterClient {
    /// Runs a read-only command for `slot` on the node the [`ReadFrom`] policy picks; a
    /// replica that cannot serve it hands it to the primary.
    pub(super) fn run_read(&self, cmd: &Cmd, slot: u16) -> Result<Value, Error> {
        let replicas = self.inner.topology.read().replicas_for(slot);
        let replica = match self.inner.settings.read_from {
            ReadFrom::Primary => None,
            ReadFrom::PreferReplica if replicas.is_empty() => None,
            ReadFrom::PreferReplica => replicas.get(random() as usize % replicas.len()),
            ReadFrom::RoundRobin => {
                let turn = self.inner.read_turn.fetch_add(1, Ordering::Relaxed);
                match turn % (replicas.len() + 1) {
                    0 => None,
                    i => replicas.get(i - 1),
                }
            }
        };
        let Some(replica) = replica else {
            return self.run_single(cmd, Target::Slot(slot));
        };
        match self.run_on_replica(cmd, replica) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => self.run_single(cmd, Target::Slot(slot)),
            Err(e) => Err(e),
        }
    }

    /// Runs `cmd` on a replica's READONLY connection: `Ok(None)` when the replica cannot
    /// serve it and nothing ran there (no connection, or MOVED and the like).
    fn run_on_replica(&self, cmd: &Cmd, replica: &Node) -> Result<Option<Value>, Error> {
        let pool = replica.readonly_pool(&self.inner.config, self.inner.pool_options);
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                let e = Error::from(e);
                if e.is_connection() {
                    // Nothing was sent; the replica may be gone.
                    self.mark_stale();
                    return Ok(None);
                }
                return Err(e);
            }
        };
        match run_on(&mut conn, cmd) {
            Ok(value) => Ok(Some(value)),
            Err(Error::Server(e))
                if matches!(
                    e.kind(),
                    ServerErrorKind::Moved
                        | ServerErrorKind::Ask
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::Loading
                        | ServerErrorKind::MasterDown
                ) =>
            {
                if e.kind() == ServerErrorKind::Moved {
                    self.mark_stale();
                    // The replica no longer serves the slot (or lost READONLY somehow):
                    // close the connection rather than pool it again.
                    conn.mark_dirty();
                }
                Ok(None)
            }
            Err(e) => {
                if e.is_connection() {
                    // The read may have run: returned as it is, like any command.
                    self.mark_stale();
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_recognised() {
        let get = redis_commands::cmd("get").arg("k").clone();
        assert!(is_read_only(&get));
        assert!(is_read_only(&redis_commands::build::hgetall("h")));
        assert!(!is_read_only(
            &redis_commands::cmd("SET").arg("k").arg(1).clone()
        ));
        assert!(!is_read_only(
            &redis_commands::cmd("GETDEL").arg("k").clone()
        ));
        assert!(!is_read_only(&redis_commands::cmd("EVAL").arg("x").clone()));
    }
}
