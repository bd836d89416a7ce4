"""Where the bundled model files live, installed or in a checkout: every model stage reads them here."""

from __future__ import annotations

import os
from pathlib import Path

WHAT_TO_DO = "Reinstall photocull, set PHOTOCULL_MODELS to the folder with the models, or scan with --no-models."


def models_dir() -> Path:
    """The folder with the model weights and cards.

    An installed wheel carries them as ``photocull/models``; a source checkout keeps them in
    the top-level ``models/``. ``PHOTOCULL_MODELS`` points elsewhere (e.g. a retrained head).
    """
    env = os.environ.get("PHOTOCULL_MODELS")
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent.parent
    installed = package / "models"
    if installed.is_dir():
        return installed
    return package.parent / "models"


def model_path(name: str) -> Path:
    """Path of one bundled model file, with a clear error when it is missing."""
    path = models_dir() / name
    if not path.exists():
        raise FileNotFoundError(f"model file {path} is missing")
    return path
