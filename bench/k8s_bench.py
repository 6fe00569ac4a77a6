#!/usr/bin/env python3
"""Issue 4's benchmarks for the kubernetes backend, against a fake cluster
served by `portflow cluster serve` (simulate mode, pods that end at once):

  (a) API requests per task attempt on the steady path, counted by the
      fake server (its /portflow/stats), with no polling;
  (b) 200 independent single-pod no-op steps on the fake cluster against
      the same 200 on the local backend, rounds alternated, best of N, as a
      ratio.

Usage: bench/k8s_bench.py PORTFLOW_BINARY [--rounds N] [--steps N]
"""
import argparse
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request


def stats(url, token, tls):
    request = urllib.request.Request(url + "/portflow/stats",
                                     headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, context=tls) as r:
        return json.load(r)


def timed(cmd, cwd):
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("portflow")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    portflow = os.path.abspath(args.portflow)
    with tempfile.TemporaryDirectory() as work:
        serve = subprocess.Popen(
            [portflow, "cluster", "serve", "--nodes", "4", "--cpu", "64", "--memory", "256Gi",
             "--pod-duration", "0", "--kubeconfig", os.path.join(work, "kubeconfig")],
            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            url = None
            while url is None:
                line = serve.stdout.readline()
                if not line:
                    sys.exit("cluster serve ended early")
                m = re.match(r"server: (\S+)", line)
                if m:
                    url = m.group(1)
            with open(os.path.join(work, "kubeconfig")) as f:
                kubeconfig = f.read()
            token = re.search(r'token: "(\w+)"', kubeconfig).group(1)
            # The server's certificate is signed by the CA its kubeconfig names.
            ca = re.search(r"certificate-authority-data: (\S+)", kubeconfig).group(1)
            tls = ssl.create_default_context(cadata=base64.b64decode(ca).decode())
            with open(os.path.join(work, "portflow.yaml"), "w") as f:
                f.write("targets:\n  fake: {backend: kubernetes, kubeconfig: %s, namespace: "
                        "default, code: image}\n" % os.path.join(work, "kubeconfig"))
            with open(os.path.join(work, "noop.yaml"), "w") as y:
                y.write("apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: noop}\n"
                        "spec:\n  image: busybox\n  resources: {cpu: 100m, memory: 64Mi}\n"
                        "  steps:\n")
                for i in range(args.steps):
                    y.write(f'    - {{name: s{i}, command: ["true"]}}\n')
            best_local, best_fake, per_task, times = 1e9, 1e9, [], []
            for r in range(args.rounds):  # alternated, so noise hits both alike
                t = timed([portflow, "--state-dir", f"state-local-{r}", "run", "-q", "noop.yaml"],
                          work)
                best_local = min(best_local, t)
                before = stats(url, token, tls)
                t = timed([portflow, "--state-dir", f"state-fake-{r}", "run", "-q", "noop.yaml",
                           "--target", "fake"], work)
                after = stats(url, token, tls)
                per_task.append((after["apiCalls"] - before["apiCalls"]) / args.steps)
                kinds = {k: n - before["byKind"].get(k, 0) for k, n in after["byKind"].items()}
                best_fake = min(best_fake, t)
                times.append(t)
            print(f"(a) API requests per task attempt: "
                  f"{', '.join(f'{x:.2f}' for x in per_task)}; in the last round, by kind:")
            for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
                if n:
                    print(f"    {n / args.steps:6.3f}  {k}")
            print(f"(b) {args.steps} no-op steps: local {best_local:.2f}s, fake cluster "
                  f"{best_fake:.2f}s, ratio {best_fake / best_local:.2f}x (best of {args.rounds}; "
                  f"fake rounds {', '.join(f'{x:.2f}s' for x in times)})")
            print(f"figure: k8s.requests_per_attempt {sum(per_task) / len(per_task):.3f}")
            print(f"figure: k8s.ratio {best_fake / best_local:.3f}", flush=True)
        finally:
            serve.terminate()
            serve.wait()


if __name__ == "__main__":
    main()
