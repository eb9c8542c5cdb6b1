//! Helpers on top of the Redis commands, generic over [`Commands`]: Lua scripts that load
//! themselves ([`Script`]), lazy scan iterators ([`ScanExt`]), distributed locks
//! ([`Lock`]) and Sentinel discovery.
//!
//! Everything here works on anything that implements [`Commands`] (the pooled client, a
//! dedicated connection, a watched pipeline) whose error type implements [`ExtError`]; the
//! `redis-client` facade's `Client` and `Error` do.
//!
//! ```no_run
//! # fn demo<C: redis_commands::Commands>(client: &C) -> Result<(), C::Error>
//! # where C::Error: redis_ext::ExtError {
//! use redis_ext::{ScanExt, Script};
//!
//! let script = Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
//! let n: i64 = script.invoke(client, ["counter"], [5])?;
//! for key in client.scan_iter::<String>(Default::default()) {
//!     println!("{}", key?);
//! }
//! # let _ = n;
//! # Ok(())
//! # }
//! ```
//!
//! [`Commands`]: redis_commands::Commands

mod error;
mod lock;
mod scan;
mod script;
pub mod sentinel;
mod token;

pub use crate::error::{ExtError, LockError};
pub use crate::lock::{Lock, LockGuard, LockOptions, Token};
pub use crate::scan::{ScanExt, ScanIter};
pub use crate::script::{Script, ScriptPipeline};
