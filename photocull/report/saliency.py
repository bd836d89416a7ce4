"""The reference explainers: tf-keras-vis on the Keras classifiers, with TensorFlow.

``explain`` draws every map without TensorFlow (photocull.report.maps, photocull.report.face_saliency);
these are the maps the tests compare its maps with, and the models scripts/sanity_saliency.py
randomises. Each classifier's final softmax is made linear so gradients follow the class logit
instead of saturating, as in ``explain``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from photocull.base.cam import SCORECAM_CHANNELS, noisy_copies
from photocull.base.errors import PhotocullError
from photocull.base.heads import FACE_HEADS, HEADS
from photocull.base.modelfiles import WHAT_TO_DO, model_path
from photocull.mood.adapt import head_in_use
from photocull.mood.tfquiet import import_tensorflow_quietly
from photocull.report.maps import (
    DEFAULT_METHOD,
    check_method,
    check_model,
    chosen_class,
    contrast_class,
    contrasted,
)
from photocull.report.panel import Explanation, resize_map

import_tensorflow_quietly()

import keras  # noqa: E402

with warnings.catch_warnings():  # tf-keras-vis 0.8.7 imports zoom from a deprecated scipy namespace
    warnings.simplefilter("ignore", DeprecationWarning)
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import BinaryScore, CategoricalScore

from photocull.mood.backbone import LAST_CONV_LAYER  # noqa: E402
from photocull.mood.scoring import load_classifier  # noqa: E402


class Explainer:
    """One classifier made ready for explaining; build once per process (see ``get_explainer``).

    The explainer owns ``classifier``: its softmax (or, for a one-output head, its sigmoid) is
    swapped for a linear activation in place (no clone, so a second photo costs only the
    explaining itself). ``penultimate`` names the conv activation the CAM methods weigh.
    """

    def __init__(
        self, classifier: keras.Model, classes: Sequence[str], name: str, penultimate: str = LAST_CONV_LAYER
    ) -> None:
        ReplaceToLinear()(classifier)
        self.model = classifier
        self.classes = list(classes)
        self.name = name
        self.penultimate = penultimate
        self.binary = classifier.output_shape[-1] == 1
        self._gradcam = GradcamPlusPlus(classifier, clone=False)
        self._gradcam_plain = Gradcam(classifier, clone=False)  # more class-specific on these heads
        self._saliency = Saliency(classifier, clone=False)
        # Score-CAM weighs by the softmax of the outputs, which for one output is always 1: a
        # one-output head is given to it as two logits, 0 and its own, whose softmax is 1 - p and p.
        self._scorecam = Scorecam(_two_logits(classifier) if self.binary else classifier, clone=False)

    def scores(self, model_input: np.ndarray) -> dict[str, float]:
        """Class probabilities (softmax of the logits), equal to the scan's scores for this input."""
        logits = np.asarray(self.model(_batch(model_input), training=False), dtype=np.float64)[0]
        if self.binary:
            p = float(1.0 / (1.0 + np.exp(-logits[0])))
            return {self.classes[0]: 1.0 - p, self.classes[1]: p}
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return {c: float(p) for c, p in zip(self.classes, probs)}

    def explain(
        self,
        model_input: np.ndarray,
        map_size: tuple[int, int],
        *,
        class_name: str | None = None,
        method: str = DEFAULT_METHOD,
        against: str | None = None,
    ) -> Explanation:
        """Explain one 224×224 model input; the map is resized to ``map_size`` (width, height)."""
        raw, target, scores = self.raw_map(model_input, class_name=class_name, method=method, against=against)
        other = self.contrasted(scores, target, method, against)
        return Explanation(resize_map(raw, map_size), target, scores, method, self.name, other)

    def contrasted(self, scores: dict[str, float], target: str, method: str, against: str | None = None) -> str | None:
        """The class a ``contrast`` map weighs ``target`` against (None for the other methods): of
        two classes, the other one."""
        return contrasted(self.name, scores, target, method, against)

    def raw_map(
        self,
        model_input: np.ndarray,
        *,
        class_name: str | None = None,
        method: str = DEFAULT_METHOD,
        against: str | None = None,
    ) -> tuple[np.ndarray, str, dict[str, float]]:
        """The map over the model input itself (the CAM methods: at the penultimate layer's
        resolution), the class it explains and every class's probability. ``contrast`` explains
        the class against ``against`` (default: the runner-up)."""
        check_method(method)
        scores = self.scores(model_input)
        target = chosen_class(self.name, scores, class_name)
        if self.binary and method == "scorecam":
            score: Callable[[Any], Any] = CategoricalScore(self.classes.index(target))
        elif self.binary:
            score = BinaryScore(target == self.classes[1])
        elif method == "contrast":
            other = contrast_class(self.name, scores, target, against)
            score = _contrast_score(self.classes.index(target), self.classes.index(other))
        else:
            score = CategoricalScore(self.classes.index(target))
        return self._raw_map(_batch(model_input), score, method), target, scores

    def _raw_map(self, x: np.ndarray, score: Callable[[Any], Any], method: str) -> np.ndarray:
        with _quiet():
            if method in ("gradcam++", "gradcam", "contrast"):
                explainer = self._gradcam if method == "gradcam++" else self._gradcam_plain
                cam = explainer(
                    score,
                    x,
                    penultimate_layer=self.penultimate,
                    seek_penultimate_conv_layer=False,
                    expand_cam=False,
                    normalize_cam=False,
                    # contrast keeps the sign: where the evidence is for the class (high) and where for
                    # the other one (low). Grad-CAM's ReLU would leave an empty map whenever the head's
                    # bias, not a region, carries the difference (28 of 150 photos in the sanity run).
                    **({"activation_modifier": None} if method == "contrast" else {}),
                )
                return np.asarray(cam)[0]
            if method == "scorecam":
                cam = self._scorecam(
                    score,
                    x,
                    penultimate_layer=self.penultimate,
                    seek_penultimate_conv_layer=False,
                    max_N=min(SCORECAM_CHANNELS, int(self.model.get_layer(self.penultimate).output.shape[-1])),
                    expand_cam=False,
                    normalize_cam=False,
                )
                return np.asarray(cam)[0]
            return self._smoothgrad(x, score)

    def _smoothgrad(self, x: np.ndarray, score: Callable[[Any], Any]) -> np.ndarray:
        """SmoothGrad as tf-keras-vis computes it (mean |gradient| over noisy copies, then max over
        channels), but with the copies in one batch (4× faster than its per-sample loop) and noise
        from a fixed seed, so the same photo always gives the same map."""
        grads = self._saliency(score, noisy_copies(x), keepdims=True, normalize_map=False)
        return np.asarray(grads).mean(axis=0).max(axis=-1)


