"""Where photocull keeps its own files: one user directory, overridable for tests and power users."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOLDING_FOLDER = "_photocull_discarded"


def user_dir() -> Path:
    """The user directory (``PHOTOCULL_HOME`` overrides the platform's user data dir)."""
    env = os.environ.get("PHOTOCULL_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir("photocull", appauthor=False))


def default_db_path() -> Path:
    """The database used when neither ``--db`` nor ``PHOTOCULL_DB`` names one."""
    env = os.environ.get("PHOTOCULL_DB")
    return Path(env) if env else user_dir() / "photocull.db"


def config_path() -> Path:
    """The optional TOML config file (``PHOTOCULL_CONFIG`` overrides)."""
    env = os.environ.get("PHOTOCULL_CONFIG")
    return Path(env) if env else user_dir() / "config.toml"
