"""Opening the photocull database: WAL mode, migrations applied, clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from .errors import PhotocullError
from .migrations import apply_migrations
from .paths import default_db_path


def open_db(path: str | Path | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the database at ``path`` or the default location."""
    db_path = Path(path) if path else default_db_path()
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(db_path)
        db.execute("PRAGMA busy_timeout = 5000")
        db.enable_wal()
        apply_migrations(db)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise PhotocullError(
            f"cannot open the photocull database {db_path}: {exc}. "
            "Pass --db PATH (or set PHOTOCULL_DB) to use another file."
        ) from exc
    return db
