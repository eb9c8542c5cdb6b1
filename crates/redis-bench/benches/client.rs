//! Client benchmarks against a live `redis-server`: this client, redis-rs 1.8.1 (its blocking
//! `Connection`, and its r2d2 pool) and `redis-benchmark`, side by side in one run.
//!
//! The bench starts its own `redis-server` on a free loopback port (persistence off) and
//! kills it at the end. Every criterion iteration is one *batch* of a fixed number of
//! requests (`iter_custom`, flat sampling, 10 samples, one batch of warm-up), so each
//! benchmark's time is the time of one batch and its throughput the batch size.
//! `redis-benchmark` takes part as one more benchmark of each group: each iteration runs it as
//! a subprocess for the same number of requests, and the time counted is the number of
//! requests over the requests per second it reports in `--csv` (its own clock, which starts
//! after its connections are open), so process start-up is not counted.
//!
//! Groups (`client/<group>/<client>` in criterion's output):
//!
//! * `w2-set`, `w2-get`: 10,000 sequential SETs, then GETs, of a 16-byte value on one
//!   connection: a dedicated connection, a pool of one (`&Client`), redis-rs `Connection`,
//!   `redis-benchmark -c 1 -P 1 -d 16 -t set` / `-t get`.
//! * `w4-get-8-threads`: 8 threads sharing a pool of 8, 5,000 GETs each per batch: this
//!   client (and the same with `multiplex(true)`: one connection the 8 threads share,
//!   `ours-multiplexed`), redis-rs with r2d2 (its default PING on checkout, and with
//!   `test_on_check_out(false)`), `redis-benchmark -c 8 -d 16 -t get`.
//! * `w5-get-1mib`: 200 GETs of a 1 MiB value on one connection; `redis-benchmark -c 1 -t
//!   get` of the same key.
//! * `w5-lrange-1000`: 1,000 `LRANGE mylist 0 999` over 1,000 elements of 16 bytes;
//!   `redis-benchmark -c 1 LRANGE mylist 0 999` (the LRANGE of its `-t lrange_1000` test,
//!   without the LPUSH phase that fills the list first).
//!
//! * `w3-pipeline-100`, `w3-pipeline-10000`: 1,000,000 SETs of a 16-byte value in plain
//!   pipelines (no MULTI) of 100 and of 10,000 on one connection: this client's `Pipeline`
//!   (typed `set`, reused between batches), redis-rs `pipe()` with `.ignore()`,
//!   `redis-benchmark -c 1 -P 100` / `-P 10000 -d 16 -t set`; the pipelines of 10,000 are
//!   also measured against `redis-benchmark -c 1 -P 100` (`redis-benchmark-P100`), the
//!   yardstick issue 5 names for both sizes.
//! * `pubsub-delivery`: 100,000 messages of 16 bytes published by `redis-benchmark -P 1000
//!   PUBLISH` (one publisher, faster than any subscriber), received by one subscriber: this
//!   client's `PubSub::get_message`, redis-rs `PubSub::get_message`, and as a reference the
//!   fastest subscriber there can be (`raw-socket-floor`: a socket whose reads are counted in
//!   bytes, never parsed). The time is until the subscriber has them all.
//!
//! `w2-get`, `w3-pipeline-100`, `w5-lrange-1000` and `pubsub-delivery` also measure, as a
//! reference, the fastest client there can be (`raw-socket-floor`): the request encoded once
//! and written on a raw socket, the reply's bytes read back and counted, never parsed. What it
//! reaches is the pace the server and the machine set; no client can go faster.
//!
//! Run: `cargo bench -p redis-bench --bench client` (about 2.5 minutes), or
//! `crates/redis-bench/run-client.sh` for three runs and the tables of `docs/benchmarks.md`.

use std::hint::black_box;
use std::process::Command;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use redis_client::{Client, PipelineCommands, cmd};

#[path = "support/batch.rs"]
mod batch;

#[path = "support/server.rs"]
mod server;

use server::{KEY, LIST, MIB, Server, VALUE_16};

