"""Compare the scan speed of two photocull source trees on the same photos, interleaved and repeated.

Machines are noisy, so a before/after figure is only worth reporting as a ratio within one run:
each repeat scans the folder cold (fresh database) with the old tree, then with the new one, in
alternating order, and the script prints every time, the medians and new ÷ old.

    git worktree add /tmp/old <commit>
    python scripts/bench_scan.py --photos 720 --workdir /tmp/bench      # makes /tmp/bench/photos
    python scripts/bench_compare.py --old /tmp/old --photos /tmp/bench/photos --repeats 3

``--folders N`` splits the photos into N folders (hard links) and scans them as N roots, as a
library of several folders is scanned.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def split_into_folders(photos: list[Path], folders: int, work: Path) -> list[Path]:
    """The photos spread over ``folders`` folders under ``work`` in order, hard-linked (copied
    where the file system has no hard links)."""
    roots = [work / "folders" / f"{k:02d}" for k in range(folders)]
    for k, photo in enumerate(photos):
        root = roots[k * folders // len(photos)]
        root.mkdir(parents=True, exist_ok=True)
        try:
            os.link(photo, root / photo.name)
        except OSError:
            shutil.copy2(photo, root / photo.name)
    return roots


def scan_once(tree: Path, roots: list[Path], models: bool, work: Path) -> float:
    """Seconds for one cold ``photocull scan`` run with ``tree`` first on the import path."""
    db = work / "compare.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "photocull", "--db", str(db), "scan", *map(str, roots), "--json"]
    if not models:
        cmd.append("--no-models")
    env = dict(os.environ, PYTHONPATH=str(tree), PHOTOCULL_HOME=str(work / "home"))
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"scan with {tree} failed:\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", type=Path, required=True, help="the source tree to compare against (a git worktree)")
    ap.add_argument("--new", type=Path, default=REPO, help="the source tree under test (default: this checkout)")
    ap.add_argument("--photos", type=Path, required=True, help="a folder of photos (bench_scan.py --workdir makes one)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-models", action="store_true", help="only the hash-only scan")
    ap.add_argument("--folders", type=int, default=1, help="spread the photos over this many folders (roots)")
    args = ap.parse_args()
    photos = sorted(p for p in args.photos.iterdir() if p.is_file())
    n = len(photos)
    work = Path(tempfile.mkdtemp(prefix="photocull-compare-"))
    roots = split_into_folders(photos, args.folders, work) if args.folders > 1 else [args.photos]
    for tree in (args.old, args.new):  # as pip does for an installed photocull (see bench_scan.py)
        compileall.compile_dir(tree / "photocull", quiet=1)
    report: dict = {"photos": n, "folders": len(roots), "repeats": args.repeats}
    for models in [False] if args.no_models else [False, True]:
        key = "with_models" if models else "no_models"
        times: dict[str, list[float]] = {"old": [], "new": []}
        for r in range(args.repeats):
            order = ("old", "new") if r % 2 == 0 else ("new", "old")
            for which in order:
                times[which].append(scan_once(getattr(args, which).resolve(), roots, models, work))
        old, new = statistics.median(times["old"]), statistics.median(times["new"])
        report[key] = {
            "old_seconds": [round(t, 2) for t in times["old"]],
            "new_seconds": [round(t, 2) for t in times["new"]],
            "old_photos_per_s_median": round(n / old, 1),
            "new_photos_per_s_median": round(n / new, 1),
            "new_to_old_speed": round(old / new, 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
