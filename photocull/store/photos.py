"""Reading and writing scan results: photos, unreadable files, scores, scan runs.

Every write of a batch happens in one transaction, so an interrupted scan (Ctrl-C or kill -9)
leaves whole batches behind and the next scan picks up from there.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import sqlite_utils

from photocull.store.faces import write_faces

PHOTO_COLUMNS = (
    "path",
    "root",
    "size",
    "mtime_ns",
    "digest",
    "format",
    "width",
    "height",
    "orientation",
    "captured_at",
    "captured_ts",
    "time_source",
    "camera_make",
    "camera_model",
    "phash",
    "dhash",
    "sharpness",
    "brightness",
    "highlights",
    "shadows",
    "measure_version",
    "scanned_at",
)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def db_file(db: sqlite_utils.Database) -> str:
    """The file behind ``db`` (for messages)."""
    row = db.conn.execute("pragma database_list").fetchone()
    return row[2] if row and row[2] else "(in memory)"


def under(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


def photos_under(db: sqlite_utils.Database, root: str) -> dict[str, dict]:
    """Known photos below ``root``, by path (including ones marked missing)."""
    rows = db.query(
        "select id, path, size, mtime_ns, digest, model_version, measure_version, faces_version, missing_since "
        "from photos"
    )
    return {r["path"]: r for r in rows if under(r["path"], root)}


def errors_under(db: sqlite_utils.Database, root: str) -> dict[str, dict]:
    return {r["path"]: r for r in db.query("select * from errors") if under(r["path"], root)}


def write_batch(
    db: sqlite_utils.Database,
    root: str,
    records: list[dict],
    errors: list[dict],
    scores: list[dict],
    faces: list[tuple[str, list[dict]]] | None = None,
    faces_version: str | None = None,
) -> None:
    """Store one batch of measured photos, errors and model scores atomically.

    A changed file keeps its row (and so its id, group history and decisions): the upsert is keyed
    on path. Changed content invalidates old model scores and faces.
    """
    stamp = now()
    columns = ", ".join(PHOTO_COLUMNS)
    placeholders = ", ".join("?" for _ in PHOTO_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in PHOTO_COLUMNS if c != "root")
    sql = (
        f"insert into photos ({columns}) values ({placeholders}) on conflict(path) do update set "
        f"{updates}, missing_since = null, model_version = null, faces_version = null"
    )
    with db.atomic():
        db.conn.executemany(
            sql, [tuple({**r, "root": root, "scanned_at": stamp}[c] for c in PHOTO_COLUMNS) for r in records]
        )
        db.conn.executemany("delete from errors where path = ?", [(r["path"],) for r in records])
        for e in errors:
            db.table("errors").upsert({**e, "root": root, "seen_at": stamp}, pk="path")
        # A known photo that became unreadable keeps its row (and history) but leaves its group.
        db.conn.executemany(
            "update photos set missing_since = ?, group_id = null where path = ?",
            [(stamp, e["path"]) for e in errors],
        )
        db.conn.executemany(
            "update photos set happy = ?, emotions = ?, top_emotion = ?, model_version = ?, embedding = ? "
            "where path = ?",
            [
                (
                    s["happy"],
                    json.dumps(s["emotions"]),
                    s["top_emotion"],
                    s["model_version"],
                    np.asarray(s["embedding"], dtype=np.float16).tobytes(),
                    s["path"],
                )
                for s in scores
            ],
        )
        # a re-measured photo's old faces go; the face stage's new ones (if it ran) replace them
        db.conn.executemany(
            "delete from faces where photo_id in (select id from photos where path = ?)",
            [(r["path"],) for r in records],
        )
        if faces and faces_version:
            write_faces(db, faces, faces_version)


def record_moves(db: sqlite_utils.Database, root: str, moves: list[tuple[int, str, int]]) -> None:
    """A file seen at a new path with the same content keeps its row, so history follows it."""
    with db.atomic():
        db.conn.executemany(
            "update photos set path = ?, root = ?, mtime_ns = ?, missing_since = null where id = ?",
            [(path, root, mtime_ns, pid) for pid, path, mtime_ns in moves],
        )


def mark_present(db: sqlite_utils.Database, ids: list[int]) -> None:
    with db.atomic():
        db.conn.executemany("update photos set missing_since = null where id = ?", [(i,) for i in ids])


def mark_missing(db: sqlite_utils.Database, ids: list[int]) -> None:
    stamp = now()
    with db.atomic():
        db.conn.executemany(
            "update photos set missing_since = ?, group_id = null where id = ? and missing_since is null",
            [(stamp, i) for i in ids],
        )


def forget_errors(db: sqlite_utils.Database, paths: list[str]) -> None:
    with db.atomic():
        db.conn.executemany("delete from errors where path = ?", [(p,) for p in paths])


def start_scan(db: sqlite_utils.Database, roots: list[str]) -> int:
    """Record a scan run; runs left 'running' by a killed process become 'interrupted'."""
    with db.atomic():
        db.execute("update scans set status = 'interrupted' where status = 'running'")
        return int(
            db.table("scans").insert({"roots": json.dumps(roots), "started_at": now(), "status": "running"}).last_pk
            or 0
        )


def finish_scan(
    db: sqlite_utils.Database, scan_id: int, status: str, summary: dict, settings: str | None = None
) -> None:
    """Close a scan run with its summary and the grouping/suggestion settings it used."""
    with db.atomic():
        db.table("scans").update(
            scan_id, {"finished_at": now(), "status": status, "summary": json.dumps(summary), "settings": settings}
        )


def last_settings(db: sqlite_utils.Database) -> str | None:
    """The settings the last completed scan grouped and suggested with."""
    row = db.execute("select settings from scans where status = 'done' order by id desc limit 1").fetchone()
    return row[0] if row else None


def current_outcome(db: sqlite_utils.Database) -> tuple[int, int, dict[str, int]]:
    """(groups, photos in groups, suggestion counts) as the database holds them now."""
    groups, grouped = db.execute(
        "select count(distinct group_id), count(group_id) from photos where missing_since is null"
    ).fetchone()
    counts = {"keep": 0, "discard": 0, "review": 0}
    for suggestion, n in db.execute(
        "select suggestion, count(*) from photos where missing_since is null and suggestion is not null group by suggestion"
    ):
        counts[suggestion] = n
    return groups, grouped, counts


def present_count(db: sqlite_utils.Database) -> int:
    """Photos scanned and still where they were found."""
    count: int = db.execute("select count(*) from photos where missing_since is null").fetchone()[0]
    return count


def suggestion_inputs(db: sqlite_utils.Database) -> list[dict]:
    """What the suggester ranks: every present, measured photo with its group and signals."""
    return list(
        db.query(
            "select id, path, group_id, format, width, height, size, time_source, captured_ts, sharpness, brightness, "
            "highlights, shadows, phash, happy from photos where missing_since is null and phash is not null"
        )
    )


def save_suggestions(db: sqlite_utils.Database, rows: list[tuple]) -> None:
    """Store (suggestion, quality, reasons JSON, reason data JSON, photo id) rows; missing photos lose theirs."""
    with db.atomic():
        db.execute(
            "update photos set suggestion = null, reasons = null, quality = null where missing_since is not null"
        )
        db.conn.executemany(
            "update photos set suggestion = ?, quality = ?, reasons = ?, reason_data = ? where id = ?", rows
        )


def digests_elsewhere(db: sqlite_utils.Database, seen: set[str]) -> list[dict]:
    """Photos with a content digest that are not at any path seen by this scan (candidates for a move)."""
    rows = db.query("select id, path, size, digest, missing_since from photos where digest is not null")
    return [r for r in rows if r["path"] not in seen]


def photo_id(db: sqlite_utils.Database, path: str) -> int | None:
    row = db.execute("select id from photos where path = ?", [path]).fetchone()
    return row[0] if row else None