/// Requests per batch of W2 (per command).
const W2_BATCH: u64 = 10_000;
/// Threads and pool size of W4.
const W4_THREADS: usize = 8;
/// GETs per thread per batch of W4.
const W4_PER_THREAD: u64 = 5_000;
/// GETs per batch of the 1 MiB workload.
const BIG_BATCH: u64 = 200;
/// LRANGEs per batch.
const LRANGE_BATCH: u64 = 1_000;
/// Elements of the list, and the LRANGE's reply.
const LIST_LEN: usize = 1_000;

/// Times `iters` batches of `batch` calls of `op`.
fn timed(iters: u64, batch: u64, mut op: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters * batch {
        op();
    }
    start.elapsed()
}

/// `redis-benchmark`'s target options for the bench's server.
fn rb_target(server: &Server) -> [String; 4] {
    [
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        server.port().to_string(),
    ]
}

/// [`batch::redis_benchmark_time`] against the bench's server.
fn redis_benchmark_time(server: &Server, requests: u64, args: &[&str], test: &str) -> Duration {
    let target = rb_target(server);
    let target: Vec<&str> = target.iter().map(String::as_str).collect();
    batch::redis_benchmark_time(&target, requests, args, test)
}

/// A `client/<name>` group of batches.
fn batch_group<'a>(c: &'a mut Criterion, name: &str, batch: u64) -> BenchmarkGroup<'a, WallTime> {
    batch::batch_group(c, "client", name, batch)
}

fn redis_rs_connection(server: &Server) -> redis::Connection {
    redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("redis-rs connection")
}

/// The fastest client there can be for one request, as a reference: the request, encoded once,
/// written on a raw socket, and its replies' bytes read back, counted, never parsed. Their
/// length is learned once, by decoding the first answer.
struct RawClient {
    socket: std::net::TcpStream,
    request: Vec<u8>,
    reply_len: usize,
    buf: Vec<u8>,
}

impl RawClient {
    /// `request` holds `replies` commands (a pipeline holds several).
    fn new(server: &Server, request: Vec<u8>, replies: usize) -> Self {
        let socket = std::net::TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut raw = RawClient {
            socket,
            request,
            reply_len: 0,
            buf: vec![0u8; 64 * 1024],
        };
        std::io::Write::write_all(&mut raw.socket, &raw.request).expect("write");
        let mut received = bytes::BytesMut::new();
        let mut decoder = resp_proto::Decoder::new();
        let mut decoded = 0;
        while decoded < replies {
            match decoder.decode(&mut received).expect("a valid reply") {
                Some(value) => {
                    assert!(value.as_error().is_none(), "the reference request failed");
                    decoded += 1;
                }
                None => {
                    let n = std::io::Read::read(&mut raw.socket, &mut raw.buf).expect("read");
                    assert!(n > 0, "the server closed the connection");
                    raw.reply_len += n;
                    received.extend_from_slice(&raw.buf[..n]);
                }
            }
        }
        assert!(received.is_empty(), "more bytes than the replies");
        raw
    }

    /// One round trip: the request written, the replies' bytes read.
    fn round_trip(&mut self) {
        std::io::Write::write_all(&mut self.socket, &self.request).expect("write");
        let mut got = 0;
        while got < self.reply_len {
            let n = std::io::Read::read(&mut self.socket, &mut self.buf).expect("read");
            assert!(n > 0, "the server closed the connection");
            got += n;
        }
        assert_eq!(got, self.reply_len, "replies of another length");
    }
}

/// A `raw-socket-floor` benchmark in `group`: `batch` round trips of `raw` per iteration.
fn raw_floor(group: &mut BenchmarkGroup<'_, WallTime>, mut raw: RawClient, batch: u64) {
    group.bench_function("raw-socket-floor", |b| {
        b.iter_custom(|iters| timed(iters, batch, || raw.round_trip()));
    });
}

/// Encodes commands back to back.
fn encoded(commands: &[&[&[u8]]]) -> Vec<u8> {
    let mut out = Vec::new();
    for command in commands {
        resp_proto::encode_command(&mut out, command.iter().copied());
    }
    out
}

