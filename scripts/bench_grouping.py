"""Time and peak memory of near-duplicate grouping on generated libraries, one process per case;
and the candidate search's recall against every pair judged one by one.

Cases: a folder of N identical frames (hash-only and with embeddings, as a scan with models
stores them), N near-identical frames (each hash a bit or two off, embeddings with noise), and a
phone library of N photos over ten years (``library``): scenes of one to a dozen frames taken in
events, 15% of scenes without a capture time, 5% messaging-app copies without EXIF and 2% exact
backup copies, with int8 embedding codes as a scan with models stores them. Unrelated photos get
uniformly random hashes, which is kinder to the hash index than real pHashes (they cluster).

    python scripts/bench_grouping.py                         # every case
    python scripts/bench_grouping.py --case library --n 1000000
    python scripts/bench_grouping.py --case recall --n 100000  # search vs all pairs
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CASES = ("flood", "flood-embeddings", "near-flood", "near-flood-embeddings", "library", "recall")
YEAR = 365 * 86400.0


def make_floods(case: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """phash, dhash, capture seconds and embeddings (or None) for a flood of (near-)identical frames."""
    rng = np.random.default_rng(0)
    times = np.arange(n) * 0.5
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


def _flips(rng: np.random.Generator, n: int, most: int) -> np.ndarray:
    """n masks of 0..most random bits each."""
    masks = np.zeros(n, dtype=np.uint64)
    counts = rng.integers(0, most + 1, n)
    for k in range(most):
        bit = np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)
        masks |= np.where(counts > k, bit, np.uint64(0))
    return masks


def make_library(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """phash, dhash, times and int8 embedding codes of a generated phone library of about n photos."""
    from photocull.groups.codes import quantise

    rng = np.random.default_rng(seed)
    sizes = np.minimum(rng.geometric(0.45, size=n), 12)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), int(n * 0.93))]  # leave room for the copies
    scenes = len(sizes)
    scene_of = np.repeat(np.arange(scenes), sizes)
    # events: a day in ten years, scenes minutes apart within an event, frames seconds apart in a scene
    event_of_scene = np.sort(rng.integers(0, max(1, scenes // 15), scenes))
    event_start = rng.uniform(0, 10 * YEAR, event_of_scene.max() + 1)
    scene_time = event_start[event_of_scene] + rng.exponential(300.0, scenes).cumsum() % 7200
    scene_time[rng.random(scenes) < 0.15] = np.nan
    frame = np.arange(len(scene_of)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    step = np.where(
        rng.random(len(scene_of)) < 0.6, rng.exponential(1.5, len(scene_of)), rng.uniform(10, 900, len(scene_of))
    )
    times = scene_time[scene_of] + frame * step
    base_p = rng.integers(0, 2**63, scenes, dtype=np.int64).view(np.uint64)
    base_d = rng.integers(0, 2**63, scenes, dtype=np.int64).view(np.uint64)
    ph = base_p[scene_of] ^ _flips(rng, len(scene_of), 12)
    dh = base_d[scene_of] ^ _flips(rng, len(scene_of), 14)
    codes = np.zeros((len(scene_of), 1280), dtype=np.int8)
    for s in range(0, scenes, 8192):  # scene vectors a chunk at a time: a million would be 5 GB
        e = min(s + 8192, scenes)
        rows = (
            np.flatnonzero((scene_of >= s) & (scene_of < e))
            if s == 0
            else np.arange(*np.searchsorted(scene_of, [s, e]))
        )
        vectors = rng.normal(size=(e - s, 1280)).astype(np.float32)
        noise = rng.normal(size=(len(rows), 1280)).astype(np.float32) * rng.uniform(0.1, 0.55, (len(rows), 1))
        member = vectors[scene_of[rows] - s] / np.sqrt(1280) + noise / np.sqrt(1280)
        codes[rows] = quantise(member)
    # messaging-app copies (no EXIF, a few bits off) and exact backup copies
    m = len(scene_of)
    copies = rng.integers(0, m, n - m)
    exact = rng.random(len(copies)) < 0.3
    ph_c = ph[copies] ^ np.where(exact, np.uint64(0), _flips(rng, len(copies), 4))
    dh_c = dh[copies] ^ np.where(exact, np.uint64(0), _flips(rng, len(copies), 4))
    t_c = np.where(exact, times[copies], np.nan)
    return (
        np.concatenate([ph, ph_c]).view(np.int64),
        np.concatenate([dh, dh_c]).view(np.int64),
        np.concatenate([times, t_c]),
        np.concatenate([codes, codes[copies]]),
    )


def run_case(case: str, n: int) -> dict:
    from photocull.groups.cluster import group

    if case == "library":
        ph, dh, times, embeddings = _cached_library(n)
    else:
        ph, dh, times, embeddings = make_floods(case, n)
    hwm_before = _hwm_mb()
    start = time.perf_counter()
    groups = group(ph, dh, times, embeddings=embeddings)
    seconds = time.perf_counter() - start
    return {
        "case": case,
        "photos": n,
        "seconds": round(seconds, 2),
        "groups": len(groups),
        "photos_in_groups": sum(len(g) for g in groups),
        "largest_group": max((len(g) for g in groups), default=0),
        "peak_rss_mb": round(_hwm_mb(), 1),
        "peak_rss_added_by_grouping_mb": round(_hwm_mb() - hwm_before, 1),
    }


def _cached_library(n: int) -> tuple[np.ndarray, ...]:
    """The generated library, made once in a child process so that its peak memory is not counted here."""
    path = Path(tempfile.gettempdir()) / f"photocull-bench-library-{n}.npz"
    if not path.exists():
        code = f"import sys; sys.path.insert(0, {str(REPO / 'scripts')!r}); import bench_grouping as b, numpy as np; "
        code += f"np.savez({str(path)!r}, *b.make_library({n}))"
        subprocess.run([sys.executable, "-c", code], check=True)
    with np.load(path) as data:
        return tuple(data[f"arr_{k}"] for k in range(4))


def run_recall(n: int) -> dict:
    """The search's near-duplicate pairs against every pair of the library judged one by one."""
    from photocull.groups.cluster import near_duplicate_pairs
    from photocull.groups.rule import GroupingOptions, Library, effective_distance

    ph, dh, times, codes = make_library(n, seed=1)
    lib = Library(ph.view(np.uint64), dh.view(np.uint64), times, GroupingOptions(), codes)
    start = time.perf_counter()
    i, j = near_duplicate_pairs(lib)
    search_seconds = time.perf_counter() - start
    found = set(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist(), strict=True))
    o = lib.options
    loosest_d = max(o.dhash_threshold, o.burst_dhash_threshold) + o.embedding_bonus_bits

    def block(start: int) -> set[tuple[int, int]]:
        rows = np.arange(start, min(start + 40, n))
        cols = np.arange(start, n)
        dp = np.bitwise_count(lib.ph[rows][:, None] ^ lib.ph[cols][None, :])
        dd = np.bitwise_count(lib.dh[rows][:, None] ^ lib.dh[cols][None, :])
        ii, jj = np.nonzero((dp <= o.session_radius) & (dd <= loosest_d) & (cols[None, :] > rows[:, None]))
        a, b = rows[ii], cols[jj]
        gap = lib.gap(a, b)
        sim = np.full(len(a), np.nan, dtype=np.float32)
        ask = np.flatnonzero(gap <= o.far_seconds)
        if len(ask):
            x, y = codes[a[ask]].astype(np.float64), codes[b[ask]].astype(np.float64)
            nx, ny = np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                sim[ask] = np.where(nx * ny > 0, (x * y).sum(axis=1) / (nx * ny), np.nan)
        near = effective_distance(dp[ii, jj].astype(np.float32), dd[ii, jj].astype(np.float32), gap, sim, o) <= 1
        return set(zip(a[near].tolist(), b[near].tolist(), strict=True))

    start = time.perf_counter()
    exact: set[tuple[int, int]] = set()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for part in pool.map(block, range(0, n, 40)):
            exact |= part
    all_pairs_seconds = time.perf_counter() - start
    return {
        "case": "recall",
        "photos": n,
        "exact_pairs": len(exact),
        "search_pairs": len(found),
        "recall": round(len(exact & found) / max(len(exact), 1), 6),
        "precision": round(len(exact & found) / max(len(found), 1), 6),
        "search_seconds": round(search_seconds, 2),
        "all_pairs_seconds": round(all_pairs_seconds, 2),
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
        print(json.dumps(run_recall(args.n) if args.case == "recall" else run_case(args.case, args.n)))
        return
    results = []
    for case in [args.case] if args.case else CASES:
        n = args.n or (100_000 if case in ("library", "recall") else 10_000)
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
