//! [`PubSub`]: publish/subscribe on a connection of its own, with handlers, a worker thread,
//! health checks and automatic resubscription after a reconnect.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use redis_commands::{Cmd, ToArg, ToArgs};
use redis_conn::{Connection, Phase, ServerErrorKind};
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

    /// Whether this is a published message (as opposed to an event of the session).
    pub(crate) fn is_published(self) -> bool {
        matches!(
            self,
            MessageKind::Message | MessageKind::PMessage | MessageKind::SMessage
        )
    }

    /// The request this is an answer to, when it is one.
    fn answers(self) -> Option<Request> {
        Some(match self {
            MessageKind::Subscribe => Request::Subscribe(Family::Channel),
            MessageKind::PSubscribe => Request::Subscribe(Family::Pattern),
            MessageKind::SSubscribe => Request::Subscribe(Family::Shard),
            MessageKind::Unsubscribe => Request::Unsubscribe(Family::Channel),
            MessageKind::PUnsubscribe => Request::Unsubscribe(Family::Pattern),
            MessageKind::SUnsubscribe => Request::Unsubscribe(Family::Shard),
            MessageKind::Pong => Request::Ping,
            _ => return None,
        })
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

    /// Reads a message from what a subscribed connection received; `None` for a push
    /// message of a kind this client does not know (skipped, see [`PubSub::get_message`]).
    fn parse(value: Value) -> Result<Option<Message>, Error> {
        let items: Vec<Value> = match value {
            Value::Push(items) | Value::Array(items) => items.into_vec(),
            Value::SimpleString(s) if s.eq_ignore_ascii_case(b"PONG") => {
                return Ok(Some(Message {
                    kind: MessageKind::Pong,
                    channel: Bytes::new(),
                    pattern: None,
                    payload: Bytes::new(),
                }));
            }
            // RESP3 answers `PING message` with the message itself.
            Value::BulkString(payload) => {
                return Ok(Some(Message {
                    kind: MessageKind::Pong,
                    channel: Bytes::new(),
                    pattern: None,
                    payload,
                }));
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
            // A push of another kind (`invalidate` from client-side caching redirected to
            // this connection, or a kind of a later server): not for this session.
            return Ok(None);
        };
        // The parts are moved out of the reply, not copied.
        let mut next = || -> Bytes {
            match items.next() {
                Some(Value::BulkString(b) | Value::SimpleString(b)) => b,
                Some(Value::Integer(i)) => Bytes::from(i.to_string()),
                _ => Bytes::new(),
            }
        };
        Ok(Some(match kind {
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
        }))
    }
}

/// The message of the health-check PINGs, whose answers are not shown to the caller.
const HEALTH_CHECK: &str = "redis-client-health-check";

/// How many more events a read takes from what is already available once its timeout has
/// passed (running their handlers, dropping hidden confirmations) before it returns `None`:
/// a zero timeout handles a batch of what has arrived, and a stream of handled messages
/// cannot keep a read (or a worker asked to stop) going.
pub(crate) const PAST_DEADLINE_EVENTS: usize = 64;

/// How long a reconnect may run before a read reports it as a connect timeout (the
/// client's connect timeout instead, when it has a longer one). The reconnect goes on: this
/// bounds the waits of a client without timeouts, whose reconnect to a frozen server would
/// otherwise wait forever for its handshake.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one read of the subscribed connection gave.
enum Event {
    Message(Message),
    Consumed,
    Nothing,
    /// The connection was found lost (a failed read or write, an unanswered health check):
    /// the next read starts a reconnect.
    Lost,
}

/// A handler for the messages of one channel or pattern.
pub type Handler = Box<dyn FnMut(&Message) + Send>;

/// A handler for the errors of a [`PubSub::run_in_thread`] worker.
pub type ErrorHandler = Box<dyn FnMut(&Error) + Send>;

/// One subscription, as the caller asked for it and as the server confirmed it.
struct Subscription {
    handler: Option<Handler>,
    /// Whether the caller wants it: false once unsubscribed, while the server's
    /// confirmation is awaited (messages already on the way still reach the handler).
    wanted: bool,
    /// Whether the server confirmed it (and has not confirmed an unsubscribe since).
    confirmed: bool,
    /// Unsubscribe commands for it sent and not yet confirmed.
    leaving: u32,
}

/// The subscriptions of one kind, with their handlers.
#[derive(Default)]
struct Subscriptions(BTreeMap<Bytes, Subscription>);

impl Subscriptions {
    /// The handler of a subscription, also one being unsubscribed.
    fn handler(&mut self, name: &[u8]) -> Option<&mut Handler> {
        self.0.get_mut(name).and_then(|s| s.handler.as_mut())
    }

    /// The names the caller wants.
    fn names(&self) -> Vec<Bytes> {
        self.wanted().map(|(name, _)| name.clone()).collect()
    }

    fn wanted(&self) -> impl Iterator<Item = (&Bytes, &Subscription)> {
        self.0.iter().filter(|(_, s)| s.wanted)
    }

    fn is_empty(&self) -> bool {
        self.wanted().next().is_none()
    }

    fn contains(&self, name: &[u8]) -> bool {
        self.0.get(name).is_some_and(|s| s.wanted)
    }

    /// Records a subscription (replacing the handler of an existing one).
    fn insert(&mut self, name: Bytes, handler: Option<Handler>) {
        let entry = self.0.entry(name).or_insert(Subscription {
            handler: None,
            wanted: true,
            confirmed: false,
            leaving: 0,
        });
        entry.handler = handler;
        entry.wanted = true;
    }

    /// An unsubscribe of these names (all when empty) was sent.
    fn leave(&mut self, names: &[Bytes]) {
        let mark = |s: &mut Subscription| {
            s.wanted = false;
            s.leaving += 1;
        };
        if names.is_empty() {
            self.0.values_mut().filter(|s| s.wanted).for_each(mark);
        } else {
            for name in names {
                if let Some(s) = self.0.get_mut(name) {
                    mark(s);
                }
            }
        }
    }

    /// Forgets these names (all when empty) at once: nothing will confirm.
    fn drop_names(&mut self, names: &[Bytes]) {
        if names.is_empty() {
            self.0.clear();
        } else {
            for name in names {
                self.0.remove(name);
            }
        }
    }

    /// The server confirmed a subscription.
    fn confirmed(&mut self, name: &[u8]) {
        if let Some(s) = self.0.get_mut(name) {
            s.confirmed = true;
        }
    }

    /// The server confirmed an unsubscribe: a subscription the caller left goes, handler and
    /// all. One the server ended by itself (a cluster slot that moved) stays for the caller
    /// to see.
    fn unsubscribed(&mut self, name: &[u8]) {
        let Some(s) = self.0.get_mut(name) else {
            return;
        };
        if s.leaving == 0 {
            return;
        }
        s.leaving -= 1;
        s.confirmed = false;
        if !s.wanted && s.leaving == 0 {
            self.0.remove(name);
        }
    }

    /// The server refused to subscribe to these names: those it never confirmed are
    /// forgotten.
    fn refused(&mut self, names: &[Bytes]) {
        for name in names {
            let Some(s) = self.0.get_mut(name) else {
                continue;
            };
            if s.confirmed || !s.wanted {
                continue;
            }
            if s.leaving == 0 {
                self.0.remove(name);
            } else {
                s.wanted = false;
            }
        }
    }

    /// A new connection has no subscription yet: those being left are gone, the others are
    /// about to be made again.
    fn reset(&mut self) {
        self.0.retain(|_, s| s.wanted);
        for s in self.0.values_mut() {
            s.confirmed = false;
            s.leaving = 0;
        }
    }

    /// Forgets one subscription; gives its handler back when the caller wanted it.
    fn forget(&mut self, name: &[u8]) -> Option<Option<Handler>> {
        let s = self.0.remove(name)?;
        s.wanted.then_some(s.handler)
    }

    /// Forgets everything; gives back what the caller wanted, with the handlers.
    fn take_wanted(&mut self) -> Vec<(Bytes, Option<Handler>)> {
        std::mem::take(&mut self.0)
            .into_iter()
            .filter(|(_, s)| s.wanted)
            .map(|(name, s)| (name, s.handler))
            .collect()
    }
}

/// What a command sent on the subscribed connection asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Request {
    Subscribe(Family),
    Unsubscribe(Family),
    Ping,
}

