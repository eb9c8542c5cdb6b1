//! Byte streams to a server: TCP (via socket2), Unix domain sockets, or one of the user's own.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol as SockProtocol, SockRef, Socket, TcpKeepalive, Type};

use crate::config::Keepalive;
use crate::error::{Error, Phase};

/// A connected byte stream to a server.
///
/// The client uses TCP and Unix sockets itself; implement this trait to carry RESP over
/// something else (an SSH tunnel, an in-memory pipe for tests) and hand it to
/// [`Connection::with_transport`](crate::Connection::with_transport), the counterpart of
/// redis-py's custom connection classes.
pub trait Transport: Read + Write + Send + fmt::Debug {
    /// Bounds every later read; `None` blocks without limit.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Bounds every later write; `None` blocks without limit.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// A cheap check, without blocking, that the peer has neither closed the stream nor sent
    /// anything unasked: `Ok(true)` when the stream is idle and usable. The default assumes it
    /// is.
    fn is_idle(&mut self) -> io::Result<bool> {
        Ok(true)
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn is_idle(&mut self) -> io::Result<bool> {
        peek_idle(SockRef::from(&*self))
    }
}

impl Transport for UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        UnixStream::set_write_timeout(self, timeout)
    }

    fn is_idle(&mut self) -> io::Result<bool> {
        peek_idle(SockRef::from(&*self))
    }
}

/// `recv` flags for a peek that does not block, in one system call (the values of
/// `MSG_PEEK | MSG_DONTWAIT` on each platform).
#[cfg(any(target_os = "linux", target_os = "android"))]
const PEEK_NOW: Option<i32> = Some(0x02 | 0x40);
#[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
const PEEK_NOW: Option<i32> = Some(0x02 | 0x80);
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd"
)))]
const PEEK_NOW: Option<i32> = None;

/// Peeks without blocking: nothing to read means idle; end of stream or unread bytes mean the
/// connection cannot be reused.
pub(crate) fn peek_idle(socket: SockRef<'_>) -> io::Result<bool> {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    let peeked = match PEEK_NOW {
        Some(flags) => socket.recv_with_flags(&mut byte, flags),
        None => {
            socket.set_nonblocking(true)?;
            let peeked = socket.peek(&mut byte);
            socket.set_nonblocking(false)?;
            peeked
        }
    };
    match peeked {
        Ok(_) => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e) => Err(e),
    }
}

/// Resolves `host:port` and connects to the first address that accepts, all within
/// `timeout`, with TCP_NODELAY on and keepalive as configured.
pub(crate) fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    keepalive: Option<&Keepalive>,
) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: host.to_owned(),
            source,
        })?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Resolve {
            host: host.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        });
    }
    // The connect timeout covers every address together, as one deadline.
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut last_error = None;
    for addr in addrs {
        let remaining = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => {
                    last_error = Some(io::Error::new(io::ErrorKind::TimedOut, "connect timeout"));
                    break;
                }
            },
            None => None,
        };
        match connect_one(addr, remaining, keepalive) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    let source = last_error.unwrap_or_else(|| io::Error::other("no address tried"));
    if source.kind() == io::ErrorKind::TimedOut || source.kind() == io::ErrorKind::WouldBlock {
        return Err(Error::Timeout(Phase::Connecting));
    }
    Err(Error::Connect {
        target: format!("{host}:{port}"),
        source,
    })
}

fn connect_one(
    addr: SocketAddr,
    timeout: Option<Duration>,
    keepalive: Option<&Keepalive>,
) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM,
        Some(SockProtocol::TCP),
    )?;
    socket.set_tcp_nodelay(true)?;
    if let Some(keepalive) = keepalive {
        let mut params = TcpKeepalive::new();
        if let Some(idle) = keepalive.idle {
            params = params.with_time(idle);
        }
        if let Some(interval) = keepalive.interval {
            params = params.with_interval(interval);
        }
        if let Some(retries) = keepalive.retries {
            params = params.with_retries(retries);
        }
        socket.set_keepalive(true)?;
        socket.set_tcp_keepalive(&params)?;
    }
    match timeout {
        Some(timeout) => socket.connect_timeout(&addr.into(), timeout)?,
        None => socket.connect(&addr.into())?,
    }
    Ok(socket.into())
}

/// Connects to a Unix domain socket. A connect there does not block on the network, so no
/// timeout applies.
pub(crate) fn connect_unix(path: &Path) -> Result<UnixStream, Error> {
    UnixStream::connect(path).map_err(|source| Error::Connect {
        target: path.display().to_string(),
        source,
    })
}
