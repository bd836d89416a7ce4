"""Finding faces: MediaPipe's BlazeFace detectors on LiteRT, each box confirmed by the other model.

Two models from the ``mediapipe==0.10.21`` wheel (Apache-2.0, models/LICENSE-mediapipe.txt) run on
the scan's preview, letterboxed: the short-range model (128 px input) for close-ups, the full-range
one (192 px) on the whole frame and once more on a larger canvas, 320×240 (240×320 upright), where a
face a tenth of the frame wide is 32 px. The model file is fully convolutional, so the larger look
is the same weights with the input resized (``spatially_resized``): one pass that costs about twice
the 192-px one, where overlapping tiles cost four times and cut faces at their edges. A box counts
only when the *other* model also finds a face on a crop 2.2× the box around it, except a
short-range box scored at least ``SHORT_SURE``: the full-range model misses many faces that fill
the frame, so it cannot vouch for them (the GENKI-4K faces the detector used to miss were such faces).
A box the other model already found on the whole frame (or on a crop looked at before) needs no
look at its crop, and a large preview is shrunk once, to the larger canvas's scale, for all three looks.
The whole-frame full-range pass costs a third of the detector and the larger canvas seems to cover
it, but dropping it lost real faces in group photos that pasted test faces did not show.
scripts/measure_face_detectors.py measures it; models/face_detector.md has the table and what was
not chosen.
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
# The full-range model's larger look (width, height) for landscape previews; portrait ones use it
# turned. Sides are multiples of 16, the model's coarsest stride, and scale its 192-px maps evenly.
LARGE_CANVAS = (320, 240)
# A short-range box at least this sure needs no confirmation: the GENKI-4K faces the confirmation
# rejected scored 0.75–0.91, while of the unconfirmed boxes on the scan benchmark's 720 photos, one
# false box (a flower) scored above it.
SHORT_SURE = 0.75


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

    def scaled(self, factor: float) -> Face:
        """The same face in a copy of the image ``factor`` times as large."""
        return Face(self.box * factor, self.confidence, self.keypoints * factor)

    def moved(self, dx: float, dy: float) -> Face:
        """The same face in an image whose origin lies at (-dx, -dy) of this one's: from a crop
        or tile back to the whole image, or into a padded copy."""
        shift = np.array([dx, dy], dtype=np.float32)
        return Face(self.box + np.tile(shift, 2), self.confidence, self.keypoints + shift)


def _anchors(spec: _Spec, width: int, height: int) -> np.ndarray:
    """Anchor centres in input pixels, in the model's output order (MediaPipe's SSD anchor
    calculator; the anchors' size is fixed, so only centres matter)."""
    out, i = [], 0
    while i < len(spec.strides):
        j, per_cell = i, 0
        while j < len(spec.strides) and spec.strides[j] == spec.strides[i]:
            per_cell, j = per_cell + (2 if spec.two_per_cell else 1), j + 1
        stride = spec.strides[i]
        ys, xs = np.mgrid[0 : height // stride, 0 : width // stride]
        centres = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], -1).reshape(-1, 2)
        out.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


