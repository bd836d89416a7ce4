"""Benchmark the scan on 12-megapixel phone-like photos, honestly: interleaved, repeated, same-run ratios.

Each repeat runs, in rotating order, the decode ceiling (Pillow draft-mode decode with 2 processes,
HEIC from its embedded thumbnail like the scan) and a cold ``photocull scan`` as a process with
``--no-models``, with the models (``--no-faces``) and with the models and the face stage (the
generated photos come from ``happy_sad``, many of them of people). Reported per mode: min and median seconds, photos/s, the ratio
of medians to the ceiling's median, time to the first stored photo, peak RSS of the whole process
tree (main process and workers, sampled every 50 ms; the source tree's bytecode compiled first, as pip
does for an installed photocull), and CPU milliseconds per photo per stage
(read = open, digest and decode; measure = hashes, sharpness, exposure, model input; inference;
faces; store), and what CPU alone allows: the ceiling's decode CPU a photo divided by the scan's
stages' CPU (``ratio_allowed_by_stage_cpu``, before start-up and the main process) and by all the CPU of
its process tree (``ratio_allowed_by_tree_cpu``: the ratio if the scan kept both cores busy the whole
time; a measured ratio below it is time with a core idle). Then an unchanged rescan of --rescan-photos
files and grouping of --group-photos hashes.

    python scripts/bench_scan.py --photos 720 --heic 72 --repeats 3 --data ../shared/data/happy_sad
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photocull.scan.read import DRAFT_SIZE  # noqa: E402
from synthetic import exif_bytes  # noqa: E402

MODES = ("ceiling", "no_models", "with_models", "with_models_and_faces")


def make_photo(args: tuple[Path, Path, int]) -> None:
    """One 4032×3024 photo: a real photo upscaled, with film grain and EXIF, like a phone's (JPEG or HEIC)."""
    src, dst, k = args
    rng = np.random.default_rng(k)
    img = Image.open(src).convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, size=(3024, 4032, 1), dtype=np.int16)
    when = dt.datetime(2024, 5, 1, 9, 0, 0) + dt.timedelta(seconds=7 * k)
    photo = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if dst.suffix == ".heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
        # phones embed a preview; the scan decodes it instead of the 12 MP image
        photo.save(dst, quality=80, exif=exif_bytes(when), thumbnails=[512])
    else:
        photo.save(dst, quality=90, exif=exif_bytes(when))


def make_small(args: tuple[Path, int]) -> None:
    """A distinct tiny photo (smooth random blobs): rescans never open files, so size is irrelevant."""
    dst, k = args
    rng = np.random.default_rng(k)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    Image.fromarray(small).resize((64, 48), Image.Resampling.BICUBIC).save(dst, quality=80)


def draft_decode(path: str) -> float:
    """Draft-decode one file; its CPU seconds."""
    start = time.process_time()
    if path.endswith(".heic"):
        import pillow_heif

        pillow_heif.register_heif_opener()
    with Image.open(path) as img:
        img.draft("RGB", DRAFT_SIZE)
        img.load()
    return time.process_time() - start


def ceiling(files: list[str]) -> dict:
    """Seconds to draft-decode every file with 2 processes (pool start excluded), and the decodes' CPU."""
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(draft_decode, files[:4])  # warm the workers
        start = time.perf_counter()
        cpu = pool.map(draft_decode, files, chunksize=4)
        return {"seconds": time.perf_counter() - start, "cpu_seconds": sum(cpu)}


