//! A blocking, thread-safe pool of Redis connections.
//!
//! A [`Pool`] is cheap to clone and shared by every thread that talks to one server. It opens
//! connections on demand up to its maximum size, hands out the most recently used idle one
//! first, and takes a connection back only when it is clean.
//!
//! ```no_run
//! use redis_conn::ConnectionConfig;
//! use redis_pool::{Pool, PoolOptions};
//!
//! let config = ConnectionConfig::from_url("redis://127.0.0.1:6379")?;
//! let pool = Pool::new(config, PoolOptions::new().max_size(8));
//! let mut conn = pool.get()?;
//! conn.request(&["SET", "k", "v"])?;
//! drop(conn); // back to the pool
//! assert_eq!(pool.stats().idle, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The contract
//!
//! * **Checkout** pops the most recently returned idle connection and checks it without a
//!   round trip (the socket must have nothing to read and not be closed); only when it sat
//!   idle longer than the configured health-check interval is it PINGed. A connection that
//!   fails either check is closed and the next one tried; when none is idle and the pool is
//!   below its size, a new one is opened.
//! * **Exhaustion** either waits up to a timeout for a connection to come back (redis-py's
//!   `BlockingConnectionPool`, the default) or fails at once (redis-py's `ConnectionPool`),
//!   by [`PoolOptions`].
//! * **Return** happens when a [`PooledConnection`] drops. A connection that is broken, that
//!   has unread bytes or push messages, or that its user marked dirty (it changed the
//!   database, or was left inside MULTI, WATCH or SUBSCRIBE) is closed instead.
//! * No lock is held across I/O or user code, and the pool runs no background thread.

#![deny(missing_docs)]

mod pool;

pub use pool::{
    Checkout, CloseReason, Connector, Error, Pool, PoolOptions, PoolStats, PooledConnection,
};
