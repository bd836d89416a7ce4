"""The registry of model heads: names, classes and files, TensorFlow-free so store and export can read it.

Adding a head is one entry here (``HEADS`` for the whole-photo mood heads, ``FACE_HEADS`` for the
heads that read one face); training, scoring, export and the CLI read this.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


# FER-2013's seven facial expressions, in its label order (0 angry … 6 neutral).
EXPRESSIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass(frozen=True)
class FaceHeadSpec:
    """A head that reads one face: its classes, the LiteRT file the scan runs, its Keras source and card.

    ``input`` says what it reads: ``face`` is the 48×48 grey face crop, ``eyes`` the two 24×24 eye
    patches (photocull.faces.crops); a binary head's one output is the probability of ``classes[1]``.
    ``equalized``: the head reads its crops histogram-equalized (photocull.faces.crops.equalized),
    as its training faces were.
    """

    name: str
    stem: str
    classes: tuple[str, ...]
    input: str
    equalized: bool = False

    @property
    def litert_file(self) -> str:
        return f"face_{self.stem}.tflite"

    @property
    def keras_file(self) -> str:
        return f"{self.stem}_head.keras"

    @property
    def card_file(self) -> str:
        return f"{self.stem}.json"


# A face counts as smiling / with its eyes closed from these probabilities on (export counts, reasons).
# Eyes: chosen on validation, 0.7% of open faces flagged and 94.5% of closed ones found (models/eyes.json).
SMILE_AT = 0.5
EYES_CLOSED_AT = 0.7


def is_smiling(face: Mapping[str, Any]) -> bool:
    """Whether a stored face (an export ``faces`` item) counts as smiling; unread counts as not."""
    return bool((face.get("smile") or 0.0) >= SMILE_AT)


def has_eyes_closed(face: Mapping[str, Any]) -> bool:
    """Whether a stored face counts as having its eyes closed; unread counts as open."""
    return bool((face.get("eyes_closed") or 0.0) >= EYES_CLOSED_AT)


FACE_HEADS = {
    "expression": FaceHeadSpec("expression", "expression", EXPRESSIONS, "face", equalized=True),
    "smile": FaceHeadSpec("smile", "smile", ("non_smile", "smile"), "face"),
    "eyes": FaceHeadSpec("eyes", "eyes", ("open", "closed"), "eyes"),
}
