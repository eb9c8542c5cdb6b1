//! Byte streams to a server: TCP (via socket2), Unix domain sockets, or one of the user's own.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
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

/// The time left until `deadline` (`None`: no deadline), or a timeout error when none is.
pub(crate) fn time_left(
    deadline: Option<Instant>,
    phase: Phase,
) -> Result<Option<Duration>, Error> {
    match deadline {
        None => Ok(None),
        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(Error::Timeout(phase)),
        },
    }
}

/// Resolves `host:port` and connects to the first address that accepts, all before
/// `deadline` (the name lookup included), with TCP_NODELAY on and keepalive as configured.
pub(crate) fn connect_tcp(
    host: &str,
    port: u16,
    deadline: Option<Instant>,
    keepalive: Option<&Keepalive>,
) -> Result<TcpStream, Error> {
    let addrs = resolve(host, port, deadline)?;
    if addrs.is_empty() {
        return Err(Error::Resolve {
            host: host.to_owned(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        });
    }
    // The connect timeout covers every address together, as one deadline.
    let mut last_error = None;
    for addr in addrs {
        let Ok(remaining) = time_left(deadline, Phase::Connecting) else {
            last_error = Some(io::Error::new(io::ErrorKind::TimedOut, "connect timeout"));
            break;
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

/// The addresses of `host`, looked up before `deadline`.
///
/// An IP address needs no lookup. A name is looked up by the system resolver, which has
/// timeouts of its own (seconds per try and per name server); with a deadline the lookup runs
/// on a short-lived thread that is waited for until the deadline only, so an unreachable DNS
/// server cannot stretch a connect past its timeout (the thread finishes on its own).
fn resolve(host: &str, port: u16, deadline: Option<Instant>) -> Result<Vec<SocketAddr>, Error> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = move |host: &str| -> Result<Vec<SocketAddr>, Error> {
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|source| Error::Resolve {
                host: host.to_owned(),
                source,
            })?;
        Ok(addrs.collect())
    };
    let Some(deadline) = deadline else {
        return lookup(host);
    };
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let name = host.to_owned();
    let spawned = std::thread::Builder::new()
        .name("redis-resolve".to_owned())
        .spawn(move || {
            // The receiver may have given up: then nobody needs the answer.
            let _ = sender.send(lookup(&name));
        });
    if spawned.is_err() {
        // No thread to spare: look up here, without the bound.
        return lookup(host);
    }
    let left = deadline.saturating_duration_since(Instant::now());
    match receiver.recv_timeout(left) {
        Ok(result) => result,
        Err(_) => Err(Error::Resolve {
            host: host.to_owned(),
            source: io::Error::new(
                io::ErrorKind::TimedOut,
                "the name lookup did not finish within the connect timeout",
            ),
        }),
    }
}

/// Connects to a Unix domain socket within `timeout`: a connect there does not cross a
/// network, but it waits while the server's accept queue is full (a stopped or overloaded
/// server), and the timeout bounds that wait.
pub(crate) fn connect_unix(path: &Path, timeout: Option<Duration>) -> Result<UnixStream, Error> {
    let failed = |source: io::Error| match source.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout(Phase::Connecting),
        _ => Error::Connect {
            target: path.display().to_string(),
            source,
        },
    };
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(failed)?;
    let address = socket2::SockAddr::unix(path).map_err(failed)?;
    // A blocking connect to a Unix socket waits for room in the accept queue at most as
    // long as the send timeout.
    socket.set_write_timeout(timeout).map_err(failed)?;
    socket.connect(&address).map_err(failed)?;
    socket.set_write_timeout(None).map_err(failed)?;
    Ok(socket.into())
}
