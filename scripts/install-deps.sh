#!/usr/bin/env bash
# Installs what portflow needs to build and test, from Debian 12's packages.
# Does nothing when everything is already there.
set -euo pipefail

packages=(
  cmake ninja-build g++ ccache pkg-config python3 make openssl
  clang libclang-rt-14-dev clang-format
  libboost1.81-dev libboost-filesystem1.81-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev libcurl4-openssl-dev libssl-dev
  libspdlog-dev
  python3-kubernetes
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The schema check of rendered Kubernetes objects (tests/schema) runs on
# Node.js with one npm package, pinned by tests/schema/package-lock.json.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing: nodejs npm"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends nodejs npm
fi
# The report and dashboard are checked in Debian's headless Chromium (the
# chromium package above), driven by playwright-core, pinned by
# tests/browser/package-lock.json.
tests_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests"
for pinned in schema:kubernetes-models browser:playwright-core; do
  dir="$tests_dir/${pinned%%:*}"
  if [[ ! -d "$dir/node_modules/${pinned#*:}" ]]; then
    echo "installing: npm packages of tests/${pinned%%:*}"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
done
