"""Measure face-detector candidates the way the scan would run them, to choose one for the faces stage.

Candidates are MediaPipe's BlazeFace models, taken as files from the ``mediapipe==0.10.21`` wheel
(Apache-2.0; the package itself cannot be installed beside TensorFlow 2.21), run on LiteRT:
short-range (128 px input) and full-range (192 px, sparse), on the whole frame, on overlapping
tiles, and with each candidate box confirmed by the short-range model on a crop around it.

    pip download mediapipe==0.10.21 --no-deps -d /tmp/mp
    python scripts/measure_face_detectors.py --wheel /tmp/mp/mediapipe-0.10.21-*.whl

Reports, per configuration: faces found in GENKI-4K photos (../shared/data/genki4k, one face each),
and small faces (GENKI faces pasted at 4%, 10% and 25% of the frame width into scikit-image photos
without people, at the scan's preview size, 504×378) found, false boxes, and CPU ms per frame on
one thread.
"""

from __future__ import annotations

import argparse
import glob
import json
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from synthetic import sample_photos  # noqa: E402

MODELS = {  # file in the wheel, input size, SSD strides, two anchors per cell, minimum score
    "short": ("mediapipe/modules/face_detection/face_detection_short_range.tflite", 128, [8, 16, 16, 16], True, 0.5),
    "full": ("mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite", 192, [4], False, 0.6),
}


def anchors(size: int, strides: list[int], two: bool) -> np.ndarray:
    """Anchor centres of MediaPipe's SSD anchor calculator (fixed anchor size: only centres matter)."""
    out, i = [], 0
    while i < len(strides):
        j, per_cell = i, 0
        while j < len(strides) and strides[j] == strides[i]:
            per_cell, j = per_cell + (2 if two else 1), j + 1
        grid = size // strides[i]
        ys, xs = np.mgrid[0:grid, 0:grid]
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], -1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


class BlazeFace:
    def __init__(self, path: Path, size: int, strides: list[int], two: bool, min_score: float) -> None:
        self.it = Interpreter(model_path=str(path), num_threads=1)
        self.it.allocate_tensors()
        self.size, self.min_score, self.anchors = size, min_score, anchors(size, strides, two)
        self.inp = self.it.get_input_details()[0]["index"]
        outs = sorted(self.it.get_output_details(), key=lambda d: -d["shape"][-1])
        self.reg, self.cls = outs[0]["index"], outs[1]["index"]

    def boxes(self, img: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """[x0, y0, x1, y1] boxes in ``img`` pixels and their scores (letterboxed to the input square)."""
        w, h = img.size
        scale = self.size / max(w, h)
        small = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (self.size, self.size))
        ox, oy = (self.size - small.width) // 2, (self.size - small.height) // 2
        canvas.paste(small, (ox, oy))
        self.it.set_tensor(self.inp, np.asarray(canvas, np.float32)[None] / 127.5 - 1)
        self.it.invoke()
        raw = self.it.get_tensor(self.cls)[0, :, 0]
        score = 1 / (1 + np.exp(-np.clip(raw, -80, 80)))
        keep = np.flatnonzero(score >= self.min_score)
        reg, a = self.it.get_tensor(self.reg)[0][keep] / self.size, self.anchors[keep]
        cx, cy = reg[:, 0] + a[:, 0], reg[:, 1] + a[:, 1]
        x0 = ((cx - reg[:, 2] / 2) * self.size - ox) / scale
        y0 = ((cy - reg[:, 3] / 2) * self.size - oy) / scale
        x1 = ((cx + reg[:, 2] / 2) * self.size - ox) / scale
        y1 = ((cy + reg[:, 3] / 2) * self.size - oy) / scale
        return np.stack([x0, y0, x1, y1], 1), score[keep]


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.3) -> list[np.ndarray]:
    """MediaPipe's weighted non-maximum suppression: overlapping boxes are averaged by score."""
    order, out = np.argsort(-scores), []
    while len(order):
        overlap = iou(boxes[order[0]], boxes[order])
        group = order[overlap > threshold]
        out.append((boxes[group] * scores[group, None]).sum(0) / scores[group].sum())
        order = order[overlap <= threshold]
    return out


