"""Time and peak memory of near-duplicate grouping on generated libraries, one process per case.

Cases: a folder of N identical frames (hash-only and with embeddings, as a scan with models
stores them), N near-identical frames (each hash a bit or two off, embeddings with noise), and a
library of 100,000 photos with 10% near-duplicates (the case bench_scan.py has always timed).

    python scripts/bench_grouping.py                 # all cases
    python scripts/bench_grouping.py --case flood --n 10000
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CASES = ("flood", "flood-embeddings", "near-flood", "near-flood-embeddings", "library")


def make(case: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """phash, dhash, capture seconds and embeddings (or None) for one case."""
    rng = np.random.default_rng(0)
    times = np.arange(n) * 0.5
    if case == "library":
        hashes = rng.integers(0, 2**63, size=n, dtype=np.int64)
        burst = rng.integers(0, n, size=n // 10)
        hashes[burst] = hashes[(burst + 1) % n] ^ 0b1011  # 10% near-duplicates
        return hashes, hashes, np.where(rng.random(n) < 0.7, np.arange(n) * 3.0, np.nan), None
    base = np.uint64(0x1234567890ABCDEF)
    ph = np.full(n, base)
    dh = np.full(n, base ^ np.uint64(0xFF))
    vector = rng.normal(size=1280).astype(np.float32)
    embeddings = np.tile(vector, (n, 1))
    if case.startswith("near"):

        def flips() -> np.ndarray:
            return np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)

        ph, dh = ph ^ flips() ^ flips(), dh ^ flips()
        embeddings += rng.normal(scale=0.05, size=(n, 1280)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return ph.view(np.int64), dh.view(np.int64), times, embeddings if case.endswith("embeddings") else None


def run_case(case: str, n: int) -> dict:
    from photocull.groups.cluster import group

    ph, dh, times, embeddings = make(case, n)
    hwm_before = _hwm_mb()
    start = time.perf_counter()
    groups = group(ph, dh, times, embeddings=embeddings)
    seconds = time.perf_counter() - start
    return {
        "case": case,
        "photos": n,
        "seconds": round(seconds, 2),
        "groups": len(groups),
        "largest_group": max((len(g) for g in groups), default=0),
        "peak_rss_mb": round(_hwm_mb(), 1),
        "peak_rss_added_by_grouping_mb": round(_hwm_mb() - hwm_before, 1),
    }


def _hwm_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=CASES)
    ap.add_argument("--n", type=int, help="photos (default: 10,000 for floods, 100,000 for the library)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_case(args.case, args.n)))
        return
    results = []
    for case in [args.case] if args.case else CASES:
        n = args.n or (100_000 if case == "library" else 10_000)
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--case", case, "--n", str(n)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append(json.loads(out))
        print(json.dumps(results[-1]), flush=True)


if __name__ == "__main__":
    main()
