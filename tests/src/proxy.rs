//! [`FaultProxy`]: an in-process TCP proxy on loopback that a test steers while traffic flows
//! through it: delay, stall, truncate, cut (FIN) or reset (RST) either direction, and watch
//! how many bytes went which way (RELIABILITY.md section 3, "In-test fault proxy").
//!
//! Every proxied connection has two pump threads, one per direction. All sockets carry short
//! read timeouts, so every thread notices a fault change, a closed connection or the proxy's
//! drop within 5 ms; dropping the proxy stops and joins every thread it started.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::SockRef;

/// How often idle threads look at the proxy's state (fault changes, closes, drop).
const POLL: Duration = Duration::from_millis(5);

/// How long connecting to the target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Bound on one blocked write to a peer that does not read.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many bytes of each direction [`FaultProxy::recorded`] keeps.
const RECORD_LIMIT: usize = 1 << 20;

/// Size of one read.
const CHUNK: usize = 16 * 1024;

/// Which way bytes flow through a [`FaultProxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Direction {
    /// From the client to the server: requests.
    ClientToServer,
    /// From the server to the client: replies.
    ServerToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }
}

/// What happens once an armed byte budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Close the connection with a FIN on both sides.
    Close,
    /// Reset the client's side (RST), close the server's side.
    Reset,
    /// Drop every later byte of this direction, keeping the sockets open.
    Swallow,
}

/// The faults applied to one direction, on every connection.
#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    delay: Duration,
    stalled: bool,
    swallowing: bool,
    budget: Option<(u64, Then)>,
}

/// State shared by the proxy handle and its threads.
#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    stop: AtomicBool,
    faults: Mutex<[Faults; 2]>,
    /// Notified on every fault change and every byte counted.
    changed: Condvar,
    seen: [AtomicU64; 2],
    forwarded: [AtomicU64; 2],
    recorded: [Mutex<Vec<u8>>; 2],
    accepted: AtomicU64,
    failed_connects: AtomicU64,
    open: AtomicUsize,
    conns: Mutex<Vec<Weak<Conn>>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn faults(&self, dir: Direction) -> Faults {
        lock(&self.faults)[dir.index()]
    }

    fn update(&self, dir: Direction, change: impl FnOnce(&mut Faults)) {
        change(&mut lock(&self.faults)[dir.index()]);
        self.changed.notify_all();
    }

    /// Sleeps at most `limit` (and at most [`POLL`]), waking early on any change.
    fn nap(&self, limit: Duration) {
        let guard = lock(&self.faults);
        let _ = self
            .changed
            .wait_timeout(guard, limit.min(POLL))
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// How much of a chunk of `len` bytes goes out, and what follows, under the budget rules.
    fn spend(&self, dir: Direction, len: usize) -> (usize, Option<Then>) {
        let mut faults = lock(&self.faults);
        let f = &mut faults[dir.index()];
        if f.swallowing {
            return (0, None);
        }
        let Some((left, then)) = f.budget else {
            return (len, None);
        };
        let send = usize::try_from(left).map_or(len, |left| left.min(len));
        let left = left - send as u64;
        if left > 0 {
            f.budget = Some((left, then));
            return (send, None);
        }
        f.budget = None;
        if then == Then::Swallow {
            f.swallowing = true;
        }
        drop(faults);
        self.changed.notify_all();
        (send, Some(then))
    }

    fn count(&self, counters: &[AtomicU64; 2], dir: Direction, n: usize) {
        counters[dir.index()].fetch_add(n as u64, Ordering::AcqRel);
        // Taking the lock orders this notification after any waiter's check.
        drop(lock(&self.faults));
        self.changed.notify_all();
    }

    fn live_conns(&self) -> Vec<Arc<Conn>> {
        let mut conns = lock(&self.conns);
        conns.retain(|c| c.strong_count() > 0);
        conns.iter().filter_map(Weak::upgrade).collect()
    }
}

