"""Per-photo signals computed from the preview: perceptual hashes, sharpness, exposure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from photocull.base.bits import to_signed64
from photocull.scan.hashes import bits_int, hash_bits

# Sharpness is measured on a grey image of this long side, so a 12 MP photo and its small re-save
# are compared on equal terms (a re-save scores lower because it really holds less detail).
SHARPNESS_SIZE = 384
# Bumped whenever a measure changes meaning: rows measured by another version are measured again.
MEASURE_VERSION = 2
CLIP_HIGH = 250
CLIP_LOW = 5


@dataclass
class Measures:
    phash: int
    dhash: int
    sharpness: float
    brightness: float
    highlights: float
    shadows: float


def fixed_grey(img: Image.Image) -> Image.Image:
    """The photo in grey, 384 px on its long side: every signal below is computed from this one copy."""
    grey = img.convert("L")
    w, h = grey.size
    scale = SHARPNESS_SIZE / max(w, h)
    return grey.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR)


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: high for crisp edges, low for blur."""
    if grey.shape[0] < 3 or grey.shape[1] < 3:
        return 0.0
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4.0 * grey[1:-1, 1:-1]
    return float(lap.var())


def sharpness(grey: np.ndarray, counts: np.ndarray | None = None) -> float:
    """Laplacian variance of the preview with its contrast stretched and its pixels averaged 2×2.

    Why not the plain Laplacian variance: on a soft photo, sensor noise is most of it, so a noisier
    frame of a burst scored up to 2.4× its clean twin, more than mild motion blur takes away.
    Averaging 2×2 (192 px long side) cuts the noise's share fourfold while blur of a pixel or more
    at this size still shows; stretching the 1st–99th percentile to 0–255 makes a darker or
    brighter frame of the same scene score the same. Measured on scripts/measure_bursts.py's
    folder: every blurred frame ranks lowest in its burst (51/51), and a noisy frame scores at
    most 1.25× its clean twin. Absolute values still depend on the scene, so photos are compared
    within their group; a single photo is only flagged when far below any sharp one.

    The stretch is linear, so it is applied as a factor on the variance of the averaged pixels
    (the same value, a quarter of the arithmetic). ``counts``: the 8-bit grey histogram, when known.
    """
    if counts is None:
        counts = np.bincount(grey.astype(np.uint8).ravel(), minlength=256)
    cumulative = counts.cumsum()  # percentiles of 8-bit grey
    lo, hi = np.searchsorted(cumulative, [0.01 * cumulative[-1], 0.99 * cumulative[-1]])
    gain = (255.0 / max(float(hi - lo), 16.0)) ** 2
    h, w = (grey.shape[0] // 2) * 2, (grey.shape[1] // 2) * 2
    if h < 6 or w < 6:
        return gain * laplacian_variance(grey.astype(np.float64))
    s = grey[:h, :w].astype(np.float32)
    return gain * laplacian_variance((s[0::2, 0::2] + s[1::2, 0::2] + s[0::2, 1::2] + s[1::2, 1::2]) * 0.25)


def measure(img: Image.Image) -> Measures:
    small = fixed_grey(img)
    grey = np.asarray(small)
    counts = np.bincount(grey.ravel(), minlength=256)  # brightness and clipping come from it too
    n = float(grey.size)
    phash, dhash = hash_bits(grey)
    return Measures(
        phash=to_signed64(bits_int(phash)),
        dhash=to_signed64(bits_int(dhash)),
        sharpness=round(sharpness(grey, counts), 2),
        brightness=round(float(counts @ np.arange(256)) / n / 255.0, 4),
        highlights=round(float(counts[CLIP_HIGH:].sum()) / n, 4),
        shadows=round(float(counts[: CLIP_LOW + 1].sum()) / n, 4),
    )
