"""Benchmark the scan on 12-megapixel phone-like JPEGs; all figures come from one run.

Reports: cold scan photos/s end to end (hash-only, and with the models unless --no-models) and the
marginal rate (the same scan on half the files subtracted, so Python/TensorFlow start-up cancels),
the Pillow draft-decode ceiling on the same files with 2 processes, an unchanged rescan of
--rescan-photos files, grouping time for --group-photos synthetic hashes, and peak RSS for N and N/2
photos.

    python scripts/bench_scan.py --photos 300 --data ../shared/data/happy_sad
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photocull.scan.read import DRAFT_SIZE  # noqa: E402
from synthetic import exif_bytes  # noqa: E402


def make_photo(args: tuple[Path, Path, int]) -> None:
    """One 4032×3024 JPEG: a real photo upscaled, with film grain and EXIF, like a phone's."""
    src, dst, k = args
    rng = np.random.default_rng(k)
    img = Image.open(src).convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, size=(3024, 4032, 1), dtype=np.int16)
    when = dt.datetime(2024, 5, 1, 9, 0, 0) + dt.timedelta(seconds=7 * k)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(dst, quality=90, exif=exif_bytes(when))


def make_small(args: tuple[Path, int]) -> None:
    """A distinct tiny photo (smooth random blobs): rescans never open files, so size is irrelevant."""
    dst, k = args
    rng = np.random.default_rng(k)
    Image.fromarray(rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)).resize(
        (64, 48), Image.Resampling.BICUBIC
    ).save(dst, quality=80)


def draft_decode(path: str) -> tuple[int, int]:
    with Image.open(path) as img:
        img.draft("RGB", DRAFT_SIZE)
        img.load()
        return img.size


def run_scan(root: Path, db: Path, models: bool) -> tuple[dict, float, float]:
    """Run ``photocull scan`` as a user would; returns its summary, wall seconds and peak RSS (MB)
    of the main process (decoding workers are separate processes of bounded size)."""
    cmd = [sys.executable, "-m", "photocull", "--db", str(db), "scan", str(root), "--json"]
    if not models:
        cmd.append("--no-models")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"scan failed: {cmd}")
    return json.loads(out), seconds, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200, help="12 MP photos to generate")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "happy_sad")
    ap.add_argument("--rescan-photos", type=int, default=10_000)
    ap.add_argument("--group-photos", type=int, default=100_000)
    ap.add_argument("--no-models", action="store_true", help="skip the scan with models")
    ap.add_argument("--workdir", type=Path, help="keep generated files here (default: a temp dir)")
    args = ap.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="photocull-bench-"))
    photos = work / "photos"
    sources = sorted(p for p in args.data.rglob("*.jpg"))[: args.photos]
    if len(sources) < args.photos:
        sys.exit(f"only {len(sources)} source photos under {args.data}")
    ctx = mp.get_context("spawn")
    if not photos.exists() or len(list(photos.glob("*.jpg"))) != args.photos:
        shutil.rmtree(photos, ignore_errors=True)
        photos.mkdir(parents=True)
        with ctx.Pool(2) as pool:
            pool.map(make_photo, [(s, photos / f"IMG_{k:05d}.jpg", k) for k, s in enumerate(sources)])
    files = sorted(str(p) for p in photos.glob("*.jpg"))
    report: dict = {"photos": len(files), "megapixels": 4032 * 3024 / 1e6, "cpus": os.cpu_count()}

    with ctx.Pool(2) as pool:
        pool.map(draft_decode, files[:4])  # warm the workers
        start = time.perf_counter()
        pool.map(draft_decode, files, chunksize=4)
        report["draft_decode_2proc_photos_per_s"] = round(len(files) / (time.perf_counter() - start), 1)

    for models in [False] if args.no_models else [False, True]:
        db = work / f"bench-{'models' if models else 'hash'}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        summary, seconds, rss = run_scan(photos, db, models)
        key = "with_models" if models else "no_models"
        report[f"cold_scan_{key}_photos_per_s"] = round(len(files) / seconds, 1)
        report[f"cold_scan_{key}_seconds"] = round(seconds, 2)
        report[f"cold_scan_{key}_pipeline_seconds"] = summary["seconds"]
        report[f"cold_scan_{key}_peak_rss_mb"] = round(rss, 1)
        _, again, _ = run_scan(photos, db, models)
        report[f"unchanged_rescan_{key}_seconds_{len(files)}"] = round(again, 2)
    # The same scans on half of the files: memory must not grow with the number of photos, and the
    # difference in time gives the marginal (steady-state) rate, free of start-up costs.
    half = work / "half"
    if not half.exists():
        half.mkdir()
        for f in files[: len(files) // 2]:
            os.link(f, half / Path(f).name)
    n_half = len(files) // 2
    for models in [False] if args.no_models else [False, True]:
        key = "with_models" if models else "no_models"
        db = work / f"bench-half-{key}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        _, seconds_half, rss_half = run_scan(half, db, models)
        report[f"cold_scan_{key}_peak_rss_mb_{n_half}_photos"] = round(rss_half, 1)
        marginal = (len(files) - n_half) / (report[f"cold_scan_{key}_seconds"] - seconds_half)
        report[f"marginal_scan_{key}_photos_per_s"] = round(marginal, 1)
        report[f"ratio_marginal_{key}_to_draft_ceiling"] = round(
            marginal / report["draft_decode_2proc_photos_per_s"], 3
        )
    report["ratio_no_models_to_draft_ceiling"] = round(
        report["cold_scan_no_models_photos_per_s"] / report["draft_decode_2proc_photos_per_s"], 3
    )
    if not args.no_models:
        report["ratio_with_models_to_draft_ceiling"] = round(
            report["cold_scan_with_models_photos_per_s"] / report["draft_decode_2proc_photos_per_s"], 3
        )

    small = work / "small"
    if not small.exists() or len(list(small.rglob("*.jpg"))) != args.rescan_photos:
        shutil.rmtree(small, ignore_errors=True)
        for k in range(0, args.rescan_photos, 500):
            (small / f"{k:05d}").mkdir(parents=True)
        with ctx.Pool(2) as pool:
            pool.map(
                make_small,
                [(small / f"{k - k % 500:05d}" / f"IMG_{k:05d}.jpg", k) for k in range(args.rescan_photos)],
                chunksize=64,
            )
    db = work / "rescan.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run_scan(small, db, models=False)
    summary, seconds, _ = run_scan(small, db, models=False)
    assert summary["unchanged"] == args.rescan_photos, summary
    report[f"unchanged_rescan_{args.rescan_photos}_seconds_process"] = round(seconds, 2)
    report[f"unchanged_rescan_{args.rescan_photos}_seconds_pipeline"] = summary["seconds"]

    from photocull.groups.cluster import group

    rng = np.random.default_rng(0)
    n = args.group_photos
    hashes = rng.integers(0, 2**63, size=n, dtype=np.int64)
    burst = rng.integers(0, n, size=n // 10)
    hashes[burst] = hashes[(burst + 1) % n] ^ 0b1011  # 10% near-duplicates
    times = np.where(rng.random(n) < 0.7, np.arange(n) * 3.0, np.nan)
    start = time.perf_counter()
    groups = group(hashes, hashes, times)
    report[f"grouping_{n}_seconds"] = round(time.perf_counter() - start, 2)
    report[f"grouping_{n}_groups"] = len(groups)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
