#!/usr/bin/env bash
# Installs what is missing, builds portflow, and runs the laptop scenario on
# the local backend. Usage: scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# ccache: paths relative to the checkout, so that a clone in another folder
# (CI's) reuses what an earlier build compiled.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset release >/dev/null
cmake --build --preset release --target portflow gpu-train
echo
echo "== portflow run scenarios/laptop-dev/pipeline.yaml"
build/release/cli/portflow run scenarios/laptop-dev/pipeline.yaml
