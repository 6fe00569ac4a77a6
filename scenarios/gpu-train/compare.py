"""Compares the GPU and CPU results of gpu-train: the same loss within the
tolerance the trainer documents (1e-5 absolute, see main.cc)."""
import json
import sys

TOLERANCE = 1e-5


def main() -> int:
    gpu, cpu = (json.load(open(p)) for p in sys.argv[1:3])
    diff = abs(gpu["loss"] - cpu["loss"])
    verdict = "same loss" if diff <= TOLERANCE else "MISMATCH"
    print(f"gpu: device={gpu['device']} loss={gpu['loss']:.9f} accuracy={gpu['accuracy']:.4f} "
          f"seconds={gpu['seconds']:.3f}")
    print(f"cpu: device={cpu['device']} loss={cpu['loss']:.9f} accuracy={cpu['accuracy']:.4f} "
          f"seconds={cpu['seconds']:.3f}")
    print(f"|loss difference| = {diff:.3e} (tolerance {TOLERANCE:.0e}): {verdict}")
    return 0 if diff <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