/// One proxied connection: the client's socket and the socket to the target.
#[derive(Debug)]
struct Conn {
    client: TcpStream,
    server: TcpStream,
    ended: AtomicBool,
    /// Declared after the sockets, so it drops after they are closed: a test that waits for
    /// the open count to fall sees the close (or the RST) already sent.
    _open: OpenCount,
}

/// One connection in [`Shared::open`], taken off when dropped.
#[derive(Debug)]
struct OpenCount(Weak<Shared>);

impl Conn {
    fn ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Ends the connection: FIN to both peers.
    fn close(&self) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            let _ = self.client.shutdown(Shutdown::Both);
            let _ = self.server.shutdown(Shutdown::Both);
        }
    }

    /// Ends the connection with an RST to the client: with `SO_LINGER` 0 the last close of
    /// its socket (when both pumps have let go of it) discards unsent data and resets.
    fn reset(&self) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            let _ = SockRef::from(&self.client).set_linger(Some(Duration::ZERO));
            // Shutting down only the reading side sends nothing to the client.
            let _ = self.client.shutdown(Shutdown::Read);
            let _ = self.server.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for OpenCount {
    fn drop(&mut self) {
        if let Some(shared) = self.0.upgrade() {
            shared.open.fetch_sub(1, Ordering::AcqRel);
            drop(lock(&shared.faults));
            shared.changed.notify_all();
        }
    }
}