/// W2: sequential SETs, then GETs, of a 16-byte value on one connection.
fn w2(c: &mut Criterion, server: &Server) {
    server.set_value(16);
    let client = Client::open(&server.url()).expect("client");
    let pool_of_one = Client::builder()
        .host("127.0.0.1")
        .port(server.port())
        .max_connections(1)
        .build();
    let mut dedicated = client.get_connection().expect("dedicated connection");
    let mut rs = redis_rs_connection(server);

    let mut group = batch_group(c, "w2-set", W2_BATCH);
    group.bench_function("ours-dedicated", |b| {
        b.iter_custom(|iters| {
            timed(iters, W2_BATCH, || {
                cmd("SET")
                    .arg(KEY)
                    .arg(&VALUE_16[..])
                    .execute(&mut dedicated)
                    .expect("SET");
            })
        });
    });
    group.bench_function("ours-pool-of-1", |b| {
        b.iter_custom(|iters| {
            timed(iters, W2_BATCH, || {
                cmd("SET")
                    .arg(KEY)
                    .arg(&VALUE_16[..])
                    .execute(&pool_of_one)
                    .expect("SET");
            })
        });
    });
    group.bench_function("redis-rs", |b| {
        b.iter_custom(|iters| {
            timed(iters, W2_BATCH, || {
                redis::cmd("SET")
                    .arg(KEY)
                    .arg(&VALUE_16[..])
                    .exec(&mut rs)
                    .expect("SET");
            })
        });
    });
    group.bench_function("redis-benchmark", |b| {
        b.iter_custom(|iters| {
            let args = ["-c", "1", "-P", "1", "-d", "16", "-t", "set"];
            redis_benchmark_time(server, iters * W2_BATCH, &args, "SET")
        });
    });
    group.finish();

    let mut group = batch_group(c, "w2-get", W2_BATCH);
    group.bench_function("ours-dedicated", |b| {
        b.iter_custom(|iters| {
            timed(iters, W2_BATCH, || {
                let value: Option<Vec<u8>> =
                    cmd("GET").arg(KEY).query(&mut dedicated).expect("GET");
                assert_eq!(value.as_deref().map(<[u8]>::len), Some(16));
                black_box(value);
            })
        });
    });
    group.bench_function("ours-pool-of-1", |b| {
        b.iter_custom(|iters| {
            timed(iters, W2_BATCH, || {
                let value: Option<Vec<u8>> = cmd("GET").arg(KEY).query(&pool_of_one).expect("GET");
                assert_eq!(value.as_deref().map(<[u8]>::len), Some(16));
                black_box(value);
            })
        });
    });
    group.bench_function("redis-rs", |b| {
        b.iter_custom(|iters| {
            timed(iters, W2_BATCH, || {
                let value: Option<Vec<u8>> =
                    redis::cmd("GET").arg(KEY).query(&mut rs).expect("GET");
                assert_eq!(value.as_deref().map(<[u8]>::len), Some(16));
                black_box(value);
            })
        });
    });
    let get = encoded(&[&[b"GET", KEY.as_bytes()]]);
    raw_floor(&mut group, RawClient::new(server, get, 1), W2_BATCH);
    group.bench_function("redis-benchmark", |b| {
        b.iter_custom(|iters| {
            let args = ["-c", "1", "-P", "1", "-d", "16", "-t", "get"];
            redis_benchmark_time(server, iters * W2_BATCH, &args, "GET")
        });
    });
    group.finish();
}

/// Runs `per_thread` calls of `op` on each of [`W4_THREADS`] threads, started together;
/// returns the time until the last one finished.
fn threads<S: Sync>(shared: &S, per_thread: u64, op: impl Fn(&S) + Sync) -> Duration {
    let barrier = Barrier::new(W4_THREADS + 1);
    std::thread::scope(|scope| {
        for _ in 0..W4_THREADS {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..per_thread {
                    op(shared);
                }
            });
        }
        barrier.wait();
        let start = Instant::now();
        // Leaving the scope joins the threads.
        start
    })
    .elapsed()
}

