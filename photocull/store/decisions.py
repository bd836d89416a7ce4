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
