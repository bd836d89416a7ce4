"""What every mood scorer returns per photo, whatever runs the models (Keras or LiteRT)."""

from __future__ import annotations

import numpy as np

INPUT_SIZE = 224  # the models take 224×224 RGB


def check_batch(images: np.ndarray) -> np.ndarray:
    """A batch of model inputs [N, 224, 224, 3], or a ValueError that says what came instead."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ValueError(f"expected images of shape [N, {INPUT_SIZE}, {INPUT_SIZE}, 3], got {images.shape}")
    return images


def score_records(
    embeddings: np.ndarray, happy_sad: np.ndarray, emotions: np.ndarray, classes: tuple[str, ...], happy_index: int
) -> list[dict[str, object]]:
    """Per photo: ``happy`` (probability), ``emotions`` (class → probability), ``top_emotion`` and a
    float16 ``embedding`` (1280,) compact enough to store."""
    return [
        {
            "happy": float(happy_sad[i, happy_index]),
            "emotions": {c: float(emotions[i, j]) for j, c in enumerate(classes)},
            "top_emotion": classes[int(emotions[i].argmax())],
            "embedding": embeddings[i].astype(np.float16),
        }
        for i in range(len(embeddings))
    ]
