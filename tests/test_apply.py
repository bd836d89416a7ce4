"""apply moves exactly the photos to discard, journaled; undo puts every byte back, even after a crash."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import os
from pathlib import Path

import pytest
import send2trash.plat_other
from blake3 import blake3
from PIL import Image
from skimage import data

from photocull.base.errors import PhotocullError
from photocull.base.paths import HOLDING_FOLDER
from photocull.decide import apply as apply_mod
from photocull.decide.apply import apply, plan, undo
from photocull.pipeline import ScanOptions, scan
from photocull.store.database import open_db
from synthetic import save_photo

NAMES = {
    "suggested": "DCIM/Camera/IMG_0001.jpg",  # suggestion discard → moved
    "overridden": "DCIM/Camera/IMG_0002.jpg",  # suggestion discard, person says keep → stays
    "person": "DCIM/Camera/IMG_0003.jpg",  # suggestion keep, person says discard → moved
    "review": "DCIM/Camera/IMG_0004.jpg",  # review → stays
    "unsuggested": "Screenshots/shot.png",  # no suggestion → stays
    "nested": "DCIM/Camera/old/IMG_0001.jpg",  # suggestion discard, same name in a subfolder → moved
}


def tree(root: Path) -> dict[str, str]:
    """Every file (by sha256) and every folder below ``root``."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out


@pytest.fixture
def decided(tmp_path, set_verdicts):
    """Unrelated photos scanned, with the suggestions and decisions of NAMES' comments set by hand."""
    root = tmp_path / "phone"
    pictures = [data.astronaut, data.chelsea, data.coffee, data.rocket, data.camera, data.immunohistochemistry]
    when = dt.datetime(2024, 7, 14, 10, 30)
    for k, rel in enumerate(NAMES.values()):
        img = Image.fromarray(pictures[k]()).convert("RGB").resize((160, 120))
        save_photo(img, root / rel, when + dt.timedelta(minutes=5 * k))
    (root / "DCIM" / "notes.txt").write_text("not a photo\n")
    db = open_db(tmp_path / "db" / "photocull.db")
    scan(db, [root], options=ScanOptions(workers=1))
    verdicts = {
        "suggested": ("discard", None),
        "overridden": ("discard", "keep"),
        "person": ("keep", "discard"),
        "review": ("review", None),
        "nested": ("discard", None),
    }
    set_verdicts(db, {root / NAMES[key]: verdict for key, verdict in verdicts.items()})
    return db, root


def held(root: Path, rel: str) -> Path:
    return root / HOLDING_FOLDER / rel


def test_plan_follows_the_effective_decision(decided):
    db, root = decided
    moves = plan(db)
    assert {m.src for m in moves} == {str(root / NAMES[k]) for k in ("suggested", "person", "nested")}
    by_src = {m.src: m for m in moves}
    assert by_src[str(root / NAMES["person"])].because == "your decision"
    assert by_src[str(root / NAMES["suggested"])].because == "suggested"
    assert by_src[str(root / NAMES["suggested"])].dst == str(held(root, NAMES["suggested"]))


def test_apply_moves_discards_and_journals_them(decided):
    db, root = decided
    report = apply(db)
    assert len(report.moved) == 3 and not report.skipped
    for key in ("suggested", "person", "nested"):
        assert not (root / NAMES[key]).exists()
        assert held(root, NAMES[key]).is_file()
    for key in ("overridden", "review", "unsuggested"):
        assert (root / NAMES[key]).is_file()
    assert db["applies"].get(report.apply_id)["status"] == "done"
    rows = list(db.query("select * from moves where apply_id = ?", [report.apply_id]))
    assert {r["state"] for r in rows} == {"moved"}
    for r in rows:
        assert "blake3:" + blake3(Path(r["dst"]).read_bytes()).hexdigest() == r["digest"]
    missing = {r["path"] for r in db.query("select path from photos where missing_since is not null")}
    assert missing == {r["src"] for r in rows}
    assert plan(db) == []  # moved photos are not planned again


def test_apply_then_undo_restores_every_path_and_byte(decided):
    db, root = decided
    before = tree(root)
    report = apply(db)
    assert tree(root) != before
    result = undo(db)
    assert result.apply_id == report.apply_id and result.status == "undone"
    assert sorted(result.restored) == sorted(m.src for m in report.moved)
    assert tree(root) == before  # holding folders removed again too
    assert db["applies"].get(report.apply_id)["status"] == "undone"
    assert {r["state"] for r in db.query("select state from moves")} == {"restored"}
    assert db.execute("select count(*) from photos where missing_since is not null").fetchone()[0] == 0
    with pytest.raises(PhotocullError, match="already undone"):
        undo(db, report.apply_id)
    with pytest.raises(PhotocullError, match="nothing to undo"):
        undo(db)  # the last apply that moved something is back: nothing older is pending either


def test_undo_with_nothing_to_undo_is_a_clear_error(tmp_path):
    db = open_db(tmp_path / "empty.db")
    with pytest.raises(PhotocullError, match="nothing to undo"):
        undo(db)
    with pytest.raises(PhotocullError, match="no apply #7"):
        undo(db, 7)


def test_dry_run_changes_nothing(decided):
    db, root = decided
    before_tree, before_db = tree(root), list(db.conn.iterdump())
    report = apply(db, dry_run=True)
    assert report.dry_run and report.apply_id is None and len(report.planned) == 3 and not report.moved
    assert tree(root) == before_tree
    assert list(db.conn.iterdump()) == before_db


