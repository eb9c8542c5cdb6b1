//! [`ClusterPubSub`]: publish/subscribe on a Redis Cluster, global channels through one node
//! and shard channels through the primaries that serve their slots.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis_commands::{ToArg, ToArgs};
use redis_conn::ServerErrorKind;

use super::slots::key_slot;
use super::topology::NodeAddr;
use super::{ClusterClient, Target, parse_redirect};
use crate::error::Error;
use crate::pubsub::{
    ErrorHandler, Family, Handler, Listen, Message, MessageKind, PAST_DEADLINE_EVENTS, PubSub,
    PubSubWorker, Subscriber, ToArgsDyn, check_handled, deliver_event, names_of, spawn_worker,
};

/// How long a read waits on one session before it looks at the others, when messages can
/// come from several nodes: the longest delay a message can see before the caller gets it.
const SLICE: Duration = Duration::from_millis(10);

/// How long a read with nothing subscribed (or only shard channels waiting for a node)
/// sleeps before it looks again.
const IDLE: Duration = Duration::from_millis(100);

/// Publish/subscribe on a Redis Cluster ([`ClusterClient::pubsub`]), with the same methods as
/// [`PubSub`].
///
/// * **Channels and patterns** (SUBSCRIBE, PSUBSCRIBE): a message published on any node
///   reaches every node, so one connection to a primary serves them all. When that node
///   fails, the session reconnects to another primary and subscribes again.
/// * **Shard channels** (SSUBSCRIBE, Redis 7): a shard channel lives in the hash slot of its
///   name, like a key, and its messages ([`ClusterClient::spublish`](crate::Commands::spublish))
///   reach only that slot's shard. Each one is subscribed on the primary serving its slot,
///   with one connection per such node.
///
/// Subscriptions follow the cluster: when a slot moves (the server ends the shard channels'
/// subscriptions, or answers MOVED), when the slot map changes, or when a node fails, the
/// channels concerned are subscribed again where their slot now lives, and a
/// [`MessageKind::Reconnected`] event says that messages may have been lost meanwhile
/// (publish/subscribe delivers at most once); [`ClusterPubSub::on_event`] hands such events
/// to a handler instead, which is how a [`ClusterPubSub::run_in_thread`] worker reports them.
/// A node that stops answering without closing its connections (a frozen process, a lost
/// network) is noticed only with a health-check interval set on the client: an unanswered
/// health-check PING counts as a lost connection.
///
/// Reading waits on one node's connection at a time: with subscriptions on several nodes, a
/// read waits at most 10 ms on one before it looks at the others (the standard library has
/// no way to wait on several sockets at once without `unsafe` code).
///
/// ```no_run
/// use std::time::Duration;
/// use redis_client::{ClusterClient, Commands};
///
/// let cluster = ClusterClient::open(&["redis://127.0.0.1:7000"])?;
/// let mut p = cluster.pubsub();
/// p.ignore_subscribe_messages(true);
/// p.subscribe("news")?;
/// p.ssubscribe(["orders:{eu}", "orders:{us}"])?;
/// cluster.spublish("orders:{eu}", "order 1")?;
/// if let Some(message) = p.get_message(Duration::from_secs(1))? {
///     println!("{:?}: {:?}", message.channel, message.payload);
/// }
/// # Ok::<(), redis_client::Error>(())
/// ```
pub struct ClusterPubSub {
    cluster: ClusterClient,
    /// Channels and patterns: one session on a primary, made at the first subscription.
    global: Option<PubSub>,
    /// Shard channels: one session per node serving some.
    shards: Vec<ShardSession>,
    /// Shard channels waiting for a node (their slot moved, or their node failed), with
    /// their handlers.
    homeless: Vec<(Bytes, Option<Handler>)>,
    /// Events made here, returned before anything else.
    pending: VecDeque<Message>,
    ignore_subscribe_messages: bool,
    /// Where the events of every session go, when set (see [`ClusterPubSub::on_event`]).
    on_event: Option<Handler>,
    /// The slot map generation the shard sessions were last checked against.
    checked_generation: u64,
    /// The session the next wait goes to.
    turn: usize,
}

