//! Connections to a Redis server: configuration and URLs, TCP and Unix transports, the
//! handshake, timeouts and health checks.
//!
//! This crate is the I/O layer of the client: it knows where a server is and how to talk to
//! it, and nothing about command names beyond its handshake. Most users reach it through the
//! `redis-client` facade; [`ConnectionConfig`] is the type they meet most.
//!
//! ```
//! use redis_conn::ConnectionConfig;
//!
//! let config = ConnectionConfig::from_url("rediss://:s3cret@cache.example.com:6380/1?protocol=3")?;
//! assert!(config.tls().is_some());
//! assert_eq!(config.db(), 1);
//!
//! // Turning TLS verification off is impossible from a URL.
//! let err = ConnectionConfig::from_url("rediss://cache.example.com?ssl_cert_reqs=none").unwrap_err();
//! assert_eq!(err.parameter(), "ssl_cert_reqs");
//! # Ok::<(), redis_conn::ConfigError>(())
//! ```

#![deny(missing_docs)]

mod config;
mod connection;
mod error;
mod secret;
mod shared;
mod state;
mod tls;
mod transport;
mod url;

pub use crate::config::{Address, ConnectionConfig, ConnectionConfigBuilder, Keepalive, TlsConfig};
pub use crate::connection::Connection;
pub use crate::error::{Error, Phase, ServerError, ServerErrorKind};
pub use crate::secret::Secret;
pub use crate::shared::{SharedConnection, SharedStats};
pub use crate::state::{changes_reply_count, is_state_changing};
pub use crate::tls::insecure_tls_warned;
pub use crate::transport::Transport;
pub use crate::url::ConfigError;
