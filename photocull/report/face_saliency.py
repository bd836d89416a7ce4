"""Why did a face head read this face so? Its saliency map on the face crop, shown in place on the photo.

The face is found, cut and levelled exactly as the scan does it (the scan's preview, the same
detector, photocull.faces.crops), so ``--face N`` is the export's ``faces[N]``. The scores are the
explained head's own on that cut, which the map explains; the stored ones can differ a little, since
the scan also averages the expression head over the mirror image and stacks the smile head with the
expression head's "happy" (photocull.faces.heads). Every method's map runs on the head's LiteRT
file, as the scan does, without TensorFlow (photocull.faces.cam). The map over
the 48×48 crop (or over both 24×24 eye patches) is laid back onto the photo through the crop's own
geometry: it covers the face and is zero elsewhere.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from photocull.base.cam import method_map
from photocull.base.errors import PhotocullError
from photocull.base.heads import FACE_HEADS
from photocull.base.modelfiles import WHAT_TO_DO
from photocull.faces.cam import FaceCam
from photocull.faces.crops import equalized, eye_frames, eye_patches, face_crop, face_frame, uncut
from photocull.faces.detect import FaceDetector
from photocull.report.maps import DEFAULT_METHOD, check_method, chosen_class, contrasted, display_image, reading
from photocull.report.panel import Explanation
from photocull.scan.read import read_preview


class FaceLiteRTExplainer:
    """A face head's maps and scores from LiteRT and numpy
    (photocull.faces.cam): the Keras explainer's, to float rounding (tests/test_faces.py), without
    TensorFlow."""

    def __init__(self, model: str) -> None:
        self.name = model
        self.cam = FaceCam(model)
        self.classes = self.cam.classes

    def raw_map(
        self, cut: np.ndarray, *, class_name: str | None = None, method: str = DEFAULT_METHOD
    ) -> tuple[np.ndarray, str, dict[str, float]]:
        """The map over the cut at the last convolution's resolution, the class it explains, the scores."""
        check_method(method)
        scores, feature_map, logits = self.cam.run(cut)
        target = chosen_class(self.name, scores, class_name)
        other = self.contrasted(scores, target, method)
        t, o = self.classes.index(target), None if other is None else self.classes.index(other)
        return method_map(self.cam, method, cut, feature_map, t, o, self.cam.score(logits, t)), target, scores

    def contrasted(self, scores: dict[str, float], target: str, method: str) -> str | None:
        """The class a ``contrast`` map weighs ``target`` against: the runner-up (None for the others)."""
        return contrasted(self.name, scores, target, method)


@functools.cache
def face_litert_explainer(model: str) -> FaceLiteRTExplainer:
    try:
        return FaceLiteRTExplainer(model)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise PhotocullError(f"cannot load the {model} head: {exc}. {WHAT_TO_DO}") from exc


@functools.cache
def _detector() -> FaceDetector:
    """One detector for the process: a group's explanation asks it once per member and head."""
    return FaceDetector()


def explain_face(
    path: str | Path, *, model: str, face: int = 0, class_name: str | None = None, method: str = DEFAULT_METHOD
) -> tuple[Explanation, Image.Image]:
    """Explain face number ``face`` (0: the largest) of a photo with face head ``model``; returns the
    explanation (its map at the display image's size) and the display image."""
    if model not in FACE_HEADS:
        raise PhotocullError(f"unknown face model {model!r}: choose one of {', '.join(FACE_HEADS)}")
    check_method(method)
    with reading(path):
        preview = read_preview(str(path)).image.convert("RGB")
    found = _detector().detect(preview)
    if not found:
        raise PhotocullError(f"{path}: no face found, so there is nothing for the {model} head to explain")
    if not 0 <= face < len(found):
        raise PhotocullError(f"{path} has {len(found)} face(s): choose --face 0 to {len(found) - 1} (0 is the largest)")
    explainer = face_litert_explainer(model)
    grey = preview.convert("L")
    the_face = found[face]
    spec = FACE_HEADS[model]
    if spec.input == "eyes":
        cuts, frames = list(eye_patches(grey, the_face)), eye_frames(the_face)
    else:
        cuts, frames = [face_crop(grey, the_face)], [face_frame(the_face)]
    if spec.equalized:
        cuts = list(equalized(np.stack(cuts)))
    maps, all_scores = [], []
    target = class_name
    for cut, frame in zip(cuts, frames, strict=True):
        raw, target, scores = explainer.raw_map(cut[..., None].astype(np.float32), class_name=target, method=method)
        side = cut.shape[0]
        raw = np.asarray(
            Image.fromarray(raw.astype(np.float32), mode="F").resize((side, side), Image.Resampling.BILINEAR)
        )
        if method == "contrast":  # signed: spread over the face from 0 (for the other class) to 1
            span = float(np.ptp(raw))
            raw = (raw - raw.min()) / span if span > 0 else np.full_like(raw, 0.5)
        maps.append(uncut(np.maximum(raw, 0.0), frame, preview.size))
        all_scores.append(scores)
    scores = {c: float(np.mean([s[c] for s in all_scores])) for c in explainer.classes}  # as the scan: eyes averaged
    shown = display_image(preview)
    heat = np.asarray(Image.fromarray(np.maximum.reduce(maps), mode="F").resize(shown.size, Image.Resampling.BILINEAR))
    heat = heat / heat.max() if heat.max() > 0 else heat
    other = explainer.contrasted(scores, str(target), method)
    return Explanation(heat.astype(np.float32), str(target), scores, method, f"{model} (face {face})", other), shown
