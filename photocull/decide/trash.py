"""Finding a file in the freedesktop trash (Linux, BSD) again, so that undo can put it back."""

from __future__ import annotations

import glob
import os
import sys
from urllib.parse import unquote

from photocull.base.files import holds


def _trash_dirs(near: str) -> list[tuple[str, str]]:
    """Freedesktop trash folders that may hold a file trashed from ``near``, with their topdir.

    ``Path=`` in a .trashinfo is absolute, or relative to the topdir for a volume's own trash.
    """
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    found = [(os.path.join(data_home, "Trash"), data_home)]
    folder = os.path.dirname(os.path.abspath(near))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    mount = os.path.realpath(folder)
    while not os.path.ismount(mount):
        mount = os.path.dirname(mount)
    uid = str(os.getuid())
    found += [(os.path.join(mount, ".Trash", uid), mount), (os.path.join(mount, f".Trash-{uid}"), mount)]
    return found


def find_in_trash(src: str, digest: str) -> tuple[str, str] | None:
    """(trashed file, its .trashinfo) for the file trashed from ``src`` with this content.

    Only the freedesktop trash (Linux, BSD) can be searched; macOS and Windows give None.
    """
    if sys.platform in ("darwin", "win32"):
        return None
    for trash, topdir in _trash_dirs(src):
        for info in glob.glob(os.path.join(glob.escape(trash), "info", "*.trashinfo")):
            try:
                with open(info, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            paths = [unquote(line[5:]) for line in lines if line.startswith("Path=")]
            if not paths or os.path.normpath(os.path.join(topdir, paths[0])) != os.path.normpath(src):
                continue
            name = os.path.basename(info)[: -len(".trashinfo")]
            trashed = os.path.join(trash, "files", name)
            if os.path.isfile(trashed) and holds(trashed, digest):
                return trashed, info
    return None


def trashinfo_for(trashed: str) -> str:
    files_dir, name = os.path.split(trashed)
    return os.path.join(os.path.dirname(files_dir), "info", name + ".trashinfo")
