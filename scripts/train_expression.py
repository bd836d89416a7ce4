"""Train the facial-expression head: a compact CNN on FER-2013's 48×48 grey faces, 7 classes.

Fit on Training, select the epoch on PublicTest; PrivateTest is never read here (evaluate it once
when the head ships). Keras 3, any backend: on this project's 2-core
machines it runs with TensorFlow, but slowly (308 s for one epoch, measured): use a lent GPU machine, with JAX:

    python scripts/prepare_fer.py --git <fetched repository>        # writes .fer/
    KERAS_BACKEND=jax python scripts/train_expression.py --out /tmp/expr --epochs 60

Resumable: a run killed part-way continues from its last epoch (``--out`` keeps the state). The best
epoch by PublicTest accuracy is saved as ``expression_head.keras`` in ``--out``.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Faces [N, 48, 48, 1] uint8 and labels, from prepare_fer.py's file-bytes archive."""
    d = np.load(path)
    data, offsets = d["data"].tobytes(), d["offsets"]
    faces = [
        np.asarray(Image.open(io.BytesIO(data[a:b])).convert("L").resize((48, 48)), dtype=np.uint8)
        for a, b in itertools.pairwise(offsets)
    ]
    return np.stack(faces)[..., None], d["y"].astype("int32")


def build_model():
    """Four VGG-style blocks with batch norm, global average pooling, dropout: 2.4 M parameters.

    Augmentation layers (flip, shift, rotation, zoom, contrast) act only while training.
    """
    import keras
    from keras import layers

    inputs = keras.Input((48, 48, 1), name="face")
    x = layers.Rescaling(1 / 255.0)(inputs)
    x = layers.RandomFlip("horizontal")(x)
    x = layers.RandomTranslation(0.1, 0.1, fill_mode="nearest")(x)
    x = layers.RandomRotation(0.06, fill_mode="nearest")(x)
    x = layers.RandomZoom(0.1, fill_mode="nearest")(x)
    x = layers.RandomContrast(0.2)(x)
    for width, dropout in ((64, 0.1), (128, 0.2), (256, 0.3), (256, 0.3)):
        for _ in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(dropout)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(len(CLASSES), activation="softmax", name="expression")(x)
    return keras.Model(inputs, outputs, name="expression_head")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO / ".fer")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    import keras

    keras.utils.set_random_seed(args.seed)
    x, y = load(args.data / "fer2013_train_files.npz")
    xv, yv = load(args.data / "fer2013_public_files.npz")
    model = build_model()
    steps = args.epochs * int(np.ceil(len(x) / args.batch))
    schedule = keras.optimizers.schedules.CosineDecay(
        1e-3, decay_steps=steps, warmup_target=2e-3, warmup_steps=steps // 20
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=1e-4),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    best = args.out / "expression_head.keras"
    start = time.time()
    history = model.fit(
        x,
        keras.utils.to_categorical(y, len(CLASSES)),
        validation_data=(xv, keras.utils.to_categorical(yv, len(CLASSES))),
        epochs=args.epochs,
        batch_size=args.batch,
        verbose=2,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(args.out / "resume")),
            keras.callbacks.ModelCheckpoint(str(best), monitor="val_accuracy", save_best_only=True),
        ],
    )
    log = {
        "backend": keras.backend.backend(),
        "seconds": round(time.time() - start, 1),
        "epochs": args.epochs,
        "best_public_accuracy": round(max(history.history["val_accuracy"]), 4),
        "best_epoch": int(np.argmax(history.history["val_accuracy"])) + 1,
        "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.history.items()},
    }
    (args.out / "train_log.json").write_text(json.dumps(log, indent=1))
    print(json.dumps({k: v for k, v in log.items() if k != "history"}))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    main()
