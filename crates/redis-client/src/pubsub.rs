//! [`PubSub`]: publish/subscribe on a connection of its own, with handlers, a worker thread,
//! health checks and automatic resubscription after a reconnect.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis_commands::{Cmd, ToArg, ToArgs};
use redis_conn::Connection;
use resp_proto::Value;

use crate::client::Client;
use crate::error::Error;

/// What a [`Message`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// A message published to a subscribed channel.
    Message,
    /// A message published to a channel matching a subscribed pattern.
    PMessage,
    /// A message published to a subscribed shard channel (SPUBLISH).
    SMessage,
    /// The server confirmed a SUBSCRIBE; the payload is the number of subscriptions.
    Subscribe,
    /// The server confirmed an UNSUBSCRIBE.
    Unsubscribe,
    /// The server confirmed a PSUBSCRIBE.
    PSubscribe,
    /// The server confirmed a PUNSUBSCRIBE.
    PUnsubscribe,
    /// The server confirmed an SSUBSCRIBE.
    SSubscribe,
    /// The server confirmed an SUNSUBSCRIBE.
    SUnsubscribe,
    /// The answer to [`PubSub::ping`] (or to a health check); the payload is its message.
    Pong,
    /// The connection was lost and made again, and every channel and pattern subscribed again.
    /// Messages published in between were lost: publish/subscribe delivers at most once.
    Reconnected,
}

impl MessageKind {
    /// Whether this is a (un)subscribe confirmation.
    pub fn is_subscription_change(self) -> bool {
        matches!(
            self,
            MessageKind::Subscribe
                | MessageKind::Unsubscribe
                | MessageKind::PSubscribe
                | MessageKind::PUnsubscribe
                | MessageKind::SSubscribe
                | MessageKind::SUnsubscribe
        )
    }
}

/// One event of a subscribed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// What it is.
    pub kind: MessageKind,
    /// The channel (for confirmations, the channel or pattern concerned; empty when none).
    pub channel: Bytes,
    /// The pattern that matched, for [`MessageKind::PMessage`].
    pub pattern: Option<Bytes>,
    /// The published payload; for confirmations, the subscription count in decimal.
    pub payload: Bytes,
}

impl Message {
    /// The payload as UTF-8 text, if it is.
    pub fn payload_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The channel as UTF-8 text, if it is.
    pub fn channel_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.channel).ok()
    }

    pub(crate) fn reconnected() -> Message {
        Message {
            kind: MessageKind::Reconnected,
            channel: Bytes::new(),
            pattern: None,
            payload: Bytes::new(),
        }
    }

    /// Reads a message from what a subscribed connection received.
    fn parse(value: Value) -> Result<Message, Error> {
        let items: Vec<Value> = match value {
            Value::Push(items) | Value::Array(items) => items.into_vec(),
            Value::SimpleString(s) if s.eq_ignore_ascii_case(b"PONG") => {
                return Ok(Message {
                    kind: MessageKind::Pong,
                    channel: Bytes::new(),
                    pattern: None,
                    payload: Bytes::new(),
                });
            }
            // RESP3 answers `PING message` with the message itself.
            Value::BulkString(payload) => {
                return Ok(Message {
                    kind: MessageKind::Pong,
                    channel: Bytes::new(),
                    pattern: None,
                    payload,
                });
            }
            Value::Error(text) | Value::BulkError(text) => {
                return Err(Error::Server(redis_conn::ServerError::parse(&text)));
            }
            other => {
                return Err(Error::InvalidRequest(format!(
                    "unexpected value on a subscribed connection: {other:?}"
                )));
            }
        };
        let mut items = items.into_iter();
        let kind_value = items.next();
        let kind_name = match &kind_value {
            Some(Value::BulkString(b) | Value::SimpleString(b)) => &b[..],
            _ => &[][..],
        };
        const KINDS: [(&[u8], MessageKind); 10] = [
            (b"message", MessageKind::Message),
            (b"pmessage", MessageKind::PMessage),
            (b"smessage", MessageKind::SMessage),
            (b"subscribe", MessageKind::Subscribe),
            (b"unsubscribe", MessageKind::Unsubscribe),
            (b"psubscribe", MessageKind::PSubscribe),
            (b"punsubscribe", MessageKind::PUnsubscribe),
            (b"ssubscribe", MessageKind::SSubscribe),
            (b"sunsubscribe", MessageKind::SUnsubscribe),
            (b"pong", MessageKind::Pong),
        ];
        let Some(kind) = KINDS
            .iter()
            .find(|(name, _)| kind_name.eq_ignore_ascii_case(name))
            .map(|(_, kind)| *kind)
        else {
            return Err(Error::InvalidRequest(format!(
                "unknown message kind {:?} on a subscribed connection",
                String::from_utf8_lossy(kind_name)
            )));
        };
        // The parts are moved out of the reply, not copied.
        let mut next = || -> Bytes {
            match items.next() {
                Some(Value::BulkString(b) | Value::SimpleString(b)) => b,
                Some(Value::Integer(i)) => Bytes::from(i.to_string()),
                _ => Bytes::new(),
            }
        };
        Ok(match kind {
            MessageKind::PMessage => {
                let pattern = next();
                let channel = next();
                Message {
                    kind,
                    pattern: Some(pattern),
                    channel,
                    payload: next(),
                }
            }
            MessageKind::Pong => Message {
                kind,
                channel: Bytes::new(),
                pattern: None,
                payload: next(),
            },
            _ => {
                let channel = next();
                Message {
                    kind,
                    channel,
                    pattern: None,
                    payload: next(),
                }
            }
        })
    }
}

