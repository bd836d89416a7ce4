"""Which explainer draws a map, and what every explainer shares, without importing TensorFlow.

Every method's map comes from the LiteRT files the scan runs and NumPy (photocull.base.cam; the
input gradients SmoothGrad needs from photocull.base.backprop): photocull.mood.cam for a mood model,
photocull.faces.cam for a face head (photocull.report.face_saliency). ``photocull explain PHOTO``
then starts in about a second (SmoothGrad in about three) instead of the 4–10 s that importing
TensorFlow and building the Keras model took. The Keras explainers of photocull.report.saliency
remain the reference the tests compare these maps with, and the sanity script's models.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from photocull.base.cam import method_map
from photocull.base.errors import PhotocullError
from photocull.base.heads import HEADS
from photocull.base.modelfiles import WHAT_TO_DO
from photocull.mood.adapt import head_in_use, head_version
from photocull.mood.cam import HeadCam
from photocull.report.panel import Explanation, resize_map
from photocull.scan.model_input import load_model_input, to_model_input
from photocull.scan.read import UnreadablePhoto, read_preview

METHODS = ("contrast", "gradcam++", "gradcam", "saliency", "scorecam")
# The default: the only method whose maps pass both sanity checks on real photos (README, "Explanations
# you can trust"; scripts/sanity_saliency.py). Grad-CAM++ barely depends on the head or the class.
DEFAULT_METHOD = "contrast"
DISPLAY_SIZE = 512  # long side of the rendered photo and of the map


def explainer(model: str, method: str = DEFAULT_METHOD) -> LiteRTExplainer:
    """The process-wide explainer of a mood ``model`` (every ``method``), with the head the scan
    scores with (the person's adapted one, if any: photocull.mood.adapt.head_in_use); a newly
    adapted head gets a new explainer."""
    check_model(model)
    check_method(method)
    return litert_explainer(model, head_version(HEADS[model]))


@functools.cache
def litert_explainer(model: str, version: str = "shipped") -> LiteRTExplainer:
    """The TensorFlow-free explainer of ``model``, loaded once per ``version`` of its head
    (``head_version``'s: the key that makes a newly adapted head load a new explainer)."""
    try:
        return LiteRTExplainer(model)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise PhotocullError(f"cannot load the {model} model: {exc}. {WHAT_TO_DO}") from exc


class LiteRTExplainer:
    """A mood head's maps and scores from LiteRT and numpy: the Keras explainer's, to float rounding
    (tests/test_explain.py), without TensorFlow."""

    def __init__(self, model: str) -> None:
        self.name = model
        self.cam = HeadCam(model, head_in_use(HEADS[model]))
        self.classes = self.cam.classes

    def scores(self, model_input: np.ndarray) -> dict[str, float]:
        """Class probabilities, equal to the scan's scores for this input."""
        probabilities, _ = self.cam.scores_and_map(model_input)
        return {c: float(p) for c, p in zip(self.classes, probabilities)}

    def explain(
        self,
        model_input: np.ndarray,
        map_size: tuple[int, int],
        *,
        class_name: str | None = None,
        method: str = DEFAULT_METHOD,
        against: str | None = None,
    ) -> Explanation:
        """Why ``class_name`` (default: the top class); for ``contrast``, rather than ``against``
        (default: the runner-up)."""
        check_method(method)
        probabilities, feature_map = self.cam.scores_and_map(model_input)
        scores = {c: float(p) for c, p in zip(self.classes, probabilities)}
        target = chosen_class(self.name, scores, class_name)
        other = contrasted(self.name, scores, target, method, against)
        t, o = self.classes.index(target), None if other is None else self.classes.index(other)
        seed = np.asarray(model_input, np.float32)
        raw = method_map(self.cam, method, seed, feature_map, t, o, float(self.cam.logits(feature_map)[t]))
        return Explanation(resize_map(raw, map_size), target, scores, method, self.name, other)


def chosen_class(model: str, scores: dict[str, float], class_name: str | None) -> str:
    """The class to explain: ``class_name``, checked, or the model's top class."""
    target = class_name if class_name is not None else max(scores, key=lambda c: scores[c])
    if target not in scores:
        raise PhotocullError(f"unknown class {target!r} for model {model}: choose one of {', '.join(scores)}")
    return target


def contrast_class(model: str, scores: dict[str, float], target: str, against: str | None) -> str:
    """The class a contrast map weighs ``target`` against: ``against``, checked, or the runner-up."""
    other = against if against is not None else runner_up(scores, target)
    if other not in scores or other == target:
        raise PhotocullError(f"cannot contrast {target!r} with {other!r}: choose another class of {model}")
    return other


def contrasted(
    model: str, scores: dict[str, float], target: str, method: str, against: str | None = None
) -> str | None:
    """The class a ``contrast`` map weighs ``target`` against (``contrast_class``); None for the other methods."""
    return contrast_class(model, scores, target, against) if method == "contrast" else None


def runner_up(scores: dict[str, float], target: str) -> str:
    """The class a contrastive map explains ``target`` against: the most probable other one."""
    return max((c for c in scores if c != target), key=lambda c: scores[c])


def check_method(method: str) -> None:
    if method not in METHODS:
        raise PhotocullError(f"unknown explanation method {method!r}: choose one of {', '.join(METHODS)}")


def check_model(model: str) -> None:
    if model not in HEADS:
        raise PhotocullError(f"unknown model {model!r}: choose one of {', '.join(HEADS)}")


def display_image(img: Image.Image, size: int = DISPLAY_SIZE) -> Image.Image:
    """An RGB copy no longer than ``size`` on its long side, never enlarged."""
    shown = img.convert("RGB")
    shown.thumbnail((size, size), Image.Resampling.LANCZOS)
    return shown


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn a photo that cannot be read into a PhotocullError naming it."""
    try:
        yield
    except UnreadablePhoto as exc:
        raise PhotocullError(f"cannot explain {path}: {exc}") from None
    except OSError as exc:
        raise PhotocullError(f"cannot explain {path}: {exc.strerror or exc}") from None


def load_photo(path: str | Path) -> tuple[np.ndarray, Image.Image]:
    """The model input exactly as a scan makes it (so scores match the stored ones) and an upright
    display image; an unreadable file becomes a PhotocullError naming it."""
    with reading(path):
        model_input = load_model_input(path)
        shown = display_image(read_preview(str(path), draft_size=(DISPLAY_SIZE, DISPLAY_SIZE)).image)
    return model_input, shown


def explain_photo(
    path: str | Path, *, model: str = "happy-sad", class_name: str | None = None, method: str = DEFAULT_METHOD
) -> Explanation:
    """Explain one photo file for ``class_name`` (default: the model's top class)."""
    chosen = explainer(model, method)
    model_input, shown = load_photo(path)
    return chosen.explain(model_input, shown.size, class_name=class_name, method=method)


def explain_image(
    img: Image.Image, *, model: str = "happy-sad", class_name: str | None = None, method: str = DEFAULT_METHOD
) -> Explanation:
    """Explain an upright in-memory photo; the map has the size ``display_image(img)`` would have."""
    chosen = explainer(model, method)
    return chosen.explain(to_model_input(img), display_image(img).size, class_name=class_name, method=method)
