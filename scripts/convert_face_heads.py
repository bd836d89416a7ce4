"""Install trained face heads in models/ and convert them to the float32 LiteRT files the scan runs.

``--expression/--smile/--eyes PATH`` take a training run's ``best.keras``: it is saved to models/ as
the inference model (no optimiser state, no augmentation layers) before conversion; without them,
the heads already in models/ are converted again.

Same route as convert_litert.py (``model.export(dir, format="tf_saved_model")`` then
``TFLiteConverter.from_saved_model``, no quantisation). The Keras files stay in models/ for
training and ``explain``. The check runs both on real inputs (with --faces, the validation crops
prepare_faces.py cut; else scikit-image's astronaut) and prints the largest difference.

    python scripts/convert_face_heads.py [--faces .faces]
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

from photocull.base.heads import FACE_HEADS  # noqa: E402
from photocull.base.litert import LiteRTModel  # noqa: E402
from photocull.mood.tfquiet import import_tensorflow_quietly  # noqa: E402


def check_inputs(faces: Path | None) -> dict[str, np.ndarray]:
    """Real face crops and eye patches: validation crops when given, else the astronaut's face."""
    if faces:
        genki = np.load(faces / "genki.npz")
        val = genki["split"] == "val"
        return {"face": genki["faces"][val][:256], "eyes": genki["eyes"][val][:128].reshape(-1, 24, 24)}
    from PIL import Image
    from skimage import data

    from photocull.faces.crops import eye_patches, face_crop
    from photocull.faces.detect import FaceDetector

    img = Image.fromarray(data.astronaut())
    face = FaceDetector().detect(img)[0]
    grey = img.convert("L")
    return {"face": face_crop(grey, face)[None], "eyes": eye_patches(grey, face)}


def inference_model(model):
    """The trained model, frozen, without its augmentation layers (``Random*``): the converter
    otherwise keeps random ops LiteRT lacks, and an unfrozen model was exported with batch
    normalisation on batch statistics (measured: outputs off by up to 0.56 against Keras)."""
    import keras

    model.trainable = False
    if not any(type(layer).__name__.startswith("Random") for layer in model.layers):
        return model  # nothing to strip (and a branched network, like the expression head, is not a chain)
    inputs = keras.Input(model.input_shape[1:], name=model.input.name)
    x = inputs
    for layer in model.layers[1:]:
        if type(layer).__name__.startswith("Random"):
            continue
        x = layer(x, training=False)
    return keras.Model(inputs, x, name=model.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=Path, default=REPO / "models", help="where the .keras files are and .tflite go")
    ap.add_argument("--faces", type=Path, help="prepare_faces.py's output, to check on real crops")
    for name in FACE_HEADS:
        ap.add_argument(f"--{name}", type=Path, metavar="PATH", help=f"a trained {name} head (.keras) to install")
    ap.add_argument("--only", choices=sorted(FACE_HEADS), action="append", help="convert only these heads")
    args = ap.parse_args()
    import_tensorflow_quietly()
    import keras
    import tensorflow as tf

    inputs = check_inputs(args.faces)
    report = {}
    for name, spec in FACE_HEADS.items():
        trained = getattr(args, name)
        if (args.only and name not in args.only) or (any(getattr(args, n) for n in FACE_HEADS) and not trained):
            continue
        model = inference_model(keras.models.load_model(trained or args.models / spec.keras_file, compile=False))
        if trained:
            model.save(args.models / spec.keras_file)
        with tempfile.TemporaryDirectory() as saved:
            model.export(saved, format="tf_saved_model", verbose=False)
            data = tf.lite.TFLiteConverter.from_saved_model(saved).convert()
        out = args.models / spec.litert_file
        out.write_bytes(data)
        x = inputs[spec.input][..., None].astype(np.float32)
        lite = LiteRTModel(str(out.resolve())).run(x)[0]
        report[name] = {
            "file": out.name,
            "megabytes": round(len(data) / 1e6, 2),
            "checked_on": len(x),
            "max_abs_diff": float(np.abs(np.asarray(model.predict_on_batch(x)) - lite).max()),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