/// A command sent on the subscribed connection whose answers have not all arrived. The
/// server answers in order, so an error belongs to the first command not answered yet.
struct Sent {
    request: Request,
    /// The names of a subscribe, forgotten if the server refuses it.
    names: Vec<Bytes>,
    /// Answers still due; `None` when the count is unknown (an unsubscribe from
    /// everything answers once per subscription the server has).
    due: Option<usize>,
    /// Whether an answer arrived.
    answered: bool,
}

/// Opens a subscriber's connection: the cluster client's sessions use their own.
pub(crate) type Opener = Box<dyn FnMut() -> Result<Connection, Error> + Send>;

/// Where a [`PubSub`] takes its connections from. Cloned into the thread of a reconnect.
#[derive(Clone)]
enum Source {
    /// Detached from the client's pool.
    Pool(Client),
    /// Opened by a function (a cluster node's session).
    Opener(Arc<Mutex<Opener>>),
}

impl Source {
    fn open(&self) -> Result<Connection, Error> {
        match self {
            Source::Pool(client) => Ok(client.pool().get()?.detach()),
            Source::Opener(open) => (open.lock())(),
        }
    }
}

/// A reconnect running on a thread of its own, so that no read waits for it longer than
/// its timeout.
struct Connecting {
    result: mpsc::Receiver<Result<Connection, Error>>,
    /// When it started, or when a read last reported it as slow.
    since: Instant,
}

