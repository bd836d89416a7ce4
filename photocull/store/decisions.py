"""A person's keep/discard decisions: stored per photo id, never replaced by a newer suggestion."""

from __future__ import annotations

import sqlite_utils

from photocull.store.photos import now

DECISIONS = ("keep", "discard")


def set_decisions(db: sqlite_utils.Database, decisions: dict[int, str]) -> None:
    for value in decisions.values():
        if value not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, not {value!r}")
    stamp = now()
    with db.atomic():
        db.table("decisions").upsert_all(
            [{"photo_id": pid, "decision": d, "decided_at": stamp} for pid, d in decisions.items()], pk="photo_id"
        )


def clear_decisions(db: sqlite_utils.Database, photo_ids: list[int]) -> None:
    """Forget the person's decisions on these photos: the suggestion applies again."""
    with db.atomic():
        db.execute(f"delete from decisions where photo_id in ({', '.join('?' * len(photo_ids))})", photo_ids)


def record_feedback(db: sqlite_utils.Database, photo_id: int, model: str, label: str) -> int:
    """Store a corrected label; returns its id."""
    with db.atomic():
        cursor = db.execute(
            "insert into feedback (photo_id, model, label, created_at) values (?, ?, ?, ?)",
            [photo_id, model, label, now()],
        )
    return int(cursor.lastrowid or 0)
