"""Measure Scorer.score throughput (photos/s) on this machine's CPU.

.venv/bin/python scripts/benchmark_scoring.py --batch 32 --batches 20
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from photocull.mood.scoring import Scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()

    start = time.perf_counter()
    scorer = Scorer.load()
    print(f"Scorer.load: {time.perf_counter() - start:.2f} s (version {scorer.version})")
    images = np.random.default_rng(0).integers(0, 256, (args.batch, 224, 224, 3), dtype=np.uint8)
    scorer.score(images)  # warm-up: graph tracing
    start = time.perf_counter()
    for _ in range(args.batches):
        scorer.score(images)
    elapsed = time.perf_counter() - start
    n = args.batch * args.batches
    print(
        f"{n} photos in {elapsed:.2f} s: {n / elapsed:.1f} photos/s at batch {args.batch} ({os.cpu_count()} CPU cores)"
    )


if __name__ == "__main__":
    main()
