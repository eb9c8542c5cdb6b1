#!/usr/bin/env bash
# Re-runs the redis-bench benchmarks (resp-proto vs redis-rs vs redis-protocol, side by side)
# and prints the tables of docs/benchmarks.md. Runs the criterion suite RUNS times (default 3,
# about 2.5 minutes each on the project's 2-core machine) and reports the median over the runs,
# because a shared 2-core machine is noisy.
# Extra arguments go to criterion, e.g. `RUNS=1 bash crates/redis-bench/run.sh owned/a_`.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-3}
out=target/redis-bench
echo "nproc: $(nproc); CPU:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-); $(rustc --version)"
cargo bench -p redis-bench --bench alloc_count
dirs=()
for i in $(seq 1 "$runs"); do
  echo "run $i of $runs; load: $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -rf "$out/run-$i"
  CRITERION_HOME="$PWD/$out/run-$i" cargo bench -p redis-bench --bench decode --bench encode -- "$@"
  dirs+=("$out/run-$i")
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo run -q -p redis-bench --profile bench --example report -- "${dirs[@]}"
