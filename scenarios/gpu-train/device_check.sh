#!/usr/bin/env bash
# Runs the gpu-train scenario through portflow on a machine with a GPU and
# keeps the evidence. Usage (from the repository root):
#   scenarios/gpu-train/device_check.sh PORTFLOW_BINARY GPU_TRAIN_BINARY OUT_DIR
set -uo pipefail
portflow=$(realpath "$1") trainer=$(realpath "$2") out=$(realpath "$3")
mkdir -p "$out"
{
  echo "== machine"
  nvidia-smi -L || true
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  echo "== gpu-train --check (GPU and CPU paths in one process)"
  "$trainer" --check
  echo "rc=$?"
  echo "== portflow run scenarios/gpu-train/train.yaml"
  state=$(mktemp -d)
  (cd scenarios/gpu-train && "$portflow" --state-dir "$state" run train.yaml -p trainer="$trainer")
  echo "rc=$?"
  run=$("$portflow" --state-dir "$state" runs -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
  "$portflow" --state-dir "$state" status "$run" -o json > "$out/status.json"
  "$portflow" --state-dir "$state" render scenarios/gpu-train/train.yaml -p trainer="$trainer" -o json > "$out/render.json"
  echo "== portflow run scenarios/laptop-dev/pipeline.yaml (the laptop scenario, on this machine)"
  "$portflow" --state-dir "$state" run -q scenarios/laptop-dev/pipeline.yaml
  echo "rc=$?"
} 2>&1 | tee "$out/device_check.log"
