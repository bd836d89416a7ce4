"""Shared fixtures: a generated phone folder (built once per session) and fresh databases."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Fixture builders live with the scripts that share them (they need scikit-image, a test extra).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from photocull.store.database import open_db
from photocull.store.decisions import set_decisions
from synthetic import Library, build_library


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


@pytest.fixture
def set_verdicts():
    """Builder: override a scan's suggestions and record a person's decisions, by path.

    ``verdicts`` maps each photo to (suggestion, decision); photos not named keep no suggestion.
    The test decides what is discarded, not the suggestion rules. Returns {path: photo id}.
    """

    def set_all(db, verdicts: dict[Path, tuple[str | None, str | None]]) -> dict[Path, int]:
        db.execute("update photos set suggestion = null, reasons = '[]'")
        ids = {}
        for path, (suggestion, decision) in verdicts.items():
            ids[path] = db.execute("select id from photos where path = ?", [str(path)]).fetchone()[0]
            db.execute("update photos set suggestion = ? where id = ?", [suggestion, ids[path]])
            if decision:
                set_decisions(db, {ids[path]: decision})
        return ids

    return set_all


@pytest.fixture
def proc_env(tmp_path: Path) -> dict:
    """Environment for a photocull subprocess: its own user directory, unbuffered output."""
    env = dict(os.environ, PHOTOCULL_HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")
    env.pop("PHOTOCULL_DB", None)
    return env


@pytest.fixture
def photocull_argv():
    """argv of a real ``photocull`` process (``python -m photocull ...``)."""
    return lambda *args: [sys.executable, "-m", "photocull", *args]


@pytest.fixture
def wait_for_rows():
    return _wait_for_rows


def _wait_for_rows(db_path: Path, at_least: int, proc: subprocess.Popen, timeout: float = 60) -> int:
    """Wait until the running scan has written ``at_least`` photo rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "scan finished before it could be interrupted"
        try:
            with sqlite3.connect(db_path, timeout=1) as conn:
                n = conn.execute("select count(*) from photos").fetchone()[0]
            if n >= at_least:
                return n
        except sqlite3.OperationalError:
            pass
        time.sleep(0.01)
    raise AssertionError("scan wrote nothing in time")


@pytest.fixture
def hold_write_lock():
    """Start another process in the middle of a write (a scan's batch, a decision in serve) on a
    database, holding its lock for some seconds; returns that process."""
    return _hold_write_lock


def _hold_write_lock(db_path: Path, seconds: float) -> subprocess.Popen:
    """Another process in the middle of a write (a scan's batch, a decision in serve)."""
    code = (
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); c.execute('BEGIN IMMEDIATE'); "
        "c.execute('update photos set size = size'); print('locked', flush=True); time.sleep(float(sys.argv[2])); "
        "c.rollback()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(db_path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def many_photos(pristine_library: Library, tmp_path: Path) -> Path:
    """Eight copies of the fixture's camera folder: a scan long enough to interrupt."""
    root = tmp_path / "many"
    for k in range(8):
        shutil.copytree(
            pristine_library.root / "DCIM" / "Camera",
            root / f"folder{k}",
            ignore=shutil.ignore_patterns("loop", ".*", "*.mp4"),
        )
    return root


@pytest.fixture
def file_size_limit():
    """A ``preexec_fn`` that makes every file write past ``n`` bytes fail (EFBIG), like a full disk."""
    import resource
    import signal

    def limit(n: int):
        def apply_limit() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
            resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))

        return apply_limit

    return limit
