//! Decoding benchmarks: resp-proto against redis-rs and redis-protocol, side by side.
//!
//! `owned/<workload>/<client>`: each iteration copies the input into a fresh `BytesMut`
//! (outside the timing, `iter_batched` with `BatchSize::LargeInput`) and decodes every reply
//! until the buffer is empty; the copy is freed outside the timing too (see
//! `redis_bench::fresh_buffer`). `borrowed/<workload>/<client>`: each iteration walks the same
//! input slice with resp-proto's `decode_frames` (every frame iterated) or redis-protocol's
//! `decode_range`. Throughput is the input size in bytes.

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use redis_bench::{
    Workload, fresh_buffer, redis_protocol_owned, redis_protocol_range, redis_rs_owned,
    resp_proto_borrowed, resp_proto_owned, workloads,
};

fn group_for<'c>(
    c: &'c mut Criterion,
    prefix: &str,
    w: &Workload,
) -> criterion::BenchmarkGroup<'c, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(format!("{prefix}/{}", w.name));
    group.throughput(Throughput::Bytes(w.bytes.len() as u64));
    if w.big {
        group.sample_size(10);
    }
    group
}

fn owned(c: &mut Criterion) {
    for w in workloads() {
        let mut group = group_for(c, "owned", &w);
        let input = &w.bytes[..];
        let replies = w.replies;
        group.bench_function("resp-proto", |b| {
            b.iter_batched(
                || fresh_buffer(input),
                |(buf, keep)| {
                    resp_proto_owned(buf, replies);
                    keep
                },
                BatchSize::LargeInput,
            );
        });
        group.bench_function("redis-protocol", |b| {
            b.iter_batched(
                || fresh_buffer(input),
                |(buf, keep)| {
                    redis_protocol_owned(buf, replies);
                    keep
                },
                BatchSize::LargeInput,
            );
        });
        group.bench_function("redis-rs", |b| {
            b.iter_batched(
                || fresh_buffer(input),
                |(buf, keep)| {
                    redis_rs_owned(buf, replies);
                    keep
                },
                BatchSize::LargeInput,
            );
        });
        group.finish();
    }
}

fn borrowed(c: &mut Criterion) {
    for w in workloads() {
        let mut group = group_for(c, "borrowed", &w);
        let input = &w.bytes[..];
        let replies = w.replies;
        group.bench_function("resp-proto", |b| {
            b.iter(|| resp_proto_borrowed(input, replies));
        });
        group.bench_function("redis-protocol", |b| {
            b.iter(|| redis_protocol_range(input, replies));
        });
        group.finish();
    }
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
    targets = owned, borrowed
}
criterion_main!(benches);