def _two_logits(classifier: keras.Model) -> keras.Model:
    """A one-logit classifier as a two-logit one, [0, logit]: the softmax of those is [1 - p, p]."""
    logit = classifier.output
    return keras.Model(classifier.inputs, keras.layers.Concatenate()([logit * 0.0, logit]))


def _contrast_score(target: int, other: int) -> Callable[[Any], Any]:
    """Grad-CAM's score for "why ``target`` rather than ``other``": the difference of their logits.
    With one shared embedding, a class's own logit mostly tracks where the backbone fires; the
    difference keeps only the evidence that separates the two (scripts/sanity_saliency.py)."""

    def score(output: Any) -> Any:
        return output[:, target] - output[:, other]

    return score


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide Keras' predict progress bar (Score-CAM) and its input-structure warning (tf-keras-vis
    passes the single input as a list)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        yield


def _batch(model_input: np.ndarray) -> np.ndarray:
    return np.asarray(model_input, dtype=np.float32)[None]


@functools.cache
def get_explainer(model: str = "happy-sad", version: str = "shipped") -> Explainer:
    """The process-wide explainer for one model, loaded on first use (loading costs ~2 s), with the
    head the scan scores with (``version``: photocull.mood.adapt.head_version's, which keys the cache)."""
    check_model(model)
    try:
        classifier, classes = load_classifier(model)
    except (FileNotFoundError, ValueError) as exc:
        raise PhotocullError(
            f"cannot load the {model} model: {exc}. Reinstall photocull or set PHOTOCULL_MODELS to the folder with the models."
        ) from exc
    if version != "shipped":  # the person's adapted head: the same layers, its weights
        head = head_in_use(HEADS[model])
        if "hidden" in {layer.name for layer in classifier.layers}:  # else the adapted head's hidden is the identity
            classifier.get_layer("hidden").set_weights([head.hidden_w, head.hidden_b])
        classifier.get_layer("logits").set_weights([head.logits_w, head.logits_b])
    return Explainer(classifier, classes, model)


@functools.cache
def get_face_explainer(model: str) -> Explainer:
    """The process-wide Keras explainer of one face head (its Keras file), loaded on first use."""
    spec = FACE_HEADS[model]
    try:
        classifier = keras.models.load_model(model_path(spec.keras_file), compile=False)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise PhotocullError(f"cannot load the {model} head: {exc}. {WHAT_TO_DO}") from exc
    classifier.trainable = False
    return Explainer(classifier, spec.classes, model, penultimate=cam_layer(classifier))


def cam_layer(classifier: keras.Model) -> str:
    """The layer the CAM methods weigh: the network's last activation before its output (an output
    that is itself an Activation layer, the expression head's softmax, does not count; a ReLU
    layer, as MobileNetV2 has, does)."""
    inner = classifier.layers[:-1]
    kinds = (keras.layers.Activation, keras.layers.ReLU)
    return str([layer.name for layer in inner if isinstance(layer, kinds)][-1])