/// Publish/subscribe on a connection of its own (redis-py's `PubSub`).
///
/// Subscribing sends the command at once; the server's confirmations arrive as messages
/// ([`MessageKind::Subscribe`], ...), unless [`PubSub::ignore_subscribe_messages`] hides them.
/// Read with [`PubSub::get_message`] (a zero timeout never waits), iterate with
/// [`PubSub::listen`], or hand everything to handlers and a worker thread with
/// [`PubSub::run_in_thread`].
///
/// When the connection fails, it is made again (on a short-lived thread of its own, so that
/// no read waits for it longer than its timeout), every channel and pattern is subscribed
/// again, and the next read returns a [`MessageKind::Reconnected`] event, whichever call
/// found the failure or made the connection again: messages published meanwhile are lost
/// (publish/subscribe is at-most-once). A reconnect still running after 10 s (or after the
/// client's connect timeout, when that is longer) is reported by a read as a connect timeout
/// error, and goes on.
///
/// A subscription the server refuses (`NOPERM` from an ACL, for example) is forgotten when
/// its error arrives, and that read returns the error; one it refuses for a passing reason
/// (`LOADING`, `BUSY`, `TRYAGAIN`, `MASTERDOWN`, `CLUSTERDOWN`, or a cluster's `MOVED`/`ASK`)
/// stays recorded, and a reconnect makes it again.
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
    /// The reconnect under way, while `conn` is `None`.
    connecting: Option<Connecting>,
    /// How long a reconnect may run before a read reports it.
    reconnect_timeout: Duration,
    /// A reconnect happened and the caller has not been told yet.
    gap: bool,
    channels: Subscriptions,
    patterns: Subscriptions,
    shard_channels: Subscriptions,
    /// The commands sent on this connection still waiting for answers.
    sent: VecDeque<Sent>,
    ignore_subscribe_messages: bool,
    on_event: Option<Handler>,
    health_check_interval: Option<Duration>,
    last_health_check: Instant,
    /// When the health-check PING now unanswered was sent.
    awaiting_pong: Option<Instant>,
}

impl fmt::Debug for PubSub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PubSub")
            .field("connected", &self.conn.is_some())
            .field("reconnecting", &self.connecting.is_some())
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

/// Whether the server refused a subscription for a reason that passes (or a cluster
/// redirect, which the cluster's session follows itself): the subscription stays recorded.
fn refusal_passes(kind: ServerErrorKind) -> bool {
    matches!(
        kind,
        ServerErrorKind::Moved
            | ServerErrorKind::Ask
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::Loading
            | ServerErrorKind::Busy
            | ServerErrorKind::MasterDown
    )
}