/// W4: 8 threads sharing a pool of 8, GETs of a 16-byte value.
fn w4(c: &mut Criterion, server: &Server) {
    server.set_value(16);
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.port())
        .max_connections(W4_THREADS)
        .build();
    let r2d2_pool = |test_on_check_out: bool| {
        r2d2::Pool::builder()
            .max_size(W4_THREADS as u32)
            .test_on_check_out(test_on_check_out)
            .build(redis::Client::open(server.url()).expect("redis-rs client"))
            .expect("r2d2 pool")
    };
    let r2d2_default = r2d2_pool(true);
    let r2d2_no_test = r2d2_pool(false);

    let mut group = batch_group(c, "w4-get-8-threads", W4_PER_THREAD * W4_THREADS as u64);
    let multiplexed = Client::builder()
        .host("127.0.0.1")
        .port(server.port())
        .multiplex(true)
        .build();
    for (name, ours) in [
        ("ours-pool-of-8", &client),
        ("ours-multiplexed", &multiplexed),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                threads(ours, iters * W4_PER_THREAD, |client| {
                    let value: Option<Vec<u8>> = cmd("GET").arg(KEY).query(client).expect("GET");
                    assert_eq!(value.as_deref().map(<[u8]>::len), Some(16));
                    black_box(value);
                })
            });
        });
    }
    for (name, pool) in [
        ("redis-rs-r2d2", &r2d2_default),
        ("redis-rs-r2d2-no-test-on-checkout", &r2d2_no_test),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                threads(pool, iters * W4_PER_THREAD, |pool| {
                    let mut conn = pool.get().expect("r2d2 checkout");
                    let value: Option<Vec<u8>> =
                        redis::cmd("GET").arg(KEY).query(&mut *conn).expect("GET");
                    assert_eq!(value.as_deref().map(<[u8]>::len), Some(16));
                    black_box(value);
                })
            });
        });
    }
    group.bench_function("redis-benchmark", |b| {
        b.iter_custom(|iters| {
            let requests = iters * W4_PER_THREAD * W4_THREADS as u64;
            let args = ["-c", "8", "-d", "16", "-t", "get"];
            redis_benchmark_time(server, requests, &args, "GET")
        });
    });
    group.finish();
}

/// W5: GETs of a 1 MiB value, and LRANGE of 1,000 16-byte elements, on one connection.
fn w5(c: &mut Criterion, server: &Server) {
    server.set_value(MIB);
    let client = Client::builder()
        .host("127.0.0.1")
        .port(server.port())
        .max_connections(1)
        .build();
    let mut rs = redis_rs_connection(server);

    let mut group = batch_group(c, "w5-get-1mib", BIG_BATCH);
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            timed(iters, BIG_BATCH, || {
                let value: Option<Vec<u8>> = cmd("GET").arg(KEY).query(&client).expect("GET");
                assert_eq!(value.as_deref().map(<[u8]>::len), Some(MIB));
                black_box(value);
            })
        });
    });
    group.bench_function("redis-rs", |b| {
        b.iter_custom(|iters| {
            timed(iters, BIG_BATCH, || {
                let value: Option<Vec<u8>> =
                    redis::cmd("GET").arg(KEY).query(&mut rs).expect("GET");
                assert_eq!(value.as_deref().map(<[u8]>::len), Some(MIB));
                black_box(value);
            })
        });
    });
    group.bench_function("redis-benchmark", |b| {
        b.iter_custom(|iters| {
            let args = ["-c", "1", "-P", "1", "-t", "get"];
            redis_benchmark_time(server, iters * BIG_BATCH, &args, "GET")
        });
    });
    group.finish();
    // The other workloads' GETs read a 16-byte value.
    server.set_value(16);

    server.fill_list(LIST_LEN, 16);
    let mut group = batch_group(c, "w5-lrange-1000", LRANGE_BATCH);
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            timed(iters, LRANGE_BATCH, || {
                let items: Vec<Vec<u8>> = cmd("LRANGE")
                    .arg(LIST)
                    .arg(0)
                    .arg(999)
                    .query(&client)
                    .expect("LRANGE");
                assert_eq!(items.len(), LIST_LEN);
                black_box(items);
            })
        });
    });
    group.bench_function("ours-bytes", |b| {
        b.iter_custom(|iters| {
            timed(iters, LRANGE_BATCH, || {
                let items: Vec<Bytes> = cmd("LRANGE")
                    .arg(LIST)
                    .arg(0)
                    .arg(999)
                    .query(&client)
                    .expect("LRANGE");
                assert_eq!(items.len(), LIST_LEN);
                black_box(items);
            })
        });
    });
    group.bench_function("redis-rs", |b| {
        b.iter_custom(|iters| {
            timed(iters, LRANGE_BATCH, || {
                let items: Vec<Vec<u8>> = redis::cmd("LRANGE")
                    .arg(LIST)
                    .arg(0)
                    .arg(999)
                    .query(&mut rs)
                    .expect("LRANGE");
                assert_eq!(items.len(), LIST_LEN);
                black_box(items);
            })
        });
    });
    let lrange = encoded(&[&[b"LRANGE", LIST.as_bytes(), b"0", b"999"]]);
    raw_floor(&mut group, RawClient::new(server, lrange, 1), LRANGE_BATCH);
    group.bench_function("redis-benchmark", |b| {
        b.iter_custom(|iters| {
            let args = ["-c", "1", "-P", "1", "LRANGE", LIST, "0", "999"];
            redis_benchmark_time(server, iters * LRANGE_BATCH, &args, "LRANGE mylist 0 999")
        });
    });
    group.finish();
}

