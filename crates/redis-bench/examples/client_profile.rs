//! Runs one client workload of `benches/client.rs` alone, for profilers (callgrind, strace,
//! perf): starts its own `redis-server`, loads the data, then runs `N` requests.
//!
//! ```text
//! cargo build -p redis-bench --profile bench --example client_profile
//! valgrind --tool=callgrind --toggle-collect='client_profile::run' \
//!     target/release/examples/client_profile get-pool 10000
//! strace -c -f target/release/examples/client_profile get-pool 10000
//! ```
//!
//! Workloads: `pipeline-100` (N pipelines of 100 SETs), `pipeline-10000`, `pubsub` (N messages to one subscriber), `get-dedicated`, `get-pool`, `set-pool`, `get-redis-rs`, `get-1mib`,
//! `get-1mib-redis-rs`, `lrange`, `lrange-bytes`, `lrange-redis-rs`, and `get-8-threads` (8
//! threads sharing a pool of 8, `N` GETs each).

use std::hint::black_box;
use std::process::ExitCode;

use bytes::Bytes;
use redis_client::{Client, MessageKind, PipelineCommands, cmd};

#[path = "../benches/support/server.rs"]
mod server;

use server::{KEY, LIST, MIB, Server, VALUE_16};

/// User and system CPU time of this process so far (all its threads, not the server), in
/// seconds, from `/proc/self/stat` (clock ticks of 10 ms).
/// The server's CPU time so far (user + system), from `INFO cpu`.
fn server_cpu_seconds(client: &Client) -> f64 {
    let info: String = cmd("INFO").arg("cpu").query(client).expect("INFO cpu");
    info.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| *name == "used_cpu_sys" || *name == "used_cpu_user")
        .filter_map(|(_, value)| value.trim().parse::<f64>().ok())
        .sum()
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th of them.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

