"""Reproduce photocull's two mood heads (happy/sad and the 8 FI emotions) and their model cards.

    .venv/bin/python scripts/train_models.py            # data from ../shared/data, heads to models/

Splits are fixed in scripts/splits/*.json (created on first run); embeddings are cached in
.cache/embeddings, so a rerun only retrains the heads. For happy/sad the script measures on the
validation split whether adding FI (folded to valence) helps, and keeps FI only if it does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photocull.base.heads import HEADS, VALENCE  # noqa: E402
from photocull.mood.training import ExtraData, train_head, write_card  # noqa: E402

SPLITS = REPO / "scripts" / "splits"


def _summary(name: str, report) -> None:
    t = report.test
    line = (
        f"{name}: val acc {report.validation['accuracy']:.4f} | test acc {t['accuracy']:.4f} "
        f"bal acc {t['balanced_accuracy']:.4f} macro-F1 {t['macro_f1']:.4f} "
        f"ECE {t['ece_before_temperature']:.4f} → {t['ece']:.4f} (T={report.temperature:.3f})"
    )
    if "roc_auc" in t:
        line += f" ROC-AUC {t['roc_auc']:.4f}"
    print(line, flush=True)
    for src, m in t.get("per_source", {}).items():
        extra = f" ROC-AUC {m['roc_auc']:.4f}" if "roc_auc" in m else ""
        print(f"    {src:10s} n={m['n']:4d} acc {m['accuracy']:.4f} bal acc {m['balanced_accuracy']:.4f}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--happy-sad-data", type=Path, default=REPO / "../shared/data/happy_sad")
    parser.add_argument("--fi-data", type=Path, default=REPO / "../shared/data/fi")
    parser.add_argument("--out", type=Path, default=REPO / "models")
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "embeddings")
    parser.add_argument("--only", choices=sorted(HEADS), help="train one head only")
    args = parser.parse_args()
    command = "python scripts/train_models.py" + (f" --only {args.only}" if args.only else "")

    if args.only in (None, "happy-sad"):
        spec = HEADS["happy-sad"]
        split_file = SPLITS / "happy_sad.json"
        start = time.time()
        print("happy-sad on happy_sad only", flush=True)
        plain = train_head(spec, args.happy_sad_data, split_file, args.cache)
        _summary("happy-sad", plain)
        print("happy-sad on happy_sad + FI train split folded to valence", flush=True)
        fi = ExtraData(args.fi_data, SPLITS / "fi.json", VALENCE, variants=1 + HEADS["emotion"].augment_copies)
        with_fi = train_head(spec, args.happy_sad_data, split_file, args.cache, extras=[fi])
        _summary("happy-sad+FI", with_fi)
        keep_fi = with_fi.validation["accuracy"] > plain.validation["accuracy"]
        chosen = with_fi if keep_fi else plain
        experiment = {
            "fi_folded_to_valence": {
                "question": "does adding FI's train split (folded: amusement/awe/contentment/excitement → happy, "
                "anger/disgust/fear/sadness → sad) help on the happy_sad validation split?",
                "val_accuracy_without_fi": plain.validation["accuracy"],
                "val_accuracy_with_fi": with_fi.validation["accuracy"],
                "test_accuracy_without_fi": plain.test["accuracy"],
                "test_accuracy_with_fi": with_fi.test["accuracy"],
                "kept": keep_fi,
            }
        }
        evaluate = (
            f"photocull models evaluate happy-sad --data ../shared/data/happy_sad "
            f"--split-file {split_file.relative_to(REPO)}"
        )
        card = write_card(
            spec, chosen, args.happy_sad_data, split_file.relative_to(REPO), args.out, [command, evaluate], experiment
        )
        print(f"kept FI: {keep_fi}; wrote {card} ({time.time() - start:.0f} s)", flush=True)

    if args.only in (None, "emotion"):
        spec = HEADS["emotion"]
        split_file = SPLITS / "fi.json"
        start = time.time()
        print("emotion on FI", flush=True)
        report = train_head(spec, args.fi_data, split_file, args.cache)
        _summary("emotion", report)
        evaluate = (
            f"photocull models evaluate emotion --data ../shared/data/fi --split-file {split_file.relative_to(REPO)}"
        )
        card = write_card(spec, report, args.fi_data, split_file.relative_to(REPO), args.out, [command, evaluate])
        print(f"wrote {card} ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
