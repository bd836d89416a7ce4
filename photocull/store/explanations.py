"""Which PNG explains which photo, so the contact sheet can link a thumbnail to its explanation."""

from __future__ import annotations

import sqlite_utils

from photocull.store.photos import now


def record_explanation(
    db: sqlite_utils.Database, photo_id: int, path: str, model: str, class_name: str, method: str
) -> None:
    """Remember (replacing any earlier one) the PNG that explains a photo."""
    db.table("explanations").upsert(
        {
            "photo_id": photo_id,
            "path": path,
            "model": model,
            "class_name": class_name,
            "method": method,
            "created_at": now(),
        },
        pk="photo_id",
    )


def explanation_paths(db: sqlite_utils.Database) -> dict[int, str]:
    """{photo id: PNG path} for every recorded explanation."""
    return {r["photo_id"]: r["path"] for r in db.query("select photo_id, path from explanations") if r["path"]}
