//! [`Lock`]: redis-py's single-instance distributed lock, with a guard that releases on drop.
//! The documentation, caveats and fencing tokens are on [`Lock`].

use std::fmt;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis_commands::Commands;
use redis_commands::options::SetOptions;

use crate::error::{ExtError, LockError};
use crate::script::Script;
pub use crate::token::Token;

/// KEYS[1] = name, ARGV[1] = token: delete the key when it holds the token.
const RELEASE_LUA: &str = r"
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
redis.call('del', KEYS[1])
return 1
";

/// KEYS[1] = name, ARGV[1] = token, ARGV[2] = milliseconds, ARGV[3] = "1" to replace the TTL
/// or "0" to add to it. Fails on a key without a TTL, as redis-py's does.
const EXTEND_LUA: &str = r"
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
local expiration = redis.call('pttl', KEYS[1])
if not expiration then
    expiration = 0
end
if expiration < 0 then
    return 0
end
local newttl = ARGV[2]
if ARGV[3] == '0' then
    newttl = ARGV[2] + expiration
end
redis.call('pexpire', KEYS[1], newttl)
return 1
";

/// KEYS[1] = name, ARGV[1] = token, ARGV[2] = milliseconds: reset the TTL.
const REACQUIRE_LUA: &str = r"
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return 0
end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
";

/// KEYS[1] = name, KEYS[2] = fence counter, ARGV[1] = token: INCR the counter while the lock
/// holds the token, nil otherwise.
const FENCE_LUA: &str = r"
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then
    return false
end
return redis.call('incr', KEYS[2])
";

static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LUA));
static EXTEND: LazyLock<Script> = LazyLock::new(|| Script::new(EXTEND_LUA));
static REACQUIRE: LazyLock<Script> = LazyLock::new(|| Script::new(REACQUIRE_LUA));
static FENCE: LazyLock<Script> = LazyLock::new(|| Script::new(FENCE_LUA));

/// The settings of a [`Lock`] (redis-py's `Lock(...)` arguments), built with chained methods.
///
/// | Setting | Default | Meaning |
/// | --- | --- | --- |
/// | `timeout` | `None` | The lock's TTL, sent as `PX` in whole milliseconds (sub-millisecond parts are dropped, as redis-py's `int(timeout * 1000)`); `None` means the lock never expires. A timeout under [`LockOptions::MIN_TIMEOUT`] (10 ms) is [`LockError::Invalid`], returned by the first acquisition before anything is sent. |
/// | `sleep` | 100 ms | The pause between attempts while blocking; at least [`LockOptions::MIN_SLEEP`] (1 ms), so a zero sleep does not turn the wait into a busy loop of `SET NX`. |
/// | `blocking` | `true` | Whether [`Lock::acquire`] waits for the lock. |
/// | `blocking_timeout` | `None` | How long [`Lock::acquire`] keeps trying; `None` means forever. |
///
/// ```
/// use std::time::Duration;
/// use redis_ext::LockOptions;
///
/// let options = LockOptions::new()
///     .timeout(Duration::from_secs(5))
///     .sleep(Duration::from_millis(20))
///     .blocking_timeout(Duration::from_secs(1));
/// assert_eq!(options.timeout, Some(Duration::from_secs(5)));
/// assert!(options.blocking);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct LockOptions {
    /// The lock's TTL; `None`: no expiry.
    pub timeout: Option<Duration>,
    /// The pause between attempts while blocking.
    pub sleep: Duration,
    /// Whether [`Lock::acquire`] waits for the lock (`false`: one attempt).
    pub blocking: bool,
    /// How long [`Lock::acquire`] keeps trying; `None`: forever.
    pub blocking_timeout: Option<Duration>,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            timeout: None,
            sleep: Duration::from_millis(100),
            blocking: true,
            blocking_timeout: None,
        }
    }
}

