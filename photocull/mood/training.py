"""Transfer-learning heads on the frozen backbone: data, splits, cached embeddings, training, calibration.

The backbone never changes, so every image (and each augmented copy) is embedded once and cached;
heads then train on 1280-d vectors in seconds on a CPU. Used by ``photocull models train`` and
``scripts/train_models.py``; never at scan time.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from photocull.base.heads import EMBEDDING_DIM, HeadSpec
from photocull.scan.model_input import load_model_input, to_model_input

if TYPE_CHECKING:  # keras loads TensorFlow; import it only where a head is built
    import keras

SPLIT_SEED = 20240601
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)
AUGMENT_VERSION = 1  # bump when augment() changes so cached embeddings are recomputed
BATCH_SIZE = 64
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff"}


@dataclass(frozen=True)
class Sample:
    """One labelled image, its path relative to the data folder."""

    file: str
    label: str
    source: str
    agreement: float | None = None


def read_dataset(root: Path) -> list[Sample]:
    """Folder-per-class images; MANIFEST.csv (file,label,source,agreement) adds sources when present."""
    root = Path(root)
    manifest = root / "MANIFEST.csv"
    if manifest.exists():
        with manifest.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        samples = [
            Sample(
                r["file"],
                r["label"],
                r.get("source") or root.name,
                float(r["agreement"]) if r.get("agreement") else None,
            )
            for r in rows
        ]
        return [s for s in samples if (root / s.file).is_file()]
    return [
        Sample(f"{d.name}/{f.name}", d.name, root.name)
        for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        for f in sorted(d.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]


def make_split(
    samples: Sequence[Sample], seed: int = SPLIT_SEED, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
) -> dict[str, list[str]]:
    """Deterministic train/val/test split, stratified by (label, source) so every source is in every part."""
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for s in samples:
        groups[(s.label, s.source)].append(s.file)
    split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for key in sorted(groups):
        files = sorted(groups[key])
        order = np.random.default_rng([seed, zlib.crc32("/".join(key).encode())]).permutation(len(files))
        n_val = round(len(files) * fractions[1])
        n_test = round(len(files) * fractions[2])
        split["test"] += [files[i] for i in order[:n_test]]
        split["val"] += [files[i] for i in order[n_test : n_test + n_val]]
        split["train"] += [files[i] for i in order[n_test + n_val :]]
    return {k: sorted(v) for k, v in split.items()}


def save_split(path: Path, split: dict[str, list[str]], data_root: Path, seed: int = SPLIT_SEED) -> None:
    """Write the val and test file lists; train is every other image in the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "data": Path(data_root).name,
        "seed": seed,
        "fractions": list(SPLIT_FRACTIONS),
        "counts": {k: len(v) for k, v in split.items()},
        "note": "train = every image of the folder not listed in val or test",
        "val": split["val"],
        "test": split["test"],
    }
    path.write_text(json.dumps(doc, indent=0) + "\n", encoding="utf-8")


