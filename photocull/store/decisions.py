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


def feedback_examples(db: sqlite_utils.Database, model: str) -> list[tuple[int, str, bytes | None]]:
    """(photo id, label, stored embedding) of the latest correction per present photo for ``model``."""
    rows = db.query(
        """select f.photo_id, f.label, p.embedding from feedback f join photos p on p.id = f.photo_id
        where f.model = ? and p.missing_since is null
        and f.id = (select max(id) from feedback g where g.photo_id = f.photo_id and g.model = f.model)
        order by f.photo_id""",
        [model],
    )
    return [(r["photo_id"], r["label"], r["embedding"]) for r in rows]


def embeddings_without_feedback(db: sqlite_utils.Database, model: str, limit: int = 5000) -> list[bytes]:
    """Stored embeddings of photos the person did not correct for ``model`` (at most ``limit``)."""
    rows = db.execute(
        "select embedding from photos where embedding is not null and missing_since is null and id not in "
        "(select photo_id from feedback where model = ?) order by id limit ?",
        [model, limit],
    )
    return [r[0] for r in rows]
