"""Measure face-detector configurations the way the scan runs them, to choose the faces stage's.

The candidates are MediaPipe's BlazeFace models shipped in ``models/`` (files from the
``mediapipe==0.10.21`` wheel, Apache-2.0; ``models/face_detector.md``), run on LiteRT through
``photocull.faces.detect`` itself: short-range (128 px input) and full-range (192 px, sparse), on
the whole frame, on overlapping tiles, on larger canvases (the model resized), with each box
confirmed by the other model on a crop around it, and the shipped ``FaceDetector``.

    python scripts/measure_face_detectors.py [--only TEXT] [--bench-photos FOLDER]

Reports, per configuration: faces found in GENKI-4K photos (../shared/data/genki4k, one face each),
and small faces (GENKI faces pasted at 4%, 10% and 25% of the frame width into scikit-image photos
without people, at the scan's preview size, 504×378) found, false boxes, and CPU ms per frame on
one thread; with ``--bench-photos`` (the scan benchmark's folder), also CPU ms per preview of every
other photo there (the scan's own previews, mostly without faces): all the configurations timed in
one process, 3 passes in alternating order, the best pass of each, so that they compare within the
hour they ran in.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from photocull.faces.detect import SPECS, BlazeFace, Face, FaceDetector, confirmed, merge  # noqa: E402
from photocull.scan.read import read_preview  # noqa: E402
from synthetic import paste_face, sample_photos  # noqa: E402

Detect = Callable[[Image.Image], list[Face]]


def pixel_tile_boxes(img: Image.Image, tile: int) -> list[tuple[int, int, int, int]]:
    """Square tiles of ``tile`` pixels, a step of 0.7 of a tile apart, cut at the image's edges."""
    w, h = img.size
    step = int(tile * 0.7)
    return [
        (x, y, min(x + tile, w), min(y + tile, h))
        for y in range(0, max(h - tile, 0) + step, step)
        for x in range(0, max(w - tile, 0) + step, step)
    ]