impl LockOptions {
    /// The shortest lock timeout an acquisition accepts: 10 ms.
    ///
    /// A shorter lock protects nothing: the drift allowance of [`LockGuard::valid_for`] is
    /// 2 ms to begin with, and a lock that expires before its holder has read the reply is
    /// counted as not acquired (and released), so a timeout near the round-trip time is
    /// almost never acquired, and a blocking acquisition without a `blocking_timeout` would
    /// take and release the lock forever. Acquiring with a shorter timeout fails at once with
    /// [`LockError::Invalid`], before anything is sent.
    pub const MIN_TIMEOUT: Duration = Duration::from_millis(10);

    /// The shortest pause between two attempts of a blocking acquisition: 1 ms. A shorter
    /// `sleep` (including zero) waits this long.
    pub const MIN_SLEEP: Duration = Duration::from_millis(1);

    /// The defaults: no timeout, 100 ms sleep, blocking, no blocking timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock's TTL (`PX`, whole milliseconds; at least [`LockOptions::MIN_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The pause between attempts while blocking (at least [`LockOptions::MIN_SLEEP`]).
    pub fn sleep(mut self, sleep: Duration) -> Self {
        self.sleep = sleep;
        self
    }

    /// Whether [`Lock::acquire`] waits for the lock.
    pub fn blocking(mut self, blocking: bool) -> Self {
        self.blocking = blocking;
        self
    }

    /// How long [`Lock::acquire`] keeps trying.
    pub fn blocking_timeout(mut self, blocking_timeout: Duration) -> Self {
        self.blocking_timeout = Some(blocking_timeout);
        self
    }
}

