"""Measure face-detector configurations the way the scan runs them, to choose the faces stage's.

The candidates are MediaPipe's BlazeFace models shipped in ``models/`` (files from the
``mediapipe==0.10.21`` wheel, Apache-2.0; ``models/face_detector.md``), run on LiteRT through
``photocull.faces.detect`` itself: short-range (128 px input) and full-range (192 px, sparse), on
the whole frame, on overlapping tiles, with each box confirmed by the other model on a crop around
it, and the shipped ``FaceDetector`` (both models, each confirmed by the other).

    python scripts/measure_face_detectors.py

Reports, per configuration: faces found in GENKI-4K photos (../shared/data/genki4k, one face each),
and small faces (GENKI faces pasted at 4%, 10% and 25% of the frame width into scikit-image photos
without people, at the scan's preview size, 504×378) found, false boxes, and CPU ms per frame on
one thread.
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

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
from photocull.faces.detect import SPECS, BlazeFace, Face, FaceDetector, confirmed, suppress  # noqa: E402
from synthetic import sample_photos  # noqa: E402

Detect = Callable[[Image.Image], list[Face]]


def tiled(model: BlazeFace, tile: int) -> Detect:
    """``model`` on the whole frame and on overlapping square tiles, merged."""

    def detect(img: Image.Image) -> list[Face]:
        found = model.faces(img)
        w, h = img.size
        step = int(tile * 0.7)
        for y in range(0, max(h - tile, 0) + step, step):
            for x in range(0, max(w - tile, 0) + step, step):
                for f in model.faces(img.crop((x, y, min(x + tile, w), min(y + tile, h)))):
                    found.append(Face(f.box + np.array([x, y, x, y]), f.confidence, f.keypoints + np.array([x, y])))
        if not found:
            return []
        return suppress(
            np.array([f.box for f in found]),
            np.array([f.confidence for f in found]),
            np.array([f.keypoints for f in found]),
        )

    return detect


def confirmed_by(first: Detect, other: BlazeFace) -> Detect:
    """Boxes of ``first`` that ``other`` confirms on a crop around them."""
    return lambda img: [f for f in first(img) if confirmed(other, img, f.box)]


def pixel_tiles(tile: int, score: float) -> Detect:
    """Both models on the whole frame, each box confirmed by the other, plus the full-range model on
    ``tile``-pixel tiles (step 0.7 of a tile), each tile face scoring ``score`` and confirmed."""
    whole = FaceDetector(tile=None)

    def detect(img: Image.Image) -> list[Face]:
        found = whole.detect(img)
        w, h = img.size
        step = int(tile * 0.7)
        for y in range(0, max(h - tile, 0) + step, step):
            for x in range(0, max(w - tile, 0) + step, step):
                found += [
                    moved
                    for f in whole.full.faces(img.crop((x, y, min(x + tile, w), min(y + tile, h))))
                    if f.confidence >= score and confirmed(whole.short, img, (moved := f.moved(x, y)).box)
                ]
        if not found:
            return []
        return suppress(
            np.array([f.box for f in found]),
            np.array([f.confidence for f in found]),
            np.array([f.keypoints for f in found]),
        )

    return detect


def short_range_tiles(fraction: float, score: float, overlap: float = 0.25) -> Detect:
    """An alternative measured and not chosen: both models on the whole frame, each box confirmed by
    the other, plus the short-range model on tiles ``fraction`` of the longer side spread with at
    least ``overlap`` between neighbours (six at 0.5), each tile face confirmed by the full-range one."""
    whole = FaceDetector(tile=None)

    def detect(img: Image.Image) -> list[Face]:
        found = whole.detect(img)
        side = round(max(img.size) * fraction)

        def starts(length: int) -> list[int]:
            if length <= side:
                return [0]
            n = math.ceil((length - side) / (side * (1 - overlap))) + 1
            return [round(k * (length - side) / (n - 1)) for k in range(n)]

        for y in starts(img.height):
            for x in starts(img.width):
                found += [
                    moved
                    for f in whole.short.faces(img.crop((x, y, x + side, y + side)))
                    if f.confidence >= score and confirmed(whole.full, img, (moved := f.moved(x, y)).box)
                ]
        if not found:
            return []
        return suppress(
            np.array([f.box for f in found]),
            np.array([f.confidence for f in found]),
            np.array([f.keypoints for f in found]),
        )

    return detect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genki", type=Path, default=REPO.parent / "shared" / "data" / "genki4k")
    ap.add_argument("--faces", type=int, default=300)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--only", help="measure only configurations whose name contains this")
    args = ap.parse_args()
    full, short = BlazeFace(SPECS["full"]), BlazeFace(SPECS["short"])
    configs: dict[str, Detect] = {
        "short, whole frame": short.faces,
        "full, whole frame": full.faces,
        "full, whole frame, confirmed by short": confirmed_by(full.faces, short),
        "full, 256-px tiles, confirmed by short": confirmed_by(tiled(full, 256), short),
        "both, whole frame, each confirmed by the other": FaceDetector(tile=None).detect,
        "shipped: both, whole frame and full-range on 0.6 tiles, each confirmed by the other": FaceDetector().detect,
        "not chosen: both, whole frame, + short-range on six 0.5 tiles (score 0.5)": short_range_tiles(0.5, 0.5),
        "candidate: both, whole frame, + full-range on 256-px tiles (score 0.6), confirmed": pixel_tiles(256, 0.6),
        "candidate: both, whole frame, + full-range on 256-px tiles (score 0.75), confirmed": pixel_tiles(256, 0.75),
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
            face = Image.open(faces[-1 - k]).convert("RGB")
            width = max(4, int(504 * fraction / 0.6))  # a GENKI crop's face is about 60% of its width
            face = face.resize((width, int(width * face.height / face.width)), Image.Resampling.BICUBIC)
            x, y = rng.randint(0, 504 - face.width), rng.randint(0, 378 - face.height)
            frame.paste(face, (x, y))
            frames[fraction].append((frame, (x, y, face.width, face.height)))
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


if __name__ == "__main__":
    main()