/// The message of the health-check PINGs, whose answers are not shown to the caller.
const HEALTH_CHECK: &str = "redis-client-health-check";

/// What one read of the subscribed connection gave.
enum Event {
    Message(Message),
    Consumed,
    Nothing,
}

/// A handler for the messages of one channel or pattern.
pub type Handler = Box<dyn FnMut(&Message) + Send>;

/// A handler for the errors of a [`PubSub::run_in_thread`] worker.
pub type ErrorHandler = Box<dyn FnMut(&Error) + Send>;

/// The subscriptions of one kind, with their handlers.
#[derive(Default)]
struct Subscriptions(BTreeMap<Bytes, Option<Handler>>);

/// Opens a subscriber's connection: the cluster client's sessions use their own.
pub(crate) type Opener = Box<dyn FnMut() -> Result<Connection, Error> + Send>;

/// Where a [`PubSub`] takes its connections from.
enum Source {
    /// Detached from the client's pool.
    Pool(Client),
    /// Opened by a function (a cluster node's session).
    Opener(Opener),
}

impl Source {
    fn open(&mut self) -> Result<Connection, Error> {
        match self {
            Source::Pool(client) => Ok(client.pool().get()?.detach()),
            Source::Opener(open) => open(),
        }
    }
}

impl Subscriptions {
    fn handler(&mut self, name: &[u8]) -> Option<&mut Handler> {
        self.0.get_mut(name).and_then(Option::as_mut)
    }

    fn names(&self) -> Vec<Bytes> {
        self.0.keys().cloned().collect()
    }
}