/// A distributed lock on one Redis key (redis-py's `redis.lock.Lock`), generic over the
/// [`Commands`] it runs on.
///
/// The `Lock` holds no token itself: each acquisition returns a [`LockGuard`] that owns the
/// acquisition's [`Token`], so one `Lock` can be shared by many threads (`&Lock` or an
/// `Arc`), and only the code holding a guard can release or extend that acquisition (unlike
/// redis-py, where `thread_local=False` lets any thread release). The guard releases the lock
/// when dropped.
///
/// | redis-py | here |
/// | --- | --- |
/// | `Lock(r, name, timeout, sleep, blocking, blocking_timeout)` | [`Lock::new`] with [`LockOptions`] |
/// | `acquire()` | [`acquire`](Lock::acquire) (`Err(NotAcquired)` instead of `False`), [`try_acquire`](Lock::try_acquire) |
/// | `acquire(blocking, blocking_timeout, token)` | [`acquire_with`](Lock::acquire_with) |
/// | `release()` | [`LockGuard::release`], or drop the guard |
/// | `extend(t, replace_ttl)`, `reacquire()` | [`LockGuard::extend`], [`LockGuard::reacquire`] |
/// | `locked()`, `owned()` | [`Lock::locked`], [`LockGuard::owned`] ([`Lock::owned_by`]) |
/// | `LockError` / `LockNotOwnedError` | [`LockError::NotAcquired`], [`LockError::Invalid`] / [`LockError::NotOwned`] |
///
/// # How it works
///
/// Acquiring runs `SET name token NX [PX timeout]` with a fresh [`Token`] per acquisition.
/// Release, extend and reacquire are Lua scripts that act only while the key still holds that
/// token, so a holder whose lock expired and was taken by someone else can never delete or
/// prolong the new holder's lock: it gets [`LockError::NotOwned`] instead.
///
/// **Lost replies.** When `SET NX` answers that the key exists, the acquisition checks
/// whether the key holds its own token (the `REACQUIRE` script, which also restarts the
/// TTL; a `GET` for a lock without a timeout). So a `SET` that ran but whose reply was lost
/// and re-sent (the client's `retry_on_timeout`) counts as acquired, not as "held by
/// someone else". When an attempt with a generated token fails with an error (a timeout, a
/// lost connection), the `SET` may have run without anyone knowing the token: the
/// acquisition then makes one best-effort token-checked release before returning the
/// error, so the lock is not left held until its TTL ends (forever without a timeout). That
/// release can add up to one more socket timeout before the error comes back; if it fails
/// too, a lock with a timeout still expires. With a token of your own
/// ([`acquire_with`](Lock::acquire_with)), nothing is released: you keep the token, to retry
/// or to release.
///
/// ```no_run
/// # fn demo<C>(client: C) -> Result<(), C::Error>
/// # where C: redis_commands::Commands, C::Error: redis_ext::ExtError {
/// use std::time::Duration;
/// use redis_ext::{Lock, LockOptions};
///
/// let lock = Lock::new(
///     client,
///     "reports:lock",
///     LockOptions::new()
///         .timeout(Duration::from_secs(10))
///         .blocking_timeout(Duration::from_secs(2)),
/// );
/// {
///     let guard = lock.acquire()?; // LockError::NotAcquired after 2 s
///     // ... work, checking `guard.is_valid()` before anything irreversible ...
/// } // released here (errors on drop are ignored; `guard.release()` returns them)
/// # Ok(())
/// # }
/// ```
///
/// # Caveats: one server, no consensus
///
/// This is a lock on **one** Redis server (or one master), as in redis-py; it is not Redlock.
/// It is as safe as that one server:
///
/// * **Failover loses locks.** Replication is asynchronous. If the master acknowledges the
///   `SET` and fails before a replica receives it, and that replica is promoted (Sentinel,
///   cluster failover, a manual `REPLICAOF NO ONE`), the lock is gone and a second client can
///   acquire it while the first still believes it holds it. A restart without persistence
///   (or with `appendfsync everysec` losing the last second) does the same.
/// * **Expiry is time-based.** A holder that pauses (GC, swap, a stopped VM, a slow network)
///   longer than its timeout loses the lock without noticing. [`LockGuard::valid_for`] tells
///   how much of the timeout is left by the local monotonic clock ([`Instant`]), counted from
///   before the `SET` was sent and minus a drift allowance (1% of the timeout plus 2 ms);
///   check it before acting, and [`extend`](LockGuard::extend) long work. An acquisition whose
///   reply arrives after the timeout has already run out counts as not acquired.
/// * **No automatic renewal** (as in redis-py): extend or reacquire yourself.
///
/// # Fencing tokens
///
/// Because of these caveats, a lock alone cannot make a write safe when correctness matters
/// (Martin Kleppmann, "How to do distributed locking"). Use a **fencing token**: a number that
/// increases with every acquisition, sent with each write, and checked by the protected
/// resource, which refuses a number lower than the highest it has seen.
/// [`LockGuard::fence`] gives one: a Lua script increments a counter key only while the lock
/// key still holds this guard's token, so the numbers follow the order in which holders
/// really held the lock (a holder whose lock expired gets [`LockError::NotOwned`], never a
/// fresh number).
///
/// ```no_run
/// # fn demo<C>(client: C) -> Result<(), C::Error>
/// # where C: redis_commands::Commands, C::Error: redis_ext::ExtError {
/// use std::time::Duration;
/// use redis_ext::{Lock, LockOptions};
///
/// /// The protected resource: it remembers the highest fencing token it accepted.
/// struct Storage {
///     highest_fence: u64,
///     data: String,
/// }
///
/// impl Storage {
///     fn write(&mut self, fence: u64, data: &str) -> Result<(), String> {
///         if fence < self.highest_fence {
///             // A newer holder has written: this writer's lock expired while it paused.
///             return Err(format!("stale fencing token {fence} < {}", self.highest_fence));
///         }
///         self.highest_fence = fence;
///         self.data = data.to_owned();
///         Ok(())
///     }
/// }
///
/// let mut storage = Storage { highest_fence: 0, data: String::new() };
/// let lock = Lock::new(client, "file:lock", LockOptions::new().timeout(Duration::from_secs(30)));
/// let guard = lock.acquire()?;
/// let fence = guard.fence("file:fence")?; // 1, 2, 3, ... across all holders
/// storage.write(fence, "new contents").expect("a newer holder wrote first");
/// guard.release()?;
/// # Ok(())
/// # }
/// ```
///
/// When the resource is Redis itself, the check belongs in the same Lua script as the write
/// (compare the fence with a stored highest value, then write), so that check and write are
/// atomic. On a Redis Cluster the lock key and the fence key must hash to the same slot (use
/// a hash tag: `{file}:lock`, `{file}:fence`).
#[derive(Debug, Clone)]
pub struct Lock<C> {
    client: C,
    name: String,
    options: LockOptions,
}

