"""Convert the Keras scorer (backbone + both heads) to the float32 LiteRT file the scan uses, and check it.

The route that keeps the weights in the file: ``model.export(dir, format="tf_saved_model")`` then
``TFLiteConverter.from_saved_model``. No quantisation: full-integer int8 flipped 14% of the emotion
predictions. The check runs both on real photos (scikit-image's samples, and with --data the
happy/sad test split) and prints the largest difference of every output.

    python scripts/convert_litert.py [--data ../shared/data/happy_sad --split scripts/splits/happy_sad.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photocull.mood.litert import SCORER_FILE, LiteRTScorer  # noqa: E402
from photocull.mood.scoring import Scorer  # noqa: E402
from photocull.mood.tfquiet import import_tensorflow_quietly  # noqa: E402
from photocull.scan.model_input import load_model_input, to_model_input  # noqa: E402


def sample_inputs(data: Path | None, split: Path | None, limit: int) -> np.ndarray:
    from synthetic import sample_photos

    inputs = [to_model_input(img.convert("RGB")) for img in sample_photos().values()]
    if data and split:
        files = json.loads(split.read_text())["test"][:limit]
        inputs += [load_model_input(data / (f if isinstance(f, str) else f["file"])) for f in files]
    return np.stack(inputs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "models" / SCORER_FILE)
    ap.add_argument("--data", type=Path, help="a labelled folder to check on as well (e.g. ../shared/data/happy_sad)")
    ap.add_argument("--split", type=Path, help="its split file; the test files are used")
    ap.add_argument("--limit", type=int, default=200, help="test photos to check at most")
    args = ap.parse_args()
    import_tensorflow_quietly()
    import tensorflow as tf

    keras_scorer = Scorer.load()
    with tempfile.TemporaryDirectory() as saved:
        keras_scorer.model.export(saved, format="tf_saved_model", verbose=False)
        data = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data) / 1e6:.1f} MB)")

    images = sample_inputs(args.data, args.split, args.limit)
    lite = LiteRTScorer()
    report = {"photos": len(images)}
    for name, batch in (("batch 1", 1), ("batch 32", 32)):
        worst = {"embedding": 0.0, "happy_sad": 0.0, "emotions": 0.0}
        flips = 0
        for s in range(0, len(images), batch):
            chunk = images[s : s + batch]
            keras_out = [np.asarray(t) for t in keras_scorer.model.predict_on_batch(chunk.astype(np.float32))]
            lite_out = lite.outputs(chunk)
            for key, k, r in zip(worst, keras_out, lite_out):
                worst[key] = max(worst[key], float(np.abs(k - r).max()))
            flips += int((keras_out[2].argmax(axis=1) != lite_out[2].argmax(axis=1)).sum())
        report[name] = {"max_abs_diff": worst, "top_emotion_flips": flips}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
