"""A scoring stage that imports TensorFlow only once photos actually need scoring.

Its version comes from the model cards (plain JSON), so an unchanged rescan can tell that every
photo's scores are current without paying TensorFlow's start-up; and when photos do need scoring,
``prepare()`` loads the models on a background thread while the workers are already decoding.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from photocull.base.errors import PhotocullError
from photocull.mood.files import WHAT_TO_DO, scorer_version

if TYPE_CHECKING:  # importing scoring loads TensorFlow: only when photos need scoring
    from photocull.mood.scoring import Scorer


class DeferredScorer:
    def __init__(self) -> None:
        self.version = scorer_version()
        self._scorer: Scorer | None = None
        self._error: BaseException | None = None
        self._loader: threading.Thread | None = None

    def prepare(self) -> None:
        """Start loading the models in the background (idempotent)."""
        if self._loader is None and self._scorer is None:
            self._loader = threading.Thread(target=self._load, name="photocull-model-loader", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        try:
            from photocull.mood.tfquiet import import_tensorflow_quietly

            import_tensorflow_quietly()
            from photocull.mood.scoring import Scorer

            self._scorer = Scorer.load()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the scanning thread by score()
            self._error = exc

    def score(self, images: np.ndarray) -> list[dict]:
        self.prepare()
        if self._loader is not None:
            self._loader.join()
        if isinstance(self._error, (OSError, ValueError, KeyError)):
            raise PhotocullError(f"cannot load the models: {self._error}. {WHAT_TO_DO}") from self._error
        if self._error is not None:
            raise self._error
        assert self._scorer is not None  # loaded, or an error was raised above
        return self._scorer.score(images)