impl<C> Lock<C> {
    /// A lock on the key `name`, run on `client` (for the `redis-client` facade, a clone of
    /// the `Client`: it is cheap and shares the pool).
    pub fn new(client: C, name: impl Into<String>, options: LockOptions) -> Lock<C> {
        Lock {
            client,
            name: name.into(),
            options,
        }
    }

    /// The lock's key.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lock's settings.
    pub fn options(&self) -> &LockOptions {
        &self.options
    }

    /// The client the lock runs its commands on.
    pub fn client(&self) -> &C {
        &self.client
    }
}

impl<C: Commands> Lock<C>
where
    C::Error: ExtError,
{
    /// Acquires the lock with a fresh token, blocking or not and for as long as the
    /// [`LockOptions`] say.
    ///
    /// Failing to acquire in time (or at once, when not blocking) is
    /// [`LockError::NotAcquired`]; a timeout under [`LockOptions::MIN_TIMEOUT`] is
    /// [`LockError::Invalid`]. A command error ends the attempt at once, after a best-effort
    /// release of the attempt's token (see "Lost replies" on [`Lock`]), so an attempt whose
    /// `SET` ran but whose reply was lost does not leave the lock held.
    pub fn acquire(&self) -> Result<LockGuard<'_, C>, C::Error> {
        self.acquire_with(self.options.blocking, self.options.blocking_timeout, None)
    }

    /// One attempt at the lock, with a fresh token: `Ok(None)` when someone else holds it.
    /// On an error, the token is released (best effort) as for [`acquire`](Lock::acquire).
    pub fn try_acquire(&self) -> Result<Option<LockGuard<'_, C>>, C::Error> {
        let px = self.px()?;
        self.attempt_generated(&Token::generate(), px)
    }

    /// Acquires the lock with these settings instead of the lock's own (redis-py's
    /// `acquire(blocking, blocking_timeout, token)`): `blocking_timeout` `None` waits forever
    /// when `blocking`; `token` `None` generates a fresh one.
    ///
    /// While blocking, the attempts are `sleep` apart (at least [`LockOptions::MIN_SLEEP`]),
    /// but a pause never runs past the `blocking_timeout` deadline: the last attempt is made
    /// at the deadline, and then the result is [`LockError::NotAcquired`].
    ///
    /// **Retrying with the same token.** When the key already holds the token (an earlier
    /// attempt succeeded but its reply was lost, say to a timeout), the acquisition succeeds
    /// and the TTL starts again from the full timeout. This holds for generated tokens too,
    /// so a `SET` the client re-sent after a timeout (`retry_on_timeout`) finds its own
    /// token and counts as acquired.
    ///
    /// **Errors.** With a generated token (`token` `None`), an attempt that fails with an
    /// error is followed by a best-effort release of that token (see "Lost replies" on
    /// [`Lock`]). A token you give is left alone: keep the token of an attempt that ended in
    /// an error to retry it safely, or to release it with [`Lock::release_token`].
    pub fn acquire_with(
        &self,
        blocking: bool,
        blocking_timeout: Option<Duration>,
        token: Option<Token>,
    ) -> Result<LockGuard<'_, C>, C::Error> {
        let px = self.px()?;
        let deadline = blocking_timeout.and_then(|t| Instant::now().checked_add(t));
        let (token, generated) = match token {
            Some(token) => (token, false),
            None => (Token::generate(), true),
        };
        loop {
            let attempt = if generated {
                self.attempt_generated(&token, px)?
            } else {
                self.attempt(&token, px)?
            };
            if let Some(guard) = attempt {
                return Ok(guard);
            }
            if !blocking {
                return Err(self.not_acquired());
            }
            // Never a busy loop of SET NX, whatever the sleep setting.
            let mut pause = self.options.sleep.max(LockOptions::MIN_SLEEP);
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(self.not_acquired());
                }
                pause = pause.min(left);
            }
            std::thread::sleep(pause);
        }
    }

    /// Whether anyone holds the lock (the key exists).
    pub fn locked(&self) -> Result<bool, C::Error> {
        Ok(self.client.exists(self.name.as_str())? > 0)
    }

    /// Whether the lock's key holds `token`.
    pub fn owned_by(&self, token: &Token) -> Result<bool, C::Error> {
        let value: Option<Bytes> = self.client.get(self.name.as_str())?;
        Ok(value.as_deref() == Some(token.as_str().as_bytes()))
    }

    /// Releases the acquisition that holds `token` (for a token kept from
    /// [`LockGuard::into_token`] or from an acquisition whose reply was lost).
    /// [`LockError::NotOwned`] when the key does not hold it.
    pub fn release_token(&self, token: &Token) -> Result<(), C::Error> {
        let released: i64 = RELEASE.invoke(&self.client, [self.name.as_str()], [token.as_str()])?;
        if released == 1 {
            Ok(())
        } else {
            Err(self.not_owned())
        }
    }

    /// [`attempt`](Self::attempt) with a token nobody else knows: on an error the `SET` may
    /// have run and left the token under the key with nobody able to release it, so release
    /// it, best effort (token-checked: it never touches another holder's lock).
    fn attempt_generated(
        &self,
        token: &Token,
        px: Option<i64>,
    ) -> Result<Option<LockGuard<'_, C>>, C::Error> {
        self.attempt(token, px).inspect_err(|_| {
            // The error to report is the attempt's; this one changes nothing for the caller.
            let _ = self.release_token(token);
        })
    }

    /// One `SET NX [PX]`; `None` when the lock is held by someone else or the reply came too
    /// late to leave any validity.
    fn attempt(
        &self,
        token: &Token,
        px: Option<i64>,
    ) -> Result<Option<LockGuard<'_, C>>, C::Error> {
        let started = Instant::now();
        let mut options = SetOptions::new().nx();
        if let Some(ms) = px {
            options = options.px(ms);
        }
        let set: Option<()> = self
            .client
            .set_with(self.name.as_str(), token.as_str(), &options)?;
        let acquired = match (set, px) {
            (Some(()), _) => true,
            // The key exists, but it may hold this very token: an earlier SET of it ran and
            // its reply was lost, and either the client re-sent it (`retry_on_timeout`) or
            // the caller retries with the token. Claim it again with a fresh TTL, so the
            // validity below is right. Another holder's lock is left alone.
            (None, Some(ms)) => self.reacquire_token(token, ms)?,
            (None, None) => self.owned_by(token)?,
        };
        if !acquired {
            return Ok(None);
        }
        let valid_until = px.and_then(|ms| valid_until(started, Duration::from_millis(ms as u64)));
        if valid_until.is_some_and(|until| Instant::now() >= until) {
            // The reply took the whole timeout: the lock may already be someone else's.
            // Best effort; an error here changes nothing for the caller.
            let _ = self.release_token(token);
            return Ok(None);
        }
        Ok(Some(LockGuard {
            lock: self,
            token: token.clone(),
            armed: true,
            acquired_at: started,
            valid_until,
        }))
    }

    fn reacquire_token(&self, token: &Token, ms: i64) -> Result<bool, C::Error> {
        let done: i64 = REACQUIRE.invoke(
            &self.client,
            [self.name.as_str()],
            [token.as_str(), ms.to_string().as_str()],
        )?;
        Ok(done == 1)
    }

    /// The timeout in whole milliseconds, checked: at least [`LockOptions::MIN_TIMEOUT`].
    fn px(&self) -> Result<Option<i64>, LockError> {
        match self.options.timeout {
            None => Ok(None),
            Some(t) if t < LockOptions::MIN_TIMEOUT => Err(LockError::Invalid(format!(
                "a lock timeout of {t:?} is below the minimum of {:?}: the lock would expire \
                 before its holder could use it",
                LockOptions::MIN_TIMEOUT
            ))),
            Some(t) => millis(t, "lock timeout").map(Some),
        }
    }

    fn not_acquired(&self) -> C::Error {
        LockError::NotAcquired {
            name: self.name.clone(),
        }
        .into()
    }

    fn not_owned(&self) -> C::Error {
        LockError::NotOwned {
            name: self.name.clone(),
        }
        .into()
    }
}

