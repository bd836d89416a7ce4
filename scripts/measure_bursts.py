"""Burst decisions on a generated phone folder the models have never seen: grouping, blur, mood noise.

The folder is built from the test split of ../shared/data/happy_sad (scripts/splits/happy_sad.json;
those photos are ≤ 384 px, so their bursts are upscaled and soft) and from scikit-image's sharper
photos. Each scene is a burst of 3–5 frames at 1600×1200, fractions of a second apart: one frame
untouched, the others shifted, rotated, re-exposed and noisy, and in most bursts one frame blurred
by motion (several lengths and angles) or defocus (several radii). Some scenes start seconds after
the previous one (hard negatives: different photos in the same minute), some have a downscaled
re-save without EXIF, a few frames are HEIC, a few photos are alone, and two files are junk.

    python scripts/measure_bursts.py --folder /tmp/bursts                # build once, scan, report
    python scripts/measure_bursts.py --folder /tmp/bursts --tree /tmp/old  # the same with another source tree

Reports pair precision/recall/F1 against the true scenes, how often a blurred frame is suggested
``discard`` (and why not, when not), groups without a kept member, re-saves that lose to their
original, and the spread of the happy probability between a burst's unblurred frames (the mood
noise that suggestions must not treat as a difference).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data" / "happy_sad"
sys.path.insert(0, str(REPO / "scripts"))

from synthetic import sample_photos, save_photo  # noqa: E402

SIZE = (1600, 1200)


def _fit(img: Image.Image) -> Image.Image:
    """Centre-crop to 4:3 and resize to SIZE (bicubic: an upscaled small photo stays soft)."""
    img = img.convert("RGB")
    w, h = img.size
    if w / h > 4 / 3:
        cw, ch = round(h * 4 / 3), h
    else:
        cw, ch = w, round(w * 3 / 4)
    left, top = (w - cw) // 2, (h - ch) // 2
    return img.crop((left, top, left + cw, top + ch)).resize(SIZE, Image.Resampling.BICUBIC)


def _frame(img: Image.Image, rng: np.random.Generator, untouched: bool) -> Image.Image:
    """A burst frame: hand-held shift and rotation, exposure change, sensor noise of varying strength."""
    if untouched:
        return img
    w, h = img.size
    frame = img.rotate(rng.uniform(-0.8, 0.8), resample=Image.Resampling.BILINEAR)
    zoom = 1 - rng.uniform(0, 0.025)
    cw, ch = w * zoom, h * zoom
    left = (w - cw) / 2 + rng.uniform(-0.015, 0.015) * w
    top = (h - ch) / 2 + rng.uniform(-0.015, 0.015) * h
    left, top = max(0.0, min(w - cw, left)), max(0.0, min(h - ch, top))
    frame = frame.crop((round(left), round(top), round(left + cw), round(top + ch))).resize(
        (w, h), Image.Resampling.BILINEAR
    )
    arr = np.asarray(frame, dtype=np.float32) * (1 + rng.uniform(-0.12, 0.12))
    arr += rng.normal(0, rng.choice([2.0, 5.0, 9.0]), arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def motion_blur(img: Image.Image, length: int, angle: float) -> Image.Image:
    """Linear motion blur: the average of ``length`` copies shifted along a line at ``angle`` degrees."""
    arr = np.asarray(img, dtype=np.float32)
    out = np.zeros_like(arr)
    dx, dy = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    for t in np.linspace(-length / 2, length / 2, length):
        out += np.roll(arr, (round(t * dy), round(t * dx)), axis=(0, 1))
    return Image.fromarray(np.clip(out / length, 0, 255).astype(np.uint8))


def defocus(img: Image.Image, radius: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(radius))


def sources(count: int) -> list[tuple[str, Image.Image]]:
    """Sharp scikit-image photos first, then the happy_sad test split (held out from training)."""
    out = [(f"skimage-{name}", _fit(img)) for name, img in sample_photos().items()]
    split = json.loads((REPO / "scripts" / "splits" / "happy_sad.json").read_text())
    for rel in split["test"][: max(0, count - len(out))]:
        with Image.open(SHARED / rel) as img:
            out.append((Path(rel).stem, _fit(img)))
    return out[:count]


def build(folder: Path, scenes: int, seed: int) -> dict:
    """Write the folder and return the truth: scenes (lists of file names) and what each file is."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    truth: dict = {"scenes": [], "files": {}}
    t = dt.datetime(2025, 6, 14, 9, 0, 0)
    number = 1000
    for k, (name, base) in enumerate(sources(scenes)):
        alone = k % 12 == 11
        frames = 1 if alone else int(rng.integers(3, 6))
        blurred = -1 if alone or rng.random() < 0.15 else int(rng.integers(1, frames))
        members = []
        for f in range(frames):
            img = _frame(base, rng, untouched=f == 0)
            kind = "sharp" if f else "untouched"
            if f == blurred:
                if rng.random() < 0.6:
                    length = int(rng.choice([9, 15, 25, 40]))
                    img, kind = motion_blur(img, length, rng.uniform(0, 180)), f"motion-{length}"
                else:
                    radius = float(rng.choice([2.0, 3.5, 6.0]))
                    img, kind = defocus(img, radius), f"defocus-{radius}"
            number += 1
            suffix = ".heic" if rng.random() < 0.06 else ".jpg"
            path = save_photo(img, folder / f"IMG_{number}{suffix}", t, quality=int(rng.integers(85, 95)))
            truth["files"][path.name] = {"kind": kind, "source": name}
            members.append(path.name)
            t += dt.timedelta(seconds=float(rng.uniform(0.2, 1.2)))
        if not alone and rng.random() < 0.15:
            small = base.resize((800, 600), Image.Resampling.BILINEAR)
            path = save_photo(small, folder / f"IMG_{number}-small.jpg", None, quality=70)
            truth["files"][path.name] = {"kind": "resave", "source": name, "of": members[0]}
            members.append(path.name)
        truth["scenes"].append(members)
        # the next scene: often a few seconds later (a hard negative in the same minute)
        t += dt.timedelta(seconds=float(rng.choice([2.0, 4.0, 20.0, 45.0, 300.0])))
    (folder / "notes.jpg").write_text("not a photo")
    (folder / "IMG_broken.jpg").write_bytes((folder / f"IMG_{1001}.jpg").read_bytes()[:2000])
    (folder.parent / f"{folder.name}-truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def scan(folder: Path, tree: Path, db: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "photocull", "--db", str(db), "scan", str(folder), "--json"]
    subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)


