"""The one way a photo becomes a model input, shared by scanning, training and explaining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

MODEL_INPUT_SIZE = 224


def to_model_input(img: Image.Image) -> np.ndarray:
    """Squash the whole (already oriented) photo to 224×224 RGB uint8.

    Squashing rather than centre-cropping keeps every part of the frame, which is how the FI
    training images were prepared; training and scoring must use this same function.
    """
    rgb = img.convert("RGB")
    if rgb.size != (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE):
        rgb = rgb.resize((MODEL_INPUT_SIZE, MODEL_INPUT_SIZE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(rgb, dtype=np.uint8)


def load_model_input(path: str | Path) -> np.ndarray:
    """Open a photo file (JPEG draft decode, EXIF orientation applied) as a model input."""
    with Image.open(path) as img:
        img.draft("RGB", (MODEL_INPUT_SIZE, MODEL_INPUT_SIZE))
        oriented = ImageOps.exif_transpose(img)
        return to_model_input(oriented)
