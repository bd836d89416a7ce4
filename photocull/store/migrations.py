"""Schema changes as a list of small named functions, applied once each, in order.

A database records the names it has applied in ``_migrations``; adding a feature means appending a
function here, never editing one that has shipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_photos(db: sqlite_utils.Database) -> None:
    db.table("photos").create(
        {
            "id": int,
            "path": str,
            "root": str,
            "size": int,
            "mtime_ns": int,
            "fingerprint": str,
            "format": str,
            "width": int,
            "height": int,
            "orientation": int,
            "captured_at": str,
            "captured_ts": float,
            "time_source": str,
            "camera_make": str,
            "camera_model": str,
            "phash": int,
            "dhash": int,
            "sharpness": float,
            "brightness": float,
            "highlights": float,
            "shadows": float,
            "scanned_at": str,
            "missing_since": str,
            "group_id": int,
        },
        pk="id",
        not_null={"path"},
    )
    db.table("photos").create_index(["path"], unique=True)
    db.table("photos").create_index(["root"])
    db.table("photos").create_index(["fingerprint"])
    db.table("photos").create_index(["group_id"])


@migration
def m002_errors(db: sqlite_utils.Database) -> None:
    db.table("errors").create(
        {"path": str, "root": str, "error": str, "size": int, "mtime_ns": int, "seen_at": str},
        pk="path",
    )


@migration
def m003_groups_and_scans(db: sqlite_utils.Database) -> None:
    # Groups are never deleted, only dissolved, so a group id is never reused for other photos.
    db.table("groups").create({"id": int, "members": str, "size": int, "created_at": str, "dissolved_at": str}, pk="id")
    db.table("scans").create(
        {"id": int, "roots": str, "started_at": str, "finished_at": str, "status": str, "summary": str},
        pk="id",
    )


@migration
def m004_model_scores(db: sqlite_utils.Database) -> None:
    photos = db.table("photos")
    photos.add_column("happy", float)
    photos.add_column("emotions", str)
    photos.add_column("top_emotion", str)
    photos.add_column("model_version", str)
    photos.add_column("embedding", bytes)


@migration
def m005_suggestions(db: sqlite_utils.Database) -> None:
    photos = db.table("photos")
    photos.add_column("quality", float)
    photos.add_column("suggestion", str)
    photos.add_column("reasons", str)  # the reasons in words, as a JSON list of strings
    photos.add_column("reason_data", str)  # the same reasons as data: JSON list of {code, mine, theirs, other}


@migration
def m006_decisions(db: sqlite_utils.Database) -> None:
    # A person's decision, keyed by photo id so it follows the photo through rescans and moves.
    db.table("decisions").create({"photo_id": int, "decision": str, "decided_at": str}, pk="photo_id")


@migration
def m007_apply_journal(db: sqlite_utils.Database) -> None:
    # One row per apply run and one per file move, written before and after each move, so undo
    # can reverse a run exactly, even one that crashed halfway.
    db.table("applies").create({"id": int, "started_at": str, "finished_at": str, "status": str, "mode": str}, pk="id")
    db.table("moves").create(
        {
            "id": int,
            "apply_id": int,
            "photo_id": int,
            "src": str,
            "dst": str,
            "size": int,
            "mtime_ns": int,
            "sha256": str,
            "state": str,
            "note": str,
            "at": str,
        },
        pk="id",
        foreign_keys=[("apply_id", "applies", "id")],
    )
    db.table("moves").create_index(["apply_id"])


@migration
def m008_explanations(db: sqlite_utils.Database) -> None:
    db.table("explanations").create(
        {"photo_id": int, "path": str, "model": str, "class_name": str, "method": str, "created_at": str},
        pk="photo_id",
    )


@migration
def m009_content_digest(db: sqlite_utils.Database) -> None:
    # SHA-256 of every byte, recorded at scan time: apply moves a file only while its content is
    # still what was scanned (same size and a restored mtime are not proof). Rows scanned before this
    # have none and are read again by the next scan.
    db.table("photos").add_column("sha256", str)


@migration
def m010_scan_settings(db: sqlite_utils.Database) -> None:
    # The grouping options and suggestion config a scan used: an unchanged rescan with the same
    # settings leaves groups and suggestions as they are instead of recomputing them.
    db.table("scans").add_column("settings", str)


@migration
def m011_measure_version(db: sqlite_utils.Database) -> None:
    # Which version of the per-photo measures (scan/measure.py) a row holds: sharpness changed
    # meaning in version 2, and rows measured otherwise are measured again by the next scan.
    db.table("photos").add_column("measure_version", int)


@migration
def m012_faces(db: sqlite_utils.Database) -> None:
    # The faces a scan found in each photo (box in displayed pixels, confidence, keypoints, face
    # sharpness), and which version of the face stage analysed the photo (NULL: not analysed).
    db.table("faces").create(
        {
            "photo_id": int,
            "idx": int,
            "x": float,
            "y": float,
            "w": float,
            "h": float,
            "confidence": float,
            "keypoints": str,
            "sharpness": float,
        },
        pk=("photo_id", "idx"),
        foreign_keys=[("photo_id", "photos", "id")],
    )
    db.table("photos").add_column("faces_version", str)


@migration
def m013_face_readings(db: sqlite_utils.Database) -> None:
    # What the face heads read in each face: the seven expression probabilities (JSON object),
    # and the smile and eyes-closed probabilities. NULL for faces analysed before the heads existed.
    faces = db.table("faces")
    faces.add_column("expression", str)
    faces.add_column("smile", float)
    faces.add_column("eyes_closed", float)


@migration
def m014_feedback(db: sqlite_utils.Database) -> None:
    # A person's corrected label for a stored photo and one model ("this one is sad, not happy"),
    # from the web app's /api/feedback: kept for adapting the heads to the person.
    db.table("feedback").create({"id": int, "photo_id": int, "model": str, "label": str, "created_at": str}, pk="id")
    db.table("feedback").create_index(["photo_id"])


@migration
def m015_personal_ranker(db: sqlite_utils.Database) -> None:
    # The ranker ``photocull learn`` fits on the person's decisions: one row, replaced on each fit.
    db.table("ranker").create(
        {
            "id": int,
            "fitted_at": str,
            "model": str,
            "pairs": int,
            "groups": int,
            "personal_agreement": float,
            "default_agreement": float,
            "in_use": int,
        },
        pk="id",
    )


@migration
def m016_blake3_digests(db: sqlite_utils.Database) -> None:
    # Content digests are BLAKE3 from now on ("blake3:" + hex; photocull.base.files says why), so the
    # columns are named for what they hold. The SHA-256 values already recorded stay and are checked
    # with SHA-256: no photo is read again, and an apply run before this can still be undone.
    db.execute("alter table photos rename column sha256 to digest")
    db.execute("alter table moves rename column sha256 to digest")


def applied_migrations(db: sqlite_utils.Database) -> set[str]:
    """The names of the migrations this database records (none before the first)."""
    if not db.table("_migrations").exists():
        return set()
    return {row["name"] for row in db.table("_migrations").rows}


def apply_migrations(db: sqlite_utils.Database) -> list[str]:
    """Apply the migrations this database has not seen; return their names.

    Two photocull processes may open a database at the same moment (``serve`` and ``scan`` started
    together, the first run after an upgrade): the check and the changes happen in one write
    transaction (open_db's connection begins every transaction IMMEDIATE), so the second waits for
    the first (the busy timeout) and then finds nothing left to do, instead of failing with
    "database is locked" or applying a migration twice ("no such column").
    """
    if {fn.__name__ for fn in MIGRATIONS} <= applied_migrations(db):
        return []  # the usual case, and no write lock taken
    applied = []
    with db.atomic():
        db.table("_migrations").create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
        done = applied_migrations(db)
        for fn in MIGRATIONS:
            if fn.__name__ in done:
                continue
            fn(db)
            db.table("_migrations").insert(
                {"name": fn.__name__, "applied_at": dt.datetime.now(dt.timezone.utc).isoformat()}
            )
            applied.append(fn.__name__)
    return applied
