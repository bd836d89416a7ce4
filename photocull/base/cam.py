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
"""

from __future__ import annotations

import numpy as np

GRADIENT_METHODS = ("contrast", "gradcam", "gradcam++")


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
