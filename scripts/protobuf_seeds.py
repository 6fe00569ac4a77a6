#!/usr/bin/env python3
"""Writes seed bodies for the protobuf decoder's fuzzer: the objects that
kubectl's generator commands send, in Kubernetes' protobuf encoding.
Usage: scripts/protobuf_seeds.py DIR"""
import os
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | 0x80 if v else b)
        if not v:
            return bytes(out)


def num(field, v):
    return varint(field << 3) + varint(v)


def msg(field, body):
    body = body.encode() if isinstance(body, str) else body
    return varint(field << 3 | 2) + varint(len(body)) + body


def entry(field, key, value):
    return msg(field, msg(1, key) + msg(2, value))


def envelope(api_version, kind, raw):
    return b"k8s\0" + msg(1, msg(1, api_version) + msg(2, kind)) + msg(2, raw) + msg(3, "") + msg(4, "")


def meta(name):
    return msg(1, msg(1, name) + msg(2, "") + msg(3, "") + num(7, 0) + msg(8, b"") +
               entry(11, "app", name))


container = (msg(1, "main") + msg(2, "python:3.12") + msg(3, "python3") + msg(4, "train.py") +
             msg(7, msg(1, "A") + msg(2, "1")) +
             msg(8, entry(1, "cpu", msg(1, "1")) + entry(2, "memory", msg(1, "1Gi"))) +
             msg(9, msg(1, "data") + num(2, 0) + msg(3, "/data")) + num(16, 0))
pod_spec = (msg(1, msg(1, "data") + msg(2, msg(10, msg(1, "claim")))) + msg(2, container) +
            msg(3, "Never") + entry(7, "gpu", "h200") +
            msg(22, msg(1, "nvidia.com/gpu") + msg(2, "Exists") + msg(4, "NoSchedule")))
seeds = {
    "namespace": envelope("v1", "Namespace", meta("ml") + msg(2, b"") + msg(3, msg(1, ""))),
    "configmap": envelope("v1", "ConfigMap", meta("cm") + entry(2, "lr", "0.1")),
    "secret": envelope("v1", "Secret", meta("s") + entry(2, "key", b"\0\1") + msg(3, "Opaque")),
    "service": envelope("v1", "Service", meta("svc") + msg(2, msg(
        1, msg(1, "p") + msg(2, "TCP") + num(3, 80) + msg(4, num(1, 0) + num(2, 8080))) +
        msg(3, "None"))),
    "pod": envelope("v1", "Pod", meta("p") + msg(2, pod_spec) + msg(3, b"")),
    "job": envelope("batch/v1", "Job", meta("train") + msg(2, num(1, 2) + num(2, 4) + num(7, 0) +
                    msg(6, meta("") + msg(2, pod_spec)) + msg(9, "Indexed")) +
                    msg(3, num(4, 0) + num(5, 0))),
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, body in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(body)
