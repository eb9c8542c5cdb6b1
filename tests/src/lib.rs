//! Server fixtures shared by the integration suites.
//!
//! * [`RedisServer`] starts a real `redis-server` on a free loopback port (or a Unix socket) in
//!   a temporary directory, can pause, resume, kill and restart it, and stops it on drop.
//! * [`RawConnection`] talks RESP over a socket with nothing but [`resp_proto`], to check what
//!   a real server sends.
//! * [`FaultProxy`] sits between a client and a server and delays, stalls, truncates, cuts or
//!   resets the traffic on command.
//! * [`RedisCluster`] starts and joins a Redis Cluster of such servers with `redis-cli`.
//! * [`SentinelGroup`] starts a master, its replicas and the Sentinels monitoring them.
//! * [`TlsCerts`] generates the certificates of the TLS tests, and [`TlsServerExt::tls`] starts
//!   a server that speaks TLS with them.

mod cluster;
mod commands;
mod poll;
mod proxy;
mod raw;
mod sentinel;
mod server;
mod tls;

pub use cluster::{
    CLUSTER_NODE_TIMEOUT_MS, CLUSTER_READY_TIMEOUT, CLUSTER_SLOTS, ClusterNodeInfo, ClusterRole,
    REDIS_CLI_BIN_ENV, RedisCluster, cluster_bus_port,
};
pub use commands::CommandServer;
pub use poll::{accept_within, eventually};
pub use proxy::{Direction, FaultProxy};
pub use raw::{DEFAULT_IO_TIMEOUT, REPLY_DEADLINE, RawConnection, RawError};
pub use sentinel::{SENTINEL_READY_TIMEOUT, SentinelGroup, SentinelGroupBuilder};
pub use server::{
    CONFIG_FILE, DEFAULT_READY_TIMEOUT, REDIS_SERVER_BIN_ENV, RedisServer, RedisServerBuilder,
};
pub use tls::{CertFiles, ClientAuth, TlsCerts, TlsRedisServer, TlsServerBuilder, TlsServerExt};
