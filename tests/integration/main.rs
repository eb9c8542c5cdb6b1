//! Integration suites against real redis-server processes.
//!
//! Every test starts its own server through [`tests::RedisServer`] (a free loopback port, a
//! temporary directory) and stops it on drop, so the tests run in parallel and never touch a
//! server they did not start. `redis-server` must be installed: `cargo xtask test` installs it.

mod client;
mod cluster;
mod cluster_faults;
mod cluster_util;
mod commands_coverage;
mod faults;
mod fixture;
mod keys;
mod lock;
mod monitor;
mod pipeline;
mod pool_faults;
mod pubsub;
mod resp_live;
mod scan_scripts;
mod secrets;
mod sentinel;
mod shared;
mod tls;
mod transactions;
