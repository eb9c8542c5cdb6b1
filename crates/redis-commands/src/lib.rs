//! Redis commands as values: [`Cmd`], argument encoding ([`ToArg`], [`ToArgs`]) and typed
//! reply conversion ([`FromReply`]).
//!
//! This crate knows nothing of sockets: it turns Rust values into command bytes and decoded
//! replies into Rust values. The `redis-client` facade runs the commands.
//!
//! ```
//! use redis_commands::{FromReply, cmd};
//! use resp_proto::Value;
//!
//! let mut get = cmd("GET");
//! get.arg("greeting");
//! assert_eq!(get.len(), 2);
//!
//! let reply = Value::BulkString("hello".into());
//! assert_eq!(Option::<String>::from_reply(reply)?, Some("hello".to_owned()));
//! assert_eq!(Option::<String>::from_reply(Value::Null)?, None);
//! # Ok::<(), redis_commands::ConversionError>(())
//! ```

#![deny(missing_docs)]

mod arg;
mod bitfield;
mod cmd;
mod generated;
pub mod keys;
pub mod replies;
mod reply;
mod slots;

pub use crate::arg::{ToArg, ToArgs};
pub use crate::bitfield::{BitfieldOps, BitfieldOverflow};
pub use crate::cmd::{ArgumentError, Cmd, Runner, cmd, packed_arg_bytes};
pub use crate::generated::builders as build;
pub use crate::generated::commands::Commands;
pub use crate::generated::pipeline::PipelineCommands;
pub use crate::generated::table::METHODS;
pub use crate::reply::{ConversionError, FromReply, shape};

/// The option structs of the typed commands: the optional arguments of each command, set by
/// builder methods (`SetOptions::new().ex(10).nx()`).
pub mod options {
    pub use crate::generated::options::*;
}

/// Enums for arguments that take one of several forms (`Direction::Left`, `GeoUnit::Km`).
pub mod enums {
    pub use crate::generated::enums::*;
}

/// One generated command method, as listed in [`METHODS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeneratedMethod {
    /// The command as sent (`CLIENT LIST`).
    pub command: &'static str,
    /// The method's name on [`Commands`] and [`PipelineCommands`] (`client_list`,
    /// `client_list_with`).
    pub method: &'static str,
    /// The Redis version that introduced the command.
    pub since: &'static str,
    /// The specification's command group (`string`, `server`, ...).
    pub group: &'static str,
}
