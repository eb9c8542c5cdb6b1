//! Turns criterion's estimates of one or more runs of the client benchmarks
//! (`cargo bench -p redis-bench --bench client`) into the tables of `docs/benchmarks.md`: per
//! workload, each client's median time per batch and its rate in requests per second, then
//! every ratio of this client to a peer (the peer's median time over ours: above 1 means this
//! client is faster) against its target.
//!
//! ```text
//! cargo run -p redis-bench --profile bench --example client_report [CRITERION_DIR...]
//! ```
//!
//! With several directories (one per run, see `crates/redis-bench/run-client.sh`) each time is
//! the median over the runs of criterion's median, ratios are computed from those, and the
//! `runs` columns give the lowest and highest value of a single run. `CRITERION_DIR` defaults
//! to the workspace's `target/criterion`.

use std::process::ExitCode;

#[path = "support/batch_report.rs"]
mod batch_report;

use batch_report::{Workload, report};

const WORKLOADS: &[Workload] = &[
    Workload {
        group: "w2-set",
        title: "W2 SET: sequential SETs of a 16-byte value, one connection",
        batch: 10_000,
        ours: &[
            ("ours-dedicated", "ours, dedicated connection"),
            ("ours-pool-of-1", "ours, pool of 1 (`&Client`)"),
        ],
        peers: &[
            ("redis-rs", "redis-rs `Connection`", Some(1.05)),
            (
                "redis-benchmark",
                "`redis-benchmark -c 1 -P 1 -d 16 -t set`",
                Some(1.0),
            ),
        ],
    },
    Workload {
        group: "w2-get",
        title: "W2 GET: sequential GETs of a 16-byte value, one connection",
        batch: 10_000,
        ours: &[
            ("ours-dedicated", "ours, dedicated connection"),
            ("ours-pool-of-1", "ours, pool of 1 (`&Client`)"),
        ],
        peers: &[
            ("redis-rs", "redis-rs `Connection`", Some(1.05)),
            (
                "redis-benchmark",
                "`redis-benchmark -c 1 -P 1 -d 16 -t get`",
                Some(1.0),
            ),
            (
                "raw-socket-floor",
                "reference: a raw socket writing the request encoded once and counting the reply's bytes, never parsed (the fastest client possible)",
                None,
            ),
        ],
    },
    Workload {
        group: "w4-get-8-threads",
        title: "W4: 8 threads sharing a pool of 8, GETs of a 16-byte value",
        batch: 40_000,
        ours: &[
            ("ours-pool-of-8", "ours, pool of 8 (`&Client`)"),
            (
                "ours-multiplexed",
                "ours, `multiplex(true)`: one connection shared by the 8 threads",
            ),
        ],
        peers: &[
            (
                "redis-rs-r2d2",
                "redis-rs + r2d2 (default: PING on checkout)",
                Some(1.1),
            ),
            (
                "redis-rs-r2d2-no-test-on-checkout",
                "redis-rs + r2d2, `test_on_check_out(false)`",
                None,
            ),
            (
                "redis-benchmark",
                "`redis-benchmark -c 8 -d 16 -t get`",
                Some(1.1),
            ),
        ],
    },
    Workload {
        group: "w5-get-1mib",
        title: "W5: sequential GETs of a 1 MiB value, one connection",
        batch: 200,
        ours: &[("ours", "ours, pool of 1, `Option<Vec<u8>>`")],
        peers: &[
            ("redis-rs", "redis-rs `Connection`", None),
            (
                "redis-benchmark",
                "`redis-benchmark -c 1 -P 1 -t get`",
                Some(1.2),
            ),
        ],
    },
    Workload {
        group: "w5-lrange-1000",
        title: "W5: `LRANGE mylist 0 999` over 1,000 elements of 16 bytes, one connection",
        batch: 1_000,
        ours: &[
            ("ours", "ours, pool of 1, `Vec<Vec<u8>>`"),
            ("ours-bytes", "ours, pool of 1, `Vec<Bytes>`"),
        ],
        peers: &[
            (
                "redis-rs",
                "redis-rs `Connection`, `Vec<Vec<u8>>`",
                Some(2.0),
            ),
            (
                "redis-benchmark",
                "`redis-benchmark -c 1 -P 1 LRANGE mylist 0 999`",
                Some(1.1),
            ),
            (
                "raw-socket-floor",
                "reference: a raw socket writing the request encoded once and counting the reply's bytes, never parsed (the fastest client possible)",
                None,
            ),
        ],
    },
    Workload {
        group: "w3-pipeline-100",
        title: "W3: 1,000,000 SETs of a 16-byte value in pipelines of 100, one connection",
        batch: 1_000_000,
        ours: &[("ours", "ours, `Pipeline` (no MULTI)")],
        peers: &[
            ("redis-rs", "redis-rs `pipe()`", Some(1.4)),
            (
                "redis-benchmark",
                "`redis-benchmark -c 1 -P 100 -d 16 -t set`",
                Some(1.1),
            ),
            (
                "raw-socket-floor",
                "reference: a raw socket writing the request encoded once and counting the reply's bytes, never parsed (the fastest client possible)",
                None,
            ),
        ],
    },
    Workload {
        group: "w3-pipeline-10000",
        title: "W3: 1,000,000 SETs of a 16-byte value in pipelines of 10,000, one connection",
        batch: 1_000_000,
        ours: &[("ours", "ours, `Pipeline` (no MULTI)")],
        peers: &[
            ("redis-rs", "redis-rs `pipe()`", None),
            (
                "redis-benchmark-P100",
                "`redis-benchmark -c 1 -P 100 -d 16 -t set`",
                Some(1.2),
            ),
            (
                "redis-benchmark",
                "`redis-benchmark -c 1 -P 10000 -d 16 -t set`",
                None,
            ),
        ],
    },
    Workload {
        group: "pubsub-delivery",
        title: "Pub/sub: 100,000 messages of 16 bytes to one subscriber (publisher: `redis-benchmark -P 1000 PUBLISH`)",
        batch: 100_000,
        ours: &[("ours", "ours, `PubSub::get_message`")],
        peers: &[
            ("redis-rs", "redis-rs `PubSub::get_message`", Some(1.5)),
            (
                "raw-socket-floor",
                "reference: a raw socket whose reads are counted, never parsed (the fastest subscriber possible)",
                None,
            ),
        ],
    },
];

fn main() -> ExitCode {
    report("client", WORKLOADS)
}
