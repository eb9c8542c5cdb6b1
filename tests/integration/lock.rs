//! Locks against real servers (issue 6, "Lock"; RELIABILITY.md section 6, tests 35-38):
//! redis-py's README usage, acquire/release/locked/owned, blocking and non-blocking
//! acquisition with bounded waits, expiry and ownership, extend/reacquire TTLs, the guard,
//! fencing tokens, a lost acquire reply (with a given token, with a generated one, and with
//! the client's `retry_on_timeout`), validity by the monotonic clock, the minimum timeout and
//! sleep, and a 16-thread contention test on a plain GET/SET counter.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use redis_client::ext::{Lock, LockError, LockOptions, Token};
use redis_client::{Client, Commands, Error, cmd};
use tests::{Direction, FaultProxy, RedisServer, eventually};

fn client(server: &RedisServer) -> Client {
    server.client_builder().build()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn is_not_owned(e: &Error) -> bool {
    matches!(e, Error::Lock(LockError::NotOwned { .. }))
}

fn is_not_acquired(e: &Error) -> bool {
    matches!(e, Error::Lock(LockError::NotAcquired { .. }))
}

fn is_invalid(e: &Error) -> bool {
    matches!(e, Error::Lock(LockError::Invalid(_)))
}

fn value(c: &Client, key: &str) -> Option<String> {
    c.get(key).unwrap()
}

/// How many times the server ran `command` since the last CONFIG RESETSTAT.
fn calls(c: &Client, command: &str) -> u64 {
    let info: String = cmd("INFO").arg("commandstats").query(c).unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// A client through `proxy` whose requests time out after 300 ms, with or without
/// `retry_on_timeout`, and with one idle connection already open.
fn proxied(proxy: &FaultProxy, retry_on_timeout: bool) -> Client {
    let c = Client::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .socket_timeout(ms(300))
        .retry_on_timeout(retry_on_timeout)
        .build();
    let _: String = c.ping().unwrap();
    assert_eq!(proxy.connections(), 1);
    c
}

/// Stalls the replies, runs `f` (whose first request, the SET, times out with its reply still
/// stalled) and lets the replies through again as soon as the client opened its next
/// connection: the stalled reply dies with the first connection, later ones arrive.
fn with_first_reply_lost<T>(proxy: &FaultProxy, f: impl FnOnce() -> T) -> T {
    let before = proxy.connections();
    proxy.stall(Direction::ServerToClient);
    thread::scope(|s| {
        s.spawn(|| {
            // Bounded: without a second connection, the replies flow again after 2 s.
            eventually(Duration::from_secs(2), || proxy.connections() > before);
            proxy.resume(Direction::ServerToClient);
        });
        f()
    })
}

/// redis-py's usage: `with r.lock('my-lock-key', blocking_timeout=5): ...`.
#[test]
fn readme_example() {
    let server = RedisServer::start();
    let r = client(&server);
    let lock = Lock::new(
        r.clone(),
        "my-lock-key",
        LockOptions::new().blocking_timeout(Duration::from_secs(5)),
    );
    {
        let _guard = lock.acquire().unwrap();
        // Code you want executed only after the lock has been acquired.
        r.set("protected", "written under the lock").unwrap();
        assert!(lock.locked().unwrap());
    }
    assert!(!lock.locked().unwrap(), "released at the end of the block");
    assert_eq!(
        value(&r, "protected").as_deref(),
        Some("written under the lock")
    );
}

#[test]
fn acquire_release_locked_owned() {
    let server = RedisServer::start();
    let c = client(&server);
    let lock = Lock::new(c.clone(), "lk", LockOptions::new());
    let other = Lock::new(c.clone(), "lk", LockOptions::new().blocking(false));
    assert!(!lock.locked().unwrap());

    let guard = lock.acquire().unwrap();
    assert_eq!(guard.name(), "lk");
    assert!(lock.locked().unwrap());
    assert!(other.locked().unwrap(), "locked() sees any holder");
    assert!(guard.owned().unwrap());
    assert_eq!(value(&c, "lk").as_deref(), Some(guard.token().as_str()));
    assert_eq!(c.pttl("lk").unwrap(), -1, "no timeout: no TTL");
    assert_eq!(guard.valid_for(), None, "no timeout: never expires");
    assert!(guard.is_valid());
    assert!(!other.owned_by(&Token::generate()).unwrap());
    assert!(other.try_acquire().unwrap().is_none());

    let token = guard.token().clone();
    guard.release().unwrap();
    assert!(!lock.locked().unwrap());
    let again = lock.release_token(&token).unwrap_err();
    assert!(is_not_owned(&again), "{again}");

    let second = other.try_acquire().unwrap().expect("free again");
    assert_ne!(second.token(), &token, "a fresh token per acquisition");
    assert!(second.owned().unwrap());
}

#[test]
fn non_blocking_acquisition_fails_at_once_when_held() {
    let server = RedisServer::start();
    let c = client(&server);
    let holder = Lock::new(c.clone(), "nb", LockOptions::new());
    let held = holder.acquire().unwrap();
    let lock = Lock::new(
        c.clone(),
        "nb",
        LockOptions::new()
            .blocking(false)
            .sleep(Duration::from_secs(5)),
    );

    let start = Instant::now();
    let err = lock.acquire().unwrap_err();
    assert!(is_not_acquired(&err), "{err}");
    let err = lock.acquire_with(false, None, None).unwrap_err();
    assert!(is_not_acquired(&err), "{err}");
    assert!(lock.try_acquire().unwrap().is_none());
    assert!(
        start.elapsed() < ms(500),
        "never slept: {:?}",
        start.elapsed()
    );
    assert_eq!(
        value(&c, "nb").as_deref(),
        Some(held.token().as_str()),
        "the holder's lock is untouched"
    );
}

#[test]
fn blocking_timeout_bounds_the_wait() {
    let server = RedisServer::start();
    let c = client(&server);
    let holder = Lock::new(c.clone(), "bt", LockOptions::new());
    let held = holder.acquire().unwrap();

    // Attempts every 100 ms for 250 ms.
    let lock = Lock::new(
        c.clone(),
        "bt",
        LockOptions::new().sleep(ms(100)).blocking_timeout(ms(250)),
    );
    let start = Instant::now();
    let err = lock.acquire().unwrap_err();
    let waited = start.elapsed();
    assert!(is_not_acquired(&err), "{err}");
    assert!(waited >= ms(250), "gave up early: {waited:?}");
    assert!(waited < ms(600), "overran the deadline: {waited:?}");

    // A sleep longer than the blocking timeout is cut short at the deadline.
    let slow = Lock::new(
        c.clone(),
        "bt",
        LockOptions::new()
            .sleep(Duration::from_secs(10))
            .blocking_timeout(ms(200)),
    );
    let start = Instant::now();
    let err = slow.acquire().unwrap_err();
    let waited = start.elapsed();
    assert!(is_not_acquired(&err), "{err}");
    assert!(waited >= ms(200), "gave up early: {waited:?}");
    assert!(waited < ms(1500), "slept past the deadline: {waited:?}");

    // acquire_with overrides the lock's settings: a zero blocking timeout is one attempt.
    let start = Instant::now();
    let err = slow
        .acquire_with(true, Some(Duration::ZERO), None)
        .unwrap_err();
    assert!(is_not_acquired(&err), "{err}");
    assert!(start.elapsed() < ms(500));

    // A waiter gets the lock soon after the holder releases it.
    let waiter = Lock::new(
        c.clone(),
        "bt",
        LockOptions::new()
            .sleep(ms(20))
            .blocking_timeout(Duration::from_secs(5)),
    );
    let start = Instant::now();
    thread::scope(|s| {
        s.spawn(move || {
            thread::sleep(ms(200));
            held.release().unwrap();
        });
        let guard = waiter.acquire().unwrap();
        assert!(guard.owned().unwrap());
    });
    let waited = start.elapsed();
    assert!(waited >= ms(150), "{waited:?}");
    assert!(waited < ms(2000), "{waited:?}");
}

/// RELIABILITY test 35: A's lock expires, B takes it; A can neither release nor extend it.
#[test]
fn an_expired_holder_cannot_release_or_extend_the_next_holders_lock() {
    let server = RedisServer::start();
    let c = client(&server);
    let a_lock = Lock::new(c.clone(), "own", LockOptions::new().timeout(ms(200)));
    let b_lock = Lock::new(
        c.clone(),
        "own",
        LockOptions::new().timeout(Duration::from_secs(10)),
    );

    let mut a = a_lock.acquire().unwrap();
    assert!(a.valid_for().unwrap() <= ms(200));
    thread::sleep(ms(400));
    assert!(!a.is_valid(), "expired by the local clock");
    assert_eq!(a.valid_for(), Some(Duration::ZERO));

    let b = b_lock
        .acquire_with(false, None, None)
        .expect("A's lock expired");
    assert!(!a.owned().unwrap());

    let err = a.extend(ms(1000), false).unwrap_err();
    assert!(is_not_owned(&err), "{err}");
    let err = a.extend(ms(1000), true).unwrap_err();
    assert!(is_not_owned(&err), "{err}");
    let err = a.reacquire().unwrap_err();
    assert!(is_not_owned(&err), "{err}");
    let err = a.fence("own:fence").unwrap_err();
    assert!(is_not_owned(&err), "{err}");
    let err = a.release().unwrap_err();
    assert!(is_not_owned(&err), "{err}");

    assert_eq!(value(&c, "own").as_deref(), Some(b.token().as_str()));
    let pttl = c.pttl("own").unwrap();
    assert!(pttl > 9000, "B's TTL untouched: {pttl}");
    assert!(b.owned().unwrap());
    b.release().unwrap();
    assert!(!b_lock.locked().unwrap());
}

#[test]
fn extend_and_reacquire_set_the_ttl() {
    let server = RedisServer::start();
    let c = client(&server);
    let lock = Lock::new(c.clone(), "ext", LockOptions::new().timeout(ms(1000)));
    let mut guard = lock.acquire().unwrap();
    let pttl = c.pttl("ext").unwrap();
    assert!(pttl > 500 && pttl <= 1000, "{pttl}");
    let before = guard.valid_for().unwrap();
    assert!(before <= ms(1000) - ms(12), "drift allowance: {before:?}");

    // Add: the TTL grows by the extension.
    guard.extend(ms(2000), false).unwrap();
    let pttl = c.pttl("ext").unwrap();
    assert!(pttl > 2500 && pttl <= 3000, "{pttl}");
    let valid = guard.valid_for().unwrap();
    assert!(valid > ms(2000) && valid <= ms(3000), "{valid:?}");

    // Replace: the TTL becomes the extension.
    guard.extend(ms(500), true).unwrap();
    let pttl = c.pttl("ext").unwrap();
    assert!(pttl > 300 && pttl <= 500, "{pttl}");
    let valid = guard.valid_for().unwrap();
    assert!(valid <= ms(500), "{valid:?}");

    // Reacquire: back to the full timeout.
    guard.reacquire().unwrap();
    let pttl = c.pttl("ext").unwrap();
    assert!(pttl > 700 && pttl <= 1000, "{pttl}");
    let valid = guard.valid_for().unwrap();
    assert!(valid > ms(500) && valid <= ms(1000), "{valid:?}");

    // An extension under 1 ms is refused before anything is sent.
    let err = guard.extend(Duration::from_micros(500), true).unwrap_err();
    assert!(is_invalid(&err), "{err}");
    assert!(guard.owned().unwrap());
    guard.release().unwrap();
}

#[test]
fn extending_a_lock_without_timeout_is_invalid() {
    let server = RedisServer::start();
    let c = client(&server);
    let lock = Lock::new(c.clone(), "forever", LockOptions::new());
    let mut guard = lock.acquire().unwrap();
    let err = guard.extend(ms(1000), false).unwrap_err();
    assert!(is_invalid(&err), "{err}");
    let err = guard.reacquire().unwrap_err();
    assert!(is_invalid(&err), "{err}");
    assert_eq!(c.pttl("forever").unwrap(), -1, "nothing was changed");
    assert!(guard.owned().unwrap());

    // A timeout under the minimum (10 ms) is refused too.
    let tiny = Lock::new(
        c.clone(),
        "tiny",
        LockOptions::new().timeout(Duration::from_micros(10)),
    );
    let err = tiny.acquire().unwrap_err();
    assert!(is_invalid(&err), "{err}");
    assert!(!tiny.locked().unwrap());
}

#[test]
fn the_guard_releases_on_drop_even_when_unwinding() {
    let server = RedisServer::start();
    let c = client(&server);
    let lock = Lock::new(c.clone(), "drop", LockOptions::new().timeout(ms(30_000)));
    {
        let _guard = lock.acquire().unwrap();
        assert!(lock.locked().unwrap());
    }
    assert!(!lock.locked().unwrap());

    let panicked = thread::scope(|s| {
        s.spawn(|| {
            let _guard = lock.acquire().unwrap();
            panic!("work failed while holding the lock");
        })
        .join()
    });
    assert!(panicked.is_err());
    assert!(!lock.locked().unwrap(), "released while unwinding");

    // into_token gives the guard up without releasing; the token releases it later.
    let token = lock.acquire().unwrap().into_token();
    assert!(lock.locked().unwrap());
    assert!(lock.owned_by(&token).unwrap());
    lock.release_token(&token).unwrap();
    assert!(!lock.locked().unwrap());

    // A guard dropped after losing the lock leaves the new holder alone.
    let short = Lock::new(c.clone(), "drop", LockOptions::new().timeout(ms(100)));
    let stale = short.acquire().unwrap();
    thread::sleep(ms(250));
    let fresh = lock.acquire().unwrap();
    drop(stale);
    assert!(fresh.owned().unwrap());
}

/// Fencing tokens: the counter grows with each holder, and only the holder can draw one; the
/// protected resource rejects a write with an older number.
#[test]
fn fencing_tokens_order_the_holders() {
    /// The protected resource.
    struct Storage {
        highest_fence: u64,
        writes: Vec<&'static str>,
    }

    impl Storage {
        fn write(&mut self, fence: u64, data: &'static str) -> Result<(), String> {
            if fence < self.highest_fence {
                return Err(format!("stale fence {fence} < {}", self.highest_fence));
            }
            self.highest_fence = fence;
            self.writes.push(data);
            Ok(())
        }
    }

    let server = RedisServer::start();
    let c = client(&server);
    let lock = Lock::new(c.clone(), "{res}:lock", LockOptions::new().timeout(ms(200)));
    let mut storage = Storage {
        highest_fence: 0,
        writes: Vec::new(),
    };

    let a = lock.acquire().unwrap();
    let fence_a = a.fence("{res}:fence").unwrap();
    assert_eq!(fence_a, 1);
    storage.write(fence_a, "a1").unwrap();

    // A pauses past its timeout; B takes the lock and writes.
    thread::sleep(ms(400));
    let b = lock.acquire().unwrap();
    let fence_b = b.fence("{res}:fence").unwrap();
    assert!(fence_b > fence_a);
    storage.write(fence_b, "b1").unwrap();

    // A wakes up: it can draw no new number, and its old one is refused.
    assert!(is_not_owned(&a.fence("{res}:fence").unwrap_err()));
    assert!(storage.write(fence_a, "a2 (stale)").is_err());
    assert_eq!(storage.writes, ["a1", "b1"]);
    drop(a);
    assert!(b.owned().unwrap(), "A's drop did not release B's lock");
    b.release().unwrap();

    let c2 = lock.acquire().unwrap();
    assert!(c2.fence("{res}:fence").unwrap() > fence_b);
}

/// RELIABILITY test 37: the reply to `SET lock tok NX PX` is lost. A retry with the same
/// token reports the lock acquired (not "held by someone else"); without a retry, a release
/// with that token still works.
#[test]
fn a_lost_acquire_reply_is_recovered_with_the_same_token() {
    let server = RedisServer::start();
    let direct = client(&server);
    let proxy = FaultProxy::start(server.addr());
    let c = Client::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .socket_timeout(ms(300))
        .build();
    let _: String = c.ping().unwrap();
    let lock = Lock::new(c.clone(), "lost", LockOptions::new().timeout(ms(10_000)));

    for retry in [true, false] {
        let token = Token::generate();
        proxy.truncate_after(Direction::ServerToClient, 0);
        let err = lock
            .acquire_with(false, None, Some(token.clone()))
            .unwrap_err();
        assert!(!matches!(err, Error::Lock(_)), "a transport error: {err}");
        proxy.resume(Direction::ServerToClient);
        assert_eq!(
            value(&direct, "lost").as_deref(),
            Some(token.as_str()),
            "the SET ran"
        );

        // Someone else's token does not steal it.
        let err = lock
            .acquire_with(false, None, Some(Token::generate()))
            .unwrap_err();
        assert!(is_not_acquired(&err), "{err}");

        if retry {
            direct.pexpire("lost", 3000).unwrap();
            let guard = lock.acquire_with(false, None, Some(token.clone())).unwrap();
            assert_eq!(guard.token(), &token);
            let pttl = direct.pttl("lost").unwrap();
            assert!(pttl > 9000, "the TTL restarted at the full timeout: {pttl}");
            assert!(guard.valid_for().unwrap() > ms(9000));
            guard.release().unwrap();
        } else {
            lock.release_token(&token).unwrap();
        }
        assert!(!lock.locked().unwrap());
    }
}

/// Finding: `acquire()` generates its token; when the reply to its `SET NX` is lost, the error
/// used to leave the lock held by a token nobody knows (forever, without a timeout). Now the
/// attempt releases that token (best effort) before returning the error.
#[test]
fn a_lost_reply_to_a_generated_token_does_not_orphan_the_lock() {
    let server = RedisServer::start();
    let direct = client(&server);
    let proxy = FaultProxy::start(server.addr());
    let c = proxied(&proxy, false);
    // No timeout: an orphaned lock would be held forever.
    let lock = Lock::new(
        c.clone(),
        "orphan",
        LockOptions::new().blocking_timeout(Duration::from_secs(2)),
    );

    let start = Instant::now();
    let err = with_first_reply_lost(&proxy, || lock.acquire().unwrap_err());
    assert!(err.is_timeout(), "the SET's timeout is reported: {err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(calls(&direct, "set"), 1, "the SET ran on the server");
    assert_eq!(
        value(&direct, "orphan"),
        None,
        "the attempt released its own token"
    );

    // The same for one attempt.
    let err = with_first_reply_lost(&proxy, || lock.try_acquire().unwrap_err());
    assert!(err.is_timeout(), "{err}");
    assert_eq!(calls(&direct, "set"), 2);
    assert_eq!(value(&direct, "orphan"), None);

    // The lock is free for the next holder at once.
    let next = Lock::new(direct.clone(), "orphan", LockOptions::new().blocking(false));
    next.acquire().unwrap().release().unwrap();
}

/// Finding: with `retry_on_timeout`, the client re-sends a SET whose reply was lost; the
/// re-sent SET finds the attempt's own token and answers nil. That used to read as "held by
/// someone else" (the caller then waited on its own lock); now it counts as acquired, and
/// with a timeout the TTL restarts from the full timeout.
#[test]
fn a_set_resent_by_retry_on_timeout_finds_its_own_token() {
    let server = RedisServer::start();
    let direct = client(&server);
    let proxy = FaultProxy::start(server.addr());
    let c = proxied(&proxy, true);

    for timeout in [Some(Duration::from_secs(10)), None] {
        let mut options = LockOptions::new().blocking(false);
        if let Some(timeout) = timeout {
            options = options.timeout(timeout);
        }
        let lock = Lock::new(c.clone(), "resent", options);
        let _: () = cmd("CONFIG").arg("RESETSTAT").query(&direct).unwrap();

        let guard = with_first_reply_lost(&proxy, || lock.acquire())
            .unwrap_or_else(|e| panic!("{timeout:?}: not acquired: {e}"));
        assert_eq!(calls(&direct, "set"), 2, "{timeout:?}: the SET ran twice");
        assert_eq!(
            value(&direct, "resent").as_deref(),
            Some(guard.token().as_str()),
            "{timeout:?}"
        );
        match timeout {
            Some(_) => {
                let pttl = direct.pttl("resent").unwrap();
                assert!(pttl > 9000, "the TTL restarted at the full timeout: {pttl}");
                assert!(guard.valid_for().unwrap() > ms(9000));
            }
            None => assert_eq!(direct.pttl("resent").unwrap(), -1),
        }
        guard.release().unwrap();
        assert!(!lock.locked().unwrap(), "{timeout:?}");
    }
}

/// Finding: `sleep(Duration::ZERO)` made a blocking acquisition a busy loop of SET NX. The
/// pause is at least 1 ms, so the attempts are at most one per millisecond.
#[test]
fn a_zero_sleep_pauses_at_least_a_millisecond_between_attempts() {
    let server = RedisServer::start();
    let c = client(&server);
    let holder = Lock::new(c.clone(), "busy", LockOptions::new());
    let held = holder.acquire().unwrap();
    let waiter = Lock::new(
        c.clone(),
        "busy",
        LockOptions::new()
            .sleep(Duration::ZERO)
            .blocking_timeout(ms(300)),
    );
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&c).unwrap();

    let start = Instant::now();
    let err = waiter.acquire().unwrap_err();
    let waited = start.elapsed();
    assert!(is_not_acquired(&err), "{err}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    let attempts = calls(&c, "set");
    // Each attempt but the first follows a pause of at least 1 ms (the last one may be
    // shorter, cut at the deadline).
    let bound = u64::try_from(waited.as_millis()).unwrap() + 2;
    assert!(
        (1..=bound).contains(&attempts),
        "{attempts} attempts in {waited:?}"
    );
    assert_eq!(LockOptions::MIN_SLEEP, ms(1));
    held.release().unwrap();
}

/// Finding: a 1 ms lock (or any timeout near the round trip) is almost never acquired: the
/// reply arrives after the lock expired, so the attempt releases it and, without a
/// blocking_timeout, tries forever. Timeouts under 10 ms are refused before anything is sent.
#[test]
fn a_lock_timeout_under_the_minimum_is_refused_before_anything_is_sent() {
    let server = RedisServer::start();
    let c = client(&server);
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&c).unwrap();
    for timeout in [ms(1), ms(5), Duration::from_micros(9_999)] {
        let lock = Lock::new(
            c.clone(),
            "short",
            LockOptions::new()
                .timeout(timeout)
                .blocking_timeout(Duration::from_secs(1)),
        );
        let start = Instant::now();
        let err = lock.acquire().unwrap_err();
        assert!(is_invalid(&err), "{timeout:?}: {err}");
        assert!(err.to_string().contains("10ms"), "{err}");
        let err = lock.try_acquire().unwrap_err();
        assert!(is_invalid(&err), "{timeout:?}: {err}");
        let err = lock.acquire_with(true, None, None).unwrap_err();
        assert!(is_invalid(&err), "{timeout:?}: {err}");
        assert!(start.elapsed() < ms(500), "{:?}", start.elapsed());
    }
    assert_eq!(calls(&c, "set"), 0, "nothing was sent");
    assert!(
        !Lock::new(c.clone(), "short", LockOptions::new())
            .locked()
            .unwrap()
    );

    // The minimum itself is accepted.
    let lock = Lock::new(
        c.clone(),
        "short",
        LockOptions::new().timeout(LockOptions::MIN_TIMEOUT),
    );
    assert_eq!(LockOptions::MIN_TIMEOUT, ms(10));
    let guard = lock.acquire_with(false, None, None);
    // On a loaded machine the reply may come after the 10 ms; then it is not acquired.
    match guard {
        Ok(guard) => {
            let _ = guard.release();
        }
        Err(e) => assert!(is_not_acquired(&e), "{e}"),
    }
}

/// RELIABILITY test 38: validity is counted from before the SET by the monotonic clock; an
/// acquisition whose reply outlives the timeout is not acquired.
#[test]
fn validity_uses_the_monotonic_clock() {
    let server = RedisServer::start();
    let direct = client(&server);
    let proxy = FaultProxy::start(server.addr());
    let c = Client::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .build();
    let _: String = c.ping().unwrap();
    let lock = Lock::new(c.clone(), "valid", LockOptions::new().timeout(ms(200)));

    proxy.delay(Direction::ServerToClient, ms(150));
    let guard = lock.acquire_with(false, None, None).unwrap();
    let left = guard.valid_for().unwrap();
    // 200 ms - 150 ms of reply delay - 4 ms of drift.
    assert!(left <= ms(46), "{left:?}");
    let token = guard.into_token();

    thread::sleep(ms(300));
    proxy.delay(Direction::ServerToClient, ms(250));
    let start = Instant::now();
    let err = lock.acquire_with(false, None, None).unwrap_err();
    assert!(is_not_acquired(&err), "{err}");
    assert!(start.elapsed() >= ms(250));
    proxy.delay(Direction::ServerToClient, Duration::ZERO);
    let held: Option<String> = direct.get("valid").unwrap();
    assert_ne!(held.as_deref(), Some(token.as_str()));
}

/// The contention test: 16 threads each increment a plain GET/SET counter (not INCR)
/// 50 times under the lock; half share one `Lock`, half have their own on the same name.
#[test]
fn sixteen_threads_increment_a_get_set_counter_exactly() {
    const THREADS: usize = 16;
    const ROUNDS: usize = 50;
    let server = RedisServer::start();
    let c = client(&server);
    let options = LockOptions::new()
        .timeout(Duration::from_secs(10))
        .sleep(ms(1))
        .blocking_timeout(Duration::from_secs(60));
    let shared = Lock::new(c.clone(), "counter:lock", options.clone());

    let tokens: Vec<Token> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let own = Lock::new(c.clone(), "counter:lock", options.clone());
                let shared = &shared;
                let c = c.clone();
                s.spawn(move || {
                    let lock = if i % 2 == 0 { shared } else { &own };
                    let mut tokens = Vec::with_capacity(ROUNDS);
                    for _ in 0..ROUNDS {
                        let guard = lock.acquire().unwrap();
                        let n: Option<i64> = c.get("counter").unwrap();
                        c.set("counter", n.unwrap_or(0) + 1).unwrap();
                        tokens.push(guard.token().clone());
                        guard.release().unwrap();
                    }
                    tokens
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let total: i64 = c.get("counter").unwrap();
    assert_eq!(total, (THREADS * ROUNDS) as i64);
    let distinct: HashSet<&Token> = tokens.iter().collect();
    assert_eq!(
        distinct.len(),
        THREADS * ROUNDS,
        "a fresh token per acquisition"
    );
    assert!(!shared.locked().unwrap());
}

#[test]
fn tokens_are_unique_and_128_bits() {
    let tokens: HashSet<Token> = (0..10_000).map(|_| Token::generate()).collect();
    assert_eq!(tokens.len(), 10_000);
    for token in &tokens {
        assert_eq!(token.as_str().len(), 32, "{token}");
        assert!(
            token
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{token}"
        );
    }
}
