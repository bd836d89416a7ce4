"""Opening the photocull database: WAL mode, migrations applied, file names stored losslessly.

File names on Linux are bytes and need not be UTF-8. Python hands such a name over as a str with
surrogate escapes (``b"bad\\xff.jpg"`` → ``"bad\\udcff.jpg"``), which sqlite3 refuses to encode. The
connection below stores exactly those names as BLOBs of their original bytes (every other name
stays readable TEXT) and turns them back into the same str when a path column is read, so every
query in the program works on such names without knowing about them.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sqlite_utils

from photocull.base.errors import PhotocullError
from photocull.base.paths import default_db_path
from photocull.store.migrations import MIGRATIONS, applied_migrations, apply_migrations

BUSY_TIMEOUT_S = 5  # how long a write waits for another process's write to finish
BUSY = (
    f"the photocull database is busy: another photocull (a scan, serve, apply) kept it locked for over "
    f"{BUSY_TIMEOUT_S} s. What this command had finished is saved; run it again when the other one is done."
)


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite giving up on a lock another process held past the busy timeout."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(("database is locked", "database is busy"))


# Columns that hold file paths; a BLOB read from one of them is a non-UTF-8 name.
PATH_COLUMNS = frozenset({"path", "root", "src", "dst"})


def _has_surrogates(text: str) -> bool:
    if text.isascii():  # nearly every parameter: no encoding needed to know
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _to_sql(value: Any) -> Any:
    """A str that is not valid UTF-8 (a surrogate-escaped file name) becomes its original bytes."""
    if isinstance(value, str) and _has_surrogates(value):
        return os.fsencode(value)
    return value


def _params(parameters: Any) -> Any:
    if isinstance(parameters, Mapping):
        return {k: _to_sql(v) for k, v in parameters.items()}
    return tuple(_to_sql(v) for v in parameters)


def _decode_paths(cursor: sqlite3.Cursor, row: tuple) -> tuple:
    if not any(isinstance(v, bytes) for v in row):
        return row
    names = [d[0] for d in cursor.description]
    return tuple(os.fsdecode(v) if isinstance(v, bytes) and names[k] in PATH_COLUMNS else v for k, v in enumerate(row))


class PathSafeConnection(sqlite3.Connection):
    """A connection that binds surrogate-escaped names as bytes and reads them back as the same str."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_factory = _decode_paths

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        if len(sql) < 16 and sql.strip().rstrip(";").upper() == "BEGIN":  # not every statement's full text
            # sqlite-utils' atomic() opens a deferred transaction. One that reads before it writes
            # (nearly all of photocull's) asks for the write lock only at its first write, and SQLite
            # does not wait for a lock a transaction would upgrade to: while another process wrote
            # (a scan's batch, a decision in serve) it failed at once with "database is locked",
            # whatever the busy timeout. Taking the write lock at BEGIN waits for it instead.
            sql = "BEGIN IMMEDIATE"
        return super().execute(sql, _params(parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any], /) -> sqlite3.Cursor:  # type: ignore[override]
        return super().executemany(sql, (_params(p) for p in seq_of_parameters))


def _newer_migrations(db: sqlite_utils.Database) -> list[str]:
    """Migrations this database has that this photocull does not know: it was made by a newer one."""
    return sorted(applied_migrations(db) - {fn.__name__ for fn in MIGRATIONS})


def open_db(path: str | Path | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the database at ``path`` or the default location.

    A database written by a newer photocull is refused before anything is written to it.
    """
    db_path = Path(path) if path else default_db_path()
    what_to_do = "Pass --db PATH (or set PHOTOCULL_DB) to use another file."
    try:
        if db_path.is_dir():
            raise PhotocullError(f"cannot open the photocull database {db_path}: it is a folder. {what_to_do}")
        db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(db_path), factory=PathSafeConnection)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        db = sqlite_utils.Database(conn)
        newer = _newer_migrations(db)
        if newer:
            conn.close()
            raise PhotocullError(
                f"the database {db_path} was written by a newer version of photocull (it has "
                f"{', '.join(newer)}); this version leaves it untouched. Upgrade photocull "
                f"(pip install --upgrade photocull), or {what_to_do[0].lower()}{what_to_do[1:]}"
            )
        db.enable_wal()
        apply_migrations(db)
    except (sqlite3.DatabaseError, OSError) as exc:
        if is_busy(exc):
            raise PhotocullError(f"cannot open {db_path}: {BUSY}") from exc
        raise PhotocullError(f"cannot open the photocull database {db_path}: {exc}. {what_to_do}") from exc
    return db
