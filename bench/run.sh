#!/usr/bin/env bash
# Builds the bench preset and runs every benchmark. Usage: bench/run.sh
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
cmake --build --preset bench --target portflow spawn_bench fake_cluster_bench watch_fanout_bench
echo "== (a) spawn and reap of a no-op task"
build/bench/bench/spawn_bench 300
echo "== (b, c) DAG overhead against make -j2, and peak memory"
python3 bench/dag_bench.py build/bench/cli/portflow --rounds 3
echo "== fake cluster (a): 5,000 nodes, 150,000 pods as Jobs, simulate mode, virtual time"
timeout 900 build/bench/bench/fake_cluster_bench 5000 1500 100
echo "== fake cluster (b): keep-alive GETs against nginx"
bench/http_bench.sh build/bench/cli/portflow
echo "== fake cluster (c): watch fan-out, 100 watchers, 10,000 updates"
timeout 900 build/bench/bench/watch_fanout_bench 100 10000
echo "== kubernetes backend: API requests per attempt, 200 no-op steps against local"
python3 bench/k8s_bench.py build/bench/cli/portflow --rounds 5
echo "== cloud backend: calls per attempt, 1,000 no-op steps against a kubernetes target"
python3 bench/cloud_bench.py build/bench/cli/portflow --rounds 3 --steps 1000
echo "== cloud backend: 1,000 one-minute attempts from no nodes, in virtual time"
timeout 900 build/bench/bench/cloud_sweep_bench 1000 60 60
echo "== report: a run of 1,000 instances, drawn and loaded in Chromium"
python3 bench/report_bench.py build/bench/cli/portflow --rounds 5
