"""Per-photo signals computed from the preview: perceptual hashes, sharpness, exposure."""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

from photocull.base.bits import to_signed64

# Sharpness is measured on a grey image of this long side, so a 12 MP photo and its small re-save
# are compared on equal terms (a re-save scores lower because it really holds less detail).
SHARPNESS_SIZE = 384
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


def hash_int(h: imagehash.ImageHash) -> int:
    """The hash's 64 bits, first row first, as one integer."""
    return int.from_bytes(np.packbits(np.asarray(h.hash, dtype=bool).ravel()).tobytes(), "big")


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


def measure(img: Image.Image) -> Measures:
    small = fixed_grey(img)
    grey = np.asarray(small, dtype=np.float32)
    return Measures(
        phash=to_signed64(hash_int(imagehash.phash(small))),
        dhash=to_signed64(hash_int(imagehash.dhash(small))),
        sharpness=round(laplacian_variance(grey), 2),
        brightness=round(float(grey.mean()) / 255.0, 4),
        highlights=round(float((grey >= CLIP_HIGH).mean()), 4),
        shadows=round(float((grey <= CLIP_LOW).mean()), 4),
    )
