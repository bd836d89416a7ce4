"""Stack the smile head with the expression head's "happy": fit the weights on GENKI-4K validation faces.

The expression head learnt from 28,000 more faces than the smile head, and its "happy" alone reads
GENKI-4K's smiles about as well as the smile head does; their errors differ, so a logistic
regression on the two logits reads better than either. The weights are fitted on the validation
crops prepare_faces.py cut (never the test split), with a 2-fold estimate on validation printed
first; they go into models/smile.json as ``stacking``, which photocull.faces.heads applies. The
scan and ``models evaluate smile`` then read smiles the stacked way.

    python scripts/stack_smile.py [--faces .faces] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photocull.faces.heads import EXPRESSION_HAPPY, FaceHeads, logit  # noqa: E402


def fit(x: np.ndarray, y: np.ndarray, steps: int = 5000, rate: float = 0.05) -> np.ndarray:
    """Logistic regression by gradient descent (weights for the columns of ``x``, the last the bias)."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        w -= rate * x.T @ (p - y) / len(y)
    return w


def balanced(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([((p >= 0.5)[y == c] == c).mean() for c in (0, 1)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=REPO / ".faces")
    ap.add_argument("--write", action="store_true", help="store the weights in models/smile.json")
    args = ap.parse_args()
    genki = np.load(args.faces / "genki.npz")
    val = genki["split"] == "val"
    faces, y = genki["faces"][val], genki["y"][val].astype(np.float64)
    heads = FaceHeads(stack=False)  # the plain smile head's reading, whatever the card holds now
    smile = heads.smile(faces)
    happy = heads.expression(faces)[:, EXPRESSION_HAPPY]
    x = np.stack([logit(smile), logit(happy), np.ones(len(y))], axis=1)
    order = np.random.default_rng(0).permutation(len(y))
    halves = (order[: len(y) // 2], order[len(y) // 2 :])
    folds = [balanced(1 / (1 + np.exp(-x[b] @ fit(x[a], y[a]))), y[b]) for a, b in (halves, halves[::-1])]
    w = fit(x, y)
    report = {
        "validation_faces": len(y),
        "smile_head_alone": round(balanced(smile, y), 4),
        "expression_happy_alone": round(balanced(happy, y), 4),
        "stacked_2_fold": [round(f, 4) for f in folds],
        "weights": {
            "smile_logit": round(float(w[0]), 4),
            "happy_logit": round(float(w[1]), 4),
            "bias": round(float(w[2]), 4),
        },
    }
    print(json.dumps(report, indent=1))
    if args.write:
        card_path = REPO / "models" / "smile.json"
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card["stacking"] = report["weights"]
        card["stacking_fit"] = {k: v for k, v in report.items() if k != "weights"}
        card_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
