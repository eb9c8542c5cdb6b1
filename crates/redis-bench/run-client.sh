#!/usr/bin/env bash
# Re-runs the client benchmarks (this client vs redis-rs 1.8.1 vs redis-benchmark, against a
# redis-server the bench starts itself) and prints the tables of docs/benchmarks.md ("Client
# benchmarks"). Needs redis-server and redis-benchmark on PATH.
#
# Runs the allocation counter once (deterministic), then the criterion suite RUNS times
# (default 3, about 2 minutes each on the project's 2-core machine), each into its own
# CRITERION_HOME, and reports the median over the runs. The benchmarks are round trips on a
# shared 2-core machine, so before each run the script waits (up to QUIET_WAIT seconds,
# default 300) until the CPUs were at most QUIET_BUSY percent busy (default 25) over 5
# seconds, and prints what it saw; it runs anyway after the wait.
# Extra arguments go to criterion, e.g. `RUNS=1 bash crates/redis-bench/run-client.sh w2-get`.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${RUNS:-3}
quiet_busy=${QUIET_BUSY:-25}
quiet_wait=${QUIET_WAIT:-300}
out=target/redis-bench-client

# busy and wait_quiet.
# shellcheck source=quiet.sh
source crates/redis-bench/quiet.sh

echo "nproc: $(nproc); CPU:$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-); $(rustc --version)"
echo "$(redis-server --version | cut -d' ' -f1-3); $(redis-benchmark --version)"
cargo bench -p redis-bench --bench client --bench client_alloc --no-run
cargo bench -p redis-bench --bench client_alloc
dirs=()
for i in $(seq 1 "$runs"); do
  echo "run $i of $runs"
  wait_quiet
  rm -rf "$out/run-$i"
  CRITERION_HOME="$PWD/$out/run-$i" cargo bench -p redis-bench --bench client -- "$@"
  echo "CPU busy right after run $i: $(busy)% (load $(cut -d' ' -f1-3 /proc/loadavg))"
  dirs+=("$out/run-$i")
done
cargo run -q -p redis-bench --profile bench --example client_report -- "${dirs[@]}"
