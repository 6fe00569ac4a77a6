#!/usr/bin/env bash
# Builds the bench preset and runs every benchmark. Usage: bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset bench >/dev/null
cmake --build --preset bench --target portflow spawn_bench
echo "== (a) spawn and reap of a no-op task"
build/bench/bench/spawn_bench 300
echo "== (b, c) DAG overhead against make -j2, and peak memory"
python3 bench/dag_bench.py build/bench/cli/portflow --rounds 3
