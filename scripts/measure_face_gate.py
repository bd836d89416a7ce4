"""Measure a face gate that was not shipped: a logistic regression on the mood scorer's embedding
that would say when a photo holds no face the detector would find, so the scan could skip the
detector's looks there (they cost most of the face stage, and most photos have no face).

The teacher is photocull's own detector (``photocull.faces.detect.FaceDetector``): the gate learns
to predict "the detector finds a face", so it can only lose faces, never add them; the threshold is
chosen on validation photos to keep a share (``--recall``) of the photos with a face. The result
(models/face_detector.md): at the recall a culling tool needs, it skips too few photos without a face
to pay for what it loses, so the scan does not use it.

Step 1 (``collect``, cached in ``--out``, resumable per set) runs the scorer and the detector on:
  fi        every FI photo (224 px; not the benchmark's source), split 80/20 into fit/validation;
  fi-pasted FI photos at 504×378 with a GENKI-4K face (the first 60% of the shuffled faces) pasted
            at 3–25% of the width: faces without a body or a scene that suggests one;
  happy-sad the happy_sad photos at 504×378, the scan benchmark's source: test only;
  genki     the other 40% of GENKI-4K faces as they are: test only;
  pasted    scikit-image photos without people at 504×378 with a face (from the held-out 40%)
            pasted at 4%, 10% and 25% of the width, as scripts/measure_face_detectors.py: test only.
Step 2 (``fit``) fits the gate on fi + fi-pasted (fit part), picks the threshold on their validation
part and reports every set: photos with a face kept, faces lost, photos without a face skipped.

    python scripts/measure_face_gate.py collect --out /tmp/gate
    python scripts/measure_face_gate.py fit --out /tmp/gate --recall 0.99
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from synthetic import paste_face, sample_photos  # noqa: E402

PREVIEW = (504, 378)  # the scan's preview of a 4032×3024 photo
GENKI_FIT_SHARE = 0.6
_STATE: dict = {}


def _models() -> tuple:
    if "scorer" not in _STATE:
        from photocull.faces.detect import FaceDetector
        from photocull.mood.litert import LiteRTScorer

        _STATE["scorer"], _STATE["detector"] = LiteRTScorer(threads=1), FaceDetector()
    return _STATE["scorer"], _STATE["detector"]


def _image(item: dict) -> Image.Image:
    from photocull.scan.read import read_preview

    if item["kind"] == "skimage":
        if "scenes" not in _STATE:
            _STATE["scenes"] = sample_photos()
        img = _STATE["scenes"][item["path"]].convert("RGB")
    else:
        img = read_preview(item["path"]).image.convert("RGB")
    if item.get("resize"):
        img = img.resize(PREVIEW, Image.Resampling.BICUBIC)
    if item.get("face"):
        paste_face(img, Image.open(item["face"]).convert("RGB"), item["fraction"], random.Random(item["seed"]))
    return img


def _one(item: dict) -> tuple[np.ndarray, int, float]:
    from photocull.scan.model_input import to_model_input

    scorer, detector = _models()
    img = _image(item)
    emb = scorer.outputs(to_model_input(img)[None])[0][0]
    faces = detector.detect(img)
    widest = max(((f.box[2] - f.box[0]) / img.width for f in faces), default=0.0)
    return emb.astype(np.float16), len(faces), float(widest)


def _items(name: str, data: Path) -> list[dict]:
    genki = sorted(glob.glob(str(data / "genki4k" / "*" / "*.jpg")))
    random.Random(0).shuffle(genki)
    cut = int(len(genki) * GENKI_FIT_SHARE)
    fi = sorted(glob.glob(str(data / "fi" / "*" / "*.jpg")))
    if name == "fi":
        return [{"kind": "file", "path": p} for p in fi]
    if name == "fi-pasted":
        rng = random.Random(2)
        picks = rng.sample(fi, 6000)
        return [
            {
                "kind": "file",
                "path": p,
                "resize": True,
                "face": genki[k % cut],
                "fraction": rng.uniform(0.03, 0.25),
                "seed": k,
            }
            for k, p in enumerate(picks)
        ]
    if name == "happy-sad":
        paths = sorted(glob.glob(str(data / "happy_sad" / "*" / "*.jpg")))
        return [{"kind": "file", "path": p, "resize": True} for p in paths]
    if name == "genki":
        return [{"kind": "file", "path": p} for p in genki[cut:]]
    if name == "pasted":
        scenes = ["chelsea", "coffee", "rocket", "motorcycle", "hubble", "retina", "immuno"]
        held = genki[cut:]
        return [
            {
                "kind": "skimage",
                "path": scenes[k % len(scenes)],
                "resize": True,
                "face": held[-1 - k - 150 * j],
                "fraction": fraction,
                "seed": 1000 * j + k,
            }
            for j, fraction in enumerate((0.04, 0.10, 0.25))
            for k in range(150)
        ]
    raise ValueError(name)


SETS = ("fi", "fi-pasted", "happy-sad", "genki", "pasted")


def collect(out: Path, data: Path, sets: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    for name in sets:
        target = out / f"{name}.npz"
        if target.exists():
            print(f"{name}: cached", flush=True)
            continue
        items = _items(name, data)
        start = time.time()
        with ctx.Pool(2) as pool:
            rows = pool.map(_one, items, chunksize=16)
        emb = np.stack([r[0] for r in rows])
        np.savez(
            target,
            embedding=emb,
            faces=np.array([r[1] for r in rows]),
            widest=np.array([r[2] for r in rows], np.float32),
            fraction=np.array([it.get("fraction", 0.0) for it in items], np.float32),
            path=np.array([it["path"] for it in items]),
        )
        print(f"{name}: {len(items)} images in {time.time() - start:.0f} s", flush=True)


def _load(out: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(out / f"{name}.npz") as f:
        return {k: f[k] for k in f.files}


def _logistic(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 12) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method; x has a bias column last (not penalised)."""
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (p - y) / len(y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x / len(y) + np.diag(penalty)
        w -= np.linalg.solve(hess, grad)
    return w


def _split(n: int, seed: int) -> np.ndarray:
    """True for the validation fifth."""
    return np.random.default_rng(seed).random(n) < 0.2


def fit(out: Path, l2: float = 1e-3, recall: float = 0.995) -> dict:
    sets = {name: _load(out, name) for name in SETS}
    fi, pasted = sets["fi"], sets["fi-pasted"]
    x_all = np.concatenate([fi["embedding"], pasted["embedding"]]).astype(np.float64)
    y_all = np.concatenate([fi["faces"], pasted["faces"]]) > 0
    val = np.concatenate([_split(len(fi["faces"]), 0), _split(len(pasted["faces"]), 1)])
    mean, std = x_all[~val].mean(0), x_all[~val].std(0) + 1e-6

    def design(e: np.ndarray) -> np.ndarray:
        z = (e.astype(np.float64) - mean) / std
        return np.concatenate([z, np.ones((len(z), 1))], 1)

    w = _logistic(design(x_all[~val]), y_all[~val].astype(np.float64), l2)
    logit_val = design(x_all[val]) @ w
    positives = np.sort(logit_val[y_all[val]])
    threshold = float(positives[int(np.floor((1 - recall) * len(positives)))])
    report: dict = {
        "l2": l2,
        "threshold_logit": round(threshold, 4),
        "fit": {"photos": int((~val).sum()), "with_faces": int(y_all[~val].sum())},
    }

    def summary(name: str, mask: np.ndarray | None = None) -> dict:
        s = sets[name]
        keep = np.ones(len(s["faces"]), bool) if mask is None else mask
        passed = (design(s["embedding"][keep]) @ w) >= threshold
        faces, widest = s["faces"][keep], s["widest"][keep]
        with_faces = faces > 0
        lost = with_faces & ~passed
        return {
            "photos": int(keep.sum()),
            "with_faces": int(with_faces.sum()),
            "faces": int(faces.sum()),
            "photos_with_faces_kept": f"{int((with_faces & passed).sum())}/{int(with_faces.sum())}",
            "faces_lost": int(faces[lost].sum()),
            "widest_face_of_lost_photos": sorted(round(float(v), 3) for v in widest[lost])[:20],
            "faceless_skipped": f"{int((~with_faces & ~passed).sum())}/{int((~with_faces).sum())}",
            "skipped_share": round(float((~passed).mean()), 3),
        }

    report["validation: fi"] = summary("fi", _split(len(fi["faces"]), 0))
    report["validation: fi-pasted"] = summary("fi-pasted", _split(len(pasted["faces"]), 1))
    report["test: happy-sad (the benchmark's photos)"] = summary("happy-sad")
    report["test: genki"] = summary("genki")
    for fraction in (0.04, 0.10, 0.25):
        mask = np.isclose(sets["pasted"]["fraction"], fraction)
        report[f"test: pasted at {fraction:.0%}"] = summary("pasted", mask)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("collect", "fit"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--recall", type=float, default=0.995)
    args = ap.parse_args()
    if args.step == "collect":
        collect(args.out, args.data, args.sets.split(","))
    else:
        print(json.dumps(fit(args.out, args.l2, args.recall), indent=1))


if __name__ == "__main__":
    main()
