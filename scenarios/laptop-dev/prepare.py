#!/usr/bin/env python3
"""Generate a synthetic binary classification data set (two Gaussian blobs in 8-D).

Writes DIR/train.csv and DIR/test.csv (80/20 split), header `x0,...,x7,label`.
Deterministic from --seed. Means are +/- a random direction of length 1.25, so the
Bayes-optimal accuracy is about Phi(1.25) ~= 89%.
"""
from __future__ import annotations

import argparse
import math
import os
import random
import sys

DIM = 8
SEPARATION = 1.25  # half the distance between the two class means (unit-variance noise)


def generate(samples: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    direction = [rng.gauss(0.0, 1.0) for _ in range(DIM)]
    norm = math.sqrt(sum(d * d for d in direction))
    mu = [SEPARATION * d / norm for d in direction]
    offset = [rng.uniform(-0.5, 0.5) for _ in range(DIM)]  # so the bias matters
    rows = []
    for _ in range(samples):
        label = rng.randint(0, 1)
        sign = 1.0 if label == 1 else -1.0
        x = [offset[j] + sign * mu[j] + rng.gauss(0.0, 1.0) for j in range(DIM)]
        rows.append(x + [label])
    return rows


def write_csv(path: str, rows: list[list[float]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join([f"x{j}" for j in range(DIM)] + ["label"]) + "\n")
        for r in rows:
            f.write(",".join(f"{v:.6f}" for v in r[:DIM]) + f",{int(r[DIM])}\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.samples < 10:
        print("prepare.py: --samples must be >= 10", file=sys.stderr)
        return 1
    rows = generate(args.samples, args.seed)
    n_train = int(round(0.8 * len(rows)))
    try:
        os.makedirs(args.out, exist_ok=True)
        write_csv(os.path.join(args.out, "train.csv"), rows[:n_train])
        write_csv(os.path.join(args.out, "test.csv"), rows[n_train:])
    except OSError as e:
        print(f"prepare.py: cannot write data set: {e}", file=sys.stderr)
        return 1
    pos = sum(int(r[DIM]) for r in rows)
    print(f"prepared {len(rows)} samples (dim={DIM}, seed={args.seed}, positives={pos}): "
          f"{n_train} train / {len(rows) - n_train} test in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
