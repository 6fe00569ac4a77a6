#!/usr/bin/env bash
# Benchmark: keep-alive GETs of one pod from `portflow cluster
# serve`, against nginx serving a 1 KB static file, with the same wrk load,
# one after the other on the same machine, both over TLS (the fake cluster
# serves only HTTPS; nginx gets a certificate of the same kind, ECDSA P-256,
# and the same Authorization header). The two are run in turn, ROUNDS times
# (default 3), so that the machine's swings hit both alike; prints each
# one's best rate, its server CPU per request in that round, and the ratio
# of the best rates.
# Usage: bench/http_bench.sh [PORTFLOW] (default build/bench/cli/portflow)
# WRK_ARGS overrides the load (default "-t2 -c32 -d6s").
set -euo pipefail
cd "$(dirname "$0")/.."
portflow=${1:-build/bench/cli/portflow}
wrk_args=${WRK_ARGS:--t2 -c32 -d6s}
rounds=${ROUNDS:-3}
if [[ ! $rounds =~ ^[1-9][0-9]*$ ]]; then
  echo "http_bench: ROUNDS must be a whole number of at least 1, not \"$rounds\"" >&2
  exit 2
fi
PATH=$PATH:/usr/sbin  # nginx lives there; a non-root PATH may lack it

for tool in wrk nginx curl python3 openssl; do
  if ! command -v "$tool" >/dev/null; then
    echo "http_bench: $tool is missing: apt-get install wrk nginx-light" >&2
    exit 2
  fi
done
if [[ ! -x $portflow ]]; then
  echo "http_bench: no $portflow; build it with cmake --build --preset bench --target portflow" >&2
  exit 2
fi

dir=$(mktemp -d)
pids=()
cleanup() {
  # Only what this script started, by pid.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

# CPU seconds (user + system) used so far by a process and its children
# (nginx's workers). Less noisy than the rate on a shared machine.
cpu_seconds() {
  local ticks=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$ticks $(getconf CLK_TCK)" | awk '{print $1 / $2}'
}

# Runs wrk against URL, the server being PID; prints "REQ_PER_S US_CPU_PER_REQ".
run_wrk() {
  local out before after
  before=$(cpu_seconds "$2")
  # shellcheck disable=SC2086  # wrk_args is a list of words
  out=$(wrk $wrk_args -H "$auth" "$1")
  after=$(cpu_seconds "$2")
  echo "$out" >&2
  echo "$out" | awk -v a="$before" -v b="$after" \
    '/requests in/ {n = $1} /^Requests\/sec:/ {r = $2} END {printf "%s %.1f\n", r, (b - a) * 1e6 / n}'
}

# Waits until a command succeeds, for at most 10 s.
wait_for() {
  for _ in $(seq 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "http_bench: gave up waiting for: $*" >&2
  return 1
}

echo "== portflow cluster serve" >&2
"$portflow" cluster serve --nodes 1 --port 0 --kubeconfig "$dir/kubeconfig" \
  >"$dir/serve.out" 2>"$dir/serve.err" &
pids+=($!)
wait_for grep -q '^server: ' "$dir/serve.out"
url=$(awk '/^server: / {print $2}' "$dir/serve.out")
# Every request carries the cluster's token; nginx gets the same header.
auth="Authorization: Bearer $(sed -n 's/^ *token: "\(.*\)"$/\1/p' "$dir/kubeconfig")"
sed -n 's/^ *certificate-authority-data: //p' "$dir/kubeconfig" | base64 -d >"$dir/ca.crt"
pod='{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bench"},
      "spec":{"containers":[{"name":"c","image":"busybox","command":["true"]}]}}'
curl -sf --cacert "$dir/ca.crt" -o /dev/null -X POST -H "$auth" -H 'Content-Type: application/json' -d "$pod" \
  "$url/api/v1/namespaces/default/pods"
sleep 2  # the pod runs for its simulated second; measure the settled object
pod_url=$url/api/v1/namespaces/default/pods/bench
pod_bytes=$(curl -sf --cacert "$dir/ca.crt" -H "$auth" "$pod_url" | wc -c)

echo "== nginx" >&2
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$dir/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$dir/www/file"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$dir/nginx.key" -out "$dir/nginx.crt" 2>/dev/null
chmod -R a+rX "$dir"  # nginx's workers may run as another user when we are root
# worker_processes auto: nginx may use both cores, as the server's threads can.
# keepalive_requests high: every connection stays open, as against portflow.
# reuseport: the connections are dealt to the workers by the kernel, not to
# whichever worker wakes first, as portflow deals its connections to its loops.
cat >"$dir/nginx.conf" <<EOF
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$port ssl reuseport;
    ssl_certificate $dir/nginx.crt;
    ssl_certificate_key $dir/nginx.key;
    root $dir/www;
  }
}
EOF
nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' 2>>"$dir/error.log" &
pids+=($!)
wait_for curl -sf --cacert "$dir/nginx.crt" -o /dev/null "https://127.0.0.1:$port/file"

# Best of the rounds, each server's with its CPU per request in that round.
portflow_rate=0 portflow_cpu=0 nginx_rate=0 nginx_cpu=0
for round in $(seq "$rounds"); do
  echo "== round $round: portflow" >&2
  read -r rate cpu < <(run_wrk "$pod_url" "${pids[0]}")
  if awk -v a="$rate" -v b="$portflow_rate" 'BEGIN { exit !(a > b) }'; then
    portflow_rate=$rate portflow_cpu=$cpu
  fi
  echo "== round $round: nginx" >&2
  read -r rate cpu < <(run_wrk "https://127.0.0.1:$port/file" "${pids[1]}")
  if awk -v a="$rate" -v b="$nginx_rate" 'BEGIN { exit !(a > b) }'; then
    nginx_rate=$rate nginx_cpu=$cpu
  fi
done

echo "wrk $wrk_args, best of $rounds rounds each, in turn"
echo "portflow GET pod (${pod_bytes} B): ${portflow_rate} req/s, ${portflow_cpu} us server CPU per request"
echo "nginx GET static file (1024 B): ${nginx_rate} req/s, ${nginx_cpu} us server CPU per request"
awk -v p="$portflow_rate" -v n="$nginx_rate" \
  'BEGIN { r = p / n; printf "ratio portflow/nginx: %.2fx\nfigure: http.ratio %.3f\n", r, r }'
