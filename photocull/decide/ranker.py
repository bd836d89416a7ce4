"""A personal ranker: which frame of a group this person keeps, learnt from their own decisions.

Every decided group gives preferences "A kept over B". The ranker is a pairwise logistic
regression on the difference of the two frames' signals — the ones the default rule weighs, each
relative to the group, plus raw brightness (a taste, not a quality) — without intercept, L2
regularised: P(A over B) = σ(w·(x_A − x_B)). Within a group the highest-scoring frame is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name, and the words for a frame that has more / less of it
FEATURES = (
    ("sharpness", "sharper", "softer"),
    ("brightness", "brighter", "darker"),
    ("mid_exposure", "better-exposed", "more contrasty"),
    ("resolution", "larger", "smaller"),
    ("happy", "happier", "calmer"),
    ("eyes_open", "eyes-open", "eyes-closed"),
    ("smiles", "smiling", "unsmiling"),
    ("face_sharpness", "sharper-faced", "softer-faced"),
)
L2 = 1.0  # on standardised differences: keeps a few dozen pairs from fitting noise


def group_features(members: list[dict]) -> np.ndarray:
    """[n, len(FEATURES)]: each frame's signals, relative to its group where a scale is arbitrary.
    ``members`` are suggestion-input rows (brightness, highlights, shadows, faces as FaceSummary)."""
    sharp = np.array([max(m["sharpness"] or 0.0, 0.0) for m in members])
    bright = np.array([m["brightness"] if m["brightness"] is not None else 0.5 for m in members])
    clipped = np.array([(m["highlights"] or 0.0) + (m["shadows"] or 0.0) for m in members])
    pixels = np.array([float((m["width"] or 0) * (m["height"] or 0)) for m in members])
    happy = np.array([m["happy"] if m.get("happy") is not None else 0.5 for m in members])
    faces = [m.get("faces") for m in members]
    eyes = np.array([1.0 - f.eyes_closed / f.subjects if f else 1.0 for f in faces])
    smiles = np.array([f.smiling / f.subjects if f else 0.0 for f in faces])
    face_sharp = np.array([f.sharpness if f else 0.0 for f in faces])
    return np.stack(
        [
            sharp / max(sharp.max(), 1e-9),
            bright,
            1.0 - 2.0 * np.abs(bright - 0.5) - clipped,
            pixels / max(pixels.max(), 1.0),
            happy,
            eyes,
            smiles,
            face_sharp / max(face_sharp.max(), 1e-9),
        ],
        axis=1,
    )


def preference_pairs(groups: list[tuple[np.ndarray, set[int]]]) -> np.ndarray:
    """Differences x_kept − x_discarded over every kept/discarded pair of every group."""
    rows = [feats[k] - feats[d] for feats, kept in groups for k in kept for d in range(len(feats)) if d not in kept]
    return np.array(rows, dtype=np.float64).reshape(-1, len(FEATURES))


@dataclass
class Ranker:
    weights: np.ndarray  # on differences divided by ``scale``
    scale: np.ndarray

    def scores(self, feats: np.ndarray) -> np.ndarray:
        result: np.ndarray = (feats / self.scale) @ self.weights
        return result

    def as_dict(self) -> dict:
        return {"features": [f[0] for f in FEATURES], "weights": self.weights.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Ranker:
        if data.get("features") != [f[0] for f in FEATURES]:
            raise ValueError("the stored ranker was fitted on other signals; run `photocull learn` again")
        return cls(np.array(data["weights"]), np.array(data["scale"]))

    def why(self, feats: np.ndarray, kept: int, other: int) -> str:
        """The signal that most made ``kept`` win over ``other``, in words: "brighter"."""
        contribution = self.weights * (feats[kept] - feats[other]) / self.scale
        j = int(np.argmax(contribution))
        _, more, less = FEATURES[j]
        return more if self.weights[j] >= 0 else less


def fit_ranker(pairs: np.ndarray) -> Ranker:
    """L2-regularised logistic regression on preference pairs, both orientations, by Newton steps."""
    scale = np.maximum(np.abs(pairs).std(axis=0) if len(pairs) else np.ones(len(FEATURES)), 1e-3)
    x = np.concatenate([pairs, -pairs]) / scale
    y = np.concatenate([np.ones(len(pairs)), np.zeros(len(pairs))])
    w = np.zeros(len(FEATURES))
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (p - y) + L2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + L2 * np.eye(len(w))
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return Ranker(w, scale)
