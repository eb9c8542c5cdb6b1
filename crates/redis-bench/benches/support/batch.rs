//! What the live benchmarks (`client`, `cluster`) share: criterion groups of whole batches,
//! and `redis-benchmark` run as one more client, timed by its own clock.

use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};

/// A group `<suite>/<name>` of batch benchmarks: `batch` requests per iteration, 10 samples
/// of one batch each after one batch of warm-up.
pub(crate) fn batch_group<'a>(
    c: &'a mut Criterion,
    suite: &str,
    name: &str,
    batch: u64,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(format!("{suite}/{name}"));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        // Both far below one batch: one batch of warm-up, one batch per sample. Criterion
        // warns that the samples take longer than this; that is expected.
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(10))
        .throughput(Throughput::Elements(batch));
    group
}

/// Runs `redis-benchmark <target...> --csv <args>` (`target` says where: `-h`, `-p`, and
/// `--cluster` for a cluster) and returns the requests per second of its `test` line.
pub(crate) fn redis_benchmark(target: &[&str], args: &[&str], test: &str) -> f64 {
    let output = Command::new("redis-benchmark")
        .args(target)
        .arg("--csv")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run redis-benchmark");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "redis-benchmark {args:?} failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // In cluster mode it prints the primaries it found before the CSV.
    let quoted = format!("\"{test}\"");
    text.lines()
        .find_map(|line| {
            let mut fields = line.split(',');
            (fields.next()? == quoted).then(|| fields.next()?.trim_matches('"').parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {test:?} line in redis-benchmark's output:\n{text}"))
}

/// The time `redis-benchmark` needs for `requests` at its reported rate.
pub(crate) fn redis_benchmark_time(
    target: &[&str],
    requests: u64,
    args: &[&str],
    test: &str,
) -> Duration {
    let n = requests.to_string();
    let mut all = vec!["-n", n.as_str()];
    all.extend_from_slice(args);
    let rps = redis_benchmark(target, &all, test);
    Duration::from_secs_f64(requests as f64 / rps)
}
