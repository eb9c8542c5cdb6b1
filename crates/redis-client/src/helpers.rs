//! The `redis-ext` helpers as methods of [`Client`].

use redis_ext::Script;

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
}