class BlazeFace:
    """One detector on one canvas: the model's own square, or ``canvas`` (width, height), for
    which the model is run resized."""

    def __init__(self, spec: _Spec, canvas: tuple[int, int] | None = None) -> None:
        self.spec, self.canvas = spec, canvas or (spec.size, spec.size)
        width, height = self.canvas
        self.model = LiteRTModel(spec.file, input_size=None if canvas is None else (height, width))
        self.anchors = _anchors(spec, width, height)

    def scale(self, img: Image.Image) -> float:
        """How much ``img`` is resized to fit the canvas, its aspect kept."""
        width, height = self.canvas
        return min(width / img.width, height / img.height)

    def fitted(self, img: Image.Image) -> Image.Image:
        """``img`` resized by ``scale``: what the look letterboxes into its canvas."""
        scale = self.scale(img)
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        return img.resize(size, Image.Resampling.BILINEAR)

    def faces(self, img: Image.Image) -> list[Face]:
        """Faces in ``img`` (RGB), letterboxed into the canvas."""
        width, height = self.canvas
        scale, small = self.scale(img), self.fitted(img)
        canvas = Image.new("RGB", self.canvas)
        ox, oy = (width - small.width) // 2, (height - small.height) // 2
        canvas.paste(small, (ox, oy))
        x = np.asarray(canvas).astype(np.float32)[None]  # [-1, 1], in place: a third of the look's time otherwise
        np.divide(x, 127.5, out=x)
        x -= 1.0
        outputs = self.model.run(x)
        regressors, raw = sorted(outputs, key=lambda o: -o.shape[-1])
        score = 1.0 / (1.0 + np.exp(-np.clip(raw[0, :, 0], -80, 80)))
        keep = np.flatnonzero(score >= self.spec.min_score)
        if not len(keep):
            return []
        reg, a = regressors[0][keep], self.anchors[keep]  # offsets from the anchor, in input pixels

        def back(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return np.stack([(x - ox) / scale, (y - oy) / scale], -1)

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
    """Faces found by several looks (models, canvases) as one list: overlapping boxes suppressed."""
    if not found:
        return []
    return suppress(
        np.array([f.box for f in found]),
        np.array([f.confidence for f in found]),
        np.array([f.keypoints for f in found]),
    )


class FaceDetector:
    """Both detectors of one process, loaded on first use.

    ``large`` adds the full-range model's look on a larger canvas (width, height, landscape), for
    faces too small for the whole-frame pass; None leaves it out. ``whole_frame`` False leaves out
    the full-range pass at its own 192 px, and ``short_sure`` is the short-range score kept without
    confirmation (above 1: none): there to measure what was not chosen
    (scripts/measure_face_detectors.py).
    """

    def __init__(
        self, large: tuple[int, int] | None = LARGE_CANVAS, whole_frame: bool = True, short_sure: float = SHORT_SURE
    ) -> None:
        self.full, self.short = BlazeFace(SPECS["full"]), BlazeFace(SPECS["short"])
        self.whole_frame, self.short_sure = whole_frame or large is None, short_sure
        self.large = None
        if large is not None:  # {is landscape: detector}; each is loaded the first time it is needed
            self.large = {True: BlazeFace(SPECS["full"], large), False: BlazeFace(SPECS["full"], large[::-1])}

    def _looks(self, img: Image.Image) -> tuple[list[Face], list[Face]]:
        """(full-range faces, short-range faces) of the whole-frame looks, in ``img``'s pixels.

        A preview larger than the larger canvas is shrunk once to that canvas's scale and every
        look reads that copy: shrinking the preview three times was a sixth of the detector's time.
        """
        large = None if self.large is None else self.large[img.width >= img.height]
        base = large.fitted(img) if large is not None and large.scale(img) < 1 else img
        back = img.width / base.width

        def looked(faces: list[Face]) -> list[Face]:
            return faces if base is img else [f.scaled(back) for f in faces]

        full = self.full.faces(base) if self.whole_frame else []
        if large is not None:
            full += large.faces(base)
        return looked(full), looked(self.short.faces(base))

    def detect(self, img: Image.Image) -> list[Face]:
        """Faces in an upright RGB image, in its pixels, largest first.

        What each model has found so far, on the whole frame or on a crop, is its evidence: a box
        the other model's evidence already overlaps is confirmed without a look at its crop.
        """
        full, short = self._looks(img)
        seen_by_short, seen_by_full = [f.box for f in short], [f.box for f in full]
        found = [f for f in full if confirmed(self.short, img, f.box, seen_by_short)]
        found += [f for f in short if f.confidence >= self.short_sure or confirmed(self.full, img, f.box, seen_by_full)]
        return sorted(merge(found), key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))


def _overlaps(box: np.ndarray, boxes: list[np.ndarray]) -> bool:
    """Whether any of ``boxes`` overlaps ``box`` as much as suppression merges (IoU > NMS_OVERLAP)."""
    return bool(boxes) and bool((_iou(box, np.array(boxes)) > NMS_OVERLAP).any())


def confirmed(model: BlazeFace, img: Image.Image, box: np.ndarray, seen: list[np.ndarray] | None = None) -> bool:
    """Whether ``model`` finds a face overlapping ``box``: among ``seen`` (boxes it already found in
    this image, which the faces of any crop looked at here join), or else on a crop around it."""
    if seen is not None and _overlaps(box, seen):
        return True
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    side = max(box[2] - box[0], box[3] - box[1]) * CONFIRM_CROP
    left, top = int(cx - side / 2), int(cy - side / 2)
    crop = img.crop((left, top, int(left + side), int(top + side)))
    offset = np.array([left, top, left, top], dtype=np.float32)
    boxes = [f.box + offset for f in model.faces(crop)]
    if seen is not None:
        seen.extend(boxes)
    return _overlaps(box, boxes)
