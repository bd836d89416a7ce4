"""Sanity checks for the saliency maps on real photos (Adebayo et al., "Sanity Checks for Saliency
Maps", NeurIPS 2018), for every model and every method `photocull explain` offers.

For each photo the map of the model's top class T is compared, by Spearman rank correlation and by
SSIM, with:

* **model randomisation (head)** — the same class's map from the same network whose head (every
  layer after the pooled embedding, or after a face head's last convolution) was re-drawn at random
  at each weight's trained scale;
* **model randomisation (cascade)** — the head and the last convolutional block both re-drawn;
* **class contrast** — the map of the runner-up class R from the trained network (for the
  contrastive method: "R rather than T" against "T rather than R").

A map that depends on the model and the class gives low values on all three; a map that shows only
where the backbone fires stays near 1 whatever the head or class. A map that is zero everywhere (the
ReLU of Grad-CAM removed everything) has no ranks: it counts as 0 and is reported as ``empty``.

Photos: --photos per model, chosen by a fixed seed: happy-sad on ``happy_sad`` (both classes),
emotion on ``fi`` (all 8), expression on FER-2013 PublicTest faces (.fer/public, never PrivateTest),
smile and eyes on the GENKI-4K / CEW test faces (.faces/test). Faces go through the scan's own
crops (photocull.faces.crops); the GENKI and CEW crops through the detector as
``models evaluate`` does.

    python scripts/sanity_saliency.py --photos 50 --out sanity.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photocull.base.heads import FACE_HEADS  # noqa: E402
from photocull.report.maps import METHODS, runner_up  # noqa: E402
from photocull.report.saliency import Explainer, keras  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
COMPARE_SIDE = 56  # maps are compared at this size (SSIM) or at their own resolution if smaller (Spearman)


def redraw(model: keras.Model, names: list[str], seed: int) -> None:
    """Re-draw the weights of layers ``names`` at random, each tensor at its own trained scale; a
    batch normalisation keeps its moving statistics (its scale and shift are re-drawn)."""
    rng = np.random.default_rng(seed)
    for name in names:
        layer = model.get_layer(name)
        weights = layer.get_weights()
        if not weights:
            continue
        keep = 2 if isinstance(layer, keras.layers.BatchNormalization) else 0
        drawn = [rng.normal(0.0, float(w.std()) or 0.05, w.shape).astype(np.float32) for w in weights]
        layer.set_weights(drawn[: len(drawn) - keep] + weights[len(drawn) - keep :] if keep else drawn)


def mood_network(name: str) -> tuple[keras.Model, list[str], list[str], list[str]]:
    """(classifier, classes, head layers, last-block layers) of a mood model."""
    from photocull.mood.backbone import EMBEDDING_LAYER
    from photocull.mood.scoring import load_classifier

    model, classes = load_classifier(name)
    names = [layer.name for layer in model.layers]
    head = names[names.index(EMBEDDING_LAYER) + 1 :]
    block = [n for n in names if n.startswith("block17_") or n.startswith("last_conv")]
    return model, classes, head, block


def face_network(name: str) -> tuple[keras.Model, list[str], list[str], list[str], str]:
    """(classifier, classes, head layers, last-block layers, CAM layer) of a face head."""
    from photocull.base.modelfiles import model_path
    from photocull.report.face_saliency import cam_layer

    spec = FACE_HEADS[name]
    model = keras.models.load_model(model_path(spec.keras_file), compile=False)
    names = [layer.name for layer in model.layers]
    cam = cam_layer(model)
    head = names[names.index(cam) + 1 :]
    conv_types = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)
    convs = [i for i, layer in enumerate(model.layers[: names.index(cam)]) if isinstance(layer, conv_types)]
    block = [n for n in names[convs[-2] : names.index(cam) + 1]]  # the last two convolutions before it, their norms
    return model, list(spec.classes), head, block, cam


def mood_inputs(name: str, n: int, seed: int) -> list[np.ndarray]:
    from photocull.scan.model_input import to_model_input

    folder = SHARED / ("happy_sad" if name == "happy-sad" else "fi")
    files = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(seed).shuffle(files)
    out = []
    for path in files[:n]:
        with Image.open(path) as img:
            out.append(to_model_input(ImageOps.exif_transpose(img).convert("RGB")).astype(np.float32))
    return out


def face_inputs(name: str, n: int, seed: int) -> list[np.ndarray]:
    from photocull.faces.crops import FACE_SIDE, equalized, eye_patches, face_crop
    from photocull.faces.detect import FaceDetector
    from photocull.faces.evaluate import _landmarked, _typical_face

    if name == "expression":
        files = sorted((REPO / ".fer" / "public").glob("*/*.jpg"))
    else:
        files = sorted((REPO / ".faces" / "test" / ("smile" if name == "smile" else "eyes")).glob("*/*"))
    random.Random(seed).shuffle(files)
    detector, out = FaceDetector(), []
    for path in files[:n]:
        with Image.open(path) as opened:
            img = ImageOps.exif_transpose(opened).convert("RGB")
        grey = img.convert("L")
        if name == "expression":  # read as the head reads it (FaceHeadSpec.equalized)
            face = np.asarray(grey.resize((FACE_SIDE, FACE_SIDE)), np.uint8)
            out.append(equalized(face[None])[0].astype(np.float32)[..., None])
            continue
        face = _landmarked(detector, img) or _typical_face(img)
        cut = face_crop(grey, face) if name == "smile" else eye_patches(grey, face)[0]  # one eye's patch
        out.append(cut.astype(np.float32)[..., None])
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, bool]:
    """Rank correlation of two maps; (0, True) when one is constant (no ranks: an empty map)."""
    from scipy.stats import spearmanr

    a, b = _common(a, b, max(a.shape[0], b.shape[0]) if max(a.shape) <= COMPARE_SIDE else COMPARE_SIDE)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0, True
    return float(spearmanr(a.ravel(), b.ravel()).statistic), False


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    a, b = (_unit(x) for x in _common(a, b, COMPARE_SIDE))
    return float(structural_similarity(a, b, data_range=1.0))


def _unit(m: np.ndarray) -> np.ndarray:
    """Scaled to 0..1 as the PNG shows it (a signed contrastive map: its low end is the other class)."""
    span = float(np.ptp(m))
    return (m - m.min()) / span if span > 0 else np.zeros_like(m)


def _common(a: np.ndarray, b: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    def resized(m: np.ndarray) -> np.ndarray:
        m = np.asarray(m, np.float32)  # as computed: Grad-CAM's ReLU is part of a method, not of the check
        if m.shape == (side, side):
            return m
        return np.asarray(Image.fromarray(m, mode="F").resize((side, side), Image.Resampling.BILINEAR))

    return resized(a), resized(b)


def measure(model_name: str, photos: int, methods: list[str], seed: int) -> dict:
    if model_name in FACE_HEADS:
        nets = [face_network(model_name) for _ in range(3)]
        inputs = face_inputs(model_name, photos, seed)
        cam = nets[0][4]
    else:
        nets = [(*mood_network(model_name), None) for _ in range(3)]
        inputs = mood_inputs(model_name, photos, seed)
        cam = None
    (trained_model, classes, head, block, _), (head_model, *_), (cascade_model, *_) = nets
    redraw(head_model, head, seed)
    redraw(cascade_model, head + block, seed)
    kwargs = {"penultimate": cam} if cam else {}
    trained = Explainer(trained_model, classes, model_name, **kwargs)
    randomised = Explainer(head_model, classes, model_name + " (random head)", **kwargs)
    cascaded = Explainer(cascade_model, classes, model_name + " (random head and last block)", **kwargs)
    result: dict = {"photos": len(inputs), "methods": {}}
    for method in methods:
        rows = {
            k: []
            for k in ("head_spearman", "head_ssim", "cascade_spearman", "cascade_ssim", "class_spearman", "class_ssim")
        }
        empty = 0
        start = time.process_time()
        for x in inputs:
            mine, top, scores = trained.raw_map(x, method=method)
            other = runner_up(scores, top)
            for key, explainer, target in (
                ("head", randomised, top),
                ("cascade", cascaded, top),
                ("class", trained, other),
            ):
                theirs, _, _ = explainer.raw_map(x, class_name=target, method=method)
                rho, was_empty = spearman(mine, theirs)
                empty += was_empty
                rows[f"{key}_spearman"].append(rho)
                rows[f"{key}_ssim"].append(ssim(mine, theirs))
        seconds = (time.process_time() - start) / max(len(inputs), 1) / 4
        result["methods"][method] = {
            **{k: round(statistics.median(v), 3) for k, v in rows.items()},
            "empty_maps": empty,
            "cpu_s_per_map": round(seconds, 3),
        }
        print(json.dumps({model_name: {method: result["methods"][method]}}), flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=50)
    ap.add_argument("--models", default="happy-sad,emotion,expression,smile,eyes")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the results here as JSON (as each model finishes)")
    args = ap.parse_args()
    results: dict = {}
    for name in args.models.split(","):
        results[name] = measure(name, args.photos, args.methods.split(","), args.seed)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
