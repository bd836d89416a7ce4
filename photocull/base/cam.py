"""Class activation maps from a last convolution map and the score's gradient, without TensorFlow.

Every head photocull explains ends map → [max pool] → global mean → dense layers, so the gradient of
a class score with respect to each cell of the map is the same in every cell: the embedding's
gradient over the number of cells (a max pool passes each window's gradient to exactly one cell, so
the mean over the cells is the same). The methods tf-keras-vis computes from gradients at that map
then reduce to one weighted sum of the map's channels (photocull.mood.cam, photocull.faces.cam;
tests compare them with tf-keras-vis on the Keras models):

- ``contrast``: Grad-CAM of one class's logit minus another's, its sign kept;
- ``gradcam``: Grad-CAM of the class's logit, negative evidence cut (ReLU);
- ``gradcam++``: Grad-CAM++, whose weights for a gradient constant over the cells come to the
  positive part of that gradient times e^score (the factor matters where two maps are joined, as
  the two eyes' are). Behind a max pool the gradient sits in one cell of each window, and
  tf-keras-vis's map comes out larger by the window's area: the same map once scaled to 0..1.

Score-CAM needs no gradient at all (``score_cam``): it weighs the map's channels by the class's
probability for the input masked by each channel, so it runs on the same LiteRT files too. SmoothGrad
(``smooth_grad``) needs the score's gradient with respect to the input, through the whole network:
photocull.base.backprop computes it from the same files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from photocull.base.backprop import bilinear_matrix

GRADIENT_METHODS = ("contrast", "gradcam", "gradcam++")
# Faster Score-CAM: the channels of the most varied maps only (tf-keras-vis's ``max_N``). With 64 of
# MobileNetV2's 1280 the map correlated .85-.97 with full Score-CAM (chelsea, astronaut) at a twentieth of the cost.
SCORECAM_CHANNELS = 64
SCORECAM_SLICE = 8  # masked inputs per model call
_EPSILON = 1e-7  # Keras' epsilon, which tf-keras-vis adds to the masks' range
SMOOTH_SAMPLES = 20
SMOOTH_NOISE = 0.2  # SmoothGrad's noise σ as a fraction of the input's value range (tf-keras-vis default)
NOISE_SEED = 0
SMOOTH_SLICE = 2  # noisy copies per backward pass: larger slices were slower (memory), 2.1 s for 20 at 224 px


def class_map(feature_map: np.ndarray, gradient: np.ndarray, method: str, score: float = 0.0) -> np.ndarray:
    """The map [h, w] of ``method`` over ``feature_map`` [h, w, channels], given the score's
    gradient with respect to one cell of it [channels] and (for ``gradcam++``) the score itself."""
    if method == "contrast":
        cam = feature_map @ gradient
    elif method == "gradcam":
        cam = np.maximum(feature_map @ gradient, 0.0)
    elif method == "gradcam++":
        cam = np.maximum(feature_map @ np.maximum(gradient, 0.0), 0.0) * np.exp(min(score, 80.0))
    else:
        raise ValueError(f"{method!r} needs gradients through the whole network: one of {GRADIENT_METHODS}")
    result: np.ndarray = cam.astype(np.float32)
    return result


def upsampled(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``maps`` [h, w, n] resized to ``size`` (height, width) by linear interpolation with corners
    aligned, as ``scipy.ndimage.zoom(order=1)`` resizes them for tf-keras-vis (without SciPy)."""
    rows = bilinear_matrix(maps.shape[0], size[0], align_corners=True, half_pixel=False)
    columns = bilinear_matrix(maps.shape[1], size[1], align_corners=True, half_pixel=False)
    out = np.einsum("hH,HWn,wW->hwn", rows, maps.astype(np.float64), columns, optimize=True)
    result: np.ndarray = out.astype(np.float32)
    return result


def logit_direction(classes: int, target: int, other: int | None = None) -> np.ndarray:
    """The score every method differentiates, as a direction over ``classes`` logits: ``target``'s
    logit, minus ``other``'s if given (a contrast map)."""
    result = np.zeros(classes, np.float32)
    result[target] = 1.0
    if other is not None:
        result[other] -= 1.0
    return result