impl PubSub {
    fn open(source: Source) -> Result<PubSub, Error> {
        let conn = source.open()?;
        let config = conn.config();
        // A zero interval means no health checks, as in a URL.
        let health_check_interval = config.health_check_interval().filter(|i| !i.is_zero());
        let reconnect_timeout = config
            .connect_timeout()
            .map_or(RECONNECT_TIMEOUT, |t| t.max(RECONNECT_TIMEOUT));
        Ok(PubSub {
            source,
            conn: Some(conn),
            connecting: None,
            reconnect_timeout,
            gap: false,
            channels: Subscriptions::default(),
            patterns: Subscriptions::default(),
            shard_channels: Subscriptions::default(),
            sent: VecDeque::new(),
            ignore_subscribe_messages: false,
            on_event: None,
            health_check_interval,
            last_health_check: Instant::now(),
            awaiting_pong: None,
        })
    }

    /// A session whose connections (the first one now, and any after a failure) come from
    /// `open`.
    pub(crate) fn with_opener(open: Opener) -> Result<PubSub, Error> {
        PubSub::open(Source::Opener(Arc::new(Mutex::new(open))))
    }

    /// Hides the server's (un)subscribe confirmations from [`PubSub::get_message`].
    pub fn ignore_subscribe_messages(&mut self, ignore: bool) -> &mut Self {
        self.ignore_subscribe_messages = ignore;
        self
    }

    /// Hands the session's events to `handler` instead of returning them from
    /// [`PubSub::get_message`]: [`MessageKind::Reconnected`] (messages may have been lost),
    /// the answers to [`PubSub::ping`], and the (un)subscribe confirmations unless
    /// [`PubSub::ignore_subscribe_messages`] hides them. Published messages are not events:
    /// they go to their channel's handler, or to the caller.
    ///
    /// This is how a [`PubSub::run_in_thread`] worker, which drops whatever no handler
    /// takes, tells its owner about reconnects.
    pub fn on_event(&mut self, handler: impl FnMut(&Message) + Send + 'static) -> &mut Self {
        self.on_event = Some(Box::new(handler));
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
    ///
    /// The handlers stay until the server confirms, so that messages already on their way
    /// still reach them.
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
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }

    /// Sends PING; the answer arrives as a [`MessageKind::Pong`] message.
    ///
    /// While the connection is being made again, this waits for it, at most 10 s (or the
    /// connect timeout, when longer), and fails with a timeout after that.
    pub fn ping(&mut self) -> Result<(), Error> {
        if self.conn.is_none() && !self.reconnect(self.reconnect_timeout)? {
            return Err(reconnect_timeout());
        }
        let mut cmd = Cmd::new();
        cmd.arg("PING");
        self.send(&cmd, Request::Ping, Vec::new(), Some(1))
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
    ///
    /// The names are recorded before anything is sent: when the connection is lost (the
    /// command cannot be written, or a reconnect is under way), the error is returned and the
    /// reconnect subscribes to them.
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
        let mut names = Vec::with_capacity(subscriptions.len());
        let set = self.set(family);
        for (name, handler) in subscriptions {
            cmd.arg(&name);
            set.insert(name.clone(), handler);
            names.push(name);
        }
        if self.conn.is_none() {
            // The reconnect subscribes to everything recorded, these names too.
            self.reconnect(Duration::ZERO)?;
            return Ok(());
        }
        let due = Some(names.len());
        self.send(&cmd, Request::Subscribe(family), names, due)
    }

    /// Forgets a subscription the server already ended (nothing is sent); gives its handler
    /// back, `None` when it was not subscribed.
    pub(crate) fn forget(&mut self, family: Family, name: &[u8]) -> Option<Option<Handler>> {
        self.set(family).forget(name)
    }

