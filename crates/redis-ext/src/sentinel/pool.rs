//! The [`Connector`]s behind [`Sentinel::master_for`] and [`Sentinel::replica_for`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use parking_lot::Mutex;
use redis_conn::{Connection, ConnectionConfig};
use redis_pool::Connector;

use super::node::{self, ClientTag};
use super::{NodeAddr, Sentinel, SentinelError};

/// How many connections of a master pool are remembered (for fencing) at most; older ones
/// are long closed in any realistic pool.
const MAX_TAGS: usize = 1024;

/// What a master pool knows: the newest Sentinel view of its master it has seen, a master
/// replaced according to `+switch-master`, and the connections it opened.
pub(super) struct MasterState {
    pub(super) sentinel: Sentinel,
    pub(super) name: String,
    /// The data nodes' configuration (address ignored), with a bounded connect timeout.
    pub(super) config: ConnectionConfig,
    inner: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// The highest Sentinel `config-epoch` a verified connection was made at.
    epoch: u64,
    /// A master that `+switch-master` said was replaced, with the epoch known then: a
    /// Sentinel that still names it at that epoch has not caught up yet.
    retired: Option<(NodeAddr, u64)>,
    /// The pool's connections as the servers know them, with their master's address and
    /// epoch, oldest first.
    tags: VecDeque<Tagged>,
}

struct Tagged {
    addr: NodeAddr,
    epoch: u64,
    tag: ClientTag,
}

impl Known {
    /// Whether a master named at `epoch` is as new as what the pool has seen.
    fn accepts(&self, addr: &NodeAddr, epoch: u64) -> Result<(), String> {
        if epoch < self.epoch {
            return Err(format!(
                "the Sentinel's view is stale (config epoch {epoch}, the pool has seen {})",
                self.epoch
            ));
        }
        match &self.retired {
            Some((old, at)) if old == addr && epoch <= *at => Err(format!(
                "+switch-master reported {addr} replaced, and this Sentinel has not caught up"
            )),
            _ => Ok(()),
        }
    }
}

impl MasterState {
    /// Whether a master named at `epoch` may be connected to.
    fn accepts(&self, addr: &NodeAddr, epoch: u64) -> Result<(), String> {
        self.inner.lock().accepts(addr, epoch)
    }

    /// Records a new verified connection to the master `addr`, named at `epoch`; refuses it
    /// when the pool learned of a newer master while it was being opened. When the epoch is
    /// higher than any before, the master changed: the pool's connections to any other
    /// address, made at a lower epoch, are closed on their server (in a short-lived thread,
    /// so that this connect is not delayed by a server that may be stopped).
    fn connected(&self, addr: &NodeAddr, epoch: u64, tag: Option<ClientTag>) -> Result<(), String> {
        let stale = {
            let mut known = self.inner.lock();
            known.accepts(addr, epoch)?;
            let stale = if epoch > known.epoch {
                known.epoch = epoch;
                take_tags(&mut known.tags, |t| t.addr != *addr && t.epoch < epoch)
            } else {
                Vec::new()
            };
            if let Some(tag) = tag {
                if known.tags.len() >= MAX_TAGS {
                    known.tags.pop_front();
                }
                known.tags.push_back(Tagged {
                    addr: addr.clone(),
                    epoch,
                    tag,
                });
            }
            stale
        };
        self.fence_later(stale);
        Ok(())
    }

    /// A `+switch-master` event said the master moved away from `old`: refuse `old` until a
    /// Sentinel names it at a newer epoch, and close the pool's connections to it.
    pub(super) fn switched_from(&self, old: &NodeAddr) {
        let stale = {
            let mut known = self.inner.lock();
            known.retired = Some((old.clone(), known.epoch));
            take_tags(&mut known.tags, |t| t.addr == *old)
        };
        self.fence_later(stale);
    }

    /// Closes the connections `stale` on their servers, from another thread.
    fn fence_later(&self, stale: Vec<Tagged>) {
        if stale.is_empty() {
            return;
        }
        let config = self.config.clone();
        let timeout = self.sentinel.options().verify_timeout;
        let spawned = thread::Builder::new()
            .name("redis-sentinel-fence".to_owned())
            .spawn(move || {
                let mut by_addr: Vec<(NodeAddr, Vec<ClientTag>)> = Vec::new();
                for Tagged { addr, tag, .. } in stale {
                    match by_addr.iter_mut().find(|(a, _)| *a == addr) {
                        Some((_, tags)) => tags.push(tag),
                        None => by_addr.push((addr, vec![tag])),
                    }
                }
                for (addr, tags) in by_addr {
                    node::fence(&config, &addr, &tags, timeout);
                }
            });
        // Without a thread the connections still close when Sentinel reconfigures the old
        // master (it kicks every client) or on their first READONLY.
        drop(spawned);
    }
}

