"""Train the smile and eyes-closed heads on the crops prepare_faces.py cut.

- ``--head smile``: 48×48 grey face crops of GENKI-4K, smile vs no smile.
- ``--head eyes``: 24×24 grey eye patches, closed (the closed-eye set) vs open (GENKI-4K faces, whose
  eyes are open almost always). The two sources differ in camera, crop and size, so both classes get
  the same degradations while training (blur, down- and up-scaling, noise, contrast): the head should
  learn the lids, not the source. A face's eyes-closed score is the mean of its two eyes'.

Fit on train, keep the epoch with the best validation balanced accuracy (of patches, for eyes); the
test split is left for ``photocull models evaluate``. Keras 3 on TensorFlow, CPU: a few minutes per
head on 2 cores. Resumable like train_expression.py (scripts/face_training.py).

    python scripts/train_face_heads.py --head smile --out /tmp/smile
    cp /tmp/smile/best.keras models/smile_head.keras
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random resolution loss and noise, the same for every class (uint8 [N, s, s, 1] in and out)."""
    from PIL import Image, ImageFilter

    out = np.empty_like(x)
    side = x.shape[1]
    for i, a in enumerate(x[..., 0]):
        img = Image.fromarray(a)
        r = rng.random()
        if r < 0.3:
            small = int(rng.integers(max(6, side // 4), side))
            img = img.resize((small, small), Image.Resampling.BILINEAR).resize((side, side), Image.Resampling.BILINEAR)
        elif r < 0.5:
            img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.2))))
        b = np.asarray(img, np.float32)
        if rng.random() < 0.3:
            b = b + rng.normal(0, rng.uniform(2, 8), b.shape)
        out[i, ..., 0] = np.clip(b, 0, 255).astype(np.uint8)
    return out


def data(head: str, folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (images uint8 [N, s, s, 1], labels)}; for eyes every patch is a sample."""
    genki = np.load(folder / "genki.npz")
    out = {}
    for split in ("train", "val"):
        g = genki["split"] == split
        if head == "smile":
            out[split] = (genki["faces"][g][..., None], genki["y"][g].astype("float32"))
        else:
            closed = np.load(folder / "closed.npz")
            c = closed["split"] == split
            opened, shut = genki["eyes"][g].reshape(-1, 24, 24), closed["eyes"][c].reshape(-1, 24, 24)
            x = np.concatenate([opened, shut])[..., None]
            out[split] = (x, np.concatenate([np.zeros(len(opened)), np.ones(len(shut))]).astype("float32"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--head", choices=("smile", "eyes"), required=True)
    ap.add_argument("--data", type=Path, default=REPO / ".faces")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    import keras
    from face_training import augment, build_cnn, fit_resumable

    keras.utils.set_random_seed(args.seed)
    sets = data(args.head, args.data)
    x, y = sets["train"]
    xv, yv = sets["val"]
    side = x.shape[1]
    weights = {0: len(y) / (2 * (y == 0).sum()), 1: len(y) / (2 * (y == 1).sum())}
    widths = (32, 64, 128) if args.head == "smile" else (16, 32, 64)
    model = build_cnn(side, widths, 1, args.head)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")

    def examples(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        shown = degrade(x, rng) if args.head == "eyes" else x
        return augment(shown, rng, pad=2 if args.head == "eyes" else 4), y

    def balanced_accuracy(m) -> float:
        p = m.predict(xv, batch_size=512, verbose=0)[:, 0] >= 0.5
        return float(np.mean([(p[yv == c] == c).mean() for c in (0, 1)]))

    state = fit_resumable(model, args.out, args.epochs, examples, balanced_accuracy, args.seed, 64, weights)
    print(
        json.dumps(
            {"head": args.head, "train": len(y), "val": len(yv), **{k: v for k, v in state.items() if k != "history"}}
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
