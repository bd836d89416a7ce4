"""What the face-head training scripts share: a compact CNN, augmentation in numpy, a resumable epoch loop.

Augmentation happens on the arrays, outside the model, so the trained model holds no random layers
(LiteRT has no kernels for them) and costs nothing on CPU: a random crop from the image padded by
a few pixels, a mirror image, brightness and contrast. Measured on the smile data, the graph's own
rotation and zoom layers had cost half the learning speed per epoch on 2 cores.

The loop saves the model (with its optimiser state) after every epoch and the best one by the
validation metric; a killed run continues where it stopped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def build_cnn(side: int, widths: tuple[int, ...], outputs: int, name: str, dense: int = 0):
    """VGG-style blocks (two 3×3 conv + batch norm + ReLU, max-pool, dropout), global average
    pooling, optional dense layer, then softmax (``outputs`` > 1) or one sigmoid. Input: uint8-range
    grey pixels, [N, side, side, 1]."""
    import keras
    from keras import layers

    inputs = keras.Input((side, side, 1), name="face")
    x = layers.Rescaling(1 / 255.0)(inputs)
    for k, width in enumerate(widths):
        for _ in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
        x = layers.Dropout(0.1 + 0.1 * min(k, 2))(x)
    x = layers.GlobalAveragePooling2D()(x)
    if dense:
        x = layers.Dense(dense, activation="relu", name="features")(x)
    x = layers.Dropout(0.4)(x)
    activation = "softmax" if outputs > 1 else "sigmoid"
    out = layers.Dense(outputs, activation=activation, name=name)(x)
    return keras.Model(inputs, out, name=f"{name}_head")


def build_imagenet_cnn(side: int, upsampled: int, outputs: int, name: str, imagenet: bool = True):
    """ImageNet's MobileNetV2 (photocull's own weights file) fine-tuned as a face head: the same
    input as build_cnn (uint8-range grey faces, [N, side, side, 1]), upsampled inside the network to
    ``upsampled`` px and repeated to three channels, so the scan's crops need no change. One flat
    graph (Grad-CAM reaches ``last_conv_relu``); softmax in float32 whatever the training precision.
    ``imagenet``: start from the ImageNet weights (else leave them for set_weights)."""
    import keras
    from keras import layers

    from photocull.base.modelfiles import model_path
    from photocull.mood.backbone import WEIGHTS_FILE, build_mobilenet_v2, mobilenet_v2_embedding

    inputs = keras.Input((side, side, 1), name="face")
    x = layers.Resizing(upsampled, upsampled, interpolation="bilinear", name="upsample")(inputs)
    x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = layers.Dropout(0.3)(mobilenet_v2_embedding(x))
    out = layers.Dense(outputs, activation="softmax", dtype="float32", name=name)(x)
    model = keras.Model(inputs, out, name=f"{name}_head")
    if imagenet:
        classifier = build_mobilenet_v2(include_top=True, input_size=upsampled)
        classifier.load_weights(model_path(WEIGHTS_FILE))
        for layer in classifier.layers:
            if layer.weights and layer.name not in ("logits",):
                model.get_layer(layer.name).set_weights(layer.get_weights())
    return model


def augment(x: np.ndarray, rng: np.random.Generator, pad: int = 4, light: bool = True) -> np.ndarray:
    """Random crop from the edge-padded image, mirror, and (``light``) brightness and contrast, which
    histogram-equalized faces have no use for; uint8 [N, s, s, 1] in and out."""
    n, side = len(x), x.shape[1]
    padded = np.pad(x[..., 0], ((0, 0), (pad, pad), (pad, pad)), mode="edge")
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(side)[None]
    cols = dx[:, None] + np.arange(side)[None]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]].astype(np.float32)
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    if not light:
        return out.astype(np.uint8)[..., None]
    mean = out.mean(axis=(1, 2), keepdims=True)
    contrast = rng.uniform(0.7, 1.3, (n, 1, 1))
    bright = rng.uniform(-25, 25, (n, 1, 1))
    out = (out - mean) * contrast + mean + bright
    return np.clip(out, 0, 255).astype(np.uint8)[..., None]


def rotated(x: np.ndarray, rng: np.random.Generator, degrees: float) -> np.ndarray:
    """Each image turned about its centre by a random angle within ±``degrees`` and scaled by
    0.9–1.1 (Pillow's bilinear affine, one image at a time: 20 times faster than SciPy's
    map_coordinates on the whole batch; the corners it uncovers are black); uint8 [N, s, s, 1] in and out."""
    from PIL import Image

    n, side = len(x), x.shape[1]
    angle, scale = np.radians(rng.uniform(-degrees, degrees, n)), rng.uniform(0.9, 1.1, n)
    out = np.empty_like(x)
    c = (side - 1) / 2
    for k in range(n):
        cos, sin = np.cos(angle[k]) / scale[k], np.sin(angle[k]) / scale[k]
        frame = (cos, -sin, c - cos * c + sin * c, sin, cos, c - sin * c - cos * c)
        image = Image.fromarray(x[k, ..., 0]).transform(
            (side, side), Image.Transform.AFFINE, frame, Image.Resampling.BILINEAR
        )
        out[k, ..., 0] = np.asarray(image)
    return out


def mirrored_probabilities(model, x: np.ndarray) -> np.ndarray:
    """A model's reading of faces ``x`` the scan's way: the mean of each face's prediction and its
    mirror image's (photocull.faces.heads.FaceHeads.expression)."""
    both = model.predict(np.concatenate([x, x[:, :, ::-1]]), batch_size=512, verbose=0)
    result: np.ndarray = (both[: len(x)] + both[len(x) :]) / 2
    return result


def mirrored_accuracy(x: np.ndarray, y: np.ndarray) -> Callable[[object], float]:
    """A model's accuracy on faces ``x`` (classes ``y``) read the scan's way (mirrored_probabilities)."""

    def accuracy(model) -> float:
        return float((mirrored_probabilities(model, x).argmax(1) == y).mean())

    return accuracy


def fit_resumable(
    model,
    out: Path,
    epochs: int,
    train: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    score: Callable[[object], float],
    seed: int,
    batch: int,
    class_weight: dict[int, float] | None = None,
) -> dict:
    """Train ``epochs`` epochs, one fresh augmentation each; keep ``best.keras`` by ``score(model)``
    (higher is better). State lives in ``out``: rerun the same command to continue."""
    import keras

    out.mkdir(parents=True, exist_ok=True)
    last, state_file = out / "last.keras", out / "state.json"
    state = {"epoch": 0, "best": -1.0, "best_epoch": 0, "seconds": 0.0, "history": []}
    if last.exists() and state_file.exists():
        model = keras.models.load_model(last)
        state = json.loads(state_file.read_text())
    for epoch in range(state["epoch"], epochs):
        rng = np.random.default_rng(seed * 1000 + epoch)
        start = time.time()
        x, y = train(rng)
        history = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, class_weight=class_weight, shuffle=True)
        value = score(model)
        state["seconds"] += time.time() - start
        state["history"].append(
            {"epoch": epoch + 1, "loss": round(float(history.history["loss"][0]), 4), "val": round(value, 4)}
        )
        if value > state["best"]:
            state.update(best=value, best_epoch=epoch + 1)
            model.save(out / "best.keras")
        state["epoch"] = epoch + 1
        model.save(last)
        state_file.write_text(json.dumps(state, indent=1))
        print(
            f"epoch {epoch + 1}/{epochs}: loss {state['history'][-1]['loss']}, validation {value:.4f} "
            f"({time.time() - start:.0f} s)",
            flush=True,
        )
    return state
