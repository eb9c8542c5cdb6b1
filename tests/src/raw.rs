//! [`RawConnection`]: a minimal blocking RESP connection for tests, with nothing between the
//! socket and [`resp_proto::Decoder`] (no handshake, no retries, no command knowledge).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use resp_proto::{Decoder, Limits, Value};

/// Read timeout a new [`RawConnection`] puts on its socket (and its write timeout).
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bound on the time [`RawConnection::read_value`] spends on one reply, however the bytes
/// trickle in.
pub const REPLY_DEADLINE: Duration = Duration::from_secs(60);

/// How much spare room the read buffer gets before each read.
const READ_CHUNK: usize = 64 * 1024;

/// Why [`RawConnection::read_value`] returned no value.
#[derive(Debug)]
#[non_exhaustive]
pub enum RawError {
    /// Reading or writing failed; a read timeout shows up here as `WouldBlock` or `TimedOut`
    /// (see [`RawError::is_timeout`]).
    Io(io::Error),
    /// The bytes are not valid RESP, or exceed the decoder's [`Limits`]. The decoder stays
    /// failed: the connection is of no further use.
    Protocol(resp_proto::Error),
    /// The peer closed the connection before a complete reply arrived.
    Closed {
        /// Bytes of the incomplete reply received before the close.
        buffered: usize,
    },
    /// The reply did not complete within [`REPLY_DEADLINE`].
    Deadline,
}

impl RawError {
    /// Whether this is a socket read (or write) timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RawError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }

    /// The decoder error, when this is one.
    pub fn protocol(&self) -> Option<&resp_proto::Error> {
        match self {
            RawError::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawError::Io(e) => write!(f, "I/O error: {e}"),
            RawError::Protocol(e) => write!(f, "protocol error: {e}"),
            RawError::Closed { buffered } => write!(
                f,
                "connection closed by the peer with {buffered} bytes of an incomplete reply"
            ),
            RawError::Deadline => write!(f, "no complete reply within {REPLY_DEADLINE:?}"),
        }
    }
}

impl std::error::Error for RawError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RawError::Io(e) => Some(e),
            RawError::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RawError {
    fn from(e: io::Error) -> Self {
        RawError::Io(e)
    }
}

/// The socket under a [`RawConnection`].
#[derive(Debug)]
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            Stream::Unix(s) => s.set_write_timeout(timeout),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// A blocking connection that writes commands with [`resp_proto::encode_command`] and reads
/// replies with a [`resp_proto::Decoder`] over one growing [`BytesMut`].
///
/// Reads and writes time out after 5 s by default ([`set_read_timeout`](Self::set_read_timeout)
/// changes the read side). Replies are returned exactly as decoded: pushes and attributes are
/// not filtered, errors are values.
///
/// ```no_run
/// let server = tests::RedisServer::start();
/// let mut conn = server.raw();
/// let pong = conn.request(["PING"]);
/// # drop(pong);
/// ```
#[derive(Debug)]
pub struct RawConnection {
    stream: Stream,
    buf: BytesMut,
    decoder: Decoder,
    scratch: Box<[u8]>,
    out: Vec<u8>,
}

impl RawConnection {
    /// Wraps a TCP stream, with the default decoder [`Limits`].
    ///
    /// # Panics
    ///
    /// When the socket timeouts cannot be set.
    pub fn new(stream: TcpStream) -> Self {
        Self::with_limits(stream, Limits::default())
    }

    /// Wraps a TCP stream, decoding with `limits`.
    ///
    /// # Panics
    ///
    /// When the socket timeouts cannot be set.
    pub fn with_limits(stream: TcpStream, limits: Limits) -> Self {
        // Best effort: a socket the peer already closed may refuse the option.
        let _ = stream.set_nodelay(true);
        Self::from_stream(Stream::Tcp(stream), limits)
    }

    /// Wraps a Unix-socket stream, with the default decoder [`Limits`].
    ///
    /// # Panics
    ///
    /// When the socket timeouts cannot be set.
    pub fn unix(stream: UnixStream) -> Self {
        Self::unix_with_limits(stream, Limits::default())
    }

    /// Wraps a Unix-socket stream, decoding with `limits`.
    ///
    /// # Panics
    ///
    /// When the socket timeouts cannot be set.
    pub fn unix_with_limits(stream: UnixStream, limits: Limits) -> Self {
        Self::from_stream(Stream::Unix(stream), limits)
    }

    fn from_stream(stream: Stream, limits: Limits) -> Self {
        stream
            .set_read_timeout(Some(DEFAULT_IO_TIMEOUT))
            .expect("set the read timeout");
        stream
            .set_write_timeout(Some(DEFAULT_IO_TIMEOUT))
            .expect("set the write timeout");
        RawConnection {
            stream,
            buf: BytesMut::new(),
            decoder: Decoder::with_limits(limits),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            out: Vec::new(),
        }
    }

    /// Changes the socket read timeout (`None` blocks forever; avoid it in tests).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// The decoder's limits.
    pub fn limits(&self) -> &Limits {
        self.decoder.limits()
    }

    /// Writes one command, encoded as an array of bulk strings, in one `write_all`.
    pub fn send<I>(&mut self, args: I) -> io::Result<()>
    where
        I: IntoIterator,
        I::IntoIter: ExactSizeIterator,
        I::Item: AsRef<[u8]>,
    {
        self.out.clear();
        resp_proto::encode_command(&mut self.out, args);
        self.stream.write_all(&self.out)?;
        self.stream.flush()
    }

    /// Writes bytes as they are (a pipeline built by the caller, or deliberately bad input).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads until the decoder returns a complete reply.
    ///
    /// Each socket read waits at most the read timeout; the whole call at most
    /// [`REPLY_DEADLINE`]. After an `Err`, bytes already read stay in the buffer (see
    /// [`buffered`](Self::buffered)); after a timeout the call can simply be repeated.
    pub fn read_value(&mut self) -> Result<Value, RawError> {
        let deadline = Instant::now() + REPLY_DEADLINE;
        loop {
            if let Some(value) = self
                .decoder
                .decode(&mut self.buf)
                .map_err(RawError::Protocol)?
            {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(RawError::Deadline);
            }
            self.buf.reserve(READ_CHUNK);
            let n = match self.stream.read(&mut self.scratch) {
                Ok(0) => {
                    return Err(RawError::Closed {
                        buffered: self.buf.len(),
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RawError::Io(e)),
            };
            self.buf.extend_from_slice(&self.scratch[..n]);
        }
    }

    /// Sends a command and reads one reply.
    pub fn try_request<I>(&mut self, args: I) -> Result<Value, RawError>
    where
        I: IntoIterator,
        I::IntoIter: ExactSizeIterator,
        I::Item: AsRef<[u8]>,
    {
        self.send(args)?;
        self.read_value()
    }

    /// Sends a command and reads one reply, which may be an error reply (a [`Value::Error`]).
    ///
    /// # Panics
    ///
    /// On an I/O error, a timeout, a closed connection or a protocol error.
    pub fn request<I>(&mut self, args: I) -> Value
    where
        I: IntoIterator,
        I::IntoIter: ExactSizeIterator,
        I::Item: AsRef<[u8]>,
    {
        let args: Vec<I::Item> = args.into_iter().collect();
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .unwrap_or_default();
        self.try_request(args)
            .unwrap_or_else(|e| panic!("request {name}: {e}"))
    }

    /// Bytes received and not yet consumed by a complete reply (after a protocol error: the
    /// reply that failed, from its first byte, so an error offset indexes into it).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }
}
