"""A scoring stage that imports TensorFlow only once a photo actually needs scoring.

Its version comes from the model cards (plain JSON), so an unchanged rescan can tell that every
photo's scores are current without paying TensorFlow's start-up.
"""

from __future__ import annotations

import json

import numpy as np

from .modelfiles import model_path
from .training import HEADS


def scorer_version() -> str:
    """The version string ``Scorer.load()`` reports: both heads' card versions."""
    cards = [json.loads(model_path(HEADS[name].card_file).read_text(encoding="utf-8")) for name in ("happy-sad", "emotion")]
    return "+".join(card["version"] for card in cards)


class DeferredScorer:
    def __init__(self) -> None:
        self.version = scorer_version()
        self._scorer = None

    def score(self, images: np.ndarray) -> list[dict]:
        if self._scorer is None:
            from .tfquiet import import_tensorflow_quietly

            import_tensorflow_quietly()
            from .scoring import Scorer

            self._scorer = Scorer.load()
        return self._scorer.score(images)
