#!/usr/bin/env bash
# trace_replay's claims, checked on its output (a ctest): every job of a
# 2,000-job trace runs once, on one member or the other; bursting moves
# some to the cloud and cuts the queueing delay's tail against no budget
# (nothing moves); the percentiles are in order; with room for every job
# none waits; bad arguments are refused.
set -euo pipefail
bin=$1
fail() { echo "check_replay.sh: $*" >&2; echo "$out" >&2; exit 1; }
# The number after `$1` in the output (minutes for delays).
num() { grep -o "$1 [0-9.]*" <<<"$out" | head -1 | awk '{print $NF}'; }

out=$("$bin" 2000) || fail "the replay failed"
[[ $out == *"state Succeeded"* ]] || fail "the run did not succeed"
onprem=$(num "on-prem") cloud=$(num "on cloud") moved=$(num "moved")
((onprem + cloud == 2000)) || fail "not every job ran once"
((cloud > 0 && moved == cloud)) || fail "nothing burst to the cloud, or it got there unmoved"
p50=$(num "p50") p90=$(num "p90") p99=$(num "p99") max=$(num "max")
awk -v a="$p50" -v b="$p90" -v c="$p99" -v d="$max" 'BEGIN {exit !(a <= b && b <= c && c <= d)}' ||
  fail "the percentiles are out of order"
[[ $out == *"figure: trace.wall_s "* && $out == *"figure: trace.peak_mib "* ]] || fail "no figures"
burst_p90=$p90

out=$("$bin" 2000 7 5m 0) || fail "the replay without a budget failed"
(($(num "on cloud") == 0)) || fail "a job ran on the cloud without a budget"
awk -v b="$burst_p90" -v n="$(num "p90")" 'BEGIN {exit !(b < n)}' ||
  fail "bursting did not cut the p90 queueing delay ($burst_p90 min against $(num p90) min)"

# Room for every job at once: none waits (the delay is measured from each
# job's arrival to its start, not to its end).
out=$("$bin" 500 7 5m 0 100000) || fail "the replay on a huge on-prem failed"
[[ $(num "max") == 0.0 ]] || fail "a job waited with room for all"

for bad in "" "x" "10 7 soon"; do
  # shellcheck disable=SC2086
  if out=$("$bin" $bad 2>&1); then fail "'trace_replay $bad' was not refused"; fi
  [[ $out == *"usage: trace_replay"* || $out == *"BURST_AFTER"* ]] || fail "no usage for '$bad'"
done
echo "check_replay.sh: ok"
