"""A photo's faces as the scan stores them: where, how sure, keypoints, how sharp, and what each shows
(expression, smile, eyes closed; photocull.faces.heads).

Runs in the scan's decoding processes on the preview they already decoded (one detector per
process, one LiteRT thread each); only these small records travel back. Boxes and keypoints are in
the displayed photo's pixels (EXIF orientation applied, full resolution).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from photocull.faces.crops import eye_patches, face_crop
from photocull.faces.detect import FaceDetector
from photocull.faces.heads import FaceHeads
from photocull.scan.measure import sharpness

# Bumped when detection or a face measure changes: photos analysed otherwise are analysed again.
FACES_VERSION = "blazeface-0.10.21-confirmed.4+heads-2"
SHARPNESS_SIDE = 128  # face sharpness is measured at this size, so faces of one group compare on equal terms

_THIS_PROCESS: dict[str, FaceAnalyser] = {}


def worker_analyser() -> FaceAnalyser:
    """The face analyser of this decoding process, loaded once."""
    if "faces" not in _THIS_PROCESS:
        _THIS_PROCESS["faces"] = FaceAnalyser()
    return _THIS_PROCESS["faces"]


@dataclass(frozen=True)
class FaceStage:
    """What the pipeline is handed: the stage's version, and how a decoding process gets its analyser."""

    version: str = FACES_VERSION
    worker_factory: Callable[[], FaceAnalyser] = worker_analyser


class FaceAnalyser:
    """Finds a preview's faces and measures each."""

    def __init__(self) -> None:
        self.detector = FaceDetector()
        self.heads = FaceHeads()

    def analyse(self, preview: Image.Image, width: int, height: int) -> list[dict[str, object]]:
        """Faces in ``preview`` (the upright photo, any size) as records, largest first."""
        rgb = preview if preview.mode == "RGB" else preview.convert("RGB")
        scale = np.array([width / rgb.width, height / rgb.height])
        found = self.detector.detect(rgb)
        if not found:
            return []
        grey_photo = rgb.convert("L")
        readings = self.heads.read(
            np.stack([face_crop(grey_photo, f) for f in found]), np.stack([eye_patches(grey_photo, f) for f in found])
        )
        out: list[dict[str, object]] = []
        for face, reading in zip(found, readings, strict=True):
            x0, y0, x1, y1 = face.box
            box = (int(max(x0, 0)), int(max(y0, 0)), int(min(x1, rgb.width)), int(min(y1, rgb.height)))
            side = (SHARPNESS_SIDE, SHARPNESS_SIDE)
            grey = np.asarray(grey_photo.crop(box).resize(side, Image.Resampling.BILINEAR), np.float32)
            corner = np.array([x0, y0]) * scale
            size = np.array([x1 - x0, y1 - y0]) * scale
            out.append(
                {
                    "box": [round(float(v), 1) for v in (*corner, *size)],
                    "confidence": round(face.confidence, 4),
                    "keypoints": [[round(float(v), 1) for v in p] for p in face.keypoints * scale],
                    "sharpness": round(sharpness(grey), 2),
                    **reading,
                }
            )
        return out