/// A TCP proxy on `127.0.0.1:0` that forwards to one target and injects faults on command.
///
/// Faults apply per direction to every connection, current and future, until changed:
///
/// * [`delay`](Self::delay) holds each chunk for a while after it arrived;
/// * [`stall`](Self::stall) stops forwarding (bytes wait in the kernel, sockets stay open) until
///   [`resume`](Self::resume);
/// * [`truncate_after`](Self::truncate_after), [`cut_after`](Self::cut_after) and
///   [`reset_after`](Self::reset_after) arm a one-shot budget: after that many more bytes the
///   direction goes silent, or the connection that spent the budget is closed (FIN) or reset
///   (RST). A budget of 0 fires on the next chunk without forwarding any of it.
///
/// Counters ([`bytes_seen`](Self::bytes_seen), [`bytes_forwarded`](Self::bytes_forwarded),
/// [`connections`](Self::connections)) and waits
/// ([`wait_for_bytes_seen`](Self::wait_for_bytes_seen)) tell the test what happened.
///
/// ```no_run
/// use std::time::Duration;
/// use tests::{Direction, FaultProxy, RedisServer};
///
/// let server = RedisServer::start();
/// let proxy = FaultProxy::start(server.addr());
/// proxy.delay(Direction::ServerToClient, Duration::from_millis(300));
/// // ... connect to proxy.addr() ...
/// ```
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `target` (a loopback address).
    ///
    /// # Panics
    ///
    /// When `target` is not a loopback address or no listener can be bound.
    pub fn start(target: SocketAddr) -> FaultProxy {
        assert!(
            target.ip().is_loopback(),
            "the fault proxy only forwards to loopback, not {target}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy listener");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the proxy's address");
        let shared = Arc::new(Shared {
            target,
            stop: AtomicBool::new(false),
            faults: Mutex::new([Faults::default(); 2]),
            changed: Condvar::new(),
            seen: Default::default(),
            forwarded: Default::default(),
            recorded: Default::default(),
            accepted: AtomicU64::new(0),
            failed_connects: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            conns: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("fault-proxy-accept".into())
                .spawn(move || accept_loop(&shared, &listener))
                .expect("spawn the proxy's accept thread")
        };
        FaultProxy {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port (its host is `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the proxy forwards to.
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// Holds every chunk of `dir` for `delay` after it arrived (`Duration::ZERO` turns the
    /// delay off and releases held chunks at once).
    pub fn delay(&self, dir: Direction, delay: Duration) {
        self.shared.update(dir, |f| f.delay = delay);
    }

    /// Stops forwarding `dir`: bytes stay in the kernel's buffers (or, for a chunk already
    /// read, in the proxy) and the sockets stay open, until [`resume`](Self::resume).
    pub fn stall(&self, dir: Direction) {
        self.shared.update(dir, |f| f.stalled = true);
    }

    /// Forwards `dir` again after [`stall`](Self::stall) or a spent
    /// [`truncate_after`](Self::truncate_after). Bytes dropped meanwhile stay dropped.
    pub fn resume(&self, dir: Direction) {
        self.shared.update(dir, |f| {
            f.stalled = false;
            f.swallowing = false;
        });
    }

    /// Forwards `n` more bytes of `dir`, then drops every later byte of that direction while
    /// keeping the sockets open (half a reply, then silence).
    pub fn truncate_after(&self, dir: Direction, n: u64) {
        self.shared
            .update(dir, |f| f.budget = Some((n, Then::Swallow)));
    }

    /// Forwards `n` more bytes of `dir`, then closes the connection that carried them (FIN to
    /// both peers).
    pub fn cut_after(&self, dir: Direction, n: u64) {
        self.shared
            .update(dir, |f| f.budget = Some((n, Then::Close)));
    }

    /// Forwards `n` more bytes of `dir`, then resets the connection that carried them: the
    /// client gets an RST (`SO_LINGER` 0), the server a FIN.
    pub fn reset_after(&self, dir: Direction, n: u64) {
        self.shared
            .update(dir, |f| f.budget = Some((n, Then::Reset)));
    }

    /// Removes every fault of both directions: no delay, no stall, nothing armed.
    pub fn clear(&self) {
        {
            let mut faults = lock(&self.shared.faults);
            *faults = [Faults::default(); 2];
        }
        self.shared.changed.notify_all();
    }

    /// Closes every open connection now, with a FIN to both peers.
    pub fn close_all(&self) {
        for conn in self.shared.live_conns() {
            conn.close();
        }
    }

    /// Resets every open connection now: an RST to each client.
    pub fn reset_all(&self) {
        for conn in self.shared.live_conns() {
            conn.reset();
        }
    }

    /// Bytes read from the sending peer of `dir` so far, forwarded or not.
    pub fn bytes_seen(&self, dir: Direction) -> u64 {
        self.shared.seen[dir.index()].load(Ordering::Acquire)
    }

    /// Bytes of `dir` written to the receiving peer so far.
    pub fn bytes_forwarded(&self, dir: Direction) -> u64 {
        self.shared.forwarded[dir.index()].load(Ordering::Acquire)
    }

    /// The first MiB of the bytes seen in `dir`, across all connections, in arrival order.
    pub fn recorded(&self, dir: Direction) -> Vec<u8> {
        lock(&self.shared.recorded[dir.index()]).clone()
    }

    /// Waits until at least `at_least` bytes of `dir` were seen (the "request bytes seen"
    /// event); `false` when `timeout` passed first.
    pub fn wait_for_bytes_seen(&self, dir: Direction, at_least: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.bytes_seen(dir) >= at_least)
    }

    /// Waits until at least `at_least` bytes of `dir` were forwarded; `false` on timeout.
    pub fn wait_for_bytes_forwarded(
        &self,
        dir: Direction,
        at_least: u64,
        timeout: Duration,
    ) -> bool {
        self.wait_until(timeout, || self.bytes_forwarded(dir) >= at_least)
    }

    /// Waits until exactly `n` connections are open; `false` on timeout.
    pub fn wait_for_open_connections(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || self.open_connections() == n)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::Acquire)
    }

    /// Accepted connections that could not be proxied, usually because the connect to the
    /// target failed; they were closed at once.
    pub fn failed_connects(&self) -> u64 {
        self.shared.failed_connects.load(Ordering::Acquire)
    }

    /// Connections currently open through the proxy.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Acquire)
    }

    fn wait_until(&self, timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.shared.nap(deadline - now);
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.changed.notify_all();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for conn in self.shared.live_conns() {
            conn.close();
        }
        let pumps = std::mem::take(&mut *lock(&self.shared.pumps));
        for pump in pumps {
            let _ = pump.join();
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    while !shared.stopping() {
        match listener.accept() {
            Ok((client, _)) => {
                shared.accepted.fetch_add(1, Ordering::AcqRel);
                if open_conn(shared, client).is_err() {
                    shared.failed_connects.fetch_add(1, Ordering::AcqRel);
                }
                reap_pumps(shared);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Transient accept errors (e.g. a connection reset before accept): keep going.
            Err(_) => thread::sleep(POLL),
        }
    }
}

/// Joins pump threads that already finished, so a long test does not pile up handles.
fn reap_pumps(shared: &Shared) {
    let mut pumps = lock(&shared.pumps);
    let (done, running): (Vec<_>, Vec<_>) = pumps.drain(..).partition(JoinHandle::is_finished);
    *pumps = running;
    drop(pumps);
    for pump in done {
        let _ = pump.join();
    }
}

fn open_conn(shared: &Arc<Shared>, client: TcpStream) -> io::Result<()> {
    let server = TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT)?;
    for socket in [&client, &server] {
        socket.set_nonblocking(false)?;
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(POLL))?;
        socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
    }
    shared.open.fetch_add(1, Ordering::AcqRel);
    let conn = Arc::new(Conn {
        client,
        server,
        ended: AtomicBool::new(false),
        _open: OpenCount(Arc::downgrade(shared)),
    });
    lock(&shared.conns).push(Arc::downgrade(&conn));
    let mut pumps = Vec::with_capacity(2);
    for dir in [Direction::ClientToServer, Direction::ServerToClient] {
        let pump_shared = Arc::clone(shared);
        let pump_conn = Arc::clone(&conn);
        let spawned = thread::Builder::new()
            .name(format!("fault-proxy-{dir:?}"))
            .spawn(move || pump(&pump_shared, &pump_conn, dir));
        match spawned {
            Ok(handle) => pumps.push(handle),
            Err(e) => {
                conn.close();
                lock(&shared.pumps).extend(pumps);
                return Err(io::Error::other(e));
            }
        }
    }
    lock(&shared.pumps).extend(pumps);
    Ok(())
}

/// Moves the bytes of one direction of one connection until either side closes, a fault ends
/// the connection, or the proxy stops.
fn pump(shared: &Shared, conn: &Conn, dir: Direction) {
    let (mut src, mut dst) = match dir {
        Direction::ClientToServer => (&conn.client, &conn.server),
        Direction::ServerToClient => (&conn.server, &conn.client),
    };
    let mut buf = vec![0u8; CHUNK];
    while !shared.stopping() && !conn.ended() {
        // While stalled nothing is read: the bytes wait in the kernel.
        if shared.faults(dir).stalled {
            shared.nap(POLL);
            continue;
        }
        let n = match src.read(&mut buf) {
            // Either peer closing ends the whole connection (Redis peers never half-close).
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        let chunk = &buf[..n];
        {
            let mut record = lock(&shared.recorded[dir.index()]);
            let room = RECORD_LIMIT.saturating_sub(record.len());
            record.extend_from_slice(&chunk[..room.min(n)]);
        }
        shared.count(&shared.seen, dir, n);
        if !hold(shared, conn, dir, Instant::now()) {
            return;
        }
        let (send, then) = shared.spend(dir, n);
        if send > 0 {
            if dst.write_all(&chunk[..send]).is_err() {
                break;
            }
            shared.count(&shared.forwarded, dir, send);
        }
        match then {
            Some(Then::Close) => {
                conn.close();
                return;
            }
            Some(Then::Reset) => {
                conn.reset();
                return;
            }
            Some(Then::Swallow) | None => {}
        }
    }
    conn.close();
}

/// Waits while `dir` is stalled or the chunk that arrived at `arrived` is still delayed.
/// Both faults are read afresh on every wake, so lifting them releases the chunk at once.
/// `false` when the connection ended or the proxy stopped meanwhile.
fn hold(shared: &Shared, conn: &Conn, dir: Direction, arrived: Instant) -> bool {
    loop {
        if shared.stopping() || conn.ended() {
            return false;
        }
        let faults = shared.faults(dir);
        if faults.stalled {
            shared.nap(POLL);
            continue;
        }
        let due = arrived + faults.delay;
        let now = Instant::now();
        if now >= due {
            return true;
        }
        shared.nap(due - now);
    }
}
