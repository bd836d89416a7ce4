"""The apply journal: one row per apply run and one per file move, written before and after each move.

Undo reads it to reverse a run exactly, even one that was killed between a move and its entry.
"""

from __future__ import annotations

import sqlite_utils

from photocull.store.photos import now


def discards(db: sqlite_utils.Database) -> list[dict]:
    """Present photos whose effective decision (a person's, else the suggestion) is discard, by path."""
    return list(
        db.query(
            """select p.id, p.path, p.root, p.size, p.mtime_ns, p.digest, p.group_id, p.suggestion, d.decision
        from photos p left join decisions d on d.photo_id = p.id
        where p.missing_since is null and coalesce(d.decision, p.suggestion) = 'discard'
        order by p.path"""
        )
    )


def start_apply(db: sqlite_utils.Database, mode: str) -> int:
    """A new run; runs left 'running' by a killed process become 'interrupted'."""
    with db.atomic():
        db.execute("update applies set status = 'interrupted' where status = 'running'")
        return int(db.table("applies").insert({"started_at": now(), "status": "running", "mode": mode}).last_pk or 0)


def close_apply(db: sqlite_utils.Database, apply_id: int, status: str) -> bool:
    """Close a run; one that touched no file is removed (and False returned), so undo never picks it."""
    with db.atomic():
        touched = db.execute(
            "select count(*) from moves where apply_id = ? and state in ('planned', 'moved')", [apply_id]
        ).fetchone()[0]
        if touched:
            db.table("applies").update(apply_id, {"finished_at": now(), "status": status})
        else:
            db.execute("delete from moves where apply_id = ?", [apply_id])
            db.execute("delete from applies where id = ?", [apply_id])
    return bool(touched)


def journal_move(db: sqlite_utils.Database, **row: object) -> int:
    """Record a move before the file is touched (state 'planned')."""
    with db.atomic():
        return int(db.table("moves").insert({**row, "at": now()}).last_pk or 0)


def set_move_state(db: sqlite_utils.Database, move_id: int, state: str, note: str | None = None) -> None:
    with db.atomic():
        db.table("moves").update(move_id, {"state": state, "note": note, "at": now()})


def mark_moved(db: sqlite_utils.Database, move_id: int, photo_id: int, dst: str | None, note: str | None) -> None:
    """The file is at ``dst`` now: the move is done and the photo no longer in the library."""
    with db.atomic():
        db.table("moves").update(move_id, {"state": "moved", "dst": dst, "note": note, "at": now()})
        db.table("photos").update(photo_id, {"missing_since": now()})


def apply_to_undo(db: sqlite_utils.Database, apply_id: int | None) -> dict | None:
    """The named run, or the last one that still has moved files to put back."""
    if apply_id is not None:
        return next(db.query("select * from applies where id = ?", [apply_id]), None)
    return next(
        db.query(
            """select * from applies a where a.status != 'undone' and exists (select 1 from moves m
        where m.apply_id = a.id and m.state in ('planned', 'moved')) order by a.id desc limit 1"""
        ),
        None,
    )


def moves_to_undo(db: sqlite_utils.Database, apply_id: int) -> list[dict]:
    """A run's moves that may have happened, last first."""
    return list(
        db.query(
            "select * from moves where apply_id = ? and state in ('planned', 'moved') order by id desc", [apply_id]
        )
    )


def set_apply_status(db: sqlite_utils.Database, apply_id: int, status: str) -> None:
    with db.atomic():
        db.table("applies").update(apply_id, {"status": status})


def mark_restored(db: sqlite_utils.Database, move_id: int, photo_id: int, src: str) -> None:
    """The file is back at ``src``: the photo is in the library again."""
    with db.atomic():
        db.table("moves").update(move_id, {"state": "restored", "at": now()})
        db.execute("update photos set missing_since = null where id = ? and path = ?", [photo_id, src])
