#!/usr/bin/env python3
"""Evaluate every MODELSDIR/<name>/model.json on DIR/test.csv; write OUTDIR/metrics.json."""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys


def load_csv(path: str) -> tuple[list[list[float]], list[int]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    return [[float(v) for v in r[:-1]] for r in rows], [int(r[-1]) for r in rows]


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def evaluate(model: dict, xs: list[list[float]], ys: list[int]) -> tuple[float, float]:
    w, b = [float(v) for v in model["weights"]], float(model["bias"])
    correct, loss = 0, 0.0
    for x, y in zip(xs, ys):
        if len(x) != len(w):
            raise ValueError(f"model has {len(w)} weights but data has {len(x)} features")
        p = sigmoid(sum(wi * xi for wi, xi in zip(w, x)) + b)
        correct += int((p >= 0.5) == (y == 1))
        loss -= math.log(max(p, 1e-12)) if y == 1 else math.log(max(1.0 - p, 1e-12))
    return correct / len(ys), loss / len(ys)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", required=True, help="directory with one sub-directory per model")
    ap.add_argument("--data", required=True, help="directory with test.csv")
    ap.add_argument("--out", required=True, help="output directory for metrics.json")
    args = ap.parse_args()
    try:
        xs, ys = load_csv(os.path.join(args.data, "test.csv"))
        if not ys:
            raise ValueError("test.csv has no rows")
        names = sorted(d for d in os.listdir(args.models)
                       if os.path.isfile(os.path.join(args.models, d, "model.json")))
        if not names:
            print(f"evaluate.py: error: no model found (no {args.models}/*/model.json)", file=sys.stderr)
            return 1
        metrics = []
        for name in names:
            with open(os.path.join(args.models, name, "model.json"), encoding="utf-8") as f:
                model = json.load(f)
            acc, loss = evaluate(model, xs, ys)
            metrics.append({"model": name, "lr": model.get("lr"), "accuracy": acc, "loss": loss})
            print(f"{name}: accuracy={acc:.4f} loss={loss:.4f}", flush=True)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2)
        print(f"evaluated {len(metrics)} model(s) on {len(ys)} test rows", flush=True)
        return 0
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
