"""Shared fixtures: a generated phone folder (built once per session) and fresh databases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from photocull.database import open_db
from photocull.synthetic import Library, build_library


@pytest.fixture(autouse=True)
def _isolated_user_dir(tmp_path_factory, monkeypatch):
    """Never touch the real user directory or a database named by the environment."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PHOTOCULL_HOME", str(home))
    monkeypatch.delenv("PHOTOCULL_DB", raising=False)
    monkeypatch.delenv("PHOTOCULL_CONFIG", raising=False)


@pytest.fixture(scope="session")
def pristine_library(tmp_path_factory) -> Library:
    return build_library(tmp_path_factory.mktemp("pristine") / "Phone")


@pytest.fixture
def library(pristine_library: Library, tmp_path: Path) -> Library:
    """A private copy of the fixture folder that a test may change."""
    root = tmp_path / "Phone"
    shutil.copytree(pristine_library.root, root, symlinks=True)
    return Library(
        root,
        [set(g) for g in pristine_library.groups],
        set(pristine_library.singles),
        dict(pristine_library.errors),
        pristine_library.rotated,
        pristine_library.videos,
    )


@pytest.fixture
def db(tmp_path: Path):
    return open_db(tmp_path / "photocull.db")
