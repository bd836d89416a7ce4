"""Cutting a detected face into what the face heads read: an upright face crop and two eye patches.

The training scripts cut their data with these same functions, so a head sees at scan time exactly
the framing, alignment and size it was trained on. Both cuts are rotated so the eyes lie level
(the detector's keypoints give the roll), which lets small heads spend their capacity on the
expression instead of the pose.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from photocull.faces.detect import Face

FACE_SIDE = 48  # FER-2013's size: the expression and smile heads read 48×48 grey faces
FACE_SCALE = 1.0  # crop side in detector-box sides: brows to chin, framed like FER-2013
EYE_SIDE = 24  # each eye patch, pixels
EYE_SCALE = 0.6  # eye patch side in inter-eye distances: the eye with its lids, little brow


def _roll(face: Face) -> float:
    """The face's roll (radians): the angle of the line from the person's right eye to the left."""
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
    return math.atan2(ly - ry, lx - rx)


Frame = tuple[float, float, float, float, float, float]  # PIL affine: cut pixel (u, v) → photo pixel


def _frame(centre: tuple[float, float], span: float, angle: float, side: int) -> Frame:
    """Where a ``side``-pixel cut's pixels lie in the photo: a square ``span`` pixels wide around
    ``centre``, turned by ``angle``."""
    s = span / side
    a, b = s * math.cos(angle), -s * math.sin(angle)
    d, e = s * math.sin(angle), s * math.cos(angle)
    return (a, b, centre[0] - (a + b) * side / 2, d, e, centre[1] - (d + e) * side / 2)


def _cut(grey: Image.Image, centre: tuple[float, float], span: float, angle: float, side: int) -> np.ndarray:
    """A ``side``-pixel square of ``grey`` around ``centre``, ``span`` source pixels wide, rotated by ``angle``."""
    factor = int(span / side / 1.5)
    if factor >= 2:  # shrink first, so bilinear sampling does not alias a large face
        grey = grey.reduce(factor)
        centre, span = (centre[0] / factor, centre[1] / factor), span / factor
    frame = _frame(centre, span, angle, side)
    out = grey.transform((side, side), Image.Transform.AFFINE, frame, Image.Resampling.BILINEAR)
    return np.asarray(out, dtype=np.uint8)


def face_frame(face: Face, side: int = FACE_SIDE) -> Frame:
    """Where ``face_crop``'s pixels lie in the photo."""
    x0, y0, x1, y1 = face.box
    return _frame(((x0 + x1) / 2, (y0 + y1) / 2), max(x1 - x0, y1 - y0) * FACE_SCALE, _roll(face), side)


def eye_frames(face: Face, side: int = EYE_SIDE) -> list[Frame]:
    """Where ``eye_patches``' pixels lie in the photo, right eye then left."""
    right, left = face.keypoints[0], face.keypoints[1]
    span = max(float(np.hypot(*(left - right))) * EYE_SCALE, 2.0)
    return [_frame((float(p[0]), float(p[1])), span, _roll(face), side) for p in (right, left)]


def uncut(values: np.ndarray, frame: Frame, size: tuple[int, int]) -> np.ndarray:
    """A map over a cut laid back onto the photo it was cut from (``size``: width, height), zero
    outside the cut: how a face's saliency map is shown in place."""
    a, b, c, d, e, f = frame
    inverse = np.linalg.inv(np.array([[a, b], [d, e]]))
    shift = -inverse @ np.array([c, f])
    back = (inverse[0, 0], inverse[0, 1], shift[0], inverse[1, 0], inverse[1, 1], shift[1])
    pasted = Image.fromarray(values.astype(np.float32), mode="F").transform(
        size, Image.Transform.AFFINE, back, Image.Resampling.BILINEAR
    )
    return np.asarray(pasted, dtype=np.float32)


def face_crop(grey: Image.Image, face: Face, side: int = FACE_SIDE) -> np.ndarray:
    """The face, upright and level, as a ``side``×``side`` uint8 grey array (``grey``: mode "L")."""
    x0, y0, x1, y1 = face.box
    span = max(x1 - x0, y1 - y0) * FACE_SCALE
    return _cut(grey, ((x0 + x1) / 2, (y0 + y1) / 2), span, _roll(face), side)


def eye_patches(grey: Image.Image, face: Face, side: int = EYE_SIDE) -> np.ndarray:
    """Both eyes (person's right, then left), level, as a [2, side, side] uint8 array."""
    right, left = face.keypoints[0], face.keypoints[1]
    span = max(float(np.hypot(*(left - right))) * EYE_SCALE, 2.0)
    angle = _roll(face)
    return np.stack([_cut(grey, (float(p[0]), float(p[1])), span, angle, side) for p in (right, left)])


def equalized(faces: np.ndarray) -> np.ndarray:
    """[N, s, s] uint8 face crops with their contrast raised by 1.2 (saturating) and their grey
    levels histogram-equalized, each face on its own: OpenCV's ``convertScaleAbs(alpha=1.2)`` then
    ``equalizeHist``, the preparation of the sharp FER-2013 Training copy the expression head
    learnt from. Equalizing also takes a photo's lighting and exposure out of what the head reads."""
    n = len(faces)
    flat = np.rint(faces.reshape(n, -1).astype(np.float32) * 1.2).clip(0, 255).astype(np.int64)
    hist = np.bincount((flat + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n).reshape(n, 256)
    cdf = np.cumsum(hist, axis=1)
    lowest = cdf[np.arange(n), (hist > 0).argmax(axis=1)][:, None]  # pixels at the darkest level
    rest = np.maximum(flat.shape[1] - lowest, 1).astype(np.float32)
    lut = np.rint((cdf - lowest) * (255 / rest)).clip(0, 255).astype(np.uint8)
    flat_face = lowest[:, 0] == flat.shape[1]  # one grey level only: OpenCV keeps it as it is
    lut[flat_face] = np.arange(256, dtype=np.uint8)
    return np.take_along_axis(lut, flat, axis=1).reshape(faces.shape)
