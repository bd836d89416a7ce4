"""Finding photos under a root: by content as well as extension, never escaping the root."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from photocull.base.paths import HOLDING_FOLDER

IMAGE_EXTENSIONS = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".webp",
    ".heic",
    ".heif",
    ".hif",
    ".avif",
    ".tif",
    ".tiff",
    ".gif",
}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".3gp", ".3g2", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".wmv"}
# Files phones and photo apps leave next to photos; never worth opening.
KNOWN_OTHER_EXTENSIONS = {".xmp", ".aae", ".json", ".txt", ".db", ".ini", ".thm", ".lrv", ".nomedia", ".pdf"}
SYSTEM_FOLDERS = {
    HOLDING_FOLDER,
    "@eaDir",
    "$RECYCLE.BIN",
    "System Volume Information",
    "lost+found",
    "__MACOSX",
    ".thumbnails",
    "#recycle",
}
HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}


def sniff(head: bytes) -> str | None:
    """Name the format from a file's first bytes: an image format, ``"video"`` or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "heif" if brand in HEIF_BRANDS else "video"
    if head[:4] == b"RIFF" and head[8:11] == b"AVI":
        return "video"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video"
    return None


def sniff_file(path: str) -> str | None:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never hang on a FIFO that replaced a file
    try:
        return sniff(os.read(fd, 16))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class FoundFile:
    path: str
    size: int
    mtime_ns: int
    device: int = 0
    inode: int = 0


@dataclass
class Discovery:
    """What a walk found: photos to consider plus counts of everything it passed over."""

    photos: list[FoundFile] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)


def _is_hidden_or_system(name: str) -> bool:
    return name.startswith(".") or name in SYSTEM_FOLDERS


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def discover(root: str, seen_files: set[tuple[int, int]] | None = None) -> Discovery:
    """Walk ``root`` and classify every file; every path found is a real path (no symlink in it).

    Folder symlinks are followed only when they resolve inside the root, under their real path, and
    each real folder is visited once, so loops, links out of the root and two ways to one folder are
    harmless. File symlinks are skipped: the real file is found on its own path when it lies inside
    the root. A file with several names (hard links) is listed under its first name in path order;
    ``seen_files`` carries the (device, inode) pairs already listed by other roots of the same scan.
    """
    result = Discovery()
    real_root = os.path.realpath(root)
    seen_dirs: set[tuple[int, int]] = set()
    stack = [real_root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                result.counts["skipped_loops"] += 1
                continue
            seen_dirs.add(key)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            result.counts["unreadable_folders"] += 1
            continue
        for entry in entries:
            if _is_hidden_or_system(entry.name):
                result.counts["skipped_hidden"] += 1
                continue
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if entry.is_dir() and _inside(target, real_root):
                        stack.append(target)
                    else:
                        result.counts["skipped_links"] += 1
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                _classify(entry, result)
            except OSError:
                result.counts["unreadable_files"] += 1
    result.photos.sort(key=lambda f: f.path)
    result.photos = _one_name_per_file(result.photos, result.counts, set() if seen_files is None else seen_files)
    return result


def _one_name_per_file(photos: list[FoundFile], counts: Counter, seen: set[tuple[int, int]]) -> list[FoundFile]:
    """Drop the second and later names of a hard-linked file: it is one photo, not a duplicate."""
    unique = []
    for f in photos:
        key = (f.device, f.inode)
        if f.inode and key in seen:
            counts["other_names"] += 1
            continue
        seen.add(key)
        unique.append(f)
    return unique


def _classify(entry: os.DirEntry, result: Discovery) -> None:
    ext = os.path.splitext(entry.name)[1].lower()
    if ext in VIDEO_EXTENSIONS:
        result.counts["videos"] += 1
        return
    if ext in KNOWN_OTHER_EXTENSIONS:
        result.counts["other_files"] += 1
        return
    if ext not in IMAGE_EXTENSIONS:
        kind = sniff_file(entry.path)
        if kind == "video":
            result.counts["videos"] += 1
            return
        if kind is None:
            result.counts["other_files"] += 1
            return
    st = entry.stat(follow_symlinks=False)
    result.photos.append(FoundFile(entry.path, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino))