/// Removes and returns the tags that `stale` selects.
fn take_tags(tags: &mut VecDeque<Tagged>, stale: impl Fn(&Tagged) -> bool) -> Vec<Tagged> {
    let mut taken = Vec::new();
    let mut kept = VecDeque::with_capacity(tags.len());
    for tagged in tags.drain(..) {
        if stale(&tagged) {
            taken.push(tagged);
        } else {
            kept.push_back(tagged);
        }
    }
    *tags = kept;
    taken
}

/// Opens each connection of a master pool through the whole Sentinel procedure.
pub(super) struct MasterConnector {
    state: Arc<MasterState>,
}

impl MasterConnector {
    /// The connector and its shared state (for the `+switch-master` watcher, which holds it
    /// weakly).
    pub(super) fn new(
        sentinel: Sentinel,
        name: &str,
        config: ConnectionConfig,
    ) -> (MasterConnector, Arc<MasterState>) {
        let state = Arc::new(MasterState {
            sentinel,
            name: name.to_owned(),
            config,
            inner: Mutex::new(Known::default()),
        });
        (
            MasterConnector {
                state: Arc::clone(&state),
            },
            state,
        )
    }
}

impl Connector for MasterConnector {
    fn connect(&self) -> Result<Connection, redis_conn::Error> {
        let state = &*self.state;
        let accept = |addr: &NodeAddr, epoch: u64| state.accepts(addr, epoch);
        let mut refused = String::new();
        // A `+switch-master` event can arrive while a connection is being opened; the
        // connection is then refused and the procedure runs once more.
        for _ in 0..2 {
            let (conn, named, tag) =
                state
                    .sentinel
                    .open_master(&state.name, &state.config, true, &accept)?;
            match state.connected(&named.addr, named.epoch, tag) {
                Ok(()) => return Ok(conn),
                Err(why) => refused = why,
            }
        }
        Err(SentinelError::MasterNotFound {
            name: state.name.clone(),
            reason: refused,
        }
        .into())
    }

    fn config(&self) -> &ConnectionConfig {
        &self.state.config
    }
}

/// Opens each connection of a replica pool on the next healthy replica, or the master.
pub(super) struct ReplicaConnector {
    pub(super) sentinel: Sentinel,
    pub(super) name: String,
    pub(super) config: ConnectionConfig,
    /// The round-robin position, started at random.
    pub(super) next: AtomicUsize,
}

impl Connector for ReplicaConnector {
    fn connect(&self) -> Result<Connection, redis_conn::Error> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .sentinel
            .open_replica(&self.name, &self.config, start)?)
    }

    fn config(&self) -> &ConnectionConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(id: u64) -> ClientTag {
        ClientTag {
            id,
            addr: format!("127.0.0.1:{id}"),
        }
    }

    fn state() -> MasterState {
        MasterState {
            sentinel: Sentinel::new([("127.0.0.1", 1)]).unwrap(),
            name: "m".to_owned(),
            config: ConnectionConfig::default(),
            inner: Mutex::new(Known::default()),
        }
    }

    #[test]
    fn stale_views_are_refused() {
        let a = NodeAddr::new("a", 1);
        let b = NodeAddr::new("b", 2);
        let s = state();
        s.connected(&a, 1, Some(tag(1))).unwrap();
        // A newer epoch moves the pool to b and selects a's connections for fencing.
        s.connected(&b, 2, Some(tag(2))).unwrap();
        {
            let known = s.inner.lock();
            assert_eq!(known.epoch, 2);
            assert_eq!(known.tags.len(), 1);
            assert_eq!(known.tags[0].addr, b);
        }
        // A lagging Sentinel naming a at epoch 1 is refused before and after connecting.
        assert!(s.accepts(&a, 1).is_err());
        assert!(s.connected(&a, 1, None).is_err());
        // The same epoch with another address is accepted and fences nothing.
        s.connected(&a, 2, Some(tag(3))).unwrap();
        assert_eq!(s.inner.lock().tags.len(), 2);
    }

    #[test]
    fn switch_master_retires_the_old_master_until_a_newer_epoch() {
        let a = NodeAddr::new("a", 1);
        let b = NodeAddr::new("b", 2);
        let s = state();
        s.connected(&a, 5, Some(tag(1))).unwrap();
        s.switched_from(&a);
        assert!(s.inner.lock().tags.is_empty(), "a's connections are fenced");
        assert!(s.accepts(&a, 5).is_err());
        assert!(s.accepts(&b, 5).is_ok());
        // A later failover back to a comes with a newer epoch.
        assert!(s.accepts(&a, 6).is_ok());
    }

    #[test]
    fn take_tags_keeps_order() {
        let mut tags: VecDeque<Tagged> = (1..=4)
            .map(|id| Tagged {
                addr: NodeAddr::new("a", 1),
                epoch: id,
                tag: tag(id),
            })
            .collect();
        let taken = take_tags(&mut tags, |t| t.epoch % 2 == 0);
        assert_eq!(
            taken.iter().map(|t| t.tag.id).collect::<Vec<_>>(),
            vec![2, 4]
        );
        assert_eq!(
            tags.iter().map(|t| t.tag.id).collect::<Vec<_>>(),
            vec![1, 3]
        );
    }
}
