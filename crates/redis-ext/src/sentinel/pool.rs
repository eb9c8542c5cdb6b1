//! The [`Connector`]s behind [`Sentinel::master_for`] and [`Sentinel::replica_for`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use parking_lot::Mutex;
use redis_conn::{Connection, ConnectionConfig};
use redis_pool::Connector;

use super::node::{self, ClientTag};
use super::{NodeAddr, Sentinel, SentinelError, Survey};

/// How many connections of a master pool are remembered (for fencing) at most; older ones
/// are long closed in any realistic pool.
const MAX_TAGS: usize = 1024;

/// What a master pool knows: the newest Sentinel view of its master it has seen, a master
/// replaced according to `+switch-master`, and the connections it opened.
///
/// # Config epochs, and when they go back
///
/// Each Sentinel answer carries the `config-epoch` of the master's configuration; every
/// failover raises it, so of two answers the higher epoch is the newer view, and a Sentinel
/// that names a master at a lower epoch than the pool has seen lags behind (partitioned
/// from the other Sentinels, or not caught up yet) and may name an old master that still
/// claims the role: such an answer is refused before the master is even connected to.
///
/// The epoch is not monotonic forever, though. A Sentinel that restarts without its
/// rewritten configuration file (common in containers), or a group an operator
/// re-registers (`SENTINEL REMOVE` and `SENTINEL MONITOR`), starts again at epoch 0; a
/// Sentinel whose `SENTINEL MASTER` reply has no `config-epoch` field is read as epoch 0
/// too. Refusing every lower epoch would then refuse the Sentinels forever while the
/// master is healthy. So a lower epoch is not refused at once: every Sentinel of the list
/// is asked ([`Sentinel::survey_master`]), and the lower view is accepted only when
///
/// * no Sentinel reports the pool's epoch or a higher one: a Sentinel's own epoch for a
///   master never goes down except when its configuration is reset, and the configuration
///   of a failover spreads to every Sentinel that can reach the others within seconds, so
///   any Sentinel still at that epoch shows the lower view is stale;
/// * a majority of the listed Sentinels answer: one Sentinel cut off from the others cannot
///   decide alone that the history was reset;
/// * the master named is the one the newest of the lower views name, all of them alike.
///
/// The master named must still answer `ROLE` as a master. Once it does, the pool adopts
/// the lower epoch as its own (a later failover raises it again and is followed as usual),
/// closes its connections to any other server, and forgets a `+switch-master` retirement
/// of that master. This rule is preferred to checking with `ROLE` whether the previously
/// known master was demoted: that master may be unreachable (stopped, or cut off from the
/// client), and then the rule could neither tell a reset from a partition nor ever
/// recover; and after an operator's re-registration it may still claim to be a master.
///
/// The protection assumes the list holds the Sentinels of the group (or a majority of
/// them): with only a minority listed, a majority of that list could be Sentinels cut off
/// from the rest of the group. `ROLE` still stops a stale answer naming a replica.
pub(super) struct MasterState {
    pub(super) sentinel: Sentinel,
    pub(super) name: String,
    /// The data nodes' configuration (address ignored), with a bounded connect timeout.
    pub(super) config: ConnectionConfig,
    inner: Mutex<Known>,
}

#[derive(Default)]
struct Known {
    /// The highest Sentinel `config-epoch` a verified connection was made at (or the lower
    /// one adopted after the Sentinels' epoch went back).
    epoch: u64,
    /// A master that `+switch-master` said was replaced, with the epoch known then: a
    /// Sentinel that still names it at that epoch has not caught up yet.
    retired: Option<(NodeAddr, u64)>,
    /// A master and an epoch lower than `epoch` that a majority of the Sentinels confirmed
    /// (their epoch went back), not yet verified with `ROLE`.
    reset: Option<(NodeAddr, u64)>,
    /// The pool's connections as the servers know them, with their master's address and
    /// epoch, oldest first.
    tags: VecDeque<Tagged>,
}

struct Tagged {
    addr: NodeAddr,
    epoch: u64,
    tag: ClientTag,
}

/// How a view compares with what the pool has seen.
#[derive(Debug)]
enum Verdict {
    /// As new as the pool's: connect.
    Accept,
    /// A master `+switch-master` reported replaced, named at an epoch no newer than the
    /// event's: why.
    Refuse(String),
    /// At a lower epoch than the pool's, and no reset confirmed for this master: only
    /// asking every Sentinel can tell whether it lags behind or the epoch went back.
    Lower,
}

