#!/usr/bin/env python3
"""moto_server for portflow's AWS client tests: started on a free loopback port,
given an IAM user with an access key allowed everything, an EKS cluster with
node groups and an SQS queue, then made to verify SigV4 on every request.
Prints one JSON line (endpoint, region, keys, pid...) and leaves moto running:
the caller kills the pid.

moto checks signatures only once its request count reaches
INITIAL_NO_AUTH_ACTION_COUNT (unlimited by default), so set-up runs unsigned
and POST /moto-api/reset-auth (body "0", Content-Type text/plain) turns
checking on; from then on only keys in moto's IAM are accepted.

  moto_fixture.py [--cluster burst] [--queue portflow-interruptions]
                  [--nodegroup NAME:CAPACITY:TYPE,TYPE:MIN:MAX:DESIRED]...
"""
import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request

ACCOUNT = "123456789012"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cluster", default="burst")
    ap.add_argument("--queue", default="portflow-interruptions")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--nodegroup", action="append", default=[])
    a = ap.parse_args()
    groups = a.nodegroup or ["cpu-spot:SPOT:c5.large,m5.large:0:10:0",
                             "gpu-ondemand:ON_DEMAND:g5.xlarge:0:4:1"]
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = open(f"/tmp/moto_fixture_{port}.log", "wb")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).read()
            break
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                sys.exit(f"moto_server did not start; see {log.name}")
            time.sleep(0.1)
    try:
        import boto3
        boot = dict(endpoint_url=endpoint, region_name=a.region,
                    aws_access_key_id="setup", aws_secret_access_key="setup")
        iam = boto3.client("iam", **boot)
        iam.create_user(UserName="portflow")
        key = iam.create_access_key(UserName="portflow")["AccessKey"]
        iam.put_user_policy(UserName="portflow", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        # Subnets in two zones, as a cluster's VPC has them.
        ec2 = boto3.client("ec2", **boot)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{16 * i}.0/20",
                                     AvailabilityZone=a.region + z)["Subnet"]["SubnetId"]
                   for i, z in enumerate("ab")]
        eks = boto3.client("eks", **boot)
        eks.create_cluster(name=a.cluster, roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
                           resourcesVpcConfig={"subnetIds": subnets})
        for g in groups:
            name, capacity, types, low, high, desired = g.split(":")
            # Always a scalingConfig: moto shares one default among groups without.
            eks.create_nodegroup(clusterName=a.cluster, nodegroupName=name,
                                 capacityType=capacity, instanceTypes=types.split(","),
                                 scalingConfig={"minSize": int(low), "maxSize": int(high),
                                                "desiredSize": int(desired)},
                                 subnets=subnets,
                                 nodeRole=f"arn:aws:iam::{ACCOUNT}:role/node")
        queue_url = boto3.client("sqs", **boot).create_queue(QueueName=a.queue)["QueueUrl"]
        request = urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0",
                                         headers={"Content-Type": "text/plain"}, method="POST")
        urllib.request.urlopen(request, timeout=10).read()
    except Exception:
        proc.kill()
        raise
    print(json.dumps({"endpoint": endpoint, "region": a.region, "pid": proc.pid,
                      "access_key_id": key["AccessKeyId"],
                      "secret_access_key": key["SecretAccessKey"],
                      "cluster": a.cluster, "queue_url": queue_url,
                      "subnets": subnets}), flush=True)


if __name__ == "__main__":
    main()
