"""Grad-CAM of a face head without TensorFlow: ``explain --model expression|smile|eyes`` in a second.

Each face head ends its network the same way: the last convolution's map, an optional max pool, a
global mean and one dense layer. The gradient methods (photocull.base.cam) weigh the map's channels
by the mean gradient of the score over the map's cells; through the mean (and a max pool, which
passes each window's gradient to exactly one cell) that mean is the dense layer's weights over the
number of cells, whatever the photo. So the map comes from the LiteRT file the scan runs, the map
added to its outputs, and the weights from the same file; tests/test_faces.py checks the result
against tf-keras-vis on the Keras heads. Score-CAM runs the same file on masked copies of the cut,
and SmoothGrad its gradient with respect to the cut, computed from the file in NumPy
(photocull.base.backprop).
"""

from __future__ import annotations

import functools

import numpy as np

from photocull.base.backprop import GraphGradient
from photocull.base.heads import FACE_HEADS
from photocull.base.litert import LiteRTModel, pooled_dense, with_outputs
from photocull.base.modelfiles import model_path


class FaceCam:
    """One face head's scores, last convolution maps and gradients for single cuts (face crop or eye
    patch, [H, W, 1])."""

    def __init__(self, name: str) -> None:
        spec = FACE_HEADS[name]
        self.classes = list(spec.classes)
        content = model_path(spec.litert_file).read_bytes()
        source, logits, self.weights = pooled_dense(content)
        self.model = LiteRTModel(spec.litert_file, edit=functools.partial(with_outputs, tensors=[source, logits]))
        self.network = GraphGradient(content, logits)

    def run(self, cut: np.ndarray) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """(class → probability, the last convolution's map [h, w, channels], the logits) for one cut."""
        probabilities, feature_map, logits = (out[0] for out in self.model.run(np.asarray(cut, np.float32)[None]))
        if len(probabilities) == 1:  # one output: the probability of the second class
            probabilities = np.array([1.0 - probabilities[0], probabilities[0]])
        return {c: float(p) for c, p in zip(self.classes, probabilities)}, feature_map, logits

    def probabilities(self, cuts: np.ndarray) -> np.ndarray:
        """[N, classes] for a batch of cuts [N, H, W, 1] (Score-CAM's masked copies of one)."""
        probabilities: np.ndarray = self.model.run(np.asarray(cuts, np.float32))[0]
        if probabilities.shape[1] == 1:
            return np.concatenate([1.0 - probabilities, probabilities], axis=1)
        return probabilities

    def input_gradients(self, cuts: np.ndarray, target: int) -> np.ndarray:
        """The gradient of ``target``'s logit (one logit: its sign, as ``score``) with respect to each
        of a batch of cuts [N, H, W, 1]."""
        direction = np.zeros((len(cuts), len(self.weights)), np.float32)
        if len(self.weights) == 1:
            direction[:, 0] = 1.0 if target == 1 else -1.0
        else:
            direction[:, target] = 1.0
        return self.network.gradient(cuts, lambda _: direction)

    def score(self, logits: np.ndarray, target: int) -> float:
        """The score Grad-CAM++ differentiates: the class's logit (one logit: its sign)."""
        if len(logits) == 1:
            return float(logits[0]) if target == 1 else -float(logits[0])
        return float(logits[target])

    def gradient(self, feature_map: np.ndarray, target: int, other: int | None = None) -> np.ndarray:
        """The gradient of ``target``'s logit (minus ``other``'s, if given; one logit: its sign) with
        respect to one cell of ``feature_map``."""
        if len(self.weights) == 1:
            direction = self.weights[0] * (1.0 if target == 1 else -1.0)
        else:
            direction = self.weights[target] - (self.weights[other] if other is not None else 0.0)
        result: np.ndarray = direction / (feature_map.shape[0] * feature_map.shape[1])
        return result