def score_cam(
    feature_map: np.ndarray,
    seed: np.ndarray,
    probability: Callable[[np.ndarray], np.ndarray],
    channels: int = SCORECAM_CHANNELS,
) -> np.ndarray:
    """Faster Score-CAM of one input, as tf-keras-vis computes it, at ``feature_map``'s resolution.

    ``feature_map`` [h, w, c] is the last convolution's map for ``seed`` [H, W, bands] (the model's
    input); ``probability`` gives the explained class's probability for a batch of inputs [N, H, W, bands].
    The ``channels`` maps that vary most are each scaled to the input's size and to 0..1 and laid
    over the input as a mask; each channel weighs as much as the class's probability for its masked
    input, and the map is the ReLU of the weighted sum of those channels.
    """
    if channels < feature_map.shape[-1]:
        spread = feature_map.reshape(-1, feature_map.shape[-1]).std(axis=0)
        feature_map = feature_map[..., np.argsort(-spread, kind="stable")[:channels]]
    masks = upsampled(feature_map, seed.shape[:2])
    low, high = masks.min(axis=(0, 1)), masks.max(axis=(0, 1))
    masks = ((masks - low) / (high - low + _EPSILON)).transpose(2, 0, 1)[..., None]
    seed = np.asarray(seed, np.float32)
    weights = np.concatenate(
        [
            probability(seed[None] * masks[start : start + SCORECAM_SLICE])
            for start in range(0, len(masks), SCORECAM_SLICE)
        ]
    )
    result: np.ndarray = np.maximum(feature_map @ weights.astype(np.float32), 0.0).astype(np.float32)
    return result


def noisy_copies(x: np.ndarray) -> np.ndarray:
    """SmoothGrad's ``SMOOTH_SAMPLES`` noisy copies of one input [1, H, W, bands]: noise of σ
    ``SMOOTH_NOISE`` times its value range, from a fixed seed, so a photo always gets the same map."""
    sigma = SMOOTH_NOISE * float(x.max() - x.min())
    noise = np.random.default_rng(NOISE_SEED).normal(0.0, sigma, (SMOOTH_SAMPLES, *x.shape[1:]))
    result: np.ndarray = x + noise.astype(np.float32)
    return result


def smooth_grad(seed: np.ndarray, gradient: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """SmoothGrad of one input [H, W, bands] as photocull's Keras explainer computes it with tf-keras-vis:
    the mean absolute gradient of the score over ``SMOOTH_SAMPLES`` noisy copies (noise from a fixed
    seed, so a photo always gets the same map), then the largest over the bands. ``gradient`` gives
    the score's gradient for a batch of inputs [N, H, W, bands]."""
    x = np.asarray(seed, np.float32)[None]
    noisy = noisy_copies(x)
    total = np.zeros(x.shape[1:], np.float64)
    for start in range(0, SMOOTH_SAMPLES, SMOOTH_SLICE):
        total += np.abs(gradient(noisy[start : start + SMOOTH_SLICE])).sum(axis=0)
    result: np.ndarray = (total / SMOOTH_SAMPLES).max(axis=-1).astype(np.float32)
    return result


class MapSource(Protocol):
    """A network a map is computed from (photocull.mood.cam.HeadCam, photocull.faces.cam.FaceCam)."""

    def probabilities(self, inputs: np.ndarray) -> np.ndarray: ...

    def input_gradients(self, inputs: np.ndarray, target: int) -> np.ndarray: ...

    def gradient(self, feature_map: np.ndarray, target: int, other: int | None = None) -> np.ndarray: ...


def method_map(
    source: MapSource,
    method: str,
    seed: np.ndarray,
    feature_map: np.ndarray,
    target: int,
    other: int | None,
    score: float,
) -> np.ndarray:
    """The raw map of ``method`` for class index ``target`` of ``source`` on one input ``seed``, whose
    last convolution map is ``feature_map``: Score-CAM and SmoothGrad at their own resolutions, the
    gradient methods at the map's. ``other`` is the class a ``contrast`` map weighs against; ``score``
    is the class's logit (Grad-CAM++ weighs by it)."""
    if method == "scorecam":
        return score_cam(feature_map, seed, lambda masked: source.probabilities(masked)[:, target])
    if method == "saliency":
        return smooth_grad(seed, lambda noisy: source.input_gradients(noisy, target))
    return class_map(feature_map, source.gradient(feature_map, target, other), method, score)
