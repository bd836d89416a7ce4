"""The registry of model heads: names, classes and files, TensorFlow-free so store and export can read it.

Adding a head (faces, later) is one entry here; training, scoring, export and the CLI read this.
"""

from __future__ import annotations

from dataclasses import dataclass

EMBEDDING_DIM = 1280  # the MobileNetV2 backbone's pooled embedding, stored per photo and fed to every head
EMOTIONS = ("amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear", "sadness")
# FI's eight emotions folded into valence (Mikels' positive / negative split used by You et al.).
VALENCE = {
    "amusement": "happy",
    "awe": "happy",
    "contentment": "happy",
    "excitement": "happy",
    "anger": "sad",
    "disgust": "sad",
    "fear": "sad",
    "sadness": "sad",
}


@dataclass(frozen=True)
class HeadSpec:
    """What a named head predicts and where its files go."""

    name: str
    stem: str
    classes: tuple[str, ...]
    version: str
    augment_copies: int

    @property
    def head_file(self) -> str:
        return f"{self.stem}_head.keras"

    @property
    def card_file(self) -> str:
        return f"{self.stem}.json"


HEADS = {
    "happy-sad": HeadSpec("happy-sad", "happy_sad", ("sad", "happy"), "hs-1", augment_copies=4),
    "emotion": HeadSpec("emotion", "emotion", EMOTIONS, "emo-1", augment_copies=2),
}
