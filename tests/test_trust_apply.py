"""apply never leaves a picture without a copy, never lies about what it did, and undo always gets every
byte back: checked on the bytes on disk, the journal rows and the exit codes, also with faults injected."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlite_utils
from click.testing import CliRunner
from PIL import Image
from skimage import data

from photocull.base.errors import PhotocullError
from photocull.base.paths import HOLDING_FOLDER
from photocull.cli.main import cli
from photocull.decide.apply import apply, undo
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db
from photocull.store.decisions import set_decisions
from photocull.store.migrations import MIGRATIONS, m016_blake3_digests
from synthetic import save_photo, variant


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` by its sha256 (the holding folder included)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def pictures(tree_: dict[str, str]) -> set[str]:
    """The distinct contents present anywhere: no picture may ever drop out of this set."""
    return set(tree_.values())


@pytest.fixture
def bursts(tmp_path):
    """Two bursts of three frames, scanned hash-only: each keeps one frame and discards two."""
    root = tmp_path / "Phone"
    rng = np.random.default_rng(5)
    when = dt.datetime(2024, 7, 14, 10, 30)
    for b, picture in enumerate((data.chelsea, data.astronaut)):
        base = Image.fromarray(picture()).convert("RGB")
        for k in range(3):
            save_photo(
                variant(base, rng),
                root / f"B{b}" / f"IMG_{k}.jpg",
                when + dt.timedelta(minutes=b, milliseconds=250 * k),
            )
    db_path = tmp_path / "db" / "photocull.db"
    db_path.parent.mkdir()
    db = open_db(db_path)
    scan(db, [root], options=ScanOptions(workers=1))
    assert db.execute("select count(*) from photos where suggestion = 'discard'").fetchone()[0] == 4
    return db, root, db_path


def kept_of(db, folder: str) -> Path:
    return Path(
        db.execute("select path from photos where suggestion = 'keep' and path like ?", [f"%/{folder}/%"]).fetchone()[0]
    )


def cli_run(db_path: Path, *args: str):
    return CliRunner().invoke(cli, ["--db", str(db_path), *args])


@pytest.mark.parametrize("how", ["deleted", "moved away", "rewritten, same size and mtime"])
def test_duplicates_stay_when_the_kept_photo_is_gone_or_changed(bursts, how):
    db, root, _ = bursts
    keeper = kept_of(db, "B0")
    if how == "deleted":
        keeper.unlink()
    elif how == "moved away":
        keeper.rename(root.parent / "elsewhere.jpg")
    elif how == "rewritten, same size and mtime":
        st = keeper.stat()
        raw = bytearray(keeper.read_bytes())
        raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the image data: same size
        keeper.write_bytes(bytes(raw))
        os.utime(keeper, ns=(st.st_atime_ns, st.st_mtime_ns))
    before = tree(root)
    report = apply(db)
    moved = {Path(m.src).parent.name for m in report.moved}
    assert moved == {"B1"}, "only the burst whose kept frame is intact may lose frames"
    notes = [s for s in report.skipped if "/B0/" in s.path]
    assert len(notes) == 2 and all("kept from its group" in n.reason or "content" in n.reason for n in notes)
    after = tree(root)
    assert pictures(before) <= pictures(after)  # every picture still somewhere under the root
    assert {k for k in before if k.startswith("B0")} <= set(after)  # B0 untouched


def test_a_kept_row_that_is_another_name_of_the_discard_protects_it(bursts):
    """A database from before real paths may hold one file twice; "keeping" one name keeps nothing extra."""
    db, _root, _ = bursts
    keeper = kept_of(db, "B0")
    victim = Path(
        db.execute(
            "select path from photos where suggestion = 'discard' and path like '%/B0/%' order by path"
        ).fetchone()[0]
    )
    alias = victim.with_name("alias.jpg")
    os.link(victim, alias)
    st = victim.stat()
    db.execute(
        "update photos set path = ?, size = ?, mtime_ns = ?, digest = (select digest from photos where path = ?) where path = ?",
        [str(alias), st.st_size, st.st_mtime_ns, str(victim), str(keeper)],
    )
    report = apply(db)
    assert str(victim) in [s.path for s in report.skipped] and victim.exists()
    assert keeper.exists()  # no longer in the database, and never touched


def test_a_discard_rewritten_with_same_size_and_mtime_is_not_moved(bursts):
    db, _root, _ = bursts
    victim = Path(db.execute("select path from photos where suggestion = 'discard' order by path").fetchone()[0])
    st = victim.stat()
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    report = apply(db)
    assert [s.path for s in report.skipped] == [str(victim)] and "content changed" in report.skipped[0].reason
    assert victim.exists() and len(report.moved) == 3


def test_a_group_the_person_discarded_whole_is_moved(bursts):
    db, _root, _ = bursts
    ids = [r[0] for r in db.execute("select id from photos where path like '%/B0/%'")]
    set_decisions(db, {i: "discard" for i in ids})
    report = apply(db)
    assert sum("/B0/" in m.src for m in report.moved) == 3


def test_empty_apply_is_not_recorded_and_undo_takes_the_last_real_one(bursts):
    db, root, db_path = bursts
    before = tree(root)
    first = apply(db)
    assert len(first.moved) == 4 and first.apply_id is not None
    second = apply(db)
    assert second.moved == [] and second.apply_id is None
    assert db["applies"].count == 1
    result = cli_run(db_path, "apply", "--yes")
    assert result.exit_code == 0 and "Nothing" in result.output
    restored = undo(db)
    assert restored.apply_id == first.apply_id and len(restored.restored) == 4
    assert tree(root) == before


def test_failed_moves_are_a_failure_with_counts_and_reasons(bursts):
    _db, root, db_path = bursts
    (root / HOLDING_FOLDER).write_text("a file where the holding folder must go\n")
    before = tree(root)
    result = cli_run(db_path, "apply", "--yes", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["moved"] == 0 and report["failed"] == 4
    assert all("could not be moved" in f["reason"] for f in report["failed_files"])
    assert tree(root) == before
    text = cli_run(db_path, "apply", "--yes")
    assert text.exit_code == 1 and "4 moves failed" in text.output and "done" not in text.output


def test_partial_undo_exits_non_zero_also_with_json(bursts):
    db, _root, db_path = bursts
    report = apply(db)
    src = Path(report.moved[0].src)
    src.write_bytes(b"a new file where the photo was")
    result = cli_run(db_path, "undo", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "partly undone"


@pytest.mark.slow
def test_a_full_disk_during_apply_stops_it_and_undo_restores_everything(
    bursts, proc_env, photocull_argv, file_size_limit
):
    """A real write failure: the apply process may not grow any file past a few more database pages."""
    db, root, db_path = bursts
    db.execute("pragma wal_checkpoint(truncate)")
    db.conn.close()
    before = tree(root)
    limit = 44_000  # the 32 KiB shared-memory file fits; the write-ahead log fills after a move or two
    proc = subprocess.run(
        photocull_argv("--db", str(db_path), "apply", "--yes"),
        env=proc_env,
        check=False,
        capture_output=True,
        text=True,
        preexec_fn=file_size_limit(limit),
    )
    assert proc.returncode == 1, proc.stderr
    assert "could not write" in proc.stderr and "Traceback" not in proc.stderr
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert pictures(tree(root)) == pictures(before)  # every picture in the library or the holding folder
    undone = cli_run(db_path, "undo")
    assert undone.exit_code in (0, 1) and ("restored" in undone.output or "nothing to undo" in undone.output)
    assert tree(root) == before


def test_journal_full_after_some_moves(bursts, monkeypatch):
    """The disk fills after two files were moved: they stay undoable, the rest stay in place."""
    db, root, _ = bursts
    before = tree(root)
    from photocull.store import journal as journal_mod

    real = journal_mod.journal_move
    calls = []

    def journal(db_, **row):
        calls.append(row["src"])
        if len(calls) == 3:
            raise sqlite3.OperationalError("database or disk is full")
        return real(db_, **row)

    monkeypatch.setattr(journal_mod, "journal_move", journal)
    with pytest.raises(PhotocullError, match="2 photos were moved"):
        apply(db)
    assert len([k for k in tree(root) if k.startswith(HOLDING_FOLDER)]) == 2
    assert pictures(tree(root)) == pictures(before)
    assert len(undo(db).restored) == 2
    assert tree(root) == before


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_move_then_undo(bursts, proc_env):
    """A real process killed with SIGKILL right after its third file moved, before the journal says so."""
    db, root, db_path = bursts
    before = tree(root)
    code = (
        "import os, signal, sys; from photocull.decide import apply as a; from photocull.store.database import open_db\n"
        "real = a._move_file; n = [0]\n"
        "def move(src, dst, sha):\n"
        "    real(src, dst, sha); n[0] += 1\n"
        "    if n[0] == 3: os.kill(os.getpid(), signal.SIGKILL)\n"
        "a._move_file = move\n"
        "a.apply(open_db(sys.argv[1]))\n"
    )
    db.conn.close()
    proc = subprocess.run([sys.executable, "-c", code, str(db_path)], env=proc_env, check=False, capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    db = open_db(db_path)
    states = [r[0] for r in db.execute("select state from moves order by id")]
    assert states == ["moved", "moved", "planned"]
    assert pictures(tree(root)) == pictures(before)
    result = cli_run(db_path, "undo")
    assert result.exit_code == 0, result.output
    assert tree(root) == before


def test_rows_from_an_older_photocull_are_never_moved_until_rescanned(bursts):
    """Rows without a content digest (scanned before digests existed) are not trusted for a move."""
    db, root, _ = bursts
    db.execute("update photos set digest = null")
    before = tree(root)
    report = apply(db)
    assert report.moved == [] and all("older photocull" in s.reason for s in report.skipped)
    assert tree(root) == before
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["read_again"] == 6 and summary.counts["changed"] == 0
    assert len(apply(db).moved) == 4


def sha256_of(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_sha256_digests_of_an_older_photocull_still_guard_apply_undo_and_moves(bursts):
    """Digests recorded before BLAKE3 (bare SHA-256 hex) are checked with SHA-256: the library is not
    read again, apply still refuses a file whose bytes changed, undo verifies such a journal, and a
    renamed photo is still recognised by its old digest."""
    db, root, _ = bursts
    for r in list(db.query("select id, path from photos")):
        db.execute("update photos set digest = ? where id = ?", [sha256_of(r["path"]), r["id"]])
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["unchanged"] == 6 and summary.counts["read_again"] == 0

    renamed = kept_of(db, "B1")
    photo_id = db.execute("select id from photos where path = ?", [str(renamed)]).fetchone()[0]
    renamed.rename(renamed.with_name("kept.jpg"))
    summary = scan(db, [root], options=ScanOptions(workers=1))
    assert summary.counts["moved"] == 1 and summary.counts["new"] == 0
    assert db["photos"].get(photo_id)["path"] == str(renamed.with_name("kept.jpg"))

    tampered = Path(db.execute("select path from photos where suggestion = 'discard' order by path").fetchone()[0])
    st = tampered.stat()
    content = bytearray(tampered.read_bytes())
    content[-3] ^= 0xFF  # same size and date, other bytes
    tampered.write_bytes(bytes(content))
    os.utime(tampered, ns=(st.st_atime_ns, st.st_mtime_ns))
    before = tree(root)
    report = apply(db)
    assert [s.path for s in report.skipped] == [str(tampered)] and "content changed" in report.skipped[0].reason
    assert len(report.moved) == 3
    journal = list(db.query("select digest from moves where apply_id = ?", [report.apply_id]))
    assert journal and all(len(r["digest"]) == 64 and ":" not in r["digest"] for r in journal)
    assert len(undo(db).restored) == 3
    assert tree(root) == before


def test_an_older_database_keeps_its_digests_under_the_new_column_name(tmp_path):
    """m016 renames the digest columns of a database photocull wrote before: values kept, nothing lost."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    db.table("_migrations").create({"name": str, "applied_at": str}, pk="name")
    for fn in MIGRATIONS[: MIGRATIONS.index(m016_blake3_digests)]:
        fn(db)
        db.table("_migrations").insert({"name": fn.__name__, "applied_at": "2026-11-01T00:00:00+00:00"})
    db.table("photos").insert({"path": "/p/a.jpg", "size": 3, "mtime_ns": 1, "sha256": "ab" * 32}, alter=True)
    db.table("moves").insert({"apply_id": 1, "photo_id": 1, "src": "/p/a.jpg", "sha256": "cd" * 32})
    db.close()
    db = open_db(path)
    assert db.execute("select digest from photos").fetchone()[0] == "ab" * 32
    assert db.execute("select digest from moves").fetchone()[0] == "cd" * 32
    assert "sha256" not in db["photos"].columns_dict and "sha256" not in db["moves"].columns_dict
