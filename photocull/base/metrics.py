"""Classification metrics in plain numpy, so evaluating a head needs no scikit-learn at run time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def per_class_precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 per class from a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(float)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Binary ROC-AUC as the Mann-Whitney U statistic (ties count half); NaN with one class only."""
    y_true = np.asarray(y_true).astype(bool)
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = np.asarray(scores)[order]
    ranks = np.empty(len(scores), dtype=float)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """ECE of the top-1 confidence over equal-width bins, the usual calibration summary."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def negative_log_likelihood(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean cross-entropy of the true class, the quantity temperature scaling minimises."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, 1.0))))


def _summary(y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    y_pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, y_pred, len(classes))
    precision, recall, f1 = per_class_precision_recall_f1(cm)
    present = cm.sum(axis=1) > 0
    result = {
        "n": len(y_true),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else float("nan"),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "ece": expected_calibration_error(y_true, probs) if len(y_true) else float("nan"),
    }
    if len(classes) == 2:
        result["roc_auc"] = roc_auc(y_true == 1, probs[:, 1])
    return result | {"_cm": cm, "_precision": precision, "_recall": recall, "_f1": f1}


def evaluate(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str], sources: Sequence[str] | np.ndarray | None = None
) -> dict[str, Any]:
    """All metrics for one labelled set, JSON-ready; per-source breakdown when sources are given.

    For two classes, ROC-AUC scores class index 1 as the positive class.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    s = _summary(y_true, probs, classes)
    result = {k: v for k, v in s.items() if not k.startswith("_")}
    result["nll"] = negative_log_likelihood(y_true, probs)
    result["per_class"] = {
        c: {
            "precision": float(s["_precision"][i]),
            "recall": float(s["_recall"][i]),
            "f1": float(s["_f1"][i]),
            "support": int(s["_cm"][i].sum()),
        }
        for i, c in enumerate(classes)
    }
    result["confusion_matrix"] = {"rows_true_cols_predicted": list(classes), "counts": s["_cm"].tolist()}
    if sources is not None:
        source_array = np.asarray(sources)
        result["per_source"] = {}
        for src in sorted(set(source_array.tolist())):
            mask = source_array == src
            sub = _summary(y_true[mask], probs[mask], classes)
            result["per_source"][src] = {k: v for k, v in sub.items() if not k.startswith("_")}
    return result
