#!/usr/bin/env python3
"""Pick the best model from DIR/metrics.json (highest accuracy, then lowest loss)."""
from __future__ import annotations

import argparse
import json
import os
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--metrics", required=True, help="directory with metrics.json")
    ap.add_argument("--out", required=True, help="output directory for best.json")
    args = ap.parse_args()
    try:
        with open(os.path.join(args.metrics, "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        if not isinstance(metrics, list) or not metrics:
            raise ValueError("metrics.json must be a non-empty list")
        best = max(metrics, key=lambda m: (float(m["accuracy"]), -float(m["loss"])))
        result = {k: best[k] for k in ("model", "lr", "accuracy", "loss")}
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "best.json"), "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"pick.py: error: {e}", file=sys.stderr)
        return 1
    print(f"best model: {result['model']} accuracy={result['accuracy']:.4f} loss={result['loss']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
