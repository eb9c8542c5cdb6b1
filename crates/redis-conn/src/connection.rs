//! [`Connection`]: one socket, one decoder, one request at a time.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use resp_proto::{Decoder, Protocol, Value};

use crate::config::{Address, ConnectionConfig};
use crate::error::{Error, Phase, ServerError, ServerErrorKind};
use crate::tls;
use crate::transport::{self, Transport};

/// Smallest free space offered to a read system call.
const MIN_READ: usize = 1024;
/// Replies larger than this leave the connection with a fresh small read buffer.
const MAX_RETAINED: usize = 64 * 1024;
/// Largest free space zero-filled and offered to one read system call.
const MAX_READ: usize = 1024 * 1024;
/// A top-level bulk reply larger than [`MAX_RETAINED`] and up to this size (header and
/// trailer included) gets a buffer of its whole size once enough of it has arrived (see
/// [`PREALLOC_FACTOR`]), instead of one that doubles (and copies) as it streams in. Larger
/// announced sizes are not trusted: their buffer grows with what actually arrives.
const PREALLOC_LIMIT: usize = 8 * 1024 * 1024;
/// The buffer for such a reply grows to at most this many times the bytes already received:
/// memory follows what arrived, not what a header announces.
const PREALLOC_FACTOR: usize = 32;

/// One connection to a server, after its handshake.
///
/// # Driving it
///
/// Write a request with [`Connection::send`] (one command) or [`Connection::send_packed`]
/// (bytes already encoded, any number of commands, one write system call), then read exactly
/// one reply per command with [`Connection::read_reply`]. [`Connection::request`] does both for
/// one command. RESP3 push messages that arrive in between are kept apart and read with
/// [`Connection::next_push`].
///
/// Any I/O error, timeout or protocol error while a request is in flight *breaks* the
/// connection: the socket is shut down, and every later call returns [`Error::Broken`]. A
/// late reply can therefore never be read as the answer to a later request. A server error
/// reply does not break it.
///
/// ```no_run
/// use redis_conn::{Connection, ConnectionConfig};
///
/// let config = ConnectionConfig::from_url("redis://127.0.0.1:6379/0")?;
/// let mut conn = Connection::open(&config)?;
/// conn.request(&["SET", "greeting", "hello"])?;
/// let reply = conn.request(&["GET", "greeting"])?;
/// assert_eq!(reply.as_bytes().map(|b| &b[..]), Some(&b"hello"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection {
    transport: Box<dyn Transport>,
    config: Arc<ConnectionConfig>,
    /// Whether this connection can open a new socket to the same server by itself.
    reconnectable: bool,
    decoder: Decoder,
    read_buf: BytesMut,
    write_buf: Vec<u8>,
    pushes: VecDeque<Value>,
    /// How many bytes the next read offers to the kernel.
    read_size: usize,
    /// The size of the last reply decoded: the first read of the next reply offers room for
    /// one as large (up to [`MAX_RETAINED`]), so that a client asking the same question again
    /// (LRANGE of a thousand elements) reads its answer with one system call, not five
    /// doubling ones.
    last_reply_len: usize,
    /// Replies expected for commands sent and not read yet.
    awaiting: usize,
    broken: bool,
    last_used: Instant,
    /// The read timeout [`Connection::next_value`] left on the socket for its waits; `None`
    /// while the socket has the configured one. Replies restore it before they are read.
    wait_timeout: Option<Duration>,
    /// While the handshake runs: when the connect timeout (started before the TCP connect)
    /// ends. Each read gets the time left, so a server that answers a byte at a time cannot
    /// stretch connecting past it.
    handshake_deadline: Option<Instant>,
}

