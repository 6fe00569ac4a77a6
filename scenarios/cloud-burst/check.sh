#!/usr/bin/env bash
# The scenario's claims, checked on cloud_burst's table (a ctest):
#   every way succeeds and runs all 33 instances; the hybrid finishes sooner
#   than on-prem only and costs less than cloud only, with attempts on both
#   members; a tighter budget makes the hybrid cost less and take longer;
#   on a trace of 300 jobs, every job runs once and the hybrid is sooner.
set -euo pipefail
bin=$1 sweep=$2
row() { awk -F'|' -v way="$2" '{gsub(/ +/, " ")} $2 == " " way " " {print}' <<<"$1"; }
# Field N of a row, a number: makespans in hours become minutes.
field() {
  awk -F'|' -v n="$2" '{v = $n; h = v ~ / h *$/; gsub(/[$a-z ]/, "", v); print h ? v * 60 : v}' <<<"$1"
}
fail() { echo "check.sh: $*" >&2; echo "$table" >&2; exit 1; }

table=$("$bin" "$sweep")
onprem=$(row "$table" "on-prem only") cloud=$(row "$table" "cloud only") hybrid=$(row "$table" "hybrid")
for r in "$onprem" "$cloud" "$hybrid"; do
  [[ $r == *Succeeded* ]] || fail "a way did not succeed: $r"
  (( $(field "$r" 6) + $(field "$r" 7) == 33 )) || fail "not every instance ran once: $r"
done
awk -v h="$(field "$hybrid" 4)" -v o="$(field "$onprem" 4)" 'BEGIN {exit !(h < o)}' ||
  fail "the hybrid is not sooner than on-prem only"
awk -v h="$(field "$hybrid" 5)" -v c="$(field "$cloud" 5)" 'BEGIN {exit !(h < c)}' ||
  fail "the hybrid does not cost less than cloud only"
(( $(field "$hybrid" 6) > 0 && $(field "$hybrid" 7) > 0 )) || fail "the hybrid used one member"

tight=$("$bin" "$sweep" 5m 5) table=$tight
tight=$(row "$tight" "hybrid")
[[ $tight == *Succeeded* ]] || fail "the hybrid with a \$5 budget did not succeed"
awk -v t="$(field "$tight" 5)" -v h="$(field "$hybrid" 5)" 'BEGIN {exit !(t < h)}' ||
  fail "a \$5 budget did not cost less"
awk -v t="$(field "$tight" 4)" -v h="$(field "$hybrid" 4)" 'BEGIN {exit !(t > h)}' ||
  fail "a \$5 budget did not take longer"
# The trace replay, at 300 jobs: every job runs once, and the hybrid ends
# sooner than on-prem only, within its budget's reach of cloud only's cost.
table=$("$bin" --trace 300)
onprem=$(row "$table" "on-prem only") hybrid=$(row "$table" "hybrid")
for r in "$onprem" "$(row "$table" "cloud only")" "$hybrid"; do
  [[ $r == *Succeeded* ]] || fail "a way of the trace did not succeed: $r"
  (( $(field "$r" 6) + $(field "$r" 7) == 300 )) || fail "not every job ran once: $r"
done
awk -v h="$(field "$hybrid" 4)" -v o="$(field "$onprem" 4)" 'BEGIN {exit !(h < o)}' ||
  fail "the hybrid is not sooner than on-prem only on the trace"
echo "cloud-burst: checked"