/// The measured loop; its name is what `--toggle-collect` selects.
#[inline(never)]
fn run(n: usize, op: &mut dyn FnMut()) {
    for _ in 0..n {
        op();
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(workload), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: client_profile WORKLOAD N (see the source for workloads)");
        return ExitCode::FAILURE;
    };
    let server = Server::start();
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.port())
        .max_connections(1)
        .build();
    let mut rs = redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("redis-rs connection");
    let value_len = if workload.starts_with("get-1mib") {
        MIB
    } else {
        16
    };
    server.set_value(value_len);
    server.fill_list(1_000, 16);
    let get = |v: Option<Vec<u8>>| assert_eq!(v.map(|v| v.len()), Some(value_len));
    let mut op: Box<dyn FnMut()> = match workload.as_str() {
        "get-dedicated" => {
            let mut conn = client.get_connection().expect("dedicated connection");
            Box::new(move || get(cmd("GET").arg(KEY).query(&mut conn).expect("GET")))
        }
        "get-pool" | "get-1mib" => {
            Box::new(|| get(cmd("GET").arg(KEY).query(&client).expect("GET")))
        }
        "get-8-threads" => {
            let pool = Client::builder()
                .host("127.0.0.1")
                .port(server.port())
                .max_connections(8)
                .build();
            Box::new(move || {
                std::thread::scope(|scope| {
                    for _ in 0..8 {
                        scope.spawn(|| {
                            for _ in 0..n {
                                get(cmd("GET").arg(KEY).query(&pool).expect("GET"));
                            }
                        });
                    }
                });
            })
        }
        "get-8-threads-shared" => {
            let shared = redis_client::conn::SharedConnection::new(
                redis_client::conn::ConnectionConfig::builder()
                    .host("127.0.0.1")
                    .port(server.port())
                    .build(),
            );
            Box::new(move || {
                let get_key = cmd("GET").arg(KEY).clone();
                std::thread::scope(|scope| {
                    for _ in 0..8 {
                        scope.spawn(|| {
                            for _ in 0..n {
                                let v = shared
                                    .request(get_key.len(), get_key.packed_args())
                                    .expect("GET");
                                black_box(v);
                            }
                        });
                    }
                });
                eprintln!("{:?}", shared.stats());
            })
        }
        "pipeline-100" | "pipeline-10000" => {
            let size = if workload == "pipeline-100" {
                100
            } else {
                10_000
            };
            let mut pipe = client.pipeline();
            pipe.transaction(false);
            Box::new(move || {
                pipe.clear();
                for _ in 0..size {
                    pipe.set(KEY, &VALUE_16[..]);
                }
                pipe.query::<()>().expect("pipeline");
            })
        }
        "pubsub" => {
            // One subscriber reading N messages that a thread publishes in pipelines of 1,000
            // (the publisher runs outside the measured function).
            let mut p = client.pubsub().expect("pubsub");
            p.subscribe("bench").expect("SUBSCRIBE");
            while p
                .get_message(std::time::Duration::from_secs(5))
                .expect("confirmation")
                .is_none_or(|m| m.kind != MessageKind::Subscribe)
            {}
            let publisher = Client::builder()
                .host("127.0.0.1")
                .port(server.port())
                .build();
            std::thread::spawn(move || {
                let mut pipe = publisher.pipeline();
                pipe.transaction(false);
                // One batch more than needed: the warm-up call reads one message too.
                for _ in 0..=n.div_ceil(1000) {
                    pipe.clear();
                    for _ in 0..1000 {
                        pipe.publish("bench", &VALUE_16[..]);
                    }
                    pipe.execute().expect("PUBLISH");
                }
            });
            Box::new(move || {
                let m = p
                    .get_message(std::time::Duration::from_secs(5))
                    .expect("message")
                    .expect("a message within 5 s");
                assert_eq!(m.kind, MessageKind::Message);
                black_box(m);
            })
        }
        "set-pool" => Box::new(|| {
            cmd("SET")
                .arg(KEY)
                .arg(&VALUE_16[..])
                .execute(&client)
                .expect("SET");
        }),
        "get-redis-rs" | "get-1mib-redis-rs" => {
            Box::new(|| get(redis::cmd("GET").arg(KEY).query(&mut rs).expect("GET")))
        }
        "lrange" => Box::new(|| {
            let items: Vec<Vec<u8>> = cmd("LRANGE")
                .arg(LIST)
                .arg(0)
                .arg(999)
                .query(&client)
                .expect("LRANGE");
            assert_eq!(black_box(items).len(), 1_000);
        }),
        "lrange-bytes" => Box::new(|| {
            let items: Vec<Bytes> = cmd("LRANGE")
                .arg(LIST)
                .arg(0)
                .arg(999)
                .query(&client)
                .expect("LRANGE");
            assert_eq!(black_box(items).len(), 1_000);
        }),
        "lrange-redis-rs" => Box::new(|| {
            let items: Vec<Vec<u8>> = redis::cmd("LRANGE")
                .arg(LIST)
                .arg(0)
                .arg(999)
                .query(&mut rs)
                .expect("LRANGE");
            assert_eq!(black_box(items).len(), 1_000);
        }),
        other => {
            eprintln!("unknown workload {other:?}");
            return ExitCode::FAILURE;
        }
    };
    let threaded = workload.starts_with("get-8-threads");
    if !threaded {
        // One request first, so that the pool's connection is open before the measured loop.
        op();
    }
    let observer = Client::open(&server.url()).expect("client");
    let server_cpu_before = server_cpu_seconds(&observer);
    let cpu = cpu_seconds();
    let start = std::time::Instant::now();
    run(if threaded { 1 } else { n }, &mut op);
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu;
    let server_cpu = server_cpu_seconds(&observer) - server_cpu_before;
    let requests = if threaded { 8 * n } else { n };
    eprintln!(
        "{workload}: {requests} requests in {elapsed:?}, {:.0} requests/s, client CPU (user+sys) {:.1} µs per request, server CPU {:.1} µs per request",
        requests as f64 / elapsed.as_secs_f64(),
        cpu * 1e6 / requests as f64,
        server_cpu * 1e6 / requests as f64
    );
    ExitCode::SUCCESS
}
