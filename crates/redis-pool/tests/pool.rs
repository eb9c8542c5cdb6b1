//! The pool contract over an in-memory transport: reuse, limits, waiting, and what is closed
//! instead of returned.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use redis_conn::{Connection, ConnectionConfig, Transport};
use redis_pool::{Checkout, Connector, Error, Pool, PoolOptions};

/// Per-connection switches a test flips from outside.
#[derive(Debug, Default)]
struct Switches {
    /// The peer closed: the idle check fails.
    closed: AtomicBool,
    /// Reads fail, as a dead socket's would.
    fail_reads: AtomicBool,
}

/// Answers `+OK` to every command written.
#[derive(Debug)]
struct Echo {
    switches: Arc<Switches>,
    pending: Vec<u8>,
}

impl Read for Echo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.switches.fail_reads.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        }
        let n = self.pending.len().min(buf.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl Write for Echo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let commands = buf.iter().filter(|&&b| b == b'*').count();
        for _ in 0..commands {
            self.pending.extend_from_slice(b"+OK\r\n");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Echo {
    fn set_read_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }

    fn is_idle(&mut self) -> io::Result<bool> {
        Ok(self.pending.is_empty() && !self.switches.closed.load(Ordering::SeqCst))
    }
}

/// Opens [`Echo`] connections and keeps their switches, in order of creation.
#[derive(Default)]
struct EchoConnector {
    config: ConnectionConfig,
    opened: Mutex<Vec<Arc<Switches>>>,
    refuse: AtomicBool,
    attempts: AtomicUsize,
    /// How long each connect takes, in milliseconds.
    connect_millis: AtomicUsize,
    /// Connects in progress now, and the most seen at once.
    connecting: AtomicUsize,
    peak_connecting: AtomicUsize,
}

/// The pool's handle on the shared [`EchoConnector`].
struct Handle(Arc<EchoConnector>);

impl Connector for Handle {
    fn connect(&self) -> Result<Connection, redis_conn::Error> {
        let this = &self.0;
        this.attempts.fetch_add(1, Ordering::SeqCst);
        let now = this.connecting.fetch_add(1, Ordering::SeqCst) + 1;
        this.peak_connecting.fetch_max(now, Ordering::SeqCst);
        let millis = this.connect_millis.load(Ordering::SeqCst) as u64;
        thread::sleep(Duration::from_millis(millis));
        this.connecting.fetch_sub(1, Ordering::SeqCst);
        if this.refuse.load(Ordering::SeqCst) {
            return Err(redis_conn::Error::Connect {
                target: "memory".to_owned(),
                source: io::Error::new(io::ErrorKind::ConnectionRefused, "refused"),
            });
        }
        let switches = Arc::new(Switches::default());
        this.opened.lock().push(Arc::clone(&switches));
        let echo = Echo {
            switches,
            pending: Vec::new(),
        };
        Connection::with_transport(echo, &this.config)
    }

    fn config(&self) -> &ConnectionConfig {
        &self.0.config
    }
}

fn pool(options: PoolOptions) -> (Pool, Arc<EchoConnector>) {
    let connector = Arc::new(EchoConnector::default());
    (
        Pool::with_connector(Handle(Arc::clone(&connector)), options),
        connector,
    )
}

#[test]
fn connections_are_reused() {
    let (pool, connector) = pool(PoolOptions::new().max_size(4));
    for _ in 0..10 {
        let mut conn = pool.get().unwrap();
        conn.request(&["SET", "k", "v"]).unwrap();
    }
    let stats = pool.stats();
    assert_eq!((stats.created, stats.idle, stats.in_use), (1, 1, 0));
    assert_eq!(connector.opened.lock().len(), 1);
}

#[test]
fn the_most_recently_returned_connection_comes_first() {
    let (pool, connector) = pool(PoolOptions::new().max_size(4));
    let a = pool.get().unwrap();
    let b = pool.get().unwrap();
    drop(a);
    drop(b);
    // b came back last; mark a's peer closed: if the pool handed out a, it would be stale.
    connector.opened.lock()[0]
        .closed
        .store(true, Ordering::SeqCst);
    let _conn = pool.get().unwrap();
    assert_eq!(
        pool.stats().closed_stale,
        0,
        "b, the most recent, was reused"
    );
}

#[test]
fn fail_fast_when_exhausted() {
    let (pool, _) = pool(PoolOptions::new().max_size(2).checkout(Checkout::FailFast));
    let _a = pool.get().unwrap();
    let _b = pool.get().unwrap();
    let err = pool.get().unwrap_err();
    assert!(matches!(err, Error::Exhausted { max_size: 2 }), "{err}");
    assert_eq!(pool.stats().timeouts, 1);
}

#[test]
fn waiting_gives_up_at_the_timeout() {
    let timeout = Duration::from_millis(100);
    let (pool, _) = pool(
        PoolOptions::new()
            .max_size(1)
            .checkout(Checkout::Wait(Some(timeout))),
    );
    let _held = pool.get().unwrap();
    let started = Instant::now();
    let err = pool.get().unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, Error::Timeout { max_size: 1, .. }), "{err}");
    assert!(
        waited >= timeout && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let stats = pool.stats();
    assert_eq!((stats.waits, stats.timeouts), (1, 1));
}