def detect(models: dict[str, BlazeFace], img: Image.Image, first: str, tile: int | None, confirm: bool) -> list:
    if "+" in first:  # both models on the whole frame, each box confirmed by the other model on a crop
        found = []
        for name, other in (("full", "short"), ("short", "full")):
            b, s = models[name].boxes(img)
            found += [x for x in (nms(b, s) if len(b) else []) if _confirmed(models[other], img, x)]
        if not found:
            return []
        stacked = np.array(found)
        return nms(stacked, np.ones(len(stacked)))
    parts = [models[first].boxes(img)]
    if tile:
        w, h = img.size
        step = int(tile * 0.7)
        for y in range(0, max(h - tile, 0) + step, step):
            for x in range(0, max(w - tile, 0) + step, step):
                b, s = models[first].boxes(img.crop((x, y, min(x + tile, w), min(y + tile, h))))
                parts.append((b + np.array([x, y, x, y]), s))
    boxes, scores = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    found = nms(boxes, scores) if len(boxes) else []
    if confirm:
        found = [b for b in found if _confirmed(models["short"], img, b)]
    return found


def _confirmed(short: BlazeFace, img: Image.Image, box: np.ndarray) -> bool:
    """The given model finds the same face on a crop 2.2× the box, centred on it."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * 2.2
    left, top = cx - side / 2, cy - side / 2
    b, _ = short.boxes(img.crop((int(left), int(top), int(left + side), int(top + side))))
    return bool(len(b)) and bool((iou(box, b + np.array([int(left), int(top), int(left), int(top)])) > 0.3).any())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", type=Path, required=True)
    ap.add_argument("--genki", type=Path, default=REPO.parent / "shared" / "data" / "genki4k")
    ap.add_argument("--faces", type=int, default=300)
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    models = {}
    with zipfile.ZipFile(args.wheel) as wheel:
        for name, (member, *config) in MODELS.items():
            path = work / Path(member).name
            path.write_bytes(wheel.read(member))
            models[name] = BlazeFace(path, *config)
    faces = sorted(glob.glob(str(args.genki / "*" / "*.jpg")))
    random.Random(0).shuffle(faces)
    backgrounds = [img.convert("RGB") for name, img in sample_photos().items() if name != "astronaut"]
    configs = {
        "short, whole frame": ("short", None, False),
        "full, whole frame": ("full", None, False),
        "full, whole frame, confirmed": ("full", None, True),
        "full, 256-px tiles, confirmed": ("full", 256, True),
        "full + short, whole frame, each confirmed by the other": ("full+short", None, True),
    }
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
    results = {}
    for label, (first, tile, confirm) in configs.items():
        start = time.process_time()
        genki = sum(
            bool(detect(models, Image.open(f).convert("RGB"), first, tile, confirm)) for f in faces[: args.faces]
        )
        row: dict = {
            "genki_found": f"{genki}/{args.faces}",
            "genki_ms": round((time.process_time() - start) / args.faces * 1000, 1),
        }
        for fraction in (0.04, 0.10, 0.25):
            found = false = 0
            seconds = 0.0
            for frame, (x, y, w, h) in frames[fraction]:
                start = time.process_time()
                hits = detect(models, frame, first, tile, confirm)
                seconds += time.process_time() - start
                on_face = [b for b in hits if x <= (b[0] + b[2]) / 2 <= x + w and y <= (b[1] + b[3]) / 2 <= y + h]
                found += bool(on_face)
                false += len(hits) - len(on_face)
            ms = seconds / args.frames * 1000
            row[f"{fraction:.0%}_faces"] = f"found {found}/{args.frames}, false boxes {false}, {ms:.1f} ms"
        results[label] = row
        print(json.dumps({label: row}), flush=True)


if __name__ == "__main__":
    main()