/// The shard channels subscribed on one node.
struct ShardSession {
    addr: NodeAddr,
    pubsub: PubSub,
}

/// What one read of a session gave.
enum Read {
    Message(Message),
    Nothing,
    /// Sessions or subscriptions changed, or an event was consumed here: look again.
    Changed,
}

/// What one round of [`ClusterPubSub::get_message`] gave.
enum Step {
    Message(Message),
    /// Something was consumed or changed: another round may find more at once.
    Again,
    /// Nothing arrived in the time the round waited.
    Nothing,
}

impl fmt::Debug for ClusterPubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self.shards.iter().map(|s| s.addr.to_string()).collect();
        f.debug_struct("ClusterPubSub")
            .field("channels", &self.channels())
            .field("patterns", &self.patterns())
            .field("shard_channels", &self.shard_channels())
            .field("shard_nodes", &nodes)
            .field("ignore_subscribe_messages", &self.ignore_subscribe_messages)
            .field("on_event", &self.on_event.is_some())
            .finish_non_exhaustive()
    }
}

impl ClusterClient {
    /// A publish/subscribe session on the cluster (see [`ClusterPubSub`]). It connects at the
    /// first subscription.
    pub fn pubsub(&self) -> ClusterPubSub {
        ClusterPubSub {
            cluster: self.clone(),
            global: None,
            shards: Vec::new(),
            homeless: Vec::new(),
            pending: VecDeque::new(),
            ignore_subscribe_messages: false,
            on_event: None,
            checked_generation: self.map_generation(),
            turn: 0,
        }
    }
}

impl ClusterPubSub {
    /// Hides the servers' (un)subscribe confirmations from [`ClusterPubSub::get_message`].
    pub fn ignore_subscribe_messages(&mut self, ignore: bool) -> &mut Self {
        self.ignore_subscribe_messages = ignore;
        self
    }

    /// Hands the session's events to `handler` instead of returning them from
    /// [`ClusterPubSub::get_message`], as [`PubSub::on_event`] does:
    /// [`MessageKind::Reconnected`] (messages may have been lost: a node's connection was made
    /// again, or shard channels moved to another node after a slot move or a failover), the
    /// answers to [`ClusterPubSub::ping`], and the (un)subscribe confirmations unless
    /// [`ClusterPubSub::ignore_subscribe_messages`] hides them. Published messages are not
    /// events: they go to their channel's handler, or to the caller.
    ///
    /// One handler serves the events of every node's connection. This is how a
    /// [`ClusterPubSub::run_in_thread`] worker, which drops whatever no handler takes, tells
    /// its owner about reconnects.
    pub fn on_event(&mut self, handler: impl FnMut(&Message) + Send + 'static) -> &mut Self {
        self.on_event = Some(Box::new(handler));
        self
    }

