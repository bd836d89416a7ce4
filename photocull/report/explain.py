"""Why did the model score this photo so? Heat maps of what a mood model looked at, as PNGs.

A person deciding between near-duplicates should be able to check that "happy" came from the faces,
not from a bright sky. The maps come from tf-keras-vis on the same classifier the scan uses, with
its final softmax made linear so gradients follow the class logit instead of saturating.
"""

from __future__ import annotations

import contextlib
import functools
import io
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils
from PIL import Image, ImageDraw, ImageFont

from photocull.base.atomic import atomic_write
from photocull.base.errors import PhotocullError
from photocull.groups.load import load_groups
from photocull.scan.model_input import load_model_input, to_model_input
from photocull.scan.read import UnreadablePhoto, read_preview
from photocull.store.photos import now
from photocull.mood.tfquiet import import_tensorflow_quietly  # noqa: E402
from photocull.mood.training import HEADS

import_tensorflow_quietly()

import keras  # noqa: E402

with warnings.catch_warnings():  # tf-keras-vis 0.8.7 imports zoom from a deprecated scipy namespace
    warnings.simplefilter("ignore", DeprecationWarning)
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

from photocull.mood.backbone import LAST_CONV_LAYER  # noqa: E402
from photocull.mood.scoring import load_classifier  # noqa: E402

METHODS = ("gradcam++", "gradcam", "saliency", "scorecam")
DISPLAY_SIZE = 512  # long side of the rendered photo and of the map
SMOOTH_SAMPLES = 20
SMOOTH_NOISE = 0.2  # SmoothGrad's noise σ as a fraction of the input's value range (tf-keras-vis default)
NOISE_SEED = 0
SCORECAM_MAX_N = 64  # Faster Score-CAM: the 64 most varied of 1280 channels; ~1-2.5 s, not ~25 s, and
# the map correlates .85-.97 with full Score-CAM (chelsea, astronaut)


@dataclass(frozen=True)
class Explanation:
    """One heat map and the scores it explains."""

    heatmap: np.ndarray  # float32 (height, width) in 0..1, at the photo's displayed aspect
    class_name: str
    scores: dict[str, float]  # every class of the model → probability
    method: str
    model: str


class Explainer:
    """One classifier made ready for explaining; build once per process (see ``get_explainer``).

    The explainer owns ``classifier``: its softmax is swapped for a linear activation in place (no
    clone, so a second photo costs only the explaining itself).
    """

    def __init__(self, classifier: keras.Model, classes: Sequence[str], name: str) -> None:
        ReplaceToLinear()(classifier)
        self.model = classifier
        self.classes = list(classes)
        self.name = name
        self._gradcam = GradcamPlusPlus(classifier, clone=False)
        self._gradcam_plain = Gradcam(classifier, clone=False)  # more class-specific on these heads
        self._saliency = Saliency(classifier, clone=False)
        self._scorecam = Scorecam(classifier, clone=False)

    def scores(self, model_input: np.ndarray) -> dict[str, float]:
        """Class probabilities (softmax of the logits), equal to the scan's scores for this input."""
        logits = np.asarray(self.model(_batch(model_input), training=False), dtype=np.float64)[0]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return {c: float(p) for c, p in zip(self.classes, probs)}

    def explain(self, model_input: np.ndarray, map_size: tuple[int, int], *, class_name: str | None = None,
                method: str = "gradcam++") -> Explanation:
        """Explain one 224×224 model input; the map is resized to ``map_size`` (width, height)."""
        _check_method(method)
        scores = self.scores(model_input)
        target = class_name if class_name is not None else max(scores, key=scores.get)
        if target not in scores:
            raise PhotocullError(
                f"unknown class {target!r} for model {self.name}: choose one of {', '.join(self.classes)}")
        raw = self._raw_map(_batch(model_input), CategoricalScore(self.classes.index(target)), method)
        return Explanation(_resize_map(raw, map_size), target, scores, method, self.name)

    def _raw_map(self, x: np.ndarray, score: CategoricalScore, method: str) -> np.ndarray:
        with _quiet():
            if method in ("gradcam++", "gradcam"):
                explainer = self._gradcam if method == "gradcam++" else self._gradcam_plain
                cam = explainer(score, x, penultimate_layer=LAST_CONV_LAYER, seek_penultimate_conv_layer=False,
                                    expand_cam=False, normalize_cam=False)
                return np.asarray(cam)[0]
            if method == "scorecam":
                cam = self._scorecam(score, x, penultimate_layer=LAST_CONV_LAYER, seek_penultimate_conv_layer=False,
                                     max_N=SCORECAM_MAX_N, expand_cam=False, normalize_cam=False)
                return np.asarray(cam)[0]
            return self._smoothgrad(x, score)

    def _smoothgrad(self, x: np.ndarray, score: CategoricalScore) -> np.ndarray:
        """SmoothGrad as tf-keras-vis computes it (mean |gradient| over noisy copies, then max over
        channels), but with the copies in one batch (4× faster than its per-sample loop) and noise
        from a fixed seed, so the same photo always gives the same map."""
        rng = np.random.default_rng(NOISE_SEED)
        sigma = SMOOTH_NOISE * float(x.max() - x.min())
        noisy = x + rng.normal(0.0, sigma, (SMOOTH_SAMPLES, *x.shape[1:])).astype(np.float32)
        grads = self._saliency(score, noisy, keepdims=True, normalize_map=False)
        return np.asarray(grads).mean(axis=0).max(axis=-1)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide Keras' predict progress bar (Score-CAM) and its input-structure warning (tf-keras-vis
    passes the single input as a list)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        yield


