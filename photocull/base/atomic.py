"""Writing an output file so that a failure never leaves half a file or loses the previous one.

Every file photocull writes for the user (export, contact sheet, explanation PNG, XMP sidecar) goes
through ``atomic_write``: the bytes go to a hidden temporary file beside the target, are flushed
to disk, and only then replace the target in one rename. On any failure (disk full, I/O error,
Ctrl-C) the temporary file is removed and the previous file, if any, is untouched.

The folder must exist: photocull never creates folders for an output file, so a mistyped path is
an error rather than a new directory tree.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from photocull.base.errors import PhotocullError
from photocull.base.names import shown

TEMP_SUFFIX = ".photocull-tmp"


def temp_path(path: str | os.PathLike[str]) -> str:
    folder, name = os.path.split(os.fspath(path))
    return os.path.join(folder, f".{name}{TEMP_SUFFIX}")


def check_output_folder(path: str | os.PathLike[str]) -> None:
    """Refuse an output path whose folder is missing (or is not a folder), before any work."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise PhotocullError(
            f"cannot write {shown(os.fspath(path))}: the folder {shown(folder)} does not exist. "
            "Create it first or choose another path."
        )
    if os.path.isdir(os.fspath(path)):
        raise PhotocullError(f"cannot write {shown(os.fspath(path))}: it is a folder. Give a file name.")


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write`` with a binary file whose content replaces ``path`` only once it is complete.

    Raises PhotocullError naming the file when anything fails; the old file then stays as it was.
    """
    check_output_folder(path)
    target = os.fspath(path)
    tmp = temp_path(target)
    try:
        if os.path.lexists(tmp):
            os.remove(tmp)  # left by a run that was killed
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(target):
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.lexists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError):
            kept = " The previous file is unchanged." if os.path.exists(target) else ""
            raise PhotocullError(
                f"cannot write {shown(target)}: {exc.strerror or exc}.{kept} Free some space or choose another path."
            ) from None
        raise
    return Path(target)


def atomic_write_text(path: str | os.PathLike[str], text: str, errors: str = "strict") -> Path:
    """``atomic_write`` for UTF-8 text (``errors="surrogateescape"`` writes raw file-name bytes)."""
    data = text.encode("utf-8", errors)
    return atomic_write(path, lambda f: f.write(data))