    /// Forgets every subscription (nothing is sent) and gives them back with their handlers.
    pub(crate) fn forget_all(&mut self) -> Vec<(Family, Bytes, Option<Handler>)> {
        let mut all = Vec::new();
        for family in [Family::Channel, Family::Pattern, Family::Shard] {
            let set = self.set(family).take_wanted();
            all.extend(set.into_iter().map(|(name, h)| (family, name, h)));
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
        set.contains(name)
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
        if self.conn.is_none() {
            // No connection, no subscription on the server: nothing will confirm, and the
            // reconnect will not make these again.
            self.set(family).drop_names(&removed);
            return Ok(());
        }
        // The handlers stay until the server confirms (messages already on their way reach
        // them); the names are no longer subscribed for the caller, nor made again by a
        // reconnect.
        self.set(family).leave(&removed);
        let due = (!removed.is_empty()).then_some(removed.len());
        self.send(&cmd, Request::Unsubscribe(family), Vec::new(), due)
    }

    /// Sends a command on the subscribed connection, which must be there; no reply is
    /// awaited (the answer comes as a message). A failed write loses the connection.
    fn send(
        &mut self,
        cmd: &Cmd,
        request: Request,
        names: Vec<Bytes>,
        due: Option<usize>,
    ) -> Result<(), Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::InvalidRequest(
                "the publish/subscribe connection is closed".to_owned(),
            ));
        };
        if let Err(e) = conn.send_with(0, |buf| cmd.write_packed(buf)) {
            self.lost();
            return Err(e.into());
        }
        self.sent.push_back(Sent {
            request,
            names,
            due,
            answered: false,
        });
        Ok(())
    }

    /// The connection is gone: the next read (or subscription) starts a reconnect.
    fn lost(&mut self) {
        self.conn = None;
        self.sent.clear();
        self.awaiting_pong = None;
    }

    /// Makes the connection again: starts a reconnect on a thread of its own unless one is
    /// under way, and waits for it at most `wait`. `Ok(true)` once the new connection is
    /// there and every subscription sent on it again (the next read returns the
    /// [`MessageKind::Reconnected`] event); `Ok(false)` while it goes on. A failed reconnect
    /// is returned as the error, and the next call starts another; one still running after
    /// the reconnect timeout is reported as a connect timeout (once per such period) and goes
    /// on.
    fn reconnect(&mut self, wait: Duration) -> Result<bool, Error> {
        let connecting = match &mut self.connecting {
            Some(connecting) => connecting,
            None => self.connecting.insert(start_connect(&self.source)),
        };
        // A long wait still reports a reconnect that takes too long.
        let wait = wait.min(
            self.reconnect_timeout
                .saturating_sub(connecting.since.elapsed()),
        );
        let received = if wait.is_zero() {
            connecting.result.try_recv().map_err(|e| match e {
                mpsc::TryRecvError::Empty => mpsc::RecvTimeoutError::Timeout,
                mpsc::TryRecvError::Disconnected => mpsc::RecvTimeoutError::Disconnected,
            })
        } else {
            connecting.result.recv_timeout(wait)
        };
        match received {
            Ok(result) => {
                self.connecting = None;
                self.install(result?)?;
                Ok(true)
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if connecting.since.elapsed() >= self.reconnect_timeout {
                    connecting.since = Instant::now();
                    return Err(reconnect_timeout());
                }
                Ok(false)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.connecting = None;
                Err(Error::InvalidRequest(
                    "the publish/subscribe reconnect ended without a connection (it panicked)"
                        .to_owned(),
                ))
            }
        }
    }

    /// Takes a new connection into use: subscribes to everything again on it.
    fn install(&mut self, mut conn: Connection) -> Result<(), Error> {
        self.sent.clear();
        self.awaiting_pong = None;
        for family in [Family::Channel, Family::Pattern, Family::Shard] {
            let set = self.set(family);
            set.reset();
            let names = set.names();
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
                cmd.arg(family.subscribe()).args(&names);
                conn.send_with(0, |buf| cmd.write_packed(buf))?;
                self.sent.push_back(Sent {
                    request: Request::Subscribe(family),
                    due: Some(names.len()),
                    names,
                    answered: false,
                });
            }
        }
        self.conn = Some(conn);
        self.last_health_check = Instant::now();
        self.gap = true;
        Ok(())
    }

    /// The next message for the caller, waiting up to `timeout` (`Duration::ZERO` never
    /// waits: it returns what has already arrived, or `None`).
    ///
    /// Messages taken by a handler, events taken by [`PubSub::on_event`] and confirmations
    /// hidden by [`PubSub::ignore_subscribe_messages`] are consumed on the way; once the
    /// timeout has passed, at most 64 more of them that have already arrived are, and the
    /// read returns `None`: a steady stream of handled messages cannot keep it going. Push
    /// messages of kinds this client does not know (a RESP3 `invalidate` of client-side
    /// caching redirected here, kinds of later servers) are skipped.
    ///
    /// After a lost connection it reconnects (waiting for that no longer than `timeout`),
    /// resubscribes and returns a [`MessageKind::Reconnected`] event; if reconnecting fails,
    /// the error is returned and the next call tries again.
    pub fn get_message(&mut self, timeout: Duration) -> Result<Option<Message>, Error> {
        // A timeout too long for the clock (`Duration::MAX`) waits without a deadline.
        let deadline = Instant::now().checked_add(timeout);
        let mut past_deadline = 0;
        loop {
            let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
            let consumed = match self.next_event(left)? {
                Event::Message(message) => return Ok(Some(message)),
                Event::Consumed => true,
                // A wait cut short by a health check goes on until the deadline.
                Event::Nothing => false,
                // A lost connection: the next round starts the reconnect.
                Event::Lost => continue,
            };
            if left.is_zero() || deadline.is_some_and(|d| Instant::now() >= d) {
                past_deadline += 1;
                if !consumed || past_deadline > PAST_DEADLINE_EVENTS {
                    return Ok(None);
                }
            }
        }
    }

    /// One read: a message for the caller, one consumed here, or nothing in time.
    fn next_event(&mut self, timeout: Duration) -> Result<Event, Error> {
        if self.conn.is_none() && !self.reconnect(timeout)? {
            return Ok(Event::Nothing);
        }
        // A reconnect, whoever made it, is told before anything read on the new connection.
        if std::mem::take(&mut self.gap) {
            return Ok(self.deliver(Message::reconnected()));
        }
        self.health_check()?;
        // With health checks on, wake up in time for the next one.
        let wait = self
            .health_check_interval
            .map_or(timeout, |i| timeout.min(i));
        let received = match self.conn.as_mut() {
            Some(conn) => conn.next_value(wait),
            // The health check's PING could not be written.
            None => return Ok(Event::Lost),
        };
        let value = match received {
            Ok(Some(value)) => value,
            Ok(None) if self.pong_overdue() => {
                // The server did not answer the health check: treat it as gone.
                self.lost();
                return Ok(Event::Lost);
            }
            Ok(None) => return Ok(Event::Nothing),
            Err(e) if e.is_connection() || matches!(e, redis_conn::Error::Broken) => {
                self.lost();
                return Ok(Event::Lost);
            }
            Err(e) => {
                self.lost();
                return Err(e.into());
            }
        };
        match Message::parse(value) {
            Ok(Some(message)) => Ok(self.dispatch(message)),
            Ok(None) => Ok(Event::Consumed),
            Err(Error::Server(e)) => {
                self.refused(e.kind());
                Err(Error::Server(e))
            }
            Err(e) => Err(e),
        }
    }

    /// An error answered the first command not answered yet: a subscription it refused for
    /// good is forgotten.
    fn refused(&mut self, kind: ServerErrorKind) {
        // An unsubscribe from everything has all its answers once another answer comes.
        while self
            .sent
            .front()
            .is_some_and(|s| s.due.is_none() && s.answered)
        {
            self.sent.pop_front();
        }
        let Some(sent) = self.sent.pop_front() else {
            return;
        };
        if sent.answered {
            // Errors answer a whole command: the account of what was sent is off.
            self.sent.clear();
            return;
        }
        if let Request::Subscribe(family) = sent.request
            && !refusal_passes(kind)
        {
            self.set(family).refused(&sent.names);
        }
    }

    /// Counts an answer to a command sent; an answer to nothing sent (the server ending a
    /// subscription itself) changes nothing.
    fn answered(&mut self, request: Request) {
        while let Some(front) = self.sent.front_mut() {
            if front.request == request {
                front.answered = true;
                if let Some(due) = &mut front.due {
                    *due = due.saturating_sub(1);
                    if *due == 0 {
                        self.sent.pop_front();
                    }
                }
                return;
            }
            if front.due.is_none() && front.answered {
                self.sent.pop_front();
                continue;
            }
            return;
        }
    }

    /// Keeps the account of subscriptions, runs the handler of the message's channel or
    /// pattern, if any, and gives events to the event handler; what remains is for the
    /// caller.
    fn dispatch(&mut self, message: Message) -> Event {
        if let Some(request) = message.kind.answers() {
            self.answered(request);
            match request {
                Request::Subscribe(family) => self.set(family).confirmed(&message.channel),
                Request::Unsubscribe(family) => self.set(family).unsubscribed(&message.channel),
                Request::Ping => {}
            }
        }
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
            return Event::Consumed;
        }
        if message.kind.is_published() {
            return Event::Message(message);
        }
        if self.ignore_subscribe_messages && message.kind.is_subscription_change() {
            return Event::Consumed;
        }
        if message.kind == MessageKind::Pong && message.payload == HEALTH_CHECK.as_bytes() {
            self.awaiting_pong = None;
            return Event::Consumed;
        }
        self.deliver(message)
    }

    /// An event of the session: to the event handler, or to the caller.
    fn deliver(&mut self, message: Message) -> Event {
        match deliver_event(&mut self.on_event, message) {
            Some(message) => Event::Message(message),
            None => Event::Consumed,
        }
    }

    /// PINGs when the connection sat idle longer than the health-check interval, so that a
    /// dead connection is found even when no message arrives. A PING that cannot be written
    /// loses the connection.
    fn health_check(&mut self) -> Result<(), Error> {
        let Some(interval) = self.health_check_interval else {
            return Ok(());
        };
        if self.awaiting_pong.is_some() {
            return Ok(());
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
            match self.send(&cmd, Request::Ping, Vec::new(), Some(1)) {
                Ok(()) => self.awaiting_pong = Some(self.last_health_check),
                // The connection is lost; the caller reconnects.
                Err(Error::Connection(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the health-check PING counts as unanswered, judged after a read found nothing
    /// more to read: it was sent an interval ago or more, and nothing at all has arrived for
    /// an interval. The time the caller spends away from the session does not count against
    /// the server: an answer that arrived meanwhile is read before this is asked.
    fn pong_overdue(&self) -> bool {
        let (Some(interval), Some(sent), Some(conn)) = (
            self.health_check_interval,
            self.awaiting_pong,
            self.conn.as_ref(),
        ) else {
            return false;
        };
        sent.elapsed() >= interval && conn.last_used().elapsed() >= interval
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
    /// ends the worker and [`PubSubWorker::stop`] returns it. Events
    /// ([`MessageKind::Reconnected`]: messages may have been lost; confirmations; PONGs) go
    /// to the handler set with [`PubSub::on_event`]; without one, the worker drops them.
    ///
    /// `poll` bounds how long the worker waits for a message before it checks whether it was
    /// asked to stop: it blocks in the socket read meanwhile and never spins. A stream of
    /// handled messages does not delay a stop by more than 64 handler calls.
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
            .flat_map(|set| set.wanted().filter(|(_, s)| s.handler.is_none()))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// Hands an event of a session to `on_event`, or gives it back for the caller when there is
/// no event handler (also for the cluster's sessions).
pub(crate) fn deliver_event(on_event: &mut Option<Handler>, message: Message) -> Option<Message> {
    match on_event.as_mut() {
        Some(handler) => {
            handler(&message);
            None
        }
        None => Some(message),
    }
}

/// The error of a reconnect that takes too long.
fn reconnect_timeout() -> Error {
    Error::Connection(redis_conn::Error::Timeout(Phase::Connecting))
}

/// Opens a connection from `source` on a thread of its own; the result arrives on the
/// channel. When no thread can be started, opens it here.
fn start_connect(source: &Source) -> Connecting {
    let (tx, rx) = mpsc::channel();
    let thread_source = source.clone();
    let thread_tx = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("redis-pubsub-connect".to_owned())
        .spawn(move || {
            // Nobody waits any more when the session was dropped meanwhile: the connection
            // is closed.
            let _ = thread_tx.send(thread_source.open());
        });
    if spawned.is_err() {
        let _ = tx.send(source.open());
    }
    Connecting {
        result: rx,
        since: Instant::now(),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use redis_conn::ConnectionConfig;

    use super::*;

    fn push(items: &[&str]) -> Value {
        Value::Push(
            items
                .iter()
                .map(|s| Value::BulkString(Bytes::copy_from_slice(s.as_bytes())))
                .collect::<Vec<_>>()
                .into(),
        )
    }

    #[test]
    fn pushes_of_unknown_kinds_are_skipped_not_errors() {
        assert_eq!(Message::parse(push(&["invalidate", "k"])).unwrap(), None);
        assert_eq!(
            Message::parse(push(&["future-kind", "a", "b"])).unwrap(),
            None
        );
        let known = Message::parse(push(&["message", "ch", "hi"]))
            .unwrap()
            .unwrap();
        assert_eq!(known.kind, MessageKind::Message);
        assert_eq!(known.payload_str(), Some("hi"));
    }

    fn counting_handler(count: &Arc<AtomicUsize>) -> Option<Handler> {
        let count = Arc::clone(count);
        Some(Box::new(move |_m: &Message| {
            count.fetch_add(1, Ordering::Relaxed);
        }))
    }

    #[test]
    fn a_handler_stays_until_the_unsubscribe_is_confirmed() {
        let count = Arc::new(AtomicUsize::new(0));
        let mut set = Subscriptions::default();
        set.insert(Bytes::from("a"), counting_handler(&count));
        set.confirmed(b"a");
        set.leave(&[Bytes::from("a")]);
        assert!(
            set.names().is_empty(),
            "no longer subscribed for the caller"
        );
        assert!(
            set.handler(b"a").is_some(),
            "messages on the way still reach it"
        );
        set.unsubscribed(b"a");
        assert!(set.handler(b"a").is_none());
        assert!(set.0.is_empty());
    }

    #[test]
    fn subscribing_again_before_the_unsubscribe_is_confirmed_keeps_the_subscription() {
        let mut set = Subscriptions::default();
        set.insert(Bytes::from("a"), None);
        set.confirmed(b"a");
        set.leave(&[]);
        set.insert(Bytes::from("a"), None);
        set.unsubscribed(b"a");
        assert_eq!(set.names(), [Bytes::from("a")]);
        // The unsubscribe was confirmed: a refusal of the new subscribe leaves nothing.
        set.refused(&[Bytes::from("a")]);
        assert!(set.names().is_empty());
    }

    #[test]
    fn a_refused_subscription_is_forgotten_unless_it_was_confirmed() {
        let mut set = Subscriptions::default();
        set.insert(Bytes::from("old"), None);
        set.confirmed(b"old");
        set.insert(Bytes::from("old"), None);
        set.insert(Bytes::from("new"), None);
        set.refused(&[Bytes::from("old"), Bytes::from("new")]);
        assert_eq!(set.names(), [Bytes::from("old")]);
    }

    #[test]
    fn an_unsubscribe_the_server_sends_by_itself_keeps_the_subscription() {
        // A cluster node ends shard subscriptions when their slot moves; the cluster session
        // moves them (and their handlers) to the new owner.
        let count = Arc::new(AtomicUsize::new(0));
        let mut set = Subscriptions::default();
        set.insert(Bytes::from("s"), counting_handler(&count));
        set.unsubscribed(b"s");
        assert_eq!(set.names(), [Bytes::from("s")]);
        assert!(matches!(set.forget(b"s"), Some(Some(_))));
    }

    #[test]
    fn a_reconnect_drops_what_was_being_left() {
        let mut set = Subscriptions::default();
        set.insert(Bytes::from("keep"), None);
        set.insert(Bytes::from("leave"), None);
        set.leave(&[Bytes::from("leave")]);
        set.reset();
        assert_eq!(
            set.0.keys().cloned().collect::<Vec<_>>(),
            [Bytes::from("keep")]
        );
    }

    #[test]
    fn a_zero_health_check_interval_from_the_builder_is_off() {
        let config = ConnectionConfig::builder()
            .health_check_interval(Duration::ZERO)
            .build();
        assert_eq!(config.health_check_interval(), None);
        let config = ConnectionConfig::builder()
            .health_check_interval(Duration::from_secs(3))
            .build();
        assert_eq!(config.health_check_interval(), Some(Duration::from_secs(3)));
        let url = ConnectionConfig::from_url("redis://localhost/?health_check_interval=0").unwrap();
        assert_eq!(
            url.health_check_interval(),
            config_off().health_check_interval()
        );
    }

    fn config_off() -> ConnectionConfig {
        ConnectionConfig::builder()
            .health_check_interval(Duration::ZERO)
            .build()
    }
}