/// SETs per batch of W3.
const W3_BATCH: u64 = 1_000_000;
/// Messages per batch of the pub/sub delivery benchmark.
const PUBSUB_BATCH: u64 = 100_000;

/// W3: a million SETs in pipelines of `size`, on one connection.
fn w3(c: &mut Criterion, server: &Server) {
    for size in [100u64, 10_000] {
        let client = Client::builder()
            .host("127.0.0.1")
            .port(server.port())
            .max_connections(1)
            .build();
        let mut rs = redis_rs_connection(server);
        let mut group = batch_group(c, &format!("w3-pipeline-{size}"), W3_BATCH);
        group.bench_function("ours", |b| {
            let mut pipe = client.pipeline();
            pipe.transaction(false);
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters * (W3_BATCH / size) {
                    pipe.clear();
                    for _ in 0..size {
                        pipe.set(KEY, &VALUE_16[..]);
                    }
                    pipe.query::<()>().expect("pipeline");
                }
                start.elapsed()
            });
        });
        group.bench_function("redis-rs", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters * (W3_BATCH / size) {
                    let mut pipe = redis::pipe();
                    for _ in 0..size {
                        pipe.set(KEY, &VALUE_16[..]).ignore();
                    }
                    pipe.exec(&mut rs).expect("pipeline");
                }
                start.elapsed()
            });
        });
        group.bench_function("redis-benchmark", |b| {
            b.iter_custom(|iters| {
                let p = size.to_string();
                let args = ["-c", "1", "-P", p.as_str(), "-d", "16", "-t", "set"];
                redis_benchmark_time(server, iters * W3_BATCH, &args, "SET")
            });
        });
        if size == 100 {
            let set: &[&[u8]] = &[b"SET", KEY.as_bytes(), &VALUE_16[..]];
            let batch = encoded(&vec![set; size as usize]);
            raw_floor(
                &mut group,
                RawClient::new(server, batch, size as usize),
                W3_BATCH / size,
            );
        }
        if size > 100 {
            // The yardstick for every pipeline size: redis-benchmark with -P 100.
            group.bench_function("redis-benchmark-P100", |b| {
                b.iter_custom(|iters| {
                    let args = ["-c", "1", "-P", "100", "-d", "16", "-t", "set"];
                    redis_benchmark_time(server, iters * W3_BATCH, &args, "SET")
                });
            });
        }
        group.finish();
    }
}