impl Known {
    /// How a master named at `epoch` compares with what the pool has seen.
    fn verdict(&self, addr: &NodeAddr, epoch: u64) -> Verdict {
        if epoch < self.epoch {
            return match &self.reset {
                // The Sentinels confirmed this master at a reset epoch; `+switch-master`
                // clears that confirmation.
                Some((at_addr, at)) if at_addr == addr && epoch <= *at => Verdict::Accept,
                _ => Verdict::Lower,
            };
        }
        match &self.retired {
            Some((old, at)) if old == addr && epoch <= *at => Verdict::Refuse(format!(
                "+switch-master reported {addr} replaced, and this Sentinel has not caught up"
            )),
            _ => Verdict::Accept,
        }
    }

    /// Whether `survey` shows that the Sentinels' epoch went back below the pool's (see
    /// [`MasterState`]) and that they name `addr`; if so, records it, to be adopted once
    /// `addr` is verified.
    fn confirm_reset(
        &mut self,
        addr: &NodeAddr,
        epoch: u64,
        survey: &Survey,
    ) -> Result<(), String> {
        let known = self.epoch;
        let stale = |detail: String| {
            format!(
                "the Sentinel's view is stale (config epoch {epoch}, the pool has seen \
                 {known}): {detail}"
            )
        };
        if let Some(newer) = survey.views.iter().find(|v| v.epoch >= known) {
            return Err(stale(format!(
                "Sentinel {} names {} at config epoch {}",
                newer.by, newer.addr, newer.epoch
            )));
        }
        let majority = survey.asked / 2 + 1;
        if survey.views.len() < majority {
            return Err(stale(format!(
                "only {} of {} Sentinels answered, and a majority must agree that the epoch \
                 went back",
                survey.views.len(),
                survey.asked
            )));
        }
        let newest = survey.views.iter().map(|v| v.epoch).max().unwrap_or(0);
        if let Some(other) = survey
            .views
            .iter()
            .find(|v| v.epoch == newest && v.addr != *addr)
        {
            return Err(stale(format!(
                "Sentinel {} names {} at config epoch {newest}",
                other.by, other.addr
            )));
        }
        // Every view at the newest epoch names `addr`; the pool adopts that epoch once `addr`
        // answers ROLE as a master.
        self.reset = Some((addr.clone(), newest.max(epoch)));
        Ok(())
    }
}

impl MasterState {
    /// Whether a master named at `epoch` may be connected to; for an epoch lower than the
    /// pool's, asks every Sentinel first (no lock is held meanwhile).
    fn accepts(&self, addr: &NodeAddr, epoch: u64) -> Result<(), String> {
        match self.inner.lock().verdict(addr, epoch) {
            Verdict::Accept => return Ok(()),
            Verdict::Refuse(why) => return Err(why),
            Verdict::Lower => {}
        }
        let survey = self.sentinel.survey_master(&self.name);
        let mut known = self.inner.lock();
        match known.verdict(addr, epoch) {
            // Another connection confirmed or adopted it meanwhile.
            Verdict::Accept => Ok(()),
            Verdict::Refuse(why) => Err(why),
            Verdict::Lower => known.confirm_reset(addr, epoch, &survey),
        }
    }

