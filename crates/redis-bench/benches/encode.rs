//! Encoding benchmarks: 1,000,000 `SET key:N <16-byte value>` commands into one reused
//! `Vec<u8>` (cleared each iteration), resp-proto against redis-rs.
//!
//! redis-rs is measured two ways: the idiomatic `redis::cmd("SET").arg(..).arg(..)` followed
//! by `Cmd::write_packed_command`, and its fastest public path, one `Cmd` reused through
//! `Cmd::clear`. Throughput is the encoded size in bytes.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redis_bench::{SetCommands, encode_redis_rs, encode_redis_rs_reused, encode_resp_proto};

fn encode(c: &mut Criterion) {
    let cmds = SetCommands::new(1_000_000);
    let mut group = c.benchmark_group("encode/set_1m");
    group.throughput(Throughput::Bytes(cmds.encoded_len() as u64));
    let mut out = Vec::new();
    group.bench_function("resp-proto", |b| {
        b.iter(|| encode_resp_proto(&cmds, &mut out));
    });
    group.bench_function("redis-rs", |b| {
        b.iter(|| encode_redis_rs(&cmds, &mut out));
    });
    let mut cmd = redis::Cmd::new();
    group.bench_function("redis-rs-reused-cmd", |b| {
        b.iter(|| encode_redis_rs_reused(&cmds, &mut cmd, &mut out));
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = encode
}
criterion_main!(benches);