#[test]
fn a_waiter_gets_the_returned_connection() {
    let (pool, _) = pool(
        PoolOptions::new()
            .max_size(1)
            .checkout(Checkout::Wait(Some(Duration::from_secs(5)))),
    );
    let held = pool.get().unwrap();
    let other = pool.clone();
    let waiter = thread::spawn(move || other.get().map(|_| ()));
    thread::sleep(Duration::from_millis(50));
    drop(held);
    waiter.join().unwrap().unwrap();
    assert_eq!(pool.stats().created, 1);
}

/// `try_get` never waits, even on a pool whose checkouts wait: an idle connection, a new one
/// when there is room, or `Exhausted` at once.
#[test]
fn try_get_never_waits() {
    let (pool, _) = pool(
        PoolOptions::new()
            .max_size(1)
            .checkout(Checkout::Wait(Some(Duration::from_secs(30)))),
    );
    let held = pool.try_get().unwrap();
    let started = Instant::now();
    assert!(matches!(
        pool.try_get(),
        Err(Error::Exhausted { max_size: 1 })
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
    // The connection just returned is taken again.
    drop(pool.try_get().unwrap());
    assert_eq!(pool.stats().created, 1);
}

/// A wait too long to add to a clock (`Duration::MAX`, a way to write "forever") waits
/// without a deadline instead of panicking.
#[test]
fn a_wait_too_long_for_the_clock_waits_without_a_deadline() {
    let (pool, _) = pool(
        PoolOptions::new()
            .max_size(1)
            .checkout(Checkout::Wait(Some(Duration::MAX))),
    );
    let held = pool.get().unwrap();
    let other = pool.clone();
    let waiter = thread::spawn(move || other.get().map(|_| ()));
    thread::sleep(Duration::from_millis(50));
    drop(held);
    waiter.join().unwrap().unwrap();
}

#[test]
fn dirty_connections_are_closed_not_returned() {
    let (pool, _) = pool(PoolOptions::new());
    let mut conn = pool.get().unwrap();
    conn.mark_dirty();
    drop(conn);
    let stats = pool.stats();
    assert_eq!((stats.idle, stats.closed_dirty), (0, 1));
    let _fresh = pool.get().unwrap();
    assert_eq!(pool.stats().created, 2);
}

#[test]
fn broken_connections_are_closed_not_returned() {
    let (pool, connector) = pool(PoolOptions::new());
    let mut conn = pool.get().unwrap();
    connector.opened.lock()[0]
        .fail_reads
        .store(true, Ordering::SeqCst);
    assert!(conn.request(&["GET", "k"]).is_err());
    drop(conn);
    assert_eq!(pool.stats().closed_broken, 1);
    assert_eq!(pool.stats().idle, 0);
}

#[test]
fn connections_with_unread_replies_are_closed() {
    let (pool, _) = pool(PoolOptions::new());
    let mut conn = pool.get().unwrap();
    conn.send(&["GET", "k"]).unwrap();
    drop(conn); // the reply was never read
    assert_eq!(pool.stats().closed_dirty, 1);
}

#[test]
fn stale_idle_connections_are_replaced_at_checkout() {
    let (pool, connector) = pool(PoolOptions::new());
    drop(pool.get().unwrap());
    connector.opened.lock()[0]
        .closed
        .store(true, Ordering::SeqCst);
    let mut conn = pool.get().unwrap();
    conn.request(&["PING"]).unwrap();
    let stats = pool.stats();
    assert_eq!((stats.closed_stale, stats.created), (1, 2));
}

#[test]
fn failed_connects_do_not_take_a_slot() {
    let (pool, connector) = pool(PoolOptions::new().max_size(1).checkout(Checkout::FailFast));
    connector.refuse.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        assert!(matches!(pool.get().unwrap_err(), Error::Connect(_)));
    }
    connector.refuse.store(false, Ordering::SeqCst);
    let _conn = pool.get().unwrap();
    assert_eq!(connector.attempts.load(Ordering::SeqCst), 6);
}

#[test]
fn clear_closes_idle_now_and_in_use_on_return() {
    let (pool, _) = pool(PoolOptions::new());
    let idle = pool.get().unwrap();
    let busy = pool.get().unwrap();
    drop(idle);
    pool.clear();
    assert_eq!(pool.stats().closed_cleared, 1);
    drop(busy);
    let stats = pool.stats();
    assert_eq!((stats.closed_cleared, stats.idle), (2, 0));
}

#[test]
fn a_panicking_holder_does_not_return_its_connection() {
    let (pool, _) = pool(PoolOptions::new());
    let other = pool.clone();
    let result = thread::spawn(move || {
        let mut conn = other.get().unwrap();
        conn.send(&["BLPOP", "k", "0"]).unwrap();
        panic!("user code fails mid-request");
    })
    .join();
    assert!(result.is_err());
    let stats = pool.stats();
    assert_eq!((stats.in_use, stats.idle, stats.closed_dirty), (0, 0, 1));
}

#[test]
fn many_threads_never_exceed_the_maximum() {
    let max = 3;
    let (pool, connector) = pool(
        PoolOptions::new()
            .max_size(max)
            .checkout(Checkout::Wait(Some(Duration::from_secs(10)))),
    );
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                for _ in 0..200 {
                    let mut conn = pool.get().unwrap();
                    conn.request(&["INCR", "n"]).unwrap();
                    let stats = pool.stats();
                    assert!(stats.in_use + stats.idle <= max, "{stats:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(connector.opened.lock().len() <= max);
    assert_eq!(pool.stats().in_use, 0);
}

#[test]
fn connects_are_limited_so_a_restart_causes_no_storm() {
    // RELIABILITY test 20: many threads needing connections at once open at most
    // `max_connecting` at a time.
    let options = PoolOptions::new()
        .max_size(16)
        .max_connecting(2)
        .checkout(Checkout::Wait(Some(Duration::from_secs(10))));
    let (pool, connector) = pool(options);
    connector.connect_millis.store(20, Ordering::SeqCst);
    let threads: Vec<_> = (0..12)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                let mut conn = pool.get().unwrap();
                conn.request(&["PING"]).unwrap();
                thread::sleep(Duration::from_millis(50));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(connector.peak_connecting.load(Ordering::SeqCst), 2);
    assert_eq!(pool.stats().in_use, 0);
}
