"""Carrying out discard decisions safely, and reversing them exactly.

A discarded photo is moved, never deleted: into ``<root>/_photocull_discarded/<same relative
path>`` (or the system trash). Every move is journaled in ``moves`` before the file is touched and
marked after, so ``undo`` can reverse a run exactly, even one killed halfway: a journaled file
found at its destination was moved, one still at its source was not.

Nothing is moved on the strength of a stale scan. Just before each move, the file must still be
exactly what was scanned (size, mtime and the digest of its content, photocull.base.files), and a
photo discarded as a near-duplicate moves only while a member of its group that is kept is still
present, unchanged, and a different file: otherwise no copy of the picture might remain in the
library.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from dataclasses import dataclass, field

import send2trash
import sqlite_utils

from photocull.base.errors import PhotocullError
from photocull.base.files import has_content, holds
from photocull.base.interrupts import terminate_as_interrupt
from photocull.base.names import shown
from photocull.base.paths import HOLDING_FOLDER
from photocull.base.progress import Progress
from photocull.decide.trash import find_in_trash, trashinfo_for
from photocull.store import journal
from photocull.store.database import is_busy
from photocull.store.groups import other_members
from photocull.store.photos import db_file
from photocull.store.records import verdict

MODE_HOLDING = "holding"
MODE_TRASH = "trash"
# Cross-filesystem copies are written under this hidden name first, so a crash never leaves a
# half-written file that looks like a photo (scans skip hidden files).
PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".photocull-partial"


@dataclass
class PlannedMove:
    photo_id: int
    src: str
    dst: str | None  # None: the system trash
    size: int
    mtime_ns: int
    because: str  # "your decision" or "suggested"
    digest: str | None = None  # the content digest recorded by the scan
    group_id: int | None = None


@dataclass
class FileNote:
    """A file apply or undo left alone (or could not finish), and why."""

    path: str
    reason: str


@dataclass
class ApplyReport:
    mode: str
    dry_run: bool
    apply_id: int | None = None  # None for a dry run
    planned: list[PlannedMove] = field(default_factory=list)
    moved: list[PlannedMove] = field(
        default_factory=list
    )  # dst is where the file now is (None: trash, location unknown)
    skipped: list[FileNote] = field(default_factory=list)  # left alone on purpose (changed, no kept copy…)
    failed: list[FileNote] = field(default_factory=list)  # a move was tried and the system refused it
    interrupted: bool = False
    in_flight: PlannedMove | None = None  # journaled as planned, not yet as moved

    def as_dict(self) -> dict:
        return {
            "apply_id": self.apply_id,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "planned": len(self.planned),
            "moved": len(self.moved),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "interrupted": self.interrupted,
            "moves": [
                {"src": m.src, "dst": m.dst, "because": m.because}
                for m in (self.planned if self.dry_run else self.moved)
            ],
            "skipped_files": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "failed_files": [{"path": s.path, "reason": s.reason} for s in self.failed],
        }


@dataclass
class UndoReport:
    apply_id: int
    status: str  # "undone", or "partly undone" when problems remain (undo again after fixing them)
    restored: list[str] = field(default_factory=list)  # original paths now back in place
    not_moved: list[str] = field(default_factory=list)  # journaled but never moved (interrupted run)
    problems: list[FileNote] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "apply_id": self.apply_id,
            "status": self.status,
            "restored": len(self.restored),
            "not_moved": len(self.not_moved),
            "problems": [{"path": p.path, "reason": p.reason} for p in self.problems],
            "restored_files": self.restored,
        }


def _free_name(path: str, taken: set[str]) -> str:
    """``path``, or ``name (1).ext``, ``name (2).ext``… whichever neither exists nor is taken."""
    stem, ext = os.path.splitext(path)
    candidate, n = path, 0
    while candidate in taken or os.path.lexists(candidate):
        n += 1
        candidate = f"{stem} ({n}){ext}"
    return candidate


def plan(db: sqlite_utils.Database, *, trash: bool = False) -> list[PlannedMove]:
    """Present photos whose effective decision (a person's, else the suggestion) is discard."""
    rows = journal.discards(db)
    taken: set[str] = set()
    moves = []
    for r in rows:
        dst = None
        if not trash:
            rel = os.path.relpath(r["path"], r["root"])
            dst = _free_name(os.path.join(r["root"], HOLDING_FOLDER, rel), taken)
            taken.add(dst)
        because = "your decision" if r["decision"] == "discard" else "suggested"
        moves.append(
            PlannedMove(r["id"], r["path"], dst, r["size"], r["mtime_ns"], because, r["digest"], r["group_id"])
        )
    return moves


def _fsync_dir(folder: str) -> None:
    if os.name == "nt":  # Windows cannot open a folder to fsync it; NTFS journals renames itself
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _move_file(src: str, dst: str, digest: str) -> None:
    """Rename; across filesystems copy, fsync, verify, and only then remove the source.

    Never overwrites ``dst`` (checked just before; a rename cannot be told to refuse portably).
    """
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "something already exists there", dst)
    try:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OSError(
            exc.errno, "a file is in the way of the holding folder; move it away and run apply again", exc.filename
        ) from None
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    partial = _partial_path(dst)
    try:
        shutil.copy2(src, partial)
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        if not has_content(partial, digest):
            raise OSError(errno.EIO, f"the copy did not match the original ({src}); the original is untouched", partial)
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "something already exists there", dst)
        os.rename(partial, dst)
        _fsync_dir(os.path.dirname(dst))
    except BaseException:
        if os.path.lexists(partial):
            os.remove(partial)  # our own unfinished copy, never a photo
        raise
    os.remove(src)


