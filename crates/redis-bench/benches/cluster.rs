//! Redis Cluster benchmarks against a live three-primary cluster: this client's
//! `ClusterClient`, redis-rs 1.8.1's blocking cluster client (`redis::cluster`) and
//! `redis-benchmark --cluster`, side by side in one run.
//!
//! The bench starts its own cluster (three `redis-server`s on free loopback ports, no
//! replicas, persistence off, joined with `redis-cli --cluster create`; see
//! `benches/support/cluster.rs`) and kills it at the end. As in `benches/client.rs`, every
//! criterion iteration is one *batch* of a fixed number of requests (`iter_custom`, flat
//! sampling, 10 samples, one batch of warm-up), so each benchmark's time is the time of one
//! batch and its throughput the batch size. `redis-benchmark --cluster` takes part as one more
//! benchmark of each group: each iteration runs it as a subprocess for the same number of
//! requests, and the time counted is the number of requests over the requests per second it
//! reports in `--csv` (its own clock, which starts after its connections are open).
//! `redis-benchmark --cluster` needs at least one connection per primary (`-c 3` here), and
//! each of its connections sends every request to its own node's key (`key:{tag}:...`).
//!
//! Groups (`cluster/<group>/<client>` in criterion's output):
//!
//! * `pipeline-set`: 100,000 SETs of a 16-byte value to 100,000 distinct keys (spread over
//!   the slots, hence over the three primaries), in plain (non-transactional) pipelines of
//!   1,000 commands, from one thread: this client's `ClusterClient::pipeline()` (split by
//!   node, reused between pipelines with `clear`), redis-rs `cluster_pipe()` on one
//!   `ClusterConnection` with `.ignore()` (also reused with `clear`), and `redis-benchmark
//!   --cluster -c 3 -P 1000 -d 16 -t set` (three connections, one per primary, each with 1,000
//!   requests in flight, in parallel).
//! * `get-8-threads`: 8 threads, 5,000 GETs each per batch, of 1,000 keys holding a 16-byte
//!   value (spread over the slots; each thread starts at its own offset): one `ClusterClient`
//!   shared by reference by the 8 threads (pools of 8 connections per node); redis-rs with one
//!   `ClusterConnection` per thread (a `ClusterConnection` is `Send` but not `Sync`: the 8
//!   connections are opened once from one `redis::cluster::ClusterClient` before the
//!   measurement and each thread owns one for the whole batch, so redis-rs pays no pool or
//!   lock); and `redis-benchmark --cluster -c 8 -d 16 -t get` (its keys filled by its own SET
//!   test first).
//!
//! Run: `cargo bench -p redis-bench --bench cluster` (about a minute), or
//! `crates/redis-bench/run-cluster.sh` for three runs and the tables.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use redis_client::{ClusterClient, PipelineCommands, cmd};

#[path = "support/batch.rs"]
mod batch;

#[path = "support/cluster.rs"]
mod cluster;

use cluster::Cluster;

/// A 16-byte value, as `redis-benchmark -d 16` writes it (`x` repeated).
const VALUE_16: [u8; 16] = [b'x'; 16];
/// SETs per batch of `pipeline-set`, and the number of distinct keys they write.
const SET_BATCH: u64 = 100_000;
/// Commands per pipeline.
const PIPELINE: u64 = 1_000;
/// Threads of `get-8-threads`, and our pool size per node.
const THREADS: usize = 8;
/// GETs per thread per batch.
const PER_THREAD: u64 = 5_000;
/// Keys the GETs read.
const GET_KEYS: u64 = 1_000;

/// `redis-benchmark`'s target options for the bench's cluster (its first primary).
fn rb_target(cluster: &Cluster) -> [String; 5] {
    [
        "--cluster".into(),
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        cluster.ports()[0].to_string(),
    ]
}

/// [`batch::redis_benchmark`] against the bench's cluster.
fn redis_benchmark(cluster: &Cluster, args: &[&str], test: &str) -> f64 {
    let target = rb_target(cluster);
    let target: Vec<&str> = target.iter().map(String::as_str).collect();
    batch::redis_benchmark(&target, args, test)
}

/// [`batch::redis_benchmark_time`] against the bench's cluster.
fn redis_benchmark_time(cluster: &Cluster, requests: u64, args: &[&str], test: &str) -> Duration {
    let target = rb_target(cluster);
    let target: Vec<&str> = target.iter().map(String::as_str).collect();
    batch::redis_benchmark_time(&target, requests, args, test)
}

/// A `cluster/<name>` group of batches.
fn batch_group<'a>(c: &'a mut Criterion, name: &str, batch: u64) -> BenchmarkGroup<'a, WallTime> {
    batch::batch_group(c, "cluster", name, batch)
}

fn redis_rs_client(cluster: &Cluster) -> redis::cluster::ClusterClient {
    redis::cluster::ClusterClient::new(cluster.urls()).expect("redis-rs cluster client")
}