/// Publish/subscribe on a connection of its own (redis-py's `PubSub`).
///
/// Subscribing sends the command at once; the server's confirmations arrive as messages
/// ([`MessageKind::Subscribe`], ...), unless [`PubSub::ignore_subscribe_messages`] hides them.
/// Read with [`PubSub::get_message`] (a zero timeout never blocks), iterate with
/// [`PubSub::listen`], or hand everything to handlers and a worker thread with
/// [`PubSub::run_in_thread`].
///
/// When the connection fails, the next read reconnects, subscribes to every channel and
/// pattern again, and returns a [`MessageKind::Reconnected`] event: messages published
/// meanwhile are lost (publish/subscribe is at-most-once).
///
/// ```no_run
/// use std::time::Duration;
/// use redis_client::{Client, Commands};
///
/// let client = Client::open("redis://127.0.0.1:6379")?;
/// let mut p = client.pubsub()?;
/// p.ignore_subscribe_messages(true);
/// p.subscribe("news")?;
/// p.psubscribe("news.*")?;
/// client.publish("news", "hello")?;
/// if let Some(message) = p.get_message(Duration::from_secs(1))? {
///     assert_eq!(message.payload_str(), Some("hello"));
/// }
/// # Ok::<(), redis_client::Error>(())
/// ```
pub struct PubSub {
    source: Source,
    conn: Option<Connection>,
    channels: Subscriptions,
    patterns: Subscriptions,
    shard_channels: Subscriptions,
    ignore_subscribe_messages: bool,
    health_check_interval: Option<Duration>,
    last_health_check: Instant,
    /// When the health-check PING now unanswered was sent.
    awaiting_pong: Option<Instant>,
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("connected", &self.conn.is_some())
            .field("channels", &self.channels.names())
            .field("patterns", &self.patterns.names())
            .field("shard_channels", &self.shard_channels.names())
            .field("ignore_subscribe_messages", &self.ignore_subscribe_messages)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A publish/subscribe session on a connection of its own.
    pub fn pubsub(&self) -> Result<PubSub, Error> {
        PubSub::open(Source::Pool(self.clone()))
    }
}

/// Which subscription command family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Channel,
    Pattern,
    Shard,
}

impl Family {
    fn subscribe(self) -> &'static str {
        match self {
            Family::Channel => "SUBSCRIBE",
            Family::Pattern => "PSUBSCRIBE",
            Family::Shard => "SSUBSCRIBE",
        }
    }

    fn unsubscribe(self) -> &'static str {
        match self {
            Family::Channel => "UNSUBSCRIBE",
            Family::Pattern => "PUNSUBSCRIBE",
            Family::Shard => "SUNSUBSCRIBE",
        }
    }
}

impl PubSub {
    fn open(mut source: Source) -> Result<PubSub, Error> {
        let conn = source.open()?;
        let health_check_interval = conn.config().health_check_interval();
        Ok(PubSub {
            source,
            conn: Some(conn),
            channels: Subscriptions::default(),
            patterns: Subscriptions::default(),
            shard_channels: Subscriptions::default(),
            ignore_subscribe_messages: false,
            health_check_interval,
            last_health_check: Instant::now(),
            awaiting_pong: None,
        })
    }

    /// A session whose connections (the first one now, and any after a failure) come from
    /// `open`.
    pub(crate) fn with_opener(open: Opener) -> Result<PubSub, Error> {
        PubSub::open(Source::Opener(open))
    }

    /// Hides the server's (un)subscribe confirmations from [`PubSub::get_message`].
    pub fn ignore_subscribe_messages(&mut self, ignore: bool) -> &mut Self {
        self.ignore_subscribe_messages = ignore;
        self
    }

