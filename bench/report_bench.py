#!/usr/bin/env python3
"""Benchmark: `portflow report` of a run of 1,000 instances (a prepare step,
a sweep of 998, a pick step), against `portflow status -o json` of the same
run (the same store reads, no drawing), side by side, rounds alternated,
best of N; the report file's size; and how long Debian's headless Chromium
takes to load it (tests/browser/check_page.mjs). Targets: the report in
under a second, the file under 2 MB, the page loaded in under a second.

Usage: bench/report_bench.py PORTFLOW_BINARY [--rounds N] [--instances N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def timed(cmd, cwd):
    start = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}: {r.stderr.decode()}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("portflow")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--instances", type=int, default=1000)
    args = ap.parse_args()
    portflow = os.path.abspath(args.portflow)
    sweep = args.instances - 2
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "w.yaml"), "w") as y:
            y.write("apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: wide}\n")
            y.write("spec:\n  steps:\n    - {name: prepare, script: 'echo ready'}\n")
            y.write("    - name: train\n      needs: [prepare]\n      matrix:\n        i: [")
            y.write(", ".join(f'"{i}"' for i in range(sweep)) + "]\n")
            y.write("      script: 'echo training {{matrix.i}}; echo done'\n")
            y.write("    - {name: pick, needs: [train], script: 'echo picked'}\n")
        run = subprocess.run([portflow, "run", "-q", "w.yaml"], cwd=work, capture_output=True,
                             text=True)
        if run.returncode != 0:
            sys.exit("the run failed: " + run.stderr)
        run_id = run.stdout.splitlines()[0]
        best_status, best_report = 1e9, 1e9
        out = os.path.join(work, "report.html")
        for _ in range(args.rounds):
            best_status = min(best_status,
                              timed([portflow, "status", run_id, "-o", "json"], work))
            best_report = min(best_report, timed([portflow, "report", run_id, "-o", out], work))
        size = os.path.getsize(out)
        # The page in Debian's headless Chromium: navigation start to load.
        check = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "browser",
                             "check_page.mjs")
        loads = []
        for _ in range(3):
            page = subprocess.run(["node", check, "file://" + out, os.path.join(work, "shot.png")],
                                  capture_output=True, text=True)
            try:
                loads.append(json.loads(page.stdout)["loadMs"])
            except (ValueError, KeyError):
                sys.exit("the browser check failed: " + page.stdout + page.stderr)
    print(f"in Chromium: loaded in {min(loads):.0f} ms (best of 3)")
    print(f"{args.instances} instances: status -o json {best_status * 1000:.0f} ms, "
          f"report {best_report * 1000:.0f} ms (ratio {best_report / best_status:.2f}x), "
          f"file {size / 1e6:.2f} MB")
    ok = best_report < 1.0 and size < 2e6 and min(loads) < 1000
    print("target (report < 1 s, file < 2 MB, loaded < 1 s):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
