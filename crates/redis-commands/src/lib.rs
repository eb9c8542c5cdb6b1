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

mod arg;
mod cmd;
mod reply;

pub use crate::arg::{ToArg, ToArgs};
pub use crate::cmd::{Cmd, Runner, cmd};
pub use crate::reply::{ConversionError, FromReply, shape};