    /// Subscribes to channels (one name or a list).
    pub fn subscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        let names = names_of("SUBSCRIBE", &channels)?;
        self.add_global(Family::Channel, names, None)
    }

    /// Subscribes to a channel whose messages go to `handler`.
    pub fn subscribe_with_handler(
        &mut self,
        channel: impl ToArg,
        handler: impl FnMut(&Message) + Send + 'static,
    ) -> Result<(), Error> {
        let names = names_of("SUBSCRIBE", &[channel])?;
        self.add_global(Family::Channel, names, Some(Box::new(handler)))
    }

    /// Subscribes to patterns (`news.*`).
    pub fn psubscribe(&mut self, patterns: impl ToArgs) -> Result<(), Error> {
        let names = names_of("PSUBSCRIBE", &patterns)?;
        self.add_global(Family::Pattern, names, None)
    }

    /// Subscribes to a pattern whose messages go to `handler`.
    pub fn psubscribe_with_handler(
        &mut self,
        pattern: impl ToArg,
        handler: impl FnMut(&Message) + Send + 'static,
    ) -> Result<(), Error> {
        let names = names_of("PSUBSCRIBE", &[pattern])?;
        self.add_global(Family::Pattern, names, Some(Box::new(handler)))
    }

    /// Subscribes to shard channels, each on the primary serving its slot.
    ///
    /// When a node cannot be reached, the error is returned and the channels it should serve
    /// stay recorded: the next read tries again.
    pub fn ssubscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        self.add_shard(&channels, None)
    }

    /// Subscribes to a shard channel whose messages go to `handler`.
    pub fn ssubscribe_with_handler(
        &mut self,
        channel: impl ToArg,
        handler: impl FnMut(&Message) + Send + 'static,
    ) -> Result<(), Error> {
        self.add_shard(&[channel], Some(Box::new(handler)))
    }

    /// Unsubscribes from channels; an empty list means every channel.
    ///
    /// The handlers stay until the server confirms, so that messages already on their way
    /// still reach them (the same holds for [`ClusterPubSub::punsubscribe`] and
    /// [`ClusterPubSub::sunsubscribe`]).
    pub fn unsubscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        self.remove_global(Family::Channel, &channels)
    }

    /// Unsubscribes from patterns; an empty list means every pattern.
    pub fn punsubscribe(&mut self, patterns: impl ToArgs) -> Result<(), Error> {
        self.remove_global(Family::Pattern, &patterns)
    }

    /// Unsubscribes from shard channels; an empty list means every shard channel.
    ///
    /// Each node's handlers stay until that node confirms: messages it sent before the
    /// confirmation still reach them. Channels waiting for a node are forgotten at once.
    pub fn sunsubscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        let names = names_of("SUNSUBSCRIBE", &channels).unwrap_or_default();
        if names.is_empty() {
            self.homeless.clear();
        } else {
            self.homeless.retain(|(name, _)| !names.contains(name));
        }
        let mut first_error = None;
        for session in &mut self.shards {
            let mine: Vec<Bytes> = if names.is_empty() {
                session.pubsub.shard_channels()
            } else {
                names
                    .iter()
                    .filter(|n| session.pubsub.has(Family::Shard, n))
                    .cloned()
                    .collect()
            };
            if mine.is_empty() {
                continue;
            }
            // One command per slot: the server refuses channels of several slots together.
            let mut by_slot: BTreeMap<u16, Vec<Bytes>> = BTreeMap::new();
            for name in mine {
                by_slot.entry(key_slot(&name)).or_default().push(name);
            }
            // The session keeps the handlers until the node confirms; the names are no longer
            // subscribed for the caller even when a command cannot be sent (a reconnect does
            // not make them again).
            for names in by_slot.into_values() {
                if let Err(e) = session.pubsub.remove_names(Family::Shard, names) {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The channels subscribed to.
    pub fn channels(&self) -> Vec<Bytes> {
        self.global
            .as_ref()
            .map(PubSub::channels)
            .unwrap_or_default()
    }

    /// The patterns subscribed to.
    pub fn patterns(&self) -> Vec<Bytes> {
        self.global
            .as_ref()
            .map(PubSub::patterns)
            .unwrap_or_default()
    }

    /// The shard channels subscribed to (also those waiting for their node).
    pub fn shard_channels(&self) -> Vec<Bytes> {
        let mut all: BTreeSet<Bytes> = self.homeless.iter().map(|(n, _)| n.clone()).collect();
        for session in &self.shards {
            all.extend(session.pubsub.shard_channels());
        }
        all.into_iter().collect()
    }

    /// Whether any subscription is active.
    pub fn is_subscribed(&self) -> bool {
        self.global.as_ref().is_some_and(PubSub::is_subscribed)
            || !self.homeless.is_empty()
            || self.shards.iter().any(|s| s.pubsub.is_subscribed())
    }

    /// Sends PING on every connection of the session; each answers with a
    /// [`MessageKind::Pong`] message.
    pub fn ping(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        let sessions = self
            .global
            .iter_mut()
            .chain(self.shards.iter_mut().map(|s| &mut s.pubsub));
        for pubsub in sessions {
            if let Err(e) = pubsub.ping() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The next message for the caller from any node, waiting up to `timeout`
    /// (`Duration::ZERO` never blocks).
    ///
    /// Messages taken by handlers, events taken by [`ClusterPubSub::on_event`] and
    /// confirmations hidden by [`ClusterPubSub::ignore_subscribe_messages`] are consumed on
    /// the way (once the timeout has passed, at most 64 more of them, as
    /// [`PubSub::get_message`] does), and moved or lost subscriptions are made again (see
    /// [`ClusterPubSub`]). An error (a node that cannot be reached) leaves the subscriptions
    /// recorded: the next call tries again.
    pub fn get_message(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        let deadline = Instant::now().checked_add(timeout);
        let mut past_deadline = 0;
        loop {
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            let again = match self.step(left)? {
                Step::Message(message) => return Ok(Some(message)),
                Step::Again => true,
                Step::Nothing => false,
            };
            if left.is_zero() || deadline.is_some_and(|d| Instant::now() >= d) {
                past_deadline += 1;
                if !again || past_deadline > PAST_DEADLINE_EVENTS {
                    return Ok(None);
                }
            }
        }
    }

    /// One round of [`ClusterPubSub::get_message`], with `left` to wait.
    fn step(&mut self, left: Duration) -> Result<Step, Error> {
        // Moved subscriptions are made again before the event saying so is delivered.
        self.check_homes();
        self.rehome()?;
        if let Some(message) = self.pending.pop_front() {
            return Ok(match deliver_event(&mut self.on_event, message) {
                Some(message) => Step::Message(message),
                None => Step::Again,
            });
        }
        let count = self.session_count();
        if count == 0 {
            if !left.is_zero() {
                std::thread::sleep(left.min(IDLE));
            }
            return Ok(Step::Nothing);
        }
        // First what already arrived anywhere, starting after the last node served.
        for k in 0..count {
            let i = (self.turn + k) % count;
            match self.read(i, Duration::ZERO)? {
                Read::Message(message) => {
                    self.turn = i + 1;
                    return Ok(Step::Message(message));
                }
                Read::Nothing => {}
                Read::Changed => return Ok(Step::Again),
            }
        }
        if left.is_zero() {
            return Ok(Step::Nothing);
        }
        // Then wait on one session, for a slice when others may receive meanwhile.
        let wait = if count == 1 { left } else { left.min(SLICE) };
        let i = self.turn % count;
        self.turn = i + 1;
        Ok(match self.read(i, wait)? {
            Read::Message(message) => Step::Message(message),
            Read::Changed => Step::Again,
            Read::Nothing => Step::Nothing,
        })
    }

    /// Messages as an iterator that waits for each; it ends when nothing is subscribed any
    /// more, or after an error, which it yields.
    pub fn listen(&mut self) -> Listen<'_> {
        Listen::new(self)
    }

    /// Moves the session to a worker thread that reads messages and runs their handlers
    /// until [`PubSubWorker::stop`], as [`PubSub::run_in_thread`] does: every subscription
    /// needs a handler, and errors go to `on_error` (the worker keeps going) or end the
    /// worker when there is none. Events ([`MessageKind::Reconnected`]: messages may have
    /// been lost; confirmations; PONGs) go to the handler set with
    /// [`ClusterPubSub::on_event`]; without one, the worker drops them.
    pub fn run_in_thread(
        mut self,
        poll: Duration,
        on_error: Option<ErrorHandler>,
    ) -> Result<PubSubWorker, Error> {
        let mut unhandled: Vec<Bytes> = self
            .homeless
            .iter()
            .filter(|(_, h)| h.is_none())
            .map(|(n, _)| n.clone())
            .collect();
        let sessions = self
            .global
            .iter()
            .chain(self.shards.iter().map(|s| &s.pubsub));
        for pubsub in sessions {
            unhandled.extend(pubsub.unhandled());
        }
        check_handled(unhandled)?;
        spawn_worker(poll, on_error, move |wait| self.get_message(wait))
    }

    fn add_global(
        &mut self,
        family: Family,
        names: Vec<Bytes>,
        handler: Option<Handler>,
    ) -> Result<(), Error> {
        let mut handler = handler;
        let subscriptions = names.into_iter().map(|n| (n, handler.take())).collect();
        let global = match &mut self.global {
            Some(global) => global,
            None => self.global.insert(self.open_global()?),
        };
        global.add_many(family, subscriptions)
    }

    fn remove_global(&mut self, family: Family, names: &dyn ToArgsDyn) -> Result<(), Error> {
        let names = names_of("", names).unwrap_or_default();
        match &mut self.global {
            Some(global) => global.remove_names(family, names),
            None => Ok(()),
        }
    }

    /// The session of channels and patterns: on a primary of the map, another one after a
    /// failure.
    fn open_global(&self) -> Result<PubSub, Error> {
        self.open_session(|cluster| {
            cluster.refresh_if_stale();
            Ok(cluster.resolve(&Target::AnyPrimary)?.addr.clone())
        })
    }

    /// A session whose connections (the first now, any later one after a failure) go to
    /// the node `node` names at that moment; a failed connect marks the slot map stale.
    fn open_session(
        &self,
        node: impl Fn(&ClusterClient) -> Result<NodeAddr, Error> + Send + 'static,
    ) -> Result<PubSub, Error> {
        let cluster = self.cluster.clone();
        PubSub::with_opener(Box::new(move || {
            let addr = node(&cluster)?;
            cluster.open_connection(&addr).inspect_err(|_| {
                cluster.mark_stale();
            })
        }))
    }

    fn add_shard(
        &mut self,
        channels: &dyn ToArgsDyn,
        handler: Option<Handler>,
    ) -> Result<(), Error> {
        let names = names_of("SSUBSCRIBE", channels)?;
        let mut handler = handler;
        self.homeless
            .extend(names.into_iter().map(|n| (n, handler.take())));
        self.cluster.refresh_if_stale();
        self.rehome()
    }

    fn session_count(&self) -> usize {
        self.shards.len() + usize::from(self.global.is_some())
    }

    /// Session `i`: the shard sessions, then the global one.
    fn session(&mut self, i: usize) -> Option<&mut PubSub> {
        match self.shards.get_mut(i) {
            Some(session) => Some(&mut session.pubsub),
            None => self.global.as_mut(),
        }
    }

    /// Reads session `i` once.
    fn read(&mut self, i: usize, wait: Duration) -> Result<Read, Error> {
        let Some(pubsub) = self.session(i) else {
            return Ok(Read::Changed);
        };
        match pubsub.get_message(wait) {
            Ok(Some(message)) => Ok(self.filter(i, message)),
            Ok(None) => Ok(Read::Nothing),
            Err(e) if i < self.shards.len() => self.shard_failed(i, e),
            Err(e) => Err(e),
        }
    }

    /// What the caller sees of a message from session `i`.
    fn filter(&mut self, i: usize, message: Message) -> Read {
        if message.kind == MessageKind::SUnsubscribe
            && let Some(session) = self.shards.get_mut(i)
            && let Some(handler) = session.pubsub.forget(Family::Shard, &message.channel)
        {
            // The caller still wants it: the server ended it because the slot moved. Unless
            // the map knows already, it is out of date: load it again.
            let addr = session.addr.clone();
            if self.cluster.slot_owner_addr(key_slot(&message.channel)) == Some(addr) {
                let _ = self.cluster.refresh_topology();
            }
            self.homeless.push((message.channel, handler));
            self.lost_messages();
            return Read::Changed;
        }
        if self.ignore_subscribe_messages && message.kind.is_subscription_change() {
            return Read::Changed;
        }
        if message.kind.is_published() {
            // Published messages no handler took: for the caller.
            return Read::Message(message);
        }
        match deliver_event(&mut self.on_event, message) {
            Some(message) => Read::Message(message),
            None => Read::Changed,
        }
    }

    /// Shard session `i` failed: a MOVED moves the channels of that slot, anything else
    /// (the node is gone) moves them all.
    fn shard_failed(&mut self, i: usize, error: Error) -> Result<Read, Error> {
        let addr = self.shards[i].addr.clone();
        if let Error::Server(e) = &error {
            if e.kind() != ServerErrorKind::Moved {
                return Err(error);
            }
            let (slot, _) = parse_redirect(e, &addr)?;
            self.cluster.follow_moved(e, &addr)?;
            let session = &mut self.shards[i];
            for name in session.pubsub.shard_channels() {
                if key_slot(&name) == slot
                    && let Some(handler) = session.pubsub.forget(Family::Shard, &name)
                {
                    self.homeless.push((name, handler));
                }
            }
            return Ok(Read::Changed);
        }
        let mut session = self.shards.remove(i);
        self.cluster.mark_stale();
        for (_, name, handler) in session.pubsub.forget_all() {
            self.homeless.push((name, handler));
        }
        self.lost_messages();
        Ok(Read::Changed)
    }

    /// Queues a [`MessageKind::Reconnected`] event, once until it is read.
    fn lost_messages(&mut self) {
        if !self
            .pending
            .iter()
            .any(|m| m.kind == MessageKind::Reconnected)
        {
            self.pending.push_back(Message::reconnected());
        }
    }

    /// After a change of the slot map, takes away from each node the shard channels whose
    /// slot it no longer serves.
    fn check_homes(&mut self) {
        let generation = self.cluster.map_generation();
        if generation == self.checked_generation || self.shards.is_empty() {
            self.checked_generation = generation;
            return;
        }
        self.checked_generation = generation;
        let mut moved = false;
        for session in &mut self.shards {
            for name in session.pubsub.shard_channels() {
                let owner = self.cluster.slot_owner_addr(key_slot(&name));
                if owner.as_ref() != Some(&session.addr)
                    && let Some(handler) = session.pubsub.forget(Family::Shard, &name)
                {
                    self.homeless.push((name, handler));
                    moved = true;
                }
            }
        }
        if moved {
            self.lost_messages();
        }
    }

    /// Subscribes the shard channels waiting for a node on the primaries serving their
    /// slots now. On an error the ones not placed keep waiting.
    fn rehome(&mut self) -> Result<(), Error> {
        if self.homeless.is_empty() {
            return Ok(());
        }
        self.cluster.refresh_if_stale();
        let mut waiting = std::mem::take(&mut self.homeless);
        let mut first_error = None;
        while let Some(slot) = waiting.first().map(|(name, _)| key_slot(name)) {
            let Some(addr) = self.cluster.slot_owner_addr(slot) else {
                first_error.get_or_insert_with(|| {
                    Error::from(super::ClusterError::Discovery {
                        tried: 0,
                        reason: format!("no node serves slot {slot}"),
                        source: None,
                    })
                });
                self.homeless.append(&mut waiting);
                break;
            };
            // Everything waiting in this slot goes in one command (the server refuses
            // channels of several slots together).
            let (mine, rest): (Vec<_>, Vec<_>) =
                waiting.into_iter().partition(|(n, _)| key_slot(n) == slot);
            waiting = rest;
            let index = match self.shards.iter().position(|s| s.addr == addr) {
                Some(index) => index,
                None => match self.open_shard(&addr) {
                    Ok(session) => {
                        self.shards.push(session);
                        self.shards.len() - 1
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                        self.homeless.extend(mine);
                        continue;
                    }
                },
            };
            // Recorded even when the send fails: the session's reconnect sends it again.
            if let Err(e) = self.shards[index].pubsub.add_many(Family::Shard, mine) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A session for the shard channels of the node at `addr`.
    fn open_shard(&self, addr: &NodeAddr) -> Result<ShardSession, Error> {
        let target = addr.clone();
        let pubsub = self.open_session(move |_| Ok(target.clone()))?;
        Ok(ShardSession {
            addr: addr.clone(),
            pubsub,
        })
    }
}

impl Subscriber for ClusterPubSub {
    fn subscribed(&self) -> bool {
        self.is_subscribed()
    }

    fn next_message(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        self.get_message(timeout)
    }
}
