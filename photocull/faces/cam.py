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
from photocull.base.cam import logit_direction
from photocull.base.heads import FACE_HEADS
from photocull.base.litert import LiteRTModel, pooled_dense, with_outputs
from photocull.base.modelfiles import model_path


def _two_classes(probabilities: np.ndarray) -> np.ndarray:
    """[N, classes] from a head's outputs: a one-output head's is the probability of the second class."""
    if probabilities.shape[1] == 1:
        return np.concatenate([1.0 - probabilities, probabilities], axis=1)
    return probabilities


class FaceCam:
    """One face head's scores, last convolution maps and gradients for single cuts (face crop or eye
    patch, [H, W, 1])."""

    def __init__(self, name: str) -> None:
        spec = FACE_HEADS[name]
        self.classes = list(spec.classes)
        source, logits, self.weights = pooled_dense(model_path(spec.litert_file).read_bytes())
        self.model = LiteRTModel(spec.litert_file, edit=functools.partial(with_outputs, tensors=[source, logits]))
        self._file, self._logits = spec.litert_file, logits

    @functools.cached_property
    def network(self) -> GraphGradient:
        """The head's file as a graph NumPy runs backwards, built the first time SmoothGrad asks."""
        return GraphGradient(model_path(self._file).read_bytes(), self._logits)

    def run(self, cut: np.ndarray) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
        """(class → probability, the last convolution's map [h, w, channels], the logits) for one cut."""
        probabilities, feature_map, logits = (out[0] for out in self.model.run(np.asarray(cut, np.float32)[None]))
        probabilities = _two_classes(probabilities[None])[0]
        return {c: float(p) for c, p in zip(self.classes, probabilities)}, feature_map, logits

    def probabilities(self, cuts: np.ndarray) -> np.ndarray:
        """[N, classes] for a batch of cuts [N, H, W, 1] (Score-CAM's masked copies of one)."""
        return _two_classes(self.model.run(np.asarray(cuts, np.float32))[0])

    def direction(self, target: int, other: int | None = None) -> np.ndarray:
        """The score over the logits every method differentiates: ``target``'s logit, minus ``other``'s
        if given; a one-logit head's logit is already the difference, so it is only signed."""
        if len(self.weights) == 1:
            return np.array([1.0 if target == 1 else -1.0], np.float32)
        return logit_direction(len(self.weights), target, other)

    def input_gradients(self, cuts: np.ndarray, target: int) -> np.ndarray:
        """The gradient of ``target``'s logit (``direction``) with respect to each of a batch of cuts [N, H, W, 1]."""
        return self.network.gradient(cuts, lambda logits: np.broadcast_to(self.direction(target), logits.shape))

    def score(self, logits: np.ndarray, target: int) -> float:
        """The score Grad-CAM++ differentiates: the class's logit (one logit: its sign)."""
        return float(self.direction(target) @ logits)

    def gradient(self, feature_map: np.ndarray, target: int, other: int | None = None) -> np.ndarray:
        """The gradient of ``target``'s logit (minus ``other``'s, if given; one logit: its sign) with
        respect to one cell of ``feature_map``."""
        result: np.ndarray = (self.direction(target, other) @ self.weights) / (
            feature_map.shape[0] * feature_map.shape[1]
        )
        return result