    /// Records a new verified connection to the master `addr`, named at `epoch`; refuses it
    /// when the pool learned of a newer master while it was being opened. When the epoch is
    /// higher than any before, the master changed: the pool's connections to any other
    /// address, made at a lower epoch, are closed on their server (in a short-lived thread,
    /// so that this connect is not delayed by a server that may be stopped). When it is a
    /// lower epoch the Sentinels confirmed, the pool adopts it and closes its connections to
    /// any other address.
    fn connected(&self, addr: &NodeAddr, epoch: u64, tag: Option<ClientTag>) -> Result<(), String> {
        let stale = {
            let mut known = self.inner.lock();
            match known.verdict(addr, epoch) {
                Verdict::Accept => {}
                Verdict::Refuse(why) => return Err(why),
                Verdict::Lower => {
                    return Err(format!(
                        "a newer view of the master (config epoch {}) arrived while {addr} \
                         was being connected to at epoch {epoch}",
                        known.epoch
                    ));
                }
            }
            let (stale, epoch) = if epoch < known.epoch {
                // A confirmed reset (the verdict accepted it): adopt its epoch.
                let adopted = known.reset.take().map_or(epoch, |(_, at)| at);
                known.epoch = adopted;
                known.retired = match known.retired.take() {
                    Some((old, _)) if old == *addr => None,
                    Some((old, at)) => Some((old, at.min(adopted))),
                    None => None,
                };
                let stale = take_tags(&mut known.tags, |t| t.addr != *addr);
                for t in &mut known.tags {
                    t.epoch = t.epoch.min(adopted);
                }
                (stale, adopted)
            } else if epoch > known.epoch {
                known.epoch = epoch;
                known.reset = None;
                (
                    take_tags(&mut known.tags, |t| t.addr != *addr && t.epoch < epoch),
                    epoch,
                )
            } else {
                (Vec::new(), epoch)
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
    /// Sentinel names it at a newer epoch, close the pool's connections to it, and forget a
    /// reset of the epoch the Sentinels confirmed before (the event is newer).
    pub(super) fn switched_from(&self, old: &NodeAddr) {
        let stale = {
            let mut known = self.inner.lock();
            known.retired = Some((old.clone(), known.epoch));
            known.reset = None;
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
    use super::super::Named;
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

    fn view(addr: &NodeAddr, by: u16, epoch: u64) -> Named {
        Named {
            addr: addr.clone(),
            by: NodeAddr::new("s", by),
            epoch,
        }
    }

    fn survey(asked: usize, views: Vec<Named>) -> Survey {
        Survey { asked, views }
    }

    #[test]
    fn a_lower_epoch_is_accepted_only_when_a_majority_confirms_the_reset() {
        let a = NodeAddr::new("a", 1);
        let b = NodeAddr::new("b", 2);
        let s = state();
        s.connected(&a, 3, Some(tag(1))).unwrap();
        s.switched_from(&a);
        s.connected(&b, 5, Some(tag(2))).unwrap();
        let mut known = s.inner.lock();
        assert!(matches!(known.verdict(&a, 0), Verdict::Lower));

        // One Sentinel still at the pool's epoch: the lower view lags behind.
        let lagging = survey(3, vec![view(&a, 1, 0), view(&b, 2, 5), view(&a, 3, 0)]);
        let why = known.confirm_reset(&a, 0, &lagging).unwrap_err();
        assert!(why.contains("names b:2 at config epoch 5"), "{why}");
        // A minority of the list (a Sentinel cut off from the others) cannot decide alone.
        let alone = survey(3, vec![view(&a, 1, 0)]);
        let why = known.confirm_reset(&a, 0, &alone).unwrap_err();
        assert!(why.contains("only 1 of 3"), "{why}");
        // The lower views disagree at their newest epoch: not `a`.
        let moved = survey(3, vec![view(&a, 1, 0), view(&b, 2, 1)]);
        assert!(known.confirm_reset(&a, 0, &moved).is_err());
        assert!(known.reset.is_none());
        assert_eq!(known.epoch, 5);

        // A majority at lower epochs, the newest naming `a`: confirmed at that epoch.
        let reset = survey(3, vec![view(&a, 1, 0), view(&a, 2, 1), view(&b, 3, 0)]);
        known.confirm_reset(&a, 0, &reset).unwrap();
        assert_eq!(known.reset, Some((a.clone(), 1)));
        assert!(matches!(known.verdict(&a, 0), Verdict::Accept));
        assert!(matches!(known.verdict(&b, 0), Verdict::Lower));
        drop(known);

        // Verified: the pool adopts the epoch, fences `b`, and forgets `a`'s retirement.
        s.connected(&a, 0, Some(tag(3))).unwrap();
        let known = s.inner.lock();
        assert_eq!(known.epoch, 1);
        assert!(known.reset.is_none());
        assert!(known.retired.is_none());
        assert_eq!(known.tags.len(), 1);
        assert_eq!((known.tags[0].tag.id, known.tags[0].epoch), (3, 1));
        drop(known);
        // From there on, epochs order views again.
        assert!(s.accepts(&a, 1).is_ok());
        s.connected(&b, 2, Some(tag(4))).unwrap();
        assert_eq!(s.inner.lock().tags.len(), 1, "a's connection is fenced");
    }

    #[test]
    fn switch_master_cancels_a_confirmed_reset() {
        let a = NodeAddr::new("a", 1);
        let b = NodeAddr::new("b", 2);
        let s = state();
        s.connected(&b, 4, Some(tag(1))).unwrap();
        let reset = survey(1, vec![view(&a, 1, 0)]);
        s.inner.lock().confirm_reset(&a, 0, &reset).unwrap();
        s.switched_from(&a);
        assert!(s.connected(&a, 0, None).is_err());
        assert_eq!(s.inner.lock().epoch, 4);
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