def spread_tile_boxes(img: Image.Image, fraction: float, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Square tiles ``fraction`` of the longer side, spread evenly with at least ``overlap`` between
    neighbours (six on a 4:3 frame at 0.5)."""
    side = round(max(img.size) * fraction)

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = math.ceil((length - side) / (side * (1 - overlap))) + 1
        return [round(k * (length - side) / (n - 1)) for k in range(n)]

    return [(x, y, x + side, y + side) for y in starts(img.height) for x in starts(img.width)]


def corner_tiles(img: Image.Image, fraction: float) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles, ``fraction`` of the longer side each, two along each side that is
    longer than a tile (four on a landscape preview at 0.6: the detector shipped before the larger look)."""
    side = round(max(img.size) * fraction)
    xs = [0, img.width - side] if img.width > side else [0]
    ys = [0, img.height - side] if img.height > side else [0]
    return [(x, y, x + side, y + side) for y in ys for x in xs]


def tiled(model: BlazeFace, tile: int) -> Detect:
    """``model`` on the whole frame and on overlapping ``tile``-pixel tiles, merged."""

    def detect(img: Image.Image) -> list[Face]:
        found = model.faces(img)
        for box in pixel_tile_boxes(img, tile):
            found += [f.moved(box[0], box[1]) for f in model.faces(img.crop(box))]
        return merge(found)

    return detect


def confirmed_by(first: Detect, other: BlazeFace) -> Detect:
    """Boxes of ``first`` that ``other`` confirms on a crop around them."""
    return lambda img: [f for f in first(img) if confirmed(other, img, f.box)]


def with_tiles(boxes: Callable[[Image.Image], list[tuple[int, int, int, int]]], on_tiles: str, score: float) -> Detect:
    """Both models on the whole frame, each box confirmed by the other (``FaceDetector(large=None, short_sure=2)``),
    plus model ``on_tiles`` ("full" or "short") on the tiles ``boxes`` cuts, each tile face scoring at
    least ``score`` and confirmed by the other model."""
    whole = FaceDetector(large=None, short_sure=2)
    finder, checker = (whole.full, whole.short) if on_tiles == "full" else (whole.short, whole.full)

    def detect(img: Image.Image) -> list[Face]:
        found = whole.detect(img)
        for x, y, x1, y1 in boxes(img):
            found += [
                moved
                for f in finder.faces(img.crop((x, y, x1, y1)))
                if f.confidence >= score and confirmed(checker, img, (moved := f.moved(x, y)).box)
            ]
        return merge(found)

    return detect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genki", type=Path, default=REPO.parent / "shared" / "data" / "genki4k")
    ap.add_argument("--faces", type=int, default=300)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--only", help="measure only configurations whose name contains this")
    ap.add_argument("--bench-photos", type=Path, help="also time each configuration on these photos' previews")
    args = ap.parse_args()
    full, short = BlazeFace(SPECS["full"]), BlazeFace(SPECS["short"])
    configs: dict[str, Detect] = {
        "short, whole frame": short.faces,
        "full, whole frame": full.faces,
        "full, whole frame, confirmed by short": confirmed_by(full.faces, short),
        "full, 256-px tiles, confirmed by short": confirmed_by(tiled(full, 256), short),
        "both, whole frame, each confirmed by the other": FaceDetector(large=None, short_sure=2).detect,
        "shipped: both, whole frame, + full-range on a 320×240 canvas, confirmed, short-range ≥ 0.75 kept": (
            FaceDetector().detect
        ),
        "shipped before: the same, every box confirmed": FaceDetector(short_sure=2).detect,
        "not chosen: shipped without the full-range whole-frame pass": FaceDetector(whole_frame=False).detect,
        "not chosen: shipped without the whole-frame pass, 256×192 canvas": FaceDetector(
            large=(256, 192), whole_frame=False
        ).detect,
        "not chosen: shipped without the whole-frame pass, 288×224 canvas": FaceDetector(
            large=(288, 224), whole_frame=False
        ).detect,
        "not chosen: shipped with a 288×224 canvas": FaceDetector(large=(288, 224)).detect,
        "not chosen: shipped with a 384×288 canvas": FaceDetector(large=(384, 288)).detect,
        "shipped earlier: both, whole frame, + full-range on four 0.6 tiles (score 0.75)": with_tiles(
            lambda img: corner_tiles(img, 0.6), "full", 0.75
        ),
        "not chosen: both, whole frame, + short-range on six 0.5 tiles (score 0.5)": with_tiles(
            lambda img: spread_tile_boxes(img, 0.5), "short", 0.5
        ),
        "not chosen: both, whole frame, + full-range on 256-px tiles (score 0.6), confirmed": with_tiles(
            lambda img: pixel_tile_boxes(img, 256), "full", 0.6
        ),
        "not chosen: both, whole frame, + full-range on 256-px tiles (score 0.75), confirmed": with_tiles(
            lambda img: pixel_tile_boxes(img, 256), "full", 0.75
        ),
    }
    configs = {k: v for k, v in configs.items() if not args.only or args.only in k}
    faces = sorted(glob.glob(str(args.genki / "*" / "*.jpg")))
    random.Random(0).shuffle(faces)
    backgrounds = [img.convert("RGB") for name, img in sample_photos().items() if name != "astronaut"]
    rng = random.Random(1)
    frames: dict[float, list] = {}
    for fraction in (0.04, 0.10, 0.25):
        frames[fraction] = []
        for k in range(args.frames):
            frame = backgrounds[k % len(backgrounds)].resize((504, 378), Image.Resampling.BICUBIC)
            where = paste_face(frame, Image.open(faces[-1 - k]).convert("RGB"), fraction, rng)
            frames[fraction].append((frame, where))
    for label, detect in configs.items():
        start = time.process_time()
        genki = sum(bool(detect(Image.open(f).convert("RGB"))) for f in faces[: args.faces])
        row: dict = {
            "genki_found": f"{genki}/{args.faces}",
            "genki_ms": round((time.process_time() - start) / args.faces * 1000, 1),
        }
        for fraction in (0.04, 0.10, 0.25):
            found = false = 0
            seconds = 0.0
            for frame, (x, y, w, h) in frames[fraction]:
                start = time.process_time()
                hits = [f.box for f in detect(frame)]
                seconds += time.process_time() - start
                on_face = [b for b in hits if x <= (b[0] + b[2]) / 2 <= x + w and y <= (b[1] + b[3]) / 2 <= y + h]
                found += bool(on_face)
                false += len(hits) - len(on_face)
            ms = seconds / args.frames * 1000
            row[f"{fraction:.0%}_faces"] = f"found {found}/{args.frames}, false boxes {false}, {ms:.1f} ms"
        print(json.dumps({label: row}), flush=True)
    if args.bench_photos:
        print(json.dumps({"bench_ms_per_preview": timed_on_previews(configs, args.bench_photos)}), flush=True)


def timed_on_previews(configs: dict[str, Detect], folder: Path) -> dict[str, dict]:
    """CPU ms a preview of every other photo in ``folder`` for each configuration (best of 3 passes,
    the configurations in alternating order), and the boxes each found."""
    previews = [read_preview(str(p)).image.convert("RGB") for p in sorted(folder.iterdir())[::2]]
    passes: dict[str, list[float]] = {label: [] for label in configs}
    boxes: dict[str, int] = {}
    for k in range(3):
        for label in list(configs)[:: 1 if k % 2 == 0 else -1]:
            start = time.process_time()
            boxes[label] = sum(len(configs[label](p)) for p in previews)
            passes[label].append((time.process_time() - start) / len(previews) * 1000)
    return {label: {"ms": round(min(passes[label]), 1), "boxes": boxes[label]} for label in configs}


if __name__ == "__main__":
    main()