/// Whole milliseconds of `d` as an `i64`, at least 1.
fn millis(d: Duration, what: &str) -> Result<i64, LockError> {
    match i64::try_from(d.as_millis()) {
        Ok(0) => Err(LockError::Invalid(format!(
            "a {what} must be at least 1 ms"
        ))),
        Ok(ms) => Ok(ms),
        Err(_) => Err(LockError::Invalid(format!("a {what} of {d:?} is too long"))),
    }
}

/// The drift allowance for a TTL: 1% plus 2 ms (Redlock's), at most half the TTL.
fn drift(ttl: Duration) -> Duration {
    (ttl / 100 + Duration::from_millis(2)).min(ttl / 2)
}

/// When a TTL that started at `started` ends by the local clock, less the drift; `None` if
/// that is beyond what `Instant` can represent (as good as never).
fn valid_until(started: Instant, ttl: Duration) -> Option<Instant> {
    started.checked_add(ttl - drift(ttl))
}

/// One acquisition of a [`Lock`]: it owns the acquisition's [`Token`] and releases the lock
/// when dropped.
///
/// A release on drop ignores errors (the lock then expires on its own, if it has a timeout);
/// [`release`](Self::release) returns them, including [`LockError::NotOwned`] when the lock
/// expired and someone else took it. [`into_token`](Self::into_token) gives the guard up
/// without releasing.
pub struct LockGuard<'l, C: Commands>
where
    C::Error: ExtError,
{
    lock: &'l Lock<C>,
    token: Token,
    armed: bool,
    acquired_at: Instant,
    valid_until: Option<Instant>,
}