def load_split(path: Path, samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    """Partition samples by a saved split file; a listed file missing from the folder is an error."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    by_file = {s.file: s for s in samples}
    held = {"val": doc["val"], "test": doc["test"]}
    missing = [f for files in held.values() for f in files if f not in by_file]
    if missing:
        raise ValueError(f"{len(missing)} files of split {path} are not in the data folder, e.g. {missing[0]}")
    held_out = set(held["val"]) | set(held["test"])
    return {
        "train": [s for s in samples if s.file not in held_out],
        "val": [by_file[f] for f in held["val"]],
        "test": [by_file[f] for f in held["test"]],
    }


def split_for(root: Path, samples: Sequence[Sample], split_file: Path) -> dict[str, list[Sample]]:
    """Load the split file, creating it first when it does not exist yet."""
    if not split_file.exists():
        save_split(split_file, make_split(samples), root)
    return load_split(split_file, samples)


def augment(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random crop (60–100% area), mirror and colour jitter: photo-like variation for the head to ignore."""
    w, h = img.size
    area = rng.uniform(0.6, 1.0)
    ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    cw = min(w, max(1, round(w * math.sqrt(area * ratio))))
    ch = min(h, max(1, round(h * math.sqrt(area / ratio))))
    x0 = int(rng.integers(0, w - cw + 1))
    y0 = int(rng.integers(0, h - ch + 1))
    img = img.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        img = ImageOps.mirror(img)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
        img = enhancer(img).enhance(rng.uniform(0.75, 1.25))
    return img


def load_variant(path: Path, variant: int, seed: int = SPLIT_SEED) -> np.ndarray:
    """Variant 0 is the photo exactly as scanning sees it; variants ≥ 1 are seeded augmentations."""
    if variant == 0:
        return load_model_input(path)
    rng = np.random.default_rng([seed, variant, zlib.crc32(str(path.name).encode())])
    with Image.open(path) as img:
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    return to_model_input(augment(rgb, rng))


def embed_files(
    backbone: keras.Model,
    root: Path,
    files: Sequence[str],
    variant: int = 0,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embed images in batches of 64, decoding the next batch on threads while the model runs."""
    out = np.zeros((len(files), EMBEDDING_DIM), dtype=np.float32)
    batches = [files[i : i + BATCH_SIZE] for i in range(0, len(files), BATCH_SIZE)]

    def load(batch: Sequence[str]) -> np.ndarray:
        return np.stack([load_variant(root / f, variant) for f in batch]).astype(np.float32)

    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = pool.submit(load, batches[0]) if batches else None
        for i, _ in enumerate(batches):
            assert pending is not None  # one future per batch, submitted one ahead
            images = pending.result()
            if i + 1 < len(batches):
                pending = pool.submit(load, batches[i + 1])
            out[i * BATCH_SIZE : i * BATCH_SIZE + len(images)] = np.asarray(backbone.predict_on_batch(images))
            if progress:
                progress(len(images))
    return out


def cached_embeddings(
    backbone: keras.Model,
    root: Path,
    files: Sequence[str],
    variant: int,
    cache_dir: Path,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embeddings of one variant of these files, computed once and kept in ``cache_dir`` as .npz."""
    key = json.dumps(
        {
            "root": str(Path(root).resolve()),
            "files": list(files),
            "variant": variant,
            "augment": AUGMENT_VERSION,
            "seed": SPLIT_SEED,
        }
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{Path(root).name}-{digest}-v{variant}.npz"
    if path.exists():
        return np.load(path)["embeddings"]
    emb = embed_files(backbone, Path(root), files, variant, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, embeddings=emb)
    return emb


@dataclass(frozen=True)
class HeadConfig:
    """Head hyperparameters; chosen on validation accuracy, never on test."""

    hidden: int = 0
    dropout: float = 0.5
    l2: float = 1e-4
    learning_rate: float = 1e-3
    label_smoothing: float = 0.0

    def describe(self) -> str:
        shape = f"1280 → dropout {self.dropout}" + (
            f" → dense {self.hidden} relu → dropout {self.dropout}" if self.hidden else ""
        )
        return (
            f"{shape} → dense softmax (L2 {self.l2}, Adam lr {self.learning_rate}, "
            f"label smoothing {self.label_smoothing})"
        )


def build_head(
    n_classes: int, config: HeadConfig = HeadConfig(), temperature: float = 1.0, name: str = "head"
) -> keras.Model:
    """Embedding → class probabilities, with the calibration temperature as a fixed Rescaling layer."""
    import keras
    from keras import layers, regularizers

    inputs = keras.Input((EMBEDDING_DIM,), name="embedding_input")
    x = layers.Dropout(config.dropout, name="dropout")(inputs)
    if config.hidden:
        x = layers.Dense(
            config.hidden, activation="relu", kernel_regularizer=regularizers.l2(config.l2), name="hidden"
        )(x)
        x = layers.Dropout(config.dropout, name="hidden_dropout")(x)
    x = layers.Dense(n_classes, kernel_regularizer=regularizers.l2(config.l2), name="logits")(x)
    x = layers.Rescaling(1.0 / temperature, name="temperature")(x)
    outputs = layers.Activation("softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def class_weights(y: np.ndarray, n_classes: int) -> dict[int, float]:
    """Square-root inverse-frequency weights: rare classes count more without giving up much overall
    accuracy (full inverse weighting cost about 1 point of FI validation accuracy for little balance)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    return {i: float(np.sqrt(len(y) / (n_classes * c))) if c else 0.0 for i, c in enumerate(counts)}


def fit_head(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    config: HeadConfig,
    seed: int = 0,
    name: str = "head",
) -> keras.Model:
    """Train with class weights and early stopping on validation loss (best weights restored)."""
    import keras

    keras.utils.set_random_seed(seed)
    head = build_head(n_classes, config, name=name)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    head.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss=loss)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=12, restore_best_weights=True)
    one_hot = np.eye(n_classes, dtype=np.float32)
    head.fit(
        x_train,
        one_hot[y_train],
        validation_data=(x_val, one_hot[y_val]),
        epochs=300,
        batch_size=256,
        shuffle=True,
        class_weight=class_weights(y_train, n_classes),
        callbacks=[stop],
        verbose=0,
    )
    return head


def head_logits(head: keras.Model, x: np.ndarray) -> np.ndarray:
    """Pre-softmax, pre-temperature outputs of a head."""
    import keras

    return np.asarray(keras.Model(head.input, head.get_layer("logits").output)(x, training=False))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax of logits divided by the temperature."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising validation NLL (Guo et al. 2017), by a fine log-spaced search."""
    temps = np.exp(np.linspace(math.log(0.2), math.log(10.0), 2000))
    nll = [-np.mean(np.log(np.clip(softmax(logits, t)[np.arange(len(y)), y], 1e-12, None))) for t in temps]
    return float(temps[int(np.argmin(nll))])


def with_temperature(head: keras.Model, config: HeadConfig, temperature: float, name: str) -> keras.Model:
    """A copy of the head with the temperature folded in, so saved probabilities are calibrated."""
    calibrated = build_head(head.output_shape[-1], config, temperature, name=name)
    calibrated.set_weights(head.get_weights())
    return calibrated


@dataclass
class LabelledEmbeddings:
    """Embeddings (variants × n × 1280) with labels and sources, ready for fitting."""

    x: np.ndarray
    y: np.ndarray
    sources: np.ndarray
    files: list[str] = field(default_factory=list)

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """All variants stacked as separate training rows."""
        v = self.x.shape[0]
        return self.x.reshape(-1, EMBEDDING_DIM), np.tile(self.y, v)


def embed_samples(
    backbone: keras.Model,
    root: Path,
    samples: Sequence[Sample],
    classes: Sequence[str],
    variants: int,
    cache_dir: Path,
    label_map: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> LabelledEmbeddings:
    """Embed ``variants`` versions (0 = clean) of each sample; labels mapped onto the head's classes."""
    files = [s.file for s in samples]
    index = {c: i for i, c in enumerate(classes)}
    labels = [label_map[s.label] if label_map else s.label for s in samples]
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise ValueError(f"labels {unknown} are not classes of this head ({', '.join(classes)})")
    x = np.stack([cached_embeddings(backbone, root, files, v, cache_dir, progress) for v in range(variants)])
    return LabelledEmbeddings(
        x, np.array([index[label] for label in labels], dtype=np.int64), np.array([s.source for s in samples]), files
    )


DEFAULT_CONFIGS = (
    HeadConfig(hidden=0, dropout=0.5, label_smoothing=0.1),
    HeadConfig(hidden=256, dropout=0.5, label_smoothing=0.1),
    HeadConfig(hidden=512, dropout=0.5, learning_rate=3e-4, label_smoothing=0.1),
    HeadConfig(hidden=1024, dropout=0.6, label_smoothing=0.1),
)
SELECTION_SEEDS = (0, 1)

# Citations and terms of the shared data sets, keyed by folder name, for model cards.
DATA_CARDS = {
    "happy_sad": {
        "description": "photos labelled happy vs sad from three sources (MANIFEST.csv `source`)",
        "sources": {
            "twitter1": "Twitter I image-sentiment set: Q. You, J. Luo, H. Jin, J. Yang, 'Robust Image Sentiment "
            "Analysis Using Progressively Trained and Domain Transferred Deep Networks', AAAI 2015; "
            "positive → happy, negative → sad",
            "emotion6": "Emotion6: K.-C. Peng, T. Chen, A. Sadovnik, A. Gallagher, 'A Mixed Bag of Emotions: "
            "Model, Predict, and Transfer Emotion Distributions', CVPR 2015; top-voted joy → happy, "
            "sadness → sad (≥ 40% of votes)",
            "websearch": "web-search images for 'happy'/'sad' (noisy: clip art, text graphics, stock watermarks)",
        },
        "licence": "research use only, under the terms of the original collections; image copyright stays "
        "with the photographers",
    },
    "fi": {
        "description": "FI (Flickr and Instagram) 8-emotion set, copy resized to 224×224 without keeping aspect",
        "sources": {
            "fi": "Q. You, J. Luo, H. Jin, J. Yang, 'Building a Large Scale Dataset for Image Emotion "
            "Recognition: The Fine Print and The Benchmark', AAAI 2016",
        },
        "licence": "research use only, under the terms of the original collection; image copyright stays "
        "with the photographers",
    },
}

KNOWN_LIMITS = {
    "happy-sad": [
        "Labels are about the mood a photo conveys to viewers, not the facial expression of the people in it.",
        "Twitter I and web-search labels are noisy (memes, text images, clip art); those sources score lower.",
        "Trained on social-media and stock imagery, not on personal phone libraries; expect a domain shift "
        "(screenshots, documents, receipts get arbitrary scores).",
        "Research-use training data: check the data terms before any commercial use.",
    ],
    "emotion": [
        "FI labels are weak (Flickr/Instagram tags verified by AMT workers); even the best published models "
        "reach only about 60-70% accuracy, so treat the top emotion as a hint.",
        "Confuses neighbouring emotions (contentment vs awe vs amusement; anger vs disgust vs sadness).",
        "Training images were squashed to 224×224; photocull squashes too (to_model_input), so keep that.",
        "Research-use training data: check the data terms before any commercial use.",
    ],
}


@dataclass(frozen=True)
class ExtraData:
    """Another labelled folder whose train split is added, labels folded onto the head's classes."""

    root: Path
    split_file: Path
    label_map: dict[str, str]
    variants: int


@dataclass
class TrainReport:
    """A calibrated head and everything measured while making it."""

    head: keras.Model
    config: HeadConfig
    temperature: float
    split_sizes: dict[str, int]
    selection: list[dict]
    validation: dict
    test: dict
    extra: list[str]


def _embed_split(
    backbone: keras.Model,
    root: Path,
    split_file: Path,
    classes: Sequence[str],
    train_variants: int,
    cache_dir: Path,
    label_map: dict[str, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, LabelledEmbeddings]:
    split = split_for(root, read_dataset(root), split_file)
    return {
        part: embed_samples(
            backbone, root, samples, classes, train_variants if part == "train" else 1, cache_dir, label_map, progress
        )
        for part, samples in split.items()
    }


def _rows(parts: Sequence[LabelledEmbeddings]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*(p.flat() for p in parts))
    return np.concatenate(xs), np.concatenate(ys)


def train_head(
    spec: HeadSpec,
    data_root: Path,
    split_file: Path,
    cache_dir: Path,
    extras: Sequence[ExtraData] = (),
    configs: Sequence[HeadConfig] = DEFAULT_CONFIGS,
    seeds: Sequence[int] = SELECTION_SEEDS,
    progress: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> TrainReport:
    """Embed (cached), pick the head config on validation accuracy, calibrate on validation, test once.

    Each config is trained with several seeds and judged on their mean validation accuracy, because
    seed noise alone moves a small validation split by a point or two; the best seed of the best
    config is kept.
    """
    from photocull.base.metrics import evaluate, expected_calibration_error
    from photocull.mood.backbone import load_backbone

    backbone = load_backbone()
    data = _embed_split(
        backbone, Path(data_root), split_file, spec.classes, 1 + spec.augment_copies, cache_dir, progress=progress
    )
    train_parts = [data["train"]]
    for extra in extras:
        train_parts.append(
            _embed_split(
                backbone,
                extra.root,
                extra.split_file,
                spec.classes,
                extra.variants,
                cache_dir,
                extra.label_map,
                progress,
            )["train"]
        )
    x_train, y_train = _rows(train_parts)
    x_val, y_val = data["val"].x[0], data["val"].y
    n = len(spec.classes)

    selection, best = [], None
    for i, config in enumerate(configs):
        runs = []
        for seed in seeds:
            head = fit_head(x_train, y_train, x_val, y_val, n, config, seed=seed, name=f"{spec.stem}_head")
            runs.append((float((head_logits(head, x_val).argmax(1) == y_val).mean()), head))
        accs = [acc for acc, _ in runs]
        mean = float(np.mean(accs))
        selection.append({"config": config.describe(), "val_accuracy_per_seed": accs, "val_accuracy_mean": mean})
        log(f"  config {i}: {config.describe()}: val accuracy {' '.join(f'{a:.4f}' for a in accs)}")
        if best is None or mean > best[0]:
            best = (mean, config, max(runs, key=lambda r: r[0])[1])
    assert best is not None, "no configuration was tried"
    _, config, head = best

    val_logits = head_logits(head, x_val)
    temperature = fit_temperature(val_logits, y_val)
    calibrated = with_temperature(head, config, temperature, name=f"{spec.stem}_head")
    validation = evaluate(y_val, softmax(val_logits, temperature), spec.classes, data["val"].sources)
    validation["ece_before_temperature"] = expected_calibration_error(y_val, softmax(val_logits))
    test_logits = head_logits(head, data["test"].x[0])
    y_test = data["test"].y
    test = evaluate(y_test, softmax(test_logits, temperature), spec.classes, data["test"].sources)
    test["ece_before_temperature"] = expected_calibration_error(y_test, softmax(test_logits))
    sizes = {
        "train_images": len(data["train"].y),
        "train_rows_with_augmentation": len(y_train),
        "val": len(y_val),
        "test": len(y_test),
    }
    return TrainReport(
        calibrated, config, temperature, sizes, selection, validation, test, [str(e.root) for e in extras]
    )


def write_card(
    spec: HeadSpec,
    report: TrainReport,
    data_root: Path,
    split_file: Path,
    out_dir: Path,
    commands: Sequence[str],
    experiments: dict | None = None,
) -> Path:
    """Save the calibrated head and its JSON card (classes, data, preprocessing, measured metrics)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report.head.save(out_dir / spec.head_file)
    data_names = [Path(data_root).name] + [Path(e).name for e in report.extra]
    card = {
        "name": spec.name,
        "version": spec.version,
        "classes": list(spec.classes),
        "class_order_note": "output index i is classes[i]",
        "head_file": spec.head_file,
        "backbone": "mobilenet_v2_imagenet.weights.h5 (torchvision ImageNet MobileNetV2, frozen; see mobilenet_v2.md)",
        "architecture": report.config.describe() + f"; temperature {report.temperature:.4f} folded in",
        "training_data": [
            DATA_CARDS.get(name, {"description": f"labelled folder {name}", "licence": "unknown"}) | {"folder": name}
            for name in data_names
        ],
        "preprocessing": "photocull.scan.model_input.to_model_input: EXIF-oriented photo squashed (no crop) to "
        "224×224 RGB uint8; ImageNet mean/std normalisation is inside the backbone "
        "(input float RGB 0..255); the head takes the 1280-d pooled embedding",
        "training": {
            "augmentation": f"{spec.augment_copies} augmented copies per training image (random crop 60-100% "
            "area, horizontal flip, brightness/contrast/saturation ×0.75-1.25), embedded once",
            "class_weights": "square root of inverse class frequency",
            "selection": report.selection,
            "early_stopping": "validation loss, patience 12, best weights restored",
            "temperature": report.temperature,
        },
        "split": {
            "file": str(split_file),
            "seed": SPLIT_SEED,
            "fractions": list(SPLIT_FRACTIONS),
            "sizes": report.split_sizes,
            "note": "stratified by label and source; test used only for the metrics below",
        },
        "validation_metrics": report.validation,
        "test_metrics": report.test,
        "experiments": experiments or {},
        "commands": list(commands),
        "known_limits": KNOWN_LIMITS.get(spec.name, []),
    }
    path = out_dir / spec.card_file
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
