#!/usr/bin/env python3
"""Issue 13's benchmarks for the cloud backend, against `portflow cloud
serve` (simulate mode, pods that end at once, nodes that join after
--provisioning), with the same sweep on `portflow cluster serve` (nodes
already there) as the baseline:

  (a) API calls per attempt on the cloud target: Kubernetes requests (the
      cloud cluster's /portflow/stats) and provider calls (EKS and SQS, the
      fake cloud's /portflow/stats), separately;
  (b) wall time of N independent single-pod no-op steps on the cloud target
      against the same N on a kubernetes target with the capacity already
      up, rounds alternated, best of R, as a ratio; with the cloud run's
      peak nodes and cost.

Real time, not virtual: the portflow binary runs on the real clock.

Usage: bench/cloud_bench.py PORTFLOW_BINARY [--rounds N] [--steps N]
                            [--provisioning DURATION]
"""
import argparse
import configparser
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials


def serve(cmd, cwd, key):
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    found = {}
    while key not in found:
        line = p.stdout.readline()
        if not line:
            sys.exit("ended early: " + " ".join(cmd))
        m = re.match(r"(\w+): (\S+)", line)
        if m:
            found[m.group(1)] = m.group(2)
    return p, found


def kube_calls(server, kubeconfig):
    with open(kubeconfig) as f:
        token = re.search(r'token: "(\w+)"', f.read()).group(1)
    import ssl
    ctx = ssl._create_unverified_context()  # the fake's own CA; counting only
    request = urllib.request.Request(server + "/portflow/stats",
                                     headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, context=ctx) as r:
        return json.load(r)["apiCalls"]


def cloud_get(endpoint, credentials, path):
    c = configparser.ConfigParser()
    c.read(credentials)
    d = c["default"]
    r = botocore.awsrequest.AWSRequest(method="GET", url=endpoint + path)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(
        d["aws_access_key_id"], d["aws_secret_access_key"]), "portflow", "us-east-1").add_auth(r)
    p = r.prepare()
    with urllib.request.urlopen(urllib.request.Request(p.url, headers=dict(p.headers))) as a:
        return json.load(a)


def peak(instances, since):
    points = []
    for i in instances:
        if i["launch"] < since:
            continue
        points.append((i["launch"], 1))
        points.append((i["end"] if i["end"] is not None else float("inf"), -1))
    now, best = 0, 0
    for _, d in sorted(points):
        now += d
        best = max(best, now)
    return best


def timed(cmd, cwd, env=None):
    start = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return time.perf_counter() - start, p.stdout.splitlines()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("portflow")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--provisioning", default="2s")
    args = ap.parse_args()
    portflow = os.path.abspath(args.portflow)
    with tempfile.TemporaryDirectory() as work:
        with open(os.path.join(work, "groups.yaml"), "w") as f:
            f.write("nodeGroups:\n  - {name: cpu, instanceTypes: [m5.large], maxSize: 50}\n")
        cluster, c = serve([portflow, "cluster", "serve", "--nodes", "4", "--cpu", "64",
                            "--memory", "256Gi", "--pod-duration", "0", "--kubeconfig",
                            os.path.join(work, "fake.kubeconfig")], work, "server")
        cloud, k = serve([portflow, "cloud", "serve", "--provisioning", args.provisioning,
                          "--pod-duration", "0", "--node-groups", "groups.yaml", "--kubeconfig",
                          os.path.join(work, "cloud.kubeconfig"), "--aws-credentials",
                          os.path.join(work, "credentials")], work, "server")
        try:
            with open(os.path.join(work, "portflow.yaml"), "w") as f:
                f.write("targets:\n"
                        f"  fake: {{backend: kubernetes, kubeconfig: {work}/fake.kubeconfig, "
                        "namespace: default, code: image}\n"
                        f"  burst: {{backend: cloud, cluster: burst, endpoint: {k['endpoint']}, "
                        f"kubeconfig: {work}/cloud.kubeconfig, context: burst, "
                        f"namespace: default, code: image, nodeGroups: [cpu], "
                        f"provisioning: {args.provisioning}, scaleDownAfter: 10s}}\n")
            with open(os.path.join(work, "noop.yaml"), "w") as y:
                y.write("apiVersion: portflow.dev/v1\nkind: Workload\nmetadata: {name: noop}\n"
                        "spec:\n  image: busybox\n  resources: {cpu: 100m, memory: 64Mi}\n"
                        "  steps:\n")
                for i in range(args.steps):
                    y.write(f'    - {{name: s{i}, command: ["true"]}}\n')
            env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=os.path.join(work, "credentials"))
            best_fake, best_cloud, rows = 1e9, 1e9, []
            for r in range(args.rounds):  # alternated, so noise hits both alike
                t, _ = timed([portflow, "--state-dir", f"state-fake-{r}", "run", "-q",
                              "noop.yaml", "--target", "fake"], work)
                best_fake = min(best_fake, t)
                kube_before = kube_calls(k["server"], os.path.join(work, "cloud.kubeconfig"))
                aws_before = cloud_get(k["endpoint"], env["AWS_SHARED_CREDENTIALS_FILE"],
                                       "/portflow/stats")["awsCalls"]
                since = time.time()
                t, run = timed([portflow, "--state-dir", f"state-cloud-{r}", "run", "-q",
                                "noop.yaml", "--target", "burst"], work, env)
                best_cloud = min(best_cloud, t)
                kube = kube_calls(k["server"], os.path.join(work, "cloud.kubeconfig"))
                aws = cloud_get(k["endpoint"], env["AWS_SHARED_CREDENTIALS_FILE"],
                                "/portflow/stats")["awsCalls"]
                bill = cloud_get(k["endpoint"], env["AWS_SHARED_CREDENTIALS_FILE"],
                                 "/portflow/bill")
                status = json.loads(subprocess.run(
                    [portflow, "--state-dir", f"state-cloud-{r}", "status", run, "-o", "json"],
                    cwd=work, stdout=subprocess.PIPE, text=True).stdout)
                rows.append((t, (kube - kube_before) / args.steps, (aws - aws_before) / args.steps,
                             peak(bill["instances"], since - 1), status["cost"]["usd"]))
            for t, kpa, apa, nodes, usd in rows:
                print(f"cloud round: {t:.2f} s, {kpa:.2f} Kubernetes and {apa:.3f} provider "
                      f"calls per attempt, peak {nodes} nodes, cost ${usd:.4f}")
            print(f"{args.steps} steps: kubernetes (capacity up) {best_fake:.2f} s, "
                  f"cloud {best_cloud:.2f} s: {best_cloud / best_fake:.2f}x")
        finally:
            for p in (cluster, cloud):
                p.terminate()
                p.wait()


if __name__ == "__main__":
    main()