    /// Subscribes to channels (one name or a list).
    pub fn subscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        self.add(Family::Channel, &channels, None)
    }

    /// Subscribes to a channel whose messages go to `handler` instead of
    /// [`PubSub::get_message`].
    pub fn subscribe_with_handler(
        &mut self,
        channel: impl ToArg,
        handler: impl FnMut(&Message) + Send + 'static,
    ) -> Result<(), Error> {
        self.add(Family::Channel, &[channel], Some(Box::new(handler)))
    }

    /// Subscribes to patterns (`news.*`).
    pub fn psubscribe(&mut self, patterns: impl ToArgs) -> Result<(), Error> {
        self.add(Family::Pattern, &patterns, None)
    }

    /// Subscribes to a pattern whose messages go to `handler`.
    pub fn psubscribe_with_handler(
        &mut self,
        pattern: impl ToArg,
        handler: impl FnMut(&Message) + Send + 'static,
    ) -> Result<(), Error> {
        self.add(Family::Pattern, &[pattern], Some(Box::new(handler)))
    }

    /// Subscribes to shard channels (Redis 7, SSUBSCRIBE).
    pub fn ssubscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        self.add(Family::Shard, &channels, None)
    }

    /// Subscribes to a shard channel whose messages go to `handler`.
    pub fn ssubscribe_with_handler(
        &mut self,
        channel: impl ToArg,
        handler: impl FnMut(&Message) + Send + 'static,
    ) -> Result<(), Error> {
        self.add(Family::Shard, &[channel], Some(Box::new(handler)))
    }

    /// Unsubscribes from channels; an empty list means every channel.
    pub fn unsubscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        self.remove(Family::Channel, &channels)
    }

    /// Unsubscribes from patterns; an empty list means every pattern.
    pub fn punsubscribe(&mut self, patterns: impl ToArgs) -> Result<(), Error> {
        self.remove(Family::Pattern, &patterns)
    }

    /// Unsubscribes from shard channels; an empty list means every shard channel.
    pub fn sunsubscribe(&mut self, channels: impl ToArgs) -> Result<(), Error> {
        self.remove(Family::Shard, &channels)
    }

    /// The channels subscribed to.
    pub fn channels(&self) -> Vec<Bytes> {
        self.channels.names()
    }

    /// The patterns subscribed to.
    pub fn patterns(&self) -> Vec<Bytes> {
        self.patterns.names()
    }

    /// The shard channels subscribed to.
    pub fn shard_channels(&self) -> Vec<Bytes> {
        self.shard_channels.names()
    }

    /// Whether any subscription is active.
    pub fn is_subscribed(&self) -> bool {
        !(self.channels.0.is_empty()
            && self.patterns.0.is_empty()
            && self.shard_channels.0.is_empty())
    }

    /// Sends PING; the answer arrives as a [`MessageKind::Pong`] message.
    pub fn ping(&mut self) -> Result<(), Error> {
        let mut cmd = Cmd::new();
        cmd.arg("PING");
        self.send(&cmd)
    }

    fn set(&mut self, family: Family) -> &mut Subscriptions {
        match family {
            Family::Channel => &mut self.channels,
            Family::Pattern => &mut self.patterns,
            Family::Shard => &mut self.shard_channels,
        }
    }

    fn add(
        &mut self,
        family: Family,
        names: &dyn ToArgsDyn,
        handler: Option<Handler>,
    ) -> Result<(), Error> {
        let mut handler = handler;
        // The `*_with_handler` methods take one name, so the handler goes to it.
        let subscriptions = names_of(family.subscribe(), names)?
            .into_iter()
            .map(|name| (name, handler.take()))
            .collect();
        self.add_many(family, subscriptions)
    }

    /// Subscribes to every name with one command, each with its handler.
    pub(crate) fn add_many(
        &mut self,
        family: Family,
        subscriptions: Vec<(Bytes, Option<Handler>)>,
    ) -> Result<(), Error> {
        if subscriptions.is_empty() {
            return Ok(());
        }
        let mut cmd = Cmd::new();
        cmd.arg(family.subscribe());
        for (name, _) in &subscriptions {
            cmd.arg(name);
        }
        self.send(&cmd)?;
        let set = self.set(family);
        for (name, handler) in subscriptions {
            set.0.insert(name, handler);
        }
        Ok(())
    }

    /// Forgets a subscription the server already ended (nothing is sent); gives its handler
    /// back, `None` when it was not subscribed.
    pub(crate) fn forget(&mut self, family: Family, name: &[u8]) -> Option<Option<Handler>> {
        self.set(family).0.remove(name)
    }

    /// Forgets every subscription (nothing is sent) and gives them back with their handlers.
    pub(crate) fn forget_all(&mut self) -> Vec<(Family, Bytes, Option<Handler>)> {
        let mut all = Vec::new();
        for family in [Family::Channel, Family::Pattern, Family::Shard] {
            let set = std::mem::take(self.set(family));
            all.extend(set.0.into_iter().map(|(name, h)| (family, name, h)));
        }
        all
    }

    /// Whether `name` is subscribed in `family`.
    pub(crate) fn has(&self, family: Family, name: &[u8]) -> bool {
        let set = match family {
            Family::Channel => &self.channels,
            Family::Pattern => &self.patterns,
            Family::Shard => &self.shard_channels,
        };
        set.0.contains_key(name)
    }

    /// Unsubscribes from the given names (all of `family` when empty).
    pub(crate) fn remove_names(&mut self, family: Family, names: Vec<Bytes>) -> Result<(), Error> {
        self.remove(family, &names)
    }

    fn remove(&mut self, family: Family, names: &dyn ToArgsDyn) -> Result<(), Error> {
        let mut cmd = Cmd::new();
        cmd.arg(family.unsubscribe());
        names.write_into(&mut cmd);
        let removed: Vec<Bytes> = cmd
            .arg_bytes()
            .skip(1)
            .map(Bytes::copy_from_slice)
            .collect();
        self.send(&cmd)?;
        let set = self.set(family);
        if removed.is_empty() {
            set.0.clear();
        } else {
            for name in removed {
                set.0.remove(&name);
            }
        }
        Ok(())
    }

    /// Sends a command on the subscribed connection; no reply is awaited (the answer comes as
    /// a message). Reconnects first when the connection was lost.
    fn send(&mut self, cmd: &Cmd) -> Result<(), Error> {
        let conn = self.connection()?;
        let result = conn.send_with(0, |buf| cmd.write_packed(buf));
        if let Err(e) = result {
            self.conn = None;
            return Err(e.into());
        }
        Ok(())
    }

    /// The connection, made again (with every subscription) when it was lost.
    fn connection(&mut self) -> Result<&mut Connection, Error> {
        if self.conn.is_none() {
            self.reconnect()?;
        }
        self.conn.as_mut().ok_or_else(|| {
            Error::InvalidRequest("the publish/subscribe connection is closed".to_owned())
        })
    }

    /// Opens a new connection and subscribes to everything again.
    fn reconnect(&mut self) -> Result<(), Error> {
        self.awaiting_pong = None;
        let mut conn = self.source.open()?;
        let families = [
            (Family::Channel, self.channels.names()),
            (Family::Pattern, self.patterns.names()),
            (Family::Shard, self.shard_channels.names()),
        ];
        for (family, names) in families {
            if names.is_empty() {
                continue;
            }
            // Shard channels one by one: a cluster node refuses channels of several slots
            // in one command.
            let groups: Vec<Vec<Bytes>> = match family {
                Family::Shard => names.into_iter().map(|n| vec![n]).collect(),
                _ => vec![names],
            };
            for names in groups {
                let mut cmd = Cmd::new();
                cmd.arg(family.subscribe()).args(names);
                conn.send_with(0, |buf| cmd.write_packed(buf))?;
            }
        }
        self.conn = Some(conn);
        self.last_health_check = Instant::now();
        Ok(())
    }

    /// The next message for the caller, waiting up to `timeout` (`Duration::ZERO` never
    /// blocks: it returns what has already arrived, or `None`).
    ///
    /// Messages taken by a handler and confirmations hidden by
    /// [`PubSub::ignore_subscribe_messages`] are consumed on the way. After a lost connection
    /// it reconnects, resubscribes and returns a [`MessageKind::Reconnected`] event; if
    /// reconnecting fails, the error is returned and the next call tries again.
    pub fn get_message(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        // A timeout too long for the clock (`Duration::MAX`) waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            match self.next_event(left)? {
                Event::Message(message) => return Ok(Some(message)),
                // A wait cut short by a health check goes on until the deadline.
                Event::Nothing
                    if left.is_zero() || deadline.is_some_and(|d| Instant::now() >= d) =>
                {
                    return Ok(None);
                }
                Event::Nothing | Event::Consumed => {}
            }
        }
    }

    /// One read: a message for the caller, one consumed here, or nothing in time.
    fn next_event(&mut self, timeout: Duration) -> Result<Event, Error> {
        if self.conn.is_none() {
            self.reconnect()?;
            return Ok(Event::Message(Message::reconnected()));
        }
        if !self.health_check()? {
            // The server did not answer the health check in time: treat it as gone.
            self.conn = None;
            self.reconnect()?;
            return Ok(Event::Message(Message::reconnected()));
        }
        // With health checks on, wake up in time for the next one.
        let wait = self
            .health_check_interval
            .map_or(timeout, |i| timeout.min(i));
        let received = match self.conn.as_mut() {
            Some(conn) => conn.next_value(wait),
            None => return Ok(Event::Nothing),
        };
        let value = match received {
            Ok(Some(value)) => value,
            Ok(None) => return Ok(Event::Nothing),
            Err(e) if e.is_connection() || matches!(e, redis_conn::Error::Broken) => {
                self.conn = None;
                self.reconnect()?;
                return Ok(Event::Message(Message::reconnected()));
            }
            Err(e) => {
                self.conn = None;
                return Err(e.into());
            }
        };
        let message = Message::parse(value)?;
        Ok(match self.dispatch(message) {
            Some(message) => Event::Message(message),
            None => Event::Consumed,
        })
    }

    /// Runs the handler of the message's channel or pattern, if any; returns the message
    /// when it is for the caller.
    fn dispatch(&mut self, message: Message) -> Option<Message> {
        let handler = match message.kind {
            MessageKind::Message => self.channels.handler(&message.channel),
            MessageKind::SMessage => self.shard_channels.handler(&message.channel),
            MessageKind::PMessage => match &message.pattern {
                Some(pattern) => self.patterns.handler(pattern),
                None => None,
            },
            _ => None,
        };
        if let Some(handler) = handler {
            handler(&message);
            return None;
        }
        if self.ignore_subscribe_messages && message.kind.is_subscription_change() {
            return None;
        }
        if message.kind == MessageKind::Pong && message.payload == HEALTH_CHECK.as_bytes() {
            self.awaiting_pong = None;
            return None;
        }
        Some(message)
    }

    /// PINGs when the connection sat idle longer than the health-check interval, so that a
    /// dead connection is found even when no message arrives; a PING still unanswered after
    /// another interval (a stopped or unreachable server that keeps the socket open) counts
    /// as a lost connection.
    fn health_check(&mut self) -> Result<bool, Error> {
        let Some(interval) = self.health_check_interval else {
            return Ok(true);
        };
        if let Some(sent) = self.awaiting_pong {
            if sent.elapsed() > interval {
                return Ok(false);
            }
            return Ok(true);
        }
        let idle = self
            .conn
            .as_ref()
            .map_or(Duration::ZERO, |c| c.last_used().elapsed())
            .min(self.last_health_check.elapsed());
        if idle > interval {
            self.last_health_check = Instant::now();
            let mut cmd = Cmd::new();
            cmd.arg("PING").arg(HEALTH_CHECK);
            self.send(&cmd)?;
            self.awaiting_pong = Some(self.last_health_check);
        }
        Ok(true)
    }

    /// Messages as an iterator that waits for each; it ends when nothing is subscribed any
    /// more, or after an error, which it yields.
    pub fn listen(&mut self) -> Listen<'_> {
        Listen::new(self)
    }

    /// Moves the session to a worker thread that reads messages and runs their handlers
    /// until [`PubSubWorker::stop`]. Every subscription must have a handler (subscribe with the
    /// `*_with_handler` methods), or this fails, as redis-py's does. Errors go to `on_error` when one
    /// is given, and the worker keeps going (reconnecting); without one, the first error
    /// ends the worker and [`PubSubWorker::stop`] returns it.
    ///
    /// `poll` bounds how long the worker waits for a message before it checks whether it was
    /// asked to stop: it blocks in the socket read meanwhile and never spins.
    pub fn run_in_thread(
        mut self,
        poll: Duration,
        on_error: Option<ErrorHandler>,
    ) -> Result<PubSubWorker, Error> {
        check_handled(self.unhandled())?;
        spawn_worker(poll, on_error, move |wait| self.get_message(wait))
    }

    /// The names subscribed without a handler.
    pub(crate) fn unhandled(&self) -> Vec<Bytes> {
        [&self.channels, &self.patterns, &self.shard_channels]
            .iter()
            .flat_map(|set| set.0.iter().filter(|(_, h)| h.is_none()).map(|(n, _)| n))
            .cloned()
            .collect()
    }
}

