"""Finding faces: MediaPipe's BlazeFace detectors on LiteRT, each box confirmed by the other model.

Two models from the ``mediapipe==0.10.21`` wheel (Apache-2.0, models/LICENSE-mediapipe.txt) run on
the scan's preview, whole frame, letterboxed: the full-range model (192 px input) finds faces down
to about a tenth of the frame's width, the short-range one (128 px) the close-ups the full-range one
misses. A box counts only when the *other* model also finds a face on a crop 2.2× the box around
it: that left 1 false box in 180 frames without people (the short-range model alone: 27) while
finding 295 of 300 GENKI-4K faces (scripts/measure_face_detectors.py; models/face_detector.md has
the table and what was not chosen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from photocull.base.litert import LiteRTModel

FULL_RANGE = "face_detection_full_range_sparse.tflite"
SHORT_RANGE = "face_detection_short_range.tflite"
CONFIRM_CROP = 2.2  # side of the confirming crop, in face-box sizes
NMS_OVERLAP = 0.3  # MediaPipe's weighted suppression threshold
TILE = 0.6  # full-range tiles: this fraction of the longer side (about 300 px of a 504-px preview)
TILE_SCORE = 0.75  # a face found on a tile only (more chances for a false one) must score this


@dataclass(frozen=True)
class _Spec:
    file: str
    size: int  # square input, pixels
    strides: tuple[int, ...]
    two_per_cell: bool  # MediaPipe's interpolated anchor: two anchors per cell
    min_score: float


SPECS = {
    "full": _Spec(FULL_RANGE, 192, (4,), False, 0.6),
    "short": _Spec(SHORT_RANGE, 128, (8, 16, 16, 16), True, 0.5),
}


@dataclass
class Face:
    """A face in image pixels: box corners, the detector's confidence, six keypoints
    (right eye, left eye, nose tip, mouth centre, right ear, left ear; "right" is the person's)."""

    box: np.ndarray  # [x0, y0, x1, y1]
    confidence: float
    keypoints: np.ndarray  # [6, 2]

    def moved(self, dx: float, dy: float) -> Face:
        """The same face in an image whose origin lies at (-dx, -dy) of this one's: from a crop
        or tile back to the whole image, or into a padded copy."""
        shift = np.array([dx, dy], dtype=np.float32)
        return Face(self.box + np.tile(shift, 2), self.confidence, self.keypoints + shift)


def _anchors(spec: _Spec) -> np.ndarray:
    """Anchor centres of MediaPipe's SSD anchor calculator (fixed anchor size: only centres matter)."""
    out, i = [], 0
    while i < len(spec.strides):
        j, per_cell = i, 0
        while j < len(spec.strides) and spec.strides[j] == spec.strides[i]:
            per_cell, j = per_cell + (2 if spec.two_per_cell else 1), j + 1
        grid = spec.size // spec.strides[i]
        ys, xs = np.mgrid[0:grid, 0:grid]
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], -1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