def _batch(model_input: np.ndarray) -> np.ndarray:
    return np.asarray(model_input, dtype=np.float32)[None]


def _resize_map(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Stretch a map over the squashed model input back to the photo's own aspect, scaled to 0..1."""
    resized = np.asarray(Image.fromarray(raw.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR))
    low, high = float(resized.min()), float(resized.max())
    if high <= low:
        return np.zeros(resized.shape, np.float32)
    return ((resized - low) / (high - low)).astype(np.float32)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise PhotocullError(f"unknown explanation method {method!r}: choose one of {', '.join(METHODS)}")


def _check_model(model: str) -> None:
    if model not in HEADS:
        raise PhotocullError(f"unknown model {model!r}: choose one of {', '.join(HEADS)}")


@functools.lru_cache(maxsize=None)
def get_explainer(model: str = "happy-sad") -> Explainer:
    """The process-wide explainer for one model, loaded on first use (loading costs ~2 s)."""
    _check_model(model)
    try:
        classifier, classes = load_classifier(model)
    except (FileNotFoundError, ValueError) as exc:
        raise PhotocullError(
            f"cannot load the {model} model: {exc}. Reinstall photocull or set PHOTOCULL_MODELS to the folder with the models."
        ) from exc
    return Explainer(classifier, classes, model)


def display_image(img: Image.Image, size: int = DISPLAY_SIZE) -> Image.Image:
    """An RGB copy no longer than ``size`` on its long side, never enlarged."""
    shown = img.convert("RGB")
    shown.thumbnail((size, size), Image.Resampling.LANCZOS)
    return shown


def load_photo(path: str | Path) -> tuple[np.ndarray, Image.Image]:
    """The model input exactly as a scan makes it (so scores match the stored ones) and an upright
    display image; an unreadable file becomes a PhotocullError naming it."""
    try:
        model_input = load_model_input(path)
        shown = display_image(read_preview(str(path), draft_size=(DISPLAY_SIZE, DISPLAY_SIZE)).image)
    except UnreadablePhoto as exc:
        raise PhotocullError(f"cannot explain {path}: {exc}") from None
    except OSError as exc:
        raise PhotocullError(f"cannot explain {path}: {exc.strerror or exc}") from None
    return model_input, shown


def explain_image(img: Image.Image, *, model: str = "happy-sad", class_name: str | None = None,
                  method: str = "gradcam++") -> Explanation:
    """Explain an upright in-memory photo; the map has the size ``display_image(img)`` would have."""
    _check_method(method)
    return get_explainer(model).explain(to_model_input(img), display_image(img).size, class_name=class_name,
                                        method=method)


def explain_photo(path: str | Path, *, model: str = "happy-sad", class_name: str | None = None,
                  method: str = "gradcam++") -> Explanation:
    """Explain one photo file for ``class_name`` (default: the model's top class)."""
    _check_model(model)
    _check_method(method)
    model_input, shown = load_photo(path)
    return get_explainer(model).explain(model_input, shown.size, class_name=class_name, method=method)


# --- rendering -------------------------------------------------------------------------------------

PANEL_WIDTH = 300
COLUMN_WIDTH = 360  # one group member's column
_PAD = 12
_LINE = 22
_BAR_ROW = 26
_BACKGROUND = (250, 250, 250)
_INK = (30, 30, 30)
_MUTED = (110, 110, 110)
_HIGHLIGHT = (230, 110, 20)
_BAR = (170, 170, 170)


@functools.lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def jet(values: np.ndarray) -> np.ndarray:
    """The 'jet' colormap (blue → cyan → yellow → red) of values in 0..1, as uint8 RGB."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # red, green, blue peak at 3/4, 1/2, 1/4
    return (np.clip(1.5 - np.abs(4.0 * v - centres), 0.0, 1.0) * 255).astype(np.uint8)


def overlay(heatmap: np.ndarray, photo: Image.Image) -> Image.Image:
    """The photo with the map blended in: strong where the model looked, nearly clear elsewhere."""
    rgb = photo.convert("RGB")
    if heatmap.shape != (rgb.height, rgb.width):
        heatmap = _resize_map(heatmap, rgb.size)
    alpha = (0.15 + 0.45 * heatmap)[..., None]
    blended = np.asarray(rgb, np.float32) * (1 - alpha) + jet(heatmap).astype(np.float32) * alpha
    return Image.fromarray(blended.round().astype(np.uint8))


def _panel_height(explanation: Explanation) -> int:
    return 2 * _PAD + 3 * _LINE + _PAD + len(explanation.scores) * _BAR_ROW + _PAD + 2 * _LINE


def score_panel(explanation: Explanation, width: int = PANEL_WIDTH) -> Image.Image:
    """Model, method and class explained, a bar per class (the explained one highlighted) and the colour key."""
    panel = Image.new("RGB", (width, _panel_height(explanation)), _BACKGROUND)
    draw = ImageDraw.Draw(panel)
    title, small = _font(16), _font(13)
    y = _PAD
    draw.text((_PAD, y), f"model: {explanation.model}", fill=_INK, font=title)
    draw.text((_PAD, y + _LINE), f"explains: {explanation.class_name}", fill=_HIGHLIGHT, font=title)
    draw.text((_PAD, y + 2 * _LINE), f"method: {explanation.method}", fill=_MUTED, font=small)
    y += 3 * _LINE + _PAD
    label_w, value_w = 90, 52
    bar_w = width - 2 * _PAD - label_w - value_w
    for name, score in explanation.scores.items():
        colour = _HIGHLIGHT if name == explanation.class_name else _BAR
        ink = _HIGHLIGHT if name == explanation.class_name else _INK
        draw.text((_PAD, y + 3), name, fill=ink, font=small)
        x0 = _PAD + label_w
        draw.rectangle((x0, y + 4, x0 + bar_w, y + _BAR_ROW - 6), outline=(215, 215, 215))
        draw.rectangle((x0, y + 4, x0 + max(1, round(bar_w * score)), y + _BAR_ROW - 6), fill=colour)
        draw.text((x0 + bar_w + 6, y + 3), f"{100 * score:.1f}%", fill=ink, font=small)
        y += _BAR_ROW
    y += _PAD
    key = Image.fromarray(np.repeat(jet(np.linspace(0, 1, width - 2 * _PAD))[None], 10, axis=0))
    panel.paste(key, (_PAD, y))
    draw.text((_PAD, y + 14), "ignored", fill=_MUTED, font=small)
    draw.text((width - _PAD, y + 14), "looked at", fill=_MUTED, font=small, anchor="ra")
    return panel


def render_png(explanation: Explanation, photo_image: Image.Image, out_path: str | Path) -> Path:
    """Save the overlaid photo with the score panel to its right; returns the path written."""
    shown = overlay(explanation.heatmap, photo_image)
    panel = score_panel(explanation)
    canvas = Image.new("RGB", (shown.width + panel.width, max(shown.height, panel.height)), _BACKGROUND)
    canvas.paste(shown, (0, 0))
    canvas.paste(panel, (shown.width, 0))
    return _save(canvas, out_path)


def _column(explanation: Explanation, photo: Image.Image, caption: Sequence[str]) -> Image.Image:
    """One group member: caption lines, overlaid photo scaled to the column width, score panel."""
    shown = overlay(explanation.heatmap, photo)
    shown = shown.resize((COLUMN_WIDTH, max(1, round(shown.height * COLUMN_WIDTH / shown.width))),
                         Image.Resampling.LANCZOS)
    panel = score_panel(explanation, COLUMN_WIDTH)
    top = _PAD + len(caption) * _LINE
    column = Image.new("RGB", (COLUMN_WIDTH, top + shown.height + panel.height), _BACKGROUND)
    draw = ImageDraw.Draw(column)
    for i, line in enumerate(caption):
        draw.text((0, _PAD // 2 + i * _LINE), line, fill=_INK if i == 0 else _MUTED, font=_font(15 if i == 0 else 13))
    column.paste(shown, (0, top))
    column.paste(panel, (0, top + shown.height))
    return column


def render_group_png(explanations: Sequence[Explanation], images: Sequence[Image.Image], out_path: str | Path,
                     captions: Sequence[Sequence[str]] | None = None) -> Path:
    """Save the members of a near-duplicate group side by side, each with its overlay and scores,
    so a person can see why one frame is kept over the others."""
    if len(explanations) != len(images) or not explanations:
        raise ValueError("need one image per explanation, and at least one")
    captions = captions or [[] for _ in explanations]
    columns = [_column(e, img, cap) for e, img, cap in zip(explanations, images, captions)]
    canvas = Image.new("RGB", (len(columns) * (COLUMN_WIDTH + _PAD) + _PAD, max(c.height for c in columns) + _PAD),
                       _BACKGROUND)
    for i, column in enumerate(columns):
        canvas.paste(column, (_PAD + i * (COLUMN_WIDTH + _PAD), 0))
    return _save(canvas, out_path)


def _save(canvas: Image.Image, out_path: str | Path) -> Path:
    return atomic_write(out_path, lambda f: canvas.save(f, format="PNG"))


# --- files and the database --------------------------------------------------------------------------

def default_output(photo_path: str | Path) -> Path:
    """``<photo stem>.explain.png`` in the current directory, never beside the (read-only) library."""
    return Path.cwd() / f"{Path(photo_path).stem}.explain.png"


def default_group_output(group_id: int) -> Path:
    return Path.cwd() / f"group-{group_id}.explain.png"


def explain_to_file(path: str | Path, out_path: str | Path | None = None, *, model: str = "happy-sad",
                    class_name: str | None = None, method: str = "gradcam++") -> tuple[Explanation, Path]:
    """Explain one photo and render it; the whole of ``photocull explain PHOTO``."""
    _check_model(model)
    _check_method(method)
    model_input, shown = load_photo(path)
    explanation = get_explainer(model).explain(model_input, shown.size, class_name=class_name, method=method)
    return explanation, render_png(explanation, shown, out_path or default_output(path))


def record_explanation(db: sqlite_utils.Database, photo_id: int, out_path: str | Path,
                       explanation: Explanation) -> None:
    """Remember (replacing any earlier one) the PNG that explains a photo, for the HTML contact sheet."""
    db["explanations"].upsert(
        {
            "photo_id": photo_id,
            "path": str(Path(out_path).resolve()),
            "model": explanation.model,
            "class_name": explanation.class_name,
            "method": explanation.method,
            "created_at": now(),
        },
        pk="photo_id",
    )


def _caption(member: dict) -> list[str]:
    if member.get("decision"):
        verdict = f"your decision: {member['decision']}"
    else:
        verdict = f"suggested: {member['suggestion']}" if member.get("suggestion") else "no suggestion yet"
    return [Path(member["path"]).name, verdict]


def explain_group_to_file(db: sqlite_utils.Database, group_id: int, out_path: str | Path | None = None, *,
                          model: str = "happy-sad", class_name: str | None = None,
                          method: str = "gradcam++") -> tuple[list[Explanation], Path]:
    """Explain every member of a group for one class and render them side by side; each member's
    ``explanations`` row then points at this PNG. The whole of ``photocull explain --group N``.

    Without ``class_name`` the class with the highest mean score over the members is explained, so
    all maps answer the same question and can be compared.
    """
    _check_model(model)
    _check_method(method)
    groups = load_groups(db, group_id)
    if not groups:
        raise PhotocullError(f"there is no group {group_id}: it never existed or a rescan dissolved it")
    members = groups[0].members
    photos = [load_photo(m["path"]) for m in members]
    explainer = get_explainer(model)
    if class_name is None:
        all_scores = [explainer.scores(model_input) for model_input, _ in photos]
        class_name = max(explainer.classes, key=lambda c: sum(s[c] for s in all_scores))
    explanations = [explainer.explain(x, shown.size, class_name=class_name, method=method) for x, shown in photos]
    path = render_group_png(explanations, [shown for _, shown in photos], out_path or default_group_output(group_id),
                            [_caption(m) for m in members])
    for member, explanation in zip(members, explanations):
        record_explanation(db, member["id"], path, explanation)
    return explanations, path
