# Shared by run-client.sh and run-cluster.sh (sourced, not run): waiting for a quiet machine
# before each criterion run. Expects `quiet_busy` and `quiet_wait` to be set.

# Percent of all CPUs busy over the next 5 seconds, from /proc/stat.
busy() {
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 5
  read -r -a b < <(head -1 /proc/stat)
  local total=0 idle i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $((100 * (total - idle) / (total > 0 ? total : 1)))
}

# Waits until the machine is quiet, or QUIET_WAIT seconds have passed.
wait_quiet() {
  local waited=0 pct
  while :; do
    pct=$(busy)
    if ((pct <= quiet_busy)); then
      echo "CPU busy before the run: ${pct}% (load $(cut -d' ' -f1-3 /proc/loadavg))"
      return
    fi
    if ((waited >= quiet_wait)); then
      echo "CPU busy before the run: ${pct}% after waiting ${waited} s; running anyway (load $(cut -d' ' -f1-3 /proc/loadavg))"
      return
    fi
    sleep 10
    waited=$((waited + 15))
  done
}