impl<C: Commands> fmt::Debug for LockGuard<'_, C>
where
    C::Error: ExtError,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("name", &self.lock.name)
            .field("token", &self.token)
            .field("valid_for", &self.valid_for())
            .finish_non_exhaustive()
    }
}

impl<'l, C: Commands> LockGuard<'l, C>
where
    C::Error: ExtError,
{
    /// The acquisition's token (the value stored under the lock's key).
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The lock's key.
    pub fn name(&self) -> &str {
        &self.lock.name
    }

    /// The lock this guard holds.
    pub fn lock(&self) -> &'l Lock<C> {
        self.lock
    }

    /// When the acquiring `SET` was sent (by the monotonic clock).
    pub fn acquired_at(&self) -> Instant {
        self.acquired_at
    }

    /// How long the lock is still ours by the local monotonic clock: the timeout counted from
    /// before the `SET` (or the last extend or reacquire) was sent, less a drift allowance of
    /// 1% plus 2 ms. `None` for a lock without a timeout (it never expires); zero once
    /// expired. A conservative estimate; the server decides.
    pub fn valid_for(&self) -> Option<Duration> {
        match (self.lock.options.timeout, self.valid_until) {
            (None, _) | (Some(_), None) => None,
            (Some(_), Some(until)) => Some(until.saturating_duration_since(Instant::now())),
        }
    }

    /// Whether [`valid_for`](Self::valid_for) is not yet zero.
    pub fn is_valid(&self) -> bool {
        self.valid_for().is_none_or(|left| !left.is_zero())
    }

    /// Whether the lock's key still holds this guard's token (asks the server).
    pub fn owned(&self) -> Result<bool, C::Error> {
        self.lock.owned_by(&self.token)
    }

    /// Adds `additional` to the lock's remaining TTL, or with `replace_ttl` sets the TTL to
    /// `additional` (redis-py's `extend`).
    ///
    /// [`LockError::Invalid`] for a lock without a timeout or an `additional` under 1 ms;
    /// [`LockError::NotOwned`] when the key no longer holds this token (or has no TTL).
    pub fn extend(&mut self, additional: Duration, replace_ttl: bool) -> Result<(), C::Error> {
        if self.lock.options.timeout.is_none() {
            return Err(LockError::Invalid("cannot extend a lock with no timeout".into()).into());
        }
        let ms = millis(additional, "lock extension")?;
        let started = Instant::now();
        let done: i64 = EXTEND.invoke(
            &self.lock.client,
            [self.lock.name.as_str()],
            [
                self.token.as_str(),
                ms.to_string().as_str(),
                if replace_ttl { "1" } else { "0" },
            ],
        )?;
        if done != 1 {
            return Err(self.lock.not_owned());
        }
        let additional = Duration::from_millis(ms as u64);
        self.valid_until = if replace_ttl {
            valid_until(started, additional)
        } else {
            self.valid_until
                .and_then(|until| until.checked_add(additional))
        };
        Ok(())
    }

    /// Resets the lock's TTL to the full timeout (redis-py's `reacquire`).
    ///
    /// [`LockError::Invalid`] for a lock without a timeout; [`LockError::NotOwned`] when the
    /// key no longer holds this token.
    pub fn reacquire(&mut self) -> Result<(), C::Error> {
        let Some(ms) = self.lock.px()? else {
            return Err(
                LockError::Invalid("cannot reacquire a lock with no timeout".into()).into(),
            );
        };
        let started = Instant::now();
        if !self.lock.reacquire_token(&self.token, ms)? {
            return Err(self.lock.not_owned());
        }
        self.valid_until = valid_until(started, Duration::from_millis(ms as u64));
        Ok(())
    }

    /// The next fencing token from the counter at `counter_key`: `INCR counter_key`, run only
    /// while the lock's key holds this guard's token (one Lua script), so the numbers grow in
    /// the order the lock was really held. Send it with every write to the protected
    /// resource, which rejects a number lower than the highest it has seen (see
    /// [`Lock`], "Fencing tokens").
    ///
    /// [`LockError::NotOwned`] when the lock is no longer this guard's.
    pub fn fence(&self, counter_key: &str) -> Result<u64, C::Error> {
        let fence: Option<u64> = FENCE.invoke(
            &self.lock.client,
            [self.lock.name.as_str(), counter_key],
            [self.token.as_str()],
        )?;
        fence.ok_or_else(|| self.lock.not_owned())
    }

    /// Releases the lock (redis-py's `release`): [`LockError::NotOwned`] when the key no
    /// longer holds this token, in which case nothing is deleted.
    pub fn release(mut self) -> Result<(), C::Error> {
        self.armed = false;
        self.lock.release_token(&self.token)
    }

    /// Gives the guard up without releasing the lock, and returns its token (release it later
    /// with [`Lock::release_token`], or let it expire).
    pub fn into_token(mut self) -> Token {
        self.armed = false;
        self.token.clone()
    }
}

