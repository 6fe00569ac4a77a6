#!/usr/bin/env bash
# Builds the bench preset, runs every benchmark, and ends with one table of
# every figure beside its target (bench/summary.py); exits 1 when a target
# is missed or a benchmark gave no figure. Usage: bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The HTTP bench's load generator and baseline. Only the benchmarks need
# them, so they are installed here and not in install-deps.sh (CI's list).
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get install -y "${missing[@]}" ||
    { $sudo apt-get update && $sudo apt-get install -y "${missing[@]}"; }
fi
cmake --preset bench >/dev/null
cmake --build --preset bench --target portflow spawn_bench fake_cluster_bench watch_fanout_bench \
  cloud_sweep_bench trace_replay
# Every benchmark runs even when one fails (its figures then show as
# MISSING); the output goes to the terminal and to a log that the summary
# reads for `figure:` lines.
log=$(mktemp /tmp/portflow-bench.XXXXXX.log)
bench() {
  local title=$1
  shift
  echo "== $title" | tee -a "$log"
  "$@" 2>&1 | tee -a "$log" || echo "(failed: exit ${PIPESTATUS[0]})" | tee -a "$log"
}
bench "(a) spawn and reap of a no-op task" build/bench/bench/spawn_bench 300
bench "(b, c) DAG overhead against make -j2, and peak memory" \
  python3 bench/dag_bench.py build/bench/cli/portflow --rounds 3
bench "fake cluster (a): 5,000 nodes, 150,000 pods as Jobs, simulate mode, virtual time" \
  timeout 900 build/bench/bench/fake_cluster_bench 5000 1500 100
bench "fake cluster (b): keep-alive GETs against nginx" bench/http_bench.sh build/bench/cli/portflow
bench "fake cluster (c): watch fan-out, 100 watchers, 10,000 updates" \
  timeout 900 build/bench/bench/watch_fanout_bench 100 10000
bench "kubernetes backend: API requests per attempt, 200 no-op steps against local" \
  python3 bench/k8s_bench.py build/bench/cli/portflow --rounds 5
bench "cloud backend: calls per attempt, 1,000 no-op steps against a kubernetes target" \
  python3 bench/cloud_bench.py build/bench/cli/portflow --rounds 3 --steps 1000
bench "cloud backend: 1,000 one-minute attempts from no nodes, in virtual time" \
  timeout 900 build/bench/bench/cloud_sweep_bench 1000 60 60
bench "report: a run of 1,000 instances, drawn and loaded in Chromium" \
  python3 bench/report_bench.py build/bench/cli/portflow --rounds 5
bench "trace: 100,000 jobs through the hybrid, in virtual time" \
  timeout 900 build/bench/scenarios/cloud-burst/trace_replay 100000
echo "== summary (log: $log)"
python3 bench/summary.py "$log"