def _partial_path(dst: str) -> str:
    folder, name = os.path.split(dst)
    return os.path.join(folder, PARTIAL_PREFIX + name + PARTIAL_SUFFIX)


def apply(
    db: sqlite_utils.Database,
    *,
    trash: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ApplyReport:
    """Move every photo to discard out of the library; skip any file that is not safe to move now.

    Ctrl-C or SIGTERM stops after the current file and returns a report marked interrupted; ``undo``
    reverses what was moved. A run that moved nothing leaves no trace in the journal. A failed
    journal write stops the run with a PhotocullError (what was moved stays undoable).
    """
    mode = MODE_TRASH if trash else MODE_HOLDING
    report = ApplyReport(mode=mode, dry_run=dry_run, planned=plan(db, trash=trash))
    if dry_run or not report.planned:
        return report
    if progress is not None:
        progress.start(len(report.planned))
    checks = _Checks(db)
    try:
        report.apply_id = journal.start_apply(db, mode)
        with terminate_as_interrupt():
            try:
                for m in report.planned:
                    _apply_one(db, report, m, checks)
                    if progress is not None:
                        progress.advance(1)
            except KeyboardInterrupt:
                report.interrupted = True
        _finish_apply(db, report)
    except BaseException as exc:
        report.interrupted = True
        try:
            if report.apply_id is not None:
                _finish_apply(db, report)
        except sqlite3.Error:
            pass  # the journal still says 'running'; the next apply marks it interrupted
        if not isinstance(exc, sqlite3.DatabaseError):
            raise
        moved = len(report.moved) + (report.in_flight is not None and not os.path.lexists(report.in_flight.src))
        raise PhotocullError(
            f"could not write the apply journal in {shown(db_file(db))}: {exc}. Apply stopped; "
            f"{moved} photos were moved before that and `photocull undo` puts them back. "
            + (
                "Run it again when the other photocull is done."
                if is_busy(exc)
                else "Free some disk space (or fix the disk) first."
            )
        ) from None
    return report


def _finish_apply(db: sqlite_utils.Database, report: ApplyReport) -> None:
    """Close the run; one that touched no file leaves no trace, so ``undo`` never "undoes" an empty run."""
    status = "interrupted" if report.interrupted else "done"
    if report.apply_id is not None and not journal.close_apply(db, report.apply_id, status):
        report.apply_id = None


class _Checks:
    """What apply verifies before a move, with each file's digest computed once per run."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.verdicts: dict[tuple[str, str], bool] = {}

    def holds(self, path: str, digest: str) -> bool:
        """Whether ``path`` holds the content ``digest`` names (False when it cannot be read)."""
        if (path, digest) not in self.verdicts:
            self.verdicts[path, digest] = holds(path, digest)
        return self.verdicts[path, digest]

    def unchanged(self, path: str, size: int, mtime_ns: int, digest: str | None) -> str | None:
        """Why ``path`` is not exactly the file that was scanned, or None when it is."""
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return "no longer there (moved or deleted since the scan); run photocull scan again"
        except OSError as exc:
            return f"cannot be checked ({exc.strerror}); run photocull scan again"
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            return "changed since it was scanned; run photocull scan again, then apply"
        if digest is None:
            return "scanned by an older photocull that did not record its content; run photocull scan again"
        if not self.holds(path, digest):
            return "its content changed since it was scanned (same size and date); run photocull scan again"
        return None

    def kept_copy(self, m: PlannedMove) -> str | None:
        """Why discarding ``m`` could leave no copy of its picture, or None when a kept one is safe.

        A near-duplicate may go only while a member of its group that is kept is present, exactly as
        scanned, and another file (not a second name of the same one). A group the person discarded
        whole is the person's explicit choice.
        """
        if m.group_id is None:
            return None
        members = other_members(self.db, m.group_id, m.photo_id)
        keepers = [r for r in members if verdict(r) != "discard"]
        if not keepers:
            if all(r["decision"] == "discard" for r in members) and m.because == "your decision":
                return None
            return "no photo of its near-duplicate group is marked keep; review the group (photocull review)"
        for k in keepers:
            intact = (
                k["missing_since"] is None and self.unchanged(k["path"], k["size"], k["mtime_ns"], k["digest"]) is None
            )
            if intact and not _same_file(k["path"], m.src):
                return None
        names = ", ".join(shown(os.path.basename(k["path"])) for k in keepers)
        return (
            f"the photo kept from its group ({names}) is no longer there unchanged, so this may be the only "
            "copy left; run photocull scan again and review the group"
        )


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _apply_one(db: sqlite_utils.Database, report: ApplyReport, m: PlannedMove, checks: _Checks) -> None:
    base = {"apply_id": report.apply_id, "photo_id": m.photo_id, "src": m.src, "size": m.size, "mtime_ns": m.mtime_ns}
    why = checks.unchanged(m.src, m.size, m.mtime_ns, m.digest) or checks.kept_copy(m)
    if why is not None or m.digest is None:  # unchanged() refuses a photo without a digest
        report.skipped.append(FileNote(m.src, why or "no content digest"))
        return
    dst = None if m.dst is None else _free_name(m.dst, set())  # the plan may be stale by now
    move_id = journal.journal_move(db, **base, dst=dst, digest=m.digest, state="planned")
    report.in_flight = m
    try:
        if dst is None:
            send2trash.send2trash(m.src)
            found = find_in_trash(m.src, m.digest)
            dst = found[0] if found else None
        else:
            _move_file(m.src, dst, m.digest)
    except OSError as exc:
        where = f" ({shown(exc.filename)})" if exc.filename and exc.filename != m.src else ""
        why = f"could not be moved: {exc.strerror or exc}{where}"
        journal.set_move_state(db, move_id, "failed", why)
        report.failed.append(FileNote(m.src, why))
        report.in_flight = None
        return
    note = None if dst else "in the system trash; restore it from there by hand if undo cannot find it"
    journal.mark_moved(db, move_id, m.photo_id, dst, note)
    report.in_flight = None
    report.moved.append(PlannedMove(m.photo_id, m.src, dst, m.size, m.mtime_ns, m.because, m.digest, m.group_id))


def undo(db: sqlite_utils.Database, apply_id: int | None = None) -> UndoReport:
    """Put every file of an apply run back where it was, verifying its content digest; never overwrite.

    Files that cannot go back are reported and stay journaled, so undo can be run again once the
    problem (say, a new file at the original path) is dealt with.
    """
    row = journal.apply_to_undo(db, apply_id)
    if row is None and apply_id is None:
        raise PhotocullError("nothing to undo: every photo photocull apply moved with this database is back")
    if row is None:
        raise PhotocullError(f"there is no apply #{apply_id}; photocull undo without a number undoes the last one")
    if row["status"] == "undone":
        raise PhotocullError(
            f"apply #{row['id']} was already undone; name an older apply to undo it (photocull undo APPLY_ID)"
        )
    report = UndoReport(apply_id=row["id"], status="undone")
    moves = journal.moves_to_undo(db, row["id"])
    for mv in moves:
        _undo_one(db, row["mode"], mv, report)
    report.status = "partly undone" if report.problems else "undone"
    journal.set_apply_status(db, row["id"], report.status)
    if row["mode"] == MODE_HOLDING:
        _remove_empty_holding_folders({mv["dst"] for mv in moves if mv["dst"]})
    return report


def _undo_one(db: sqlite_utils.Database, mode: str, mv: dict, report: UndoReport) -> None:
    src, dst, digest = mv["src"], mv["dst"], mv["digest"]
    if mv["state"] == "planned" and os.path.isfile(src) and has_content(src, digest):
        if mode == MODE_HOLDING and _forget_unfinished_copy(dst):
            report.problems.append(
                FileNote(
                    src,
                    f"the interrupted apply left a complete copy at {dst}; the original is in place, "
                    "so you may delete that copy",
                )
            )
        journal.set_move_state(db, mv["id"], "not_moved")
        report.not_moved.append(src)
        return
    info = None
    if mode == MODE_TRASH:
        found = (
            (dst, trashinfo_for(dst))
            if dst and os.path.isfile(dst) and has_content(dst, digest)
            else find_in_trash(src, digest)
        )
        if found is None:
            report.problems.append(
                FileNote(
                    src,
                    "not found in the freedesktop trash, so it cannot be restored automatically; "
                    "restore it from your system trash (Put Back / Restore) by hand",
                )
            )
            return
        dst, info = found
    if os.path.lexists(src):
        report.problems.append(
            FileNote(
                src,
                f"something else now sits at the original path; the photo stays at {dst}. "
                "Move that file away and run undo again",
            )
        )
        return
    if not dst or not os.path.isfile(dst):
        report.problems.append(FileNote(src, f"the moved file is no longer at {dst}; it was moved or deleted by hand"))
        return
    if not has_content(dst, digest):
        report.problems.append(
            FileNote(src, f"{dst} is not the file that was moved (its content differs); left in place")
        )
        return
    try:
        _move_file(dst, src, digest)
    except OSError as exc:
        report.problems.append(FileNote(src, f"could not move {dst} back: {exc}"))
        return
    if info and os.path.exists(info):
        os.remove(info)  # the trash's note about the file, now stale
    journal.mark_restored(db, mv["id"], mv["photo_id"], src)
    report.restored.append(src)


def _forget_unfinished_copy(dst: str | None) -> bool:
    """Remove our partial copy from a crashed cross-filesystem move; True if a whole copy remains.

    A complete copy is left alone: it is a whole photo, and photocull deletes none.
    """
    if not dst:
        return False
    if os.path.lexists(_partial_path(dst)):
        os.remove(_partial_path(dst))
    return os.path.isfile(dst)


def _remove_empty_holding_folders(dsts: set[str]) -> None:
    """Remove the holding folders undo emptied, up to and including ``_photocull_discarded``."""
    for dst in sorted(dsts, key=len, reverse=True):
        folder = os.path.dirname(dst)
        while HOLDING_FOLDER in folder.split(os.sep):
            try:
                os.rmdir(folder)  # only ever succeeds on an empty folder
            except OSError:
                break
            if os.path.basename(folder) == HOLDING_FOLDER:
                break
            folder = os.path.dirname(folder)
