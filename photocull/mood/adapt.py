"""A mood head adapted to one person's corrections, and applied by the scan without TensorFlow.

The shipped heads are embedding → Dense(relu) → Dense → ×temperature → softmax. Adapting keeps the
hidden layer and refits only the last Dense on the person's corrected labels (``/api/feedback``,
``review -i``), pulled towards the shipped weights by an L2 penalty: a few dozen corrections move
the decision where the person disagrees without forgetting what the research data taught. The
result is a small ``.npz`` in the user directory (``user_head_path``); the scan's LiteRT scorer
applies it to the embedding it already computes, and the scores' version names it, so the next
scan re-scores the library.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from photocull.base.heads import HeadSpec
from photocull.base.paths import user_dir

if TYPE_CHECKING:  # the scan's workers import this module for NumpyHead: sqlite_utils (0.1 s, 8 MB) stays out
    import sqlite_utils

L2 = 0.05  # pull towards the shipped weights, per weight; set on simulated corrections (tests/test_adapt.py)
MIN_CORRECTIONS = 20
HELD_OUT = 0.3


def user_head_path(spec: HeadSpec) -> Path:
    return user_dir() / "heads" / f"{spec.stem}_user.npz"


@dataclass
class NumpyHead:
    hidden_w: np.ndarray  # [1280, H]
    hidden_b: np.ndarray
    logits_w: np.ndarray  # [H, classes]
    logits_b: np.ndarray
    temperature: float

    def hidden(self, embeddings: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.maximum(embeddings.astype(np.float32) @ self.hidden_w + self.hidden_b, 0.0)
        return out

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        return _softmax((self.hidden(embeddings) @ self.logits_w + self.logits_b) * self.temperature)

    def save(self, path: Path) -> str:
        """Write the head; returns a short digest of it (the scores' version names it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            hidden_w=self.hidden_w,
            hidden_b=self.hidden_b,
            logits_w=self.logits_w,
            logits_b=self.logits_b,
            temperature=np.float32(self.temperature),
        )
        tmp.replace(path)
        return file_digest(path)

    @classmethod
    def load(cls, path: Path) -> NumpyHead:
        with np.load(path) as data:
            return cls(
                **{k: data[k] for k in ("hidden_w", "hidden_b", "logits_w", "logits_b")},
                temperature=float(data["temperature"]),
            )


def head_in_use(spec: HeadSpec) -> NumpyHead:
    """The head a scan scores with: the person's adapted head when there is one, else the shipped
    one. ``explain`` draws its maps with the same head, so a map explains the score the person sees."""
    path = user_head_path(spec)
    return NumpyHead.load(path) if path.exists() else shipped_head(spec)


def head_version(spec: HeadSpec) -> str:
    """Which head ``head_in_use`` gives: "user-" and the adapted head's digest (as the scores'
    version names it), or "shipped"."""
    path = user_head_path(spec)
    return f"user-{file_digest(path)}" if path.exists() else "shipped"


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def shipped_head(spec: HeadSpec) -> NumpyHead:
    """The installed Keras head's weights as numpy, read from its ``.keras`` file without Keras.

    ``explain`` and adapting need only these four arrays and the temperature; importing Keras (and
    TensorFlow with it) would cost seconds. The file is a zip of the layers' config and an HDF5 file
    of their weights, where Keras names each layer's weights by its class in layer order (``dense``,
    ``dense_1``). A head trained without a hidden layer (``models train`` may choose one) reads as one
    whose hidden layer is the identity. A file whose layers are not embedding → [Dense(relu)] → Dense →
    Rescaling → softmax is refused rather than misread (tests/test_adapt.py compares with Keras' loading).
    """
    import h5py

    from photocull.base.modelfiles import model_path

    path = model_path(spec.head_file)
    with zipfile.ZipFile(path) as archive:
        layers = json.loads(archive.read("config.json"))["config"]["layers"]
        weights = io.BytesIO(archive.read("model.weights.h5"))
    kinds = [(layer["class_name"], layer["config"]) for layer in layers if layer["class_name"] != "Dropout"]
    shape = [kind for kind, _ in kinds]
    dense = [config["activation"] for kind, config in kinds if kind == "Dense"]
    expected = ["InputLayer", *["Dense"] * len(dense), "Rescaling", "Activation"]
    if shape != expected or dense not in (["relu", "linear"], ["linear"]) or kinds[-1][1]["activation"] != "softmax":
        raise ValueError(f"{path.name} is not a head photocull can read (layers: {', '.join(shape)})")
    with h5py.File(weights, "r") as h5:
        logits_w, logits_b = (
            np.asarray(h5[f"layers/{'dense_1' if len(dense) == 2 else 'dense'}/vars/{i}"], np.float32) for i in (0, 1)
        )
        if len(dense) == 2:
            hidden_w, hidden_b = (np.asarray(h5[f"layers/dense/vars/{i}"], np.float32) for i in (0, 1))
        else:  # no hidden layer: the identity, exact since embeddings (means of ReLU6 maps) are never negative
            hidden_w, hidden_b = np.eye(len(logits_w), dtype=np.float32), np.zeros(len(logits_w), np.float32)
    if hidden_w.shape[1] != logits_w.shape[0] or logits_w.shape[1] != len(spec.classes):
        raise ValueError(f"{path.name} holds weights of unexpected shapes {hidden_w.shape} and {logits_w.shape}")
    return NumpyHead(hidden_w, hidden_b, logits_w, logits_b, float(kinds[-2][1]["scale"]))


