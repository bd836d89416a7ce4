"""Measuring a face head on a folder of labelled face crops: ``photocull models evaluate expression|smile|eyes``.

Each image is one face crop, one subfolder per class (the head's class names). The detector is
not asked whether there is a face, but where a head reads a face the way the scan cuts it, its
landmarks are still used:

- ``expression`` reads the whole image as the face (FER-2013's crops are already framed);
- ``smile`` reads the face the detector finds in the image, cut and levelled as in a scan;
- ``eyes`` reads the two eye patches at the detector's eye keypoints.

When the detector finds nothing in an image, the whole image is taken as the face, with the eyes
where they sit in a typical face crop; how often that happened is reported (``without_landmarks``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from photocull.base.errors import PhotocullError
from photocull.base.heads import FACE_HEADS
from photocull.base.metrics import evaluate
from photocull.faces.crops import FACE_SIDE, eye_patches, face_crop
from photocull.faces.detect import Face, FaceDetector
from photocull.faces.heads import FaceHeads

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".heic"}
# Where the eyes sit in a face crop framed brows to chin (fractions of its width and height).
TYPICAL_EYES = ((0.31, 0.38), (0.69, 0.38))


def labelled_images(folder: Path, classes: tuple[str, ...]) -> list[tuple[Path, int]]:
    """(image, class index) for every image in ``folder``'s class subfolders; other subfolders are an error."""
    present = sorted(p.name for p in folder.iterdir() if p.is_dir())
    unknown = [name for name in present if name not in classes]
    if unknown:
        raise PhotocullError(
            f"{folder}: subfolders {', '.join(unknown)} are not classes of this head; use {', '.join(classes)}"
        )
    out = [
        (p, k)
        for k, name in enumerate(classes)
        if (folder / name).is_dir()
        for p in sorted((folder / name).iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not out:
        raise PhotocullError(f"{folder}: no images in subfolders named {', '.join(classes)}")
    return out


def _typical_face(img: Image.Image) -> Face:
    w, h = img.size
    return Face(np.array([0.0, 0.0, w, h]), 0.0, np.array([[x * w, y * h] for x, y in TYPICAL_EYES] + [[0, 0]] * 4))


def _landmarked(detector: FaceDetector, img: Image.Image) -> Face | None:
    """The largest face the detector finds in ``img`` padded by a third on each side (crops are tight)."""
    w, h = img.size
    pad = (w // 3, h // 3)
    found = detector.detect(ImageOps.expand(img, border=pad, fill=(128, 128, 128)))
    return found[0].moved(-pad[0], -pad[1]) if found else None


def evaluate_face_head(name: str, folder: Path, progress: Callable[[int], None] | None = None) -> dict[str, object]:
    """Metrics of face head ``name`` on ``folder`` (see the module docstring), JSON-ready."""
    spec = FACE_HEADS[name]
    items = labelled_images(folder, spec.classes)
    heads, detector = FaceHeads(), FaceDetector()
    probs, labels, skipped, without = [], [], [], 0
    for path, label in items:
        try:
            with Image.open(path) as opened:
                img = ImageOps.exif_transpose(opened).convert("RGB")
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            skipped.append(f"{path}: {exc}")
            continue
        grey = img.convert("L")
        if name == "expression":
            x = np.asarray(grey.resize((FACE_SIDE, FACE_SIDE), Image.Resampling.BILINEAR), np.uint8)[None]
            p = heads.expression(x)[0]
        else:
            face = _landmarked(detector, img)
            if face is None:
                without += 1
                face = _typical_face(img)
            if name == "smile":
                one = heads.smile(face_crop(grey, face)[None])[0]
            else:
                one = heads.eyes_closed(eye_patches(grey, face)[None])[0]
            p = np.array([1.0 - one, one])
        probs.append(p)
        labels.append(label)
        if progress:
            progress(1)
    if not labels:
        raise PhotocullError(f"{folder}: none of the images could be read")
    metrics: dict[str, object] = evaluate(np.array(labels), np.array(probs), spec.classes)
    metrics["without_landmarks"] = without
    metrics["unreadable"] = skipped
    return metrics
