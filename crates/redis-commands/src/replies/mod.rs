//! Structured reply types: replies whose shape is a record rather than user data.
//!
//! Each type implements [`FromReply`](crate::FromReply) and reads both the RESP2 shape
//! (flat arrays of names and values, numbers as strings) and the RESP3 shape (maps, sets,
//! doubles, nulls, verbatim strings) of Redis 7.0 and 7.2. Fields a newer server adds never
//! cause an error: record types keep them in an `extra` map (or make every field reachable by
//! name), and fields older servers leave out are `Option`s. A malformed reply is a
//! [`ConversionError`](crate::ConversionError), never a panic.
//!
//! | Command | Ask for |
//! |---|---|
//! | `INFO` | [`Info`] |
//! | `CLIENT INFO`, `CLIENT LIST` | [`ClientInfo`], [`ClientList`] |
//! | `SLOWLOG GET` | `Vec<`[`SlowlogEntry`]`>` |
//! | `LATENCY LATEST`, `LATENCY HISTORY` | `Vec<`[`LatencySample`]`>`, `Vec<(i64, u64)>` |
//! | `MEMORY STATS` | [`MemoryStats`] |
//! | `ROLE`, `TIME` | [`Role`], [`ServerTime`] |
//! | `XRANGE`, `XREVRANGE`, `XCLAIM` | `Vec<`[`StreamEntry`]`>` |
//! | `XREAD`, `XREADGROUP` | [`StreamRead`] |
//! | `XAUTOCLAIM` | [`XAutoClaim`] |
//! | `XINFO STREAM`, `XINFO GROUPS`, `XINFO CONSUMERS` | [`XInfoStream`], `Vec<`[`XInfoGroup`]`>`, `Vec<`[`XInfoConsumer`]`>` |
//! | `XPENDING` | [`XPendingSummary`], `Vec<`[`XPendingEntry`]`>` |
//! | `GEOSEARCH`, `GEORADIUS*` | `Vec<`[`GeoMember`]`>` |
//! | `GEOPOS` | `Vec<Option<(f64, f64)>>` |
//! | `COMMAND INFO`, `COMMAND DOCS` | `Vec<Option<`[`CommandInfo`]`>>`, [`CommandDocs`] |
//! | `ACL GETUSER`, `ACL LOG` | `Option<`[`AclUser`]`>`, `Vec<`[`AclLogEntry`]`>` |
//! | `CLUSTER SLOTS`, `CLUSTER SHARDS` | `Vec<`[`ClusterSlotRange`]`>`, `Vec<`[`ClusterShard`]`>` |
//! | `CLUSTER NODES`, `CLUSTER REPLICAS`, `CLUSTER INFO` | [`ClusterNodes`], `Vec<`[`ClusterNode`]`>`, [`ClusterInfo`] |
//! | `SENTINEL MASTER`, `MASTERS`, `REPLICAS`, `SENTINELS` | [`SentinelState`], `Vec<`[`SentinelState`]`>` |
//! | `FUNCTION LIST`, `FUNCTION STATS` | `Vec<`[`FunctionLibrary`]`>`, [`FunctionStats`] |
//! | `LCS ... IDX` | [`LcsIdx`] |
//! | `LMPOP`, `BLMPOP`, `ZMPOP`, `BZMPOP` | `Option<`[`PoppedFrom<T>`](PoppedFrom)`>` |
//!
//! Pairs need no type of their own: `Vec<(String, f64)>` reads `ZRANGE ... WITHSCORES`,
//! `ZPOPMIN`, `ZSCAN` pages and `HRANDFIELD ... WITHVALUES` in both protocols, and
//! `Vec<(String, String)>` reads `CONFIG GET`.

mod acl;
mod client_list;
mod cluster;
mod command;
mod functions;
mod geo;
mod info;
mod memory;
mod misc;
mod sentinel;
mod server;
mod stream_info;
mod streams;
mod util;

pub use acl::{AclLogEntry, AclSelector, AclUser};
pub use client_list::{ClientInfo, ClientList};
pub use cluster::{
    ClusterInfo, ClusterNode, ClusterNodes, ClusterShard, ClusterShardNode, ClusterSlotNode,
    ClusterSlotRange,
};
pub use command::{CommandDoc, CommandDocs, CommandInfo};
pub use functions::{
    EngineStats, FunctionLibrary, FunctionStats, LibraryFunction, RunningFunction,
};
pub use geo::GeoMember;
pub use info::{Info, InfoSection, KeyspaceInfo};
pub use memory::{DbMemoryStats, MemoryStats};
pub use misc::{LcsIdx, LcsMatch, PoppedFrom};
pub use sentinel::SentinelState;
pub use server::{LatencySample, Role, ServerTime, SlowlogEntry};
pub use stream_info::{XInfoConsumer, XInfoGroup, XInfoStream, XPendingEntry, XPendingSummary};
pub use streams::{StreamEntry, StreamRead, XAutoClaim};
