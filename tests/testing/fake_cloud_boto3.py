#!/usr/bin/env python3
"""boto3, unchanged, against the fake cloud: EKS node groups and their
subnets' zones (EC2 DescribeSubnets), the SQS
interruption queue, S3 (objects, checksums, pages, multipart up and ranged
down), the AWS CLI's s3 and eks commands, a wrong secret or an unknown key
refused, and /portflow/faults and
/portflow/bill signed by botocore's own SigV4 signer (service "portflow"). Prints "boto3: ok" or fails
with the first mismatch.

  fake_cloud_boto3.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY
"""
import json
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.exceptions

endpoint, key, secret = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id=key, aws_secret_access_key=secret)
eks = boto3.client("eks", **kw)
assert eks.list_clusters()["clusters"] == ["burst"]
groups = eks.list_nodegroups(clusterName="burst")["nodegroups"]
assert "cpu-spot" in groups and "gpu-ondemand" in groups, groups
g = eks.describe_nodegroup(clusterName="burst", nodegroupName="cpu-spot")["nodegroup"]
assert g["capacityType"] == "SPOT" and g["scalingConfig"]["desiredSize"] == 0, g
u = eks.update_nodegroup_config(clusterName="burst", nodegroupName="cpu-spot",
                                scalingConfig={"desiredSize": 1})["update"]
assert u["status"] == "InProgress", u


def group_status(name):
    return eks.describe_nodegroup(clusterName="burst", nodegroupName=name)["nodegroup"]["status"]


assert group_status("cpu-spot") == "UPDATING"
for _ in range(100):
    u = eks.describe_update(name="burst", nodegroupName="cpu-spot", updateId=u["id"])["update"]
    if u["status"] != "InProgress":
        break
    time.sleep(0.05)
assert u["status"] == "Successful", u
assert group_status("cpu-spot") == "ACTIVE"
try:
    eks.describe_nodegroup(clusterName="burst", nodegroupName="nope")
    raise AssertionError("an unknown group was described")
except eks.exceptions.ResourceNotFoundException:
    pass

ec2 = boto3.client("ec2", **kw)
zones = {s["SubnetId"]: s["AvailabilityZone"]
         for s in ec2.describe_subnets(SubnetIds=g["subnets"])["Subnets"]}
assert sorted(zones.values()) == ["us-east-1a", "us-east-1b"], zones
assert len(ec2.describe_subnets()["Subnets"]) == 2

sqs = boto3.client("sqs", **kw)
url = sqs.get_queue_url(QueueName="portflow-interruptions")["QueueUrl"]
sqs.send_message(QueueUrl=url, MessageBody="hello")  # botocore checks the MD5
got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
assert [m["Body"] for m in got] == ["hello"], got
sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
try:
    sqs.get_queue_url(QueueName="nope")
    raise AssertionError("an unknown queue was found")
except botocore.exceptions.ClientError as e:
    # The query protocol's name, from x-amzn-query-error, as real SQS answers.
    assert e.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue", e.response

# S3, path-style as a custom endpoint is addressed; botocore sends and checks
# CRC32 checksums, and s3transfer moves big files in parts and ranges.
import io
import os
import subprocess
import tempfile

import boto3.s3.transfer
import botocore.config

s3 = boto3.client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}), **kw)
s3.create_bucket(Bucket="artifacts")
assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["artifacts"]
s3.head_bucket(Bucket="artifacts")
s3_key = "run 1/out+put=é.txt"
put = s3.put_object(Bucket="artifacts", Key=s3_key, Body=b"hello", Metadata={"step": "train"})
assert put["ETag"] == '"5d41402abc4b2a76b9719d911017c592"', put
got = s3.get_object(Bucket="artifacts", Key=s3_key, ChecksumMode="ENABLED")
assert got["Body"].read() == b"hello" and got["Metadata"] == {"step": "train"}, got
assert got["ChecksumCRC32"] == "NhCmhg==", got
assert s3.head_object(Bucket="artifacts", Key=s3_key)["ContentLength"] == 5
part = s3.get_object(Bucket="artifacts", Key=s3_key, Range="bytes=1-3")
assert part["Body"].read() == b"ell" and part["ContentRange"] == "bytes 1-3/5", part
for k in ["run 1/a", "run 1/b/c", "run 2/d"]:
    s3.put_object(Bucket="artifacts", Key=k, Body=k.encode())
pages = s3.get_paginator("list_objects_v2").paginate(
    Bucket="artifacts", Prefix="run 1/", Delimiter="/", PaginationConfig={"PageSize": 1})
keys, prefixes = [], []
for page in pages:
    keys += [o["Key"] for o in page.get("Contents", [])]
    prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
assert keys == ["run 1/a", s3_key] and prefixes == ["run 1/b/"], (keys, prefixes)


def refused(code, call, **args):
    """`call(**args)` fails with the error `code`, as botocore reports it."""
    try:
        call(**args)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, (code, e.response)
        return
    raise AssertionError(f"{call.__name__}({args}) was let through; expected {code}")


