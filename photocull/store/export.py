"""One record per photo: the stable interface for other tools and for evaluations."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import sqlite_utils

from photocull.base.heads import EMOTIONS, has_eyes_closed, is_smiling
from photocull.base.names import json_text
from photocull.store.faces import faces_by_photo

CSV_FIELDS = (
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
    sql = """
        select p.*, d.decision from photos p left join decisions d on d.photo_id = p.id
        where p.missing_since is null
        order by p.group_id is null, p.group_id, p.path
    """
    faces = faces_by_photo(db)
    for row in db.query(sql):
        yield {
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