def run_scan(root: Path, db: Path, mode: str) -> dict:
    """A cold ``photocull scan`` as a user would run it, with the process tree's peak RSS sampled."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "photocull", "--db", str(db), "scan", str(root), "--json"]
    cmd += {"no_models": ["--no-models"], "with_models": ["--no-faces"], "with_models_and_faces": []}[mode]
    start, cpu_before = time.perf_counter(), _children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    root_proc, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, sum(p.memory_info().rss for p in [root_proc, *root_proc.children(recursive=True)]))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        sys.exit(f"scan failed: {cmd}")
    summary = json.loads(out)
    tree_cpu = _children_cpu() - cpu_before  # the scan and its workers, which it waited for
    return {"seconds": seconds, "peak_tree_mb": peak / 2**20, "summary": summary, "tree_cpu_seconds": tree_cpu}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200, help="12 MP photos to generate")
    ap.add_argument("--heic", type=int, default=None, help="how many of them are HEIC (default: a tenth)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "happy_sad")
    ap.add_argument("--rescan-photos", type=int, default=10_000)
    ap.add_argument("--group-photos", type=int, default=100_000)
    ap.add_argument("--no-models", action="store_true", help="skip the scans with models")
    ap.add_argument("--workdir", type=Path, help="keep generated files here (default: a temp dir)")
    args = ap.parse_args()
    heic = args.photos // 10 if args.heic is None else args.heic

    work = args.workdir or Path(tempfile.mkdtemp(prefix="photocull-bench-"))
    photos = work / f"photos-{args.photos}-{heic}heic"
    sources = sorted(p for p in args.data.rglob("*.jpg"))[: args.photos]
    if len(sources) < args.photos:
        sys.exit(f"only {len(sources)} source photos under {args.data}")
    every = args.photos // heic if heic else 0  # HEIC files spread evenly through the folder
    names = [
        photos / f"IMG_{k:05d}.{'heic' if every and k % every == 0 and k // every < heic else 'jpg'}"
        for k in range(args.photos)
    ]
    if not photos.exists() or sorted(p.name for p in photos.iterdir()) != sorted(p.name for p in names):
        shutil.rmtree(photos, ignore_errors=True)
        photos.mkdir(parents=True)
        with mp.get_context("spawn").Pool(2) as pool:
            pool.map(make_photo, [(s, dst, k) for k, (s, dst) in enumerate(zip(sources, names))])
    files = sorted(str(p) for p in photos.iterdir())
    n = len(files)
    # pip compiles an installed photocull's bytecode; a source tree may have none, and with
    # PYTHONDONTWRITEBYTECODE set (as on the benchmark machine) every scan's processes would compile
    # it again: 0.1 s of start-up no user pays
    compileall.compile_dir(REPO / "photocull", quiet=1)
    modes = [m for m in MODES if not (args.no_models and m.startswith("with_models"))]
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    for r in range(args.repeats):
        for mode in modes[r % len(modes) :] + modes[: r % len(modes)]:
            if mode == "ceiling":
                runs[mode].append(ceiling(files))
            else:
                runs[mode].append(run_scan(photos, work / "bench.db", mode))
            print(f"repeat {r + 1}: {mode} {runs[mode][-1]['seconds']:.2f} s", file=sys.stderr, flush=True)

    report: dict = {
        "photos": n,
        "heic": heic,
        "megapixels": 4032 * 3024 / 1e6,
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
    }
    ceiling_median = statistics.median(x["seconds"] for x in runs["ceiling"])
    ceiling_cpu_ms = 1000 * statistics.median(x["cpu_seconds"] for x in runs["ceiling"]) / n
    for mode in modes:
        seconds = [x["seconds"] for x in runs[mode]]
        entry = {
            "seconds_min": round(min(seconds), 2),
            "seconds_median": round(statistics.median(seconds), 2),
            "photos_per_s_median": round(n / statistics.median(seconds), 1),
            "ratio_to_ceiling": round(ceiling_median / statistics.median(seconds), 3),
        }
        if mode == "ceiling":
            entry["cpu_ms_per_photo_median"] = {"decode": round(ceiling_cpu_ms, 2)}
        else:
            summaries = [x["summary"] for x in runs[mode]]
            entry["first_result_seconds_median"] = round(
                statistics.median(s["first_result_seconds"] for s in summaries), 2
            )
            entry["peak_tree_rss_mb_max"] = round(max(x["peak_tree_mb"] for x in runs[mode]))
            entry["faces_found"] = summaries[0].get("faces", 0)
            stages = sorted({k for s in summaries for k in s["cpu_seconds"]})
            entry["cpu_ms_per_photo_median"] = {
                k: round(1000 * statistics.median(s["cpu_seconds"].get(k, 0.0) for s in summaries) / n, 2)
                for k in stages
            }
            # What CPU alone allows: the ceiling's decode CPU a photo against the scan's stages' CPU (an
            # upper bound, before start-up and the main process) and against all the CPU of its process
            # tree (what the ratio would be with both cores busy all the time, as the ceiling's are)
            stage_ms = sum(entry["cpu_ms_per_photo_median"].values())
            tree_ms = 1000 * statistics.median(x["tree_cpu_seconds"] for x in runs[mode]) / n
            entry["tree_cpu_ms_per_photo_median"] = round(tree_ms, 2)
            entry["ratio_allowed_by_stage_cpu"] = round(ceiling_cpu_ms / stage_ms, 3)
            entry["ratio_allowed_by_tree_cpu"] = round(ceiling_cpu_ms / tree_ms, 3)
        report[mode] = entry
    print(json.dumps(report, indent=2), flush=True)

    small = work / "small"
    if not small.exists() or len(list(small.rglob("*.jpg"))) != args.rescan_photos:
        shutil.rmtree(small, ignore_errors=True)
        for k in range(0, args.rescan_photos, 500):
            (small / f"{k:05d}").mkdir(parents=True)
        with mp.get_context("spawn").Pool(2) as pool:
            pool.map(
                make_small,
                [(small / f"{k - k % 500:05d}" / f"IMG_{k:05d}.jpg", k) for k in range(args.rescan_photos)],
                chunksize=64,
            )
    db = work / "rescan.db"
    run_scan(small, db, "no_models")
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    again = []
    for _ in range(args.repeats):
        cmd = [sys.executable, "-m", "photocull", "--db", str(db), "scan", str(small), "--no-models", "--json"]
        start = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO).stdout
        again.append((time.perf_counter() - start, json.loads(out)))
    assert all(s["unchanged"] == args.rescan_photos for _, s in again)
    extra = {
        f"unchanged_rescan_{args.rescan_photos}_seconds_process_median": round(
            statistics.median(t for t, _ in again), 2
        ),
        f"unchanged_rescan_{args.rescan_photos}_seconds_pipeline_median": round(
            statistics.median(s["seconds"] for _, s in again), 3
        ),
    }

    from photocull.groups.cluster import group

    rng = np.random.default_rng(0)
    m = args.group_photos
    hashes = rng.integers(0, 2**63, size=m, dtype=np.int64)
    burst = rng.integers(0, m, size=m // 10)
    hashes[burst] = hashes[(burst + 1) % m] ^ 0b1011  # 10% near-duplicates
    times = np.where(rng.random(m) < 0.7, np.arange(m) * 3.0, np.nan)
    start = time.perf_counter()
    groups = group(hashes, hashes, times)
    extra[f"grouping_{m}_seconds"] = round(time.perf_counter() - start, 2)
    extra[f"grouping_{m}_groups"] = len(groups)
    print(json.dumps(extra, indent=2))


if __name__ == "__main__":
    main()
