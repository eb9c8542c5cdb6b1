//! A blocking, thread-safe Redis client.
//!
//! [`Client`] is the type to start with: it is `Send + Sync + Clone` and keeps a pool of
//! connections. Every Redis command is a typed method of [`Commands`] (in the [`prelude`]);
//! optional arguments go in option structs ([`SetOptions`]), and replies convert to the type
//! you ask for ([`FromReply`]): `()`, integers, floats, `String`, `Vec<u8>`, [`Bytes`],
//! `Option<T>`, `Vec<T>`, maps, tuples, structured replies ([`replies`]) or the raw [`Value`].
//! Anything else goes through [`cmd`].
//!
//! ```no_run
//! use std::time::Duration;
//! use redis_client::prelude::*;
//! use redis_client::{Client, SetOptions};
//!
//! let client = Client::builder()
//!     .host("127.0.0.1")
//!     .port(6379)
//!     .socket_timeout(Duration::from_secs(1))
//!     .max_connections(16)
//!     .build();
//! client.set("counter", 41)?;
//! assert_eq!(client.incr("counter")?, 42);
//! let name: Option<String> = client.get("name")?;
//! let created: Option<()> = client.set_with("session", "token", &SetOptions::new().ex(60).nx())?;
//!
//! // Pipelines and transactions, publish/subscribe, scripts, locks, scan iterators:
//! let (ok, n): ((), i64) = client.pipeline().set("a", 1).incr("a").query()?;
//! for key in client.scan_iter::<String>(Default::default()) {
//!     let _ = key?;
//! }
//! # let _ = (name, ok, n, created);
//! # Ok::<(), redis_client::Error>(())
//! ```
//!
//! [`Pipeline`], [`Client::transaction`], [`PubSub`], [`Monitor`], [`Script`], [`Lock`] and
//! [`ClusterClient`] cover the rest of redis-py's features; `docs/migrating-from-redis-py.md`
//! maps them one by one.
//!
//! # Safety under faults
//!
//! A request that fails in the middle (timeout, I/O error, malformed reply) closes its
//! connection: no later request can read its late reply. Nothing that may have reached the
//! server is retried unless you turn on `retry_on_timeout`. Commands that change connection
//! state (SELECT, CLIENT ..., MULTI, SUBSCRIBE, ...) sent through the pooled client close
//! their connection afterwards; use [`Client::get_connection`] for them.
//!
//! # Layers
//!
//! The crate re-exports the layers it is built on: [`proto`] (`resp-proto`, the codec),
//! [`conn`] (`redis-conn`, connections and configuration), [`pool`] (`redis-pool`),
//! [`commands`] (`redis-commands`) and [`ext`] (`redis-ext`).

#![deny(missing_docs)]

mod batch;
mod client;
mod cluster;
mod error;
mod helpers;
mod monitor;
mod pipeline;
mod pubsub;
mod scan;

pub use crate::client::{Client, ClientBuilder, DedicatedConnection};
pub use crate::cluster::{ClusterClient, ClusterClientBuilder, ClusterError, key_slot};
pub use crate::cluster::{ClusterPipeline, ClusterPubSub, ClusterScanIter, ReadFrom};
pub use crate::error::Error;
pub use crate::monitor::{Monitor, MonitorEvent, MonitorSource};
pub use crate::pipeline::{Pipeline, RetryPolicy, WatchedPipeline};
pub use crate::pubsub::{
    ErrorHandler, Handler, Listen, Message, MessageKind, PubSub, PubSubWorker,
};
pub use crate::scan::ScanConnection;
/// The byte-string type of replies and messages (from the `bytes` crate).
pub use bytes::Bytes;
pub use redis_commands::{
    ArgumentError, BitfieldOps, BitfieldOverflow, Cmd, Commands, ConversionError, FromReply,
    PipelineCommands, Runner, ToArg, ToArgs, build, cmd, replies,
};
/// The option structs and argument enums of the typed commands (`SetOptions`, `Direction`, ...).
pub use redis_commands::{enums::*, options::*};
pub use redis_conn::{ServerError, ServerErrorKind, TlsConfig, insecure_tls_warned};
pub use resp_proto::{Protocol, Value};

/// The RESP codec (`resp-proto`).
pub use resp_proto as proto;

/// Connections and their configuration (`redis-conn`).
pub use redis_conn as conn;

/// The connection pool (`redis-pool`).
pub use redis_pool as pool;

/// Commands, arguments and reply conversion (`redis-commands`).
pub use redis_commands as commands;

/// The traits that put the typed command methods and the scan iterators in scope:
/// `use redis_client::prelude::*;`.
pub mod prelude {
    pub use redis_commands::{Commands, PipelineCommands};
    pub use redis_ext::ScanExt;
}

/// Sentinel discovery and the pools that follow failovers (`redis_ext::sentinel`).
pub use redis_ext::sentinel::{NodeAddr, Sentinel, SentinelError, SentinelOptions};
pub use redis_ext::{Lock, LockError, LockGuard, LockOptions, ScanExt, ScanIter, Script, Token};

/// Locks, scripts, Sentinel and scan iterators (`redis-ext`).
pub use redis_ext as ext;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