/// Publishes `n` 16-byte messages to `channel` with `redis-benchmark -P 1000` (a publisher
/// fast enough that the subscriber is what is measured).
fn publish_all(server: &Server, channel: &str, n: u64) {
    let value = String::from_utf8_lossy(&VALUE_16).into_owned();
    let status = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &server.port().to_string(), "-q"])
        .args(["-c", "1", "-P", "1000", "-n", &n.to_string()])
        .args(["PUBLISH", channel, value.as_str()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cannot run redis-benchmark");
    assert!(status.success(), "redis-benchmark PUBLISH failed");
}

/// The fastest subscriber there can be, as a reference: a socket subscribed to `channel` whose
/// reads are counted in bytes (every message to it has the same length: a 16-byte payload
/// on one channel) and never parsed. Returns the socket and the length of one message.
fn raw_subscriber(server: &Server, channel: &str) -> (std::net::TcpStream, u64) {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut request = Vec::new();
    resp_proto::encode_command(&mut request, ["SUBSCRIBE", channel]);
    socket.write_all(&request).expect("SUBSCRIBE");
    let confirmation = format!(
        "*3\r\n$9\r\nsubscribe\r\n${}\r\n{channel}\r\n:1\r\n",
        channel.len()
    );
    let mut got = vec![0u8; confirmation.len()];
    socket.read_exact(&mut got).expect("subscribe confirmation");
    assert_eq!(got, confirmation.as_bytes(), "unexpected confirmation");
    let message = format!(
        "*3\r\n$7\r\nmessage\r\n${}\r\n{channel}\r\n${}\r\n",
        channel.len(),
        VALUE_16.len()
    );
    let message_len = (message.len() + VALUE_16.len() + 2) as u64;
    (socket, message_len)
}

/// Pub/sub: messages per second delivered to one subscriber from one publisher.
fn pubsub(c: &mut Criterion, server: &Server) {
    let publisher = Client::open(&server.url()).expect("client");
    let mut group = batch_group(c, "pubsub-delivery", PUBSUB_BATCH);
    group.bench_function("ours", |b| {
        let mut sub = publisher.pubsub().expect("pubsub");
        sub.ignore_subscribe_messages(true);
        sub.subscribe("bench-ours").expect("SUBSCRIBE");
        while sub
            .get_message(Duration::from_millis(100))
            .expect("read")
            .is_some()
        {}
        b.iter_custom(|iters| {
            let n = iters * PUBSUB_BATCH;
            std::thread::scope(|scope| {
                let start = Instant::now();
                scope.spawn(|| publish_all(server, "bench-ours", n));
                let mut got = 0;
                while got < n {
                    if let Some(m) = sub.get_message(Duration::from_secs(5)).expect("message") {
                        black_box(&m.payload);
                        got += 1;
                    } else {
                        panic!("messages stopped arriving after {got}");
                    }
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("raw-socket-floor", |b| {
        let (mut socket, message_len) = raw_subscriber(server, "bench-floor");
        let mut buf = vec![0u8; 64 * 1024];
        b.iter_custom(|iters| {
            let n = iters * PUBSUB_BATCH;
            let want = n * message_len;
            std::thread::scope(|scope| {
                let start = Instant::now();
                scope.spawn(|| publish_all(server, "bench-floor", n));
                let mut got = 0u64;
                while got < want {
                    match std::io::Read::read(&mut socket, &mut buf) {
                        Ok(0) | Err(_) => panic!("messages stopped arriving after {got} bytes"),
                        Ok(read) => got += read as u64,
                    }
                }
                assert_eq!(got, want, "bytes that are not the messages arrived");
                start.elapsed()
            })
        });
    });
    group.bench_function("redis-rs", |b| {
        let mut con = redis_rs_connection(server);
        let mut sub = con.as_pubsub();
        sub.subscribe("bench-rs").expect("SUBSCRIBE");
        sub.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        b.iter_custom(|iters| {
            let n = iters * PUBSUB_BATCH;
            std::thread::scope(|scope| {
                let start = Instant::now();
                scope.spawn(|| publish_all(server, "bench-rs", n));
                for _ in 0..n {
                    let m = sub.get_message().expect("message");
                    black_box(m.get_payload_bytes());
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

fn main() {
    let server = Server::start();
    let mut c = Criterion::default().configure_from_args();
    w2(&mut c, &server);
    w3(&mut c, &server);
    w4(&mut c, &server);
    w5(&mut c, &server);
    pubsub(&mut c, &server);
    c.final_summary();
    drop(server);
}
