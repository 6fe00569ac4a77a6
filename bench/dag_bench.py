#!/usr/bin/env python3
"""Benchmarks (b) and (c): the DAG overhead of `portflow run` against
`make -j2` running the same graph of no-op tasks, side by side, and the peak
memory of portflow on the 1000-step run. For reference (not the targets'
baseline), the same make with each recipe writing a log file of its own in
a fresh directory, as each portflow task does: creating files costs much
more in a directory made moments before than in an older one on some
file systems, and make alone creates none.

Usage: bench/dag_bench.py PORTFLOW_BINARY [--rounds N]
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def write_graph(work, name, n, chain):
    with open(os.path.join(work, name + ".yaml"), "w") as y:
        y.write("apiVersion: portflow.dev/v1\nkind: Workload\n")
        y.write(f"metadata: {{name: {name}}}\nspec:\n  steps:\n")
        for i in range(n):
            needs = f", needs: [s{i - 1}]" if chain and i else ""
            y.write(f'    - {{name: s{i}{needs}, command: ["true"]}}\n')
    # The same graph for make, and (for reference, not the target's
    # baseline) one whose recipes each write a log file of their own in
    # $(LOGS), as portflow's tasks do.
    for suffix, recipe in (("", "true"), ("-logs", "true > $(LOGS)/s{i}.log")):
        with open(os.path.join(work, name + suffix + ".mk"), "w") as m:
            targets = [f"s{i}" for i in range(n)]
            m.write("all: " + (targets[-1] if chain else " ".join(targets)) + "\n")
            m.write(".PHONY: all " + " ".join(targets) + "\n")
            for i in range(n):
                dep = f" s{i - 1}" if chain and i else ""
                m.write(f"s{i}:{dep}\n\t{recipe.format(i=i)}\n")


def timed(cmd, cwd):
    """Wall seconds of one run and the peak RSS (KiB) of the process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("portflow")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    portflow = os.path.abspath(args.portflow)
    with tempfile.TemporaryDirectory() as work:
        for name, n, chain, figure in (("independent-1000", 1000, False, "dag.independent_ratio"),
                                       ("chain-200", 200, True, "dag.chain_ratio")):
            write_graph(work, name, n, chain)
            best_make, best_logs, best_pf, peak = 1e9, 1e9, 1e9, 0
            for r in range(args.rounds):  # alternate, so noise hits both alike
                t, _ = timed(["make", "-s", "-j2", "-f", name + ".mk"], work)
                best_make = min(best_make, t)
                state = os.path.join(work, f"state-{name}-{r}")
                t, rss = timed([portflow, "--state-dir", state, "run", "-q", name + ".yaml"], work)
                best_pf = min(best_pf, t)
                peak = max(peak, rss)
                # After portflow, so that its files leave the two above as they were.
                logs = f"logs-{name}-{r}"  # fresh, as each run's state directory is
                os.makedirs(os.path.join(work, logs))
                t, _ = timed(["make", "-s", "-j2", "-f", name + "-logs.mk", "LOGS=" + logs], work)
                best_logs = min(best_logs, t)
            print(f"{name:18} make -j2 {best_make:7.3f} s   portflow {best_pf:7.3f} s   "
                  f"ratio {best_pf / best_make:5.2f}x   portflow peak RSS {peak / 1024:6.1f} MiB")
            print(f"{'':18} make -j2 writing a log file a task {best_logs:7.3f} s"
                  f"   portflow / that {best_pf / best_logs:5.2f}x (for reference)")
            print(f"figure: {figure} {best_pf / best_make:.3f}", flush=True)


if __name__ == "__main__":
    main()
