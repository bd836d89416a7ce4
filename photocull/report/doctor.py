"""``photocull doctor``: is this install able to scan? Every check says what is wrong and what to do.

Checks run the real code paths on a photo shipped with the models (a crop of scikit-image's
astronaut, public domain, NASA), never TensorFlow: the mood scorer and every face model load and
give an answer, HEIC encodes and decodes, the database's folder can be written (without creating
the database), and the config file parses. Nothing is written anywhere.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from photocull import __version__
from photocull.base.errors import PhotocullError
from photocull.base.heads import FACE_HEADS, HEADS
from photocull.base.modelfiles import models_dir
from photocull.base.paths import config_path, default_db_path

SAMPLE = "doctor_astronaut.jpg"
REINSTALL = "reinstall photocull (pip install --force-reinstall photocull) or point PHOTOCULL_MODELS at the models"
PACKAGES = ("numpy", "pillow", "pillow-heif", "ai-edge-litert", "keras", "tensorflow-cpu", "sqlite-utils")


@dataclass
class Check:
    """One line of the report: what was checked, whether it passed, what was seen, what to do."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def versions() -> str:
    """Python, photocull and the packages that decide whether a scan works, as one line."""
    parts = [f"photocull {__version__}", f"Python {platform.python_version()}"]
    for name in PACKAGES:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} missing")
    return ", ".join(parts)


def _model_files() -> Check:
    folder = models_dir()
    from photocull.faces.detect import FULL_RANGE, SHORT_RANGE
    from photocull.mood.litert import SCORER_FILE

    wanted = [SCORER_FILE, FULL_RANGE, SHORT_RANGE]
    wanted += [f for spec in HEADS.values() for f in (spec.head_file, spec.card_file)]
    wanted += [f for spec in FACE_HEADS.values() for f in (spec.litert_file, spec.keras_file, spec.card_file)]
    wanted += ["mobilenet_v2_imagenet.weights.h5", SAMPLE]
    missing = [f for f in wanted if not (folder / f).is_file()]
    if missing:
        return Check("model files", False, f"{folder}: missing {', '.join(missing)}", REINSTALL)
    return Check("model files", True, f"{len(wanted)} files in {folder}")


def _sample() -> Image.Image:
    with Image.open(models_dir() / SAMPLE) as img:
        return img.convert("RGB")


def _scorer() -> Check:
    from photocull.mood.litert import LiteRTScorer
    from photocull.scan.model_input import to_model_input

    (record,) = LiteRTScorer(threads=1).score(to_model_input(_sample())[None])
    return Check("mood models", True, f"sample photo: happy {record['happy']:.2f}, top emotion {record['top_emotion']}")


def _faces() -> Check:
    from photocull.faces.analyse import FaceAnalyser

    img = _sample()
    faces = FaceAnalyser().analyse(img, img.width, img.height)
    if len(faces) != 1:
        return Check("face models", False, f"found {len(faces)} faces in the sample portrait, not 1", REINSTALL)
    face = faces[0]
    expression = face["expression"]
    assert isinstance(expression, dict)
    top = max(expression, key=expression.__getitem__)
    detail = f"sample portrait: 1 face, {top}, smile {face['smile']:.2f}, eyes closed {face['eyes_closed']:.2f}"
    return Check("face models", True, detail)


def _heic() -> Check:
    try:
        import pillow_heif
    except ImportError:
        return Check("HEIC", False, "pillow-heif is not installed", "pip install pillow-heif")
    buf = io.BytesIO()
    ramp = np.tile(np.arange(0, 256, 2, dtype=np.uint8), (96, 1))
    pillow_heif.from_pillow(Image.fromarray(ramp).convert("RGB")).save(buf, quality=80)
    buf.seek(0)
    pillow_heif.register_heif_opener()
    with Image.open(buf) as back:
        size = back.convert("RGB").size
    return Check(
        "HEIC", True, f"encoded and decoded a {size[0]}×{size[1]} HEIC (libheif {pillow_heif.libheif_version()})"
    )


def database_check(path: Path | None = None) -> Check:
    """Whether the database can be opened for writing, without creating it when it does not exist."""
    path = path or default_db_path()
    if path.exists():
        if path.is_dir():
            return Check("database", False, f"{path} is a folder", "give --db a file name")
        if not os.access(path, os.R_OK | os.W_OK):
            return Check("database", False, f"{path} is not writable", "fix its permissions or use --db elsewhere")
        return Check("database", True, f"{path} exists and is writable")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not (folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)):
        return Check("database", False, f"cannot create {path}: {folder} is not writable", "use --db elsewhere")
    return Check("database", True, f"{path} will be created by the first scan ({folder} is writable)")


def _config() -> Check:
    from photocull.decide.config import load_config

    path = config_path()
    if not path.exists():
        return Check("config", True, f"no {path}: the defaults are used")
    load_config(path)
    return Check("config", True, f"{path} is valid")


def run_checks(db_path: Path | None = None) -> list[Check]:
    """Every check, in order; an unexpected failure of one becomes its failed line, the rest still run."""
    checks: list[Check] = []
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("model files", _model_files),
        ("mood models", _scorer),
        ("face models", _faces),
        ("HEIC", _heic),
        ("database", lambda: database_check(db_path)),
        ("config", _config),
    ]
    for name, step in steps:
        try:
            checks.append(step())
        except PhotocullError as exc:
            checks.append(Check(name, False, str(exc), REINSTALL if "model" in name else ""))
        except Exception as exc:  # noqa: BLE001 - the doctor reports any failure as a finding, not a crash
            checks.append(Check(name, False, f"{type(exc).__name__}: {exc}", REINSTALL if "model" in name else ""))
    return checks
