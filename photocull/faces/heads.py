"""Reading each face: its expression (FER-2013's seven), whether it smiles, whether its eyes are closed.

Three small CNNs trained by this project (cards in models/): smile and eyes
(scripts/train_face_heads.py), expression (scripts/train_expression.py, on histogram-equalized
faces, so it reads its crops equalized too). They run on LiteRT in the scan's decoding processes,
one thread each, and read the cuts of photocull.faces.crops, the same the training scripts cut.
A face's eyes-closed probability is the mean of its two eyes': a blink closes both, and one patch
cut badly (a face turned aside) should not decide alone. The smile probability stacks
the smile head with the expression head's "happy" (trained on 28,000 more faces)
when the smile card carries the weights (``stacking``, fitted on GENKI-4K validation faces by
scripts/stack_smile.py).
"""

from __future__ import annotations

import json

import numpy as np

from photocull.base.heads import FACE_HEADS
from photocull.base.litert import LiteRTModel
from photocull.base.modelfiles import model_path
from photocull.faces.crops import equalized

EXPRESSION_HAPPY = FACE_HEADS["expression"].classes.index("happy")


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), clipped away from 0 and 1."""
    q = np.clip(p.astype(np.float64), 1e-6, 1 - 1e-6)
    result: np.ndarray = np.log(q / (1 - q))
    return result


class FaceHeads:
    """The three face heads of one process, each loaded on first use."""

    def __init__(self, stack: bool = True) -> None:
        # in fixed slices (a face and its mirror image, one face, a pair of eyes): see LiteRTModel
        slices = {"expression": 2, "smile": 1, "eyes": 2}
        self.models = {
            name: LiteRTModel(spec.litert_file, fixed_batch=slices.get(name)) for name, spec in FACE_HEADS.items()
        }
        self._stacking: dict[str, float] | None = None if stack else {}

    @property
    def stacking(self) -> dict[str, float]:
        """The smile card's stacking weights ({} when it has none), read once."""
        if self._stacking is None:
            card = json.loads(model_path(FACE_HEADS["smile"].card_file).read_text(encoding="utf-8"))
            self._stacking = card.get("stacking", {})
        return self._stacking

    def expression(self, faces: np.ndarray) -> np.ndarray:
        """[N, 7] probabilities for [N, 48, 48] uint8 face crops: the mean of the face and its mirror
        image (measured on FER-2013's PublicTest, the mirror adds about one point of accuracy)."""
        if FACE_HEADS["expression"].equalized:
            faces = equalized(faces)
        x = faces[..., None].astype(np.float32)
        both = self.models["expression"].run(np.concatenate([x, x[:, :, ::-1]]))[0]
        result: np.ndarray = (both[: len(x)] + both[len(x) :]) / 2
        return result

    def smile(self, faces: np.ndarray, expression: np.ndarray | None = None) -> np.ndarray:
        """[N] probabilities of a smile for [N, 48, 48] uint8 face crops (``expression``: their
        expression probabilities, when already read)."""
        p = self.models["smile"].run(faces[..., None].astype(np.float32))[0][:, 0]
        w = self.stacking
        if not w:
            return np.asarray(p)
        happy = (expression if expression is not None else self.expression(faces))[:, EXPRESSION_HAPPY]
        z = w["smile_logit"] * logit(p) + w["happy_logit"] * logit(happy) + w["bias"]
        result: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return result

    def eyes_closed(self, eyes: np.ndarray) -> np.ndarray:
        """[N] probabilities that the eyes are closed, for [N, 2, 24, 24] uint8 eye patches."""
        n = len(eyes)
        p = self.models["eyes"].run(eyes.reshape(2 * n, *eyes.shape[2:], 1).astype(np.float32))[0]
        result: np.ndarray = p.reshape(n, 2).mean(axis=1)
        return result

    def read(self, faces: np.ndarray, eyes: np.ndarray) -> list[dict[str, object]]:
        """Per face: ``expression`` (class → probability), ``smile`` and ``eyes_closed`` probabilities."""
        if not len(faces):
            return []
        classes = FACE_HEADS["expression"].classes
        expression = self.expression(faces)
        smile, closed = self.smile(faces, expression), self.eyes_closed(eyes)
        return [
            {
                "expression": {c: round(float(p), 4) for c, p in zip(classes, expression[k])},
                "smile": round(float(smile[k]), 4),
                "eyes_closed": round(float(closed[k]), 4),
            }
            for k in range(len(faces))
        ]
