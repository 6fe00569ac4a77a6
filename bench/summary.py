#!/usr/bin/env python3
"""The table bench/run.sh ends with: every figure the benchmarks printed
(`figure: KEY VALUE` lines in their output) beside its target. Exits 1
when a target is missed or a figure is missing (its benchmark failed).

Usage: bench/summary.py LOG
"""
import re
import sys

# (key, what it measures, "<=" or ">=", target): issue 16's table.
TARGETS = [
    ("cluster.pods_per_s", "fake cluster: 5,000 nodes, 150,000 pods, pods/s", ">=", 15000),
    ("cluster.peak_mib", "fake cluster: the same, peak MiB", "<=", 1536),
    ("watch.patches_per_s", "pod patches with 100 watchers following, per s", ">=", 5000),
    ("http.ratio", "keep-alive GET of a pod / nginx serving 1 KB", ">=", 1.0),
    ("dag.independent_ratio", "1,000 independent no-op steps / make -j2", "<=", 1.5),
    ("dag.chain_ratio", "200-step chain / make -j2", "<=", 1.3),
    ("spawn.small_ratio", "spawn + reap / posix_spawn, small parent", "<=", 1.15),
    ("spawn.big_ratio", "spawn + reap / posix_spawn, 1 GiB parent", "<=", 1.15),
    ("k8s.ratio", "200 no-op steps, fake cluster / local", "<=", 1.4),
    ("k8s.requests_per_attempt", "API requests per attempt on the fake cluster", "<=", 3.0),
    ("trace.wall_s", "100,000-job trace through the hybrid, wall s", "<=", 60),
    ("trace.peak_mib", "the same, peak MiB", "<=", 2048),
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    figures = {}
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"figure: (\S+) ([-+0-9.eE]+)\s*$", line)
            if m:
                figures[m.group(1)] = float(m.group(2))
    rows, missed = [], 0
    for key, what, op, target in TARGETS:
        value = figures.get(key)
        if value is None:
            verdict, shown = "MISSING", "-"
        else:
            ok = value <= target if op == "<=" else value >= target
            verdict, shown = ("met" if ok else "MISSED"), f"{value:g}"
        missed += verdict != "met"
        rows.append((what, shown, f"{op} {target:g}", verdict))
    width = max(len(r[0]) for r in rows)
    print(f"| {'measure':{width}} | {'now':>9} | {'target':>9} | result  |")
    print(f"|{'-' * (width + 2)}|{'-' * 11}|{'-' * 11}|---------|")
    for what, shown, target, verdict in rows:
        print(f"| {what:{width}} | {shown:>9} | {target:>9} | {verdict:7} |")
    print(f"{len(rows) - missed} of {len(rows)} targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
