//! Turns criterion's estimates of one or more runs of the cluster benchmarks
//! (`cargo bench -p redis-bench --bench cluster`) into markdown tables, as `client_report`
//! does for the client benchmarks: per workload, each client's median time per batch and its
//! rate in requests per second, then every ratio of this client to a peer (the peer's median
//! time over ours: above 1 means this client is faster) against its target.
//!
//! ```text
//! cargo run -p redis-bench --profile bench --example cluster_report [CRITERION_DIR...]
//! ```
//!
//! With several directories (one per run, see `crates/redis-bench/run-cluster.sh`) each time
//! is the median over the runs of criterion's median, ratios are computed from those, and the
//! `runs` columns give the lowest and highest value of a single run. `CRITERION_DIR` defaults
//! to the workspace's `target/criterion`.

use std::process::ExitCode;

#[path = "support/batch_report.rs"]
mod batch_report;

use batch_report::{Workload, report};

/// Issue 7: at least 1.3 times redis-rs's blocking cluster client.
const TARGET_REDIS_RS: Option<f64> = Some(1.3);

const WORKLOADS: &[Workload] = &[
    Workload {
        group: "pipeline-set",
        title: "Cluster, pipelined SETs: 16-byte values to 100,000 keys over 3 primaries, \
                pipelines of 1,000, one thread",
        batch: 100_000,
        ours: &[("ours", "ours, `ClusterClient::pipeline()`")],
        peers: &[
            (
                "redis-rs",
                "redis-rs `cluster_pipe()`, one `ClusterConnection`",
                TARGET_REDIS_RS,
            ),
            (
                "redis-benchmark",
                "`redis-benchmark --cluster -c 3 -P 1000 -d 16 -t set`",
                None,
            ),
        ],
    },
    Workload {
        group: "get-8-threads",
        title: "Cluster, 8 threads: GETs of 16-byte values over 3 primaries",
        batch: 40_000,
        ours: &[(
            "ours-shared-client",
            "ours, one `ClusterClient` shared by reference (pools of 8 per node)",
        )],
        peers: &[
            (
                "redis-rs-connection-per-thread",
                "redis-rs, one `ClusterConnection` per thread",
                TARGET_REDIS_RS,
            ),
            (
                "redis-benchmark",
                "`redis-benchmark --cluster -c 8 -d 16 -t get`",
                None,
            ),
        ],
    },
];

fn main() -> ExitCode {
    report("cluster", WORKLOADS)
}
