"""Scoring during scan: one batched pass per photo, stored scores, export fields, re-scoring rules."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from photocull.cli.main import cli
from photocull.pipeline import ScanOptions, scan
from photocull.store.export import EMOTIONS, photo_records


@pytest.fixture(scope="module")
def scorer():
    from photocull.mood.scoring import Scorer

    return Scorer.load()


class CountingScorer:
    """Wraps the real scorer to check batching: how many calls, how many photos per call."""

    def __init__(self, inner):
        self.inner, self.version, self.calls = inner, inner.version, []

    def score(self, images: np.ndarray) -> list[dict]:
        self.calls.append(len(images))
        return self.inner.score(images)


def test_scan_scores_every_photo_in_batches_and_exports_scores(library, db, scorer):
    counting = CountingScorer(scorer)
    summary = scan(db, [library.root], scorer=counting, options=ScanOptions(workers=1, batch_size=16))
    n = len(set().union(*library.groups)) + len(library.singles)
    assert summary.counts["scored"] == n and sum(counting.calls) == n
    assert counting.calls[0] == 16  # batched, never one call per photo
    records = list(photo_records(db))
    for rec in records:
        assert 0.0 <= rec["happy"] <= 1.0
        assert set(rec["emotions"]) == set(EMOTIONS)
        assert abs(sum(rec["emotions"].values()) - 1.0) < 1e-3
        assert rec["top_emotion"] == max(rec["emotions"], key=rec["emotions"].get)
    row = next(db.query("select model_version, embedding from photos limit 1"))
    assert row["model_version"] == scorer.version
    assert len(row["embedding"]) == 1280 * 2  # float16
    # groups are unchanged by the embedding on the standard fixture (measured: scripts/measure_grouping.py)
    groups: dict[int, set[str]] = {}
    for r in db.query("select group_id, path from photos where group_id is not null"):
        groups.setdefault(r["group_id"], set()).add(r["path"][len(str(library.root)) + 1 :])
    assert sorted(groups.values(), key=sorted) == sorted(library.groups, key=sorted)


def test_rescan_rescores_only_stale_model_versions(library, db, scorer):
    scan(db, [library.root], scorer=scorer, options=ScanOptions(workers=1))
    again = scan(db, [library.root], scorer=scorer, options=ScanOptions(workers=1))
    assert again.counts["scored"] == 0 and again.counts["measured"] == 0
    db.execute("update photos set model_version = 'old' where path like '%IMG_9001.jpg'")
    stale = scan(db, [library.root], scorer=scorer, options=ScanOptions(workers=1))
    assert stale.counts["scored"] == 1 and stale.counts["measured"] == 0
    hashonly = scan(db, [library.root], options=ScanOptions(workers=1))
    assert hashonly.counts["scored"] == 0
    assert db.execute("select count(*) from photos where happy is null").fetchone()[0] == 0


def test_cli_scan_with_models_and_models_list(library, tmp_path):
    db = str(tmp_path / "m.db")
    result = CliRunner().invoke(
        cli, ["--db", db, "scan", str(library.root / "DCIM" / "Camera"), "--workers", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scored"] > 0
    records = json.loads(CliRunner().invoke(cli, ["--db", db, "export"]).stdout)
    assert all(r["happy"] is not None and len(r["emotions"]) == 8 for r in records)
    listing = CliRunner().invoke(cli, ["models", "list"], terminal_width=200)
    assert listing.exit_code == 0 and "happy" in listing.output and "emotion" in listing.output


def test_unchanged_rescan_never_loads_the_model(library, db, scorer):
    from photocull.mood.litert import LiteRTScorer

    scan(db, [library.root], scorer=scorer, options=ScanOptions(workers=1))
    lite = LiteRTScorer()
    assert lite.version == scorer.version  # the same scores: no re-scoring when switching runtimes
    again = scan(db, [library.root], scorer=lite, options=ScanOptions(workers=1))
    assert again.counts["unchanged"] > 0 and again.counts["scored"] == 0
    assert not lite.model.loaded  # nothing needed scoring, so the model file was never loaded


@pytest.mark.slow
def test_a_scan_with_models_never_imports_tensorflow(library, tmp_path, proc_env):
    """The whole CLI scan, models included, in a process that reports what it imported."""
    code = (
        "import sys, json; from photocull.cli.main import cli\n"
        "try:\n    cli(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "print(json.dumps({'code': code, 'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n"
    )
    args = ["--db", str(tmp_path / "t.db"), "scan", str(library.root / "DCIM" / "Camera"), "--json"]
    proc = subprocess.run([sys.executable, "-c", code, *args], env=proc_env, capture_output=True, text=True, check=True)
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "tf": False, "keras": False}, proc.stderr
    summary = json.loads(proc.stdout[: proc.stdout.rindex("{")])
    assert summary["scored"] == summary["measured"] > 0
