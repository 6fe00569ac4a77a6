#!/usr/bin/env python3
"""boto3, unchanged, against the fake cloud: EKS node groups and the SQS
interruption queue, a wrong secret refused, and /portflow/faults and
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
for _ in range(100):
    u = eks.describe_update(name="burst", nodegroupName="cpu-spot", updateId=u["id"])["update"]
    if u["status"] != "InProgress":
        break
    time.sleep(0.05)
assert u["status"] == "Successful", u
try:
    eks.describe_nodegroup(clusterName="burst", nodegroupName="nope")
    raise AssertionError("an unknown group was described")
except eks.exceptions.ResourceNotFoundException:
    pass

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