def adapt(base: NumpyHead, embeddings: np.ndarray, labels: np.ndarray, l2: float = L2) -> NumpyHead:
    """Refit the last layer on (embedding, class index) pairs, L2-pulled towards ``base``'s."""
    from scipy.optimize import minimize

    h = base.hidden(embeddings).astype(np.float64)
    n, hidden = h.shape
    classes = base.logits_w.shape[1]
    onehot = np.eye(classes)[labels]
    w0 = np.concatenate([base.logits_w.ravel(), base.logits_b]).astype(np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: hidden * classes].reshape(hidden, classes), theta[hidden * classes :]
        p = _softmax((h @ w + b) * base.temperature)
        ce = -np.sum(onehot * np.log(np.clip(p, 1e-12, 1.0))) / n
        diff = theta - w0
        grad_z = (p - onehot) * base.temperature / n
        grad = np.concatenate([(h.T @ grad_z).ravel(), grad_z.sum(0)]) + 2 * l2 * diff
        return ce + l2 * float(diff @ diff), grad

    theta = minimize(loss, w0, jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    w, b = theta[: hidden * classes].reshape(hidden, classes), theta[hidden * classes :]
    return NumpyHead(base.hidden_w, base.hidden_b, w.astype(np.float32), b.astype(np.float32), base.temperature)


def held_out(photo_ids: list[int]) -> np.ndarray:
    """A fixed ~30% of the corrections, by photo id (the same split on every run): never fitted."""
    return np.array(
        [int(hashlib.sha256(str(p).encode()).hexdigest()[:8], 16) % 100 < HELD_OUT * 100 for p in photo_ids]
    )


@dataclass
class AdaptReport:
    """What ``models train NAME --from-feedback`` did and measured."""

    model: str
    corrections: int  # the latest label per photo
    usable: int  # of those, photos with a stored embedding (scanned with the models)
    held_out: int
    before: float | None  # accuracy on the held-out corrections, shipped head
    after: float | None  # the same, head adapted on the other corrections
    changed_elsewhere: float | None  # share of other scanned photos whose top class the final head changes
    path: str | None
    note: str


def _embeddings(blobs: list[bytes]) -> np.ndarray:
    return np.stack([np.frombuffer(b, dtype=np.float16) for b in blobs]).astype(np.float32)


def train_from_feedback(db: sqlite_utils.Database, spec: HeadSpec) -> AdaptReport:
    """Measure adapting on the person's corrections (fit on ~70%, score the held-out ~30%), then
    fit on all of them and install the head for the next scan; fewer than ``MIN_CORRECTIONS``
    usable corrections change nothing."""
    from photocull.store.decisions import embeddings_without_feedback, feedback_examples

    examples = feedback_examples(db, spec.name)
    usable = [(pid, label, emb) for pid, label, emb in examples if emb is not None and label in spec.classes]
    report = AdaptReport(spec.name, len(examples), len(usable), 0, None, None, None, None, "")
    if len(usable) < MIN_CORRECTIONS:
        report.note = (
            f"{len(usable)} corrections with scores so far; at least {MIN_CORRECTIONS} are needed "
            "(correct labels in `photocull serve` or `review -i`; photos scanned with the models). Nothing changed."
        )
        return report
    ids = [pid for pid, _, _ in usable]
    emb = _embeddings([e for _, _, e in usable])
    labels = np.array([spec.classes.index(label) for _, label, _ in usable])
    test = held_out(ids)
    base = shipped_head(spec)
    report.held_out = int(test.sum())
    if test.any() and (~test).any():
        fitted = adapt(base, emb[~test], labels[~test])
        report.before = float((base.probabilities(emb[test]).argmax(1) == labels[test]).mean())
        report.after = float((fitted.probabilities(emb[test]).argmax(1) == labels[test]).mean())
    final = adapt(base, emb, labels)
    others = embeddings_without_feedback(db, spec.name)
    if others:
        rest = _embeddings(others)
        report.changed_elsewhere = float(
            (base.probabilities(rest).argmax(1) != final.probabilities(rest).argmax(1)).mean()
        )
    path = user_head_path(spec)
    final.save(path)
    report.path = str(path)
    report.note = f"the next scan scores with it (delete {path} to go back to the shipped head)"
    return report