def test_collisions_get_suffixes_and_nothing_is_overwritten(decided):
    db, root = decided
    taken = held(root, NAMES["suggested"])
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"an earlier discard")
    taken.with_name("IMG_0001 (1).jpg").write_bytes(b"another one")
    before = tree(root)
    report = apply(db)
    src = str(root / NAMES["suggested"])
    assert [m.dst for m in report.moved if m.src == src] == [str(taken.with_name("IMG_0001 (2).jpg"))]
    assert taken.read_bytes() == b"an earlier discard"
    undo(db)
    assert tree(root) == before


def test_changed_or_vanished_files_are_skipped(decided):
    db, root = decided
    changed = root / NAMES["suggested"]
    changed.write_bytes(changed.read_bytes() + b"edited")
    (root / NAMES["nested"]).unlink()
    report = apply(db)
    assert [m.src for m in report.moved] == [str(root / NAMES["person"])]
    reasons = {s.path: s.reason for s in report.skipped}
    assert "changed since it was scanned" in reasons[str(changed)]
    assert "no longer there" in reasons[str(root / NAMES["nested"])]
    assert changed.is_file()


def break_second_move(monkeypatch, exc: BaseException, move_it_first: bool = False) -> None:
    """Make the second file move raise ``exc`` (after really moving that file, if asked)."""
    real_move, calls = apply_mod._move_file, []

    def broken_move(src, dst, sha):
        calls.append(src)
        if len(calls) == 2:
            if move_it_first:
                real_move(src, dst, sha)  # the file moved, but the journal never heard of it
            raise exc
        real_move(src, dst, sha)

    monkeypatch.setattr(apply_mod, "_move_file", broken_move)


@pytest.mark.parametrize("crash", ["before_move", "after_move"])
def test_interrupted_apply_can_be_undone(decided, monkeypatch, crash):
    db, root = decided
    before = tree(root)
    break_second_move(monkeypatch, RuntimeError("power cut"), move_it_first=crash == "after_move")
    with pytest.raises(RuntimeError):
        apply(db)
    states = [r["state"] for r in db.query("select state from moves order by id")]
    assert states == ["moved", "planned"]
    assert db.execute("select status from applies").fetchone()[0] == "interrupted"
    monkeypatch.undo()
    result = undo(db)
    assert result.status == "undone"
    assert len(result.restored) == (2 if crash == "after_move" else 1)
    assert len(result.not_moved) == (0 if crash == "after_move" else 1)
    assert tree(root) == before


def test_ctrl_c_stops_cleanly_with_a_report(decided, monkeypatch):
    db, root = decided
    before = tree(root)
    break_second_move(monkeypatch, KeyboardInterrupt())
    report = apply(db)
    assert report.interrupted and len(report.moved) == 1
    assert db["applies"].get(report.apply_id)["status"] == "interrupted"
    monkeypatch.undo()
    assert undo(db).status == "undone"
    assert tree(root) == before


def test_undo_never_overwrites_a_file_at_the_original_path(decided):
    db, root = decided
    before = tree(root)
    apply(db)
    intruder = root / NAMES["person"]
    intruder.write_bytes(b"a new file with the old name")
    result = undo(db)
    assert result.status == "partly undone"
    assert [p.path for p in result.problems] == [str(intruder)]
    assert "something else now sits at the original path" in result.problems[0].reason
    assert intruder.read_bytes() == b"a new file with the old name"
    assert held(root, NAMES["person"]).is_file()
    intruder.unlink()
    again = undo(db)
    assert again.status == "undone" and again.restored == [str(intruder)]
    assert tree(root) == before


def test_cross_filesystem_moves_copy_verify_then_remove(decided, monkeypatch):
    db, root = decided
    before = tree(root)
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*.jpg")}
    real_rename = os.rename

    def no_cross_device_rename(src, dst):
        if not os.path.basename(src).startswith("."):  # photos "live on another disk"; partial copies do not
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", no_cross_device_rename)
    report = apply(db)
    assert len(report.moved) == 3
    for m in report.moved:
        assert Path(m.dst).stat().st_mtime_ns == mtimes[Path(m.src)]
    assert not list(root.rglob("*.photocull-partial"))
    undo(db)
    assert tree(root) == before


@pytest.fixture
def data_home(monkeypatch, tmp_path) -> Path:
    """A private freedesktop trash under tmp_path, used by send2trash and by undo's search."""
    data_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    monkeypatch.setattr(send2trash.plat_other, "XDG_DATA_HOME", os.fsencode(data_home))
    monkeypatch.setattr(send2trash.plat_other, "HOMETRASH_B", os.fsencode(data_home / "Trash"))
    monkeypatch.setattr(send2trash.plat_other, "get_dev", lambda path: 1)  # "same disk as home"
    monkeypatch.setattr(apply_mod.send2trash, "send2trash", send2trash.plat_other.send2trash)
    return data_home


def test_trash_mode_goes_to_the_freedesktop_trash_and_back(decided, data_home):
    db, root = decided
    before = tree(root)
    report = apply(db, trash=True)
    assert report.mode == "trash" and len(report.moved) == 3
    assert all(m.dst and m.dst.startswith(str(data_home / "Trash" / "files")) for m in report.moved)
    assert not (root / HOLDING_FOLDER).exists()
    result = undo(db)
    assert result.status == "undone" and len(result.restored) == 3
    assert tree(root) == before
    assert not list((data_home / "Trash" / "info").iterdir())


def test_undo_says_so_when_the_trash_no_longer_has_the_file(decided, data_home, tmp_path):
    db, _root = decided
    report = apply(db, trash=True)
    emptied = tmp_path / "emptied"
    emptied.mkdir()
    for m in report.moved:
        os.replace(m.dst, emptied / Path(m.dst).name)  # the person emptied the trash (into a folder, for the test)
    result = undo(db)
    assert result.status == "partly undone" and not result.restored
    assert all("restore it from your system trash" in p.reason for p in result.problems)