impl<C: Commands> Drop for LockGuard<'_, C>
where
    C::Error: ExtError,
{
    fn drop(&mut self) {
        if self.armed {
            self.armed = false;
            let _ = self.lock.release_token(&self.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{LockOptions, drift, millis};

    #[test]
    fn the_minimums_are_sane() {
        assert_eq!(LockOptions::MIN_TIMEOUT, Duration::from_millis(10));
        assert_eq!(LockOptions::MIN_SLEEP, Duration::from_millis(1));
        // The drift allowance leaves most of the shortest timeout.
        assert!(drift(LockOptions::MIN_TIMEOUT) < LockOptions::MIN_TIMEOUT / 4);
    }

    #[test]
    fn defaults_follow_redis_py() {
        let o = LockOptions::new();
        assert_eq!(o.timeout, None);
        assert_eq!(o.sleep, Duration::from_millis(100));
        assert!(o.blocking);
        assert_eq!(o.blocking_timeout, None);
    }

    #[test]
    fn millis_truncate_and_reject_zero_and_overflow() {
        assert_eq!(millis(Duration::from_micros(1500), "t"), Ok(1));
        assert!(millis(Duration::from_micros(999), "t").is_err());
        assert!(millis(Duration::MAX, "t").is_err());
    }

    #[test]
    fn drift_is_one_percent_plus_2ms_at_most_half() {
        assert_eq!(drift(Duration::from_secs(10)), Duration::from_millis(102));
        assert_eq!(drift(Duration::from_millis(2)), Duration::from_millis(1));
    }
}
