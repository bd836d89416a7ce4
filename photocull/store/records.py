"""The photo record: one schema for every JSON a person or a program reads (export, review, serve).

The names are the export's documented ones (README "Export fields"), plus ``id``, the database photo
id, which stays the same across rescans and moves. Internal columns (digests, file times, reason
codes) never leave the store.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import sqlite_utils

from photocull.store.faces import faces_by_photo

SCHEMA_VERSION = 1  # of the records and of the JSON documents that hold them; raised on any renaming

_SELECT = "select p.*, d.decision from photos p left join decisions d on d.photo_id = p.id"


def photo_record(row: dict, faces: dict[int, list[dict]]) -> dict:
    """A ``photos`` row (joined with its decision) as the documented record."""
    return {
        "id": row["id"],
        "path": row["path"],
        "group": row["group_id"],
        "captured_at": row["captured_at"],
        "time_source": row["time_source"],
        "width": row["width"],
        "height": row["height"],
        "size": row["size"],
        "format": row["format"],
        "camera_make": row["camera_make"],
        "camera_model": row["camera_model"],
        "sharpness": row["sharpness"],
        "exposure": row["brightness"],
        "highlights_clipped": row["highlights"],
        "shadows_clipped": row["shadows"],
        "quality": row["quality"],
        "suggestion": row["suggestion"],
        "decision": row["decision"],
        "reasons": json.loads(row["reasons"]) if row["reasons"] else [],
        "happy": row["happy"],
        "top_emotion": row["top_emotion"],
        "emotions": json.loads(row["emotions"]) if row["emotions"] else None,
        # [] when the photo was analysed and has no face; None when faces were not analysed
        "faces": None if row["faces_version"] is None else faces.get(row["id"], []),
    }


def query_records(
    db: sqlite_utils.Database, where: str, params: list | None = None, order: str = "p.path"
) -> Iterator[dict]:
    """Records of the present photos that match ``where`` (SQL over ``p``, the photos table, and
    ``d``, the decisions table)."""
    sql = f"{_SELECT} where p.missing_since is null and ({where}) order by {order}"
    rows = list(db.query(sql, params or []))
    # a few photos (a group, one record for the web app): only their faces; else all in one query
    faces = faces_by_photo(db, [r["id"] for r in rows] if len(rows) <= 500 else None)
    for row in rows:
        yield photo_record(row, faces)


def verdict(record: dict) -> str | None:
    """What happens to a photo unless the person says otherwise: their decision, else the suggestion."""
    result: str | None = record.get("decision") or record.get("suggestion")
    return result


def shown_emotion(record: dict) -> str:
    """The scene's strongest emotion with its probability ("anger 0.38"): over eight classes the
    strongest is often far from sure, and the bare name read as a verdict; "" when not scored."""
    top, emotions = record.get("top_emotion"), record.get("emotions")
    if not top:
        return ""
    return f"{top} {emotions[top]:.2f}" if emotions and top in emotions else str(top)


def shown_time(captured_at: str | None) -> str:
    """A record's capture time as people read it: to the hundredth of a second (bursts differ
    there), without the time zone; "" when unknown."""
    if not captured_at:
        return ""
    when = dt.datetime.fromisoformat(captured_at)
    return when.strftime("%Y-%m-%d %H:%M:%S") + (f".{when.microsecond // 10000:02d}" if when.microsecond else "")


def record_by_id(db: sqlite_utils.Database, photo_id: int) -> dict | None:
    """One present photo's record, or None."""
    return next(query_records(db, "p.id = ?", [photo_id]), None)
