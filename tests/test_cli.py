"""The command line: through click's runner and as a real process (interrupts, start-up time)."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from photocull.cli.main import cli
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db


def run(*args: str, db: Path | None = None):
    argv = (["--db", str(db)] if db else []) + list(args)
    return CliRunner().invoke(cli, argv, catch_exceptions=False)


def test_scan_review_export_round_trip(library, tmp_path):
    db = tmp_path / "cli.db"
    result = run("scan", str(library.root), "--no-models", "--workers", "1", "--json", db=db)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["groups"] == len(library.groups)

    review = json.loads(run("review", "--json", db=db).stdout)
    assert review["schema_version"] == 1
    assert [g["size"] for g in review["groups"]] == sorted((len(g) for g in library.groups), reverse=True)
    assert all(len(g["photos"]) == g["size"] and not g["decided"] for g in review["groups"])
    assert review["singles"] == []  # no junk among the fixtures' single photos
    text = run("review", db=db).stdout
    assert "IMG_1000.jpg" in text and "group" in text

    records = json.loads(run("export", "--format", "json", db=db).stdout)
    assert len(records) == len(set().union(*library.groups)) + len(library.singles)
    rec = next(r for r in records if r["path"].endswith("IMG_0001.jpg"))
    assert os.path.isabs(rec["path"])
    assert isinstance(rec["group"], int)
    assert rec["captured_at"] == "2024-07-14T10:30:05.250000+01:00"
    for key in ("width", "height", "sharpness", "exposure", "highlights_clipped", "shadows_clipped"):
        assert isinstance(rec[key], (int, float))
    for key in ("suggestion", "reasons", "happy", "emotions"):
        assert key in rec
    single = next(r for r in records if r["path"].endswith("IMG_9001.jpg"))
    assert single["group"] is None

    out = tmp_path / "photos.csv"
    assert run("export", "--format", "csv", "-o", str(out), db=db).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(records) and "emotion_awe" in rows[0]

    errors = json.loads(run("export", "--format", "json", "--errors", db=db).stdout)
    assert {os.path.relpath(e["path"], library.root) for e in errors} == set(library.errors)
    assert all(e["error"] for e in errors)


def test_db_from_environment(library, tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("PHOTOCULL_DB", str(db))
    assert run("scan", str(library.root / "WhatsApp"), "--no-models", "--workers", "1").exit_code == 0
    assert sqlite3.connect(db).execute("select count(*) from photos").fetchone()[0] == 1


def test_default_db_needs_no_setup(library, tmp_path, monkeypatch):
    home = tmp_path / "fresh-home"
    monkeypatch.setenv("PHOTOCULL_HOME", str(home))
    assert run("scan", str(library.root / "WhatsApp"), "--no-models", "--workers", "1").exit_code == 0
    assert (home / "photocull.db").exists()


def test_bad_database_is_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "not.db"
    bad.write_text("hello, I am not SQLite " * 100)
    result = CliRunner().invoke(cli, ["--db", str(bad), "review"])
    assert result.exit_code == 1
    assert "cannot open the photocull database" in result.output and "Traceback" not in result.output


def test_help_review_export_start_fast_without_tensorflow(tmp_path, proc_env):
    env = proc_env
    code = (
        "import sys, time; t = time.perf_counter(); from photocull.cli.main import cli; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print(time.perf_counter() - t)"
    )
    assert (
        float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout)
        < 1.0
    )
    for args in (["--help"], ["review"], ["export"]):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "photocull", *args], env=env, check=True, capture_output=True)
        assert time.perf_counter() - start < 2.0  # interpreter start included; well under 1 s here


@pytest.mark.parametrize("how", ["kill -9", "ctrl-c"])
def test_interrupted_scan_leaves_consistent_db_and_resumes(many_photos, tmp_path, proc_env, wait_for_rows, how):
    root = many_photos
    total = sum(1 for p in root.rglob("*") if p.is_file())
    db_path = tmp_path / "interrupted.db"
    workers = "1" if how == "kill -9" else "2"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "photocull",
            "--db",
            str(db_path),
            "scan",
            str(root),
            "--no-models",
            "--workers",
            workers,
            "--batch-size",
            "2",
        ],
        env=proc_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for_rows(db_path, 4, proc)
    proc.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    if how == "ctrl-c":
        assert proc.returncode == 130, err
        assert "interrupted" in err and "Traceback" not in err
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        saved = conn.execute("select count(*) from photos").fetchone()[0]
    assert 0 < saved < total

    db = open_db(db_path)
    resumed = scan(db, [root], options=ScanOptions(workers=1))
    assert resumed.counts["measured"] == total - saved  # only the unfinished part is read
    assert db["photos"].count == total
    statuses = [r["status"] for r in db.query("select status from scans order by id")]
    assert statuses == ["interrupted", "done"]


def _tree(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def test_an_empty_library_says_what_to_do_at_every_step(tmp_path):
    db, empty = tmp_path / "empty.db", tmp_path / "no photos"
    (empty / ".hidden").mkdir(parents=True)
    (empty / "clip.mp4").write_bytes(b"")
    assert "No photos scanned yet: run photocull scan FOLDER first." in run("review", db=db).output
    scanned = run("scan", str(empty), "--no-models", db=db)
    assert scanned.exit_code == 0 and f"No photos found under {empty}: photocull reads JPEG" in " ".join(
        scanned.output.split()
    )
    assert "Nothing to discard" in run("apply", "--dry-run", db=db).output
    assert json.loads(run("apply", "--dry-run", "--json", db=db).output)["planned"] == 0
    Image.effect_noise((64, 48), 60).convert("RGB").save(empty / "one.png")
    run("scan", str(empty), "--no-models", db=db)
    assert "Nothing to review: 1 photo scanned, no near-duplicate group" in " ".join(
        run("review", db=db).output.split()
    )


def test_apply_dry_run_then_apply_then_undo_through_the_cli(library, tmp_path):
    db = tmp_path / "apply.db"
    assert run("scan", str(library.root), "--no-models", "--workers", "1", db=db).exit_code == 0
    before = _tree(library.root)
    dry = json.loads(run("apply", "--dry-run", "--json", db=db).stdout)
    assert dry["dry_run"] and dry["planned"] > 0
    assert _tree(library.root) == before
    declined = CliRunner().invoke(cli, ["--db", str(db), "apply"], input="n\n")
    assert declined.exit_code == 1 and _tree(library.root) == before
    done = json.loads(run("apply", "--yes", "--json", db=db).stdout)
    assert done["moved"] == dry["planned"]
    held = library.root / "_photocull_discarded"
    assert len([p for p in held.rglob("*") if p.is_file()]) == done["moved"]
    assert all(os.path.exists(m["dst"]) and not os.path.exists(m["src"]) for m in done["moves"])
    # a rescan does not pick up the holding folder, and review has nothing new to show for moved photos
    rescan = json.loads(run("scan", str(library.root), "--no-models", "--workers", "1", "--json", db=db).stdout)
    assert rescan["new"] == 0
    undone = json.loads(run("undo", "--json", db=db).stdout)
    assert undone["status"] == "undone" and undone["restored"] == done["moved"]
    assert _tree(library.root) == before
    again = CliRunner().invoke(cli, ["--db", str(db), "undo"])
    assert again.exit_code == 1 and "Traceback" not in again.output


def test_missing_model_files_are_a_message_not_a_traceback(library, tmp_path, monkeypatch):
    monkeypatch.setenv("PHOTOCULL_MODELS", str(tmp_path / "no-models-here"))
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "scan", str(library.root)])
    assert result.exit_code == 1
    assert "--no-models" in result.output and "Traceback" not in result.output
    ok = CliRunner().invoke(cli, ["--db", str(tmp_path / "m.db"), "scan", str(library.root), "--no-models"])
    assert ok.exit_code == 0


def test_doctor_passes_on_this_install_and_names_what_is_broken(tmp_path, monkeypatch):
    import shutil

    from photocull.base.modelfiles import models_dir

    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "new" / "photocull.db"), "doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [c["name"] for c in report["checks"]] == [
        "model files",
        "mood models",
        "face models",
        "HEIC",
        "database",
        "config",
    ]
    assert all(c["ok"] for c in report["checks"]) and "photocull" in report["versions"]
    assert not (tmp_path / "new").exists()  # checked, not created
    broken = tmp_path / "models"
    shutil.copytree(models_dir(), broken)
    (broken / "face_eyes.tflite").unlink()
    monkeypatch.setenv("PHOTOCULL_MODELS", str(broken))
    result = CliRunner().invoke(cli, ["--db", "/etc/passwd/photocull.db", "doctor"])
    assert result.exit_code == 1
    assert "FAIL model files" in result.output and "face_eyes.tflite" in result.output
    assert "FAIL face models" in result.output and "what to do: reinstall photocull" in result.output
    assert "FAIL database" in result.output and "ok   HEIC" in result.output


def test_shell_completion_the_click_way():
    env = {**os.environ, "COMP_WORDS": "photocull do", "COMP_CWORD": "1", "_PHOTOCULL_COMPLETE": "bash_complete"}
    script = Path(sys.executable).with_name("photocull")  # the installed command, as a shell calls it
    out = subprocess.run([str(script)], env=env, capture_output=True, text=True, check=True)
    assert "plain,doctor" in out.stdout.splitlines()