/// Shows where the connection goes and its state, never its buffers: the write buffer can hold
/// the handshake's password.
impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("address", self.config.address())
            .field("db", &self.config.db())
            .field("protocol", &self.config.protocol())
            .field("broken", &self.broken)
            .field("buffered_bytes", &self.read_buf.len())
            .field("read_capacity", &self.read_buf.capacity())
            .field("pending_pushes", &self.pushes.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to the configured server and runs the handshake (AUTH or HELLO, CLIENT
    /// SETNAME, SELECT) in one round trip.
    pub fn open(config: &ConnectionConfig) -> Result<Connection, Error> {
        Self::open_shared(Arc::new(config.clone()))
    }

    /// [`Connection::open`] with a configuration shared by many connections (a pool's).
    pub fn open_shared(config: Arc<ConnectionConfig>) -> Result<Connection, Error> {
        let (transport, deadline) = open_transport_retrying(&config)?;
        Self::start(transport, config, true, deadline)
    }

    /// Runs the handshake over a transport the caller connected, for example a tunnel. Such a
    /// connection cannot reconnect by itself, so a failed health check is an error.
    pub fn with_transport(
        transport: impl Transport + 'static,
        config: &ConnectionConfig,
    ) -> Result<Connection, Error> {
        let deadline = connect_deadline(config);
        Self::start(
            Box::new(transport),
            Arc::new(config.clone()),
            false,
            deadline,
        )
    }

    /// Runs the handshake (before `deadline`, where the connect timeout started) over a
    /// connected transport.
    fn start(
        transport: Box<dyn Transport>,
        config: Arc<ConnectionConfig>,
        reconnectable: bool,
        deadline: Option<Instant>,
    ) -> Result<Connection, Error> {
        let mut conn = Connection {
            transport,
            config,
            reconnectable,
            decoder: Decoder::new(),
            read_buf: BytesMut::with_capacity(MIN_READ),
            write_buf: Vec::with_capacity(1024),
            pushes: VecDeque::new(),
            read_size: MIN_READ,
            last_reply_len: 0,
            awaiting: 0,
            broken: false,
            last_used: Instant::now(),
            wait_timeout: None,
            handshake_deadline: None,
        };
        conn.handshake(deadline)?;
        conn.apply_timeouts()?;
        Ok(conn)
    }

    /// The configuration this connection was opened with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The protocol in use.
    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    /// Whether an earlier failure broke this connection.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Stops the health check from reconnecting in place: for a connection whose state was
    /// set up after the handshake (a cluster replica's `READONLY`), which a fresh socket
    /// would not have. A failed health check then fails, and a pool closes the connection
    /// and opens another through its connector.
    pub fn never_reconnect_in_place(&mut self) {
        self.reconnectable = false;
    }

    /// When a reply was last read, or bytes last arrived while waiting for push messages (or
    /// the connection opened).
    pub fn last_used(&self) -> Instant {
        self.last_used
    }

    /// A cheap check, without a round trip, that the connection is usable: not broken, no
    /// reply outstanding, no unread bytes or push messages, and (one non-blocking peek at the
    /// socket) the server has neither closed it nor sent anything unasked.
    pub fn is_idle(&mut self) -> bool {
        !self.broken && !self.has_pending() && self.transport.is_idle().unwrap_or(false)
    }

    /// Whether replies are still expected for commands sent, or bytes or push messages wait
    /// unread; no system call. A connection in this state must not serve another request.
    pub fn has_pending(&self) -> bool {
        self.awaiting > 0 || !self.read_buf.is_empty() || !self.pushes.is_empty()
    }

    /// Encodes one command and writes it.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<(), Error> {
        self.send_with(1, |buf| resp_proto::encode_command(buf, args))
    }

    /// Lets `encode` write commands into the connection's reusable buffer, then writes them
    /// with one system call. This is the allocation-free path for callers that encode
    /// themselves. `replies` is how many replies the commands will produce, so that the
    /// connection knows when none is outstanding.
    pub fn send_with(
        &mut self,
        replies: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Error> {
        self.usable()?;
        let mut buf = std::mem::take(&mut self.write_buf);
        buf.clear();
        encode(&mut buf);
        let result = self.write(&buf);
        self.write_buf = buf;
        self.awaiting += replies;
        result
    }

    /// Writes already encoded commands, which will produce `replies` replies, with one write
    /// system call (unless the kernel accepts only part of them).
    pub fn send_packed(&mut self, bytes: &[u8], replies: usize) -> Result<(), Error> {
        self.usable()?;
        self.awaiting += replies;
        self.write(bytes)
    }

    /// Reads the next reply. A server error reply is returned as a value
    /// ([`Value::Error`] or [`Value::BulkError`]); see [`Connection::request`] for the
    /// variant that turns it into an error.
    pub fn read_reply(&mut self) -> Result<Value, Error> {
        self.usable()?;
        self.restore_timeout()?;
        loop {
            let value = self.read_value()?;
            match value {
                Value::Push(_) if self.config.protocol == Protocol::Resp3 => {
                    self.pushes.push_back(value);
                }
                value => {
                    self.last_used = Instant::now();
                    self.awaiting = self.awaiting.saturating_sub(1);
                    return Ok(value);
                }
            }
        }
    }

    /// Reads the next `n` replies into `out` (a pipeline's): [`Connection::read_reply`] `n`
    /// times, with the bookkeeping done once.
    pub fn read_replies(&mut self, n: usize, out: &mut Vec<Value>) -> Result<(), Error> {
        self.usable()?;
        self.restore_timeout()?;
        out.reserve(n);
        let mut read = 0;
        while read < n {
            match self.read_value()? {
                value @ Value::Push(_) if self.config.protocol == Protocol::Resp3 => {
                    self.pushes.push_back(value);
                }
                value => {
                    out.push(value);
                    read += 1;
                    self.awaiting = self.awaiting.saturating_sub(1);
                }
            }
        }
        self.last_used = Instant::now();
        Ok(())
    }

    /// Sends one command and reads its reply; a server error reply becomes
    /// [`Error::Server`] and leaves the connection usable.
    pub fn request<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value, Error> {
        self.send(args)?;
        match self.read_reply()? {
            Value::Error(text) | Value::BulkError(text) => {
                Err(Error::Server(ServerError::parse(&text)))
            }
            value => Ok(value),
        }
    }

    /// The next RESP3 push message, waiting up to `timeout` for one (`Duration::ZERO` does not
    /// wait). Replies must not be pending while this waits: a reply that arrives instead
    /// breaks the connection, since no request is there to take it.
    pub fn next_push(&mut self, timeout: Duration) -> Result<Option<Value>, Error> {
        self.next_within(timeout, false)
    }

    /// The next value the server sends, whatever it is, waiting up to `timeout` for one
    /// (`Duration::ZERO` does not wait): for a connection that receives without asking, in
    /// subscribed mode (RESP2 messages are plain arrays) or after MONITOR. Push messages
    /// already queued come first. A timeout leaves the connection usable; a partial message
    /// stays buffered for the next call.
    pub fn next_value(&mut self, timeout: Duration) -> Result<Option<Value>, Error> {
        self.next_within(timeout, true)
    }

    fn next_within(&mut self, timeout: Duration, any: bool) -> Result<Option<Value>, Error> {
        self.usable()?;
        if let Some(push) = self.pushes.pop_front() {
            return Ok(Some(push));
        }
        if let Some(value) = self.decode_buffered()? {
            return self.accept_unsolicited(value, any).map(Some);
        }
        if timeout.is_zero() {
            match self.transport.is_idle() {
                Ok(true) => return Ok(None),
                Ok(false) => {}
                Err(e) => return Err(self.fail(Error::io(Phase::Reading, e))),
            }
        }
        let wait = timeout.max(Duration::from_millis(1));
        // Waiting in a loop (a subscriber) asks for nearly the same timeout every time: keep
        // the one set unless it is a millisecond off, saving two system calls per read.
        let close_enough = self
            .wait_timeout
            .is_some_and(|set| set.abs_diff(wait) < Duration::from_millis(1));
        if !close_enough {
            if let Err(e) = self.transport.set_read_timeout(Some(wait)) {
                return Err(self.fail(Error::io(Phase::Reading, e)));
            }
            self.wait_timeout = Some(wait);
        }
        match self.fill() {
            Ok(()) => self.last_used = Instant::now(),
            // Nothing arrived in time. The decoder keeps any partial message, so the stream
            // is still aligned and the connection usable.
            Err(Error::Timeout(_)) => {
                self.broken = false;
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        match self.decode_buffered()? {
            Some(value) => self.accept_unsolicited(value, any).map(Some),
            None => Ok(None),
        }
    }

    /// PINGs the server when the connection sat idle longer than the health-check interval;
    /// if that fails, reconnects once (a connection opened with
    /// [`Connection::with_transport`] cannot, and returns the error).
    pub fn check_health(&mut self, now: Instant) -> Result<(), Error> {
        let Some(interval) = self.config.health_check_interval else {
            return Ok(());
        };
        if now.saturating_duration_since(self.last_used) <= interval {
            return Ok(());
        }
        match self.ping() {
            Ok(()) => Ok(()),
            Err(first) if self.reconnectable && (first.is_connection() || self.broken) => {
                self.reconnect()?;
                self.ping()
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the socket with a new one to the same server and runs the handshake again.
    /// Unread replies and push messages of the old socket are dropped.
    pub fn reconnect(&mut self) -> Result<(), Error> {
        if !self.reconnectable {
            return Err(Error::Broken);
        }
        let (transport, deadline) = open_transport_retrying(&self.config)?;
        self.transport = transport;
        self.decoder.reset();
        self.read_buf.clear();
        self.pushes.clear();
        self.awaiting = 0;
        self.broken = false;
        self.last_used = Instant::now();
        self.handshake(deadline)?;
        self.apply_timeouts()
    }

    fn ping(&mut self) -> Result<(), Error> {
        match self.request(&[b"PING"])? {
            Value::SimpleString(s) if &s[..] == b"PONG" => Ok(()),
            other => Err(self.fail(Error::UnexpectedReply(format!(
                "health check PING answered {other:?}"
            )))),
        }
    }

    fn usable(&self) -> Result<(), Error> {
        if self.broken {
            Err(Error::Broken)
        } else {
            Ok(())
        }
    }

    /// Marks the connection broken and returns the error that broke it.
    fn fail(&mut self, error: Error) -> Error {
        self.broken = true;
        error
    }

    /// Sets the socket timeout for requests.
    fn apply_timeouts(&mut self) -> Result<(), Error> {
        self.set_timeouts(self.config.socket_timeout)
    }

    /// Puts the configured read timeout back after [`Connection::next_value`]'s waits.
    fn restore_timeout(&mut self) -> Result<(), Error> {
        if self.wait_timeout.take().is_some()
            && let Err(e) = self.transport.set_read_timeout(self.config.socket_timeout)
        {
            return Err(self.fail(Error::io(Phase::Reading, e)));
        }
        Ok(())
    }

    fn set_timeouts(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        self.wait_timeout = None;
        let result = self
            .transport
            .set_read_timeout(timeout)
            .and_then(|()| self.transport.set_write_timeout(timeout));
        result.map_err(|e| self.fail(Error::io(Phase::Connecting, e)))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let result = self
            .transport
            .write_all(bytes)
            .and_then(|()| self.transport.flush());
        result.map_err(|e| self.fail(Error::io(Phase::Writing, e)))
    }

    /// A value read while no reply is owed: a push, or with `any` whatever came. (The time it
    /// arrived was recorded by the read that brought it, once per read rather than per value:
    /// a subscriber takes many messages from one read.)
    fn accept_unsolicited(&mut self, value: Value, any: bool) -> Result<Value, Error> {
        match value {
            value @ Value::Push(_) => Ok(value),
            value if any => Ok(value),
            _ => Err(self.fail(Error::UnexpectedReply(
                "a reply arrived while no request was waiting for one".to_owned(),
            ))),
        }
    }

    fn decode_buffered(&mut self) -> Result<Option<Value>, Error> {
        let buffered = self.read_buf.len();
        match self.decoder.decode(&mut self.read_buf) {
            Ok(Some(value)) => {
                self.last_reply_len = buffered - self.read_buf.len();
                // A large reply's buffer now belongs to the value; start a small one rather
                // than let this connection keep (and later reclaim) the large allocation.
                if self.read_buf.is_empty() && buffered > MAX_RETAINED {
                    self.read_buf = BytesMut::with_capacity(MIN_READ);
                }
                Ok(Some(value))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(Error::Protocol(e))),
        }
    }

    /// Reads until one value is decoded.
    fn read_value(&mut self) -> Result<Value, Error> {
        loop {
            if let Some(value) = self.decode_buffered()? {
                return Ok(value);
            }
            self.fill()?;
        }
    }

    /// One read system call into the read buffer.
    ///
    /// The space offered is zero-filled first (safe code cannot read into uninitialised
    /// memory), so its size adapts: it doubles after a read that filled it (a large reply is
    /// streaming in) and falls back to the minimum otherwise, so small replies cost little.
    /// The first read of a reply offers room for one as large as the last reply.
    fn fill(&mut self) -> Result<(), Error> {
        if self.handshake_deadline.is_some() {
            self.bound_handshake_read()?;
        }
        let len = self.read_buf.len();
        let mut room = self.read_size;
        if len == 0 {
            // The start of a reply: its size is not known yet. Expect one as large as the
            // last (with room to spare, so that one of the same size does not fill the read
            // and look like the start of a larger one), but do not start bigger than a
            // retained buffer.
            room = room.max(self.last_reply_len + MIN_READ).min(MAX_RETAINED);
        }
        if let Some(total) = bulk_reply_size(&self.read_buf)
            && total > len
            && total > MAX_RETAINED
            && total <= PREALLOC_LIMIT
        {
            // The rest of a bulk reply of known size: a buffer of that size (a fresh one:
            // growing the old one would double it), and reads that never ask for more. The
            // size is trusted only as far as what has arrived supports it (a header alone
            // cannot make a connection reserve megabytes): the buffer grows to at most
            // PREALLOC_FACTOR times the bytes received.
            let size = total.min(len.saturating_mul(PREALLOC_FACTOR).max(MAX_RETAINED));
            if self.read_buf.capacity() < size {
                let mut fresh = BytesMut::with_capacity(size);
                fresh.extend_from_slice(&self.read_buf);
                self.read_buf = fresh;
            }
            room = room.min(size - len);
        }
        self.read_buf.reserve(room);
        self.read_buf.resize(len + room, 0);
        loop {
            match self.transport.read(&mut self.read_buf[len..]) {
                Ok(0) => {
                    self.read_buf.truncate(len);
                    return Err(self.fail(Error::Closed(Phase::Reading)));
                }
                Ok(n) => {
                    self.read_buf.truncate(len + n);
                    self.read_size = if n == room {
                        (room * 2).min(MAX_READ)
                    } else {
                        MIN_READ
                    };
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.read_buf.truncate(len);
                    return Err(self.fail(Error::io(Phase::Reading, e)));
                }
            }
        }
    }

    /// Gives the next read of the handshake what is left of its deadline.
    #[cold]
    fn bound_handshake_read(&mut self) -> Result<(), Error> {
        let left = transport::time_left(self.handshake_deadline, Phase::Handshake)
            .map_err(|e| self.fail(e))?;
        let result = self.transport.set_read_timeout(left);
        result.map_err(|e| self.fail(Error::io(Phase::Handshake, e)))
    }

    /// AUTH/HELLO, CLIENT SETNAME and SELECT, pipelined in one round trip, finished before
    /// `deadline`.
    fn handshake(&mut self, deadline: Option<Instant>) -> Result<(), Error> {
        self.handshake_deadline = deadline;
        let result = self.handshake_exchange();
        self.handshake_deadline = None;
        result
    }

    fn handshake_exchange(&mut self) -> Result<(), Error> {
        let config = Arc::clone(&self.config);
        let password = config.password.as_ref().map(|p| p.expose());
        let credentials = match (config.username.as_deref(), password) {
            (None, None) => None,
            (user, password) => Some((user, password.unwrap_or(""))),
        };
        let db = config.db.to_string();
        let mut steps = Vec::new();
        let mut buf = Vec::new();
        if config.protocol == Protocol::Resp3 {
            let mut args: Vec<&str> = vec!["HELLO", "3"];
            if let Some((user, password)) = credentials {
                args.extend(["AUTH", user.unwrap_or("default"), password]);
            }
            if let Some(name) = config.client_name.as_deref() {
                args.extend(["SETNAME", name]);
            }
            resp_proto::encode_command(&mut buf, &args);
            steps.push(Step::Hello);
        } else {
            match credentials {
                Some((Some(user), password)) => {
                    resp_proto::encode_command(&mut buf, ["AUTH", user, password]);
                    steps.push(Step::Auth);
                }
                Some((None, password)) => {
                    resp_proto::encode_command(&mut buf, ["AUTH", password]);
                    steps.push(Step::Auth);
                }
                None => {}
            }
            if let Some(name) = config.client_name.as_deref() {
                resp_proto::encode_command(&mut buf, ["CLIENT", "SETNAME", name]);
                steps.push(Step::SetName);
            }
        }
        if config.db != 0 {
            resp_proto::encode_command(&mut buf, ["SELECT", db.as_str()]);
            steps.push(Step::Select);
        }
        if steps.is_empty() {
            return Ok(());
        }
        // The handshake is part of connecting: what is left of the connect timeout bounds it.
        let left = transport::time_left(self.handshake_deadline, Phase::Handshake)
            .map_err(|e| self.fail(e))?;
        self.set_timeouts(left)?;
        self.write(&buf).map_err(Error::in_handshake)?;
        // Read every reply, even after a failure, then report the first failure.
        let mut failure = None;
        for step in steps {
            let reply = self.read_reply().map_err(Error::in_handshake)?;
            if failure.is_some() {
                continue;
            }
            let secrets = [password.unwrap_or("")];
            failure = match (step, reply) {
                (_, Value::Error(text) | Value::BulkError(text)) => {
                    let error = ServerError::parse(&text).scrub(&secrets);
                    Some(step.error(error))
                }
                (Step::Hello, Value::Map(_)) => None,
                (Step::Hello, other) => Some(Error::UnexpectedReply(format!(
                    "HELLO answered {}",
                    kind(&other)
                ))),
                (_, Value::SimpleString(ok)) if &ok[..] == b"OK" => None,
                (_, other) => Some(Error::UnexpectedReply(format!(
                    "{} answered {}",
                    step.command(),
                    kind(&other)
                ))),
            };
        }
        match failure {
            None => Ok(()),
            Some(error) => {
                let _ = self.transport.flush();
                Err(self.fail(error))
            }
        }
    }
}

/// The shape of a reply, for error messages that must not echo its content.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::SimpleString(_) => "a simple string",
        Value::Integer(_) => "an integer",
        Value::BulkString(_) => "a bulk string",
        Value::Null => "null",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unexpected type",
    }
}

/// A handshake command.
#[derive(Debug, Clone, Copy)]
enum Step {
    Hello,
    Auth,
    SetName,
    Select,
}

impl Step {
    fn command(self) -> &'static str {
        match self {
            Step::Hello => "HELLO",
            Step::Auth => "AUTH",
            Step::SetName => "CLIENT SETNAME",
            Step::Select => "SELECT",
        }
    }

    fn error(self, error: ServerError) -> Error {
        let auth_failure = matches!(
            error.kind(),
            ServerErrorKind::WrongPass | ServerErrorKind::NoAuth | ServerErrorKind::NoPerm
        ) || error.message().contains("password");
        match self {
            Step::Hello if error.kind() == ServerErrorKind::NoProto => Error::NoProto(error),
            Step::Hello if error.message().contains("unknown command") => Error::NoProto(error),
            Step::Hello | Step::Auth if auth_failure => Error::Auth(error),
            // "ERR max number of clients reached" and the like answer the first command of a
            // connection whatever it is: they are not about the credentials.
            Step::Auth if error.kind() == ServerErrorKind::Err => Error::Server(error),
            Step::Auth => Error::Auth(error),
            _ => Error::Server(error),
        }
    }
}

/// The whole size (header, payload, trailer) of the bulk string reply at the start of `buf`,
/// once its header has arrived (`$1048576\r\n`); `None` for anything else.
fn bulk_reply_size(buf: &[u8]) -> Option<usize> {
    let rest = buf.strip_prefix(b"$")?;
    let end = rest.iter().take(21).position(|&b| b == b'\r')?;
    let len: usize = std::str::from_utf8(&rest[..end]).ok()?.parse().ok()?;
    // `$` + digits + CRLF + payload + CRLF.
    1usize
        .checked_add(end)?
        .checked_add(2)?
        .checked_add(len)?
        .checked_add(2)
}

/// When a connect that starts now must have finished: the connect timeout covers the name
/// lookup, the TCP connect, the TLS handshake and the Redis handshake together. `None` when
/// there is no timeout (or one too large to add).
fn connect_deadline(config: &ConnectionConfig) -> Option<Instant> {
    config
        .connect_timeout()
        .and_then(|t| Instant::now().checked_add(t))
}

/// [`open_transport`], tried again on failures that happen before anything is sent; each try
/// has its own deadline, returned with the transport for the handshake that follows.
fn open_transport_retrying(
    config: &ConnectionConfig,
) -> Result<(Box<dyn Transport>, Option<Instant>), Error> {
    let mut pause = Duration::from_millis(50);
    let mut retries_left = config.connect_retries;
    loop {
        let deadline = connect_deadline(config);
        match open_transport(config, deadline).map(|transport| (transport, deadline)) {
            Err(
                Error::Connect { .. } | Error::Resolve { .. } | Error::Timeout(Phase::Connecting),
            ) if retries_left > 0 => {
                retries_left -= 1;
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

fn open_transport(
    config: &ConnectionConfig,
    deadline: Option<Instant>,
) -> Result<Box<dyn Transport>, Error> {
    let stream: Box<dyn Transport> = match &config.address {
        Address::Tcp { host, port } => {
            let stream = transport::connect_tcp(host, *port, deadline, config.keepalive.as_ref())?;
            match &config.tls {
                Some(tls) => Box::new(tls::connect(stream, host, tls, deadline)?),
                None => Box::new(stream),
            }
        }
        Address::Unix(path) => {
            if config.tls.is_some() {
                return Err(Error::Tls(
                    "TLS over a Unix socket is not supported".to_owned(),
                ));
            }
            let left = transport::time_left(deadline, Phase::Connecting)?;
            Box::new(transport::connect_unix(path, left)?)
        }
    };
    Ok(stream)
}
