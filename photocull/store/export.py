"""One record per photo: the stable interface for other tools and for evaluations."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import sqlite_utils

from photocull.base.heads import EMOTIONS, has_eyes_closed, is_smiling
from photocull.base.names import json_text
from photocull.store.records import query_records

CSV_FIELDS = (
    "id",
    "path",
    "group",
    "captured_at",
    "time_source",
    "width",
    "height",
    "size",
    "format",
    "camera_make",
    "camera_model",
    "sharpness",
    "exposure",
    "highlights_clipped",
    "shadows_clipped",
    "quality",
    "suggestion",
    "decision",
    "reasons",
    "happy",
    "top_emotion",
    *tuple(f"emotion_{name}" for name in EMOTIONS),
    "face_count",
    "eyes_closed_count",
    "smiling_count",
)


def photo_records(db: sqlite_utils.Database) -> Iterator[dict]:
    """Present photos, grouped ones first by group, in path order within a group."""
    yield from query_records(db, "1", order="p.group_id is null, p.group_id, p.path")


def error_records(db: sqlite_utils.Database) -> Iterator[dict]:
    for row in db.query("select path, error from errors order by path"):
        yield {"path": row["path"], "error": row["error"]}


def to_json(records: Iterator[dict]) -> str:
    """A JSON list; a non-UTF-8 file name is written with ``\\udcXX`` escapes that load back exactly."""
    return json_text(list(records), indent=2) + "\n"


def to_csv(records: Iterator[dict], fields: tuple[str, ...] = CSV_FIELDS) -> str:
    """Flat columns: ``reasons`` joined with "; ", one ``emotion_<class>`` column per emotion,
    ``face_count``, ``eyes_closed_count`` and ``smiling_count`` (empty when faces were not analysed;
    a face counts as photocull.base.heads' ``has_eyes_closed`` / ``is_smiling`` say)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for rec in records:
        flat = dict(rec)
        if "reasons" in rec:
            flat["reasons"] = "; ".join(rec["reasons"])
        for name in EMOTIONS:
            flat[f"emotion_{name}"] = (rec.get("emotions") or {}).get(name)
        faces = rec.get("faces")
        flat["face_count"] = None if faces is None else len(faces)
        flat["eyes_closed_count"] = None if faces is None else sum(map(has_eyes_closed, faces))
        flat["smiling_count"] = None if faces is None else sum(map(is_smiling, faces))
        writer.writerow(flat)
    return out.getvalue()
