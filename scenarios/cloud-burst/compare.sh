#!/usr/bin/env bash
# Runs the cloud-burst sweep three ways (on-prem only, cloud only, hybrid)
# in virtual time and prints the table that README.md shows. Arguments go
# to cloud_burst: [BURST_AFTER] [BUDGET_USD] [PROVISIONING] (5m 40 90s).
# Builds cloud_burst first (the dev preset's folder, or $BUILD_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build/dev}
cmake --build "$build" --target cloud_burst >/dev/null
exec "$build/scenarios/cloud-burst/cloud_burst" "$root/scenarios/cloud-burst/sweep.yaml" "$@"