/// Refuses a worker thread for subscriptions without a handler.
pub(crate) fn check_handled(unhandled: Vec<Bytes>) -> Result<(), Error> {
    if unhandled.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = unhandled
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    Err(Error::InvalidRequest(format!(
        "run_in_thread needs a handler for every subscription; none for {}",
        names.join(", ")
    )))
}

/// Starts the worker thread of `run_in_thread`: it calls `next` (waiting up to `poll`) until
/// stopped; errors go to `on_error`, or end the worker when there is none.
pub(crate) fn spawn_worker(
    poll: Duration,
    mut on_error: Option<ErrorHandler>,
    mut next: impl FnMut(Duration) -> Result<Option<Message>, Error> + Send + 'static,
) -> Result<PubSubWorker, Error> {
    let poll = poll.max(Duration::from_millis(1));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("redis-pubsub".to_owned())
        .spawn(move || -> Result<(), Error> {
            while !flag.load(Ordering::Acquire) {
                match next(poll) {
                    Ok(_) => {}
                    Err(e) => match on_error.as_mut() {
                        Some(handler) => {
                            handler(&e);
                            // A failed reconnect is retried after a pause, not at once.
                            std::thread::sleep(poll);
                        }
                        None => return Err(e),
                    },
                }
            }
            Ok(())
        })
        .map_err(|e| Error::InvalidRequest(format!("cannot start the worker thread: {e}")))?;
    Ok(PubSubWorker {
        stop,
        handle: Some(handle),
    })
}

