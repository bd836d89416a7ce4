"""Scoring photos at scan time with LiteRT: the Keras scorer converted to one float32 ``.tflite`` file.

A scan never imports TensorFlow: LiteRT loads the file in a fraction of a second and takes a few
hundred MB less memory, and its outputs match the Keras models within 1e-5
(``scripts/convert_litert.py`` makes the file and checks that; ``tests/test_litert.py`` too).
The Keras models stay for training and ``explain``.
"""

from __future__ import annotations

import functools

import numpy as np

from photocull.base.heads import EMBEDDING_DIM, HEADS
from photocull.base.litert import LiteRTModel
from photocull.mood.adapt import NumpyHead, head_version, user_head_path
from photocull.mood.files import scorer_version
from photocull.mood.records import check_batch, score_records

SCORER_FILE = "photocull_scorer.tflite"
THREADS = 2
SLICE = 8  # photos per LiteRT call


_THIS_PROCESS: dict[str, LiteRTScorer] = {}


def worker_scorer(version: str) -> LiteRTScorer:
    """The scorer of this decoding process, loaded once per ``version`` of the scores (the main
    process's: it names any head the person adapted, so a new one loads a new scorer): one thread,
    since the workers fill the cores."""
    if version not in _THIS_PROCESS:
        _THIS_PROCESS.clear()
        _THIS_PROCESS[version] = LiteRTScorer(threads=1)
    return _THIS_PROCESS[version]


class LiteRTScorer:
    """Scores uint8 RGB photos [N, 224, 224, 3]: happy probability, the 8 emotions, the embedding.

    A scan runs it inside its decoding processes (``worker_factory``): each worker scores the photos
    it decodes, so decoding never waits on inference and no image array crosses a process boundary.
    """

    def __init__(self, threads: int = THREADS) -> None:
        # heads the person adapted to their corrections (``models train NAME --from-feedback``)
        self.user_heads = {
            name: NumpyHead.load(path)
            for name in ("happy-sad", "emotion")
            if (path := user_head_path(HEADS[name])).exists()
        }
        self.version = scorer_version() + "".join(
            f"+{name}:{head_version(HEADS[name])}" for name in sorted(self.user_heads)
        )
        self.threads = threads
        # picklable: what each decoding process calls to get its own scorer of these scores
        self.worker_factory = functools.partial(worker_scorer, self.version)
        self.model = LiteRTModel(SCORER_FILE, threads)
        self.emotions = HEADS["emotion"].classes
        self.happy_index = HEADS["happy-sad"].classes.index("happy")

    def prepare(self) -> None:
        """Load the model file (about 0.2 s); scoring calls this itself when needed."""
        self.model.load()

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings, happy/sad probabilities, emotion probabilities), run in slices of ``SLICE`` photos.

        A slice of 8 keeps LiteRT's tensor arena small (a batch of 64 needs about 450 MB more) at
        the same throughput; only the last slice of a batch may be smaller.
        """
        parts = [self._run(images[s : s + SLICE]) for s in range(0, len(images), SLICE)]
        emb, hs, emo = (np.concatenate(column) for column in zip(*parts))
        return emb, hs, emo

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        by_width = {int(out.shape[-1]): out for out in self.model.run(images.astype(np.float32))}
        emb = by_width[EMBEDDING_DIM]
        hs, emo = by_width[len(HEADS["happy-sad"].classes)], by_width[len(self.emotions)]
        if "happy-sad" in self.user_heads:
            hs = self.user_heads["happy-sad"].probabilities(emb)
        if "emotion" in self.user_heads:
            emo = self.user_heads["emotion"].probabilities(emb)
        return emb, hs, emo

    def score(self, images: np.ndarray) -> list[dict[str, object]]:
        """Score a batch in one call; the same records as the Keras ``Scorer.score``."""
        images = check_batch(images)
        if len(images) == 0:
            return []
        return score_records(*self.outputs(images), self.emotions, self.happy_index)
