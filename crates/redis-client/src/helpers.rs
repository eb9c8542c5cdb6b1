//! The `redis-ext` helpers as methods of [`Client`].

use redis_ext::{Lock, LockOptions, Script};

use crate::client::Client;

impl Client {
    /// A Lua script run by its SHA1 and loaded when the server lacks it (redis-py's
    /// `register_script`); see [`Script`].
    ///
    /// ```no_run
    /// use redis_client::Client;
    ///
    /// let client = Client::open("redis://127.0.0.1:6379")?;
    /// let multiply = client.register_script("return tonumber(redis.call('GET', KEYS[1])) * tonumber(ARGV[1])");
    /// let n: i64 = multiply.invoke(&client, ["foo"], [5])?;
    /// # let _ = n;
    /// # Ok::<(), redis_client::Error>(())
    /// ```
    pub fn register_script(&self, code: impl Into<String>) -> Script {
        Script::new(code)
    }

    /// A distributed lock on the key `name` (redis-py's `Redis.lock`); see [`Lock`] for the
    /// settings, the guard, the single-instance and failover caveats, and fencing tokens.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use redis_client::Client;
    /// use redis_client::ext::LockOptions;
    ///
    /// let client = Client::open("redis://127.0.0.1:6379")?;
    /// let lock = client.lock("my-lock-key", LockOptions::new().blocking_timeout(Duration::from_secs(5)));
    /// let guard = lock.acquire()?;
    /// // ... work under the lock ...
    /// guard.release()?;
    /// # Ok::<(), redis_client::Error>(())
    /// ```
    pub fn lock(&self, name: impl Into<String>, options: LockOptions) -> Lock<Client> {
        Lock::new(self.clone(), name, options)
    }
}
