"""Grad-CAM of a mood head without TensorFlow: ``explain``'s default map in under a second.

The gradient methods (``contrast``, the default; ``gradcam``; ``gradcam++``: photocull.base.cam)
need two things: the backbone's last convolution map for the photo, and the gradient of the score
with respect to that map. After the map come only a global average and the head (embedding →
Dense(relu) → Dense → ×temperature), so the gradient is three small matrix products. The map comes
from the LiteRT file the scan scores with, the map added to its outputs; importing TensorFlow and
building the Keras model took 4–6 s of a cold ``explain``'s 5–9 s. Score-CAM needs only the
class's probability for masked copies of the input (photocull.base.cam.score_cam), which the same
file gives, and SmoothGrad the gradient with respect to the input, which photocull.base.backprop
computes from the same file in NumPy. tests/test_explain.py checks the maps against tf-keras-vis on the
Keras classifier (photocull.report.saliency).
"""

from __future__ import annotations

import functools

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from photocull.base.backprop import GraphGradient
from photocull.base.cam import logit_direction
from photocull.base.heads import EMBEDDING_DIM, HEADS
from photocull.base.litert import LiteRTModel, op_code, with_outputs
from photocull.base.modelfiles import model_path
from photocull.mood.adapt import NumpyHead
from photocull.mood.litert import SCORER_FILE, SLICE


def _embedding_mean(content: bytes) -> tuple[int, int]:
    """(the last convolution's map, the embedding): the input and output tensors of the global
    average that makes the embedding (found by that op, not by a converter-made name)."""
    model = schema.Model.GetRootAs(content, 0)
    graph = model.Subgraphs(0)
    outputs = {graph.Outputs(i) for i in range(graph.OutputsLength())}
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        if op_code(model, op) == schema.BuiltinOperator.MEAN and op.Outputs(0) in outputs:
            source = graph.Tensors(op.Inputs(0))
            if source.ShapeLength() == 4 and source.Shape(3) == EMBEDDING_DIM:
                return int(op.Inputs(0)), int(op.Outputs(0))
    raise ValueError(f"{SCORER_FILE} has no global average over a {EMBEDDING_DIM}-channel map")


def with_last_map(content: bytes) -> bytes:
    """The scorer file with the last convolution's map as one more output."""
    return with_outputs(content, [_embedding_mean(content)[0]])


class HeadCam:
    """One mood head's scores, last convolution maps and gradients for 224×224 RGB model inputs."""

    def __init__(self, name: str, head: NumpyHead) -> None:
        self.classes = list(HEADS[name].classes)
        self.head = head
        self.model = LiteRTModel(SCORER_FILE, threads=2, edit=with_last_map)

    @functools.cached_property
    def backbone(self) -> GraphGradient:
        """The scorer file up to the embedding as a graph NumPy runs backwards, built the first time
        SmoothGrad asks."""
        content = model_path(SCORER_FILE).read_bytes()
        return GraphGradient(content, _embedding_mean(content)[1])

    def _map(self, model_input: np.ndarray) -> np.ndarray:
        batch = np.asarray(model_input, dtype=np.float32)[None]
        (feature_map,) = (out for out in self.model.run(batch) if out.ndim == 4)
        result: np.ndarray = feature_map[0]
        return result

    def scores_and_map(self, model_input: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class probabilities, the last convolution's map [7, 7, 1280]) for one model input."""
        feature_map = self._map(model_input)
        return self.head.probabilities(feature_map.mean(axis=(0, 1))[None])[0], feature_map

    def probabilities(self, model_inputs: np.ndarray) -> np.ndarray:
        """[N, classes] for a batch of model inputs [N, 224, 224, 3] (0–255, any float values: Score-CAM's
        masked copies), run in the scorer's slices."""
        batch = np.asarray(model_inputs, dtype=np.float32)
        maps = [
            next(out for out in self.model.run(batch[start : start + SLICE]) if out.ndim == 4)
            for start in range(0, len(batch), SLICE)
        ]
        result: np.ndarray = self.head.probabilities(np.concatenate(maps).mean(axis=(1, 2)))
        return result

    def input_gradients(self, model_inputs: np.ndarray, target: int) -> np.ndarray:
        """The gradient of ``target``'s logit (the head's output before its softmax) with respect to
        each of a batch of model inputs [N, 224, 224, 3], through the backbone in NumPy."""
        return self.backbone.gradient(model_inputs, lambda embeddings: self.embedding_gradients(embeddings, target))

    def embedding_gradients(self, embeddings: np.ndarray, target: int, other: int | None = None) -> np.ndarray:
        """The gradient of ``logit[target]`` (minus ``logit[other]``, if given) with respect to each of
        a batch of embeddings [N, 1280]: through the head's output layer and its hidden ReLU."""
        head = self.head
        d_logits = logit_direction(len(self.classes), target, other)
        active = embeddings @ head.hidden_w + head.hidden_b > 0
        result: np.ndarray = ((head.logits_w @ d_logits) * head.temperature * active) @ head.hidden_w.T
        return result

    def logits(self, feature_map: np.ndarray) -> np.ndarray:
        """The head's outputs before its softmax, the scores Grad-CAM differentiates."""
        head = self.head
        result: np.ndarray = (head.hidden(feature_map.mean(axis=(0, 1))[None]) @ head.logits_w + head.logits_b)[0]
        return result * head.temperature

    def gradient(self, feature_map: np.ndarray, target: int, other: int | None = None) -> np.ndarray:
        """The gradient of ``logit[target]`` (minus ``logit[other]``, if given) with respect to one
        cell of ``feature_map``: the embedding's through the head, over the number of cells."""
        embedding = feature_map.mean(axis=(0, 1))[None]
        result: np.ndarray = self.embedding_gradients(embedding, target, other)[0]
        return result / (feature_map.shape[0] * feature_map.shape[1])