refused("InvalidSubnetID.NotFound", ec2.describe_subnets, SubnetIds=["subnet-00000000000000000"])
refused("AuthFailure", boto3.client("ec2", **dict(kw, aws_access_key_id="AKIANOBODY")).describe_subnets)
refused("NoSuchKey", s3.get_object, Bucket="artifacts", Key="nope")
refused("404", s3.head_object, Bucket="artifacts", Key="nope")  # HEAD: the status alone
big = os.urandom(11 << 20)
quick = boto3.s3.transfer.TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
s3.upload_fileobj(io.BytesIO(big), "artifacts", "model.bin", Config=quick)
assert s3.head_object(Bucket="artifacts", Key="model.bin")["ETag"].endswith('-3"')
with tempfile.TemporaryDirectory() as d:
    s3.download_file("artifacts", "model.bin", d + "/model.bin", Config=quick)
    assert open(d + "/model.bin", "rb").read() == big, "the big file came back different"
refused("BucketNotEmpty", s3.delete_bucket, Bucket="artifacts")
listed = s3.list_objects_v2(Bucket="artifacts")["Contents"]
gone = s3.delete_objects(Bucket="artifacts",
                         Delete={"Objects": [{"Key": o["Key"]} for o in listed]})
assert len(gone["Deleted"]) == 5, gone
s3.delete_bucket(Bucket="artifacts")
path_style = botocore.config.Config(s3={"addressing_style": "path"})
wrong_s3 = boto3.client("s3", config=path_style, **dict(kw, aws_secret_access_key="not-it"))
refused("SignatureDoesNotMatch", wrong_s3.list_buckets)
stranger = dict(kw, aws_access_key_id="AKIANOTKNOWN")
refused("InvalidAccessKeyId", boto3.client("s3", config=path_style, **stranger).list_buckets)
# SQS: the query protocol's name, from x-amzn-query-error.
refused("InvalidClientTokenId", boto3.client("sqs", **stranger).get_queue_url,
        QueueName="portflow-interruptions")

# The AWS CLI, unchanged, with the same keys: a bucket, a file up in parts
# and back, a listing, a recursive delete.
with tempfile.TemporaryDirectory() as d:
    with open(d + "/credentials", "w") as f:
        f.write(f"[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    env = dict(os.environ, AWS_SHARED_CREDENTIALS_FILE=d + "/credentials",
               AWS_CONFIG_FILE=d + "/none", AWS_DEFAULT_REGION="us-east-1")
    for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]:
        env.pop(k, None)

    def aws(*args):
        r = subprocess.run(["aws", "--endpoint-url", endpoint, *args], env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    with open(d + "/big.bin", "wb") as f:
        f.write(big)
    aws("s3", "mb", "s3://cli-bucket")
    aws("s3", "cp", "--only-show-errors", d + "/big.bin", "s3://cli-bucket/run 1/big.bin")
    assert "run 1/big.bin" in aws("s3", "ls", "--recursive", "s3://cli-bucket")
    aws("s3", "cp", "--only-show-errors", "s3://cli-bucket/run 1/big.bin", d + "/back.bin")
    assert open(d + "/back.bin", "rb").read() == big, "the CLI's copy came back different"
    aws("s3", "rm", "--only-show-errors", "--recursive", "s3://cli-bucket")
    aws("s3", "rb", "s3://cli-bucket")
    assert json.loads(aws("eks", "list-clusters"))["clusters"] == ["burst"]


def portflow(method, path, body=None, secret_key=secret):
    request = botocore.awsrequest.AWSRequest(
        method=method, url=endpoint + path, data=body.encode() if body else None,
        headers={"Content-Type": "application/json"} if body else {})
    creds = botocore.credentials.Credentials(key, secret_key)
    botocore.auth.SigV4Auth(creds, "portflow", "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=prepared.body, method=method,
                                 headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# A group that cannot launch is DEGRADED, with the reason as a health issue.
status, done = portflow("POST", "/portflow/faults",
                        json.dumps({"stockout": {"instanceType": "g5.xlarge"}}))
assert status == 200, (status, done)
eks.update_nodegroup_config(clusterName="burst", nodegroupName="gpu-spot",
                            scalingConfig={"desiredSize": 1})
g = eks.describe_nodegroup(clusterName="burst", nodegroupName="gpu-spot")["nodegroup"]
assert g["status"] == "DEGRADED", g
assert "InsufficientInstanceCapacity" in g["health"]["issues"][0]["message"], g
eks.update_nodegroup_config(clusterName="burst", nodegroupName="gpu-spot",
                            scalingConfig={"desiredSize": 0})
portflow("POST", "/portflow/faults",
         json.dumps({"stockout": {"instanceType": "g5.xlarge", "clear": True}}))

status, done = portflow("POST", "/portflow/faults",
                        json.dumps({"interruptSpot": {"nodeGroup": "cpu-spot", "count": 1}}))
assert status == 200 and done["interrupted"] == 1, (status, done)
status, bill = portflow("GET", "/portflow/bill")
assert status == 200 and bill["instances"][0]["type"] == "c5.large", (status, bill)
assert bill["cost"] > 0, bill
status, refused = portflow("GET", "/portflow/bill", secret_key="not-it")
assert status == 403 and refused["__type"] == "InvalidSignatureException", (status, refused)

wrong = boto3.client("eks", **dict(kw, aws_secret_access_key="not-it"))
try:
    wrong.list_nodegroups(clusterName="burst")
    raise AssertionError("a wrong secret was let in")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidSignatureException", e.response
print("boto3: ok")