def report(folder: Path, truth: dict, db: Path) -> dict:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = {Path(r["path"]).name: dict(r) for r in con.execute("select * from photos where missing_since is null")}
    files = truth["files"]
    true_pairs = {frozenset(p) for s in truth["scenes"] for p in itertools.combinations(s, 2)}
    groups: dict[int, list[str]] = {}
    for name, r in rows.items():
        if r["group_id"] is not None and name in files:
            groups.setdefault(r["group_id"], []).append(name)
    found = {frozenset(p) for g in groups.values() for p in itertools.combinations(g, 2)}
    hit = len(found & true_pairs)
    precision, recall = hit / max(len(found), 1), hit / max(len(true_pairs), 1)
    blurred = [n for n, f in files.items() if f["kind"].startswith(("motion", "defocus"))]
    kept_blurred = {
        n: rows[n]["suggestion"] + ": " + (rows[n]["reasons"] or "")
        for n in blurred
        if rows[n]["suggestion"] != "discard"
    }
    resaves = [n for n, f in files.items() if f["kind"] == "resave"]
    no_keeper = [g for g in groups.values() if not any(rows[n]["suggestion"] == "keep" for n in g)]
    spreads = []
    for s in truth["scenes"]:
        happy = [
            rows[n]["happy"] for n in s if files[n]["kind"] in ("sharp", "untouched") and rows[n]["happy"] is not None
        ]
        spreads += [abs(a - b) for a, b in itertools.combinations(happy, 2)]
    by_kind: dict[str, list[bool]] = {}
    for n in blurred:
        by_kind.setdefault(files[n]["kind"], []).append(rows[n]["suggestion"] == "discard")
    lowest = 0
    for s in truth["scenes"]:
        b = [n for n in s if n in blurred]
        frames = [n for n in s if files[n]["kind"] != "resave"]
        if b and min(frames, key=lambda n: rows[n]["sharpness"] or 0.0) == b[0]:
            lowest += 1
    untouched_sharpest = sum(
        1
        for s in truth["scenes"]
        if len([n for n in s if files[n]["kind"] == "sharp"]) > 0
        and max((n for n in s if files[n]["kind"] in ("sharp", "untouched")), key=lambda n: rows[n]["sharpness"] or 0.0)
        == s[0]
    )
    with_sharp = sum(1 for s in truth["scenes"] if any(files[n]["kind"] == "sharp" for n in s))
    return {
        "photos": len(files),
        "true_pairs": len(true_pairs),
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(2 * precision * recall / max(precision + recall, 1e-9), 3),
        "missed_pairs": len(true_pairs - found),
        "false_pairs": len(found - true_pairs),
        "blurred_frames": len(blurred),
        "blurred_discarded": round(1 - len(kept_blurred) / max(len(blurred), 1), 3),
        "blurred_discarded_by_kind": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_kind.items())},
        "blurred_lowest_sharpness_in_burst": f"{lowest}/{sum(1 for s in truth['scenes'] if any(n in blurred for n in s))}",
        "untouched_frame_sharpest_of_unblurred": f"{untouched_sharpest}/{with_sharp}",
        "blurred_not_discarded": kept_blurred,
        "groups_without_a_kept_member": len(no_keeper),
        "resaves_discarded": f"{sum(rows[n]['suggestion'] == 'discard' for n in resaves)}/{len(resaves)}",
        "happy_spread_unblurred_frames": {q: round(float(np.percentile(spreads, q)), 3) for q in (50, 90, 95, 99)}
        if spreads
        else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, required=True, help="built here on the first run, reused after")
    ap.add_argument("--tree", type=Path, default=REPO, help="source tree whose photocull scans (default: this one)")
    ap.add_argument("--scenes", type=int, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--db", type=Path, help="keep the scan's database here (default: a temporary one)")
    args = ap.parse_args()
    truth_path = args.folder.parent / f"{args.folder.name}-truth.json"
    truth = json.loads(truth_path.read_text()) if args.folder.exists() else build(args.folder, args.scenes, args.seed)
    with tempfile.TemporaryDirectory() as work:
        db = args.db or Path(work) / "bursts.db"
        db.unlink(missing_ok=True)
        scan(args.folder, args.tree.resolve(), db)
        print(json.dumps(report(args.folder, truth, db), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