/// The names `names` gives, as the arguments of `command`; an error when there is none.
pub(crate) fn names_of(command: &str, names: &dyn ToArgsDyn) -> Result<Vec<Bytes>, Error> {
    let mut cmd = Cmd::new();
    names.write_into(&mut cmd);
    if cmd.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "{command} needs at least one name; nothing was sent"
        )));
    }
    Ok(cmd.arg_bytes().map(Bytes::copy_from_slice).collect())
}

/// [`ToArgs`] as a trait object, so that the subscription methods stay small.
pub(crate) trait ToArgsDyn {
    fn write_into(&self, cmd: &mut Cmd);
}

impl<T: ToArgs> ToArgsDyn for T {
    fn write_into(&self, cmd: &mut Cmd) {
        cmd.args(self);
    }
}

/// What [`Listen`] reads from: a [`PubSub`] or a cluster's session.
pub(crate) trait Subscriber: Send {
    /// Whether anything is subscribed.
    fn subscribed(&self) -> bool;
    /// The next message, waiting up to `timeout`.
    fn next_message(&mut self, timeout: Duration) -> Result<Option<Message>, Error>;
}

impl Subscriber for PubSub {
    fn subscribed(&self) -> bool {
        self.is_subscribed()
    }

    fn next_message(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        self.get_message(timeout)
    }
}