/// `prefix0`, `prefix1`, ...: distinct keys, spread over the slots by their hash.
fn keys(prefix: &str, n: u64) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// `pipeline-set`: 100,000 SETs in pipelines of 1,000 across the cluster, from one thread.
fn pipeline_set(c: &mut Criterion, cluster: &Cluster) {
    let keys = keys("bench:set:", SET_BATCH);
    let ours = ClusterClient::open(&cluster.urls()).expect("cluster client");
    let mut rs = redis_rs_client(cluster)
        .get_connection()
        .expect("redis-rs cluster connection");

    let mut group = batch_group(c, "pipeline-set", SET_BATCH);
    group.bench_function("ours", |b| {
        let mut pipe = ours.pipeline();
        pipe.transaction(false);
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for chunk in keys.chunks(PIPELINE as usize) {
                    pipe.clear();
                    for key in chunk {
                        pipe.set(key.as_str(), &VALUE_16[..]);
                    }
                    pipe.query::<()>().expect("pipeline");
                }
            }
            start.elapsed()
        });
    });
    group.bench_function("redis-rs", |b| {
        let mut pipe = redis::cluster::ClusterPipeline::with_capacity(PIPELINE as usize);
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                for chunk in keys.chunks(PIPELINE as usize) {
                    pipe.clear();
                    for key in chunk {
                        pipe.set(key.as_str(), &VALUE_16[..]).ignore();
                    }
                    pipe.exec(&mut rs).expect("pipeline");
                }
            }
            start.elapsed()
        });
    });
    group.bench_function("redis-benchmark", |b| {
        b.iter_custom(|iters| {
            let p = PIPELINE.to_string();
            let args = ["-c", "3", "-P", p.as_str(), "-d", "16", "-t", "set"];
            redis_benchmark_time(cluster, iters * SET_BATCH, &args, "SET")
        });
    });
    group.finish();
}

/// Runs `per_thread` calls of `op(state, thread, call)` on one thread per element of
/// `states` (each thread owns its element for the batch), started together; returns the time
/// until the last one finished.
fn threads<T: Send>(
    states: &mut [T],
    per_thread: u64,
    op: impl Fn(&mut T, u64, u64) + Sync,
) -> Duration {
    let barrier = Barrier::new(states.len() + 1);
    std::thread::scope(|scope| {
        for (thread, state) in states.iter_mut().enumerate() {
            let (barrier, op) = (&barrier, &op);
            scope.spawn(move || {
                barrier.wait();
                for call in 0..per_thread {
                    op(state, thread as u64, call);
                }
            });
        }
        barrier.wait();
        // Leaving the scope joins the threads.
        Instant::now()
    })
    .elapsed()
}

/// The key call `call` of thread `thread` reads: each thread walks the keys from its own
/// offset.
fn get_key(keys: &[String], thread: u64, call: u64) -> &str {
    let offset = thread * (GET_KEYS / THREADS as u64);
    &keys[((offset + call) % GET_KEYS) as usize]
}

/// `get-8-threads`: 8 threads, GETs of 16-byte values spread over the cluster.
fn get_threads(c: &mut Criterion, cluster: &Cluster) {
    let keys = keys("bench:get:", GET_KEYS);
    cluster.set_all(&keys, &VALUE_16);
    // redis-benchmark reads its own keys (one per primary): fill them with its SET test.
    redis_benchmark(
        cluster,
        &["-n", "3000", "-c", "3", "-d", "16", "-t", "set"],
        "SET",
    );

    let ours = ClusterClient::builder()
        .seed("127.0.0.1", cluster.ports()[0])
        .max_connections_per_node(THREADS)
        .build()
        .expect("cluster client");
    let rs_client = redis_rs_client(cluster);
    let mut rs_conns: Vec<redis::cluster::ClusterConnection> = (0..THREADS)
        .map(|_| {
            rs_client
                .get_connection()
                .expect("redis-rs cluster connection")
        })
        .collect();

    let mut group = batch_group(c, "get-8-threads", PER_THREAD * THREADS as u64);
    group.bench_function("ours-shared-client", |b| {
        let mut shared = vec![&ours; THREADS];
        b.iter_custom(|iters| {
            threads(&mut shared, iters * PER_THREAD, |client, thread, call| {
                let key = get_key(&keys, thread, call);
                let value: Option<Vec<u8>> = cmd("GET").arg(key).query(*client).expect("GET");
                assert_eq!(value.as_deref().map(<[u8]>::len), Some(16));
                black_box(value);
            })
        });
    });
    group.bench_function("redis-rs-connection-per-thread", |b| {
        b.iter_custom(|iters| {
            threads(&mut rs_conns, iters * PER_THREAD, |conn, thread, call| {
                let key = get_key(&keys, thread, call);
                let value: Option<Vec<u8>> = redis::cmd("GET").arg(key).query(conn).expect("GET");
                assert_eq!(value.as_deref().map(<[u8]>::len), Some(16));
                black_box(value);
            })
        });
    });
    group.bench_function("redis-benchmark", |b| {
        b.iter_custom(|iters| {
            let requests = iters * PER_THREAD * THREADS as u64;
            let args = ["-c", "8", "-d", "16", "-t", "get"];
            redis_benchmark_time(cluster, requests, &args, "GET")
        });
    });
    group.finish();
}

fn main() {
    let cluster = Cluster::start();
    let mut c = Criterion::default().configure_from_args();
    pipeline_set(&mut c, &cluster);
    get_threads(&mut c, &cluster);
    c.final_summary();
    drop(cluster);
}
