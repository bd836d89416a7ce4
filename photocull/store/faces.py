"""The faces table: what the scan's face stage found in each photo, largest face first."""

from __future__ import annotations

import json

import sqlite_utils


def write_faces(db: sqlite_utils.Database, found: list[tuple[str, list[dict]]], version: str) -> None:
    """Replace the faces of each photo (by path) and record the face stage's version; call inside
    the batch's transaction, after the photos' rows are written."""
    for path, faces in found:
        row = db.execute("select id from photos where path = ?", [path]).fetchone()
        if row is None:
            continue
        photo_id = row[0]
        db.execute("delete from faces where photo_id = ?", [photo_id])
        db.conn.executemany(
            "insert into faces (photo_id, idx, x, y, w, h, confidence, keypoints, sharpness, expression, smile, "
            "eyes_closed) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    photo_id,
                    k,
                    *f["box"],
                    f["confidence"],
                    json.dumps(f["keypoints"]),
                    f["sharpness"],
                    json.dumps(f["expression"]) if f.get("expression") is not None else None,
                    f.get("smile"),
                    f.get("eyes_closed"),
                )
                for k, f in enumerate(faces)
            ],
        )
        db.execute("update photos set faces_version = ? where id = ?", [version, photo_id])


def faces_by_photo(db: sqlite_utils.Database, photo_ids: list[int] | None = None) -> dict[int, list[dict]]:
    """The stored faces of ``photo_ids`` (None: of every photo), grouped by photo id, largest first
    (as the export lists them)."""
    out: dict[int, list[dict]] = {}
    where = "" if photo_ids is None else f"where photo_id in ({', '.join('?' * len(photo_ids))})"
    for r in db.query(f"select * from faces {where} order by photo_id, idx", photo_ids or []):
        out.setdefault(r["photo_id"], []).append(
            {
                "box": [r["x"], r["y"], r["w"], r["h"]],
                "confidence": r["confidence"],
                "keypoints": json.loads(r["keypoints"]),
                "sharpness": r["sharpness"],
                "expression": json.loads(r["expression"]) if r["expression"] else None,
                "smile": r["smile"],
                "eyes_closed": r["eyes_closed"],
            }
        )
    return out