/// The iterator of [`PubSub::listen`] (and of the cluster's `listen`).
pub struct Listen<'a> {
    subscriber: &'a mut dyn Subscriber,
    done: bool,
}

impl<'a> Listen<'a> {
    pub(crate) fn new(subscriber: &'a mut dyn Subscriber) -> Listen<'a> {
        Listen {
            subscriber,
            done: false,
        }
    }
}

impl fmt::Debug for Listen<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listen")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Iterator for Listen<'_> {
    type Item = Result<Message, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Like redis-py's `listen()`, the iteration ends when nothing is subscribed.
            if self.done || !self.subscriber.subscribed() {
                return None;
            }
            match self.subscriber.next_message(Duration::from_secs(1)) {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// The worker thread of [`PubSub::run_in_thread`].
#[derive(Debug)]
pub struct PubSubWorker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), Error>>>,
}

impl PubSubWorker {
    /// Asks the worker to stop, waits for it (at most about one poll interval), and returns
    /// the error that ended it, if one did.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop.store(true, Ordering::Release);
        self.join()
    }

    /// Whether the worker has ended (stopped, or ended by an error).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    fn join(&mut self) -> Result<(), Error> {
        match self.handle.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Err(Error::InvalidRequest(
                    "the publish/subscribe worker panicked (in a handler)".to_owned(),
                ))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for PubSubWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.join();
    }
}
