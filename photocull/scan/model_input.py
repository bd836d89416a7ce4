"""The one way a photo becomes a model input, shared by scanning, training and explaining."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from photocull.scan.read import read_preview

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
    """A photo file as a model input, decoded exactly as a scan decodes it (``read_preview``)."""
    return to_model_input(read_preview(str(path)).image)
