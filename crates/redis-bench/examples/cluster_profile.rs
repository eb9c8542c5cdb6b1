//! Runs one workload of `benches/cluster.rs` alone, for profilers (callgrind, strace): starts
//! its own 3-primary cluster, then runs `N` requests.
//!
//! ```text
//! cargo build -p redis-bench --profile bench --example cluster_profile
//! valgrind --tool=callgrind --toggle-collect='cluster_profile::run' \
//!     target/release/examples/cluster_profile pipeline-set 20000
//! ```
//!
//! Workloads: `pipeline-set` (N SETs in pipelines of 1,000), `get` (N GETs from one thread),
//! `get-8-threads` (N GETs from 8 threads sharing one client),
//! `get-redis-rs`, `pipeline-set-redis-rs`.

use std::hint::black_box;
use std::process::ExitCode;

use redis_client::{ClusterClient, PipelineCommands, cmd};

#[path = "../benches/support/cluster.rs"]
mod cluster;

use cluster::Cluster;

const VALUE_16: [u8; 16] = *b"0123456789abcdef";

fn keys(prefix: &str, n: u64) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The measured part (callgrind's `--toggle-collect` target).
#[inline(never)]
fn run(workload: &str, n: u64, cluster: &Cluster) -> Result<(), String> {
    let keys = keys("profile:", n.min(10_000));
    match workload {
        "pipeline-set" => {
            let client = ClusterClient::open(&cluster.urls()).map_err(|e| e.to_string())?;
            let mut pipe = client.pipeline();
            for chunk in keys
                .iter()
                .cycle()
                .take(n as usize)
                .collect::<Vec<_>>()
                .chunks(1000)
            {
                pipe.clear();
                for key in chunk {
                    pipe.set(key.as_str(), &VALUE_16[..]);
                }
                pipe.query::<()>().map_err(|e| e.to_string())?;
            }
        }
        "pipeline-set-redis-rs" => {
            let client =
                redis::cluster::ClusterClient::new(cluster.urls()).map_err(|e| e.to_string())?;
            let mut conn = client.get_connection().map_err(|e| e.to_string())?;
            let mut pipe = redis::cluster::ClusterPipeline::with_capacity(1000);
            for chunk in keys
                .iter()
                .cycle()
                .take(n as usize)
                .collect::<Vec<_>>()
                .chunks(1000)
            {
                pipe.clear();
                for key in chunk {
                    pipe.set(key.as_str(), &VALUE_16[..]).ignore();
                }
                pipe.exec(&mut conn).map_err(|e| e.to_string())?;
            }
        }
        "get" => {
            let client = ClusterClient::open(&cluster.urls()).map_err(|e| e.to_string())?;
            for i in 0..n as usize {
                let v: Option<Vec<u8>> = cmd("GET")
                    .arg(keys[i % keys.len()].as_str())
                    .query(&client)
                    .map_err(|e| e.to_string())?;
                black_box(v);
            }
        }
        "get-8-threads" => {
            let client = ClusterClient::builder()
                .seed("127.0.0.1", cluster.ports()[0])
                .max_connections_per_node(8)
                .build()
                .map_err(|e| e.to_string())?;
            std::thread::scope(|scope| {
                for t in 0..8 {
                    let (client, keys) = (&client, &keys);
                    scope.spawn(move || {
                        for i in 0..n as usize / 8 {
                            let v: Option<Vec<u8>> = cmd("GET")
                                .arg(keys[(i + t * 1000) % keys.len()].as_str())
                                .query(client)
                                .expect("GET");
                            black_box(v);
                        }
                    });
                }
            });
        }
        "get-redis-rs" => {
            let client =
                redis::cluster::ClusterClient::new(cluster.urls()).map_err(|e| e.to_string())?;
            let mut conn = client.get_connection().map_err(|e| e.to_string())?;
            for i in 0..n as usize {
                let v: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(keys[i % keys.len()].as_str())
                    .query(&mut conn)
                    .map_err(|e| e.to_string())?;
                black_box(v);
            }
        }
        other => return Err(format!("unknown workload {other}")),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(workload), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: cluster_profile WORKLOAD N");
        return ExitCode::FAILURE;
    };
    let cluster = Cluster::start();
    eprintln!("cluster of 3 primaries on ports {:?}", cluster.ports());
    let keys = keys("profile:", n.min(10_000));
    cluster.set_all(&keys, &VALUE_16);
    let start = std::time::Instant::now();
    match run(workload, n, &cluster) {
        Ok(()) => {
            let t = start.elapsed();
            eprintln!(
                "{workload}: {n} requests in {t:?} ({:.0}/s)",
                n as f64 / t.as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{workload}: {e}");
            ExitCode::FAILURE
        }
    }
}