class BlazeFace:
    def __init__(self, spec: _Spec) -> None:
        self.spec, self.model, self.anchors = spec, LiteRTModel(spec.file), _anchors(spec)

    def faces(self, img: Image.Image) -> list[Face]:
        """Faces in ``img`` (RGB), letterboxed into the model's square input."""
        size = self.spec.size
        w, h = img.size
        scale = size / max(w, h)
        small = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)
        canvas = Image.new("RGB", (size, size))
        ox, oy = (size - small.width) // 2, (size - small.height) // 2
        canvas.paste(small, (ox, oy))
        outputs = self.model.run(np.asarray(canvas, np.float32)[None] / 127.5 - 1.0)
        regressors, raw = sorted(outputs, key=lambda o: -o.shape[-1])
        score = 1.0 / (1.0 + np.exp(-np.clip(raw[0, :, 0], -80, 80)))
        keep = np.flatnonzero(score >= self.spec.min_score)
        if not len(keep):
            return []
        reg, a = regressors[0][keep] / size, self.anchors[keep]

        def back(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.stack([(x * size - ox) / scale, (y * size - oy) / scale], -1)

        cx, cy = reg[:, 0] + a[:, 0], reg[:, 1] + a[:, 1]
        corners = np.concatenate(
            [back(cx - reg[:, 2] / 2, cy - reg[:, 3] / 2), back(cx + reg[:, 2] / 2, cy + reg[:, 3] / 2)], 1
        )
        keypoints = back(reg[:, 4:16:2] + a[:, :1], reg[:, 5:16:2] + a[:, 1:])
        return suppress(corners, score[keep], keypoints)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0, y0 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x1, y1 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    result: np.ndarray = inter / np.maximum(area - inter, 1e-9)
    return result


def suppress(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray) -> list[Face]:
    """MediaPipe's weighted non-maximum suppression: overlapping detections are averaged by score."""
    order, out = np.argsort(-scores), []
    while len(order):
        overlap = _iou(boxes[order[0]], boxes[order])
        group = order[overlap > NMS_OVERLAP]
        weight = scores[group] / scores[group].sum()
        out.append(
            Face(
                (boxes[group] * weight[:, None]).sum(0),
                float(scores[order[0]]),
                (keypoints[group] * weight[:, None, None]).sum(0),
            )
        )
        order = order[overlap <= NMS_OVERLAP]
    return out


def merge(found: list[Face]) -> list[Face]:
    """Faces found by several looks (models, tiles) as one list: overlapping boxes suppressed."""
    if not found:
        return []
    return suppress(
        np.array([f.box for f in found]),
        np.array([f.confidence for f in found]),
        np.array([f.keypoints for f in found]),
    )


def tiles(width: int, height: int, fraction: float) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles, ``fraction`` of the longer side each, two along each side that is
    longer than a tile: the full-range model sees a small face 1/fraction times larger on one."""
    side = round(max(width, height) * fraction)
    xs = [0, width - side] if width > side else [0]
    ys = [0, height - side] if height > side else [0]
    return [(x, y, x + side, y + side) for y in ys for x in xs]


class FaceDetector:
    """Both detectors of one process, loaded on first use.

    ``tile`` (a fraction of the longer side, or None) adds the full-range model on overlapping
    tiles, for faces too small for the whole-frame pass (scripts/measure_face_detectors.py).
    """

    def __init__(self, tile: float | None = TILE, tile_score: float = TILE_SCORE) -> None:
        self.full, self.short = BlazeFace(SPECS["full"]), BlazeFace(SPECS["short"])
        self.tile, self.tile_score = tile, tile_score

    def _full_range(self, img: Image.Image) -> list[Face]:
        found = self.full.faces(img)
        if self.tile is None:
            return found
        for box in tiles(img.width, img.height, self.tile):
            found += [
                f.moved(box[0], box[1]) for f in self.full.faces(img.crop(box)) if f.confidence >= self.tile_score
            ]
        return found

    def detect(self, img: Image.Image) -> list[Face]:
        """Faces in an upright RGB image, in its pixels, largest first."""
        found = [f for f in self._full_range(img) if confirmed(self.short, img, f.box)]
        found += [f for f in self.short.faces(img) if confirmed(self.full, img, f.box)]
        return sorted(merge(found), key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def confirmed(model: BlazeFace, img: Image.Image, box: np.ndarray) -> bool:
    """Whether ``model`` finds a face overlapping ``box`` on a crop around it."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * CONFIRM_CROP
    left, top = int(cx - side / 2), int(cy - side / 2)
    crop = img.crop((left, top, int(left + side), int(top + side)))
    offset = np.array([left, top, left, top], dtype=np.float32)
    return any(_iou(box, (f.box + offset)[None])[0] > NMS_OVERLAP for f in model.faces(crop))
